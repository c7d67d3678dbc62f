/* atomic-swap -- exchange two paths, or repoint a symbolic link, in one
   step.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

/* Three forms, each one system call where it matters:

   PATH1 PATH2      renameat2 (RENAME_EXCHANGE) on the two names.
   -s TARGET LINK   a temporary symlink to TARGET in LINK's directory,
                    then renamed over LINK.  Where the filesystem has
                    RENAME_EXCHANGE the temporary is exchanged with LINK
                    instead, so what was replaced is known exactly: the
                    old link comes back under the temporary name, where
                    it is read (--print-old, --expect), saved (--backup)
                    and removed.
   -n SRC DST       renameat2 (RENAME_NOREPLACE).

   Every name is used relative to a descriptor of its directory, with its
   last component only, so LINK is never followed: a symlink to a
   directory is replaced itself, never entered.  A trailing slash on an
   operand asks for a directory: the kernel checks it in the same call
   (the name is passed with its slash), or, for LINK, which a slash
   would make the kernel follow, the state read before and brought back
   by the exchange is checked.  When the kernel or the filesystem
   refuses a flag, the tool says so and stops; it never emulates the
   flag with several calls.

   What was asked to be printed (--print-old, --verbose) is part of the
   change: when it cannot be written, the change is undone with one more
   rename, so that status 3 still means "nothing changed".  */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "dirlock.h"
#include "fsclass.h"
#include "relpath.h"

#include "areadlink.h"
#include "canonicalize.h"
#include "full-write.h"
#include "same-inode.h"
#include "tempname.h"
#include "xalloc.h"
#include "xvasprintf.h"

#define PROGRAM_NAME "atomic-swap"

enum swap_form { FORM_EXCHANGE, FORM_SYMLINK, FORM_NO_CLOBBER };

struct options
{
  enum swap_form form;
  char const *expect;     /* --expect=OLD; NULL if not given */
  bool print_old;
  bool relative;
  bool exchange_dir;
  bool check_target;
  bool backup;
  bool sync;
  bool verbose;
  bool quiet;
  bool force;
};

/* How long --expect waits for another atomic-swap on the same LINK.  The
   lock is held only around a read, a compare and a rename, so a long
   wait means its holder is stopped, not slow.  */
enum { EXPECT_LOCK_WAIT_SECONDS = 60 };

/* How often LINK is looked at again when it changed between our look
   and the rename (created or removed meanwhile) before giving up.  */
enum { PUBLISH_ATTEMPTS = 100 };

/* A step that found LINK changed under it: look at LINK again.  */
enum { LOOK_AGAIN = -1 };

enum
{
  EXPECT_OPTION = CHAR_MAX + 1,
  EXCHANGE_OPTION,
  EXCHANGE_DIR_OPTION,
  CHECK_TARGET_OPTION,
  FORCE_OPTION,
  CHECK_FS_OPTION
};

/* No long option is a prefix of another unless it is an option itself
   (--exchange, --exchange-dir): getopt_long then rejects the shorter
   abbreviations as ambiguous instead of picking one.  */
static struct option const long_options[] =
{
  {"symlink", no_argument, NULL, 's'},
  {"no-clobber", no_argument, NULL, 'n'},
  {"exchange", no_argument, NULL, EXCHANGE_OPTION},
  {"expect", required_argument, NULL, EXPECT_OPTION},
  {"print-old", no_argument, NULL, 'p'},
  {"backup", no_argument, NULL, 'b'},
  {"relative", no_argument, NULL, 'r'},
  {"exchange-dir", no_argument, NULL, EXCHANGE_DIR_OPTION},
  {"check-target", no_argument, NULL, CHECK_TARGET_OPTION},
  {"no-target-directory", no_argument, NULL, 'T'},
  {"sync", no_argument, NULL, 'S'},
  {"verbose", no_argument, NULL, 'v'},
  {"quiet", no_argument, NULL, 'q'},
  {"force", no_argument, NULL, FORCE_OPTION},
  {"check-fs", no_argument, NULL, CHECK_FS_OPTION},
  GETOPT_HELP_OPTION_DECL,
  GETOPT_VERSION_OPTION_DECL,
  {NULL, 0, NULL, 0}
};

void
usage (int status)
{
  if (status != EXIT_SUCCESS)
    {
      emit_try_help ();
      exit (status);
    }

  printf ("\
Usage: %s [OPTION]... PATH1 PATH2\n\
  or:  %s -s [OPTION]... TARGET LINK\n\
  or:  %s -n [OPTION]... SRC DST\n", program_name, program_name,
          program_name);
  fputs ("\
In the 1st form, exchange the names PATH1 and PATH2 in one step: each\n\
then names what the other named.  Both must exist; they may be files,\n\
directories or symbolic links (never followed), of mixed types.\n\
\n\
In the 2nd form, make LINK a symbolic link to TARGET in one step, so\n\
that readers going through LINK see the old target or the new one,\n\
never a missing LINK.  LINK may be absent (it is created) or a symbolic\n\
link (it is replaced, even if it points to a directory: LINK is never\n\
followed).\n\
\n\
In the 3rd form, rename SRC to DST only if DST does not exist.\n\
\n\
A trailing slash on an operand means it must be a directory (for LINK:\n\
a directory or a symbolic link to one); otherwise nothing is changed.\n\
\n\
Mandatory arguments to long options are mandatory for short options too.\n\
      --exchange        exchange PATH1 and PATH2 (1st form, the default;\n\
                          mv's name for it)\n\
  -s, --symlink         make LINK a symbolic link to TARGET (2nd form)\n\
  -n, --no-clobber      rename SRC to DST unless DST exists (3rd form)\n\
\n\
With --symlink:\n\
      --expect=OLD      compare and swap: change LINK only if it points to\n\
                          OLD (compared with LINK's content as readlink\n\
                          prints it); with an empty OLD, only if LINK does\n\
                          not exist.  Of several atomic-swap calls racing\n\
                          with the same OLD exactly one changes LINK\n\
  -p, --print-old       print the target LINK had just before the change\n\
                          (an empty line if LINK did not exist; the name\n\
                          of a directory --exchange-dir kept), captured\n\
                          in the same step, for a later rollback; it is\n\
                          relative to LINK's directory, as readlink\n\
                          prints it: roll back without -r (for a target\n\
                          ending in a newline, see the manual's BUGS)\n\
  -b, --backup          keep the replaced link as LINK~ (a symbolic link\n\
                          to the old target), replacing an older LINK~,\n\
                          even when LINK already points to TARGET (see\n\
                          the manual for a retry that keeps LINK~)\n\
  -r, --relative        store TARGET relative to LINK's directory, like\n\
                          'ln -r' (TARGET is then named from the current\n\
                          directory)\n\
      --exchange-dir    if LINK is a real directory, exchange it for the\n\
                          new symbolic link and keep it under the name\n\
                          LINK.atomic-swap-backup.RANDOM (printed); not\n\
                          with --expect, which a directory never matches\n\
      --check-target    refuse if TARGET, as seen from LINK's directory,\n\
                          does not exist\n\
  -f                    ln's -f, accepted and changing nothing: LINK is\n\
                          always replaced (not to be mixed up with --force)\n\
\n\
Always:\n\
  -T, --no-target-directory  accepted, as by ln and mv, and changing\n\
                          nothing: an operand is never a directory to put\n\
                          something into\n\
  -S, --sync            make the change durable: fsync the directories\n\
                          whose entries changed\n\
  -v, --verbose         print what was done: 'PATH1' <-> 'PATH2' (1st\n\
                          form); 'LINK' -> 'TARGET' (was 'OLD') (2nd),\n\
                          'LINK' -> 'TARGET' (new) if LINK did not exist,\n\
                          (was 'OLD', kept as 'LINK~') with -b,\n\
                          (was a directory, kept as 'NAME') with\n\
                          --exchange-dir; renamed 'SRC' -> 'DST' (3rd)\n\
  -q, --quiet           print no message for status 1, and no filesystem\n\
                          warning\n\
      --force           go ahead on a filesystem that cannot keep the\n\
                          promise (after a warning)\n\
      --check-fs        print what each operand's filesystem guarantees,\n\
                          and whether the two are on different mounts,\n\
                          which no rename crosses, and exit (with\n\
                          --symlink, LINK's: TARGET is not looked up)\n\
", stdout);
  fputs (HELP_OPTION_DESCRIPTION, stdout);
  fputs (VERSION_OPTION_DESCRIPTION, stdout);
  printf ("\
\n\
The exchange is one renameat2(RENAME_EXCHANGE) call; --no-clobber is one\n\
renameat2(RENAME_NOREPLACE).  --symlink makes a temporary symbolic link\n\
in LINK's directory and exchanges it with LINK (or, where the filesystem\n\
has no RENAME_EXCHANGE, renames it over LINK); the temporary is removed\n\
on every path, even when atomic-swap is interrupted.  A LINK that exists\n\
but is not a symbolic link is never replaced (where RENAME_EXCHANGE is\n\
missing, only one there when LINK is looked at: see the manual's BUGS):\n\
without --exchange-dir that is an error, status 3 (with --expect too: it\n\
is no mismatch), and the old directory is never deleted.  -n does not\n\
mean ln's -n here:\n\
'ln -sfn TARGET LINK' is 'atomic-swap -s TARGET LINK'.\n\
\n\
What --print-old and --verbose print is part of the change: if it cannot\n\
be written, the change is undone and the status is 3 (without\n\
RENAME_EXCHANGE the old link is not kept, so -v says the change stays).\n\
\n\
With --expect, atomic-swap calls on the same LINK take turns through a\n\
short-lived lock directory, .atomic-swap.LINK.lock in LINK's directory,\n\
held only around the read, the comparison and the rename, and gone once\n\
released; a lock left by a killed atomic-swap is recovered, and one that\n\
cannot be removed is named in a warning (the next call takes it).  A call\n\
waits up to %d seconds for it.\n\
\n\
The 1st form, --print-old, --backup and --exchange-dir need\n\
RENAME_EXCHANGE; --no-clobber needs RENAME_NOREPLACE.  Both flags are\n\
kept on ext4, xfs, btrfs, tmpfs and f2fs, and refused on NFS, SMB, Ceph,\n\
Lustre, 9p, GlusterFS and object-store FUSE filesystems (s3fs and the\n\
like); on other FUSE filesystems and other local ones (vfat, minix, the\n\
ext2 driver) a probe decides.  Where a flag is refused or the kernel\n\
lacks it, or the two names are on different filesystems, atomic-swap\n\
fails with status 3 and names what is missing; nothing is changed.  A DST\n\
that exists is still status 1 for --no-clobber there, as everywhere.\n\
", EXPECT_LOCK_WAIT_SECONDS);
  emit_exit_status_help ("\
  1  nothing changed: PATH1 and PATH2 are the same file; with\n\
     --no-clobber, DST exists; with --expect, LINK did not point to OLD,\n\
     or its lock stayed held throughout the wait\n", false);
  fputs ("\
\n\
Examples:\n\
  atomic-swap -s releases/42 current        # publish release 42\n\
  old=$(atomic-swap -p -s releases/42 current)\n\
  atomic-swap -s \"$old\" current             # roll back, without -r (an\n\
                                            # empty $old: no current)\n\
  atomic-swap -s --expect=releases/42 releases/43 current\n\
                                            # 43 only if 42 is still current\n\
  atomic-swap -b -s releases/42 current     # the old link stays as current~\n\
  atomic-swap -n build.tmp releases/42      # publish a finished directory\n\
  atomic-swap site site.new                 # exchange two real directories\n\
", stdout);
  emit_help_footer ();
  exit (status);
}

/* --- Messages ---------------------------------------------------------- */

/* Write LEN bytes of TEXT to FD (standard output or error), as
   full_write does, with the cleanup signals blocked -- but when FD has
   no room and one of them is pending, give up, errno EINTR: a reader
   that takes nothing (a stopped pager, a full pipe nobody empties) must
   not hold off a signal that is to end us, which would then wait for
   that reader.  Each write waits for room (poll) and is at most
   PIPE_BUF bytes, for which a pipe that has room never blocks.  Return
   the number of bytes written.  */
static size_t
write_unless_signalled (int fd, char const *text, size_t len)
{
  sigset_t cleanup;
  cleanup_signal_set (&cleanup);
  int signal_fd = signalfd (-1, &cleanup, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd < 0)
    return full_write (fd, text, len);
  size_t done = 0;
  int err = 0;
  while (done < len)
    {
      struct pollfd fds[2] = { { .fd = fd, .events = POLLOUT },
                               { .fd = signal_fd, .events = POLLIN } };
      /* Should poll itself fail, the write just waits, as before.  */
      if (poll (fds, 2, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          fds[0].revents = POLLOUT;
        }
      /* What can be written is written (a signal that came with the
         change still lets it be said); a signal ends only a wait.  */
      if (!fds[0].revents)
        {
          if (cleanup_signal_pending ())
            {
              err = EINTR;
              break;
            }
          /* An ignored signal, which cleanup_signal_pending leaves
             out, is held pending by the block: take it, or poll would
             keep waking up for it.  */
          struct signalfd_siginfo taken;
          if (read (signal_fd, &taken, sizeof taken) < 0 && errno != EAGAIN)
            {
              err = errno;
              break;
            }
          continue;
        }
      size_t chunk = len - done < PIPE_BUF ? len - done : PIPE_BUF;
      ssize_t n = write (fd, text + done, chunk);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          err = n == 0 ? ENOSPC : errno;   /* ENOSPC: as full_write */
          break;
        }
      done += n;
    }
  close (signal_fd);
  errno = err;
  return done;
}

/* error (0, ERRNUM, FORMAT, ...) for every message of atomic-swap.
   Many are written with the cleanup signals blocked (a refusal found
   after the temporary is made, the undo of a change -v could not say),
   where a standard error that takes nothing must not hold off a signal
   that is to end us, as standard output must not (write_out): the
   message is cut short when no room is left for it and such a signal
   is pending, which then ends us once unblocked.  errno is kept.  */
static void
complain (int errnum, char const *format, ...)
{
  int saved_errno = errno;
  va_list args;
  va_start (args, format);
  char *message = xvasprintf (format, args);
  va_end (args);
  char *line = (errnum
                ? xasprintf ("%s: %s: %s\n", program_name, message,
                             strerror (errnum))
                : xasprintf ("%s: %s\n", program_name, message));
  write_unless_signalled (STDERR_FILENO, line, strlen (line));
  free (line);
  free (message);
  errno = saved_errno;
}

/* --- Operands ------------------------------------------------------------ */

/* An operand of the exchange and no-clobber forms.  */
struct operand
{
  char const *arg;            /* as given */
  struct parent_dir parent;   /* its directory and last component */
  char *name;                 /* the last component as the kernel gets it:
                                 with a trailing '/' if ARG had one, so
                                 that the rename itself refuses anything
                                 but a directory */
};

/* Open the directories of A and B.  */
static bool
open_operands (char const *a, struct operand *oa,
               char const *b, struct operand *ob)
{
  struct operand *op[2] = { oa, ob };
  char const *arg[2] = { a, b };
  for (int i = 0; i < 2; i++)
    {
      op[i]->arg = arg[i];
      if (!open_parent (arg[i], &op[i]->parent))
        {
          complain (errno, "cannot access %s", quoteaf (arg[i]));
          if (i == 1)
            {
              close_parent (&oa->parent);
              free (oa->name);
            }
          return false;
        }
      op[i]->name = xasprintf ("%s%s", op[i]->parent.base,
                               has_trailing_slash (arg[i]) ? "/" : "");
    }
  return true;
}

static void
close_operands (struct operand *oa, struct operand *ob)
{
  close_parent (&oa->parent);
  close_parent (&ob->parent);
  free (oa->name);
  free (ob->name);
}

/* Write TEXT, all there is to print, to standard output at once, past
   stdio, and close it, so that a failure is known now -- while the
   change can still be undone -- and nothing is left for close_stdout to
   retry or report.  Return false with errno set if it was not all
   written, or the close failed.  A reader that went away (EPIPE) is a
   failure like any other: the SIGPIPE our own write raised, held back
   with the cleanup signals, is taken off again rather than left to
   kill us before the undo.  */
static bool
write_out (char const *text)
{
  size_t len = strlen (text);
  block_cleanup_signals ();
  bool written = write_unless_signalled (STDOUT_FILENO, text, len) == len;
  int err = errno;
  /* Closed after a failed write too: NFS reports the failure again at
     close, which close_stdout would add at exit to the undo's message
     as a write error of its own.  */
  if (!close_stdout_now () && written)
    {
      written = false;
      err = errno;
    }
  if (!written && err == EPIPE)
    {
      sigset_t pipe_signal;
      sigemptyset (&pipe_signal);
      sigaddset (&pipe_signal, SIGPIPE);
      struct timespec now = { 0, 0 };
      sigtimedwait (&pipe_signal, NULL, &now);
    }
  unblock_cleanup_signals ();
  errno = err;
  return written;
}

/* --- The exchange and no-clobber forms -------------------------------- */

/* Whether OP ends in '/' and names a symbolic link: never followed, it
   is no directory, even if it points to one.  */
static bool
slashed_symlink (struct operand const *op)
{
  struct stat st;
  return (has_trailing_slash (op->arg)
          && fstatat (op->parent.fd, op->parent.base, &st,
                      AT_SYMLINK_NOFOLLOW) == 0
          && S_ISLNK (st.st_mode));
}

/* Report a failed renameat2 (FLAGS) of A to B: an exchange, or a
   move.  */
static int
report_rename_failure (struct operand const *a, struct operand const *b,
                       unsigned int flags, int err)
{
  bool exchange = flags & RENAME_EXCHANGE;
  char const *verb = exchange ? "exchange" : "move";
  char const *joiner = exchange ? "and" : "to";
  struct parent_dir const *pa = &a->parent, *pb = &b->parent;
  /* EXDEV and a missing renameat2 flag are the filesystem's doing: the
     classifier says which, and why it cannot be done atomically.  */
  char *why = fs_rename_failure (pa->fd, pa->base, pb->fd, pb->base,
                                 exchange ? FS_EXCHANGE : FS_NOREPLACE, err);
  if (why)
    {
      complain (0, "cannot %s %s %s %s: %s", verb, quoteaf_n (0, a->arg),
                joiner, quoteaf_n (1, b->arg), why);
      free (why);
      return EXIT_SYSERR;
    }
  if (err == EINVAL)
    {
      /* The flag works here, so the kernel objects to the names: one
         is a directory that contains the other.  */
      complain (0, "cannot %s %s %s %s: one contains the other",
                verb, quoteaf_n (0, a->arg), joiner, quoteaf_n (1, b->arg));
      return EXIT_SYSERR;
    }
  /* A bare "Not a directory" reads as wrong where the link leads to
     one: say that the operand itself is no directory.  */
  struct operand const *link = (err != ENOTDIR ? NULL
                                : slashed_symlink (a) ? a
                                : slashed_symlink (b) ? b : NULL);
  if (link)
    {
      complain (0, "cannot %s %s %s %s: %s ends in '/' but is a symbolic "
                "link, which atomic-swap does not follow", verb,
                quoteaf_n (0, a->arg), joiner, quoteaf_n (1, b->arg),
                quoteaf_n (2, link->arg));
      return EXIT_SYSERR;
    }
  if (err == ENOENT)
    {
      /* Say which one is missing.  */
      struct stat st;
      if (fstatat (pa->fd, pa->base, &st, AT_SYMLINK_NOFOLLOW) != 0)
        complain (errno, "cannot %s %s", verb, quoteaf (a->arg));
      else if (exchange
               && fstatat (pb->fd, pb->base, &st, AT_SYMLINK_NOFOLLOW) != 0)
        complain (errno, "cannot %s %s", verb, quoteaf (b->arg));
      else
        complain (err, "cannot %s %s %s %s", verb, quoteaf_n (0, a->arg),
                  joiner, quoteaf_n (1, b->arg));
      return EXIT_SYSERR;
    }
  complain (err, "cannot %s %s %s %s", verb, quoteaf_n (0, a->arg), joiner,
            quoteaf_n (1, b->arg));
  return EXIT_SYSERR;
}

/* fsync the directories of A and B (once if they are the same), which
   were exchanged if EXCHANGE, else A moved to B.  A failure says that
   the change was made: status 3 must not read as "nothing changed".  */
static bool
sync_directories (struct operand const *a, struct operand const *b,
                  bool exchange)
{
  struct stat sa, sb;
  bool same = (fstat (a->parent.fd, &sa) == 0
               && fstat (b->parent.fd, &sb) == 0
               && SAME_INODE (sa, sb));
  struct operand const *unsynced = NULL;
  if (fsync_directory (a->parent.fd) != 0)
    unsynced = a;
  else if (!same && fsync_directory (b->parent.fd) != 0)
    unsynced = b;
  if (!unsynced)
    return true;
  complain (errno, "%s %s %s, but cannot sync the directory of %s",
            quoteaf_n (0, a->arg),
            exchange ? "was exchanged with" : "was moved to",
            quoteaf_n (1, b->arg), quoteaf_n (2, unsynced->arg));
  return false;
}

/* What undo_repoint and undo_rename achieved.  UNDO_BACKUP_KEPT: LINK
   is as it was, but the older LINK~ that --backup replaced could not be
   put back, and is still at the temporary name.  UNDO_MISPLACED:
   the undo moved another process's change, and could not put it back
   (errno says why).  */
enum undo_result { UNDONE, UNDO_FAILED, UNDO_OVERTAKEN, UNDO_IMPOSSIBLE,
                   UNDO_BACKUP_KEPT, UNDO_MISPLACED };

/* The identity of what NAME in DIRFD is (never followed), to know it
   again; st_ino 0 if it cannot be read.  */
static struct stat
identity_of (int dirfd, char const *name)
{
  struct stat st;
  if (fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    st.st_ino = 0;
  return st;
}

/* Whether NAME in DIRFD is still what ID was (or ID is unknown).  */
static bool
still_holds (int dirfd, char const *name, struct stat const *id)
{
  struct stat now = identity_of (dirfd, name);
  return id->st_ino == 0 || SAME_INODE (now, *id);
}

/* Undo the rename of A to B with FLAGS, with the same call the other
   way round.  AT_A and AT_B are what A and B held just after the
   rename.  If what comes back is not that -- another process changed a
   name meanwhile -- its change is put back and stands, unless that
   fails too (UNDO_MISPLACED).  */
static enum undo_result
undo_rename (struct operand const *a, struct operand const *b,
             unsigned int flags, struct stat const *at_a,
             struct stat const *at_b)
{
  int adir = a->parent.fd, bdir = b->parent.fd;
  char const *abase = a->parent.base, *bbase = b->parent.base;
  if (flags & RENAME_EXCHANGE)
    {
      if (renameat2 (adir, a->name, bdir, b->name, RENAME_EXCHANGE) != 0)
        return UNDO_FAILED;
      if (still_holds (adir, abase, at_b) && still_holds (bdir, bbase, at_a))
        return UNDONE;
      return (renameat2 (adir, a->name, bdir, b->name, RENAME_EXCHANGE) == 0
              ? UNDO_OVERTAKEN : UNDO_MISPLACED);
    }
  if (renameat2 (bdir, b->name, adir, a->name, RENAME_NOREPLACE) != 0)
    return UNDO_FAILED;
  if (still_holds (adir, abase, at_b))
    return UNDONE;
  return (renameat2 (adir, a->name, bdir, b->name, RENAME_NOREPLACE) == 0
          ? UNDO_OVERTAKEN : UNDO_MISPLACED);
}

/* A was renamed to B with FLAGS (exchanged, or moved with
   RENAME_NOREPLACE).  Print it if asked -- undoing it if that cannot be
   written.  With -v, called with the cleanup signals blocked.  */
static int
say_renamed (struct operand const *a, struct operand const *b,
             unsigned int flags, struct options const *opt)
{
  if (!opt->verbose)
    return EXIT_DONE;
  bool exchange = flags & RENAME_EXCHANGE;
  /* What the rename left at each name, for an undo to know again.  */
  struct stat at_a = { .st_ino = 0 };
  if (exchange)
    at_a = identity_of (a->parent.fd, a->parent.base);
  struct stat at_b = identity_of (b->parent.fd, b->parent.base);

  char *line = (exchange
                ? xasprintf ("%s <-> %s\n", quoteaf_n (0, a->arg),
                             quoteaf_n (1, b->arg))
                : xasprintf ("renamed %s -> %s\n", quoteaf_n (0, a->arg),
                             quoteaf_n (1, b->arg)));
  bool written = write_out (line);
  int err = errno;
  free (line);
  if (written)
    return EXIT_DONE;

  char const *what = "write error on standard output";
  switch (undo_rename (a, b, flags, &at_a, &at_b))
    {
    case UNDONE:
      if (exchange)
        complain (err, "%s and %s were exchanged back (undone): %s",
                  quoteaf_n (0, a->arg), quoteaf_n (1, b->arg), what);
      else
        complain (err, "%s was moved back from %s (undone): %s",
                  quoteaf_n (0, a->arg), quoteaf_n (1, b->arg), what);
      break;
    case UNDO_OVERTAKEN:
      if (exchange)
        complain (err, "%s and %s cannot be exchanged back, since another "
                  "process changed one of them meanwhile (its change "
                  "stands): %s", quoteaf_n (0, a->arg), quoteaf_n (1, b->arg),
                  what);
      else
        complain (err, "%s cannot be moved back from %s, since another "
                  "process changed %s meanwhile (its change stands): %s",
                  quoteaf_n (0, a->arg), quoteaf_n (1, b->arg),
                  quoteaf_n (2, b->arg), what);
      break;
    case UNDO_MISPLACED:
      {
        int undo_err = errno;
        complain (err, "%s", what);
        if (exchange)
          complain (undo_err, "%s and %s cannot be exchanged back, since "
                    "another process changed one of them meanwhile; what it "
                    "put in place is left at the other name, as they cannot "
                    "be exchanged again", quoteaf_n (0, a->arg),
                    quoteaf_n (1, b->arg));
        else
          complain (undo_err, "%s cannot be moved back from %s, since "
                    "another process changed %s meanwhile; what it put at %s "
                    "is left at %s, as it cannot be moved back",
                    quoteaf_n (0, a->arg), quoteaf_n (1, b->arg),
                    quoteaf_n (1, b->arg), quoteaf_n (1, b->arg),
                    quoteaf_n (0, a->arg));
      }
      break;
    default:
      {
        int undo_err = errno;
        complain (err, "%s", what);
        complain (undo_err, "%s %s %s, and cannot be undone",
                  quoteaf_n (0, a->arg),
                  exchange ? "was exchanged with" : "was moved to",
                  quoteaf_n (1, b->arg));
      }
      break;
    }
  return EXIT_SYSERR;
}

/* Rename A to B with FLAGS, say so if asked, and sync.  What -v prints
   is part of the change: a signal that comes from the rename on waits
   until the line is written or the change undone (as with --symlink),
   or it would end us with the change made and not said, or not undone.
   Without -v nothing comes between, and the signals are left alone.
   Return the status, or -1 with errno set if the rename failed.  */
static int
rename_and_say (struct operand const *a, struct operand const *b,
                unsigned int flags, struct options const *opt)
{
  if (opt->verbose)
    block_cleanup_signals ();
  int status = -1;
  if (renameat2 (a->parent.fd, a->name, b->parent.fd, b->name, flags) == 0)
    status = say_renamed (a, b, flags, opt);
  int err = errno;
  if (opt->verbose)
    unblock_cleanup_signals ();
  if (status == EXIT_DONE && opt->sync
      && !sync_directories (a, b, flags & RENAME_EXCHANGE))
    status = EXIT_SYSERR;
  errno = err;
  return status;
}

/* Whether OP names an entry (never followed) that its trailing slash,
   if any, allows -- a directory -- and put its status in *ST.  A
   slash on anything else is the rename's ENOTDIR to report.  */
static bool
stat_operand (struct operand const *op, struct stat *st)
{
  return (fstatat (op->parent.fd, op->parent.base, st,
                   AT_SYMLINK_NOFOLLOW) == 0
          && (S_ISDIR (st->st_mode) || !has_trailing_slash (op->arg)));
}

/* Whether A and B name the same file (never followed): the same name
   twice, or two hard links of one file.  */
static bool
same_file (struct operand const *a, struct operand const *b)
{
  struct stat sa, sb;
  return (stat_operand (a, &sa) && stat_operand (b, &sb)
          && SAME_INODE (sa, sb));
}

/* The 1st form: exchange A and B.  */
static int
exchange_paths (char const *a, char const *b, struct options const *opt)
{
  struct operand oa, ob;
  if (!open_operands (a, &oa, b, &ob))
    return EXIT_SYSERR;

  int status;
  if (same_file (&oa, &ob))
    {
      /* The kernel "exchanges" a file with itself by doing nothing,
         and reports success: as mv(1) does, say that nothing can
         change, rather than report a swap.  */
      if (!opt->quiet)
        complain (0, "%s and %s are the same file", quoteaf_n (0, a),
                  quoteaf_n (1, b));
      status = EXIT_NO;
    }
  else if (!fs_permits_both (a, oa.parent.fd, oa.parent.base,
                        b, ob.parent.fd, ob.parent.base,
                        FS_EXCHANGE, opt->force, opt->quiet))
    status = EXIT_SYSERR;
  else if ((status = rename_and_say (&oa, &ob, RENAME_EXCHANGE, opt)) < 0)
    status = report_rename_failure (&oa, &ob, RENAME_EXCHANGE, errno);
  close_operands (&oa, &ob);
  return status;
}

/* Whether both S and D exist now, never followed.  */
static bool
both_exist (struct operand const *s, struct operand const *d)
{
  struct stat st;
  return (fstatat (s->parent.fd, s->parent.base, &st,
                   AT_SYMLINK_NOFOLLOW) == 0
          && fstatat (d->parent.fd, d->parent.base, &st,
                      AT_SYMLINK_NOFOLLOW) == 0);
}

/* Whether the rename of S to D failed with ERR because D exists.  A
   read-only mount answers EROFS before the kernel looks at the names,
   and a filesystem without RENAME_NOREPLACE answers EINVAL (ENOSYS,
   EOPNOTSUPP) for the flag: where both exist, D's presence is still
   the answer, as O_EXCL gives it on a read-only mount and tmpfs gives
   it (a missing S would come first).  */
static bool
rename_error_means_exists (struct operand const *s, struct operand const *d,
                           int err)
{
  if (err == EROFS || fs_flag_unsupported (err))
    return both_exist (s, d);
  return creation_error_means_exists (d->parent.fd, d->parent.base, err);
}

/* Report that S was not moved because D exists.  */
static int
report_exists (struct operand const *s, struct operand const *d,
               struct options const *opt)
{
  if (!opt->quiet)
    complain (EEXIST, "cannot move %s to %s", quoteaf_n (0, s->arg),
              quoteaf_n (1, d->arg));
  return EXIT_NO;
}

/* The check fs_permits makes before -n relies on RENAME_NOREPLACE for
   D.  Return EXIT_DONE, or the status of a refusal (reported).  Where
   the filesystem refuses the flag, S and D both present is the first
   reason, the one tmpfs gives ("File exists", status 1), not what this
   filesystem cannot do: mending that would only lead to it.  As
   choose_primitive's look for -s, this one only chooses the reason;
   nothing is renamed on it.  */
static int
noreplace_refusal (struct operand const *s, struct operand const *d,
                   struct options const *opt)
{
  struct parent_dir const *pd = &d->parent;
  struct fs_info info;
  if (!fs_identify_to_judge (pd->fd, pd->base, &info))
    return EXIT_DONE;
  int status;
  char const *consequence;
  /* Judged quietly only where both exist, so that a rename that can
     succeed is probed once.  */
  if (!opt->force && both_exist (s, d)
      && fs_judge (&info, FS_NOREPLACE, pd->fd, &consequence) == FS_REFUSE)
    status = report_exists (s, d, opt);
  else
    status = (fs_permits_info (d->arg, &info, pd->fd, FS_NOREPLACE,
                               opt->force, opt->quiet)
              ? EXIT_DONE : EXIT_SYSERR);
  fs_info_free (&info);
  return status;
}

/* The 3rd form: rename SRC to DST unless DST exists.  */
static int
rename_no_clobber (char const *src, char const *dst,
                   struct options const *opt)
{
  struct operand os, od;
  if (!open_operands (src, &os, dst, &od))
    return EXIT_SYSERR;

  int status = noreplace_refusal (&os, &od, opt);
  if (status == EXIT_DONE
      && (status = rename_and_say (&os, &od, RENAME_NOREPLACE, opt)) < 0)
    {
      int err = errno;
      if (rename_error_means_exists (&os, &od, err))
        status = report_exists (&os, &od, opt);
      else
        status = report_rename_failure (&os, &od, RENAME_NOREPLACE, err);
    }
  close_operands (&os, &od);
  return status;
}

/* --- What a name holds ------------------------------------------------ */

/* The state of LINK, as read at one moment.  */
enum link_kind { LINK_ABSENT, LINK_SYMLINK, LINK_DIRECTORY, LINK_OTHER };

struct link_state
{
  enum link_kind kind;
  char *target;       /* LINK_SYMLINK: its content; LINK_DIRECTORY after
                         --exchange-dir: the backup name */
};

static void
link_state_free (struct link_state *state)
{
  free (state->target);
  state->target = NULL;
}

/* Read what NAME in DIRFD is.  Return false with errno set on error.  */
static bool
read_link_state (int dirfd, char const *name, struct link_state *state)
{
  state->target = areadlinkat (dirfd, name);
  if (state->target)
    {
      state->kind = LINK_SYMLINK;
      return true;
    }
  if (errno == ENOENT)
    {
      state->kind = LINK_ABSENT;
      return true;
    }
  if (errno != EINVAL)
    return false;

  /* EINVAL: it exists and is not a symbolic link -- or it was, and is
     gone now, which is a state too.  */
  struct stat st;
  if (fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    {
      if (errno != ENOENT)
        return false;
      state->kind = LINK_ABSENT;
      return true;
    }
  state->kind = S_ISDIR (st.st_mode) ? LINK_DIRECTORY : LINK_OTHER;
  return true;
}

/* STATE as a phrase: what NAME "points to" or "is".  Free it.  */
static char *
describe_state (struct link_state const *state)
{
  switch (state->kind)
    {
    case LINK_ABSENT:
      return xstrdup ("does not exist");
    case LINK_SYMLINK:
      return xasprintf ("points to %s", quoteaf_n (8, state->target));
    case LINK_DIRECTORY:
      return xstrdup ("is a directory");
    default:
      return xstrdup ("is a file, not a symbolic link");
    }
}

/* Whether STATE is what --expect=EXPECT asks for.  */
static bool
matches_expected (struct link_state const *state, char const *expect)
{
  if (*expect == '\0')
    return state->kind == LINK_ABSENT;
  return state->kind == LINK_SYMLINK && strcmp (state->target, expect) == 0;
}

/* Report that LINK, in STATE, is not what --expect=EXPECT asked for.  */
static int
report_mismatch (char const *link, struct link_state const *state,
                 char const *expect, struct options const *opt)
{
  if (opt->quiet)
    return EXIT_NO;
  /* LINK is absent or a symbolic link: refusal_of refuses any other
     kind before it compares.  */
  if (state->kind == LINK_ABSENT)
    complain (0, "%s does not exist, expected it to point to %s; "
              "not changed", quoteaf_n (0, link), quoteaf_n (1, expect));
  else if (*expect == '\0')
    complain (0, "%s exists (it points to %s), expected it absent; "
              "not changed", quoteaf_n (0, link),
              quoteaf_n (1, state->target));
  else
    complain (0, "%s points to %s, not %s; not changed",
              quoteaf_n (0, link), quoteaf_n (1, state->target),
              quoteaf_n (2, expect));
  return EXIT_NO;
}

/* LINK exists and is not a symbolic link: refuse to replace it.
   SUGGEST_EXCHANGE_DIR: for a directory, --exchange-dir could do it
   (no --expect, which it cannot join, and RENAME_EXCHANGE is there).  */
static int
refuse_non_symlink (char const *link, enum link_kind kind,
                    bool suggest_exchange_dir)
{
  if (kind == LINK_DIRECTORY && !suggest_exchange_dir)
    complain (0, "%s is a directory, not a symbolic link; not replaced",
              quoteaf (link));
  else if (kind == LINK_DIRECTORY)
    complain (0, "%s is a directory, not a symbolic link; not replaced "
              "(use --exchange-dir to exchange it for the symbolic link and "
              "keep it under a backup name)", quoteaf (link));
  else
    complain (0, "%s exists and is not a symbolic link; not replaced",
              quoteaf (link));
  return EXIT_SYSERR;
}

/* LINK, with a trailing slash, does not lead to a directory.  */
static int
refuse_not_directory (char const *link, struct link_state const *state)
{
  if (state->kind == LINK_ABSENT)
    complain (ENOTDIR, "cannot create symbolic link %s", quoteaf (link));
  else
    {
      char *what = describe_state (state);
      complain (0, "%s %s, which is not a directory as its trailing slash "
                "requires; not replaced", quoteaf (link), what);
      free (what);
    }
  return EXIT_SYSERR;
}

/* --- The symlink form --------------------------------------------------- */

/* One repointing of LINK.  */
struct repoint
{
  char const *link;             /* as given */
  struct parent_dir parent;     /* LINK's directory and last component */
  bool must_be_dir;             /* LINK ended in '/' */
  struct temp_name temp;        /* the new symlink until it is LINK; after
                                   an exchange, what LINK held */
  char const *target;           /* what the new symlink holds */
  ino_t new_ino;                /* the new symlink's inode, to know it
                                   again when undoing (0: not needed) */
  char *backup;                 /* --backup: LINK~ */
  bool use_exchange;            /* publish with RENAME_EXCHANGE */
  bool exchange_required;       /* --print-old, --backup, --exchange-dir */
  struct link_state old;        /* what LINK was just before */
  /* Where what LINK held is now: the temporary name, the backup name,
     or NULL when it is gone (rename(2) over it) or LINK was absent.  */
  char const *old_held_at;
  /* --backup replaced an older LINK~, which is held at the temporary
     name until the change is complete.  */
  bool older_backup_held;
};

/* Whether NAME in DIRFD is the root of a mount, which no rename can
   move (EBUSY).  False where the kernel cannot tell (before 5.8).  */
static bool
is_mount_point (int dirfd, char const *name)
{
  struct statx stx;
  return (statx (dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_TYPE, &stx) == 0
          && (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
          && (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT));
}

/* Whether we may rename the entry NAME in the directory DIRFD, as far
   as the directory says: it is writable and searchable by us, on a
   mount that is not read-only (faccessat answers EROFS for that), not
   append-only (chattr +a: no entry leaves it, even by a rename), and
   if it is sticky, it or the entry is ours (or we are root).  */
static bool
may_rename_in (int dirfd, char const *name)
{
  if (faccessat (dirfd, ".", W_OK | X_OK, AT_EACCESS) != 0)
    return false;
  if (dir_append_only (dirfd))
    return false;
  struct statx dir;
  if (statx (dirfd, "", AT_EMPTY_PATH, STATX_MODE | STATX_UID, &dir) != 0)
    return true;
  if (!(dir.stx_mode & S_ISVTX))
    return true;
  uid_t us = geteuid ();
  struct stat entry;
  return (us == 0 || us == dir.stx_uid
          || (fstatat (dirfd, name, &entry, AT_SYMLINK_NOFOLLOW) == 0
              && us == entry.st_uid));
}

/* Whether --exchange-dir could replace a directory at R's LINK, were
   it given: not with --expect (EXPECTING), nor where we may not rename
   it (a directory we may not write, a read-only mount, another user's
   directory in a sticky one), nor where the filesystem lacks
   RENAME_EXCHANGE, which --exchange-dir needs, nor when the directory
   is a mount point.  Asked only when refusing, so the probe costs
   nothing on the way to a change.  */
static bool
exchange_dir_may_help (struct repoint const *r, bool expecting)
{
  return (!expecting
          && may_rename_in (r->parent.fd, r->parent.base)
          && !is_mount_point (r->parent.fd, r->parent.base)
          && fs_may_work (r->parent.fd, r->parent.base, FS_EXCHANGE));
}

/* Why a state of LINK cannot be replaced by R's new link.  */
enum refusal { ACCEPTED, NOT_EXPECTED, NOT_SYMLINK, NOT_DIRECTORY };

/* Whether STATE -- what NAME in R's directory holds: LINK itself, or
   what an exchange just brought back from it -- may be replaced.  */
static enum refusal
refusal_of (struct repoint const *r, char const *name,
            struct link_state const *state, char const *expect,
            struct options const *opt)
{
  if (r->must_be_dir)
    {
      struct stat st;
      bool dir = (state->kind == LINK_DIRECTORY
                  || (state->kind == LINK_SYMLINK
                      && fstatat (r->parent.fd, name, &st, 0) == 0
                      && S_ISDIR (st.st_mode)));
      if (!dir)
        return NOT_DIRECTORY;
    }
  /* Before --expect: a LINK that may never be replaced is the same
     error with or without it, not a mismatch (status 1) that a retry
     with the right OLD could get past.  */
  if (state->kind == LINK_OTHER
      || (state->kind == LINK_DIRECTORY && !opt->exchange_dir))
    return NOT_SYMLINK;
  if (expect && !matches_expected (state, expect))
    return NOT_EXPECTED;
  return ACCEPTED;
}

/* Say why STATE was not replaced; return the status.  */
static int
report_refusal (struct repoint const *r, struct link_state const *state,
                enum refusal refusal, char const *expect,
                struct options const *opt)
{
  switch (refusal)
    {
    case NOT_EXPECTED:
      return report_mismatch (r->link, state, expect, opt);
    case NOT_DIRECTORY:
      return refuse_not_directory (r->link, state);
    default:
      {
        bool suggest = (state->kind == LINK_DIRECTORY
                        && exchange_dir_may_help (r, expect != NULL));
        return refuse_non_symlink (r->link, state->kind, suggest);
      }
    }
}

/* Read LINK and decide whether R may replace it.  Return EXIT_DONE with
   *NOW set, or the status of a refusal (reported, *NOW freed).  */
static int
examine_link (struct repoint const *r, struct options const *opt,
              char const *expect, struct link_state *now)
{
  if (!read_link_state (r->parent.fd, r->parent.base, now))
    {
      complain (errno, "cannot examine %s", quoteaf (r->link));
      return EXIT_SYSERR;
    }
  enum refusal refusal = refusal_of (r, r->parent.base, now, expect, opt);
  if (refusal == ACCEPTED)
    return EXIT_DONE;
  int status = report_refusal (r, now, refusal, expect, opt);
  link_state_free (now);
  return status;
}

/* Report a failed rename of R's new link to LINK with PRIM.  */
static int
report_replace_failure (struct repoint const *r, enum fs_primitive prim,
                        bool link_existed, int err)
{
  char const *verb = link_existed ? "replace" : "create";
  char *why = fs_rename_failure (r->parent.fd, r->temp.name, r->parent.fd,
                                 r->parent.base, prim, err);
  if (why)
    complain (0, "cannot %s %s: %s", verb, quoteaf (r->link), why);
  else
    complain (err, "cannot %s %s", verb, quoteaf (r->link));
  free (why);
  return EXIT_SYSERR;
}

/* The stored form of TARGET for --relative: the path from LINK's
   directory DIR to TARGET (named from the current directory), both with
   symlinks resolved, as 'ln -r' does.  */
static char *
relative_target (char const *target, char const *dir)
{
  char *real_target = canonicalize_filename_mode (target, CAN_MISSING);
  if (!real_target)
    {
      complain (errno, "cannot resolve %s", quoteaf (target));
      return NULL;
    }
  char *real_dir = canonicalize_filename_mode (dir, CAN_EXISTING);
  if (!real_dir)
    {
      complain (errno, "cannot resolve %s", quoteaf (dir));
      free (real_target);
      return NULL;
    }
  char *rel = relative_path (real_target, real_dir);
  free (real_target);
  free (real_dir);
  return rel;
}

struct backup_try
{
  int dirfd;
  char const *from;
};

static int
try_backup_name (char *name, void *arg)
{
  struct backup_try const *t = arg;
  return renameat2 (t->dirfd, t->from, t->dirfd, name, RENAME_NOREPLACE);
}

/* The old directory of R's LINK has come back under the temporary name
   from the exchange: give it a visible backup name, never removing it.
   Return the status.  */
static int
keep_old_directory (struct repoint *r)
{
  /* LINK.atomic-swap-backup. and six placeholders for try_tempname's
     random characters.  */
  static char const suffix[] = ".atomic-swap-backup.";
  enum { RANDOM_CHARS = 6 };
  /* Shorten a long LINK name so the backup name still fits, never
     splitting a character.  */
  int base_len = (int) name_cut_length (r->parent.base,
                                        NAME_MAX - (sizeof suffix - 1)
                                        - RANDOM_CHARS);
  char *name = xasprintf ("%.*s%s%*s", base_len, r->parent.base, suffix,
                          RANDOM_CHARS, "");
  memset (name + strlen (name) - RANDOM_CHARS, 'X', RANDOM_CHARS);

  struct backup_try t = { r->parent.fd, r->temp.name };
  if (try_tempname (name, 0, &t, try_backup_name) != 0)
    {
      int err = errno;
      char *kept = path_in_parent (&r->parent, r->temp.name);
      complain (err, "%s now points to %s, but its old directory could "
                "not be given a backup name; it is kept as %s",
                quoteaf_n (0, r->link), quoteaf_n (1, r->target),
                quoteaf_n (2, kept));
      free (kept);
      free (name);
      temp_forget (&r->temp);
      return EXIT_SYSERR;
    }
  r->old.kind = LINK_DIRECTORY;
  r->old.target = name;
  r->old_held_at = name;
  return EXIT_DONE;
}

/* After R's new symlink and LINK were exchanged and what came back
   cannot stay replaced (STATE, refused for REFUSAL): put it back.
   Return the status.  */
static int
put_back (struct repoint *r, struct link_state const *state,
          enum refusal refusal, char const *expect,
          struct options const *opt)
{
  if (renameat2 (r->parent.fd, r->temp.name, r->parent.fd, r->parent.base,
                 RENAME_EXCHANGE) == 0)
    return report_refusal (r, state, refusal, expect, opt);

  /* LINK stays changed, and what it held -- someone else's -- stays at
     the temporary name: say exactly where everything is, and never
     claim that nothing changed.  */
  int err = errno;
  temp_forget (&r->temp);
  struct link_state now;
  char *now_said;
  if (read_link_state (r->parent.fd, r->parent.base, &now))
    {
      now_said = describe_state (&now);
      link_state_free (&now);
    }
  else
    now_said = xstrdup ("cannot be examined");
  char *held_said = describe_state (state);
  char *kept = path_in_parent (&r->parent, r->temp.name);
  complain (err, "cannot restore %s, which changed meanwhile: it now %s; "
            "what it held (which %s) is kept as %s", quoteaf_n (0, r->link),
            now_said, held_said, quoteaf_n (1, kept));
  free (now_said);
  free (held_said);
  free (kept);
  return EXIT_SYSERR;
}

/* Exchange R's new symlink with LINK, which was just seen to exist, and
   deal with what came back under the temporary name.  EXPECT is as for
   publish.  Return the status, or LOOK_AGAIN.  */
static int
exchange_with_link (struct repoint *r, struct options const *opt,
                    char const *expect)
{
  if (renameat2 (r->parent.fd, r->temp.name, r->parent.fd, r->parent.base,
                 RENAME_EXCHANGE) != 0)
    {
      int err = errno;
      if (err == ENOENT)
        return LOOK_AGAIN;   /* LINK went away meanwhile.  */
      if (fs_flag_unsupported (err) && !r->exchange_required)
        {
          r->use_exchange = false;
          return LOOK_AGAIN;
        }
      return report_replace_failure (r, FS_EXCHANGE, true, err);
    }

  struct link_state came_back;
  if (!read_link_state (r->parent.fd, r->temp.name, &came_back))
    {
      /* We cannot tell what LINK held: keep it, at the temporary name.  */
      int err = errno;
      char *kept = path_in_parent (&r->parent, r->temp.name);
      complain (err, "%s now points to %s; cannot examine what it held "
                "before, kept as %s", quoteaf_n (0, r->link),
                quoteaf_n (1, r->target), quoteaf_n (2, kept));
      free (kept);
      temp_forget (&r->temp);
      return EXIT_SYSERR;
    }

  /* Someone may have changed LINK between our look and the exchange.  */
  enum refusal refusal = refusal_of (r, r->temp.name, &came_back, expect,
                                     opt);
  if (refusal != ACCEPTED)
    {
      int status = put_back (r, &came_back, refusal, expect, opt);
      link_state_free (&came_back);
      return status;
    }
  if (came_back.kind == LINK_DIRECTORY)
    {
      link_state_free (&came_back);
      return keep_old_directory (r);
    }
  r->old = came_back;
  r->old_held_at = r->temp.name;
  return EXIT_DONE;
}

/* Make R's new symlink LINK with rename(2), or with RENAME_NOREPLACE
   when LINK is absent (NOW) on a filesystem that has the flags.
   EXPECTING: --expect was given.  Return the status, or LOOK_AGAIN.  */
static int
rename_over_link (struct repoint *r, struct link_state *now,
                  bool expecting)
{
  unsigned int flags = r->use_exchange ? RENAME_NOREPLACE : 0;
  if (renameat2 (r->parent.fd, r->temp.name, r->parent.fd, r->parent.base,
                 flags) == 0)
    {
      r->old = *now;
      now->target = NULL;
      return EXIT_DONE;
    }
  int err = errno;
  if (flags && (err == EEXIST
                || creation_error_means_exists (r->parent.fd, r->parent.base,
                                                err)))
    return LOOK_AGAIN;   /* LINK appeared meanwhile.  */
  if (flags && fs_flag_unsupported (err) && !r->exchange_required)
    {
      r->use_exchange = false;
      return LOOK_AGAIN;
    }
  if (err == EISDIR || err == ENOTEMPTY || err == EEXIST)
    return refuse_non_symlink (r->link, LINK_DIRECTORY,
                               exchange_dir_may_help (r, expecting));
  return report_replace_failure (r, flags ? FS_NOREPLACE : FS_RENAME,
                                 now->kind != LINK_ABSENT, err);
}

/* Make R's new symlink LINK.  If EXPECT is not NULL, only if LINK is in
   the state it names (see matches_expected).  */
static int
publish (struct repoint *r, struct options const *opt, char const *expect)
{
  for (int attempt = 0; attempt < PUBLISH_ATTEMPTS; attempt++)
    {
      struct link_state now;
      int status = examine_link (r, opt, expect, &now);
      if (status != EXIT_DONE)
        return status;
      if (r->use_exchange && now.kind != LINK_ABSENT)
        status = exchange_with_link (r, opt, expect);
      else
        status = rename_over_link (r, &now, expect != NULL);
      link_state_free (&now);
      if (status != LOOK_AGAIN)
        return status;
    }
  complain (0, "cannot replace %s: it keeps changing", quoteaf (r->link));
  return EXIT_SYSERR;
}

/* --backup: the name LINK~, and whether it may be replaced: absent or
   a symbolic link (an older backup).  Only a LINK that is a symbolic
   link is kept there: an absent LINK leaves nothing to keep, and a
   directory (--exchange-dir) gets a name of its own, so LINK~ is then
   not looked at.  This look only refuses early, before anything
   changes; save_backup decides, in the same step as the rename, and
   undoes the change if LINK became a symbolic link meanwhile and LINK~
   cannot hold it.  */
static bool
prepare_backup (struct repoint *r)
{
  r->backup = xasprintf ("%s~", r->parent.base);
  struct stat st;
  bool link_is_symlink = (fstatat (r->parent.fd, r->parent.base, &st,
                                   AT_SYMLINK_NOFOLLOW) == 0
                          && S_ISLNK (st.st_mode));
  if (!link_is_symlink)
    return true;
  char *shown = path_in_parent (&r->parent, r->backup);
  bool ok = false;
  /* Say why before anything changes: the name given is fine, only
     the one made of it is not.  */
  if (strlen (r->backup) > NAME_MAX)
    complain (0, "cannot keep the old link of %s: its name is longer "
              "than %d bytes: LINK~ would not fit in a name; not changed",
              quoteaf (r->link), NAME_MAX - 1);
  else if (fstatat (r->parent.fd, r->backup, &st, AT_SYMLINK_NOFOLLOW) == 0
           && !S_ISLNK (st.st_mode))
    complain (0, "%s exists and is not a symbolic link, so the old link "
              "of %s cannot be kept there; not changed", quoteaf_n (0, shown),
              quoteaf_n (1, r->link));
  else
    ok = true;
  free (shown);
  return ok;
}

/* --backup: move the old link, held at the temporary name, to LINK~ --
   with RENAME_NOREPLACE, or by exchanging it with an older backup,
   which is then held at the temporary name until the change is
   complete.  Anything but a symbolic link at LINK~ is put back.  Return
   false with errno set if the old link is not at LINK~.  */
static bool
save_backup (struct repoint *r)
{
  for (int attempt = 0; attempt < PUBLISH_ATTEMPTS; attempt++)
    {
      if (renameat2 (r->parent.fd, r->temp.name, r->parent.fd, r->backup,
                     RENAME_NOREPLACE) == 0)
        {
          r->old_held_at = r->backup;
          return true;
        }
      if (errno != EEXIST)
        return false;
      if (renameat2 (r->parent.fd, r->temp.name, r->parent.fd, r->backup,
                     RENAME_EXCHANGE) != 0)
        {
          if (errno == ENOENT)
            continue;   /* LINK~ went away meanwhile.  */
          return false;
        }
      struct stat st;
      bool examined = fstatat (r->parent.fd, r->temp.name, &st,
                               AT_SYMLINK_NOFOLLOW) == 0;
      if (examined && S_ISLNK (st.st_mode))
        {
          r->old_held_at = r->backup;
          r->older_backup_held = true;
          return true;
        }
      /* Not a backup of ours, or not known to be: put it back.  */
      int why = examined ? EEXIST : errno;
      if (renameat2 (r->parent.fd, r->temp.name, r->parent.fd, r->backup,
                     RENAME_EXCHANGE) != 0)
        {
          /* The old link is LINK~ now, and what was there is here.  */
          int err = errno;
          char *shown = path_in_parent (&r->parent, r->backup);
          char *kept = path_in_parent (&r->parent, r->temp.name);
          complain (err, "cannot put back what was %s; it is kept as %s",
                    quoteaf_n (0, shown), quoteaf_n (1, kept));
          free (shown);
          free (kept);
          r->old_held_at = r->backup;
          temp_forget (&r->temp);
          errno = err;
          return false;
        }
      errno = why;
      return false;
    }
  errno = EAGAIN;
  return false;
}

/* Whether NAME in R's directory is R's own new link.  */
static bool
holds_new_link (struct repoint const *r, char const *name)
{
  struct stat st;
  return (fstatat (r->parent.fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0
          && S_ISLNK (st.st_mode) && st.st_ino == r->new_ino);
}

/* Put LINK back as it was before R's change: exchange it with what it
   held (or, if it was absent, move it away), check that what comes away
   is R's own new link, and remove that.  If it is not -- another
   process changed LINK meanwhile -- its change is put back and
   stands.  */
static enum undo_result
undo_repoint (struct repoint *r)
{
  int dirfd = r->parent.fd;
  char const *holder = r->old_held_at;
  if (!holder && r->old.kind != LINK_ABSENT)
    return UNDO_IMPOSSIBLE;   /* rename(2) replaced the old link.  */
  /* Where LINK's content goes: the old one's place, or the temporary
     name (free again since the new link was renamed from it).  */
  char const *away = holder ? holder : r->temp.name;
  if ((holder
       ? renameat2 (dirfd, holder, dirfd, r->parent.base, RENAME_EXCHANGE)
       : renameat2 (dirfd, r->parent.base, dirfd, away, RENAME_NOREPLACE))
      != 0)
    /* A new LINK cannot be moved away where the filesystem lacks
       RENAME_NOREPLACE (a check and an unlink could remove someone
       else's link).  */
    return (!holder && fs_flag_unsupported (errno)
            ? UNDO_IMPOSSIBLE : UNDO_FAILED);

  if (!holds_new_link (r, away))
    {
      bool restored = (holder
                       ? renameat2 (dirfd, holder, dirfd, r->parent.base,
                                    RENAME_EXCHANGE)
                       : renameat2 (dirfd, away, dirfd, r->parent.base,
                                    RENAME_NOREPLACE)) == 0;
      if (restored)
        return UNDO_OVERTAKEN;
      /* Never remove someone else's link as our temporary.  */
      if (away == r->temp.name)
        temp_forget (&r->temp);
      return UNDO_MISPLACED;
    }

  /* AWAY holds our new link.  An older backup goes back to LINK~.  */
  r->old_held_at = NULL;
  if (r->older_backup_held)
    {
      if (renameat2 (dirfd, r->temp.name, dirfd, away, RENAME_EXCHANGE)
          != 0)
        return UNDO_BACKUP_KEPT;   /* AWAY (LINK~) still holds our link. */
      r->older_backup_held = false;
    }
  else if (away != r->temp.name)
    unlinkat (dirfd, away, 0);
  return UNDONE;
}

/* What take_backup_link found at LINK~.  */
enum backup_link
{
  BACKUP_LINK_REMOVED,    /* our new link, now removed */
  BACKUP_LINK_STAYS,      /* our new link, which cannot be removed */
  BACKUP_LINK_OTHERS,     /* another process's, left there */
  BACKUP_LINK_MISPLACED   /* taken away, and left at *TAKEN: another
                             process made a LINK~ meanwhile */
};

/* take_backup_link, with the cleanup signals blocked.  */
static enum backup_link
take_backup_link_1 (struct repoint *r, struct temp_name *taken)
{
  int dirfd = r->parent.fd;
  if (temp_rename_from (taken, dirfd, r->backup, false) != 0)
    return errno == ENOENT ? BACKUP_LINK_OTHERS : BACKUP_LINK_STAYS;
  bool ours = holds_new_link (r, taken->name);
  if (ours && temp_remove (taken))
    return BACKUP_LINK_REMOVED;
  /* temp_remove failed and unregistered TAKEN, or it is not ours.  */
  int err = errno;
  temp_forget (taken);
  if (renameat2 (dirfd, taken->name, dirfd, r->backup,
                 RENAME_NOREPLACE) == 0)
    {
      errno = err;
      return ours ? BACKUP_LINK_STAYS : BACKUP_LINK_OTHERS;
    }
  return BACKUP_LINK_MISPLACED;
}

/* Remove R's new link from LINK~, if LINK~ still is that link.  LINK~
   is first renamed away to a temporary name, in one step (with
   RENAME_NOREPLACE, as excl-create removes a stale file), so that the
   link looked at is the one removed: a look and then an unlink of
   LINK~ would remove a LINK~ another process made between the two.
   What is not ours is put back.  For BACKUP_LINK_STAYS and
   BACKUP_LINK_MISPLACED errno tells why.  */
static enum backup_link
take_backup_link (struct repoint *r, struct temp_name *taken)
{
  /* What is taken is registered as a temporary, but is not ours to
     remove on a signal until it is known to be our link.  */
  block_cleanup_signals ();
  enum backup_link found = take_backup_link_1 (r, taken);
  int saved_errno = errno;
  unblock_cleanup_signals ();
  errno = saved_errno;
  return found;
}

/* The undo of R's change after WHAT failed with ERR put LINK back, but
   not the older LINK~ that --backup replaced: LINK~ holds our new link,
   and the older one is at the temporary name.  Never delete the older
   one: keep it there, and remove our link from LINK~, where it would
   pass for a backup of a change that did not stay -- if LINK~ still is
   our link: another process may have replaced it since
   (take_backup_link).  */
static void
report_backup_kept (struct repoint *r, char const *what, int err)
{
  int undo_err = errno;
  char *backup = path_in_parent (&r->parent, r->backup);
  char *kept = path_in_parent (&r->parent, r->temp.name);
  temp_forget (&r->temp);
  complain (err, "%s", what);
  struct temp_name taken;
  enum backup_link found = take_backup_link (r, &taken);
  int take_err = errno;
  if (found == BACKUP_LINK_OTHERS || found == BACKUP_LINK_MISPLACED)
    complain (undo_err, "%s was put back as it was, but its older backup "
              "cannot be put back as %s, which another process changed "
              "meanwhile: it is kept as %s", quoteaf_n (0, r->link),
              quoteaf_n (1, backup), quoteaf_n (2, kept));
  else if (found == BACKUP_LINK_REMOVED)
    complain (undo_err, "%s was put back as it was, but its older backup "
              "cannot be put back as %s: it is kept as %s",
              quoteaf_n (0, r->link), quoteaf_n (1, backup),
              quoteaf_n (2, kept));
  else
    complain (undo_err, "%s was put back as it was, but its older backup "
              "cannot be put back as %s, which points to %s: it is kept as "
              "%s", quoteaf_n (0, r->link), quoteaf_n (1, backup),
              quoteaf_n (2, r->target), quoteaf_n (3, kept));
  if (found == BACKUP_LINK_MISPLACED)
    {
      char *theirs = path_in_parent (&r->parent, taken.name);
      complain (take_err, "what was %s is left at %s, as it cannot be "
                "moved back", quoteaf_n (0, backup), quoteaf_n (1, theirs));
      free (theirs);
    }
  free (kept);
  free (backup);
}

/* The undo of R's change after WHAT failed with ERR found LINK changed
   by another process, and could not put that change back: it is left
   at HELD, where the undo moved it (NULL: the temporary name).  With
   --backup, the older LINK~ is still at the temporary name, and is no
   longer replaced by the old link: keep it too.  */
static void
report_misplaced (struct repoint *r, char const *what, int err,
                  char const *held)
{
  int undo_err = errno;
  char *temp = path_in_parent (&r->parent, r->temp.name);
  complain (err, "%s", what);
  complain (undo_err, "%s cannot be put back as it was, since another "
            "process changed it meanwhile; what it put at %s is left at %s, "
            "as it cannot be moved back", quoteaf_n (0, r->link),
            quoteaf_n (0, r->link), quoteaf_n (1, held ? held : temp));
  if (r->older_backup_held)
    {
      char *backup = path_in_parent (&r->parent, r->backup);
      temp_forget (&r->temp);
      complain (0, "the older backup that was %s is kept as %s",
                quoteaf_n (0, backup), quoteaf_n (1, temp));
      free (backup);
    }
  free (temp);
}

/* Something the caller asked for after the change -- WHAT, which
   failed with ERR -- cannot be done: undo the change.  */
static int
undo_after (struct repoint *r, char const *what, int err)
{
  char *held = (r->old_held_at
                ? path_in_parent (&r->parent, r->old_held_at) : NULL);
  switch (undo_repoint (r))
    {
    case UNDONE:
      complain (err, "%s was put back as it was (undone): %s",
                quoteaf (r->link), what);
      break;
    case UNDO_OVERTAKEN:
      complain (err, "%s cannot be put back as it was, since another "
                "process changed it meanwhile (its change stands): %s",
                quoteaf (r->link), what);
      break;
    case UNDO_BACKUP_KEPT:
      report_backup_kept (r, what, err);
      break;
    case UNDO_MISPLACED:
      report_misplaced (r, what, err, held);
      break;
    case UNDO_IMPOSSIBLE:
      /* Only -v can get here: -p and -b need RENAME_EXCHANGE.  */
      if (r->old.kind == LINK_ABSENT)
        complain (err, "%s now points to %s, and cannot be removed again "
                  "(without RENAME_NOREPLACE it cannot be moved away in one "
                  "step): %s", quoteaf_n (0, r->link),
                  quoteaf_n (1, r->target), what);
      else
        complain (err, "%s now points to %s, and cannot be put back "
                  "(without RENAME_EXCHANGE the old link was replaced, not "
                  "kept): %s", quoteaf_n (0, r->link),
                  quoteaf_n (1, r->target), what);
      break;
    default:
      {
        int undo_err = errno;
        complain (err, "%s", what);
        if (held)
          complain (undo_err, "cannot put %s back as it was: it points to "
                    "%s, and what it held is kept as %s",
                    quoteaf_n (0, r->link), quoteaf_n (1, r->target),
                    quoteaf_n (2, held));
        else
          complain (undo_err, "cannot put %s back as it was: it points "
                    "to %s", quoteaf_n (0, r->link), quoteaf_n (1, r->target));
        if (r->old_held_at == r->temp.name)
          temp_forget (&r->temp);
      }
      break;
    }
  free (held);
  return EXIT_SYSERR;
}

/* What --print-old and --verbose print about R's change, or NULL.  */
static char *
format_report (struct repoint const *r, struct options const *opt)
{
  struct link_state const *old = &r->old;
  char *printed = (opt->print_old
                   ? xasprintf ("%s\n", old->kind == LINK_ABSENT
                                        ? "" : old->target)
                   : NULL);
  if (!opt->verbose)
    return printed;

  /* What was LINK is named from the current directory, as LINK is;
     the old target is LINK's content, as readlink prints it.  */
  char *was;
  char *kept = NULL;
  switch (old->kind)
    {
    case LINK_ABSENT:
      was = xstrdup ("new");
      break;
    case LINK_SYMLINK:
      if (opt->backup)
        kept = path_in_parent (&r->parent, r->backup);
      was = (kept
             ? xasprintf ("was %s, kept as %s", quoteaf_n (2, old->target),
                          quoteaf_n (3, kept))
             : xasprintf ("was %s", quoteaf_n (2, old->target)));
      break;
    default:
      kept = path_in_parent (&r->parent, old->target);
      was = xasprintf ("was a directory, kept as %s", quoteaf_n (2, kept));
      break;
    }
  char *report = xasprintf ("%s%s -> %s (%s)\n", printed ? printed : "",
                            quoteaf_n (0, r->link), quoteaf_n (1, r->target),
                            was);
  free (kept);
  free (was);
  free (printed);
  return report;
}

/* LINK is R's new link now.  Keep the old link as LINK~ (--backup),
   then write what was asked for; if either cannot be done, undo the
   change.  Then remove what is left of the old link.  */
static int
complete_repoint (struct repoint *r, struct options const *opt)
{
  if (opt->backup && r->old.kind == LINK_SYMLINK && !save_backup (r))
    {
      char *shown = path_in_parent (&r->parent, r->backup);
      char *what = xasprintf ("cannot keep the old link of %s as %s",
                              quoteaf_n (0, r->link), quoteaf_n (1, shown));
      int status = undo_after (r, what, errno);
      free (what);
      free (shown);
      return status;
    }

  char *report = format_report (r, opt);
  bool written = !report || write_out (report);
  int err = errno;
  free (report);
  if (!written)
    return undo_after (r, "write error on standard output", err);

  /* The old link, or an older backup, is at the temporary name.  */
  if (r->old_held_at == r->temp.name || r->older_backup_held)
    {
      char left[sizeof r->temp.name];
      strcpy (left, r->temp.name);
      if (!temp_remove (&r->temp))
        {
          /* The change stands; what it replaced could not be removed.  */
          int remove_errno = errno;
          char *shown = path_in_parent (&r->parent, left);
          if (r->older_backup_held)
            {
              /* Not the old link, which is safe at LINK~: what --backup
                 replaced there.  */
              char *backup = path_in_parent (&r->parent, r->backup);
              complain (remove_errno, "%s now points to %s, and its old "
                        "link is kept as %s, but the older %s it replaced is "
                        "left as %s, which cannot be removed",
                        quoteaf_n (0, r->link), quoteaf_n (1, r->target),
                        quoteaf_n (2, backup), quoteaf_n (3, backup),
                        quoteaf_n (4, shown));
              free (backup);
            }
          else
            complain (remove_errno, "%s now points to %s, but the link it "
                      "replaced is left as %s, which cannot be removed",
                      quoteaf_n (0, r->link), quoteaf_n (1, r->target),
                      quoteaf_n (2, shown));
          free (shown);
          return EXIT_SYSERR;
        }
    }
  else
    temp_forget (&r->temp);

  /* Where the old directory went must not go unsaid, -q or not (-v
     and -p say it too).  */
  if (r->old.kind == LINK_DIRECTORY && !opt->verbose && !opt->print_old)
    {
      char *kept = path_in_parent (&r->parent, r->old.target);
      complain (0, "the directory that was %s is kept as %s",
                quoteaf_n (0, r->link), quoteaf_n (1, kept));
      free (kept);
    }
  return EXIT_DONE;
}

/* Publish R's new link and complete the change.  Between the exchange
   and the end, the temporary name holds what LINK held: a signal must
   not remove it before it is sorted, so the cleanup signals wait.  */
static int
repoint_now (struct repoint *r, struct options const *opt,
             char const *expect)
{
  block_cleanup_signals ();
  int status = publish (r, opt, expect);
  if (status == EXIT_DONE)
    status = complete_repoint (r, opt);
  unblock_cleanup_signals ();
  return status;
}

/* The name of the --expect lock for R's LINK: hidden, in LINK's
   directory, named after LINK.  */
static char *
expect_lock_name (struct repoint const *r)
{
  static char const prefix[] = ".atomic-swap.";
  static char const suffix[] = ".lock";
  int base_len = (int) strlen (r->parent.base);
  int room = NAME_MAX - (int) (sizeof prefix - 1) - (int) (sizeof suffix - 1);
  if (base_len > room)
    base_len = room;   /* Long names share a lock: harmless.  */
  return xasprintf ("%s%.*s%s", prefix, base_len, r->parent.base, suffix);
}

/* Publish R's new symlink if LINK is in the state --expect names.  Calls
   on the same LINK take turns through a lock, taken in the directory
   already open (never looked up by its path again), so that of several
   racing with the same OLD exactly one sees OLD.  The lock keeps no
   history: once released, nothing of it is left.  */
static int
publish_expected (struct repoint *r, struct options const *opt)
{
  char *lock_name = expect_lock_name (r);
  char *lock_shown = path_in_parent (&r->parent, lock_name);
  struct dirlock lock;
  struct dirlock_config config = { .no_history = true,
                                   .shown = lock_shown };
  struct timespec wait = { EXPECT_LOCK_WAIT_SECONDS, 0 };
  int status;
  switch (dirlock_acquire_at (&lock, r->parent.fd, lock_name,
                              deadline_after (wait), &config))
    {
    case 0:
      /* A signal that comes while we hold the lock waits until the lock
         is released: nothing is left behind.  */
      block_cleanup_signals ();
      status = repoint_now (r, opt, opt->expect);
      /* The change is made or refused; a lock that cannot be released
         (someone broke it meanwhile, an I/O error) does not undo that,
         so the status stays that of the change.  Neither warning is
         one that -q hides (status-1 messages, filesystem warnings).  */
      int released = dirlock_release (&lock);
      int release_errno = errno;
      /* dirlock's warnings, which complain does not write, must not
         wait for a full standard error with a signal held.  */
      unblock_cleanup_signals ();
      if (released != 0)
        complain (release_errno, "warning: cannot release the lock %s",
                  quoteaf (lock_shown));
      else
        dirlock_warn_left_empty (lock.dir_left_errno, lock_shown,
                                 "--expect call", r->link);
      break;
    case 1:
      /* A wait that timed out: "no", as everywhere in the suite, and
         like every "no", unsaid with -q.  */
      if (!opt->quiet)
        complain (0, "cannot change %s: the lock %s is still held after "
                  "%d seconds; not changed", quoteaf_n (0, r->link),
                  quoteaf_n (1, lock_shown), EXPECT_LOCK_WAIT_SECONDS);
      status = EXIT_NO;
      break;
    default:
      complain (errno, "cannot lock %s", quoteaf (lock_shown));
      dirlock_warn_left_empty (lock.dir_left_errno, lock_shown,
                               "--expect call", r->link);
      status = EXIT_SYSERR;
      break;
    }
  /* After our own messages, whatever the acquisition returned.  */
  dirlock_warn_temps_left (&lock.temps_left);
  free (lock_shown);
  free (lock_name);
  return status;
}

/* Say that LINK cannot be made a symbolic link holding TARGET, which is
   too long; return the status.  */
static int
refuse_long_target (char const *link, char const *target)
{
  complain (0, "cannot create symbolic link %s: its target is too long "
            "(%zu bytes)", quoteaf (link), strlen (target));
  return EXIT_SYSERR;
}

/* Decide how R is published on its filesystem, and whether the
   filesystem is trusted for it.  Return EXIT_DONE, or the status of a
   refusal (reported).  */
static int
choose_primitive (struct repoint *r, struct options const *opt)
{
  r->exchange_required = opt->print_old || opt->backup || opt->exchange_dir;
  /* The same shortcut fs_permits takes: every primitive is safe here.  */
  r->use_exchange = true;
  if (fs_surely_local (r->parent.fd, r->parent.base))
    return EXIT_DONE;
  struct fs_info info;
  if (!fs_identify (r->parent.fd, r->parent.base, &info))
    {
      /* The operation itself will report the problem.  */
      r->use_exchange = r->exchange_required;
      return EXIT_DONE;
    }
  /* A LINK refused on every filesystem (refusal_of: a file, a
     directory without --exchange-dir, LINK/ that is no directory) is
     the first reason, not what this filesystem cannot do (no
     RENAME_EXCHANGE for -p, overlay's lower-layer directory): mending
     that would only lead to the refusal.  publish reads LINK again
     just before it acts: this read only chooses the reason.  */
  struct link_state now;
  int status = examine_link (r, opt, opt->expect, &now);
  if (status != EXIT_DONE)
    {
      fs_info_free (&info);
      return status;
    }
  link_state_free (&now);
  /* Nor may a symbolic link hold PATH_MAX bytes or more, anywhere: the
     kernel refuses such a name before any filesystem sees it.  */
  if (PATH_MAX <= strlen (r->target))
    {
      fs_info_free (&info);
      return refuse_long_target (r->link, r->target);
    }
  bool permitted;
  if (r->exchange_required)
    permitted = fs_permits_info (r->link, &info, r->parent.fd, FS_EXCHANGE,
                                 opt->force, opt->quiet);
  else
    {
      /* rename(2) is the promise; RENAME_EXCHANGE, where the filesystem
         surely has it, only lets us see what was replaced.  On a local
         filesystem the table has not measured, only the probe can say
         it has the flag.  */
      char const *consequence;
      int probe_dir = info.class == FSC_LOCAL ? r->parent.fd : -1;
      r->use_exchange = (fs_judge (&info, FS_EXCHANGE, probe_dir,
                                   &consequence)
                         == FS_SAFE);
      permitted = fs_permits_info (r->link, &info, r->parent.fd, FS_RENAME,
                                   opt->force, opt->quiet);
    }
  /* --expect excludes the other callers with a lock made by renaming a
     directory into place, which fails while the lock exists.  */
  if (permitted && opt->expect)
    permitted = fs_permits_info (r->link, &info, r->parent.fd,
                                 FS_RENAME_DIR, opt->force, opt->quiet);
  fs_info_free (&info);
  return permitted ? EXIT_DONE : EXIT_SYSERR;
}

/* The 2nd form: make LINK a symbolic link to TARGET.  */
static int
repoint_symlink (char const *target, char const *link,
                 struct options const *opt)
{
  struct repoint r = { .link = link, .must_be_dir = has_trailing_slash (link),
                       .old = { LINK_ABSENT, NULL } };
  if (!open_parent (link, &r.parent))
    {
      complain (errno, "cannot create symbolic link %s", quoteaf (link));
      return EXIT_SYSERR;
    }

  int status = EXIT_SYSERR;
  char *stored = (opt->relative ? relative_target (target, r.parent.dir)
                  : xstrdup (target));
  if (!stored)
    goto out;
  r.target = stored;

  if (opt->check_target)
    {
      int fd = openat (r.parent.fd, stored, O_PATH | O_CLOEXEC);
      if (fd < 0)
        {
          complain (errno, "refusing to point %s to %s, as seen from %s",
                    quoteaf_n (0, link), quoteaf_n (1, stored),
                    quoteaf_n (2, r.parent.dir));
          goto out;
        }
      close (fd);
    }
  if (opt->expect || opt->backup)
    {
      /* Most losers of a race can tell without the lock: LINK already
         differs from OLD.  That is a valid answer at this moment.  It
         and a LINK refused on every filesystem come before LINK~
         (prepare_backup), as in choose_primitive: mending LINK~ would
         only lead to them.  */
      struct link_state now;
      status = examine_link (&r, opt, opt->expect, &now);
      if (status != EXIT_DONE)
        goto out;
      link_state_free (&now);
      status = EXIT_SYSERR;
    }
  if (opt->backup && !prepare_backup (&r))
    goto out;
  /* What this filesystem cannot do comes after what every filesystem
     refuses (above), as on a local one, where it is never said.  */
  status = choose_primitive (&r, opt);
  if (status != EXIT_DONE)
    goto out;
  status = EXIT_SYSERR;

  /* Without --expect nothing waits between making the temporary and
     publishing it, so one block of the cleanup signals covers both
     (the blocks inside nest in it): two system calls fewer.  */
  bool signals_held = !opt->expect;
  if (signals_held)
    block_cleanup_signals ();
  if (temp_create (&r.temp, r.parent.fd, TEMP_SYMLINK, 0, stored) != 0)
    {
      int err = errno;
      struct link_state now = { LINK_ABSENT, NULL };
      enum refusal refusal = ACCEPTED;
      if (read_link_state (r.parent.fd, r.parent.base, &now))
        refusal = refusal_of (&r, r.parent.base, &now, opt->expect, opt);
      /* A LINK that would be refused on any filesystem (a directory, a
         file, not a directory as its slash asks) is the first reason,
         not the read-only, full or forbidden directory: mending that
         would only lead to the refusal.  */
      if (refusal != ACCEPTED)
        status = report_refusal (&r, &now, refusal, opt->expect, opt);
      /* The temporary's name is short: a name too long is TARGET.  */
      else if (err == ENAMETOOLONG)
        status = refuse_long_target (link, stored);
      else
        complain (err, "cannot create symbolic link %s", quoteaf (link));
      link_state_free (&now);
      if (signals_held)
        unblock_cleanup_signals ();
      goto out;
    }
  /* An undo must know our new link again: only -p, -v and -b can ask
     for one.  */
  struct stat st;
  if ((opt->print_old || opt->verbose || opt->backup)
      && fstatat (r.parent.fd, r.temp.name, &st, AT_SYMLINK_NOFOLLOW) == 0)
    r.new_ino = st.st_ino;

  status = (opt->expect ? publish_expected (&r, opt)
            : repoint_now (&r, opt, NULL));
  /* What is left at the temporary name is our new link, unpublished,
     which a signal may remove now; the warning that it cannot be
     removed must not wait for a full standard error with one held.  */
  if (signals_held)
    unblock_cleanup_signals ();
  temp_remove_warn (&r.temp, &r.parent);

  if (status == EXIT_DONE && opt->sync && fsync_directory (r.parent.fd) != 0)
    {
      complain (errno, "%s now points to %s, but cannot sync its directory",
                quoteaf_n (0, link), quoteaf_n (1, r.target));
      status = EXIT_SYSERR;
    }

 out:
  link_state_free (&r.old);
  free (r.backup);
  free (stored);
  close_parent (&r.parent);
  return status;
}

/* --check-fs of the names to exchange, or to move with -n: each
   filesystem may keep every promise, and the call still fail if the
   two are on different mounts, which no rename crosses.  Say so.  */
static void
explain_crossing (char const *a, char const *b, enum swap_form form)
{
  struct parent_dir pa = { .fd = -1 }, pb = { .fd = -1 };
  if (open_parent (a, &pa) && open_parent (b, &pb)
      && fs_dirs_on_different_mounts (pa.fd, pb.fd))
    {
      char const *qa = quoteaf_n (0, a), *qb = quoteaf_n (1, b);
      printf ("%s and %s are on different mounts, and no rename crosses "
              "mounts: ", qa, qb);
      if (form == FORM_EXCHANGE)
        printf ("they cannot be exchanged\n");
      else
        printf ("%s cannot be moved to %s\n", qa, qb);
    }
  close_parent (&pa);
  close_parent (&pb);
}

/* A symbolic link's TARGET may be any text but the empty one.  */
static void
check_target (char const *target)
{
  if (*target == '\0')
    usage_error ("TARGET must not be empty (an empty --print-old line "
                 "means LINK did not exist: to roll that back, remove "
                 "LINK)");
}

int
main (int argc, char **argv)
{
  struct options opt = { .form = FORM_EXCHANGE };
  bool symlink_form = false, no_clobber_form = false, exchange_form = false;
  bool ln_force = false, check_fs = false;

  tool_init (argc, argv);

  int c;
  while ((c = getopt_long (argc, argv, "snpbrfTSvq", long_options, NULL))
         != -1)
    {
      switch (c)
        {
        case 's':
          symlink_form = true;
          break;
        case 'n':
          no_clobber_form = true;
          break;
        case EXCHANGE_OPTION:
          exchange_form = true;
          break;
        case EXPECT_OPTION:
          opt.expect = optarg;
          break;
        case 'p':
          opt.print_old = true;
          break;
        case 'b':
          opt.backup = true;
          break;
        case 'r':
          opt.relative = true;
          break;
        case 'f':
          ln_force = true;
          break;
        case 'T':
          /* An operand is never a directory to move into anyway.  */
          break;
        case EXCHANGE_DIR_OPTION:
          opt.exchange_dir = true;
          break;
        case CHECK_TARGET_OPTION:
          opt.check_target = true;
          break;
        case 'S':
          opt.sync = true;
          break;
        case 'v':
          opt.verbose = true;
          break;
        case 'q':
          opt.quiet = true;
          break;
        case FORCE_OPTION:
          opt.force = true;
          break;
        case CHECK_FS_OPTION:
          check_fs = true;
          break;
        case_GETOPT_HELP_CHAR;
        case_GETOPT_VERSION_CHAR;
        default:
          usage (EXIT_USAGE);
        }
    }

  int n_operands = argc - optind;

  if (symlink_form && no_clobber_form)
    usage_error ("--symlink and --no-clobber cannot be combined (for ln's "
                 "-sfn, type 'atomic-swap -s TARGET LINK': LINK is never "
                 "followed)");
  if (exchange_form && (symlink_form || no_clobber_form))
    usage_error ("--exchange cannot be combined with %s",
                 symlink_form ? "--symlink" : "--no-clobber");
  if (!symlink_form)
    {
      char const *needs_symlink = (opt.expect ? "--expect"
                                   : opt.print_old ? "--print-old"
                                   : opt.backup ? "--backup"
                                   : opt.relative ? "--relative"
                                   : opt.exchange_dir ? "--exchange-dir"
                                   : opt.check_target ? "--check-target"
                                   : ln_force ? "-f"
                                   : NULL);
      if (needs_symlink)
        usage_error ("%s works only with --symlink", needs_symlink);
    }
  if (opt.expect && opt.exchange_dir)
    usage_error ("--expect and --exchange-dir cannot be combined: a "
                 "directory never matches --expect");
  opt.form = (symlink_form ? FORM_SYMLINK
              : no_clobber_form ? FORM_NO_CLOBBER : FORM_EXCHANGE);

  /* --check-fs refuses what the form it checks would refuse, before
     any report; but one operand alone (LINK with -s) is the path whose
     filesystem to examine.  */
  if (n_operands == 0)
    usage_error ("missing operand");
  if (n_operands == 1 && !check_fs)
    usage_error ("missing %s operand after %s",
                 opt.form == FORM_SYMLINK ? "LINK"
                 : opt.form == FORM_NO_CLOBBER ? "DST" : "PATH2",
                 quoteaf (argv[optind]));
  if (n_operands > 2)
    usage_error ("extra operand %s", quoteaf (argv[optind + 2]));
  char const *first = argv[optind], *second = argv[optind + 1];
  /* A symlink's TARGET is any text; the names to change are checked,
     with --check-fs too when both are given: the names the form
     refuses ('.', '/') are refused before any report.  One operand
     alone is only a path whose filesystem to examine ('.': the
     current directory's).  */
  if (second)
    {
      if (opt.form != FORM_SYMLINK)
        check_operand (first);
      check_operand (second);
    }
  if (check_fs)
    {
      /* -s TARGET LINK: TARGET is text for the link, never looked up
         (and relative to LINK's directory): only LINK's filesystem
         is changed.  */
      int skip = opt.form == FORM_SYMLINK && second;
      if (skip)
        check_target (first);
      int status = fs_explain_operands (n_operands - skip,
                                        argv + optind + skip);
      if (second && opt.form != FORM_SYMLINK)
        explain_crossing (first, second, opt.form);
      return status;
    }
  /* A message into a pipe whose reader has gone must not make our
     status 141 (write_out checks standard output itself).  */
  ignore_pipe_signal ();

  switch (opt.form)
    {
    case FORM_SYMLINK:
      check_target (first);
      return repoint_symlink (first, second, &opt);
    case FORM_NO_CLOBBER:
      return rename_no_clobber (first, second, &opt);
    case FORM_EXCHANGE:
    default:
      return exchange_paths (first, second, &opt);
    }
}

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
                    it is read (--print-old, --expect) and removed.
   -n SRC DST       renameat2 (RENAME_NOREPLACE).

   Every name is used relative to a descriptor of its directory, with its
   last component only, so LINK is never followed: a symlink to a
   directory is replaced itself, never entered.  When the kernel or the
   filesystem refuses a flag, the tool says so and stops; it never
   emulates the flag with several calls.  */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "dirlock.h"
#include "fsclass.h"
#include "relpath.h"

#include "areadlink.h"
#include "canonicalize.h"
#include "error.h"
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

enum
{
  EXPECT_OPTION = CHAR_MAX + 1,
  EXCHANGE_DIR_OPTION,
  CHECK_TARGET_OPTION,
  FORCE_OPTION,
  CHECK_FS_OPTION
};

static struct option const long_options[] =
{
  {"symlink", no_argument, NULL, 's'},
  {"no-clobber", no_argument, NULL, 'n'},
  {"expect", required_argument, NULL, EXPECT_OPTION},
  {"print-old", no_argument, NULL, 'p'},
  {"relative", no_argument, NULL, 'r'},
  {"exchange-dir", no_argument, NULL, EXCHANGE_DIR_OPTION},
  {"check-target", no_argument, NULL, CHECK_TARGET_OPTION},
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
Mandatory arguments to long options are mandatory for short options too.\n\
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
                          (an empty line if LINK did not exist), captured\n\
                          in the same step, for a later rollback\n\
  -r, --relative        store TARGET relative to LINK's directory, like\n\
                          'ln -r' (TARGET is then named from the current\n\
                          directory)\n\
      --exchange-dir    if LINK is a real directory, exchange it for the\n\
                          new symbolic link and keep it under the name\n\
                          LINK.atomic-swap-backup.RANDOM (printed)\n\
      --check-target    refuse if TARGET, as seen from LINK's directory,\n\
                          does not exist\n\
\n\
Always:\n\
  -S, --sync            make the change durable: fsync the directories\n\
                          whose entries changed\n\
  -v, --verbose         print what was done: 'LINK' -> 'TARGET' (was 'OLD')\n\
  -q, --quiet           print no message for status 1, and no filesystem\n\
                          warning\n\
      --force           go ahead on a filesystem that cannot keep the\n\
                          promise (after a warning)\n\
      --check-fs        print what each operand's filesystem guarantees,\n\
                          and exit\n\
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
but is not a symbolic link is never replaced: without --exchange-dir that\n\
is an error, and the old directory is never deleted.\n\
\n\
With --expect, atomic-swap calls on the same LINK take turns through a\n\
short-lived lock directory, .atomic-swap.LINK.lock in LINK's directory,\n\
held only around the read, the comparison and the rename (the file\n\
.atomic-swap.LINK.lock.last keeps its last owner); a lock left by a\n\
killed atomic-swap is recovered.  A call waits up to %d seconds for it.\n\
\n\
The 1st form, --print-old and --exchange-dir need RENAME_EXCHANGE;\n\
--no-clobber needs RENAME_NOREPLACE.  Where the filesystem or the kernel\n\
lacks it (NFS, most FUSE filesystems, old kernels), or the two names are\n\
on different filesystems, atomic-swap fails with status 3 and names what\n\
is missing; nothing is changed.\n\
", EXPECT_LOCK_WAIT_SECONDS);
  emit_exit_status_help ("\
  1  nothing changed: with --no-clobber, DST exists; with --expect, LINK\n\
     did not point to OLD\n");
  fputs ("\
\n\
Examples:\n\
  atomic-swap -s releases/42 current        # publish release 42\n\
  old=$(atomic-swap -p -s releases/42 current)\n\
  atomic-swap -s \"$old\" current             # roll back\n\
  atomic-swap -s --expect=releases/41 releases/42 current\n\
                                            # only if nobody deployed since\n\
  atomic-swap -n build.tmp releases/42      # publish a finished directory\n\
  atomic-swap site site.new                 # exchange two real directories\n\
", stdout);
  emit_help_footer ();
  exit (status);
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

  /* EINVAL: it exists and is not a symbolic link.  */
  struct stat st;
  if (fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return false;
  state->kind = S_ISDIR (st.st_mode) ? LINK_DIRECTORY : LINK_OTHER;
  return true;
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
  switch (state->kind)
    {
    case LINK_ABSENT:
      error (0, 0, "%s does not exist, expected it to point to %s; "
             "not changed", quoteaf_n (0, link), quoteaf_n (1, expect));
      break;
    case LINK_SYMLINK:
      if (*expect == '\0')
        error (0, 0, "%s exists (it points to %s), expected it absent; "
               "not changed", quoteaf_n (0, link),
               quoteaf_n (1, state->target));
      else
        error (0, 0, "%s points to %s, not %s; not changed",
               quoteaf_n (0, link), quoteaf_n (1, state->target),
               quoteaf_n (2, expect));
      break;
    default:
      error (0, 0, "%s is not a symbolic link; not changed", quoteaf (link));
      break;
    }
  return EXIT_NO;
}

/* LINK exists and is not a symbolic link: refuse to replace it.  */
static int
refuse_non_symlink (char const *link, enum link_kind kind)
{
  if (kind == LINK_DIRECTORY)
    error (0, 0, "%s is a directory, not a symbolic link; not replaced "
           "(use --exchange-dir to exchange it for the symbolic link and "
           "keep it under a backup name)", quoteaf (link));
  else
    error (0, 0, "%s exists and is not a symbolic link; not replaced",
           quoteaf (link));
  return EXIT_SYSERR;
}

/* fs_permits for PATH, the name PARENT->base in PARENT.  */
static bool
permits (char const *path, struct parent_dir const *parent,
         enum fs_primitive prim, struct options const *opt)
{
  return fs_permits (path, parent->fd, parent->base, prim, opt->force,
                     opt->quiet);
}

/* --- The exchange and no-clobber forms -------------------------------- */

/* Report a failed renameat2 (FLAGS) of A to B: an exchange, or a
   move.  */
static int
report_rename_failure (char const *a, struct parent_dir const *pa,
                       char const *b, struct parent_dir const *pb,
                       unsigned int flags, int err)
{
  bool exchange = flags & RENAME_EXCHANGE;
  char const *verb = exchange ? "exchange" : "move";
  char const *joiner = exchange ? "and" : "to";
  /* EXDEV and a missing renameat2 flag are the filesystem's doing: the
     classifier says which, and why it cannot be done atomically.  */
  char *why = fs_rename_failure (pa->fd, pa->base, pb->fd, pb->base,
                                 exchange ? FS_EXCHANGE : FS_NOREPLACE, err);
  if (why)
    {
      error (0, 0, "cannot %s %s %s %s: %s", verb, quoteaf_n (0, a), joiner,
             quoteaf_n (1, b), why);
      free (why);
      return EXIT_SYSERR;
    }
  if (err == EINVAL)
    {
      /* The flag works here, so the kernel objects to the names: one
         is a directory that contains the other.  */
      error (0, 0, "cannot %s %s %s %s: one contains the other",
             verb, quoteaf_n (0, a), joiner, quoteaf_n (1, b));
      return EXIT_SYSERR;
    }
  if (err == ENOENT)
    {
      /* Say which one is missing.  */
      struct stat st;
      if (fstatat (pa->fd, pa->base, &st, AT_SYMLINK_NOFOLLOW) != 0)
        error (0, errno, "cannot %s %s", verb, quoteaf (a));
      else if (exchange
               && fstatat (pb->fd, pb->base, &st, AT_SYMLINK_NOFOLLOW) != 0)
        error (0, errno, "cannot %s %s", verb, quoteaf (b));
      else
        error (0, err, "cannot %s %s %s %s", verb, quoteaf_n (0, a), joiner,
               quoteaf_n (1, b));
      return EXIT_SYSERR;
    }
  error (0, err, "cannot %s %s %s %s", verb, quoteaf_n (0, a), joiner,
         quoteaf_n (1, b));
  return EXIT_SYSERR;
}

/* fsync the directories of PA and PB (once if they are the same).  */
static bool
sync_directories (struct parent_dir const *pa, struct parent_dir const *pb,
                  char const *name_a, char const *name_b)
{
  struct stat sa, sb;
  bool same = (fstat (pa->fd, &sa) == 0 && fstat (pb->fd, &sb) == 0
               && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino);
  if (fsync_directory (pa->fd) != 0)
    {
      error (0, errno, "cannot sync the directory of %s", quoteaf (name_a));
      return false;
    }
  if (!same && fsync_directory (pb->fd) != 0)
    {
      error (0, errno, "cannot sync the directory of %s", quoteaf (name_b));
      return false;
    }
  return true;
}

/* Open the directories of A and B.  */
static bool
open_parents (char const *a, struct parent_dir *pa,
              char const *b, struct parent_dir *pb)
{
  if (!open_parent (a, pa))
    {
      error (0, errno, "cannot access %s", quoteaf (a));
      return false;
    }
  if (!open_parent (b, pb))
    {
      error (0, errno, "cannot access %s", quoteaf (b));
      close_parent (pa);
      return false;
    }
  return true;
}

/* The 1st form: exchange A and B.  */
static int
exchange_paths (char const *a, char const *b, struct options const *opt)
{
  struct parent_dir pa, pb;
  if (!open_parents (a, &pa, b, &pb))
    return EXIT_SYSERR;

  int status = EXIT_DONE;
  if (!permits (a, &pa, FS_EXCHANGE, opt)
      || !permits (b, &pb, FS_EXCHANGE, opt))
    status = EXIT_SYSERR;
  else if (renameat2 (pa.fd, pa.base, pb.fd, pb.base, RENAME_EXCHANGE) != 0)
    status = report_rename_failure (a, &pa, b, &pb, RENAME_EXCHANGE, errno);
  else
    {
      if (opt->sync && !sync_directories (&pa, &pb, a, b))
        status = EXIT_SYSERR;
      if (opt->verbose)
        printf ("%s <-> %s\n", quoteaf_n (0, a), quoteaf_n (1, b));
    }
  close_parent (&pa);
  close_parent (&pb);
  return status;
}

/* The 3rd form: rename SRC to DST unless DST exists.  */
static int
rename_no_clobber (char const *src, char const *dst,
                   struct options const *opt)
{
  struct parent_dir ps, pd;
  if (!open_parents (src, &ps, dst, &pd))
    return EXIT_SYSERR;

  int status = EXIT_DONE;
  if (!permits (dst, &pd, FS_NOREPLACE, opt))
    status = EXIT_SYSERR;
  else if (renameat2 (ps.fd, ps.base, pd.fd, pd.base, RENAME_NOREPLACE) != 0)
    {
      int err = errno;
      if (creation_error_means_exists (pd.fd, pd.base, err))
        {
          if (!opt->quiet)
            error (0, EEXIST, "cannot move %s to %s", quoteaf_n (0, src),
                   quoteaf_n (1, dst));
          status = EXIT_NO;
        }
      else
        status = report_rename_failure (src, &ps, dst, &pd, RENAME_NOREPLACE,
                                        err);
    }
  else
    {
      if (opt->sync && !sync_directories (&ps, &pd, src, dst))
        status = EXIT_SYSERR;
      if (opt->verbose)
        printf ("renamed %s -> %s\n", quoteaf_n (0, src), quoteaf_n (1, dst));
    }
  close_parent (&ps);
  close_parent (&pd);
  return status;
}

/* --- The symlink form --------------------------------------------------- */

/* One repointing of LINK.  */
struct repoint
{
  char const *link;             /* as given */
  struct parent_dir parent;     /* LINK's directory and last component */
  struct temp_name temp;        /* the new symlink until it is LINK */
  char const *target;           /* what the new symlink holds */
  bool use_exchange;            /* publish with RENAME_EXCHANGE */
  bool exchange_required;       /* --print-old, --exchange-dir */
  struct link_state old;        /* what LINK was just before */
};

/* The stored form of TARGET for --relative: the path from LINK's
   directory DIR to TARGET (named from the current directory), both with
   symlinks resolved, as 'ln -r' does.  */
static char *
relative_target (char const *target, char const *dir)
{
  char *real_target = canonicalize_filename_mode (target, CAN_MISSING);
  if (!real_target)
    {
      error (0, errno, "cannot resolve %s", quoteaf (target));
      return NULL;
    }
  char *real_dir = canonicalize_filename_mode (dir, CAN_EXISTING);
  if (!real_dir)
    {
      error (0, errno, "cannot resolve %s", quoteaf (dir));
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
  /* Shorten a long LINK name so the backup name still fits.  */
  int base_len = (int) strlen (r->parent.base);
  int room = NAME_MAX - (int) (sizeof suffix - 1) - RANDOM_CHARS;
  if (base_len > room)
    base_len = room;
  char *name = xasprintf ("%.*s%s%*s", base_len, r->parent.base, suffix,
                          RANDOM_CHARS, "");
  memset (name + strlen (name) - RANDOM_CHARS, 'X', RANDOM_CHARS);

  struct backup_try t = { r->parent.fd, r->temp.name };
  if (try_tempname (name, 0, &t, try_backup_name) != 0)
    {
      error (0, errno, "%s now points to %s, but its old directory could "
             "not be given a backup name; it is kept as %s",
             quoteaf_n (0, r->link), quoteaf_n (1, r->target),
             quoteaf_n (2, r->temp.name));
      free (name);
      return EXIT_SYSERR;
    }
  r->old.kind = LINK_DIRECTORY;
  r->old.target = name;
  return EXIT_DONE;
}

/* After R's new symlink and LINK were exchanged, put back what came
   back, and forget the temporary name if that fails (it then holds
   someone's file).  */
static void
exchange_back (struct repoint *r)
{
  if (renameat2 (r->parent.fd, r->temp.name, r->parent.fd, r->parent.base,
                 RENAME_EXCHANGE) != 0)
    {
      error (0, errno, "cannot restore %s; what it held is now %s",
             quoteaf_n (0, r->link), quoteaf_n (1, r->temp.name));
      temp_forget (&r->temp);
    }
}

/* Exchange R's new symlink with LINK, which was just seen to exist, and
   deal with what came back under the temporary name.  EXPECT is as for
   publish.  Return the status, or -1 to look at LINK again (it went
   away), or -2 if the filesystem lacks RENAME_EXCHANGE and the rename
   should be used instead.  */
static int
exchange_with_link (struct repoint *r, struct options const *opt,
                    char const *expect)
{
  int status = EXIT_DONE;
  /* Between the exchange and the removal of the old link, the temporary
     name holds what LINK held: a signal must not remove it unless it is
     the old symlink.  So the cleanup signals wait until it is sorted.  */
  block_cleanup_signals ();
  if (renameat2 (r->parent.fd, r->temp.name, r->parent.fd, r->parent.base,
                 RENAME_EXCHANGE) != 0)
    {
      int err = errno;
      unblock_cleanup_signals ();
      if (err == ENOENT)
        return -1;
      if (fs_flag_unsupported (err) && !r->exchange_required)
        return -2;
      char *why = fs_rename_failure (r->parent.fd, r->temp.name,
                                     r->parent.fd, r->parent.base,
                                     FS_EXCHANGE, err);
      if (why)
        error (0, 0, "cannot replace %s: %s", quoteaf (r->link), why);
      else
        error (0, err, "cannot replace %s", quoteaf (r->link));
      free (why);
      return EXIT_SYSERR;
    }

  struct link_state came_back;
  if (!read_link_state (r->parent.fd, r->temp.name, &came_back))
    {
      /* We cannot tell what LINK held: keep it, at the temporary name.  */
      error (0, errno, "%s now points to %s; cannot examine what it held "
             "before, kept as %s", quoteaf_n (0, r->link),
             quoteaf_n (1, r->target), quoteaf_n (2, r->temp.name));
      temp_forget (&r->temp);
      unblock_cleanup_signals ();
      return EXIT_SYSERR;
    }

  if (came_back.kind == LINK_SYMLINK
      && !(expect && !matches_expected (&came_back, expect)))
    {
      /* The common case: the old link; remove it.  */
      unlinkat (r->parent.fd, r->temp.name, 0);
      temp_forget (&r->temp);
      r->old = came_back;
    }
  else if (came_back.kind == LINK_DIRECTORY && opt->exchange_dir && !expect)
    {
      temp_forget (&r->temp);
      status = keep_old_directory (r);
      link_state_free (&came_back);
    }
  else
    {
      /* Not what we looked at: someone changed LINK between our look and
         the exchange.  Put it back; nothing is replaced.  */
      exchange_back (r);
      if (expect)
        status = report_mismatch (r->link, &came_back, expect, opt);
      else
        status = refuse_non_symlink (r->link, came_back.kind);
      link_state_free (&came_back);
    }
  unblock_cleanup_signals ();
  return status;
}

/* Make R's new symlink LINK.  If EXPECT is not NULL, only if LINK is in
   the state it names (see matches_expected).  */
static int
publish (struct repoint *r, struct options const *opt, char const *expect)
{
  for (int attempt = 0; attempt < PUBLISH_ATTEMPTS; attempt++)
    {
      struct link_state now;
      if (!read_link_state (r->parent.fd, r->parent.base, &now))
        {
          error (0, errno, "cannot examine %s", quoteaf (r->link));
          return EXIT_SYSERR;
        }
      if (expect && !matches_expected (&now, expect))
        {
          int status = report_mismatch (r->link, &now, expect, opt);
          link_state_free (&now);
          return status;
        }
      if (now.kind == LINK_OTHER
          || (now.kind == LINK_DIRECTORY && !opt->exchange_dir))
        return refuse_non_symlink (r->link, now.kind);

      if (r->use_exchange && now.kind != LINK_ABSENT)
        {
          link_state_free (&now);
          int status = exchange_with_link (r, opt, expect);
          if (status == -2)
            r->use_exchange = false;
          if (status < 0)
            continue;
          return status;
        }

      /* LINK is absent, or this filesystem has only rename(2).  */
      unsigned int flags = (r->use_exchange ? RENAME_NOREPLACE : 0);
      if (renameat2 (r->parent.fd, r->temp.name, r->parent.fd,
                     r->parent.base, flags) == 0)
        {
          temp_forget (&r->temp);
          r->old = now;
          return EXIT_DONE;
        }
      int err = errno;
      link_state_free (&now);
      if (flags && (err == EEXIST
                    || creation_error_means_exists (r->parent.fd,
                                                    r->parent.base, err)))
        continue;   /* LINK appeared meanwhile: look again.  */
      if (flags && fs_flag_unsupported (err) && !r->exchange_required)
        {
          r->use_exchange = false;
          continue;
        }
      if (flags && fs_flag_unsupported (err))
        error (0, 0, "cannot create %s: its filesystem does not support "
               "RENAME_NOREPLACE", quoteaf (r->link));
      else if (err == EISDIR || err == ENOTEMPTY || err == EEXIST)
        return refuse_non_symlink (r->link, LINK_DIRECTORY);
      else
        error (0, err, "cannot replace %s", quoteaf (r->link));
      return EXIT_SYSERR;
    }
  error (0, 0, "cannot replace %s: it keeps changing", quoteaf (r->link));
  return EXIT_SYSERR;
}

/* The name of the --expect lock for R's LINK: hidden, in LINK's
   directory, named after LINK.  */
static char *
expect_lock_path (struct repoint const *r)
{
  static char const prefix[] = ".atomic-swap.";
  static char const suffix[] = ".lock";
  /* The lock keeps its last owner record in LOCK.last.  */
  static char const last_suffix[] = ".last";
  int base_len = (int) strlen (r->parent.base);
  int room = (NAME_MAX - (int) (sizeof prefix - 1) - (int) (sizeof suffix - 1)
              - (int) (sizeof last_suffix - 1));
  if (base_len > room)
    base_len = room;   /* Long names share a lock: harmless.  */
  return xasprintf ("%s/%s%.*s%s", r->parent.dir, prefix, base_len,
                    r->parent.base, suffix);
}

/* Publish R's new symlink if LINK is in the state --expect names.  Calls
   on the same LINK take turns through a lock, so that of several racing
   with the same OLD exactly one sees OLD.  */
static int
publish_expected (struct repoint *r, struct options const *opt)
{
  char *lock_path = expect_lock_path (r);
  struct dirlock lock;
  struct timespec wait = { EXPECT_LOCK_WAIT_SECONDS, 0 };
  int status;
  switch (dirlock_acquire (&lock, lock_path, deadline_after (wait)))
    {
    case 0:
      status = publish (r, opt, opt->expect);
      /* The change is made or refused; a lock that cannot be released
         (someone broke it meanwhile) does not undo that.  */
      if (dirlock_release (&lock) != 0 && !opt->quiet)
        error (0, errno, "warning: cannot release the lock %s",
               quoteaf (lock_path));
      break;
    case 1:
      error (0, 0, "cannot change %s: the lock %s is still held after %d "
             "seconds", quoteaf_n (0, r->link), quoteaf_n (1, lock_path),
             EXPECT_LOCK_WAIT_SECONDS);
      status = EXIT_SYSERR;
      break;
    default:
      error (0, errno, "cannot lock %s", quoteaf (lock_path));
      status = EXIT_SYSERR;
      break;
    }
  free (lock_path);
  return status;
}

/* Decide how R is published on its filesystem, and whether the
   filesystem is trusted for it.  */
static bool
choose_primitive (struct repoint *r, struct options const *opt)
{
  r->exchange_required = opt->print_old || opt->exchange_dir;
  if (fs_dir_surely_local (r->parent.fd))
    {
      /* Every primitive is safe here (see fs_dir_surely_local).  */
      r->use_exchange = true;
      return true;
    }
  struct fs_info info;
  if (!fs_identify (r->parent.fd, r->parent.base, &info))
    {
      /* The operation itself will report the problem.  */
      r->use_exchange = r->exchange_required;
      return true;
    }
  bool permitted;
  if (r->exchange_required)
    {
      r->use_exchange = true;
      permitted = fs_permits_info (r->link, &info, r->parent.fd, FS_EXCHANGE,
                                   opt->force, opt->quiet);
    }
  else
    {
      /* rename(2) is the promise; RENAME_EXCHANGE, where the filesystem
         surely has it, only lets us see what was replaced.  */
      char const *consequence;
      r->use_exchange = (fs_judge (&info, FS_EXCHANGE, -1, &consequence)
                         == FS_SAFE);
      permitted = fs_permits_info (r->link, &info, r->parent.fd, FS_RENAME,
                                   opt->force, opt->quiet);
    }
  /* --expect excludes the other callers with a lock made by renaming a
     directory into place, which fails while the lock exists: the
     guarantee of mkdir.  */
  if (permitted && opt->expect)
    permitted = fs_permits_info (r->link, &info, r->parent.fd, FS_MKDIR,
                                 opt->force, opt->quiet);
  fs_info_free (&info);
  return permitted;
}

/* Report a repointing done: --print-old, --verbose, --exchange-dir.  */
static void
report_repoint (struct repoint const *r, struct options const *opt)
{
  struct link_state const *old = &r->old;
  /* Where the old directory went must not go unsaid (-v says it too).  */
  if (old->kind == LINK_DIRECTORY && !opt->quiet && !opt->verbose)
    {
      char *backup = (strcmp (r->parent.dir, ".") == 0
                      ? xstrdup (old->target)
                      : xasprintf ("%s/%s", r->parent.dir, old->target));
      error (0, 0, "the directory that was %s is kept as %s",
             quoteaf_n (0, r->link), quoteaf_n (1, backup));
      free (backup);
    }
  if (opt->print_old)
    printf ("%s\n", old->kind == LINK_ABSENT ? "" : old->target);
  if (opt->verbose)
    {
      printf ("%s -> %s", quoteaf_n (0, r->link), quoteaf_n (1, r->target));
      switch (old->kind)
        {
        case LINK_ABSENT:
          fputs (" (new)\n", stdout);
          break;
        case LINK_SYMLINK:
          printf (" (was %s)\n", quoteaf_n (2, old->target));
          break;
        default:
          printf (" (was a directory, kept as %s)\n",
                  quoteaf_n (2, old->target));
          break;
        }
    }
}

/* The 2nd form: make LINK a symbolic link to TARGET.  */
static int
repoint_symlink (char const *target, char const *link,
                 struct options const *opt)
{
  struct repoint r = { .link = link, .old = { LINK_ABSENT, NULL } };
  if (!open_parent (link, &r.parent))
    {
      error (0, errno, "cannot create symbolic link %s", quoteaf (link));
      return EXIT_SYSERR;
    }

  int status = EXIT_SYSERR;
  char *stored = NULL;
  if (!choose_primitive (&r, opt))
    goto out;
  stored = (opt->relative ? relative_target (target, r.parent.dir)
            : xstrdup (target));
  if (!stored)
    goto out;
  r.target = stored;

  if (opt->check_target)
    {
      int fd = openat (r.parent.fd, stored, O_PATH | O_CLOEXEC);
      if (fd < 0)
        {
          error (0, errno, "refusing to point %s to %s, as seen from %s",
                 quoteaf_n (0, link), quoteaf_n (1, stored),
                 quoteaf_n (2, r.parent.dir));
          goto out;
        }
      close (fd);
    }

  if (opt->expect)
    {
      /* Most losers of a race can tell without the lock: LINK already
         differs from OLD.  That is a valid answer at this moment.  */
      struct link_state now;
      if (!read_link_state (r.parent.fd, r.parent.base, &now))
        {
          error (0, errno, "cannot examine %s", quoteaf (link));
          goto out;
        }
      bool matches = matches_expected (&now, opt->expect);
      if (!matches)
        status = report_mismatch (link, &now, opt->expect, opt);
      link_state_free (&now);
      if (!matches)
        goto out;
    }

  if (temp_create (&r.temp, r.parent.fd, TEMP_SYMLINK, 0, stored) != 0)
    {
      error (0, errno, "cannot create symbolic link %s", quoteaf (link));
      goto out;
    }
  status = (opt->expect ? publish_expected (&r, opt) : publish (&r, opt, NULL));
  temp_remove (&r.temp);

  if (status == EXIT_DONE)
    {
      if (opt->sync && fsync_directory (r.parent.fd) != 0)
        {
          error (0, errno, "cannot sync the directory of %s", quoteaf (link));
          status = EXIT_SYSERR;
        }
      report_repoint (&r, opt);
    }

 out:
  link_state_free (&r.old);
  free (stored);
  close_parent (&r.parent);
  return status;
}

int
main (int argc, char **argv)
{
  struct options opt = { .form = FORM_EXCHANGE };
  bool symlink_form = false, no_clobber_form = false, check_fs = false;

  tool_init (argc, argv);

  int c;
  while ((c = getopt_long (argc, argv, "snprSvq", long_options, NULL)) != -1)
    {
      switch (c)
        {
        case 's':
          symlink_form = true;
          break;
        case 'n':
          no_clobber_form = true;
          break;
        case EXPECT_OPTION:
          opt.expect = optarg;
          break;
        case 'p':
          opt.print_old = true;
          break;
        case 'r':
          opt.relative = true;
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
  if (check_fs)
    {
      if (n_operands == 0)
        usage_error ("missing operand");
      return fs_explain_operands (n_operands, argv + optind);
    }

  if (symlink_form && no_clobber_form)
    usage_error ("--symlink and --no-clobber cannot be combined");
  if (!symlink_form)
    {
      char const *needs_symlink = (opt.expect ? "--expect"
                                   : opt.print_old ? "--print-old"
                                   : opt.relative ? "--relative"
                                   : opt.exchange_dir ? "--exchange-dir"
                                   : opt.check_target ? "--check-target"
                                   : NULL);
      if (needs_symlink)
        usage_error ("%s works only with --symlink", needs_symlink);
    }
  if (opt.expect && opt.exchange_dir)
    usage_error ("--expect and --exchange-dir cannot be combined: a "
                 "directory never matches --expect");
  opt.form = (symlink_form ? FORM_SYMLINK
              : no_clobber_form ? FORM_NO_CLOBBER : FORM_EXCHANGE);

  if (n_operands == 0)
    usage_error ("missing operand");
  if (n_operands == 1)
    usage_error ("missing %s operand after %s",
                 opt.form == FORM_SYMLINK ? "LINK"
                 : opt.form == FORM_NO_CLOBBER ? "DST" : "PATH2",
                 quote (argv[optind]));
  if (n_operands > 2)
    usage_error ("extra operand %s", quote (argv[optind + 2]));
  char const *first = argv[optind], *second = argv[optind + 1];
  /* A symlink's TARGET is any text; the names to change are checked.  */
  if (opt.form != FORM_SYMLINK)
    check_operand (first);
  check_operand (second);

  switch (opt.form)
    {
    case FORM_SYMLINK:
      if (*first == '\0')
        usage_error ("TARGET must not be empty");
      return repoint_symlink (first, second, &opt);
    case FORM_NO_CLOBBER:
      return rename_no_clobber (first, second, &opt);
    case FORM_EXCHANGE:
    default:
      return exchange_paths (first, second, &opt);
    }
}

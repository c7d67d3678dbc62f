/* excl-create -- create a file only if no file of that name exists.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

/* Without content the file is made by one open(O_CREAT|O_EXCL).  With
   content it is written into an unnamed file (O_TMPFILE) in the same
   directory and then link(2)ed to its final name, so nobody ever sees
   it empty or partial, and nothing is left if we are killed.  Where the
   system has no unnamed files, or cannot link one, the content is
   written under a temporary name instead, which is linked; where the
   filesystem has no hard links, renameat2(RENAME_NOREPLACE) is the
   other single call that can do it.  Nothing is ever written in
   place.  */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "dirlock.h"
#include "fsclass.h"
#include "procfacts.h"

#include "c-ctype.h"
#include "error.h"
#include "full-write.h"
#include "intprops.h"
#include "safe-read.h"
#include "same-inode.h"
#include "xalloc.h"
#include "timespec.h"
#include "xvasprintf.h"

#define PROGRAM_NAME "excl-create"

/* Where the new file's content comes from.  */
enum content_kind { CONTENT_NONE, CONTENT_TEXT, CONTENT_STDIN, CONTENT_PID };

struct content
{
  enum content_kind kind;
  char *text;             /* CONTENT_TEXT, CONTENT_PID */
  size_t text_len;
  /* CONTENT_STDIN: standard input can be read once.  With several
     FILEs, the first copy is also kept in a file of our own, unlinked
     (not the first FILE, which anyone may change once it is
     published), and later FILEs copy from there.  */
  int saved_fd;
  int files_left;         /* FILEs after the one being created */
  /* Once a copy from standard input failed midway: why, naming the
     FILE it was for and the error (that FILE may have been answered
     by existing, with no word of the error); else NULL.  */
  char *spent;
};

/* Why the content for the FILE being created is not ready, where an
   existing FILE was the answer (WHY is NULL if it is ready), with the
   error number: a stale FILE is then kept, not removed for nothing.  */
struct unready
{
  char const *why;
  int errnum;
  bool no_temp;       /* no temporary could be made for the content */
};

/* Whether UNREADY says no temporary could be made because FILE's
   directory may not be written (EACCES, EPERM): a stale FILE is then
   not ours to replace, as one we may not rename away is not.  The
   same errors from writing the content say nothing of the
   directory.  */
static bool
dir_denied (struct unready const *unready)
{
  return (unready->no_temp
          && (unready->errnum == EACCES || unready->errnum == EPERM));
}

struct options
{
  bool explicit_mode;
  mode_t mode;
  struct content content;
  bool wait;
  struct timespec deadline;
  bool sync;
  bool verbose;
  bool quiet;
  bool force;
  bool replace_stale;
};

/* -v: the error of the first line that could not be written, or 0.  */
static int verbose_errno;

/* -v: write the line just printed now, not at exit: a signal that ends
   us later (while -w waits for the next FILE, say) must not take with
   it the lines of the FILEs already created.  A write error is kept
   for the warning at the end.  */
static void
flush_verbose (void)
{
  if (fflush (stdout) != 0 && verbose_errno == 0)
    verbose_errno = errno;
}

enum
{
  STDIN_OPTION = CHAR_MAX + 1,
  PID_OPTION,
  PID_OF_OPTION,
  REPLACE_STALE_OPTION,
  FORCE_OPTION,
  CHECK_FS_OPTION
};

static struct option const long_options[] =
{
  {"mode", required_argument, NULL, 'm'},
  {"content", required_argument, NULL, 'c'},
  {"stdin", no_argument, NULL, STDIN_OPTION},
  {"pid", no_argument, NULL, PID_OPTION},
  {"pid-of", required_argument, NULL, PID_OF_OPTION},
  {"replace-stale", no_argument, NULL, REPLACE_STALE_OPTION},
  {"wait", required_argument, NULL, 'w'},
  {"timeout", required_argument, NULL, 'w'},
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

  printf ("Usage: %s [OPTION]... FILE...\n", program_name);
  fputs ("\
Create each FILE only if no file of that name exists, as one atomic step:\n\
of any number of callers racing to create FILE, exactly one succeeds.\n\
FILE is never followed or replaced if it is a symbolic link, even a\n\
dangling one.  With content, FILE appears with all of its content at\n\
once: it is never seen empty or partial.\n\
\n\
Mandatory arguments to long options are mandatory for short options too.\n\
  -m, --mode=MODE       set file mode: MODE as in chmod, applied to a=rw\n\
                          (-m go-w gives 0644, -m a+x 0777), the umask\n\
                          not subtracted; without -m, a=rw - umask\n\
  -c, --content=TEXT    write TEXT and a newline into FILE\n\
      --stdin           write standard input into FILE\n\
      --pid             write the caller's process ID (excl-create's\n\
                          parent) and a newline into FILE\n\
      --pid-of=PID      write PID, which must be a running process, and a\n\
                          newline into FILE\n\
      --replace-stale   with --pid or --pid-of: if FILE is a pid file whose\n\
                          process is dead, replace it (see below)\n\
  -w, --wait=DURATION   if FILE exists, wait up to DURATION for it to be\n\
                          removed, then create it ('inf': wait forever);\n\
                          with several FILEs, DURATION is for them all\n\
      --timeout=DURATION  the same as --wait\n\
  -S, --sync            make the new file durable (fsync the file and its\n\
                          directory) before exiting\n\
  -v, --verbose         print a line for each file created, and before it\n\
                          one for a stale file removed (--replace-stale)\n\
  -q, --quiet           print no message when FILE exists or the wait\n\
                          times out, and no filesystem warning\n\
      --force           create FILE even on a filesystem that cannot keep\n\
                          the promise (after a warning)\n\
      --check-fs        print what FILE's filesystem guarantees, and exit\n\
", stdout);
  fputs (HELP_OPTION_DESCRIPTION, stdout);
  fputs (VERSION_OPTION_DESCRIPTION, stdout);
  fputs ("\n" DURATION_HELP, stdout);
  fputs ("\
\n\
FILE names a file: a name ending in '/' is refused, with status 1 if\n\
something exists there and 3 if not; one whose last component is '.'\n\
or '..' ('./', 'd/..') or that is '/' names nothing to create: a usage\n\
error, status 2, as in the suite's other tools.\n\
\n\
With -w, FILE is the name given, wherever it leads: if FILE's directory\n\
is replaced while excl-create waits (renamed away, another made in its\n\
place), the wait goes on in the new one, noticed within a second, and\n\
FILE is created there.  If it cannot go on there (there is none, it\n\
cannot be reached, or, with content, it is on another filesystem), the\n\
status is 3.\n\
\n\
Without content, FILE is made with one open(2) call using O_CREAT|O_EXCL.\n\
With content, excl-create writes a file without a name (O_TMPFILE) in\n\
FILE's directory and then link(2)s it to FILE: nothing is left behind,\n\
even by SIGKILL or a crash.  Where the system cannot do that, it writes\n\
a temporary file there and then links it to FILE, or, where the\n\
filesystem has no hard links, renames it with renameat2(RENAME_NOREPLACE).\n\
If neither is possible it fails: it never writes into FILE in place.\n\
Such a temporary file is removed even when excl-create is interrupted by\n\
a signal it can catch (SIGKILL or a crash leaves it: see BUGS in the\n\
manual).\n\
\n\
On object-store FUSE filesystems (s3fs and the like) and on NFS version 2,\n\
where two callers can both create FILE, excl-create refuses (status 3)\n\
unless --force is given; so it does where it needs RENAME_NOREPLACE\n\
(--replace-stale, or content where there are no hard links) and the\n\
filesystem cannot keep it: NFS, SMB, GlusterFS, most FUSE filesystems.\n\
\n\
With --replace-stale the pid file holds the process ID alone on its first\n\
line (read it with 'read pid <FILE' or 'head -n 1 FILE'), then lines\n\
start_time=, boot_id=, pidns= and host= that tell that process from a later\n\
one given the same ID.  An existing FILE is replaced only if it is a\n\
regular file whose first line is a process ID and that process is provably\n\
gone: it ran on this host, in this boot and pid namespace, and no process\n\
with that ID and start time is running now.  A pid file with nothing but\n\
an ID (written by another program) is judged by the ID alone.  Of many\n\
callers that find FILE stale, exactly one replaces it: the stale file is\n\
renamed away with renameat2(RENAME_NOREPLACE), which its filesystem must\n\
keep, while holding the lock .excl-create.FILE.lock (a directory,\n\
removed again at once; if a crash leaves it, its lease of 10 seconds frees\n\
it) and FILE is then created as usual.\n\
", stdout);
  emit_exit_status_help ("\
  1  some FILE already existed (or --wait timed out); the others were\n\
     created\n", true);
  fputs ("\
With several FILEs each is tried, and the worst status is returned.\n\
\n\
Examples:\n\
  excl-create --pid /run/job.pid || exit   # claim a pid file, or stop\n\
  excl-create -c done stamp                # one-time marker with content\n\
  excl-create -w 10s --pid lockfile        # wait up to 10 s for it to go\n\
  excl-create -w inf -c ready flag         # wait as long as it takes\n\
  excl-create --pid --replace-stale /run/job.pid || exit  # even after a crash\n\
", stdout);
  emit_help_footer ();
  exit (status);
}

/* Take the content option OPTION: KIND, with TEXT of LEN bytes.
   *GIVEN is the content option taken before (NULL if none): a second
   one, or the same one again, is a usage error that names the options
   given, and no other.  */
static void
set_content (struct content *content, char const **given,
             char const *option, enum content_kind kind, char *text,
             size_t len)
{
  if (*given && strcmp (*given, option) == 0)
    usage_error ("%s given twice", option);
  if (*given)
    usage_error ("%s and %s cannot be combined", *given, option);
  *given = option;
  content->kind = kind;
  content->text = text;
  content->text_len = len;
}

/* Copy from SRC to DST until end of file.  If OFFSET is not NULL read
   SRC with pread from *OFFSET, leaving its file position alone.  Return
   0, or the errno of a failed read (negated) or write (positive).  */
static int
copy_content (int src, off_t *offset, int dst)
{
  char buf[64 * 1024];
  for (;;)
    {
      ssize_t n = (offset
                   ? pread (src, buf, sizeof buf, *offset)
                   : (ssize_t) safe_read (src, buf, sizeof buf));
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return -errno;
        }
      if (n == 0)
        return 0;
      if (offset)
        *offset += n;
      if (full_write (dst, buf, n) != (size_t) n)
        return errno;
    }
}

/* COPY (a new, empty file, or -1 with errno) filled with the content of
   the temporary file FD.  Return COPY, or -1 with errno (COPY is then
   closed).  */
static int
filled_copy (int copy, int fd)
{
  if (copy < 0)
    return -1;
  off_t offset = 0;
  int err = copy_content (fd, &offset, copy);
  if (err == 0)
    return copy;
  close (copy);
  errno = err < 0 ? -err : err;
  return -1;
}

/* Standard input up to this size is copied into memory for the FILEs
   after the first; a larger one onto FILE's filesystem, where running
   out of room fails with ENOSPC, not with a kill by the memory limit
   (which would leave FILE's temporary behind).  */
enum { STDIN_COPY_IN_MEMORY_MAX = 64 * 1024 * 1024 };

/* A copy of the temporary file FD in memory (a memfd), or -1.  */
static int
memory_copy (int fd)
{
  return filled_copy (memfd_create ("excl-create-stdin", MFD_CLOEXEC), fd);
}

/* A copy of the temporary file FD as an unnamed O_TMPFILE in the
   directory DIRFD, or -1.  */
static int
disk_copy (int fd, int dirfd)
{
  return filled_copy (openat (dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC,
                              S_IRUSR | S_IWUSR),
                      fd);
}

/* A private copy of the temporary file FD, for the FILEs after it.  In
   memory it takes no room those FILEs need, where a small filesystem
   would have none left for them; so it is kept in memory, unless FD is
   large.  Each place is the other's fallback.  Return its descriptor,
   or -1 with errno.  */
static int
private_copy (int fd, int dirfd)
{
  struct stat st;
  bool large = fstat (fd, &st) == 0 && STDIN_COPY_IN_MEMORY_MAX < st.st_size;
  int copy = large ? -1 : memory_copy (fd);
  if (copy < 0)
    copy = disk_copy (fd, dirfd);
  if (copy < 0 && large)
    copy = memory_copy (fd);
  return copy;
}

/* Standard input, read for FILE, cannot be read again for the FILEs
   after it: keep in CONTENT why, for their messages, naming FILE and
   the error ERRNUM of HOW it failed ("its copy for").  */
static void
spend_stdin (struct content *content, char const *how, char const *file,
             int errnum)
{
  content->spent = xasprintf ("standard input is spent (%s %s failed: %s)",
                              how, quoteaf (file), strerror (errnum));
}

/* Whether FILE, the last component of PARENT, exists now.  */
static bool
file_exists (struct parent_dir const *parent)
{
  struct stat st;
  return fstatat (parent->fd, parent->base, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Fill the temporary file FD, in FILE's directory PARENT, with the
   content.  Return true on success; otherwise return false, set
   *UNREADY to why, and report the failure against FILE -- unless
   EXISTS is not NULL and FILE exists: then set *EXISTS, as that is the
   answer O_EXCL would have given first.  */
static bool
write_content (int fd, struct parent_dir const *parent,
               struct content *content, char const *file, bool *exists,
               struct unready *unready)
{
  int dirfd = parent->fd;
  int err = 0;
  if (exists)
    *exists = false;
  switch (content->kind)
    {
    case CONTENT_NONE:
      break;
    case CONTENT_TEXT:
    case CONTENT_PID:
      if (full_write (fd, content->text, content->text_len)
          != content->text_len)
        err = errno;
      break;
    case CONTENT_STDIN:
      if (content->spent)
        {
          unready->why = content->spent;
          unready->errnum = 0;
          if (exists && (*exists = file_exists (parent)))
            return false;
          error (0, 0, "cannot write content for %s: %s", quoteaf (file),
                 content->spent);
          return false;
        }
      if (content->saved_fd < 0)
        {
          err = copy_content (STDIN_FILENO, NULL, fd);
          if (err == 0 && content->files_left > 0)
            {
              content->saved_fd = private_copy (fd, dirfd);
              if (content->saved_fd < 0)
                {
                  int keep_errno = errno;
                  error (0, keep_errno, "cannot keep standard input for "
                         "the FILEs after %s", quoteaf (file));
                  spend_stdin (content, "keeping it after", file, keep_errno);
                }
            }
          else if (err > 0)
            spend_stdin (content, "its copy for", file, err);
          else if (err < 0)
            spend_stdin (content, "reading it for", file, -err);
        }
      else
        {
          off_t offset = 0;
          err = copy_content (content->saved_fd, &offset, fd);
        }
      if (err < 0)
        {
          unready->why = "cannot read standard input";
          unready->errnum = -err;
          if (exists && (*exists = file_exists (parent)))
            return false;
          error (0, -err, "cannot write content for %s: "
                 "cannot read standard input", quoteaf (file));
          return false;
        }
      break;
    }
  if (err)
    {
      unready->why = "cannot write content for it";
      unready->errnum = err;
      if (exists && (*exists = file_exists (parent)))
        return false;
      error (0, err, "cannot write content for %s", quoteaf (file));
      return false;
    }
  return true;
}

/* What the handling of an existing FILE returns besides a status: try
   creating FILE again; or FILE's directory path leads to another
   directory now (parent_moved), where to go on (follow_replaced_dir).  */
enum { TRY_AGAIN = -1, DIR_REPLACED = -2 };

/* FILE exists: say so, unless quiet.  */
static int
report_exists (char const *file, struct options const *opt, bool timed_out)
{
  if (!opt->quiet)
    {
      if (timed_out)
        error (0, 0, "timed out waiting for %s to be removed", quoteaf (file));
      else
        error (0, EEXIST, "cannot create %s", quoteaf (file));
    }
  return EXIT_NO;
}

/* --replace-stale: pid files whose process is gone.

   Such a pid file has the pid alone on its first line, as other
   programs read pid files, then "key=value" lines, with the keys of
   lockdir's owner records, for the facts that tell this process from a
   later one given the same pid.  */

/* What a pid file says about its process.  Absent facts are 0 or "".  */
struct pid_record
{
  pid_t pid;
  unsigned long long start_time;      /* field 22 of /proc/PID/stat */
  char boot_id[40];
  unsigned long long pidns;
  char host[PROCFACTS_HOST_MAX + 1];
};

/* The pid file content naming PID: the pid line, and with
   --replace-stale the facts that identify the process.  */
static char *
pid_content (pid_t pid, bool with_facts)
{
  if (!with_facts)
    return xasprintf ("%ld\n", (long) pid);
  unsigned long long start_time;
  if (process_start_time (pid, &start_time) != 0)
    start_time = 0;             /* hidden by hidepid: the pid alone */
  char start_line[64] = "";
  char pidns_line[64] = "";
  if (start_time)
    snprintf (start_line, sizeof start_line, "start_time=%llu\n", start_time);
  if (this_pidns ())
    snprintf (pidns_line, sizeof pidns_line, "pidns=%llu\n", this_pidns ());
  char const *boot_id = this_boot_id ();
  return xasprintf ("%ld\n%s%s%s%s%shost=%s\n", (long) pid, start_line,
                    *boot_id ? "boot_id=" : "", boot_id, *boot_id ? "\n" : "",
                    pidns_line, this_host ());
}

/* Parse the unsigned decimal number STR, all of it, into *VALUE.  */
static bool
parse_ull (char const *str, unsigned long long *value)
{
  if (!c_isdigit (*str))
    return false;
  char *end;
  errno = 0;
  *value = strtoull (str, &end, 10);
  return errno == 0 && *end == '\0';
}

/* Parse the pid file text BUF (modified) into *REC.  Return false if it
   is not a pid file: its first line is not a process ID, or a fact we
   rely on is malformed.  Lines with other keys are ignored.  */
static bool
parse_pid_record (char *buf, struct pid_record *rec)
{
  memset (rec, 0, sizeof *rec);
  char *next;
  char *line = strtok_r (buf, "\n", &next);
  if (!line || line != buf)
    return false;
  /* Blanks around the pid are tolerated, as other readers do; nothing
     else: "123 tickets sold" is somebody's text, not a pid file.  */
  line += strspn (line, " \t");
  char *end = line + strcspn (line, " \t\r");
  if (end[strspn (end, " \t\r")] != '\0')
    return false;
  *end = '\0';
  unsigned long long pid;
  if (!parse_ull (line, &pid) || pid == 0 || pid > INT32_MAX)
    return false;
  rec->pid = pid;
  while ((line = strtok_r (NULL, "\n", &next)))
    {
      char *value = strchr (line, '=');
      if (!value)
        continue;
      *value++ = '\0';
      if (strcmp (line, "start_time") == 0)
        {
          if (!parse_ull (value, &rec->start_time))
            return false;
        }
      else if (strcmp (line, "pidns") == 0)
        {
          if (!parse_ull (value, &rec->pidns))
            return false;
        }
      else if (strcmp (line, "boot_id") == 0)
        {
          if (strlen (value) >= sizeof rec->boot_id)
            return false;
          strcpy (rec->boot_id, value);
        }
      else if (strcmp (line, "host") == 0)
        {
          if (strlen (value) >= sizeof rec->host)
            return false;
          strcpy (rec->host, value);
        }
    }
  return true;
}

/* What a look at an existing FILE found.  */
enum verdict
{
  VERDICT_GONE,         /* FILE is no longer there */
  VERDICT_NOT_PID_FILE, /* not a regular file holding a pid: kept */
  VERDICT_ALIVE,        /* its process runs */
  VERDICT_UNKNOWN,      /* cannot tell: kept */
  VERDICT_NOT_OURS,     /* gone, but we may not replace it: kept */
  VERDICT_DEAD          /* its process is provably gone */
};

struct judgement
{
  enum verdict verdict;
  pid_t pid;            /* the pid found, for ALIVE, UNKNOWN, DEAD */
  /* NOT_OURS: the file judged, and a descriptor of it (else -1) kept
     while we wait, so that its inode number is not given to a new
     FILE, which would then look like the one judged.  */
  struct stat judged;
  int judged_fd;
  /* Room for a host name, or for the takeover lock's path.  */
  char why[PROCFACTS_HOST_MAX + PATH_MAX];
};

/* Judge the pid record REC.  A record with the facts we write is
   judged by lockdir's rule for owner records (dirlock_stale_reason):
   stale only if it comes from this host, boot and pid namespace and no
   process with that pid and start time runs.  A record from another
   boot is kept: a host name is not unique enough to tell this
   machine's earlier boot from another machine sharing the directory.
   A plain pid file, with nothing but the pid, is judged by the pid.  */
static void
judge_record (struct pid_record const *rec, struct judgement *j)
{
  long pid = rec->pid;
  j->pid = rec->pid;
  bool has_facts = (rec->start_time || *rec->boot_id || rec->pidns
                    || *rec->host);
  enum process_state state;
  if (has_facts)
    {
      struct dirlock_owner owner;
      memset (&owner, 0, sizeof owner);
      owner.pid = rec->pid;
      owner.start_time = rec->start_time;
      strcpy (owner.boot_id, rec->boot_id);
      owner.pidns = rec->pidns;
      strcpy (owner.host, rec->host);
      owner.uid = -1;
      if (dirlock_stale_reason (&owner, NULL))
        state = PROCESS_DEAD;
      else if (strcmp (rec->host, this_host ()) != 0)
        {
          j->verdict = VERDICT_UNKNOWN;
          snprintf (j->why, sizeof j->why, "process %ld runs on host %s",
                    pid, *rec->host ? rec->host : "(unknown)");
          return;
        }
      else if (strcmp (rec->boot_id, this_boot_id ()) != 0)
        {
          /* Kept, as a record of another boot: but say so only where
             both boots are known (not under a /proc mounted with
             subset=pid, where /proc/sys is absent).  */
          j->verdict = VERDICT_UNKNOWN;
          if (!*this_boot_id ())
            snprintf (j->why, sizeof j->why,
                      "cannot tell whether process %ld ran in this boot: "
                      BOOT_ID_FILE " cannot be read (%s)", pid,
                      strerror (this_boot_id_errno ()));
          else if (!*rec->boot_id)
            snprintf (j->why, sizeof j->why,
                      "cannot tell whether process %ld ran in this boot: "
                      "its pid file names no boot", pid);
          else
            snprintf (j->why, sizeof j->why,
                      "process %ld ran in another boot of this host, or "
                      "on another machine of that name", pid);
          return;
        }
      else if (rec->pidns != this_pidns ())
        {
          j->verdict = VERDICT_UNKNOWN;
          snprintf (j->why, sizeof j->why,
                    "process %ld is in another pid namespace", pid);
          return;
        }
      else
        {
          /* Not stale, same system: the process runs, or /proc cannot
             tell (hidepid), or it ended just now.  */
          state = process_state (rec->pid, rec->start_time);
          if (state == PROCESS_DEAD)
            state = PROCESS_UNKNOWN;
        }
    }
  else
    state = process_state (rec->pid, 0);

  switch (state)
    {
    case PROCESS_ALIVE:
      j->verdict = VERDICT_ALIVE;
      snprintf (j->why, sizeof j->why, "process %ld is running", pid);
      break;
    case PROCESS_DEAD:
      {
        /* Gone, a zombie, or its pid reused by a later process.  */
        unsigned long long now_started;
        bool reused = (rec->start_time
                       && process_start_time (rec->pid, &now_started) == 0
                       && now_started != rec->start_time);
        j->verdict = VERDICT_DEAD;
        snprintf (j->why, sizeof j->why,
                  (reused ? "pid %ld now names a later process"
                   : "process %ld is gone"), pid);
      }
      break;
    default:
      j->verdict = VERDICT_UNKNOWN;
      snprintf (j->why, sizeof j->why,
                "cannot tell whether process %ld is running", pid);
      break;
    }
}

/* Look at the existing FILE and judge it.  If FD is not NULL, leave the
   file open there (-1 if not opened), so the caller can tell whether a
   name still holds the very file judged.  Return 0, or EXIT_SYSERR
   after a message.  */
static int
judge_existing (struct parent_dir const *parent, char const *file,
                struct judgement *j, int *fd)
{
  if (fd)
    *fd = -1;
  j->pid = 0;
  j->why[0] = '\0';
  /* Only a regular file is opened: opening a device can do things.  */
  struct stat st;
  if (fstatat (parent->fd, parent->base, &st, AT_SYMLINK_NOFOLLOW) != 0)
    {
      if (errno == ENOENT)
        {
          j->verdict = VERDICT_GONE;
          return 0;
        }
      error (0, errno, "cannot look at %s", quoteaf (file));
      return EXIT_SYSERR;
    }
  j->verdict = VERDICT_NOT_PID_FILE;
  if (!S_ISREG (st.st_mode))
    return 0;
  int file_fd = openat (parent->fd, parent->base,
                        (O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY
                         | O_CLOEXEC));
  if (file_fd < 0)
    {
      if (errno == ENOENT)
        {
          j->verdict = VERDICT_GONE;
          return 0;
        }
      if (errno == ELOOP)       /* replaced by a symlink meanwhile */
        return 0;
      if (errno == EACCES)
        {
          /* Kept: what cannot be read cannot be proved stale.  */
          j->verdict = VERDICT_UNKNOWN;
          snprintf (j->why, sizeof j->why, "it cannot be read: %s",
                    strerror (errno));
          return 0;
        }
      error (0, errno, "cannot read %s", quoteaf (file));
      return EXIT_SYSERR;
    }
  char buf[4096];
  ssize_t n = pread (file_fd, buf, sizeof buf - 1, 0);
  struct stat opened;
  if (n < 0 || fstat (file_fd, &opened) != 0)
    {
      int err = errno;
      close (file_fd);
      /* A FUSE daemon that answers by path (bindfs) says ENOENT once
         FILE was removed behind it, after the open: it is gone.  */
      if (err == ENOENT)
        {
          j->verdict = VERDICT_GONE;
          return 0;
        }
      error (0, err, "cannot read %s", quoteaf (file));
      return EXIT_SYSERR;
    }
  buf[n] = '\0';
  struct pid_record rec;
  /* A pid file is text: a NUL means it is something else.  */
  if (S_ISREG (opened.st_mode) && strlen (buf) == (size_t) n
      && parse_pid_record (buf, &rec))
    judge_record (&rec, j);
  else if (S_ISREG (opened.st_mode) && buf[0] == '\0')
    /* No bytes, or zero bytes.  Our content is in place before the
       name appears, so only a crash before it reached the disk leaves
       our file so (ext4 and xfs write data up to 30 s after the name,
       and ext4 can leave the size without the data).  */
    snprintf (j->why, sizeof j->why,
              "it is empty: a system crash can leave it so");
  if (fd)
    *fd = file_fd;
  else
    close (file_fd);
  return 0;
}

/* The takeover lock of FILE, a lockdir-style lock in FILE's directory:
   ".excl-create.NAME.lock".  */
static char *
takeover_lock_name (struct parent_dir const *parent)
{
  char *name = xasprintf (".%s.%s.lock", tool_name (), parent->base);
  if (strlen (name) <= NAME_MAX)
    return name;
  /* Too long for a name: FILE's start and a hash of all of it
     (FNV-1a), the same for every caller.  */
  free (name);
  uint64_t hash = 14695981039346656037u;
  for (char const *p = parent->base; *p; p++)
    hash = (hash ^ (unsigned char) *p) * 1099511628211u;
  return xasprintf (".%s.%.100s~%016" PRIx64 ".lock", tool_name (),
                    parent->base, hash);
}

/* The stale FILE, open on JUDGED_FD, cannot be renamed away: ERRNUM
   (EPERM or EACCES) says we may not.  Nothing is broken: FILE exists
   and is not ours to replace, as another user's in a sticky directory
   such as /tmp is not.  So it is kept (status 1, as one we may not
   read), and *J says why.  */
static void
judge_not_ours (struct parent_dir const *parent, int judged_fd, int errnum,
                struct judgement *j)
{
  j->verdict = VERDICT_NOT_OURS;
  bool judged_known = fstat (judged_fd, &j->judged) == 0;
  if (!judged_known)
    j->judged.st_ino = j->judged.st_dev = 0;
  struct stat dir;
  bool others_in_sticky = (errnum == EPERM && judged_known
                           && fstat (parent->fd, &dir) == 0
                           && (dir.st_mode & S_ISVTX)
                           && j->judged.st_uid != geteuid ());
  if (others_in_sticky)
    snprintf (j->why, sizeof j->why, "process %ld is gone, but the file "
              "is another user's in a sticky directory, so only its owner "
              "may replace it", (long) j->pid);
  else
    snprintf (j->why, sizeof j->why, "process %ld is gone, but the file "
              "cannot be replaced: %s", (long) j->pid, strerror (errnum));
}

/* Holding the takeover lock, FILE was judged stale while open on
   JUDGED_FD.  Rename it away and remove it.  Among callers that keep to
   the protocol only the holder of the lock removes FILE (unless it was
   stopped past the lock's lease), so the name still holds the file
   judged; the rename lets us make sure.  Return -1
   when it is gone, EXIT_NO when it is kept (*J says why), or a
   status.  */
static int
remove_stale (struct parent_dir const *parent, char const *file,
              int judged_fd, struct judgement *j, struct options const *opt)
{
  /* Renamed to a registered temporary name, it is removed on any exit
     or signal: a stale file never lingers under another name.  */
  struct temp_name stale;
  if (temp_rename_from (&stale, parent->fd, parent->base, false) != 0)
    {
      if (errno == ENOENT)
        return -1;
      if (errno == EPERM || errno == EACCES)
        {
          judge_not_ours (parent, judged_fd, errno, j);
          return EXIT_NO;
        }
      if (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)
        error (0, 0, "cannot replace %s: its filesystem does not support "
               "RENAME_NOREPLACE", quoteaf (file));
      else
        error (0, errno, "cannot replace %s", quoteaf (file));
      return EXIT_SYSERR;
    }
  struct stat moved, judged;
  if (fstatat (parent->fd, stale.name, &moved, AT_SYMLINK_NOFOLLOW) == 0
      && fstat (judged_fd, &judged) == 0
      && SAME_INODE (moved, judged))
    {
      /* JUDGED_FD keeps the inode, so its number cannot have been
         reused: this is the very file judged stale.  */
      if (!temp_remove (&stale))
        {
          /* It stays under the temporary name: say where, and make
             nothing, or status 0 would hide a stale file left in the
             directory.  */
          int err = errno;
          char *kept = path_in_parent (parent, stale.name);
          error (0, err, "took the stale %s away, but cannot remove it: "
                 "it is kept as %s, and %s is not created",
                 quoteaf_n (0, file), quoteaf_n (1, kept),
                 quoteaf_n (2, file));
          free (kept);
          return EXIT_SYSERR;
        }
      if (opt->verbose)
        {
          printf ("removed stale %s (%s)\n", quoteaf (file), j->why);
          flush_verbose ();
        }
      return -1;
    }

  /* Someone outside the protocol (a plain rm and a new FILE) changed
     FILE meanwhile: put back what we took.  */
  if (renameat2 (parent->fd, stale.name, parent->fd, parent->base,
                 RENAME_NOREPLACE) == 0)
    {
      temp_forget (&stale);
      j->verdict = VERDICT_UNKNOWN;
      snprintf (j->why, sizeof j->why, "it changed while being judged");
      return EXIT_NO;
    }
  int err = errno;
  temp_forget (&stale);
  char *kept = path_in_parent (parent, stale.name);
  error (0, err, "%s changed while being replaced; the file found there "
         "is kept as %s", quoteaf_n (0, file), quoteaf_n (1, kept));
  free (kept);
  return EXIT_SYSERR;
}

/* The lease of the takeover lock.  Its holder only judges and renames,
   in microseconds, but a crash in that moment leaves the lock behind
   with a record of another boot, which is never judged dead (see
   judge_record): the lease is what frees it.  (It also makes the
   record reach the disk before the lock appears, so that the crash
   cannot empty it, lease and all.)  */
static struct timespec const takeover_lock_lease = { 10, 0 };

/* How long to wait for the takeover lock at least: a second more than
   its lease, so that a caller who finds it left by a crash breaks it
   rather than give up.  A holder stopped for longer than the lease can
   lose it meanwhile; remove_stale then still removes only the file it
   judged.  */
static struct timespec const takeover_lock_wait = { 11, 0 };

/* The takeover lock LOCK_SHOWN of FILE cannot be released (errno says
   why), and nothing is created: say what became of FILE, which GONE
   says is gone (removed as stale, by us or meanwhile by another), else
   left as it was.  */
static void
report_unreleased (char const *file, char const *lock_shown, bool gone)
{
  if (gone)
    error (0, errno, "the stale %s is gone, but the lock %s cannot be "
           "released, so %s is not created", quoteaf_n (0, file),
           quoteaf_n (1, lock_shown), quoteaf_n (2, file));
  else
    error (0, errno, "cannot release the lock %s; %s is left as it was",
           quoteaf_n (0, lock_shown), quoteaf_n (1, file));
}

/* FILE, judged stale in *J, cannot be replaced: ERRNUM (EACCES or
   EPERM) says we may not write its directory.  Judge it again, open,
   so that it is kept as not ours (status 1, and -w waits for it to
   change) as remove_stale keeps one it may not rename away.  Return as
   take_over_if_stale.  */
static int
keep_not_ours (struct parent_dir const *parent, char const *file,
               int errnum, struct judgement *j)
{
  int judged_fd;
  int status = judge_existing (parent, file, j, &judged_fd);
  if (status == 0 && j->verdict == VERDICT_DEAD)
    {
      judge_not_ours (parent, judged_fd, errnum, j);
      j->judged_fd = judged_fd;
      return 0;
    }
  if (judged_fd >= 0)
    close (judged_fd);
  if (status == 0 && j->verdict == VERDICT_GONE)
    return -1;
  return status;
}

/* FILE exists and --replace-stale is given.  Judge FILE; if its process
   is gone, take the takeover lock, judge again, and remove FILE -- but
   keep it if UNREADY (when not NULL) says the new content is not
   ready.  Return -1 when FILE is gone (create it again), 0 when it
   stays (*J says why), or a status.  A FILE kept as not ours is left
   open in J->judged_fd, for the caller to close; otherwise that is
   -1.  */
static int
take_over_if_stale (struct parent_dir const *parent, char const *file,
                    struct options const *opt,
                    struct unready const *unready, struct judgement *j)
{
  j->judged_fd = -1;
  /* A first look without the lock: most callers find a live owner and
     need not queue for the lock.  */
  int status = judge_existing (parent, file, j, NULL);
  if (status != 0)
    return status;
  if (j->verdict == VERDICT_GONE)
    return -1;
  if (j->verdict != VERDICT_DEAD)
    return 0;
  /* Nothing could replace it: the stale FILE stays, rather than be
     removed and leave no FILE at all.  */
  if (unready && dir_denied (unready))
    return keep_not_ours (parent, file, unready->errnum, j);
  if (unready && unready->why)
    {
      error (0, unready->errnum, "cannot replace the stale %s (%s): %s",
             quoteaf (file), j->why, unready->why);
      return EXIT_SYSERR;
    }

  /* FILE is renamed away with RENAME_NOREPLACE (remove_stale), which
     the check at the start (for link or O_EXCL) did not cover: a
     filesystem can keep one and not the other (SMB's client emulates
     RENAME_NOREPLACE with a look and then a rename).  The takeover
     lock (a directory renamed onto its name, FS_RENAME_DIR) needs no
     check of its own: every filesystem where that is not safe is one
     where RENAME_NOREPLACE is refused, or warned about (FUSE).  */
  if (!fs_permits (file, parent->fd, NULL, FS_NOREPLACE, opt->force,
                   opt->quiet))
    return EXIT_SYSERR;

  char *lock_name = takeover_lock_name (parent);
  /* The lock as the user finds it: in FILE's directory.  */
  char *lock_shown = path_in_parent (parent, lock_name);
  struct dirlock lock;
  struct dirlock_config config = { .no_history = true,
                                   .lease = takeover_lock_lease,
                                   .verbose = opt->verbose,
                                   .shown = lock_shown };
  struct timespec deadline = deadline_after (takeover_lock_wait);
  if (opt->wait && timespec_cmp (opt->deadline, deadline) > 0)
    deadline = opt->deadline;
  int locked = dirlock_acquire_at (&lock, parent->fd, lock_name, deadline,
                                   &config);
  if (locked != 0)
    {
      if (locked == 1)
        {
          j->verdict = VERDICT_UNKNOWN;
          snprintf (j->why, sizeof j->why,
                    "another excl-create is replacing it, holding %s",
                    quoteaf (lock_shown));
          status = 0;
        }
      else
        {
          /* Say first what became of FILE: on a read-only mount the
             lock is what fails, but it is FILE that stays.  */
          error (0, errno, "cannot replace the stale %s (%s): cannot "
                 "take the lock %s", quoteaf_n (0, file), j->why,
                 quoteaf_n (1, lock_shown));
          dirlock_warn_left_empty (lock.dir_left_errno, lock_shown,
                                   "--replace-stale call", file);
          status = EXIT_SYSERR;
        }
      dirlock_warn_temps_left (&lock.temps_left);
      free (lock_shown);
      free (lock_name);
      return status;
    }

  int judged_fd;
  status = judge_existing (parent, file, j, &judged_fd);
  if (status == 0)
    {
      if (j->verdict == VERDICT_GONE)
        status = -1;
      else if (j->verdict == VERDICT_DEAD)
        {
          status = remove_stale (parent, file, judged_fd, j, opt);
          if (status == EXIT_NO)
            status = 0;
        }
    }
  if (status == 0 && j->verdict == VERDICT_NOT_OURS)
    j->judged_fd = judged_fd;
  else if (judged_fd >= 0)
    close (judged_fd);
  /* ESTALE: we were stopped past the lease and another caller broke the
     lock meanwhile.  What we did under it stands (remove_stale checks
     that it took the very file it judged).  */
  int released = dirlock_release (&lock);
  if (released != 0 && errno != ESTALE && status <= 0)
    {
      report_unreleased (file, lock_shown, status == -1);
      status = EXIT_SYSERR;
    }
  else if (released == 0)
    /* The status stays.  */
    dirlock_warn_left_empty (lock.dir_left_errno, lock_shown,
                             "--replace-stale call", file);
  /* After our own messages, as for a lock not taken.  */
  dirlock_warn_temps_left (&lock.temps_left);
  free (lock_shown);
  free (lock_name);
  return status;
}

/* FILE exists and is kept: say why, unless quiet.  */
static int
report_kept (char const *file, struct options const *opt,
             struct judgement const *j, bool timed_out)
{
  if (!opt->quiet)
    {
      char const *kept = (j->verdict == VERDICT_NOT_PID_FILE && !j->why[0]
                          ? "it is not a pid file" : j->why);
      if (timed_out)
        error (0, 0, "timed out waiting for %s to be removed (%s)",
               quoteaf (file), kept);
      else
        error (0, 0, "cannot create %s: %s (%s)", quoteaf (file),
               strerror (EEXIST), kept);
    }
  return EXIT_NO;
}

/* --replace-stale -w, and FILE is stale but not ours to replace (*J):
   only its owner can end it, so wait for that file to be removed, or
   replaced in one step (a rename over it), which is a new FILE to
   judge.  Judging again on every change would wake us at each of our
   own takeover locks, a busy loop.  The file judged is still open in
   J->judged_fd, as it has been since it was judged: opening it again
   here would leave a moment in which it could be replaced and its
   inode number reused by the next file renamed in, which would then
   look like the one judged and never be judged.  Return 0 to judge
   FILE again, DIR_REPLACED, or the status.  */
static int
wait_until_not_ours_changed (struct parent_dir const *parent,
                             char const *file, struct options const *opt,
                             struct judgement const *j)
{
  /* Gone or replaced already ends the wait at once, but not past the
     deadline, unless it is gone: replacements coming faster than we
     judge them would otherwise keep us judging.  */
  switch (wait_until_replaced (parent, parent->base, &j->judged,
                               fs_dir_remote (parent->fd), opt->deadline))
    {
    case 0:
      return 0;
    case 1:
      return report_kept (file, opt, j, true);
    case 2:
      return DIR_REPLACED;
    default:
      error (0, errno, "cannot wait for %s", quoteaf (file));
      return EXIT_SYSERR;
    }
}

/* --replace-stale: replace FILE if stale; otherwise, with --wait, wait
   until FILE changes or its process ends (a pidfd tells at once; where
   there is none, look again every second).  UNREADY is as for
   take_over_if_stale.  Return TRY_AGAIN, DIR_REPLACED or the status.  */
static int
handle_existing_pid_file (struct parent_dir const *parent, char const *file,
                          struct options const *opt,
                          struct unready const *unready)
{
  struct dir_watch watch;
  /* Watch before looking, so a change between the look and the sleep
     still wakes us.  */
  if (opt->wait)
    dir_watch_open (&watch, parent->dir, parent->fd, parent->base,
                    fs_dir_remote (parent->fd));
  int status;
  for (;;)
    {
      struct judgement j;
      status = take_over_if_stale (parent, file, opt, unready, &j);
      bool not_ours = (status == 0 && opt->wait
                       && j.verdict == VERDICT_NOT_OURS);
      if (status == 0 && !opt->wait)
        status = report_kept (file, opt, &j, false);
      else if (not_ours)
        /* Removed or replaced: judge FILE again (a FILE gone is
           created at once).  */
        status = wait_until_not_ours_changed (parent, file, opt, &j);
      if (j.judged_fd >= 0)
        close (j.judged_fd);
      if (status != 0)
        break;
      if (not_ours)
        continue;
      int pidfd = -1;
      if (j.verdict == VERDICT_ALIVE)
        {
          pidfd = pidfd_open (j.pid, 0);
          if (pidfd < 0 && errno == ESRCH)
            continue;           /* gone already: look again */
        }
      int woke;
      do
        {
          struct timespec wake = opt->deadline;
          if (pidfd < 0)
            wake = earlier_deadline (wake, deadline_after ((struct timespec)
                                                           { 1, 0 }));
          /* FILE's directory renamed is no change in it.  */
          wake = earlier_deadline (wake, parent_check_deadline ());
          woke = dir_watch_wait (&watch,
                                 (struct wait_fds) { { pidfd, -1 } }, wake);
        }
      /* Only that look is due: the owner's pidfd still says it runs,
         and nothing changed in the directory.  */
      while (woke == 1 && pidfd >= 0 && !parent_moved (parent)
             && !deadline_passed (opt->deadline));
      int saved_errno = errno;
      if (pidfd >= 0)
        close (pidfd);
      if (woke < 0)
        {
          error (0, saved_errno, "cannot wait for %s", quoteaf (file));
          status = EXIT_SYSERR;
          break;
        }
      if (parent_moved (parent))
        {
          status = DIR_REPLACED;
          break;
        }
      /* Whatever woke us: in a busy directory every wait can be woken
         by a change, and would never run out.  */
      if (deadline_passed (opt->deadline))
        {
          status = report_kept (file, opt, &j, true);
          break;
        }
    }
  if (opt->wait)
    dir_watch_close (&watch);
  return status;
}

/* FILE exists.  Without --wait that is the answer; with it, wait for
   FILE to go.  UNREADY, if not NULL, says why the new content is not
   ready (--replace-stale then keeps a stale FILE).  Return TRY_AGAIN,
   DIR_REPLACED or the status.  */
static int
handle_existing (struct parent_dir const *parent, char const *file,
                 struct options const *opt, struct unready const *unready)
{
  if (opt->replace_stale)
    return handle_existing_pid_file (parent, file, opt, unready);
  if (!opt->wait)
    return report_exists (file, opt, false);
  switch (wait_until_absent (parent, parent->base,
                             fs_dir_remote (parent->fd), opt->deadline))
    {
    case 0:
      return TRY_AGAIN;
    case 1:
      return report_exists (file, opt, true);
    case 2:
      return DIR_REPLACED;
    default:
      error (0, errno, "cannot wait for %s", quoteaf (file));
      return EXIT_SYSERR;
    }
}

/* The primitive FILE's creation relies on, for the filesystem check.  */
static enum fs_primitive
primitive_used (struct options const *opt)
{
  return opt->content.kind == CONTENT_NONE ? FS_EXCL : FS_LINK;
}

/* Whether the descriptors A and B are on one filesystem; if not, or if
   that cannot be told, return false with errno set.  */
static bool
same_filesystem (int a, int b)
{
  struct stat sa, sb;
  if (fstat (a, &sa) != 0 || fstat (b, &sb) != 0)
    return false;
  if (sa.st_dev == sb.st_dev)
    return true;
  errno = EXDEV;
  return false;
}

/* Whether PARENT's directory is gone from its path, removed or renamed
   away with nothing in its place, rather than replaced.  */
static bool
parent_gone (struct parent_dir const *parent)
{
  struct stat st;
  return lstat (parent->dir, &st) != 0 && errno == ENOENT;
}

/* FILE's directory was replaced while we waited (DIR_REPLACED): go on
   in the one its path leads to now, as if that had been opened at the
   start.  Its filesystem is judged again, and TEMP, the content's
   temporary if not NULL, is moved there: never is FILE created in the
   old directory under the name the user gave.  UNNAMED_FD, if not -1,
   is the content's unnamed file: the new directory must be on its
   filesystem, as for TEMP.  Return TRY_AGAIN, or report why FILE
   cannot be made there and return the status.  */
static int
follow_replaced_dir (struct parent_dir *parent, struct temp_name *temp,
                     int unnamed_fd, char const *file,
                     struct options const *opt)
{
  int fd = open_parent_again (parent);
  if (fd >= 0 && !fs_permits (file, fd, NULL, primitive_used (opt),
                              opt->force, opt->quiet))
    {
      close (fd);
      return EXIT_SYSERR;
    }
  /* On another filesystem (EXDEV) the content would have to be
     written again, and standard input is read only once.  */
  if (fd < 0 || (temp && temp_move (temp, fd) != 0)
      || (unnamed_fd >= 0 && !same_filesystem (fd, unnamed_fd)))
    {
      int err = errno;
      bool gone = fd < 0 && err == ENOENT && parent_gone (parent);
      if (fd >= 0)
        close (fd);
      error (0, err, "cannot create %s: its directory was %s while "
             "waiting", quoteaf (file),
             gone ? "removed or renamed" : "replaced");
      return EXIT_SYSERR;
    }
  close (parent->fd);
  parent->fd = fd;
  return TRY_AGAIN;
}

/* Create FILE empty with one open(O_CREAT|O_EXCL).  */
static int
create_empty (struct parent_dir *parent, char const *file,
              struct options const *opt)
{
  for (;;)
    {
      int fd = openat (parent->fd, parent->base,
                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       opt->mode);
      if (fd >= 0)
        {
          /* The file exists now and is ours, empty as asked: keeping it
             is right, a failure here is only about durability.  */
          int sync_errno = opt->sync && fsync (fd) != 0 ? errno : 0;
          int close_errno = close (fd) != 0 ? errno : 0;
          if (sync_errno)
            error (0, sync_errno, "created %s, but cannot sync it",
                   quoteaf (file));
          else if (close_errno)
            error (0, close_errno, "created %s, but closing it failed",
                   quoteaf (file));
          return sync_errno || close_errno ? EXIT_SYSERR : EXIT_DONE;
        }
      int err = errno;
      if (!creation_error_means_exists (parent->fd, parent->base, err))
        {
          error (0, err, "cannot create %s", quoteaf (file));
          return EXIT_SYSERR;
        }
      int status = handle_existing (parent, file, opt, NULL);
      if (status == DIR_REPLACED)
        status = follow_replaced_dir (parent, NULL, -1, file, opt);
      if (status != TRY_AGAIN)
        return status;
    }
}

/* Give the complete temporary TEMP the name FILE, if FILE does not
   exist: link(2), or renameat2(RENAME_NOREPLACE) where the filesystem
   has no hard links.  */
static int
publish_temp (struct parent_dir *parent, struct temp_name *temp,
              char const *file, struct options const *opt)
{
  bool use_rename = false;
  for (;;)
    {
      int rc = (use_rename
                ? renameat2 (parent->fd, temp->name, parent->fd, parent->base,
                             RENAME_NOREPLACE)
                : linkat (parent->fd, temp->name, parent->fd, parent->base,
                          0));
      if (rc == 0)
        {
          if (use_rename)
            temp_forget (temp);
          else if (!temp_remove (temp))
            {
              /* FILE is there, complete, and the temporary is a second
                 name of it: say both.  FILE was created, so the status
                 says so (a caller told 3 would think it lost); the
                 name left is a warning, as for every temporary.  */
              int err = errno;
              char *shown = path_in_parent (parent, temp->name);
              error (0, err, "warning: created %s, but its temporary name "
                     "%s cannot be removed", quoteaf_n (0, file),
                     quoteaf_n (1, shown));
              free (shown);
            }
          return EXIT_DONE;
        }
      int err = errno;
      if (creation_error_means_exists (parent->fd, parent->base, err))
        {
          int status = handle_existing (parent, file, opt, NULL);
          if (status == DIR_REPLACED)
            status = follow_replaced_dir (parent, temp, -1, file, opt);
          if (status != TRY_AGAIN)
            return status;
          continue;
        }
      if (!use_rename && (err == EPERM || err == EOPNOTSUPP || err == ENOSYS
                          || err == EMLINK))
        {
          /* No hard links here: try the other single-call way -- if
             the filesystem keeps that promise too.  The check at the
             start was for link(2) only, and a filesystem can keep one
             and not the other (SMB's client emulates RENAME_NOREPLACE
             with a look and then a rename).  */
          if (!fs_permits (file, parent->fd, NULL, FS_NOREPLACE, opt->force,
                           opt->quiet))
            return EXIT_SYSERR;
          use_rename = true;
          continue;
        }
      if (use_rename && (err == EINVAL || err == ENOSYS || err == EOPNOTSUPP))
        error (0, 0, "cannot create %s with its content atomically: its "
               "filesystem supports neither hard links nor "
               "RENAME_NOREPLACE", quoteaf (file));
      else
        error (0, err, "cannot create %s", quoteaf (file));
      return EXIT_SYSERR;
    }
}

/* FILE exists where its content could not be made ready: the answer
   O_EXCL would have given first.  */
enum { FOUND_EXISTING = -3 };

/* Remove the temporary TEMP, unless it is NULL: an unnamed file has
   no name to remove.  */
static void
drop_temp (struct temp_name *temp, struct parent_dir const *parent)
{
  if (temp)
    temp_remove_warn (temp, parent);
}

/* Whether an existing FILE answers a failure to complete the content
   for it, as O_EXCL would have answered first: status 1, or -w waits
   for FILE to go and writes the content again.  Standard input, read
   once, can be written again only from a copy kept of it (for later
   FILEs, or an unnamed file that holds it all): without one, the
   failure itself is the answer.  */
static bool
existing_answers (struct options const *opt)
{
  return !(opt->wait && opt->content.kind == CONTENT_STDIN
           && opt->content.saved_fd < 0);
}

/* Fill the temporary TEMP, open as FD, with the content, give it its
   mode and close it; or, if TEMP is NULL, FD is an unnamed file
   (O_TMPFILE), which stays open, to be linked.  Return EXIT_DONE; or,
   TEMP removed (FD closed) and *UNREADY set to why, FOUND_EXISTING if
   FILE exists and that answers the failure (existing_answers; say, a
   full disk), else report the failure and return EXIT_SYSERR.  */
static int
complete_temp (int fd, struct temp_name *temp, struct parent_dir *parent,
               char const *file, struct options *opt,
               struct unready *unready)
{
  bool answers = existing_answers (opt);
  bool exists = false;
  if (!write_content (fd, parent, &opt->content, file,
                      answers ? &exists : NULL, unready))
    {
      close (fd);
      drop_temp (temp, parent);
      return exists ? FOUND_EXISTING : EXIT_SYSERR;
    }
  /* Standard input, read whole, may now be kept for later FILEs.  */
  answers = existing_answers (opt);
  /* Writing to a file clears its set-user-ID and set-group-ID bits
     unless the writer has CAP_FSETID: give them back, as -m asked.
     Only then: an fchmod would override a directory's default ACL,
     which open(2) applied, and vfat refuses a mode its mount options
     cannot show.  */
  if ((opt->mode & (S_ISUID | S_ISGID)) && fchmod (fd, opt->mode) != 0)
    {
      int err = errno;
      close (fd);
      drop_temp (temp, parent);
      unready->why = "cannot give its content the mode asked";
      unready->errnum = err;
      if (answers && file_exists (parent))
        return FOUND_EXISTING;
      error (0, err, "cannot create %s with mode %04o", quoteaf (file),
             (unsigned int) (opt->mode & 07777));
      return EXIT_SYSERR;
    }
  int sync_errno = opt->sync && fsync (fd) != 0 ? errno : 0;
  /* close reports late write errors (NFS, quotas).  An unnamed file
     stays open until it is linked: a close of a duplicate flushes it
     all the same.  With no descriptor to spare for the duplicate
     (EMFILE: the named temporary needed none), the close after the
     link tells instead.  */
  int close_fd = temp ? fd : fcntl (fd, F_DUPFD_CLOEXEC, 0);
  int close_errno = (close_fd < 0 ? (errno == EMFILE ? 0 : errno)
                     : close (close_fd) != 0 ? errno : 0);
  if (sync_errno || close_errno)
    {
      if (!temp)
        close (fd);
      drop_temp (temp, parent);
      unready->why = (sync_errno ? "cannot sync its content"
                      : "cannot write content for it");
      unready->errnum = sync_errno ? sync_errno : close_errno;
      if (answers && file_exists (parent))
        return FOUND_EXISTING;
      if (sync_errno)
        error (0, sync_errno, "cannot sync the content for %s",
               quoteaf (file));
      else
        error (0, close_errno, "cannot write content for %s",
               quoteaf (file));
      return EXIT_SYSERR;
    }
  return EXIT_DONE;
}

/* The system cannot make or link an unnamed file in FILE's directory:
   a named temporary is the way there.  */
enum { NO_UNNAMED = -4 };

/* Open an unnamed file (O_TMPFILE) for the content in PARENT's
   directory.  Return its descriptor, or -1 with errno.  */
static int
open_unnamed (struct parent_dir const *parent, struct options const *opt)
{
  return openat (parent->fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC,
                 opt->mode);
}

/* Whether ERRNUM from open_unnamed says that the system has no unnamed
   files there: a filesystem without them (EOPNOTSUPP), or a kernel
   older than O_TMPFILE (EISDIR; EINVAL).  */
static bool
no_unnamed_files (int errnum)
{
  return errnum == EOPNOTSUPP || errnum == EISDIR || errnum == EINVAL;
}

/* OPT, with the content taken from FD, an unnamed file that holds all
   of it already: read with pread, as a copy of standard input kept
   for later FILEs is, so it can be read again.  */
static struct options
content_from (struct options const *opt, int fd)
{
  struct options from = *opt;
  from.content.kind = CONTENT_STDIN;
  from.content.saved_fd = fd;
  from.content.files_left = 0;
  from.content.spent = NULL;
  return from;
}

/* Give the unnamed file FD the name NAME in DIRFD, if NAME does not
   exist: linkat through /proc; where /proc is not there, or does not
   lead to FD (another pid namespace's /proc), linkat with
   AT_EMPTY_PATH, which needs CAP_DAC_READ_SEARCH before Linux 6.10.
   Return 0, or -1 with errno.  */
static int
link_unnamed_as (int fd, int dirfd, char const *name)
{
  char proc_path[sizeof "/proc/self/fd/" + INT_STRLEN_BOUND (int)];
  sprintf (proc_path, "/proc/self/fd/%d", fd);
  if (linkat (AT_FDCWD, proc_path, dirfd, name, AT_SYMLINK_FOLLOW) == 0)
    return 0;
  if (errno != ENOENT && errno != EACCES)
    return -1;
  return linkat (fd, "", dirfd, name, AT_EMPTY_PATH);
}

/* Give the unnamed file FD the name of FILE in PARENT, if FILE does not
   exist.  Return 0, or -1 with errno.  */
static int
link_unnamed (int fd, struct parent_dir const *parent)
{
  return link_unnamed_as (fd, parent->fd, parent->base);
}

/* Whether the unnamed file FD, in PARENT's directory, can be given a
   name at all (link_unnamed): through /proc, or with AT_EMPTY_PATH,
   which needs CAP_DAC_READ_SEARCH unless (Linux 6.10 on) FD was
   opened with the caller's own credentials.  Asked once, before any
   content is written: where neither can work, the content goes to a
   named temporary straight away, written once, instead of being
   copied there after the links failed.  */
static bool
unnamed_linkable (int fd, struct parent_dir const *parent)
{
  static int linkable = -1;
  if (linkable < 0)
    {
      /* "." always exists: a link to it fails with EEXIST once one of
         link_unnamed's ways has found FD, and with ENOENT or EACCES
         where neither can.  A /proc that is mounted is not enough: it
         may be another pid namespace's, without our /proc/self.
         Nothing is made either way.  */
      linkable = (link_unnamed_as (fd, parent->fd, ".") != 0
                  && errno == EEXIST);
    }
  return linkable;
}

/* FILE's directory was replaced while we waited, by one on the same
   filesystem but another mount of it (EXDEV): the unnamed file *FD can
   be linked only within its own mount.  Give the content a new unnamed
   file there, in *FD.  Return TRY_AGAIN; FOUND_EXISTING if that failed
   where FILE exists (*FD is then kept); or report the failure and
   return the status.  */
static int
renew_unnamed (struct parent_dir *parent, int *fd, char const *file,
               struct options const *opt)
{
  int new_fd = open_unnamed (parent, opt);
  if (new_fd < 0)
    {
      error (0, errno, "cannot create %s: its directory was replaced "
             "while waiting", quoteaf (file));
      return EXIT_SYSERR;
    }
  struct options from = content_from (opt, *fd);
  struct unready unready = { NULL, 0, false };
  int status = complete_temp (new_fd, NULL, parent, file, &from, &unready);
  if (status != EXIT_DONE)
    return status;
  close (*fd);
  *fd = new_fd;
  return TRY_AGAIN;
}

/* Give the complete unnamed file *FD the name FILE, if FILE does not
   exist.  Return EXIT_DONE, NO_UNNAMED if it cannot be linked (then
   *FD still holds the content), or the status.  *FD stays open.  */
static int
publish_unnamed (struct parent_dir *parent, int *fd, char const *file,
                 struct options const *opt)
{
  /* Whether FILE's directory was replaced since *FD was last linked
     or made there: only then can the link fail with EXDEV.  */
  bool replaced = false;
  for (;;)
    {
      if (link_unnamed (*fd, parent) == 0)
        return EXIT_DONE;
      int err = errno;
      if (creation_error_means_exists (parent->fd, parent->base, err))
        {
          int status = handle_existing (parent, file, opt, NULL);
          if (status == DIR_REPLACED)
            {
              status = follow_replaced_dir (parent, NULL, *fd, file, opt);
              replaced = true;
            }
          if (status != TRY_AGAIN)
            return status;
          continue;
        }
      /* A new directory on the same mount takes *FD itself: its
         content is copied only where it must be, another mount.  */
      if (err == EXDEV && replaced)
        {
          replaced = false;
          int status = renew_unnamed (parent, fd, file, opt);
          /* FILE is back: wait for it again, and copy once it goes.  */
          if (status == FOUND_EXISTING)
            replaced = true;
          else if (status != TRY_AGAIN)
            return status;
          continue;
        }
      /* No hard links here, or no way to link a file without a name
         (no /proc, and no CAP_DAC_READ_SEARCH): what publish_temp
         does for a named temporary decides, including the real
         error.  */
      if (err == EPERM || err == EOPNOTSUPP || err == ENOSYS
          || err == EMLINK || err == ENOENT || err == EACCES)
        return NO_UNNAMED;
      error (0, err, "cannot create %s", quoteaf (file));
      return EXIT_SYSERR;
    }
}

/* Create FILE with content: complete it in an unnamed file (where the
   system has them, unless UNNAMED is false) and link that to FILE;
   otherwise under a temporary name, then publish that.  */
static int
create_with_content (struct parent_dir *parent, char const *file,
                     struct options *opt, bool unnamed)
{
  for (;;)
    {
      struct temp_name temp;
      struct unready unready = { NULL, 0, false };
      int fd = -1;
      if (unnamed)
        {
          fd = open_unnamed (parent, opt);
          unnamed = fd >= 0 || !no_unnamed_files (errno);
          if (fd >= 0 && !unnamed_linkable (fd, parent))
            {
              close (fd);
              unnamed = false;
            }
        }
      if (!unnamed)
        fd = temp_create (&temp, parent->fd, TEMP_FILE, opt->mode, NULL);
      int status;
      if (fd < 0)
        {
          /* Where no temporary can be made (a directory we may not
             write, a read-only filesystem), an existing FILE is still
             the answer, as O_EXCL would give it: status 1, or wait
             with -w.  */
          int err = errno;
          unready.why = "cannot make a temporary for its content";
          unready.errnum = err;
          unready.no_temp = true;
          if (!file_exists (parent))
            {
              error (0, err, "cannot create %s", quoteaf (file));
              return EXIT_SYSERR;
            }
        }
      else
        {
          status = complete_temp (fd, unnamed ? NULL : &temp, parent, file,
                                  opt, &unready);
          if (status == EXIT_DONE && !unnamed)
            {
              status = publish_temp (parent, &temp, file, opt);
              temp_remove_warn (&temp, parent);
              return status;
            }
          if (status == EXIT_DONE)
            {
              status = publish_unnamed (parent, &fd, file, opt);
              if (status == NO_UNNAMED)
                {
                  struct options from = content_from (opt, fd);
                  status = create_with_content (parent, file, &from, false);
                }
              /* FILE, if made, is there and ours: a failure here says
                 so, as create_empty does.  */
              if (close (fd) != 0 && status == EXIT_DONE)
                {
                  error (0, errno, "created %s, but closing it failed",
                         quoteaf (file));
                  status = EXIT_SYSERR;
                }
              return status;
            }
          if (status != FOUND_EXISTING)
            return status;
        }
      status = handle_existing (parent, file, opt, &unready);
      if (status == DIR_REPLACED)
        status = follow_replaced_dir (parent, NULL, -1, file, opt);
      if (status != TRY_AGAIN)
        return status;
    }
}

/* FILE ends in '/', so it can only name a directory, never a file we
   could create: report what is there, create nothing.  */
static int
refuse_trailing_slash (struct parent_dir const *parent, char const *file,
                       struct options const *opt)
{
  struct stat st;
  if (fstatat (parent->fd, parent->base, &st, AT_SYMLINK_NOFOLLOW) == 0)
    return report_exists (file, opt, false);
  error (0, errno == ENOENT ? ENOTDIR : errno, "cannot create %s",
         quoteaf (file));
  return EXIT_SYSERR;
}

/* FILE was just created as a pid file for --replace-stale.  Where this
   boot's id cannot be read though /proc is mounted (with subset=pid),
   it names no boot, and a later call that knows the boot can never
   judge it stale: say so, as lockdir refuses a script form there.
   Without /proc at all, as for lockdir, nothing is said.  */
static void
warn_no_boot (char const *file, struct options const *opt)
{
  if (opt->content.kind == CONTENT_PID && opt->replace_stale
      && !*this_boot_id () && proc_mounted ())
    error (0, 0, "warning: %s names no boot, as " BOOT_ID_FILE " cannot "
           "be read (%s): where it can, --replace-stale will keep it even "
           "once its process is gone", quoteaf (file),
           strerror (this_boot_id_errno ()));
}

static int
excl_create (char const *file, struct options *opt)
{
  struct parent_dir parent;
  if (!open_parent (file, &parent))
    {
      error (0, errno, "cannot create %s", quoteaf (file));
      return EXIT_SYSERR;
    }

  int status;
  if (has_trailing_slash (file))
    status = refuse_trailing_slash (&parent, file, opt);
  else if (!fs_permits (file, parent.fd, NULL, primitive_used (opt),
                        opt->force, opt->quiet))
    status = EXIT_SYSERR;
  else if (opt->content.kind == CONTENT_NONE)
    status = create_empty (&parent, file, opt);
  else
    status = create_with_content (&parent, file, opt, true);

  if (status == EXIT_DONE && opt->sync && fsync_directory (parent.fd) != 0)
    {
      /* FILE is there and ours, as after a failed sync of the file
         (create_empty): say so, or status 3 reads as "not created".  */
      error (0, errno, "created %s, but cannot sync its directory",
             quoteaf (file));
      status = EXIT_SYSERR;
    }
  if (status == EXIT_DONE)
    warn_no_boot (file, opt);
  if (status == EXIT_DONE && opt->verbose)
    {
      printf ("created %s\n", quoteaf (file));
      flush_verbose ();
    }
  close_parent (&parent);
  return status;
}


int
main (int argc, char **argv)
{
  struct options opt = {
    .mode = S_IRUSR | S_IWUSR | S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH,
    .content = { .kind = CONTENT_NONE, .saved_fd = -1 },
  };
  bool check_fs = false;
  struct timespec wait_for = { 0, 0 };
  char const *pid_of = NULL;
  /* The content option given, as said if it is given again.  */
  char const *content_option = NULL;

  tool_init (argc, argv);

  int c;
  while ((c = getopt_long (argc, argv, "m:c:w:Svq", long_options, NULL))
         != -1)
    {
      switch (c)
        {
        case 'm':
          opt.mode = xparse_mode (optarg);
          opt.explicit_mode = true;
          break;
        case 'c':
          set_content (&opt.content, &content_option, "-c/--content",
                       CONTENT_TEXT, xasprintf ("%s\n", optarg),
                       strlen (optarg) + 1);
          break;
        case STDIN_OPTION:
          set_content (&opt.content, &content_option, "--stdin",
                       CONTENT_STDIN, NULL, 0);
          break;
        case PID_OPTION:
        case PID_OF_OPTION:
          set_content (&opt.content, &content_option,
                       c == PID_OPTION ? "--pid" : "--pid-of", CONTENT_PID,
                       NULL, 0);
          pid_of = c == PID_OPTION ? NULL : optarg;
          break;
        case 'w':
          wait_for = xparse_duration (optarg, "--wait");
          /* A zero wait is no wait: FILE exists, not "timed out".  */
          opt.wait = timespec_sign (wait_for) > 0;
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
        case REPLACE_STALE_OPTION:
          opt.replace_stale = true;
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

  if (optind == argc)
    usage_error ("missing operand");

  if (opt.replace_stale && opt.content.kind != CONTENT_PID)
    usage_error ("--replace-stale needs --pid or --pid-of");
  pid_t pid_given = pid_of ? xparse_pid (pid_of) : 0;
  /* --check-fs refuses what the creation would refuse as a usage
     error, before any report, as the other tools' --check-fs does;
     FILE itself ('.', say) is examined, not created.  */
  if (check_fs)
    return fs_explain_operands (argc - optind, argv + optind);
  /* Every operand is checked before any FILE is created.  */
  for (int i = optind; i < argc; i++)
    check_operand (argv[i]);
  if (opt.content.kind == CONTENT_PID)
    {
      pid_t pid = pid_of ? pid_given : getppid ();
      /* 0: our parent is outside our pid namespace, and has no pid
         here to record.  */
      if (pid == 0)
        error (EXIT_SYSERR, 0, "cannot record the caller's process: it "
               "is outside this pid namespace (use --pid-of)");
      /* A zombie has ended too: it would be judged gone at once.  */
      if (process_state (pid, 0) == PROCESS_DEAD)
        error (EXIT_SYSERR, ESRCH, "cannot record process %ld",
               (long) pid);
      opt.content.text = pid_content (pid, opt.replace_stale);
      opt.content.text_len = strlen (opt.content.text);
    }

  /* A message, or a -v line, into a pipe whose reader has gone must
     not kill us half way, before the later FILEs: error() flushes
     standard output at each message, and a full buffer is written
     whenever it fills.  Lost lines are a warning at exit, lost
     messages nothing.  */
  ignore_pipe_signal ();

  /* With -m the mode is exact, as with mkdir -m: no umask applies.  */
  if (opt.explicit_mode)
    umask (0);
  opt.deadline = deadline_after (wait_for);

  int status = EXIT_DONE;
  for (int i = optind; i < argc; i++)
    {
      /* Counted here, not as FILEs get the content: a FILE that fails
         before reading standard input (it exists where no temporary
         can be made, it ends in '/') must not make the last FILE keep
         a copy of it for nobody.  */
      opt.content.files_left = argc - i - 1;
      int file_status = excl_create (argv[i], &opt);
      if (file_status > status)
        status = file_status;
    }
  /* -v: the FILEs said to be created are there and ours whatever
     becomes of the lines, so lines that cannot be written are a
     warning, and the status stays that of the creates: a caller told 3
     would think them not created, and leave them for nobody to
     remove.  Nothing is then left for close_stdout to report.  */
  if (opt.verbose)
    {
      flush_verbose ();
      if (ferror (stdout))
        {
          error (0, verbose_errno, "warning: the FILEs were created as "
                 "said, but the lines saying so cannot be written");
          clearerr (stdout);
          close_stdout_now ();
        }
    }
  return status;
}

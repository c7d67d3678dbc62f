/* excl-create -- create a file only if no file of that name exists.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

/* Without content the file is made by one open(O_CREAT|O_EXCL).  With
   content it is written under a temporary name in the same directory
   and then link(2)ed to its final name, so nobody ever sees it empty or
   partial; where the filesystem has no hard links,
   renameat2(RENAME_NOREPLACE) is the other single call that can do it.
   Nothing is ever written in place.  */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "fsclass.h"

#include "error.h"
#include "full-write.h"
#include "intprops.h"
#include "safe-read.h"
#include "xalloc.h"
#include "xstrtol.h"
#include "xvasprintf.h"

#define PROGRAM_NAME "excl-create"

/* Where the new file's content comes from.  */
enum content_kind { CONTENT_NONE, CONTENT_TEXT, CONTENT_STDIN, CONTENT_PID };

struct content
{
  enum content_kind kind;
  char *text;             /* CONTENT_TEXT, CONTENT_PID */
  size_t text_len;
  /* CONTENT_STDIN: standard input can be read once; the first file made
     keeps a descriptor on it so later FILEs copy from there.  */
  int saved_fd;
};

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
};

enum
{
  STDIN_OPTION = CHAR_MAX + 1,
  PID_OPTION,
  PID_OF_OPTION,
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
  {"wait", required_argument, NULL, 'w'},
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
  -m, --mode=MODE       set file mode (as in chmod), not a=rw - umask\n\
  -c, --content=TEXT    write TEXT and a newline into FILE\n\
      --stdin           write standard input into FILE\n\
      --pid             write the caller's process ID (excl-create's\n\
                          parent) and a newline into FILE\n\
      --pid-of=PID      write PID, which must be a running process, and a\n\
                          newline into FILE\n\
  -w, --wait=DURATION   if FILE exists, wait up to DURATION for it to be\n\
                          removed, then create it ('inf': wait forever)\n\
  -S, --sync            make the new file durable (fsync the file and its\n\
                          directory) before exiting\n\
  -v, --verbose         print a line for each file created\n\
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
something exists there and 3 if not.\n\
\n\
Without content, FILE is made with one open(2) call using O_CREAT|O_EXCL.\n\
With content, excl-create writes a temporary file in FILE's directory and\n\
then link(2)s it to FILE, or, where the filesystem has no hard links,\n\
renames it with renameat2(RENAME_NOREPLACE).  If neither is possible it\n\
fails: it never writes into FILE in place.  No temporary file is left\n\
behind, even when excl-create is interrupted.\n\
", stdout);
  emit_exit_status_help ("\
  1  some FILE already existed (or --wait timed out); the others were\n\
     created\n");
  fputs ("\
With several FILEs each is tried, and the worst status is returned.\n\
\n\
Examples:\n\
  excl-create --pid /run/job.pid || exit   # claim a pid file, or stop\n\
  excl-create -c done stamp                # one-time marker with content\n\
  excl-create -w 10s --pid lockfile        # wait up to 10 s for it to go\n\
  excl-create -w inf -c ready flag         # wait as long as it takes\n\
", stdout);
  emit_help_footer ();
  exit (status);
}

static void
set_content (struct content *content, enum content_kind kind,
             char *text, size_t len)
{
  if (content->kind != CONTENT_NONE)
    usage_error ("only one of --content, --stdin, --pid and --pid-of may "
                 "be given");
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

/* Fill the temporary file FD with the content.  Return true on success;
   otherwise report the failure against FILE and return false.  */
static bool
write_content (int fd, struct content *content, char const *file)
{
  int err = 0;
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
      if (content->saved_fd < 0)
        {
          err = copy_content (STDIN_FILENO, NULL, fd);
          if (err == 0)
            {
              content->saved_fd = fcntl (fd, F_DUPFD_CLOEXEC, 0);
              if (content->saved_fd < 0)
                err = errno;
            }
        }
      else
        {
          off_t offset = 0;
          err = copy_content (content->saved_fd, &offset, fd);
        }
      if (err < 0)
        {
          error (0, -err, "error reading standard input");
          return false;
        }
      break;
    }
  if (err)
    {
      error (0, err, "cannot write content for %s", quoteaf (file));
      return false;
    }
  return true;
}

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

/* FILE exists.  Without --wait that is the answer; with it, wait for
   FILE to go.  Return -1 to try creating FILE again, or the status.  */
static int
handle_existing (struct parent_dir const *parent, char const *file,
                 struct options const *opt)
{
  if (!opt->wait)
    return report_exists (file, opt, false);
  switch (wait_until_absent (parent, parent->base, opt->deadline))
    {
    case 0:
      return -1;
    case 1:
      return report_exists (file, opt, true);
    default:
      error (0, errno, "cannot wait for %s", quoteaf (file));
      return EXIT_SYSERR;
    }
}

/* Create FILE empty with one open(O_CREAT|O_EXCL).  */
static int
create_empty (struct parent_dir const *parent, char const *file,
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
      int status = handle_existing (parent, file, opt);
      if (status >= 0)
        return status;
    }
}

/* Give the complete temporary TEMP the name FILE, if FILE does not
   exist: link(2), or renameat2(RENAME_NOREPLACE) where the filesystem
   has no hard links.  */
static int
publish_temp (struct parent_dir const *parent, struct temp_name *temp,
              char const *file, struct options const *opt)
{
  bool use_rename = false;
  for (;;)
    {
      int rc = (use_rename
                ? renameat2 (parent->fd, temp->name, parent->fd, parent->base,
                             RENAME_NOREPLACE)
                : linkat (parent->fd, temp->name, parent->fd, parent->base, 0));
      if (rc == 0)
        {
          if (use_rename)
            temp_forget (temp);
          else
            temp_remove (temp);
          return EXIT_DONE;
        }
      int err = errno;
      if (creation_error_means_exists (parent->fd, parent->base, err))
        {
          int status = handle_existing (parent, file, opt);
          if (status >= 0)
            return status;
          continue;
        }
      if (!use_rename && (err == EPERM || err == EOPNOTSUPP || err == ENOSYS
                          || err == EMLINK))
        {
          /* No hard links here: try the other single-call way.  */
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

/* Create FILE with content: complete it under a temporary name, then
   publish it.  */
static int
create_with_content (struct parent_dir const *parent, char const *file,
                     struct options *opt)
{
  struct temp_name temp;
  int fd = temp_create (&temp, parent->fd, TEMP_FILE, opt->mode, NULL);
  if (fd < 0)
    {
      error (0, errno, "cannot create %s", quoteaf (file));
      return EXIT_SYSERR;
    }
  if (!write_content (fd, &opt->content, file))
    {
      close (fd);
      temp_remove (&temp);
      return EXIT_SYSERR;
    }
  int sync_errno = opt->sync && fsync (fd) != 0 ? errno : 0;
  /* close reports late write errors (NFS, quotas).  */
  int close_errno = close (fd) != 0 ? errno : 0;
  if (sync_errno || close_errno)
    {
      if (sync_errno)
        error (0, sync_errno, "cannot sync the content for %s",
               quoteaf (file));
      else
        error (0, close_errno, "cannot write content for %s",
               quoteaf (file));
      temp_remove (&temp);
      return EXIT_SYSERR;
    }
  int status = publish_temp (parent, &temp, file, opt);
  temp_remove (&temp);
  return status;
}

/* The primitive FILE's creation relies on, for the filesystem check.  */
static enum fs_primitive
primitive_used (struct options const *opt)
{
  return opt->content.kind == CONTENT_NONE ? FS_EXCL : FS_LINK;
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
  else if (!fs_permits (file, parent.fd, NULL, primitive_used (opt), opt->force,
                   opt->quiet))
    status = EXIT_SYSERR;
  else if (opt->content.kind == CONTENT_NONE)
    status = create_empty (&parent, file, opt);
  else
    status = create_with_content (&parent, file, opt);

  if (status == EXIT_DONE && opt->sync && fsync_directory (parent.fd) != 0)
    {
      error (0, errno, "cannot sync the directory of %s", quoteaf (file));
      status = EXIT_SYSERR;
    }
  if (status == EXIT_DONE && opt->verbose)
    printf ("created %s\n", quoteaf (file));
  close_parent (&parent);
  return status;
}

/* The process ID that --pid-of=ARG names.  */
static pid_t
parse_pid (char const *arg)
{
  uintmax_t pid;
  if (xstrtoumax (arg, NULL, 10, &pid, "") != LONGINT_OK || pid == 0
      || pid > INT32_MAX)
    usage_error ("invalid process ID %s", quote (arg));
  return pid;
}

/* The content of a pid file naming PID.  */
static char *
pid_content (pid_t pid)
{
  return xasprintf ("%ld\n", (long) pid);
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
          set_content (&opt.content, CONTENT_TEXT, xasprintf ("%s\n", optarg),
                       strlen (optarg) + 1);
          break;
        case STDIN_OPTION:
          set_content (&opt.content, CONTENT_STDIN, NULL, 0);
          break;
        case PID_OPTION:
        case PID_OF_OPTION:
          set_content (&opt.content, CONTENT_PID, NULL, 0);
          pid_of = c == PID_OPTION ? NULL : optarg;
          break;
        case 'w':
          opt.wait = true;
          wait_for = xparse_duration (optarg, "--wait");
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

  if (optind == argc)
    usage_error ("missing operand");

  if (check_fs)
    return fs_explain_operands (argc - optind, argv + optind);
  /* Every operand is checked before any FILE is created.  */
  for (int i = optind; i < argc; i++)
    check_operand (argv[i]);
  if (opt.content.kind == CONTENT_PID)
    {
      pid_t pid = pid_of ? parse_pid (pid_of) : getppid ();
      if (kill (pid, 0) != 0 && errno == ESRCH)
        error (EXIT_SYSERR, ESRCH, "cannot record process %ld",
               (long) pid);
      opt.content.text = pid_content (pid);
      opt.content.text_len = strlen (opt.content.text);
    }

  /* With -m the mode is exact, as with mkdir -m: no umask applies.  */
  if (opt.explicit_mode)
    umask (0);
  opt.deadline = deadline_after (wait_for);

  int status = EXIT_DONE;
  for (int i = optind; i < argc; i++)
    {
      int file_status = excl_create (argv[i], &opt);
      if (file_status > status)
        status = file_status;
    }
  return status;
}

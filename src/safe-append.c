/* safe-append -- append records to a shared file, never tearing one.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

/* Every record reaches FILE in exactly one write(2) on an O_APPEND
   descriptor.  Local filesystems perform such a write as one unit with
   respect to the other writers of the file, so records of concurrent
   writers follow each other in some order but never mix.  Several
   complete records may share a write; a record is never split across
   writes, and a write that comes back short is never retried (the rest
   of a record written later would land after other writers' records).

   Standard input is read in big blocks, and whatever complete records
   a read brings are written at once: a slow producer's lines appear as
   they come, and a fast one costs about what cat(1) costs -- one read
   and one write per block, with no copying unless records get
   prefixes.  */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "fsclass.h"

#include "error.h"
#include "full-write.h"
#include "minmax.h"
#include "safe-read.h"
#include "strftime.h"
#include "timespec.h"
#include "xalloc.h"
#include "xstrtol.h"

#define PROGRAM_NAME "safe-append"

/* Linux performs at most this many bytes in one write(2) (MAX_RW_COUNT);
   a longer request comes back short, so no record may be longer.  */
#define MAX_WRITE_SIZE ((size_t) 0x7ffff000)

/* Standard input is read in blocks of this size; the buffer grows when
   one record is longer.  */
enum { READ_SIZE = 256 * 1024 };

/* The first size of the buffer where records are put together with
   their prefixes; it grows to fit the longest record.  */
enum { STAGE_SIZE = 256 * 1024 };

/* Room for one formatted timestamp.  */
enum { STAMP_MAX = 1024 };

#define DEFAULT_MAX_RECORD ((size_t) 1024 * 1024)
#define DEFAULT_STAMP_FORMAT "%Y-%m-%dT%H:%M:%S.%6N%:z"

struct options
{
  bool explicit_mode;
  mode_t mode;
  bool no_create;
  char terminator;          /* '\n', or '\0' with -z */
  bool whole;               /* all of standard input is one record */
  char const *stamp_format; /* NULL without --timestamp */
  char const *tag;          /* NULL without --prefix */
  size_t max_record;
  bool tee;
  bool sync;
  bool quiet;
  bool force;
};

/* An open FILE and the records going into it.  */
struct appender
{
  char const *file;         /* FILE as given, for messages */
  int fd;
  bool fifo;                /* writes of at most PIPE_BUF are atomic */
  rlim_t size_limit;        /* RLIMIT_FSIZE for a regular file, else
                               RLIM_INFINITY */
  bool sync;
  bool tee;

  char terminator;
  bool whole;               /* the data is one record, whatever it holds */
  size_t max_record;        /* the most bytes one record may take in
                               FILE, prefixes and terminator included */
  bool limited_by_pipe_buf; /* max_record is PIPE_BUF, not --max-record */
  uintmax_t appended;       /* records appended so far */

  /* Prefixes: the time the records were read, then the tag, each
     followed by a space.  HEAD holds them formatted for HEAD_TIME.  */
  char const *stamp_format;
  timezone_t tz;
  char const *tag;
  size_t tag_len;
  struct timespec read_time;
  struct timespec head_time;
  char *head;
  size_t head_len;

  /* With prefixes, records are put together here for one write.  */
  char *stage;
  size_t stage_size;
};

enum
{
  NO_CREATE_OPTION = CHAR_MAX + 1,
  WHOLE_OPTION,
  PREFIX_OPTION,
  MAX_RECORD_OPTION,
  TEE_OPTION,
  FORCE_OPTION,
  CHECK_FS_OPTION
};

static struct option const long_options[] =
{
  {"mode", required_argument, NULL, 'm'},
  {"no-create", no_argument, NULL, NO_CREATE_OPTION},
  {"null", no_argument, NULL, 'z'},
  {"whole", no_argument, NULL, WHOLE_OPTION},
  {"timestamp", optional_argument, NULL, 't'},
  {"prefix", required_argument, NULL, PREFIX_OPTION},
  {"max-record", required_argument, NULL, MAX_RECORD_OPTION},
  {"tee", no_argument, NULL, TEE_OPTION},
  {"sync", no_argument, NULL, 'S'},
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
Usage: %s [OPTION]... FILE TEXT...\n\
  or:  %s [OPTION]... FILE\n", program_name, program_name);
  fputs ("\
Append records to FILE so that concurrent writers never interleave inside\n\
a record: each record goes into FILE with exactly one write(2) on an\n\
O_APPEND descriptor.  In the first form, append the TEXTs joined by spaces\n\
and a newline, as one record.  In the second, read records from standard\n\
input -- lines by default -- and append each complete record as soon as\n\
it has been read; several records may share a write, a record is never\n\
split across writes.  A last record without its terminator is completed\n\
with one.  FILE is created if absent, with mode a=rw minus the umask.\n\
\n\
Mandatory arguments to long options are mandatory for short options too.\n\
  -z, --null            records end with a NUL byte, not a newline\n\
      --whole           all of standard input is one record\n\
  -t, --timestamp[=FORMAT]  begin each record with the time it was read and\n\
                          a space; FORMAT as in date(1), by default RFC 3339\n\
                          with microseconds (%Y-%m-%dT%H:%M:%S.%6N%:z)\n\
      --prefix=TEXT     begin each record (after the time) with TEXT and a\n\
                          space\n\
      --max-record=SIZE  refuse a record longer than SIZE bytes, prefixes\n\
                          and terminator included (default 1M); SIZE may\n\
                          end in K, M or G (powers of 1024)\n\
      --tee             copy the records to standard output as well\n\
  -m, --mode=MODE       create FILE with this mode (as in chmod), not\n\
                          a=rw - umask\n\
      --no-create       fail if FILE does not exist\n\
  -S, --sync            fdatasync FILE after each write, so every record\n\
                          reported appended is on disk\n\
  -q, --quiet           print no filesystem warning\n\
      --force           append even on a filesystem where appends from\n\
                          other hosts can interleave (after a warning)\n\
      --check-fs        print what FILE's filesystem guarantees, and exit\n\
", stdout);
  fputs (HELP_OPTION_DESCRIPTION, stdout);
  fputs (VERSION_OPTION_DESCRIPTION, stdout);
  fputs ("\
\n\
A record longer than the maximum is an error, and nothing of it is written.\n\
When FILE is a FIFO, a record and each write are at most PIPE_BUF (4096)\n\
bytes, the most a pipe keeps whole.  safe-append stops at the first record\n\
it cannot append -- too long, past the file size limit (ulimit -f), disk\n\
full, a write error, or a short write -- and names it: the records before\n\
it are in FILE, none after it.  A write that comes back short is never\n\
retried; only a full disk or an I/O error can leave part of a record.\n\
Signals (except SIGKILL) are held during a write, so they never cut one.\n\
\n\
FILE is opened without following a symbolic link, unless the link is\n\
trustworthy: outside a sticky directory such as /tmp, or owned by the\n\
caller, by root, or by the directory's owner.  On NFS, SMB, FUSE and other\n\
filesystems where appends from other hosts can interleave, safe-append\n\
refuses unless --force is given.\n\
", stdout);
  emit_exit_status_help (NULL);
  fputs ("\
\n\
Examples:\n\
  safe-append /var/log/deploy.log \"$(date -Is) deployed $REV\"\n\
  backup.sh 2>&1 | safe-append -t --prefix=backup /var/log/cron.log\n\
  make 2>&1 | safe-append --tee build.log    # a tee -a that never tears\n\
  find . -print0 | safe-append -z list       # NUL-terminated records\n\
", stdout);
  emit_help_footer ();
  exit (status);
}

/* Hold every signal that can be held while the current write runs.  A
   signal whose action is to kill the process stops a write to a regular
   file part-way and leaves part of a record in it; held, it is
   delivered once the write is complete.  */
static ssize_t
write_unbroken (struct appender const *app, char const *buf, size_t len)
{
  /* A FIFO write of at most PIPE_BUF bytes transfers all or nothing,
     and can block for long: leave it interruptible.  */
  if (app->fifo)
    return write (app->fd, buf, len);

  sigset_t all, old;
  sigfillset (&all);
  sigprocmask (SIG_BLOCK, &all, &old);
  ssize_t written = write (app->fd, buf, len);
  int saved_errno = errno;
  sigprocmask (SIG_SETMASK, &old, NULL);
  errno = saved_errno;
  return written;
}

/* Count the terminators in DATA: how many records a write carries, so
   that a failure can name its record.  This runs over every byte
   appended -- with short lines, a memchr per record costs a sixth of
   the whole run -- so it compares 16 bytes at a time: each equal byte
   subtracts -1 from its lane, and the lanes are summed before they
   can overflow.  */
static size_t
count_records (char const *data, size_t len, char terminator)
{
  size_t count = 0;
#if defined __GNUC__ && 4 < __GNUC__ + (7 <= __GNUC_MINOR__)
  typedef unsigned char bytes16 __attribute__ ((vector_size (16)));
  bytes16 wanted;
  memset (&wanted, terminator, sizeof wanted);
  while (len >= sizeof (bytes16))
    {
      size_t rounds = MIN (len / sizeof (bytes16), UCHAR_MAX);
      bytes16 lanes = { 0 };
      for (size_t i = 0; i < rounds; i++)
        {
          bytes16 chunk;
          memcpy (&chunk, data, sizeof chunk);
          lanes -= (bytes16) (chunk == wanted);
          data += sizeof chunk;
        }
      len -= rounds * sizeof (bytes16);
      for (size_t i = 0; i < sizeof (bytes16); i++)
        count += lanes[i];
    }
#endif
  for (size_t i = 0; i < len; i++)
    count += data[i] == terminator;
  return count;
}

/* The end of the record that starts at P, in data ending at END that
   holds only complete records.  */
static char const *
record_end (struct appender const *app, char const *p, char const *end)
{
  if (app->whole)
    return end;
  return (char const *) memchr (p, app->terminator, end - p) + 1;
}

/* The record that cannot be appended is too long.  */
static void
report_too_long (struct appender const *app, uintmax_t number)
{
  if (app->limited_by_pipe_buf)
    error (0, 0, "cannot append record %ju to %s: it is longer than %zu "
           "bytes, the most a FIFO keeps whole (PIPE_BUF); nothing of it "
           "was written", number, quoteaf (app->file), app->max_record);
  else
    error (0, 0, "cannot append record %ju to %s: it is longer than %zu "
           "bytes (--max-record); nothing of it was written",
           number, quoteaf (app->file), app->max_record);
}

/* Why a write to FILE came back short, if it can be told: 0 if not.  */
static int
short_write_cause (struct appender const *app)
{
  struct stat st;
  if (app->size_limit != RLIM_INFINITY && fstat (app->fd, &st) == 0
      && (uintmax_t) st.st_size >= app->size_limit)
    return EFBIG;
  struct statfs sfs;
  if (fstatfs (app->fd, &sfs) == 0 && sfs.f_bavail == 0)
    return ENOSPC;
  return 0;
}

/* The write of OUT_LEN bytes of records failed, or wrote only WRITTEN
   bytes.  SRC holds the same records as read (SRC_LEN bytes, without
   prefixes), the first of them being record FIRST.  Name the record
   that did not make it.  */
static void
report_failed_write (struct appender const *app, ssize_t written,
                     size_t out_len, char const *src, size_t src_len,
                     uintmax_t first)
{
  if (written < 0)
    {
      error (0, errno, "cannot append record %ju to %s", first,
             quoteaf (app->file));
      return;
    }

  /* Walk the records to the one the short write cut.  */
  char const *end = src + src_len;
  char const *p = src;
  size_t done = 0;
  uintmax_t number = first;
  size_t record_len = out_len;
  while (p < end)
    {
      char const *next = record_end (app, p, end);
      record_len = app->head_len + (next - p);
      if (done + record_len > (size_t) written)
        break;
      done += record_len;
      number++;
      p = next;
    }
  error (0, short_write_cause (app),
         "cannot append record %ju to %s: only %zu of its %zu bytes were "
         "written", number, quoteaf (app->file), (size_t) written - done,
         record_len);
}

/* Append NRECORDS complete records, OUT (OUT_LEN bytes, as they go into
   FILE), with one write(2); SRC and SRC_LEN are the same records as
   read.  Then sync FILE and copy the records to standard output if
   asked.  */
static bool
put_records (struct appender *app, char const *out, size_t out_len,
             char const *src, size_t src_len, size_t nrecords)
{
  uintmax_t first = app->appended + 1;
  ssize_t written = write_unbroken (app, out, out_len);
  if (written < 0 || (size_t) written != out_len)
    {
      report_failed_write (app, written, out_len, src, src_len, first);
      return false;
    }
  app->appended += nrecords;

  if (app->sync && fdatasync (app->fd) != 0)
    {
      error (0, errno, "cannot sync %s after record %ju",
             quoteaf (app->file), app->appended);
      return false;
    }
  if (app->tee && full_write (STDOUT_FILENO, out, out_len) != out_len)
    {
      error (0, errno, "cannot copy record %ju to standard output", first);
      return false;
    }
  return true;
}

/* Make HEAD the prefixes for records read at READ_TIME.  */
static bool
update_head (struct appender *app)
{
  if (!app->stamp_format || timespec_cmp (app->read_time, app->head_time) == 0)
    return true;

  struct tm tm;
  if (!localtime_rz (app->tz, &app->read_time.tv_sec, &tm))
    {
      error (0, errno, "cannot convert the time of a record");
      return false;
    }
  errno = 0;
  size_t len = nstrftime (app->head, STAMP_MAX, app->stamp_format, &tm,
                          app->tz, app->read_time.tv_nsec);
  if (len == 0 && errno != 0)
    {
      error (0, errno, "cannot format the time of a record");
      return false;
    }
  app->head[len++] = ' ';
  if (app->tag)
    {
      memcpy (app->head + len, app->tag, app->tag_len);
      len += app->tag_len;
      app->head[len++] = ' ';
    }
  app->head_len = len;
  app->head_time = app->read_time;
  return true;
}

/* How many bytes FILE may still grow under RLIMIT_FSIZE.  */
static bool
size_room (struct appender const *app, size_t *room)
{
  *room = SIZE_MAX;
  if (app->size_limit == RLIM_INFINITY)
    return true;
  struct stat st;
  if (fstat (app->fd, &st) != 0)
    {
      error (0, errno, "cannot stat %s", quoteaf (app->file));
      return false;
    }
  uintmax_t size = st.st_size;
  *room = (size < app->size_limit
           ? MIN (app->size_limit - size, (uintmax_t) SIZE_MAX) : 0);
  return true;
}

/* Append the complete records in DATA (LEN bytes: records that each end
   with the terminator, or, with --whole, one record), each whole in one
   write(2), in as few writes as possible.  Return false after reporting
   the first record that could not be appended; the records before it
   are in FILE.  */
static bool
append_records (struct appender *app, char const *data, size_t len)
{
  size_t room;
  if (!update_head (app) || !size_room (app, &room))
    return false;
  size_t write_limit = app->fifo ? PIPE_BUF : MAX_WRITE_SIZE;

  /* The common case: no prefixes, and no record or write limit that
     the records can reach.  Write them as they are.  */
  if (app->head_len == 0 && len <= app->max_record && len <= room
      && len <= write_limit)
    return put_records (app, data, len, data, len,
                        (app->whole
                         ? 1 : count_records (data, len, app->terminator)));

  /* Otherwise go record by record, gathering as many as one write may
     take: in DATA itself, or with prefixes in the stage buffer.  */
  bool staged = app->head_len > 0;
  char const *end = data + len;
  char const *batch = data;   /* the first record not yet written */
  size_t batch_len = 0;       /* the bytes its write will take */
  size_t batch_records = 0;
  for (char const *p = data; p < end; )
    {
      char const *next = record_end (app, p, end);
      size_t out_len = app->head_len + (next - p);
      uintmax_t number = app->appended + batch_records + 1;

      bool too_long = out_len > app->max_record;
      size_t limit = MIN (room, write_limit);
      if (staged)
        limit = MIN (limit, app->stage_size);
      if (too_long || batch_len + out_len > limit)
        {
          /* Write what has been gathered, and start again with this
             record, which then has the whole write to itself.  */
          if (batch_records > 0)
            {
              if (!put_records (app, staged ? app->stage : batch, batch_len,
                                batch, p - batch, batch_records))
                return false;
              room -= batch_len;
              batch = p;
              batch_len = 0;
              batch_records = 0;
            }
          if (too_long)
            {
              report_too_long (app, number);
              return false;
            }
          if (out_len > room)
            {
              error (0, EFBIG, "cannot append record %ju to %s: it would go "
                     "past the file size limit of %ju bytes (ulimit -f)",
                     number, quoteaf (app->file),
                     (uintmax_t) app->size_limit);
              return false;
            }
          if (staged && out_len > app->stage_size)
            {
              app->stage_size = out_len;
              app->stage = xrealloc (app->stage, app->stage_size);
            }
        }

      if (staged)
        {
          memcpy (app->stage + batch_len, app->head, app->head_len);
          memcpy (app->stage + batch_len + app->head_len, p, next - p);
        }
      batch_len += out_len;
      batch_records++;
      p = next;
    }

  return (batch_records == 0
          || put_records (app, staged ? app->stage : batch, batch_len,
                          batch, end - batch, batch_records));
}

/* The record begun at the end of the input buffer is HELD bytes long so
   far.  If it can no longer fit, say so now: it will not be written.  */
static bool
partial_record_fits (struct appender *app, size_t held)
{
  if (!update_head (app))
    return false;
  /* A line still lacks its terminator; --whole input may have it.  */
  size_t at_least = app->head_len + held + !app->whole;
  if (at_least <= app->max_record)
    return true;
  report_too_long (app, app->appended + 1);
  return false;
}

/* Append the records read from IN_FD.  */
static bool
append_stream (struct appender *app, int in_fd)
{
  size_t size = READ_SIZE;
  char *buf = xmalloc (size);
  size_t held = 0;      /* bytes at BUF of a record not yet complete */
  bool ok = true;

  /* A pipe holds 64 KiB by default, so each read would bring at most
     that.  A bigger pipe lets a fast producer get further ahead, and
     each read and write carry more; a slow producer's records still
     come as soon as they are written.  Best effort: the system may
     refuse.  */
  int pipe_size = fcntl (in_fd, F_GETPIPE_SZ);
  if (0 < pipe_size && pipe_size < READ_SIZE)
    fcntl (in_fd, F_SETPIPE_SZ, READ_SIZE);

  for (;;)
    {
      if (held == size)
        {
          /* One record fills the buffer.  It is shorter than the
             maximum (partial_record_fits), so growing up to one byte
             more than the maximum leaves room for the rest.  */
          size = MIN (size * 2, app->max_record + 1);
          buf = xrealloc (buf, size);
        }
      size_t n = safe_read (in_fd, buf + held, size - held);
      if (n == SAFE_READ_ERROR)
        {
          error (0, errno, "error reading standard input");
          ok = false;
          break;
        }
      if (n == 0)
        break;
      if (app->stamp_format)
        app->read_time = current_timespec ();

      size_t old_held = held;
      held += n;
      if (!app->whole)
        {
          /* Write every record this read completed, at once.  */
          char *last = memrchr (buf + old_held, app->terminator, n);
          if (last)
            {
              size_t complete = last + 1 - buf;
              if (!append_records (app, buf, complete))
                {
                  ok = false;
                  break;
                }
              held -= complete;
              memmove (buf, last + 1, held);
            }
        }
      if (held > 0 && !partial_record_fits (app, held))
        {
          ok = false;
          break;
        }
    }

  if (ok && held > 0)
    {
      /* End of input: complete the last record.  */
      if (!app->whole || buf[held - 1] != app->terminator)
        {
          if (held == size)
            buf = xrealloc (buf, ++size);
          buf[held++] = app->terminator;
        }
      ok = append_records (app, buf, held);
    }
  free (buf);
  return ok;
}

/* Append the record made of the N TEXTS.  */
static bool
append_text (struct appender *app, int n, char **texts)
{
  size_t len = 0;
  for (int i = 0; i < n; i++)
    len += strlen (texts[i]) + 1;
  char *record = xmalloc (len);
  char *p = record;
  for (int i = 0; i < n; i++)
    {
      p = stpcpy (p, texts[i]);
      *p++ = i + 1 < n ? ' ' : app->terminator;
    }
  app->whole = true;
  app->read_time = current_timespec ();
  bool ok = append_records (app, record, len);
  free (record);
  return ok;
}

/* May we follow the symbolic link described by LINK_ST in DIRFD?  The
   kernel's protected_symlinks rule, applied whether or not the system
   enables it, and to every sticky directory: anyone who can write to a
   directory like /tmp can plant a link there, so follow it only if it
   belongs to us, to root, or to the directory's owner (who can replace
   any name in it anyway).  */
static bool
symlink_is_trusted (int dirfd, struct stat const *link_st)
{
  struct stat dir_st;
  if (fstat (dirfd, &dir_st) != 0 || !(dir_st.st_mode & S_ISVTX))
    return true;
  uid_t owner = link_st->st_uid;
  return owner == geteuid () || owner == 0 || owner == dir_st.st_uid;
}

/* Open FILE (PARENT's BASE) for appending, and check that it and its
   filesystem can keep the promise.  Set *CREATED if FILE did not exist
   before.  Return the descriptor, or -1 after reporting why not.  */
static int
open_target (struct parent_dir const *parent, char const *file,
             struct options const *opt, bool *created)
{
  int flags = (O_WRONLY | O_APPEND | O_CLOEXEC
               | (opt->no_create ? 0 : O_CREAT));
  int fd = -1;
  bool followed_link = false;
  *created = false;

  /* A symbolic link is decided on before opening; if one appears at
     FILE between the look and the open, O_NOFOLLOW catches it and we
     look again.  */
  for (int attempt = 0; fd < 0; attempt++)
    {
      struct stat st;
      bool exists = fstatat (parent->fd, parent->base, &st,
                             AT_SYMLINK_NOFOLLOW) == 0;
      if (!exists && errno != ENOENT)
        {
          error (0, errno, "cannot append to %s", quoteaf (file));
          return -1;
        }

      if (exists && S_ISLNK (st.st_mode))
        {
          if (!symlink_is_trusted (parent->fd, &st))
            {
              error (0, 0, "not following symbolic link %s: it is in a "
                     "sticky directory and belongs to another user "
                     "(uid %ju)", quoteaf (file), (uintmax_t) st.st_uid);
              return -1;
            }
          fd = openat (parent->fd, parent->base, flags, opt->mode);
          if (fd < 0)
            {
              error (0, errno, "cannot append to %s", quoteaf (file));
              return -1;
            }
          followed_link = true;
          break;
        }

      /* The file's filesystem, judged before the file is made.  A FIFO
         is a pipe in the kernel, whatever filesystem names it.  */
      if (attempt == 0 && !(exists && S_ISFIFO (st.st_mode))
          && !fs_permits (file, parent->fd, parent->base, FS_APPEND,
                          opt->force, opt->quiet))
        return -1;

      fd = openat (parent->fd, parent->base, flags | O_NOFOLLOW, opt->mode);
      if (fd >= 0)
        *created = !exists;
      else if (errno != ELOOP || attempt > 0)
        {
          error (0, errno, "cannot append to %s", quoteaf (file));
          return -1;
        }
    }

  struct stat st;
  if (fstat (fd, &st) != 0)
    {
      error (0, errno, "cannot append to %s", quoteaf (file));
      close (fd);
      return -1;
    }
  if (!S_ISREG (st.st_mode) && !S_ISFIFO (st.st_mode))
    {
      error (0, 0, "cannot append to %s: not a regular file or a FIFO",
             quoteaf (file));
      close (fd);
      return -1;
    }
  /* Through a link, the file can be on another filesystem: judge the
     one it is on.  */
  if (followed_link && S_ISREG (st.st_mode)
      && !fs_permits (file, fd, NULL, FS_APPEND, opt->force, opt->quiet))
    {
      close (fd);
      return -1;
    }
  return fd;
}

static void
appender_init (struct appender *app, char const *file, int fd,
               struct options const *opt)
{
  memset (app, 0, sizeof *app);
  app->file = file;
  app->fd = fd;
  struct stat st;
  app->fifo = fstat (fd, &st) == 0 && S_ISFIFO (st.st_mode);
  app->size_limit = RLIM_INFINITY;
  struct rlimit limit;
  if (!app->fifo && getrlimit (RLIMIT_FSIZE, &limit) == 0)
    app->size_limit = limit.rlim_cur;
  app->sync = opt->sync && !app->fifo;
  app->tee = opt->tee;
  app->terminator = opt->terminator;
  app->whole = opt->whole;
  app->max_record = MIN (opt->max_record, MAX_WRITE_SIZE);
  if (app->fifo && PIPE_BUF < app->max_record)
    {
      app->max_record = PIPE_BUF;
      app->limited_by_pipe_buf = true;
    }

  app->stamp_format = opt->stamp_format;
  app->tag = opt->tag;
  app->tag_len = opt->tag ? strlen (opt->tag) : 0;
  if (app->stamp_format || app->tag)
    {
      app->head = xmalloc (STAMP_MAX + app->tag_len + 2);
      app->stage_size = MAX (STAGE_SIZE, app->max_record);
      app->stage_size = MIN (app->stage_size, 4 * STAGE_SIZE);
      app->stage = xmalloc (app->stage_size);
    }
  if (app->stamp_format)
    {
      app->tz = tzalloc (getenv ("TZ"));
      app->head_time = (struct timespec) { -1, -1 };
    }
  else if (app->tag)
    {
      memcpy (app->head, app->tag, app->tag_len);
      app->head[app->tag_len] = ' ';
      app->head_len = app->tag_len + 1;
    }
}

static void
appender_free (struct appender *app)
{
  free (app->head);
  free (app->stage);
  if (app->tz)
    tzfree (app->tz);
}

/* Standard input is FILE itself: appending would never end.  */
static bool
input_is_target (int fd)
{
  struct stat in_st, out_st;
  return (fstat (STDIN_FILENO, &in_st) == 0 && fstat (fd, &out_st) == 0
          && S_ISREG (in_st.st_mode) && in_st.st_dev == out_st.st_dev
          && in_st.st_ino == out_st.st_ino);
}

static int
safe_append (char const *file, int text_count, char **texts,
             struct options const *opt)
{
  struct parent_dir parent;
  if (!open_parent (file, &parent))
    {
      error (0, errno, "cannot append to %s", quoteaf (file));
      return EXIT_SYSERR;
    }

  bool created;
  int fd = open_target (&parent, file, opt, &created);
  bool ok = fd >= 0;
  if (ok && created && opt->sync && fsync_directory (parent.fd) != 0)
    {
      error (0, errno, "cannot sync the directory of %s", quoteaf (file));
      ok = false;
    }
  if (ok && text_count == 0 && input_is_target (fd))
    {
      error (0, 0, "%s: input file is output file", quotef (file));
      ok = false;
    }
  close_parent (&parent);

  if (ok)
    {
      struct appender app;
      appender_init (&app, file, fd, opt);
      ok = (text_count > 0
            ? append_text (&app, text_count, texts)
            : append_stream (&app, STDIN_FILENO));
      appender_free (&app);
    }
  if (fd >= 0 && close (fd) != 0 && ok)
    {
      /* close reports late write errors (NFS, quotas).  */
      error (0, errno, "cannot append to %s", quoteaf (file));
      ok = false;
    }
  return ok ? EXIT_DONE : EXIT_SYSERR;
}

static size_t
parse_size (char const *arg)
{
  uintmax_t size;
  if (xstrtoumax (arg, NULL, 10, &size, "KMG") != LONGINT_OK
      || size == 0 || size > MAX_WRITE_SIZE)
    usage_error ("invalid record size %s (use 1 to %zu bytes, with an "
                 "optional suffix K, M or G)", quote (arg), MAX_WRITE_SIZE);
  return size;
}

/* Check FORMAT by formatting the current time with it.  */
static void
check_stamp_format (char const *format)
{
  if (!*format)
    usage_error ("empty timestamp format");
  char stamp[STAMP_MAX];
  struct timespec now = current_timespec ();
  struct tm tm;
  timezone_t tz = tzalloc (getenv ("TZ"));
  errno = 0;
  if (localtime_rz (tz, &now.tv_sec, &tm)
      && nstrftime (stamp, sizeof stamp, format, &tm, tz, now.tv_nsec) == 0
      && errno == ERANGE)
    usage_error ("timestamp format %s gives more than %d bytes",
                 quote (format), STAMP_MAX - 1);
  tzfree (tz);
}

int
main (int argc, char **argv)
{
  struct options opt = {
    .mode = S_IRUSR | S_IWUSR | S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH,
    .terminator = '\n',
    .max_record = DEFAULT_MAX_RECORD,
  };
  bool check_fs = false;

  tool_init (argc, argv);

  int c;
  while ((c = getopt_long (argc, argv, "m:zt::Sq", long_options, NULL))
         != -1)
    {
      switch (c)
        {
        case 'm':
          opt.mode = xparse_mode (optarg);
          opt.explicit_mode = true;
          break;
        case NO_CREATE_OPTION:
          opt.no_create = true;
          break;
        case 'z':
          opt.terminator = '\0';
          break;
        case WHOLE_OPTION:
          opt.whole = true;
          break;
        case 't':
          opt.stamp_format = optarg ? optarg : DEFAULT_STAMP_FORMAT;
          check_stamp_format (opt.stamp_format);
          break;
        case PREFIX_OPTION:
          opt.tag = optarg;
          break;
        case MAX_RECORD_OPTION:
          opt.max_record = parse_size (optarg);
          break;
        case TEE_OPTION:
          opt.tee = true;
          break;
        case 'S':
          opt.sync = true;
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
  int file_index = optind++;

  if (check_fs)
    {
      if (optind < argc)
        usage_error ("extra operand %s", quote (argv[optind]));
      return fs_explain_operands (1, argv + file_index);
    }
  check_operand (argv[file_index]);
  if (opt.whole && optind < argc)
    usage_error ("--whole reads standard input; it takes no TEXT");

  /* With -m the mode is exact, as with mkdir -m: no umask applies.  */
  if (opt.explicit_mode)
    umask (0);

  /* A failed write must come back as an error we can report with the
     record it concerns, not kill us: EPIPE from a FIFO or --tee
     output, EFBIG past the file size limit.  */
  signal (SIGPIPE, SIG_IGN);
  signal (SIGXFSZ, SIG_IGN);

  return safe_append (argv[file_index], argc - optind, argv + optind, &opt);
}

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
#include <locale.h>
#include <poll.h>
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
#include "procfacts.h"

#include "areadlink.h"
#include "dirname.h"
#include "error.h"
#include "filenamecat.h"
#include "full-write.h"
#include "intprops.h"
#include "inttostr.h"
#include "minmax.h"
#include "safe-read.h"
#include "same-inode.h"
#include "strftime.h"
#include "timespec.h"
#include "xalloc.h"
#include "xvasprintf.h"

#define PROGRAM_NAME "safe-append"

/* Linux performs at most this many bytes in one write(2) (MAX_RW_COUNT);
   a longer request comes back short, so no record may be longer.  */
#define MAX_WRITE_SIZE ((size_t) 0x7ffff000)

/* Standard input is read in blocks of this size; the buffer grows when
   one record is longer.  */
enum { READ_SIZE = 256 * 1024 };

/* While safe-append copies a regular file, whose reads never wait for a
   producer, a signal that came during a write waits until the writes
   held together carry this many bytes (a few milliseconds' work).  */
enum { HOLD_SPAN = 4 * 1024 * 1024 };

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
  char const *content;      /* the record of -c, or NULL: standard input */
  size_t max_record;
  bool tee;
  bool sync;
  bool quiet;
  bool force;
};

/* The processes a look-up of FILE's name passed through (trace_path):
   a descriptor (O_PATH) of each process's directory in /proc
   (/proc/PID, /proc/PID/task/TID) it looked in, all of them (one not
   held would be followed once its pid was given to another process),
   and whether a part of FILE was missing from a directory of /proc.
   A directory held open stays its process's: it tells when that
   process has ended (process_dir_ended), even if its pid has been
   given to a process started in the same clock tick, which the start
   time in /proc/PID/stat cannot tell apart.  */
struct proc_trail
{
  size_t n;
  size_t alloc;
  int *dirfd;
  bool missing_in_proc;
};

/* An open FILE and the records going into it.  */
struct appender
{
  char const *file;         /* FILE as given, for messages */
  struct options const *opt;
  int fd;
  struct stat st;           /* FD's status when it was opened */
  struct stat const *in_st; /* standard input's status, when the records
                               come from it; else NULL */
  bool fifo;                /* writes of at most PIPE_BUF are atomic */
  bool follow_name;         /* reopen FILE by name after a rotation */
  bool by_symlink;          /* FILE's name was a symbolic link when the
                               file was opened */
  bool name_was_absent;     /* FILE's name named no file at the last look */
  struct proc_trail trail;  /* the processes FILE's name led through
                               when it was opened */
  struct timespec next_look; /* when to look at FILE's name again */
  rlim_t size_limit;        /* RLIMIT_FSIZE for a regular file, else
                               RLIM_INFINITY */
  bool sync;
  bool tee;                 /* still copying to standard output */
  uintmax_t tee_stopped_at; /* the first record not copied, or 0 */
  int tee_errno;            /* why the copy stopped */

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

  /* Signals are held while a write runs (write_unbroken).  With
     HOLD_ACROSS they stay held from one write to the next, until the
     writes held together carry HOLD_SPAN bytes.  */
  bool hold_across;
  bool holding;             /* signals are held now */
  sigset_t unheld_mask;     /* the mask to put back */
  size_t held_bytes;        /* bytes written since they were held */
  size_t write_src_len;     /* bytes of standard input the current write
                               carries, as read */
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
  {"content", required_argument, NULL, 'c'},
  {"no-create", no_argument, NULL, NO_CREATE_OPTION},
  {"null", no_argument, NULL, 'z'},
  {"whole", no_argument, NULL, WHOLE_OPTION},
  {"timestamp", required_argument, NULL, 't'},
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
Usage: %s [OPTION]... FILE\n\
  or:  %s [OPTION]... -c TEXT FILE\n", program_name, program_name);
  fputs ("\
Append records to FILE so that concurrent writers never interleave inside\n\
a record: each record goes into FILE with exactly one write(2) on an\n\
O_APPEND descriptor.  In the first form, read records from standard input\n\
-- lines by default -- and append each complete record as soon as it has\n\
been read; several records may share a write, a record is never split\n\
across writes.  A last record without its terminator is completed with\n\
one.  In the second form, append TEXT and a newline as one record, and do\n\
not read standard input.  FILE is the only operand: TEXT is never taken\n\
from the command line without -c.  FILE is created if absent, with mode\n\
a=rw minus the umask.\n\
\n\
Mandatory arguments to long options are mandatory for short options too.\n\
  -c, --content=TEXT    append TEXT and a newline (NUL with -z) as one\n\
                          record, even if TEXT holds newlines\n\
  -z, --null            records end with a NUL byte, not a newline\n\
      --whole           all of standard input is one record (none if it\n\
                          is empty; -c '' appends an empty record)\n\
  -t, --timestamp=FORMAT  begin each record with the time it was read and a\n\
                          space; FORMAT as in date(1), or 'rfc3339' for RFC\n\
                          3339 with microseconds (%Y-%m-%dT%H:%M:%S.%6N%:z);\n\
                          a FORMAT with no % conversion, or that gives no\n\
                          text, is refused\n\
      --prefix=TEXT     begin each record (after the time) with TEXT and a\n\
                          space; an empty TEXT adds nothing\n\
      --max-record=SIZE  refuse a record longer than SIZE bytes, prefixes\n\
                          and terminator included (default 1M, at most\n\
                          2147479552, the most one write(2) takes); SIZE\n\
                          may end in K, M or G (powers of 1024)\n\
      --tee             copy the records to standard output as well; if\n\
                          that fails, go on appending to FILE (as tee -p):\n\
                          a closed pipe is noted at the end, status 0;\n\
                          another error is reported at once, status 3\n\
  -m, --mode=MODE       create FILE with this mode: MODE as in chmod,\n\
                          applied to a=rw (-m go-w gives 0644, -m a+x\n\
                          0777), the umask not subtracted; without -m,\n\
                          a=rw - umask\n\
      --no-create       fail if FILE does not exist\n\
  -S, --sync            fdatasync FILE after each write, so every record\n\
                          reported appended is on disk (a FIFO or pipe has\n\
                          none: nothing to sync)\n\
  -q, --quiet           print no filesystem warning, no note that the\n\
                          --tee copy stopped at a closed pipe, and no\n\
                          warning of input dropped by a signal\n\
      --force           append even on a filesystem where appends from\n\
                          other hosts can interleave (after a warning)\n\
      --check-fs        print what FILE's filesystem guarantees, and exit;\n\
                          for a symbolic link that would be followed, that\n\
                          of the file it leads to, which is named; for a\n\
                          FIFO or a pipe, that records up to PIPE_BUF are\n\
                          written whole\n\
", stdout);
  fputs (HELP_OPTION_DESCRIPTION, stdout);
  fputs (VERSION_OPTION_DESCRIPTION, stdout);
  fputs ("\
\n\
A record longer than the maximum is an error, and nothing of it is written.\n\
When FILE is a FIFO, a record and each write are at most PIPE_BUF (4096)\n\
bytes, the most a pipe keeps whole.  safe-append stops at the first record\n\
it cannot append -- too long, past the file size limit (ulimit -f), disk\n\
full, a write error, a short write, or a FILE that cannot be opened again\n\
after a rotation -- and names it: the records before it are in FILE, none\n\
after it.  A short write is never retried, and signals other than SIGKILL\n\
are held during a write.  A write cut at the file size limit because\n\
another writer took the last room first is undone: it ended exactly at\n\
the limit and FILE still ends there, so FILE is cut back to where the\n\
record began (give every writer of FILE the same limit; see the manual).\n\
Only a full disk, an I/O error or SIGKILL in the middle of a write can\n\
leave part of a record: FILE then ends with the first bytes of that\n\
record, without its terminator, and the next record appended follows them\n\
on the same line.  A reader never sees the bytes of two records mixed,\n\
and every record reported appended is whole.  A system crash can also\n\
lose the last records written and leave FILE ending inside a record or\n\
in zero bytes; with -S every record reported appended survives it (see\n\
the manual).  A signal that ends safe-append (SIGTERM, SIGINT and the\n\
like) drops the input read and not yet appended -- a record not yet\n\
complete (with --whole, all of it), and those that a write to a full FIFO\n\
waits to put there -- and a warning says so unless -q is given; FILE,\n\
created at the start as 'cat >> FILE' creates it, stays, empty perhaps.\n\
\n\
SIGHUP never stops safe-append.  While it streams into a regular file, it\n\
looks whether FILE's name still names the file it appends to -- before a\n\
write and while it waits for input, once a second and after a SIGHUP --\n\
and when FILE has been renamed away (log rotation) it goes on in the file\n\
FILE names now, creating it if need be: after a SIGHUP at once, otherwise\n\
at the following look, so that a rotator creating FILE itself is not in\n\
its way.  So every write that starts after safe-append handled a SIGHUP\n\
sent once the rotation was done, or more than a second after the rename\n\
(two if nobody re-created FILE), goes to the new FILE, however long the\n\
input was quiet; no record is lost or split by a rotation.  With\n\
--no-create, a FILE still absent then is an error, as at the start.  A\n\
FILE that leads through a link in /proc (/dev/stdout, /proc/PID/fd/N)\n\
names a descriptor, not a file: it is never reopened.  One that leads\n\
through a process's directory there (/proc/PID/cwd/log), itself or by\n\
a link elsewhere, is reopened while the process runs; once it is gone,\n\
the name names nothing, not even with its pid given to another process,\n\
and records go on into the file open.\n\
\n\
FILE is opened without following a symbolic link, unless the link is\n\
trustworthy: outside a sticky directory such as /tmp, or owned by the\n\
caller, by root, or by the directory's owner.  This is judged for the link\n\
FILE names and for each link it leads to.  In a sticky directory that\n\
others can write to, an existing file or FIFO is appended to only if it\n\
belongs to the caller or to the directory's owner (the kernel's\n\
protected_symlinks, protected_regular and protected_fifos rules, applied\n\
whatever the system's settings).  A link among the directories of FILE's\n\
path (app in /tmp/app/log), or of a link's target, is followed as the\n\
kernel follows it: only the kernel's own protected_symlinks setting\n\
applies to it.  A FIFO that no process is reading is an error, not a\n\
wait.  The filesystem is checked before FILE is created (also at the end\n\
of a symbolic link), and -S syncs the directory it was created in.  On\n\
NFS, SMB, FUSE and other filesystems where appends from other hosts can\n\
interleave, safe-append refuses unless --force is given.\n\
", stdout);
  emit_exit_status_help (NULL, false);
  fputs ("\
\n\
Examples:\n\
  safe-append -c \"$(date -Is) deployed $REV\" /var/log/deploy.log\n\
  backup.sh 2>&1 | safe-append -t rfc3339 --prefix=backup /var/log/cron.log\n\
  make 2>&1 | safe-append --tee build.log    # a tee -a that never tears\n\
  find . -print0 | safe-append -z list       # NUL-terminated records\n\
", stdout);
  emit_help_footer ();
  exit (status);
}

/* The bytes read from standard input and not yet appended: the first
   bytes of a record whose terminator has not come, and, while a write
   to a FIFO waits for room, the records of that write and those after
   it.  A signal that ends safe-append drops them, and says so
   (note_dropped_input).  At most the size of the input buffer, which
   grows to one byte more than the longest record, below 2^31: an int
   holds it.  */
static volatile sig_atomic_t unappended_bytes;

/* Let the signals held by write_unbroken through.  */
static void
let_signals_through (struct appender *app)
{
  if (app->holding)
    {
      app->holding = false;
      sigprocmask (SIG_SETMASK, &app->unheld_mask, NULL);
    }
}

/* Does standard error take a write at once?  Neither a full pipe nor
   a stopped terminal may keep a process told to end alive: a message
   written while a terminating signal waits is written only if this
   says yes.  A pipe that polls writable has room for PIPE_BUF bytes.
   Async-signal-safe.  */
static bool
stderr_takes_write_now (void)
{
  struct pollfd pfd = { .fd = STDERR_FILENO, .events = POLLOUT };
  return poll (&pfd, 1, 0) == 1 && (pfd.revents & POLLOUT);
}

/* A write of LEN bytes came back WRITTEN: if whole, the input it
   carried is appended.  Counted here, before the signals held during
   the write are let through, so that a signal they deliver does not
   warn of those bytes as dropped (note_dropped_input).  */
static void
count_appended (struct appender *app, ssize_t written, size_t len)
{
  if (0 <= written && (size_t) written == len)
    unappended_bytes -= app->write_src_len;
}

/* Hold every signal that can be held while the current write runs.  A
   signal whose action is to kill the process stops a write to a regular
   file part-way and leaves part of a record in it; held, it is
   delivered once the write is complete.  Holding and letting go cost a
   system call each, as much as a write of 256 KiB takes, so when
   APP->hold_across allows, the signals stay held over the next writes
   too, up to HOLD_SPAN bytes.  A write that comes back short keeps
   them held: put_records may have to remove the piece of a record it
   left (remove_cut_piece), and lets them through after that
   (make_way_for_report).  */
static ssize_t
write_unbroken (struct appender *app, char const *buf, size_t len)
{
  /* A FIFO write of at most PIPE_BUF bytes transfers all or nothing,
     and can block for long: leave it interruptible.  */
  if (app->fifo)
    {
      ssize_t written = write (app->fd, buf, len);
      count_appended (app, written, len);
      return written;
    }

  if (!app->holding)
    {
      sigset_t all;
      sigfillset (&all);
      sigprocmask (SIG_BLOCK, &all, &app->unheld_mask);
      app->holding = true;
      app->held_bytes = 0;
    }
  ssize_t written = write (app->fd, buf, len);
  int saved_errno = errno;
  count_appended (app, written, len);
  app->held_bytes += len;
  if (written < 0
      || ((size_t) written == len
          && (!app->hold_across || HOLD_SPAN <= app->held_bytes)))
    let_signals_through (app);
  errno = saved_errno;
  return written;
}

/* Count the terminators in DATA: how many records a write carries, so
   that a failure can name its record.  This runs over every byte
   appended -- with short lines, a memchr per record costs a sixth of
   the whole run -- so it compares 16 bytes at a time: each equal byte
   subtracts -1 from its lane, and the lanes are summed before they
   can overflow.  Four sums, each with its own 16 bytes, let the
   processor do four compares at once: twice as fast as one (69 against
   37 GB/s here, with GCC 12 -O2), an eighth of safe-append's time when
   it streams.  */
static size_t
count_records (char const *data, size_t len, char terminator)
{
  size_t count = 0;
  /* GCC's vector extensions: GCC 4.7 and later, and clang (which says
     it is GCC 4.2).  One line: a test runs it through cpp.  */
#if defined __clang__ || (defined __GNUC__ && 4 < __GNUC__ + (7 <= __GNUC_MINOR__))
  typedef unsigned char bytes16 __attribute__ ((vector_size (16)));
  enum { STRIDE = 4 * sizeof (bytes16) };
  bytes16 wanted;
  memset (&wanted, terminator, sizeof wanted);
  while (len >= STRIDE)
    {
      size_t rounds = MIN (len / STRIDE, UCHAR_MAX);
      bytes16 sum0 = { 0 }, sum1 = { 0 }, sum2 = { 0 }, sum3 = { 0 };
      for (size_t i = 0; i < rounds; i++)
        {
          bytes16 chunk0, chunk1, chunk2, chunk3;
          memcpy (&chunk0, data, sizeof chunk0);
          memcpy (&chunk1, data + sizeof chunk0, sizeof chunk1);
          memcpy (&chunk2, data + 2 * sizeof chunk0, sizeof chunk2);
          memcpy (&chunk3, data + 3 * sizeof chunk0, sizeof chunk3);
          sum0 -= (bytes16) (chunk0 == wanted);
          sum1 -= (bytes16) (chunk1 == wanted);
          sum2 -= (bytes16) (chunk2 == wanted);
          sum3 -= (bytes16) (chunk3 == wanted);
          data += STRIDE;
        }
      len -= rounds * STRIDE;
      for (size_t i = 0; i < sizeof (bytes16); i++)
        count += (size_t) sum0[i] + sum1[i] + sum2[i] + sum3[i];
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

/* Where a short write of WRITTEN bytes cut the records it carried.  SRC
   holds the same records as read (SRC_LEN bytes, without prefixes).  */
struct cut
{
  size_t whole_len;        /* bytes of the records written whole */
  size_t whole_records;    /* how many they are */
  size_t record_len;       /* the length of the record that was cut */
};

static struct cut
find_cut (struct appender const *app, size_t written,
          char const *src, size_t src_len)
{
  struct cut cut = { 0, 0, 0 };
  char const *end = src + src_len;
  for (char const *p = src; p < end; )
    {
      char const *next = record_end (app, p, end);
      cut.record_len = app->head_len + (next - p);
      if (cut.whole_len + cut.record_len > written)
        break;
      cut.whole_len += cut.record_len;
      cut.whole_records++;
      p = next;
    }
  return cut;
}

/* A write that began at most PIECE bytes before the file size limit was
   cut there, leaving the first PIECE bytes of a record at the end of
   FILE.  Remove them, if they can be proven ours: our write ended
   exactly at our RLIMIT_FSIZE and FILE still ends there.  Then no
   writer under the same limit can have appended after the piece (any
   write starting at the limit fails with EFBIG, writing nothing), so
   cutting FILE back to where the piece begins removes our bytes and no
   one else's.  Return 1 if the record is absent now, 0 if the piece
   could not be proven ours and stays, -1 with errno set if the removal
   failed.  */
static int
remove_cut_piece (struct appender const *app, size_t piece)
{
  off_t our_end = lseek (app->fd, 0, SEEK_CUR);
  if (our_end < 0 || app->size_limit == RLIM_INFINITY
      || (uintmax_t) our_end != app->size_limit)
    return 0;
  if (piece == 0)
    return 1;
  struct stat st;
  if (fstat (app->fd, &st) != 0 || st.st_size != our_end)
    return 0;
  if (ftruncate (app->fd, our_end - piece) != 0)
    return -1;
  return 1;
}

/* A write came back short with the records of CUT whole in FILE: take
   the input they carried out of unappended_bytes, as count_appended
   does for a whole write, before put_records lets the held signals
   through.  Their input is what they take in FILE less the head of
   each; the record cut stays counted, for it is not appended.  */
static void
count_cut_appended (struct appender *app, struct cut cut)
{
  if (app->write_src_len != 0)
    unappended_bytes -= cut.whole_len - cut.whole_records * app->head_len;
}

/* After a write cut short, with the signals held by write_unbroken,
   before the record cut is reported: may it be reported now?  With no
   signal pending that would end us, let the signals through first, and
   yes: the report then waits for standard error as any error does.
   With one pending, keep them held so that the report comes before the
   signal ends us, but only if standard error takes it at once: if not,
   no, and the signal wins (see stderr_takes_write_now).  The caller
   lets the signals through after the report.  */
static bool
make_way_for_report (struct appender *app)
{
  /* SIGHUP only makes us look at FILE's name (note_hangup).  */
  if (app->holding && cleanup_signal_pending_except (SIGHUP))
    return stderr_takes_write_now ();
  let_signals_through (app);
  return true;
}

/* The record numbered NUMBER would go past the file size limit.  */
static void
report_past_size_limit (struct appender const *app, uintmax_t number)
{
  error (0, EFBIG, "cannot append record %ju to %s: it would go past the "
         "file size limit of %ju bytes (ulimit -f)", number,
         quoteaf (app->file), (uintmax_t) app->size_limit);
}

/* Did a write of LEN bytes fail with EFBIG because of RLIMIT_FSIZE?
   The kernel refuses one that starts at or past the limit.  Otherwise
   it is the filesystem's largest file size, which no ulimit sets.  */
static bool
hit_size_limit (struct appender const *app, size_t len)
{
  struct stat st;
  return (app->size_limit != RLIM_INFINITY
          && (fstat (app->fd, &st) != 0
              || app->size_limit < (uintmax_t) st.st_size + len));
}

/* A write cut short the record after those appended (CUT), leaving
   PIECE bytes of it in FILE; REMOVED and REMOVE_ERRNO are what
   remove_cut_piece returned and left in errno.  Say so.  */
static void
report_cut_record (struct appender const *app, struct cut cut,
                   size_t piece, int removed, int remove_errno)
{
  uintmax_t number = app->appended + 1;
  if (removed < 0)
    error (0, remove_errno, "cannot remove the %zu bytes written of a "
           "record cut by the file size limit from %s", piece,
           quoteaf (app->file));
  else if (removed > 0)
    report_past_size_limit (app, number);
  else
    error (0, short_write_cause (app),
           "cannot append record %ju to %s: only %zu of its %zu bytes were "
           "written", number, quoteaf (app->file), piece, cut.record_len);
}

/* Copy the LEN bytes at OUT, records as appended to FILE (FIRST being
   the number of the first), to standard output if asked.  When the copy
   fails, stop copying but go on appending, as tee -p does: FILE gets
   every record, and the failure is reported -- a closed pipe (EPIPE,
   the reader had all it wanted, as with '| head') once at the end, as a
   note; any other error at once, and as the exit status.  LAST: the
   caller stops appending after these records (a failed sync, a short
   write), so nothing is appended "from now on".  */
static void
tee_records (struct appender *app, char const *out, size_t len,
             uintmax_t first, bool last)
{
  if (!app->tee || len == 0)
    return;
  size_t copied = full_write (STDOUT_FILENO, out, len);
  if (copied == len)
    return;
  app->tee = false;
  app->tee_errno = errno;
  uintmax_t whole_copied = (app->whole ? 0
                            : count_records (out, copied, app->terminator));
  app->tee_stopped_at = first + whole_copied;
  if (app->tee_errno == EPIPE)
    return;
  /* -c: that record was the only one, and it is in FILE; so are the
     records of a LAST write.  */
  if (app->tee_stopped_at == app->appended && (app->opt->content || last))
    error (0, app->tee_errno, "cannot copy record %ju to standard output; "
           "it was appended to %s", app->tee_stopped_at,
           quoteaf (app->file));
  else if (last)
    error (0, app->tee_errno, "cannot copy records %ju to %ju to standard "
           "output; they were appended to %s", app->tee_stopped_at,
           app->appended, quoteaf (app->file));
  else
    error (0, app->tee_errno, "cannot copy record %ju to standard output; "
           "appending to %s only from now on", app->tee_stopped_at,
           quoteaf (app->file));
}

/* At the end: the copy to standard output stopped.  Say so, unless it
   stopped because the reader went away (EPIPE) and QUIET: the records
   all went to FILE, which is what safe-append is for, so that is not
   a failure.  Any other error was reported when it happened, and is.
   ALL_APPENDED: no record failed; else the note names the last record
   appended, not "from N on": the one that failed was not.  When the
   copy stopped at the last record appended, the note names that one
   alone.  */
static bool
tee_stop_was_fine (struct appender const *app, bool quiet,
                   bool all_appended)
{
  if (app->tee_errno != EPIPE)
    return false;
  if (quiet)
    return true;
  if (app->tee_stopped_at == app->appended)
    error (0, 0, "standard output was closed; record %ju was appended "
           "to %s only", app->tee_stopped_at, quoteaf (app->file));
  else if (!all_appended)
    error (0, 0, "standard output was closed; records %ju to %ju were "
           "appended to %s only", app->tee_stopped_at, app->appended,
           quoteaf (app->file));
  else
    error (0, 0, "standard output was closed; records from %ju on were "
           "appended to %s only", app->tee_stopped_at, quoteaf (app->file));
  return true;
}

/* Append NRECORDS complete records, OUT (OUT_LEN bytes, as they go into
   FILE), with one write(2); SRC and SRC_LEN are the same records as
   read.  Then sync FILE and copy the records to standard output if
   asked.  A write cut short by the file size limit keeps the records it
   wrote whole and removes the piece of the one it cut (see
   remove_cut_piece); any other short write is reported with what it
   left.  */
static bool
put_records (struct appender *app, char const *out, size_t out_len,
             char const *src, size_t src_len, size_t nrecords)
{
  uintmax_t first = app->appended + 1;
  /* Only input read from standard input is counted in unappended_bytes
     (write_unbroken subtracts it): not --content.  */
  app->write_src_len = app->in_st ? src_len : 0;
  ssize_t written = write_unbroken (app, out, out_len);
  if (0 <= written && (size_t) written == out_len)
    {
      app->appended += nrecords;
      bool synced = !app->sync || fdatasync (app->fd) == 0;
      if (!synced)
        error (0, errno, "cannot sync %s after record %ju",
               quoteaf (app->file), app->appended);
      /* The records are in FILE, synced or not: --tee copies every
         record appended.  */
      tee_records (app, out, out_len, first, !synced);
      return synced;
    }

  if (written < 0)
    {
      int write_errno = errno;
      if (write_errno == EFBIG && hit_size_limit (app, out_len))
        report_past_size_limit (app, first);
      else
        error (0, write_errno, "cannot append record %ju to %s", first,
               quoteaf (app->file));
      return false;
    }

  struct cut cut = find_cut (app, written, src, src_len);
  app->appended += cut.whole_records;
  count_cut_appended (app, cut);
  size_t piece = written - cut.whole_len;
  /* Signals are still held (write_unbroken): one that killed us now
     would leave the piece that remove_cut_piece is about to remove.
     One sent while the write was in the kernel would kill us as soon
     as let through, and only its warning of the input dropped would be
     seen, not why the record was not appended: make_way_for_report
     keeps it held over the report, if that can be written at once.  */
  int removed = remove_cut_piece (app, piece);
  int remove_errno = errno;
  if (make_way_for_report (app))
    report_cut_record (app, cut, piece, removed, remove_errno);
  let_signals_through (app);
  if (removed < 0)
    return false;
  /* The records before the cut were reported appended by the message
     above: with -S they must be on disk, or be said not to be.  */
  if (app->sync && cut.whole_len > 0 && fdatasync (app->fd) != 0)
    error (0, errno, "cannot sync %s after record %ju",
           quoteaf (app->file), app->appended);
  tee_records (app, out, cut.whole_len, first, true);
  return false;
}

/* The time stamp of the next record cannot be made: ERRNUM says why.
   Name the record, as the other failures do.  */
static void
report_bad_stamp (struct appender const *app, int errnum)
{
  uintmax_t number = app->appended + 1;
  /* check_stamp_format saw the format's length at the start only: a
     name of a day or month, or an unpadded number, can grow later.  */
  if (errnum == ERANGE)
    error (0, 0, "cannot append record %ju to %s: its time stamp would "
           "be longer than %d bytes; nothing of it was written", number,
           quoteaf (app->file), STAMP_MAX - 1);
  else
    error (0, errnum, "cannot append record %ju to %s: cannot make its "
           "time stamp", number, quoteaf (app->file));
}

/* Make HEAD the prefixes for records read at READ_TIME, the first of
   which is the next record.  */
static bool
update_head (struct appender *app)
{
  if (!app->stamp_format || timespec_cmp (app->read_time, app->head_time) == 0)
    return true;

  struct tm tm;
  if (!localtime_rz (app->tz, &app->read_time.tv_sec, &tm))
    {
      report_bad_stamp (app, errno);
      return false;
    }
  errno = 0;
  size_t len = nstrftime (app->head, STAMP_MAX, app->stamp_format, &tm,
                          app->tz, app->read_time.tv_nsec);
  if (len == 0 && errno != 0)
    {
      report_bad_stamp (app, errno);
      return false;
    }
  /* A stamp that is empty at this time only (the start refused one
     that was empty then) gets no space either.  */
  if (len > 0)
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

static int open_file (char const *file, uintmax_t record,
                      struct options const *opt, struct stat *st,
                      bool *by_descriptor, bool *by_symlink);
static bool refuse_own_stream (char const *file, struct stat const *st,
                               struct stat const *in_st, bool tee,
                               bool rotated, uintmax_t record);

/* Report that FILE cannot be appended to, because of WHY (a phrase, or
   NULL) and ERRNUM (or 0).  RECORD is the number of the record that
   was to go into FILE, named as the other failed writes name theirs;
   0 when none waits: FILE opened at the start, or reopened after a
   rotation while waiting for input before any of the next record was
   read.  */
static void
report_cannot_append (char const *file, uintmax_t record, int errnum,
                      char const *why)
{
  char const *sep = why ? ": " : "";
  if (!why)
    why = "";
  if (record)
    error (0, errnum, "cannot append record %ju to %s%s%s", record,
           quoteaf (file), sep, why);
  else
    error (0, errnum, "cannot append to %s%s%s", quoteaf (file), sep, why);
}

/* A SIGHUP arrived: look at FILE's name now if safe-append waits for
   input (await_input), else before the next write.  */
static volatile sig_atomic_t hangup_received;

static void
note_hangup (int sig)
{
  (void) sig;
  hangup_received = 1;
}


/* The warning note_dropped_input writes, around the number of bytes;
   made before the handler is set, for the handler cannot allocate,
   nor quote FILE's name.  */
static char *dropped_head;
static char *dropped_tail;
static char *dropped_line;

/* A signal that kills by default came while streaming: if it drops
   bytes read and not yet appended, say so in one line, then die of the
   signal.  The line is written only if standard error takes it
   at once: a full pipe or a stopped terminal must not keep a process
   that was told to end alive, so the line goes, not the signal.  A
   line longer than PIPE_BUF could be cut short by a pipe, and is not
   written.  Async-signal-safe.  */
static void
note_dropped_input (int sig)
{
  unsigned int dropped = unappended_bytes;
  if (dropped != 0)
    {
      char number[INT_BUFSIZE_BOUND (uintmax_t)];
      char const *unit = dropped == 1 ? " byte" : " bytes";
      char *end = stpcpy (dropped_line, dropped_head);
      end = stpcpy (end, umaxtostr (dropped, number));
      end = stpcpy (stpcpy (end, unit), dropped_tail);
      size_t len = end - dropped_line;
      if (len <= PIPE_BUF && stderr_takes_write_now ())
        {
          ssize_t ignored = write (STDERR_FILENO, dropped_line, len);
          (void) ignored;
        }
    }
  raise_default (sig);
}

/* Catch the signals that kill by default and that others send, as
   tool_init lists them, but SIGHUP (a look at FILE's name) and SIGPIPE
   (ignored): each ends safe-append as before, after the warning of
   note_dropped_input.  One left ignored by our caller stays so.  */
static void
warn_of_dropped_input (char const *file)
{
  /* Made once: the handler, once set, reads these strings, so they are
     never replaced nor freed.  A run appends to one FILE.  */
  if (dropped_line)
    return;
  dropped_head = xasprintf ("%s: warning: dropped ", program_name);
  dropped_tail = xasprintf (" of input not yet appended to %s "
                            "(terminated by a signal)\n", quoteaf (file));
  dropped_line = xmalloc (strlen (dropped_head)
                          + INT_BUFSIZE_BOUND (uintmax_t)
                          + sizeof " bytes" + strlen (dropped_tail));
  sigset_t fatal;
  cleanup_signal_set (&fatal);
  sigdelset (&fatal, SIGHUP);
  sigdelset (&fatal, SIGPIPE);
  struct sigaction act = { .sa_handler = note_dropped_input };
  /* The handler runs once: another signal waits until it has died.  */
  act.sa_mask = fatal;
  set_actions_unless_ignored (&fatal, &act, NULL);
}

/* A streaming safe-append looks whether FILE's name still names the file
   it appends to at least this often, while it writes and while it waits
   for input.  */
enum { LOOK_INTERVAL_SECONDS = 1 };

/* How many symbolic links open_file and trace_path follow
   before giving up, as the kernel does (ELOOP).  */
enum { MAX_LINK_HOPS = 40 };

/* Look up in directory PARENT the part NAME of a path, as the kernel
   does: a symbolic link in /proc is followed by the kernel (the text
   of /proc/PID/cwd names no file to follow by hand); any other is
   left to the caller.  Return the descriptor, or -1 with errno set.  */
static int
open_part (int parent, char const *name, bool parent_in_proc)
{
  return openat (parent, name, (O_PATH | O_CLOEXEC
                                | (parent_in_proc ? 0 : O_NOFOLLOW)));
}

/* Is NAME, a part looked up in a directory of /proc, a process's
   directory there: a pid (/proc/PID, /proc/PID/task/TID)?  */
static bool
names_pid (char const *name)
{
  return *name && name[strspn (name, "0123456789")] == '\0';
}

/* Add to *TRAIL the process whose directory in /proc DIRFD is: *TRAIL
   takes DIRFD, unless the process has ended since it was looked up.  */
static void
trail_add (struct proc_trail *trail, int dirfd)
{
  if (process_dir_ended (dirfd))
    trail->missing_in_proc = true;
  else
    {
      if (trail->n == trail->alloc)
        trail->dirfd = x2nrealloc (trail->dirfd, &trail->alloc,
                                   sizeof *trail->dirfd);
      trail->dirfd[trail->n++] = dirfd;
    }
}

/* Is FD one of the directories *TRAIL holds?  */
static bool
trail_holds (struct proc_trail const *trail, int fd)
{
  for (size_t i = 0; i < trail->n; i++)
    if (trail->dirfd[i] == fd)
      return true;
  return false;
}

/* Close FD, a directory a look-up passed through, unless *TRAIL took
   it.  */
static void
close_unless_held (struct proc_trail const *trail, int fd)
{
  if (!trail_holds (trail, fd))
    close (fd);
}

/* Close the directories *TRAIL holds.  */
static void
trail_free (struct proc_trail *trail)
{
  for (size_t i = 0; i < trail->n; i++)
    close (trail->dirfd[i]);
  free (trail->dirfd);
  *trail = (struct proc_trail) { 0 };
}

/* Has a process of *TRAIL ended?  */
static bool
trail_ended (struct proc_trail const *trail)
{
  for (size_t i = 0; i < trail->n; i++)
    if (process_dir_ended (trail->dirfd[i]))
      return true;
  return false;
}

/* Do *A and *B pass through the same processes?  A process's directory
   in /proc keeps its inode while one holds it open.  */
static bool
trail_same (struct proc_trail const *a, struct proc_trail const *b)
{
  if (a->n != b->n)
    return false;
  for (size_t i = 0; i < a->n; i++)
    {
      struct stat a_st, b_st;
      if (fstat (a->dirfd[i], &a_st) != 0 || fstat (b->dirfd[i], &b_st) != 0
          || !SAME_INODE (a_st, b_st))
        return false;
    }
  return true;
}

/* Look up FILE as the kernel does, and fill in *TRAIL with the
   processes whose directories in /proc the look-up passed through, and
   whether a part of FILE cannot be found in a directory of /proc
   (/proc/PID of a process that has ended).  Its parts are looked up
   one at a time; a symbolic link outside /proc is followed by its
   text, so that a link elsewhere into /proc (/tmp/x -> /proc/PID/cwd)
   leads there.  A part missing from the directory a running process's
   /proc/PID/cwd leads to is missing from a real directory, not from
   /proc.  A relative FILE starts in the working directory.  */
static void
trace_path (char const *file, struct proc_trail *trail)
{
  *trail = (struct proc_trail) { 0 };
  char *path = xstrdup (file);
  char const *rest = path;      /* the parts still to look up */
  int parent = open (IS_ABSOLUTE_FILE_NAME (path) ? "/" : ".",
                     O_PATH | O_CLOEXEC);
  int hops = 0;
  while (0 <= parent && !trail->missing_in_proc)
    {
      rest += strspn (rest, "/");
      if (!*rest)
        break;
      size_t len = strcspn (rest, "/");
      char *name = ximemdup0 (rest, len);
      rest += len;
      bool parent_in_proc = fd_is_proc (parent);
      int fd = open_part (parent, name, parent_in_proc);
      struct stat st;
      if (fd < 0)
        {
          trail->missing_in_proc = (parent_in_proc
                                    && (errno == ENOENT || errno == ESRCH));
          free (name);
          break;
        }
      if (!parent_in_proc && fstat (fd, &st) == 0 && S_ISLNK (st.st_mode))
        {
          close (fd);
          char *target = (++hops <= MAX_LINK_HOPS
                          ? areadlinkat (parent, name) : NULL);
          free (name);
          if (!target)
            break;
          /* Go on with the link's text, then what followed the link:
             from the link's directory, or from the root.  */
          char *joined = xasprintf ("%s%s", target, rest);
          free (path);
          rest = path = joined;
          if (IS_ABSOLUTE_FILE_NAME (target))
            {
              close_unless_held (trail, parent);
              parent = open ("/", O_PATH | O_CLOEXEC);
            }
          free (target);
          continue;
        }
      /* A pid's link followed to elsewhere (/proc/PID/fd/N, a
         directory's descriptor) is no process's directory.  */
      if (parent_in_proc && names_pid (name) && fd_is_proc (fd))
        trail_add (trail, fd);
      free (name);
      close_unless_held (trail, parent);
      parent = fd;
    }
  if (0 <= parent)
    close_unless_held (trail, parent);
  free (path);
}

/* Has FILE's name gone with a process it led through, as
   /proc/PID/cwd/log does once process PID has ended, or a link to it:
   a process of *OPENED, the trail of FILE when it was opened, has
   ended (its pid may have been given to another), or a part of FILE
   cannot be found, because a directory of a process is gone from
   /proc, or the name leads through other processes now?  The file we
   have open is still there; the name will never name it again.  */
static bool
name_gone_with_process (char const *file, struct proc_trail const *opened)
{
  char *dir = mdir_name (file);
  int fd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  /* Only /proc says ESRCH to a look-up: it starts in a directory of
     the process (our working directory was /proc/PID).  */
  bool gone = fd < 0 && errno == ESRCH;
  if (0 <= fd)
    close (fd);
  free (dir);
  if (gone)
    return true;
  if (trail_ended (opened))
    return true;
  struct proc_trail now;
  trace_path (file, &now);
  gone = now.missing_in_proc || (opened->n && !trail_same (&now, opened));
  trail_free (&now);
  return gone;
}

/* Log rotation.  Before a write, and while waiting for input
   (await_input), if LOOK_INTERVAL_SECONDS have passed since the last
   look or a SIGHUP has arrived since, compare FILE's name with the
   open file.  If it names another file (logrotate's
   'create', or 'mv log log.1' and a new log), go on appending to that
   one.  If it names none, open it -- creating it -- after a SIGHUP at
   once, and otherwise at the next look: a rotator that creates FILE
   itself just after renaming it (logrotate, with O_EXCL) must not find
   ours in the way.  Nothing is lost or torn: each write goes whole to
   the old file or to the new one.  A name that has gone with the
   process it led through (name_gone_with_process) is not looked at
   again: the records go on into the file we have, as for a link in
   /proc to a descriptor (appender_init); so is one whose process's pid
   has been given to another.  RECORD is the number of the record
   about to be written, or begun in the input (await_input), or 0 if
   none is.  Return false after reporting a failure, naming RECORD.  */
static bool
follow_name (struct appender *app, uintmax_t record)
{
  if (!app->follow_name)
    return true;
  bool hangup = hangup_received;
  struct timespec now;
  clock_gettime (CLOCK_MONOTONIC_COARSE, &now);
  if (!hangup && timespec_cmp (now, app->next_look) < 0)
    return true;
  hangup_received = 0;
  app->next_look = timespec_add (now, make_timespec (LOOK_INTERVAL_SECONDS,
                                                     0));

  struct stat name_st;
  bool found = stat (app->file, &name_st) == 0;
  int lookup_errno = errno;
  if (found && SAME_INODE (name_st, app->st))
    {
      app->name_was_absent = false;
      return true;
    }
  /* A name that led through a process's directory in /proc may lead
     nowhere now, or, the pid given to another process, to a file of
     that one's.  */
  if ((app->trail.n || (!found && (lookup_errno == ENOENT
                                   || lookup_errno == ESRCH)))
      && name_gone_with_process (app->file, &app->trail))
    {
      app->follow_name = false;
      return true;
    }
  bool absent = false;
  if (!found && lookup_errno == ENOENT)
    {
      absent = true;
      if (!hangup && !app->name_was_absent)
        {
          app->name_was_absent = true;
          return true;
        }
    }
  app->name_was_absent = false;
  if (absent && app->opt->no_create)
    {
      /* open_file would say only "No such file or directory", about a
         file that existed when we began.  A file whose last name was
         removed has no link left.  A FILE that was a symbolic link and
         is gone itself is none of the file's links: they say nothing
         of it.  One that had a single link when opened and still has
         one was renamed (or linked elsewhere and unlinked, which is the
         same); one opened with more may have lost FILE's name either
         way.  */
      struct stat open_st, link_st;
      bool examined = fstat (app->fd, &open_st) == 0;
      char const *gone;
      if (examined && open_st.st_nlink == 0)
        gone = "it was removed";
      else if (app->by_symlink && lstat (app->file, &link_st) != 0)
        gone = "it was removed or renamed away";
      else if (examined && app->st.st_nlink == 1)
        gone = "it was renamed away (rotated)";
      else
        gone = ("it was renamed away, or removed while another link to it "
                "remains");
      char *why = xasprintf ("%s, and --no-create forbids creating it "
                             "again", gone);
      report_cannot_append (app->file, record, 0, why);
      free (why);
      return false;
    }

  struct stat st;
  bool by_symlink;
  int fd = open_file (app->file, record, app->opt, &st, NULL, &by_symlink);
  if (fd < 0)
    return false;
  if (!S_ISREG (st.st_mode))
    {
      report_cannot_append (app->file, record, 0, "after a rotation it is "
                            "no longer a regular file");
      close (fd);
      return false;
    }
  /* Refused as at the start (safe_append): the new FILE may be the
     file standard input or standard output is.  */
  if (refuse_own_stream (app->file, &st, app->in_st, app->tee, true,
                         record))
    {
      close (fd);
      return false;
    }
  if (close (app->fd) != 0)
    {
      /* close reports late write errors (NFS, quotas).  */
      report_cannot_append (app->file, record, errno, "closing the file it "
                            "was renamed to failed");
      close (fd);
      return false;
    }
  app->fd = fd;
  app->st = st;
  app->by_symlink = by_symlink;
  return true;
}

/* Milliseconds until the next look at FILE's name is due: 0 if it is
   due now (or a SIGHUP asks for one), rounded up otherwise; -1 if none
   ever is, FILE's name having been given up (follow_name): a wait
   woken for a look that does nothing, and leaves it due, would spin.  */
static int
look_timeout_ms (struct appender const *app)
{
  if (!app->follow_name)
    return -1;
  if (hangup_received)
    return 0;
  struct timespec now;
  clock_gettime (CLOCK_MONOTONIC_COARSE, &now);
  struct timespec left = timespec_sub (app->next_look, now);
  if (left.tv_sec < 0)
    return 0;
  /* LEFT is at most LOOK_INTERVAL_SECONDS: no overflow.  */
  return left.tv_sec * 1000 + (left.tv_nsec + 999999) / 1000000;
}

/* Wait until IN_FD, which may keep safe-append waiting for a producer,
   has input (or an end or error for read to report), looking at FILE's
   name whenever a look is due meanwhile.  Otherwise a quiet producer's
   next record would go, however late, to a file rotated away long ago
   (and maybe compressed and removed): follow_name only ever runs before
   a write.  A SIGHUP ends the wait (poll is never restarted), so FILE
   is looked at, and created if absent, at once; one that comes just
   before poll is seen at the next look, or before the next write.
   Signals are never held here: hold_across is only for a regular file,
   whose reads do not wait.  PARTIAL: the first bytes of the next record
   have been read, so a failure names it, as it would before its write.
   Return false after reporting a failure.  */
static bool
await_input (struct appender *app, int in_fd, bool partial)
{
  struct pollfd pfd = { .fd = in_fd, .events = POLLIN };
  for (;;)
    {
      int n = poll (&pfd, 1, look_timeout_ms (app));
      if (n != 0 && ! (n < 0 && errno == EINTR))
        return true;
      if (!follow_name (app, partial ? app->appended + 1 : 0))
        return false;
    }
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

/* The first record at or after P, in data ending at END that holds only
   complete records, that is longer than MAX bytes; END if none is.  A
   record starting at P fits iff a terminator lies in the MAX bytes from
   P.  memrchr finds the last terminator there, and every record up to
   it fits as well, so one look clears up to MAX bytes: a record's
   length is compared only where a record crosses the window's end.  */
static char const *
first_long_record (struct appender const *app, char const *p,
                   char const *end, size_t max)
{
  while (max < (size_t) (end - p))
    {
      char const *last = (app->whole ? NULL
                          : memrchr (p, app->terminator, max));
      if (!last)
        return p;
      p = last + 1;
    }
  return end;
}

/* The end of the longest run of whole records from P, in data ending at
   END that holds only complete records, that takes at most LIMIT bytes;
   P if the first record alone is longer.  */
static char const *
records_within (struct appender const *app, char const *p,
                char const *end, size_t limit)
{
  if ((size_t) (end - p) <= limit)
    return end;
  char const *last = (app->whole ? NULL
                      : memrchr (p, app->terminator, limit));
  return last ? last + 1 : p;
}

/* Append the complete records in DATA, LEN bytes, as they are: without
   prefixes, records go into FILE straight from the input buffer, as
   many to a write as the write limit and the room left allow.  */
static bool
append_unprefixed (struct appender *app, char const *data, size_t len,
                   size_t room, size_t write_limit)
{
  char const *end = data + len;
  char const *long_record = first_long_record (app, data, end,
                                               app->max_record);
  for (char const *p = data; p < long_record; )
    {
      char const *batch_end = records_within (app, p, long_record,
                                              MIN (room, write_limit));
      if (batch_end == p)
        {
          /* The record is not longer than the maximum, and so than a
             write: only the room is too small.  */
          report_past_size_limit (app, app->appended + 1);
          return false;
        }
      size_t batch_len = batch_end - p;
      size_t nrecords = (app->whole ? 1
                         : count_records (p, batch_len, app->terminator));
      if (!put_records (app, p, batch_len, p, batch_len, nrecords))
        return false;
      room -= batch_len;
      p = batch_end;
    }
  if (long_record < end)
    {
      report_too_long (app, app->appended + 1);
      return false;
    }
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
  if (!follow_name (app, app->appended + 1) || !update_head (app)
      || !size_room (app, &room))
    return false;
  size_t write_limit = app->fifo ? PIPE_BUF : MAX_WRITE_SIZE;
  if (app->head_len == 0)
    return append_unprefixed (app, data, len, room, write_limit);

  /* With prefixes, go record by record, putting together in the stage
     buffer as many as one write may take.  */
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
      size_t limit = MIN (MIN (room, write_limit), app->stage_size);
      if (too_long || batch_len + out_len > limit)
        {
          /* Write what has been gathered, and start again with this
             record, which then has the whole write to itself.  */
          if (batch_records > 0)
            {
              if (!put_records (app, app->stage, batch_len,
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
              report_past_size_limit (app, number);
              return false;
            }
          if (out_len > app->stage_size)
            {
              app->stage_size = out_len;
              app->stage = xrealloc (app->stage, app->stage_size);
            }
        }

      memcpy (app->stage + batch_len, app->head, app->head_len);
      memcpy (app->stage + batch_len + app->head_len, p, next - p);
      batch_len += out_len;
      batch_records++;
      p = next;
    }

  return (batch_records == 0
          || put_records (app, app->stage, batch_len,
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
  struct stat in_st;
  bool in_known = fstat (in_fd, &in_st) == 0;
  if (in_known && S_ISFIFO (in_st.st_mode))
    {
      int pipe_size = fcntl (in_fd, F_GETPIPE_SZ);
      if (0 < pipe_size && pipe_size < READ_SIZE)
        fcntl (in_fd, F_SETPIPE_SZ, READ_SIZE);
    }
  /* Signals may stay held from one write to the next only where
     nothing between the writes can wait for long: not a read from a
     pipe or terminal, not a copy to standard output, not fdatasync.  */
  app->hold_across = (in_known && S_ISREG (in_st.st_mode)
                      && !app->tee && !app->sync);
  if (!app->opt->quiet)
    warn_of_dropped_input (app->file);
  /* A read from a regular file never waits: no poll before each.  */
  bool may_wait = (app->follow_name
                   && ! (in_known && S_ISREG (in_st.st_mode)));

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
      if (may_wait && !await_input (app, in_fd, 0 < held))
        {
          ok = false;
          break;
        }
      size_t n = safe_read (in_fd, buf + held, size - held);
      if (n == SAFE_READ_ERROR)
        {
          /* Named as the other failures name theirs: the records
             before it are in FILE, and the part of it read so far
             is not.  */
          error (0, errno, "cannot append record %ju to %s: error "
                 "reading standard input", app->appended + 1,
                 quoteaf (app->file));
          ok = false;
          break;
        }
      if (n == 0)
        break;
      if (app->stamp_format)
        app->read_time = current_timespec ();

      size_t old_held = held;
      held += n;
      unappended_bytes = held;
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
          unappended_bytes = held;
        }
      ok = append_records (app, buf, held);
    }
  unappended_bytes = 0;
  let_signals_through (app);
  free (buf);
  return ok;
}

/* Append TEXT and the terminator, as one record.  */
static bool
append_text (struct appender *app, char const *text)
{
  size_t len = strlen (text);
  char *record = xmalloc (len + 1);
  memcpy (record, text, len);
  record[len] = app->terminator;
  app->whole = true;
  app->read_time = current_timespec ();
  bool ok = append_records (app, record, len + 1);
  free (record);
  return ok;
}

/* The sticky-directory rules, applied whether or not the system enables
   them (fs.protected_symlinks, fs.protected_regular, fs.protected_fifos):
   anyone who can write to a sticky directory such as /tmp can plant a
   name there, so an object found there is trusted only if it belongs to
   someone who could have put it there legitimately.  DIRFD is the
   directory; *DIR_ST is its status, filled in on first use
   (DIR_ST->st_nlink == 0 until then).  */
static bool
sticky_dir_status (int dirfd, struct stat *dir_st)
{
  if (dir_st->st_nlink == 0 && fstat (dirfd, dir_st) != 0)
    return false;
  return true;
}

/* May we follow the symbolic link described by LINK_ST?  The kernel's
   protected_symlinks rule, for every sticky directory: only a link that
   belongs to us, to root, or to the directory's owner (who can replace
   any name in it anyway).  */
static bool
symlink_is_trusted (int dirfd, struct stat *dir_st, struct stat const *link_st)
{
  uid_t owner = link_st->st_uid;
  if (owner == geteuid () || owner == 0)
    return true;
  return (sticky_dir_status (dirfd, dir_st)
          && (!(dir_st->st_mode & S_ISVTX) || owner == dir_st->st_uid));
}

/* May we append to the existing regular file or FIFO described by ST?
   The kernel's protected_regular and protected_fifos rules at their
   strict level (2): in a sticky directory that others can write to, a
   file or FIFO that belongs neither to us nor to the directory's owner
   may have been planted to receive our records, or to make us block.  */
static bool
sticky_file_is_trusted (int dirfd, struct stat *dir_st, struct stat const *st)
{
  if (st->st_uid == geteuid ())
    return true;
  return (sticky_dir_status (dirfd, dir_st)
          && (!(dir_st->st_mode & S_ISVTX)
              || !(dir_st->st_mode & (S_IWGRP | S_IWOTH))
              || st->st_uid == dir_st->st_uid));
}

/* How many times open_file looks again when the name changes between
   its look and its open.  */
enum { MAX_OPEN_RETRIES = 100 };

/* Where FILE is to be opened: NAME in directory DIRFD, reached through
   SHOWN (FILE itself, or the last symbolic link followed on the way).  */
struct location
{
  int dirfd;
  bool own_dirfd;           /* DIRFD was opened here, not by open_parent */
  char *name;
  char *shown;
  char *path;               /* a path to it from the working directory,
                               for --check-fs to show */
  struct stat dir_st;       /* DIRFD's status, once needed */
  unsigned int dir_number;  /* counts the directories DIRFD has been */
  bool follow_last;         /* NAME is a /proc link to a pipe, socket,
                               device or deleted file, to be opened by
                               following it */
  bool by_descriptor;       /* a link in /proc was followed on the way:
                               FILE names a process's descriptor */
};

static void
location_set_dir (struct location *at, int dirfd, bool own)
{
  if (at->own_dirfd)
    close (at->dirfd);
  at->dirfd = dirfd;
  at->own_dirfd = own;
  at->dir_st.st_nlink = 0;
  at->dir_number++;
}

/* Start AT at FILE's name in its directory PARENT.  */
static void
location_start (struct location *at, struct parent_dir const *parent,
                char const *file)
{
  *at = (struct location) { .dirfd = parent->fd,
                            .name = xstrdup (parent->base),
                            .shown = xstrdup (file), .path = xstrdup (file),
                            .dir_number = 1 };
}

/* Free what AT holds (not PARENT's descriptor, its first directory).  */
static void
location_end (struct location *at)
{
  location_set_dir (at, -1, false);
  free (at->name);
  free (at->shown);
  free (at->path);
}

/* Follow the trusted symbolic link AT names to where it points.  Return
   false after reporting why not.  */
static bool
follow_link (struct location *at, char const *file, uintmax_t record)
{
  char *target = areadlinkat (at->dirfd, at->name);
  if (!target)
    {
      report_cannot_append (file, record, errno, NULL);
      return false;
    }
  /* A link to "dir/", ".", ".." names a directory: O_CREAT would fail
     with EISDIR, and so do we, before creating anything.  */
  char *base = last_component (target);
  size_t len = base_len (base);
  if (len == 0 || base[len] != '\0'
      || strcmp (base, ".") == 0 || strcmp (base, "..") == 0)
    {
      report_cannot_append (file, record, EISDIR, NULL);
      free (target);
      return false;
    }
  int dirfd = at->dirfd;
  if (base != target)
    {
      char *dir = mdir_name (target);
      dirfd = openat (at->dirfd, dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
      int saved_errno = errno;
      free (dir);
      if (dirfd < 0)
        {
          report_cannot_append (file, record, saved_errno, NULL);
          free (target);
          return false;
        }
      location_set_dir (at, dirfd, true);
    }
  /* A relative target is relative to the link's directory.  */
  char *path;
  if (IS_ABSOLUTE_FILE_NAME (target))
    path = xstrdup (target);
  else
    {
      char *link_dir = mdir_name (at->path);
      path = (strcmp (link_dir, ".") == 0 ? xstrdup (target)
              : file_name_concat (link_dir, target, NULL));
      free (link_dir);
    }
  free (at->path);
  at->path = path;
  free (at->name);
  at->name = xstrdup (base);
  free (at->shown);
  at->shown = target;
  return true;
}

/* Is the trusted symbolic link AT names a "magic" link in /proc whose
   text names no file: one to a pipe, a socket or a device, as
   /dev/stdout (/proc/self/fd/1) is when standard output is a pipe
   ('pipe:[1234]'), or to a deleted file ('DIR/log (deleted)')?  It
   cannot be followed by hand; the kernel follows it to the object
   itself.  If so, put the object's status in *NAME_ST.  A link there
   to a file that has a name -- a regular file or a named FIFO, whose
   text is that name -- is followed by hand, as any other, so that the
   sticky-directory rules apply where the file is.  */
static bool
magic_link_to_special (struct location const *at, struct stat *name_st)
{
  struct stat st;
  char first;
  if (!fd_is_proc (at->dirfd)
      || fstatat (at->dirfd, at->name, &st, 0) != 0
      || (st.st_nlink != 0
          && (S_ISREG (st.st_mode)
              /* An anonymous pipe's text is 'pipe:[1234]'.  */
              || (S_ISFIFO (st.st_mode)
                  && readlinkat (at->dirfd, at->name, &first, 1) == 1
                  && first == '/'))))
    return false;
  *name_st = st;
  return true;
}

/* fs_permits for the file AT names: the object a /proc link leads to
   when AT->follow_last, else NAME in DIRFD, never followed.  A refusal
   after a rotation names RECORD, as report_cannot_append does.  */
static bool
location_fs_permits (struct location const *at, char const *file,
                     uintmax_t record, struct options const *opt)
{
  int fd = at->dirfd;
  char const *name = at->name;
  if (at->follow_last)
    {
      fd = openat (at->dirfd, at->name, O_PATH | O_CLOEXEC);
      if (fd < 0)
        return true;   /* The open will report the problem.  */
      name = NULL;
    }
  char *lead = (record
                ? xasprintf ("cannot append record %ju to %s", record,
                             quoteaf (file))
                : NULL);
  bool permitted = fs_permits_lead (lead, file, fd, name, FS_APPEND,
                                    opt->force, opt->quiet);
  free (lead);
  if (at->follow_last)
    close (fd);
  return permitted;
}

/* SHOWN, another user's (UID) in a sticky directory, is refused:
   "REFUSED SHOWN: it is in a sticky directory and belongs to another
   user (uid UID)TAIL".  After a rotation (RECORD not 0), the message
   names the record that is then not written, as every other failure
   after a rotation does.  */
static void
report_untrusted (char const *file, uintmax_t record, char const *refused,
                  char const *shown, uid_t uid, char const *tail)
{
  char *why = xasprintf ("%s %s: it is in a sticky directory and belongs "
                         "to another user (uid %ju)%s", refused,
                         quoteaf_n (1, shown), (uintmax_t) uid, tail);
  if (record)
    error (0, 0, "cannot append record %ju to %s: %s", record,
           quoteaf_n (0, file), why);
  else
    error (0, 0, "%s", why);
  free (why);
}

/* Follow the symbolic links AT names, each only if it is trusted
   (symlink_is_trusted), to the name that is no link -- or to a /proc
   link to a pipe, socket, device or deleted file, to be opened by
   following it (AT->follow_last).  Return 1 if that name exists, with
   its status in *NAME_ST, 0 if it does not, and -1 after reporting why
   FILE cannot be appended to (RECORD as for report_cannot_append).
   *HOPS counts the links followed.  */
static int
find_target (struct location *at, char const *file, uintmax_t record,
             int *hops, struct stat *name_st)
{
  at->follow_last = false;
  for (;;)
    {
      if (fstatat (at->dirfd, at->name, name_st, AT_SYMLINK_NOFOLLOW) != 0)
        {
          if (errno == ENOENT)
            return 0;
          report_cannot_append (file, record, errno, NULL);
          return -1;
        }
      if (!S_ISLNK (name_st->st_mode))
        return 1;
      if (!symlink_is_trusted (at->dirfd, &at->dir_st, name_st))
        {
          report_untrusted (file, record, "not following symbolic link",
                            at->shown, name_st->st_uid, "");
          return -1;
        }
      if (MAX_LINK_HOPS < ++*hops)
        {
          report_cannot_append (file, record, ELOOP, NULL);
          return -1;
        }
      if (fd_is_proc (at->dirfd))
        at->by_descriptor = true;
      if (magic_link_to_special (at, name_st))
        {
          at->follow_last = true;
          return 1;
        }
      if (!follow_link (at, file, record))
        return -1;
    }
}

/* May the existing object AT names, whose status is *NAME_ST, be
   appended to?  It must be a regular file or a FIFO (a named one, or
   a pipe reached through /proc) -- never a device, a socket or a
   directory -- and pass sticky_file_is_trusted.  If not, say why, as
   report_cannot_append with RECORD.  open_file and --check-fs both ask
   this.  */
static bool
target_acceptable (struct location *at, char const *file, uintmax_t record,
                   struct stat const *name_st)
{
  if (!S_ISREG (name_st->st_mode) && !S_ISFIFO (name_st->st_mode))
    {
      report_cannot_append (file, record, 0, "not a regular file or a FIFO");
      return false;
    }
  if (!sticky_file_is_trusted (at->dirfd, &at->dir_st, name_st))
    {
      report_untrusted (file, record, "not appending to", at->shown,
                        name_st->st_uid, " than the directory's owner");
      return false;
    }
  return true;
}

/* Open FILE for appending, as safe-append's checks allow, and fill in
   *ST with its status.  Symbolic links are followed by hand, each
   trusted or refused on its own (symlink_is_trusted), to the name that
   will be opened; an existing file or FIFO there must pass
   sticky_file_is_trusted; then the filesystem is checked, once, for
   the object about to be opened or the directory it is about to be
   created in -- before anything is created -- and only then is it
   opened: O_NOFOLLOW, and O_CREAT|O_EXCL when it did not exist, so
   what is opened is what was checked (an existing one is compared by
   device and inode, and looked at again if it changed).  A FIFO is
   opened with O_NONBLOCK, which fails at once with ENXIO when it has
   no reader instead of waiting for one forever; O_NONBLOCK is then
   cleared, so writes wait for room in the pipe.  With -S, the
   directory a new FILE was created in is synced.  If BY_DESCRIPTOR,
   set *BY_DESCRIPTOR to whether a link in /proc was followed on the
   way (/dev/stdout, /proc/PID/fd/N).  If BY_SYMLINK, set *BY_SYMLINK
   to whether FILE's name is a symbolic link, followed to the file.
   Return the descriptor, or -1 after reporting why not.  */
static int
open_file (char const *file, uintmax_t record, struct options const *opt,
           struct stat *st, bool *by_descriptor, bool *by_symlink)
{
  /* A name that ends in a slash names a directory, as for open(2):
     appending to it can only fail, and open_parent would drop the
     slash and create a regular file.  */
  if (has_trailing_slash (file))
    {
      report_cannot_append (file, record, 0, "a name ending in '/' is "
                            "a directory, not a file");
      return -1;
    }

  struct parent_dir parent;
  if (!open_parent (file, &parent))
    {
      report_cannot_append (file, record, errno, NULL);
      return -1;
    }
  struct location at;
  location_start (&at, &parent, file);

  int fd = -1;
  unsigned int checked_dir = 0;  /* the filesystem was checked for this
                                    at.dir_number */
  int hops = 0;
  bool followed = false;
  bool created = false;
  for (int retries = 0; fd < 0; )
    {
      struct stat name_st;
      int hops_before = hops;
      int found = find_target (&at, file, record, &hops, &name_st);
      if (found < 0)
        break;
      followed = hops != hops_before;
      bool exists = found;
      if (!exists && opt->no_create)
        {
          report_cannot_append (file, record, ENOENT, NULL);
          break;
        }
      if (exists && !target_acceptable (&at, file, record, &name_st))
        break;

      /* The filesystem the file is, or is about to be created, on.  A
         FIFO is a pipe in the kernel, whatever filesystem names it.  */
      if (!(exists && S_ISFIFO (name_st.st_mode))
          && checked_dir != at.dir_number)
        {
          if (!location_fs_permits (&at, file, record, opt))
            break;
          checked_dir = at.dir_number;
        }

      int flags = (O_WRONLY | O_APPEND | O_CLOEXEC
                   | (at.follow_last ? 0 : O_NOFOLLOW));
      fd = (exists
            ? openat (at.dirfd, at.name, flags | O_NONBLOCK)
            : openat (at.dirfd, at.name, flags | O_CREAT | O_EXCL, opt->mode));
      if (fd < 0)
        {
          /* The name changed between the look and the open.  */
          if ((exists ? errno == ENOENT || errno == ELOOP : errno == EEXIST)
              && retries++ < MAX_OPEN_RETRIES)
            continue;
          if (exists && errno == ENXIO && S_ISFIFO (name_st.st_mode))
            report_cannot_append (file, record, 0, "it is a FIFO that no "
                                  "process is reading");
          else
            report_cannot_append (file, record, errno, NULL);
          break;
        }
      if (fstat (fd, st) != 0)
        {
          report_cannot_append (file, record, errno, NULL);
          close (fd);
          fd = -1;
          break;
        }
      if (exists && !SAME_INODE (*st, name_st))
        {
          close (fd);
          fd = -1;
          if (retries++ < MAX_OPEN_RETRIES)
            continue;
          report_cannot_append (file, record, EAGAIN, NULL);
          break;
        }
      created = !exists;
    }

  if (0 <= fd && !created && fcntl (fd, F_SETFL, O_APPEND) != 0)
    {
      report_cannot_append (file, record, errno, NULL);
      close (fd);
      fd = -1;
    }
  if (0 <= fd && created && opt->sync && fsync_directory (at.dirfd) != 0)
    {
      /* FILE is there (here or after a rotation): say so, or status 3
         reads as "nothing changed"; and name the record that was not
         appended: -c's, when FILE is opened at the start.  */
      if (!record && opt->content)
        record = 1;
      report_cannot_append (file, record, errno, "created it, but cannot "
                            "sync its directory");
      close (fd);
      fd = -1;
    }

  if (by_descriptor)
    *by_descriptor = at.by_descriptor;
  if (by_symlink)
    *by_symlink = followed;
  location_end (&at);
  close_parent (&parent);
  return fd;
}

/* --check-fs for a /proc link to a pipe, socket, device or deleted
   file (AT->follow_last): the object it leads to, which appending
   would use (location_fs_permits), not the link in /proc.  */
static int
explain_followed (struct location const *at)
{
  int fd = openat (at->dirfd, at->name, O_PATH | O_CLOEXEC);
  if (fd < 0)
    {
      error (0, errno, "cannot examine %s", quoteaf (at->path));
      return EXIT_SYSERR;
    }
  int status = fs_explain_at (at->path, fd, NULL, NULL);
  close (fd);
  return status;
}

/* --check-fs for a FIFO, named or a pipe, shown as SHOWN: appending to
   it checks no filesystem, since a FIFO is a pipe in the kernel
   whatever filesystem names it, and keeps each record within PIPE_BUF,
   which a pipe writes whole.  */
static int
explain_fifo (char const *shown)
{
  printf ("%s: a FIFO (a pipe): no filesystem to check; records of at "
          "most %d bytes (PIPE_BUF) are written whole\n", shown, PIPE_BUF);
  return EXIT_DONE;
}

/* --check-fs: explain the filesystem open_file would judge for
   *OPERAND -- that of the file at the end of the symbolic links it
   would follow, or of the directory that file would be created in --
   and name that file.  A link open_file would not follow, a device or
   a socket, and a file or FIFO planted in a sticky directory
   (target_acceptable), are refused as it refuses them; for a FIFO
   there is no filesystem to judge.  A directory is
   explained as the filesystem files would be created on.  Return the
   exit status.  */
static int
explain_filesystem (char **operand)
{
  char const *file = *operand;
  struct parent_dir parent;
  if (has_trailing_slash (file) || !open_parent (file, &parent))
    return fs_explain_operands (1, operand);

  struct location at;
  location_start (&at, &parent, file);
  int hops = 0;
  struct stat name_st;
  int status = EXIT_SYSERR;
  int found = find_target (&at, file, 0, &hops, &name_st);
  bool refused = (found < 0
                  || (found > 0 && !S_ISDIR (name_st.st_mode)
                      && !target_acceptable (&at, file, 0, &name_st)));
  if (!refused)
    {
      if (hops > 0)
        printf ("%s: a symbolic link: examined %s, where records would "
                "go\n", file, at.path);
      if (found > 0 && S_ISFIFO (name_st.st_mode))
        status = explain_fifo (at.path);
      else if (at.follow_last)
        status = explain_followed (&at);
      else
        {
          char *dir = mdir_name (at.path);
          status = fs_explain_at (at.path, at.dirfd, at.name, dir);
          free (dir);
        }
    }
  location_end (&at);
  close_parent (&parent);
  return status;
}

/* Set up APP to append to FILE, open on FD, whose status is *ST.
   IN_ST is standard input's status, when the records come from it,
   else NULL.  BY_DESCRIPTOR tells that FILE led through a link in
   /proc.  APP
   takes *TRAIL, FILE's name traced before it was opened, or frees
   it.  */
static void
appender_init (struct appender *app, char const *file, int fd,
               struct stat const *st, struct stat const *in_st,
               bool by_descriptor, bool by_symlink,
               struct proc_trail *trail, struct options const *opt)
{
  memset (app, 0, sizeof *app);
  app->file = file;
  app->opt = opt;
  app->fd = fd;
  app->st = *st;
  app->in_st = in_st;
  app->by_symlink = by_symlink;
  app->fifo = S_ISFIFO (st->st_mode);
  /* A link in /proc names a descriptor, not a file: a rotation cannot
     be followed by it, and when the process that had the descriptor
     is gone the name names nothing, though the file we have open is
     there.  Go on where we are, as the shell's >> does.  */
  app->follow_name = !app->fifo && !opt->content && !by_descriptor;
  if (app->follow_name)
    app->trail = *trail;
  else
    trail_free (trail);
  clock_gettime (CLOCK_MONOTONIC_COARSE, &app->next_look);
  app->next_look.tv_sec += LOOK_INTERVAL_SECONDS;
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
  trail_free (&app->trail);
}

/* Is a stream whose status is *STREAM_ST FILE itself (whose status is
   *ST)?  Standard input that is: appending would never end.  A FIFO
   or pipe (/dev/stdin) would give back every record written to it,
   and its open write end would keep the end of input from ever
   coming.  Standard output that is, with --tee: the copy would go
   into FILE a second time -- and where not opened with O_APPEND
   ('>FILE'), at its own offset, over the records of every writer.  */
static bool
is_target (struct stat const *stream_st, struct stat const *st)
{
  return ((S_ISREG (stream_st->st_mode) || S_ISFIFO (stream_st->st_mode))
          && SAME_INODE (*stream_st, *st));
}

/* Is standard output FILE itself (whose status is *ST)?  */
static bool
output_is_target (struct stat const *st)
{
  struct stat out_st;
  return fstat (STDOUT_FILENO, &out_st) == 0 && is_target (&out_st, st);
}

/* Refuse FILE, whose status is *ST, if it is the file standard input
   is (IN_ST, its status, is not NULL: the records come from it) or,
   with TEE, the file standard output is (is_target): say so, and
   return true.  ROTATED: FILE was opened again after a rotation
   (follow_name), before RECORD (or 0); else it was opened at the start
   (safe_append).  */
static bool
refuse_own_stream (char const *file, struct stat const *st,
                   struct stat const *in_st, bool tee, bool rotated,
                   uintmax_t record)
{
  bool input_is_file = in_st && is_target (in_st, st);
  if (!input_is_file && !(tee && output_is_target (st)))
    return false;
  if (rotated)
    report_cannot_append (file, record, 0,
                          input_is_file
                          ? "after a rotation it is standard input"
                          : "after a rotation it is standard output: "
                            "--tee would write its records into it "
                            "again");
  else if (input_is_file)
    error (0, 0, "%s: input file is output file", quotef (file));
  else
    error (0, 0, "%s: standard output is FILE itself: --tee would "
           "write its records into it again", quotef (file));
  return true;
}

/* Why standard input cannot be read at all, or 0: it is closed
   (xstdopen put /dev/full, write-only, in its place) or a directory.
   Asked before FILE is opened, so that such input does not create
   FILE.  Set *IN_ST to its status, for refuse_own_stream (all zero,
   which is no file's, if it cannot be had).  */
static int
input_unreadable (struct stat *in_st)
{
  int flags = fcntl (STDIN_FILENO, F_GETFL);
  if (flags < 0 || (flags & O_ACCMODE) == O_WRONLY)
    return EBADF;
  if (fstat (STDIN_FILENO, in_st) != 0)
    memset (in_st, 0, sizeof *in_st);
  if (S_ISDIR (in_st->st_mode))
    return EISDIR;
  return 0;
}

static int
safe_append (char const *file, struct options const *opt)
{
  struct stat st;
  bool by_descriptor, by_symlink;
  /* Standard input's status, when the records come from it.  */
  struct stat in_st_buf;
  struct stat const *in_st = opt->content ? NULL : &in_st_buf;
  int input_errno = in_st ? input_unreadable (&in_st_buf) : 0;
  if (input_errno)
    {
      error (0, input_errno, "cannot append to %s: cannot read standard "
             "input", quoteaf (file));
      return EXIT_SYSERR;
    }
  /* FILE's name is traced before it is opened, for follow_name: a
     process the trail holds that has not ended by a look was there
     all through the open, which went through its directory.  Traced
     after, a process that ended just after the open and one given its
     pid meanwhile would be taken for each other.  (One that ends and
     whose pid is given to another before the open is seen to have
     ended, and the name is given up, but the open went through the
     new one's directory.)  */
  struct proc_trail trail = { 0 };
  if (!opt->content)
    trace_path (file, &trail);
  int fd = open_file (file, 0, opt, &st, &by_descriptor, &by_symlink);
  if (fd < 0)
    {
      trail_free (&trail);
      return EXIT_SYSERR;
    }
  if (refuse_own_stream (file, &st, in_st, opt->tee, false, 0))
    {
      close (fd);
      trail_free (&trail);
      return EXIT_SYSERR;
    }

  struct appender app;
  appender_init (&app, file, fd, &st, in_st, by_descriptor, by_symlink,
                 &trail, opt);
  bool ok = (opt->content
             ? append_text (&app, opt->content)
             : append_stream (&app, STDIN_FILENO));
  if (app.tee_stopped_at != 0)
    ok &= tee_stop_was_fine (&app, opt->quiet, ok);
  fd = app.fd;   /* a rotation may have changed it */
  appender_free (&app);
  if (close (fd) != 0 && ok)
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
  if (!parse_number (arg, "KMG", MAX_WRITE_SIZE, &size) || size == 0)
    usage_error ("invalid record size %s (use 1 to %zu bytes, with an "
                 "optional suffix K, M or G)", quote (arg), MAX_WRITE_SIZE);
  return size;
}

/* Whether STAMP, LEN bytes, is FORMAT with each "%%" made "%": what
   nstrftime gives when no conversion in FORMAT takes effect, since it
   copies what is not one ('%Q' stays "%Q", a trailing '%' stays "%").
   Every record would then get the same text.  */
static bool
stamp_is_literal (char const *stamp, size_t len, char const *format)
{
  size_t i = 0;
  for (char const *p = format; *p; p++)
    {
      if (p[0] == '%' && p[1] == '%')
        p++;
      if (i == len || stamp[i++] != *p)
        return false;
    }
  return i == len;
}

/* Refuse FORMAT, which has no conversion that takes effect.  */
static _Noreturn void
refuse_literal_format (char const *format)
{
  usage_error ("timestamp format %s has no %% conversion (-t rfc3339 "
               "gives the default format)", quote (format));
}

/* Check FORMAT by formatting the current time with it: it must have a
   conversion that takes effect, give some text (else every record
   would begin with a lone space), at most STAMP_MAX - 1 bytes, and no
   TERMINATOR, which would split every record in two.  A time that
   cannot be broken down is status 3.  */
static void
check_stamp_format (char const *format, char terminator)
{
  if (!*format)
    usage_error ("empty timestamp format");
  /* Without a conversion every record would get the same text: a
     misplaced operand or option, as in '-t log TEXT' or '-t --prefix'.
     (--prefix gives every record the same text.)  */
  if (!strchr (format, '%'))
    refuse_literal_format (format);
  char stamp[STAMP_MAX];
  struct timespec now = current_timespec ();
  struct tm tm;
  timezone_t tz = tzalloc (getenv ("TZ"));
  /* A clock past what struct tm can hold (EOVERFLOW) would fail every
     record, as update_head reports it: say so before FILE is opened,
     as a system error -- the format is not at fault.  */
  if (!localtime_rz (tz, &now.tv_sec, &tm))
    error (EXIT_SYSERR, errno, "cannot make a time stamp with format %s",
           quote (format));
  errno = 0;
  size_t len = nstrftime (stamp, sizeof stamp, format, &tm, tz,
                          now.tv_nsec);
  if (len == 0 && errno == ERANGE)
    usage_error ("timestamp format %s gives more than %d bytes",
                 quote (format), STAMP_MAX - 1);
  /* As '%Z' does where the zone has no abbreviation (TZ='<>0').  */
  if (len == 0)
    usage_error ("timestamp format %s gives no text", quote (format));
  tzfree (tz);
  if (stamp_is_literal (stamp, len, format))
    refuse_literal_format (format);
  if (memchr (stamp, terminator, len))
    usage_error ("timestamp format %s gives a newline, which would split "
                 "every record", quote (format));
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
  while ((c = getopt_long (argc, argv, "m:c:zt:Sq", long_options, NULL))
         != -1)
    {
      switch (c)
        {
        case 'm':
          opt.mode = xparse_mode (optarg);
          opt.explicit_mode = true;
          break;
        case 'c':
          if (opt.content)
            usage_error ("-c/--content given twice: one record per call");
          opt.content = optarg;
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
          opt.stamp_format = (strcmp (optarg, "rfc3339") == 0
                              ? DEFAULT_STAMP_FORMAT : optarg);
          break;
        case PREFIX_OPTION:
          /* --prefix="$TAG" with an empty TAG: no prefix, not a lone
             space.  */
          opt.tag = *optarg ? optarg : NULL;
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

  if (!check_fs)
    check_operand (argv[file_index]);
  if (opt.whole && opt.content)
    usage_error ("--whole reads standard input; it cannot go with "
                 "-c/--content");
  /* A prefix holding the terminator would split every record.  (With
     -z the terminator is NUL, which no argument can hold.)  */
  if (opt.tag && strchr (opt.tag, '\n') && opt.terminator == '\n')
    usage_error ("--prefix must not contain a newline: it would split "
                 "every record");
  if (opt.stamp_format)
    {
      /* Month and day names, %c and %x follow the locale, as date's do;
         LC_CTYPE too, which %^B's upper case and the names' multibyte
         characters follow (otherwise loaded only to quote a name).  */
      load_ctype_locale ();
      setlocale (LC_TIME, "");
      check_stamp_format (opt.stamp_format, opt.terminator);
    }
  /* --check-fs examines FILE only for a command line that would run:
     the option checks above come first, as in the other tools.  */
  if (check_fs)
    {
      if (optind < argc)
        usage_error ("extra operand %s", quote (argv[optind]));
      return explain_filesystem (argv + file_index);
    }
  /* A second operand is not taken as a record: with data waiting on
     standard input, 'FILE TEXT' would silently drop it, and a 'tee'
     habit ('FILE1 FILE2') would become a record.  */
  if (optind < argc)
    usage_error ("extra operand %s (a record is given with -c TEXT; "
                 "without -c, records come from standard input)",
                 quote (argv[optind]));

  /* With -m the mode is exact, as with mkdir -m: no umask applies.  */
  if (opt.explicit_mode)
    umask (0);

  /* SIGHUP, which log rotation sends, must not kill a streaming
     safe-append (and its producer with SIGPIPE): it makes it look at
     FILE's name before the next write.  SA_RESTART: a write to a FIFO
     waiting for room must go on waiting, not fail with EINTR.  */
  struct sigaction hangup_action = { .sa_handler = note_hangup,
                                     .sa_flags = SA_RESTART };
  sigemptyset (&hangup_action.sa_mask);
  sigaction (SIGHUP, &hangup_action, NULL);

  /* A failed write must come back as an error we can report with the
     record it concerns, not kill us: EPIPE from a FIFO or --tee
     output, EFBIG past the file size limit.  */
  signal (SIGPIPE, SIG_IGN);
  signal (SIGXFSZ, SIG_IGN);

  return safe_append (argv[file_index], &opt);
}

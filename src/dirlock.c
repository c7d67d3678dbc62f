/* dirlock.c -- a lock that is a directory, with its owner recorded inside.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

/* See dirlock.h for the layout and the protocol.  Why it is safe when
   many processes see the same stale lock at once:

   - Deciding that holding ID is stale and ending it are about the same
     holding: the record judged was read from LOCK/owner.ID, and the
     end is rename(LOCK/owner.ID -> LOCK.last), which only that
     holding's file can satisfy.  Of many breakers exactly one rename
     succeeds; the others get ENOENT.  A breaker that was slow and
     comes late finds owner.ID gone (the holding ended), and cannot hit
     a later holding, whose file has another ID.
   - A dead owner stays dead (pid with its start time), so the verdict
     cannot turn false between the judgement and the rename.  But the
     record can grow once, when lockdir's COMMAND names itself in it:
     a verdict of death is made again on the record read after the
     owner was seen dead (judge_holders).  A lease verdict can turn
     false, if the holder was stopped and resumes at that moment: that
     is the nature of leases, and why holdings carry a fencing token.
   - The rmdir after the rename removes LOCK only while it is empty:
     a new holding always has its owner file, so it is never removed.
   - Acquiring is one rename of a complete directory onto LOCK; rename
     replaces only an empty directory (an ended holding), so of many
     racers exactly one gets the lock.

   The fencing token: a new holding takes the token of LOCK.last plus
   one.  LOCK.last only changes when a holding ends, and holdings end
   one at a time, in order; once we hold the lock nothing else can end,
   so the holder re-reads LOCK.last after acquiring and, if another
   holding came and went meanwhile, takes a larger token (replacing its
   owner record in one rename).  */

#include <config.h>

#include "dirlock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fsclass.h"
#include "lockqueue.h"
#include "procfacts.h"
#include "same-inode.h"

#include "c-ctype.h"
#include "dirname.h"
#include "error.h"
#include "full-write.h"
#include "intprops.h"
#include "inttostr.h"
#include "stat-time.h"
#include "timespec.h"
#include "xalloc.h"
#include "xvasprintf.h"

#define OWNER_PREFIX "owner."
#define LAST_SUFFIX ".last"
#define FUSE_HIDDEN_PREFIX ".fuse_hidden"

/* The longest owner record we write or read.  */
enum { RECORD_MAX = DIRLOCK_COMMAND_MAX + 2048 };

/* An owner record's mode, whatever the umask: anyone may read it.  */
enum { RECORD_MODE = S_IRUSR | S_IWUSR | S_IRGRP | S_IROTH };

/* The size of a buffer for an owner file's name, "owner.ID".  */
enum { OWNER_NAME_SIZE = sizeof OWNER_PREFIX + DIRLOCK_ID_MAX };

/* The name of holding ID's owner file, in BUF.  */
static char *
owner_file_name (char buf[OWNER_NAME_SIZE], char const *id)
{
  snprintf (buf, OWNER_NAME_SIZE, OWNER_PREFIX "%s", id);
  return buf;
}

/* The size of a buffer for a record's path from the lock's parent,
   "LOCK/owner.ID".  */
enum { RECORD_PATH_SIZE = NAME_MAX + 1 + OWNER_NAME_SIZE };

/* The path of holding ID's owner record from the directory of PARENT
   (the lock), in BUF.  */
static char *
record_path (char buf[RECORD_PATH_SIZE], struct parent_dir const *parent,
             char const *id)
{
  snprintf (buf, RECORD_PATH_SIZE, "%s/" OWNER_PREFIX "%s", parent->base,
            id);
  return buf;
}

/* --- record fields ---------------------------------------------------- */

/* T (seconds since the epoch) as a UTC date and time in *TM.  By hand:
   glibc's gmtime_r, like its strftime, loads the local time zone on
   its first call, which a record that nobody prints does not need.
   (The civil-from-days conversion of Howard Hinnant's date algorithms,
   for the proleptic Gregorian calendar.)  */
static void
utc_time (time_t t, struct tm *tm)
{
  intmax_t days = t / 86400, secs = t % 86400;
  if (secs < 0)
    {
      secs += 86400;
      days--;
    }
  memset (tm, 0, sizeof *tm);
  tm->tm_hour = secs / 3600;
  tm->tm_min = secs / 60 % 60;
  tm->tm_sec = secs % 60;
  intmax_t z = days + 719468;
  intmax_t era = (z >= 0 ? z : z - 146096) / 146097;
  intmax_t doe = z - era * 146097;                          /* [0, 146096] */
  intmax_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  intmax_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);   /* [0, 365] */
  intmax_t mp = (5 * doy + 2) / 153;                        /* [0, 11] */
  tm->tm_mday = doy - (153 * mp + 2) / 5 + 1;
  tm->tm_mon = mp < 10 ? mp + 2 : mp - 10;
  tm->tm_year = yoe + era * 400 + (tm->tm_mon <= 1) - 1900;
}

/* WHEN as RFC 3339 time, to the millisecond: in UTC if UTC, else in
   local time (which loads the time zone).  */
static void
format_time (struct timespec when, bool utc, char *buf, size_t size)
{
  struct tm tm;
  if (utc)
    utc_time (when.tv_sec, &tm);
  else if (!localtime_r (&when.tv_sec, &tm))
    {
      snprintf (buf, size, "@%jd", (intmax_t) when.tv_sec);
      return;
    }
  /* By hand, not strftime, which loads the time zone even for UTC.  */
  long offset = tm.tm_gmtoff;
  char sign = offset < 0 ? '-' : '+';
  if (offset < 0)
    offset = -offset;
  snprintf (buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ld%c%02ld:%02ld",
            tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
            tm.tm_min, tm.tm_sec, when.tv_nsec / 1000000, sign,
            offset / 3600, offset / 60 % 60);
}

void
dirlock_format_time (struct timespec when, char *buf, size_t size)
{
  format_time (when, false, buf, size);
}

void
dirlock_stamp_now (char *buf, size_t size)
{
  /* In UTC: a record that nobody may ever print is not worth loading
     the time zone for.  */
  struct timespec now;
  clock_gettime (CLOCK_REALTIME, &now);
  format_time (now, true, buf, size);
}

/* Set *N to the number VALUE, if it is all decimal digits and at most
   MAX; else return false: a hand-edited pid=99999999999 must not wrap
   into some other process's pid, nor pid=123abc pass for 123.  */
static bool
parse_digits (char const *value, uintmax_t max, uintmax_t *n)
{
  *n = 0;
  if (!*value)
    return false;
  for (char const *p = value; *p; p++)
    {
      if (!c_isdigit (*p) || *n > (max - (*p - '0')) / 10)
        return false;
      *n = *n * 10 + (*p - '0');
    }
  return true;
}

/* The token written as VALUE: plain decimal digits, at most
   DIRLOCK_TOKEN_MAX; anything else is DIRLOCK_TOKEN_NONE.  */
static uintmax_t
parse_token (char const *value)
{
  uintmax_t token;
  return (parse_digits (value, DIRLOCK_TOKEN_MAX, &token)
          ? token : DIRLOCK_TOKEN_NONE);
}

/* --- owner records ------------------------------------------------- */

/* The owner record's fields, in the order written.  This table is the
   one place that names them: the record is written (format_record) and
   read (parse_record) from it, and dirlock_field gives lockdir what it
   prints (--status, --json, --help).  */
enum field_kind
{
  FIELD_TEXT,        /* char[SIZE] */
  FIELD_PID,         /* pid_t; absent when 0 */
  FIELD_ULL,         /* unsigned long long; absent when 0 if OPTIONAL */
  FIELD_TOKEN,       /* uintmax_t; absent when DIRLOCK_TOKEN_NONE */
  FIELD_UID,         /* long long; absent when -1 */
  FIELD_SECONDS,     /* struct timespec; absent when 0 */
  FIELD_MODE         /* bool shared: "shared"; absent when false */
};

struct field
{
  char const *key;
  enum field_kind kind;
  size_t offset;                 /* in struct dirlock_owner */
  size_t size;                   /* of a FIELD_TEXT buffer */
  bool optional;                 /* FIELD_PID, FIELD_ULL: 0 is absent */
};

#define FIELD(key, kind, optional) \
  { #key, kind, offsetof (struct dirlock_owner, key), \
    sizeof ((struct dirlock_owner *) 0)->key, optional }

static struct field const fields[] =
  {
    FIELD (id, FIELD_TEXT, false),
    FIELD (token, FIELD_TOKEN, false),
    FIELD (pid, FIELD_PID, false),
    FIELD (start_time, FIELD_ULL, false),
    FIELD (boot_id, FIELD_TEXT, false),
    FIELD (pidns, FIELD_ULL, false),
    FIELD (host, FIELD_TEXT, false),
    FIELD (uid, FIELD_UID, false),
    FIELD (acquired, FIELD_TEXT, false),
    FIELD (lease, FIELD_SECONDS, true),
    FIELD (child_pid, FIELD_PID, true),
    FIELD (child_start_time, FIELD_ULL, true),
    { "mode", FIELD_MODE, offsetof (struct dirlock_owner, shared),
      sizeof (bool), true },
    FIELD (command, FIELD_TEXT, false),
    /* A queue ticket's own: never in an owner record, so not among the
       keys dirlock_field gives.  */
    FIELD (waiter_pid, FIELD_PID, true),
    FIELD (waiter_start_time, FIELD_ULL, true),
  };
enum
{
  N_FIELDS = sizeof fields / sizeof *fields,
  N_OWNER_FIELDS = N_FIELDS - 2
};

/* Write field F of OWNER as text into BUF of SIZE.  Return false if
   the field is absent.  */
static bool
format_field (struct field const *f, struct dirlock_owner const *owner,
              char *buf, size_t size)
{
  void const *at = (char const *) owner + f->offset;
  switch (f->kind)
    {
    case FIELD_TEXT:
      snprintf (buf, size, "%s", (char const *) at);
      return true;
    case FIELD_PID:
      {
        pid_t pid = *(pid_t const *) at;
        snprintf (buf, size, "%ld", (long) pid);
        return !(f->optional && pid <= 0);
      }
    case FIELD_ULL:
      {
        unsigned long long n = *(unsigned long long const *) at;
        snprintf (buf, size, "%llu", n);
        return !(f->optional && n == 0);
      }
    case FIELD_TOKEN:
      {
        uintmax_t token = *(uintmax_t const *) at;
        snprintf (buf, size, "%ju", token);
        return token != DIRLOCK_TOKEN_NONE;
      }
    case FIELD_UID:
      {
        long long uid = *(long long const *) at;
        snprintf (buf, size, "%lld", uid);
        return uid >= 0;
      }
    case FIELD_SECONDS:
      {
        /* Rounded up to the millisecond: cut short, a lease would let
           others break a live holding early, and one below a
           millisecond would read back as none at all.  */
        struct timespec t = *(struct timespec const *) at;
        struct timespec up = { t.tv_sec,
                               (t.tv_nsec + 999999) / 1000000 * 1000000 };
        if (up.tv_nsec == 1000000000)
          {
            up.tv_sec++;
            up.tv_nsec = 0;
          }
        format_seconds (up, buf, size);
        return timespec_sign (t) > 0;
      }
    case FIELD_MODE:
      {
        bool shared = *(bool const *) at;
        snprintf (buf, size, "%s", shared ? "shared" : "exclusive");
        return shared;
      }
    }
  return false;
}

/* The number VALUE as for parse_digits, or 0 (as for no number at all)
   if it is not one.  */
static uintmax_t
parse_whole_number (char const *value, uintmax_t max)
{
  uintmax_t n;
  return parse_digits (value, max, &n) ? n : 0;
}

/* Set field F of OWNER from the text VALUE.  */
static void
parse_field (struct field const *f, char const *value,
             struct dirlock_owner *owner)
{
  void *at = (char *) owner + f->offset;
  switch (f->kind)
    {
    case FIELD_TEXT:
      copy_one_line (at, f->size, value);
      break;
    case FIELD_PID:
      *(pid_t *) at = parse_whole_number (value, TYPE_MAXIMUM (pid_t));
      break;
    case FIELD_ULL:
      /* Garbage is 0, as for a pid, never the largest value (a start
         time no process has).  */
      *(unsigned long long *) at = parse_whole_number (value, ULLONG_MAX);
      break;
    case FIELD_TOKEN:
      *(uintmax_t *) at = parse_token (value);
      break;
    case FIELD_UID:
      {
        /* Garbage is no uid (-1), not 0, which is root's.  */
        uintmax_t uid;
        *(long long *) at = (parse_digits (value, TYPE_MAXIMUM (uid_t),
                                           &uid)
                             ? (long long) uid : -1);
      }
      break;
    case FIELD_SECONDS:
      if (!parse_duration (value, at)
          || duration_is_infinite (*(struct timespec *) at))
        *(struct timespec *) at = (struct timespec) { 0, 0 };
      break;
    case FIELD_MODE:
      *(bool *) at = strcmp (value, "shared") == 0;
      break;
    }
}

bool
dirlock_field (size_t i, struct dirlock_owner const *owner,
               struct dirlock_value *value)
{
  if (i >= N_OWNER_FIELDS)
    return false;
  struct field const *f = &fields[i];
  value->key = f->key;
  value->text = f->kind == FIELD_TEXT || f->kind == FIELD_MODE;
  /* The mode is left out of an exclusive holding's record, but
     "exclusive" is what it is.  */
  value->present = (!owner
                     || format_field (f, owner, value->buf,
                                      sizeof value->buf)
                     || f->kind == FIELD_MODE);
  return true;
}

/* OWNER as "key=value" lines in BUF of SIZE; return the length.  If
   SHOWN, a pid of 0 (a record that names no process) is left out, as
   an absent field: it is no pid.  */
static size_t
format_record_as (struct dirlock_owner const *owner, char *buf, size_t size,
                  bool shown)
{
  size_t len = 0;
  for (size_t i = 0; i < N_FIELDS && len < size; i++)
    {
      char value[DIRLOCK_COMMAND_MAX + 1];
      if (shown && fields[i].kind == FIELD_PID
          && *(pid_t const *) ((char const *) owner + fields[i].offset) <= 0)
        continue;
      if (format_field (&fields[i], owner, value, sizeof value))
        len += snprintf (buf + len, size - len, "%s=%s\n", fields[i].key,
                         value);
    }
  return len < size ? len : size - 1;
}

static size_t
format_record (struct dirlock_owner const *owner, char *buf, size_t size)
{
  return format_record_as (owner, buf, size, false);
}

void
dirlock_owner_print (FILE *out, struct dirlock_owner const *owner)
{
  char buf[RECORD_MAX];
  size_t len = format_record (owner, buf, sizeof buf);
  fwrite (buf, 1, len, out);
}

void
dirlock_owner_show (FILE *out, struct dirlock_owner const *owner)
{
  char buf[RECORD_MAX];
  size_t len = format_record_as (owner, buf, sizeof buf, true);
  fwrite (buf, 1, len, out);
}

static bool
valid_id (char const *id)
{
  size_t len = strlen (id);
  if (len == 0 || len > DIRLOCK_ID_MAX)
    return false;
  for (char const *p = id; *p; p++)
    if (!c_isalnum ((unsigned char) *p) && *p != '-' && *p != '_')
      return false;
  return true;
}

/* Parse the record TEXT (modified) into OWNER.  Unknown keys are
   ignored, so records can grow.  */
static void
parse_record (char *text, struct dirlock_owner *owner)
{
  char *save;
  for (char *line = strtok_r (text, "\n", &save); line;
       line = strtok_r (NULL, "\n", &save))
    {
      char *eq = strchr (line, '=');
      if (!eq)
        continue;
      *eq = '\0';
      for (size_t i = 0; i < N_FIELDS; i++)
        if (strcmp (line, fields[i].key) == 0)
          {
            parse_field (&fields[i], eq + 1, owner);
            break;
          }
    }
}

static void
clear_owner (struct dirlock_owner *owner)
{
  memset (owner, 0, sizeof *owner);
  owner->token = DIRLOCK_TOKEN_NONE;
  owner->uid = -1;
}

/* Read the record in FD, a regular file whose status is *ST, into
   OWNER.  Return 0, or -1 with errno.  */
static int
read_record_fd (int fd, struct stat const *st, struct dirlock_owner *owner)
{
  char text[RECORD_MAX + 1];
  if (read_small (fd, text, sizeof text) < 0)
    return -1;
  clear_owner (owner);
  /* No bytes, or zero bytes (ext4 can leave a file's size on the disk
     without its data): what a crash leaves.  */
  owner->empty = text[0] == '\0';
  parse_record (text, owner);
  owner->heartbeat = get_stat_mtime (st);
  owner->file_uid = st->st_uid;
  return 0;
}

/* Read the record in file NAME of directory DIRFD into OWNER.  Return
   0, or -1 with errno (ENOENT: the holding has just ended).  */
static int
read_record (int dirfd, char const *name, struct dirlock_owner *owner)
{
  int fd = openat (dirfd, name,
                   O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return -1;
  struct stat st;
  int r = fstat (fd, &st);
  if (r == 0 && !S_ISREG (st.st_mode))
    {
      errno = EINVAL;
      r = -1;
    }
  if (r == 0)
    r = read_record_fd (fd, &st, owner);
  int saved_errno = errno;
  close (fd);
  errno = saved_errno;
  return r;
}

/* --- judging a holding --------------------------------------------- */

/* Does OWNER's record come from this host, boot and pid namespace, so
   that its pids can be checked here?  */
static bool
same_system (struct dirlock_owner const *owner)
{
  char const *boot_id = this_boot_id ();
  unsigned long long pidns = this_pidns ();
  return (owner->boot_id[0] && boot_id[0]
          && strcmp (owner->boot_id, boot_id) == 0
          && owner->pidns != 0 && owner->pidns == pidns
          && strcmp (owner->host, this_host ()) == 0);
}

static bool
has_lease (struct dirlock_owner const *owner)
{
  return (timespec_sign (owner->lease) > 0
          && !duration_is_infinite (owner->lease));
}

/* When OWNER's lease expires, on the monotonic clock.  */
static struct timespec
lease_expiry (struct dirlock_owner const *owner)
{
  struct timespec now_real;
  clock_gettime (CLOCK_REALTIME, &now_real);
  struct timespec expiry = timespec_add (owner->heartbeat, owner->lease);
  return timespec_add (monotonic_now (), timespec_sub (expiry, now_real));
}

/* The judgement of a holding: may it be broken, and if not, which
   process of this system keeps it (so a waiter can watch it exit).  */
struct verdict
{
  char const *stale;                /* why it may be broken, or NULL */
  pid_t live_pid;                   /* 0: none that we can watch */
  unsigned long long live_start_time;
};

/* Has OWNER's lease run out: is its heartbeat at least a lease old?  */
static bool
lease_ran_out (struct dirlock_owner const *owner)
{
  if (!has_lease (owner))
    return false;
  struct timespec now_real;
  clock_gettime (CLOCK_REALTIME, &now_real);
  struct timespec age = timespec_sub (now_real, owner->heartbeat);
  return timespec_cmp (age, owner->lease) >= 0;
}

static void
judge (struct dirlock_owner const *owner, struct verdict *v)
{
  v->stale = NULL;
  v->live_pid = 0;
  v->live_start_time = 0;
  if (lease_ran_out (owner))
    {
      v->stale = "its lease expired";
      return;
    }
  if (!same_system (owner))
    return;
  if (process_state (owner->pid, owner->start_time) != PROCESS_DEAD)
    {
      v->live_pid = owner->pid;
      v->live_start_time = owner->start_time;
    }
  else if (owner->child_pid > 0
           && (process_state (owner->child_pid, owner->child_start_time)
               != PROCESS_DEAD))
    {
      v->live_pid = owner->child_pid;
      v->live_start_time = owner->child_start_time;
    }
  else
    v->stale = "its owner is dead";
}

char const *
dirlock_stale_reason (struct dirlock_owner const *owner,
                      bool *kept_by_command)
{
  struct verdict v;
  judge (owner, &v);
  if (kept_by_command)
    *kept_by_command = (!v.stale && v.live_pid > 0
                        && v.live_pid == owner->child_pid
                        && v.live_pid != owner->pid);
  return v.stale;
}

/* Is process PID of this system (host, boot, pid namespace) the one
   OWNER's record names as RECORD_PID, started at RECORD_START_TIME?  */
static bool
names_process (struct dirlock_owner const *owner, pid_t record_pid,
               unsigned long long record_start_time, pid_t pid)
{
  unsigned long long start_time;
  return (record_pid == pid && same_system (owner)
          && process_start_time (pid, &start_time) == 0
          && start_time == record_start_time);
}

/* Does OWNER's record name process PID of this system (host, boot, pid
   namespace) with PID's current start time?  */
static bool
owned_by (struct dirlock_owner const *owner, pid_t pid)
{
  return names_process (owner, owner->pid, owner->start_time, pid);
}

/* Can this kernel watch a process exit through a pidfd?  */
static bool
pidfd_available (void)
{
#ifdef SYS_pidfd_open
  static int available = -1;
  if (available < 0)
    {
      int fd = syscall (SYS_pidfd_open, getpid (), 0);
      available = fd >= 0;
      if (fd >= 0)
        close (fd);
    }
  return available;
#else
  return false;
#endif
}

/* A descriptor that becomes readable when process PID, started at
   START_TIME, exits.  Return -1 with errno ESRCH if it has exited
   already, or with another errno if it cannot be watched.  */
static int
holder_exit_fd (pid_t pid, unsigned long long start_time)
{
#ifdef SYS_pidfd_open
  int fd = syscall (SYS_pidfd_open, pid, 0);
  if (fd < 0)
    return -1;
  /* The pid may have been reused between the judgement and the open:
     then the descriptor is of another process, and no use.  */
  if (process_state (pid, start_time) == PROCESS_DEAD)
    {
      close (fd);
      errno = ESRCH;
      return -1;
    }
  fcntl (fd, F_SETFD, FD_CLOEXEC);
  return fd;
#else
  (void) pid;
  (void) start_time;
  errno = ENOSYS;
  return -1;
#endif
}

/* --- looking at the lock ------------------------------------------- */

enum look
{
  LOOK_ABSENT,        /* no LOCK */
  LOOK_EMPTY,         /* an ended holding, not yet removed */
  LOOK_HELD,          /* a holding: *LOCK_FD and *HOLDERS are set */
  LOOK_FOREIGN        /* LOCK is something else (errno says what) */
};

/* Room for one more holder at the end of H.  */
static struct dirlock_owner *
next_holder (struct dirlock_holders *h)
{
  if (h->count == h->alloc)
    h->owner = x2nrealloc (h->owner, &h->alloc, sizeof *h->owner);
  return &h->owner[h->count++];
}

void
dirlock_holders_free (struct dirlock_holders *holders)
{
  free (holders->owner);
  holders->owner = NULL;
  holders->count = holders->alloc = 0;
}

bool
dirlock_holders_include (struct dirlock_holders const *holders,
                         char const *id)
{
  for (size_t i = 0; i < holders->count; i++)
    if (strcmp (holders->owner[i].id, id) == 0)
      return true;
  return false;
}

/* The owner record (its name in the holding's directory) that the
   last call could not read because it is not a regular file (see
   dirlock_bad_record), or "".  */
static char bad_record[OWNER_NAME_SIZE];

/* read_record of the owner record NAME in the holding's directory FD.
   One that is not a regular file (a FIFO; a symbolic link, whose open
   fails with ELOOP; a socket, whose open fails with ENXIO, as a device
   without a driver's does; whatever failed but ENOENT, if it is found
   not regular) is noted in bad_record, and fails with EINVAL.  */
static int
read_owner_record (int fd, char const *name, struct dirlock_owner *owner)
{
  int r = read_record (fd, name, owner);
  if (r != 0 && errno != ENOENT)
    {
      int saved_errno = errno;
      struct stat st;
      if (fstatat (fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0
          && !S_ISREG (st.st_mode))
        {
          snprintf (bad_record, sizeof bad_record, "%s", name);
          saved_errno = EINVAL;
        }
      errno = saved_errno;
    }
  return r;
}

char const *
dirlock_bad_record (void)
{
  return bad_record[0] ? bad_record : NULL;
}

/* Read the records of the holding whose directory is FD into HOLDERS,
   whose IDs look_at_lock has set.  Return 0, or -1 with errno (ENOENT:
   one of them ended meanwhile).  */
static int
read_holders (int fd, struct dirlock_holders *holders)
{
  for (size_t i = 0; i < holders->count; i++)
    {
      struct dirlock_owner *o = &holders->owner[i];
      char owner_name[OWNER_NAME_SIZE];
      owner_file_name (owner_name, o->id);
      if (read_owner_record (fd, owner_name, o) != 0)
        return -1;
      strcpy (o->id, owner_name + strlen (OWNER_PREFIX));
    }
  return 0;
}

/* Look at the lock NAME in DIRFD.  For LOOK_HELD, *LOCK_FD is the
   holding's directory (the caller closes it) and *HOLDERS its records
   (one exclusive, or one or more shared).  Return the look, or -1 with
   errno on error.  */
static int
look_at_lock (int dirfd, char const *name, int *lock_fd,
              struct dirlock_holders *holders)
{
  for (;;)
    {
      holders->count = 0;
      int fd;
      DIR *dir = opendir_at (dirfd, name, &fd);
      if (!dir)
        {
          if (errno == ENOENT)
            return LOOK_ABSENT;
          if (errno == ENOTDIR || errno == ELOOP)
            {
              errno = ENOTDIR;
              return LOOK_FOREIGN;
            }
          return -1;
        }
      size_t entries = 0;
      struct dirent *e;
      /* errno tells the end from a failure (EIO): a failed read must
         not make a held lock look empty, hence free.  */
      while ((errno = 0, e = readdir (dir)))
        {
          /* libfuse keeps a file unlinked or replaced while open under
             such a name until it is closed: an owner record that is
             gone already, not part of the lock.  */
          if (strcmp (e->d_name, ".") == 0 || strcmp (e->d_name, "..") == 0
              || strncmp (e->d_name, FUSE_HIDDEN_PREFIX,
                          strlen (FUSE_HIDDEN_PREFIX)) == 0)
            continue;
          entries++;
          if (strncmp (e->d_name, OWNER_PREFIX, strlen (OWNER_PREFIX)) == 0
              && valid_id (e->d_name + strlen (OWNER_PREFIX)))
            strcpy (next_holder (holders)->id,
                    e->d_name + strlen (OWNER_PREFIX));
        }
      int read_errno = errno;
      closedir (dir);
      if (read_errno != 0)
        {
          close (fd);
          errno = read_errno;
          return -1;
        }

      if (entries == 0)
        {
          close (fd);
          return LOOK_EMPTY;
        }
      if (entries != holders->count)
        {
          close (fd);
          errno = ENOTEMPTY;
          return LOOK_FOREIGN;
        }
      if (read_holders (fd, holders) != 0)
        {
          int saved_errno = errno;
          close (fd);
          /* A holding ended while we looked: look again.  */
          if (saved_errno == ENOENT)
            continue;
          errno = saved_errno;
          return -1;
        }
      /* Several records are shared holders, or not a lock of ours.  */
      for (size_t i = 0; holders->count > 1 && i < holders->count; i++)
        if (!holders->owner[i].shared)
          {
            close (fd);
            errno = ENOTEMPTY;
            return LOOK_FOREIGN;
          }
      *lock_fd = fd;
      return LOOK_HELD;
    }
}

/* Name of the file that keeps the last record: "LOCK.last".  */
static bool
last_name (char const *base, char *buf, size_t size)
{
  int n = snprintf (buf, size, "%s" LAST_SUFFIX, base);
  if (n < 0 || (size_t) n >= size)
    {
      errno = ENAMETOOLONG;
      return false;
    }
  return true;
}

/* Close the descriptor of LOCK.last that KEPT holds, if any.  */
static void
forget_history (struct kept_history *kept)
{
  if (kept->fd >= 0)
    close (kept->fd);
  kept->fd = -1;
}

/* Why the last call failed because of LOCK.last, or of a queue ticket
   (see dirlock_fault).  */
static struct
{
  bool set;
  char *file;                   /* LOCK.last as the caller named LOCK */
  char const *problem;          /* NULL: errno says */
  bool unwritable;              /* FILE could not be written, not read */
  /* FILE is in a sticky directory, where the caller may not remove it:
     only root and DIR_UID, the directory's owner, may do so for it.  */
  bool others_remove;
  uid_t dir_uid;
  char problem_buf[160];
} fault;

static void
clear_fault (void)
{
  bad_record[0] = '\0';
  free (fault.file);
  fault.file = NULL;
  fault.problem = NULL;
  fault.unwritable = false;
  fault.others_remove = false;
  fault.set = false;
}

/* The file NAME in PARENT's directory is at fault: PROBLEM, or, if
   NULL, errno.  */
static void
set_fault_in (struct parent_dir const *parent, char const *name,
              char const *problem)
{
  int saved_errno = errno;
  clear_fault ();
  fault.file = path_in_parent (parent, name);
  fault.problem = problem;
  fault.set = true;
  errno = saved_errno;
}

/* LOCK.last of PARENT is at fault: PROBLEM, or, if NULL, errno.  */
static void
set_fault (struct parent_dir const *parent, char const *problem)
{
  char *last = xasprintf ("%s" LAST_SUFFIX, parent->base);
  set_fault_in (parent, last, problem);
  free (last);
}

bool
dirlock_fault_others_remove (uid_t *dir_uid)
{
  *dir_uid = fault.dir_uid;
  return fault.set && fault.others_remove;
}

bool
dirlock_fault_unwritable (void)
{
  return fault.set && fault.unwritable;
}

bool
dirlock_fault (char const **file, char const **problem)
{
  if (!fault.set)
    return false;
  *file = fault.file;
  *problem = fault.problem;
  return true;
}

/* May LOCK.last, whose status is ST, be used, in the directory
   PARENT?  In a sticky directory anyone may create a name, but only
   its owner, root and the directory's owner may replace or remove it.
   So there a history that belongs neither to us, nor to root, nor to
   the directory's owner may have been planted, and is not trusted; and
   one of root or the directory's owner is of no use to anyone else,
   whose holding could not replace it when it ends: the tokens would
   repeat.  Elsewhere whoever could plant it could as well replace LOCK
   itself.  Return NULL, or the problem; then if the caller may not
   remove LOCK.last, set *DIR_UID to the directory's owner, who (and
   root) may, else to -1.  */
static char const *
untrusted_history (struct parent_dir const *parent, struct stat const *st,
                   uid_t *dir_uid)
{
  uid_t me = geteuid ();
  if (st->st_uid == me)
    return NULL;
  struct stat dir;
  if (fstat (parent->fd, &dir) != 0 || !(dir.st_mode & S_ISVTX))
    return NULL;
  bool trusted = st->st_uid == 0 || st->st_uid == dir.st_uid;
  bool replaceable = me == 0 || me == dir.st_uid;
  if (trusted && replaceable)
    return NULL;
  *dir_uid = replaceable ? (uid_t) -1 : dir.st_uid;
  if (trusted)
    snprintf (fault.problem_buf, sizeof fault.problem_buf,
              "belongs to uid %ju, in a sticky directory, where uid %ju "
              "cannot replace it: the fencing tokens would repeat",
              (uintmax_t) st->st_uid, (uintmax_t) me);
  else
    snprintf (fault.problem_buf, sizeof fault.problem_buf,
              "belongs to uid %ju, in a sticky directory",
              (uintmax_t) st->st_uid);
  return fault.problem_buf;
}

static int last_token_kept (struct parent_dir const *parent,
                            uintmax_t *token, struct kept_history *kept);

/* Read the token of the last holding that ended into *TOKEN (0 if there
   is none).  Return 0; or -1 with errno and the fault set (see
   dirlock_fault), errno EINVAL when LOCK.last is unusable: not a
   regular file, untrusted, or without a token that can be followed.  */
static int
last_token (struct parent_dir const *parent, uintmax_t *token)
{
  return last_token_kept (parent, token, NULL);
}

/* last_token, and if LOCK.last was read, keep its descriptor in *KEPT
   (else -1) and its device and inode in *KEPT_ST.  */
static int
last_token_kept (struct parent_dir const *parent, uintmax_t *token,
                 struct kept_history *kept)
{
  char name[NAME_MAX + 1];
  if (!last_name (parent->base, name, sizeof name))
    return -1;
  *token = 0;
  /* O_NONBLOCK: a FIFO planted there must not hang us.  */
  int fd = openat (parent->fd, name,
                   O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    {
      if (errno == ENOENT)
        return 0;
      char const *problem = (errno == ELOOP ? "is a symbolic link"
                             : errno == ENXIO ? "is not a regular file"
                             : NULL);
      set_fault (parent, problem);
      if (problem)
        errno = EINVAL;
      return -1;
    }
  struct stat st;
  struct dirlock_owner last;
  char const *problem = NULL;
  uid_t dir_uid = -1;
  int r = fstat (fd, &st);
  if (r == 0 && !S_ISREG (st.st_mode))
    problem = "is not a regular file";
  else if (r == 0 && !(problem = untrusted_history (parent, &st, &dir_uid)))
    {
      r = read_record_fd (fd, &st, &last);
      if (r == 0 && last.empty)
        problem = "is empty (a system crash can leave it so)";
      else if (r == 0 && last.token == DIRLOCK_TOKEN_NONE)
        problem = "holds no valid fencing token";
      else if (r == 0 && last.token == DIRLOCK_TOKEN_MAX)
        problem = "holds the largest fencing token there is";
    }
  int saved_errno = errno;
  if (r != 0 || problem || !kept)
    close (fd);
  if (r != 0 || problem)
    {
      set_fault (parent, problem);
      fault.others_remove = dir_uid != (uid_t) -1;
      fault.dir_uid = dir_uid;
      errno = problem ? EINVAL : saved_errno;
      return -1;
    }
  if (kept)
    {
      kept->fd = fd;
      kept->dev = st.st_dev;
      kept->ino = st.st_ino;
    }
  *token = last.token;
  return 0;
}

/* Is LOCK.last's failure one of an unusable history, rather than of the
   system?  */
static bool
history_unusable (void)
{
  return fault.set && fault.problem;
}

/* Whether ERRNUM, from renaming a record over LOCK.last, says that
   LOCK.last is something the record may not replace: a directory, or
   another user's name in a sticky directory (EPERM, or EACCES as
   rename(2) allows).  Any other failure (ENOSPC or EDQUOT when the
   directory must grow, EIO) says nothing about LOCK.last, which then
   still holds an older token: ending the holding anyway would let the
   next holder take this holding's token again.  */
static bool
cannot_replace_last (int errnum)
{
  return (errnum == EISDIR || errnum == ENOTEMPTY || errnum == EEXIST
          || errnum == EPERM || errnum == EACCES);
}

/* End holding ID with token TOKEN, whose directory is LOCK_FD: remove
   its queue ticket, move its record to LOCK.last (or, without HISTORY,
   delete it), then remove the empty directory.  Return 0 if we ended
   it, 1 if it had already ended, -1 with errno on error (the holding
   then stays, without its ticket: it still excludes).  If DIR_ERRNO is
   not NULL, set it to the errno of an rmdir that failed for a reason
   other than the harmless ones below, else to 0.

   LOCK.last must never go down.  While the holding exists no other can
   end, so LOCK.last cannot change under us; a holding killed before it
   settled its token may carry one not above LOCK.last's, and is then
   ended by unlinking its record instead, as is one without a valid
   token.  SETTLED says the token is known to be above LOCK.last's (our
   own holding settled it when it acquired the lock), so LOCK.last need
   not be read: a release then needs no new descriptor.

   An unusable LOCK.last (planted, or poisoned) never keeps a holding
   from ending: the record replaces it if it may, and is unlinked if
   not; the next acquisition reports what is wrong with it.

   RETIRE_TICKET: the holding's ticket, if it has one, is retired (see
   lockqueue_remove_holding); false only for our own holding when our
   exit, which comes next, wakes the waiter behind it.  A ticket that
   cannot be removed is added to LEFT, or warned of at once if LEFT is
   NULL.  */
static int
end_holding (struct parent_dir const *parent, int lock_fd, char const *id,
             uintmax_t token, bool history, bool settled, bool retire_ticket,
             int *dir_errno, struct dirlock_temps_left *left)
{
  if (dir_errno)
    *dir_errno = 0;
  char owner_name[OWNER_NAME_SIZE];
  char last[NAME_MAX + 1];
  owner_file_name (owner_name, id);
  bool keep = history && token != DIRLOCK_TOKEN_NONE;
  if (keep && !last_name (parent->base, last, sizeof last))
    return -1;
  if (keep && !settled)
    {
      uintmax_t last_token_value;
      if (last_token (parent, &last_token_value) == 0)
        keep = last_token_value < token;
      else if (!history_unusable ())
        return -1;
    }
  /* The holding's ticket, if it came through the queue, goes first:
     once the record goes, LOCK is free, and a ticket left until then
     would stand for a waiter that does not exist (-n would fail,
     "free, but 1 waiter is queued").  A holding without its ticket
     excludes all the same.  A waiter sleeping on the ticket wakes now
     if it is retired (else at our exit), finds LOCK still held, and
     watches LOCK.  */
  lockqueue_remove_holding (parent, id, retire_ticket, left);
  int r = keep ? renameat (lock_fd, owner_name, parent->fd, last) : -1;
  if (r != 0 && (!keep || cannot_replace_last (errno)))
    {
      /* Not kept, or LOCK.last could not be replaced (a directory in
         its place, another user's name in a sticky directory).  */
      r = unlinkat (lock_fd, owner_name, 0);
    }
  if (r != 0)
    return errno == ENOENT ? 1 : -1;
  /* Fails harmlessly (ENOTEMPTY) if a new holding already replaced
     the empty directory, or other shared holders remain, or (ENOENT)
     if someone else removed it.  */
  if (unlinkat (parent->fd, parent->base, AT_REMOVEDIR) != 0 && dir_errno
      && errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT)
    *dir_errno = errno;
  return 0;
}

/* --- our own holding ----------------------------------------------- */

static void
new_id (char *id)
{
  unsigned char bytes[16];
  if (getrandom (bytes, sizeof bytes, GRND_NONBLOCK) != sizeof bytes)
    {
      /* No entropy yet (early boot): unique is enough.  */
      static unsigned int counter;
      struct timespec now;
      clock_gettime (CLOCK_REALTIME, &now);
      uint64_t a = ((uint64_t) getpid () << 32) ^ counter++;
      uint64_t b = ((uint64_t) now.tv_sec << 30) ^ now.tv_nsec;
      memcpy (bytes, &a, 8);
      memcpy (bytes + 8, &b, 8);
    }
  for (size_t i = 0; i < sizeof bytes; i++)
    sprintf (id + 2 * i, "%02x", bytes[i]);
}

/* Our holding has just been made, with the cleanup signals blocked
   (they wait until we unblock them).  Until it is released or handed
   over (dirlock_detach, dirlock_keep), an exit, or a cleanup signal
   that came meanwhile, ends it as it removes a temporary: our record,
   then the directory, if that is then empty (an empty LOCK is free).
   Our caller has not been told that it holds the lock, and must not be
   left holding it.  A signal that comes later does so only where the
   cleanup handlers are installed anyway (temp_adopt_lazily: installing
   them would cost every lockdir some fifty system calls).  So where
   the owner is another process (a script), whose holding outlives us,
   the signals stay blocked from here until it is handed over, and the
   caller blocks them from then on: a signal in between would otherwise
   kill us with the default action and leave the script holding a lock
   it was told it failed to get.  One that came before the holding was
   made (pending in the step that made it) still ends it, as it would
   end our own.  Best effort: a full cleanup table registers nothing.  */
static void
adopt_holding (struct dirlock *lock)
{
  if (lock->owner_is_other && !lock->signals_held
      && !cleanup_signal_pending ())
    {
      block_cleanup_signals ();
      lock->signals_held = true;
    }
  char owner_name[OWNER_NAME_SIZE];
  owner_file_name (owner_name, lock->self.id);
  if (temp_adopt_lazily (&lock->held_record, lock->lock_fd, owner_name,
                         TEMP_FILE) == 0)
    temp_adopt_lazily (&lock->held_dir, lock->parent.fd, lock->parent.base,
                       TEMP_DIR);
}

/* Undo adopt_holding: the holding is ended by the caller, or handed
   over.  */
static void
forget_holding (struct dirlock *lock)
{
  if (lock->held_dir.slot >= 0)
    temp_forget (&lock->held_dir);
  if (lock->held_record.slot >= 0)
    temp_forget (&lock->held_record);
  if (lock->signals_held)
    {
      lock->signals_held = false;
      unblock_cleanup_signals ();
    }
}

/* Fill LOCK->self for a new holding.  */
static int
init_self (struct dirlock *lock, struct dirlock_config const *config)
{
  struct dirlock_owner *self = &lock->self;
  clear_owner (self);
  new_id (self->id);
  lock->owner_is_other = config->owner_pid > 0;
  if (lock->owner_is_other)
    {
      self->pid = config->owner_pid;
      if (process_start_time (self->pid, &self->start_time) != 0)
        return -1;
    }
  else if (self_start_time (&self->pid, &self->start_time) != 0)
    {
      /* No /proc, or another pid namespace's, whose /proc/PID/stat
         would be someone else's: no start time (the command, which
         reads its own, refuses to run).  */
      self->pid = getpid ();
      self->start_time = 0;
    }
  copy_one_line (self->boot_id, sizeof self->boot_id, this_boot_id ());
  self->pidns = this_pidns ();
  copy_one_line (self->host, sizeof self->host, this_host ());
  self->uid = geteuid ();
  self->shared = config->shared;
  if (timespec_sign (config->lease) > 0
      && !duration_is_infinite (config->lease))
    self->lease = config->lease;
  if (config->command)
    copy_one_line (self->command, sizeof self->command, config->command);
  else
    process_command (self->pid, self->command, sizeof self->command);

  /* Whoever may end the lock must be able to write in it.  The owner
     may; so may the group of a directory shared by a group (writable by
     its group, but not by everyone, as a sticky /tmp is).  */
  struct stat dir;
  if (fstat (lock->parent.fd, &dir) != 0)
    return -1;
  lock->dir_mode = S_IRWXU | S_IRGRP | S_IXGRP | S_IROTH | S_IXOTH;
  if ((dir.st_mode & S_IWGRP) && !(dir.st_mode & S_IWOTH))
    lock->dir_mode |= S_IWGRP;
  return 0;
}

/* Write OWNER's record to FD.  A record with a lease reaches the disk
   before it is published: the lease is what frees a lock whose host
   crashed, and a crash can lose a record's data (ext4 and xfs write it
   up to 30 s after the name) and with it the lease.  On a network
   filesystem it also makes the record, lease and all, visible to the
   other hosts at once.  */
static int
write_record (int fd, struct dirlock_owner const *owner)
{
  char buf[RECORD_MAX];
  size_t len = format_record (owner, buf, sizeof buf);
  if (full_write (fd, buf, len) != len)
    return -1;
  return has_lease (owner) ? fdatasync (fd) : 0;
}

int
dirlock_add_child (struct dirlock const *lock, pid_t child_pid,
                   unsigned long long child_start_time)
{
  /* inttostr: no locale, no allocation, nothing a vfork child must
     not touch.  */
  char pid_text[INT_BUFSIZE_BOUND (intmax_t)];
  char start_text[INT_BUFSIZE_BOUND (uintmax_t)];
  char lines[sizeof "child_pid=\nchild_start_time=\n"
             + sizeof pid_text + sizeof start_text];
  char *end = stpcpy (lines, "child_pid=");
  end = stpcpy (end, imaxtostr (child_pid, pid_text));
  end = stpcpy (end, "\nchild_start_time=");
  end = stpcpy (end, umaxtostr (child_start_time, start_text));
  end = stpcpy (end, "\n");
  size_t len = end - lines;

  /* At the end of the record, in one write: a reader sees the record
     without the lines or with both (a record is far smaller than a
     page).  */
  struct stat st;
  if (fstat (lock->owner_fd, &st) != 0)
    return -1;
  ssize_t n = pwrite (lock->owner_fd, lines, len, st.st_size);
  if (n < 0)
    return -1;
  if (n != (ssize_t) len)
    {
      /* Take back a part: a record's lines are whole.  */
      if (ftruncate (lock->owner_fd, st.st_size) == 0)
        errno = ENOSPC;
      return -1;
    }
  return 0;
}

enum attempt { ATTEMPT_ACQUIRED, ATTEMPT_EXISTS, ATTEMPT_ERROR };

/* The rename of our temporary directory DIR_FD onto LOCK reported an
   error: did it happen all the same?  On NFS a retransmitted request
   can fail (ENOENT: the source is gone) after the server did the first
   one.  Then LOCK is our directory.  Keeps errno.  */
static bool
renamed_after_all (struct parent_dir const *parent, int dir_fd)
{
  int saved_errno = errno;
  struct stat lock_st, ours;
  bool ours_now = (fstatat (parent->fd, parent->base, &lock_st,
                            AT_SYMLINK_NOFOLLOW) == 0
                   && fstat (dir_fd, &ours) == 0
                   && SAME_INODE (lock_st, ours));
  errno = saved_errno;
  return ours_now;
}

/* Keep SHOWN (malloc'd, now LEFT's) with ERRNUM in LEFT; UNREAD_QUEUE
   if it is a queue that could not be read, not a temporary left.  */
static void
keep_shown (struct dirlock_temps_left *left, char *shown, int errnum,
            bool unread_queue)
{
  if (left->count == left->alloc)
    left->temp = x2nrealloc (left->temp, &left->alloc, sizeof *left->temp);
  struct dirlock_temp_left *t = &left->temp[left->count++];
  t->shown = shown;
  t->errnum = errnum;
  t->unread_queue = unread_queue;
}

void
dirlock_keep_temp_left (struct dirlock_temps_left *left,
                        struct parent_dir const *parent, char const *name,
                        int errnum)
{
  keep_shown (left, path_in_parent (parent, name), errnum, false);
}

static void
warn_queue_unread_shown (char const *shown, int errnum)
{
  error (0, errnum, "warning: cannot read the queue %s, so the holding's "
         "ticket, if it has one, stays", quoteaf (shown));
}

void
dirlock_warn_queue_unread (struct dirlock_temps_left *left,
                           struct parent_dir const *parent,
                           char const *qname, int errnum)
{
  char *shown = path_in_parent (parent, qname);
  if (!left)
    {
      warn_queue_unread_shown (shown, errnum);
      free (shown);
      return;
    }
  /* The holders of a shared lock, ended in one call, each find it
     so: say it once.  */
  for (size_t i = 0; i < left->count; i++)
    if (left->temp[i].unread_queue
        && strcmp (left->temp[i].shown, shown) == 0)
      {
        free (shown);
        return;
      }
  keep_shown (left, shown, errnum, true);
}

/* temp_remove, and dirlock_keep_temp_left if TEMP could not be
   removed.  Keep errno.  */
static void
temp_remove_keep (struct temp_name *temp, struct parent_dir const *parent,
                  struct dirlock_temps_left *left)
{
  int saved_errno = errno;
  /* TEMP keeps its name once unregistered.  */
  if (!temp_remove (temp))
    dirlock_keep_temp_left (left, parent, temp->name, errno);
  errno = saved_errno;
}

void
dirlock_warn_temps_left (struct dirlock_temps_left *left)
{
  int saved_errno = errno;
  for (size_t i = 0; i < left->count; i++)
    {
      if (left->temp[i].unread_queue)
        warn_queue_unread_shown (left->temp[i].shown, left->temp[i].errnum);
      else
        warn_temp_left_shown (left->temp[i].shown, left->temp[i].errnum);
      free (left->temp[i].shown);
    }
  free (left->temp);
  left->temp = NULL;
  left->count = left->alloc = 0;
  errno = saved_errno;
}

/* With cleanup signals blocked: if one is pending, it ends us at the
   unblock, and the warnings kept in LEFT for later with us: say them
   now.  */
static void
warn_temps_left_if_ending (struct dirlock_temps_left *left)
{
  if (left->count > 0 && cleanup_signal_pending ())
    dirlock_warn_temps_left (left);
}

/* Try once to create the lock: build the directory with our record
   under a temporary name, then rename it to LOCK.  */
static enum attempt
try_create (struct dirlock *lock)
{
  struct parent_dir *parent = &lock->parent;
  char owner_name[OWNER_NAME_SIZE];
  owner_file_name (owner_name, lock->self.id);

  /* The token is settled after the rename (settle_token); read the
     candidate as late as possible, so that it rarely needs to be.
     Without a history there is no token to carry on.  */
  uintmax_t last = 0;
  forget_history (&lock->last);
  if (lock->history && last_token_kept (parent, &last, &lock->last) != 0)
    return ATTEMPT_ERROR;
  lock->self.token = lock->self.shared ? last : last + 1;

  /* The directory holds a file, so the signal cleanup (which can only
     remove an empty directory) could not remove it: hold the cleanup
     signals until the temporary is gone or has become the lock.  */
  block_cleanup_signals ();

  /* Before anything whose errno we report (in UTC, it loads no time
     zone, but a library call may still set errno).  */
  dirlock_stamp_now (lock->self.acquired, sizeof lock->self.acquired);

  struct temp_name temp;
  int dir_fd = -1, owner_fd = -1;
  int err = 0;
  /* The modes are the lock's, not the caller's umask's: a umask of 0
     must not let every user end the lock.  */
  mode_t old_umask = umask (0);
  if (temp_create (&temp, parent->fd, TEMP_DIR, lock->dir_mode, NULL) != 0)
    {
      err = errno;
      umask (old_umask);
      unblock_cleanup_signals ();
      errno = err;
      return ATTEMPT_ERROR;
    }
  dir_fd = openat (parent->fd, temp.name,
                   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir_fd < 0)
    err = errno;
  else
    {
      owner_fd = openat (dir_fd, owner_name,
                         O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                         RECORD_MODE);
      if (owner_fd < 0 || write_record (owner_fd, &lock->self) != 0)
        err = errno;
    }
  umask (old_umask);

  if (err == 0
      && (renameat (parent->fd, temp.name, parent->fd, parent->base) == 0
          || renamed_after_all (parent, dir_fd)))
    {
      temp_forget (&temp);
      lock->lock_fd = dir_fd;
      lock->owner_fd = owner_fd;
      adopt_holding (lock);
      unblock_cleanup_signals ();
      return ATTEMPT_ACQUIRED;
    }
  if (err == 0)
    err = errno;

  int record_left_errno = 0;
  if (owner_fd >= 0)
    {
      close (owner_fd);
      if (unlinkat (dir_fd, owner_name, 0) != 0)
        record_left_errno = errno;
    }
  if (dir_fd >= 0)
    close (dir_fd);
  /* A record left in it makes the rmdir fail (ENOTEMPTY): name the
     record's error, the one that left the directory there.  */
  if (!temp_remove (&temp))
    dirlock_keep_temp_left (&lock->temps_left, parent, temp.name,
                    record_left_errno ? record_left_errno : errno);
  warn_temps_left_if_ending (&lock->temps_left);
  unblock_cleanup_signals ();

  /* ENOTEMPTY or EEXIST: LOCK is a non-empty directory.  ENOTDIR:
     LOCK is not a directory, which the next look reports.  */
  if (err == ENOTEMPTY || err == ENOTDIR
      || creation_error_means_exists (parent->fd, parent->base, err))
    return ATTEMPT_EXISTS;
  errno = err;
  return ATTEMPT_ERROR;
}

/* Write OWNER's record complete (write_record) into a new temporary
   file in PARENT's directory, named in *TEMP, with mode RECORD_MODE
   whatever the umask.  Return its descriptor, or -1 with errno, leaving
   nothing behind (or what could not be removed, kept in LEFT).  */
static int
write_temp_record (struct parent_dir const *parent,
                   struct dirlock_owner const *owner, struct temp_name *temp,
                   struct dirlock_temps_left *left)
{
  mode_t old_umask = umask (0);
  int fd = temp_create (temp, parent->fd, TEMP_FILE, RECORD_MODE, NULL);
  int saved_errno = errno;
  umask (old_umask);
  if (fd >= 0 && write_record (fd, owner) != 0)
    {
      saved_errno = errno;
      close (fd);
      temp_remove_keep (temp, parent, left);
      fd = -1;
    }
  errno = saved_errno;
  return fd;
}

/* Write LOCK->self complete under a temporary name in LOCK's directory
   and rename it to our owner file in the directory DIR_FD, so that no
   reader sees it partial.  Return the new file's descriptor, or -1 with
   errno (ENOENT: DIR_FD's directory has been removed).  */
static int
publish_record (struct dirlock *lock, int dir_fd)
{
  char owner_name[OWNER_NAME_SIZE];
  owner_file_name (owner_name, lock->self.id);
  struct temp_name temp;
  int fd = write_temp_record (&lock->parent, &lock->self, &temp,
                              &lock->temps_left);
  if (fd < 0)
    return -1;
  if (renameat (lock->parent.fd, temp.name, dir_fd, owner_name) != 0)
    {
      int saved_errno = errno;
      close (fd);
      temp_remove_keep (&temp, &lock->parent, &lock->temps_left);
      errno = saved_errno;
      return -1;
    }
  temp_forget (&temp);
  return fd;
}

/* Replace our owner file with the current LOCK->self, in one rename.  */
static int
rewrite_owner (struct dirlock *lock)
{
  /* Still ours?  If the holding was broken, a rename would put an owner
     file back into a directory that is no longer a lock.  */
  char owner_name[OWNER_NAME_SIZE];
  owner_file_name (owner_name, lock->self.id);
  struct stat st;
  if (fstatat (lock->lock_fd, owner_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    {
      errno = ESTALE;
      return -1;
    }
  /* Not open while it is replaced: a FUSE filesystem would keep it as
     a hidden file inside the lock (see look_at_lock).  */
  close (lock->owner_fd);
  int fd = publish_record (lock, lock->lock_fd);
  if (fd < 0)
    {
      int saved_errno = errno == ENOENT ? ESTALE : errno;
      lock->owner_fd = openat (lock->lock_fd, owner_name,
                               O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      errno = saved_errno;
      return -1;
    }
  lock->owner_fd = fd;
  return 0;
}

/* Join the shared holding whose directory LOCK_FD we found: our owner
   record, renamed into it.  On ATTEMPT_ACQUIRED the lock keeps
   LOCK_FD.  */
static enum attempt
try_join (struct dirlock *lock, int lock_fd)
{
  /* LOCK.last is kept open, as by try_create, so that settle_token
     need not read it again.  */
  uintmax_t last = 0;
  forget_history (&lock->last);
  if (lock->history
      && last_token_kept (&lock->parent, &last, &lock->last) != 0)
    return ATTEMPT_ERROR;
  lock->self.token = last;
  dirlock_stamp_now (lock->self.acquired, sizeof lock->self.acquired);
  block_cleanup_signals ();     /* until adopt_holding */
  int fd = publish_record (lock, lock_fd);
  if (fd >= 0)
    {
      lock->lock_fd = lock_fd;
      lock->owner_fd = fd;
      adopt_holding (lock);
      unblock_cleanup_signals ();
      return ATTEMPT_ACQUIRED;
    }
  int saved_errno = errno;
  unblock_cleanup_signals ();
  /* ENOENT: its last holder left and removed it (or it was empty and
     an exclusive holder replaced it) since we looked.  */
  errno = saved_errno;
  return errno == ENOENT ? ATTEMPT_EXISTS : ATTEMPT_ERROR;
}

/* Give up a holding of ours whose directory is LOCK_FD, before it was
   settled: unlink our record, then the directory if that left it
   empty.  Unlink rather than end_holding: our record's token may be
   below LOCK.last's, which must never go down.  Keep errno.  */
static void
undo_own_holding (struct dirlock const *lock, int lock_fd)
{
  int saved_errno = errno;
  char owner_name[OWNER_NAME_SIZE];
  owner_file_name (owner_name, lock->self.id);
  if (unlinkat (lock_fd, owner_name, 0) == 0)
    unlinkat (lock->parent.fd, lock->parent.base, AT_REMOVEDIR);
  errno = saved_errno;
}

/* We hold the lock: make sure our token is above every earlier
   holding's (a shared holding: equal to the last exclusive one's).
   Nothing can end while we hold the lock, except other shared holdings,
   which leave LOCK.last alone, so LOCK.last is now final.  If that
   fails, give the lock up again: a caller told of a failure must not
   be left holding it.  */
static int
settle_token (struct dirlock *lock)
{
  if (!lock->history)
    return 0;
  /* Read again only if LOCK.last is no longer the file the candidate
     came from: a holding that ended before our rename replaced it (or
     made it).  The descriptor kept open meanwhile stops its inode from
     being reused by another file.  */
  char name[NAME_MAX + 1];
  struct stat st;
  bool same = (last_name (lock->parent.base, name, sizeof name)
               && (fstatat (lock->parent.fd, name, &st, AT_SYMLINK_NOFOLLOW)
                   == 0
                   ? (lock->last.fd >= 0 && st.st_dev == lock->last.dev
                      && st.st_ino == lock->last.ino)
                   : errno == ENOENT && lock->last.fd < 0));
  forget_history (&lock->last);
  if (same)
    return 0;
  uintmax_t last;
  bool read = last_token (&lock->parent, &last) == 0;
  bool shared = lock->self.shared;
  if (read && (shared ? last == lock->self.token : last < lock->self.token))
    return 0;
  if (read)
    {
      lock->self.token = shared ? last : last + 1;
      if (rewrite_owner (lock) == 0)
        return 0;
    }
  undo_own_holding (lock, lock->lock_fd);
  return -1;
}

static void
close_lock (struct dirlock *lock)
{
  forget_holding (lock);
  forget_history (&lock->last);
  if (lock->owner_fd >= 0)
    close (lock->owner_fd);
  if (lock->lock_fd >= 0)
    close (lock->lock_fd);
  lock->owner_fd = lock->lock_fd = -1;
  for (int i = 0; i < 2; i++)
    if (lock->spent_fds[i] >= 0)
      {
        close (lock->spent_fds[i]);
        lock->spent_fds[i] = -1;
      }
  close_parent (&lock->parent);
}

/* Is OWNER's holding ours already: the same owner, or our owner is the
   holder's child (lockdir L lockdir L ...)?  */
static bool
held_by_self (struct dirlock_owner const *owner,
              struct dirlock_owner const *self)
{
  if (!same_system (owner) || self->start_time == 0)
    return false;
  return ((owner->pid == self->pid
           && owner->start_time == self->start_time)
          || (owner->child_pid == self->pid
              && owner->child_start_time == self->start_time));
}

static void
report_break (char const *path, struct dirlock_owner const *owner,
              char const *reason)
{
  error (0, 0, "broke stale lock %s of pid %ld on %s (token %ju): %s",
         quoteaf (path), (long) owner->pid,
         owner->host[0] ? owner->host : "an unknown host", owner->token,
         reason);
}

/* A stale holding that was ended without a word (no -v).  If the
   acquisition then fails, it is said after all: the lock changed, and
   a failure must not read as "nothing was done".  */
struct unsaid_break
{
  bool pending;
  struct dirlock_owner owner;
  char const *reason;
};

/* Descriptors that wake a waiter when a holder exits: one pidfd per
   holder that can be watched, gathered in an epoll set when there are
   several (shared holders), so that one descriptor stands for all.  */
struct exit_watch
{
  int fd;              /* what to poll, or -1 */
  int *pidfds;         /* with several holders: the set's members */
  size_t count;
};

static void
exit_watch_close (struct exit_watch *w)
{
  for (size_t i = 0; i < w->count; i++)
    close (w->pidfds[i]);
  free (w->pidfds);
  /* With several holders, the epoll set; with one, its pidfd.  */
  if (w->fd >= 0)
    close (w->fd);
  w->fd = -1;
  w->pidfds = NULL;
  w->count = 0;
}

/* The pidfd of the process that keeps OWNER's holding alive, or -1:
   with errno ESRCH if it has just exited (judge it again), another if
   none can be watched (another system's, or no pidfd here).  */
static int
keeper_exit_fd (struct dirlock_owner const *owner)
{
  struct verdict v;
  judge (owner, &v);
  if (v.stale)
    {
      errno = ESRCH;
      return -1;
    }
  if (v.live_pid <= 0)
    {
      errno = 0;
      return -1;
    }
  return holder_exit_fd (v.live_pid, v.live_start_time);
}

/* Watch the holders H exit.  Return 0, or -1 with errno ESRCH if one of
   them has just exited (judge them again).  */
static int
exit_watch_open (struct exit_watch *w, struct dirlock_holders const *h)
{
  w->fd = -1;
  w->pidfds = NULL;
  w->count = 0;
  if (h->count == 1)
    {
      w->fd = keeper_exit_fd (&h->owner[0]);
      return w->fd < 0 && errno == ESRCH ? -1 : 0;
    }
  w->pidfds = xnmalloc (h->count, sizeof *w->pidfds);
  w->fd = epoll_create1 (EPOLL_CLOEXEC);
  for (size_t i = 0; i < h->count && w->fd >= 0; i++)
    {
      int fd = keeper_exit_fd (&h->owner[i]);
      if (fd < 0 && errno == ESRCH)
        {
          exit_watch_close (w);
          errno = ESRCH;
          return -1;
        }
      struct epoll_event event = { .events = EPOLLIN };
      if (fd >= 0 && epoll_ctl (w->fd, EPOLL_CTL_ADD, fd, &event) == 0)
        w->pidfds[w->count++] = fd;
      else if (fd >= 0)
        close (fd);
    }
  return 0;
}

/* What judge_holders found.  */
enum holders_verdict
{
  HOLDERS_LIVE,       /* live holders, none of them us */
  HOLDERS_OURS,       /* one of them is our own holding: acquired */
  HOLDERS_ENDED       /* stale ones were ended: look again */
};

/* Judge the holders H of the lock whose directory is LOCK_FD: ours
   already (our own rename did succeed, though it reported an error: a
   retransmitted request on NFS), held by ourselves (EDEADLK), or stale
   (end them).  Return the verdict, or -1 with errno.  For HOLDERS_OURS
   the lock keeps LOCK_FD.  */
static int
judge_holders (struct dirlock *lock, int lock_fd,
               struct dirlock_holders const *h, char const *path,
               bool verbose, struct unsaid_break *unsaid)
{
  if (dirlock_holders_include (h, lock->self.id))
    {
      char owner_name[OWNER_NAME_SIZE];
      owner_file_name (owner_name, lock->self.id);
      /* Read-write, as try_create and publish_record leave it:
         dirlock_add_child writes COMMAND's pid through it.  */
      int owner_fd = openat (lock_fd, owner_name,
                             O_RDWR | O_NOFOLLOW | O_CLOEXEC);
      if (owner_fd < 0 && errno == ENOENT)
        return HOLDERS_ENDED;   /* broken meanwhile: look again */
      if (owner_fd < 0)
        {
          /* A holding whose record we cannot write could not name
             COMMAND, nor show that we live: give it up, and say
             why (not EBADF later).  */
          undo_own_holding (lock, lock_fd);
          return -1;
        }
      lock->lock_fd = lock_fd;
      lock->owner_fd = owner_fd;
      adopt_holding (lock);
      return HOLDERS_OURS;
    }
  for (size_t i = 0; i < h->count; i++)
    if (held_by_self (&h->owner[i], &lock->self))
      {
        /* Waiting would be waiting for ourselves.  */
        lock->held_by_pid = h->owner[i].pid;
        errno = EDEADLK;
        return -1;
      }
  bool ended = false;
  for (size_t i = 0; i < h->count; i++)
    {
      struct dirlock_owner const *o = &h->owner[i];
      struct verdict verdict;
      judge (o, &verdict);
      if (!verdict.stale)
        continue;
      /* The record was read before its owner was seen dead, and may
         have grown since: lockdir's COMMAND names itself in it
         (child_pid) as it starts.  Judged on the record as read, the
         holding of a COMMAND that started meanwhile, its lockdir then
         killed, would be broken under it.  So judge the record as it
         is now, read after the death: a child that named itself while
         its parent lived is in it; one that names itself later runs
         nothing (lockdir's child_exec checks that its parent lives).  */
      struct dirlock_owner now;
      char owner_name[OWNER_NAME_SIZE];
      owner_file_name (owner_name, o->id);
      if (read_owner_record (lock_fd, owner_name, &now) != 0)
        {
          if (errno != ENOENT)
            return -1;
          ended = true;         /* it ended meanwhile: look again */
          continue;
        }
      strcpy (now.id, o->id);
      judge (&now, &verdict);
      if (!verdict.stale)
        continue;
      int r = end_holding (&lock->parent, lock_fd, now.id, now.token,
                           lock->history && !now.shared, false, true,
                           NULL, &lock->temps_left);
      if (r < 0)
        return -1;
      if (r == 0 && verbose)
        report_break (path, &now, verdict.stale);
      else if (r == 0)
        {
          unsaid->pending = true;
          unsaid->owner = now;
          unsaid->reason = verdict.stale;
        }
      ended = true;
    }
  return ended ? HOLDERS_ENDED : HOLDERS_LIVE;
}

/* What a waiter for LOCK sleeps on besides the holders' exits: dnotify
   on LOCK's directory (dir_notify_open), which costs nothing to close,
   else a dir_watch (inotify; back-off polling where other hosts change
   the directory, or no pidfd tells of a holder's death).  */
struct lock_watch
{
  int notify_fd;              /* the dnotify watch, or -1 */
  struct dir_watch dir;       /* used when there is none */
};

static void
lock_watch_open (struct lock_watch *w, struct parent_dir const *parent)
{
  bool blind = fs_dir_remote (parent->fd) || !pidfd_available ();
  /* A holding ends with a rename (its record to LOCK.last) or a
     removal (LOCK itself) in LOCK's directory.  */
  w->notify_fd = (blind ? -1
                  : dir_notify_open (parent->fd, DN_DELETE | DN_RENAME));
  if (w->notify_fd < 0)
    dir_watch_open (&w->dir, parent->dir, parent->fd, parent->base, blind);
}

/* Stop watching.  An inotify instance is handed to *SPENT_FD if not
   NULL, for the caller to close once that costs nobody time.  */
static void
lock_watch_close (struct lock_watch *w, int *spent_fd)
{
  if (w->notify_fd >= 0)
    {
      dir_notify_close (w->notify_fd);
      return;
    }
  if (spent_fd)
    {
      *spent_fd = w->dir.inotify_fd;
      w->dir.inotify_fd = -1;
    }
  dir_watch_close (&w->dir);
}

/* The holdings a waiter sleeps behind: HOLDERS of the lock PARENT.  */
struct held_by
{
  struct parent_dir const *parent;
  struct dirlock_holders const *holders;
};

/* Is one of the holdings ARG (a struct held_by) over: its record gone
   from LOCK?  IDs are never reused, so a record still there is the same
   holding.  The directory's other changes (a racer's temporary, another
   lock) thus cost a look at the records, no more.  */
static bool
a_holding_ended (void *arg)
{
  struct held_by const *held = arg;
  struct dirlock_holders const *h = held->holders;
  for (size_t i = 0; i < h->count; i++)
    {
      char path[RECORD_PATH_SIZE];
      record_path (path, held->parent, h->owner[i].id);
      struct stat st;
      if (fstatat (held->parent->fd, path, &st, AT_SYMLINK_NOFOLLOW) != 0
          && (errno == ENOENT || errno == ENOTDIR))
        return true;
    }
  return false;
}

/* Sleep until the live holders H of the lock PARENT may have let go:
   LOCK changed (WATCH), a holder exited, a lease may have expired, our
   queue ticket needs its heartbeat (QUEUE, if not NULL), OWNER_FD (a
   script's pidfd, or -1) is readable, or DEADLINE.  Return 0, or -1
   with errno.  */
static int
wait_for_holders (struct lock_watch *watch, struct parent_dir const *parent,
                  struct dirlock_holders const *h,
                  struct lockqueue const *queue, int owner_fd,
                  struct timespec deadline)
{
  struct timespec wake = deadline;
  if (queue)
    wake = earlier_deadline (wake, lockqueue_beat_due (queue));
  for (size_t i = 0; i < h->count; i++)
    if (has_lease (&h->owner[i]))
      wake = earlier_deadline (wake, lease_expiry (&h->owner[i]));
  struct exit_watch exits;
  if (exit_watch_open (&exits, h) != 0)
    return 0;                   /* one has just exited: judge again */
  struct held_by held = { parent, h };
  struct wait_fds extra = { { exits.fd, owner_fd } };
  int woke = (watch->notify_fd >= 0
              ? dir_notify_wait (a_holding_ended, &held, extra, wake)
              : dir_watch_wait (&watch->dir, extra, wake));
  int saved_errno = errno;
  exit_watch_close (&exits);
  errno = saved_errno;
  return woke < 0 ? -1 : 0;
}

static bool
all_shared (struct dirlock_holders const *h)
{
  for (size_t i = 0; i < h->count; i++)
    if (!h->owner[i].shared)
      return false;
  return true;
}

/* Before a wait: tell CONFIG->waiting about the holding we wait for (of
   shared holders H, the first), if it is not the one REPORTED (the ID
   told last, updated).  H is NULL when no holder was seen (waiting in
   the queue for a lock that is free).  */
static void
report_waiting (struct dirlock_config const *config,
                struct dirlock_holders const *h,
                char reported[DIRLOCK_ID_MAX + 1])
{
  if (!config->waiting || !h || h->count == 0
      || strcmp (h->owner[0].id, reported) == 0)
    return;
  config->waiting (&h->owner[0], config->waiting_arg);
  strcpy (reported, h->owner[0].id);
}

/* Before a wait for another process (the script form): has that
   owner exited?  Then nobody wants the lock any more.  *OWNER_FD, a
   pidfd of the owner opened at the first wait (-1 before), wakes the
   waits when it exits.  */
static bool
owner_gone (struct dirlock const *lock, int *owner_fd)
{
  if (!lock->owner_is_other)
    return false;
  if (*owner_fd < 0)
    {
      *owner_fd = holder_exit_fd (lock->self.pid, lock->self.start_time);
      if (*owner_fd < 0)
        return (errno == ESRCH
                || (process_state (lock->self.pid, lock->self.start_time)
                    == PROCESS_DEAD));
    }
  struct pollfd exited = { .fd = *owner_fd, .events = POLLIN };
  return poll (&exited, 1, 0) > 0;
}

/* LOCK's acquisition is about to sleep, for as long as the lock is
   held, and a signal (SIGTERM) may end it there: the temporaries kept
   to be said after the caller's message are said now, or never.  */
static void
warn_temps_left_before_sleep (struct dirlock *lock)
{
  dirlock_warn_temps_left (&lock->temps_left);
}

static int
acquire_in_parent (struct dirlock *lock, char const *path,
                   struct timespec deadline,
                   struct dirlock_config const *config)
{
  lock->history = !config->no_history;
  /* The lock as reports of a broken holding name it.  */
  char const *shown = config->shown ? config->shown : path;
  bool fifo = config->fifo;
  /* LOCK.last and LOCK.queue must fit in a name, too.  */
  bool too_long = ((lock->history || fifo)
                   && strlen (lock->parent.base) > DIRLOCK_NAME_MAX);
  if (too_long || init_self (lock, config) != 0)
    {
      int saved_errno = too_long ? ENAMETOOLONG : errno;
      close_lock (lock);
      errno = saved_errno;
      return -1;
    }

  /* With the queue, each round first asks whether it is our turn; a
     request that must wait takes a ticket, and waits for its turn, then
     for the lock.  -n (a deadline already passed) takes no ticket, and
     does not barge past one either.  */
  struct lockqueue queue;
  if (fifo)
    lockqueue_init (&queue, &lock->parent, &lock->self);
  bool once = deadline_passed (deadline);
  int remote = -1;              /* is LOCK's filesystem remote?  (lazy) */

  struct dirlock_holders holders = { 0 };
  /* The watch is opened only when we first have to wait, then the lock
     is looked at again before sleeping: a change between that look
     and the sleep still wakes us.  */
  struct lock_watch watch;
  bool watching = false;
  /* The holding config->waiting was last told about.  */
  char reported_holder[DIRLOCK_ID_MAX + 1] = "";
  /* Attempts lost in a row to a lock we then could not see (a network
     filesystem's lookup cache can say "absent" while the server says
     "exists"): past a few, pause rather than spin.  */
  int lost_unseen = 0;
  /* The script form: the script's pidfd (owner_gone).  */
  int owner_fd = -1;
  struct unsaid_break unsaid = { .pending = false };
  /* We have slept: the owner may have exited meanwhile.  */
  bool waited = false;
  /* The errno of the rmdir that could not remove the empty LOCK found
     by this round's look (0 if none): if the round fails, it stays.  */
  int empty_left = 0;
  int result;
  for (;;)
    {
      int lock_fd = -1;
      empty_left = 0;
      int look = look_at_lock (lock->parent.fd, lock->parent.base,
                               &lock_fd, &holders);
      if (look < 0 || look == LOOK_FOREIGN)
        {
          result = -1;
          break;
        }
      if (look == LOOK_EMPTY)
        {
          /* An ended holding whose remover has not removed it yet (or
             died first, or could not: see dir_left_errno).  Removing
             it is safe: a holding is never empty.  Where we may not
             (another user's, in a sticky directory), say so rather
             than try forever.  */
          if (unlinkat (lock->parent.fd, lock->parent.base, AT_REMOVEDIR) == 0
              || errno == ENOENT || errno == ENOTEMPTY || errno == EEXIST)
            continue;
          /* No rename replaces it either on a read-only filesystem,
             or where it is a mount point (EBUSY): the next acquirer
             fails as we do, so it is an error, not an empty lock
             left for it to recover.  */
          if (errno == EPERM || errno == EACCES || errno == EROFS
              || errno == EBUSY)
            {
              result = -1;
              break;
            }
          /* Where it cannot be removed (EIO), our rename replaces it
             all the same (rename replaces an empty directory), or
             fails saying why: it is free.  */
          empty_left = errno;
          look = LOOK_ABSENT;
        }
      if (look == LOOK_HELD)
        {
          lost_unseen = 0;
          int verdict = judge_holders (lock, lock_fd, &holders, shown,
                                       config->verbose, &unsaid);
          if (verdict == HOLDERS_OURS)
            {
              result = settle_token (lock) == 0 ? 0 : -1;
              break;
            }
          if (verdict != HOLDERS_LIVE)
            {
              close (lock_fd);
              if (verdict < 0)
                {
                  result = -1;
                  break;
                }
              continue;
            }
        }

      if (fifo)
        {
          int turn = lockqueue_turn (&queue);
          if (turn != QUEUE_OUR_TURN)
            {
              if (lock_fd >= 0)
                close (lock_fd);
              if (turn < 0)
                {
                  result = -1;
                  break;
                }
              if (once || deadline_passed (deadline))
                {
                  result = 1;
                  break;
                }
              if (!lockqueue_queued (&queue))
                {
                  if (lockqueue_enter (&queue) != 0)
                    {
                      result = -1;
                      break;
                    }
                  continue;
                }
              if (remote < 0)
                remote = fs_dir_remote (lock->parent.fd);
              if (owner_gone (lock, &owner_fd))
                {
                  errno = EOWNERDEAD;
                  result = -1;
                  break;
                }
              report_waiting (config, look == LOOK_HELD ? &holders : NULL,
                              reported_holder);
              warn_temps_left_before_sleep (lock);
              if (lockqueue_wait (&queue, remote, owner_fd, deadline) < 0)
                {
                  result = -1;
                  break;
                }
              waited = true;
              continue;
            }
        }

      /* A wait can end both because the lock was released and because
         the owner exited: then the owner gets no lock (it would be
         stale at once, and the caller told that it is held).  */
      if (waited && owner_gone (lock, &owner_fd))
        {
          if (lock_fd >= 0)
            close (lock_fd);
          errno = EOWNERDEAD;
          result = -1;
          break;
        }

      if (look == LOOK_ABSENT)
        {
          enum attempt a = try_create (lock);
          if (a == ATTEMPT_ACQUIRED)
            {
              result = settle_token (lock) == 0 ? 0 : -1;
              break;
            }
          if (a == ATTEMPT_ERROR)
            {
              result = -1;
              break;
            }
          if (++lost_unseen > 8)
            {
              if (deadline_passed (deadline))
                {
                  result = 1;
                  break;
                }
              struct timespec pause = { 0, 10 * 1000 * 1000 };
              warn_temps_left_before_sleep (lock);
              nanosleep (&pause, NULL);
            }
          continue;
        }

      /* Held by others, none of them stale.  */
      if (lock->self.shared && all_shared (&holders))
        {
          enum attempt a = try_join (lock, lock_fd);
          if (a == ATTEMPT_ACQUIRED)
            {
              result = settle_token (lock) == 0 ? 0 : -1;
              break;
            }
          close (lock_fd);
          if (a == ATTEMPT_ERROR)
            {
              result = -1;
              break;
            }
          continue;
        }
      close (lock_fd);

      if (deadline_passed (deadline))
        {
          result = 1;
          break;
        }
      if (fifo && !lockqueue_queued (&queue))
        {
          /* Take our place before sleeping, then look again.  */
          if (lockqueue_enter (&queue) != 0)
            {
              result = -1;
              break;
            }
          continue;
        }
      if (!watching)
        {
          lock_watch_open (&watch, &lock->parent);
          watching = true;
          continue;
        }
      if (owner_gone (lock, &owner_fd))
        {
          errno = EOWNERDEAD;
          result = -1;
          break;
        }
      report_waiting (config, look == LOOK_HELD ? &holders : NULL,
                      reported_holder);
      warn_temps_left_before_sleep (lock);
      if (wait_for_holders (&watch, &lock->parent, &holders,
                            fifo ? &queue : NULL, owner_fd, deadline) < 0)
        {
          result = -1;
          break;
        }
      waited = true;
    }

  /* A ticket, or the queue, that could not be read is named, as
     --status names it; so is a queue that took no ticket of ours.  */
  if (result < 0 && fifo && queue.unread[0])
    {
      set_fault_in (&lock->parent, queue.unread, NULL);
      fault.unwritable = queue.unwritable;
    }
  int saved_errno = errno;
  if (result < 0 && unsaid.pending)
    report_break (shown, &unsaid.owner, unsaid.reason);
  if (result < 0)
    lock->dir_left_errno = empty_left;
  if (owner_fd >= 0)
    close (owner_fd);
  /* An inotify instance is not closed now: see spent_fds.  */
  if (watching)
    lock_watch_close (&watch, result == 0 ? &lock->spent_fds[0] : NULL);
  if (fifo)
    {
      /* Holding, our ticket stays until the holding ends: the waiter
         behind us sleeps on it until then.  */
      if (result == 0)
        {
          lockqueue_keep (&queue);
          lock->spent_fds[1] = lockqueue_take_inotify_fd (&queue);
        }
      else
        {
          /* A signal that comes as we leave ends us at the unblock,
             once our ticket is no longer the handler's to name: a
             ticket left is said then, as try_create does.  */
          block_cleanup_signals ();
          lockqueue_leave (&queue, &lock->temps_left);
          warn_temps_left_if_ending (&lock->temps_left);
          unblock_cleanup_signals ();
        }
      lockqueue_close (&queue);
    }
  dirlock_holders_free (&holders);
  if (result != 0)
    close_lock (lock);
  errno = saved_errno;
  return result;
}

/* Make LOCK hold nothing yet, for dirlock_acquire_with and
   dirlock_acquire_at.  */
static void
start_acquiring (struct dirlock *lock)
{
  clear_fault ();
  lock->lock_fd = lock->owner_fd = lock->last.fd = -1;
  lock->spent_fds[0] = lock->spent_fds[1] = -1;
  lock->held_record.slot = lock->held_dir.slot = -1;
  lock->signals_held = false;
  lock->dir_left_errno = 0;
  lock->held_by_pid = 0;
  lock->temps_left = (struct dirlock_temps_left) { 0 };
}

int
dirlock_acquire_with (struct dirlock *lock, char const *path,
                      struct timespec deadline,
                      struct dirlock_config const *config)
{
  start_acquiring (lock);
  if (!open_parent (path, &lock->parent))
    return -1;
  return acquire_in_parent (lock, path, deadline, config);
}

int
dirlock_acquire_at (struct dirlock *lock, int dirfd, char const *name,
                    struct timespec deadline,
                    struct dirlock_config const *config)
{
  start_acquiring (lock);
  if (!name[0] || strchr (name, '/') || strcmp (name, ".") == 0
      || strcmp (name, "..") == 0)
    {
      errno = EINVAL;
      return -1;
    }
  /* Our own descriptor for the directory: the caller's may close, and
     no path is ever looked up again, so a directory renamed or
     replaced meanwhile cannot redirect the lock.  */
  int fd = fcntl (dirfd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  lock->parent.fd = fd;
  lock->parent.dir = NULL;
  /* The temporaries made beside the lock are named in warnings as the
     user finds them: in the directory of the lock as shown.  */
  lock->parent.shown_dir = config->shown ? dir_name (config->shown) : NULL;
  lock->parent.base = xstrdup (name);
  return acquire_in_parent (lock, name, deadline, config);
}

int
dirlock_acquire (struct dirlock *lock, char const *path,
                 struct timespec deadline)
{
  struct dirlock_config config = { 0 };
  return dirlock_acquire_with (lock, path, deadline, &config);
}

int
dirlock_release (struct dirlock *lock)
{
  clear_fault ();
  /* Not open while it is renamed away or unlinked (see rewrite_owner).  */
  if (lock->owner_fd >= 0)
    close (lock->owner_fd);
  lock->owner_fd = -1;
  /* Our ticket's record names us unless we hold for another process
     (the script form), which lives on.  */
  int ended = end_holding (&lock->parent, lock->lock_fd, lock->self.id,
                           lock->self.token,
                           lock->history && !lock->self.shared, true,
                           lock->self.pid != getpid (),
                           &lock->dir_left_errno, &lock->temps_left);
  int saved_errno = errno;
  close_lock (lock);
  if (ended == 1)
    {
      errno = ESTALE;
      return -1;
    }
  errno = saved_errno;
  return ended;
}

void
dirlock_warn_left_empty (int dir_left_errno, char const *shown,
                         char const *recoverer, char const *file)
{
  /* Released, and free (an empty lock is), but not gone.  */
  if (dir_left_errno)
    error (0, dir_left_errno, "warning: cannot remove the empty "
           "lock %s (the next %s on %s recovers it)",
           quoteaf_n (0, shown), recoverer, quoteaf_n (1, file));
}

void
dirlock_keep (struct dirlock *lock)
{
  forget_holding (lock);
}

void
dirlock_detach (struct dirlock *lock)
{
  close_lock (lock);
}

int
dirlock_heartbeat (struct dirlock *lock, struct timespec *overdue)
{
  /* The last beat is the owner file's mtime, as a breaker judges it.  */
  struct stat last_beat;
  if (fstat (lock->owner_fd, &last_beat) != 0)
    return -1;
  lock->self.heartbeat = get_stat_mtime (&last_beat);
  bool ran_out = lease_ran_out (&lock->self);
  if (ran_out)
    {
      struct timespec now_real;
      clock_gettime (CLOCK_REALTIME, &now_real);
      *overdue = timespec_sub (now_real,
                               timespec_add (lock->self.heartbeat,
                                             lock->self.lease));
    }
  if (futimens (lock->owner_fd, NULL) != 0)
    return -1;
  /* Is the file we touch still the lock's?  */
  char owner_name[OWNER_NAME_SIZE];
  owner_file_name (owner_name, lock->self.id);
  struct stat in_lock, ours;
  if (fstatat (lock->lock_fd, owner_name, &in_lock, AT_SYMLINK_NOFOLLOW) != 0
      || fstat (lock->owner_fd, &ours) != 0
      || !SAME_INODE (in_lock, ours))
    {
      errno = ESTALE;
      return -1;
    }
  return ran_out;
}

/* --- the lock from outside: status, break, release for a caller ---- */

/* Look at the lock PATH: the common start of the functions below.
   Return the look (LOOK_HELD: *LOCK_FD and *HOLDERS set), or -1.  */
static int
look_at_path (char const *path, struct parent_dir *parent, int *lock_fd,
              struct dirlock_holders *holders)
{
  if (!open_parent (path, parent))
    return -1;
  int look = look_at_lock (parent->fd, parent->base, lock_fd, holders);
  if (look < 0 || look == LOOK_FOREIGN)
    {
      int saved_errno = errno;
      close_parent (parent);
      errno = saved_errno;
      return -1;
    }
  return look;
}

int
dirlock_read_holders (char const *path, struct dirlock_holders *holders)
{
  clear_fault ();
  struct parent_dir parent;
  int lock_fd;
  int look = look_at_path (path, &parent, &lock_fd, holders);
  if (look < 0)
    return -1;
  if (look == LOOK_HELD)
    close (lock_fd);
  else
    holders->count = 0;
  close_parent (&parent);
  return look == LOOK_HELD ? 0 : 1;
}

int
dirlock_read (char const *path, struct dirlock_owner *owner)
{
  struct dirlock_holders holders = { 0 };
  int held = dirlock_read_holders (path, &holders);
  if (held == 0)
    *owner = holders.owner[0];
  dirlock_holders_free (&holders);
  return held;
}

int
dirlock_read_queue (char const *path, struct dirlock_owner **waiters,
                    size_t *count)
{
  clear_fault ();
  *waiters = NULL;
  *count = 0;
  struct parent_dir parent;
  if (!open_parent (path, &parent))
    return -1;
  struct dirlock_holders holders = { 0 };
  int lock_fd;
  int look = look_at_lock (parent.fd, parent.base, &lock_fd, &holders);
  if (look == LOOK_HELD)
    close (lock_fd);
  else
    holders.count = 0;
  struct dirlock_owner *tickets;
  size_t n;
  char unread[NAME_MAX + 1 + LOCKQUEUE_TICKET_MAX + 1];
  int r = lockqueue_list (&parent, &tickets, &n, unread, sizeof unread);
  int saved_errno = errno;
  /* The queue, or a ticket, that cannot be read is named, as
     LOCK.last is.  */
  if (r != 0 && unread[0])
    set_fault_in (&parent, unread, NULL);
  if (r == 0)
    {
      /* The tickets of holdings are not waiting any more.  */
      size_t kept = 0;
      for (size_t i = 0; i < n; i++)
        {
          bool holding = dirlock_holders_include (&holders, tickets[i].id);
          /* LOCK was looked at before the queue was read: a request
             that took LOCK meanwhile, its waiting process then gone
             (the script form's lockdir exits once it holds), left a
             ticket that looks dead but is its holding's.  Judged as
             lockqueue_turn judges it, against LOCK as it is now.  */
          if (!holding)
            tickets[i].stale
              = dirlock_ticket_stale_reason (&parent, &tickets[i],
                                             &holding);
          if (!holding)
            tickets[kept++] = tickets[i];
        }
      if (kept == 0)
        {
          free (tickets);
          tickets = NULL;
        }
      *waiters = tickets;
      *count = kept;
    }
  close_parent (&parent);
  dirlock_holders_free (&holders);
  errno = saved_errno;
  return r;
}

/* Open the lock PATH if it is held.  Return 0 with *PARENT, *LOCK_FD
   and *HOLDERS set (close them with close_held), 1 if it is free, -1 on
   error.  */
static int
open_held (char const *path, struct parent_dir *parent, int *lock_fd,
           struct dirlock_holders *holders)
{
  int look = look_at_path (path, parent, lock_fd, holders);
  if (look < 0)
    return -1;
  if (look != LOOK_HELD)
    {
      close_parent (parent);
      return 1;
    }
  return 0;
}

/* Close what open_held opened, keep errno, and return RESULT.  */
static int
close_held (struct parent_dir *parent, int lock_fd, int result)
{
  int saved_errno = errno;
  close (lock_fd);
  close_parent (parent);
  errno = saved_errno;
  return result;
}

/* May the caller end OWNER's holding by hand (--break, or a release on
   behalf of another process)?  Root may, and the user who wrote the
   record (the owner file's owner, whatever the record says).  The
   modes of LOCK allow more where the directory is shared; this is the
   rule.  Not the owner of LOCK's directory: another user's lock
   directory is not writable by it, so ending the holding would fail
   half way, or leave that user's files behind.  */
static bool
may_end_by_hand (struct dirlock_owner const *owner)
{
  uid_t me = geteuid ();
  return me == 0 || me == owner->file_uid;
}

/* Of the holders H, the first that one of the N_PIDS processes PIDS
   owns, or NULL.  */
static struct dirlock_owner const *
owned_holding (struct dirlock_holders const *h, pid_t const *pids,
               size_t n_pids)
{
  for (size_t i = 0; i < h->count; i++)
    if (dirlock_caller_owns (&h->owner[i], pids, n_pids))
      return &h->owner[i];
  return NULL;
}

/* The holding ID, whose record is empty (a crash lost its data), is
   about to be ended by hand.  Its token was lost with the record, but
   it was at most LOCK.last's plus one, as no exclusive holding can have
   ended since it began.  Give the record that token, in *TOKEN, so
   that ending it raises LOCK.last past it: no later holder then gets
   the token the lost holder may have used (a live holder on a network
   filesystem whose record was not sent yet, say).

   The record is filled by exchanging it with a complete one
   (RENAME_EXCHANGE), which fails (ENOENT) once another breaker has
   ended the holding, where a plain rename would put a record back into
   a lock no longer held.  Every breaker whose exchange succeeds writes
   the same token, since LOCK.last cannot change while the holding
   exists.  Where the filesystem cannot exchange (NFS, FUSE), or
   LOCK.last is unusable, the record stays empty and the holding ends
   as before.  Return 0, or -1 with errno.  */
static int
fill_empty_record (struct parent_dir const *parent, int lock_fd,
                   char const *id, uintmax_t *token,
                   struct dirlock_temps_left *left)
{
  uintmax_t last;
  if (last_token (parent, &last) != 0)
    return history_unusable () ? 0 : -1;
  struct dirlock_owner filled;
  clear_owner (&filled);
  copy_one_line (filled.id, sizeof filled.id, id);
  filled.token = last + 1;

  struct temp_name temp;
  int fd = write_temp_record (parent, &filled, &temp, left);
  if (fd < 0)
    return -1;
  char owner_name[OWNER_NAME_SIZE];
  owner_file_name (owner_name, id);
  int r = 0;
  if (close (fd) != 0)
    r = -1;
  else if (renameat2 (parent->fd, temp.name, lock_fd, owner_name,
                      RENAME_EXCHANGE) == 0)
    *token = filled.token;
  else if (!(errno == ENOENT || errno == EINVAL || errno == ENOSYS
             || errno == EOPNOTSUPP))
    r = -1;
  /* The temporary now holds the empty record (or ours, if the exchange
     failed).  */
  temp_remove_keep (&temp, parent, left);
  return r;
}

int
dirlock_break_holders (char const *path, struct dirlock_holders *ended,
                       struct dirlock_owner *refused, int *dir_left_errno,
                       struct dirlock_temps_left *temps_left)
{
  clear_fault ();
  struct dirlock_holders seen = { 0 };
  ended->count = 0;
  refused->id[0] = '\0';
  *dir_left_errno = 0;
  int result;
  for (;;)
    {
      struct parent_dir parent;
      int lock_fd;
      result = open_held (path, &parent, &lock_fd, &seen);
      if (result != 0)
        break;
      /* All or none.  */
      for (size_t i = 0; i < seen.count && result == 0; i++)
        if (!may_end_by_hand (&seen.owner[i]))
          {
            *refused = seen.owner[i];
            errno = EPERM;
            result = -1;
          }
      for (size_t i = 0; i < seen.count && result == 0; i++)
        {
          struct dirlock_owner const *o = &seen.owner[i];
          uintmax_t token = o->token;
          if (o->empty
              && fill_empty_record (&parent, lock_fd, o->id, &token,
                                    temps_left) != 0)
            {
              result = -1;
              break;
            }
          /* Of shared holders, the rmdir after the last record ended
             is the one that counts: the others fail harmlessly.  */
          int r = end_holding (&parent, lock_fd, o->id, token,
                               !o->shared, false, true, dir_left_errno,
                               temps_left);
          if (r < 0)
            result = -1;
          else if (r == 0)
            {
              /* An empty record's token is the one it was given.  */
              struct dirlock_owner *e = next_holder (ended);
              *e = *o;
              e->token = token;
            }
        }
      close_held (&parent, lock_fd, result);
      if (result < 0 || ended->count > 0)
        break;
      /* They ended by themselves meanwhile: see whether there is a new
         holding.  */
    }
  int saved_errno = errno;
  dirlock_holders_free (&seen);
  errno = saved_errno;
  return result;
}

/* Find the holding of PATH that one of the N_PIDS processes PIDS owns,
   and, if the caller may act on it, end it, or with RENEW refresh its
   heartbeat (the owner file's modification time).  Store in *OWNER that
   holding, or the first holder when none is theirs.  Return 0 done,
   1 free (or, for RENEW, the holding ended meanwhile), 2 not theirs,
   3 not the caller's to touch, 4 (RENEW only) its lease has run out,
   -1 on error.  Ending it, set *DIR_ERRNO
   (if not NULL) as end_holding does, and add to LEFT its ticket if it
   cannot be removed.  */
static int
act_on_own_holding (char const *path, pid_t const *pids, size_t n_pids,
                    struct dirlock_owner *owner, bool renew, int *dir_errno,
                    struct dirlock_temps_left *left)
{
  clear_fault ();
  if (dir_errno)
    *dir_errno = 0;
  struct parent_dir parent;
  int lock_fd;
  struct dirlock_holders holders = { 0 };
  int held = open_held (path, &parent, &lock_fd, &holders);
  if (held != 0)
    {
      dirlock_holders_free (&holders);
      return held;
    }
  struct dirlock_owner const *mine = owned_holding (&holders, pids, n_pids);
  *owner = mine ? *mine : holders.owner[0];
  int result = !mine ? 2 : !may_end_by_hand (mine) ? 3 : 0;
  /* Once the lease has run out, a breaker may judge the lock stale at
     any moment and break it after our refresh: refuse rather than
     tell the caller it holds a lock it may lose.  Judged on the
     heartbeat read just now, the one the refresh replaces.  What is
     left is the lease's own window: a breaker that judged the lease
     run out the instant it ran out, and breaks just after our
     refresh.  A renewal at the very end of a lease risks that,
     whatever it checks.  */
  if (result == 0 && renew && lease_ran_out (mine))
    result = 4;
  if (result == 0 && !renew)
    result = end_holding (&parent, lock_fd, mine->id, mine->token,
                          !mine->shared, false, true, dir_errno, left);
  else if (result == 0)
    {
      /* If the holding ended meanwhile, its file is gone: ENOENT.  */
      char owner_name[OWNER_NAME_SIZE];
      owner_file_name (owner_name, mine->id);
      if (utimensat (lock_fd, owner_name, NULL, AT_SYMLINK_NOFOLLOW) != 0)
        result = errno == ENOENT ? 1 : -1;
    }
  result = close_held (&parent, lock_fd, result);
  int saved_errno = errno;
  dirlock_holders_free (&holders);
  errno = saved_errno;
  return result;
}

int
dirlock_release_for (char const *path, pid_t const *pids, size_t n_pids,
                     struct dirlock_owner *owner, int *dir_left_errno,
                     struct dirlock_temps_left *temps_left)
{
  return act_on_own_holding (path, pids, n_pids, owner, false,
                             dir_left_errno, temps_left);
}

/* --- for the queue ---------------------------------------------------- */

size_t
dirlock_format_record (struct dirlock_owner const *owner, char *buf,
                       size_t size)
{
  return format_record (owner, buf, size);
}

void
dirlock_parse_record (char *text, struct dirlock_owner *owner)
{
  clear_owner (owner);
  parse_record (text, owner);
}

bool
dirlock_valid_id (char const *id)
{
  return valid_id (id);
}

bool
dirlock_same_system (struct dirlock_owner const *owner)
{
  return same_system (owner);
}

bool
dirlock_other_boot (struct dirlock_owner const *owner)
{
  char const *boot_id = this_boot_id ();
  return (owner->boot_id[0] && boot_id[0]
          && strcmp (owner->boot_id, boot_id) != 0
          && strcmp (owner->host, this_host ()) == 0);
}

bool
dirlock_has_lease (struct dirlock_owner const *owner)
{
  return has_lease (owner);
}

struct timespec
dirlock_lease_expiry (struct dirlock_owner const *owner)
{
  return lease_expiry (owner);
}

/* The waiter a queue ticket names, if of this system: is it gone?  */
static bool
waiter_dead (struct dirlock_owner const *ticket)
{
  return (ticket->waiter_pid > 0 && same_system (ticket)
          && (process_state (ticket->waiter_pid, ticket->waiter_start_time)
              == PROCESS_DEAD));
}

/* Why the queue ticket TICKET is dead, judged on its own.  */
static char const *
lone_ticket_stale_reason (struct dirlock_owner const *ticket)
{
  /* The owner (the script) may live on after its waiting lockdir was
     killed (SIGKILL), which left its ticket behind.  */
  if (waiter_dead (ticket))
    return "its waiter is dead";
  /* Unlike a holding, which dirlock keeps until --break: see
     lockqueue_turn.  */
  if (dirlock_other_boot (ticket))
    return "it comes from another boot";
  return dirlock_stale_reason (ticket, NULL);
}

char const *
dirlock_ticket_stale_reason (struct parent_dir const *parent,
                             struct dirlock_owner const *ticket,
                             bool *holding)
{
  if (holding)
    *holding = false;
  char const *reason = lone_ticket_stale_reason (ticket);
  if (!reason || !parent)
    return reason;
  /* A ticket outlives its waiting process and its heartbeat once its
     request holds the lock: the script form's lockdir exits then, and
     a holding's lease is refreshed in its owner record only.  So the
     ticket of the holding that holds the lock now goes with that
     holding, and is judged as it is.  One read, and only for a ticket
     that looks dead: a live waiter's costs nothing more.  */
  char record_name[RECORD_PATH_SIZE];
  struct dirlock_owner record;
  if (read_record (parent->fd, record_path (record_name, parent, ticket->id),
                   &record) != 0)
    return reason;              /* no such holding: the ticket's own */
  if (holding)
    *holding = true;
  return dirlock_stale_reason (&record, NULL);
}

int
dirlock_ticket_exit_fd (struct dirlock_owner const *ticket)
{
  if (ticket->waiter_pid > 0 && same_system (ticket))
    return holder_exit_fd (ticket->waiter_pid, ticket->waiter_start_time);
  return keeper_exit_fd (ticket);
}

int
dirlock_reset_history (char const *path)
{
  clear_fault ();
  struct parent_dir parent;
  if (!open_parent (path, &parent))
    return -1;
  uintmax_t token;
  int result = 0;
  if (last_token (&parent, &token) != 0)
    {
      result = -1;
      if (history_unusable ())
        {
          char name[NAME_MAX + 1];
          last_name (parent.base, name, sizeof name);
          if (unlinkat (parent.fd, name, 0) == 0
              || (errno == EISDIR
                  && unlinkat (parent.fd, name, AT_REMOVEDIR) == 0))
            result = 1;
        }
    }
  int saved_errno = errno;
  close_parent (&parent);
  errno = saved_errno;
  return result;
}

int
dirlock_renew_for (char const *path, pid_t const *pids, size_t n_pids,
                   struct dirlock_owner *owner)
{
  return act_on_own_holding (path, pids, n_pids, owner, true, NULL, NULL);
}

bool
dirlock_acquired_time (struct dirlock_owner const *owner,
                       struct timespec *when)
{
  /* "2026-12-01T22:38:26.259+01:00", as dirlock_format_time writes.  */
  struct tm tm;
  memset (&tm, 0, sizeof tm);
  int ms, off_h, off_m, n = 0;
  char sign;
  if (sscanf (owner->acquired, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c%2d:%2d%n",
              &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
              &tm.tm_min, &tm.tm_sec, &ms, &sign, &off_h, &off_m, &n) != 10
      || owner->acquired[n] || (sign != '+' && sign != '-')
      || ms < 0 || off_h < 0 || off_h > 23 || off_m < 0 || off_m > 59)
    return false;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  /* timegm takes month 13 for January of the next year (and day 32,
     hour 24, ...): a time it had to normalize is no time.  */
  struct tm given = tm;
  time_t t = timegm (&tm);
  if (t == (time_t) -1
      || tm.tm_year != given.tm_year || tm.tm_mon != given.tm_mon
      || tm.tm_mday != given.tm_mday || tm.tm_hour != given.tm_hour
      || tm.tm_min != given.tm_min || tm.tm_sec != given.tm_sec)
    return false;
  long offset = (off_h * 60L + off_m) * 60;
  when->tv_sec = sign == '+' ? t - offset : t + offset;
  when->tv_nsec = ms * 1000000L;
  return true;
}

/* Is NAME a temporary of one of the suite's tools (".TOOL." and six
   random characters)?  */
static bool
temporary_name (char const *name)
{
  static char const *const tools[] =
    { "lockdir", "atomic-swap", "excl-create", "safe-append" };
  for (size_t i = 0; i < sizeof tools / sizeof *tools; i++)
    {
      size_t len = strlen (tools[i]);
      if (name[0] == '.' && strncmp (name + 1, tools[i], len) == 0
          && name[len + 1] == '.' && strlen (name + len + 2) == 6)
        return true;
    }
  return false;
}

/* An entry of a listing: a lock's name, and the errno of the read of
   its directory that failed, or 0.  */
struct listed
{
  char *name;
  int errnum;
};

static int
compare_names (void const *a, void const *b)
{
  return strcmp (((struct listed const *) a)->name,
                 ((struct listed const *) b)->name);
}

/* Does NAME end with SUFFIX, after at least one byte?  */
static bool
has_suffix (char const *name, char const *suffix)
{
  size_t len = strlen (name), suffix_len = strlen (suffix);
  return len > suffix_len && strcmp (name + len - suffix_len, suffix) == 0;
}

/* Does the directory NAME in DIR_FD hold an owner record, as a lock
   does (and a queue never)?  Return 1 or 0 (also when NAME has just
   gone), or -1 with errno.  */
static int
holds_owner_record (int dir_fd, char const *name)
{
  int fd;
  DIR *d = opendir_at (dir_fd, name, &fd);
  if (!d)
    return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
  bool found = false;
  struct dirent *e;
  /* errno tells the end from a failure (EIO): a held lock read in part
     would look like a queue, and be listed as a free lock.  */
  while (!found && (errno = 0, e = readdir (d)))
    found = strncmp (e->d_name, OWNER_PREFIX, strlen (OWNER_PREFIX)) == 0;
  int read_errno = found ? 0 : errno;
  closedir (d);
  close (fd);
  errno = read_errno;
  return read_errno != 0 ? -1 : found;
}

int
dirlock_list (char const *dir,
              void (*each) (char const *name, int errnum, void *arg),
              void *arg)
{
  clear_fault ();
  DIR *d = opendir (dir);
  if (!d)
    return -1;
  int dir_fd = dirfd (d);
  struct listed *names = NULL;
  size_t n = 0, allocated = 0;
  struct dirent *e;
  while ((errno = 0, e = readdir (d)))
    {
      char const *name = e->d_name;
      if (strcmp (name, ".") == 0 || strcmp (name, "..") == 0
          || temporary_name (name))
        continue;
      struct stat st;
      bool is_dir = (fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0
                     && S_ISDIR (st.st_mode));
      size_t len = strlen (name);
      /* LOCK.last is a file, LOCK.queue a directory of tickets: a lock
         may have either name too (it holds an owner record).  */
      int is_lock = (has_suffix (name, LOCKQUEUE_SUFFIX) && is_dir
                     ? holds_owner_record (dir_fd, name) : 1);
      /* One we may not read (EACCES) is taken for LOCK's queue: if
         LOCK is there, its reading names it and fails for LOCK alone;
         if not, it is listed by its own name, with the error, as is
         one whose read failed otherwise (EIO: it might be a lock, and
         a second read of it succeed).  */
      int errnum = is_lock < 0 ? errno : 0;
      if (errnum)
        is_lock = errnum == EACCES ? 0 : 1;
      size_t suffix_len = (has_suffix (name, LAST_SUFFIX) && !is_dir
                           ? strlen (LAST_SUFFIX)
                           : !is_lock ? strlen (LOCKQUEUE_SUFFIX) : 0);
      char *lock_name;
      if (suffix_len)
        {
          /* A free lock may have left only its history (or, for a
             moment, its queue): list it once, by its name, unless the
             lock itself is there too.  */
          lock_name = ximemdup0 (name, len - suffix_len);
          if (fstatat (dir_fd, lock_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            {
              free (lock_name);
              continue;
            }
          if (errnum)
            {
              /* Beside LOCK's history it is LOCK's queue: LOCK is
                 listed for its history, and its reading names it.  */
              char *history = xasprintf ("%s%s", lock_name, LAST_SUFFIX);
              bool beside_history = fstatat (dir_fd, history, &st,
                                             AT_SYMLINK_NOFOLLOW) == 0;
              free (history);
              free (lock_name);
              if (beside_history)
                continue;
              lock_name = xstrdup (name);
            }
        }
      else if (is_dir)
        lock_name = xstrdup (name);
      else
        continue;
      if (n == allocated)
        names = x2nrealloc (names, &allocated, sizeof *names);
      names[n++] = (struct listed) { lock_name, errnum };
    }
  int saved_errno = errno;
  closedir (d);
  qsort (names, n, sizeof *names, compare_names);
  for (size_t i = 0; i < n && saved_errno == 0; i++)
    /* LOCK.last and LOCK.queue both name LOCK: once.  */
    if (i == 0 || strcmp (names[i - 1].name, names[i].name) != 0)
      each (names[i].name, names[i].errnum, arg);
  for (size_t i = 0; i < n; i++)
    free (names[i].name);
  free (names);
  errno = saved_errno;
  return saved_errno == 0 ? 0 : -1;
}

bool
dirlock_owned_by (struct dirlock_owner const *owner, pid_t pid)
{
  return owned_by (owner, pid);
}

bool
dirlock_command_is (struct dirlock_owner const *owner, pid_t pid)
{
  return (owner->child_pid > 0
          && names_process (owner, owner->child_pid,
                            owner->child_start_time, pid));
}

bool
dirlock_caller_owns (struct dirlock_owner const *owner, pid_t const *pids,
                     size_t n_pids)
{
  /* 'lockdir L bash -c "...; lockdir -u L"': bash runs a last command
     in its own place, so that lockdir -u is COMMAND itself, and its
     parent the lockdir that holds OWNER's holding for it, until it
     exits.  */
  if (dirlock_command_is (owner, getpid ()))
    return false;
  for (size_t i = 0; i < n_pids; i++)
    if (owned_by (owner, pids[i]))
      return true;
  return false;
}

bool
dirlock_report_held_for_command (char const *shown, char const *doing,
                                 struct dirlock_owner const *owner,
                                 pid_t const *pids, size_t n_pids)
{
  for (size_t i = 0; i < n_pids; i++)
    if (dirlock_command_is (owner, pids[i]))
      {
        /* 'lockdir L sh -c "...; lockdir -u L"': the holder is the
           lockdir that runs that process, and keeps the lock until
           its COMMAND exits.  */
        error (0, 0, "cannot %s %s: it is held by lockdir (pid %ld) for "
               "its COMMAND (pid %ld), and released when that COMMAND "
               "exits", doing, quoteaf (shown), (long) owner->pid,
               (long) pids[i]);
        return true;
      }
  return false;
}

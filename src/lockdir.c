/* lockdir -- mutual exclusion for commands and scripts, with a visible
   owner and safe recovery of stale locks.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

/* The lock itself is in dirlock.c.  This is the command line around
   it: run a COMMAND while holding the lock (vfork a child that names
   itself in the owner record and execs, forward signals, release after
   the child exits, exit like timeout(1)), or acquire/release/break/
   inspect the lock for a script.  */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "dirlock.h"
#include "etcdopts.h"
#include "fsclass.h"
#include "lockqueue.h"
#include "procfacts.h"

#include "basename-lgpl.h"
#include "error.h"
#include "exitfail.h"
#include "filenamecat.h"
#include "intprops.h"
#include "inttostr.h"
#include "timespec.h"
#include "xalloc.h"
#include "xvasprintf.h"

#define PROGRAM_NAME "lockdir"

/* Statuses of the command form, as timeout(1) and env(1).  */
enum
{
  EXIT_TEMPFAIL = 75,     /* busy (EX_TEMPFAIL), unless -E says otherwise */
  EXIT_TIMEDOUT = 124,    /* --max-runtime ran out */
  EXIT_CANCELED = 125,    /* lockdir itself failed */
  EXIT_CANNOT_INVOKE = 126,
  EXIT_ENOENT = 127
};

enum mode
{
  MODE_ACQUIRE, MODE_RELEASE, MODE_RENEW, MODE_BREAK, MODE_STATUS, MODE_LIST
};

/* With --status, a lock that is held but stale: every holder is dead
   or past its lease, and the next lockdir that wants it will break it
   (what lockfile-check tells by its status).  */
enum { EXIT_STALE = 4 };

struct options
{
  enum mode mode;
  char const *command_string;   /* -c: COMMAND is 'sh -c STRING' */
  bool json;
  bool nonblock;
  bool has_timeout;
  struct timespec timeout;      /* how long to wait for the lock */
  int conflict_status;          /* -1: the default of the form */
  pid_t owner_pid;              /* 0: the caller */
  struct timespec lease;        /* 0: none */
  bool lease_forever;           /* --lease=inf */
  struct timespec max_runtime;  /* 0: none */
  struct timespec kill_after;   /* 0: none */
  bool foreground;              /* --foreground: COMMAND in our group */
  bool print_token;
  bool verbose;
  bool quiet;
  bool force;
  bool shared;                  /* -s: a shared holding */
  bool no_queue;                /* --no-queue: no place in line */
  struct etcd_options etcd;     /* --etcd and its options */
};

enum
{
  BREAK_OPTION = CHAR_MAX + 1,
  RENEW_OPTION,
  LIST_OPTION,
  STATUS_OPTION,
  JSON_OPTION,
  OWNER_PID_OPTION,
  LEASE_OPTION,
  MAX_RUNTIME_OPTION,
  FOREGROUND_OPTION,
  PRINT_TOKEN_OPTION,
  FORCE_OPTION,
  CHECK_FS_OPTION,
  NO_QUEUE_OPTION
};

static struct option const long_options[] =
{
  {"nonblock", no_argument, NULL, 'n'},
  {"nb", no_argument, NULL, 'n'},                 /* flock's spelling */
  {"timeout", required_argument, NULL, 'w'},
  {"wait", required_argument, NULL, 'w'},         /* as -w in every tool */
  {"exclusive", no_argument, NULL, 'x'},
  {"command", required_argument, NULL, 'c'},
  {"renew", no_argument, NULL, RENEW_OPTION},
  {"list", no_argument, NULL, LIST_OPTION},
  {"conflict-exit-code", required_argument, NULL, 'E'},
  {"release", no_argument, NULL, 'u'},
  {"break", no_argument, NULL, BREAK_OPTION},
  {"status", no_argument, NULL, STATUS_OPTION},
  {"json", no_argument, NULL, JSON_OPTION},
  {"owner-pid", required_argument, NULL, OWNER_PID_OPTION},
  {"lease", required_argument, NULL, LEASE_OPTION},
  {"max-runtime", required_argument, NULL, MAX_RUNTIME_OPTION},
  {"kill-after", required_argument, NULL, 'k'},
  {"foreground", no_argument, NULL, FOREGROUND_OPTION},
  {"print-token", no_argument, NULL, PRINT_TOKEN_OPTION},
  {"verbose", no_argument, NULL, 'v'},
  {"quiet", no_argument, NULL, 'q'},
  {"force", no_argument, NULL, FORCE_OPTION},
  {"check-fs", no_argument, NULL, CHECK_FS_OPTION},
  {"shared", no_argument, NULL, 's'},
  {"no-queue", no_argument, NULL, NO_QUEUE_OPTION},
  ETCD_LONG_OPTIONS,
  GETOPT_HELP_OPTION_DECL,
  GETOPT_VERSION_OPTION_DECL,
  {NULL, 0, NULL, 0}
};

/* The owner record's keys, for --help: from the record's own table.  */
static void
print_record_keys (void)
{
  int column = printf ("\nWhile held, LOCK contains one file, owner.ID, "
                       "with 'key=value' lines:") - 1;
  struct dirlock_value field;
  size_t n = 0;
  while (dirlock_field (n, NULL, &field))
    n++;
  for (size_t i = 0; dirlock_field (i, NULL, &field); i++)
    {
      bool last = i + 1 == n;
      int width = strlen (field.key) + 2;
      if (column + width > 72)
        {
          putchar ('\n');
          column = 0;
        }
      else
        {
          putchar (' ');
          column++;
        }
      column += printf ("%s%s", field.key, last ? "." : ",");
    }
  putchar ('\n');
}

void
usage (int status)
{
  if (status != EXIT_SUCCESS)
    {
      emit_try_help ();
      exit (status);
    }

  printf ("\
Usage: %s [OPTION]... LOCK COMMAND [ARG]...\n\
  or:  %s [OPTION]... LOCK -c COMMAND_STRING\n\
  or:  %s [OPTION]... LOCK\n\
  or:  %s -u|--renew|--break [OPTION]... LOCK\n\
  or:  %s --status [OPTION]... LOCK...\n\
  or:  %s --list [OPTION]... DIR\n",
          program_name, program_name, program_name, program_name,
          program_name, program_name);
  fputs ("\
Hold the lock LOCK while COMMAND runs, so that only one such command runs\n\
at a time; or, without COMMAND, acquire LOCK for the calling script.\n\
LOCK is a directory, created atomically together with a record of its\n\
owner inside.  A lock whose owner has died is broken by the next\n\
lockdir that wants it.\n\
\n\
With COMMAND, LOCK is released when COMMAND exits, and lockdir exits with\n\
its status.  SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to\n\
lockdir are passed on to COMMAND.  COMMAND finds the lock's fencing token\n\
in the environment variable LOCKDIR_TOKEN, and LOCK in LOCKDIR_PATH.\n\
Without COMMAND, the owner is the calling process (lockdir's parent) and\n\
the lock is held until released with 'lockdir -u LOCK'; if the owner exits\n\
while lockdir waits, lockdir gives up (status 3).\n\
\n\
Mandatory arguments to long options are mandatory for short options too.\n\
  -c, --command=COMMAND_STRING  run COMMAND_STRING with 'sh -c' as COMMAND\n\
                          (also accepted after LOCK, as flock takes it)\n\
  -n, --nonblock        fail at once if LOCK is held (the default is to\n\
                          wait until it is free)\n\
      --nb              the same as --nonblock (flock's spelling)\n\
  -w, --wait=DURATION   give up waiting for LOCK after DURATION\n\
      --timeout=DURATION  the same as --wait\n\
  -x, --exclusive       hold LOCK alone (the default)\n\
  -s, --shared          hold LOCK shared: together with other shared\n\
                          holders, never with an exclusive one\n\
      --no-queue        do not wait in line: try for LOCK whenever it is\n\
                          released, and get it if faster than the others\n\
  -E, --conflict-exit-code=N  exit with status N when LOCK is busy or the\n\
                          wait timed out (default: 75 with COMMAND, 1\n\
                          without)\n\
      --lease=DURATION  let others break the lock once its heartbeat is\n\
                          older than DURATION (at most 365d; 'inf': no\n\
                          lease, as without --lease), whatever host it is\n\
                          from; while COMMAND runs, lockdir refreshes the\n\
                          heartbeat every third of DURATION\n\
      --max-runtime=DURATION  send COMMAND SIGTERM when it has run for\n\
                          DURATION, and exit with status 124; COMMAND\n\
                          then runs in a process group of its own (with\n\
                          --etcd it always does), which gets the signals,\n\
                          as under timeout(1) (but see --foreground)\n\
  -k, --kill-after=DURATION  once --max-runtime has sent SIGTERM, also\n\
                          send SIGKILL to what is left of COMMAND's group\n\
                          when COMMAND exits (before LOCK is released), or\n\
                          if COMMAND is still running DURATION after\n\
                          SIGTERM; 'inf' or 0: never, as without -k, and so\n\
                          taken without --max-runtime too (a script can\n\
                          pass a default)\n\
      --foreground      with --max-runtime or --etcd, run COMMAND in\n\
                          lockdir's own process group, so that it can read\n\
                          from the terminal and get its signals; the\n\
                          processes COMMAND starts are then not signalled,\n\
                          as under timeout --foreground\n\
      --owner-pid=PID   without COMMAND: record process PID as the owner\n\
                          (and, with -u or --renew, release or renew on\n\
                          behalf of PID)\n\
      --print-token     without COMMAND: print the fencing token once\n\
                          LOCK is acquired (if it cannot be printed,\n\
                          LOCK is released again, status 3)\n\
  -u, --release         release LOCK, which the caller (or --owner-pid)\n\
                          must hold\n\
      --renew           refresh the --lease heartbeat of LOCK, which the\n\
                          caller (or --owner-pid) must hold, before that\n\
                          lease runs out (after, LOCK may be broken at\n\
                          any moment: status 1, and nothing renewed)\n\
      --break           remove LOCK whoever holds it, and print the owner\n\
                          record removed; also remove an unusable LOCK.last\n\
      --status          print the owner record of each LOCK (each holder's,\n\
                          if shared) and its queue (of several LOCKs, one\n\
                          line each, skipping what is not a lock); status 1\n\
                          if LOCK is free (or none is a lock), 4 if stale\n\
      --list            print one line for every lock in DIR\n\
      --json            with --status, --list or --break: JSON, one\n\
                          object per line, for each lock (with --break, for\n\
                          each holding broken); a byte that is not valid\n\
                          UTF-8 is written \\u00XX, its Latin-1 reading\n\
                          (not with --check-fs, which prints text)\n\
  -v, --verbose         say when lockdir starts waiting and for whom, when\n\
                          it gets LOCK and how long it waited, each stale\n\
                          lock it breaks (one broken before lockdir then\n\
                          fails is said without -v too), and each signal\n\
                          --max-runtime and -k send; with --break, whose\n\
                          holding it ended (not with -u, --renew,\n\
                          --status or --list)\n\
  -q, --quiet           no message when LOCK is busy or not held (-u,\n\
                          --renew, --break), nor when it was broken, its\n\
                          --lease ran out or COMMAND was stopped while it\n\
                          ran; no filesystem warning\n\
      --force           use LOCK even on a filesystem that cannot keep the\n\
                          promise (after a warning)\n\
      --check-fs        print what LOCK's filesystem guarantees (each\n\
                          LOCK's, with --status), and exit: COMMAND is\n\
                          not run; LOCK alone may be '.' or '/', a\n\
                          directory to examine\n\
", stdout);
  etcd_usage ();
  fputs (HELP_OPTION_DESCRIPTION, stdout);
  fputs (VERSION_OPTION_DESCRIPTION, stdout);
  fputs ("\n" DURATION_HELP "--max-runtime=0 sets no limit.\n", stdout);
  print_record_keys ();
  fputs ("\
Held shared, LOCK holds one such file per holder, with mode=shared.\n\
The record of the last holder is kept in LOCK.last, which carries the\n\
fencing token on: each exclusive acquisition gets a token larger than\n\
every earlier one, up to 2^53-1 (shared holders get the last one's).\n\
An empty directory LOCK counts as free.\n\
\n\
Waiters are served in the order they came: each takes a numbered ticket\n\
in the directory LOCK.queue, and only the first (or a run of shared\n\
requests at the front) tries for LOCK; the others sleep until the ticket\n\
just ahead of theirs goes.  A waiter that dies is skipped; one that times\n\
out or is interrupted removes its ticket.  -n never queues, and fails\n\
while others wait.  --no-queue waits without a ticket, as a crowd.\n\
\n\
A lock is stale, and broken by the next lockdir that wants it, when its\n\
lease has expired, or when its record comes from this host and boot and\n\
neither its owner (the same pid with the same start time) nor its\n\
COMMAND is still running.  A lock from another host or boot is never\n\
broken automatically unless it has a lease.  Waiting sleeps until the\n\
directory holding LOCK changes or the owner exits (dnotify or inotify,\n\
and pidfd); it polls, with a capped back-off, only on network and\n\
FUSE filesystems (and on kernels without pidfd).\n\
\n\
The lock holds on local filesystems and, through the server, on NFS, SMB\n\
and sshfs.  On object-store FUSE filesystems (s3fs, goofys, ...) and on\n\
GlusterFS, where several clients could all take it, lockdir refuses\n\
unless --force is given; on other FUSE filesystems it warns (not with\n\
-q) and goes on.\n\
", stdout);
  emit_exit_status_help ("\
  1  LOCK is busy or the wait timed out; with -u or --renew, LOCK is not\n\
     held by the caller (with --renew, or its lease has run out); with\n\
     --status or --break, LOCK is free\n", true);
  fputs ("\
  4  with --status: LOCK is held, but stale (every holder is dead or\n\
     past its lease); the next lockdir that wants it breaks it (a\n\
     shared LOCK with a live holder is held: 0).  Of\n\
     several LOCKs, the highest status is lockdir's, except that 3 (one\n\
     could not be read) wins over 4\n\
", stdout);
  fputs ("\
\nWith COMMAND, lockdir exits instead as timeout(1) does:\n\
  75   LOCK was busy, or the wait timed out (see -E)\n\
  76   the lock was lost while COMMAND ran (--etcd), which was stopped\n\
  124  COMMAND ran longer than --max-runtime\n\
  125  lockdir itself failed, or the options were wrong\n\
  126  COMMAND was found but could not be run\n\
  127  COMMAND was not found\n\
  128+N  COMMAND was killed by signal N, which then kills lockdir too\n\
  -    otherwise, the exit status of COMMAND\n\
A message lockdir cannot write (standard error full, closed, or a pipe\n\
nobody reads any more) changes none of these statuses, except one\n\
before LOCK is tried for (a usage error): into a pipe nobody reads, it\n\
ends lockdir by SIGPIPE (141), as it does ls.\n\
", stdout);
  fputs ("\
\n\
Examples:\n\
  lockdir -n /run/lock/backup backup.sh   # cron: skip if still running\n\
  lockdir -w 10m --max-runtime=1h /srv/app/.deploy ./deploy.sh\n\
  lockdir /run/lock/stats -c 'uptime >>stats.log'   # as flock -c does\n\
  lockdir -n \"$LOCK\" || exit 0           # in a script: hold LOCK ...\n\
  lockdir -u \"$LOCK\"                     # ... and release it\n\
  lockdir --status --json /run/lock/backup\n\
  lockdir --list /run/lock                # every lock there, one a line\n\
  lockdir -s -w 1m data.lock ./report.sh   # shared: readers together\n\
", stdout);
  emit_help_footer ();
  exit (status);
}

/* --- reporting ------------------------------------------------------ */

static void
print_json_string (char const *key, char const *value)
{
  printf (",\"%s\":", key);
  json_put_string (stdout, value);
}

/* How long OWNER has held its lock, into *AGE.  Return false if its
   record does not say.  */
static bool
holding_age (struct dirlock_owner const *owner, struct timespec *age)
{
  struct timespec acquired, now;
  if (!dirlock_acquired_time (owner, &acquired))
    return false;
  clock_gettime (CLOCK_REALTIME, &now);
  *age = timespec_sub (now, acquired);
  if (age->tv_sec < 0)
    *age = (struct timespec) { 0, 0 };
  return true;
}

/* AGE for people: "42s", "5m12s", "3h05m", "2d04h".  */
static char *
format_age (struct timespec age, char *buf, size_t size)
{
  intmax_t s = age.tv_sec;
  if (s < 60)
    snprintf (buf, size, "%jds", s);
  else if (s < 60 * 60)
    snprintf (buf, size, "%jdm%02jds", s / 60, s % 60);
  else if (s < 24 * 60 * 60)
    snprintf (buf, size, "%jdh%02jdm", s / 3600, s / 60 % 60);
  else
    snprintf (buf, size, "%jdd%02jdh", s / 86400, s / 3600 % 24);
  return buf;
}

/* Does OWNER's record, though not empty, name no process (pid 0): one
   that lockdir did not write, or a damaged one?  "pid 0" would name
   no holder, and such a holding is never judged dead.  */
static bool
names_no_process (struct dirlock_owner const *owner)
{
  return !owner->empty && owner->pid <= 0;
}

/* The fields of OWNER's JSON object (its record, the heartbeat, the
   age of the holding, whether it is stale: STALE, the reason, or NULL,
   and whether the record is empty), each after a comma.  */
static void
print_owner_json_fields (struct dirlock_owner const *owner,
                         char const *stale)
{
  char heartbeat[48];
  dirlock_format_time (owner->heartbeat, heartbeat, sizeof heartbeat);
  struct timespec age;
  bool has_age = holding_age (owner, &age);
  struct dirlock_value field;
  for (size_t i = 0; dirlock_field (i, owner, &field); i++)
    {
      printf (",\"%s\":", field.key);
      if (!field.present
          || (names_no_process (owner) && strcmp (field.key, "pid") == 0))
        fputs ("null", stdout);
      else if (field.text)
        json_put_string (stdout, field.buf);
      else
        fputs (field.buf, stdout);
    }
  print_json_string ("heartbeat", heartbeat);
  char age_text[SECONDS_BUFSIZE];
  if (has_age)
    printf (",\"age\":%s", format_seconds (age, age_text, sizeof age_text));
  else
    fputs (",\"age\":null", stdout);
  printf (",\"stale\":%s", stale ? "true" : "false");
  fputs (",\"stale_reason\":", stdout);
  if (stale)
    json_put_string (stdout, stale);
  else
    fputs ("null", stdout);
  printf (",\"empty\":%s", owner->empty ? "true" : "false");
  printf (",\"names_no_pid\":%s",
          names_no_process (owner) ? "true" : "false");
}

/* Print the owner record of LOCK: "key=value" lines, or the start of
   one JSON object (the caller ends it), with the heartbeat, the age of
   the holding and whether it is stale (STALE, the reason, or NULL).  */
static void
print_owner_start (char const *lock, struct dirlock_owner const *owner,
                   char const *stale, bool json)
{
  if (!json)
    {
      char heartbeat[48];
      dirlock_format_time (owner->heartbeat, heartbeat, sizeof heartbeat);
      struct timespec age;
      /* "pid=0" would name a process: left out, as JSON's null.  */
      if (names_no_process (owner))
        dirlock_owner_show (stdout, owner);
      else
        dirlock_owner_print (stdout, owner);
      printf ("heartbeat=%s\n", heartbeat);
      if (holding_age (owner, &age))
        printf ("age=%jd\n", (intmax_t) age.tv_sec);
      if (stale)
        printf ("stale=yes\nstale_reason=%s\n", stale);
      else
        fputs ("stale=no\n", stdout);
      /* Its fields are then all absent, which alone would not say
         why (a crash: see report_crash_remedy).  */
      if (owner->empty)
        fputs ("empty=yes\n", stdout);
      /* As --list says it: an unknown owner, whose record is not
         lockdir's.  */
      if (names_no_process (owner))
        fputs ("names_no_pid=yes\n", stdout);
      return;
    }
  fputs ("{\"lock\":", stdout);
  json_put_string (stdout, lock);
  fputs (",\"held\":true", stdout);
  print_owner_json_fields (owner, stale);
}

/* Print the owner record of LOCK: "key=value" lines, or one JSON
   object.  */
static void
print_owner (char const *lock, struct dirlock_owner const *owner,
             char const *stale, bool json)
{
  print_owner_start (lock, owner, stale, json);
  if (json)
    fputs ("}\n", stdout);
}

/* The holder that speaks for HOLDERS (at least one) in --status
   --json's object and in print_summary's line: the first live one, or
   the first if all are stale, so that what is said of the lock is
   stale only when the lock is.  */
static struct dirlock_owner const *
lead_holder (struct dirlock_holders const *holders)
{
  for (size_t i = 0; i < holders->count; i++)
    if (!holders->owner[i].stale)
      return &holders->owner[i];
  return &holders->owner[0];
}

/* Print the holders and the queue of LOCK: each holder's record, a
   blank line before each further one, then one line per waiter; or one
   JSON object, the lead holder's, whose "holders" lists every holder
   (present when held) and "queue" every waiter (present when someone
   waits).  */
static void
print_status (char const *lock, struct dirlock_holders const *holders,
              struct dirlock_owner const *waiters, size_t queued, bool json)
{
  if (holders->count)
    {
      /* The text gives every holder's record in turn, the first
         first.  */
      struct dirlock_owner const *owner = (json ? lead_holder (holders)
                                           : &holders->owner[0]);
      print_owner_start (lock, owner, owner->stale, json);
    }
  else if (json)
    {
      fputs ("{\"lock\":", stdout);
      json_put_string (stdout, lock);
      fputs (",\"held\":false", stdout);
    }
  if (json && holders->count)
    {
      fputs (",\"holders\":[", stdout);
      for (size_t i = 0; i < holders->count; i++)
        {
          printf ("%s{\"holder\":%zu", i ? "," : "", i + 1);
          print_owner_json_fields (&holders->owner[i],
                                   holders->owner[i].stale);
          putchar ('}');
        }
      putchar (']');
    }
  for (size_t i = 1; !json && i < holders->count; i++)
    {
      putchar ('\n');
      print_owner_start (lock, &holders->owner[i],
                         holders->owner[i].stale, false);
    }

  if (queued && !json && holders->count)
    putchar ('\n');
  if (queued && json)
    fputs (",\"queue\":[", stdout);
  for (size_t i = 0; i < queued; i++)
    {
      struct dirlock_owner const *w = &waiters[i];
      char const *mode = w->shared ? "shared" : "exclusive";
      /* An unknown uid is left out, as in a holder's record (and null
         in JSON); so is a pid of 0, which names no process (a ticket
         that is not lockdir's).  */
      bool names_pid = w->pid > 0;
      if (!json)
        {
          printf ("queued=%zu", i + 1);
          if (names_pid)
            printf (" pid=%ld", (long) w->pid);
          printf (" host=%s", w->host);
          if (w->uid >= 0)
            printf (" uid=%lld", w->uid);
          printf (" mode=%s since=%s", mode, w->acquired);
          /* The lockdir that waits for a script: only when the ticket
             names one (null in JSON).  */
          if (w->waiter_pid > 0)
            printf (" waiter_pid=%ld", (long) w->waiter_pid);
          /* As a holder's "empty=yes": only when so.  The same verdict
             as "stale" in JSON, the one the next waiter acts on.  */
          if (w->stale)
            fputs (" stale=yes", stdout);
          printf (" command=%s\n", w->command);
          continue;
        }
      printf ("%s{\"position\":%zu", i ? "," : "", i + 1);
      print_json_string ("id", w->id);
      if (names_pid)
        printf (",\"pid\":%ld", (long) w->pid);
      else
        fputs (",\"pid\":null", stdout);
      print_json_string ("host", w->host);
      if (w->uid >= 0)
        printf (",\"uid\":%lld", w->uid);
      else
        fputs (",\"uid\":null", stdout);
      print_json_string ("mode", mode);
      print_json_string ("since", w->acquired);
      print_json_string ("command", w->command);
      if (w->waiter_pid > 0)
        printf (",\"waiter_pid\":%ld", (long) w->waiter_pid);
      else
        fputs (",\"waiter_pid\":null", stdout);
      printf (",\"stale\":%s}", w->stale ? "true" : "false");
    }
  if (queued && json)
    putchar (']');
  if (json)
    fputs ("}\n", stdout);
}

/* The name of LOCK's queue, LOCK.queue (to free).  A LOCK given as
   "L/" names the lock L, whose queue is "L.queue", not "L/.queue".  */
static char *
queue_name_of (char const *lock)
{
  size_t len = strlen (lock);
  while (len > 1 && lock[len - 1] == '/')
    len--;
  return xasprintf ("%.*s%s", (int) len, lock, LOCKQUEUE_SUFFIX);
}

/* If LOCK itself is a directory or absent, but its queue LOCK.queue
   exists and is not a directory, return the queue's name (to free), so
   that an ENOTDIR is blamed on the right file.  Else NULL.  */
static char *
queue_not_directory (char const *lock)
{
  struct stat st;
  if (lstat (lock, &st) == 0 ? !S_ISDIR (st.st_mode) : errno != ENOENT)
    return NULL;
  char *queue = queue_name_of (lock);
  if (lstat (queue, &st) == 0 && !S_ISDIR (st.st_mode))
    return queue;
  free (queue);
  return NULL;
}

/* Is LOCK there, and not a directory?  ENOTDIR also says that a
   directory of LOCK's path is not one: LOCK itself is then not there.  */
static bool
exists_not_directory (char const *lock)
{
  struct stat st;
  return lstat (lock, &st) == 0 && !S_ISDIR (st.st_mode);
}

/* Is LOCK a symbolic link (which a lock never is: it is not followed,
   and "not a directory" would puzzle whoever sees it lead to one)?  */
static bool
is_symbolic_link (char const *lock)
{
  struct stat st;
  return lstat (lock, &st) == 0 && S_ISLNK (st.st_mode);
}

/* Is the last component of LOCK a valid name, but too long for the
   names made from it (LOCK.last, LOCK.queue)?  */
static bool
name_leaves_no_room (char const *lock)
{
  size_t len = base_len (last_component (lock));
  return DIRLOCK_NAME_MAX < len && len <= NAME_MAX;
}

/* LOCK's history FILE has PROBLEM: say who can remove it, the caller
   or, in a sticky directory, only the directory's owner and root.  */
static void
report_unusable_history (char const *lock, char const *doing,
                         char const *file, char const *problem)
{
  char const *break_lock = quotearg_n_style (2, shell_escape_quoting_style,
                                             lock);
  uid_t dir_uid;
  if (!dirlock_fault_others_remove (&dir_uid))
    error (0, 0, "cannot %s %s: %s %s; remove it, or run "
           "'lockdir --break %s' (the tokens then start again from 1)",
           doing, quoteaf (lock), quoteaf_n (1, file), problem, break_lock);
  else if (dir_uid == 0)
    error (0, 0, "cannot %s %s: %s %s; only root can remove it, with rm "
           "or 'lockdir --break %s' (the tokens then start again from 1)",
           doing, quoteaf (lock), quoteaf_n (1, file), problem, break_lock);
  else
    error (0, 0, "cannot %s %s: %s %s; only the directory's owner "
           "(uid %ju) or root can remove it, with rm or 'lockdir --break %s' "
           "(the tokens then start again from 1)",
           doing, quoteaf (lock), quoteaf_n (1, file), problem,
           (uintmax_t) dir_uid, break_lock);
}

/* A diagnostic for a failure to use LOCK.  */
static void
report_lock_error (char const *lock, char const *doing, int errnum)
{
  char *queue = errnum == ENOTDIR ? queue_not_directory (lock) : NULL;
  char const *file, *problem;
  char const *record = errnum == EINVAL ? dirlock_bad_record () : NULL;
  if (record)
    {
      char *path = file_name_concat (lock, record, NULL);
      error (0, 0, "cannot %s %s: its owner record %s is not a regular "
             "file", doing, quoteaf_n (0, lock), quoteaf_n (1, path));
      free (path);
    }
  else if (dirlock_fault (&file, &problem))
    {
      if (problem)
        report_unusable_history (lock, doing, file, problem);
      else
        error (0, errnum, "cannot %s %s: cannot %s %s", doing,
               quoteaf (lock),
               dirlock_fault_unwritable () ? "queue in" : "read",
               quoteaf_n (1, file));
    }
  else if (queue)
    error (0, 0, "cannot %s %s: its queue %s exists and is not a "
           "directory; remove it", doing, quoteaf_n (0, lock),
           quoteaf_n (1, queue));
  else if (errnum == ENOTDIR && is_symbolic_link (lock))
    error (0, 0, "cannot %s %s: it is a symbolic link, which lockdir "
           "does not follow", doing, quoteaf (lock));
  else if (errnum == ENOTDIR && exists_not_directory (lock))
    error (0, 0, "cannot %s %s: it exists and is not a directory",
           doing, quoteaf (lock));
  else if (errnum == ENOTEMPTY)
    error (0, 0, "cannot %s %s: it is a directory that is not a lockdir "
           "lock", doing, quoteaf (lock));
  else if (errnum == EXDEV)
    error (0, 0, "cannot %s %s: it cannot be done atomically here",
           doing, quoteaf (lock));
  else if (errnum == EOPNOTSUPP)
    error (0, 0, "cannot %s %s: its filesystem refuses symbolic links, "
           "which its queue is made of (--no-queue waits without one)",
           doing, quoteaf (lock));
  else if (errnum == ENAMETOOLONG && name_leaves_no_room (lock))
    error (0, 0, "cannot %s %s: its name is longer than %d bytes: "
           "LOCK.last and LOCK.queue would not fit in a name", doing,
           quoteaf (lock), (int) DIRLOCK_NAME_MAX);
  else
    error (0, errnum, "cannot %s %s", doing, quoteaf (lock));
  free (queue);
}

/* "by pid 123 on HOST for 5m12s: COMMAND": who holds OWNER's lock,
   for how long, doing what; "by pid 124 on HOST for 5m12s (its
   lockdir, pid 123, is gone): COMMAND" once only COMMAND holds it
   (BY_COMMAND, from the judgement dirlock_stale_reason made).  */
static char const *
describe_holder (struct dirlock_owner const *owner, bool by_command,
                 char *buf, size_t size)
{
  struct timespec age;
  char age_text[32];
  if (owner->empty || names_no_process (owner))
    {
      snprintf (buf, size, "by an unknown owner: its record is %s",
                owner->empty ? "empty" : "not lockdir's: it names no pid");
      return buf;
    }
  /* A lockdir killed with SIGKILL leaves the lock to its COMMAND:
     name the process that holds it, not the dead one.  */
  int n = snprintf (buf, size, "by pid %ld on %s%s",
                    (long) (by_command ? owner->child_pid : owner->pid),
                    owner->host[0] ? owner->host : "an unknown host",
                    dirlock_other_boot (owner) ? " in another boot" : "");
  if (n >= 0 && (size_t) n < size && holding_age (owner, &age))
    n += snprintf (buf + n, size - n, " for %s",
                   format_age (age, age_text, sizeof age_text));
  if (n >= 0 && (size_t) n < size && by_command)
    n += snprintf (buf + n, size - n, " (its lockdir, pid %ld, is gone)",
                   (long) owner->pid);
  if (n >= 0 && (size_t) n < size && owner->command[0])
    snprintf (buf + n, size - n, ": %s", owner->command);
  return buf;
}

/* The holding OWNER of LOCK may be one that a crash or a reboot left
   behind, which is never broken without a lease: say how to end it.  */
static void
report_crash_remedy (char const *lock, struct dirlock_owner const *owner)
{
  char const *why;
  if (owner->empty)
    why = ("its system may have crashed before writing the record to disk "
           "(on a network filesystem, its host may not have sent it yet)");
  else if (dirlock_other_boot (owner) && !dirlock_has_lease (owner))
    why = ("a holding from another boot is kept, as another host may have "
           "the same name");
  else if (names_no_process (owner) && !dirlock_has_lease (owner))
    why = ("a holding whose record names no process is never judged "
           "dead");
  else
    return;
  error (0, 0, "%s; if no process holds %s any more, 'lockdir --break %s' "
         "ends the holding", why, quoteaf (lock),
         quotearg_n_style (1, shell_escape_quoting_style, lock));
}

/* A shared request found LOCK held shared, which it could join, but
   gave way to a live exclusive waiter in LOCK's queue (as -n does, or
   at the end of -w): name the waiter, or nothing would say why.  */
static void
report_exclusive_waiter (char const *lock)
{
  struct dirlock_owner *waiters;
  size_t queued;
  if (dirlock_read_queue (lock, &waiters, &queued) != 0)
    return;
  for (size_t i = 0; i < queued; i++)
    if (!waiters[i].stale && !waiters[i].shared)
      {
        if (waiters[i].pid > 0)
          error (0, 0, "pid %ld is waiting for %s exclusively, and a "
                 "shared request does not pass it", (long) waiters[i].pid,
                 quoteaf (lock));
        else
          error (0, 0, "an unknown waiter is waiting for %s exclusively, "
                 "and a shared request does not pass it", quoteaf (lock));
        break;
      }
  free (waiters);
}

/* LOCK was busy: say by whom, unless quiet.  */
static void
report_busy (char const *lock, struct options const *opt)
{
  if (opt->quiet)
    return;
  struct dirlock_owner owner;
  bool waited = (opt->has_timeout && !opt->nonblock
                 && timespec_sign (opt->timeout) > 0);
  char const *what = waited ? "is still held after the timeout" : "is held";
  struct dirlock_owner *waiters;
  size_t queued;
  if (dirlock_read (lock, &owner) == 0)
    {
      char holder[DIRLOCK_HOST_MAX + DIRLOCK_COMMAND_MAX + 128];
      bool by_command;
      dirlock_stale_reason (&owner, &by_command);
      error (0, 0, "%s %s %s", quoteaf (lock), what,
             describe_holder (&owner, by_command, holder, sizeof holder));
      report_crash_remedy (lock, &owner);
      if (opt->shared && !opt->no_queue && owner.shared)
        report_exclusive_waiter (lock);
    }
  else if (dirlock_read_queue (lock, &waiters, &queued) == 0 && queued)
    {
      /* Free, but its turn is someone else's.  The tickets judged dead
         (as the waiter behind them removes them) are nobody's turn.  */
      size_t live = 0;
      struct dirlock_owner const *first = NULL;
      for (size_t i = 0; i < queued; i++)
        if (!waiters[i].stale)
          {
            live++;
            if (!first)
              first = &waiters[i];
          }
      /* None live: one died since our attempt; say what is there.  */
      size_t shown = live ? live : queued;
      error (0, 0, "%s is free, but %zu %s queued for it", quoteaf (lock),
             shown, shown == 1 ? "waiter is" : "waiters are");
      if (first && names_no_process (first) && !dirlock_has_lease (first))
        {
          /* As a holder's record that names no pid: see
             report_crash_remedy.  */
          char *queue = queue_name_of (lock);
          char *ticket = xasprintf ("%s/%s", queue, first->ticket);
          free (queue);
          error (0, 0, "the first is an unknown waiter: its ticket %s is "
                 "not lockdir's: it names no pid, so it is never judged "
                 "dead; if no one waits with it, remove it by hand",
                 quoteaf (ticket));
          free (ticket);
        }
      else if (first && !dirlock_same_system (first)
               && !dirlock_has_lease (first))
        {
          char *queue = queue_name_of (lock);
          error (0, 0, "the first, pid %ld on %s, is of another host or "
                 "pid namespace and has no lease, so it is never judged dead "
                 "from here; if it no longer waits, remove its ticket from "
                 "%s", (long) first->pid,
                 first->host[0] ? first->host : "an unknown host",
                 quoteaf (queue));
          free (queue);
        }
      free (waiters);
    }
  else
    error (0, 0, "%s %s", quoteaf (lock), what);
}

/* Check LOCK's filesystem.  Return false if it refuses.  */
static bool
lock_fs_permits (char const *lock, struct options const *opt)
{
  struct parent_dir parent;
  if (!open_parent (lock, &parent))
    {
      report_lock_error (lock, "use", errno);
      return false;
    }
  /* The lock is taken by renaming a new directory onto LOCK
     (dirlock.c): ask about that rename, not about mkdir, which some
     filesystems (GlusterFS) keep while their rename is no single
     step.  */
  bool ok = fs_permits (lock, parent.fd, NULL, FS_RENAME_DIR, opt->force,
                        opt->quiet);
  close_parent (&parent);
  return ok;
}

/* --- running COMMAND ------------------------------------------------ */

static int const forwarded_signals[] =
  { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
enum { N_FORWARDED = sizeof forwarded_signals / sizeof *forwarded_signals };

/* The child signals are passed on to, while it is ours: set with the
   forwarded signals blocked, and cleared, with them blocked, in the same
   step that reaps it, so that no signal goes to a recycled pid.  */
static volatile sig_atomic_t child_for_signals;
static int sigchld_pipe[2] = { -1, -1 };

/* The forwarded signals and SIGCHLD, in *SET.  */
static void
forwarded_signal_set (sigset_t *set)
{
  sigemptyset (set);
  for (int i = 0; i < N_FORWARDED; i++)
    sigaddset (set, forwarded_signals[i]);
  sigaddset (set, SIGCHLD);
}

/* With --max-runtime, COMMAND runs in a process group of its own (as
   under timeout(1)), so that the signals that stop it reach every
   process it started: otherwise a shell script's children would run
   on after the lock is released, overlapping the next holder's.  */
static bool command_has_group;

/* Pass the signal on to COMMAND once it runs.  (SI_KERNEL: the
   terminal sent it to its foreground process group.)  */
static void
forward_signal (int sig, siginfo_t *info, void *context)
{
  (void) context;
  pid_t child = child_for_signals;
  if (child > 0)
    pass_signal_on (child, command_has_group, sig,
                    info->si_code == SI_KERNEL);
}

/* Ctrl-Z: stop COMMAND's group with us.  In a group of its own,
   COMMAND would otherwise run on unwatched while we are stopped: past
   --max-runtime, and, with --lease, after others broke the lock whose
   heartbeat we no longer refresh.  */
static void
stop_with_command_handler (int sig)
{
  (void) sig;
  stop_with_command (child_for_signals, command_has_group);
}

static void
note_sigchld (int sig)
{
  (void) sig;
  int saved_errno = errno;
  char byte = 0;
  if (write (sigchld_pipe[1], &byte, 1) < 0)
    {
      /* Full pipe: a wake-up is already pending.  */
    }
  errno = saved_errno;
}

/* Install the handlers that pass signals on to COMMAND, and the one
   that wakes the wait loop when COMMAND exits.  A signal ignored by
   our caller stays ignored, for us and for COMMAND (which inherits the
   disposition).  */
static void
install_handlers (void)
{
  struct sigaction act;
  memset (&act, 0, sizeof act);
  act.sa_sigaction = forward_signal;
  act.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset (&act.sa_mask);
  for (int i = 0; i < N_FORWARDED; i++)
    sigaddset (&act.sa_mask, forwarded_signals[i]);
  for (int i = 0; i < N_FORWARDED; i++)
    set_action_unless_ignored (forwarded_signals[i], &act);

  if (command_has_group)
    {
      memset (&act, 0, sizeof act);
      act.sa_handler = stop_with_command_handler;
      act.sa_flags = SA_RESTART;
      sigemptyset (&act.sa_mask);
      set_action_unless_ignored (SIGTSTP, &act);
    }

  memset (&act, 0, sizeof act);
  act.sa_handler = note_sigchld;
  /* A command in a process group of its own can be stopped by the
     terminal: hear of that too, to say so (report_terminal_stop).  */
  act.sa_flags = SA_RESTART | (command_has_group ? 0 : SA_NOCLDSTOP);
  sigemptyset (&act.sa_mask);
  sigaction (SIGCHLD, &act, NULL);
}

/* Reap CHILD if it has exited, and then forget it as the target of
   forwarded signals in the same step, with them blocked.  Return
   reap_command's result, which also tells when CHILD, in a process
   group of its own, has stopped; KILL_REST and *KILLED are its.  */
static pid_t
reap_child (pid_t child, int *status, bool kill_rest, bool *killed)
{
  sigset_t block, old_mask;
  forwarded_signal_set (&block);
  sigprocmask (SIG_BLOCK, &block, &old_mask);
  pid_t w = reap_command (child, command_has_group, kill_rest, status,
                          killed);
  int saved_errno = errno;
  if (w == child && !WIFSTOPPED (*status))
    child_for_signals = 0;
  sigprocmask (SIG_SETMASK, &old_mask, NULL);
  errno = saved_errno;
  return w;
}

/* The lease of LOCK_NAME ran out OVERDUE before the heartbeat that
   refreshed it (lockdir was stopped, or starved).  The refresh found
   our holding still in the lock, so nobody broke it; but a breaker
   that judged it stale meanwhile may rename it away yet (the next beat
   then reports the lock broken).  */
static void
report_lease_lapse (char const *lock_name, struct timespec overdue)
{
  char overdue_text[SECONDS_BUFSIZE];
  error (0, 0, "warning: the lease of %s ran out %s s before its "
         "heartbeat; refreshed, but a lockdir that judged it stale "
         "meanwhile may break it yet", quoteaf (lock_name),
         format_seconds (overdue, overdue_text, sizeof overdue_text));
}

/* Wait for CHILD to exit, refreshing the lease heartbeat and enforcing
   --max-runtime meanwhile.  Return true with its wait status in
   *STATUS, and set *TIMED_OUT.  If CHILD cannot be waited for, kill it
   (it must not run on without the lock) and return false.  */
static bool
wait_child (pid_t child, struct dirlock *lock, char const *lock_name,
            struct options const *opt, int *status, bool *timed_out)
{
  struct timespec beat_every = { 0, 0 };
  struct timespec next_beat = infinite_duration;
  if (timespec_sign (opt->lease) > 0)
    {
      /* A third of the lease, so two beats can be late before it
         expires.  */
      beat_every = duration_divided (opt->lease, 3);
      next_beat = deadline_after (beat_every);
    }
  struct timespec stop_at = (timespec_sign (opt->max_runtime) > 0
                             ? deadline_after (opt->max_runtime)
                             : infinite_duration);
  struct timespec kill_at = infinite_duration;
  bool lost_reported = false;
  *timed_out = false;

  for (;;)
    {
      /* Stopped at --max-runtime, CHILD has exited before -k's SIGKILL
         was due: the rest of its group, which may ignore SIGTERM, gets
         it now, before the lock goes.  */
      bool killed;
      pid_t w = reap_child (child, status,
                            *timed_out && !duration_is_infinite (kill_at),
                            &killed);
      if (killed)
        {
          if (opt->verbose)
            report_exit_after_term (lock_name);
          kill_at = infinite_duration;
        }
      if (w == child && WIFSTOPPED (*status))
        {
          if (!opt->quiet)
            report_terminal_stop (*status);
        }
      else if (w == child)
        return true;
      if (w < 0 && errno != EINTR)
        {
          error (0, errno, "cannot wait for the command; killing it");
          signal_command (child, command_has_group, SIGKILL);
          return false;
        }

      /* The deadlines are judged only now, after a wait that found
         CHILD still running: a COMMAND that exited in time, while we
         slept past its --max-runtime (a loaded machine), did not run
         too long.  */
      if (deadline_passed (next_beat))
        {
          struct timespec overdue;
          int beat = dirlock_heartbeat (lock, &overdue);
          if (beat < 0 && !lost_reported)
            {
              /* Decided before error () runs, which may change errno.  */
              bool lost = errno == ESTALE;
              if (!opt->quiet)
                error (0, lost ? 0 : errno,
                       lost ? "lock %s was broken while the command ran"
                       : "cannot refresh the heartbeat of %s",
                       quoteaf (lock_name));
              lost_reported = lost;
            }
          else if (beat > 0 && !opt->quiet)
            report_lease_lapse (lock_name, overdue);
          next_beat = deadline_after (beat_every);
        }
      /* A COMMAND that has exited since that wait, before its
         --max-runtime ended or -k's SIGKILL was due (we were slow to
         look), is reaped as it is, not stopped.  It may still exit
         between this look and the signal: the messages hold then
         too (report_exit_after_term).  */
      if ((deadline_passed (kill_at)
           || (!*timed_out && deadline_passed (stop_at)))
          && command_exited (child))
        continue;
      if (!*timed_out && deadline_passed (stop_at))
        {
          *timed_out = true;
          if (opt->verbose)
            report_max_runtime_term (lock_name, opt->max_runtime,
                                     command_has_group);
          terminate_command (child, command_has_group);
          if (timespec_sign (opt->kill_after) > 0)
            kill_at = deadline_after (opt->kill_after);
        }
      if (deadline_passed (kill_at))
        {
          if (opt->verbose)
            report_kill_after_kill (lock_name, opt->kill_after,
                                    command_has_group);
          signal_command (child, command_has_group, SIGKILL);
          kill_at = infinite_duration;
        }

      struct timespec wake = earlier_deadline (next_beat, kill_at);
      if (!*timed_out)
        wake = earlier_deadline (wake, stop_at);
      struct pollfd pfd = { .fd = sigchld_pipe[0], .events = POLLIN };
      if (poll (&pfd, 1, poll_timeout_ms (wake)) > 0)
        {
          char buf[64];
          while (read (sigchld_pipe[0], buf, sizeof buf) > 0)
            continue;
        }
    }
}

/* Release LOCK after COMMAND.  Return false on a real failure.  */
static bool
release_after_command (struct dirlock *lock, char const *lock_name,
                       struct options const *opt)
{
  bool ok = true;
  if (dirlock_release (lock) == 0)
    {
      /* Said even with -q; the status stays: an empty lock is free, and
         the next lockdir renames its own directory over it.  */
      dirlock_warn_left_empty (lock->dir_left_errno, lock_name, "lockdir",
                               lock_name);
    }
  else if (errno == ESTALE)
    {
      /* Someone broke it while we held it (lease, or --break): the
         command's result still stands.  */
      if (!opt->quiet)
        error (0, 0, "lock %s had been broken by someone else",
               quoteaf (lock_name));
    }
  else
    {
      error (0, errno, "cannot release %s", quoteaf (lock_name));
      ok = false;
    }
  /* Our ticket, if it stayed: after our own message.  */
  dirlock_warn_temps_left (&lock->temps_left);
  return ok;
}

/* Make the pipe that wakes the wait for COMMAND, before the lock is
   acquired: a lock taken and then left behind because no descriptor was
   left for it would outlive us.  Return false (errno set) if it cannot
   be made.  */
static bool
make_sigchld_pipe (void)
{
  return pipe2 (sigchld_pipe, O_CLOEXEC | O_NONBLOCK) == 0;
}

/* What the child leaves in the memory it shares with us until it execs
   or exits (vfork), read once vfork has returned.  */
static struct
{
  unsigned long long start_time;  /* the child's, for the owner record */
  int self_errno;                 /* not 0: /proc did not give it its
                                     start time (self_start_time's
                                     errno), and it ran nothing */
  int record_errno;               /* not 0: it could not name itself, and
                                     ran nothing */
  int exec_errno;                 /* not 0: it could not run COMMAND */
} volatile spawned;

/* In the vfork child, with every signal blocked: name ourselves in
   LOCK's owner record, then run COMMAND (ARGV) with OLD_MASK, the
   caller's signal mask.  The record names us before COMMAND runs, so
   that a lockdir killed at any moment leaves either no COMMAND or one
   that keeps the lock held while it runs.  Our memory is the parent's
   until the exec: system calls and plain computation only, and our
   handlers reset before any signal gets through.  */
static _Noreturn void
child_exec (struct dirlock const *lock, char **argv,
            sigset_t const *old_mask)
{
  default_tool_signals ();
  if (pipe_signal_ignored_by_us ())
    signal (SIGPIPE, SIG_DFL);
  pid_t self;
  unsigned long long start_time;
  /* A /proc of another pid namespace can show another process under
     our pid, whose start time would name it, not us: self_start_time
     fails there (ESRCH), as without /proc (ENOENT); the parent says
     which.  */
  if (self_start_time (&self, &start_time) != 0)
    {
      spawned.self_errno = errno;
      _exit (EXIT_CANCELED);
    }
  if (dirlock_add_child (lock, self, start_time) != 0)
    {
      spawned.record_errno = errno;
      _exit (EXIT_CANCELED);
    }
  /* SIGKILL can end the parent while vfork holds it, before we named
     ourselves: then a waiter may have judged the holding stale on the
     record without us, and broken it.  Run nothing unless the parent
     lives on now, so that it died (if it did) after our name was in the
     record, which a breaker reads again once it has seen the owner
     dead (judge_holders in dirlock.c).  The parent is the lock's owner
     (with COMMAND, lockdir owns the holding itself).  */
  if (getppid () != lock->self.pid)
    {
      spawned.record_errno = ESRCH;
      _exit (EXIT_CANCELED);
    }
  spawned.start_time = start_time;
  if (command_has_group)
    setpgid (0, 0);
  sigprocmask (SIG_SETMASK, old_mask, NULL);
  execvp (argv[0], argv);
  int err = errno;
  spawned.exec_errno = err;
  _exit (err == ENOENT ? EXIT_ENOENT : EXIT_CANNOT_INVOKE);
}

/* We hold LOCK: run COMMAND (ARGV) in a child, and release LOCK after
   it.  Return the exit status.  */
static int
run_command (struct dirlock *lock, char const *lock_name, char **argv,
             struct options const *opt)
{
  char token[INT_BUFSIZE_BOUND (uintmax_t)];
  if (setenv ("LOCKDIR_TOKEN", umaxtostr (lock->self.token, token), 1) != 0)
    {
      error (0, errno, "cannot start the command");
      release_after_command (lock, lock_name, opt);
      return EXIT_CANCELED;
    }

  /* Every signal is blocked until the child has exec'd and the handlers
     that pass signals on to it know its pid: no signal may run our
     handlers in the child, or reach the parent's before they know
     whom to pass it to.  */
  sigset_t all, old_mask;
  sigfillset (&all);
  sigprocmask (SIG_BLOCK, &all, &old_mask);
  spawned.self_errno = spawned.record_errno = spawned.exec_errno = 0;
  command_has_group = (timespec_sign (opt->max_runtime) > 0
                       && !opt->foreground);
  /* vfork, not fork: a fork copies our page tables, and then every page
     either process writes costs a fault; that was a quarter of the
     time of 'lockdir L true'.  */
  pid_t child = vfork ();
  if (child == 0)
    child_exec (lock, argv, &old_mask);
  int vfork_errno = errno;
  if (child > 0)
    {
      child_for_signals = child;
      install_handlers ();
      /* COMMAND holds the lock now (its record names it): a signal that
         ends us, SIGALRM say, must not end the holding under it.  */
      dirlock_keep (lock);
    }
  sigprocmask (SIG_SETMASK, &old_mask, NULL);
  if (child < 0)
    {
      error (0, vfork_errno, "cannot start the command");
      release_after_command (lock, lock_name, opt);
      return EXIT_CANCELED;
    }
  if (spawned.self_errno == 0 && spawned.record_errno == 0)
    {
      lock->self.child_pid = child;
      lock->self.child_start_time = spawned.start_time;
    }

  bool timed_out = false;
  int status;
  bool waited = wait_child (child, lock, lock_name, opt, &status,
                            &timed_out);
  bool released = release_after_command (lock, lock_name, opt);

  if (!waited)
    return EXIT_CANCELED;
  int self_errno = spawned.self_errno;
  if (self_errno == ENOENT && !proc_mounted ())
    {
      /* Its start time is read from /proc/self/stat: without /proc,
         "No such file or directory" would be true but no help.  */
      error (0, 0, "cannot name the command in the owner record of %s: "
             "/proc is not mounted; the command was not run",
             quoteaf (lock_name));
      return EXIT_CANCELED;
    }
  if (self_errno == ENOENT || self_errno == ESRCH)
    {
      /* /proc/self/stat is not there, or not the command's: another
         pid namespace's /proc, which names others by our pids.  */
      error (0, 0, "cannot name the command in the owner record of %s: "
             "/proc is not this process's pid namespace's; the command "
             "was not run", quoteaf (lock_name));
      return EXIT_CANCELED;
    }
  if (self_errno != 0 || spawned.record_errno != 0)
    {
      error (0, self_errno ? self_errno : spawned.record_errno,
             "cannot name the command in the owner record of %s",
             quoteaf (lock_name));
      return EXIT_CANCELED;
    }
  if (spawned.exec_errno != 0)
    {
      int exec_errno = spawned.exec_errno;
      error (0, exec_errno, "cannot run %s", quoteaf (argv[0]));
      return exec_errno == ENOENT ? EXIT_ENOENT : EXIT_CANNOT_INVOKE;
    }
  if (!released)
    return EXIT_CANCELED;
  if (timed_out)
    return EXIT_TIMEDOUT;
  if (WIFSIGNALED (status))
    exit_as_killed_by (WTERMSIG (status));
  return WEXITSTATUS (status);
}

/* --- the forms -------------------------------------------------------- */

/* A write error on stdout has been reported precisely: keep
   close_stdout from reporting it again as a bare "write error".  (A
   failed fflush has discarded the buffer.)  */
static void
forget_stdout_error (void)
{
  clearerr (stdout);
}

/* --verbose: we start waiting for LOCK (ARG), held by HOLDER.  */
static void
report_waiting (struct dirlock_owner const *holder, void *arg)
{
  char const *lock_name = arg;
  char text[DIRLOCK_HOST_MAX + DIRLOCK_COMMAND_MAX + 128];
  bool by_command;
  dirlock_stale_reason (holder, &by_command);
  error (0, 0, "waiting for %s, held %s", quoteaf (lock_name),
         describe_holder (holder, by_command, text, sizeof text));
}

/* The owner of a lock taken without COMMAND: the script that ran us,
   normally our parent.  But in 'tok=$(lockdir --print-token L || exit
   1)' the shell forks a subshell for the substitution, which forks us
   and exits as soon as we do: owned by it, the lock would be stale at
   once.  Such a parent writes into the same pipe as we do, and its own
   parent, the script, reads that pipe: then the script is the owner.
   (A simple '$(lockdir ...)' has the shell exec us in the subshell, and
   our parent is the script already.)  */
static pid_t
script_owner (void)
{
  pid_t parent = getppid ();
  struct stat out;
  if (fstat (STDOUT_FILENO, &out) != 0 || !S_ISFIFO (out.st_mode)
      || !process_fd_is_file (parent, STDOUT_FILENO, &out))
    return parent;
  pid_t script = process_parent (parent);
  return script > 1 && process_reads (script, &out) ? script : parent;
}

/* Say that LOCK_NAME is held already by HOLDER_PID, for the same
   owner or as its parent, so that waiting for it would never end.  */
static void
report_held_by_self (char const *lock_name, pid_t holder_pid)
{
  error (0, 0, "%s is already held by pid %ld, for the same owner "
         "or as our parent: waiting would never end",
         quoteaf (lock_name), (long) holder_pid);
}

/* Acquire LOCK, then run COMMAND (ARGV) or, without one, leave LOCK
   held by the caller.  */
static int
acquire (char const *lock_name, char **argv, struct options const *opt)
{
  bool with_command = argv[0] != NULL;
  int fail_status = with_command ? EXIT_CANCELED : EXIT_SYSERR;
  int busy_status = (opt->conflict_status >= 0 ? opt->conflict_status
                     : with_command ? EXIT_TEMPFAIL : EXIT_NO);

  if (!lock_fs_permits (lock_name, opt))
    return fail_status;

  struct dirlock_config config = {
    .owner_pid = with_command ? 0 : opt->owner_pid ? opt->owner_pid
                                                   : script_owner (),
    .lease = opt->lease,
    .verbose = opt->verbose,
    .waiting = opt->verbose ? report_waiting : NULL,
    .waiting_arg = (void *) lock_name,
    .shared = opt->shared,
    .fifo = !opt->no_queue,
  };
  char *command = with_command ? shell_words_line (argv) : NULL;
  config.command = command;
  if (with_command)
    {
      if (setenv ("LOCKDIR_PATH", lock_name, 1) != 0)
        xalloc_die ();
      if (!make_sigchld_pipe ())
        {
          error (0, errno, "cannot start the command");
          free (command);
          return fail_status;
        }
    }

  struct timespec deadline = (opt->nonblock ? (struct timespec) { 0, 0 }
                              : opt->has_timeout ? opt->timeout
                              : infinite_duration);
  struct dirlock lock;
  struct timespec started = monotonic_now ();
  int r = dirlock_acquire_with (&lock, lock_name, deadline_after (deadline),
                                &config);
  free (command);
  if (r < 0 && errno == EDEADLK)
    {
      if (!opt->quiet)
        report_held_by_self (lock_name, lock.held_by_pid);
      dirlock_warn_temps_left (&lock.temps_left);
      return busy_status;
    }
  if (r < 0)
    {
      if (errno == ESRCH && opt->owner_pid)
        error (0, 0, "no process with pid %ld", (long) opt->owner_pid);
      else if (errno == EOWNERDEAD)
        error (0, 0, "the owner, pid %ld, exited while waiting for %s: "
               "not acquired", (long) config.owner_pid, quoteaf (lock_name));
      else
        report_lock_error (lock_name, "acquire", errno);
      dirlock_warn_left_empty (lock.dir_left_errno, lock_name, "lockdir",
                               lock_name);
      dirlock_warn_temps_left (&lock.temps_left);
      return fail_status;
    }
  if (r == 1)
    {
      report_busy (lock_name, opt);
      dirlock_warn_temps_left (&lock.temps_left);
      return busy_status;
    }
  /* Held for the caller: a cleanup signal is held (dirlock did so from
     the moment the holding was made, until we hand it over), and
     dropped at our exit (or after a release), so that the caller never
     holds a lock it was told it failed to get.  (With COMMAND, one that
     kills us before COMMAND starts leaves a holding of a dead owner,
     which the next lockdir breaks.)  */
  if (!with_command)
    block_cleanup_signals ();
  if (opt->verbose)
    {
      struct timespec waited = timespec_sub (monotonic_now (), started);
      char waited_text[SECONDS_BUFSIZE];
      error (0, 0, "acquired %s (token %ju) after %s s",
             quoteaf (lock_name), lock.self.token,
             format_seconds (waited, waited_text, sizeof waited_text));
    }
  /* Acquired after all (a retry): no message of ours to come first.  */
  dirlock_warn_temps_left (&lock.temps_left);

  if (with_command)
    return run_command (&lock, lock_name, argv, opt);

  if (opt->print_token)
    {
      /* The token is the caller's proof of holding the lock: if it
         cannot be printed, hand the lock back rather than leave the
         caller holding a lock it was told it failed to get.  */
      printf ("%ju\n", lock.self.token);
      if (fflush (stdout) != 0)
        {
          int write_errno = errno;
          bool released = dirlock_release (&lock) == 0;
          error (0, write_errno, "cannot print the token of %s; %s",
                 quoteaf (lock_name),
                 released ? "the lock is released again"
                 : "and it is still held: release it with -u");
          if (released)
            dirlock_warn_left_empty (lock.dir_left_errno, lock_name,
                                     "lockdir", lock_name);
          dirlock_warn_temps_left (&lock.temps_left);
          forget_stdout_error ();
          return EXIT_SYSERR;
        }
    }
  dirlock_detach (&lock);
  return EXIT_DONE;
}

/* A diagnostic for a lock held by OWNER where PIDS[0] (of the N_PIDS
   processes PIDS) was expected: DOING fails.  Return the status.  */
static int
report_not_ours (char const *lock_name, char const *doing, int why,
                 struct dirlock_owner const *owner, pid_t const *pids,
                 size_t n_pids, struct options const *opt)
{
  if (opt->quiet)
    return EXIT_NO;
  if (why == 3)
    {
      error (0, 0, "cannot %s %s: its record belongs to uid %ju; only "
             "that user or root may", doing,
             quoteaf (lock_name), (uintmax_t) owner->file_uid);
      return EXIT_NO;
    }
  if (dirlock_report_held_for_command (lock_name, doing, owner, pids,
                                       n_pids))
    return EXIT_NO;
  char const *stale = dirlock_stale_reason (owner, NULL);
  if (owner->pid == pids[0] && stale)
    /* The same pid, but not the same process: the one that took the
       lock has ended (and the pid may have been given again).  */
    error (0, 0, "cannot %s %s: it is stale (%s): the process that took "
           "it as pid %ld has ended; the next lockdir breaks it", doing,
           quoteaf (lock_name), stale, (long) owner->pid);
  else if (owner->pid == pids[0])
    error (0, 0, "cannot %s %s: it is held by pid %ld on %s, another "
           "process than pid %ld here", doing, quoteaf (lock_name),
           (long) owner->pid, owner->host, (long) pids[0]);
  else
    error (0, 0, "cannot %s %s: it is held by pid %ld on %s, not by pid "
           "%ld", doing, quoteaf (lock_name), (long) owner->pid, owner->host,
           (long) pids[0]);
  return EXIT_NO;
}

static int
release_for_caller (char const *lock_name, struct options const *opt)
{
  if (!lock_fs_permits (lock_name, opt))
    return EXIT_SYSERR;
  pid_t pids[2];
  size_t n_pids = script_caller_pids (opt->owner_pid, pids);
  struct dirlock_owner owner;
  int dir_left_errno;
  struct dirlock_temps_left temps_left = { 0 };
  int r = dirlock_release_for (lock_name, pids, n_pids, &owner,
                               &dir_left_errno, &temps_left);
  int status;
  switch (r)
    {
    case 0:
      dirlock_warn_left_empty (dir_left_errno, lock_name, "lockdir",
                               lock_name);
      status = EXIT_DONE;
      break;
    case 1:
      if (!opt->quiet)
        error (0, 0, "cannot release %s: it is not held", quoteaf (lock_name));
      status = EXIT_NO;
      break;
    case 2:
    case 3:
      status = report_not_ours (lock_name, "release", r, &owner, pids,
                                n_pids, opt);
      break;
    default:
      report_lock_error (lock_name, "release", errno);
      status = EXIT_SYSERR;
      break;
    }
  /* The holding's ticket, if it stayed: after our own message.  */
  dirlock_warn_temps_left (&temps_left);
  return status;
}

/* --renew came too late: OWNER, the caller's holding of LOCK_NAME, has
   a lease that ran out already.  Return the status, as for a lock not
   held: a breaker may have judged it stale, and may break it yet.  */
static int
report_lease_ran_out (char const *lock_name, struct dirlock_owner const *owner,
                      struct options const *opt)
{
  if (opt->quiet)
    return EXIT_NO;
  struct timespec ran_out = timespec_add (owner->heartbeat, owner->lease);
  struct timespec now;
  clock_gettime (CLOCK_REALTIME, &now);
  struct timespec ago = timespec_sub (now, ran_out);
  char when[48];
  dirlock_format_time (ran_out, when, sizeof when);
  char ago_text[SECONDS_BUFSIZE];
  error (0, 0, "cannot renew %s: its lease ran out at %s (%s s ago), and "
         "it may have been broken; not renewed", quoteaf (lock_name), when,
         format_seconds (ago, ago_text, sizeof ago_text));
  return EXIT_NO;
}

/* --renew: refresh the heartbeat of a lock the caller holds, as -u
   releases one.  */
static int
renew_for_caller (char const *lock_name, struct options const *opt)
{
  if (!lock_fs_permits (lock_name, opt))
    return EXIT_SYSERR;
  pid_t pids[2];
  size_t n_pids = script_caller_pids (opt->owner_pid, pids);
  struct dirlock_owner owner;
  int r = dirlock_renew_for (lock_name, pids, n_pids, &owner);
  switch (r)
    {
    case 0:
      return EXIT_DONE;
    case 1:
      if (!opt->quiet)
        error (0, 0, "cannot renew %s: it is not held", quoteaf (lock_name));
      return EXIT_NO;
    case 2:
    case 3:
      return report_not_ours (lock_name, "renew", r, &owner, pids, n_pids,
                              opt);
    case 4:
      return report_lease_ran_out (lock_name, &owner, opt);
    default:
      report_lock_error (lock_name, "renew", errno);
      return EXIT_SYSERR;
    }
}

/* --break also resets an unusable history LOCK.last, the one way out
   of a poisoned token.  Return 1 if it did, 0 if there was nothing to
   do, -1 on error (reported).  */
static int
reset_history (char const *lock_name)
{
  char const *file, *problem;
  switch (dirlock_reset_history (lock_name))
    {
    case 0:
      return 0;
    case 1:
      dirlock_fault (&file, &problem);
      error (0, 0, "removed %s, which %s: the tokens start again from 1",
             quoteaf (file), problem);
      return 1;
    default:
      if (dirlock_fault (&file, &problem) && problem)
        error (0, errno, "cannot remove %s, which %s", quoteaf (file),
               problem);
      else
        /* Maybe after a holding was broken: not "cannot break".  */
        report_lock_error (lock_name, "check the history of", errno);
      return -1;
    }
}

/* Show the records of the holdings of LOCK_NAME that --break ENDED
   (with -v, a line each on stderr too).  Return false, after saying
   so, if they cannot be written.  */
static bool
show_broken (char const *lock_name, struct dirlock_holders const *ended,
             struct options const *opt)
{
  /* Shared holders: each record, as one more block or object.  */
  for (size_t i = 0; i < ended->count; i++)
    {
      struct dirlock_owner const *owner = &ended->owner[i];
      /* One judgement for both: the holder may die between two.  */
      bool by_command;
      char const *stale = dirlock_stale_reason (owner, &by_command);
      if (opt->verbose)
        {
          char holder[DIRLOCK_HOST_MAX + DIRLOCK_COMMAND_MAX + 128];
          error (0, 0, "broke lock %s held %s", quoteaf (lock_name),
                 describe_holder (owner, by_command, holder,
                                  sizeof holder));
        }
      if (i && !opt->json)
        putchar ('\n');
      print_owner (lock_name, owner, stale, opt->json);
    }
  if (fflush (stdout) == 0)
    return true;
  /* Done, though the record cannot be shown: say so, rather than a
     bare "write error" that hides the break.  */
  error (0, errno, "broke lock %s, but cannot print its record",
         quoteaf (lock_name));
  forget_stdout_error ();
  return false;
}

/* --break --json found LOCK_NAME free: say so as --status --json
   does, so that every call prints one JSON object.  */
static void
show_not_held (char const *lock_name, struct options const *opt)
{
  struct dirlock_holders const none = { 0 };
  if (opt->json)
    print_status (lock_name, &none, NULL, 0, true);
}

static int
break_lock (char const *lock_name, struct options const *opt)
{
  if (!lock_fs_permits (lock_name, opt))
    return EXIT_SYSERR;
  struct dirlock_holders ended = { 0 };
  struct dirlock_owner refused;
  int dir_left_errno;
  struct dirlock_temps_left temps_left = { 0 };
  int broken = dirlock_break_holders (lock_name, &ended, &refused,
                                      &dir_left_errno, &temps_left);
  /* Said even with -q, as after a release; broken all the same.  */
  if (broken == 0)
    dirlock_warn_left_empty (dir_left_errno, lock_name, "lockdir",
                             lock_name);
  int reset = broken >= 0 ? reset_history (lock_name) : 0;
  if (reset < 0 || (broken == 1 && reset == 1))
    {
      /* The holding is ended all the same: show it, as done.  */
      if (broken == 0)
        show_broken (lock_name, &ended, opt);
      else if (reset == 1)
        show_not_held (lock_name, opt);
      dirlock_holders_free (&ended);
      dirlock_warn_temps_left (&temps_left);
      return reset < 0 ? EXIT_SYSERR : EXIT_DONE;
    }
  int status;
  switch (broken)
    {
    case 0:
      status = show_broken (lock_name, &ended, opt) ? EXIT_DONE : EXIT_SYSERR;
      break;
    case 1:
      if (!opt->quiet)
        error (0, 0, "cannot break %s: it is not held", quoteaf (lock_name));
      show_not_held (lock_name, opt);
      status = EXIT_NO;
      break;
    default:
      if (refused.id[0])
        error (0, 0, "cannot break %s of pid %ld on %s: its record belongs "
               "to uid %ju; only that user or root may",
               quoteaf (lock_name), (long) refused.pid, refused.host,
               (uintmax_t) refused.file_uid);
      else if (ended.count)
        {
          /* Shared holders, some ended: a bare "cannot break" would
             read as "nothing was done".  */
          int err = errno;
          show_broken (lock_name, &ended, opt);
          error (0, err, "broke %zu of the holdings of %s, but cannot end "
                 "the others", ended.count, quoteaf (lock_name));
        }
      else
        report_lock_error (lock_name, "break", errno);
      status = EXIT_SYSERR;
      break;
    }
  dirlock_holders_free (&ended);
  /* After our own message, as every tool reports what it left.  */
  dirlock_warn_temps_left (&temps_left);
  return status;
}

/* One line about LOCK for --list and for --status of several locks:
   "LOCK: held by pid 123 on HOST for 5m12s (token 7): COMMAND" (" in
   another boot" after HOST for a record of another boot of this host;
   "held by an unknown owner: its record is empty", or "... is not
   lockdir's: it names no pid"), with
   "stale (why), " before "held" for a lock the next acquirer breaks,
   "held shared" and "; N more shared holders" for a shared holding
   (", M of them stale" for those that are, beside a live one), and
   "; N waiting" while some wait in its queue (", M of them stale"
   for the tickets of WAITERS whose waiter is gone, as --status marks
   them); or "LOCK: free".  HOLDERS->count is 0 for a free lock.  Of
   shared holders, the one named is a live one, or, when all are
   stale, the one STALE is about.  */
static void
print_summary (char const *lock, struct dirlock_holders const *holders,
               struct dirlock_owner const *waiters, size_t queued,
               char const *stale)
{
  printf ("%s: ", quotef (lock));
  if (holders->count == 0)
    fputs ("free", stdout);
  else
    {
      /* Of a held lock, a live holder; of a stale lock, the one
         STALE is about (the first, as all are stale).  */
      struct dirlock_owner const *owner = lead_holder (holders);
      size_t stale_holders = 0;
      for (size_t i = 0; i < holders->count; i++)
        stale_holders += holders->owner[i].stale != NULL;
      struct timespec age;
      char age_text[32];
      printf ("%s%s%sheld%s", stale ? "stale (" : "", stale ? stale : "",
              stale ? "), " : "", owner->shared ? " shared" : "");
      if (owner->empty || names_no_process (owner))
        printf (" by an unknown owner: its record is %s",
                owner->empty ? "empty" : "not lockdir's: it names no pid");
      else
        {
          printf (" by pid %ld on %s%s", (long) owner->pid,
                  owner->host[0] ? owner->host : "?",
                  dirlock_other_boot (owner) ? " in another boot" : "");
          if (holding_age (owner, &age))
            printf (" for %s", format_age (age, age_text, sizeof age_text));
          if (owner->token != DIRLOCK_TOKEN_NONE)
            printf (" (token %ju)", owner->token);
          printf (": %s", owner->command);
        }
      if (holders->count > 1)
        printf ("; %zu more shared holder%s", holders->count - 1,
                holders->count > 2 ? "s" : "");
      /* Dead holders beside a live one, whose records the next
         lockdir removes: the lock stays held.  */
      if (!stale && stale_holders)
        printf (", %zu of them stale", stale_holders);
    }
  size_t stale_waiters = 0;
  for (size_t i = 0; i < queued; i++)
    stale_waiters += waiters[i].stale != NULL;
  if (queued)
    printf ("; %zu waiting", queued);
  if (stale_waiters)
    printf (", %zu of them stale", stale_waiters);
  putchar ('\n');
}

/* Judge each of HOLDERS (its 'stale'); return why the first one is
   stale if every one is, or NULL.  A shared lock with a live holder is
   held: the next lockdir removes only the dead holders' records, and
   the lock stays busy, so that breaking it would end a live holder.  */
static char const *
judge_each_holder (struct dirlock_holders *holders)
{
  char const *stale = NULL;
  bool all_stale = true;
  for (size_t i = 0; i < holders->count; i++)
    {
      holders->owner[i].stale = dirlock_stale_reason (&holders->owner[i],
                                                       NULL);
      if (!stale)
        stale = holders->owner[i].stale;
      all_stale &= holders->owner[i].stale != NULL;
    }
  return all_stale ? stale : NULL;
}

/* Has a holder of LOCK_NAME that HOLDERS shows stale ended since they
   were read?  Its owner's release looks like its death: the owner
   exits once it has released.  */
static bool
stale_holding_ended (char const *lock_name,
                     struct dirlock_holders const *holders)
{
  struct dirlock_holders now = { 0 };
  if (dirlock_read_holders (lock_name, &now) < 0)
    return false;
  bool ended = false;
  for (size_t i = 0; i < holders->count && !ended; i++)
    ended = (holders->owner[i].stale
             && !dirlock_holders_include (&now, holders->owner[i].id));
  dirlock_holders_free (&now);
  return ended;
}

/* Show the lock LOCK_NAME: its record (SUMMARY: its one line), or
   that it is free.  A name that is no lock at all is an error, unless
   SKIP_OTHERS (a shell glob over a directory also matches LOCK.last
   and other files); a lock whose queue is no directory always is.
   Return the status: 0 held, 1 free, 4 stale, 3 on error.  */
static int
show_lock (char const *lock_name, bool summary, bool skip_others,
           struct options const *opt)
{
  struct dirlock_holders holders = { 0 };
  struct dirlock_owner *waiters = NULL;
  size_t queued = 0;
  int held;
  char const *stale;
  /* A holding judged stale that has ended meanwhile was released, not
     abandoned: look again, rather than report a stale lock that a
     script might break, and with it a new holding.  */
  for (int looks = 1; ; looks++)
    {
      held = dirlock_read_holders (lock_name, &holders);
      if (held < 0 || dirlock_read_queue (lock_name, &waiters, &queued) != 0)
        {
          int saved_errno = errno;
          dirlock_holders_free (&holders);
          /* What is no lock (held < 0) is skipped; a lock whose
             queue is no directory is not: it may be held.  */
          if (skip_others && held < 0
              && (saved_errno == ENOTDIR || saved_errno == ENOTEMPTY))
            return -1;
          report_lock_error (lock_name, "read", saved_errno);
          return EXIT_SYSERR;
        }
      stale = judge_each_holder (&holders);
      if (!stale || looks == 3 || !stale_holding_ended (lock_name, &holders))
        break;
      free (waiters);
      dirlock_holders_free (&holders);
    }
  if (summary && !opt->json)
    print_summary (lock_name, &holders, waiters, queued, stale);
  else
    print_status (lock_name, &holders, waiters, queued, opt->json);
  free (waiters);
  dirlock_holders_free (&holders);
  return held != 0 ? EXIT_NO : stale ? EXIT_STALE : EXIT_DONE;
}

/* LOCK is in etcd (--etcd, or LOCKDIR_ETCD): the same forms there.  */
static int
run_in_etcd (char **operands, char **command, struct options *opt,
             bool check_fs)
{
  struct etcd_options *etcd = &opt->etcd;
  if (check_fs)
    usage_error ("--check-fs has no meaning with --etcd");
  if (opt->mode == MODE_RENEW || opt->mode == MODE_LIST)
    usage_error ("--renew and --list do not apply to a lock in etcd");
  if (opt->shared || opt->no_queue)
    usage_error ("--shared and --no-queue do not apply to a lock in etcd: "
                 "it is exclusive, and always a queue");
  /* It would silently be the default TTL otherwise.  */
  if (opt->lease_forever)
    usage_error ("--lease=inf does not apply to a lock in etcd: it lives "
                 "only as long as its lease");
  etcd->form = (opt->mode == MODE_RELEASE ? ETCD_FORM_RELEASE
                : opt->mode == MODE_BREAK ? ETCD_FORM_BREAK
                : opt->mode == MODE_STATUS ? ETCD_FORM_STATUS
                : ETCD_FORM_ACQUIRE);
  etcd->lease = opt->lease;
  etcd->wait = (opt->nonblock ? (struct timespec) { 0, 0 }
                : opt->has_timeout ? opt->timeout : infinite_duration);
  etcd->busy_status = (opt->conflict_status >= 0 ? opt->conflict_status
                       : command[0] ? EXIT_TEMPFAIL : EXIT_NO);
  /* Without COMMAND the lock is the calling script's, found as for a
     directory lock: not the subshell of 'tok=$(lockdir ... || exit 1)',
     whose exit would have the keeper release the lock at once.  */
  etcd->owner_pid = (opt->owner_pid || command[0] || opt->mode != MODE_ACQUIRE
                     ? opt->owner_pid : script_owner ());
  etcd->max_runtime = opt->max_runtime;
  etcd->kill_after = opt->kill_after;
  etcd->foreground = opt->foreground;
  etcd->json = opt->json;
  etcd->print_token = opt->print_token;
  etcd->verbose = opt->verbose;
  etcd->quiet = opt->quiet;
  etcd->command_line = command[0] ? shell_words_line (command) : NULL;
  return etcd_lockdir (operands[0], command, etcd);
}

/* The exit status of several locks' statuses: the highest (EXIT_STALE
   above EXIT_SYSERR: a system error is reported as such).  */
static int
combine_status (int status, int one)
{
  if (one < 0)
    return status;
  if (status == EXIT_SYSERR || one == EXIT_SYSERR)
    return EXIT_SYSERR;
  return status > one ? status : one;
}

/* If NAME is the history "LOCK.last" of a lock LOCK that is not there
   (a free lock, when a shell glob expands DIR to its names), return
   LOCK; else NULL.  */
static char *
free_lock_of_history (char const *name)
{
  size_t len = strlen (name), suffix = strlen (".last");
  struct stat st;
  if (len <= suffix || strcmp (name + len - suffix, ".last") != 0
      || (lstat (name, &st) == 0 && S_ISDIR (st.st_mode)))
    return NULL;
  char *lock = ximemdup0 (name, len - suffix);
  if (lstat (lock, &st) == 0 || errno != ENOENT)
    {
      free (lock);
      return NULL;
    }
  return lock;
}

/* --status LOCK...: one lock in full, several in one line each (and a
   free lock's history stands for the lock).  */
static int
show_status (char **locks, struct options const *opt)
{
  bool several = locks[0] && locks[1];
  int status = -1;
  for (char **lock = locks; *lock; lock++)
    {
      char *free_lock = several ? free_lock_of_history (*lock) : NULL;
      int one = show_lock (free_lock ? free_lock : *lock, several, several,
                           opt);
      free (free_lock);
      /* -1: not a lock, skipped (a shell glob's other files).  */
      if (one >= 0)
        status = status < 0 ? one : combine_status (status, one);
    }
  /* None of them is a lock: none is held.  */
  return status < 0 ? EXIT_NO : status;
}

struct list_state
{
  char const *dir;
  struct options const *opt;
  int status;
};

/* Whether DIR names the current directory by '.' components alone
   (".", "./", ".//", "././"), so that its locks are shown by their
   bare names, as 'ls' shows them.  "..", ".x" and "/" name other
   directories.  */
static bool
names_current_dir (char const *dir)
{
  if (*dir != '.')
    return false;
  for (char const *p = dir; *p; p++)
    {
      if (*p == '/')
        continue;
      if (*p != '.')
        return false;
      /* "..", ".x": a '.' that does not end its component.  */
      if (p[1] != '\0' && p[1] != '/')
        return false;
    }
  return true;
}

/* Show the lock NAME of a listing, or the failed read (ERRNUM) of
   it.  */
static void
list_one (char const *name, int errnum, void *arg)
{
  struct list_state *state = arg;
  bool here = names_current_dir (state->dir);
  char *path = here ? xstrdup (name) : file_name_concat (state->dir, name,
                                                         NULL);
  int one = EXIT_SYSERR;
  if (errnum)
    error (0, errnum, "cannot read %s", quoteaf (path));
  else
    one = show_lock (path, true, true, state->opt);
  if (one == EXIT_SYSERR)
    state->status = EXIT_SYSERR;
  free (path);
}

/* --list DIR: every lock in DIR, one line each.  */
static int
list_locks (char const *dir, struct options const *opt)
{
  struct list_state state = { dir, opt, EXIT_DONE };
  if (dirlock_list (dir, list_one, &state) != 0)
    {
      error (0, errno, "cannot list the locks in %s", quoteaf (dir));
      return EXIT_SYSERR;
    }
  return state.status;
}

static void
set_mode (struct options *opt, enum mode mode)
{
  if (opt->mode != MODE_ACQUIRE && opt->mode != mode)
    usage_error ("only one of --release, --renew, --break, --status and "
                 "--list may be given");
  opt->mode = mode;
}

/* The longest lease: a year is longer than any holder should go
   without a heartbeat, and keeps the heartbeat arithmetic far from
   overflowing.  */
static struct timespec const lease_max = { 365 * 24 * 60 * 60, 0 };

/* '+': stop at the first operand, so COMMAND's options stay its own.  */
#define SHORT_OPTIONS "+c:nw:xsE:uk:vq"

/* Does ARGS (what follows LOCK) start with flock's -c or --command?  */
static bool
trailing_command_option (char **args)
{
  return (args[0]
          && (strcmp (args[0], "-c") == 0
              || strcmp (args[0], "--command") == 0
              || strncmp (args[0], "--command=",
                          strlen ("--command=")) == 0));
}

/* Is ARGS (what follows LOCK) flock's "-c COMMAND_STRING"?  Then
   return the string.  No command is named -c, so nothing is lost.  */
static char const *
trailing_command_string (char **args)
{
  if (!trailing_command_option (args))
    return NULL;
  if (strncmp (args[0], "--command=", strlen ("--command=")) == 0)
    return args[1] ? NULL : args[0] + strlen ("--command=");
  return args[1] && !args[2] ? args[1] : NULL;
}

/* Whether ARGV asks to run a COMMAND: a LOCK and more operands (or
   -c), and none of the forms that take only LOCK.  Decided before the
   options are checked, so that a usage error there exits 125 as
   timeout(1) does, never a status COMMAND itself might return.  */
static bool
runs_command (int argc, char **argv)
{
  bool lock_only_form = false;
  bool command_string = false;
  int c;
  opterr = 0;
  while ((c = getopt_long (argc, argv, SHORT_OPTIONS, long_options, NULL))
         != -1)
    if (c == 'u' || c == RENEW_OPTION || c == BREAK_OPTION
        || c == STATUS_OPTION || c == LIST_OPTION || c == CHECK_FS_OPTION)
      lock_only_form = true;
    else if (c == 'c')
      command_string = true;
  bool with_command = (!lock_only_form
                       && (argc - optind >= 2 || command_string));
  opterr = 1;
  optind = 0;
  return with_command;
}

/* Parse the options of ARGV into *OPT; set *CHECK_FS.  Return the index
   of the first operand.  */
static int
parse_options (int argc, char **argv, struct options *opt, bool *check_fs)
{
  int c;
  while ((c = getopt_long (argc, argv, SHORT_OPTIONS, long_options, NULL))
         != -1)
    {
      switch (c)
        {
        case 'c':
          opt->command_string = optarg;
          break;
        case 'n':
          opt->nonblock = true;
          break;
        case 'w':
          opt->has_timeout = true;
          opt->timeout = xparse_duration (optarg, "--wait");
          break;
        case 'x':
          opt->shared = false;
          break;
        case 's':
          opt->shared = true;
          break;
        case NO_QUEUE_OPTION:
          opt->no_queue = true;
          break;
        case 'E':
          {
            uintmax_t n;
            if (!parse_number (optarg, "", 255, &n))
              usage_error ("invalid exit code %s (use 0 to 255)",
                           quote (optarg));
            opt->conflict_status = n;
          }
          break;
        case 'u':
          set_mode (opt, MODE_RELEASE);
          break;
        case RENEW_OPTION:
          set_mode (opt, MODE_RENEW);
          break;
        case BREAK_OPTION:
          set_mode (opt, MODE_BREAK);
          break;
        case STATUS_OPTION:
          set_mode (opt, MODE_STATUS);
          break;
        case LIST_OPTION:
          set_mode (opt, MODE_LIST);
          break;
        case JSON_OPTION:
          opt->json = true;
          break;
        case OWNER_PID_OPTION:
          opt->owner_pid = xparse_pid (optarg);
          break;
        case LEASE_OPTION:
          opt->lease = xparse_duration (optarg, "--lease");
          if (timespec_sign (opt->lease) == 0)
            usage_error ("--lease must be longer than 0");
          opt->lease_forever = duration_is_infinite (opt->lease);
          if (opt->lease_forever)
            opt->lease = (struct timespec) { 0, 0 };
          else if (timespec_cmp (opt->lease, lease_max) > 0)
            usage_error ("--lease must be at most 365d (or 'inf' for "
                         "none): %s", quote (optarg));
          break;
        case FOREGROUND_OPTION:
          opt->foreground = true;
          break;
        case MAX_RUNTIME_OPTION:
          opt->max_runtime = xparse_duration (optarg, "--max-runtime");
          if (duration_is_infinite (opt->max_runtime))
            opt->max_runtime = (struct timespec) { 0, 0 };
          break;
        case 'k':
          opt->kill_after = xparse_duration (optarg, "--kill-after");
          if (duration_is_infinite (opt->kill_after))
            opt->kill_after = (struct timespec) { 0, 0 };
          break;
        case PRINT_TOKEN_OPTION:
          opt->print_token = true;
          break;
        case 'v':
          opt->verbose = true;
          break;
        case 'q':
          opt->quiet = true;
          break;
        case FORCE_OPTION:
          opt->force = true;
          break;
        case CHECK_FS_OPTION:
          *check_fs = true;
          break;
        case_ETCD_OPTIONS (opt->etcd);
        case_GETOPT_HELP_CHAR;
        case_GETOPT_VERSION_CHAR;
        default:
          usage (usage_status);
        }
    }
  return optind;
}

/* Is LOCK a bare small number, flock's descriptor idiom ('flock -n 9')?
   lockdir would take it for a lock named "9" in the current directory,
   which is never what was meant.  */
static bool
descriptor_idiom (char const *lock)
{
  size_t digits = strspn (lock, "0123456789");
  return digits > 0 && digits <= 4 && !lock[digits];
}

/* The first option given in OPT that only acquiring uses, or NULL:
   -u, --renew, --break, --status and --list would drop it without a
   word.  (--renew refreshes the heartbeat only: the lease stays the
   one LOCK was taken with.)  */
static char const *
acquiring_only_option (struct options const *opt)
{
  return (opt->shared ? "--shared"
          : opt->no_queue ? "--no-queue"
          : opt->nonblock ? "--nonblock"
          : opt->has_timeout ? "--wait"
          : opt->conflict_status >= 0 ? "--conflict-exit-code"
          : timespec_sign (opt->lease) > 0 || opt->lease_forever ? "--lease"
          : NULL);
}

/* Check the operands and the options together; usage errors exit.  */
static void
check_usage (struct options const *opt, char **operands, bool with_command,
             bool check_fs)
{
  if (!operands[0])
    usage_error ("missing operand");
  /* Before the operands are counted: flock's -c after LOCK would be
     an extra operand, and with --status two more LOCKs, skipped as no
     locks, so that 'lockdir --status L -c true' said nothing.  */
  if ((opt->command_string || trailing_command_option (operands + 1))
      && opt->mode != MODE_ACQUIRE)
    usage_error ("-c goes with acquiring LOCK");
  /* Name only the forms that take one operand there: with --etcd,
     --renew and --list are refused as such (run_in_etcd).  */
  if (opt->etcd.endpoints && opt->mode != MODE_ACQUIRE
      && opt->mode != MODE_RENEW && opt->mode != MODE_LIST && operands[1])
    usage_error ("extra operand %s: with --etcd, --status, --release and "
                 "--break take one operand", quoteaf (operands[1]));
  if (!opt->etcd.endpoints && opt->mode != MODE_STATUS
      && opt->mode != MODE_ACQUIRE && operands[1])
    usage_error ("extra operand %s: --release, --renew, --break and --list "
                 "take one operand", quoteaf (operands[1]));
  /* --list takes a directory, which may well be '.'; an etcd lock's name
     is no path (etcd_lockdir checks it).  With --check-fs, LOCK alone
     is only the path whose filesystem to examine ('.': the current
     directory's), as in the other tools; with a COMMAND or more LOCKs,
     what the form refuses is refused before any report, as
     atomic-swap's --check-fs does with both its operands.  */
  bool examined_alone = check_fs && !with_command && !operands[1];
  /* '' names no directory either: the usage error it is everywhere.  */
  if (opt->mode == MODE_LIST && !*operands[0])
    check_operand (operands[0]);
  if (opt->mode != MODE_LIST && !opt->etcd.endpoints)
    for (char **lock = operands;
         *lock && (lock == operands || opt->mode == MODE_STATUS); lock++)
      {
        if (!examined_alone)
          check_operand (*lock);
        if (descriptor_idiom (*lock))
          usage_error ("lockdir locks names, not file descriptors: %s would "
                       "be a lock named %s in the current directory (write "
                       "./%s if that is what you mean)", quote (*lock),
                       quote_n (1, *lock), *lock);
      }
  /* flock's -c after LOCK, with no string or more than one: running a
     COMMAND named -c would only fail, after taking the lock.  */
  if (opt->mode == MODE_ACQUIRE && trailing_command_option (operands + 1)
      && !trailing_command_string (operands + 1))
    usage_error ("%s after LOCK takes exactly one COMMAND_STRING",
                 quoteaf (operands[1]));
  if (opt->command_string && trailing_command_option (operands + 1))
    usage_error ("-c COMMAND_STRING is given both before and after LOCK");
  if (opt->command_string && operands[1])
    usage_error ("-c COMMAND_STRING and a COMMAND cannot be combined");
  if (opt->nonblock && opt->has_timeout)
    usage_error ("--nonblock and --wait cannot be combined");
  if (opt->json && opt->mode != MODE_STATUS && opt->mode != MODE_BREAK
      && opt->mode != MODE_LIST)
    usage_error ("--json goes with --status, --list or --break");
  /* No tool's --check-fs has a JSON form.  */
  if (opt->json && check_fs)
    usage_error ("--json has no meaning with --check-fs, which prints "
                 "text");
  if (!with_command && (timespec_sign (opt->max_runtime) > 0
                        || timespec_sign (opt->kill_after) > 0))
    usage_error ("--max-runtime and --kill-after need a COMMAND");
  /* -k 0 and -k inf are no -k at all (kill_after is 0), and so need
     nothing, as --max-runtime=0 and inf need no COMMAND.  */
  if (timespec_sign (opt->kill_after) > 0
      && timespec_sign (opt->max_runtime) == 0)
    usage_error ("--kill-after needs a --max-runtime other than 0 or inf");
  if (opt->foreground && (!with_command
                          || (timespec_sign (opt->max_runtime) == 0
                              && !opt->etcd.endpoints)))
    usage_error ("--foreground needs a COMMAND, and --max-runtime or "
                 "--etcd");
  if (with_command && opt->owner_pid)
    usage_error ("--owner-pid cannot be used with a COMMAND: lockdir "
                 "itself owns the lock while COMMAND runs");
  if (opt->print_token && (with_command || opt->mode != MODE_ACQUIRE))
    usage_error ("--print-token goes with acquiring without COMMAND");
  if (opt->owner_pid && opt->mode != MODE_ACQUIRE
      && opt->mode != MODE_RELEASE && opt->mode != MODE_RENEW)
    usage_error ("--owner-pid goes with acquiring, --release or --renew");
  char const *unused = acquiring_only_option (opt);
  if (unused && opt->mode != MODE_ACQUIRE)
    usage_error ("%s goes with acquiring", unused);
  /* -v says what acquiring does, and what --break ends; -u, --renew,
     --status and --list would drop it without a word.  */
  if (opt->verbose && opt->mode != MODE_ACQUIRE && opt->mode != MODE_BREAK)
    usage_error ("--verbose goes with acquiring or --break");
}

/* Is this a script form: taking, releasing (-u) or renewing a lock
   without COMMAND, for the caller (or --owner-pid) to hold?  */
static bool
is_script_form (struct options const *opt, bool with_command)
{
  return !with_command && (opt->mode == MODE_ACQUIRE
                           || opt->mode == MODE_RELEASE
                           || opt->mode == MODE_RENEW);
}

/* Can the script forms (without COMMAND: take, -u, --renew) tell whose
   lock it is?  Not without --owner-pid when our parent is outside our
   pid namespace ('docker exec', 'nsenter'): getppid gives 0, and we
   would make ourselves the owner, dead as soon as we exit -- and, named
   from a namespace that then vanishes, never judged dead.  Say so.  */
static bool
script_owner_known (struct options const *opt, bool with_command)
{
  if (!is_script_form (opt, with_command) || opt->owner_pid
      || getppid () != 0)
    return true;
  error (0, 0, "cannot tell which process owns the lock: lockdir's parent "
         "is outside its pid namespace; name the owner with --owner-pid");
  return false;
}

/* Can a script form name its owner by its start time in the owner
   record of LOCK_NAME, or (-u, --renew) tell by it whether it holds
   LOCK_NAME?  Not where /proc is another pid namespace's (unshare --pid
   without --mount-proc): /proc/PID there is another process, or none,
   and the owner would be named by someone else's start time, or judged
   to have exited while it lives.  Nor where this boot's id cannot be
   read where /proc is mounted (with subset=pid; without /proc, as
   before, the start time is missed later): a record naming no boot
   is never judged to be this system's, so -u could never release the
   holding, nor would its owner ever be judged dead.  Say so.  */
static bool
script_owner_nameable (char const *lock_name, struct options const *opt,
                       bool with_command)
{
  if (!is_script_form (opt, with_command))
    return true;
  pid_t self;
  unsigned long long start_time;
  int self_errno = self_start_time (&self, &start_time) == 0 ? 0 : errno;
  char const *why;
  char boot_why[200];
  bool boot_unknown = false;
  if (self_errno == ESRCH)
    why = "/proc is not this process's pid namespace's";
  /* self_start_time's ENOENT already says /proc is not mounted.  */
  else if (!*this_boot_id () && self_errno != ENOENT && proc_mounted ())
    {
      snprintf (boot_why, sizeof boot_why,
                BOOT_ID_FILE " cannot be read (%s)",
                strerror (this_boot_id_errno ()));
      why = boot_why;
      boot_unknown = true;
    }
  else
    return true;
  if (opt->mode != MODE_ACQUIRE)
    {
      char const *not_done = (opt->mode == MODE_RELEASE ? "not released"
                              : "not renewed");
      if (opt->owner_pid)
        error (0, 0, "cannot tell whether pid %ld holds %s: %s; %s",
               (long) opt->owner_pid, quoteaf (lock_name), why, not_done);
      else
        error (0, 0, "cannot tell whether lockdir's caller holds %s: %s; %s",
               quoteaf (lock_name), why, not_done);
      return false;
    }
  if (boot_unknown)
    error (0, 0, "cannot name this boot in the owner record of %s: %s; "
           "not acquired", quoteaf (lock_name), why);
  else if (opt->owner_pid)
    error (0, 0, "cannot name pid %ld in the owner record of %s: %s; "
           "not acquired", (long) opt->owner_pid, quoteaf (lock_name), why);
  else
    error (0, 0, "cannot name lockdir's caller in the owner record of %s: "
           "%s; not acquired", quoteaf (lock_name), why);
  return false;
}

int
main (int argc, char **argv)
{
  struct options opt = { .mode = MODE_ACQUIRE, .conflict_status = -1 };
  bool check_fs = false;

  tool_init (argc, argv);
  etcd_remember_args (argc, argv);
  if (runs_command (argc, argv))
    {
      /* lockdir's own failures, usage errors and gnulib's fatal ones
         (xalloc_die, close_stdout) included, must never look like a
         status of COMMAND: 125, as timeout(1).  */
      usage_status = EXIT_CANCELED;
      exit_failure = EXIT_CANCELED;
    }

  char **operands = argv + parse_options (argc, argv, &opt, &check_fs);
  bool in_etcd = etcd_wanted (&opt.etcd);
  if (in_etcd)
    /* libcurl may resolve a name in a thread of its own, and setlocale
       must not run beside one: load the locale before any request.  */
    load_ctype_locale ();
  char **command = operands[0] ? operands + 1 : operands;
  char const *string = (opt.command_string ? opt.command_string
                        : trailing_command_string (command));
  /* --status takes no COMMAND: the operands after the first are more
     LOCKs.  */
  bool with_command = (opt.mode == MODE_STATUS ? opt.command_string != NULL
                       : command[0] || string);
  check_usage (&opt, operands, with_command, check_fs);
  char *shell_command[] = { (char *) "sh", (char *) "-c", (char *) string,
                            NULL };
  if (string)
    command = shell_command;
  if (!check_fs && (!script_owner_known (&opt, with_command)
                    || !script_owner_nameable (operands[0], &opt,
                                               with_command)))
    return EXIT_SYSERR;

  if (in_etcd)
    return run_in_etcd (operands, command, &opt, check_fs);

  /* Every LOCK the form takes (--status takes several); COMMAND is
     not run, and names no lock.  */
  if (check_fs)
    {
      int n_locks = 1;
      while (opt.mode == MODE_STATUS && operands[n_locks])
        n_locks++;
      return fs_explain_operands (n_locks, operands);
    }

  char const *lock_name = operands[0];
  if (opt.mode == MODE_ACQUIRE || opt.mode == MODE_RELEASE
      || opt.mode == MODE_RENEW)
    ignore_pipe_signal ();
  int status;
  switch (opt.mode)
    {
    case MODE_RELEASE:
      status = release_for_caller (lock_name, &opt);
      break;
    case MODE_RENEW:
      status = renew_for_caller (lock_name, &opt);
      break;
    case MODE_BREAK:
      status = break_lock (lock_name, &opt);
      break;
    case MODE_STATUS:
      status = show_status (operands, &opt);
      break;
    case MODE_LIST:
      status = list_locks (lock_name, &opt);
      break;
    case MODE_ACQUIRE:
    default:
      status = acquire (lock_name, command, &opt);
      break;
    }
  /* A diagnostic that could not be written (stderr full or closed)
     changes nothing (tool_init): the status stays the command's, or
     the one that says what lockdir did (a lock acquired without a
     command is held).  */
  return status;
}

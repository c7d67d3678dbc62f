/* etcdforms.c -- lockdir's forms on a lock in etcd.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

/* See etcdforms.h.  The rule that matters most: a holder never runs on
   a lock it may have lost.  The lease lives at least until
   lock.alive_until (the send time of the last answered keep-alive plus
   the TTL).  A quarter of the TTL (at least half a second) before
   then, if no keep-alive has been answered meanwhile, COMMAND gets
   SIGTERM, and SIGKILL at the latest halfway through what is left
   (sooner with -k), so it is gone before another holder can be
   granted the lock.  A lockdir that was stopped (SIGSTOP, a frozen VM)
   finds on waking that the moment has passed, and stops COMMAND at
   once -- COMMAND ran on meanwhile, which is why holders get a fencing
   token.  */

#include <config.h>

#include "etcdforms.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "dirlock.h"
#include "etcdclient.h"
#include "etcdlock.h"
#include "procfacts.h"

#include "attribute.h"
#include "error.h"
#include "filename.h"
#include "filenamecat.h"
#include "intprops.h"
#include "sha256.h"
#include "timespec.h"
#include "unistr.h"
#include "xalloc.h"
#include "xvasprintf.h"

extern char **environ;

/* lockdir's statuses with COMMAND (see lockdir --help).  */
enum
{
  STATUS_TIMEDOUT = 124,
  STATUS_CANCELED = 125,
  STATUS_CANNOT_INVOKE = 126,
  STATUS_ENOENT = 127
};

/* How soon to try again after a keep-alive that got no answer.  */
static struct timespec const renewal_retry = { 0, 250 * 1000 * 1000 };

static double
seconds (struct timespec t)
{
  return t.tv_sec + t.tv_nsec / 1e9;
}

/* How long before the lease can expire COMMAND gets SIGTERM.  */
static struct timespec
safety_margin (struct timespec ttl)
{
  return etcd_lock_margin (ttl);
}

/* How long a revocation after a loss may take.  */
static struct timespec
lost_release_deadline (void)
{
  return deadline_after ((struct timespec) { 1, 0 });
}

/* --- signals ---------------------------------------------------------- */

/* Signals are taken from a signalfd, so that one poll waits for them,
   for COMMAND's exit and for etcd at once.  */
struct signals
{
  int fd;
  sigset_t caught;              /* passed on (unless ignored), SIGCHLD */
  sigset_t old_mask;            /* the mask COMMAND starts with */
  pid_t child;                  /* 0 until COMMAND runs */
  bool child_has_group;         /* COMMAND leads a process group */
  bool child_exited;
  int pending;                  /* a signal that came before COMMAND */
};

static int const passed_on[] =
  { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

static void
signals_start (struct signals *s)
{
  memset (s, 0, sizeof *s);
  sigemptyset (&s->caught);
  for (size_t i = 0; i < sizeof passed_on / sizeof *passed_on; i++)
    {
      /* A signal our caller ignores stays ignored, for COMMAND too.  */
      struct sigaction old;
      if (sigaction (passed_on[i], NULL, &old) == 0
          && old.sa_handler == SIG_IGN)
        continue;
      sigaddset (&s->caught, passed_on[i]);
    }
  sigaddset (&s->caught, SIGCHLD);
  /* Taken to stop COMMAND's group with us (stop_with_command).  */
  struct sigaction old_tstp;
  if (sigaction (SIGTSTP, NULL, &old_tstp) == 0
      && old_tstp.sa_handler != SIG_IGN)
    sigaddset (&s->caught, SIGTSTP);
  sigprocmask (SIG_BLOCK, &s->caught, &s->old_mask);
  s->fd = signalfd (-1, &s->caught, SFD_CLOEXEC | SFD_NONBLOCK);
  if (s->fd < 0)
    error (STATUS_CANCELED, errno, "cannot create a signalfd");
}

/* The interrupt hook of the etcd client, and what the wait loops call:
   take the signals that came.  Pass them on to COMMAND once it runs
   (but not those the terminal sent to our process group, which COMMAND
   got already unless it has a group of its own).  Return true if the
   caller should stop waiting: COMMAND exited, or a signal came before
   COMMAND ran.  */
static bool
signals_take (void *arg)
{
  struct signals *s = arg;
  struct signalfd_siginfo info;
  bool stop = false;
  while (read (s->fd, &info, sizeof info) == sizeof info)
    {
      /* Ctrl-Z: COMMAND, in a group of its own, would run on while we,
         stopped, cannot renew the lease, and on after another host took
         the lock.  (A lease lost meanwhile stops it once we run.)  */
      if (info.ssi_signo == SIGTSTP)
        stop_with_command (s->child, s->child_has_group);
      else if (info.ssi_signo == SIGCHLD)
        {
          if (s->child > 0)
            {
              s->child_exited = true;
              stop = true;
            }
        }
      else if (s->child > 0)
        pass_signal_on (s->child, s->child_has_group, info.ssi_signo,
                        info.ssi_code == SI_KERNEL);
      else
        {
          s->pending = info.ssi_signo;
          stop = true;
        }
    }
  return stop;
}

/* --- reporting -------------------------------------------------------- */

static void
report_etcd (struct etcd_client *client, char const *doing,
             char const *name)
{
  error (0, 0, "cannot %s %s in etcd: %s", doing, quoteaf (name),
         etcd_error (client));
}

/* JSON text for STR, which should be UTF-8: invalid bytes become
   U+FFFD, so the output is always valid JSON.  */
static json_t *
text_json (char const *str)
{
  size_t len = strlen (str);
  uint8_t const *p = (uint8_t const *) str, *end = p + len;
  if (!u8_check (p, len))
    return json_string (str);
  char *buf = xmalloc (3 * len + 1), *q = buf;
  while (p < end)
    {
      uint8_t const *bad = u8_check (p, end - p);
      uint8_t const *stop = bad ? bad : end;
      memcpy (q, p, stop - p);
      q += stop - p;
      if (!bad)
        break;
      q = stpcpy (q, "\xef\xbf\xbd");
      p = bad + 1;
    }
  *q = '\0';
  json_t *value = json_string (buf);
  free (buf);
  return value;
}

static json_t *
owner_json (struct dirlock_owner const *o)
{
  json_t *obj = json_object ();
  json_object_set_new (obj, "id", text_json (o->id));
  json_object_set_new (obj, "token", json_integer (o->token));
  json_object_set_new (obj, "pid", json_integer (o->pid));
  json_object_set_new (obj, "start_time", json_integer (o->start_time));
  json_object_set_new (obj, "boot_id", text_json (o->boot_id));
  json_object_set_new (obj, "pidns", json_integer (o->pidns));
  json_object_set_new (obj, "host", text_json (o->host));
  json_object_set_new (obj, "uid", o->uid >= 0 ? json_integer (o->uid)
                                                : json_null ());
  json_object_set_new (obj, "acquired", text_json (o->acquired));
  json_object_set_new (obj, "lease",
                       json_real (o->lease.tv_sec
                                  + o->lease.tv_nsec / 1e9));
  json_object_set_new (obj, "child_pid", o->child_pid > 0
                       ? json_integer (o->child_pid) : json_null ());
  json_object_set_new (obj, "child_start_time", o->child_pid > 0
                       ? json_integer (o->child_start_time) : json_null ());
  json_object_set_new (obj, "command", text_json (o->command));
  return obj;
}

/* Print the lock NAME: its holder LIST[0] (or none, if N is 0) and,
   with WAITERS, those queued behind it.  LEASE_LEFT < 0: unknown.  */
static void
print_queue (char const *name, struct etcd_waiter const *list, size_t n,
             bool waiters, int64_t lease_left, bool json)
{
  if (json)
    {
      json_t *obj = json_object ();
      json_object_set_new (obj, "lock", text_json (name));
      json_object_set_new (obj, "backend", json_string ("etcd"));
      json_object_set_new (obj, "held", json_boolean (n > 0));
      if (n)
        {
          json_t *holder = owner_json (&list[0].owner);
          json_object_update (obj, holder);
          json_decref (holder);
          json_object_set_new (obj, "key", text_json (list[0].key));
          json_object_set_new (obj, "lease_left", lease_left >= 0
                               ? json_integer (lease_left) : json_null ());
        }
      if (waiters)
        {
          json_t *queue = json_array ();
          for (size_t i = 1; i < n; i++)
            json_array_append_new (queue, owner_json (&list[i].owner));
          json_object_set_new (obj, "waiters", queue);
        }
      /* One object on one line; keys in the order they were set.  */
      char *text = json_dumps (obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
      json_decref (obj);
      if (!text)
        xalloc_die ();
      puts (text);
      free (text);
      return;
    }
  if (!n)
    return;
  printf ("backend=etcd\nkey=%s\n", list[0].key);
  dirlock_owner_print (stdout, &list[0].owner);
  if (lease_left >= 0)
    printf ("lease_left=%" PRId64 "\n", lease_left);
  if (!waiters)
    return;
  printf ("waiters=%zu\n", n - 1);
  for (size_t i = 1; i < n; i++)
    {
      struct dirlock_owner const *o = &list[i].owner;
      printf ("waiter=%ju %ld %s %s %s\n", o->token, (long) o->pid,
              o->host, o->acquired, o->command);
    }
}

/* "by pid P on HOST since T: COMMAND" (without ": COMMAND" if the
   record names none), or, for a key without an owner record, that key:
   who HOLDER is, doing what, as a directory lock's busy message says
   it.  (Free the result.)  */
static char *
describe_key_holder (struct etcd_waiter const *holder)
{
  struct dirlock_owner const *owner = &holder->owner;
  if (owner->pid <= 0)
    /* Not a lockdir, or not yet one with its record.  */
    return xasprintf ("by the key %s, which has no owner record (another "
                      "client's, such as 'etcdctl lock')",
                      quoteaf (holder->key));
  return xasprintf ("by pid %ld on %s since %s%s%s", (long) owner->pid,
                    owner->host, owner->acquired,
                    owner->command[0] ? ": " : "", owner->command);
}

/* Who holds lock NAME, as the busy message and -v say it: "by pid P
   on HOST since T: COMMAND", or the key of a holder without an owner
   record, or that etcd did not say by DEADLINE.  (Free the result.)  */
static char *
describe_holder (struct etcd_client *client, char const *name,
                 struct timespec deadline)
{
  struct etcd_waiter *list;
  size_t n;
  if (etcd_lock_list (client, name, &list, &n, deadline) != ETCD_LOCK_HELD)
    return xasprintf ("(by whom, etcd did not say: %s)",
                      etcd_error (client));
  char *text = n > 0 ? describe_key_holder (&list[0]) : xstrdup ("");
  etcd_waiters_free (list, n);
  return text;
}

/* LOCK was busy when the wait ended at WAIT_END: say by whom, unless
   quiet, asking etcd no later than a waiter's calls may end.  A signal
   that comes meanwhile is died of (SIG says).  */
static void
report_busy (struct etcd_client *client, char const *name,
             struct etcd_options const *opt, struct timespec wait_end,
             struct signals const *sig)
{
  if (opt->quiet)
    return;
  char const *what = (timespec_sign (opt->wait) > 0
                      ? "is still held after the timeout" : "is held");
  char *holder = describe_holder (client, name,
                                  etcd_wait_call_deadline (wait_end));
  /* It cut the call short and was taken from the signalfd: nothing
     else would see it.  We are out of the queue already.  */
  if (sig->pending)
    die_of_signal (sig->pending);
  error (0, 0, "%s %s%s%s", quoteaf (name), what, *holder ? " " : "",
         holder);
  free (holder);
}

/* --- acquiring -------------------------------------------------------- */

/* A record for OWNER (0: ourselves), with a lease of TTL, and COMMAND
   (or, if NULL, OWNER's command line).  Our own start time is read
   from /proc/self/stat, and left 0 where that is not ours (no /proc,
   or another pid namespace's).  */
static bool
make_record (struct dirlock_owner *self, pid_t owner, struct timespec ttl,
             char const *command)
{
  memset (self, 0, sizeof *self);
  self->pid = owner;
  if (owner == 0)
    {
      if (self_start_time (&self->pid, &self->start_time) != 0)
        self->pid = getpid ();
    }
  else if (process_start_time (owner, &self->start_time) != 0)
    return false;
  copy_one_line (self->boot_id, sizeof self->boot_id, this_boot_id ());
  self->pidns = this_pidns ();
  copy_one_line (self->host, sizeof self->host, this_host ());
  self->uid = geteuid ();
  self->lease = ttl;
  if (command)
    copy_one_line (self->command, sizeof self->command, command);
  else
    process_command (self->pid, self->command, sizeof self->command);
  /* While queued, "acquired" says since when.  */
  struct timespec now;
  clock_gettime (CLOCK_REALTIME, &now);
  dirlock_format_time (now, self->acquired, sizeof self->acquired);
  return true;
}

/* Leave the queue (release): revoke LOCK's lease, without letting a
   signal cut the call short.  */
static enum etcd_lock_status
leave_queue (struct etcd_lock *lock, struct signals *sig)
{
  etcd_set_interrupt (lock->client, -1, NULL, NULL);
  enum etcd_lock_status r = (lock->lease
                             ? etcd_lock_release (lock,
                                                  etcd_lock_deadline (lock))
                             : ETCD_LOCK_LOST);
  if (sig)
    etcd_set_interrupt (lock->client, sig->fd, signals_take, sig);
  return r;
}

/* What take_lock returns once the lock is held: no exit status, which
   may be 0 (-E 0).  */
enum { LOCK_TAKEN = -1 };

/* Take the lock NAME for SELF as OPT says.  Return LOCK_TAKEN once
   held, else the exit status (OPT's busy_status, FAIL_STATUS), having
   left the queue.  */
static int
take_lock (struct etcd_lock *lock, struct etcd_client *client,
           char const *name, struct dirlock_owner const *self,
           struct etcd_options const *opt, struct signals *sig,
           int fail_status)
{
  struct timespec started = monotonic_now ();
  struct timespec deadline = deadline_after (opt->wait);
  etcd_set_interrupt (client, sig->fd, signals_take, sig);
  /* Once etcd has answered, a later outage is waited out (until the
     deadline); an etcd that cannot be reached at all is an error at
     once.  */
  bool reached = false;
  for (int attempt = 1;; attempt++)
    {
      bool first;
      struct dirlock_owner ahead;
      enum etcd_lock_status r = etcd_lock_enqueue (lock, client, name,
                                                   opt->lease, self,
                                                   deadline, &first);
      reached |= r == ETCD_LOCK_HELD;
      if (r == ETCD_LOCK_HELD && !first && opt->verbose
          && timespec_sign (opt->wait) > 0)
        {
          char *holder = describe_holder (client, name,
                                          etcd_lock_deadline (lock));
          /* A signal that cut that call short was taken from the
             signalfd: the wait would never see it.  */
          if (sig->pending)
            r = ETCD_LOCK_INTERRUPTED;
          else
            error (0, 0, "waiting for %s%s%s", quoteaf (name),
                   *holder ? ", held " : "", holder);
          free (holder);
        }
      if (r == ETCD_LOCK_HELD && !first)
        r = etcd_lock_wait (lock, deadline, &ahead);
      if (r == ETCD_LOCK_HELD)
        r = etcd_lock_confirm (lock);
      if (r == ETCD_LOCK_HELD)
        {
          if (opt->verbose)
            {
              struct timespec waited = timespec_sub (monotonic_now (),
                                                     started);
              char waited_text[SECONDS_BUFSIZE];
              error (0, 0, "holding %s (token %" PRId64 ", lease %s, TTL "
                     "%jds) after %s s", quoteaf (name),
                     lock->revision, lock->self.id,
                     (intmax_t) lock->ttl.tv_sec,
                     format_seconds (waited, waited_text,
                                     sizeof waited_text));
            }
          return LOCK_TAKEN;
        }

      /* A key left behind would hold up those queued after it until
         its lease expires: leave, whatever went wrong.  */
      leave_queue (lock, sig);
      etcd_lock_free (lock);
      switch (r)
        {
        case ETCD_LOCK_BUSY:
          report_busy (client, name, opt, deadline, sig);
          return opt->busy_status;
        case ETCD_LOCK_SELF:
          if (!opt->quiet)
            error (0, 0, "%s is already held by pid %ld on %s, for the "
                   "same owner or as our parent: waiting would never end",
                   quoteaf (name), (long) ahead.pid, ahead.host);
          return opt->busy_status;
        case ETCD_LOCK_LOST:
          /* Our lease expired while we waited (etcd was out of reach
             for a while): queue again, at the end.  */
          if (attempt < 10 && !deadline_passed (deadline))
            {
              if (opt->verbose)
                error (0, 0, "lost our place in the queue of %s: its "
                       "lease expired; queueing again", quoteaf (name));
              continue;
            }
          error (0, 0, "cannot take %s in etcd: our lease expired while "
                 "we waited", quoteaf (name));
          return fail_status;
        case ETCD_LOCK_INTERRUPTED:
          if (sig->pending)
            die_of_signal (sig->pending);
          FALLTHROUGH;
        default:
          if (reached && etcd_transient (client)
              && !deadline_passed (deadline))
            {
              struct timespec second = { 1, 0 };
              if (etcd_pause (client, earlier_deadline (deadline_after
                                                        (second), deadline))
                  == ETCD_INTERRUPTED && sig->pending)
                die_of_signal (sig->pending);
              continue;
            }
          report_etcd (client, "take", name);
          return fail_status;
        }
    }
}

/* --- the command form ------------------------------------------------- */

/* Start COMMAND: with the signal mask and dispositions lockdir was
   started with, LOCKDIR_TOKEN and LOCKDIR_PATH set, and, unless
   SIG->child_has_group is false, in a process group of its own.
   Return its pid, or -1 with *STATUS set after saying why.  */
static pid_t
spawn_command (char **command, char const *name, int64_t token,
               struct signals const *sig, int *status)
{
  char buf[INT_BUFSIZE_BOUND (int64_t)];
  snprintf (buf, sizeof buf, "%" PRId64, token);
  if (setenv ("LOCKDIR_TOKEN", buf, 1) != 0
      || setenv ("LOCKDIR_PATH", name, 1) != 0)
    xalloc_die ();
  posix_spawnattr_t attr;
  posix_spawnattr_init (&attr);
  posix_spawnattr_setsigmask (&attr, &sig->old_mask);
  /* COMMAND gets SIGPIPE as our caller had it (ignore_pipe_signal).  */
  sigset_t set_default = sig->caught;
  if (pipe_signal_ignored_by_us ())
    sigaddset (&set_default, SIGPIPE);
  posix_spawnattr_setsigdefault (&attr, &set_default);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (sig->child_has_group)
    {
      posix_spawnattr_setpgroup (&attr, 0);
      flags |= POSIX_SPAWN_SETPGROUP;
    }
  posix_spawnattr_setflags (&attr, flags);
  pid_t child;
  int err = posix_spawnp (&child, command[0], NULL, &attr, command,
                          environ);
  posix_spawnattr_destroy (&attr);
  if (err == 0)
    return child;
  error (0, err, "cannot run %s", quoteaf (command[0]));
  *status = err == ENOENT ? STATUS_ENOENT : STATUS_CANNOT_INVOKE;
  return -1;
}

/* COMMAND running under the lock, and what became of it.  */
struct holding
{
  struct etcd_lock *lock;
  char const *name;
  struct etcd_options const *opt;
  struct signals *sig;
  pid_t child;
  struct timespec margin;
  struct timespec next_renewal;
  bool renewal_failing;
  bool lost;                    /* COMMAND was stopped: the lock may be
                                   lost */
  bool timed_out;               /* --max-runtime */
  struct timespec stop_at;      /* --max-runtime ends */
  struct timespec kill_at;      /* SIGKILL is due */
};

static void
terminate (struct holding *h, struct timespec kill_after)
{
  terminate_command (h->child, h->sig->child_has_group);
  if (timespec_sign (kill_after) > 0)
    h->kill_at = earlier_deadline (h->kill_at, deadline_after (kill_after));
}

/* The lock may be lost (WHY), or is surely GONE: stop COMMAND before
   another holder can get the lock.  SIGTERM now; SIGKILL when half the
   safety margin is left (sooner with -k), or at once if the lease is
   gone or may have expired already.  */
static void
lose (struct holding *h, char const *why, bool gone)
{
  h->lost = true;
  if (!h->opt->quiet)
    error (0, 0, "lock %s %s; stopping the command", quoteaf (h->name), why);
  struct timespec kill_by = timespec_sub (h->lock->alive_until,
                                          duration_divided (h->margin, 2));
  struct timespec grace = timespec_sub (kill_by, monotonic_now ());
  if (gone || timespec_sign (grace) < 0)
    grace = (struct timespec) { 0, 0 };
  if (timespec_sign (h->opt->kill_after) > 0
      && timespec_cmp (h->opt->kill_after, grace) < 0)
    grace = h->opt->kill_after;
  if (timespec_sign (grace) == 0)
    {
      signal_command (h->child, h->sig->child_has_group, SIGKILL);
      h->kill_at = infinite_duration;
      return;
    }
  terminate (h, grace);
}

/* Renew the lease if it is time.  */
static void
renew (struct holding *h, struct timespec term_at)
{
  struct etcd_lock *lock = h->lock;
  struct timespec renew_every = duration_divided (lock->ttl, 3);
  enum etcd_lock_status r
    = etcd_lock_keepalive (lock, earlier_deadline (deadline_after
                                                   (renew_every), term_at));
  switch (r)
    {
    case ETCD_LOCK_HELD:
      if (h->renewal_failing && !h->opt->quiet)
        error (0, 0, "the lease of %s is renewed again", quoteaf (h->name));
      h->renewal_failing = false;
      h->next_renewal = deadline_after (renew_every);
      break;
    case ETCD_LOCK_LOST:
      lose (h, "was lost: its lease expired or was revoked", true);
      break;
    case ETCD_LOCK_INTERRUPTED:
      /* COMMAND exited: the caller sees it.  */
      break;
    default:
      if (!h->renewal_failing && !h->opt->quiet)
        {
          struct timespec left = timespec_sub (term_at, monotonic_now ());
          error (0, 0, "cannot renew the lease of %s: %s; the command "
                 "will be stopped in %.1fs unless etcd answers",
                 quoteaf (h->name), etcd_error (lock->client),
                 seconds (left));
        }
      h->renewal_failing = true;
      h->next_renewal = deadline_after (renewal_retry);
      break;
    }
}

/* Supervise COMMAND until it exits; return its wait status.  */
static int
supervise (struct holding *h)
{
  struct etcd_lock *lock = h->lock;
  for (;;)
    {
      /* Stopped (lost lock, --max-runtime), COMMAND has exited before
         SIGKILL was due: the rest of its group, which may ignore
         SIGTERM, gets it now, before the lock goes.  */
      int status;
      bool killed;
      pid_t w = reap_command (h->child, h->sig->child_has_group,
                              ((h->lost || h->timed_out)
                               && !duration_is_infinite (h->kill_at)),
                              &status, &killed);
      if (killed)
        {
          /* After a loss, lose () has said why COMMAND was stopped.  */
          if (h->opt->verbose && h->timed_out && !h->lost)
            report_exit_after_term (h->name);
          h->kill_at = infinite_duration;
        }
      if (w == h->child && WIFSTOPPED (status))
        {
          if (!h->opt->quiet)
            report_terminal_stop (status);
        }
      else if (w == h->child)
        return status;
      if (w < 0 && errno != EINTR)
        error (STATUS_CANCELED, errno, "cannot wait for the command");

      /* First the lease, counted from the last answered keep-alive:
         a lockdir that was stopped meets this at once on waking.  */
      struct timespec term_at = timespec_sub (lock->alive_until, h->margin);
      if (!h->lost && deadline_passed (term_at))
        {
          struct timespec since = timespec_sub (monotonic_now (),
                                                timespec_sub
                                                (lock->alive_until,
                                                 lock->ttl));
          char *why = xasprintf ("may be lost: its lease was last renewed "
                                 "%.1fs ago and its TTL is %jds%s%s",
                                 seconds (since),
                                 (intmax_t) lock->ttl.tv_sec,
                                 h->renewal_failing ? " (etcd: " : "",
                                 h->renewal_failing
                                 ? etcd_error (lock->client) : "");
          if (h->renewal_failing)
            {
              char *closed = xasprintf ("%s)", why);
              free (why);
              why = closed;
            }
          lose (h, why, false);
          free (why);
          continue;
        }
      if (!h->lost && deadline_passed (h->next_renewal))
        {
          renew (h, term_at);
          continue;
        }
      /* A COMMAND that has exited since that wait, before its
         --max-runtime ended or SIGKILL was due, is reaped as it is,
         not stopped (as without --etcd, wait_child).  */
      bool stop_due = (!h->timed_out && !h->lost
                       && deadline_passed (h->stop_at));
      if ((stop_due || deadline_passed (h->kill_at))
          && command_exited (h->child))
        continue;
      if (stop_due)
        {
          h->timed_out = true;
          if (h->opt->verbose)
            report_max_runtime_term (h->name, h->opt->max_runtime,
                                     h->sig->child_has_group);
          terminate (h, h->opt->kill_after);
        }
      if (deadline_passed (h->kill_at))
        {
          if (h->opt->verbose && h->timed_out && !h->lost)
            report_kill_after_kill (h->name, h->opt->kill_after,
                                    h->sig->child_has_group);
          signal_command (h->child, h->sig->child_has_group, SIGKILL);
          h->kill_at = infinite_duration;
        }

      struct timespec wake = h->kill_at;
      if (!h->lost)
        wake = earlier_deadline (wake, earlier_deadline (h->next_renewal,
                                                         term_at));
      if (!h->timed_out && !h->lost)
        wake = earlier_deadline (wake, h->stop_at);
      struct pollfd pfd = { .fd = h->sig->fd, .events = POLLIN };
      if (poll (&pfd, 1, poll_timeout_ms (wake)) > 0)
        signals_take (h->sig);
    }
}

static int
run_command (char const *name, char **command,
             struct etcd_options const *opt, struct etcd_client *client,
             struct signals *sig)
{
  struct dirlock_owner self;
  make_record (&self, 0, opt->lease, opt->command_line);
  struct etcd_lock lock;
  int status = take_lock (&lock, client, name, &self, opt, sig,
                          STATUS_CANCELED);
  if (status != LOCK_TAKEN)
    return status;

  /* The lock can be lost at any time: COMMAND then stops, and so must
     every process it started, before another holder gets the lock.
     They get the signals as a process group, unless --foreground.  */
  sig->child_has_group = !opt->foreground;
  pid_t child = spawn_command (command, name, lock.revision, sig, &status);
  if (child < 0)
    {
      leave_queue (&lock, NULL);
      etcd_lock_free (&lock);
      return status;
    }
  sig->child = child;

  struct holding h = {
    .lock = &lock, .name = name, .opt = opt, .sig = sig, .child = child,
    .margin = safety_margin (lock.ttl),
    .next_renewal = deadline_after (duration_divided (lock.ttl, 3)),
    .stop_at = (timespec_sign (opt->max_runtime) > 0
                ? deadline_after (opt->max_runtime) : infinite_duration),
    .kill_at = infinite_duration
  };
  /* Name COMMAND's process in the record (for --status), unless it
     has already ended.  COMMAND runs meanwhile: a call that etcd does
     not answer may not outlast the moment supervise would stop it,
     or COMMAND would run on after the lease could have expired.  Not
     where /proc did not show us our own start time: /proc/CHILD/stat
     there would not be COMMAND's.  */
  lock.self.child_pid = child;
  struct timespec term_at = timespec_sub (lock.alive_until, h.margin);
  if (lock.self.start_time != 0
      && process_start_time (child, &lock.self.child_start_time) == 0
      && (etcd_lock_rewrite (&lock, earlier_deadline
                                    (etcd_lock_call_deadline (), term_at))
          == ETCD_LOCK_LOST))
    lose (&h, "was lost: its key is gone", true);

  int wstatus = supervise (&h);
  sig->child = 0;

  /* After a loss, revoking is only a courtesy to the next waiter (the
     lease may still live if etcd was just out of reach): do not keep
     the caller waiting for an etcd that does not answer.  */
  enum etcd_lock_status r = (h.lost
                             ? etcd_lock_release (&lock,
                                                  lost_release_deadline ())
                             : leave_queue (&lock, NULL));
  /* The lease was gone before COMMAND ended (--break, or it expired)
     and no renewal had told us yet: it ran on a lost lock.  */
  if (!h.lost && r == ETCD_LOCK_LOST)
    {
      h.lost = true;
      if (!opt->quiet)
        error (0, 0, "lock %s was lost while the command ran: its lease "
               "expired or was revoked", quoteaf (name));
    }
  else if (!h.lost && r != ETCD_LOCK_HELD && r != ETCD_LOCK_LOST
           && !opt->quiet)
    error (0, 0, "cannot release %s: %s; it expires within %jds",
           quoteaf (name), etcd_error (client),
           (intmax_t) lock.ttl.tv_sec);
  etcd_lock_free (&lock);

  if (h.lost)
    return EXIT_LOCK_LOST;
  if (h.timed_out)
    return STATUS_TIMEDOUT;
  if (WIFSIGNALED (wstatus))
    exit_as_killed_by (WTERMSIG (wstatus));
  return WEXITSTATUS (wstatus);
}

/* --- the keeper of a lock held for a script --------------------------- */

/* The abstract socket address of the keeper of lock NAME in the etcd
   at ENDPOINTS for the owner PID started at START_TIME.  The endpoints
   are part of it: a lock of the same name in another cluster is
   another lock, with a keeper of its own.  (Neither contains a
   newline.)  */
static socklen_t
keeper_address (struct sockaddr_un *addr, char const *endpoints,
                char const *name, pid_t pid, unsigned long long start_time)
{
  unsigned char digest[32];
  char *where = xasprintf ("%s\n%s", endpoints, name);
  sha256_buffer (where, strlen (where), digest);
  free (where);
  char hex[33];
  for (int i = 0; i < 16; i++)
    sprintf (hex + 2 * i, "%02x", digest[i]);
  memset (addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  int n = snprintf (addr->sun_path + 1, sizeof addr->sun_path - 1,
                    "lockdir-etcd/%ld/%llu/%s", (long) pid, start_time, hex);
  return offsetof (struct sockaddr_un, sun_path) + 1 + n;
}

/* Ask the keeper at ADDR to release its lock.  Put its answer in
   REPLY (NUL-terminated).  Return false if there is no keeper.  */
static bool
ask_keeper (struct sockaddr_un const *addr, socklen_t len, char *reply,
            size_t size)
{
  int fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  if (connect (fd, (struct sockaddr const *) addr, len) != 0
      || send (fd, "release", 7, MSG_NOSIGNAL) != 7)
    {
      close (fd);
      return false;
    }
  /* The keeper may be in the middle of a call to etcd.  */
  struct pollfd pfd = { .fd = fd, .events = POLLIN };
  ssize_t n = -1;
  if (poll (&pfd, 1, 30 * 1000) > 0)
    n = recv (fd, reply, size - 1, 0);
  close (fd);
  if (n <= 0)
    snprintf (reply, size, "error\nthe lock's keeper did not answer");
  else
    reply[n] = '\0';
  return true;
}

struct keeper
{
  struct etcd_lock *lock;
  char const *name;
  int listen_fd;
  int owner_fd;                 /* pidfd of the owner, or -1 */
  pid_t owner;
  unsigned long long owner_start;
  char *lost;                   /* why the lock was lost, or NULL */
  struct timespec next_renewal;
  char *last_error;
};

static void
keeper_lose (struct keeper *k, char const *why)
{
  k->lost = xstrdup (why);
  /* If etcd was only out of reach, the lease may still be alive: let
     the next waiter have the lock now rather than at its expiry.  */
  etcd_lock_release (k->lock, lost_release_deadline ());
}

/* Has the lease gone unrenewed for so long that it may have expired
   (a keeper that was stopped, or etcd out of reach)?  Then the lock
   counts as lost.  */
static bool
keeper_gave_up (struct keeper *k)
{
  struct etcd_lock *lock = k->lock;
  if (k->lost)
    return true;
  struct timespec margin = safety_margin (lock->ttl);
  struct timespec give_up = timespec_sub (lock->alive_until, margin);
  if (deadline_passed (give_up))
    {
      char *why = xasprintf ("its lease could not be renewed for %.1fs "
                             "(TTL %jds)%s%s",
                             seconds (timespec_sub (monotonic_now (),
                                                    timespec_sub
                                                    (lock->alive_until,
                                                     lock->ttl))),
                             (intmax_t) lock->ttl.tv_sec,
                             k->last_error ? "; etcd: " : "",
                             k->last_error ? k->last_error : "");
      keeper_lose (k, why);
      free (why);
      return true;
    }
  return false;
}

static void
keeper_renew (struct keeper *k)
{
  struct etcd_lock *lock = k->lock;
  if (keeper_gave_up (k) || !deadline_passed (k->next_renewal))
    return;
  struct timespec margin = safety_margin (lock->ttl);
  struct timespec give_up = timespec_sub (lock->alive_until, margin);
  struct timespec renew_every = duration_divided (lock->ttl, 3);
  switch (etcd_lock_keepalive (lock, earlier_deadline
                                     (deadline_after (renew_every),
                                      give_up)))
    {
    case ETCD_LOCK_HELD:
      free (k->last_error);
      k->last_error = NULL;
      k->next_renewal = deadline_after (renew_every);
      break;
    case ETCD_LOCK_LOST:
      keeper_lose (k, "its lease expired or was revoked");
      break;
    default:
      free (k->last_error);
      k->last_error = xstrdup (etcd_error (lock->client));
      k->next_renewal = deadline_after (renewal_retry);
      break;
    }
}

static bool
owner_gone (struct keeper const *k)
{
  if (k->owner_fd >= 0)
    {
      struct pollfd pfd = { .fd = k->owner_fd, .events = POLLIN };
      return poll (&pfd, 1, 0) > 0;
    }
  return process_state (k->owner, k->owner_start) == PROCESS_DEAD;
}

/* Answer one request on the keeper's socket.  Return true if the
   keeper's work is done.  */
static bool
keeper_answer (struct keeper *k)
{
  int fd = accept4 (k->listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0)
    return false;
  struct ucred cred;
  socklen_t len = sizeof cred;
  char request[16];
  ssize_t n = recv (fd, request, sizeof request, 0);
  bool done = false;
  char *reply;
  if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0
      || (cred.uid != 0 && cred.uid != geteuid ()))
    reply = xstrdup ("error\nnot allowed: the lock belongs to another user");
  else if (n != 7 || memcmp (request, "release", 7) != 0)
    reply = xstrdup ("error\nan unknown request");
  else if (keeper_gave_up (k))
    {
      reply = xasprintf ("lost\n%s", k->lost);
      done = true;
    }
  else
    switch (etcd_lock_release (k->lock, etcd_lock_call_deadline ()))
      {
      case ETCD_LOCK_HELD:
        reply = xstrdup ("released");
        done = true;
        break;
      case ETCD_LOCK_LOST:
        reply = xstrdup ("lost\nits lease had expired or been revoked");
        done = true;
        break;
      default:
        reply = xasprintf ("error\n%s", etcd_error (k->lock->client));
        break;
      }
  /* Free the address before answering: an acquirer waiting for it
     can then take it at once.  */
  if (done)
    close (k->listen_fd);
  send (fd, reply, strlen (reply), MSG_NOSIGNAL);
  free (reply);
  close (fd);
  return done;
}

/* FILE (which may be NULL) as a name that does not depend on the
   working directory: DIR/FILE if FILE is relative.  */
static char const *
absolute_name (char const *file, char const *dir)
{
  if (!file || !dir || IS_ABSOLUTE_FILE_NAME (file))
    return file;
  return file_name_concat (dir, file, NULL);
}

/* Keep LOCK for its owner until the owner exits, -u asks, or SIGTERM.
   Run in a child of lockdir, in a session of its own.  */
static _Noreturn void
keeper_run (struct keeper *k, struct etcd_config const *config)
{
  setsid ();
  /* The keeper works in "/", and libcurl reads the certificates and
     the key again for each connection it makes: name them from the
     directory lockdir was started in.  */
  struct etcd_config files = *config;
  char *cwd = getcwd (NULL, 0);
  files.cacert = absolute_name (config->cacert, cwd);
  files.cert = absolute_name (config->cert, cwd);
  files.key = absolute_name (config->key, cwd);
  free (cwd);
  config = &files;
  if (chdir ("/") != 0)
    {
      /* Only so as not to keep a filesystem busy.  */
    }
  int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0)
    {
      dup2 (null, STDIN_FILENO);
      dup2 (null, STDOUT_FILENO);
      dup2 (null, STDERR_FILENO);
      if (null > STDERR_FILENO)
        close (null);
    }
  /* Nor any other descriptor of the caller's: a pipe whose reader
     waits for its end would wait for as long as the lock is held.
     (The standard ones are open: tool_init saw to that, so the socket
     is above them.)  */
  if (k->listen_fd > STDERR_FILENO + 1)
    close_range (STDERR_FILENO + 1, k->listen_fd - 1, 0);
  close_range (k->listen_fd + 1, ~0U, 0);
  int const ignored[] = { SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2,
                          SIGPIPE };
  for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++)
    signal (ignored[i], SIG_IGN);
  sigset_t term;
  sigemptyset (&term);
  sigaddset (&term, SIGTERM);
  sigprocmask (SIG_BLOCK, &term, NULL);
  int term_fd = signalfd (-1, &term, SFD_CLOEXEC | SFD_NONBLOCK);

  k->owner_fd = -1;
#ifdef SYS_pidfd_open
  k->owner_fd = syscall (SYS_pidfd_open, k->owner, 0);
  if (k->owner_fd >= 0)
    fcntl (k->owner_fd, F_SETFD, FD_CLOEXEC);
#endif
  /* The owner may have exited, and its pid been reused, before the
     pidfd was opened: then the pidfd is another process's.  */
  bool owner_left = (process_state (k->owner, k->owner_start)
                     == PROCESS_DEAD);

  struct etcd_client *client = etcd_open (config);
  k->lock->client = client;
  k->next_renewal = deadline_after (duration_divided (k->lock->ttl, 3));

  while (!owner_left)
    {
      if (owner_gone (k))
        break;
      if (!k->lost)
        keeper_renew (k);
      struct timespec wake = deadline_after ((struct timespec) { 1, 0 });
      if (!k->lost)
        wake = earlier_deadline (wake, earlier_deadline
                                 (k->next_renewal,
                                  timespec_sub (k->lock->alive_until,
                                                safety_margin
                                                (k->lock->ttl))));
      struct pollfd pfd[3] = {
        { .fd = k->listen_fd, .events = POLLIN },
        { .fd = term_fd, .events = POLLIN },
        { .fd = k->owner_fd, .events = POLLIN },
      };
      if (poll (pfd, k->owner_fd >= 0 ? 3 : 2, poll_timeout_ms (wake)) <= 0)
        continue;
      if ((pfd[0].revents & POLLIN) && keeper_answer (k))
        _exit (EXIT_SUCCESS);
      if (pfd[1].revents & POLLIN)
        break;
    }
  if (!k->lost)
    etcd_lock_release (k->lock, etcd_lock_call_deadline ());
  _exit (EXIT_SUCCESS);
}

/* Take the lock for the caller and leave it to a keeper.  Close
   *CLIENT (setting it to NULL) once the lock is held.  */
static int
acquire_for_caller (char const *name, struct etcd_options const *opt,
                    struct etcd_client **clientp,
                    struct etcd_config const *config, struct signals *sig)
{
  struct etcd_client *client = *clientp;
  pid_t owner = opt->owner_pid ? opt->owner_pid : getppid ();
  struct dirlock_owner self;
  if (!make_record (&self, owner, opt->lease, NULL))
    {
      error (0, 0, "no process with pid %ld", (long) owner);
      return EXIT_SYSERR;
    }

  /* The keeper's address first: -u may come as soon as we exit.  An
     old keeper there holds this lock for this owner already, or had
     lost it; the queue tells which.  */
  struct sockaddr_un addr;
  socklen_t addr_len = keeper_address (&addr, opt->endpoints, name, owner,
                                       self.start_time);
  int listen_fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (listen_fd < 0)
    {
      error (0, errno, "cannot create a socket");
      return EXIT_SYSERR;
    }
  int bound = bind (listen_fd, (struct sockaddr *) &addr, addr_len);
  if (bound != 0 && errno == EADDRINUSE)
    {
      struct etcd_waiter *list;
      size_t n;
      bool mine = false;
      /* Bounded by -w as a waiter's calls are.  Without an answer,
         asking the keeper to let go could take the owner's lock from
         it.  */
      if (etcd_lock_list (client, name, &list, &n,
                          etcd_wait_call_deadline (deadline_after
                                                   (opt->wait)))
          != ETCD_LOCK_HELD)
        {
          report_etcd (client, "take", name);
          close (listen_fd);
          return EXIT_SYSERR;
        }
      for (size_t i = 0; i < n; i++)
        mine |= dirlock_owned_by (&list[i].owner, owner);
      etcd_waiters_free (list, n);
      if (mine)
        {
          if (!opt->quiet)
            error (0, 0, "%s is already held by pid %ld, for the same "
                   "owner: waiting would never end", quoteaf (name),
                   (long) owner);
          close (listen_fd);
          return opt->busy_status;
        }
      /* The old keeper closes its socket before it answers.  */
      char reply[256];
      ask_keeper (&addr, addr_len, reply, sizeof reply);
      bound = bind (listen_fd, (struct sockaddr *) &addr, addr_len);
    }
  if (bound != 0)
    {
      error (0, errno, "cannot create the socket of the lock's keeper");
      close (listen_fd);
      return EXIT_SYSERR;
    }
  if (listen (listen_fd, 8) != 0)
    {
      error (0, errno, "cannot listen on the socket of the lock's keeper");
      close (listen_fd);
      return EXIT_SYSERR;
    }

  struct etcd_lock lock;
  int status = take_lock (&lock, client, name, &self, opt, sig,
                          EXIT_SYSERR);
  if (status != LOCK_TAKEN)
    {
      close (listen_fd);
      return status;
    }
  /* The record with the token and the time of acquisition.  */
  enum etcd_lock_status r = etcd_lock_rewrite (&lock,
                                               etcd_lock_call_deadline ());
  if (r != ETCD_LOCK_HELD)
    {
      if (r == ETCD_LOCK_LOST)
        error (0, 0, "lost %s at once: its lease expired", quoteaf (name));
      else
        report_etcd (client, "record the owner of", name);
      leave_queue (&lock, NULL);
      etcd_lock_free (&lock);
      close (listen_fd);
      return EXIT_SYSERR;
    }

  /* The token is the caller's proof of holding the lock: if it cannot
     be printed, hand the lock back rather than leave the caller holding
     a lock it was told it failed to get.  Printed before the keeper
     is forked, which then has nothing of ours to flush.  */
  if (opt->print_token)
    {
      /* A reader that is gone must give EPIPE, not a SIGPIPE that would
         kill us with the lock held by no one until its lease expires.
         Blocked until we exit: the keeper starts with the caller's
         mask.  */
      sigset_t pipe_signal;
      sigemptyset (&pipe_signal);
      sigaddset (&pipe_signal, SIGPIPE);
      sigprocmask (SIG_BLOCK, &pipe_signal, NULL);
      printf ("%" PRId64 "\n", lock.revision);
      if (fflush (stdout) != 0)
        {
          int write_errno = errno;
          bool released = leave_queue (&lock, NULL) != ETCD_LOCK_ERROR;
          error (0, write_errno, "cannot print the token of %s; %s",
                 quoteaf (name),
                 released ? "the lock is released again"
                 : "and its lease lives on until it expires");
          /* Reported: close_stdout need not say it again.  */
          clearerr (stdout);
          etcd_lock_free (&lock);
          close (listen_fd);
          return EXIT_SYSERR;
        }
    }

  /* The keeper talks to etcd on connections of its own.  */
  etcd_close (client);
  *clientp = NULL;
  pid_t keeper = fork ();
  if (keeper == 0)
    {
      close (sig->fd);
      sigprocmask (SIG_SETMASK, &sig->old_mask, NULL);
      struct keeper k = { .lock = &lock, .name = name,
                          .listen_fd = listen_fd, .owner = owner,
                          .owner_start = self.start_time };
      keeper_run (&k, config);
    }
  if (keeper < 0)
    {
      int err = errno;
      lock.client = etcd_open (config);
      etcd_lock_release (&lock, etcd_lock_call_deadline ());
      etcd_close (lock.client);
      error (0, err, "cannot start the keeper of %s", quoteaf (name));
      return EXIT_SYSERR;
    }
  close (listen_fd);
  etcd_lock_free (&lock);
  return EXIT_DONE;
}

/* --- release, break, status ------------------------------------------- */

/* Ask the keeper of lock NAME for OWNER (started at START_TIME) to
   release it.  Return the status, or -1 if OWNER has no keeper.  */
static int
release_by_keeper (char const *name, pid_t owner,
                   unsigned long long start_time,
                   struct etcd_options const *opt)
{
  struct sockaddr_un addr;
  socklen_t addr_len = keeper_address (&addr, opt->endpoints, name, owner,
                                       start_time);
  char reply[1024];
  if (!ask_keeper (&addr, addr_len, reply, sizeof reply))
    return -1;
  char *nl = strchr (reply, '\n');
  char const *detail = nl ? nl + 1 : "";
  if (nl)
    *nl = '\0';
  if (strcmp (reply, "released") == 0)
    return EXIT_DONE;
  if (strcmp (reply, "lost") == 0)
    {
      if (!opt->quiet)
        error (0, 0, "lock %s had been lost: %s", quoteaf (name), detail);
      return EXIT_NO;
    }
  error (0, 0, "cannot release %s: %s", quoteaf (name), detail);
  return EXIT_SYSERR;
}

static int
release_for_caller (char const *name, struct etcd_options const *opt,
                    struct etcd_client *client)
{
  pid_t pids[2];
  size_t n_pids = script_caller_pids (opt->owner_pid, pids);
  for (size_t p = 0; p < n_pids; p++)
    {
      unsigned long long start_time;
      if (process_start_time (pids[p], &start_time) != 0)
        {
          if (p > 0)
            continue;
          error (0, 0, "no process with pid %ld", (long) pids[p]);
          return EXIT_SYSERR;
        }
      int status = release_by_keeper (name, pids[p], start_time, opt);
      if (status >= 0)
        return status;
    }

  /* No keeper (it was killed): release the owner's key ourselves.  */
  struct etcd_waiter *list;
  size_t n;
  if (etcd_lock_list (client, name, &list, &n, etcd_lock_call_deadline ())
      != ETCD_LOCK_HELD)
    {
      report_etcd (client, "release", name);
      return EXIT_SYSERR;
    }
  int status = EXIT_NO;
  size_t i;
  for (i = 0; i < n; i++)
    if (dirlock_caller_owns (&list[i].owner, pids, n_pids))
      break;
  if (i < n)
    {
      struct etcd_lock lock;
      etcd_lock_adopt (&lock, client, name, &list[i]);
      enum etcd_lock_status r = etcd_lock_release (&lock,
                                                   etcd_lock_call_deadline ());
      etcd_lock_free (&lock);
      if (r == ETCD_LOCK_HELD)
        status = EXIT_DONE;
      else if (r != ETCD_LOCK_LOST)
        {
          report_etcd (client, "release", name);
          status = EXIT_SYSERR;
        }
      else if (!opt->quiet)
        error (0, 0, "lock %s had been lost: its lease had expired or "
               "been revoked", quoteaf (name));
    }
  else if (!opt->quiet && n > 0)
    {
      if (!dirlock_report_held_for_command (name, "release", &list[0].owner,
                                            pids, n_pids))
        error (0, 0, "cannot release %s: it is held by pid %ld on %s, not "
               "by pid %ld", quoteaf (name), (long) list[0].owner.pid,
               list[0].owner.host, (long) pids[0]);
    }
  else if (!opt->quiet)
    error (0, 0, "cannot release %s: it is not held", quoteaf (name));
  etcd_waiters_free (list, n);
  return status;
}

static int
break_lock (char const *name, struct etcd_options const *opt,
            struct etcd_client *client)
{
  for (;;)
    {
      struct etcd_waiter *list;
      size_t n;
      if (etcd_lock_list (client, name, &list, &n,
                          etcd_lock_call_deadline ()) != ETCD_LOCK_HELD)
        {
          report_etcd (client, "break", name);
          return EXIT_SYSERR;
        }
      if (n == 0)
        {
          /* With --json, {"held":false}: every call prints JSON, as
             for a directory lock.  */
          print_queue (name, list, 0, false, -1, opt->json);
          free (list);
          if (!opt->quiet)
            error (0, 0, "cannot break %s: it is not held", quoteaf (name));
          return EXIT_NO;
        }
      /* Revoking the holder's lease deletes its key, and its lockdir
         learns at its next keep-alive that the lock is lost.  */
      struct etcd_lock lock;
      etcd_lock_adopt (&lock, client, name, &list[0]);
      enum etcd_lock_status r = etcd_lock_release (&lock,
                                                   etcd_lock_call_deadline ());
      etcd_lock_free (&lock);
      if (r == ETCD_LOCK_HELD)
        {
          if (opt->verbose)
            {
              char *holder = describe_key_holder (&list[0]);
              error (0, 0, "broke lock %s held %s", quoteaf (name), holder);
              free (holder);
            }
          print_queue (name, list, 1, false, -1, opt->json);
        }
      else if (r != ETCD_LOCK_LOST)
        report_etcd (client, "break", name);
      etcd_waiters_free (list, n);
      if (r == ETCD_LOCK_HELD)
        return EXIT_DONE;
      if (r != ETCD_LOCK_LOST)
        return EXIT_SYSERR;
      /* It went by itself meanwhile: is there a new holder?  */
    }
}

static int
show_status (char const *name, struct etcd_options const *opt,
             struct etcd_client *client)
{
  struct etcd_waiter *list;
  size_t n;
  if (etcd_lock_list (client, name, &list, &n, etcd_lock_call_deadline ())
      != ETCD_LOCK_HELD)
    {
      report_etcd (client, "read", name);
      return EXIT_SYSERR;
    }
  int64_t lease_left = -1;
  if (n > 0
      && etcd_lease_left (client, list[0].lease, &lease_left)
         != ETCD_LOCK_HELD)
    lease_left = -1;
  print_queue (name, list, n, true, lease_left, opt->json);
  etcd_waiters_free (list, n);
  return n > 0 ? EXIT_DONE : EXIT_NO;
}

int
etcd_run_form (char const *name, char **command,
               struct etcd_options const *opt)
{
  struct etcd_config config = {
    .endpoints = opt->endpoints, .cacert = opt->cacert, .cert = opt->cert,
    .key = opt->key, .user = opt->user
  };
  /* As for a directory lock, and here in the backend, not by lockdir
     before it runs us in its place: we would take its "ignore" for
     the caller's, and COMMAND would not get SIGPIPE back.  */
  if (opt->form == ETCD_FORM_ACQUIRE || opt->form == ETCD_FORM_RELEASE)
    ignore_pipe_signal ();
  struct etcd_client *client = etcd_open (&config);
  struct signals sig;
  int status;
  switch (opt->form)
    {
    case ETCD_FORM_RELEASE:
      status = release_for_caller (name, opt, client);
      break;
    case ETCD_FORM_BREAK:
      status = break_lock (name, opt, client);
      break;
    case ETCD_FORM_STATUS:
      status = show_status (name, opt, client);
      break;
    case ETCD_FORM_ACQUIRE:
    default:
      signals_start (&sig);
      if (command[0])
        status = run_command (name, command, opt, client, &sig);
      else
        status = acquire_for_caller (name, opt, &client, &config, &sig);
      break;
    }
  etcd_close (client);
  return status;
}

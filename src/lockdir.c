/* lockdir -- mutual exclusion for commands and scripts, with a visible
   owner and safe recovery of stale locks.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

/* The lock itself is in dirlock.c.  This is the command line around
   it: run a COMMAND while holding the lock (fork, record the child in
   the owner record, exec, forward signals, release after the child
   exits, exit like timeout(1)), or acquire/release/break/inspect the
   lock for a script.  */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "dirlock.h"
#include "fsclass.h"

#include "error.h"
#include "exitfail.h"
#include "intprops.h"
#include "timespec.h"
#include "xalloc.h"
#include "xstrtol.h"

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

enum mode { MODE_ACQUIRE, MODE_RELEASE, MODE_BREAK, MODE_STATUS };

struct options
{
  enum mode mode;
  bool json;
  bool nonblock;
  bool has_timeout;
  struct timespec timeout;      /* how long to wait for the lock */
  int conflict_status;          /* -1: the default of the form */
  pid_t owner_pid;              /* 0: the caller */
  struct timespec lease;        /* 0: none */
  struct timespec max_runtime;  /* 0: none */
  struct timespec kill_after;   /* 0: none */
  bool print_token;
  bool verbose;
  bool quiet;
  bool force;
};

enum
{
  BREAK_OPTION = CHAR_MAX + 1,
  STATUS_OPTION,
  JSON_OPTION,
  OWNER_PID_OPTION,
  LEASE_OPTION,
  MAX_RUNTIME_OPTION,
  PRINT_TOKEN_OPTION,
  FORCE_OPTION,
  CHECK_FS_OPTION
};

static struct option const long_options[] =
{
  {"nonblock", no_argument, NULL, 'n'},
  {"timeout", required_argument, NULL, 'w'},
  {"conflict-exit-code", required_argument, NULL, 'E'},
  {"release", no_argument, NULL, 'u'},
  {"break", no_argument, NULL, BREAK_OPTION},
  {"status", no_argument, NULL, STATUS_OPTION},
  {"json", no_argument, NULL, JSON_OPTION},
  {"owner-pid", required_argument, NULL, OWNER_PID_OPTION},
  {"lease", required_argument, NULL, LEASE_OPTION},
  {"max-runtime", required_argument, NULL, MAX_RUNTIME_OPTION},
  {"kill-after", required_argument, NULL, 'k'},
  {"print-token", no_argument, NULL, PRINT_TOKEN_OPTION},
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
Usage: %s [OPTION]... LOCK COMMAND [ARG]...\n\
  or:  %s [OPTION]... LOCK\n\
  or:  %s -u|--break|--status [OPTION]... LOCK\n",
          program_name, program_name, program_name);
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
the lock is held until released with 'lockdir -u LOCK'.\n\
\n\
Mandatory arguments to long options are mandatory for short options too.\n\
  -n, --nonblock        fail at once if LOCK is held (the default is to\n\
                          wait until it is free)\n\
  -w, --timeout=DURATION  give up waiting for LOCK after DURATION\n\
  -E, --conflict-exit-code=N  exit with status N when LOCK is busy or the\n\
                          wait timed out (default: 75 with COMMAND, 1\n\
                          without)\n\
      --lease=DURATION  let others break the lock once its heartbeat is\n\
                          older than DURATION, whatever host it is from;\n\
                          while COMMAND runs, lockdir refreshes the\n\
                          heartbeat every third of DURATION\n\
      --max-runtime=DURATION  send COMMAND SIGTERM when it has run for\n\
                          DURATION, and exit with status 124\n\
  -k, --kill-after=DURATION  with --max-runtime, also send SIGKILL if\n\
                          COMMAND is still running DURATION after SIGTERM\n\
      --owner-pid=PID   without COMMAND: record process PID as the owner\n\
                          (and, with -u, release on behalf of PID)\n\
      --print-token     without COMMAND: print the fencing token once\n\
                          LOCK is acquired (if it cannot be printed,\n\
                          LOCK is released again, status 3)\n\
  -u, --release         release LOCK, which the caller (or --owner-pid)\n\
                          must hold\n\
      --break           remove LOCK whoever holds it, and print the owner\n\
                          record removed; also remove an unusable LOCK.last\n\
      --status          print LOCK's owner record; status 1 if LOCK is free\n\
      --json            with --status or --break, print one JSON object\n\
  -v, --verbose         report each stale lock broken\n\
  -q, --quiet           no message when LOCK is busy, no filesystem warning\n\
      --force           use LOCK even on a filesystem that cannot keep the\n\
                          promise (after a warning)\n\
      --check-fs        print what LOCK's filesystem guarantees, and exit\n\
", stdout);
  fputs (HELP_OPTION_DESCRIPTION, stdout);
  fputs (VERSION_OPTION_DESCRIPTION, stdout);
  fputs ("\
\n\
DURATION is a number with an optional unit: ms, s (the default), m, h or\n\
d; 0 means do not wait, 'inf' means forever.  --max-runtime=0 sets no\n\
limit.\n\
\n\
While held, LOCK contains one file, owner.ID, with 'key=value' lines: id,\n\
token, pid, start_time, boot_id, pidns, host, uid, acquired, lease,\n\
child_pid, child_start_time, command.  The record of the last holder is\n\
kept in LOCK.last, which carries the fencing token on: each acquisition\n\
gets a token larger than every earlier one, up to 2^53-1.  An empty\n\
directory LOCK counts as free.\n\
\n\
A lock is stale, and broken by the next lockdir that wants it, when its\n\
lease has expired, or when its record comes from this host and boot and\n\
neither its owner (the same pid with the same start time) nor its\n\
COMMAND is still running.  A lock from another host or boot is never\n\
broken automatically unless it has a lease.  Waiting sleeps until the\n\
directory holding LOCK changes or the owner exits (inotify and pidfd);\n\
it polls, with a capped back-off, only on network filesystems (and on\n\
kernels without pidfd).\n\
", stdout);
  emit_exit_status_help ("\
  1  LOCK is busy or the wait timed out; with -u, LOCK is not held by\n\
     the caller; with --status or --break, LOCK is free\n");
  fputs ("\
\nWith COMMAND, lockdir exits instead as timeout(1) does:\n\
  75   LOCK was busy, or the wait timed out (see -E)\n\
  124  COMMAND ran longer than --max-runtime\n\
  125  lockdir itself failed, or the options were wrong\n\
  126  COMMAND was found but could not be run\n\
  127  COMMAND was not found\n\
  128+N  COMMAND was killed by signal N\n\
  -    otherwise, the exit status of COMMAND\n\
A message lockdir cannot write (standard error full or closed) changes\n\
none of these statuses.\n\
", stdout);
  fputs ("\
\n\
Examples:\n\
  lockdir -n /run/lock/backup backup.sh   # cron: skip if still running\n\
  lockdir -w 10m --max-runtime=1h /srv/app/.deploy ./deploy.sh\n\
  lockdir -n \"$LOCK\" || exit 0           # in a script: hold LOCK ...\n\
  lockdir -u \"$LOCK\"                     # ... and release it\n\
  lockdir --status --json /run/lock/backup\n\
", stdout);
  emit_help_footer ();
  exit (status);
}

/* --- reporting ------------------------------------------------------ */

static void
print_json_number_or_null (char const *key, long long value, bool present)
{
  printf (",\"%s\":", key);
  if (present)
    printf ("%lld", value);
  else
    fputs ("null", stdout);
}

static void
print_json_string (char const *key, char const *value)
{
  printf (",\"%s\":", key);
  json_put_string (stdout, value);
}

/* Print the owner record of LOCK: "key=value" lines, or one JSON
   object, with the heartbeat and whether it is stale.  */
static void
print_owner (char const *lock, struct dirlock_owner const *owner, bool json)
{
  char heartbeat[48];
  dirlock_format_time (owner->heartbeat, heartbeat, sizeof heartbeat);
  char const *stale = dirlock_stale_reason (owner);
  if (!json)
    {
      dirlock_owner_print (stdout, owner);
      printf ("heartbeat=%s\n", heartbeat);
      if (stale)
        printf ("stale=yes\nstale_reason=%s\n", stale);
      else
        fputs ("stale=no\n", stdout);
      return;
    }

  fputs ("{\"lock\":", stdout);
  json_put_string (stdout, lock);
  fputs (",\"held\":true", stdout);
  print_json_string ("id", owner->id);
  print_json_number_or_null ("token", owner->token,
                             owner->token != DIRLOCK_TOKEN_NONE);
  printf (",\"pid\":%ld", (long) owner->pid);
  printf (",\"start_time\":%llu", owner->start_time);
  print_json_string ("boot_id", owner->boot_id);
  printf (",\"pidns\":%llu", owner->pidns);
  print_json_string ("host", owner->host);
  print_json_number_or_null ("uid", owner->uid, owner->uid >= 0);
  print_json_string ("acquired", owner->acquired);
  if (timespec_sign (owner->lease) > 0)
    printf (",\"lease\":%jd.%03ld", (intmax_t) owner->lease.tv_sec,
            owner->lease.tv_nsec / 1000000);
  else
    fputs (",\"lease\":null", stdout);
  print_json_number_or_null ("child_pid", owner->child_pid,
                             owner->child_pid > 0);
  print_json_number_or_null ("child_start_time",
                             (long long) owner->child_start_time,
                             owner->child_pid > 0);
  print_json_string ("command", owner->command);
  print_json_string ("heartbeat", heartbeat);
  printf (",\"stale\":%s", stale ? "true" : "false");
  fputs (",\"stale_reason\":", stdout);
  if (stale)
    json_put_string (stdout, stale);
  else
    fputs ("null", stdout);
  fputs ("}\n", stdout);
}

/* A diagnostic for a failure to use LOCK.  */
static void
report_lock_error (char const *lock, char const *doing, int errnum)
{
  char const *file, *problem;
  if (dirlock_fault (&file, &problem))
    {
      if (problem)
        error (0, 0, "cannot %s %s: %s %s; remove it, or run "
               "'lockdir --break %s' (the tokens then start again from 1)",
               doing, quoteaf (lock), quoteaf_n (1, file), problem,
               quotearg_n_style (2, shell_escape_quoting_style, lock));
      else
        error (0, errnum, "cannot %s %s: cannot read %s", doing,
               quoteaf (lock), quoteaf_n (1, file));
    }
  else if (errnum == ENOTDIR)
    error (0, 0, "cannot %s %s: it exists and is not a directory",
           doing, quoteaf (lock));
  else if (errnum == ENOTEMPTY)
    error (0, 0, "cannot %s %s: it is a directory that is not a lockdir "
           "lock", doing, quoteaf (lock));
  else if (errnum == EXDEV)
    error (0, 0, "cannot %s %s: it cannot be done atomically here",
           doing, quoteaf (lock));
  else
    error (0, errnum, "cannot %s %s", doing, quoteaf (lock));
}

/* LOCK was busy: say by whom, unless quiet.  */
static void
report_busy (char const *lock, struct options const *opt)
{
  if (opt->quiet)
    return;
  struct dirlock_owner owner;
  char const *what = (opt->nonblock || !opt->has_timeout
                      ? "is held" : "is still held after the timeout");
  if (dirlock_read (lock, &owner) == 0)
    error (0, 0, "%s %s by pid %ld on %s since %s", quoteaf (lock), what,
           (long) owner.pid, owner.host, owner.acquired);
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
  /* A lock is a directory created atomically: the same promise as a
     mkdir lock.  */
  bool ok = fs_permits (lock, parent.fd, NULL, FS_MKDIR, opt->force,
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

static void
forward_signal (int sig, siginfo_t *info, void *context)
{
  (void) context;
  pid_t child = child_for_signals;
  if (child > 0 && info->si_code != SI_KERNEL)
    {
      /* SI_KERNEL: the terminal sent it to its foreground process
         group, which holds COMMAND too; passing it on would deliver
         it twice.  */
      kill (child, sig);
    }
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
   our caller stays ignored, for us and for COMMAND.  Record in
   *FORWARDED which signals we caught, so the child can reset them.  */
static void
install_handlers (bool forwarded[N_FORWARDED])
{
  struct sigaction act;
  memset (&act, 0, sizeof act);
  act.sa_sigaction = forward_signal;
  act.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset (&act.sa_mask);
  for (int i = 0; i < N_FORWARDED; i++)
    sigaddset (&act.sa_mask, forwarded_signals[i]);
  for (int i = 0; i < N_FORWARDED; i++)
    {
      struct sigaction old;
      forwarded[i] = !(sigaction (forwarded_signals[i], NULL, &old) == 0
                       && old.sa_handler == SIG_IGN);
      if (forwarded[i])
        sigaction (forwarded_signals[i], &act, NULL);
    }

  memset (&act, 0, sizeof act);
  act.sa_handler = note_sigchld;
  act.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigemptyset (&act.sa_mask);
  sigaction (SIGCHLD, &act, NULL);
}

/* COMMAND's command line as shell words, for the owner record.  */
static char *
command_line (char **argv)
{
  size_t size = 1;
  for (char **a = argv; *a; a++)
    size += strlen (quotearg_n_style (0, shell_escape_quoting_style, *a)) + 1;
  char *line = xmalloc (size);
  char *p = line;
  *p = '\0';
  for (char **a = argv; *a; a++)
    {
      if (p != line)
        *p++ = ' ';
      p = stpcpy (p, quotearg_n_style (0, shell_escape_quoting_style, *a));
    }
  return line;
}

/* In the child: wait for the parent's go-ahead (it has recorded us in
   the owner record), then run COMMAND.  Report an exec failure's errno
   through ERR_FD, which exec closes.  Until the go-ahead, the child dies
   with PARENT: it closes its copy of the pipe's write end GO_WRITE_FD, so
   that the parent's death is an end of file, and asks for SIGKILL when
   the parent dies (checked again after asking, in case it died first).
   A child that outlived a killed lockdir would otherwise wait forever,
   keeping the lock held as "its command still runs".  */
static _Noreturn void
child_run (char **argv, int go_fd, int go_write_fd, int err_fd, pid_t parent,
           sigset_t const *old_mask, bool const forwarded[N_FORWARDED])
{
  close (go_write_fd);
  if (prctl (PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid () != parent)
    _exit (EXIT_CANCELED);
  for (int i = 0; i < N_FORWARDED; i++)
    if (forwarded[i])
      signal (forwarded_signals[i], SIG_DFL);
  signal (SIGCHLD, SIG_DFL);
  sigprocmask (SIG_SETMASK, old_mask, NULL);

  char byte;
  ssize_t n;
  while ((n = read (go_fd, &byte, 1)) < 0 && errno == EINTR)
    continue;
  if (n != 1)
    _exit (EXIT_CANCELED);      /* the parent gave up or died: run nothing */
  /* From now on COMMAND outlives a killed lockdir, and keeps the lock
     held while it runs (its pid is in the owner record).  */
  prctl (PR_SET_PDEATHSIG, 0);
  execvp (argv[0], argv);
  int err = errno;
  if (write (err_fd, &err, sizeof err) < 0)
    {
      /* The parent sees no report, but still our status.  */
    }
  _exit (err == ENOENT ? EXIT_ENOENT : EXIT_CANNOT_INVOKE);
}

/* Reap CHILD if it has exited, and then forget it as the target of
   forwarded signals in the same step, with them blocked.  Return
   waitpid's result.  */
static pid_t
reap_child (pid_t child, int *status)
{
  sigset_t block, old_mask;
  forwarded_signal_set (&block);
  sigprocmask (SIG_BLOCK, &block, &old_mask);
  pid_t w = waitpid (child, status, WNOHANG);
  int saved_errno = errno;
  if (w == child)
    child_for_signals = 0;
  sigprocmask (SIG_SETMASK, &old_mask, NULL);
  errno = saved_errno;
  return w;
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
      long long ns = (opt->lease.tv_sec * 1000000000LL + opt->lease.tv_nsec)
                     / 3;
      beat_every = (struct timespec) { ns / 1000000000, ns % 1000000000 };
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
      pid_t w = reap_child (child, status);
      if (w == child)
        return true;
      if (w < 0 && errno != EINTR)
        {
          error (0, errno, "cannot wait for the command; killing it");
          kill (child, SIGKILL);
          return false;
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

      if (deadline_passed (next_beat))
        {
          if (dirlock_heartbeat (lock) != 0 && !lost_reported)
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
          next_beat = deadline_after (beat_every);
        }
      if (!*timed_out && deadline_passed (stop_at))
        {
          *timed_out = true;
          kill (child, SIGTERM);
          /* A stopped command would never see the SIGTERM.  */
          kill (child, SIGCONT);
          if (timespec_sign (opt->kill_after) > 0)
            kill_at = deadline_after (opt->kill_after);
        }
      if (deadline_passed (kill_at))
        {
          kill (child, SIGKILL);
          kill_at = infinite_duration;
        }
    }
}

/* Release LOCK after COMMAND.  Return false on a real failure.  */
static bool
release_after_command (struct dirlock *lock, char const *lock_name,
                       struct options const *opt)
{
  if (dirlock_release (lock) == 0)
    return true;
  if (errno == ESTALE)
    {
      /* Someone broke it while we held it (lease, or --break): the
         command's result still stands.  */
      if (!opt->quiet)
        error (0, 0, "lock %s had been broken by someone else",
               quoteaf (lock_name));
      return true;
    }
  error (0, errno, "cannot release %s", quoteaf (lock_name));
  return false;
}

/* The pipes between lockdir and COMMAND's child, made before the lock
   is acquired: a lock taken and then left behind because no descriptor
   was left for a pipe would outlive us.  */
struct child_pipes
{
  int go[2];          /* the go-ahead byte, once the child is recorded */
  int err[2];         /* the child's exec errno, if exec fails */
};

static bool
open_child_pipes (struct child_pipes *pipes)
{
  pipes->go[0] = pipes->go[1] = pipes->err[0] = pipes->err[1] = -1;
  if (pipe2 (pipes->go, O_CLOEXEC) == 0 && pipe2 (pipes->err, O_CLOEXEC) == 0
      && pipe2 (sigchld_pipe, O_CLOEXEC | O_NONBLOCK) == 0)
    return true;
  int saved_errno = errno;
  for (int i = 0; i < 2; i++)
    {
      if (pipes->go[i] >= 0)
        close (pipes->go[i]);
      if (pipes->err[i] >= 0)
        close (pipes->err[i]);
    }
  errno = saved_errno;
  return false;
}

/* We hold LOCK: run COMMAND and release LOCK after it.  Return the
   exit status.  */
static int
run_command (struct dirlock *lock, char const *lock_name, char **argv,
             struct child_pipes const *pipes, struct options const *opt)
{
  char token[INT_BUFSIZE_BOUND (uintmax_t)];
  snprintf (token, sizeof token, "%ju", lock->self.token);
  if (setenv ("LOCKDIR_TOKEN", token, 1) != 0
      || setenv ("LOCKDIR_PATH", lock_name, 1) != 0)
    xalloc_die ();
  int const *go_pipe = pipes->go, *err_pipe = pipes->err;

  /* No signal may slip between fork and the child's own handlers, nor
     reach the parent's handlers before it knows the child's pid.  */
  sigset_t block, old_mask;
  forwarded_signal_set (&block);
  sigprocmask (SIG_BLOCK, &block, &old_mask);
  bool forwarded[N_FORWARDED];
  install_handlers (forwarded);

  pid_t parent = getpid ();
  pid_t child = fork ();
  if (child == 0)
    child_run (argv, go_pipe[0], go_pipe[1], err_pipe[1], parent, &old_mask,
               forwarded);
  int fork_errno = errno;
  close (go_pipe[0]);
  close (err_pipe[1]);
  if (child < 0)
    {
      sigprocmask (SIG_SETMASK, &old_mask, NULL);
      error (0, fork_errno, "cannot fork");
      release_after_command (lock, lock_name, opt);
      return EXIT_CANCELED;
    }
  child_for_signals = child;
  sigprocmask (SIG_SETMASK, &old_mask, NULL);

  /* Record the child before it runs anything: if lockdir dies from now
     on, the lock stays held while the child lives.  */
  if (dirlock_set_child (lock, child) != 0)
    {
      error (0, errno, "cannot record the command in %s", quoteaf (lock_name));
      child_for_signals = 0;    /* it runs nothing: nothing to pass on */
      close (go_pipe[1]);       /* the child exits without running */
      waitpid (child, NULL, 0);
      release_after_command (lock, lock_name, opt);
      return EXIT_CANCELED;
    }
  /* If the child was killed before reading, the write fails (EPIPE)
     rather than killing us with the lock held.  */
  struct sigaction ignore_pipe, old_pipe;
  memset (&ignore_pipe, 0, sizeof ignore_pipe);
  ignore_pipe.sa_handler = SIG_IGN;
  sigaction (SIGPIPE, &ignore_pipe, &old_pipe);
  ssize_t written = write (go_pipe[1], "x", 1);
  int write_errno = errno;
  sigaction (SIGPIPE, &old_pipe, NULL);
  close (go_pipe[1]);

  bool timed_out = false;
  int status;
  bool waited = wait_child (child, lock, lock_name, opt, &status,
                            &timed_out);

  /* A child that could not exec wrote its errno here and exited; one
     that did exec closed the pipe.  Reading it only now lets us sleep
     once, until the child ends, instead of also waiting for its exec:
     one wake-up fewer on the path every lock hand-off takes.  */
  int exec_errno = 0;
  ssize_t n;
  while ((n = read (err_pipe[0], &exec_errno, sizeof exec_errno)) < 0
         && errno == EINTR)
    continue;
  close (err_pipe[0]);
  bool released = release_after_command (lock, lock_name, opt);

  if (!waited)
    return EXIT_CANCELED;
  if (written != 1)
    {
      error (0, write_errno, "cannot start the command");
      return EXIT_CANCELED;
    }
  if (n == sizeof exec_errno)
    {
      error (0, exec_errno, "cannot run %s", quoteaf (argv[0]));
      return exec_errno == ENOENT ? EXIT_ENOENT : EXIT_CANNOT_INVOKE;
    }
  if (!released)
    return EXIT_CANCELED;
  if (timed_out)
    return EXIT_TIMEDOUT;
  if (WIFSIGNALED (status))
    return 128 + WTERMSIG (status);
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
                                                   : getppid (),
    .lease = opt->lease,
    .verbose = opt->verbose,
  };
  char *command = with_command ? command_line (argv) : NULL;
  config.command = command;
  struct child_pipes pipes;
  if (with_command && !open_child_pipes (&pipes))
    {
      error (0, errno, "cannot create a pipe");
      free (command);
      return fail_status;
    }

  struct timespec deadline = (opt->nonblock ? (struct timespec) { 0, 0 }
                              : opt->has_timeout ? opt->timeout
                              : infinite_duration);
  struct dirlock lock;
  int r = dirlock_acquire_with (&lock, lock_name, deadline_after (deadline),
                                &config);
  free (command);
  if (r < 0 && errno == EDEADLK)
    {
      struct dirlock_owner holder;
      if (!opt->quiet && dirlock_read (lock_name, &holder) == 0)
        error (0, 0, "%s is already held by pid %ld, for the same owner "
               "or as our parent: waiting would never end",
               quoteaf (lock_name), (long) holder.pid);
      return busy_status;
    }
  if (r < 0)
    {
      if (errno == ESRCH && opt->owner_pid)
        error (0, 0, "no process with pid %ld", (long) opt->owner_pid);
      else
        report_lock_error (lock_name, "acquire", errno);
      return fail_status;
    }
  if (r == 1)
    {
      report_busy (lock_name, opt);
      return busy_status;
    }

  if (with_command)
    return run_command (&lock, lock_name, argv, &pipes, opt);

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
          forget_stdout_error ();
          return EXIT_SYSERR;
        }
    }
  dirlock_detach (&lock);
  return EXIT_DONE;
}

static int
release_for_caller (char const *lock_name, struct options const *opt)
{
  if (!lock_fs_permits (lock_name, opt))
    return EXIT_SYSERR;
  pid_t pid = opt->owner_pid ? opt->owner_pid : getppid ();
  struct dirlock_owner owner;
  switch (dirlock_release_for (lock_name, pid, &owner))
    {
    case 0:
      return EXIT_DONE;
    case 1:
      if (!opt->quiet)
        error (0, 0, "cannot release %s: it is not held", quoteaf (lock_name));
      return EXIT_NO;
    case 2:
      if (!opt->quiet)
        error (0, 0, "cannot release %s: it is held by pid %ld on %s, "
               "not by pid %ld", quoteaf (lock_name), (long) owner.pid,
               owner.host, (long) pid);
      return EXIT_NO;
    default:
      report_lock_error (lock_name, "release", errno);
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
        report_lock_error (lock_name, "break", errno);
      return -1;
    }
}

static int
break_lock (char const *lock_name, struct options const *opt)
{
  if (!lock_fs_permits (lock_name, opt))
    return EXIT_SYSERR;
  struct dirlock_owner owner;
  int broken = dirlock_break (lock_name, &owner);
  int reset = broken >= 0 ? reset_history (lock_name) : 0;
  if (reset < 0)
    return EXIT_SYSERR;
  if (broken == 1 && reset == 1)
    return EXIT_DONE;
  switch (broken)
    {
    case 0:
      if (opt->verbose)
        error (0, 0, "broke lock %s of pid %ld on %s", quoteaf (lock_name),
               (long) owner.pid, owner.host);
      print_owner (lock_name, &owner, opt->json);
      if (fflush (stdout) != 0)
        {
          /* Done, though the record cannot be shown: say so, rather
             than a bare "write error" that hides the break.  */
          error (0, errno, "broke lock %s, but cannot print its record",
                 quoteaf (lock_name));
          forget_stdout_error ();
          return EXIT_SYSERR;
        }
      return EXIT_DONE;
    case 1:
      if (!opt->quiet)
        error (0, 0, "cannot break %s: it is not held", quoteaf (lock_name));
      return EXIT_NO;
    default:
      report_lock_error (lock_name, "break", errno);
      return EXIT_SYSERR;
    }
}

static int
show_status (char const *lock_name, struct options const *opt)
{
  struct dirlock_owner owner;
  switch (dirlock_read (lock_name, &owner))
    {
    case 0:
      print_owner (lock_name, &owner, opt->json);
      return EXIT_DONE;
    case 1:
      if (opt->json)
        {
          fputs ("{\"lock\":", stdout);
          json_put_string (stdout, lock_name);
          fputs (",\"held\":false}\n", stdout);
        }
      return EXIT_NO;
    default:
      report_lock_error (lock_name, "read", errno);
      return EXIT_SYSERR;
    }
}

static void
set_mode (struct options *opt, enum mode mode)
{
  if (opt->mode != MODE_ACQUIRE && opt->mode != mode)
    usage_error ("only one of --release, --break and --status may be given");
  opt->mode = mode;
}

static pid_t
parse_pid (char const *arg)
{
  uintmax_t pid;
  if (xstrtoumax (arg, NULL, 10, &pid, "") != LONGINT_OK || pid == 0
      || pid > INT32_MAX)
    usage_error ("invalid process ID %s", quote (arg));
  return pid;
}

/* '+': stop at the first operand, so COMMAND's options stay its own.  */
#define SHORT_OPTIONS "+nw:E:uk:vq"

/* Whether ARGV asks to run a COMMAND: a LOCK and more operands, and
   none of the forms that take only LOCK.  Decided before the options
   are checked, so that a usage error there exits 125 as timeout(1)
   does, never a status COMMAND itself might return.  */
static bool
runs_command (int argc, char **argv)
{
  bool lock_only_form = false;
  int c;
  opterr = 0;
  while ((c = getopt_long (argc, argv, SHORT_OPTIONS, long_options, NULL))
         != -1)
    if (c == 'u' || c == BREAK_OPTION || c == STATUS_OPTION
        || c == CHECK_FS_OPTION)
      lock_only_form = true;
  bool with_command = !lock_only_form && argc - optind >= 2;
  opterr = 1;
  optind = 0;
  return with_command;
}

int
main (int argc, char **argv)
{
  struct options opt = { .mode = MODE_ACQUIRE, .conflict_status = -1 };
  bool check_fs = false;

  tool_init (argc, argv);
  bool runs = runs_command (argc, argv);
  if (runs)
    {
      /* lockdir's own failures, usage errors and gnulib's fatal ones
         (xalloc_die, close_stdout) included, must never look like a
         status of COMMAND: 125, as timeout(1).  */
      usage_status = EXIT_CANCELED;
      exit_failure = EXIT_CANCELED;
    }

  int c;
  while ((c = getopt_long (argc, argv, SHORT_OPTIONS, long_options, NULL))
         != -1)
    {
      switch (c)
        {
        case 'n':
          opt.nonblock = true;
          break;
        case 'w':
          opt.has_timeout = true;
          opt.timeout = xparse_duration (optarg, "--timeout");
          break;
        case 'E':
          {
            uintmax_t n;
            if (xstrtoumax (optarg, NULL, 10, &n, "") != LONGINT_OK
                || n > 255)
              usage_error ("invalid exit code %s (use 0 to 255)",
                           quote (optarg));
            opt.conflict_status = n;
          }
          break;
        case 'u':
          set_mode (&opt, MODE_RELEASE);
          break;
        case BREAK_OPTION:
          set_mode (&opt, MODE_BREAK);
          break;
        case STATUS_OPTION:
          set_mode (&opt, MODE_STATUS);
          break;
        case JSON_OPTION:
          opt.json = true;
          break;
        case OWNER_PID_OPTION:
          opt.owner_pid = parse_pid (optarg);
          break;
        case LEASE_OPTION:
          opt.lease = xparse_duration (optarg, "--lease");
          if (timespec_sign (opt.lease) == 0)
            usage_error ("--lease must be longer than 0");
          if (duration_is_infinite (opt.lease))
            opt.lease = (struct timespec) { 0, 0 };
          break;
        case MAX_RUNTIME_OPTION:
          opt.max_runtime = xparse_duration (optarg, "--max-runtime");
          if (duration_is_infinite (opt.max_runtime))
            opt.max_runtime = (struct timespec) { 0, 0 };
          break;
        case 'k':
          opt.kill_after = xparse_duration (optarg, "--kill-after");
          if (duration_is_infinite (opt.kill_after))
            opt.kill_after = (struct timespec) { 0, 0 };
          break;
        case PRINT_TOKEN_OPTION:
          opt.print_token = true;
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
          usage (usage_status);
        }
    }

  if (optind == argc)
    usage_error ("missing operand");
  char const *lock_name = argv[optind];
  char **command = argv + optind + 1;
  bool with_command = command[0] != NULL;

  if (opt.nonblock && opt.has_timeout)
    usage_error ("--nonblock and --timeout cannot be combined");
  if (opt.mode != MODE_ACQUIRE && with_command)
    usage_error ("extra operand %s: --release, --break and --status take "
                 "only LOCK", quote (command[0]));
  if (opt.json && opt.mode != MODE_STATUS && opt.mode != MODE_BREAK)
    usage_error ("--json goes with --status or --break");
  if (!with_command && (timespec_sign (opt.max_runtime) > 0
                        || timespec_sign (opt.kill_after) > 0))
    usage_error ("--max-runtime and --kill-after need a COMMAND");
  if (timespec_sign (opt.kill_after) > 0
      && timespec_sign (opt.max_runtime) == 0)
    usage_error ("--kill-after needs --max-runtime");
  if (with_command && opt.owner_pid)
    usage_error ("--owner-pid cannot be used with a COMMAND: lockdir "
                 "itself owns the lock while COMMAND runs");
  if (opt.print_token && (with_command || opt.mode != MODE_ACQUIRE))
    usage_error ("--print-token goes with the form without COMMAND");
  if (opt.owner_pid && opt.mode != MODE_ACQUIRE && opt.mode != MODE_RELEASE)
    usage_error ("--owner-pid goes with acquiring or --release");

  if (check_fs)
    return fs_explain_operands (1, argv + optind);
  check_operand (lock_name);

  switch (opt.mode)
    {
    case MODE_RELEASE:
      return release_for_caller (lock_name, &opt);
    case MODE_BREAK:
      return break_lock (lock_name, &opt);
    case MODE_STATUS:
      return show_status (lock_name, &opt);
    case MODE_ACQUIRE:
    default:
      {
        int status = acquire (lock_name, command, &opt);
        /* With COMMAND, a diagnostic that could not be written (stderr
           full or closed) changes nothing: the status stays the
           command's, or the one that says what lockdir did.  */
        if (with_command)
          clearerr (stderr);
        return status;
      }
    }
}

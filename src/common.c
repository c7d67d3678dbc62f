/* common.c -- what every atomicutils tool shares.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

#include <config.h>

#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basename-lgpl.h"
#include "closeout.h"
#include "c-ctype.h"
#include "c-strtod.h"
#include "error.h"
#include "exitfail.h"
#include "filenamecat.h"
#include "full-read.h"
#include "intprops.h"
#include "inttostr.h"
#include "modechange.h"
#include "same-inode.h"
#include "tempname.h"
#include "timespec.h"
#include "unistr.h"
#include "version-etc.h"
#include "xalloc.h"
#include "xstdopen.h"
#include "xstrtol.h"
#include "xvasprintf.h"

/* version-etc needs the copyright line; we are not an FSF package.
   The year is ours: version-etc passes its own COPYRIGHT_YEAR, the
   year of the gnulib snapshot, which this format leaves unused.  */
char const version_etc_copyright[] =
  "Copyright %s 2026 The atomicutils authors.";

#define TIME_T_MAX TYPE_MAXIMUM (time_t)

/* The signals that end a process by default and that others send it:
   on each, remove our temporaries, then die of it.  The real-time
   signals are added by cleanup_signal_set.  Left alone: SIGKILL and
   SIGSTOP (they cannot be caught), and the signals of a program error
   (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS), after
   which even the cleanup table cannot be trusted.  SIGXFSZ is caught
   apart: see ignore_file_size_signal.  */
static int const cleanup_signals[] =
  {
    SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGPIPE,
    SIGXCPU, SIGVTALRM, SIGPROF, SIGPOLL,
#ifdef SIGPWR
    SIGPWR,
#endif
#ifdef SIGSTKFLT
    SIGSTKFLT,
#endif
  };

/* dnotify's wake-ups (see dir_notify_open): the pipe SIGIO writes to
   while watches are open.  */
static int notify_pipe[2] = { -1, -1 };
static volatile sig_atomic_t notify_watches;
static struct sigaction notify_saved_action;
static bool notify_was_blocked;   /* SIGIO, blocked by our parent */

/* Fill SET with every signal that triggers the cleanup.  */
void
cleanup_signal_set (sigset_t *set)
{
  sigemptyset (set);
  for (size_t i = 0; i < sizeof cleanup_signals / sizeof *cleanup_signals; i++)
    sigaddset (set, cleanup_signals[i]);
#if defined SIGRTMIN && defined SIGRTMAX
  for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
    sigaddset (set, sig);
#endif
}

static void cleanup_signal_handler (int sig);

/* Exceeding RLIMIT_FSIZE sends SIGXFSZ, which by default kills us
   silently, with our temporaries left behind.  Caught, it lets the
   write fail with EFBIG, which the tool reports.  A handler, unlike
   SIG_IGN, is reset by exec, so a command that lockdir runs gets the
   default back.  */
static void
ignore_file_size_signal (int sig)
{
  (void) sig;
}

/* The signals we found ignored when setting our handlers, and left
   ignored.  */
static sigset_t inherited_ignored;

/* Whether the cleanup signals have their handler.  Not before it is
   needed: a temporary registered, and the signals unblocked.  A tool
   whose temporaries all live within a blocked step (atomic-swap -s,
   lockdir without a wait) never pays the forty system calls.  */
static bool cleanup_handlers_installed;

bool
set_action_unless_ignored (int sig, struct sigaction const *act)
{
  /* One call sets ACT and returns the action it replaced; only an
     inherited "ignore" costs a second, to put it back.  Asking first
     would cost two calls per signal: for the cleanup signals alone,
     once a third of lockdir's system calls.  */
  struct sigaction old;
  if (sigaction (sig, act, &old) == 0 && old.sa_handler == SIG_IGN)
    {
      sigaction (sig, &old, NULL);
      return true;
    }
  return false;
}

void
set_actions_unless_ignored (sigset_t const *set, struct sigaction const *act,
                            sigset_t *left_ignored)
{
  sigset_t old_mask;
  sigprocmask (SIG_BLOCK, set, &old_mask);
  for (int sig = 1; sig < NSIG; sig++)
    if (sigismember (set, sig) == 1
        && set_action_unless_ignored (sig, act) && left_ignored)
      sigaddset (left_ignored, sig);
  sigprocmask (SIG_SETMASK, &old_mask, NULL);
}

/* Give signal SIG the handler HANDLER (or SIG_DFL), with HANDLER_MASK
   blocked while it runs, even over an inherited "ignore", and unblock
   SIG.  Save the action and the signal mask it replaced in *OLD_ACTION
   and *OLD_MASK.  Async-signal-safe.  */
static void
set_handler_unblocked (int sig, void (*handler) (int),
                       sigset_t const *handler_mask,
                       struct sigaction *old_action, sigset_t *old_mask)
{
  struct sigaction act;
  memset (&act, 0, sizeof act);
  act.sa_handler = handler;
  act.sa_mask = *handler_mask;
  sigaction (sig, &act, old_action);
  sigset_t just_sig;
  sigemptyset (&just_sig);
  sigaddset (&just_sig, sig);
  sigprocmask (SIG_UNBLOCK, &just_sig, old_mask);
}

/* The tool's fixed name, for temporaries and --version.  */
static char const *fixed_tool_name;

char const *
tool_name (void)
{
  if (fixed_tool_name)
    return fixed_tool_name;
  char const *slash = strrchr (program_name, '/');
  return slash ? slash + 1 : program_name;
}

void
load_ctype_locale (void)
{
  /* LC_CTYPE alone (see common.h): LC_ALL would open two files for each
     of a dozen categories, more system calls than a lock takes.  The
     caller may be about to print errno.  */
  static bool loaded;
  if (!loaded)
    {
      int saved_errno = errno;
      setlocale (LC_CTYPE, "");
      errno = saved_errno;
      loaded = true;
    }
}

/* At exit, after the temporaries are removed: close standard output as
   close_stdout does, a write error there being ours (status 3).  A
   message that could not be written (standard error full, or a pipe
   whose reader has gone) changes no status, which says what was done:
   close_stdout would make it 3, and a caller told 3 of FILEs we did
   create would think them not created.  */
static void
close_output (void)
{
  clearerr (stderr);
  close_stdout ();
}

void
tool_init_named (char const *name, int argc, char **argv)
{
  (void) argc;
  fixed_tool_name = name;
  set_program_name (argv[0]);
  /* gnulib's fatal errors (xalloc_die, close_stdout) are system errors.  */
  exit_failure = EXIT_SYSERR;
  /* Before anything else is opened (the locale's files, too, when
     load_ctype_locale runs): a file opened while 0, 1 or 2 is closed
     gets that number, and then our input, output or messages would go
     to it.  */
  xstdopen ();
  atexit (close_output);
  atexit (cleanup_temporaries);

  struct sigaction xfsz_act;
  memset (&xfsz_act, 0, sizeof xfsz_act);
  xfsz_act.sa_handler = ignore_file_size_signal;
  sigemptyset (&xfsz_act.sa_mask);
  if (set_action_unless_ignored (SIGXFSZ, &xfsz_act))
    sigaddset (&inherited_ignored, SIGXFSZ);
  /* The cleanup handlers wait for the first temporary (see
     unblock_cleanup_signals).  */
}

/* Have every cleanup signal remove our temporaries.  */
static void
install_cleanup_handlers (void)
{
  struct sigaction act;
  memset (&act, 0, sizeof act);
  act.sa_handler = cleanup_signal_handler;
  cleanup_signal_set (&act.sa_mask);
  set_actions_unless_ignored (&act.sa_mask, &act, &inherited_ignored);
  cleanup_handlers_installed = true;
}

void
default_tool_signals (void)
{
  struct sigaction dfl;
  memset (&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigset_t caught;
  if (cleanup_handlers_installed)
    cleanup_signal_set (&caught);
  else
    sigemptyset (&caught);
  sigaddset (&caught, SIGXFSZ);
  for (int sig = 1; sig < NSIG; sig++)
    if (sigismember (&caught, sig) == 1
        && sigismember (&inherited_ignored, sig) != 1)
      sigaction (sig, &dfl, NULL);
}

void
emit_try_help (void)
{
  fprintf (stderr, "Try '%s --help' for more information.\n", program_name);
}

int usage_status = EXIT_USAGE;

void
usage_error (char const *format, ...)
{
  va_list ap;
  fprintf (stderr, "%s: ", program_name);
  va_start (ap, format);
  vfprintf (stderr, format, ap);
  va_end (ap);
  fputc ('\n', stderr);
  emit_try_help ();
  exit (usage_status);
}

void
emit_exit_status_help (char const *extra, bool durations)
{
  fputs ("\nExit status:\n"
         "  0  done\n", stdout);
  if (extra)
    fputs (extra, stdout);
  fputs (durations
         ? "  2  usage error (bad option, missing operand, bad duration)\n"
         : "  2  usage error (bad option, missing operand)\n", stdout);
  fputs ("  3  system error, or the filesystem cannot keep the promise\n",
         stdout);
}

/* The package has no public bug tracker address: the README says
   where reports go.  The tool is named as installed, not by the path it
   was run from (help2man runs ./src/TOOL to make the manual page).  */
void
emit_help_footer (void)
{
  printf ("\nReport bugs as the README.md of %s says under"
          " \"Reporting bugs\".\n"
          "Full documentation: man %s\n", PACKAGE_NAME, tool_name ());
}

void
print_version (void)
{
  version_etc (stdout, tool_name (), PACKAGE_NAME, PACKAGE_VERSION,
               AUTHORS, (char *) NULL);
  exit (EXIT_SUCCESS);
}

/* Durations.  */

struct timespec const infinite_duration = { TIME_T_MAX, 0 };

bool
duration_is_infinite (struct timespec duration)
{
  return duration.tv_sec == TIME_T_MAX;
}

bool
parse_duration (char const *str, struct timespec *result)
{
  if (strcmp (str, "inf") == 0 || strcmp (str, "infinity") == 0)
    {
      result->tv_sec = TIME_T_MAX;
      result->tv_nsec = 0;
      return true;
    }

  /* Only plain decimal numbers: no sign, no hex, no exponent, no
     "nan", no leading space -- strtod would accept all of those.  */
  char const *p = str;
  bool digits = false;
  while (c_isdigit (*p))
    p++, digits = true;
  if (*p == '.')
    for (p++; c_isdigit (*p); p++)
      digits = true;
  errno = EINVAL;
  if (!digits)
    return false;

  char *end;
  errno = 0;
  double value = c_strtod (str, &end);
  if (end != p || errno == ERANGE)
    {
      errno = errno == ERANGE ? ERANGE : EINVAL;
      return false;
    }
  errno = EINVAL;

  double scale;
  if (*end == '\0' || strcmp (end, "s") == 0)
    scale = 1;
  else if (strcmp (end, "ms") == 0)
    scale = 0.001;
  else if (strcmp (end, "m") == 0)
    scale = 60;
  else if (strcmp (end, "h") == 0)
    scale = 60 * 60;
  else if (strcmp (end, "d") == 0)
    scale = 24 * 60 * 60;
  else
    return false;

  double seconds = value * scale;
  if (!isfinite (seconds) || seconds > DURATION_MAX_DAYS * 24.0 * 60 * 60
      || seconds >= (double) TIME_T_MAX / 2)
    {
      /* Refused rather than taken as forever: 'inf' says that, and a
         number this big is more likely a slip.  */
      errno = ERANGE;
      return false;
    }
  result->tv_sec = (time_t) seconds;
  result->tv_nsec = (long) ((seconds - (double) result->tv_sec) * 1e9);
  if (result->tv_nsec >= 1000000000)
    result->tv_nsec = 999999999;
  /* A positive duration below a nanosecond is one, not 0, which means
     "no limit" to some options (--max-runtime).  */
  if (value > 0 && result->tv_sec == 0 && result->tv_nsec == 0)
    result->tv_nsec = 1;
  return true;
}

struct timespec
xparse_duration (char const *str, char const *option)
{
  struct timespec result;
  if (!parse_duration (str, &result))
    {
      if (errno == ERANGE)
        usage_error ("duration too long for %s: %s (at most %dd; %s "
                     "means forever)", option, quote_n (0, str),
                     DURATION_MAX_DAYS, quote_n (1, "inf"));
      /* "inf" quoted as the value is, as coreutils quotes a literal
         beside a value (dd's "0x", truncate's option names).  */
      usage_error ("invalid duration for %s: %s (use a number with an "
                   "optional unit ms, s, m, h or d, or %s)",
                   option, quote_n (0, str), quote_n (1, "inf"));
    }
  return result;
}

char *
format_seconds (struct timespec duration, char *buf, size_t size)
{
  snprintf (buf, size, "%jd.%03ld", (intmax_t) duration.tv_sec,
            duration.tv_nsec / 1000000);
  return buf;
}

bool
parse_number (char const *arg, char const *valid_suffixes, uintmax_t max,
              uintmax_t *value)
{
  /* xstrtoumax skips leading blanks and takes a '+', as strtoumax
     does.  */
  if (!c_isdigit (*arg))
    return false;
  return (xstrtoumax (arg, NULL, 10, value, valid_suffixes) == LONGINT_OK
          && *value <= max);
}

pid_t
xparse_pid (char const *arg)
{
  uintmax_t pid;
  if (!parse_number (arg, "", INT32_MAX, &pid) || pid == 0)
    usage_error ("invalid process ID %s", quote (arg));
  return pid;
}

struct timespec
monotonic_now (void)
{
  struct timespec now;
  clock_gettime (CLOCK_MONOTONIC, &now);
  return now;
}

struct timespec
deadline_after (struct timespec duration)
{
  if (duration_is_infinite (duration))
    return duration;
  return timespec_add (monotonic_now (), duration);
}

bool
deadline_passed (struct timespec deadline)
{
  return (!duration_is_infinite (deadline)
          && timespec_cmp (monotonic_now (), deadline) >= 0);
}

struct timespec
earlier_deadline (struct timespec a, struct timespec b)
{
  return timespec_cmp (a, b) < 0 ? a : b;
}

int
poll_timeout_ms (struct timespec deadline)
{
  if (duration_is_infinite (deadline))
    return -1;
  struct timespec left = timespec_sub (deadline, monotonic_now ());
  if (left.tv_sec < 0)
    return 0;
  if (left.tv_sec >= INT_MAX / 1000 - 1)
    return INT_MAX;
  return left.tv_sec * 1000 + (left.tv_nsec + 999999) / 1000000;
}

struct timespec
duration_divided (struct timespec duration, int divisor)
{
  /* The seconds' remainder carried into nanoseconds: no product of
     the whole duration that could overflow.  */
  struct timespec part;
  part.tv_sec = duration.tv_sec / divisor;
  part.tv_nsec = ((duration.tv_sec % divisor) * 1000000000LL
                  + duration.tv_nsec) / divisor;
  return part;
}

/* Paths.  */

/* Find PATH's last component: it starts at *BASE_START and ends at
   *LEN, trailing slashes excluded.  Return NULL, or why PATH names no
   entry a tool could create, lock or replace.  */
static char const *
split_last_component (char const *path, size_t *base_start, size_t *len)
{
  size_t end = strlen (path);
  if (end == 0)
    return "empty name";
  while (end > 1 && path[end - 1] == '/')
    end--;
  size_t start = end;
  while (start > 0 && path[start - 1] != '/')
    start--;
  *base_start = start;
  *len = end;
  if (start == end)
    return "it names the root directory, not an entry in a directory";
  if ((end - start == 1 && path[start] == '.')
      || (end - start == 2 && path[start] == '.' && path[start + 1] == '.'))
    return "its last component is '.' or '..', not a name to work on";
  return NULL;
}

char const *
operand_problem (char const *operand)
{
  size_t base_start, len;
  return split_last_component (operand, &base_start, &len);
}

void
check_operand (char const *operand)
{
  char const *problem = operand_problem (operand);
  if (problem)
    usage_error ("invalid operand %s: %s", quoteaf (operand), problem);
}

bool
open_parent (char const *path, struct parent_dir *parent)
{
  size_t base_start, len;
  if (split_last_component (path, &base_start, &len))
    {
      /* "", "/", "dir/." and "dir/.." name no entry we could create.  */
      errno = EINVAL;
      return false;
    }

  if (base_start == 0)
    parent->dir = xstrdup (".");
  else
    {
      size_t dir_len = base_start;
      while (dir_len > 1 && path[dir_len - 1] == '/')
        dir_len--;
      parent->dir = ximemdup0 (path, dir_len);
    }
  parent->base = ximemdup0 (path + base_start, len - base_start);
  parent->shown_dir = NULL;
  parent->fd = open_parent_again (parent);
  if (parent->fd < 0)
    {
      int saved_errno = errno;
      free (parent->dir);
      free (parent->base);
      parent->dir = parent->base = parent->shown_dir = NULL;
      errno = saved_errno;
      return false;
    }
  return true;
}

int
open_parent_again (struct parent_dir const *parent)
{
  return open (parent->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

char *
path_in_parent (struct parent_dir const *parent, char const *name)
{
  char const *dir = parent->dir ? parent->dir : parent->shown_dir;
  if (!dir || strcmp (dir, ".") == 0)
    return xstrdup (name);
  return file_name_concat (dir, name, NULL);
}

void
close_parent (struct parent_dir *parent)
{
  if (parent->fd >= 0)
    close (parent->fd);
  free (parent->dir);
  free (parent->base);
  free (parent->shown_dir);
  parent->fd = -1;
  parent->dir = parent->base = parent->shown_dir = NULL;
}

bool
parent_moved (struct parent_dir const *parent)
{
  if (!parent->dir)
    return false;
  struct stat now, held;
  /* Followed, as open_parent's open did.  A path that no longer
     leads to a directory we can see counts as moved, whatever the
     reason: gone, replaced by a file, a dangling link, a symlink loop,
     or by a link to a directory we may not search (EACCES).  FILE
     made in the held directory would then not be the FILE named.  */
  if (stat (parent->dir, &now) != 0)
    return true;
  return fstat (parent->fd, &held) == 0 && !SAME_INODE (now, held);
}

bool
creation_error_means_exists (int dirfd, char const *name, int errnum)
{
  if (errnum == EEXIST)
    return true;
  /* sshfs answers EPERM when another client made the name first; only
     the name's presence tells that apart from a real EPERM.  */
  struct stat st;
  return (errnum == EPERM
          && fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0);
}

/* Temporary names and their cleanup.

   The table is static and written with signals blocked, so the signal
   handler can walk it without locks or allocation.  */

enum { CLEANUP_SLOTS = 16 };

/* How many random characters a temporary name ends with.  */
enum { TEMP_RANDOM_CHARS = 6 };
static struct
{
  volatile sig_atomic_t in_use;
  pid_t owner;        /* the process that made it: a forked child that
                         exits or is killed must not remove it */
  int dirfd;
  int unlink_flags;
  int retire;         /* removed by retire_name */
  int lazy;           /* needs the handlers only for a pending signal
                         (temp_adopt_lazily) */
  char name[TEMP_NAME_MAX];
  /* What to write on stderr, before the error's description, if the
     cleanup cannot remove the name (temp_warn_if_left): for the name,
     and for a retired one left as '.NAME'; NULL for nothing.  */
  char *left_warning;
  char *left_warning_hidden;
} cleanup_table[CLEANUP_SLOTS];

int
retire_name (int dirfd, char const *name, bool *hidden_left)
{
  char hidden[NAME_MAX + 1];
  size_t len = strlen (name);
  if (hidden_left)
    *hidden_left = false;
  if (len < sizeof hidden - 1)
    {
      hidden[0] = '.';
      memcpy (hidden + 1, name, len + 1);
      if (renameat (dirfd, name, dirfd, hidden) == 0)
        {
          bool left = unlinkat (dirfd, hidden, 0) != 0;
          if (hidden_left)
            *hidden_left = left;
          return left ? -1 : 0;
        }
    }
  return unlinkat (dirfd, name, 0);
}

/* Remove the name registered in cleanup slot SLOT (async-signal-safe).
   Return 0, or -1 with errno if unlinkat failed; the slot then names
   what is left (for a retired name, perhaps '.NAME': then *HIDDEN_LEFT
   is set).  */
static int
remove_registered (int slot, bool *hidden_left)
{
  *hidden_left = false;
  if (cleanup_table[slot].retire)
    {
      char *name = cleanup_table[slot].name;
      int r = retire_name (cleanup_table[slot].dirfd, name, hidden_left);
      if (*hidden_left)
        {
          /* retire_name made '.NAME' only if it fits.  */
          memmove (name + 1, name, strlen (name) + 1);
          name[0] = '.';
        }
      return r;
    }
  return unlinkat (cleanup_table[slot].dirfd, cleanup_table[slot].name,
                   cleanup_table[slot].unlink_flags);
}

/* How many block_cleanup_signals calls are not yet undone: blocking
   nests, so a step that blocks around temp_create (which blocks and
   unblocks itself) stays blocked until its own unblock.  */
static int cleanup_block_depth;
/* The mask before the outermost block_cleanup_signals, put back by its
   unblock: a signal our caller had blocked stays blocked, for us and
   for the command lockdir runs.  */
static sigset_t unblocked_mask;

void
block_cleanup_signals (void)
{
  if (cleanup_block_depth++ > 0)
    return;
  sigset_t set;
  cleanup_signal_set (&set);
  sigprocmask (SIG_BLOCK, &set, &unblocked_mask);
}

/* Is any temporary registered (with LAZY, any at all; else any but
   those of temp_adopt_lazily)?  */
static bool
temporaries_registered_ (bool lazy)
{
  for (int i = 0; i < CLEANUP_SLOTS; i++)
    if (cleanup_table[i].in_use && (lazy || !cleanup_table[i].lazy))
      return true;
  return false;
}

static bool
temporaries_registered (void)
{
  return temporaries_registered_ (true);
}

/* Is SIG ignored?  Pending while blocked, it is then dropped at the
   unblock (a SIGINT a background job inherits ignored, and we leave
   so): it ends nothing.  */
static bool
signal_ignored (int sig)
{
  struct sigaction act;
  return (sigaction (sig, NULL, &act) == 0
          && !(act.sa_flags & SA_SIGINFO) && act.sa_handler == SIG_IGN);
}

bool
cleanup_signal_pending_except (int spared)
{
  sigset_t pending, cleanup;
  if (sigpending (&pending) != 0)
    return true;
  cleanup_signal_set (&cleanup);
  for (int sig = 1; sig < NSIG; sig++)
    if (sigismember (&pending, sig) == 1 && sigismember (&cleanup, sig) == 1
        && sig != spared)
      /* Not a SIGIO while a directory is watched: a wake-up (see
         cleanup_signal_handler), which ends nothing.  */
      if ((sig != SIGIO || notify_watches == 0) && !signal_ignored (sig))
        return true;
  return false;
}

bool
cleanup_signal_pending (void)
{
  return cleanup_signal_pending_except (0);
}

void
unblock_cleanup_signals (void)
{
  if (cleanup_block_depth == 0 || --cleanup_block_depth > 0)
    return;
  /* A temporary outlives the blocked step: from now on a signal must
     find the handler that removes it.  For a lazy one, only a signal
     already pending: installing the handlers costs a system call per
     cleanup signal, on the path of every lockdir.  */
  if (!cleanup_handlers_installed
      && (temporaries_registered_ (false)
          || (temporaries_registered () && cleanup_signal_pending ())))
    install_cleanup_handlers ();
  sigprocmask (SIG_SETMASK, &unblocked_mask, NULL);
}

/* Write S on stderr (async-signal-safe).  */
static void
write_stderr (char const *s)
{
  ssize_t ignored = write (STDERR_FILENO, s, strlen (s));
  (void) ignored;
}

/* Write on stderr the description of ERRNUM, as error () would in the
   C locale (async-signal-safe: strerror may translate, and allocate;
   strerrordesc_np reads a static table).  */
static void
write_error_description (int errnum)
{
#if HAVE_STRERRORDESC_NP
  char const *desc = strerrordesc_np (errnum);
  if (desc)
    {
      write_stderr (desc);
      return;
    }
#endif
  /* "Unknown error N", as strerror says.  umaxtostr neither allocates
     nor looks at the locale.  */
  char number[INT_BUFSIZE_BOUND (uintmax_t)];
  write_stderr ("Unknown error ");
  write_stderr (umaxtostr ((unsigned int) errnum, number));
}

/* The cleanup could not remove the name in slot SLOT (ERRNUM; left as
   '.NAME' if HIDDEN_LEFT): say so, if asked to (async-signal-safe).  */
static void
warn_registered_left (int slot, bool hidden_left, int errnum)
{
  char const *warning = (hidden_left
                         ? cleanup_table[slot].left_warning_hidden
                         : cleanup_table[slot].left_warning);
  if (!warning || errnum == ENOENT)
    return;
  write_stderr (warning);
  write_error_description (errnum);
  write_stderr ("\n");
}

void
cleanup_temporaries (void)
{
  /* At every exit: spare the getpid when there is nothing to remove.  */
  if (!temporaries_registered ())
    return;
  pid_t self = getpid ();
  /* Files first, then directories, which can only go once empty.  */
  for (int dirs = 0; dirs < 2; dirs++)
    for (int i = 0; i < CLEANUP_SLOTS; i++)
      if (cleanup_table[i].in_use && cleanup_table[i].owner == self
          && (cleanup_table[i].unlink_flags == AT_REMOVEDIR) == dirs)
        {
          bool hidden_left;
          if (remove_registered (i, &hidden_left) != 0)
            warn_registered_left (i, hidden_left, errno);
          /* The warnings stay allocated: this is the end, at exit or
             in a signal handler, which cannot free.  */
          cleanup_table[i].in_use = 0;
        }
}

static void
cleanup_signal_handler (int sig)
{
  int saved_errno = errno;
  if (sig == SIGIO && notify_watches > 0)
    {
      /* A watched directory changed.  Nonblocking: a full pipe says so
         already.  */
      ssize_t ignored = write (notify_pipe[1], "", 1);
      (void) ignored;
      errno = saved_errno;
      return;
    }
  cleanup_temporaries ();
  /* Die of the same signal, so the caller sees why we stopped.  */
  raise_default (sig);
  errno = saved_errno;
}

/* For temp_rename_from: not a new object, an existing name renamed;
   for temp_move, an existing temporary renamed from another
   directory.  */
enum { TEMP_RENAMED = TEMP_DIR + 1, TEMP_MOVED };

struct temp_try
{
  int dirfd;
  int kind;           /* enum temp_kind, TEMP_RENAMED or TEMP_MOVED */
  mode_t mode;
  char const *symlink_target;   /* TEMP_RENAMED, TEMP_MOVED: the name
                                   renamed */
  int fd;
  int from_dirfd;               /* TEMP_MOVED: its directory */
};

static int
try_create_temp (char *name, void *arg)
{
  struct temp_try *t = arg;
  switch (t->kind)
    {
    case TEMP_FILE:
      t->fd = openat (t->dirfd, name,
                      O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                      t->mode);
      return t->fd < 0 ? -1 : 0;
    case TEMP_SYMLINK:
      return symlinkat (t->symlink_target, t->dirfd, name);
    case TEMP_DIR:
      return mkdirat (t->dirfd, name, t->mode);
    case TEMP_RENAMED:
      return renameat2 (t->dirfd, t->symlink_target, t->dirfd, name,
                        RENAME_NOREPLACE);
    case TEMP_MOVED:
      return renameat2 (t->from_dirfd, t->symlink_target, t->dirfd, name,
                        RENAME_NOREPLACE);
    }
  errno = EINVAL;
  return -1;
}

/* Record TEMP (whose directory and name are set), an entry of KIND, in
   the free cleanup slot SLOT.  Called with the cleanup signals
   blocked.  */
static void
register_temp (struct temp_name *temp, int slot, int kind)
{
  cleanup_table[slot].owner = getpid ();
  cleanup_table[slot].dirfd = temp->dirfd;
  cleanup_table[slot].unlink_flags = kind == TEMP_DIR ? AT_REMOVEDIR : 0;
  cleanup_table[slot].retire = 0;
  cleanup_table[slot].lazy = 0;
  cleanup_table[slot].left_warning = NULL;
  cleanup_table[slot].left_warning_hidden = NULL;
  memcpy (cleanup_table[slot].name, temp->name, sizeof temp->name);
  cleanup_table[slot].in_use = 1;
  temp->slot = slot;
}

/* temp_create, and temp_rename_from and temp_move with KIND
   TEMP_RENAMED and TEMP_MOVED (from FROM_DIRFD).  */
static int
make_temp (struct temp_name *temp, int dirfd, int kind, mode_t mode,
           char const *symlink_target, int from_dirfd);

int
temp_create (struct temp_name *temp, int dirfd, enum temp_kind kind,
             mode_t mode, char const *symlink_target)
{
  return make_temp (temp, dirfd, kind, mode, symlink_target, -1);
}

int
temp_rename_from (struct temp_name *temp, int dirfd, char const *name,
                  bool is_dir)
{
  int result = make_temp (temp, dirfd, TEMP_RENAMED, 0, name, -1);
  if (result == 0 && is_dir)
    {
      block_cleanup_signals ();
      cleanup_table[temp->slot].unlink_flags = AT_REMOVEDIR;
      unblock_cleanup_signals ();
    }
  return result;
}

/* Whether the directory DIRFD is append-only (chattr +a): a name made
   there can be neither renamed nor removed again.  */
bool
dir_append_only (int dirfd)
{
  struct statx stx;
  return (statx (dirfd, "", AT_EMPTY_PATH, 0, &stx) == 0
          && (stx.stx_attributes_mask & STATX_ATTR_APPEND)
          && (stx.stx_attributes & STATX_ATTR_APPEND));
}

static int
make_temp (struct temp_name *temp, int dirfd, int kind, mode_t mode,
           char const *symlink_target, int from_dirfd)
{
  temp->dirfd = dirfd;
  temp->slot = -1;
  /* A temporary is made to be renamed, or removed after a failure;
     in an append-only directory neither can be done, and it would be
     left there.  Refuse as the rename would (EPERM), before making
     it.  (chattr +a at this instant still leaves one: the warning of
     temp_remove_warn names it.)  */
  if (dir_append_only (dirfd))
    {
      errno = EPERM;
      return -1;
    }
  /* ".TOOL." followed by TEMP_RANDOM_CHARS placeholders that
     try_tempname replaces with random characters.  */
  int n = snprintf (temp->name, sizeof temp->name, ".%s.", tool_name ());
  if (n < 0 || (size_t) n + TEMP_RANDOM_CHARS >= sizeof temp->name)
    {
      errno = ENAMETOOLONG;
      return -1;
    }
  memset (temp->name + n, 'X', TEMP_RANDOM_CHARS);
  temp->name[n + TEMP_RANDOM_CHARS] = '\0';

  int slot;
  for (slot = 0; slot < CLEANUP_SLOTS; slot++)
    if (!cleanup_table[slot].in_use)
      break;
  if (slot == CLEANUP_SLOTS)
    {
      errno = EMFILE;
      return -1;
    }

  struct temp_try t = { dirfd, kind, mode, symlink_target, -1,
                        from_dirfd };
  /* A signal between creating the name and registering it would leave
     it behind: do both with the cleanup signals blocked.  */
  block_cleanup_signals ();
  int err = try_tempname (temp->name, 0, &t, try_create_temp);
  int saved_errno = errno;
  if (err == 0)
    register_temp (temp, slot, kind);
  unblock_cleanup_signals ();
  if (err != 0)
    {
      errno = saved_errno;
      return -1;
    }
  return kind == TEMP_FILE ? t.fd : 0;
}

int
temp_move (struct temp_name *temp, int dirfd)
{
  struct temp_name moved;
  /* The new name is registered, and the old one forgotten, in one step
     with the rename: a signal finds the file under one of them.  */
  block_cleanup_signals ();
  int result = make_temp (&moved, dirfd, TEMP_MOVED, 0, temp->name,
                          temp->dirfd);
  if (result == 0)
    {
      temp_forget (temp);
      *temp = moved;
    }
  unblock_cleanup_signals ();
  return result;
}

/* Unregister the name in slot SLOT.  Called with the cleanup signals
   blocked.  */
static void
release_slot (int slot)
{
  cleanup_table[slot].in_use = 0;
  free (cleanup_table[slot].left_warning);
  free (cleanup_table[slot].left_warning_hidden);
  cleanup_table[slot].left_warning = NULL;
  cleanup_table[slot].left_warning_hidden = NULL;
}

bool
temp_remove (struct temp_name *temp)
{
  if (temp->slot < 0)
    return true;
  int saved_errno = errno;
  block_cleanup_signals ();
  bool hidden_left;
  bool gone = (remove_registered (temp->slot, &hidden_left) == 0
               || errno == ENOENT);
  int remove_errno = errno;
  /* What is left, if anything: a retired name may be left hidden.  */
  if (!gone)
    strcpy (temp->name, cleanup_table[temp->slot].name);
  release_slot (temp->slot);
  temp->slot = -1;
  unblock_cleanup_signals ();
  errno = gone ? saved_errno : remove_errno;
  return gone;
}

void
warn_temp_left (struct parent_dir const *parent, char const *name,
                int errnum)
{
  char *shown = path_in_parent (parent, name);
  warn_temp_left_shown (shown, errnum);
  free (shown);
}

void
warn_temp_left_shown (char const *shown, int errnum)
{
  error (0, errnum, "warning: cannot remove the temporary %s",
         quoteaf (shown));
}

bool
temp_remove_warn (struct temp_name *temp, struct parent_dir const *parent)
{
  int saved_errno = errno;
  bool gone = temp_remove (temp);
  /* TEMP keeps its name once unregistered.  */
  if (!gone)
    warn_temp_left (parent, temp->name, errno);
  errno = saved_errno;
  return gone;
}

void
temp_retire_on_removal (struct temp_name *temp)
{
  if (temp->slot >= 0)
    cleanup_table[temp->slot].retire = 1;
}

void
temp_warn_if_left (struct temp_name *temp, char const *shown)
{
  if (temp->slot < 0)
    return;
  /* SHOWN with '.' before its last component.  */
  char const *base = last_component (shown);
  char *hidden = xasprintf ("%.*s.%s", (int) (base - shown), shown, base);
  /* Quoted now: the handler can neither quote nor allocate.  */
  char *warning = xasprintf ("%s: warning: cannot remove the temporary "
                             "%s: ", program_name, quoteaf_n (0, shown));
  char *warning_hidden = xasprintf ("%s: warning: cannot remove the "
                                    "temporary %s: ", program_name,
                                    quoteaf_n (0, hidden));
  free (hidden);
  block_cleanup_signals ();
  free (cleanup_table[temp->slot].left_warning);
  free (cleanup_table[temp->slot].left_warning_hidden);
  cleanup_table[temp->slot].left_warning = warning;
  cleanup_table[temp->slot].left_warning_hidden = warning_hidden;
  unblock_cleanup_signals ();
}

void
temp_forget (struct temp_name *temp)
{
  if (temp->slot < 0)
    return;
  if (cleanup_table[temp->slot].left_warning)
    {
      /* The handler must not read a warning being freed.  */
      block_cleanup_signals ();
      release_slot (temp->slot);
      unblock_cleanup_signals ();
    }
  else
    cleanup_table[temp->slot].in_use = 0;
  temp->slot = -1;
}

int
fsync_directory (int dirfd)
{
  /* An O_PATH descriptor cannot be fsynced; reopen the directory.  */
  int fd = openat (dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  int result = fsync (fd);
  int saved_errno = errno;
  close (fd);
  errno = saved_errno;
  return result;
}

bool
close_stdout_now (void)
{
  bool closed = close (STDOUT_FILENO) == 0;
  int err = errno;
  /* Descriptor 1 stays taken, as xstdopen left it: a file opened later
     must not become our standard output.  */
  int null = open ("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null >= 0)
    {
      if (null != STDOUT_FILENO)
        {
          dup2 (null, STDOUT_FILENO);
          close (null);
        }
      else
        fcntl (null, F_SETFD, 0);
    }
  errno = err;
  return closed;
}

/* Watching a directory.  */

enum { BACKOFF_START_MS = 1, BACKOFF_CAP_MS = 250 };

void
dir_watch_open (struct dir_watch *watch, char const *dir, int dirfd,
                char const *name, bool remote)
{
  watch->name = name;
  watch->backoff_ms = BACKOFF_START_MS;
  watch->cap_ms = BACKOFF_CAP_MS;
  /* dnotify first: an inotify instance costs milliseconds to close
     (see dir_notify_open).  It names no entry, so every change in DIR
     wakes the waiter, who looks again.  */
  watch->notify_fd = (remote || dirfd < 0 ? -1
                      : dir_notify_open (dirfd, (DN_CREATE | DN_DELETE
                                                 | DN_RENAME | DN_MODIFY
                                                 | DN_ATTRIB)));
  if (watch->notify_fd >= 0)
    {
      watch->inotify_fd = -1;
      watch->backoff_ms = 0;
      return;
    }
  watch->inotify_fd = inotify_init1 (IN_NONBLOCK | IN_CLOEXEC);
  if (watch->inotify_fd < 0)
    return;

  uint32_t mask = (IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE
                   | IN_ATTRIB | IN_CLOSE_WRITE | IN_DELETE_SELF
                   | IN_MOVE_SELF | IN_ONLYDIR);
  /* The held descriptor first: DIR may lead elsewhere by now (swapped
     away and back, replaced), and a watch there would miss the changes
     in the directory the caller looks at.  DIR only without /proc.  */
  int wd = -1;
  if (dirfd >= 0)
    {
      char proc_path[64];
      snprintf (proc_path, sizeof proc_path, "/proc/self/fd/%d", dirfd);
      wd = inotify_add_watch (watch->inotify_fd, proc_path, mask);
    }
  if (wd < 0 && dir)
    wd = inotify_add_watch (watch->inotify_fd, dir, mask);
  if (wd < 0 || remote)
    {
      /* inotify sees only this kernel's changes: on a filesystem that
         other hosts change, back-off polling is the only way to notice
         them.  */
      if (wd < 0)
        {
          close (watch->inotify_fd);
          watch->inotify_fd = -1;
        }
      else
        watch->cap_ms = 1000;
    }
  if (watch->inotify_fd >= 0 && !remote)
    watch->backoff_ms = 0;
}

/* Read WATCH's pending events.  Return true if one concerns the
   watched name, or the watch itself (the queue overflowed, the
   directory went away).  */
static bool
drain_watch_events (struct dir_watch *watch)
{
  bool relevant = watch->name == NULL;
  char buf[4096]
    __attribute__ ((aligned (__alignof__ (struct inotify_event))));
  ssize_t n;
  while ((n = read (watch->inotify_fd, buf, sizeof buf)) > 0)
    for (char const *p = buf; p < buf + n; )
      {
        struct inotify_event const *event = (struct inotify_event const *) p;
        if ((event->mask & (IN_Q_OVERFLOW | IN_IGNORED | IN_DELETE_SELF
                            | IN_MOVE_SELF))
            || (watch->name && event->len > 0
                && strcmp (event->name, watch->name) == 0))
          relevant = true;
        p += sizeof *event + event->len;
      }
  return relevant;
}

int
dir_watch_wait (struct dir_watch *watch, struct wait_fds extra,
                struct timespec deadline)
{
  if (watch->notify_fd >= 0)
    return dir_notify_wait (NULL, NULL, extra, deadline);
  for (;;)
    {
      int timeout = poll_timeout_ms (deadline);
      if (timeout == 0)
        return 1;
      bool backoff = watch->backoff_ms != 0;
      if (backoff && (timeout < 0 || (unsigned) timeout > watch->backoff_ms))
        timeout = watch->backoff_ms;

      /* The inotify instance (ignored if -1), then EXTRA's.  */
      struct pollfd fds[3] =
        {
          { .fd = watch->inotify_fd, .events = POLLIN },
          { .fd = extra.fd[0], .events = POLLIN },
          { .fd = extra.fd[1], .events = POLLIN }
        };

      int n = poll (fds, 3, timeout);
      if (n < 0)
        {
          if (errno == EINTR)
            return 0;
          return -1;
        }
      if (n == 0)
        {
          if (backoff)
            {
              watch->backoff_ms = (watch->backoff_ms * 2 < watch->cap_ms
                                   ? watch->backoff_ms * 2 : watch->cap_ms);
              /* A back-off tick is a reason to look again.  */
              if (!deadline_passed (deadline))
                return 0;
            }
          return 1;
        }
      bool extra_ready = fds[1].revents != 0 || fds[2].revents != 0;
      /* The caller looks at the directory again rather than trusting
         any one event; events about other names are only drained.  */
      bool name_changed = (watch->inotify_fd >= 0
                           && drain_watch_events (watch));
      if (extra_ready || name_changed)
        return 0;
    }
}

void
dir_watch_close (struct dir_watch *watch)
{
  dir_notify_close (watch->notify_fd);
  watch->notify_fd = -1;
  if (watch->inotify_fd >= 0)
    close (watch->inotify_fd);
  watch->inotify_fd = -1;
}

/* dnotify: see common.h.  SIGIO is one of the cleanup signals, so it
   has one handler, cleanup_signal_handler, which takes it for a
   wake-up while a watch is open: the cleanup handlers may be installed
   while we watch.  */

int
dir_notify_open (int dirfd, unsigned long dn_events)
{
  /* F_NOTIFY needs a descriptor that is not O_PATH.  */
  int fd = openat (dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  if (notify_watches == 0)
    {
      if (pipe2 (notify_pipe, O_NONBLOCK | O_CLOEXEC) != 0)
        {
          int saved_errno = errno;
          close (fd);
          errno = saved_errno;
          return -1;
        }
      /* Even over an inherited "ignore": an ignored SIGIO would be
         discarded, and the watch would never wake us.  Nor blocked, as
         our parent may have left it.  */
      sigset_t handler_mask, old_mask;
      cleanup_signal_set (&handler_mask);
      set_handler_unblocked (SIGIO, cleanup_signal_handler, &handler_mask,
                             &notify_saved_action, &old_mask);
      notify_was_blocked = sigismember (&old_mask, SIGIO) == 1;
    }
  notify_watches++;
  if (fcntl (fd, F_NOTIFY, dn_events | DN_MULTISHOT) != 0)
    {
      int saved_errno = errno;
      dir_notify_close (fd);
      errno = saved_errno;
      return -1;
    }
  return fd;
}

int
dir_notify_wait (bool (*done) (void *), void *arg, struct wait_fds extra,
                 struct timespec wake)
{
  char buf[64];
  for (;;)
    {
      /* Drained first, then asked: a change after the question leaves
         a byte in the pipe.  Without DONE the byte is the answer.  */
      if (done)
        {
          while (read (notify_pipe[0], buf, sizeof buf) > 0)
            continue;
          if (done (arg))
            return 0;
        }
      struct pollfd fds[3] =
        {
          { .fd = notify_pipe[0], .events = POLLIN },
          { .fd = extra.fd[0], .events = POLLIN },   /* ignored if -1 */
          { .fd = extra.fd[1], .events = POLLIN }
        };
      int n = poll (fds, 3, poll_timeout_ms (wake));
      if (n < 0 && errno != EINTR)
        return -1;
      if (n == 0)
        return 1;
      if (n > 0 && (fds[1].revents != 0 || fds[2].revents != 0))
        return 0;
      if (!done && n > 0 && fds[0].revents != 0)
        {
          while (read (notify_pipe[0], buf, sizeof buf) > 0)
            continue;
          return 0;
        }
    }
}

void
dir_notify_close (int fd)
{
  if (fd < 0)
    return;
  /* Closing the descriptor ends its notifications.  */
  close (fd);
  if (--notify_watches > 0)
    return;
  /* A SIGIO sent before the close and held back by blocked signals
     would meet the default action (terminate) once unblocked: take it
     now.  */
  sigset_t sigio;
  sigemptyset (&sigio);
  sigaddset (&sigio, SIGIO);
  struct timespec no_wait = { 0, 0 };
  while (sigtimedwait (&sigio, NULL, &no_wait) == SIGIO)
    continue;
  /* The action we replaced; but once the cleanup handlers are in place,
     SIGIO keeps its cleanup rather than go back to the default.  */
  if (!(cleanup_handlers_installed
        && notify_saved_action.sa_handler == SIG_DFL))
    sigaction (SIGIO, &notify_saved_action, NULL);
  if (notify_was_blocked)
    sigprocmask (SIG_BLOCK, &sigio, NULL);
  close (notify_pipe[0]);
  close (notify_pipe[1]);
  notify_pipe[0] = notify_pipe[1] = -1;
}

struct timespec
parent_check_deadline (void)
{
  return deadline_after ((struct timespec) { PARENT_CHECK_INTERVAL, 0 });
}

int
wait_until_absent (struct parent_dir const *parent, char const *name,
                   bool remote, struct timespec deadline)
{
  return wait_until_replaced (parent, name, NULL, remote, deadline);
}

int
wait_until_replaced (struct parent_dir const *parent, char const *name,
                     struct stat const *was, bool remote,
                     struct timespec deadline)
{
  struct dir_watch watch;
  /* Watch before looking, so a removal between the look and the sleep
     still wakes us.  */
  dir_watch_open (&watch, parent->dir, parent->fd, name, remote);
  int result;
  for (;;)
    {
      /* First: a name absent or replaced in a directory that is no
         longer PARENT's is none of our business.  */
      if (parent_moved (parent))
        {
          result = 2;
          break;
        }
      struct stat st;
      if (fstatat (parent->fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        {
          result = errno == ENOENT ? 0 : -1;
          break;
        }
      /* Checked on every round, not only when a wait runs out: in a
         busy directory every wait can be woken by a change.  Before a
         replacement is looked for, so that replacements coming faster
         than the caller judges them cannot carry it past DEADLINE.  */
      if (deadline_passed (deadline))
        {
          result = 1;
          break;
        }
      if (was && !SAME_INODE (st, *was))
        {
          result = 0;
          break;
        }
      /* A rename of PARENT's directory is no change in it: look at its
         name again at least every PARENT_CHECK_INTERVAL.  */
      result = dir_watch_wait (&watch, NO_WAIT_FDS,
                               earlier_deadline (deadline,
                                                 parent_check_deadline ()));
      if (result < 0)
        break;
    }
  int saved_errno = errno;
  dir_watch_close (&watch);
  errno = saved_errno;
  return result;
}

/* The length of the valid UTF-8 character at P (1 to 4), or 0 if P
   does not start one: a stray continuation byte, a truncated or
   overlong sequence, a surrogate, or a code point above U+10FFFF.  */
static int
utf8_char_length (unsigned char const *p)
{
  if (p[0] < 0x80)
    return 1;
  int len = (p[0] >= 0xc2 && p[0] <= 0xdf ? 2
             : p[0] >= 0xe0 && p[0] <= 0xef ? 3
             : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : 0);
  for (int i = 1; i < len; i++)
    if ((p[i] & 0xc0) != 0x80)
      return 0;
  if ((p[0] == 0xe0 && p[1] < 0xa0)         /* overlong */
      || (p[0] == 0xed && p[1] >= 0xa0)     /* surrogate */
      || (p[0] == 0xf0 && p[1] < 0x90)      /* overlong */
      || (p[0] == 0xf4 && p[1] >= 0x90))    /* above U+10FFFF */
    return 0;
  return len;
}

/* Names and command lines are bytes, and JSON is text: every byte
   that is not part of valid UTF-8 becomes \u00XX, the character with
   the byte's value (what a Latin-1 reader would see), and every control
   character (C0, DEL and C1) is escaped too.  */
void
json_put_string (FILE *out, char const *str)
{
  putc ('"', out);
  for (unsigned char const *p = (unsigned char const *) str; *p; )
    {
      int len = utf8_char_length (p);
      unsigned int c1 = len == 2 && p[0] == 0xc2 ? p[1] : 0;
      if (len == 0)
        fprintf (out, "\\u%04x", *p++);
      else if (c1 >= 0x80 && c1 <= 0x9f)
        {
          fprintf (out, "\\u%04x", c1);     /* a C1 control character */
          p += 2;
        }
      else if (len > 1)
        {
          fwrite (p, 1, len, out);
          p += len;
        }
      else
        {
          switch (*p)
            {
            case '"': fputs ("\\\"", out); break;
            case '\\': fputs ("\\\\", out); break;
            case '\n': fputs ("\\n", out); break;
            case '\r': fputs ("\\r", out); break;
            case '\t': fputs ("\\t", out); break;
            default:
              if (*p < 0x20 || *p == 0x7f)
                fprintf (out, "\\u%04x", *p);
              else
                putc (*p, out);
            }
          p++;
        }
    }
  putc ('"', out);
}

/* Copy STR into BUF of SIZE, as one line: control characters become
   '?', and an overlong string ends in "..." (cut between two UTF-8
   characters, as name_cut_length does).  */
void
copy_one_line (char *buf, size_t size, char const *str)
{
  size_t len = strlen (str);
  char const *ellipsis = "";
  if (len >= size)
    {
      len = size > 4 ? name_cut_length (str, size - 4) : size - 1;
      ellipsis = size > 4 ? "..." : "";
    }
  for (size_t i = 0; i < len; i++)
    buf[i] = c_iscntrl ((unsigned char) str[i]) ? '?' : str[i];
  strcpy (buf + len, ellipsis);
}

char *
shell_words_line (char *const *argv)
{
  size_t size = 1;
  for (char *const *a = argv; *a; a++)
    size += strlen (quotearg_n_style (0, shell_escape_quoting_style, *a)) + 1;
  char *line = xmalloc (size);
  char *p = line;
  *p = '\0';
  for (char *const *a = argv; *a; a++)
    {
      if (p != line)
        *p++ = ' ';
      p = stpcpy (p, quotearg_n_style (0, shell_escape_quoting_style, *a));
    }
  return line;
}

size_t
script_caller_pids (pid_t owner_pid, pid_t pids[2])
{
  if (owner_pid)
    {
      pids[0] = owner_pid;
      return 1;
    }
  pids[0] = getppid ();
  pids[1] = getpid ();
  return 2;
}

void
signal_command (pid_t child, bool has_group, int sig)
{
  if (!has_group || kill (-child, sig) != 0)
    kill (child, sig);
}

void
terminate_command (pid_t child, bool has_group)
{
  signal_command (child, has_group, SIGTERM);
  signal_command (child, has_group, SIGCONT);
}

pid_t
reap_command (pid_t child, bool has_group, bool kill_rest, int *status,
              bool *killed)
{
  *killed = false;
  if (kill_rest && has_group)
    {
      siginfo_t info;
      info.si_pid = 0;
      if (waitid (P_PID, child, &info, WEXITED | WNOHANG | WNOWAIT) != 0)
        return -1;
      if (info.si_pid != child)
        {
          /* Still running: a stop only may be taken now.  ECHILD: it
             has exited since, and the next look will see that.  */
          info.si_pid = 0;
          if (waitid (P_PID, child, &info, WSTOPPED | WNOHANG) != 0)
            return errno == ECHILD ? 0 : -1;
          if (info.si_pid != child)
            return 0;
          *status = W_STOPCODE (info.si_status);
          return child;
        }
      kill (-child, SIGKILL);
      *killed = true;
    }
  return waitpid (child, status, WNOHANG | (has_group ? WUNTRACED : 0));
}

bool
command_exited (pid_t child)
{
  siginfo_t info;
  info.si_pid = 0;
  return (waitid (P_PID, child, &info, WEXITED | WNOHANG | WNOWAIT) == 0
          && info.si_pid == child);
}

/* Whom the signals that stop the command reach.  */
static char const *
command_target (bool has_group)
{
  return has_group ? "its process group" : "it";
}

void
report_max_runtime_term (char const *lock_name, struct timespec max_runtime,
                         bool has_group)
{
  char ran[SECONDS_BUFSIZE];
  error (0, 0, "the command under %s ran for %s s (--max-runtime): "
         "sending SIGTERM to %s", quoteaf (lock_name),
         format_seconds (max_runtime, ran, sizeof ran),
         command_target (has_group));
}

void
report_kill_after_kill (char const *lock_name, struct timespec kill_after,
                        bool has_group)
{
  char after[SECONDS_BUFSIZE];
  error (0, 0, "the command under %s still ran %s s after SIGTERM "
         "(--kill-after): sending SIGKILL to %s", quoteaf (lock_name),
         format_seconds (kill_after, after, sizeof after),
         command_target (has_group));
}

void
report_exit_after_term (char const *lock_name)
{
  /* kill () cannot tell whether any process but COMMAND's zombie was
     left in the group: say only what was done.  Nor can COMMAND's exit
     be placed before or after the SIGTERM that command_exited found it
     alive for, microseconds before: "after it was due" is true either
     way.  */
  error (0, 0, "the command under %s exited after SIGTERM was due: sent "
         "SIGKILL to its process group (--kill-after)", quoteaf (lock_name));
}

void
pass_signal_on (pid_t child, bool has_group, int sig, bool from_terminal)
{
  if (from_terminal && !has_group)
    return;
  signal_command (child, has_group, sig);
  if (has_group)
    signal_command (child, has_group, SIGCONT);
}

/* Take the default action of SIGTSTP, which the caller has blocked
   (in its handler, or for a signalfd), as if we had not caught it:
   stop, unless our process group is orphaned, where the kernel drops
   it, since no shell would continue us.  (SIGSTOP would stop us there
   too, and shows as "Stopped (signal)" in the shell's job list.)  */
static void
stop_as_default (void)
{
  struct sigaction old_action;
  sigset_t no_signals, old_mask;
  sigemptyset (&no_signals);
  set_handler_unblocked (SIGTSTP, SIG_DFL, &no_signals, &old_action,
                         &old_mask);
  /* Stops us here, unless our process group is orphaned.  */
  raise (SIGTSTP);
  sigprocmask (SIG_SETMASK, &old_mask, NULL);
  sigaction (SIGTSTP, &old_action, NULL);
}

void
stop_with_command (pid_t child, bool has_group)
{
  bool group = child > 0 && has_group;
  if (group)
    signal_command (child, has_group, SIGTSTP);
  stop_as_default ();
  if (group)
    signal_command (child, has_group, SIGCONT);
}

void
report_terminal_stop (int wait_status)
{
  if (!WIFSTOPPED (wait_status))
    return;
  int sig = WSTOPSIG (wait_status);
  if (sig != SIGTTIN && sig != SIGTTOU)
    return;
  char const *use = sig == SIGTTIN ? "read from" : "write to";
  /* --foreground helps only if we are in the terminal's foreground.  */
  if (tcgetpgrp (STDERR_FILENO) == getpgrp ())
    error (0, 0, "the command is stopped: in a process group of its own, "
           "it may not %s the terminal (--foreground lets it)", use);
  else
    error (0, 0, "the command is stopped: it may not %s the terminal "
           "from the background", use);
}

void
raise_default (int sig)
{
  signal (sig, SIG_DFL);
  sigset_t set;
  sigemptyset (&set);
  sigaddset (&set, sig);
  sigprocmask (SIG_UNBLOCK, &set, NULL);
  raise (sig);
}

/* SIGPIPE, ignored by ignore_pipe_signal though not by our caller.  */
static bool pipe_signal_ours_ignored;

void
ignore_pipe_signal (void)
{
  struct sigaction ignore;
  memset (&ignore, 0, sizeof ignore);
  ignore.sa_handler = SIG_IGN;
  sigemptyset (&ignore.sa_mask);
  pipe_signal_ours_ignored = !set_action_unless_ignored (SIGPIPE, &ignore);
}

bool
pipe_signal_ignored_by_us (void)
{
  return pipe_signal_ours_ignored;
}

/* Make sure that a signal that kills us dumps no core.  Return false
   if it cannot be made sure.  */
static bool
disable_core_dumps (void)
{
  /* A core_pattern that pipes to a program ignores RLIMIT_CORE; an
     undumpable process dumps nothing at all.  */
  if (prctl (PR_SET_DUMPABLE, 0) == 0)
    return true;
  struct rlimit none = { 0, 0 };
  return setrlimit (RLIMIT_CORE, &none) == 0;
}

void
die_of_signal (int sig)
{
  raise_default (sig);
  /* SIG's default action is to ignore it.  */
  exit (128 + sig);
}

void
exit_as_killed_by (int sig)
{
  if (disable_core_dumps ())
    die_of_signal (sig);
  exit (128 + sig);
}

ssize_t
read_small (int fd, char *buf, size_t size)
{
  size_t n = full_read (fd, buf, size - 1);
  if (n < size - 1 && errno != 0)
    return -1;
  buf[n] = '\0';
  return n;
}

ssize_t
read_small_file (char const *file, char *buf, size_t size)
{
  int fd = open (file, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = read_small (fd, buf, size);
  int saved_errno = errno;
  close (fd);
  errno = saved_errno;
  return n;
}

bool
has_trailing_slash (char const *path)
{
  size_t len = strlen (path);
  return len > 0 && path[len - 1] == '/';
}

size_t
name_cut_length (char const *name, size_t max)
{
  size_t len = strlen (name);
  if (len <= max)
    return len;
  /* Back to the first byte of the character that would be split: a
     UTF-8 continuation byte is 10xxxxxx, and a character has at most
     three.  */
  size_t cut = max;
  while (cut > 0 && max - cut < 3
         && ((unsigned char) name[cut] & 0xc0) == 0x80)
    cut--;
  /* Cut there if the part kept is valid UTF-8 and a character starts
     there that MAX would split; what follows the cut is not kept, so
     it may be anything.  Bytes up to MAX that are whole characters (a
     stray continuation byte at MAX) are kept.  */
  bool at_character = (((unsigned char) name[cut] & 0xc0) != 0x80
                       && !u8_check ((uint8_t const *) name, cut));
  bool split = u8_check ((uint8_t const *) name + cut, max - cut) != NULL;
  return at_character && split ? cut : max;
}

mode_t
xparse_mode (char const *spec)
{
  struct mode_change *change = mode_compile (spec);
  if (!change)
    usage_error ("invalid mode %s", quote (spec));
  mode_t umask_value = umask (0);
  umask (umask_value);
  mode_t mode = mode_adjust (S_IRUSR | S_IWUSR | S_IRGRP | S_IWGRP
                             | S_IROTH | S_IWOTH,
                             false, umask_value, change, NULL);
  free (change);
  return mode;
}

static int adopt (struct temp_name *temp, int dirfd, char const *name,
                  enum temp_kind kind, bool lazy);

int
temp_adopt (struct temp_name *temp, int dirfd, char const *name,
            enum temp_kind kind)
{
  return adopt (temp, dirfd, name, kind, false);
}

int
temp_adopt_lazily (struct temp_name *temp, int dirfd, char const *name,
                   enum temp_kind kind)
{
  return adopt (temp, dirfd, name, kind, true);
}

static int
adopt (struct temp_name *temp, int dirfd, char const *name,
       enum temp_kind kind, bool lazy)
{
  temp->dirfd = dirfd;
  temp->slot = -1;
  if (strlen (name) >= sizeof temp->name)
    {
      errno = ENAMETOOLONG;
      return -1;
    }
  strcpy (temp->name, name);
  block_cleanup_signals ();
  int slot;
  for (slot = 0; slot < CLEANUP_SLOTS; slot++)
    if (!cleanup_table[slot].in_use)
      break;
  if (slot < CLEANUP_SLOTS)
    {
      register_temp (temp, slot, kind);
      cleanup_table[slot].lazy = lazy;
    }
  unblock_cleanup_signals ();
  if (slot == CLEANUP_SLOTS)
    {
      errno = EMFILE;
      return -1;
    }
  return 0;
}

DIR *
opendir_at (int dirfd, char const *name, int *fd)
{
  *fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (*fd < 0)
    return NULL;
  int dup_fd = fcntl (*fd, F_DUPFD_CLOEXEC, 0);
  DIR *dir = dup_fd < 0 ? NULL : fdopendir (dup_fd);
  if (!dir)
    {
      int saved_errno = errno;
      if (dup_fd >= 0)
        close (dup_fd);
      close (*fd);
      *fd = -1;
      errno = saved_errno;
    }
  return dir;
}

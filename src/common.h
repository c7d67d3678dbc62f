/* common.h -- what every atomicutils tool shares.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

#ifndef ATOMICUTILS_COMMON_H
#define ATOMICUTILS_COMMON_H

#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "progname.h"
#include "quote.h"
#include "quotearg.h"

/* Exit statuses shared by every tool (see CONVENTIONS.md).  */
enum
{
  EXIT_DONE = 0,     /* done */
  EXIT_NO = 1,       /* "no": busy, exists, mismatch, timed out */
  EXIT_USAGE = 2,    /* bad option, missing operand, bad duration */
  EXIT_SYSERR = 3    /* a system call failed, or the filesystem cannot
                        keep the promise and the tool refused */
};

#define AUTHORS "The atomicutils authors"

/* The user's LC_CTYPE says which characters of a name quoting may show
   as they are, and whether quotes are curly; nothing else the tools do
   depends on it (messages are in English, numbers read and printed as
   in C).  Loading a UTF-8 locale costs about a tenth of a whole call
   (locale.alias read, LC_CTYPE and the gconv cache mapped), so it is
   loaded only when a name is first quoted: every quoting function used
   in src/ goes through load_ctype_locale first, by these macros (a
   function-like macro does not expand its own name again, so each calls
   gnulib's function of that name).  */
void load_ctype_locale (void);
#define quote(arg) (load_ctype_locale (), quote (arg))
#define quote_n(n, arg) (load_ctype_locale (), quote_n (n, arg))
#define quotearg_style(s, arg) \
  (load_ctype_locale (), quotearg_style (s, arg))
#define quotearg_n_style(n, s, arg) \
  (load_ctype_locale (), quotearg_n_style (n, s, arg))
#define quotearg_n_style_colon(n, s, arg) \
  (load_ctype_locale (), quotearg_n_style_colon (n, s, arg))

/* Quote a file name for a diagnostic, as coreutils does: 'quoteaf'
   always quotes (for "cannot create 'x'"), 'quotef' only when needed
   (for "x: message").  */
#define quoteaf(arg) quotearg_style (shell_escape_always_quoting_style, arg)
#define quoteaf_n(n, arg) \
  quotearg_n_style (n, shell_escape_always_quoting_style, arg)
#define quotef(arg) \
  quotearg_n_style_colon (0, shell_escape_quoting_style, arg)
#define quotef_n(n, arg) \
  quotearg_n_style_colon (n, shell_escape_quoting_style, arg)

/* The --help and --version options, numbered outside the char range so
   they never collide with a short option.  */
enum
{
  GETOPT_HELP_CHAR = (CHAR_MIN - 2),
  GETOPT_VERSION_CHAR = (CHAR_MIN - 3)
};
#define GETOPT_HELP_OPTION_DECL \
  { "help", no_argument, NULL, GETOPT_HELP_CHAR }
#define GETOPT_VERSION_OPTION_DECL \
  { "version", no_argument, NULL, GETOPT_VERSION_CHAR }
#define case_GETOPT_HELP_CHAR \
  case GETOPT_HELP_CHAR: usage (EXIT_SUCCESS); break
#define case_GETOPT_VERSION_CHAR \
  case GETOPT_VERSION_CHAR: print_version (); break

#define HELP_OPTION_DESCRIPTION \
  "      --help        display this help and exit\n"
#define VERSION_OPTION_DESCRIPTION \
  "      --version     output version information and exit\n"

/* Each tool defines this: print help to stdout and exit 0, or the
   "Try ... --help" line to stderr and exit STATUS.  */
_Noreturn void usage (int status);

/* Start a tool: program name, locale, exit status for gnulib's fatal
   errors (3), close_stdout at exit (a write error on standard error,
   unlike one on standard output, changes no status), and removal of
   registered temporary names on every signal that others send and that
   kills by default (SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2,
   SIGALRM, SIGPIPE, SIGXCPU, SIGVTALRM, SIGPROF, SIGPOLL, SIGPWR, the
   real-time signals), unless the caller left it ignored.  Those
   handlers are set only once a temporary outlives a step run with the
   signals blocked (see block_cleanup_signals).  SIGXFSZ is caught and
   does nothing, so a write past RLIMIT_FSIZE fails with EFBIG instead
   of killing the tool silently.  NAME is the tool's fixed name (its
   PROGRAM_NAME): temporary names and --version use it, never argv[0],
   which the caller chooses (exec -a) and can make too long for a file
   name.  Messages keep argv[0], as coreutils' do.  */
void tool_init_named (char const *name, int argc, char **argv);
/* Every tool defines PROGRAM_NAME before its main.  */
#define tool_init(argc, argv) tool_init_named (PROGRAM_NAME, argc, argv)

/* Give signal SIG the action ACT, unless our caller left SIG ignored
   (a nohup'd caller expects it to stay so): then put "ignore" back and
   return true.  Block SIG meanwhile if ACT's handler must not run
   before that.  */
bool set_action_unless_ignored (int sig, struct sigaction const *act);

/* Give every signal of SET the action ACT, as set_action_unless_ignored
   does, with SET blocked meanwhile: none reaches ACT's handler before an
   inherited "ignore" is put back, and putting SIG_IGN back discards any
   that came.  Add each signal left ignored to *LEFT_IGNORED, unless
   LEFT_IGNORED is null.  */
void set_actions_unless_ignored (sigset_t const *set,
                                 struct sigaction const *act,
                                 sigset_t *left_ignored);

/* Give every signal that we catch its default action back
   (those it found ignored stay ignored).  For a child that shares our
   memory until it execs (vfork), with signals blocked: a signal let
   through before the exec must not run our handlers there.  Exec would
   reset them just the same.  Async-signal-safe.  */
void default_tool_signals (void);

/* The tool's fixed name, as given to tool_init; the last component of
   program_name in a program that did not call it.  */
char const *tool_name (void);

/* Print "Try 'TOOL --help' for more information." on stderr.  */
void emit_try_help (void);

/* The status of a usage error: EXIT_USAGE, unless a tool that runs a
   command changes it (lockdir, like timeout(1), uses 125 there).  */
extern int usage_status;

/* Report a usage problem (printf-style), then the "Try" line; exit
   with usage_status.  */
_Noreturn void usage_error (char const *format, ...)
  __attribute__ ((format (printf, 1, 2)));

/* Print the common "Exit status" and bug-report paragraphs of --help.
   EXTRA, if not NULL, is printed after the standard statuses.
   DURATIONS: the tool takes a duration, which a usage error may be.  */
void emit_exit_status_help (char const *extra, bool durations);
void emit_help_footer (void);

_Noreturn void print_version (void);

/* Durations: a decimal number with an optional unit (ms, s, m, h, d;
   seconds by default), "0" for "do not wait", or "inf" for forever.
   An infinite duration has tv_sec == TIME_T_MAX.  A finite duration
   longer than DURATION_MAX_DAYS is refused (errno ERANGE; EINVAL for
   anything else that is not a duration).  */
enum { DURATION_MAX_DAYS = 36500 };
bool parse_duration (char const *str, struct timespec *result);
/* Like parse_duration, but a bad STR is a usage error naming OPTION.  */
struct timespec xparse_duration (char const *str, char const *option);
/* The paragraph of --help that explains DURATION.  */
#define DURATION_HELP \
  "DURATION is a number with an optional unit: ms, s (the default), m, h or\n\
d; 0 means do not wait, 'inf' or 'infinity' means forever;\n\
more than 36500d (100 years) is refused as a usage error.\n"
bool duration_is_infinite (struct timespec duration);
/* DURATION (finite, not negative) divided by DIVISOR (positive): a
   third of a lease, and so on.  */
struct timespec duration_divided (struct timespec duration, int divisor);
/* The infinite duration, which is also the deadline that never passes.  */
extern struct timespec const infinite_duration;
/* DURATION in seconds with milliseconds, "12.345", cut (not rounded)
   to the millisecond, as messages and --json give a duration: written
   into BUF of SIZE bytes (SECONDS_BUFSIZE holds any), and returned.  */
enum { SECONDS_BUFSIZE = 32 };
char *format_seconds (struct timespec duration, char *buf, size_t size);

/* Numbers given to options (a process ID, a size, an exit code): ARG
   must be decimal digits -- no blank, no sign, as in a DURATION: one
   there is more likely a slip in a script than meant -- and then, if
   VALID_SUFFIXES is not "", one of them as xstrtoumax takes them (K,
   M, G...).  Store the number in *VALUE and return true if it is at
   most MAX; otherwise return false.  */
bool parse_number (char const *arg, char const *valid_suffixes,
                   uintmax_t max, uintmax_t *value);
/* The process ID ARG (1 to INT32_MAX, by parse_number); anything else
   is a usage error.  */
pid_t xparse_pid (char const *arg);

/* Monotonic clock deadlines.  */
struct timespec monotonic_now (void);
struct timespec deadline_after (struct timespec duration);
bool deadline_passed (struct timespec deadline);
/* The earlier of two deadlines.  */
struct timespec earlier_deadline (struct timespec a, struct timespec b);
/* Milliseconds until DEADLINE for poll(2): -1 if infinite, 0 if passed,
   rounded up so a wait never ends just short of the deadline.  */
int poll_timeout_ms (struct timespec deadline);

/* An operand split into the directory that holds it and its last
   component.  Every operation is done relative to DIRFD, so a rename of
   the directory's path mid-operation cannot redirect us.  */
struct parent_dir
{
  int fd;             /* the directory, opened O_PATH|O_DIRECTORY */
  char *dir;          /* its name as given ("." for a bare name), or
                         NULL when opened from a descriptor */
  char *shown_dir;    /* opened from a descriptor: its name in
                         messages (never looked up), or NULL */
  char *base;         /* last component, trailing slashes removed */
};
/* Why OPERAND names no entry that a tool could create, lock or
   replace -- "", "/", ".", "..", or a name ending in "/." or "/.." --
   or NULL if it does.  */
char const *operand_problem (char const *operand);
/* Make a problem with OPERAND a usage error naming it (status
   usage_status).  Every tool calls it for each operand that names an
   entry it works on, before doing anything.  */
void check_operand (char const *operand);
/* Does PATH end in a slash (so it must name a directory)?  */
bool has_trailing_slash (char const *path);

/* The length of NAME cut to at most MAX bytes, to make a longer name
   from (or a record's line: copy_one_line).  A NAME whose first MAX
   bytes are valid UTF-8 but for a character they would split is cut
   before that character, whatever the locale: a name's bytes do not
   change with the locale of the call that reads them.  Any other NAME
   is cut in bytes.  */
size_t name_cut_length (char const *name, size_t max);

/* Open the directory holding PATH.  Return false (errno set) if it
   cannot be opened.  PATH with no last component ("/", "") gives
   EINVAL.  */
bool open_parent (char const *path, struct parent_dir *parent);
void close_parent (struct parent_dir *parent);
/* A new descriptor of the directory PARENT's path leads to now (not
   opened from a descriptor), as open_parent opens it, or -1 with
   errno.  */
int open_parent_again (struct parent_dir const *parent);
/* NAME, an entry in PARENT's directory, as a path to show in a
   message: from the current directory, as the operand was given, or
   in SHOWN_DIR for a directory opened from a descriptor ("NAME" alone
   for a bare operand, or a descriptor's directory with no name to
   show).  Free it.  */
char *path_in_parent (struct parent_dir const *parent, char const *name);

/* Has PARENT's directory path come to name another directory, or
   none, since PARENT was opened?  Never for one opened from a
   descriptor.  */
bool parent_moved (struct parent_dir const *parent);

/* If ERRNUM from creating NAME in DIRFD may mean "exists" (EEXIST, or
   the EPERM that sshfs returns for a name another client made), check
   whether NAME now exists.  */
bool creation_error_means_exists (int dirfd, char const *name, int errnum);
/* Whether the directory DIRFD is append-only (chattr +a): a name made
   there can be neither renamed nor removed again.  */
bool dir_append_only (int dirfd);

/* Temporary names.  Each lives in the target's directory, is named
   ".TOOL." and six random characters, is created with O_EXCL (or
   symlink/mkdir, which fail on an existing name), and stays registered
   for removal until it is renamed or linked into place.  Registered
   names are removed by cleanup_temporaries, at exit, and on the
   signals listed at tool_init, by the process that made them only.  */
enum temp_kind { TEMP_FILE, TEMP_SYMLINK, TEMP_DIR };
/* Room for any name: temp_adopt takes names chosen by the user too.  */
#define TEMP_NAME_MAX (NAME_MAX + 1)
struct temp_name
{
  int dirfd;
  char name[TEMP_NAME_MAX];
  int slot;           /* cleanup slot, -1 when not registered */
};
/* Create a temporary of KIND in DIRFD.  For TEMP_FILE return an fd
   opened O_RDWR|O_CLOEXEC with MODE (umask applies); for TEMP_DIR
   created with MODE; for TEMP_SYMLINK pointing at SYMLINK_TARGET.
   Return the fd (TEMP_FILE) or 0, or -1 with errno set.  */
int temp_create (struct temp_name *temp, int dirfd, enum temp_kind kind,
                 mode_t mode, char const *symlink_target);
/* Give the entry NAME in DIRFD a fresh temporary name, with one
   renameat2 (RENAME_NOREPLACE), and register it for removal like a
   temporary (IS_DIR: it is a directory).  Return 0, or -1 with errno
   (EINVAL: the filesystem has no RENAME_NOREPLACE).  */
int temp_rename_from (struct temp_name *temp, int dirfd, char const *name,
                      bool is_dir);
/* Move the temporary file TEMP into the directory DIRFD, under a fresh
   temporary name, with one renameat2 (RENAME_NOREPLACE), and register
   it there.  Return 0, or -1 with errno (EXDEV: another filesystem);
   TEMP is then unchanged.  */
int temp_move (struct temp_name *temp, int dirfd);
/* Remove the temporary (if it still exists) and unregister it.  Return
   false, with errno set, if it exists and could not be removed: it is
   then left where it is, unregistered, under TEMP's name (a retired
   one perhaps as '.NAME': temp_retire_on_removal).  errno is kept
   otherwise.  */
bool temp_remove (struct temp_name *temp);
/* temp_remove, and if TEMP exists and cannot be removed, a warning
   naming it as the user would find it: in PARENT's directory, where
   TEMP is.  The warning changes no exit status: whatever the action
   did stands, and the name left is only reported.  Return what
   temp_remove returns; errno is kept either way.  */
bool temp_remove_warn (struct temp_name *temp,
                       struct parent_dir const *parent);
/* Warn that the temporary NAME in PARENT's directory is left behind:
   it cannot be removed (ERRNUM).  */
void warn_temp_left (struct parent_dir const *parent, char const *name,
                     int errnum);
/* warn_temp_left for the temporary named SHOWN, as the user finds it
   (path_in_parent).  */
void warn_temp_left_shown (char const *shown, int errnum);
/* From now on, remove TEMP (wherever it is removed: temp_remove, exit,
   a signal) as retire_name does.  */
void temp_retire_on_removal (struct temp_name *temp);
/* Remove NAME in DIRFD (not a directory) with a rename first: to '.'
   and NAME, then unlink that.  The rename is what a dnotify watch for
   DN_RENAME sees (dir_notify_open), where the unlink alone would wake
   every watcher of deletions.  A process killed between the two leaves
   '.NAME' behind, for its directory's users to remove.  Return 0, or
   -1 with errno if the name could not be removed: then *HIDDEN_LEFT
   (unless HIDDEN_LEFT is NULL) says whether it is left as '.NAME'
   (else as NAME).  Async-signal-safe.  */
int retire_name (int dirfd, char const *name, bool *hidden_left);
/* From now on, if the cleanup at a signal or at exit cannot remove
   TEMP, say so on stderr as warn_temp_left_shown does, naming TEMP
   SHOWN (as the user finds it; a retired name left as '.NAME' with the
   '.' before SHOWN's last component), the error in English: the
   signal handler cannot translate.  temp_remove and temp_forget end
   this.  */
void temp_warn_if_left (struct temp_name *temp, char const *shown);
/* The temporary's name was renamed away or is otherwise gone: just
   unregister it.  */
void temp_forget (struct temp_name *temp);
/* Remove every registered temporary (async-signal-safe).  */
void cleanup_temporaries (void);

/* Block and unblock the signals that trigger cleanup, around a step
   that must finish together with its registration.  Calls nest: the
   signals are unblocked by the unblock matching the outermost block.  */
void block_cleanup_signals (void);
void unblock_cleanup_signals (void);

/* Is a cleanup signal pending (blocked, and already sent) that would
   end us, or set off the cleanup, once unblocked?  */
bool cleanup_signal_pending (void);
/* The same, but for signal SPARED, which the caller has given a
   handler that ends nothing (safe-append's SIGHUP).  */
bool cleanup_signal_pending_except (int spared);
/* Fill SET with the cleanup signals, those block_cleanup_signals
   blocks.  */
void cleanup_signal_set (sigset_t *set);

/* Durability: fsync the directory DIRFD (may be an O_PATH fd).  */
int fsync_directory (int dirfd);

/* Close standard output now, once all that is to be printed has been
   written to it past stdio: NFS and FUSE report a write that failed
   only when the file is closed, and close_stdout, at exit, could then
   only give status 3, too late to undo what was done.  /dev/null takes
   its place, so that close_stdout finds nothing to report.  Return
   false with errno set if the close failed.  */
bool close_stdout_now (void);

/* Wait for a directory to change.  dnotify on the directory where it is
   available, else inotify; elsewhere (or on filesystems where other
   hosts change the directory, when REMOTE is set) a capped back-off
   poll: 1 ms doubling to 250 ms (1 s when REMOTE).  */
struct dir_watch
{
  int notify_fd;       /* the dnotify watch (dir_notify_open), or -1 */
  int inotify_fd;      /* -1 with dnotify, or in back-off mode */
  char const *name;    /* wake only for changes to this entry, or NULL */
  unsigned int backoff_ms;
  unsigned int cap_ms;
};
/* Watch DIRFD, the directory the caller holds (or -1), through
   /proc/self/fd; DIR, its path (or NULL), only where that cannot be
   done: DIR may lead to another directory by now.  If NAME is not
   NULL, only changes to the entry NAME wake the waiter: a dozen
   waiters on one lock then do not wake each other with their own
   temporary names.  Never fails: falls back to back-off polling.  */
void dir_watch_open (struct dir_watch *watch, char const *dir, int dirfd,
                     char const *name, bool remote);
/* Descriptors besides a directory watch whose readability ends a wait
   (pidfds: a holder's exit, a waiting script's own); -1 for none.  */
struct wait_fds
{
  int fd[2];
};
#define NO_WAIT_FDS ((struct wait_fds) { { -1, -1 } })
/* Sleep until the directory changes (NAME, if given, was created,
   removed or renamed), one of EXTRA becomes readable, or DEADLINE
   passes.  Return 0 if woken by an event, 1 at the deadline, -1 on
   error.  A spurious wake is possible: callers re-check.  */
int dir_watch_wait (struct dir_watch *watch, struct wait_fds extra,
                    struct timespec deadline);
void dir_watch_close (struct dir_watch *watch);

/* Waking on changes in a directory without an inotify instance:
   dnotify (fcntl F_NOTIFY).  Closing an inotify instance waits for an
   RCU grace period while other watches come and go: 4 to 32 ms each,
   measured under lock contention, which delays the next request of
   every process that waited.  A dnotify registration belongs to the
   kernel's single dnotify group, and goes with its descriptor at no
   cost.  It names no entry, only that the directory changed, and says
   so with SIGIO: our handler turns that into a byte on a pipe, which
   poll(2) waits for beside pidfds.

   Start watching the directory DIRFD (any descriptor of it, O_PATH
   too) for the changes DN_EVENTS (DN_DELETE, DN_RENAME...).  Return a
   descriptor to keep while watching and to give to dir_notify_close,
   or -1 with errno (EINVAL: this kernel has no dnotify).  */
int dir_notify_open (int dirfd, unsigned long dn_events);
/* Sleep until DONE (ARG) is true, one of EXTRA is readable, or
   WAKE passes.  DONE is asked first, then after each change in a
   watched directory: so a change after the caller's own look still
   wakes it.  Without DONE, return at the first change since the watch
   was opened or since the last return.  Return 0 for the first two,
   1 at WAKE, -1 with errno.  */
int dir_notify_wait (bool (*done) (void *), void *arg,
                     struct wait_fds extra, struct timespec wake);
/* Stop the watch FD (-1: none).  The last watch closed puts SIGIO's
   action back.  */
void dir_notify_close (int fd);

/* How often, in seconds, a wait in a directory looks whether its path
   still leads to it (parent_moved): a rename of the directory is no
   change inside it, and wakes no watch of it.  */
enum { PARENT_CHECK_INTERVAL = 1 };
/* The next such look, from now.  */
struct timespec parent_check_deadline (void);
/* Wait until NAME no longer exists in PARENT, or DEADLINE passes;
   REMOTE as for dir_watch_open (fs_dir_remote).  Return 0 once it is
   absent, 1 on timeout, 2 once PARENT's path leads elsewhere
   (parent_moved, looked at first, and every PARENT_CHECK_INTERVAL),
   -1 on error (errno).  */
int wait_until_absent (struct parent_dir const *parent, char const *name,
                       bool remote, struct timespec deadline);
/* The same, but end the wait also when NAME names a file other than
   the one whose status is *WAS (replaced in one step, by a rename over
   it).  The caller keeps that file open, so that its inode number
   cannot be given to a new file meanwhile.  */
int wait_until_replaced (struct parent_dir const *parent, char const *name,
                         struct stat const *was, bool remote,
                         struct timespec deadline);

/* Copy STR into BUF of SIZE, as one line: control characters become
   '?', and an overlong string ends in "...".  */
void copy_one_line (char *buf, size_t size, char const *str);

/* The words of ARGV (ending in NULL) joined by spaces, each quoted for
   the shell where it needs to be: a command line as a user would type
   it, for an owner record.  Free it with free.  */
char *shell_words_line (char *const *argv);

/* Append STR to a JSON document being built in OUT, quoted and escaped.  */
void json_put_string (FILE *out, char const *str);

/* The processes a script-form caller of lockdir may be: OWNER_PID
   (--owner-pid) if it is not 0; otherwise our parent, and ourselves,
   since a shell runs the last command of a subshell or of 'sh -c' in
   place of the subshell, without a fork: in
   '( lockdir -n L; ...; lockdir -u L )' the owner recorded by the first
   lockdir is the process the second one runs in.  Return how many were
   stored in PIDS.  */
size_t script_caller_pids (pid_t owner_pid, pid_t pids[2]);

/* lockdir runs COMMAND, the process CHILD, in a process group of its
   own when HAS_GROUP (with --max-runtime, or --etcd, unless
   --foreground), so that the signals that stop it reach every process
   it started.  These are async-signal-safe.  */

/* Send SIG to COMMAND: to its process group, when it has one.  */
void signal_command (pid_t child, bool has_group, int sig);

/* Ask COMMAND to end (--max-runtime, a lost lock): SIGTERM, then
   SIGCONT, since a stopped command would never see the SIGTERM.  */
void terminate_command (pid_t child, bool has_group);

/* Without waiting, take what became of COMMAND, CHILD: return CHILD
   with its wait status in *STATUS once it has exited (reaped), or
   stopped (HAS_GROUP: in a process group of its own); 0 if neither;
   -1 with errno set on failure.  KILL_REST (with HAS_GROUP): if CHILD
   has exited, first send SIGKILL to what is left of its group, and
   set *KILLED.  CHILD is reaped only after that look found it exited:
   until then its pid names its group and no other, so that the signal
   cannot reach a process outside it (a group that emptied could
   otherwise have its id taken by another process's new group), and an
   exit that comes after the look waits for the next one.  */
pid_t reap_command (pid_t child, bool has_group, bool kill_rest,
                    int *status, bool *killed);

/* Has COMMAND, CHILD, exited (a zombie not yet reaped)?  Asked just
   before a signal meant to stop it (--max-runtime, -k): one that has
   exited on its own since the last wait is then neither signalled nor
   said to be stopped; the next wait reaps it.  False if that cannot be
   told.  */
bool command_exited (pid_t child);

/* --verbose: the signals that --max-runtime and -k send to the command
   under LOCK_NAME (to its process group, when HAS_GROUP), said the
   same with and without --etcd.  SIGTERM at MAX_RUNTIME; SIGKILL when
   it still ran KILL_AFTER after that; SIGKILL to its group when it
   exited after the SIGTERM (reap_command's KILL_REST).  */
void report_max_runtime_term (char const *lock_name,
                              struct timespec max_runtime, bool has_group);
void report_kill_after_kill (char const *lock_name,
                             struct timespec kill_after, bool has_group);
void report_exit_after_term (char const *lock_name);

/* SIG came to lockdir: pass it on to COMMAND, unless the terminal sent
   it (FROM_TERMINAL) to our process group, which holds COMMAND too
   when it has no group of its own.  In a group of its own, the
   terminal may have stopped COMMAND (SIGTTIN): follow SIG with
   SIGCONT, or COMMAND would never see it.  */
void pass_signal_on (pid_t child, bool has_group, int sig,
                     bool from_terminal);

/* SIGTSTP (Ctrl-Z) came to lockdir, which blocks it meanwhile: take
   its default action (stop, unless our process group is orphaned),
   and stop COMMAND (CHILD, 0 if none runs yet) with us when it has a
   group of its own, which the terminal's SIGTSTP missed; continue it
   when we are continued.  */
void stop_with_command (pid_t child, bool has_group);

/* If WAIT_STATUS says that a COMMAND in a process group of its own was
   stopped for using the terminal (SIGTTIN, SIGTTOU), say so: it would
   otherwise wait, silently, until something ends it.  */
void report_terminal_stop (int wait_status);

/* Take the default action of signal SIG (restored and unblocked), so
   that a process that caught it dies of it.  Async-signal-safe.  */
void raise_default (int sig);

/* Ignore SIGPIPE where a tool does its work, not where it prints a
   report (--help, --check-fs, lockdir --status): it can then only come
   from a message into a pipe whose reader has gone ('2>&1 | head -1'),
   or from output the tool checks itself, and must change no status,
   nor kill us half way: after lockdir's lock is taken and before
   COMMAND runs, or while it runs; before excl-create's later FILEs;
   or with atomic-swap's 1, "nothing changed", as status.  A caller's
   "ignore" is kept.  */
void ignore_pipe_signal (void);

/* Did ignore_pipe_signal ignore SIGPIPE where our caller had not?
   COMMAND must then get it back, at its default.  */
bool pipe_signal_ignored_by_us (void);

/* Die of signal SIG, caught, as we would have without catching it;
   exit 128+SIG where its default action is to ignore it.  */
_Noreturn void die_of_signal (int sig);

/* COMMAND, run by lockdir, died of signal SIG, and its lock is
   released: die of SIG too, as timeout(1) does, so that the shell
   that waits for us sees what it would have seen of COMMAND.  (bash
   ends a loop at Ctrl-C only if the command it waited for died of
   SIGINT; one that exits 130 has, for all it knows, handled it.)  The
   shell still reports 128+SIG.  No core dump of ours: that is
   COMMAND's.  Where SIG would not kill us (its default action is to
   ignore it), or our core dump cannot be prevented, exit 128+SIG.  */
_Noreturn void exit_as_killed_by (int sig);

/* Read what the descriptor FD holds, at most SIZE - 1 bytes, into BUF
   and end it with a NUL (a longer file is cut short).  Return the
   length, or -1 with errno.  */
ssize_t read_small (int fd, char *buf, size_t size);

/* read_small on the file FILE (a /proc file, say): open, read, close.  */
ssize_t read_small_file (char const *file, char *buf, size_t size);

/* The mode MODE_SPEC (octal or symbolic, as in chmod) gives a new file,
   starting from a=rw minus the umask; a bad MODE_SPEC is a usage
   error.  */
mode_t xparse_mode (char const *mode_spec);

/* Register NAME, an existing entry of KIND in DIRFD, for removal as a
   temporary is (at exit and on the cleanup signals; files before
   directories, and a directory only if empty) until temp_remove or
   temp_forget: for a name that must not outlive the process, such as a
   queue ticket.  DIRFD must stay open meanwhile.  Return 0, or -1 with
   errno.  */
int temp_adopt (struct temp_name *temp, int dirfd, char const *name,
                enum temp_kind kind);

/* temp_adopt, for a name whose removal by a signal is best effort: the
   signal handlers are installed for it only if a cleanup signal is
   already pending when the cleanup signals are unblocked (one that
   came while they were blocked); one that comes later may find none.
   At exit, and whenever the handlers are installed anyway, it is
   removed as a temporary is.  */
int temp_adopt_lazily (struct temp_name *temp, int dirfd, char const *name,
                       enum temp_kind kind);

/* Open the directory NAME in DIRFD (never following a symbolic link)
   for listing: return a stream reading it, and in *FD a descriptor of
   it for the *at calls; the caller closes both.  NULL with errno (and
   *FD -1) on failure: ENOENT, ENOTDIR, ELOOP for a symbolic link...  */
DIR *opendir_at (int dirfd, char const *name, int *fd);

#endif

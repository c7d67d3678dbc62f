/* dirlock.h -- a lock that is a directory, with its owner recorded inside.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

/* The lock named LOCK is the directory LOCK.  While held exclusively
   it contains exactly one file, LOCK/owner.ID, the owner record of this
   holding (ID is random, unique to each acquisition); while held shared,
   one such record per shared holder, each with mode=shared.  Names
   used:

     LOCK            the lock: a directory holding owner.ID (or several,
                     all shared)
     LOCK/owner.ID   the owner record, "key=value" lines (see below)
     LOCK.last       the record of the last holding that ended, kept
                     for the fencing token (and for the curious)
     LOCK.queue      the waiters' queue, while someone waits (see
                     lockqueue.h; only with dirlock_config.fifo)
     .PROG.RANDOM    a temporary in LOCK's directory (PROG is the
                     program's name), present only for the moment of
                     an attempt, or of raising the token in the owner record

   Acquiring: the directory is built complete under a temporary name
   and renamed to LOCK with one rename(2), which fails while LOCK is a
   non-empty directory.  So a lock appears together with its owner,
   and exactly one of many racers gets it.

   Joining a shared holding: the owner record is written complete under
   a temporary name and renamed into the LOCK directory that was opened
   and found held shared.  If that directory has meanwhile been removed
   (its last holder left), the rename fails with ENOENT and we look
   again; if it was found empty and replaced by an exclusive holder's,
   the rename went to the removed one, and fails the same way.  So an
   exclusive record and a shared one never share a directory: a
   directory only ever gets records of the kind it was created with.

   Ending a holding (release, or breaking a stale lock): remove the
   holding's ticket, if it came through the queue (lockqueue.h), then
   rename LOCK/owner.ID to LOCK.last (a shared holding: unlink it), then
   rmdir LOCK.  The rename names this holding's own ID, so it can succeed
   once, for one process, and never touches a later holding; the rmdir
   removes only an empty directory, and a holding is never empty (it
   fails harmlessly while other shared holders remain).  An empty LOCK
   is a holding that has ended: it counts as free, so the ticket goes
   first, or a free lock would show a waiter that is not there.  A
   holding whose record a crash emptied is ended only by hand, and its
   record first gets the largest token it can have had (see
   fill_empty_record in dirlock.c).

   Owner record keys: id, token, pid, start_time (field 22 of
   /proc/PID/stat), boot_id, pidns, host, uid, acquired (RFC 3339, UTC),
   lease (seconds; absent without a lease), child_pid and
   child_start_time (while a command runs), mode (shared; absent for an
   exclusive holding), command.  The owner file's modification time is
   the lease heartbeat.

   Fencing tokens: each exclusive holding takes LOCK.last's token plus
   one; a shared holding carries LOCK.last's token (the last exclusive
   holding, whose writes it reads) and leaves LOCK.last alone.

   Stale: a lock may be broken when its lease has expired (its
   heartbeat is older than its lease), or when its owner is provably
   dead: the record comes from this host, this boot and this pid
   namespace, and neither the owner (pid with that start time) nor its
   recorded child is alive.

   Nothing here prints, except the break reports asked for with
   dirlock_config.verbose, and dirlock_warn_left_empty.  The caller
   checks the filesystem first: fs_permits (path, dirfd, NULL,
   FS_RENAME_DIR, force, quiet): the lock is a rename, not a mkdir.  */

#ifndef ATOMICUTILS_DIRLOCK_H
#define ATOMICUTILS_DIRLOCK_H

#include <stdbool.h>
#include <limits.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "common.h"
#include "procfacts.h"

enum
{
  DIRLOCK_ID_MAX = 64,         /* longest ID accepted in owner.ID */
  DIRLOCK_HOST_MAX = PROCFACTS_HOST_MAX,
  DIRLOCK_COMMAND_MAX = 2047,  /* longer command lines are cut, "..." */
  /* The longest queue ticket's name (lockqueue.h): 10 or more digits,
     '.', the kind, '.', an ID.  */
  DIRLOCK_TICKET_MAX = 24 + 1 + DIRLOCK_ID_MAX,
  /* The longest lock name: LOCK.last and LOCK.queue must fit in a name
     too.  Longer names are refused with ENAMETOOLONG (except without a
     history or a queue).  */
  DIRLOCK_NAME_MAX = NAME_MAX - 6
};

/* Fencing tokens go from 1 to DIRLOCK_TOKEN_MAX, 2^53 - 1, the largest
   integer every JSON reader holds exactly.  A record whose token is
   absent or not a number in that range has DIRLOCK_TOKEN_NONE.  */
#define DIRLOCK_TOKEN_MAX ((uintmax_t) 9007199254740991)
#define DIRLOCK_TOKEN_NONE UINTMAX_MAX

/* An owner record.  Absent numbers are 0, absent strings empty.  */
struct dirlock_owner
{
  char id[DIRLOCK_ID_MAX + 1];
  uintmax_t token;
  pid_t pid;
  unsigned long long start_time;
  char boot_id[40];
  unsigned long long pidns;
  char host[DIRLOCK_HOST_MAX + 1];
  long long uid;               /* -1 if absent */
  char acquired[48];
  struct timespec lease;       /* 0 when the holding has no lease */
  pid_t child_pid;
  unsigned long long child_start_time;
  char command[DIRLOCK_COMMAND_MAX + 1];
  bool shared;                 /* a shared holding (mode=shared) */
  /* Only in a queue ticket (lockqueue.h) whose waiting process is not
     the owner (the script form: the owner is the script, the waiter
     its lockdir): the waiter, pid and start time.  0 otherwise.  */
  pid_t waiter_pid;
  unsigned long long waiter_start_time;
  /* Only in a queue ticket: its name in the queue (not stored), as
     lockqueue.h describes it; "" otherwise.  */
  char ticket[DIRLOCK_TICKET_MAX + 1];
  struct timespec heartbeat;   /* the owner file's mtime (not stored) */
  uid_t file_uid;              /* the owner file's owner (not stored) */
  /* The owner file is empty: no bytes, or zero bytes (not stored).  A
     record is complete before its name appears, so an empty one is a
     record whose data had not reached the disk when its system crashed
     (ext4 and xfs write a file's data up to 30 s after its name, and
     ext4 can leave the size without the data), or, on a network
     filesystem, one that its writer's host has not sent yet.  */
  bool empty;
  /* Why it is stale, or NULL, as judged once by its reader (not
     stored): dirlock_read_queue judges each ticket; lockdir --status
     each holder.  */
  char const *stale;
};

/* All the holders of a lock: one exclusive, or any number of shared.  */
struct dirlock_holders
{
  size_t count;
  size_t alloc;                /* allocated elements of OWNER */
  struct dirlock_owner *owner; /* free with dirlock_holders_free */
};

/* The temporaries that could not be removed (each named as the user
   finds it, with the errno of its removal), kept so that the warning
   comes after the caller's own message: dirlock_warn_temps_left.
   Zero-initialised: none.  */
struct dirlock_temps_left
{
  size_t count;
  size_t alloc;                /* allocated elements of TEMP */
  struct dirlock_temp_left
  {
    char *shown;
    int errnum;
    bool unread_queue;         /* SHOWN is a queue that was not read */
  } *temp;
};

/* LOCK.last as read when acquiring: kept open until the token is
   settled (see dirlock.c).  */
struct kept_history
{
  int fd;                      /* -1: none (LOCK.last was absent) */
  dev_t dev;
  ino_t ino;
};

/* A lock held by this process.  */
struct dirlock
{
  struct parent_dir parent;    /* LOCK's directory, and LOCK's name */
  int lock_fd;                 /* our holding's directory */
  int owner_fd;                /* our owner file (its mtime: heartbeat) */
  struct dirlock_owner self;   /* what our owner file says */
  bool history;                /* keeps LOCK.last (see dirlock_config) */
  mode_t dir_mode;             /* the mode of LOCK while we hold it */
  struct kept_history last;    /* while acquiring */
  /* The inotify instances the wait used (where dnotify failed), closed
     once the holding ends: closing one waits for an RCU grace period,
     milliseconds that would otherwise be spent holding the lock.  -1 if
     none.  */
  int spent_fds[2];
  /* Our record and our holding's directory, registered for removal
     like temporaries (temp_adopt) from the moment the holding is made
     until it is released or handed over: a signal or an exit before
     then ends it, as the caller was never told it holds the lock.  */
  struct temp_name held_record, held_dir;
  /* The owner is another process (a script): see adopt_holding.  */
  bool owner_is_other;
  /* adopt_holding blocked the cleanup signals, until forget_holding.  */
  bool signals_held;
  /* Set by dirlock_release: the errno of the rmdir that could not
     remove our empty directory, which is then left for the next caller
     to take (an empty LOCK is free); 0 if it was removed, or was not
     ours to remove any more.  Set too by an acquisition that failed
     (returned -1) after finding LOCK empty (a holding ended, perhaps
     the stale one it ended) and unable to remove it: LOCK stays so.  */
  int dir_left_errno;
  /* Set by an acquisition that failed with EDEADLK: the pid of the
     holding that is the owner's already (the owner's own, or that of
     the lockdir whose COMMAND the owner is).  */
  pid_t held_by_pid;
  /* The temporaries that an acquisition could not remove (a lost race,
     a record that could not be written): the caller reports them with
     dirlock_warn_temps_left after its own message, whatever the
     acquisition returned (those kept before it sleeps to wait, it
     says before sleeping: a signal may end it there).  */
  struct dirlock_temps_left temps_left;
};

/* How to acquire, beyond the minimum.  Zero-initialise, then set.  */
struct dirlock_config
{
  pid_t owner_pid;             /* 0: this process */
  char const *command;         /* NULL: the owner's own command line */
  struct timespec lease;       /* 0 or infinite: no lease */
  bool verbose;                /* report each stale lock broken (stderr) */
  /* The lock as reports name it, if not as given: dirlock_acquire_at's
     NAME alone does not say in which directory the user finds it.  */
  char const *shown;
  /* Keep no LOCK.last: a released lock leaves nothing behind, and the
     token is always 1.  Every user of such a lock must set this.  */
  bool no_history;
  /* A shared holding: together with other shared holders, never with
     an exclusive one.  */
  bool shared;
  /* Wait in the queue (lockqueue.h): first come, first served.  Without
     it, every waiter tries at every release, and the fastest wins.  */
  bool fifo;
  /* If not NULL, called when the acquirer starts waiting, and again
     whenever the holding it waits for is another one, with the
     holder's record and WAITING_ARG.  */
  void (*waiting) (struct dirlock_owner const *holder, void *waiting_arg);
  void *waiting_arg;
};

/* Acquire the lock named PATH for this process (owner = getpid()),
   waiting until DEADLINE (a monotonic deadline from deadline_after() in
   common.h: infinite waits forever, an already-passed one tries once).
   Stale locks whose owner is provably dead are broken safely.
   Return 0 when held, 1 when still busy at the deadline, -1 on error
   with errno set (ENOTDIR or ENOTEMPTY: PATH exists and is not a
   lock; EDEADLK: the owner already holds it, or the holder's child is
   the owner, so waiting would never end, LOCK->held_by_pid the
   holder's pid; EOWNERDEAD: the owner, another process, exited while
   we waited).  Prints nothing.  */
int dirlock_acquire (struct dirlock *lock, char const *path,
                     struct timespec deadline);

/* dirlock_acquire with an owner, command line, lease and verbosity.  */
int dirlock_acquire_with (struct dirlock *lock, char const *path,
                          struct timespec deadline,
                          struct dirlock_config const *config);

/* dirlock_acquire_with for the lock NAME (a single name, no '/') in the
   directory DIRFD, which may be an O_PATH descriptor.  The directory is
   never looked up by path again, so a path repointed meanwhile cannot
   make two callers lock in two directories.  */
int dirlock_acquire_at (struct dirlock *lock, int dirfd, char const *name,
                        struct timespec deadline,
                        struct dirlock_config const *config);

/* Release a lock this process acquired.  Return 0, or -1 with errno
   (ESTALE: the lock had been broken by someone else meanwhile).  On 0,
   LOCK->dir_left_errno says whether LOCK's empty directory stayed.
   Whatever it returns, a queue ticket it could not remove is added to
   LOCK->temps_left, for the caller to warn of after its own message
   (dirlock_warn_temps_left).  */
int dirlock_release (struct dirlock *lock);

/* After a release that ended the holding (dirlock_release or
   dirlock_release_for returned 0) with DIR_LEFT_ERRNO set (not 0): the
   lock's empty directory stayed.  Warn on stderr, naming the lock as
   SHOWN, and that the next RECOVERER ("lockdir", "--expect call") on
   FILE recovers it -- even with -q: every tool says each name it leaves
   behind.  */
void dirlock_warn_left_empty (int dir_left_errno, char const *shown,
                              char const *recoverer, char const *file);

/* Keep in LEFT that the temporary NAME in PARENT's directory could not
   be removed (ERRNUM), to be reported after the caller's message.  */
void dirlock_keep_temp_left (struct dirlock_temps_left *left,
                             struct parent_dir const *parent,
                             char const *name, int errnum);

/* The queue QNAME in PARENT's directory could not be read (ERRNUM)
   to remove a holding's ticket, which then stays: warn of it after
   the caller's message (kept in LEFT, once however many holdings
   ended), or at once if LEFT is NULL.  */
void dirlock_warn_queue_unread (struct dirlock_temps_left *left,
                                struct parent_dir const *parent,
                                char const *qname, int errnum);

/* Warn on stderr, with warn_temp_left, of each temporary in LEFT,
   once, and empty LEFT.  Even with -q: every tool says each name it
   leaves behind.  Keeps errno.  */
void dirlock_warn_temps_left (struct dirlock_temps_left *left);

/* Forget a held lock without releasing it (its owner is another
   process, which keeps it): close what LOCK holds open.  */
void dirlock_detach (struct dirlock *lock);

/* From now on a signal or an exit does not end our holding (see
   held_record): a command runs on its behalf (dirlock_add_child), and
   the holding lasts as long as that command, even if we die.  */
void dirlock_keep (struct dirlock *lock);

/* Name CHILD_PID, started at CHILD_START_TIME, in our owner record as
   the process running on the owner's behalf (lockdir's COMMAND): while
   it lives, the lock is not stale even if the owner has died.  Appends
   to the record in one write; async-signal-safe, for a vfork child
   that names itself before it execs.  Return 0, or -1 with errno.  */
int dirlock_add_child (struct dirlock const *lock, pid_t child_pid,
                       unsigned long long child_start_time);

/* Refresh the lease heartbeat.  Return 0; 1 if the lease had run out
   since the last beat (a breaker may have judged it stale meanwhile),
   with *OVERDUE set to how long before the refresh it ran out; or -1
   with errno (ESTALE: the lock was broken meanwhile).  */
int dirlock_heartbeat (struct dirlock *lock, struct timespec *overdue);

/* Read the owner of the lock PATH into *OWNER (of a shared holding,
   one of them).  Return 0 if held, 1 if free, -1 on error (ENOTDIR,
   ENOTEMPTY: PATH is not a lock).  */
int dirlock_read (char const *path, struct dirlock_owner *owner);

/* Read every holder of the lock PATH into *HOLDERS (zero-initialise it
   before the first use).  Return as dirlock_read.  */
int dirlock_read_holders (char const *path, struct dirlock_holders *holders);

void dirlock_holders_free (struct dirlock_holders *holders);

/* Is the holding ID one of HOLDERS?  */
bool dirlock_holders_include (struct dirlock_holders const *holders,
                              char const *id);

/* The waiters queued for the lock PATH, in order (their records as in
   lockqueue.h: 'acquired' is when they queued, 'stale' whether
   each is dead), without the tickets of holders, in *WAITERS (free it)
   and their number in *COUNT.  Return 0, or -1 with errno.  */
int dirlock_read_queue (char const *path, struct dirlock_owner **waiters,
                        size_t *count);

/* Why OWNER's lock may be broken now ("its owner is dead", "its lease
   expired"), or NULL if it may not.  From the same judgement, unless
   KEPT_BY_COMMAND is NULL, set *KEPT_BY_COMMAND to whether the holding
   is kept only by its COMMAND: a holding of this system whose owner (a
   lockdir killed with SIGKILL) is dead, and whose command runs on.  */
char const *dirlock_stale_reason (struct dirlock_owner const *owner,
                                  bool *kept_by_command);


/* End whatever holding the lock PATH has, whoever its owner (of
   several shared holders, all), and put the record of every holding
   ended in *ENDED.  Return 0 if a holding was ended, 1 if the lock was
   free, -1 on error: then *ENDED has the holdings ended before it (of
   shared holders, some can be), or, if the caller may not end one of
   them, none, and *REFUSED its record, with errno EPERM (only root,
   the user who wrote the record and the owner of LOCK's directory may
   end another user's holding); *REFUSED's id is empty otherwise.
   *DIR_LEFT_ERRNO is set as dirlock_release sets LOCK->dir_left_errno,
   by the last holding ended.  The temporaries it could not remove are
   added to *TEMPS_LEFT (dirlock_warn_temps_left).  */
int dirlock_break_holders (char const *path, struct dirlock_holders *ended,
                           struct dirlock_owner *refused,
                           int *dir_left_errno,
                           struct dirlock_temps_left *temps_left);

/* Release the lock PATH on behalf of a caller: only if one of the
   N_PIDS processes PIDS owns it (of shared holders, the first found
   that one of them owns), and the caller may end it by hand (as with
   dirlock_break_holders).  Return 0 if released, 1 if the lock was
   free, 2 if another process holds it, 3 if it is held for one of PIDS
   but belongs to a user the caller may not act for (*OWNER says who),
   -1 on error.  On 0, *DIR_LEFT_ERRNO is as dirlock_release sets
   LOCK->dir_left_errno.  Whatever it returns, the temporaries it could
   not remove (the holding's queue ticket) are added to *TEMPS_LEFT
   (dirlock_warn_temps_left).  */
int dirlock_release_for (char const *path, pid_t const *pids,
                         size_t n_pids, struct dirlock_owner *owner,
                         int *dir_left_errno,
                         struct dirlock_temps_left *temps_left);

/* Refresh the lease heartbeat of the lock PATH on behalf of a caller,
   with the same checks and return values as dirlock_release_for, and
   4 if that holding's lease has run out already (it may have been
   broken since, or be broken after a refresh): *OWNER is then that
   holding, and nothing is changed.  */
int dirlock_renew_for (char const *path, pid_t const *pids, size_t n_pids,
                       struct dirlock_owner *owner);

/* When OWNER's holding began (its "acquired" field), into *WHEN.
   Return false if the record does not say.  */
bool dirlock_acquired_time (struct dirlock_owner const *owner,
                            struct timespec *when);

/* Call EACH (NAME, ERRNUM, ARG) for every lock in the directory DIR,
   in the order of the names: every directory that is not a temporary
   of the suite (the lock may be held, free, or not a lock at all:
   dirlock_read tells), and every free lock that left only its history
   NAME.last.  ERRNUM is 0, or the errno of a failed read of NAME, a
   directory named like a queue that might be a lock (EIO; EACCES
   where neither a lock nor the history of one has the name it would be
   the queue of).  Return 0, or -1 with errno.  */
int dirlock_list (char const *dir,
                  void (*each) (char const *name, int errnum, void *arg),
                  void *arg);

/* After a call failed: if the lock's history LOCK.last was at fault,
   set *FILE to its name (as the caller named LOCK, plus ".last") and
   *PROBLEM to what is wrong with it ("is not a regular file", "holds no
   valid fencing token", ...), or to NULL if errno says it (a read
   error), and return true.  LOCK.last is unusable when it is not a
   regular file, when in a sticky directory it belongs to a user other
   than the caller, root and the directory's owner (it may have been
   planted), or when its token is invalid or the largest there is.
   Acquiring then fails with errno EINVAL; ending a holding never does
   (the record replaces LOCK.last where it may, or is deleted).
   After dirlock_read_queue failed to read the queue or a ticket
   (EACCES, EIO), *FILE is it, LOCK.queue or LOCK.queue/TICKET as the
   caller named LOCK, and *PROBLEM NULL.  */
bool dirlock_fault (char const **file, char const **problem);

/* After dirlock_fault named an unusable LOCK.last: true if the caller
   may not remove it (nor dirlock_reset_history), as it is in a sticky
   directory, where only its owner, root and the directory's owner,
   *DIR_UID, may.  */
bool dirlock_fault_others_remove (uid_t *dir_uid);

/* After an acquisition failed because its queue could not be made, or
   a ticket put in it (EACCES, ENOSPC): true, and dirlock_fault names
   the queue.  */
bool dirlock_fault_unwritable (void);

/* After a call failed (EINVAL): if an owner record of the lock is not
   a regular file (a FIFO, say, which is not read, so as not to block),
   return its name in the lock's directory ("owner.ID"); else NULL.  */
char const *dirlock_bad_record (void);

/* If the lock PATH's history LOCK.last is unusable, remove it: the
   fencing tokens start again from 1.  Return 1 if removed (dirlock_fault
   says what it was), 0 if it was usable or absent, -1 on error.  */
int dirlock_reset_history (char const *path);

/* WHEN (CLOCK_REALTIME) as RFC 3339 local time, to the millisecond.  */
void dirlock_format_time (struct timespec when, char *buf, size_t size);

/* Now, as RFC 3339 UTC time to the millisecond: the "acquired" stamp of
   an owner record or a ticket (UTC needs no time zone files).  */
void dirlock_stamp_now (char *buf, size_t size);

/* One field of an owner record, as text.  */
struct dirlock_value
{
  char const *key;             /* "pid", "command", ... */
  bool text;                   /* a string (else a number) */
  bool present;                /* absent: a lease-less lock's "lease" */
  char buf[DIRLOCK_COMMAND_MAX + 1];   /* the value */
};

/* Field number I (from 0) of OWNER's record, in the order of the
   record, into *VALUE.  Return false past the last field.  With OWNER
   NULL, only the key is set: the list of keys.  */
bool dirlock_field (size_t i, struct dirlock_owner const *owner,
                    struct dirlock_value *value);

/* Write OWNER as an owner record ("key=value" lines) to OUT.  */
void dirlock_owner_print (FILE *out, struct dirlock_owner const *owner);
/* dirlock_owner_print for a reader: a pid of 0 (a record that names no
   process, not lockdir's) is left out, as an absent field.  */
void dirlock_owner_show (FILE *out, struct dirlock_owner const *owner);

/* For the queue (lockqueue.c), which keeps records of the same form.  */

/* OWNER as "key=value" lines in BUF of SIZE; return the length.  */
size_t dirlock_format_record (struct dirlock_owner const *owner,
                              char *buf, size_t size);
/* Parse the record TEXT (modified) into *OWNER, cleared first.  */
void dirlock_parse_record (char *text, struct dirlock_owner *owner);
/* Is ID a valid holding ID?  */
bool dirlock_valid_id (char const *id);
/* Does OWNER come from this host, boot and pid namespace?  */
bool dirlock_same_system (struct dirlock_owner const *owner);
/* Does OWNER name this host with another boot: taken before this
   host's last boot, or on another host with the same name?  */
bool dirlock_other_boot (struct dirlock_owner const *owner);
/* Does OWNER carry a (finite) lease, and when, on the monotonic clock,
   does it expire?  */
bool dirlock_has_lease (struct dirlock_owner const *owner);
struct timespec dirlock_lease_expiry (struct dirlock_owner const *owner);
/* Why the queue ticket TICKET of the lock PARENT is dead ("its waiter
   is dead", "it comes from another boot", or as dirlock_stale_reason),
   or NULL if it is not: what lockqueue_turn and --status judge by.  A
   ticket that looks dead but whose ID holds the lock is the holding's
   (its waiter and its heartbeat may be long gone), and is judged as
   the holding is: then *HOLDING (if HOLDING is not NULL) is set, as
   nothing of the ticket's own can be waited on.  PARENT NULL: TICKET
   is known to be a waiter's.  */
char const *dirlock_ticket_stale_reason (struct parent_dir const *parent,
                                         struct dirlock_owner const *ticket,
                                         bool *holding);
/* A pidfd of the process whose exit may end the queue ticket TICKET
   (its waiter, if it names one; else its owner, or the owner's child),
   or -1: with errno ESRCH if it has exited (judge TICKET again), with
   another errno if it cannot be watched (not of this system, or no
   pidfd on this kernel).  */
int dirlock_ticket_exit_fd (struct dirlock_owner const *ticket);

/* True if OWNER's record names process PID of this system (host, boot,
   pid namespace) with PID's current start time: for a lock record kept
   elsewhere (lockdir --etcd).  */
bool dirlock_owned_by (struct dirlock_owner const *owner, pid_t pid);
/* True if OWNER's record names process PID of this system, with PID's
   current start time, as the COMMAND its lockdir runs.  */
bool dirlock_command_is (struct dirlock_owner const *owner, pid_t pid);
/* True if OWNER's holding is one that a caller who names itself by
   the N_PIDS processes PIDS (script_caller_pids) may release or renew:
   one of them owns it, and this process is not its COMMAND.  For the
   local locks and those in etcd alike.  */
bool dirlock_caller_owns (struct dirlock_owner const *owner,
                          pid_t const *pids, size_t n_pids);
/* If OWNER's record names one of the N_PIDS processes PIDS as its
   COMMAND (dirlock_command_is), say that it cannot DOING ("release",
   "renew") the lock SHOWN, which is held for it until it exits, and
   return true; else say nothing and return false.  For the local
   locks and those in etcd alike.  */
bool dirlock_report_held_for_command (char const *shown, char const *doing,
                                      struct dirlock_owner const *owner,
                                      pid_t const *pids, size_t n_pids);

#endif

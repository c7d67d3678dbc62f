/* lockqueue.h -- the queue in front of a dirlock: first come, first
   served, with shared and exclusive requests in one line.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

/* The protocol.  Exclusion itself is the lock's (dirlock.h): nothing
   here can ever let two holders in where the lock would not.  The
   queue only decides who *tries* when, and who sleeps on what.

     LOCK.queue            the queue: a directory beside LOCK that exists
                           while someone queues
     LOCK.queue/N.K.ID     a ticket: a symbolic link whose target is the
                           waiter's record ("key=value" lines, as an owner
                           record, plus mode=shared for a shared request;
                           'acquired' is the time it queued; waiter_pid
                           and waiter_start_time when the waiting process
                           is not the owner: the script form's lockdir,
                           waiting for its script).  N is a
                           decimal number (zero-padded to 10 digits), K
                           the kind, x (exclusive) or s (shared), ID the
                           waiter's holding ID (owner.ID once it holds)

   Taking a ticket: mkdir LOCK.queue (EEXIST is fine), read the largest
   N present, and create the symbolic link N+1.K.ID: one symlink(2)
   publishes the ticket complete with its record, so no reader ever
   sees a partial one and no temporary can be left behind.  ENOENT (the
   last waiter just removed the empty queue): start again.  Order is
   (N, ID): if A's ticket existed when B read the queue, B's N is
   larger, so B is behind A; two waiters that read the queue at the
   same moment may get the same N, and their IDs order them, which is
   all "arrival order" can mean for requests that overlapped.  Names
   are never reused (ID is unique per acquisition), so a ticket's name
   always means the same waiter.

   Whose turn: an exclusive request may try for LOCK when no live ticket
   is ahead of its own; a shared one when no live *exclusive* ticket is
   ahead (shared requests in a row go in together).  A request without
   a ticket (the first attempt, -n) compares itself with every ticket:
   so it never barges past a waiter, and a holder that releases and asks
   again at once finds the waiters' tickets and queues behind them.
   While the queue is absent, all this costs one failed lookup.

   A ticket stays while its holder holds the lock, and the one ending
   the holding (release, -u, break) removes it just before the lock
   (which then looks free, and must not show the ticket): so each
   waiter sleeps on exactly one thing, and a release wakes exactly one
   waiter (or, for a run of shared requests, the run):
   - a waiter blocked by a ticket sleeps on the pidfd of the process
     that waits with it: its waiter_pid, else the process its record
     names.  That process's exit is the usual wake-up: a lockdir
     removes its ticket when it releases or gives up, then exits.
     Whoever removes a ticket while its process may live on (-u,
     --break, a stale holding ended, the script form's lockdir giving
     up or killed) *retires* it: renames it to '.' and
     its name, then unlinks that.  Tickets are never renamed otherwise,
     so a dnotify watch of the queue for renames (DN_RENAME) wakes the
     waiters then, and only then; each looks whether the ticket ahead
     is still there.  No inotify instance: closing one costs an RCU
     grace period, milliseconds under contention (common.h,
     dir_notify_open).  Where dnotify fails, or for a ticket whose
     process cannot be watched (another host's, with a lease), the
     waiter watches the ticket alone with inotify IN_DELETE_SELF on the
     symbolic link, as before.  A ticket removed by hand (rm), or by a
     lockdir that does not retire tickets, is noticed only when its
     process exits;
   - a waiter with no live ticket ahead (the holder came without the
     queue, or its ticket is gone) watches LOCK, as every waiter did
     before the queue: dnotify on LOCK's directory for removals and
     renames (inotify where dnotify fails), then a look for the
     holders' records, and the holders' pidfds.
   Where inotify cannot see other hosts' changes (NFS and the like),
   both waits poll with a capped back-off instead; the order is the
   names', so it holds there too.  A retired ticket left behind (its
   remover killed between the rename and the unlink) is removed by
   the next one to read the queue.

   Dead waiters: a ticket is dead when its record comes from this host,
   boot and pid namespace and its process (pid with its start time) or
   its waiter (waiter_pid) is gone, when it comes from another boot of
   this host (a crash or a reboot left it), or when it carries a lease
   and its modification time (the waiter touches it every third of the
   lease) is older than the lease.  The waiter is what a SIGKILL of the
   script form's lockdir leaves behind: a ticket whose owner, the
   script, lives on.  (When the owner dies first, its waiter gives up
   at once, see owner_gone in dirlock.c, and the exit of that waiter
   wakes the one behind.)
   Whoever finds the ticket it is blocked by dead unlinks it, and so does
   a shared request with the shared tickets it passes; of several such,
   exactly one unlink succeeds.  A ticket that looks dead but whose ID
   holds the lock is the holding's (the script form's lockdir exits
   once it holds, so its waiter is dead; a holding's lease is refreshed
   in its owner record, not in the ticket): it is judged as the holding
   is, and stays until the holding ends, while the waiter behind it
   watches LOCK instead (dirlock_ticket_stale_reason).  A waiter that
   gives up (-w expired, SIGINT, SIGTERM, SIGHUP) removes its own ticket
   first, then the queue directory if it is empty (ENOTEMPTY: others
   still wait).  A ticket from another host without a lease is never
   judged: remove it by hand if its waiter is gone.  */

#ifndef ATOMICUTILS_LOCKQUEUE_H
#define ATOMICUTILS_LOCKQUEUE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "common.h"
#include "dirlock.h"

/* The queue of the lock LOCK is LOCK.queue.  */
#define LOCKQUEUE_SUFFIX ".queue"

enum
{
  /* A ticket's name: 10 or more digits, '.', an ID.  */
  LOCKQUEUE_TICKET_MAX = DIRLOCK_TICKET_MAX
};

/* One waiter's place in the queue of a lock.  */
struct lockqueue
{
  struct parent_dir const *parent;   /* LOCK's directory, and LOCK */
  char name[NAME_MAX + 1];           /* "LOCK.queue" */
  struct dirlock_owner const *self;  /* our request (and its record) */
  char ticket[LOCKQUEUE_TICKET_MAX + 1]; /* ours, "" while we have none */
  int ticket_dir_fd;                 /* the queue holding our ticket */
  struct temp_name cleanup;          /* our ticket, removed on signals */
  struct temp_name cleanup_queue;    /* and then the queue, if empty */
  struct timespec next_beat;         /* when to touch our ticket (lease) */
  bool beat_warned;                  /* a failed touch was warned of */
  bool dead_warned;                  /* a dead ticket left, warned of */
  /* After lockqueue_turn said QUEUE_BEHIND: the ticket we wait for.  */
  char ahead[LOCKQUEUE_TICKET_MAX + 1];
  struct dirlock_owner ahead_owner;
  int ahead_dir_fd;                  /* the queue directory holding it */
  int inotify_fd;                    /* for every wait; -1 until the first */
  unsigned int backoff_ms;           /* polling, where inotify is blind */
  /* After lockqueue_turn or lockqueue_enter failed reading the queue
     (EIO): what could not be read, "LOCK.queue" or "LOCK.queue/TICKET";
     else empty.  */
  char unread[NAME_MAX + 1 + LOCKQUEUE_TICKET_MAX + 1];
  /* After lockqueue_enter failed: the queue could not be written (made,
     or a ticket put in it: EACCES, ENOSPC...), and UNREAD names it.  */
  bool unwritable;
};

/* Prepare Q for the lock PARENT (whose base is LOCK) and the request
   SELF (SELF->shared says which kind).  Return false with errno
   ENAMETOOLONG if LOCK.queue is not a valid name.  */
bool lockqueue_init (struct lockqueue *q, struct parent_dir const *parent,
                     struct dirlock_owner const *self);

enum queue_turn { QUEUE_OUR_TURN, QUEUE_BEHIND };

/* Is it our turn to try for the lock?  Removes the dead tickets it
   meets.  Return QUEUE_OUR_TURN, QUEUE_BEHIND (Q->ahead names the
   ticket to wait for), or -1 with errno (Q->unread names what could
   not be read, if that was the failure).  */
int lockqueue_turn (struct lockqueue *q);

/* Take a ticket at the back of the queue.  Return 0, or -1 with errno
   (EOPNOTSUPP: the filesystem has no symbolic links; Q->unread names
   the queue if it could not be read, or written: Q->unwritable).  */
int lockqueue_enter (struct lockqueue *q);

/* True once we hold a ticket.  */
bool lockqueue_queued (struct lockqueue const *q);

/* Sleep until the ticket Q->ahead goes away or its waiter dies, our own
   ticket's heartbeat is due, OWNER_FD (the pidfd of the script we wait
   for, or -1) is readable, or DEADLINE passes.  REMOTE: other hosts
   share the directory, so poll.  Return 0 when something may have
   changed, 1 at DEADLINE, -1 on error.  */
int lockqueue_wait (struct lockqueue *q, bool remote, int owner_fd,
                    struct timespec deadline);

/* When our ticket's heartbeat is next due (infinite without a lease).  */
struct timespec lockqueue_beat_due (struct lockqueue const *q);

/* We got the lock: our ticket now stays with the holding, and whoever
   ends the holding removes it (lockqueue_remove_holding).  */
void lockqueue_keep (struct lockqueue *q);

/* We gave up: remove our ticket, and the queue if it is now empty.  A
   ticket that cannot be removed is added to LEFT
   (dirlock_warn_temps_left).  */
void lockqueue_leave (struct lockqueue *q, struct dirlock_temps_left *left);

/* Take over Q's inotify instance (-1 if none): the caller closes it
   once that costs nobody time (closing one waits for an RCU grace
   period, milliseconds).  */
int lockqueue_take_inotify_fd (struct lockqueue *q);

/* Close what Q holds open.  */
void lockqueue_close (struct lockqueue *q);

/* The holding ID of the lock PARENT is ending: remove its ticket, if it
   has one, and the queue if it is now empty.  RETIRE: the ticket's
   waiter may live on, so retire the ticket (rename, then unlink); only
   a holding's own process, which exits next, may leave it out.  A
   ticket that cannot be removed, or a queue that cannot be read
   (dirlock_warn_queue_unread), is added to LEFT
   (dirlock_warn_temps_left), or if LEFT is NULL named in a warning on
   stderr at once.  */
void lockqueue_remove_holding (struct parent_dir const *parent,
                               char const *id, bool retire,
                               struct dirlock_temps_left *left);

/* The tickets in the queue of the lock PARENT, in order, each with its
   record (heartbeat: the ticket's modification time), in *TICKETS
   (free it) and their number in *COUNT.  A ticket gone meanwhile, or
   not a symbolic link, is left out.  Return 0, or -1 with errno; if
   the queue, or a ticket, could not be read (EACCES, EIO), its name in
   PARENT's directory ("LOCK.queue" or "LOCK.queue/TICKET") is in
   UNREAD (of UNREAD_SIZE bytes), else UNREAD is "".  */
int lockqueue_list (struct parent_dir const *parent,
                    struct dirlock_owner **tickets, size_t *count,
                    char *unread, size_t unread_size);

#endif

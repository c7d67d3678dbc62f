/* etcdlock.h -- a FIFO lock in etcd, with its owner record as the value.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

/* The lock NAME is the set of keys NAME/ID, where ID is the lease ID of
   each holder or waiter in hexadecimal -- the keys of etcd's own lock
   recipe (clientv3/concurrency, 'etcdctl lock NAME'), so the two
   exclude each other.  Keys under NAME/ of any other form (another
   lock, NAME/sub/...) are not part of it.

   Queueing: a client grants itself a lease, then puts its key with the
   lease, in a transaction that creates it only if absent.  The key's
   create revision is its place in the queue.  The holder is the key
   with the lowest create revision; every other waits, watching only
   the key just before its own (from the revision it last looked at),
   and looks again when that key is deleted (or its record rewritten:
   it may now name the waiter as its COMMAND): no herd, and waiters are
   served in the order they queued.

   The value of a key is an owner record, in the format of dirlock's
   (key=value lines, dirlock_owner_print).  The token of a holding is
   its key's create revision: etcd's revisions only grow, and the
   holder always has the lowest create revision of the queue, so each
   holder's token is larger than every earlier holder's.

   Liveness: the lease is kept alive every third of its TTL.  After a
   keep-alive sent at time T is answered, the lease cannot expire on
   the server before T + TTL; etcd_lock.alive_until is that moment on
   our monotonic clock.  A holder that cannot renew must stop relying
   on the lock before then.  When a lease expires or is revoked, etcd
   deletes its key, which wakes the next waiter.

   Before a holder is told that it holds the lock, its key is checked
   to still exist with its create revision, in the same read that shows
   nothing ahead of it, and its lease to live on beyond the safety
   margin (else it is renewed and the key read again): a lock must
   never be granted on a lease that expired meanwhile (etcd issue
   11456, found by Jepsen).  */

#ifndef ATOMICUTILS_ETCDLOCK_H
#define ATOMICUTILS_ETCDLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "dirlock.h"
#include "etcdclient.h"

enum etcd_lock_status
{
  ETCD_LOCK_HELD,         /* done: we hold it (or: the call succeeded) */
  ETCD_LOCK_BUSY,         /* the deadline passed while waiting */
  ETCD_LOCK_LOST,         /* our key or lease is gone */
  ETCD_LOCK_SELF,         /* the one ahead of us is our own owner */
  ETCD_LOCK_ERROR,        /* etcd failed: etcd_error () says how */
  ETCD_LOCK_INTERRUPTED   /* the client's interrupt hook stopped a call */
};

/* A place in the queue of a lock.  */
struct etcd_lock
{
  struct etcd_client *client;
  char *prefix;                 /* "NAME/" */
  char *key;                    /* "NAME/ID" */
  int64_t lease;                /* lease ID */
  struct timespec ttl;          /* the lease's TTL */
  int64_t revision;             /* the key's create revision */
  bool key_seen;                /* the last look at the queue saw it */
  struct timespec alive_until;  /* the lease lives at least until then
                                   (monotonic clock) */
  struct timespec wait_end;     /* while waiting: the end of the wait
                                   (see etcd_lock_deadline), else
                                   infinite_duration */
  struct dirlock_owner self;    /* our record */
};

/* A key of the queue, as etcd_lock_list finds it.  */
struct etcd_waiter
{
  char *key;
  int64_t lease;
  int64_t revision;             /* create revision: the place, the token */
  struct dirlock_owner owner;   /* its record, token = revision */
};

/* Join the queue of lock NAME with record SELF (whose id is set to the
   lease ID), on a new lease of TTL, for a wait that ends at WAIT_END
   (infinite_duration: none): no call outlasts it by more than a
   second, or, with several endpoints, by time to pass over one that
   does not answer too.  *FIRST tells whether we already hold it.
   Return ETCD_LOCK_HELD when queued.  */
enum etcd_lock_status etcd_lock_enqueue (struct etcd_lock *lock,
                                         struct etcd_client *client,
                                         char const *name,
                                         struct timespec ttl,
                                         struct dirlock_owner const *self,
                                         struct timespec wait_end,
                                         bool *first);

/* Wait, keeping the lease alive, until no key of the queue is ahead of
   ours (ETCD_LOCK_HELD), or DEADLINE passes (ETCD_LOCK_BUSY, or
   ETCD_LOCK_ERROR if etcd did not answer the last look at the queue,
   made at DEADLINE: the lock may well be free).  From now until
   etcd_lock_confirm says it is ours, no call for LOCK outlasts DEADLINE
   by more than a second (etcd_lock_deadline).  For ETCD_LOCK_BUSY
   and ETCD_LOCK_SELF, *AHEAD is the record of the key we were waiting
   for.  */
enum etcd_lock_status etcd_lock_wait (struct etcd_lock *lock,
                                      struct timespec deadline,
                                      struct dirlock_owner *ahead);

/* We are first: make sure that our key still exists with its create
   revision, on a lease that lives on.  The read that found nothing
   ahead of us (enqueue or wait) showed our key too; unless the lease
   may expire within the safety margin, that is enough, else the lease
   is renewed and the key read again.  Return ETCD_LOCK_HELD if it is
   ours, with the token and the time of acquisition set in LOCK->self
   (for etcd_lock_rewrite to publish).  */
enum etcd_lock_status etcd_lock_confirm (struct etcd_lock *lock);

/* Write LOCK->self as our record, only if our key still exists with
   its create revision (ETCD_LOCK_LOST if not).  Give up at DEADLINE.  */
enum etcd_lock_status etcd_lock_rewrite (struct etcd_lock *lock,
                                         struct timespec deadline);

/* Renew the lease once; on success move alive_until on.  Give up at
   DEADLINE.  ETCD_LOCK_LOST: the lease has expired or was revoked.  */
enum etcd_lock_status etcd_lock_keepalive (struct etcd_lock *lock,
                                           struct timespec deadline);

/* Leave the queue (release the lock): revoke the lease, which deletes
   the key (or, for a key without a lease, delete it, if it is still
   the key of LOCK's create revision).  ETCD_LOCK_LOST: it was already
   gone.  Give up at DEADLINE
   (the lease then expires by itself).  */
enum etcd_lock_status etcd_lock_release (struct etcd_lock *lock,
                                         struct timespec deadline);

/* Forget LOCK's memory (not its place in the queue).  */
void etcd_lock_free (struct etcd_lock *lock);

/* Rebuild in LOCK a place found with etcd_lock_list, to keep it alive
   or release it from another process.  */
void etcd_lock_adopt (struct etcd_lock *lock, struct etcd_client *client,
                      char const *name, struct etcd_waiter const *waiter);

/* The queue of lock NAME, holder first: *LIST of *N (free with
   etcd_waiters_free).  Give up at DEADLINE.  */
enum etcd_lock_status etcd_lock_list (struct etcd_client *client,
                                      char const *name,
                                      struct etcd_waiter **list, size_t *n,
                                      struct timespec deadline);
void etcd_waiters_free (struct etcd_waiter *list, size_t n);

/* The time left on lease LEASE: *TTL, or -1 if it has expired.  */
enum etcd_lock_status etcd_lease_left (struct etcd_client *client,
                                       int64_t lease, int64_t *ttl);

/* How long before the lease could expire a holder must stop relying
   on it: a quarter of TTL, at least half a second.  */
struct timespec etcd_lock_margin (struct timespec ttl);

/* How long each call to etcd may take.  */
struct timespec etcd_lock_call_deadline (void);

/* The deadline of a call for LOCK: etcd_lock_call_deadline, but while
   LOCK joins the queue or waits (etcd_lock_enqueue, etcd_lock_wait,
   etcd_lock_confirm, and leaving the queue after the wait failed) no
   later than a second past the end of the wait.  */
struct timespec etcd_lock_deadline (struct etcd_lock const *lock);

/* The same for a call made for a wait that ends at WAIT_END
   (infinite_duration: etcd_lock_call_deadline), such as the one that
   says who holds the lock once the wait is over.  */
struct timespec etcd_wait_call_deadline (struct timespec wait_end);

#endif

/* etcdlock.c -- a FIFO lock in etcd, with its owner record as the value.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

/* See etcdlock.h for the protocol.  The requests, in the gateway's
   JSON (keys and values base64):

     enqueue   POST /v3/lease/grant {"TTL":S}, then one transaction:
               if create_revision(KEY) == 0 then put KEY (with the
               lease), range NAME/ keys only, sorted by create revision
               else range KEY (a retried request that was applied)
     wait      range NAME/ with max_create_revision = ours, sorted by
               create revision, highest first: the first key of the
               lock's form must be ours, the next is the one just
               ahead; watch it (its deletion, or its record's rewrite)
               from the revision of that range
     confirm   nothing, if that read (or the enqueue's) saw our key and
               the lease lives beyond the margin; else keep-alive, then
               range KEY: its create revision must still be ours
     rewrite   if create_revision(KEY) == ours then put KEY (the
               updated record: token, time of acquisition, command)
     release   POST /v3/lease/revoke  */

#include <config.h>

#include "etcdlock.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#include "c-ctype.h"
#include "timespec.h"
#include "xalloc.h"
#include "xvasprintf.h"

/* Each call to etcd may take this long (several endpoints included).  */
enum { CALL_TIMEOUT_S = 5 };

struct timespec
etcd_lock_call_deadline (void)
{
  return deadline_after ((struct timespec) { CALL_TIMEOUT_S, 0 });
}

/* How long past the end of a wait a call may still take: the look at
   the queue made as the wait ends must have time to be answered, or a
   lock still held would read as an etcd that does not answer.  */
static struct timespec const last_look = { 1, 0 };

struct timespec
etcd_wait_call_deadline (struct timespec wait_end)
{
  /* Else a waiter whose etcd fell silent would answer CALL_TIMEOUT_S
     after -w, or twice that (a look at the queue, then leaving it).  */
  struct timespec own = etcd_lock_call_deadline ();
  if (duration_is_infinite (wait_end))
    return own;
  return earlier_deadline (own, timespec_add (wait_end, last_look));
}

struct timespec
etcd_lock_deadline (struct etcd_lock const *lock)
{
  return etcd_wait_call_deadline (lock->wait_end);
}

/* The deadline of a call that joins the queue: etcd_lock_deadline's,
   but where other endpoints can be asked, late enough to pass over
   one that does not answer (the client asks the next after
   etcd_answer_timeout), or with -n a member that hangs would fail
   every attempt that starts with it.  */
static struct timespec
joining_deadline (struct etcd_lock const *lock)
{
  if (duration_is_infinite (lock->wait_end)
      || etcd_endpoint_count (lock->client) == 1)
    return etcd_lock_deadline (lock);
  return etcd_wait_call_deadline (timespec_add (lock->wait_end,
                                                etcd_answer_timeout));
}

static enum etcd_lock_status
failed (enum etcd_status s)
{
  return s == ETCD_INTERRUPTED ? ETCD_LOCK_INTERRUPTED : ETCD_LOCK_ERROR;
}

static json_t *
string_bytes (char const *s)
{
  return etcd_bytes (s, strlen (s));
}

static json_t *
int64_json (int64_t n)
{
  char buf[32];
  snprintf (buf, sizeof buf, "%" PRId64, n);
  return json_string (buf);
}

/* The end of the range of keys that start with PREFIX: PREFIX with
   its last byte incremented ("NAME/" -> "NAME0").  */
static json_t *
prefix_end (char const *prefix)
{
  size_t len = strlen (prefix);
  char *end = xmemdup (prefix, len + 1);
  end[len - 1]++;
  json_t *value = etcd_bytes (end, len);
  free (end);
  return value;
}

/* Is KEY (LEN bytes) a key of the lock with PREFIX: PREFIX and then a
   lease ID in hexadecimal?  */
static bool
lock_key (char const *key, size_t len, char const *prefix)
{
  size_t plen = strlen (prefix);
  if (len <= plen || len > plen + 16 || memcmp (key, prefix, plen) != 0)
    return false;
  for (size_t i = plen; i < len; i++)
    if (!c_isxdigit ((unsigned char) key[i]))
      return false;
  return true;
}

/* The record SELF as the text etcd keeps.  */
static json_t *
record_bytes (struct dirlock_owner const *self)
{
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream (&text, &len);
  if (!out)
    xalloc_die ();
  dirlock_owner_print (out, self);
  if (fclose (out) != 0)
    xalloc_die ();
  json_t *value = etcd_bytes (text, len);
  free (text);
  return value;
}

/* Decode a key-value KV of the lock with PREFIX into W.  Return false
   if KV is not one of the lock's keys.  */
static bool
decode_waiter (json_t const *kv, char const *prefix, struct etcd_waiter *w)
{
  size_t len;
  char *key = etcd_unbytes (json_object_get (kv, "key"), &len);
  if (!key || !lock_key (key, len, prefix))
    {
      free (key);
      return false;
    }
  if (!etcd_int64 (json_object_get (kv, "lease"), &w->lease)
      || !etcd_int64 (json_object_get (kv, "create_revision"),
                      &w->revision))
    {
      free (key);
      return false;
    }
  w->key = key;
  char *value = etcd_unbytes (json_object_get (kv, "value"), &len);
  char empty[] = "";
  dirlock_parse_record (value ? value : empty, &w->owner);
  free (value);
  /* The token is the place in the queue, whatever the record says.  */
  w->owner.token = w->revision;
  copy_one_line (w->owner.id, sizeof w->owner.id, key + strlen (prefix));
  return true;
}

/* --- joining the queue ------------------------------------------------ */

static enum etcd_lock_status
grant_lease (struct etcd_lock *lock, struct timespec ttl)
{
  /* etcd counts in whole seconds: round up.  */
  json_int_t seconds = ttl.tv_sec + (ttl.tv_nsec > 0);
  json_t *reply;
  enum etcd_status s = etcd_call (lock->client, "/v3/lease/grant",
                                  json_pack ("{s:I}", "TTL", seconds),
                                  &reply, joining_deadline (lock));
  if (s != ETCD_OK)
    return failed (s);
  int64_t granted;
  bool ok = (etcd_int64 (json_object_get (reply, "ID"), &lock->lease)
             && etcd_int64 (json_object_get (reply, "TTL"), &granted)
             && lock->lease != 0 && granted > 0);
  json_decref (reply);
  if (!ok)
    {
      /* Else the message would be an earlier one, or "no error".  */
      etcd_bad_reply (lock->client, "a lease granted without an ID or a "
                      "TTL");
      return ETCD_LOCK_ERROR;
    }
  lock->ttl = (struct timespec) { granted, 0 };
  return ETCD_LOCK_HELD;
}

enum etcd_lock_status
etcd_lock_enqueue (struct etcd_lock *lock, struct etcd_client *client,
                   char const *name, struct timespec ttl,
                   struct dirlock_owner const *self,
                   struct timespec wait_end, bool *first)
{
  memset (lock, 0, sizeof *lock);
  lock->client = client;
  lock->prefix = xasprintf ("%s/", name);
  lock->self = *self;
  lock->wait_end = wait_end;
  *first = false;

  struct timespec sent = monotonic_now ();
  enum etcd_lock_status r = grant_lease (lock, ttl);
  if (r != ETCD_LOCK_HELD)
    return r;
  lock->alive_until = timespec_add (sent, lock->ttl);
  /* The record says the TTL etcd granted, which it counts in whole
     seconds, not the --lease asked for.  */
  lock->self.lease = lock->ttl;
  /* The key etcd's own lock recipe (and so 'etcdctl lock') uses: the
     two exclude each other.  */
  lock->key = xasprintf ("%s%" PRIx64, lock->prefix, lock->lease);
  snprintf (lock->self.id, sizeof lock->self.id, "%" PRIx64, lock->lease);

  json_t *request = json_pack (
    "{s:[{s:o, s:s, s:s}],"
    " s:[{s:{s:o, s:o, s:o}}, {s:{s:o, s:o, s:s, s:s, s:b}}],"
    " s:[{s:{s:o}}]}",
    "compare", "key", string_bytes (lock->key), "target", "CREATE",
               "create_revision", "0",
    "success", "request_put", "key", string_bytes (lock->key),
                              "value", record_bytes (&lock->self),
                              "lease", int64_json (lock->lease),
               "request_range", "key", string_bytes (lock->prefix),
                                "range_end", prefix_end (lock->prefix),
                                "sort_order", "ASCEND",
                                "sort_target", "CREATE",
                                "keys_only", true,
    "failure", "request_range", "key", string_bytes (lock->key));
  if (!request)
    xalloc_die ();
  json_t *reply;
  enum etcd_status s = etcd_call (client, "/v3/kv/txn", request, &reply,
                                  joining_deadline (lock));
  if (s != ETCD_OK)
    return failed (s);

  /* The keys of the queue, oldest first (or, if an earlier attempt
     that we did not hear of was applied, our key alone).  */
  json_t *responses = json_object_get (reply, "responses");
  size_t n = json_array_size (responses);
  if (n != 1 && n != 2)
    {
      json_decref (reply);
      /* Not a lease that expired: there is no telling what happened.  */
      etcd_bad_reply (client, "a transaction without its responses");
      return ETCD_LOCK_ERROR;
    }
  json_t *range = etcd_get (json_array_get (responses, n - 1),
                            "response_range", "kvs", NULL);
  bool ahead = false;
  size_t i;
  json_t *kv;
  lock->revision = 0;
  json_array_foreach (range, i, kv)
    {
      struct etcd_waiter w;
      if (!decode_waiter (kv, lock->prefix, &w))
        continue;
      bool ours = strcmp (w.key, lock->key) == 0;
      if (ours)
        lock->revision = w.revision;
      free (w.key);
      if (ours)
        break;
      ahead = true;
    }
  json_decref (reply);
  if (lock->revision == 0)
    return ETCD_LOCK_LOST;
  /* A retried transaction shows only our key: look again.  */
  *first = !ahead && n == 2;
  lock->key_seen = *first;
  return ETCD_LOCK_HELD;
}

/* --- waiting ---------------------------------------------------------- */

/* Find the key just ahead of ours: *FOUND, with *AHEAD its record and
   *WATCH_FROM the revision to watch its deletion from.  The same read
   shows whether our own key is still there (else ETCD_LOCK_LOST).  */
static enum etcd_lock_status
key_ahead (struct etcd_lock *lock, bool *found, struct etcd_waiter *ahead,
           int64_t *watch_from)
{
  json_t *request = json_pack ("{s:o, s:o, s:s, s:s, s:o}",
                               "key", string_bytes (lock->prefix),
                               "range_end", prefix_end (lock->prefix),
                               "sort_order", "DESCEND",
                               "sort_target", "CREATE",
                               "max_create_revision",
                               int64_json (lock->revision));
  json_t *reply;
  enum etcd_status s = etcd_call (lock->client, "/v3/kv/range", request,
                                  &reply, etcd_lock_deadline (lock));
  if (s != ETCD_OK)
    return failed (s);
  int64_t revision;
  etcd_int64 (etcd_get (reply, "header", "revision", NULL), &revision);
  *watch_from = revision + 1;
  *found = false;
  lock->key_seen = false;
  size_t i;
  json_t *kv;
  json_array_foreach (json_object_get (reply, "kvs"), i, kv)
    if (decode_waiter (kv, lock->prefix, ahead))
      {
        if (lock->key_seen)
          {
            *found = true;
            break;
          }
        /* The highest create revision up to ours must be ours.  */
        lock->key_seen = (ahead->revision == lock->revision
                          && strcmp (ahead->key, lock->key) == 0);
        free (ahead->key);
        if (!lock->key_seen)
          break;
      }
  json_decref (reply);
  return lock->key_seen ? ETCD_LOCK_HELD : ETCD_LOCK_LOST;
}

/* Is OWNER our own owner, or the owner whose command we are?  Then
   waiting would be waiting for ourselves.  */
static bool
ahead_is_self (struct dirlock_owner const *owner,
               struct dirlock_owner const *self)
{
  return (dirlock_owned_by (owner, self->pid)
          || dirlock_command_is (owner, self->pid));
}

/* Does watch response RESPONSE say that the watched key changed (it
   is gone, or its record was rewritten), or that the watch cannot go
   on (canceled, compacted)?  A rewritten record may name a command
   that started since we looked (child_pid): if that command is us,
   waiting would never end (ahead_is_self).  */
static bool
watch_says_look_again (json_t const *response)
{
  if (json_is_true (json_object_get (response, "canceled"))
      || json_object_get (response, "compact_revision"))
    return true;
  /* An event on the one key watched: a deletion, or a put.  */
  return json_array_size (json_object_get (response, "events")) > 0;
}

/* How soon to try again when etcd did not answer.  */
static struct timespec const retry_after = { 0, 250 * 1000 * 1000 };

/* A waiter's renewals also tell whether the member its watch is on
   still answers (etcd_watch_deserted): with another member to turn to,
   they come at least this often, so that a long lease does not leave a
   waiter deaf to a release for a third of it.  */
static struct timespec const watch_check_every = { 3, 0 };

/* How long a waiter may go before renewing its lease.  */
static struct timespec
waiting_renewal_interval (struct etcd_lock const *lock)
{
  struct timespec every = duration_divided (lock->ttl, 3);
  if (etcd_endpoint_count (lock->client) > 1
      && timespec_cmp (watch_check_every, every) < 0)
    return watch_check_every;
  return every;
}

/* etcd did not answer while we waited: pause, then let the caller try
   again, as long as our lease may still be alive (else ETCD_LOCK_LOST)
   and DEADLINE has not passed (else ETCD_LOCK_ERROR).  */
static enum etcd_lock_status
ride_out (struct etcd_lock *lock, struct timespec deadline)
{
  /* Not "busy": we cannot tell whether the lock is held.  */
  if (deadline_passed (deadline))
    return ETCD_LOCK_ERROR;
  if (deadline_passed (lock->alive_until))
    return ETCD_LOCK_LOST;
  struct timespec until = earlier_deadline (deadline_after (retry_after),
                                            deadline);
  return (etcd_pause (lock->client, until) == ETCD_INTERRUPTED
          ? ETCD_LOCK_INTERRUPTED : ETCD_LOCK_HELD);
}

/* Renew the lease of a waiter if *NEXT says it is time; an unanswered
   renewal is tried again soon.  Return ETCD_LOCK_HELD to go on.  */
static enum etcd_lock_status
renew_while_waiting (struct etcd_lock *lock, struct timespec *next)
{
  if (!deadline_passed (*next))
    return ETCD_LOCK_HELD;
  enum etcd_lock_status r
    = etcd_lock_keepalive (lock, earlier_deadline (etcd_lock_deadline (lock),
                                                   lock->alive_until));
  if (r == ETCD_LOCK_HELD)
    *next = deadline_after (waiting_renewal_interval (lock));
  else if (r == ETCD_LOCK_ERROR && etcd_transient (lock->client))
    {
      if (deadline_passed (lock->alive_until))
        return ETCD_LOCK_LOST;
      *next = deadline_after (retry_after);
      return ETCD_LOCK_HELD;
    }
  return r;
}

enum etcd_lock_status
etcd_lock_wait (struct etcd_lock *lock, struct timespec deadline,
                struct dirlock_owner *ahead_owner)
{
  /* A wait that is over already (-n, or a slow enqueue) still gets
     its look at the queue.  */
  lock->wait_end = deadline_passed (deadline) ? monotonic_now () : deadline;
  struct timespec next_renewal
    = deadline_after (waiting_renewal_interval (lock));
  for (;;)
    {
      enum etcd_lock_status r = renew_while_waiting (lock, &next_renewal);
      if (r != ETCD_LOCK_HELD)
        return r;
      bool found;
      struct etcd_waiter ahead;
      int64_t watch_from;
      r = key_ahead (lock, &found, &ahead, &watch_from);
      if (r == ETCD_LOCK_ERROR && etcd_transient (lock->client))
        {
          r = ride_out (lock, deadline);
          if (r != ETCD_LOCK_HELD)
            return r;
          continue;
        }
      if (r != ETCD_LOCK_HELD || !found)
        return r;
      *ahead_owner = ahead.owner;
      json_t *create = json_pack ("{s:o, s:o}", "key",
                                  string_bytes (ahead.key),
                                  "start_revision", int64_json (watch_from));
      free (ahead.key);
      if (ahead_is_self (ahead_owner, &lock->self))
        {
          json_decref (create);
          return ETCD_LOCK_SELF;
        }
      if (deadline_passed (deadline))
        {
          json_decref (create);
          return ETCD_LOCK_BUSY;
        }

      enum etcd_status s = etcd_watch_start (lock->client, create,
                                             etcd_lock_deadline (lock));
      if (s != ETCD_OK)
        {
          if (s == ETCD_INTERRUPTED || !etcd_transient (lock->client))
            return failed (s);
          r = ride_out (lock, deadline);
          if (r != ETCD_LOCK_HELD)
            return r;
          continue;
        }
      /* Until the key ahead is deleted (or the watch cannot go on):
         then look again.  */
      for (;;)
        {
          json_t *response;
          s = etcd_watch_next (lock->client, &response,
                               earlier_deadline (deadline, next_renewal));
          if (s == ETCD_OK)
            {
              bool again = watch_says_look_again (response);
              json_decref (response);
              if (again)
                break;
              continue;
            }
          if (s == ETCD_INTERRUPTED)
            {
              etcd_watch_stop (lock->client);
              return failed (s);
            }
          if (s != ETCD_TIMEOUT)
            break;
          r = renew_while_waiting (lock, &next_renewal);
          if (r != ETCD_LOCK_HELD)
            {
              etcd_watch_stop (lock->client);
              return r;
            }
          /* A silent watch is no proof that the key ahead is still
             there: its member may have stopped answering.  Look once
             more, which says "busy", "free" or "no answer" (ride_out).  */
          if (deadline_passed (deadline))
            break;
          /* The renewal had to turn to another member: the key ahead
             may be gone without a word from this one.  Look again.  */
          if (etcd_watch_deserted (lock->client))
            break;
        }
      etcd_watch_stop (lock->client);
    }
}

/* --- holding ---------------------------------------------------------- */

enum etcd_lock_status
etcd_lock_keepalive (struct etcd_lock *lock, struct timespec deadline)
{
  struct timespec sent = monotonic_now ();
  json_t *reply;
  enum etcd_status s = etcd_call (lock->client, "/v3/lease/keepalive",
                                  json_pack ("{s:o}", "ID",
                                             int64_json (lock->lease)),
                                  &reply, deadline);
  if (s != ETCD_OK)
    return failed (s);
  int64_t ttl;
  bool ok = etcd_int64 (etcd_get (reply, "result", "TTL", NULL), &ttl);
  json_decref (reply);
  if (!ok)
    {
      etcd_bad_reply (lock->client, "a keep-alive answer whose TTL is "
                      "not a number");
      return ETCD_LOCK_ERROR;
    }
  if (ttl <= 0)
    return ETCD_LOCK_LOST;
  /* The server counts TTL from when it got the request, which was
     after we sent it.  */
  lock->ttl = (struct timespec) { ttl, 0 };
  lock->alive_until = timespec_add (sent, lock->ttl);
  return ETCD_LOCK_HELD;
}

struct timespec
etcd_lock_margin (struct timespec ttl)
{
  struct timespec margin = duration_divided (ttl, 4);
  struct timespec least = { 0, 500 * 1000 * 1000 };
  return timespec_cmp (margin, least) < 0 ? least : margin;
}

/* Did the read that found nothing ahead of us see our key too, and is
   the lease sure to live on for more than the safety margin?  Then
   the lease was alive when we became first (etcd deletes a lease's
   keys when it ends), and lives long enough for the holder to renew
   it: nothing to ask etcd.  */
static bool
still_ours (struct etcd_lock const *lock)
{
  struct timespec left = timespec_sub (lock->alive_until, monotonic_now ());
  return (lock->key_seen
          && timespec_cmp (left, etcd_lock_margin (lock->ttl)) > 0);
}

/* LOCK is ours: say since when, with its token; its calls are no
   longer bound by the wait.  */
static enum etcd_lock_status
now_ours (struct etcd_lock *lock)
{
  lock->self.token = lock->revision;
  struct timespec now;
  clock_gettime (CLOCK_REALTIME, &now);
  dirlock_format_time (now, lock->self.acquired, sizeof lock->self.acquired);
  lock->wait_end = infinite_duration;
  return ETCD_LOCK_HELD;
}

enum etcd_lock_status
etcd_lock_confirm (struct etcd_lock *lock)
{
  if (still_ours (lock))
    return now_ours (lock);
  enum etcd_lock_status r = etcd_lock_keepalive (lock,
                                                 etcd_lock_deadline (lock));
  if (r != ETCD_LOCK_HELD)
    return r;
  /* A read, not a write: the lease was alive after we last looked at
     the queue, and a key that still exists now lives on it.  */
  json_t *reply;
  enum etcd_status s = etcd_call (lock->client, "/v3/kv/range",
                                  json_pack ("{s:o, s:b}", "key",
                                             string_bytes (lock->key),
                                             "keys_only", true),
                                  &reply, etcd_lock_deadline (lock));
  if (s != ETCD_OK)
    return failed (s);
  int64_t revision = 0;
  etcd_int64 (etcd_get (json_array_get (json_object_get (reply, "kvs"), 0),
                        "create_revision", NULL), &revision);
  json_decref (reply);
  if (revision != lock->revision)
    return ETCD_LOCK_LOST;
  return now_ours (lock);
}

/* Do OPERATION (a transaction's request_put or request_delete_range,
   whose reference this takes) on LOCK's key, only if it is still the
   key of LOCK's create revision.  ETCD_LOCK_LOST if it is not.  Give
   up at DEADLINE.  */
static enum etcd_lock_status
if_still_ours (struct etcd_lock *lock, json_t *operation,
               struct timespec deadline)
{
  json_t *request = json_pack (
    "{s:[{s:o, s:s, s:o}], s:[o]}",
    "compare", "key", string_bytes (lock->key), "target", "CREATE",
               "create_revision", int64_json (lock->revision),
    "success", operation);
  if (!request)
    xalloc_die ();
  json_t *reply;
  enum etcd_status s = etcd_call (lock->client, "/v3/kv/txn", request,
                                  &reply, deadline);
  if (s != ETCD_OK)
    return failed (s);
  bool done = json_is_true (json_object_get (reply, "succeeded"));
  json_decref (reply);
  return done ? ETCD_LOCK_HELD : ETCD_LOCK_LOST;
}

enum etcd_lock_status
etcd_lock_rewrite (struct etcd_lock *lock, struct timespec deadline)
{
  json_t *put = json_pack ("{s:{s:o, s:o, s:o}}",
                           "request_put", "key", string_bytes (lock->key),
                           "value", record_bytes (&lock->self),
                           "lease", int64_json (lock->lease));
  if (!put)
    xalloc_die ();
  return if_still_ours (lock, put, deadline);
}

/* The release of a key that has no lease: delete it, if it is still
   the key of LOCK's create revision.  */
static enum etcd_lock_status
delete_key (struct etcd_lock *lock, struct timespec deadline)
{
  json_t *delete = json_pack ("{s:{s:o}}", "request_delete_range",
                              "key", string_bytes (lock->key));
  if (!delete)
    xalloc_die ();
  return if_still_ours (lock, delete, deadline);
}

enum etcd_lock_status
etcd_lock_release (struct etcd_lock *lock, struct timespec deadline)
{
  /* A key put without a lease (by hand: neither lockdir nor etcdctl
     lock puts one) has no lease to revoke: revoking lease 0 would say
     "not found" for ever, and --break would never end.  */
  if (lock->lease == 0)
    return delete_key (lock, deadline);
  json_t *reply;
  enum etcd_status s = etcd_call (lock->client, "/v3/lease/revoke",
                                  json_pack ("{s:o}", "ID",
                                             int64_json (lock->lease)),
                                  &reply, deadline);
  if (s == ETCD_REFUSED
      && etcd_error_code (lock->client) == ETCD_CODE_NOT_FOUND)
    return ETCD_LOCK_LOST;
  if (s != ETCD_OK)
    return failed (s);
  json_decref (reply);
  return ETCD_LOCK_HELD;
}

void
etcd_lock_free (struct etcd_lock *lock)
{
  free (lock->prefix);
  free (lock->key);
  lock->prefix = lock->key = NULL;
}

void
etcd_lock_adopt (struct etcd_lock *lock, struct etcd_client *client,
                 char const *name, struct etcd_waiter const *waiter)
{
  memset (lock, 0, sizeof *lock);
  lock->client = client;
  lock->prefix = xasprintf ("%s/", name);
  lock->key = xstrdup (waiter->key);
  lock->lease = waiter->lease;
  lock->revision = waiter->revision;
  lock->self = waiter->owner;
  lock->wait_end = infinite_duration;
}

/* --- the lock from outside -------------------------------------------- */

enum etcd_lock_status
etcd_lock_list (struct etcd_client *client, char const *name,
                struct etcd_waiter **list, size_t *n,
                struct timespec deadline)
{
  char *prefix = xasprintf ("%s/", name);
  json_t *request = json_pack ("{s:o, s:o, s:s, s:s}",
                               "key", string_bytes (prefix),
                               "range_end", prefix_end (prefix),
                               "sort_order", "ASCEND",
                               "sort_target", "CREATE");
  json_t *reply;
  enum etcd_status s = etcd_call (client, "/v3/kv/range", request, &reply,
                                  deadline);
  *list = NULL;
  *n = 0;
  if (s != ETCD_OK)
    {
      free (prefix);
      return failed (s);
    }
  json_t *kvs = json_object_get (reply, "kvs");
  *list = xnmalloc (json_array_size (kvs) + 1, sizeof **list);
  size_t i;
  json_t *kv;
  json_array_foreach (kvs, i, kv)
    if (decode_waiter (kv, prefix, &(*list)[*n]))
      ++*n;
  json_decref (reply);
  free (prefix);
  return ETCD_LOCK_HELD;
}

void
etcd_waiters_free (struct etcd_waiter *list, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free (list[i].key);
  free (list);
}

enum etcd_lock_status
etcd_lease_left (struct etcd_client *client, int64_t lease, int64_t *ttl)
{
  json_t *reply;
  enum etcd_status s = etcd_call (client, "/v3/lease/timetolive",
                                  json_pack ("{s:o}", "ID",
                                             int64_json (lease)),
                                  &reply, etcd_lock_call_deadline ());
  if (s != ETCD_OK)
    return failed (s);
  bool ok = etcd_int64 (json_object_get (reply, "TTL"), ttl);
  json_decref (reply);
  return ok ? ETCD_LOCK_HELD : ETCD_LOCK_ERROR;
}

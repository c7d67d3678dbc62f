/* etcdclient.h -- calls to etcd's v3 JSON gateway, with libcurl and jansson.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

/* etcd 3.4 answers gRPC and, on the same port, a JSON translation of
   it: POST /v3/kv/range with {"key":"<base64>"} and so on.  Bytes are
   base64 strings, 64-bit numbers come back as decimal strings, and
   fields whose value is the default (0, false, "") are left out.

   A client has a list of endpoints (the members of one cluster) and
   tries them in turn: a request that gets no answer from one (refused,
   reset, timed out, or "unavailable") is sent to the next, and the
   endpoint that last answered is tried first next time.  All transfers
   run on one libcurl multi handle, so a call can wait on a watch
   stream, a unary request and a caller's descriptor (signals) at once.

   Nothing here prints; a failed call leaves a message that names the
   endpoint (etcd_error).  */

#ifndef ATOMICUTILS_ETCDCLIENT_H
#define ATOMICUTILS_ETCDCLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct etcd_config
{
  char const *endpoints;        /* "URL[,URL]...", http:// or https:// */
  char const *cacert;           /* CA bundle for https, or NULL */
  char const *cert;             /* client certificate, or NULL */
  char const *key;              /* its private key, or NULL */
  char const *user;             /* "NAME:PASSWORD", or NULL */
};

enum etcd_status
{
  ETCD_OK,
  ETCD_UNREACHABLE,     /* no endpoint answered */
  ETCD_REFUSED,         /* etcd answered with an error (etcd_error_code) */
  ETCD_TIMEOUT,         /* the caller's deadline came first */
  ETCD_INTERRUPTED,     /* the interrupt hook asked to stop */
  ETCD_BAD_REPLY        /* an answer the gateway would not send */
};

/* gRPC status codes the callers look at.  */
enum
{
  ETCD_CODE_INVALID_ARGUMENT = 3,
  ETCD_CODE_NOT_FOUND = 5,
  ETCD_CODE_UNAVAILABLE = 14,
  ETCD_CODE_UNAUTHENTICATED = 16
};

/* How long one endpoint may take to accept a connection.  */
enum { ETCD_CONNECT_TIMEOUT_MS = 2000 };

/* How long one endpoint may take to answer when there are others to
   ask.  */
extern struct timespec const etcd_answer_timeout;

struct etcd_client;

/* Check the endpoint list ENDPOINTS: each a http:// or https:// URL,
   without a user name or password.  Return NULL if it is good, or a
   message saying what is wrong, with *SECRET true if ENDPOINTS must
   not be shown with it (it holds a password).  */
char const *etcd_check_endpoints (char const *endpoints, bool *secret);

/* A client for CONFIG (whose strings must outlive it).  Connects only
   when first used.  */
struct etcd_client *etcd_open (struct etcd_config const *config);
void etcd_close (struct etcd_client *client);

/* While a call waits, watch descriptor FD too: when it is readable,
   call HOOK (ARG); if HOOK returns true, the call gives up with
   ETCD_INTERRUPTED.  FD -1 removes the hook.  */
void etcd_set_interrupt (struct etcd_client *client, int fd,
                         bool (*hook) (void *), void *arg);

/* Wait until DEADLINE, unless the interrupt hook says to stop
   (ETCD_INTERRUPTED).  */
enum etcd_status etcd_pause (struct etcd_client *client,
                             struct timespec deadline);

/* Was the last failure one that may pass: no answer, or etcd
   "unavailable" (no leader yet)?  */
bool etcd_transient (struct etcd_client const *client);

/* POST REQUEST (a reference the call takes over) to PATH, such as
   "/v3/kv/range", and put the decoded answer in *REPLY (the caller
   releases it with json_decref).  Give up at DEADLINE (monotonic).  */
enum etcd_status etcd_call (struct etcd_client *client, char const *path,
                            json_t *request, json_t **reply,
                            struct timespec deadline);

/* The last failure's message, naming the endpoint; and, after
   ETCD_REFUSED, etcd's gRPC code.  */
char const *etcd_error (struct etcd_client const *client);

/* An answer of the current endpoint lacked WHAT it must have: make
   that the last failure.  */
void etcd_bad_reply (struct etcd_client *client, char const *what);
int etcd_error_code (struct etcd_client const *client);

/* The endpoint the client uses now.  */
char const *etcd_endpoint (struct etcd_client const *client);

/* How many endpoints the client was given.  */
size_t etcd_endpoint_count (struct etcd_client const *client);

/* One watch stream at a time.  etcd_watch_start sends CREATE (the
   WatchCreateRequest, a reference it takes over) and returns once etcd
   has confirmed it; etcd_watch_next waits for the next response
   ({"header":…,"events":[…]} and so on) until DEADLINE.  A stream that
   etcd ends gives ETCD_UNREACHABLE.  */
enum etcd_status etcd_watch_start (struct etcd_client *client,
                                   json_t *create,
                                   struct timespec deadline);
enum etcd_status etcd_watch_next (struct etcd_client *client,
                                  json_t **response,
                                  struct timespec deadline);
void etcd_watch_stop (struct etcd_client *client);

/* Have calls moved away from the member the watch stream is on, since
   it did not answer them?  Then the stream may be as silent: a member
   cut off from its leader sends no events.  */
bool etcd_watch_deserted (struct etcd_client const *client);

/* Forget every connection, without closing it gracefully: for a child
   after fork, which must not share the parent's TLS sessions.  The
   client stays usable and connects afresh.  */
void etcd_forget_connections (struct etcd_client *client);

/* The gateway's encodings.  */
json_t *etcd_bytes (char const *data, size_t len);   /* base64 string */
/* Decode the base64 string VALUE into a new NUL-terminated buffer
   (*LEN bytes, without the NUL).  NULL if VALUE is not base64; an
   absent VALUE is empty.  */
char *etcd_unbytes (json_t const *value, size_t *len);
/* A 64-bit number, sent as a string (or a number); absent is 0.
   Return false if VALUE is neither.  */
bool etcd_int64 (json_t const *value, int64_t *result);
/* json_object_get on a path of keys ending in NULL, or NULL.  */
json_t *etcd_get (json_t const *object, ...);

#endif

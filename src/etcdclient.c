/* etcdclient.c -- calls to etcd's v3 JSON gateway, with libcurl and jansson.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

#include <config.h>

#include "etcdclient.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

#include "base64.h"
#include "c-strcase.h"
#include "xalloc.h"
#include "xvasprintf.h"

/* One HTTP request, and its answer as it arrives.  */
struct transfer
{
  CURL *easy;
  struct curl_slist *headers;
  char *body;                   /* what we send */
  char *data;                   /* what came back, not NUL-terminated */
  size_t len, size;
  size_t consumed;              /* a watch stream: lines already taken */
  bool active;                  /* added to the multi handle */
  bool done;
  CURLcode result;
  char errbuf[CURL_ERROR_SIZE];
};

struct etcd_client
{
  struct etcd_config config;
  char **endpoints;
  size_t n_endpoints;
  size_t current;               /* the endpoint tried first */
  size_t watch_endpoint;
  CURLM *multi;
  struct transfer unary;
  struct transfer watch;
  char *token;                  /* from /v3/auth/authenticate */
  char *error;
  int error_code;
  int interrupt_fd;
  bool (*hook) (void *);
  void *hook_arg;
};

/* --- endpoints and errors ----------------------------------------- */

static bool
good_url (char const *url, size_t len)
{
  size_t http = strlen ("http://"), https = strlen ("https://");
  return ((len > http && c_strncasecmp (url, "http://", http) == 0)
          || (len > https && c_strncasecmp (url, "https://", https) == 0));
}

/* Does the URL of LEN bytes have a user name (and maybe a password)
   before its host, as in http://USER:PASSWORD@HOST?  A URL without a
   scheme, or with a wrong one, is looked at the same way: it is shown
   in the message that says what is wrong with it.  */
static bool
url_has_user (char const *url, size_t len)
{
  char const *end = url + len;
  char const *scheme_end = memmem (url, len, "://", strlen ("://"));
  char const *host = scheme_end ? scheme_end + strlen ("://") : url;
  for (char const *p = host; p < end && !strchr ("/?#", *p); p++)
    if (*p == '@')
      return true;
  return false;
}

/* Does any URL of the comma-separated list ENDPOINTS have a user?  */
static bool
endpoints_have_user (char const *endpoints)
{
  for (char const *p = endpoints;;)
    {
      char const *comma = strchrnul (p, ',');
      if (url_has_user (p, comma - p))
        return true;
      if (!*comma)
        return false;
      p = comma + 1;
    }
}

char const *
etcd_check_endpoints (char const *endpoints, bool *secret)
{
  /* It would be in error messages, and in LOCKDIR_ETCD, which every
     COMMAND inherits; --user is never shown.  Looked for first, so
     that no other mistake in the list shows it.  */
  *secret = endpoints_have_user (endpoints);
  if (*secret)
    return "an etcd endpoint URL may not hold a user name or "
           "password (not shown here): use --user or "
           "LOCKDIR_ETCD_USER";
  if (!*endpoints)
    return "no etcd endpoint given";
  for (char const *p = endpoints;;)
    {
      char const *comma = strchrnul (p, ',');
      if (!good_url (p, comma - p))
        return "an etcd endpoint must be an http:// or https:// URL";
      for (char const *q = p; q < comma; q++)
        if ((unsigned char) *q <= ' ' || *q == 0x7f)
          return "an etcd endpoint URL may not contain spaces or "
                 "control characters";
      if (!*comma)
        return NULL;
      p = comma + 1;
    }
}

static void
set_error (struct etcd_client *c, int code, char const *format, ...)
{
  va_list args;
  va_start (args, format);
  char *message = xvasprintf (format, args);
  va_end (args);
  free (c->error);
  c->error = message;
  c->error_code = code;
}

char const *
etcd_error (struct etcd_client const *c)
{
  return c->error ? c->error : "no error";
}

void
etcd_bad_reply (struct etcd_client *c, char const *what)
{
  set_error (c, 0, "%s: not an etcd v3 gateway (%s)",
             c->endpoints[c->current], what);
}

int
etcd_error_code (struct etcd_client const *c)
{
  return c->error_code;
}

char const *
etcd_endpoint (struct etcd_client const *c)
{
  return c->endpoints[c->current];
}

/* --- transfers -------------------------------------------------------- */

static size_t
collect (char *ptr, size_t size, size_t nmemb, void *arg)
{
  struct transfer *t = arg;
  size_t n = size * nmemb;
  if (t->size - t->len < n)
    {
      t->size = t->len + n + 4096;
      t->data = xrealloc (t->data, t->size);
    }
  memcpy (t->data + t->len, ptr, n);
  t->len += n;
  return n;
}

/* COMMAND may inherit no descriptor of ours.  */
static int
set_cloexec (void *arg, curl_socket_t fd, curlsocktype purpose)
{
  (void) arg;
  (void) purpose;
  int flags = fcntl (fd, F_GETFD);
  if (flags >= 0)
    fcntl (fd, F_SETFD, flags | FD_CLOEXEC);
  return CURL_SOCKOPT_OK;
}

static void
setup_transfer (struct etcd_client *c, struct transfer *t)
{
  if (t->easy)
    return;
  t->easy = curl_easy_init ();
  if (!t->easy)
    xalloc_die ();
  CURL *e = t->easy;
  curl_easy_setopt (e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (e, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
  curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt (e, CURLOPT_WRITEDATA, t);
  curl_easy_setopt (e, CURLOPT_ERRORBUFFER, t->errbuf);
  curl_easy_setopt (e, CURLOPT_SOCKOPTFUNCTION, set_cloexec);
  curl_easy_setopt (e, CURLOPT_CONNECTTIMEOUT_MS,
                    (long) ETCD_CONNECT_TIMEOUT_MS);
  curl_easy_setopt (e, CURLOPT_PRIVATE, t);
  if (c->config.cacert)
    curl_easy_setopt (e, CURLOPT_CAINFO, c->config.cacert);
  if (c->config.cert)
    curl_easy_setopt (e, CURLOPT_SSLCERT, c->config.cert);
  if (c->config.key)
    curl_easy_setopt (e, CURLOPT_SSLKEY, c->config.key);
}

static void
stop_transfer (struct etcd_client *c, struct transfer *t)
{
  if (t->active)
    curl_multi_remove_handle (c->multi, t->easy);
  t->active = false;
}

/* Start POSTing BODY (which T takes over) to URL.  */
static void
start_transfer (struct etcd_client *c, struct transfer *t, char const *url,
                char *body)
{
  stop_transfer (c, t);
  setup_transfer (c, t);
  free (t->body);
  t->body = body;
  t->len = t->consumed = 0;
  t->done = false;
  t->result = CURLE_OK;
  t->errbuf[0] = '\0';

  curl_slist_free_all (t->headers);
  t->headers = curl_slist_append (NULL, "Content-Type: application/json");
  /* No "Expect: 100-continue" round trip for a larger body.  */
  t->headers = curl_slist_append (t->headers, "Expect:");
  if (c->token)
    {
      char *auth = xasprintf ("Authorization: %s", c->token);
      t->headers = curl_slist_append (t->headers, auth);
      free (auth);
    }
  if (!t->headers)
    xalloc_die ();
  curl_easy_setopt (t->easy, CURLOPT_URL, url);
  curl_easy_setopt (t->easy, CURLOPT_HTTPHEADER, t->headers);
  curl_easy_setopt (t->easy, CURLOPT_POSTFIELDS, t->body);
  curl_easy_setopt (t->easy, CURLOPT_POSTFIELDSIZE, (long) strlen (t->body));
  curl_multi_add_handle (c->multi, t->easy);
  t->active = true;
}

typedef bool (*ready_fn) (struct etcd_client const *);

/* Run the transfers until READY says so, DEADLINE passes, or the
   interrupt hook asks to stop.  */
static enum etcd_status
pump (struct etcd_client *c, ready_fn ready, struct timespec deadline)
{
  for (;;)
    {
      int running;
      curl_multi_perform (c->multi, &running);
      CURLMsg *msg;
      int queued;
      while ((msg = curl_multi_info_read (c->multi, &queued)))
        if (msg->msg == CURLMSG_DONE)
          {
            struct transfer *t;
            curl_easy_getinfo (msg->easy_handle, CURLINFO_PRIVATE, &t);
            t->done = true;
            t->result = msg->data.result;
          }
      if (ready (c))
        return ETCD_OK;
      if (deadline_passed (deadline))
        return ETCD_TIMEOUT;

      int timeout = poll_timeout_ms (deadline);
      if (timeout < 0 || timeout > 1000)
        timeout = 1000;
      struct curl_waitfd extra = { .fd = c->interrupt_fd,
                                   .events = CURL_WAIT_POLLIN };
      curl_multi_poll (c->multi, &extra, c->interrupt_fd >= 0, timeout,
                       NULL);
      if (c->interrupt_fd >= 0 && (extra.revents & CURL_WAIT_POLLIN)
          && c->hook (c->hook_arg))
        return ETCD_INTERRUPTED;
    }
}

static bool
unary_done (struct etcd_client const *c)
{
  return c->unary.done;
}

/* --- unary calls ------------------------------------------------------ */

/* The answer of a finished transfer T from ENDPOINT: 0 with *REPLY for
   an answer, 1 if ENDPOINT did not answer (try the next), -1 for an
   error etcd reported.  */
static int
take_answer (struct etcd_client *c, struct transfer *t,
             char const *endpoint, json_t **reply)
{
  if (t->result != CURLE_OK)
    {
      set_error (c, 0, "%s: %s", endpoint,
                 t->errbuf[0] ? t->errbuf : curl_easy_strerror (t->result));
      return 1;
    }
  long http = 0;
  curl_easy_getinfo (t->easy, CURLINFO_RESPONSE_CODE, &http);
  json_error_t jerr;
  json_t *answer = json_loadb (t->data ? t->data : "", t->len, 0, &jerr);
  if (!answer || !json_is_object (answer))
    {
      json_decref (answer);
      set_error (c, 0, "%s: not an etcd v3 gateway (HTTP status %ld, "
                 "not a JSON object)", endpoint, http);
      return -1;
    }
  if (http == 200)
    {
      *reply = answer;
      return 0;
    }
  json_t *message = json_object_get (answer, "error");
  json_t *code = json_object_get (answer, "code");
  set_error (c, json_is_integer (code) ? json_integer_value (code) : 0,
             "%s: %s", endpoint,
             json_is_string (message) ? json_string_value (message)
             : "error without a message");
  json_decref (answer);
  /* No leader, or this member is cut off: another may answer.  */
  return c->error_code == ETCD_CODE_UNAVAILABLE ? 1 : -1;
}

/* How long one of several endpoints may take to answer before the
   next is asked.  A member cut off from its leader (a partition, or a
   leader that just died and is not yet replaced) holds a request until
   etcd's own timeout, about 7 s, longer than a whole call may take.  */
struct timespec const etcd_answer_timeout = { 2, 0 };

/* POST BODY (kept by the caller) to PATH, trying each endpoint in turn.
   A round in which every endpoint failed at once (refused, no leader)
   ends the call; after one in which an endpoint did not answer in time,
   the endpoints are tried again, until DEADLINE.  */
static enum etcd_status
call_endpoints (struct etcd_client *c, char const *path, char const *body,
                json_t **reply, struct timespec deadline)
{
  char *failures = NULL;
  bool hung = true;
  while (hung)
    {
      hung = false;
      free (failures);
      failures = NULL;
      size_t first = c->current;
      for (size_t i = 0; i < c->n_endpoints; i++)
        {
          size_t which = (first + i) % c->n_endpoints;
          char const *endpoint = c->endpoints[which];
          char *url = xasprintf ("%s%s", endpoint, path);
          start_transfer (c, &c->unary, url, xstrdup (body));
          free (url);
          /* A lone endpoint has no other to turn to: all the time.  */
          struct timespec attempt_deadline
            = (c->n_endpoints == 1 ? deadline
               : earlier_deadline (deadline,
                                   deadline_after (etcd_answer_timeout)));
          enum etcd_status s = pump (c, unary_done, attempt_deadline);
          stop_transfer (c, &c->unary);
          if (s == ETCD_INTERRUPTED)
            {
              set_error (c, 0, "%s: interrupted", endpoint);
              free (failures);
              return s;
            }
          if (s == ETCD_TIMEOUT)
            {
              set_error (c, 0, "%s: no answer in time", endpoint);
              /* A hanging member: start with the next one next time.  */
              c->current = (which + 1) % c->n_endpoints;
              if (deadline_passed (deadline))
                {
                  free (failures);
                  return s;
                }
              hung = true;
            }
          else
            {
              int r = take_answer (c, &c->unary, endpoint, reply);
              if (r == 0)
                {
                  c->current = which;
                  free (failures);
                  return ETCD_OK;
                }
              if (r < 0)
                {
                  c->current = which;
                  free (failures);
                  return c->error_code ? ETCD_REFUSED : ETCD_BAD_REPLY;
                }
            }
          char *more = (failures
                        ? xasprintf ("%s; %s", failures, etcd_error (c))
                        : xstrdup (etcd_error (c)));
          free (failures);
          failures = more;
        }
    }
  c->current = (c->current + 1) % c->n_endpoints;
  set_error (c, 0, "%s", failures);
  free (failures);
  return ETCD_UNREACHABLE;
}

static enum etcd_status
authenticate (struct etcd_client *c, struct timespec deadline)
{
  char const *colon = strchr (c->config.user, ':');
  char *name = ximemdup0 (c->config.user,
                         colon ? colon - c->config.user
                         : strlen (c->config.user));
  json_t *request = json_pack ("{s:s, s:s}", "name", name,
                               "password", colon ? colon + 1 : "");
  free (name);
  if (!request)
    {
      set_error (c, 0, "the user name and password must be UTF-8");
      return ETCD_BAD_REPLY;
    }
  char *body = json_dumps (request, JSON_COMPACT);
  json_decref (request);
  free (c->token);
  c->token = NULL;
  json_t *reply;
  enum etcd_status s = call_endpoints (c, "/v3/auth/authenticate", body,
                                       &reply, deadline);
  free (body);
  if (s != ETCD_OK)
    return s;
  json_t *token = json_object_get (reply, "token");
  if (json_is_string (token))
    c->token = xstrdup (json_string_value (token));
  json_decref (reply);
  if (!c->token)
    {
      set_error (c, 0, "%s: authentication gave no token",
                 etcd_endpoint (c));
      return ETCD_BAD_REPLY;
    }
  return ETCD_OK;
}

enum etcd_status
etcd_call (struct etcd_client *c, char const *path, json_t *request,
           json_t **reply, struct timespec deadline)
{
  char *body = json_dumps (request, JSON_COMPACT);
  json_decref (request);
  if (!body)
    xalloc_die ();
  *reply = NULL;
  enum etcd_status s = ETCD_OK;
  if (c->config.user && !c->token)
    s = authenticate (c, deadline);
  if (s == ETCD_OK)
    s = call_endpoints (c, path, body, reply, deadline);
  /* A token expires (etcd's simple tokens after 5 minutes idle): get
     a new one, once.  */
  if (s == ETCD_REFUSED && c->config.user
      && c->error_code == ETCD_CODE_UNAUTHENTICATED)
    {
      s = authenticate (c, deadline);
      if (s == ETCD_OK)
        s = call_endpoints (c, path, body, reply, deadline);
    }
  free (body);
  return s;
}

/* --- watch ------------------------------------------------------------ */

static bool
watch_has_line (struct etcd_client const *c)
{
  struct transfer const *t = &c->watch;
  return (t->done
          || memchr (t->data + t->consumed, '\n', t->len - t->consumed));
}

/* The next complete line of the watch stream, decoded, or NULL.  */
static json_t *
take_watch_line (struct etcd_client *c, bool *bad)
{
  struct transfer *t = &c->watch;
  *bad = false;
  if (!t->data)
    return NULL;
  char *start = t->data + t->consumed;
  char *nl = memchr (start, '\n', t->len - t->consumed);
  if (!nl)
    return NULL;
  t->consumed = nl + 1 - t->data;
  json_error_t jerr;
  json_t *line = json_loadb (start, nl - start, 0, &jerr);
  if (!line || !json_is_object (line))
    {
      json_decref (line);
      *bad = true;
      return NULL;
    }
  return line;
}

enum etcd_status
etcd_watch_next (struct etcd_client *c, json_t **response,
                 struct timespec deadline)
{
  char const *endpoint = c->endpoints[c->watch_endpoint];
  *response = NULL;
  for (;;)
    {
      bool bad;
      json_t *line = take_watch_line (c, &bad);
      if (bad)
        {
          set_error (c, 0, "%s: a watch answer that is not JSON", endpoint);
          return ETCD_BAD_REPLY;
        }
      if (line)
        {
          json_t *result = json_object_get (line, "result");
          if (json_is_object (result))
            {
              *response = json_incref (result);
              json_decref (line);
              return ETCD_OK;
            }
          json_t *message = json_object_get (line, "error");
          json_t *code = json_object_get (line, "code");
          set_error (c, json_is_integer (code) ? json_integer_value (code)
                     : 0, "%s: %s", endpoint,
                     json_is_string (message) ? json_string_value (message)
                     : "watch error without a message");
          json_decref (line);
          return ETCD_REFUSED;
        }
      if (c->watch.done || !c->watch.active)
        {
          struct transfer *t = &c->watch;
          set_error (c, 0, "%s: the watch stream ended%s%s", endpoint,
                     t->result != CURLE_OK ? ": " : "",
                     t->result == CURLE_OK ? ""
                     : t->errbuf[0] ? t->errbuf
                     : curl_easy_strerror (t->result));
          return ETCD_UNREACHABLE;
        }
      enum etcd_status s = pump (c, watch_has_line, deadline);
      if (s != ETCD_OK)
        {
          set_error (c, 0, "%s: %s", endpoint,
                     s == ETCD_TIMEOUT ? "no answer in time" : "interrupted");
          return s;
        }
    }
}

enum etcd_status
etcd_watch_start (struct etcd_client *c, json_t *create,
                  struct timespec deadline)
{
  json_t *request = json_pack ("{s:o}", "create_request", create);
  char *body = request ? json_dumps (request, JSON_COMPACT) : NULL;
  json_decref (request);
  if (!body)
    xalloc_die ();
  enum etcd_status s = ETCD_UNREACHABLE;
  for (size_t i = 0; i < c->n_endpoints; i++)
    {
      c->watch_endpoint = (c->current + i) % c->n_endpoints;
      char *url = xasprintf ("%s/v3/watch", c->endpoints[c->watch_endpoint]);
      start_transfer (c, &c->watch, url, xstrdup (body));
      free (url);
      json_t *first;
      s = etcd_watch_next (c, &first, deadline);
      if (s == ETCD_OK)
        {
          bool created = json_is_true (json_object_get (first, "created"));
          json_decref (first);
          if (created)
            {
              /* The member that answered is the one to use.  */
              c->current = c->watch_endpoint;
              break;
            }
          set_error (c, 0, "%s: the watch was not created",
                     c->endpoints[c->watch_endpoint]);
          s = ETCD_BAD_REPLY;
        }
      if (s != ETCD_UNREACHABLE)
        break;
    }
  free (body);
  if (s != ETCD_OK)
    stop_transfer (c, &c->watch);
  return s;
}

void
etcd_watch_stop (struct etcd_client *c)
{
  stop_transfer (c, &c->watch);
}

bool
etcd_watch_deserted (struct etcd_client const *c)
{
  return c->watch_endpoint != c->current;
}

size_t
etcd_endpoint_count (struct etcd_client const *c)
{
  return c->n_endpoints;
}

/* --- the client ------------------------------------------------------- */

struct etcd_client *
etcd_open (struct etcd_config const *config)
{
  static bool initialized;
  if (!initialized)
    {
      if (curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK)
        xalloc_die ();
      initialized = true;
    }
  struct etcd_client *c = xzalloc (sizeof *c);
  c->config = *config;
  c->interrupt_fd = -1;

  /* libcurl makes a socket pair for curl_multi_wakeup without
     close-on-exec: find it (new descriptors take the lowest free
     numbers, from FIRST on) and mark it, so COMMAND inherits nothing.  */
  enum { SCAN = 64 };
  int first = fcntl (STDIN_FILENO, F_DUPFD_CLOEXEC, 0);
  bool was_open[SCAN] = { false };
  if (first >= 0)
    {
      close (first);
      for (int i = 0; i < SCAN; i++)
        was_open[i] = fcntl (first + i, F_GETFD) >= 0;
    }
  c->multi = curl_multi_init ();
  if (!c->multi)
    xalloc_die ();
  for (int i = 0; first >= 0 && i < SCAN; i++)
    {
      int flags = fcntl (first + i, F_GETFD);
      if (!was_open[i] && flags >= 0)
        fcntl (first + i, F_SETFD, flags | FD_CLOEXEC);
    }

  /* The URLs, without a trailing slash: paths start with one.  */
  for (char const *p = config->endpoints;;)
    {
      char const *comma = strchrnul (p, ',');
      size_t len = comma - p;
      while (len > 0 && p[len - 1] == '/')
        len--;
      c->endpoints = xreallocarray (c->endpoints, c->n_endpoints + 1,
                                    sizeof *c->endpoints);
      c->endpoints[c->n_endpoints++] = ximemdup0 (p, len);
      if (!*comma)
        break;
      p = comma + 1;
    }
  return c;
}

static void
free_transfer (struct etcd_client *c, struct transfer *t)
{
  stop_transfer (c, t);
  if (t->easy)
    curl_easy_cleanup (t->easy);
  curl_slist_free_all (t->headers);
  free (t->body);
  free (t->data);
}

void
etcd_close (struct etcd_client *c)
{
  if (!c)
    return;
  free_transfer (c, &c->unary);
  free_transfer (c, &c->watch);
  curl_multi_cleanup (c->multi);
  for (size_t i = 0; i < c->n_endpoints; i++)
    free (c->endpoints[i]);
  free (c->endpoints);
  free (c->token);
  free (c->error);
  free (c);
}

enum etcd_status
etcd_pause (struct etcd_client *c, struct timespec deadline)
{
  while (!deadline_passed (deadline))
    {
      struct pollfd pfd = { .fd = c->interrupt_fd, .events = POLLIN };
      if (poll (&pfd, c->interrupt_fd >= 0, poll_timeout_ms (deadline)) > 0
          && c->hook (c->hook_arg))
        return ETCD_INTERRUPTED;
    }
  return ETCD_OK;
}

bool
etcd_transient (struct etcd_client const *c)
{
  return c->error_code == 0 || c->error_code == ETCD_CODE_UNAVAILABLE;
}

void
etcd_set_interrupt (struct etcd_client *c, int fd, bool (*hook) (void *),
                    void *arg)
{
  c->interrupt_fd = fd;
  c->hook = hook;
  c->hook_arg = arg;
}

/* --- encodings -------------------------------------------------------- */

json_t *
etcd_bytes (char const *data, size_t len)
{
  char *encoded;
  idx_t n = base64_encode_alloc (data, len, &encoded);
  if (!encoded)
    xalloc_die ();
  json_t *value = json_stringn (encoded, n);
  free (encoded);
  if (!value)
    xalloc_die ();
  return value;
}

char *
etcd_unbytes (json_t const *value, size_t *len)
{
  if (!value)
    {
      *len = 0;
      return xzalloc (1);
    }
  if (!json_is_string (value))
    return NULL;
  char *decoded;
  idx_t n;
  if (!base64_decode_alloc (json_string_value (value),
                            json_string_length (value), &decoded, &n))
    return NULL;
  if (!decoded)
    xalloc_die ();
  char *result = xrealloc (decoded, n + 1);
  result[n] = '\0';
  *len = n;
  return result;
}

bool
etcd_int64 (json_t const *value, int64_t *result)
{
  *result = 0;
  if (!value)
    return true;
  if (json_is_integer (value))
    {
      *result = json_integer_value (value);
      return true;
    }
  if (!json_is_string (value))
    return false;
  char const *s = json_string_value (value);
  char *end;
  errno = 0;
  long long n = strtoll (s, &end, 10);
  if (end == s || *end || errno)
    return false;
  *result = n;
  return true;
}

json_t *
etcd_get (json_t const *object, ...)
{
  va_list args;
  va_start (args, object);
  json_t *value = (json_t *) object;
  char const *key;
  while (value && (key = va_arg (args, char const *)))
    value = json_object_get (value, key);
  va_end (args);
  return value;
}

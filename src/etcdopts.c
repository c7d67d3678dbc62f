/* etcdopts.c -- lockdir's etcd backend as lockdir's command line sees it.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

#include <config.h>

#include "etcdopts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

#include "c-ctype.h"
#include "error.h"
#include "timespec.h"
#include "unistr.h"
#include "xalloc.h"
#include "xreadlink.h"
#include "xvasprintf.h"

#if ENABLE_ETCD
# include "etcdforms.h"
# include "etcdclient.h"
#endif

#if !ENABLE_ETCD
static int exec_etcd_backend (bool with_command);
#endif

/* The longest lock name: a name, not a document.  */
enum { NAME_MAX_BYTES = 512 };

#if ENABLE_ETCD
/* Overwrite the password of USER:PASSWORD, in place, with '*'.  */
static void
hide_password (char *user)
{
  char *colon = strchr (user, ':');
  if (colon)
    memset (colon + 1, '*', strlen (colon + 1));
}
#endif

void
etcd_option (struct etcd_options *etcd, int c, char const *arg)
{
  switch (c)
    {
    case ETCD_OPTION:
      etcd->endpoints = arg;
      break;
    case ETCD_CACERT_OPTION:
      etcd->cacert = arg;
      etcd->tls_option_given = true;
      break;
    case ETCD_CERT_OPTION:
      etcd->cert = arg;
      etcd->tls_option_given = true;
      break;
    case ETCD_KEY_OPTION:
      etcd->key = arg;
      etcd->tls_option_given = true;
      break;
    case ETCD_USER_OPTION:
      etcd->user = arg;
#if ENABLE_ETCD
      /* Keep the password out of ps (and /proc/PID/cmdline) while the
         lock is held, as curl does with -u: use a copy, and overwrite
         the argument.  lockdir itself cannot, as it hands its
         arguments on to this backend.  */
      etcd->user = xstrdup (arg);
      hide_password ((char *) arg);
#endif
      etcd->tls_option_given = true;
      break;
    default:
      abort ();
    }
}

/* VALUE unless it is NULL, else the environment variable VAR if it is
   set and not empty.  */
static char const *
option_or_env (char const *value, char const *var)
{
  if (value)
    return value;
  char const *env = getenv (var);
  return env && *env ? env : NULL;
}

bool
etcd_wanted (struct etcd_options *etcd)
{
  etcd->endpoints = option_or_env (etcd->endpoints, "LOCKDIR_ETCD");
  if (!etcd->endpoints)
    {
      if (etcd->tls_option_given)
        usage_error ("--cacert, --cert, --key and --user go with --etcd");
      return false;
    }
  etcd->cacert = option_or_env (etcd->cacert, "LOCKDIR_ETCD_CACERT");
  etcd->cert = option_or_env (etcd->cert, "LOCKDIR_ETCD_CERT");
  etcd->key = option_or_env (etcd->key, "LOCKDIR_ETCD_KEY");
  etcd->user = option_or_env (etcd->user, "LOCKDIR_ETCD_USER");
#if ENABLE_ETCD
  bool secret;
  char const *problem = etcd_check_endpoints (etcd->endpoints, &secret);
  if (problem && secret)
    usage_error ("%s", problem);
  if (problem)
    usage_error ("%s: %s", problem, quote (etcd->endpoints));
#endif
  if (etcd->key && !etcd->cert)
    usage_error ("--key goes with --cert");
  return true;
}

/* A lock name is a key prefix: printable UTF-8 without control
   characters, not empty, not ending in '/' (the lock's keys are
   NAME/ID), and not absurdly long.  */
static void
check_name (char const *name)
{
  size_t len = strlen (name);
  if (len == 0)
    usage_error ("the name of an etcd lock may not be empty");
  if (len > NAME_MAX_BYTES)
    usage_error ("the name of an etcd lock may have at most %d bytes",
                 NAME_MAX_BYTES);
  if (u8_check ((uint8_t const *) name, len))
    usage_error ("the name of an etcd lock must be UTF-8: %s", quote (name));
  for (char const *p = name; *p; p++)
    if (c_iscntrl ((unsigned char) *p))
      usage_error ("the name of an etcd lock may not contain control "
                   "characters: %s", quote (name));
  if (name[len - 1] == '/')
    usage_error ("the name of an etcd lock may not end in '/': %s",
                 quote (name));
}

void
etcd_usage (void)
{
  fputs ("\
\n\
Across hosts, with etcd (the lock is a queue of keys NAME/ID in etcd):\n\
      --etcd=URL[,URL]...  take LOCK in etcd, at the first of these\n\
                          endpoints that answers (default: $LOCKDIR_ETCD)\n\
      --lease=DURATION  with --etcd: the lease's TTL (default 10s, at\n\
                          least 2s); renewed every third of it, and\n\
                          COMMAND is stopped before it can have expired\n\
      --cacert=FILE     the CA certificates of an https:// etcd\n\
                          ($LOCKDIR_ETCD_CACERT)\n\
      --cert=FILE       a client certificate for etcd ($LOCKDIR_ETCD_CERT)\n\
      --key=FILE        its private key ($LOCKDIR_ETCD_KEY)\n\
      --user=USER:PASSWORD  authenticate to etcd ($LOCKDIR_ETCD_USER)\n\
", stdout);
}

int
etcd_lockdir (char const *name, char **command,
              struct etcd_options const *etcd)
{
  check_name (name);
  struct etcd_options opt = *etcd;
  if (timespec_sign (opt.lease) == 0)
    opt.lease = (struct timespec) { 10, 0 };
  else if (opt.lease.tv_sec < 2)
    usage_error ("--lease must be at least 2s with --etcd");
#if ENABLE_ETCD
  return etcd_run_form (name, command, &opt);
#else
  return exec_etcd_backend (command[0] != NULL);
#endif
}

/* lockdir's arguments, as main got them, for the etcd backend.  */
static char **lockdir_args;

void
etcd_remember_args (int argc, char **argv)
{
  lockdir_args = xmemdup (argv, (argc + 1) * sizeof *argv);
}

#if !ENABLE_ETCD
/* The etcd backend is a program of its own, lockdir-etcd: lockdir
   built from the same sources with libcurl and jansson.  Linked into
   lockdir, those two and the thirty libraries they load would be
   loaded by every local lock as well, which doubled the cost of
   'lockdir L true'.  Run it in our place, with our arguments: first
   the one beside this program (the build tree, or an install that
   keeps them together), then the one installed in ETCD_BACKEND_DIR.
   Return only on failure, with the status to exit with.  */
static int
exec_etcd_backend (bool with_command)
{
  char *candidates[2] = { NULL, NULL };
  char *self = xreadlink ("/proc/self/exe");
  char *slash = self ? strrchr (self, '/') : NULL;
  if (slash)
    candidates[0] = xasprintf ("%.*s/lockdir-etcd", (int) (slash - self),
                               self);
  candidates[1] = xasprintf ("%s/lockdir-etcd", ETCD_BACKEND_DIR);
  free (self);
  int exec_errno = ENOENT;
  char const *failed = NULL;
  for (int i = 0; i < 2; i++)
    if (candidates[i])
      {
        execv (candidates[i], lockdir_args);
        if (errno != ENOENT)
          {
            exec_errno = errno;
            failed = candidates[i];
            break;
          }
      }
  if (failed)
    error (0, exec_errno, "cannot run the etcd backend %s", quoteaf (failed));
  else
    error (0, 0, "the etcd backend (--etcd) was not built: configure found "
           "no libcurl or no jansson (%s is absent)", quoteaf (candidates[1]));
  free (candidates[0]);
  free (candidates[1]);
  return with_command ? 125 : failed ? EXIT_SYSERR : EXIT_USAGE;
}
#endif

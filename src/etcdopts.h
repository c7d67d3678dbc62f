/* etcdopts.h -- lockdir's etcd backend as lockdir's command line sees it.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

/* lockdir --etcd=URL[,URL]... NAME [COMMAND...] takes the lock NAME in
   etcd instead of a directory.  lockdir.c parses its options as usual,
   hands the etcd ones to etcd_option, and, when etcd_wanted says so,
   fills the rest of struct etcd_options from its own and calls
   etcd_lockdir.  This part is always built; the backend itself only
   when configure found libcurl and jansson (ENABLE_ETCD).  */

#ifndef ATOMICUTILS_ETCDOPTS_H
#define ATOMICUTILS_ETCDOPTS_H

#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

/* With COMMAND: the lock was lost while COMMAND ran (its lease could
   not be renewed, expired, or was revoked), so COMMAND was stopped.  */
enum { EXIT_LOCK_LOST = 76 };

enum
{
  ETCD_OPTION = CHAR_MAX + 100,
  ETCD_CACERT_OPTION,
  ETCD_CERT_OPTION,
  ETCD_KEY_OPTION,
  ETCD_USER_OPTION
};

#define ETCD_LONG_OPTIONS \
  {"etcd", required_argument, NULL, ETCD_OPTION}, \
  {"cacert", required_argument, NULL, ETCD_CACERT_OPTION}, \
  {"cert", required_argument, NULL, ETCD_CERT_OPTION}, \
  {"key", required_argument, NULL, ETCD_KEY_OPTION}, \
  {"user", required_argument, NULL, ETCD_USER_OPTION}

#define case_ETCD_OPTIONS(etcd) \
  case ETCD_OPTION: case ETCD_CACERT_OPTION: case ETCD_CERT_OPTION: \
  case ETCD_KEY_OPTION: case ETCD_USER_OPTION: \
    etcd_option (&(etcd), c, optarg); \
    break

enum etcd_form
{
  ETCD_FORM_ACQUIRE,            /* with COMMAND, or for the caller */
  ETCD_FORM_RELEASE,
  ETCD_FORM_BREAK,
  ETCD_FORM_STATUS
};

struct etcd_options
{
  /* The etcd options, or the environment (LOCKDIR_ETCD...).  */
  char const *endpoints;        /* NULL: the lock is a directory */
  char const *cacert;
  char const *cert;
  char const *key;
  char const *user;
  bool tls_option_given;

  /* lockdir's own options, as they apply to an etcd lock.  */
  enum etcd_form form;
  struct timespec lease;        /* the lease's TTL; 0: the default */
  struct timespec wait;         /* how long to wait: 0 (-n) to infinite */
  int busy_status;
  pid_t owner_pid;              /* 0: the caller */
  struct timespec max_runtime;  /* 0: none */
  struct timespec kill_after;   /* 0: none */
  bool foreground;              /* COMMAND in our process group */
  char const *command_line;     /* COMMAND as shell words, or NULL */
  bool json;
  bool print_token;
  bool verbose;
  bool quiet;
};

/* Take option C (one of ETCD_LONG_OPTIONS) with argument ARG.  */
void etcd_option (struct etcd_options *etcd, int c, char const *arg);

/* After the options: complete ETCD from the environment, and say
   whether the lock is in etcd.  A TLS option without an endpoint, or a
   bad endpoint, is a usage error.  */
bool etcd_wanted (struct etcd_options *etcd);

/* Keep lockdir's ARGC arguments ARGV (before any option parsing), for
   the etcd backend, which lockdir runs in its place.  */
void etcd_remember_args (int argc, char **argv);

/* Print the --help paragraphs of the etcd options.  */
void etcd_usage (void);

/* Run the form ETCD->form on lock NAME, with COMMAND (NULL-terminated,
   possibly empty).  Return the exit status.  */
int etcd_lockdir (char const *name, char **command,
                  struct etcd_options const *etcd);

#endif

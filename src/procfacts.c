/* procfacts.c -- facts about processes and about this system.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

#include <config.h>

#include "procfacts.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

#include "xgethostname.h"

/* Read /proc/PID/stat: the process state, its number of threads and
   its start time.  Return 0, or -1 with errno.  */
static int
read_proc_stat (pid_t pid, char *state, long *threads,
                unsigned long long *start_time)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%ld/stat", (long) pid);
  char buf[1024];
  ssize_t n = read_small_file (path, buf, sizeof buf);
  if (n <= 0)
    {
      /* A process that exits while we read has an empty stat.  */
      errno = n == 0 || errno == ENOENT || errno == ESRCH ? ESRCH : errno;
      return -1;
    }

  /* The command name is in parentheses and may contain anything, so
     count fields from the last ')'.  Field 3 is the state, 20 the
     number of threads, 22 the start time.  */
  char *p = strrchr (buf, ')');
  if (!p)
    {
      errno = EINVAL;
      return -1;
    }
  p++;
  int field = 2;
  char *save;
  for (char *tok = strtok_r (p, " ", &save); tok;
       tok = strtok_r (NULL, " ", &save))
    {
      field++;
      if (field == 3)
        *state = tok[0];
      else if (field == 20)
        *threads = strtol (tok, NULL, 10);
      else if (field == 22)
        {
          *start_time = strtoull (tok, NULL, 10);
          return 0;
        }
    }
  errno = EINVAL;
  return -1;
}

int
process_start_time (pid_t pid, unsigned long long *start_time)
{
  char state;
  long threads;
  return read_proc_stat (pid, &state, &threads, start_time);
}

/* Is process PID, started at START_TIME, alive?  Dead means: no such
   pid, or a zombie, or another process with that pid (it started at a
   different time).  Where /proc cannot tell (hidepid), only kill's
   ESRCH proves death.  */
enum process_state
process_state (pid_t pid, unsigned long long start_time)
{
  if (pid <= 0)
    return PROCESS_UNKNOWN;
  char state;
  long threads = 0;
  unsigned long long started;
  if (read_proc_stat (pid, &state, &threads, &started) == 0)
    {
      /* A zombie thread-group leader with live threads is alive.  */
      if ((state == 'Z' || state == 'X') && threads <= 1)
        return PROCESS_DEAD;
      if (start_time != 0 && started != start_time)
        return PROCESS_DEAD;
      return PROCESS_ALIVE;
    }
  if (kill (pid, 0) != 0 && errno == ESRCH)
    return PROCESS_DEAD;
  return PROCESS_UNKNOWN;
}

/* Read a short one-line file into BUF, without its newline.  */
static bool
read_line_file (char const *file, char *buf, size_t size)
{
  if (read_small_file (file, buf, size) <= 0)
    return false;
  buf[strcspn (buf, "\n")] = '\0';
  return true;
}

char const *
this_boot_id (void)
{
  static char boot_id[40];
  static bool done;
  if (!done)
    {
      if (!read_line_file ("/proc/sys/kernel/random/boot_id", boot_id,
                           sizeof boot_id))
        boot_id[0] = '\0';
      done = true;
    }
  return boot_id;
}

/* The pid namespace of this process: the pids we record and check are
   numbers in it.  0 if unknown.  */
unsigned long long
this_pidns (void)
{
  static unsigned long long pidns;
  static bool done;
  if (!done)
    {
      struct stat st;
      pidns = stat ("/proc/self/ns/pid", &st) == 0 ? st.st_ino : 0;
      done = true;
    }
  return pidns;
}

char const *
this_host (void)
{
  static char host[PROCFACTS_HOST_MAX + 1];
  if (!host[0])
    {
      char *name = xgethostname ();
      copy_one_line (host, sizeof host, name ? name : "");
      free (name);
    }
  return host;
}

/* The command line of process PID, as shell words, or "" if unknown.  */
void
process_command (pid_t pid, char *buf, size_t size)
{
  buf[0] = '\0';
  char path[64];
  snprintf (path, sizeof path, "/proc/%ld/cmdline", (long) pid);
  char args[4096];
  ssize_t n = read_small_file (path, args, sizeof args);
  if (n <= 0)
    return;
  size_t len = 0;
  for (char *arg = args; arg < args + n; arg += strlen (arg) + 1)
    {
      char const *word = quotearg_n_style (0, shell_escape_quoting_style,
                                           arg);
      int w = snprintf (buf + len, size - len, "%s%s", len ? " " : "",
                        word);
      if (w < 0 || (size_t) w >= size - len)
        {
          if (size > 4)
            memcpy (buf + size - 4, "...", 4);
          return;
        }
      len += w;
    }
}


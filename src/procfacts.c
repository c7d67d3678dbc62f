/* procfacts.c -- facts about processes and about this system.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

#include <config.h>

#include "procfacts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include "common.h"

#include "c-ctype.h"
#include "same-inode.h"
#include "xalloc.h"
#include "xgethostname.h"

/* What read_proc_stat reads.  */
struct proc_stat
{
  pid_t pid;                        /* field 1 */
  char state;                       /* field 3 */
  pid_t ppid;                       /* field 4 */
  long threads;                     /* field 20 */
  unsigned long long start_time;    /* field 22 */
};

/* Read the stat file PATH of a process (/proc/PID/stat) into *ST.
   Return 0, or -1 with errno (ENOENT: no such file).  */
static int
read_stat_file (char const *path, struct proc_stat *st)
{
  char buf[1024];
  ssize_t n = read_small_file (path, buf, sizeof buf);
  if (n <= 0)
    {
      /* A process that exits while we read has an empty stat.  */
      if (n == 0)
        errno = ESRCH;
      return -1;
    }

  st->pid = strtol (buf, NULL, 10);
  /* The command name is in parentheses and may contain anything, so
     count fields from the last ')'.  */
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
        st->state = tok[0];
      else if (field == 4)
        st->ppid = strtol (tok, NULL, 10);
      else if (field == 20)
        st->threads = strtol (tok, NULL, 10);
      else if (field == 22)
        {
          st->start_time = strtoull (tok, NULL, 10);
          return 0;
        }
    }
  errno = EINVAL;
  return -1;
}

/* Read /proc/PID/stat into *ST.  Return 0, or -1 with errno (ESRCH:
   no such process).  */
static int
read_proc_stat (pid_t pid, struct proc_stat *st)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%ld/stat", (long) pid);
  if (read_stat_file (path, st) == 0)
    return 0;
  if (errno == ENOENT)
    errno = ESRCH;
  return -1;
}

int
process_start_time (pid_t pid, unsigned long long *start_time)
{
  struct proc_stat st;
  if (read_proc_stat (pid, &st) != 0)
    return -1;
  *start_time = st.start_time;
  return 0;
}

int
self_start_time (pid_t *pid, unsigned long long *start_time)
{
  struct proc_stat st;
  if (read_stat_file ("/proc/self/stat", &st) != 0)
    {
      /* A /proc that is mounted but has no /proc/self for us is
         another pid namespace's, in which we have no pid (nsenter -m
         into a namespace with its own /proc): not ours, as below.  */
      if (errno == ENOENT && proc_mounted ())
        errno = ESRCH;
      return -1;
    }
  pid_t self = getpid ();
  if (st.pid != self)
    {
      errno = ESRCH;
      return -1;
    }
  *pid = self;
  *start_time = st.start_time;
  return 0;
}

bool
fd_is_proc (int fd)
{
  int saved_errno = errno;
  struct statfs sfs;
  bool proc = fstatfs (fd, &sfs) == 0 && sfs.f_type == PROC_SUPER_MAGIC;
  errno = saved_errno;
  return proc;
}

bool
proc_mounted (void)
{
  int saved_errno = errno;
  int fd = open ("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
  bool mounted = 0 <= fd && fd_is_proc (fd);
  if (0 <= fd)
    close (fd);
  errno = saved_errno;
  return mounted;
}

bool
process_dir_ended (int dirfd)
{
  int fd = openat (dirfd, "stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ESRCH || errno == ENOENT;
  close (fd);
  return false;
}

pid_t
process_parent (pid_t pid)
{
  struct proc_stat st;
  return read_proc_stat (pid, &st) == 0 ? st.ppid : 0;
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
  struct proc_stat st;
  if (read_proc_stat (pid, &st) == 0)
    {
      /* A zombie thread-group leader with live threads is alive.  */
      if ((st.state == 'Z' || st.state == 'X') && st.threads <= 1)
        return PROCESS_DEAD;
      if (start_time != 0 && st.start_time != start_time)
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

static int boot_id_errno;

char const *
this_boot_id (void)
{
  static char boot_id[40];
  static bool done;
  if (!done)
    {
      int saved_errno = errno;
      if (!read_line_file (BOOT_ID_FILE, boot_id, sizeof boot_id))
        {
          boot_id[0] = '\0';
          /* An empty file reads as 0 bytes, errno 0 (full_read).  */
          boot_id_errno = errno ? errno : ENODATA;
        }
      else if (!boot_id[0])
        boot_id_errno = ENODATA;
      errno = saved_errno;
      done = true;
    }
  return boot_id;
}

int
this_boot_id_errno (void)
{
  this_boot_id ();
  return boot_id_errno;
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
  /* /proc/PID/cmdline is the arguments, each ending in a null byte;
     an empty argument is that byte alone.  */
  char **argv = xnmalloc (n + 1, sizeof *argv);
  size_t argc = 0;
  for (char *arg = args; arg < args + n; arg += strlen (arg) + 1)
    argv[argc++] = arg;
  argv[argc] = NULL;
  char *line = shell_words_line (argv);
  copy_one_line (buf, size, line);
  free (line);
  free (argv);
}


/* Is descriptor FD of process PID open on the file *ST, for reading if
   READING?  */
static bool
process_fd_is (pid_t pid, int fd, struct stat const *st, bool reading)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%ld/fd/%d", (long) pid, fd);
  struct stat fd_st;
  if (stat (path, &fd_st) != 0 || !SAME_INODE (fd_st, *st))
    return false;
  if (!reading)
    return true;
  snprintf (path, sizeof path, "/proc/%ld/fdinfo/%d", (long) pid, fd);
  char info[256];
  if (read_small_file (path, info, sizeof info) <= 0)
    return false;
  char const *flags = strstr (info, "flags:");
  return flags && (strtol (flags + strlen ("flags:"), NULL, 8)
                   & O_ACCMODE) == O_RDONLY;
}

bool
process_fd_is_file (pid_t pid, int fd, struct stat const *st)
{
  return process_fd_is (pid, fd, st, false);
}

bool
process_reads (pid_t pid, struct stat const *st)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%ld/fd", (long) pid);
  DIR *dir = opendir (path);
  if (!dir)
    return false;
  bool reads = false;
  struct dirent *e;
  while (!reads && (e = readdir (dir)))
    if (c_isdigit (e->d_name[0]))
      reads = process_fd_is (pid, atoi (e->d_name), st, true);
  closedir (dir);
  return reads;
}

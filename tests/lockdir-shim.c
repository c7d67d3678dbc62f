/* lockdir-shim.c -- an LD_PRELOAD library for tests/lockdir.bats: the
   faults a network filesystem can produce, made on demand.

   LOCKDIR_SHIM_RENAME_LIES=1: the first renameat(2) of a lockdir
   temporary (".lockdir.*") onto another name is done, then reported as
   failed with ENOENT -- what an NFS client says when its rename request
   was retransmitted after the server had already done it.

   LOCKDIR_SHIM_NO_DNOTIFY=1: fcntl(F_NOTIFY) fails with EINVAL, as in a
   kernel built without dnotify.

   LOCKDIR_SHIM_STOP_WATCH=1: inotify_add_watch(2) stops the process
   (SIGSTOP) before it is made and again after, so that a test can
   change the filesystem between the waiter's look and its watch, and
   read the watch (/proc/PID/fdinfo) before the waiter goes on.

   LOCKDIR_SHIM_NO_RETIRE=1: the rename that retires a queue ticket
   (NAME to .NAME) fails, so the ticket is only unlinked: what a lockdir
   that does not retire tickets does.

   LOCKDIR_SHIM_NO_WAITER=1: a queue ticket is written without its
   waiter_pid and waiter_start_time lines: the script form's ticket as
   lockdir wrote it before they existed, naming the script alone.

   LOCKDIR_SHIM_TICKET_UNLINK_FAILS=ERRNO: every unlinkat(2) of a queue
   ticket (a name "N.x.ID" or "N.s.ID", or one retired, '.' and such a
   name) fails with the errno numbered ERRNO, without doing anything:
   a ticket that cannot be removed (an I/O error).

   LOCKDIR_SHIM_TICKET_READ_FAILS=ERRNO: every readlinkat(2) of a queue
   ticket fails so: a ticket that cannot be read.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

int
renameat (int olddirfd, char const *oldpath, int newdirfd,
          char const *newpath)
{
  static int (*real_renameat) (int, char const *, int, char const *);
  static int lied;
  if (!real_renameat)
    real_renameat = (int (*) (int, char const *, int, char const *))
      dlsym (RTLD_NEXT, "renameat");
  char const *no_retire = getenv ("LOCKDIR_SHIM_NO_RETIRE");
  if (no_retire && strcmp (no_retire, "1") == 0 && newpath[0] == '.'
      && strcmp (newpath + 1, oldpath) == 0)
    {
      errno = EPERM;
      return -1;
    }
  int r = real_renameat (olddirfd, oldpath, newdirfd, newpath);
  char const *lies = getenv ("LOCKDIR_SHIM_RENAME_LIES");
  if (r == 0 && lies && strcmp (lies, "1") == 0 && !lied
      && strncmp (oldpath, ".lockdir.", strlen (".lockdir.")) == 0)
    {
      lied = 1;
      errno = ENOENT;
      return -1;
    }
  return r;
}

/* Is NAME a queue ticket's, or a retired one's?  */
static bool
ticket_name (char const *name)
{
  if (name[0] == '.')
    name++;
  if (*name < '0' || *name > '9')
    return false;
  while (*name >= '0' && *name <= '9')
    name++;
  return (name[0] == '.' && (name[1] == 'x' || name[1] == 's')
          && name[2] == '.' && name[3] != '\0');
}

int
unlinkat (int dirfd, char const *path, int flags)
{
  static int (*real_unlinkat) (int, char const *, int);
  if (!real_unlinkat)
    real_unlinkat = (int (*) (int, char const *, int))
      dlsym (RTLD_NEXT, "unlinkat");
  char const *fails = getenv ("LOCKDIR_SHIM_TICKET_UNLINK_FAILS");
  if (fails && *fails && ticket_name (path))
    {
      errno = atoi (fails);
      return -1;
    }
  return real_unlinkat (dirfd, path, flags);
}

ssize_t
readlinkat (int dirfd, char const *path, char *buf, size_t size)
{
  static ssize_t (*real_readlinkat) (int, char const *, char *, size_t);
  if (!real_readlinkat)
    real_readlinkat = (ssize_t (*) (int, char const *, char *, size_t))
      dlsym (RTLD_NEXT, "readlinkat");
  char const *fails = getenv ("LOCKDIR_SHIM_TICKET_READ_FAILS");
  if (fails && *fails && ticket_name (path))
    {
      errno = atoi (fails);
      return -1;
    }
  return real_readlinkat (dirfd, path, buf, size);
}

int
fcntl (int fd, int cmd, ...)
{
  static int (*real_fcntl) (int, int, ...);
  if (!real_fcntl)
    real_fcntl = (int (*) (int, int, ...)) dlsym (RTLD_NEXT, "fcntl");
  va_list ap;
  va_start (ap, cmd);
  /* Every fcntl argument is an int, a long or a pointer.  */
  void *arg = va_arg (ap, void *);
  va_end (ap);
  char const *no_dnotify = getenv ("LOCKDIR_SHIM_NO_DNOTIFY");
  if (cmd == F_NOTIFY && no_dnotify && strcmp (no_dnotify, "1") == 0)
    {
      errno = EINVAL;
      return -1;
    }
  return real_fcntl (fd, cmd, arg);
}

int
symlinkat (char const *target, int newdirfd, char const *linkpath)
{
  static int (*real_symlinkat) (char const *, int, char const *);
  if (!real_symlinkat)
    real_symlinkat = (int (*) (char const *, int, char const *))
      dlsym (RTLD_NEXT, "symlinkat");
  char const *no_waiter = getenv ("LOCKDIR_SHIM_NO_WAITER");
  if (!no_waiter || strcmp (no_waiter, "1") != 0)
    return real_symlinkat (target, newdirfd, linkpath);
  /* The record without its lines that start "waiter_".  */
  char record[8192];
  size_t len = 0;
  for (char const *line = target; *line; )
    {
      char const *end = strchr (line, '\n');
      size_t n = end ? (size_t) (end - line) + 1 : strlen (line);
      if (strncmp (line, "waiter_", strlen ("waiter_")) != 0
          && len + n < sizeof record)
        {
          memcpy (record + len, line, n);
          len += n;
        }
      line += n;
    }
  record[len] = '\0';
  return real_symlinkat (record, newdirfd, linkpath);
}

int
inotify_add_watch (int fd, char const *path, uint32_t mask)
{
  static int (*real_add_watch) (int, char const *, uint32_t);
  if (!real_add_watch)
    real_add_watch = (int (*) (int, char const *, uint32_t))
      dlsym (RTLD_NEXT, "inotify_add_watch");
  char const *stop = getenv ("LOCKDIR_SHIM_STOP_WATCH");
  bool stopping = stop && strcmp (stop, "1") == 0;
  if (stopping)
    raise (SIGSTOP);
  int wd = real_add_watch (fd, path, mask);
  int saved_errno = errno;
  if (stopping)
    raise (SIGSTOP);
  errno = saved_errno;
  return wd;
}

/* fault-shim -- an LD_PRELOAD library that stops a process at an exact
   library call, or makes one call fail, for tests that must not depend
   on timing.

   FAULT_DIR    a directory for the handshake files (required for pauses)
   FAULT_PAUSE  CALL:N[,CALL:N]...  before the Nth call of CALL, create
                FAULT_DIR/paused.CALL.N, then wait until FAULT_DIR/go.CALL.N
                exists (a test can look at, or change, the world while
                the process is stopped there, then let it go on)
   FAULT_FAIL   CALL:N:ERRNO[,...]  the Nth call of CALL fails with the
                errno numbered ERRNO, without doing anything

   FAULT_CLOCK_AHEAD  N:SECONDS  from its (N+1)th call on, clock_gettime
                of CLOCK_MONOTONIC answers SECONDS later than the clock
                (a wait whose deadline came from one of the first N
                calls then runs out at once, without the test waiting)
   FAULT_REALTIME  SECONDS[:SECONDS]...  the Nth call of clock_gettime
                of CLOCK_REALTIME answers the Nth SECONDS since the
                epoch, and each call after the list the last one (a
                time stamp can then change between a check and a use)

   FAULT_NO_TMPFILE  if set and not empty, every open of an unnamed
                file (O_TMPFILE) fails with EOPNOTSUPP, as on a
                filesystem without them (the tool's named temporaries
                are then used, and can be tested)
   FAULT_NO_PROC  if set and not empty, /proc is not there: every open
                of "/proc" or a path under it, and every linkat from a
                path under it, fails with ENOENT
   FAULT_NO_FLINK  if set and not empty, every linkat with AT_EMPTY_PATH
                fails with ENOENT, as for a caller without
                CAP_DAC_READ_SEARCH before Linux 6.10

   CALL is one of renameat2, renameat, symlinkat, unlinkat, ftruncate,
   pread (ftruncate64 counts as ftruncate, pread64 as pread), waitid.
   The pause at a waitid comes after the call has returned, so that a
   test can change what it saw before the process acts on it (a child
   then exits); a failure given for it is made without the call.  Calls
   are counted per process, from 1.  A pause gives up after five
   minutes, so a broken test cannot hang forever.  Signals are
   delivered during a pause as usual, unless the process holds them.  */

#define _GNU_SOURCE 1

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

enum call
{
  RENAMEAT2, RENAMEAT, SYMLINKAT, UNLINKAT, FTRUNCATE, PREAD, WAITID,
  N_CALLS
};
static char const *const call_names[N_CALLS] = {
  "renameat2", "renameat", "symlinkat", "unlinkat", "ftruncate", "pread",
  "waitid"
};
static unsigned long call_count[N_CALLS];

/* Whether LIST (the value of FAULT_PAUSE or FAULT_FAIL) names call
   NAME number N; if so and ERRNUM is not NULL, set it from the third
   field.  */
static int
listed (char const *list, char const *name, unsigned long n, int *errnum)
{
  size_t name_len = strlen (name);
  for (char const *p = list; p && *p; )
    {
      char *end;
      if (strncmp (p, name, name_len) == 0 && p[name_len] == ':'
          && strtoul (p + name_len + 1, &end, 10) == n)
        {
          if (!errnum)
            return 1;
          if (*end == ':')
            {
              *errnum = (int) strtol (end + 1, NULL, 10);
              return 1;
            }
        }
      p = strchr (p, ',');
      if (p)
        p++;
    }
  return 0;
}

static void
handshake_path (char *buf, size_t size, char const *what,
                char const *name, unsigned long n)
{
  snprintf (buf, size, "%s/%s.%s.%lu", getenv ("FAULT_DIR"), what, name, n);
}

/* Pause at call N of NAME if asked.  */
static void
pause_at (char const *name, unsigned long n)
{
  if (getenv ("FAULT_DIR") && listed (getenv ("FAULT_PAUSE"), name, n, NULL))
    {
      char paused[4096], go[4096];
      handshake_path (paused, sizeof paused, "paused", name, n);
      handshake_path (go, sizeof go, "go", name, n);
      int fd = open (paused, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd >= 0)
        close (fd);
      struct timespec tick = { 0, 1000 * 1000 };
      for (long i = 0; i < 300L * 1000 && access (go, F_OK) != 0; i++)
        nanosleep (&tick, NULL);
    }
}

/* Count a call of C; pause before it if asked (waitid: after it).
   Return 0 to go on, or an errno with which the call is to fail.  */
static int
before_call (enum call c)
{
  int saved_errno = errno;
  unsigned long n = ++call_count[c];
  char const *name = call_names[c];
  if (c != WAITID)
    pause_at (name, n);
  int errnum = 0;
  if (listed (getenv ("FAULT_FAIL"), name, n, &errnum) && errnum > 0)
    return errnum;
  errno = saved_errno;
  return 0;
}

static void *
next (char const *name)
{
  void *fn = dlsym (RTLD_NEXT, name);
  if (!fn)
    {
      fprintf (stderr, "fault-shim: no %s\n", name);
      abort ();
    }
  return fn;
}

int
renameat2 (int olddirfd, char const *oldpath, int newdirfd,
           char const *newpath, unsigned int flags)
{
  static int (*real) (int, char const *, int, char const *, unsigned int);
  int errnum = before_call (RENAMEAT2);
  if (errnum)
    {
      errno = errnum;
      return -1;
    }
  if (!real)
    real = next ("renameat2");
  return real (olddirfd, oldpath, newdirfd, newpath, flags);
}

int
renameat (int olddirfd, char const *oldpath, int newdirfd,
          char const *newpath)
{
  static int (*real) (int, char const *, int, char const *);
  int errnum = before_call (RENAMEAT);
  if (errnum)
    {
      errno = errnum;
      return -1;
    }
  if (!real)
    real = next ("renameat");
  return real (olddirfd, oldpath, newdirfd, newpath);
}

int
symlinkat (char const *target, int newdirfd, char const *linkpath)
{
  static int (*real) (char const *, int, char const *);
  int errnum = before_call (SYMLINKAT);
  if (errnum)
    {
      errno = errnum;
      return -1;
    }
  if (!real)
    real = next ("symlinkat");
  return real (target, newdirfd, linkpath);
}

int
waitid (idtype_t idtype, id_t id, siginfo_t *info, int options)
{
  static int (*real) (idtype_t, id_t, siginfo_t *, int);
  int errnum = before_call (WAITID);
  if (errnum)
    {
      errno = errnum;
      return -1;
    }
  if (!real)
    real = next ("waitid");
  int result = real (idtype, id, info, options);
  int saved_errno = errno;
  pause_at ("waitid", call_count[WAITID]);
  errno = saved_errno;
  return result;
}

int
clock_gettime (clockid_t clock, struct timespec *ts)
{
  static int (*real) (clockid_t, struct timespec *);
  static unsigned long monotonic_calls;
  static unsigned long realtime_calls;
  if (!real)
    real = next ("clock_gettime");
  int result = real (clock, ts);
  char const *ahead = getenv ("FAULT_CLOCK_AHEAD");
  if (result == 0 && clock == CLOCK_MONOTONIC && ahead)
    {
      char *end;
      unsigned long after = strtoul (ahead, &end, 10);
      if (*end == ':' && ++monotonic_calls > after)
        ts->tv_sec += strtol (end + 1, NULL, 10);
    }
  char const *times = getenv ("FAULT_REALTIME");
  if (result == 0 && clock == CLOCK_REALTIME && times && *times)
    {
      /* Skip to the SECONDS of this call, or the last one.  */
      char const *p = times;
      for (unsigned long i = realtime_calls++; i > 0 && strchr (p, ':'); i--)
        p = strchr (p, ':') + 1;
      ts->tv_sec = strtoll (p, NULL, 10);
    }
  return result;
}

int
unlinkat (int dirfd, char const *path, int flags)
{
  static int (*real) (int, char const *, int);
  int errnum = before_call (UNLINKAT);
  if (errnum)
    {
      errno = errnum;
      return -1;
    }
  if (!real)
    real = next ("unlinkat");
  return real (dirfd, path, flags);
}

int
ftruncate (int fd, off_t length)
{
  static int (*real) (int, off_t);
  int errnum = before_call (FTRUNCATE);
  if (errnum)
    {
      errno = errnum;
      return -1;
    }
  if (!real)
    real = next ("ftruncate");
  return real (fd, length);
}

/* With 64-bit file offsets on a 32-bit system, a program calls this.  */
int
ftruncate64 (int fd, off64_t length)
{
  static int (*real) (int, off64_t);
  int errnum = before_call (FTRUNCATE);
  if (errnum)
    {
      errno = errnum;
      return -1;
    }
  if (!real)
    real = next ("ftruncate64");
  return real (fd, length);
}

ssize_t
pread (int fd, void *buf, size_t count, off_t offset)
{
  static ssize_t (*real) (int, void *, size_t, off_t);
  int errnum = before_call (PREAD);
  if (errnum)
    {
      errno = errnum;
      return -1;
    }
  if (!real)
    real = next ("pread");
  return real (fd, buf, count, offset);
}

/* With 64-bit file offsets, a program may call this.  */
ssize_t
pread64 (int fd, void *buf, size_t count, off64_t offset)
{
  static ssize_t (*real) (int, void *, size_t, off64_t);
  int errnum = before_call (PREAD);
  if (errnum)
    {
      errno = errnum;
      return -1;
    }
  if (!real)
    real = next ("pread64");
  return real (fd, buf, count, offset);
}

/* Whether the switch NAME is set and not empty.  */
static int
switched_on (char const *name)
{
  char const *value = getenv (name);
  return value && *value;
}

/* Whether PATH is "/proc" or under it, and FAULT_NO_PROC hides it.  */
static int
hidden_proc (char const *path)
{
  return (switched_on ("FAULT_NO_PROC") && strncmp (path, "/proc", 5) == 0
          && (path[5] == '\0' || path[5] == '/'));
}

/* Whether an open of PATH with FLAGS is to fail: FAULT_NO_TMPFILE,
   FAULT_NO_PROC.  */
static int
no_tmpfile (char const *path, int flags)
{
  if ((flags & O_TMPFILE) == O_TMPFILE && switched_on ("FAULT_NO_TMPFILE"))
    {
      errno = EOPNOTSUPP;
      return 1;
    }
  if (hidden_proc (path))
    {
      errno = ENOENT;
      return 1;
    }
  return 0;
}

int
linkat (int olddirfd, char const *oldpath, int newdirfd,
        char const *newpath, int flags)
{
  static int (*real) (int, char const *, int, char const *, int);
  if (hidden_proc (oldpath)
      || ((flags & AT_EMPTY_PATH) && switched_on ("FAULT_NO_FLINK")))
    {
      errno = ENOENT;
      return -1;
    }
  if (!real)
    real = next ("linkat");
  return real (olddirfd, oldpath, newdirfd, newpath, flags);
}

/* The mode argument of an open with FLAGS, from AP.  */
#define OPEN_MODE(flags, ap, last)                                      \
  mode_t mode = 0;                                                      \
  if ((flags) & O_CREAT || ((flags) & O_TMPFILE) == O_TMPFILE)          \
    {                                                                   \
      va_start (ap, last);                                              \
      mode = va_arg (ap, mode_t);                                       \
      va_end (ap);                                                      \
    }

int
open (char const *path, int flags, ...)
{
  static int (*real) (char const *, int, ...);
  va_list ap;
  OPEN_MODE (flags, ap, flags);
  if (no_tmpfile (path, flags))
    return -1;
  if (!real)
    real = next ("open");
  return real (path, flags, mode);
}

int
open64 (char const *path, int flags, ...)
{
  static int (*real) (char const *, int, ...);
  va_list ap;
  OPEN_MODE (flags, ap, flags);
  if (no_tmpfile (path, flags))
    return -1;
  if (!real)
    real = next ("open64");
  return real (path, flags, mode);
}

int
openat (int dirfd, char const *path, int flags, ...)
{
  static int (*real) (int, char const *, int, ...);
  va_list ap;
  OPEN_MODE (flags, ap, flags);
  if (no_tmpfile (path, flags))
    return -1;
  if (!real)
    real = next ("openat");
  return real (dirfd, path, flags, mode);
}

int
openat64 (int dirfd, char const *path, int flags, ...)
{
  static int (*real) (int, char const *, int, ...);
  va_list ap;
  OPEN_MODE (flags, ap, flags);
  if (no_tmpfile (path, flags))
    return -1;
  if (!real)
    real = next ("openat64");
  return real (dirfd, path, flags, mode);
}

/* swap-reader -- read through a path that is being swapped, and count
   every read that fails.

   swap-reader READY FILE
     loop: open FILE, read it; a failure is an open or read error or an
     empty file.
   swap-reader --dir READY DIR A B
     loop: open the directory DIR, then A and B inside that one
     directory, and read both; a failure is an error, an empty file, or
     A and B differing (a directory seen half old, half new).
   swap-reader --readlink READY LINK
     loop: read the symbolic link LINK; a failure is an error.  Each
     distinct target seen is printed once, as "seen TARGET", after the
     counts.

   READY is created after the first iteration.  On SIGTERM or SIGINT the
   reader stops and prints "reads=N failures=M switches=K" (a switch is a
   read whose content differs from the one before), then the first
   failure, if any.  It also stops on its own after ten minutes.  */

#include <config.h>

#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void
on_signal (int sig)
{
  (void) sig;
  stop = 1;
}

/* Read the file NAME in DIRFD into BUF (NUL-terminated).  Return its
   length, or -1 with errno set.  */
static ssize_t
read_file (int dirfd, char const *name, char *buf, size_t size)
{
  int fd = openat (dirfd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t total = 0;
  for (;;)
    {
      ssize_t n = read (fd, buf + total, size - 1 - total);
      if (n < 0)
        {
          int saved_errno = errno;
          close (fd);
          errno = saved_errno;
          return -1;
        }
      if (n == 0 || (size_t) (total += n) == size - 1)
        break;
    }
  close (fd);
  buf[total] = '\0';
  return total;
}

/* The distinct targets seen in --readlink mode.  */
static char **seen;
static size_t n_seen, seen_alloc;

static void
remember (char const *value)
{
  for (size_t i = 0; i < n_seen; i++)
    if (strcmp (seen[i], value) == 0)
      return;
  if (n_seen == seen_alloc)
    seen = x2nrealloc (seen, &seen_alloc, sizeof *seen);
  seen[n_seen++] = xstrdup (value);
}

int
main (int argc, char **argv)
{
  bool dir_mode = argc == 6 && strcmp (argv[1], "--dir") == 0;
  bool link_mode = argc == 4 && strcmp (argv[1], "--readlink") == 0;
  if (!dir_mode && !link_mode && argc != 3)
    {
      fprintf (stderr, "usage: %s READY FILE | --dir READY DIR A B"
               " | --readlink READY LINK\n", argv[0]);
      return 2;
    }
  char const *ready = argv[dir_mode || link_mode ? 2 : 1];

  struct sigaction act;
  memset (&act, 0, sizeof act);
  act.sa_handler = on_signal;
  sigaction (SIGTERM, &act, NULL);
  sigaction (SIGINT, &act, NULL);

  static char a[4096], b[4096], last[4096];
  char first_failure[8192] = "";
  unsigned long reads = 0, failures = 0, switches = 0;
  time_t give_up = time (NULL) + 600;

  while (!stop && time (NULL) < give_up)
    {
      char const *what = NULL;
      int err = 0;
      if (link_mode)
        {
          ssize_t n = readlink (argv[3], a, sizeof a - 1);
          if (n < 0)
            what = argv[3], err = errno;
          else
            {
              a[n] = '\0';
              remember (a);
            }
        }
      else if (!dir_mode)
        {
          ssize_t n = read_file (AT_FDCWD, argv[2], a, sizeof a);
          if (n < 0)
            what = argv[2], err = errno;
          else if (n == 0)
            what = "empty file";
        }
      else
        {
          int dirfd = open (argv[3], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
          if (dirfd < 0)
            what = argv[3], err = errno;
          else
            {
              ssize_t na = read_file (dirfd, argv[4], a, sizeof a);
              if (na < 0)
                what = argv[4], err = errno;
              else
                {
                  ssize_t nb = read_file (dirfd, argv[5], b, sizeof b);
                  if (nb < 0)
                    what = argv[5], err = errno;
                  else if (na == 0 || nb == 0)
                    what = "empty file";
                  else if (strcmp (a, b) != 0)
                    what = "the two files differ";
                }
              close (dirfd);
            }
        }

      reads++;
      if (what)
        {
          if (failures++ == 0)
            snprintf (first_failure, sizeof first_failure, "%s%s%s", what,
                      err ? ": " : "", err ? strerror (err) : "");
        }
      else
        {
          if (reads > 1 && strcmp (a, last) != 0)
            switches++;
          strcpy (last, a);
        }
      if (reads == 1)
        {
          int fd = open (ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
          if (fd >= 0)
            close (fd);
        }
    }

  printf ("reads=%lu failures=%lu switches=%lu\n", reads, failures, switches);
  if (failures)
    printf ("first failure: %s\n", first_failure);
  for (size_t i = 0; i < n_seen; i++)
    printf ("seen %s\n", seen[i]);
  return 0;
}

/* holdbench -- what one holding of a lock costs, without a process.

   holdbench [-n ITERATIONS] [-p USEC] DIR

   Times, in the directory DIR, ITERATIONS holdings of each kind, in
   turn (one of each per iteration, so both see the same load):
     lockdir  what 'lockdir DIR/L.hold COMMAND' does around COMMAND:
              the filesystem check, dirlock_acquire (the owner record,
              the directory renamed to the lock, the token from
              LOCK.last), the command's pid added to the record, and
              dirlock_release (the record renamed over LOCK.last, the
              directory removed) -- the library's own code;
     flock    what 'flock DIR/L.flock COMMAND' does around COMMAND:
              open the lock file, flock(2) it, close it.
   With -p, each holding is preceded by a pause of USEC microseconds
   (not timed), the time a command would take: on ext4, holdings back
   to back cost less than holdings apart.
   Output, one line per kind: NAME  median-us  p90-us.

   'lockdir L true' and 'flock L true' both also start a process, run
   the command and wait for it; this leaves that out, so that the
   difference between the two lines is the part of the cost of one call
   that is the lock's own: mostly the filesystem's work on the lock's
   files, which depends much on the filesystem (see the README).  */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "benchstats.h"
#include "common.h"
#include "dirlock.h"
#include "fsclass.h"
#include "procfacts.h"

/* Sleep USEC microseconds, if any: the time a command would take.  */
static void
pause_for (long usec)
{
  if (usec > 0)
    {
      struct timespec ts = { usec / 1000000, usec % 1000000 * 1000 };
      nanosleep (&ts, NULL);
    }
}

/* One holding of the lock PATH as lockdir takes it.  */
static void
hold_dirlock (char const *path)
{
  struct parent_dir parent;
  if (!open_parent (path, &parent))
    {
      perror (path);
      exit (EXIT_FAILURE);
    }
  bool permitted = fs_permits (path, parent.fd, NULL, FS_MKDIR, false, false);
  close_parent (&parent);
  struct dirlock lock;
  struct timespec now = { 0, 0 };
  unsigned long long start_time;
  /* lockdir's command names itself in the owner record before it
     execs: here we stand for it.  */
  if (!permitted || dirlock_acquire (&lock, path, deadline_after (now)) != 0
      || process_start_time (getpid (), &start_time) != 0
      || dirlock_add_child (&lock, getpid (), start_time) != 0
      || dirlock_release (&lock) != 0)
    {
      fprintf (stderr, "holdbench: cannot hold %s: %s\n", path,
               strerror (errno));
      exit (EXIT_FAILURE);
    }
}

/* One holding of the lock file PATH as flock(1) takes it: the peer
   measured (the tools themselves use no flock locks).  */
static void
hold_flock (char const *path)
{
  int fd = open (path, O_RDONLY | O_CREAT | O_NOCTTY | O_CLOEXEC, 0666);
  if (fd < 0 || flock (fd, LOCK_EX) != 0)
    {
      perror (path);
      exit (EXIT_FAILURE);
    }
  close (fd);
}

int
main (int argc, char **argv)
{
  tool_init_named ("lockdir", argc, argv);
  int iterations = 1000;
  long pause_us = 0;
  int c;
  while ((c = getopt (argc, argv, "n:p:")) != -1)
    if (c == 'n')
      iterations = atoi (optarg);
    else if (c == 'p')
      pause_us = atol (optarg);
    else
      return 2;
  if (optind != argc - 1 || iterations < 1)
    {
      fprintf (stderr, "usage: holdbench [-n ITERATIONS] [-p USEC] DIR\n");
      return 2;
    }
  char const *dir = argv[optind];
  size_t size = strlen (dir) + sizeof "/L.flock";
  char *dir_path = malloc (size), *flock_path = malloc (size);
  double *dir_us = malloc (iterations * sizeof *dir_us);
  double *flock_us = malloc (iterations * sizeof *flock_us);
  if (!dir_path || !flock_path || !dir_us || !flock_us)
    return EXIT_FAILURE;
  snprintf (dir_path, size, "%s/L.hold", dir);
  snprintf (flock_path, size, "%s/L.flock", dir);

  /* A first holding of each makes LOCK.last and the lock file.  */
  hold_dirlock (dir_path);
  hold_flock (flock_path);
  for (int i = 0; i < iterations; i++)
    {
      pause_for (pause_us);
      double t0 = now_us ();
      hold_dirlock (dir_path);
      dir_us[i] = now_us () - t0;
      pause_for (pause_us);
      t0 = now_us ();
      hold_flock (flock_path);
      flock_us[i] = now_us () - t0;
    }
  double dir_median = median (dir_us, iterations);
  double flock_median = median (flock_us, iterations);
  printf ("lockdir\t%.1f\t%.1f\n", dir_median,
          quantile (dir_us, iterations, 0.9));
  printf ("flock\t%.1f\t%.1f\n", flock_median,
          quantile (flock_us, iterations, 0.9));
  return EXIT_SUCCESS;
}

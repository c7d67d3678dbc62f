/* spawnbench -- time commands per invocation, interleaved, as ratios.

   spawnbench [-n ITERATIONS] [-w WARMUP] CASEFILE

   CASEFILE has one case per line, three fields separated by tabs:
     NAME  PREPARE  COMMAND
   PREPARE is a /bin/sh command run untimed before each timed run ("-"
   for none); COMMAND is split on blanks ('single quotes' group words)
   and run directly, with no shell.  The first case is the reference
   (usually /bin/true).

   Every iteration runs every case once, in file order, so all cases see
   the same machine load; each case's time is divided by the reference's
   time in the same iteration.  Output, one line per case:
     NAME  median-us  median-ratio-to-reference
   The machine here is shared and noisy: only the ratios mean much.  */

#include <config.h>

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchstats.h"

extern char **environ;

enum { MAX_CASES = 32, MAX_ARGS = 32 };

struct bench_case
{
  char *name;
  char *prepare;          /* NULL for none */
  char *argv[MAX_ARGS];
  double *micros;         /* one per iteration */
  double *ratios;
};

/* Split LINE's COMMAND field into ARGV in place.  */
static int
split_words (char *s, char **argv)
{
  int n = 0;
  while (*s && n < MAX_ARGS - 1)
    {
      while (*s == ' ')
        s++;
      if (!*s)
        break;
      char *out = s;
      argv[n++] = s;
      while (*s && *s != ' ')
        {
          if (*s == '\'')
            {
              for (s++; *s && *s != '\''; )
                *out++ = *s++;
              if (*s)
                s++;
            }
          else
            *out++ = *s++;
        }
      if (*s)
        s++;
      *out = '\0';
    }
  argv[n] = NULL;
  return n;
}

/* Resolve a command name on PATH once, so the timed runs do not pay
   for the PATH search.  */
static char *
resolve (char const *name)
{
  if (strchr (name, '/'))
    return strdup (name);
  char const *path = getenv ("PATH");
  if (!path)
    path = "/usr/bin:/bin";
  char *copy = strdup (path);
  for (char *save, *dir = strtok_r (copy, ":", &save); dir;
       dir = strtok_r (NULL, ":", &save))
    {
      char *full;
      if (asprintf (&full, "%s/%s", dir, name) < 0)
        break;
      if (access (full, X_OK) == 0)
        {
          free (copy);
          return full;
        }
      free (full);
    }
  free (copy);
  fprintf (stderr, "spawnbench: %s: not found\n", name);
  exit (1);
}

static int
run (char **argv, double *elapsed_us)
{
  pid_t pid;
  double start = now_us ();
  int err = posix_spawn (&pid, argv[0], NULL, NULL, argv, environ);
  if (err)
    {
      errno = err;
      perror (argv[0]);
      exit (1);
    }
  int status;
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      {
        perror ("waitpid");
        exit (1);
      }
  *elapsed_us = now_us () - start;
  return status;
}

int
main (int argc, char **argv)
{
  int iterations = 200, warmup = 10;
  int opt;
  while ((opt = getopt (argc, argv, "n:w:")) != -1)
    switch (opt)
      {
      case 'n': iterations = atoi (optarg); break;
      case 'w': warmup = atoi (optarg); break;
      default:
        fprintf (stderr, "usage: spawnbench [-n N] [-w N] CASEFILE\n");
        return 2;
      }
  if (optind + 1 != argc || iterations < 1)
    {
      fprintf (stderr, "usage: spawnbench [-n N] [-w N] CASEFILE\n");
      return 2;
    }

  FILE *f = fopen (argv[optind], "r");
  if (!f)
    {
      perror (argv[optind]);
      return 1;
    }
  struct bench_case cases[MAX_CASES];
  int ncases = 0;
  char *line = NULL;
  size_t size = 0;
  while (getline (&line, &size, f) > 0 && ncases < MAX_CASES)
    {
      line[strcspn (line, "\n")] = '\0';
      if (line[0] == '#' || line[0] == '\0')
        continue;
      char *name = strtok (line, "\t");
      char *prepare = strtok (NULL, "\t");
      char *command = strtok (NULL, "\t");
      if (!name || !prepare || !command)
        {
          fprintf (stderr, "spawnbench: bad case line\n");
          return 1;
        }
      struct bench_case *c = &cases[ncases++];
      c->name = strdup (name);
      c->prepare = strcmp (prepare, "-") == 0 ? NULL : strdup (prepare);
      char *words = strdup (command);
      if (split_words (words, c->argv) == 0)
        return 1;
      c->argv[0] = resolve (c->argv[0]);
      c->micros = calloc (iterations, sizeof (double));
      c->ratios = calloc (iterations, sizeof (double));
    }
  fclose (f);

  for (int it = -warmup; it < iterations; it++)
    for (int i = 0; i < ncases; i++)
      {
        struct bench_case *c = &cases[i];
        if (c->prepare && system (c->prepare) != 0)
          {
            fprintf (stderr, "spawnbench: prepare of %s failed\n", c->name);
            return 1;
          }
        double us;
        int status = run (c->argv, &us);
        if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
          {
            fprintf (stderr, "spawnbench: %s exited with status %d\n",
                     c->name, WEXITSTATUS (status));
            return 1;
          }
        if (it >= 0)
          {
            c->micros[it] = us;
            c->ratios[it] = us / cases[0].micros[it];
          }
      }

  for (int i = 0; i < ncases; i++)
    printf ("%s\t%.0f\t%.2f\n", cases[i].name,
            median (cases[i].micros, iterations),
            median (cases[i].ratios, iterations));
  return 0;
}

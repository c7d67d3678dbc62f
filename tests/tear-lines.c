/* tear-lines -- generate and check self-verifying lines for append tests.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

/* Usage:
     tear-lines gen [-s SEED] [-c CHUNK] [-d USEC] [-b READY:GO] [-o FILE]
                    [-w FILE] WRITER COUNT
     tear-lines check [-s SEED] WRITERS COUNT < FILE
     tear-lines append [-c] FILE < RECORDS

   'gen' writes COUNT lines for writer WRITER.  Line SEQ of writer W is
   fully determined by (SEED, W, SEQ): its length (1 byte to 64 KiB,
   mostly short, regularly long) and its content.  A line long enough
   reads "W,SEQ,PAYLOAD,CHECKSUM" (CHECKSUM: FNV-1a 32 of the rest, in
   hex); a shorter one is just pseudo-random letters.  The lines go to
   standard output in chunks that do not follow line boundaries: CHUNK
   bytes each, or by default sizes drawn from 1 to 8191, with a pause of
   USEC microseconds after each chunk with -d (a slow producer).  With -o FILE
   they are appended to FILE through stdio with a buffer of CHUNK
   (default 4093) bytes instead -- a writer that tears lines -- and -d
   pauses after each line, so that the other writers get to write
   between the writes of a line that crosses a buffer's end.  With -b,
   all lines are generated first, then one byte is written to the FIFO
   READY and one read from the FIFO GO: a barrier for starting many
   writers at once.  With -w FILE, once half the bytes are written, the
   producer slows down (a pause of 50 ms after each chunk) for as long
   as FILE does not exist: a test that needs something to happen while
   lines still flow creates FILE when it has happened.

   'check' regenerates every line of WRITERS writers x COUNT lines and
   reads FILE, whose lines are these in any order.  A line read that is
   one of the expected lines, not yet seen as often as expected, is
   intact; one that is not expected at all is torn (pieces of lines glued
   together); one seen more often than expected is a duplicate; expected
   lines never seen are missing.  Short lines cannot carry their
   identity, so lines are matched by content as a multiset.  It prints
   "intact=N torn=N missing=N duplicate=N" and exits 0 only if every line
   is intact and none is missing or duplicated.

   'append' is the naive appender the safe-append tests use as their
   control: it appends each line of standard input to FILE with one
   write(2) on an O_APPEND descriptor, stopping at the first that fails
   or comes back short (status 1, saying how much was written).  With
   -c it first checks, with fstat, that the file size limit leaves room
   for the line, and stops with status 3 if not -- the check that
   another writer can invalidate before the write.  SIGXFSZ is
   ignored.  */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LINE (64 * 1024)

static void
die (char const *what)
{
  fprintf (stderr, "tear-lines: %s: %s\n", what, strerror (errno));
  exit (2);
}

static void
usage (void)
{
  fputs ("usage: tear-lines gen [-s SEED] [-c CHUNK] [-d USEC] "
         "[-b READY:GO] [-o FILE] WRITER COUNT\n"
         "       tear-lines check [-s SEED] WRITERS COUNT < FILE\n"
         "       tear-lines append [-c] FILE < RECORDS\n", stderr);
  exit (2);
}

static unsigned long
number (char const *arg)
{
  char *end;
  errno = 0;
  unsigned long n = strtoul (arg, &end, 10);
  if (errno || end == arg || *end)
    usage ();
  return n;
}

/* splitmix64: a small, good pseudo-random generator.  */
static uint64_t
next_random (uint64_t *state)
{
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint32_t
fnv1a32 (char const *s, size_t len)
{
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < len; i++)
    h = (h ^ (unsigned char) s[i]) * 16777619u;
  return h;
}

static uint64_t
fnv1a64 (char const *s, size_t len)
{
  uint64_t h = 14695981039346656037ULL;
  for (size_t i = 0; i < len; i++)
    h = (h ^ (unsigned char) s[i]) * 1099511628211ULL;
  return h;
}

/* The length of a line: 85% 1-200 bytes, 12% up to 8 KiB, 3% up to
   64 KiB.  */
static size_t
line_length (uint64_t *state)
{
  uint64_t r = next_random (state) % 100;
  uint64_t x = next_random (state);
  if (r < 85)
    return 1 + x % 200;
  if (r < 97)
    return 201 + x % (8 * 1024 - 200);
  return 8 * 1024 + 1 + x % (MAX_LINE - 8 * 1024);
}

/* Put line SEQ of writer W (without its newline) in BUF, which has
   room for MAX_LINE bytes; return its length.  */
static size_t
make_line (char *buf, unsigned long seed, unsigned long w, unsigned long seq)
{
  static char const letters[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  uint64_t state = (seed * 0x100000001b3ULL) ^ (w << 40) ^ seq;
  next_random (&state);
  size_t len = line_length (&state);

  char header[64];
  int header_len = snprintf (header, sizeof header, "%lu,%lu,", w, seq);
  size_t payload_len = 0;
  size_t pos = 0;
  /* Room for the header, one payload byte, a comma and 8 hex digits?  */
  if (len >= (size_t) header_len + 1 + 1 + 8)
    {
      memcpy (buf, header, header_len);
      pos = header_len;
      payload_len = len - header_len - 9;
    }
  else
    payload_len = len;
  for (size_t i = 0; i < payload_len; i++)
    buf[pos++] = letters[next_random (&state) % (sizeof letters - 1)];
  if (pos < len)
    {
      uint32_t sum = fnv1a32 (buf, pos);
      snprintf (buf + pos, 10, ",%08" PRIx32, sum);
      pos += 9;
    }
  return pos;
}

static void
write_all (int fd, char const *buf, size_t len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, buf, len);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          die ("write");
        }
      buf += n;
      len -= n;
    }
}

static void
barrier (char const *spec)
{
  char *ready = strdup (spec);
  char *go = strchr (ready, ':');
  if (!go)
    usage ();
  *go++ = '\0';
  int fd = open (ready, O_WRONLY);
  if (fd < 0 || write (fd, "x", 1) != 1)
    die (ready);
  close (fd);
  fd = open (go, O_RDONLY);
  char c;
  if (fd < 0 || read (fd, &c, 1) != 1)
    die (go);
  close (fd);
  free (ready);
}

static int
generate (int argc, char **argv)
{
  unsigned long seed = 1, chunk = 0, pause_usec = 0;
  char const *barrier_spec = NULL, *out_file = NULL, *slow_until = NULL;
  int c;
  while ((c = getopt (argc, argv, "s:c:d:b:o:w:")) != -1)
    switch (c)
      {
      case 's': seed = number (optarg); break;
      case 'c': chunk = number (optarg); break;
      case 'd': pause_usec = number (optarg); break;
      case 'b': barrier_spec = optarg; break;
      case 'o': out_file = optarg; break;
      case 'w': slow_until = optarg; break;
      default: usage ();
      }
  if (argc - optind != 2)
    usage ();
  unsigned long writer = number (argv[optind]);
  unsigned long count = number (argv[optind + 1]);

  /* Everything is made before the barrier, so that after it the
     writers do nothing but write.  */
  size_t size = 1 << 20, len = 0;
  char *data = malloc (size);
  if (!data)
    die ("malloc");
  for (unsigned long seq = 0; seq < count; seq++)
    {
      if (size - len < MAX_LINE + 1)
        {
          size *= 2;
          data = realloc (data, size);
          if (!data)
            die ("realloc");
        }
      len += make_line (data + len, seed, writer, seq);
      data[len++] = '\n';
    }

  FILE *out = NULL;
  if (out_file)
    {
      out = fopen (out_file, "a");
      if (!out || setvbuf (out, NULL, _IOFBF, chunk ? chunk : 4093) != 0)
        die (out_file);
    }

  if (barrier_spec)
    barrier (barrier_spec);

  if (out)
    {
      /* Line by line, as a program using stdio would.  */
      for (char *p = data, *end = data + len; p < end; )
        {
          char *nl = memchr (p, '\n', end - p);
          if (fwrite (p, 1, nl + 1 - p, out) != (size_t) (nl + 1 - p))
            die (out_file);
          p = nl + 1;
          if (pause_usec)
            usleep (pause_usec);
        }
      if (fclose (out) != 0)
        die (out_file);
    }
  else
    {
      uint64_t state = seed ^ (writer << 32) ^ 0x5bd1e995;
      for (size_t pos = 0; pos < len; )
        {
          size_t n = chunk ? chunk : 1 + next_random (&state) % 8191;
          if (n > len - pos)
            n = len - pos;
          write_all (STDOUT_FILENO, data + pos, n);
          pos += n;
          if (pause_usec)
            usleep (pause_usec);
          if (slow_until && pos >= len / 2 && access (slow_until, F_OK) != 0)
            usleep (50000);
        }
    }
  free (data);
  return 0;
}

/* The expected lines, by the 64-bit hash of their content, with how
   many times each is still expected.  Open addressing.  */
struct slot
{
  uint64_t hash;
  uint32_t expected;
  bool used;
};

static struct slot *
find_slot (struct slot *table, size_t mask, uint64_t hash)
{
  for (size_t i = hash & mask; ; i = (i + 1) & mask)
    if (!table[i].used || table[i].hash == hash)
      return &table[i];
}

static int
check (int argc, char **argv)
{
  unsigned long seed = 1;
  int c;
  while ((c = getopt (argc, argv, "s:")) != -1)
    switch (c)
      {
      case 's': seed = number (optarg); break;
      default: usage ();
      }
  if (argc - optind != 2)
    usage ();
  unsigned long writers = number (argv[optind]);
  unsigned long count = number (argv[optind + 1]);

  size_t total = writers * count;
  size_t table_size = 16;
  while (table_size < 2 * total + 16)
    table_size *= 2;
  struct slot *table = calloc (table_size, sizeof *table);
  char *line_buf = malloc (MAX_LINE + 1);
  if (!table || !line_buf)
    die ("malloc");
  size_t mask = table_size - 1;

  for (unsigned long w = 0; w < writers; w++)
    for (unsigned long seq = 0; seq < count; seq++)
      {
        size_t len = make_line (line_buf, seed, w, seq);
        struct slot *slot = find_slot (table, mask, fnv1a64 (line_buf, len));
        slot->used = true;
        slot->hash = fnv1a64 (line_buf, len);
        slot->expected++;
      }

  uintmax_t intact = 0, torn = 0, duplicate = 0, missing = 0;
  char *line = NULL;
  size_t line_size = 0;
  ssize_t n;
  while ((n = getline (&line, &line_size, stdin)) > 0)
    {
      size_t len = n;
      if (line[len - 1] == '\n')
        len--;
      uint64_t hash = fnv1a64 (line, len);
      struct slot *slot = find_slot (table, mask, hash);
      if (!slot->used)
        {
          if (torn < 3)
            fprintf (stderr, "torn line (%zu bytes): %.60s...\n", len, line);
          torn++;
        }
      else if (slot->expected == 0)
        duplicate++;
      else
        {
          slot->expected--;
          intact++;
        }
    }
  if (ferror (stdin))
    die ("read");
  for (size_t i = 0; i < table_size; i++)
    if (table[i].used)
      missing += table[i].expected;

  printf ("intact=%ju torn=%ju missing=%ju duplicate=%ju\n",
          intact, torn, missing, duplicate);
  free (line);
  free (line_buf);
  free (table);
  return (torn == 0 && missing == 0 && duplicate == 0) ? 0 : 1;
}

static int
naive_append (int argc, char **argv)
{
  bool check_room = false;
  int c;
  while ((c = getopt (argc, argv, "c")) != -1)
    switch (c)
      {
      case 'c': check_room = true; break;
      default: usage ();
      }
  if (argc - optind != 1)
    usage ();
  char const *file = argv[optind];
  signal (SIGXFSZ, SIG_IGN);
  int fd = open (file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0)
    die (file);
  struct rlimit limit;
  if (getrlimit (RLIMIT_FSIZE, &limit) != 0)
    die ("getrlimit");

  char *line = NULL;
  size_t line_size = 0;
  ssize_t n;
  while ((n = getline (&line, &line_size, stdin)) > 0)
    {
      struct stat st;
      if (check_room && limit.rlim_cur != RLIM_INFINITY
          && (fstat (fd, &st) != 0
              || (uintmax_t) st.st_size + n > limit.rlim_cur))
        {
          fprintf (stderr, "tear-lines: no room for a %zd-byte record\n", n);
          return 3;
        }
      ssize_t written = write (fd, line, n);
      if (written != n)
        {
          fprintf (stderr, "tear-lines: wrote %zd of %zd bytes\n", written, n);
          return 1;
        }
    }
  free (line);
  return close (fd) == 0 ? 0 : 1;
}

int
main (int argc, char **argv)
{
  if (argc < 2)
    usage ();
  if (strcmp (argv[1], "gen") == 0)
    return generate (argc - 1, argv + 1);
  if (strcmp (argv[1], "check") == 0)
    return check (argc - 1, argv + 1);
  if (strcmp (argv[1], "append") == 0)
    return naive_append (argc - 1, argv + 1);
  usage ();
}

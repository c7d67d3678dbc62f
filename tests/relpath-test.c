/* relpath-test -- print relative_path (FILE, DIR) for the tests.

   relpath-test FILE DIR  */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>

#include "relpath.h"

int
main (int argc, char **argv)
{
  if (argc != 3)
    {
      fprintf (stderr, "usage: %s FILE DIR\n", argv[0]);
      return 2;
    }
  char *rel = relative_path (argv[1], argv[2]);
  puts (rel);
  free (rel);
  return 0;
}

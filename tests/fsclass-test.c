/* fsclass-test -- drive the filesystem classifier from the tests.

   fsclass-test parse < MOUNTINFO
     print each decoded line: id, mount point, fstype, source, class
   fsclass-test classify FSTYPE [MAGIC]
     print the class and the verdict for every primitive  */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "fsclass.h"

static void
print_verdicts (char *fstype, enum fs_class class)
{
  struct fs_info info = { .class = class, .fstype = fstype, .mount_id = -1 };
  for (int p = 0; p < FS_PRIMITIVE_COUNT; p++)
    {
      char const *consequence;
      enum fs_verdict v = fs_judge (&info, p, -1, &consequence);
      printf ("%s=%s\n", fs_primitive_name (p),
              v == FS_SAFE ? "safe" : v == FS_WARN ? "warn" : "refuse");
    }
}

int
main (int argc, char **argv)
{
  set_program_name (argv[0]);
  if (argc == 2 && strcmp (argv[1], "parse") == 0)
    {
      char *line = NULL;
      size_t size = 0;
      while (getline (&line, &size, stdin) > 0)
        {
          struct mountinfo_entry e;
          if (!mountinfo_parse_line (line, &e))
            {
              puts ("invalid");
              continue;
            }
          printf ("%d|%d|%s|%s|%s|%s|%s\n", e.mount_id, e.parent_id,
                  e.mount_point, e.fstype, e.source, e.super_options,
                  fs_class_name (fs_classify (e.fstype, 0)));
        }
      free (line);
      return 0;
    }
  if ((argc == 3 || argc == 4) && strcmp (argv[1], "classify") == 0)
    {
      unsigned long magic = argc == 4 ? strtoul (argv[3], NULL, 0) : 0;
      enum fs_class class = fs_classify (argv[2], magic);
      printf ("class=%s\n", fs_class_name (class));
      print_verdicts (argv[2], class);
      return 0;
    }
  fprintf (stderr, "usage: %s parse < MOUNTINFO | classify FSTYPE [MAGIC]\n",
           argv[0]);
  return 2;
}

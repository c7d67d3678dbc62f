/* fsclass-test -- drive the filesystem classifier from the tests.

   fsclass-test parse < MOUNTINFO
     print each decoded line: id, mount point, fstype, source, class
   fsclass-test classify FSTYPE [MAGIC [SUPER_OPTIONS]]
     print the class and the verdict for every primitive
   fsclass-test probe DIR
     probe renameat2 flag support in DIR: NOREPLACE=N EXCHANGE=N, with N
     1 supported, 0 unsupported, -1 could not tell
   fsclass-test rename rename|noreplace|exchange OLD NEW
     rename OLD to NEW as a tool would, and on failure report it the way
     tools do (fs_rename_failure); exit 3
   fsclass-test attributes PATH
     print statx's attributes_mask for PATH, in hexadecimal  */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"
#include "fsclass.h"

#include "error.h"

static void
print_verdicts (char *fstype, enum fs_class class, char *super_options)
{
  struct fs_info info = { .class = class, .fstype = fstype, .mount_id = -1,
                          .super_options = super_options,
                          .object_lower = -1 };
  for (int p = 0; p < FS_PRIMITIVE_COUNT; p++)
    {
      char const *consequence;
      enum fs_verdict v = fs_judge (&info, p, -1, &consequence);
      printf ("%s=%s\n", fs_primitive_name (p),
              v == FS_SAFE ? "safe" : v == FS_WARN ? "warn" : "refuse");
    }
}

static int
rename_as_a_tool (char const *kind, char const *old, char const *new)
{
  enum fs_primitive prim;
  unsigned int flags;
  if (strcmp (kind, "exchange") == 0)
    prim = FS_EXCHANGE, flags = RENAME_EXCHANGE;
  else if (strcmp (kind, "noreplace") == 0)
    prim = FS_NOREPLACE, flags = RENAME_NOREPLACE;
  else
    prim = FS_RENAME, flags = 0;

  struct parent_dir p1, p2;
  if (!open_parent (old, &p1))
    error (EXIT_SYSERR, errno, "%s", old);
  if (!open_parent (new, &p2))
    error (EXIT_SYSERR, errno, "%s", new);
  if (renameat2 (p1.fd, p1.base, p2.fd, p2.base, flags) == 0)
    return EXIT_DONE;
  int err = errno;
  char *why = fs_rename_failure (p1.fd, p1.base, p2.fd, p2.base, prim, err);
  if (why)
    error (0, 0, "cannot %s %s and %s: %s", kind, quoteaf_n (0, old),
           quoteaf_n (1, new), why);
  else
    error (0, err, "cannot %s %s and %s", kind, quoteaf_n (0, old),
           quoteaf_n (1, new));
  free (why);
  return EXIT_SYSERR;
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
                  fs_class_name (fs_classify_mount (e.fstype, e.source, 0)));
        }
      free (line);
      return 0;
    }
  if (argc >= 3 && argc <= 5 && strcmp (argv[1], "classify") == 0)
    {
      unsigned long magic = argc >= 4 ? strtoul (argv[3], NULL, 0) : 0;
      enum fs_class class = fs_classify (argv[2], magic);
      printf ("class=%s\n", fs_class_name (class));
      print_verdicts (argv[2], class, argc == 5 ? argv[4] : NULL);
      return 0;
    }
  if (argc == 3 && strcmp (argv[1], "probe") == 0)
    {
      int dirfd = open (argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dirfd < 0)
        error (EXIT_SYSERR, errno, "%s", argv[2]);
      printf ("NOREPLACE=%d\n", fs_probe_renameat2 (dirfd, RENAME_NOREPLACE));
      printf ("EXCHANGE=%d\n", fs_probe_renameat2 (dirfd, RENAME_EXCHANGE));
      return 0;
    }
  if (argc == 5 && strcmp (argv[1], "rename") == 0)
    return rename_as_a_tool (argv[2], argv[3], argv[4]);
  if (argc == 3 && strcmp (argv[1], "attributes") == 0)
    {
      struct statx st;
      if (statx (AT_FDCWD, argv[2], 0, STATX_TYPE, &st) != 0)
        error (EXIT_SYSERR, errno, "%s", argv[2]);
      printf ("0x%llx\n", (unsigned long long) st.stx_attributes_mask);
      return 0;
    }
  fprintf (stderr, "usage: %s parse < MOUNTINFO"
           " | classify FSTYPE [MAGIC [OPTIONS]] | probe DIR"
           " | rename KIND OLD NEW | attributes PATH\n", argv[0]);
  return 2;
}

/* relpath.h -- the relative path from one directory to a file.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

#ifndef ATOMICUTILS_RELPATH_H
#define ATOMICUTILS_RELPATH_H

/* Return, newly allocated, the relative path that leads from the
   directory DIR to FILE.  Both must be absolute and canonical: no ".",
   "..", repeated or trailing slashes (what canonicalize_filename_mode
   returns).  The path from a directory to itself is ".".  Components
   are compared whole, so "/ab" is not inside "/a".  */
char *relative_path (char const *file, char const *dir);

#endif

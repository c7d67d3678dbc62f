/* relpath.c -- the relative path from one directory to a file.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

#include <config.h>

#include "relpath.h"

#include <stdbool.h>
#include <string.h>

#include "xalloc.h"

/* Skip the slashes at P.  */
static char const *
skip_slashes (char const *p)
{
  while (*p == '/')
    p++;
  return p;
}

/* The length of the component at P (up to the next slash or the end).  */
static size_t
component_length (char const *p)
{
  return strcspn (p, "/");
}

char *
relative_path (char const *file, char const *dir)
{
  /* Walk both names past the components they share.  */
  char const *f = skip_slashes (file);
  char const *d = skip_slashes (dir);
  while (*f && *d)
    {
      size_t flen = component_length (f);
      size_t dlen = component_length (d);
      if (flen != dlen || memcmp (f, d, flen) != 0)
        break;
      f = skip_slashes (f + flen);
      d = skip_slashes (d + dlen);
    }

  /* One ".." for each component of DIR that is left, then the rest
     of FILE.  */
  size_t ups = 0;
  for (char const *p = d; *p; p = skip_slashes (p + component_length (p)))
    ups++;
  size_t rest = strlen (f);
  while (rest > 0 && f[rest - 1] == '/')
    rest--;

  if (ups == 0 && rest == 0)
    return xstrdup (".");
  char *result = xmalloc (ups * 3 + rest + 1);
  char *out = result;
  for (size_t i = 0; i < ups; i++)
    {
      memcpy (out, "../", 3);
      out += 3;
    }
  if (rest > 0)
    {
      memcpy (out, f, rest);
      out += rest;
    }
  else
    out--;   /* Drop the last "..'s" slash.  */
  *out = '\0';
  return result;
}

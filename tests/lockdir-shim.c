/* lockdir-shim.c -- an LD_PRELOAD library for tests/lockdir.bats: the
   faults a network filesystem can produce, made on demand.

   LOCKDIR_SHIM_RENAME_LIES=1: the first renameat(2) of a lockdir
   temporary (".lockdir.*") onto another name is done, then reported as
   failed with ENOENT -- what an NFS client says when its rename request
   was retransmitted after the server had already done it.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
renameat (int olddirfd, char const *oldpath, int newdirfd,
          char const *newpath)
{
  static int (*real_renameat) (int, char const *, int, char const *);
  static int lied;
  if (!real_renameat)
    real_renameat = (int (*) (int, char const *, int, char const *))
      dlsym (RTLD_NEXT, "renameat");
  int r = real_renameat (olddirfd, oldpath, newdirfd, newpath);
  char const *lies = getenv ("LOCKDIR_SHIM_RENAME_LIES");
  if (r == 0 && lies && strcmp (lies, "1") == 0 && !lied
      && strncmp (oldpath, ".lockdir.", strlen (".lockdir.")) == 0)
    {
      lied = 1;
      errno = ENOENT;
      return -1;
    }
  return r;
}

/* fsclass.h -- which atomic promises a path's filesystem can keep.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

#ifndef ATOMICUTILS_FSCLASS_H
#define ATOMICUTILS_FSCLASS_H

#include <stdbool.h>
#include <stdio.h>

/* The primitives the tools rely on.  */
enum fs_primitive
{
  FS_RENAME,        /* rename(2) replacing an existing name */
  FS_NOREPLACE,     /* renameat2 (RENAME_NOREPLACE) */
  FS_EXCHANGE,      /* renameat2 (RENAME_EXCHANGE) */
  FS_MKDIR,         /* mkdir(2) failing with EEXIST, as a lock */
  FS_LINK,          /* link(2) failing with EEXIST */
  FS_SYMLINK,       /* symlink(2) failing with EEXIST */
  FS_EXCL,          /* open(O_CREAT|O_EXCL) */
  FS_APPEND,        /* one write(2) on O_APPEND, shared by writers */
  FS_PRIMITIVE_COUNT
};

enum fs_verdict { FS_SAFE, FS_WARN, FS_REFUSE };

/* Filesystems grouped by what they promise (fs-semantics.md, sec. 6).  */
enum fs_class
{
  FSC_LOCAL,          /* ext4, xfs, btrfs, tmpfs, f2fs, ...: every promise */
  FSC_OVERLAY,        /* local, but directories from a lower layer
                         cannot be renamed (EXDEV) */
  FSC_NETWORK,        /* nfs, ceph, lustre, 9p, afs, gpfs: no renameat2
                         flags, no multi-host O_APPEND */
  FSC_SMB,            /* cifs, smb3: NOREPLACE not enforced */
  FSC_VIRTIOFS,       /* follows the host filesystem */
  FSC_FUSE,           /* sshfs, unknown FUSE daemons */
  FSC_OBJECT_STORE,   /* s3fs, goofys, gcsfuse, mountpoint-s3, rclone,
                         blobfuse: nothing is atomic across clients */
  FSC_GLUSTER         /* rename is link + unlink */
};

struct fs_info
{
  unsigned long magic;     /* statfs f_type */
  enum fs_class class;
  char *fstype;            /* mountinfo fstype, e.g. "ext4", "fuse.sshfs" */
  char *mount_point;       /* NULL if the mount was not found */
  char *source;
  char *super_options;
  int mount_id;            /* -1 if unknown */
};

/* One line of /proc/self/mountinfo, decoded.  The strings point into the
   line, which parsing modifies.  */
struct mountinfo_entry
{
  int mount_id;
  int parent_id;
  char *root;
  char *mount_point;
  char *mount_options;
  char *fstype;
  char *source;
  char *super_options;
};

/* Parse one mountinfo LINE in place, decoding the \ooo escapes (\040
   for a space).  Return false if it is not a mountinfo line.  */
bool mountinfo_parse_line (char *line, struct mountinfo_entry *entry);

/* The class of a filesystem from its mountinfo fstype and statfs magic. */
enum fs_class fs_classify (char const *fstype, unsigned long magic);
char const *fs_class_name (enum fs_class class);
char const *fs_primitive_name (enum fs_primitive prim);

/* Identify the filesystem holding NAME in DIRFD, or DIRFD itself when
   NAME is NULL or does not exist.  Return false (errno set) if even
   statfs fails.  */
bool fs_identify (int dirfd, char const *name, struct fs_info *info);
void fs_info_free (struct fs_info *info);

/* The verdict of the policy table for PRIM on INFO's filesystem, and in
   *CONSEQUENCE what can go wrong (NULL when safe).  Where a probe can
   decide (renameat2 flags on FUSE and virtiofs), DIRFD is used for a
   scratch probe; pass -1 to use the table alone.  */
enum fs_verdict fs_judge (struct fs_info const *info, enum fs_primitive prim,
                          int dirfd, char const **consequence);

/* Probe whether renameat2 FLAGS (RENAME_NOREPLACE or RENAME_EXCHANGE)
   is supported in DIRFD, with scratch names that are removed again.
   Return 1 supported, 0 unsupported, -1 could not tell.  */
int fs_probe_renameat2 (int dirfd, unsigned int flags);

/* The check every tool makes before relying on PRIM for PATH (NAME in
   DIRFD; see fs_identify).  Safe: say nothing.  Warn: one line on
   stderr unless QUIET.  Refuse: a message naming the filesystem, the
   primitive and the consequence, and return false -- unless FORCE,
   which turns the refusal into a warning.  */
bool fs_permits (char const *path, int dirfd, char const *name,
                 enum fs_primitive prim, bool force, bool quiet);
/* The same check for a filesystem already identified as INFO (by
   fs_identify), so that one identification -- one read of mountinfo --
   serves several primitives.  */
bool fs_permits_info (char const *path, struct fs_info const *info,
                      int dirfd, enum fs_primitive prim, bool force,
                      bool quiet);

/* --check-fs: print the filesystem of each of the N PATHS and the
   verdict for every primitive.  Return the exit status.  */
int fs_explain_operands (int n, char **paths);

/* A shortcut for a tool's hot path: true if the directory DIRFD is
   surely on a local filesystem for which every verdict is "safe" --
   ext2/3/4 or xfs on a block device -- known from statfs and the device
   alone, without reading /proc/self/mountinfo.  False means "ask
   fs_identify", not "unsafe".  */
bool fs_dir_surely_local (int dirfd);

#endif

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
  FS_RENAME_DIR,    /* rename(2) of a new directory onto a name, failing
                       while a non-empty directory holds it: the lock of
                       lockdir (dirlock.c) */
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
  char *super_options;     /* escaped as mountinfo shows them */
  int mount_id;            /* -1 if unknown */

  /* Filled by fs_identify; an fs_info made by hand may leave them
     zero.  */
  char *mount_root;        /* the mount's root within its filesystem */
  char *fuse_daemon;       /* FUSE: the daemon, from the fstype's subtype
                              ("sshfs" for "fuse.sshfs") or, for a plain
                              "fuse"/"fuseblk", from a source that names
                              one; NULL if unknown or not FUSE */
  /* Overlay only.  */
  bool overlay_redirect_dir; /* redirect_dir=on: directories from the
                                lower layer can be renamed */
  bool overlay_index;        /* index=on: hard links survive copy-up */
  /* Facts about the object itself, filled only when fs_identify was
     given a NAME that exists.  */
  bool object_known;       /* NAME existed */
  bool object_is_dir;      /* ... and is a directory */
  int object_lower;        /* overlay: 1 if the directory comes from (or
                              merges with) a lower layer, 0 if it lives
                              in the upper layer only, -1 unknown or not
                              applicable */
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
   for a space) of every field but the super options, which keep them:
   a ',' inside a value is shown as \054, and only undecoded does it
   differ from the ',' between options.  Return false if it is not a
   mountinfo line.  */
bool mountinfo_parse_line (char *line, struct mountinfo_entry *entry);

/* The class of a filesystem from its mountinfo fstype and statfs magic. */
enum fs_class fs_classify (char const *fstype, unsigned long magic);
/* The same, with the mount's SOURCE, which names the daemon of a FUSE
   mount that has no subtype (a plain "fuse" with source "s3fs").  */
enum fs_class fs_classify_mount (char const *fstype, char const *source,
                                 unsigned long magic);
char const *fs_class_name (enum fs_class class);
char const *fs_primitive_name (enum fs_primitive prim);
/* How to name INFO's filesystem in a message: the mountinfo fstype
   ("ext4", "fuse.sshfs", "fuse"), else the class.  */
char const *fs_display_name (struct fs_info const *info);

/* Identify the filesystem holding NAME in DIRFD, or DIRFD itself when
   NAME is NULL or does not exist.  NAME is never followed if it is a
   symbolic link.  When NAME exists, INFO also says what it is (the
   object_* fields), so the verdicts for renaming it can take that into
   account (a directory from overlay's lower layer cannot be renamed
   without redirect_dir=on).  Return false (errno set) if even statfs
   fails.  */
bool fs_identify (int dirfd, char const *name, struct fs_info *info);
void fs_info_free (struct fs_info *info);

/* The verdict of the policy table for PRIM on INFO's filesystem, and in
   *CONSEQUENCE what can go wrong -- or, for a safe verdict, NULL or the
   condition the promise depends on (e.g. overlay: "a directory from the
   lower layer cannot be renamed"), which tools need not print.  Where a
   probe can decide (renameat2 flags on FUSE, virtiofs and local
   filesystems outside the measured set), DIRFD -- the directory the
   operation will happen in -- is used for a scratch probe, provided it
   is on INFO's mount; pass -1 to use the table alone.  Nothing is
   cached: every call that probes, probes again.  */
enum fs_verdict fs_judge (struct fs_info const *info, enum fs_primitive prim,
                          int dirfd, char const **consequence);

/* Probe whether renameat2 FLAGS (RENAME_NOREPLACE or RENAME_EXCHANGE)
   is supported in DIRFD, with scratch names (".TOOL." and random
   characters) that are removed again, also if a signal arrives.
   RENAME_NOREPLACE is tried on an absent target: an existing one gets
   EEXIST from the VFS before the filesystem is asked, which proves
   nothing.  Return 1 supported,
   0 unsupported (EINVAL, ENOSYS, EOPNOTSUPP; errno is then that
   error), -1 could not tell (e.g. the directory is not writable).  */
int fs_probe_renameat2 (int dirfd, unsigned int flags);

/* Why a rename-family call failed, for a diagnostic: renaming OLDNAME
   in OLDDIRFD to NEWNAME in NEWDIRFD with PRIM (FS_RENAME, FS_NOREPLACE
   or FS_EXCHANGE) failed with ERRNUM.  Return a sentence (free it) when
   the filesystem, not the operands, is the reason:
     EXDEV between two names on one mount -- a directory from overlay's
       lower layer without redirect_dir=on, or directories with
       different project quotas -- "... cannot be done atomically here";
     EXDEV between two mounts;
     EINVAL/ENOSYS/EOPNOTSUPP for RENAME_NOREPLACE or RENAME_EXCHANGE on a
       filesystem that lacks the flag (checked with a probe, since EINVAL
       also means "a directory into itself").
   Return NULL when strerror (ERRNUM) says it best.  Typical use:

     char *why = fs_rename_failure (p1.fd, p1.base, p2.fd, p2.base,
                                    FS_EXCHANGE, errno);
     if (why)
       error (0, 0, "cannot exchange %s and %s: %s", ..., why);
     else
       error (0, errnum, "cannot exchange %s and %s", ...);
     free (why);
     return EXIT_SYSERR;

   Never follow a failure with a copy: status 3 is the answer.  */
char *fs_rename_failure (int olddirfd, char const *oldname,
                         int newdirfd, char const *newname,
                         enum fs_primitive prim, int errnum);

/* Whether ERRNUM from a renameat2 with a flag is how a kernel or a
   filesystem without that flag answers: EINVAL, ENOSYS, EOPNOTSUPP.  */
bool fs_flag_unsupported (int errnum);

/* The check every tool makes before relying on PRIM for PATH (NAME in
   DIRFD; see fs_identify).  Safe: say nothing.  Warn: one line on
   stderr unless QUIET.  Refuse: a message naming the filesystem, the
   primitive and the consequence, and return false -- unless FORCE,
   which turns the refusal into a warning.  */
bool fs_permits (char const *path, int dirfd, char const *name,
                 enum fs_primitive prim, bool force, bool quiet);
/* fs_permits, with a refusal's message begun by LEAD and ": " when
   LEAD is not NULL: the caller's account of what is then not done
   ("cannot append record 2 to 'log'").  */
bool fs_permits_lead (char const *lead, char const *path, int dirfd,
                      char const *name, enum fs_primitive prim, bool force,
                      bool quiet);
/* Whether PRIM may work for NAME in DIRFD (see fs_identify), judged as
   fs_permits judges it but quietly: false only when the verdict is a
   refusal; true when the filesystem is surely local or cannot be
   identified.  For a hint that is worth giving only where it can help.  */
bool fs_may_work (int dirfd, char const *name, enum fs_primitive prim);
/* fs_permits for both names of an exchange: PATH_A (NAME_A in DIRFD_A)
   and PATH_B.  When both are on one mount (and not on overlay, where
   the object matters), the filesystem is identified, probed and warned
   about once.  */
bool fs_permits_both (char const *path_a, int dirfd_a, char const *name_a,
                      char const *path_b, int dirfd_b, char const *name_b,
                      enum fs_primitive prim, bool force, bool quiet);
/* The same check for a filesystem already identified as INFO (by
   fs_identify), so that one identification -- one read of mountinfo --
   serves several primitives.  */
bool fs_permits_info (char const *path, struct fs_info const *info,
                      int dirfd, enum fs_primitive prim, bool force,
                      bool quiet);

/* Whether the directories DIRFD_A and DIRFD_B are on different
   mounts, which no rename crosses (EXDEV) even where both are of one
   filesystem; false if a mount cannot be told.  */
bool fs_dirs_on_different_mounts (int dirfd_a, int dirfd_b);

/* --check-fs: print the filesystem of each of the N PATHS (the path
   itself if it exists, else the directory that would hold it): its
   fstype, class, f_type and mount point, the FUSE daemon or the overlay
   options that matter, then one line per primitive with its verdict and
   the consequence.  Return the exit status.  */
int fs_explain_operands (int n, char **paths);
/* --check-fs for one object: NAME in DIRFD (DIRFD itself if NAME is
   NULL), or, if NAME does not exist, DIRFD, the directory that would
   hold it.  SHOWN names the object in the output, DIR_SHOWN the
   directory.  Return the exit status.  */
int fs_explain_at (char const *shown, int dirfd, char const *name,
                   char const *dir_shown);

/* Whether names in DIRFD's filesystem can change without this kernel
   seeing it -- done by another host, another mount of a FUSE
   filesystem, or its backing directory -- so that inotify and dnotify
   miss the change and a wait must also look again by itself: true for
   anything but a local filesystem or overlay.  */
bool fs_dir_remote (int dirfd);

/* A shortcut for a hot path (fs_permits takes it itself): true if DIRFD
   (a directory, or any object) is surely on a local filesystem for
   which every verdict is "safe" -- ext4 (mounted by ext4's driver, not
   ext2's) or xfs on a block device -- known from statfs and statx
   alone, without reading /proc/self/mountinfo.  False means "ask
   fs_identify", not "unsafe".  */
bool fs_dir_surely_local (int dirfd);
/* fs_dir_surely_local for what fs_identify examines: NAME in DIRFD if
   it exists (never followed; it may be a mount point), else DIRFD.  */
bool fs_surely_local (int dirfd, char const *name);
/* What a check that judges its own way (fs_judge, fs_permits_info)
   does first, as fs_permits does: identify into INFO the filesystem of
   NAME in DIRFD (see fs_identify) when its verdicts need judging.
   Return false, INFO untouched, when they do not: on a filesystem
   fs_surely_local, or one that cannot be identified (the operation
   itself will report the problem).  Free INFO after a true return.  */
bool fs_identify_to_judge (int dirfd, char const *name,
                           struct fs_info *info);

#endif

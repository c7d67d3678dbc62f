/* fsclass.c -- which atomic promises a path's filesystem can keep.

   Copyright (C) 2026 The atomicutils authors.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.  */

/* The filesystem is named by /proc/self/mountinfo (the fstype, with the
   FUSE subtype) for the mount that statx reports, cross-checked with
   statfs's f_type.  The verdicts follow the policy table of
   shared/research/fs-semantics.md, section 6.  Where a probe decides
   better than the table -- whether renameat2 flags work on a FUSE or
   virtiofs mount -- it is made with scratch names in the target
   directory, with an absent target (an existing one gives EEXIST from
   the VFS before the filesystem is asked).  Nothing is cached across
   invocations.  */

#include <config.h>

#include "fsclass.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common.h"
#include "error.h"
#include "xalloc.h"

/* statfs f_type values (linux/magic.h and fs-semantics.md 5.1).  */
enum
{
  MAGIC_OVERLAY = 0x794C7630,
  MAGIC_FUSE = 0x65735546,
  MAGIC_NFS = 0x6969,
  MAGIC_SMB1 = 0xFF534D42,
  MAGIC_SMB2 = 0xFE534D42,
  MAGIC_SMBFS = 0x517B,
  MAGIC_9P = 0x01021997,
  MAGIC_CEPH = 0x00C36400,
  MAGIC_LUSTRE = 0x0BD00BD0,
  MAGIC_GPFS = 0x47504653,
  MAGIC_AFS = 0x5346414F,
  MAGIC_KAFS = 0x6B414653
};

char const *
fs_primitive_name (enum fs_primitive prim)
{
  static char const *const names[FS_PRIMITIVE_COUNT] = {
    [FS_RENAME] = "rename",
    [FS_NOREPLACE] = "RENAME_NOREPLACE",
    [FS_EXCHANGE] = "RENAME_EXCHANGE",
    [FS_MKDIR] = "mkdir",
    [FS_LINK] = "link",
    [FS_SYMLINK] = "symlink",
    [FS_EXCL] = "O_EXCL",
    [FS_APPEND] = "O_APPEND",
  };
  return names[prim];
}

char const *
fs_class_name (enum fs_class class)
{
  switch (class)
    {
    case FSC_LOCAL: return "local";
    case FSC_OVERLAY: return "overlay";
    case FSC_NETWORK: return "network";
    case FSC_SMB: return "SMB";
    case FSC_VIRTIOFS: return "virtiofs";
    case FSC_FUSE: return "FUSE";
    case FSC_OBJECT_STORE: return "object-store FUSE";
    case FSC_GLUSTER: return "GlusterFS";
    }
  return "?";
}

/* Decode mountinfo's octal escapes (\040 space, \011 tab, \012 newline,
   \134 backslash) in place.  */
static void
unescape_octal (char *s)
{
  char *out = s;
  for (char *in = s; *in; )
    {
      if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3'
          && in[2] >= '0' && in[2] <= '7' && in[3] >= '0' && in[3] <= '7')
        {
          *out++ = (char) ((in[1] - '0') * 64 + (in[2] - '0') * 8
                           + (in[3] - '0'));
          in += 4;
        }
      else
        *out++ = *in++;
    }
  *out = '\0';
}

bool
mountinfo_parse_line (char *line, struct mountinfo_entry *entry)
{
  /* "36 35 98:0 /root /mnt/point rw,noatime master:1 - ext4 /dev/sda1 rw"
     Fields are separated by single spaces; the optional fields end at a
     lone "-".  */
  char *fields[32];
  int n = 0;
  line[strcspn (line, "\n")] = '\0';
  for (char *save, *tok = strtok_r (line, " ", &save); tok && n < 32;
       tok = strtok_r (NULL, " ", &save))
    fields[n++] = tok;

  int dash;
  for (dash = 6; dash < n; dash++)
    if (strcmp (fields[dash], "-") == 0)
      break;
  if (dash + 3 >= n)
    return false;

  char *end;
  entry->mount_id = (int) strtol (fields[0], &end, 10);
  if (*end)
    return false;
  entry->parent_id = (int) strtol (fields[1], &end, 10);
  if (*end)
    return false;
  entry->root = fields[3];
  entry->mount_point = fields[4];
  entry->mount_options = fields[5];
  entry->fstype = fields[dash + 1];
  entry->source = fields[dash + 2];
  entry->super_options = fields[dash + 3];
  unescape_octal (entry->root);
  unescape_octal (entry->mount_point);
  unescape_octal (entry->source);
  unescape_octal (entry->super_options);
  return true;
}

static bool
fuse_subtype_is (char const *fstype, char const *const *names)
{
  char const *dot = strchr (fstype, '.');
  if (!dot)
    return false;
  for (; *names; names++)
    if (strncmp (dot + 1, *names, strlen (*names)) == 0)
      return true;
  return false;
}

enum fs_class
fs_classify (char const *fstype, unsigned long magic)
{
  if (fstype)
    {
      static char const *const object_stores[] = {
        "s3fs", "goofys", "gcsfuse", "mountpoint-s3", "rclone", "blobfuse",
        NULL
      };
      static char const *const glusters[] = { "glusterfs", NULL };
      if (strncmp (fstype, "fuse", 4) == 0)
        {
          if (fuse_subtype_is (fstype, object_stores))
            return FSC_OBJECT_STORE;
          if (fuse_subtype_is (fstype, glusters))
            return FSC_GLUSTER;
          return FSC_FUSE;
        }
      if (strcmp (fstype, "virtiofs") == 0)
        return FSC_VIRTIOFS;
      if (strcmp (fstype, "overlay") == 0)
        return FSC_OVERLAY;
      if (strcmp (fstype, "cifs") == 0 || strcmp (fstype, "smb3") == 0
          || strcmp (fstype, "smbfs") == 0)
        return FSC_SMB;
      /* 9p reports the server's f_type, so only its fstype tells.  */
      static char const *const networks[] = {
        "nfs", "nfs4", "ceph", "lustre", "9p", "afs", "gpfs", "glusterfs",
        "ocfs2", "gfs2", "beegfs", NULL
      };
      for (char const *const *p = networks; *p; p++)
        if (strcmp (fstype, *p) == 0)
          return FSC_NETWORK;
    }
  switch (magic)
    {
    case MAGIC_FUSE: return FSC_FUSE;
    case MAGIC_OVERLAY: return FSC_OVERLAY;
    case MAGIC_SMB1: case MAGIC_SMB2: case MAGIC_SMBFS: return FSC_SMB;
    case MAGIC_NFS: case MAGIC_9P: case MAGIC_CEPH: case MAGIC_LUSTRE:
    case MAGIC_GPFS: case MAGIC_AFS: case MAGIC_KAFS:
      return FSC_NETWORK;
    }
  return FSC_LOCAL;
}

/* Fill INFO's mount fields from the mountinfo line with MOUNT_ID, or,
   without a mount id, from the longest mount point that is a prefix of
   REAL_PATH (the last such line wins: later mounts shadow earlier).  */
static void
find_mount (struct fs_info *info, int mount_id, char const *real_path)
{
  FILE *f = fopen ("/proc/self/mountinfo", "re");
  if (!f)
    return;
  char *line = NULL;
  size_t size = 0;
  size_t best_len = 0;
  while (getline (&line, &size, f) > 0)
    {
      struct mountinfo_entry e;
      if (!mountinfo_parse_line (line, &e))
        continue;
      bool match;
      if (mount_id >= 0)
        match = e.mount_id == mount_id;
      else
        {
          size_t len = strlen (e.mount_point);
          match = (real_path
                   && strncmp (real_path, e.mount_point, len) == 0
                   && (real_path[len] == '/' || real_path[len] == '\0'
                       || len == 1)
                   && len >= best_len);
          if (match)
            best_len = len;
        }
      if (match)
        {
          free (info->fstype);
          free (info->mount_point);
          free (info->source);
          free (info->super_options);
          info->fstype = xstrdup (e.fstype);
          info->mount_point = xstrdup (e.mount_point);
          info->source = xstrdup (e.source);
          info->super_options = xstrdup (e.super_options);
          info->mount_id = e.mount_id;
          if (mount_id >= 0)
            break;
        }
    }
  free (line);
  fclose (f);
}

bool
fs_identify (int dirfd, char const *name, struct fs_info *info)
{
  memset (info, 0, sizeof *info);
  info->mount_id = -1;

  /* The name itself if it exists (it may be a mount point), else the
     directory that will hold it.  Never follow a symlink.  */
  int fd = -1;
  if (name)
    fd = openat (dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  int target = fd >= 0 ? fd : dirfd;

  struct statfs sfs;
  if (fstatfs (target, &sfs) != 0)
    {
      int saved_errno = errno;
      if (fd >= 0)
        close (fd);
      errno = saved_errno;
      return false;
    }
  info->magic = (unsigned long) sfs.f_type;

  struct statx stx;
  if (statx (target, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID,
             &stx) == 0
      && (stx.stx_mask & STATX_MNT_ID))
    find_mount (info, (int) stx.stx_mnt_id, NULL);
  else
    {
      char proc_path[64];
      snprintf (proc_path, sizeof proc_path, "/proc/self/fd/%d", target);
      char *real_path = realpath (proc_path, NULL);
      find_mount (info, -1, real_path);
      free (real_path);
    }
  if (fd >= 0)
    close (fd);

  info->class = fs_classify (info->fstype, info->magic);
  return true;
}

void
fs_info_free (struct fs_info *info)
{
  free (info->fstype);
  free (info->mount_point);
  free (info->source);
  free (info->super_options);
  memset (info, 0, sizeof *info);
  info->mount_id = -1;
}

int
fs_probe_renameat2 (int dirfd, unsigned int flags)
{
  struct temp_name a, b;
  int fd = temp_create (&a, dirfd, TEMP_FILE, S_IRUSR | S_IWUSR, NULL);
  if (fd < 0)
    return -1;
  close (fd);

  int result;
  if (flags & RENAME_EXCHANGE)
    {
      fd = temp_create (&b, dirfd, TEMP_FILE, S_IRUSR | S_IWUSR, NULL);
      if (fd < 0)
        {
          temp_remove (&a);
          return -1;
        }
      close (fd);
      if (renameat2 (dirfd, a.name, dirfd, b.name, RENAME_EXCHANGE) == 0)
        result = 1;
      else
        result = errno == EINVAL || errno == ENOSYS ? 0 : -1;
      temp_remove (&b);
      temp_remove (&a);
      return result;
    }

  /* RENAME_NOREPLACE to an absent name: rename A to A with a suffix
     and, if that worked, back again.  */
  char absent[TEMP_NAME_MAX + 8];
  snprintf (absent, sizeof absent, "%s.probe", a.name);
  if (renameat2 (dirfd, a.name, dirfd, absent, RENAME_NOREPLACE) == 0)
    {
      result = 1;
      if (renameat (dirfd, absent, dirfd, a.name) != 0)
        unlinkat (dirfd, absent, 0);
    }
  else
    result = errno == EINVAL || errno == ENOSYS ? 0 : -1;
  temp_remove (&a);
  return result;
}

/* The policy table.  CONSEQUENCE gets what can go wrong.  */
static enum fs_verdict
table_verdict (enum fs_class class, enum fs_primitive prim,
               char const **consequence)
{
  *consequence = NULL;
  switch (class)
    {
    case FSC_LOCAL:
    case FSC_OVERLAY:
      return FS_SAFE;

    case FSC_NETWORK:
    case FSC_SMB:
      switch (prim)
        {
        case FS_NOREPLACE:
          *consequence = (class == FSC_SMB
                          ? "RENAME_NOREPLACE is only checked by this client, "
                            "so another client can still be overwritten"
                          : "it does not support RENAME_NOREPLACE");
          return FS_REFUSE;
        case FS_EXCHANGE:
          *consequence = "it does not support RENAME_EXCHANGE";
          return FS_REFUSE;
        case FS_APPEND:
          *consequence = "appends from other hosts can interleave";
          return FS_REFUSE;
        case FS_RENAME:
          *consequence = (class == FSC_SMB
                          ? "a rename over a file open elsewhere falls back "
                            "to unlink then rename, leaving a moment with "
                            "no file"
                          : "other hosts can see the old name until their "
                            "caches expire");
          return FS_WARN;
        case FS_SYMLINK:
          if (class == FSC_SMB)
            {
              *consequence = "symbolic links work only with Unix extensions "
                             "or mfsymlinks";
              return FS_WARN;
            }
          return FS_SAFE;
        default:
          return FS_SAFE;
        }

    case FSC_VIRTIOFS:
      if (prim == FS_APPEND)
        {
          *consequence = "appends from other guests sharing the directory "
                         "can interleave";
          return FS_WARN;
        }
      return FS_SAFE;

    case FSC_FUSE:
      switch (prim)
        {
        case FS_NOREPLACE:
          *consequence = "it does not support RENAME_NOREPLACE";
          return FS_REFUSE;
        case FS_EXCHANGE:
          *consequence = "it does not support RENAME_EXCHANGE";
          return FS_REFUSE;
        case FS_APPEND:
          *consequence = "appends from other hosts can interleave";
          return FS_REFUSE;
        case FS_RENAME:
          *consequence = "readers on this mount that have the old file open "
                         "can briefly find no file";
          return FS_WARN;
        default:
          *consequence = "exclusion across mounts depends on the FUSE "
                         "daemon";
          return FS_WARN;
        }

    case FSC_OBJECT_STORE:
      switch (prim)
        {
        case FS_APPEND:
          *consequence = "appends can be lost";
          break;
        case FS_RENAME:
        case FS_NOREPLACE:
        case FS_EXCHANGE:
          *consequence = "rename is a copy then a delete: readers can see "
                         "a missing or partial file";
          break;
        default:
          *consequence = "several clients can all succeed: there is no "
                         "mutual exclusion";
          break;
        }
      return FS_REFUSE;

    case FSC_GLUSTER:
      switch (prim)
        {
        case FS_RENAME:
        case FS_NOREPLACE:
        case FS_EXCHANGE:
          *consequence = "rename is a link then an unlink";
          return FS_REFUSE;
        case FS_APPEND:
          *consequence = "appends from other hosts can interleave";
          return FS_REFUSE;
        default:
          *consequence = "exclusion across clients depends on the "
                         "translators in use";
          return FS_WARN;
        }
    }
  return FS_SAFE;
}

/* sshfs makes mkdir, link, symlink and O_EXCL on the server, so they
   exclude across mounts (its EPERM-for-EEXIST is handled by callers).  */
static bool
is_sshfs (struct fs_info const *info)
{
  return info->fstype && strcmp (info->fstype, "fuse.sshfs") == 0;
}

enum fs_verdict
fs_judge (struct fs_info const *info, enum fs_primitive prim, int dirfd,
          char const **consequence)
{
  enum fs_verdict verdict = table_verdict (info->class, prim, consequence);

  if (info->class == FSC_FUSE && is_sshfs (info)
      && (prim == FS_MKDIR || prim == FS_LINK || prim == FS_SYMLINK
          || prim == FS_EXCL))
    {
      *consequence = NULL;
      return FS_SAFE;
    }

  /* A FUSE daemon that passes renameat2 flags through (bindfs on fuse3,
     virtiofsd) can do what the table doubts: ask it.  On FUSE this only
     lifts a refusal to a warning -- the daemon decides atomicity.  */
  if ((prim == FS_NOREPLACE || prim == FS_EXCHANGE) && dirfd >= 0
      && (info->class == FSC_FUSE || info->class == FSC_VIRTIOFS))
    {
      unsigned int flag = prim == FS_NOREPLACE ? RENAME_NOREPLACE
                                               : RENAME_EXCHANGE;
      int supported = fs_probe_renameat2 (dirfd, flag);
      if (supported == 1)
        {
          if (info->class == FSC_VIRTIOFS)
            return FS_SAFE;
          *consequence = "the FUSE daemon passes renameat2 through; whether "
                         "it is atomic depends on the filesystem behind it";
          return FS_WARN;
        }
      if (supported == 0)
        {
          *consequence = (prim == FS_NOREPLACE
                          ? "it does not support RENAME_NOREPLACE"
                          : "it does not support RENAME_EXCHANGE");
          return FS_REFUSE;
        }
    }
  return verdict;
}

/* How to name a filesystem in a message: its mountinfo fstype, else its
   class.  */
static char const *
fs_display_name (struct fs_info const *info)
{
  return info->fstype ? info->fstype : fs_class_name (info->class);
}

bool
fs_permits_info (char const *path, struct fs_info const *info, int dirfd,
                 enum fs_primitive prim, bool force, bool quiet)
{
  char const *consequence;
  enum fs_verdict verdict = fs_judge (info, prim, dirfd, &consequence);
  if (verdict == FS_REFUSE && !force)
    {
      error (0, 0, "%s is on %s: %s; use --force to go ahead anyway",
             quoteaf (path), fs_display_name (info), consequence);
      return false;
    }
  if (verdict != FS_SAFE && !quiet)
    error (0, 0, "warning: %s is on %s: %s", quoteaf (path),
           fs_display_name (info), consequence);
  return true;
}

bool
fs_permits (char const *path, int dirfd, char const *name,
            enum fs_primitive prim, bool force, bool quiet)
{
  struct fs_info info;
  if (!fs_identify (dirfd, name, &info))
    return true;   /* The operation itself will report the problem.  */
  bool permitted = fs_permits_info (path, &info, dirfd, prim, force, quiet);
  fs_info_free (&info);
  return permitted;
}

static char const *
verdict_name (enum fs_verdict verdict)
{
  switch (verdict)
    {
    case FS_SAFE: return "safe";
    case FS_WARN: return "warn";
    case FS_REFUSE: return "refuse";
    }
  return "?";
}

int
fs_explain_operands (int n, char **paths)
{
  int status = EXIT_DONE;
  for (int i = 0; i < n; i++)
    {
      /* The path itself if it exists, else the directory that would
         hold it.  */
      struct parent_dir parent = { .fd = -1 };
      int fd = open (paths[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0 && !open_parent (paths[i], &parent))
        {
          error (0, errno, "cannot examine %s", quoteaf (paths[i]));
          status = EXIT_SYSERR;
          continue;
        }
      int dirfd = fd >= 0 ? fd : parent.fd;
      struct fs_info info;
      if (!fs_identify (dirfd, fd >= 0 ? NULL : parent.base, &info))
        {
          error (0, errno, "cannot examine %s", quoteaf (paths[i]));
          if (fd >= 0)
            close (fd);
          close_parent (&parent);
          status = EXIT_SYSERR;
          continue;
        }
      /* Probes need a directory to make scratch names in.  */
      struct stat st;
      int probe_fd = (fd >= 0 && fstat (fd, &st) == 0 && S_ISDIR (st.st_mode)
                      ? fd : parent.fd);
      printf ("%s: %s (%s filesystem, f_type 0x%lx)",
              paths[i], fs_display_name (&info), fs_class_name (info.class),
              info.magic);
      if (info.mount_point)
        printf (" mounted on %s", info.mount_point);
      putchar ('\n');
      for (int p = 0; p < FS_PRIMITIVE_COUNT; p++)
        {
          char const *consequence;
          enum fs_verdict verdict = fs_judge (&info, p, probe_fd,
                                              &consequence);
          printf ("  %-17s %s", fs_primitive_name (p),
                  verdict_name (verdict));
          if (consequence)
            printf (": %s", consequence);
          putchar ('\n');
        }
      fs_info_free (&info);
      if (fd >= 0)
        close (fd);
      close_parent (&parent);
    }
  return status;
}

/* Local filesystems that live on a block device and keep every promise
   the suite relies on (fs-semantics.md, 2.1).  */
enum
{
  MAGIC_EXT4 = 0xEF53,         /* also ext2 and ext3 */
  MAGIC_XFS = 0x58465342
};

bool
fs_dir_surely_local (int dirfd)
{
  struct statfs sfs;
  if (fstatfs (dirfd, &sfs) != 0)
    return false;
  unsigned long magic = (unsigned long) sfs.f_type;
  if (magic != MAGIC_EXT4 && magic != MAGIC_XFS)
    return false;
  /* 9p passes its server's f_type through, so "ext4" alone could be a
     share; but no network or FUSE filesystem sits on a block device,
     and an anonymous device has major number 0.  */
  struct statx stx;
  return (statx (dirfd, "", AT_EMPTY_PATH, STATX_TYPE, &stx) == 0
          && stx.stx_dev_major != 0);
}

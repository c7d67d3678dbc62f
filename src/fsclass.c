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
   virtiofs mount, or on a local filesystem that was not measured -- it
   is made with scratch names in the target directory, with an absent
   target (an existing one gives EEXIST from the VFS before the
   filesystem is asked).  Nothing is cached across invocations, nor
   between two calls.  */

#include <config.h>

#include "fsclass.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common.h"
#include "error.h"
#include "xalloc.h"
#include "xvasprintf.h"

/* statfs f_type values that linux/magic.h lacks (fs-semantics.md
   5.1): Lustre's and GPFS's drivers are not in the kernel tree, and
   bcachefs's entered the header after the Linux 6.1 headers that
   Debian 12 ships.  Every other f_type here is the header's.  */
#define MAGIC_LUSTRE 0x0BD00BD0UL
#define MAGIC_GPFS 0x47504653UL
/* (Above INT_MAX: no enum constant in C99.)  */
#define MAGIC_BCACHEFS 0xCA451A4EUL

/* The local filesystems the suite knows: one row each, holding every
   fact the classifier uses about them, so that the class, the need for
   a probe and the shortcut past mountinfo never disagree.  A local
   filesystem not listed here is still local; its renameat2 flags are
   probed.  */
struct local_fs
{
  char const *fstype;          /* mountinfo's name for it */
  unsigned long magic;         /* statfs f_type (linux/magic.h) */
  /* Its renameat2 flags were measured (or are the kernel's generic
     code), so every verdict is "safe" without a probe.  */
  bool flags_measured;
  /* Known from statfs and statx alone, without mountinfo
     (fs_dir_surely_local): it lives on a real block device, and its
     magic is its own -- or, where the magic is shared, the driver
     reports DRIVER_ATTRIBUTE in statx's attributes_mask.  */
  bool shortcut;
  unsigned long long driver_attribute;
  /* It has no device (an anonymous device number, major 0), so the
     shortcut takes DRIVER_ATTRIBUTE alone as the proof that the driver
     is ours and not 9p passing its host's f_type through.  */
  bool deviceless;
};

static struct local_fs const local_filesystems[] = {
  /* ext2, ext3 and ext4 share magic 0xEF53.  ext4's driver mounts all
     three on most kernels and has both flags; the separate ext2 driver
     (and the ext3 driver of kernels before 4.3) lacks RENAME_EXCHANGE.
     So "ext2" and "ext3" are probed, and the shortcut needs the one
     attribute only ext4's driver reports: STATX_ATTR_VERITY.  */
  { "ext4", EXT4_SUPER_MAGIC, true, true, STATX_ATTR_VERITY, false },
  { "ext3", EXT3_SUPER_MAGIC, false, false, 0, false },
  { "ext2", EXT2_SUPER_MAGIC, false, false, 0, false },
  { "xfs", XFS_SUPER_MAGIC, true, true, 0, false },
  /* btrfs gives each subvolume an anonymous device number, and ramfs
     has no device: the shortcut cannot see them.  Nor has tmpfs, but
     its driver (Linux 6.0 and later) reports the append, immutable and
     nodump attributes in attributes_mask, which 9p never does.  Lock
     files often live on tmpfs (/run/lock), where reading mountinfo
     cost lockdir about 30 us a call, a quarter of what it costs more
     than flock.  */
  { "btrfs", BTRFS_SUPER_MAGIC, true, false, 0, false },
  { "tmpfs", TMPFS_MAGIC, true, true,
    STATX_ATTR_APPEND | STATX_ATTR_IMMUTABLE | STATX_ATTR_NODUMP, true },
  { "ramfs", RAMFS_MAGIC, true, false, 0, false },
  { "f2fs", F2FS_SUPER_MAGIC, true, false, 0, false },
  { "bcachefs", MAGIC_BCACHEFS, true, false, 0, false },
};

static struct local_fs const *
local_fs_named (char const *fstype)
{
  if (fstype)
    for (size_t i = 0;
         i < sizeof local_filesystems / sizeof *local_filesystems; i++)
      if (strcmp (local_filesystems[i].fstype, fstype) == 0)
        return &local_filesystems[i];
  return NULL;
}

char const *
fs_primitive_name (enum fs_primitive prim)
{
  static char const *const names[FS_PRIMITIVE_COUNT] = {
    [FS_RENAME] = "rename",
    [FS_NOREPLACE] = "RENAME_NOREPLACE",
    [FS_EXCHANGE] = "RENAME_EXCHANGE",
    [FS_MKDIR] = "mkdir",
    [FS_RENAME_DIR] = "rename-dir",
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
     lone "-".  A field can be empty -- an empty source shows as two
     spaces in a row (mount -t overlay "" ..., FUSE with -o fsname=) --
     so split at every space, not at runs of them as strtok does.  */
  char *fields[32];
  int n = 0;
  line[strcspn (line, "\n")] = '\0';
  for (char *p = line; p && n < 32; )
    {
      fields[n++] = p;
      p = strchr (p, ' ');
      if (p)
        *p++ = '\0';
    }

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
  /* Not the super options: a comma inside a value (an overlay layer
     "/a,b") is shown as \054, and decoded it would split the value.
     mount_option decodes what it returns.  */
  return true;
}

/* FUSE daemons.  */

/* The FUSE subtypes of fs-semantics.md, section 6.  A name ending in
   '*' matches any name that starts with the rest (blobfuse, blobfuse2).  */
static char const *const object_store_daemons[] = {
  "s3fs", "goofys", "gcsfuse", "mountpoint-s3", "rclone", "blobfuse*", NULL
};
static char const *const gluster_daemons[] = { "glusterfs", NULL };
/* FUSE clients of network filesystems whose semantics are those of the
   kernel client.  */
static char const *const network_daemons[] = { "ceph-fuse", "ceph", NULL };
/* Daemons that are worth naming even from a plain "fuse" source.  */
static char const *const other_daemons[] = { "sshfs", "bindfs", NULL };

static bool
name_in (char const *name, char const *const *names)
{
  for (; *names; names++)
    {
      size_t len = strlen (*names);
      if ((*names)[len - 1] == '*'
          ? strncmp (name, *names, len - 1) == 0
          : strcmp (name, *names) == 0)
        return true;
    }
  return false;
}

/* True if FSTYPE is FUSE: "fuse", "fuseblk", "fuse.SUBTYPE" or
   "fuseblk.SUBTYPE" (not "fusectl").  Set *SUBTYPE to the subtype or
   NULL.  */
static bool
fuse_fstype (char const *fstype, char const **subtype)
{
  *subtype = NULL;
  size_t len;
  if (strncmp (fstype, "fuseblk", 7) == 0)
    len = 7;
  else if (strncmp (fstype, "fuse", 4) == 0)
    len = 4;
  else
    return false;
  if (fstype[len] == '\0')
    return true;
  if (fstype[len] != '.' || fstype[len + 1] == '\0')
    return false;
  *subtype = fstype + len + 1;
  return true;
}

/* The daemon behind a FUSE mount: its subtype, or, for a plain "fuse"
   whose daemon set no subtype (libfuse2 daemons such as bindfs), the
   source when that names a known daemon ("s3fs", "sshfs#user@host:").
   NULL if FSTYPE is not FUSE or the daemon cannot be told.  */
static char *
fuse_daemon_of (char const *fstype, char const *source)
{
  char const *subtype;
  if (!fstype || !fuse_fstype (fstype, &subtype))
    return NULL;
  if (subtype)
    return xstrdup (subtype);
  if (!source)
    return NULL;
  char *name = ximemdup0 (source, strcspn (source, "#"));
  if (name_in (name, object_store_daemons) || name_in (name, gluster_daemons)
      || name_in (name, network_daemons) || name_in (name, other_daemons))
    return name;
  free (name);
  return NULL;
}

static enum fs_class
classify (char const *fstype, char const *fuse_daemon, unsigned long magic)
{
  char const *subtype;
  if (fstype && fuse_fstype (fstype, &subtype))
    {
      if (fuse_daemon && name_in (fuse_daemon, object_store_daemons))
        return FSC_OBJECT_STORE;
      if (fuse_daemon && name_in (fuse_daemon, gluster_daemons))
        return FSC_GLUSTER;
      if (fuse_daemon && name_in (fuse_daemon, network_daemons))
        return FSC_NETWORK;
      return FSC_FUSE;
    }
  if (local_fs_named (fstype))
    return FSC_LOCAL;
  if (fstype)
    {
      if (strcmp (fstype, "virtiofs") == 0)
        return FSC_VIRTIOFS;
      if (strcmp (fstype, "overlay") == 0)
        return FSC_OVERLAY;
      if (strcmp (fstype, "glusterfs") == 0)
        return FSC_GLUSTER;
      if (strcmp (fstype, "cifs") == 0 || strcmp (fstype, "smb3") == 0
          || strcmp (fstype, "smbfs") == 0)
        return FSC_SMB;
      /* 9p reports the server's f_type, so only its fstype tells.  */
      static char const *const networks[] = {
        "nfs", "nfs4", "ceph", "lustre", "9p", "afs", "gpfs",
        "ocfs2", "gfs2", "beegfs", NULL
      };
      if (name_in (fstype, networks))
        return FSC_NETWORK;
    }
  switch (magic)
    {
    case FUSE_SUPER_MAGIC: return FSC_FUSE;
    case OVERLAYFS_SUPER_MAGIC: return FSC_OVERLAY;
    case CIFS_SUPER_MAGIC: case SMB2_SUPER_MAGIC: case SMB_SUPER_MAGIC:
      return FSC_SMB;
    case NFS_SUPER_MAGIC: case V9FS_MAGIC: case CEPH_SUPER_MAGIC:
    case MAGIC_LUSTRE: case MAGIC_GPFS: case AFS_SUPER_MAGIC:
    case AFS_FS_MAGIC:
      return FSC_NETWORK;
    }
  return FSC_LOCAL;
}

enum fs_class
fs_classify_mount (char const *fstype, char const *source,
                   unsigned long magic)
{
  char *daemon = fuse_daemon_of (fstype, source);
  enum fs_class class = classify (fstype, daemon, magic);
  free (daemon);
  return class;
}

enum fs_class
fs_classify (char const *fstype, unsigned long magic)
{
  return fs_classify_mount (fstype, NULL, magic);
}

char const *
fs_display_name (struct fs_info const *info)
{
  return info->fstype ? info->fstype : fs_class_name (info->class);
}

/* Finding the mount.  */

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
          free (info->mount_root);
          free (info->source);
          free (info->super_options);
          info->fstype = xstrdup (e.fstype);
          info->mount_point = xstrdup (e.mount_point);
          info->mount_root = xstrdup (e.root);
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

/* The mount id of FD, or -1.  */
static int
mount_id_of (int fd)
{
  struct statx stx;
  if (statx (fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID,
             &stx) == 0
      && (stx.stx_mask & STATX_MNT_ID))
    return (int) stx.stx_mnt_id;
  return -1;
}

bool
fs_dirs_on_different_mounts (int dirfd_a, int dirfd_b)
{
  int mount_a = mount_id_of (dirfd_a);
  int mount_b = mount_id_of (dirfd_b);
  return mount_a >= 0 && mount_b >= 0 && mount_a != mount_b;
}

/* The absolute path of the object FD refers to, or NULL.  */
static char *
path_of_fd (int fd)
{
  char proc_path[64];
  snprintf (proc_path, sizeof proc_path, "/proc/self/fd/%d", fd);
  return realpath (proc_path, NULL);
}

/* Overlay.  */

/* The value of option NAME in the comma-separated OPTIONS, as
   mountinfo shows them (a comma inside a value is \054), decoded (a
   copy), or NULL.  A bare NAME gives "".  */
static char *
mount_option (char const *options, char const *name)
{
  size_t name_len = strlen (name);
  for (char const *p = options; p && *p; )
    {
      size_t len = strcspn (p, ",");
      if (len >= name_len && strncmp (p, name, name_len) == 0)
        {
          if (len == name_len)
            return xstrdup ("");
          if (p[name_len] == '=')
            {
              char *value = ximemdup0 (p + name_len + 1,
                                       len - name_len - 1);
              unescape_octal (value);
              return value;
            }
        }
      p += len;
      if (*p == ',')
        p++;
    }
  return NULL;
}

/* Remove overlay's backslash escapes ("\," "\:" "\\") from the path S
   in place, as the kernel does for lowerdir=, upperdir= and workdir=
   (ovl_unescape), with the old mount API and the new alike;
   lowerdir+= takes its path as it is.  A trailing backslash escapes
   nothing, and the kernel drops it: "/u\" is "/u".  */
static void
unescape_backslash (char *s)
{
  char *out = s;
  for (char const *in = s; *in; in++)
    {
      if (in[0] == '\\')
        {
          in++;
          if (!*in)
            break;
        }
      *out++ = *in;
    }
  *out = '\0';
}

/* Whether an overlay boolean feature (redirect_dir, index) is on: the
   mount's option if it shows one, else the module's default -- overlay
   shows only the options that differ from that default.  */
static bool
overlay_feature_on (char const *options, char const *name,
                    char const *on_value)
{
  char *value = mount_option (options, name);
  if (value)
    {
      bool on = strcmp (value, on_value) == 0;
      free (value);
      return on;
    }
  char param_path[64];
  snprintf (param_path, sizeof param_path,
            "/sys/module/overlay/parameters/%s", name);
  FILE *f = fopen (param_path, "re");
  if (!f)
    return false;
  int c = getc (f);
  fclose (f);
  return c == 'Y';
}

/* True if the directory at PATH is opaque in an overlay upper layer:
   what is below it in the lower layers is hidden.  */
static bool
overlay_opaque (char const *path)
{
  static char const *const names[] = {
    "trusted.overlay.opaque", "user.overlay.opaque"
  };
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    {
      char value[2];
      if (lgetxattr (path, names[i], value, sizeof value) == 1
          && value[0] == 'y')
        return true;
    }
  return false;
}

/* The lower layers named by the overlay mount OPTIONS (as mount_option
   takes them): lowerdir= (old mount API: "a:b", with "\:" for a colon
   and "\," for a comma in a path, "::" before the data-only layers,
   which hold no directories of the merged tree) or one lowerdir+= per
   layer (new API, the path as it is).  Set *N; free each and the
   array.  */
static char **
overlay_lower_layers (char const *options, size_t *n)
{
  size_t alloc = 4;
  char **layers = xnmalloc (alloc, sizeof *layers);
  *n = 0;
  for (char const *p = options; p && *p; )
    {
      size_t len = strcspn (p, ",");
      bool old_api = strncmp (p, "lowerdir=", 9) == 0;
      bool new_api = strncmp (p, "lowerdir+=", 10) == 0;
      if (old_api || new_api)
        {
          size_t skip = old_api ? 9 : 10;
          char *value = ximemdup0 (p + skip, len - skip);
          unescape_octal (value);
          for (char *next = value; next; )
            {
              char *layer = next, *out = next, *v = next;
              while (*v && !(old_api && *v == ':'))
                {
                  /* As unescape_backslash: a trailing backslash is
                     dropped.  */
                  if (old_api && v[0] == '\\')
                    {
                      v++;
                      if (!*v)
                        break;
                    }
                  *out++ = *v++;
                }
              /* "::" ends the layers of the merged tree.  */
              next = *v && v[1] != ':' ? v + 1 : NULL;
              *out = '\0';
              if (*n == alloc)
                layers = x2nrealloc (layers, &alloc, sizeof *layers);
              layers[(*n)++] = xstrdup (layer);
            }
          free (value);
        }
      p += len;
      if (*p == ',')
        p++;
    }
  return layers;
}

/* True if a directory on the path REL in the upper layer of the overlay
   with OPTIONS is opaque: it hides what the lower layers have below it,
   as when a lower directory was removed and made again.  */
static bool
overlay_upper_opaque (char const *options, char const *rel)
{
  char *upper = mount_option (options, "upperdir");
  bool opaque = false;
  if (upper)
    unescape_backslash (upper);
  if (upper && upper[0] == '/')
    {
      char *path = xmalloc (strlen (upper) + strlen (rel) + 1);
      char *end = stpcpy (path, upper);
      for (char const *comp = rel; !opaque && *comp; )
        {
          size_t len = strcspn (comp + 1, "/") + 1;
          end = mempcpy (end, comp, len);
          *end = '\0';
          opaque = overlay_opaque (path);
          comp += len;
        }
      free (path);
    }
  free (upper);
  return opaque;
}

/* Whether the directory at REL (a path from the root of the overlay
   filesystem, "/a/b") comes from, or merges with, a lower layer -- the
   directories overlay refuses to rename without redirect_dir=on (its
   ovl_can_move).  Return 1, 0, or -1 when the layers cannot be seen
   from here (another mount namespace, relative layer paths, no
   permission).  Whiteouts in the layers are not looked at: without
   redirect_dir a directory cannot have moved, so its path in a layer is
   its path in the mount.  */
static int
overlay_dir_is_lower (char const *options, char const *rel)
{
  size_t n_layers;
  char **layers = overlay_lower_layers (options, &n_layers);
  int result = n_layers == 0 ? -1 : 0;
  /* Look down the layers until one decides.  */
  bool decided = result != 0 || overlay_upper_opaque (options, rel);
  for (size_t i = 0; i < n_layers; i++)
    {
      struct stat st;
      if (decided)
        ;
      else if (layers[i][0] != '/' || stat (layers[i], &st) != 0
               || !S_ISDIR (st.st_mode))
        result = -1, decided = true;
      else
        {
          /* A directory here merges; anything else hides the layers
             below.  */
          char *path = xasprintf ("%s%s", layers[i], rel);
          if (lstat (path, &st) == 0)
            result = S_ISDIR (st.st_mode), decided = true;
          else if (errno != ENOENT && errno != ENOTDIR)
            result = -1, decided = true;
          free (path);
        }
      free (layers[i]);
    }
  free (layers);
  return result;
}

/* Fill INFO's object_lower for the directory FD on an overlay.  */
static void
overlay_examine_dir (struct fs_info *info, int fd)
{
  info->object_lower = -1;
  if (!info->mount_point || !info->super_options)
    return;
  char *path = path_of_fd (fd);
  if (!path)
    return;
  size_t mp_len = strlen (info->mount_point);
  if (strcmp (info->mount_point, "/") == 0)
    mp_len = 0;
  if (strncmp (path, info->mount_point, mp_len) == 0
      && (path[mp_len] == '/' || path[mp_len] == '\0'))
    {
      char const *in_mount = path + mp_len;
      char const *root = info->mount_root;
      char *rel = xasprintf ("%s%s",
                             root && strcmp (root, "/") != 0 ? root : "",
                             in_mount);
      /* The root of the overlay is nothing one renames.  */
      if (rel[0] == '/' && rel[1] != '\0')
        info->object_lower = overlay_dir_is_lower (info->super_options, rel);
      free (rel);
    }
  free (path);
}

bool
fs_identify (int dirfd, char const *name, struct fs_info *info)
{
  memset (info, 0, sizeof *info);
  info->mount_id = -1;
  info->object_lower = -1;

  /* The name itself if it exists (it may be a mount point), else the
     directory that will hold it.  Never follow a symlink.  */
  int fd = -1;
  if (name)
    fd = openat (dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  int target = fd >= 0 ? fd : dirfd;

  struct statfs sfs;
  int r = fstatfs (target, &sfs);
  if (r != 0 && fd >= 0)
    {
      /* A FUSE daemon may answer for a symbolic link by following it:
         a dangling one gives ENOENT.  A link is no mount point: it is
         on the filesystem of its directory.  */
      close (fd);
      fd = -1;
      target = dirfd;
      r = fstatfs (target, &sfs);
    }
  if (r != 0)
    {
      int saved_errno = errno;
      if (fd >= 0)
        close (fd);
      errno = saved_errno;
      return false;
    }
  info->magic = (unsigned long) sfs.f_type;

  int mount_id = mount_id_of (target);
  if (mount_id >= 0)
    find_mount (info, mount_id, NULL);
  else
    {
      char *real_path = path_of_fd (target);
      find_mount (info, -1, real_path);
      free (real_path);
    }

  info->fuse_daemon = fuse_daemon_of (info->fstype, info->source);
  info->class = classify (info->fstype, info->fuse_daemon, info->magic);

  if (info->class == FSC_OVERLAY)
    {
      info->overlay_redirect_dir
        = overlay_feature_on (info->super_options, "redirect_dir", "on");
      info->overlay_index
        = overlay_feature_on (info->super_options, "index", "on");
    }

  if (fd >= 0)
    {
      struct stat st;
      info->object_known = true;
      info->object_is_dir = fstat (fd, &st) == 0 && S_ISDIR (st.st_mode);
      if (info->object_is_dir && info->class == FSC_OVERLAY)
        overlay_examine_dir (info, fd);
      close (fd);
    }
  return true;
}

void
fs_info_free (struct fs_info *info)
{
  free (info->fstype);
  free (info->mount_point);
  free (info->mount_root);
  free (info->source);
  free (info->super_options);
  free (info->fuse_daemon);
  memset (info, 0, sizeof *info);
  info->mount_id = -1;
  info->object_lower = -1;
}

/* The probe.  */

bool
fs_flag_unsupported (int errnum)
{
  return errnum == EINVAL || errnum == ENOSYS || errnum == EOPNOTSUPP;
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
      /* Both names are registered for removal, whichever way round.  */
      int probe_errno = 0;
      if (renameat2 (dirfd, a.name, dirfd, b.name, RENAME_EXCHANGE) == 0)
        result = 1;
      else
        {
          probe_errno = errno;
          result = fs_flag_unsupported (probe_errno) ? 0 : -1;
        }
      temp_remove (&b);
      temp_remove (&a);
      if (probe_errno)
        errno = probe_errno;
      return result;
    }

  /* RENAME_NOREPLACE onto an absent name, then back.  The second name
     is not registered for removal, so no signal may come between the
     two renames.  */
  char absent[TEMP_NAME_MAX + 8];
  snprintf (absent, sizeof absent, "%s.probe", a.name);
  int probe_errno = 0;
  block_cleanup_signals ();
  if (renameat2 (dirfd, a.name, dirfd, absent, RENAME_NOREPLACE) == 0)
    {
      result = 1;
      if (renameat (dirfd, absent, dirfd, a.name) != 0)
        unlinkat (dirfd, absent, 0);
    }
  else
    {
      probe_errno = errno;
      result = fs_flag_unsupported (probe_errno) ? 0 : -1;
    }
  unblock_cleanup_signals ();
  temp_remove (&a);
  if (probe_errno)
    errno = probe_errno;
  return result;
}

/* The policy.  */

struct judgement
{
  enum fs_verdict verdict;
  char const *consequence;   /* what goes wrong; for a safe verdict a
                                condition or NULL */
  bool futile;               /* --force cannot make it work: the
                                filesystem lacks the primitive, or the
                                directory may not be written */
  bool lacks;                /* the filesystem lacks (or may lack) the
                                renameat2 flag: an EINVAL for it is the
                                filesystem's doing, not the operands' */
};

static struct judgement
judged (enum fs_verdict verdict, char const *consequence)
{
  return (struct judgement) { verdict, consequence, false, false };
}

/* A judgement that the filesystem lacks (or may lack) a renameat2
   flag.  */
static struct judgement
lacking (enum fs_verdict verdict, char const *consequence)
{
  return (struct judgement) { verdict, consequence, false, true };
}

static char const *
lacks (enum fs_primitive prim)
{
  return (prim == FS_NOREPLACE
          ? "it does not support RENAME_NOREPLACE"
          : "it does not support RENAME_EXCHANGE");
}

/* The flag PRIM is missing: a probe got ERRNUM (fs_flag_unsupported).
   Name that error, not EINVAL whatever came: a daemon or a kernel may
   answer EOPNOTSUPP (ENOSYS reaches us as EINVAL: glibc's renameat2
   turns it into that).  */
static char const *
lacks_probed (enum fs_primitive prim, int errnum)
{
  if (errnum == EOPNOTSUPP)
    return (prim == FS_NOREPLACE
            ? "it does not support RENAME_NOREPLACE (a probe got "
              "EOPNOTSUPP)"
            : "it does not support RENAME_EXCHANGE (a probe got "
              "EOPNOTSUPP)");
  if (errnum == ENOSYS)
    return (prim == FS_NOREPLACE
            ? "it does not support RENAME_NOREPLACE (a probe got ENOSYS)"
            : "it does not support RENAME_EXCHANGE (a probe got ENOSYS)");
  return (prim == FS_NOREPLACE
          ? "it does not support RENAME_NOREPLACE (a probe got EINVAL)"
          : "it does not support RENAME_EXCHANGE (a probe got EINVAL)");
}

/* The table's verdicts on renameat2 flags that a probe can settle, on
   a local filesystem whose driver decides and on virtiofs.  The table
   ends them with ", and no probe was made"; judge, when its probe
   failed, with why (probe_failed).  */
#define DRIVER_DECIDES_FLAG \
  "whether it has this flag depends on the driver that mounted it " \
  "(ext4's has it, the ext2 driver lacks RENAME_EXCHANGE)"
#define HOST_DECIDES_FLAG "support follows the host's filesystem"
/* A local filesystem that was not measured: only a probe that passes
   makes its renameat2 flags safe (fs-semantics.md, sec. 6: "safe after
   the probe").  Without one, nobody saw the flag work, so PRIM is
   refused as unknown -- --force overrides.  */
#define NOT_MEASURED_NOREPLACE \
  "RENAME_NOREPLACE was not measured on this filesystem"
#define NOT_MEASURED_EXCHANGE \
  "RENAME_EXCHANGE was not measured on this filesystem"

/* PRIM's stem above, ending as the table's do when PROBE_MADE is
   false.  */
static char const *
not_measured (enum fs_primitive prim, bool probe_made)
{
  if (prim == FS_NOREPLACE)
    return (probe_made ? NOT_MEASURED_NOREPLACE
            : NOT_MEASURED_NOREPLACE ", and no probe was made");
  return (probe_made ? NOT_MEASURED_EXCHANGE
          : NOT_MEASURED_EXCHANGE ", and no probe was made");
}

/* STEM (one of the above), and that the probe failed with ERRNUM: a
   full disk, a read-only mount.  The text is good until the next
   call: judge's callers print a judgement before asking another.  */
static char const *
probe_failed (char const *stem, int errnum)
{
  static char text[256];
  snprintf (text, sizeof text, "%s, and a probe failed: %s", stem,
            strerror (errnum));
  return text;
}

/* A probe for PRIM failed with ERRNUM (a read-only mount, a directory
   we may not write, a full disk): the daemon was never asked.  The
   text is probe_failed's.  */
static char const *
unknown_unprobed (enum fs_primitive prim, int errnum)
{
  return probe_failed ((prim == FS_NOREPLACE
                        ? "could not tell whether it supports "
                          "RENAME_NOREPLACE"
                        : "could not tell whether it supports "
                          "RENAME_EXCHANGE"),
                       errnum);
}

/* What exclusion by PRIM depends on, on a FUSE mount.  */
static char const *
fuse_exclusion (enum fs_primitive prim)
{
  switch (prim)
    {
    case FS_MKDIR:
      return "whether mkdir excludes processes on other mounts or hosts "
             "depends on the FUSE daemon";
    case FS_RENAME_DIR:
      return "whether renaming a directory onto a lock's name excludes "
             "processes on other mounts or hosts depends on the FUSE "
             "daemon";
    case FS_LINK:
      return "whether link excludes processes on other mounts or hosts "
             "depends on the FUSE daemon";
    case FS_SYMLINK:
      return "whether symlink excludes processes on other mounts or hosts "
             "depends on the FUSE daemon";
    default:
      return "whether O_EXCL excludes processes on other mounts or hosts "
             "depends on the FUSE daemon";
    }
}

/* The policy table of fs-semantics.md, section 6, for INFO's class.  */
static struct judgement
table_judgement (struct fs_info const *info, enum fs_primitive prim)
{
  bool renames = (prim == FS_RENAME || prim == FS_NOREPLACE
                  || prim == FS_EXCHANGE);
  /* Callers that fill an fs_info by hand may set the fstype only.  */
  char const *daemon = info->fuse_daemon;
  if (!daemon && info->fstype)
    fuse_fstype (info->fstype, &daemon);
  switch (info->class)
    {
    case FSC_LOCAL:
      {
        /* Known, but not measured: its driver decides (a probe can).  */
        struct local_fs const *row = local_fs_named (info->fstype);
        if (row && !row->flags_measured
            && (prim == FS_NOREPLACE || prim == FS_EXCHANGE))
          return lacking (FS_WARN,
                          DRIVER_DECIDES_FLAG ", and no probe was made");
        /* Not known at all: unknown until a probe passes.  */
        if (!row && (prim == FS_NOREPLACE || prim == FS_EXCHANGE))
          return lacking (FS_REFUSE, not_measured (prim, false));
      }
      return judged (FS_SAFE, NULL);

    case FSC_OVERLAY:
      if (renames && !info->overlay_redirect_dir)
        {
          if (info->object_is_dir && info->object_lower == 1)
            {
              struct judgement j = judged (FS_REFUSE,
                "it is a directory from overlay's lower layer and the mount "
                "lacks redirect_dir=on: renaming it fails with EXDEV, so "
                "this cannot be done atomically here");
              j.futile = true;
              return j;
            }
          if (!info->object_known
              || (info->object_is_dir && info->object_lower != 0))
            return judged (FS_SAFE,
                           "a directory from the lower layer cannot be "
                           "renamed (EXDEV), since redirect_dir is off");
        }
      if (prim == FS_LINK && !info->overlay_index)
        return judged (FS_SAFE,
                       "a hard link to a file from the lower layer breaks "
                       "when the file is copied up, since index is off");
      return judged (FS_SAFE, NULL);

    case FSC_NETWORK:
    case FSC_SMB:
      switch (prim)
        {
        case FS_NOREPLACE:
          if (info->class == FSC_SMB)
            return judged (FS_REFUSE,
                           "RENAME_NOREPLACE is only checked by this client, "
                           "so another client can still be overwritten");
          return lacking (FS_REFUSE, lacks (prim));
        case FS_EXCHANGE:
          return lacking (FS_REFUSE, lacks (prim));
        case FS_APPEND:
          return judged (FS_REFUSE, "appends from other hosts can interleave");
        case FS_RENAME:
          return judged (FS_WARN,
                         info->class == FSC_SMB
                         ? "a rename over a file open elsewhere falls back "
                           "to unlink then rename, leaving a moment with "
                           "no file"
                         : "other hosts can see the old name until their "
                           "caches expire");
        case FS_SYMLINK:
          if (info->class == FSC_SMB)
            return judged (FS_WARN, "symbolic links work only with Unix "
                                    "extensions or mfsymlinks");
          return judged (FS_SAFE, NULL);
        case FS_EXCL:
          {
            char *vers = (info->fstype && strcmp (info->fstype, "nfs") == 0
                          ? mount_option (info->super_options, "vers")
                          : NULL);
            bool nfs2 = vers && strcmp (vers, "2") == 0;
            free (vers);
            if (nfs2)
              return judged (FS_REFUSE, "NFSv2 has no exclusive create, so "
                                        "two clients can both create the "
                                        "file");
          }
          return judged (FS_SAFE, NULL);
        default:
          return judged (FS_SAFE, NULL);
        }

    case FSC_VIRTIOFS:
      if (prim == FS_APPEND)
        return judged (FS_WARN, "appends from other guests sharing the "
                                "directory can interleave");
      if (prim == FS_NOREPLACE || prim == FS_EXCHANGE)
        return lacking (FS_WARN,
                        HOST_DECIDES_FLAG ", and no probe was made");
      return judged (FS_SAFE, NULL);

    case FSC_FUSE:
      switch (prim)
        {
        case FS_NOREPLACE:
        case FS_EXCHANGE:
          return lacking (FS_REFUSE, lacks (prim));
        case FS_APPEND:
          return judged (FS_REFUSE, "appends from other hosts can "
                                    "interleave");
        case FS_RENAME:
          return judged (FS_WARN, "readers on this mount that have the old "
                                  "file open can briefly find no file");
        default:
          /* sshfs makes mkdir, link, symlink and O_EXCL on the server,
             so they exclude across mounts (callers handle its EPERM for
             EEXIST).  */
          if (daemon && strcmp (daemon, "sshfs") == 0)
            return judged (FS_SAFE, NULL);
          return judged (FS_WARN, fuse_exclusion (prim));
        }

    case FSC_OBJECT_STORE:
      switch (prim)
        {
        case FS_APPEND:
          return judged (FS_REFUSE, "appends can be lost");
        case FS_RENAME:
        case FS_NOREPLACE:
        case FS_EXCHANGE:
          return judged (FS_REFUSE, "rename is a copy then a delete: "
                                    "readers can see a missing or partial "
                                    "file");
        case FS_RENAME_DIR:
          return judged (FS_REFUSE, "the lock is taken by renaming a "
                                    "directory onto its name, and rename "
                                    "here is a copy then a delete: several "
                                    "clients can all succeed");
        default:
          return judged (FS_REFUSE, "several clients can all succeed: there "
                                    "is no mutual exclusion");
        }

    case FSC_GLUSTER:
      switch (prim)
        {
        case FS_RENAME:
        case FS_NOREPLACE:
        case FS_EXCHANGE:
          return judged (FS_REFUSE, "rename is a link then an unlink");
        case FS_RENAME_DIR:
          /* However well mkdir would exclude: the lock is no mkdir.  */
          return judged (FS_REFUSE, "the lock is taken by renaming a "
                                    "directory onto its name, and rename "
                                    "here is a link then an unlink");
        case FS_APPEND:
          return judged (FS_REFUSE, "appends from other hosts can interleave");
        default:
          return judged (FS_WARN, "exclusion across clients depends on the "
                                  "translators in use");
        }
    }
  return judged (FS_SAFE, NULL);
}

/* Whether INFO's filesystem is one whose renameat2 flags were
   measured, so the table needs no probe.  */
static bool
measured_local (struct fs_info const *info)
{
  struct local_fs const *row = local_fs_named (info->fstype);
  return row && row->flags_measured;
}

static struct judgement
judge (struct fs_info const *info, enum fs_primitive prim, int dirfd)
{
  struct judgement j = table_judgement (info, prim);
  if (!(prim == FS_NOREPLACE || prim == FS_EXCHANGE) || dirfd < 0
      || j.futile)
    return j;

  /* A FUSE daemon that passes renameat2 flags through (bindfs on fuse3,
     virtiofsd), or a local filesystem that was not measured, can do
     something the table cannot know: ask it.  On FUSE this only lifts a
     refusal to a warning -- the daemon decides atomicity.  */
  bool probe = (info->class == FSC_FUSE || info->class == FSC_VIRTIOFS
                || (info->class == FSC_LOCAL && !measured_local (info)));
  /* The probe must run on the filesystem being judged.  */
  if (probe && info->mount_id >= 0)
    {
      int probe_mount = mount_id_of (dirfd);
      probe = probe_mount < 0 || probe_mount == info->mount_id;
    }
  if (!probe)
    return j;

  unsigned int flag = prim == FS_NOREPLACE ? RENAME_NOREPLACE
                                           : RENAME_EXCHANGE;
  switch (fs_probe_renameat2 (dirfd, flag))
    {
    case 1:
      if (info->class == FSC_FUSE)
        return judged (FS_WARN, "the FUSE daemon passes renameat2 through "
                                "(probed); whether it is atomic depends on "
                                "the filesystem behind it");
      return judged (FS_SAFE, NULL);
    case 0:
      j = lacking (FS_REFUSE, lacks_probed (prim, errno));
      j.futile = true;
      return j;
    default:
      {
        /* The probe was tried: the table's "no probe was made" would
           hide why it failed.  */
        int probe_errno = errno;
        if (info->class == FSC_LOCAL && j.verdict == FS_WARN)
          j = lacking (FS_WARN,
                       probe_failed (DRIVER_DECIDES_FLAG, probe_errno));
        else if (info->class == FSC_VIRTIOFS && j.verdict == FS_WARN)
          j = lacking (FS_WARN,
                       probe_failed (HOST_DECIDES_FLAG, probe_errno));
        else if (info->class == FSC_LOCAL && !measured_local (info))
          j = lacking (FS_REFUSE, probe_failed (not_measured (prim, true),
                                                probe_errno));
        /* Still refused -- most daemons lack the flags -- but the
           table's "does not support" would claim what nobody saw.  */
        else if (info->class == FSC_FUSE && j.verdict == FS_REFUSE)
          j = lacking (FS_REFUSE, unknown_unprobed (prim, probe_errno));
        /* A probe denied because the directory may not be written
           (EACCES, or EPERM: an immutable directory, a daemon's
           refusal): renaming there is refused alike.  */
        if (probe_errno == EACCES || probe_errno == EPERM)
          j.futile = true;
        return j;
      }
    }
}

enum fs_verdict
fs_judge (struct fs_info const *info, enum fs_primitive prim, int dirfd,
          char const **consequence)
{
  struct judgement j = judge (info, prim, dirfd);
  *consequence = j.consequence;
  return j.verdict;
}

/* Is the filesystem DIRFD is on mounted read-only?  Every primitive
   the suite judges changes it, so there --force would only reach
   EROFS.  */
static bool
read_only_mount (int dirfd)
{
  struct statvfs sv;
  return 0 <= dirfd && fstatvfs (dirfd, &sv) == 0 && (sv.f_flag & ST_RDONLY);
}

/* fs_permits_info, with a refusal begun by LEAD and ": " if LEAD is
   not NULL.  */
static bool
permits_info (char const *lead, char const *path, struct fs_info const *info,
              int dirfd, enum fs_primitive prim, bool force, bool quiet)
{
  struct judgement j = judge (info, prim, dirfd);
  if (j.verdict == FS_REFUSE && !force)
    {
      /* When the filesystem lacks the primitive, is read-only, or
         the directory may not be written, --force would only reach a
         failure; do not suggest it.  */
      error (0, 0, "%s%s%s is on %s: %s%s", lead ? lead : "",
             lead ? ": " : "", quoteaf (path), fs_display_name (info),
             j.consequence,
             (j.futile ? ""
              : read_only_mount (dirfd) ? "; it is mounted read-only"
              : "; use --force to go ahead anyway"));
      return false;
    }
  if (j.verdict != FS_SAFE && !quiet)
    error (0, 0, "warning: %s is on %s: %s", quoteaf (path),
           fs_display_name (info), j.consequence);
  return true;
}

bool
fs_permits_info (char const *path, struct fs_info const *info, int dirfd,
                 enum fs_primitive prim, bool force, bool quiet)
{
  return permits_info (NULL, path, info, dirfd, prim, force, quiet);
}

/* fs_dir_surely_local for DIRFD, or for NAME in DIRFD (never followed)
   if NAME is not NULL: NAME may be a mount point, so it must be on
   DIRFD's device, or absent.  Three system calls, and no open.  */
static bool
surely_local (int dirfd, char const *name)
{
  struct statfs sfs;
  if (fstatfs (dirfd, &sfs) != 0)
    return false;
  unsigned long magic = (unsigned long) sfs.f_type;
  struct local_fs const *row = NULL;
  for (size_t i = 0; !row && i < sizeof local_filesystems
                                  / sizeof *local_filesystems; i++)
    if (local_filesystems[i].shortcut && local_filesystems[i].magic == magic)
      row = &local_filesystems[i];
  if (!row)
    return false;
  /* 9p passes its server's f_type through, so "ext4" alone could be a
     share; but no network or FUSE filesystem sits on a block device,
     and an anonymous device has major number 0.  */
  struct statx dir;
  if (!(statx (dirfd, "", AT_EMPTY_PATH, STATX_TYPE, &dir) == 0
        && (row->deviceless || dir.stx_dev_major != 0)
        && ((dir.stx_attributes_mask & row->driver_attribute)
            == row->driver_attribute)))
    return false;
  if (!name)
    return true;
  struct statx object;
  if (statx (dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_TYPE, &object) != 0)
    return errno == ENOENT;
  return (object.stx_dev_major == dir.stx_dev_major
          && object.stx_dev_minor == dir.stx_dev_minor);
}

bool
fs_surely_local (int dirfd, char const *name)
{
  return surely_local (dirfd, name);
}

bool
fs_permits (char const *path, int dirfd, char const *name,
            enum fs_primitive prim, bool force, bool quiet)
{
  return fs_permits_lead (NULL, path, dirfd, name, prim, force, quiet);
}

/* Every verdict is "safe" on a filesystem surely local, and two system
   calls say so where reading /proc/self/mountinfo would be most of a
   tool's cost; a filesystem that cannot be identified is left to the
   operation itself, which will report the problem.  */
bool
fs_identify_to_judge (int dirfd, char const *name, struct fs_info *info)
{
  return !fs_surely_local (dirfd, name) && fs_identify (dirfd, name, info);
}

bool
fs_may_work (int dirfd, char const *name, enum fs_primitive prim)
{
  struct fs_info info;
  if (!fs_identify_to_judge (dirfd, name, &info))
    return true;
  bool may_work = judge (&info, prim, dirfd).verdict != FS_REFUSE;
  fs_info_free (&info);
  return may_work;
}

bool
fs_permits_lead (char const *lead, char const *path, int dirfd,
                 char const *name, enum fs_primitive prim, bool force,
                 bool quiet)
{
  struct fs_info info;
  if (!fs_identify_to_judge (dirfd, name, &info))
    return true;
  bool permitted = permits_info (lead, path, &info, dirfd, prim, force,
                                 quiet);
  fs_info_free (&info);
  return permitted;
}

/* The mount id of NAME in DIRFD (never followed), or of DIRFD if NAME
   does not exist; -1 if unknown.  */
static int
object_mount_id (int dirfd, char const *name)
{
  int fd = openat (dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  int id = mount_id_of (fd >= 0 ? fd : dirfd);
  if (fd >= 0)
    close (fd);
  return id;
}

bool
fs_permits_both (char const *path_a, int dirfd_a, char const *name_a,
                 char const *path_b, int dirfd_b, char const *name_b,
                 enum fs_primitive prim, bool force, bool quiet)
{
  if (fs_surely_local (dirfd_a, name_a) && fs_surely_local (dirfd_b, name_b))
    return true;

  struct fs_info info;
  if (!fs_identify (dirfd_a, name_a, &info))
    return true;   /* The operation itself will report the problem.  */
  bool permitted = fs_permits_info (path_a, &info, dirfd_a, prim, force,
                                    quiet);
  /* B on the same mount gets the same verdict -- the same probe, the
     same warning, said once -- except on overlay, where the verdict
     depends on the object too.  */
  bool same = (info.mount_id >= 0 && info.class != FSC_OVERLAY
               && object_mount_id (dirfd_b, name_b) == info.mount_id);
  fs_info_free (&info);
  if (permitted && !same)
    permitted = fs_permits (path_b, dirfd_b, name_b, prim, force, quiet);
  return permitted;
}

/* Why a rename failed.  */

/* The judgement of PRIM for NAME in DIRFD (the object itself, which
   may be a directory from overlay's lower layer), with no probe, as a
   reason for EXDEV; set *DISPLAY to a copy of the filesystem's name.
   A missing or unknown renameat2 flag is no such reason: it gives
   EINVAL, not EXDEV (and unprobed, the flag is unknown even where a
   probe just showed it working).  */
static struct judgement
judge_object (int dirfd, char const *name, enum fs_primitive prim,
              char **display)
{
  struct fs_info info;
  if (!fs_identify (dirfd, name, &info))
    {
      *display = NULL;
      return judged (FS_SAFE, NULL);
    }
  struct judgement j = judge (&info, prim, -1);
  if (j.lacks)
    j = judged (FS_SAFE, NULL);
  *display = xstrdup (fs_display_name (&info));
  fs_info_free (&info);
  return j;
}

/* PRIM (a renameat2 flag) failed with EINVAL or the like in DIRFD, on
   a filesystem refused for another reason than a missing flag (an
   object store, GlusterFS) and used with --force.  The table never
   asked the filesystem, and EINVAL also means "a directory into
   itself": a probe says whose doing it is.  Return the reason, or NULL
   if the filesystem has the flag.  */
static char const *
flag_failure_probed (enum fs_primitive prim, int dirfd)
{
  unsigned int flag = prim == FS_NOREPLACE ? RENAME_NOREPLACE
                                           : RENAME_EXCHANGE;
  switch (fs_probe_renameat2 (dirfd, flag))
    {
    case 1:
      return NULL;
    case 0:
      return lacks_probed (prim, errno);
    default:
      return unknown_unprobed (prim, errno);
    }
}

char *
fs_rename_failure (int olddirfd, char const *oldname,
                   int newdirfd, char const *newname,
                   enum fs_primitive prim, int errnum)
{
  if (errnum == EXDEV)
    {
      if (fs_dirs_on_different_mounts (olddirfd, newdirfd))
        return xstrdup ("the two names are on different mounts, and no "
                        "rename crosses mounts: this cannot be done "
                        "atomically");

      /* One tree, and still EXDEV: the filesystem will not move this
         object between these directories.  The table knows why on
         overlay (a directory from a lower layer), for either name of an
         exchange.  */
      char *display;
      struct judgement j = judge_object (olddirfd, oldname, prim, &display);
      if (!display)
        return NULL;
      if (j.verdict != FS_REFUSE && prim == FS_EXCHANGE)
        {
          char *new_display;
          struct judgement jn = judge_object (newdirfd, newname, prim,
                                              &new_display);
          if (jn.verdict == FS_REFUSE || (!j.consequence && jn.consequence))
            j = jn;
          free (new_display);
        }
      char *why;
      if (j.verdict == FS_REFUSE)
        why = xasprintf ("%s: %s", display, j.consequence);
      else if (j.consequence)
        why = xasprintf ("%s: %s: this cannot be done atomically here",
                         display, j.consequence);
      else
        why = xasprintf ("%s will not move it between these directories "
                         "(EXDEV, as with different project quotas): this "
                         "cannot be done atomically here", display);
      free (display);
      return why;
    }

  if ((prim == FS_NOREPLACE || prim == FS_EXCHANGE)
      && fs_flag_unsupported (errnum))
    {
      /* EINVAL also means "a directory into itself": the judgement,
         with a probe where the table cannot tell, says whether the
         filesystem lacks the flag.  */
      struct fs_info info;
      if (!fs_identify (olddirfd, NULL, &info))
        return NULL;
      struct judgement j = judge (&info, prim, olddirfd);
      char const *reason = NULL;
      if (j.lacks)
        reason = j.consequence;
      else if (j.verdict == FS_REFUSE)
        reason = flag_failure_probed (prim, olddirfd);
      char *why = (reason
                   ? xasprintf ("%s: %s", fs_display_name (&info), reason)
                   : NULL);
      fs_info_free (&info);
      return why;
    }
  return NULL;
}

/* --check-fs.  */

static void
explain_info (struct fs_info const *info)
{
  if (info->source)
    printf ("  source: %s\n", info->source);
  char const *subtype;
  if (info->fstype && fuse_fstype (info->fstype, &subtype))
    {
      if (subtype)
        printf ("  FUSE subtype: %s\n", subtype);
      else if (info->fuse_daemon)
        printf ("  FUSE subtype: none (the source names the daemon: %s)\n",
                info->fuse_daemon);
      else
        printf ("  FUSE subtype: none (unknown daemon)\n");
    }
  else if (info->class == FSC_FUSE)
    printf ("  FUSE subtype: unknown (mount not found)\n");
  if (info->class == FSC_OVERLAY)
    {
      printf ("  overlay: redirect_dir %s, index %s\n",
              info->overlay_redirect_dir ? "on" : "off",
              info->overlay_index ? "on" : "off");
      /* -1: the mount's root, or layers not visible from here; the
         verdicts then carry the general condition.  */
      if (info->object_is_dir && info->object_lower >= 0)
        printf ("  this directory: %s\n",
                info->object_lower == 0
                ? "in the upper layer only (it can be renamed)"
                : info->overlay_redirect_dir
                ? "from the lower layer (it can be renamed: redirect_dir "
                  "is on)"
                : "from the lower layer (renaming it gives EXDEV unless "
                  "redirect_dir=on)");
    }
}

int
fs_explain_at (char const *shown, int dirfd, char const *name,
               char const *dir_shown)
{
  int fd = name ? openat (dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC) : -1;
  /* Only ENOENT means NAME is not there yet.  One that cannot be
     looked up (EACCES, ENAMETOOLONG) may well be there, or never.  */
  if (name && fd < 0 && errno != ENOENT)
    {
      error (0, errno, "cannot examine %s", quoteaf (shown));
      return EXIT_SYSERR;
    }
  struct fs_info info;
  if (!fs_identify (dirfd, name, &info))
    {
      error (0, errno, "cannot examine %s", quoteaf (shown));
      if (fd >= 0)
        close (fd);
      return EXIT_SYSERR;
    }
  /* Probes need a directory to make scratch names in: the object if it
     is one, else the directory that holds it.  */
  struct stat st;
  int probe_fd = (fd >= 0 && fstat (fd, &st) == 0 && S_ISDIR (st.st_mode)
                  ? fd : dirfd);

  /* Names quoted where needed, as lockdir --status quotes LOCK: a
     newline in one would otherwise split the report.  */
  printf ("%s: %s (%s filesystem, f_type 0x%lx)",
          quotef (shown), fs_display_name (&info),
          fs_class_name (info.class), info.magic);
  if (info.mount_point)
    printf (" mounted on %s", quotef_n (1, info.mount_point));
  putchar ('\n');
  if (name && fd < 0)
    printf ("  not there yet: examined its directory %s\n",
            quotef_n (1, dir_shown));
  explain_info (&info);
  /* Every primitive changes the filesystem: on a read-only mount each
     fails with EROFS, however well the filesystem would keep it.  */
  bool read_only = read_only_mount (fd >= 0 ? fd : dirfd);
  if (read_only)
    printf ("  mounted read-only: every primitive below fails with "
            "EROFS\n");
  for (int p = 0; p < FS_PRIMITIVE_COUNT; p++)
    {
      struct judgement j = judge (&info, p, probe_fd);
      printf ("  %-17s %s", fs_primitive_name (p), verdict_name (j.verdict));
      if (j.consequence)
        printf (j.verdict == FS_SAFE ? ", but %s" : ": %s", j.consequence);
      /* A refusal already says it will not be done.  */
      if (read_only && j.verdict != FS_REFUSE)
        printf (j.consequence ? "; it is mounted read-only"
                : ", but it is mounted read-only");
      putchar ('\n');
    }
  fs_info_free (&info);
  if (fd >= 0)
    close (fd);
  return EXIT_DONE;
}

int
fs_explain_operands (int n, char **paths)
{
  /* "" names nothing here either: the usage error of every other form
     of the tools (lockdir's --check-fs included), before any report.
     "." and "/" are examined, as directories.  */
  for (int i = 0; i < n; i++)
    if (!*paths[i])
      check_operand (paths[i]);
  int status = EXIT_DONE;
  for (int i = 0; i < n; i++)
    {
      /* The path itself if it exists, else the directory that would
         hold it.  "." and "/" have no parent to look from: they are
         examined as directories.  */
      struct parent_dir parent = { .fd = -1 };
      int explained;
      struct stat st;
      /* "f/" names a directory: one that is not there may be made, but
         a file there is no directory, and no tool would take it; nor a
         dangling symbolic link, which is there but leads nowhere.  */
      int slash_errno = (has_trailing_slash (paths[i])
                         && stat (paths[i], &st) != 0 ? errno : 0);
      bool opened = (slash_errno != ENOTDIR
                     && open_parent (paths[i], &parent));
      /* Not there through the slash, but there itself: a dangling
         symbolic link.  */
      if (opened && slash_errno == ENOENT
          && fstatat (parent.fd, parent.base, &st,
                      AT_SYMLINK_NOFOLLOW) == 0)
        slash_errno = ENOTDIR;
      if (slash_errno == ENOTDIR)
        {
          error (0, slash_errno, "cannot examine %s", quoteaf (paths[i]));
          explained = EXIT_SYSERR;
        }
      else if (opened)
        explained = fs_explain_at (paths[i], parent.fd, parent.base,
                                   parent.dir);
      else
        {
          int fd = open (paths[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
          if (fd < 0)
            {
              error (0, errno, "cannot examine %s", quoteaf (paths[i]));
              explained = EXIT_SYSERR;
            }
          else
            {
              explained = fs_explain_at (paths[i], fd, NULL, NULL);
              close (fd);
            }
        }
      close_parent (&parent);
      if (explained != EXIT_DONE)
        status = explained;
    }
  return status;
}

bool
fs_dir_surely_local (int dirfd)
{
  return surely_local (dirfd, NULL);
}

bool
fs_dir_remote (int dirfd)
{
  if (fs_dir_surely_local (dirfd))
    return false;
  struct fs_info info;
  if (!fs_identify (dirfd, NULL, &info))
    return false;
  bool remote = info.class != FSC_LOCAL && info.class != FSC_OVERLAY;
  fs_info_free (&info);
  return remote;
}

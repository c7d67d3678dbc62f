# fs_helper.bash -- real mounts for the filesystem tests (tests/fs.bats).
#
# fs_mount_all, from setup_file, makes one of each filesystem the suite
# was measured on, under $FS_ROOT (in $BATS_FILE_TMPDIR):
#
#   ext4, xfs, btrfs   small sparse images, loop-mounted ('mount -o loop'
#                      sets autoclear, so unmounting frees the device)
#   tmpfs              mounted at a path with a space in it
#   overlay            two lower layers, with directories ldir, ldir3
#                      and xdir (in the first; only the EXDEV test touches
#                      xdir) and ldir2 (in the second) and a file lfile,
#                      on the tmpfs (fs_backing_dir overlay has lower/
#                      lower2/ upper/); 'overlay-redirect' is the same with
#                      redirect_dir=on
#   fuse               bindfs: mountinfo says plain "fuse"; 'fuse-bindfs'
#                      is bindfs of a path with a space, which mountinfo
#                      shows as "fuse.bindfs"; 'fuse-s3fs' is bindfs with
#                      subtype=s3fs, so mountinfo says fuse.s3fs, to see
#                      an object-store refusal on a real mount;
#                      'fuse-glusterfs' is the same with subtype=glusterfs
#
# A mount that cannot be made records why in $FS_ROOT/NAME.skip, and
# require_mount NAME then skips the test with that reason.  fs_unmount_all,
# from teardown_file, unmounts everything this file mounted (it runs even
# when tests fail) and detaches any loop device still bound to an image.

FS_ROOT=${BATS_FILE_TMPDIR:-/tmp}/fs
export FS_ROOT

# Where each mount is; the tests use these.
fs_mount_point() {
  case $1 in
    tmpfs) echo "$FS_ROOT/tmp fs" ;;
    *) echo "$FS_ROOT/mnt/$1" ;;
  esac
}

_fs_skip() {
  local name=$1
  shift
  printf '%s\n' "$*" >"$FS_ROOT/$name.skip"
}

_fs_record() {
  # Mount points, innermost last, so unmounting goes in reverse.
  printf '%s\n' "$1" >>"$FS_ROOT/mounted"
}

# _fs_loop NAME MKFS_COMMAND SIZE
_fs_loop() {
  local name=$1 mkfs=$2 size=$3
  local img=$FS_ROOT/$name.img mnt
  mnt=$(fs_mount_point "$name")
  mkdir -p "$mnt"
  if ! command -v "${mkfs%% *}" >/dev/null 2>&1; then
    _fs_skip "$name" "no ${mkfs%% *} (Debian package: see scripts/install-deps)"
    return 0
  fi
  local out
  if ! out=$(truncate -s "$size" "$img" 2>&1 && $mkfs "$img" 2>&1); then
    _fs_skip "$name" "cannot make a $name image: $out"
    return 0
  fi
  if ! out=$(mount -o loop "$img" "$mnt" 2>&1); then
    _fs_skip "$name" "cannot loop-mount a $name image: $out"
    return 0
  fi
  _fs_record "$mnt"
}

fs_mount_all() {
  mkdir -p "$FS_ROOT/mnt"
  : >"$FS_ROOT/mounted"
  if [ "$(id -u)" -ne 0 ]; then
    local name
    for name in ext4 xfs btrfs tmpfs overlay overlay-redirect fuse \
                fuse-bindfs fuse-s3fs fuse-glusterfs; do
      _fs_skip "$name" "needs root (to mount a filesystem)"
    done
    return 0
  fi

  _fs_loop ext4 "mkfs.ext4 -q -F" 64M
  _fs_loop xfs "mkfs.xfs -q -f" 300M       # xfs wants at least 300 MB
  _fs_loop btrfs "mkfs.btrfs -q -f" 128M   # btrfs wants about 110 MiB

  local tmp out
  tmp=$(fs_mount_point tmpfs)
  mkdir -p "$tmp"
  if out=$(mount -t tmpfs -o size=16m,mode=0755 atomicutils-test "$tmp" 2>&1); then
    _fs_record "$tmp"
  else
    _fs_skip tmpfs "cannot mount a tmpfs: $out"
    tmp=$FS_ROOT/layers      # the overlay and FUSE still need a home
  fi

  # Overlay: a lower layer holding a directory and a file.
  local kind opts
  for kind in overlay overlay-redirect; do
    local base=$tmp/$kind mnt
    mnt=$(fs_mount_point "$kind")
    printf '%s\n' "$base" >"$FS_ROOT/$kind.backing"
    mkdir -p "$base/lower/ldir" "$base/lower/ldir3/sub" "$base/lower/xdir" \
      "$base/lower2/ldir2" "$base/upper" "$base/work" "$mnt"
    echo lower >"$base/lower/ldir/f"
    echo lower >"$base/lower/xdir/f"
    echo lower >"$base/lower/lfile"
    echo lower2 >"$base/lower2/ldir2/f"
    # Two lower layers: ldir2 is only in the second.
    opts="lowerdir=$base/lower:$base/lower2,upperdir=$base/upper"
    opts="$opts,workdir=$base/work"
    [ "$kind" = overlay-redirect ] && opts="$opts,redirect_dir=on"
    if out=$(mount -t overlay overlay -o "$opts" "$mnt" 2>&1); then
      _fs_record "$mnt"
    else
      _fs_skip "$kind" "cannot mount an overlay: $out"
    fi
  done

  # FUSE: bindfs 1.14 (libfuse2 on Debian 12).  It names the mount by
  # its source directory, so mountinfo says plain "fuse" -- unless that
  # path has a space, when libfuse's default subtype shows instead:
  # "fuse.bindfs".  Both forms occur in the wild; test both.
  local src
  for kind in fuse fuse-bindfs fuse-s3fs fuse-glusterfs; do
    case $kind in
      fuse) src=$FS_ROOT/fuse-src ;;
      fuse-bindfs) src="$tmp/fuse bindfs" ;;
      fuse-*) src=$FS_ROOT/$kind-src ;;
    esac
    local mnt
    mnt=$(fs_mount_point "$kind")
    mkdir -p "$src" "$mnt"
    printf '%s\n' "$src" >"$FS_ROOT/$kind.backing"
    if ! command -v bindfs >/dev/null 2>&1; then
      _fs_skip "$kind" "no bindfs (Debian packages bindfs and fuse3)"
    elif [ ! -c /dev/fuse ]; then
      _fs_skip "$kind" "no /dev/fuse: FUSE is not available here"
    else
      opts=
      [ "$kind" = fuse-s3fs ] && opts="-o subtype=s3fs"
      [ "$kind" = fuse-glusterfs ] && opts="-o subtype=glusterfs"
      # shellcheck disable=SC2086
      if out=$(bindfs $opts "$src" "$mnt" 2>&1); then
        _fs_record "$mnt"
      else
        _fs_skip "$kind" "cannot mount bindfs: $out"
      fi
    fi
  done
}

fs_unmount_all() {
  [ -f "$FS_ROOT/mounted" ] || return 0
  local mnt i
  # Innermost first.
  while IFS= read -r mnt; do
    for ((i = 0; i < 20; i++)); do
      mountpoint -q "$mnt" || break
      umount "$mnt" 2>/dev/null && break
      sleep 0.1
    done
    # Busy for good (a test left a process behind): detach it anyway.
    mountpoint -q "$mnt" && umount -l "$mnt"
  done < <(tac "$FS_ROOT/mounted")
  : >"$FS_ROOT/mounted"
  local img dev
  for img in "$FS_ROOT"/*.img; do
    [ -e "$img" ] || continue
    for dev in $(losetup -j "$img" -O NAME -n 2>/dev/null); do
      losetup -d "$dev"
    done
    rm -f "$img"
  done
  return 0
}

# Skip the test unless a power loss can be simulated (fs_power_loss).
require_power_loss() {
  require_root
  command -v xfs_io >/dev/null || skip "no xfs_io (Debian package xfsprogs)"
}

# fs_crash_mount FS: a fresh FS (ext4 or xfs) for this test alone, for
# it crashes it (fs_power_loss); its mount's name goes to $CRASH (mounted
# at $(fs_mount_point "$CRASH")), which becomes the current directory.
# Skip the test if it cannot be made.
fs_crash_mount() {
  local name=crash-$1-$BATS_TEST_NUMBER
  CRASH=$name
  case $1 in
    ext4) _fs_loop "$name" "mkfs.ext4 -q -F" 64M ;;
    xfs) _fs_loop "$name" "mkfs.xfs -q -f" 300M ;;
  esac
  if [ -f "$FS_ROOT/$name.skip" ]; then
    skip "$(cat "$FS_ROOT/$name.skip")"
  fi
  cd "$(fs_mount_point "$name")"
}

# fs_power_loss NAME: stop the filesystem of mount NAME as a power loss
# stops it: xfs_io's "shutdown -f" (XFS_IOC_GOINGDOWN, which ext4 has
# too) commits the log and then refuses every further write, so what
# the log holds stays and file data not yet written back is lost.
fs_power_loss() {
  xfs_io -x -c "shutdown -f" "$(fs_mount_point "$1")"
}

# fs_mount_again NAME: after fs_power_loss, once no process uses it,
# unmount mount NAME and mount its image again (the log is replayed),
# as the next boot would.
fs_mount_again() {
  local mnt img i unmounted=no
  mnt=$(fs_mount_point "$1")
  img=$FS_ROOT/$1.img
  for ((i = 0; i < 600; i++)); do
    umount "$mnt" 2>/dev/null && { unmounted=yes; break; }
    sleep 0.1
  done
  [ "$unmounted" = yes ] ||
    fail "cannot unmount $mnt for the next boot: $(umount "$mnt" 2>&1)"
  # A process that ran in a mount namespace of its own (unshare
  # --mount-proc) keeps the shut-down filesystem alive, on its loop
  # device, until that namespace is freed, a moment after the process
  # is dead.  mount -o loop would take that loop device, and with it
  # the shut-down filesystem, where every look fails with EIO: wait
  # until the loop device is let go.
  for ((i = 0; i < 600; i++)); do
    [ -z "$(losetup -j "$img" 2>/dev/null)" ] && break
    sleep 0.1
  done
  [ -z "$(losetup -j "$img" 2>/dev/null)" ] ||
    fail "$img is still on a loop device after the unmount: $(losetup -j "$img")"
  mount -o loop "$img" "$mnt" || fail "cannot mount $img again"
}

# fs_crash_under PID...: the power fails on mount $CRASH (fs_power_loss)
# under the processes PID..., which are then killed (and the background
# one, $BG, reaped), and the mount is made again, as the next boot would;
# the current directory is then its root.  The test runs it from there:
# it leaves the mount for the moment of the crash.
fs_crash_under() {
  local mnt pid
  mnt=$(fs_mount_point "$CRASH")
  cd /
  fs_power_loss "$CRASH"
  kill -KILL "$@"
  wait "$BG" || :
  for pid; do wait_until is_dead "$pid"; done
  fs_mount_again "$CRASH"
  cd "$mnt"
}

# Skip the test unless mount NAME was made.
require_mount() {
  require_root
  local name=$1
  if [ -f "$FS_ROOT/$name.skip" ]; then
    skip "$(cat "$FS_ROOT/$name.skip")"
  fi
}

# The directory behind mount NAME (overlay: its layers; FUSE: bindfs's
# source).
fs_backing_dir() {
  cat "$FS_ROOT/$1.backing"
}

# A fresh directory for this test inside mount NAME; prints its path.
test_dir_on() {
  local dir
  dir=$(fs_mount_point "$1")/t$BATS_TEST_NUMBER
  mkdir -p "$dir"
  printf '%s\n' "$dir"
}

# No scratch name of any atomicutils program (".TOOL.XXXXXX") in DIR.
assert_no_scratch_names() {
  local dir=$1 left
  left=$(find "$dir" -maxdepth 1 -name '.*.*' -print)
  [ -z "$left" ] || fail "scratch names left behind in $dir: $left"
}

# fs_mount_new_api FSTYPE MNT KEY=VALUE...: mount FSTYPE on MNT with the
# new mount API (fsopen, fsconfig, fsmount, move_mount), which mount(8)
# of Debian 12 does not use: each KEY=VALUE is one fsconfig string, so
# a value may hold a ',' unescaped (overlay's lowerdir+=).  Fails if
# python3 or the API is missing.
fs_mount_new_api() {
  python3 - "$@" <<'PYEOF'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
FSOPEN, FSCONFIG, FSMOUNT, MOVE_MOUNT = 430, 431, 432, 429
SET_STRING, CMD_CREATE, MOVE_MOUNT_F_EMPTY_PATH = 1, 6, 4

def check(r, what):
    if r < 0:
        sys.exit("%s: %s" % (what, os.strerror(ctypes.get_errno())))
    return r

fs = check(libc.syscall(FSOPEN, sys.argv[1].encode(), 0), "fsopen")
for arg in sys.argv[3:]:
    key, value = arg.split("=", 1)
    check(libc.syscall(FSCONFIG, fs, SET_STRING, key.encode(),
                       value.encode(), 0), "fsconfig " + key)
check(libc.syscall(FSCONFIG, fs, CMD_CREATE, None, None, 0), "create")
mnt = check(libc.syscall(FSMOUNT, fs, 0, 0), "fsmount")
check(libc.syscall(MOVE_MOUNT, mnt, b"", -100, sys.argv[2].encode(),
                   MOVE_MOUNT_F_EMPTY_PATH), "move_mount")
PYEOF
}

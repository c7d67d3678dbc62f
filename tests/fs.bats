#!/usr/bin/env bats
# Filesystem truth on real mounts: the classifier's verdicts, its
# renameat2 probe, and what the tools do on ext4, xfs, btrfs, tmpfs,
# overlay and FUSE (bindfs).  Needs root; each test skips with the
# reason when its mount could not be made (see tests/fs_helper.bash).

load test_helper
load fs_helper

setup_file() {
  fs_mount_all
}

teardown_file() {
  fs_unmount_all
}

setup() {
  common_setup
}

teardown() {
  # A holder a failed test left on a mount would keep it busy.
  reap_background
  # A mount of the test's own.
  if [ -n "${TEST_MOUNT:-}" ] && mountpoint -q "$TEST_MOUNT"; then
    umount "$TEST_MOUNT" || umount -l "$TEST_MOUNT"
  fi
  # A directory outside the test's own, which is private to root.
  if [ -n "${PERM_DIR:-}" ]; then rm -rf "$PERM_DIR"; fi
  unmount_test_mounts
  return 0
}

# --check-fs on DIR; the verdict of every primitive is then in $output.
check_fs() {
  run excl-create --check-fs "$@"
  assert_success
}

# The verdict line of primitive PRIM in the last --check-fs output.
assert_verdict() {
  local prim=$1 verdict=$2
  assert_line --regexp "^  $prim +$verdict(:|,|\$)"
}

# --- the verdicts on each mount --------------------------------------------

@test "ext4, xfs, btrfs: --check-fs names the filesystem and its mount, all safe" {
  local fs dir
  for fs in ext4 xfs btrfs; do
    require_mount "$fs"
    dir=$(test_dir_on "$fs")
    check_fs "$dir"
    assert_line --index 0 "$dir: $fs (local filesystem, f_type 0x$(stat -f -c %t "$dir")) mounted on $(fs_mount_point "$fs")"
    assert_line --regexp "^  source: /dev/loop[0-9]+$"
    for prim in rename RENAME_NOREPLACE RENAME_EXCHANGE mkdir rename-dir link symlink O_EXCL O_APPEND; do
      assert_verdict "$prim" safe
    done
    refute_output --partial "warn"
    refute_output --partial "refuse"
    refute_output --partial ", but"
  done
}

@test "ext2: its renameat2 flags are probed, and the verdict is what the kernel does" {
  require_root
  command -v mkfs.ext2 >/dev/null || skip "no mkfs.ext2"
  command -v strace >/dev/null || skip "strace is not installed"
  require_mount ext4
  # The ext2 driver has no RENAME_EXCHANGE; ext4's driver, which mounts
  # ext2 on many kernels, has it.  The name "ext2" cannot tell which
  # driver it is, so a probe must.
  truncate -s 16M ext2.img
  mkfs.ext2 -q -F ext2.img
  mkdir m
  mount -o loop ext2.img m || skip "cannot loop-mount an ext2 image"
  echo a >m/a
  echo b >m/b
  kernel=$(fsclass-test probe m | sed -n 's/^EXCHANGE=//p')
  strace -f -e trace=renameat2 -o trace atomic-swap --check-fs m >out 2>&1
  check=$?
  swap=0
  atomic-swap m/a m/b >swap.out 2>&1 || swap=$?
  state=$(cat m/a m/b)
  left=$(ls -A m)
  umount m
  assert_equal "$check" 0
  grep -q '^m: ext2 (local filesystem' out || fail "$(cat out)"
  grep -q 'renameat2(.*RENAME_EXCHANGE)' trace || fail "ext2 was not probed: $(cat trace)"
  case $kernel in
    1) grep -qE '^  RENAME_EXCHANGE +safe$' out || fail "$(cat out)"
       assert_equal "$swap" 0
       assert_equal "$state" "$(printf 'b\na')" ;;
    0) grep -qE '^  RENAME_EXCHANGE +refuse' out || fail "$(cat out)"
       assert_equal "$swap" 3
       assert_equal "$state" "$(printf 'a\nb')" ;;
    *) fail "the probe could not tell: $kernel" ;;
  esac
  assert_equal "$left" "$(printf 'a\nb\nlost+found')"
  # ext4 itself was measured: no probe.
  strace -f -e trace=renameat2 -o trace4 atomic-swap --check-fs "$(test_dir_on ext4)" >/dev/null
  ! grep -q 'renameat2(' trace4
}

@test "ext2 that is full: the failed probe is named with its cause, not as no probe" {
  require_root
  command -v mkfs.ext2 >/dev/null || skip "no mkfs.ext2"
  # Few inodes, all used: the probe cannot create its scratch file.
  truncate -s 1M full.img
  mkfs.ext2 -q -F -N 16 full.img
  mkdir m
  mount -o loop full.img m || skip "cannot loop-mount an ext2 image"
  TEST_MOUNT=$PWD/m
  local i
  for ((i = 0; i < 64; i++)); do
    { : >"m/f$i"; } 2>/dev/null || break
  done
  ! { : >m/one-more; } 2>/dev/null || fail "the image has inodes left"
  run atomic-swap --check-fs m
  assert_success
  assert_line --regexp "^  RENAME_EXCHANGE +warn: .*, and a probe failed: No space left on device$"
  assert_line --regexp "^  RENAME_NOREPLACE +warn: .*, and a probe failed: No space left on device$"
  refute_output --partial "no probe was made"
}

@test "a local filesystem that was not measured, where no probe can be made: its renameat2 flags are unknown, and why the probe failed" {
  require_root
  mkdir m
  # hugetlbfs is local and not in the table; read-only, so the probe's
  # scratch file cannot be made.  Only a probe that passes makes the
  # flags of an unmeasured filesystem safe (fs-semantics.md, sec. 6).
  mount -t hugetlbfs -o ro none m || skip "cannot mount hugetlbfs read-only"
  TEST_MOUNT=$PWD/m
  check_fs m
  assert_line --index 0 --partial "m: hugetlbfs (local filesystem"
  assert_line "  RENAME_NOREPLACE  refuse: RENAME_NOREPLACE was not measured on this filesystem, and a probe failed: Read-only file system"
  assert_line "  RENAME_EXCHANGE   refuse: RENAME_EXCHANGE was not measured on this filesystem, and a probe failed: Read-only file system"
  assert_verdict rename safe
  refute_output --partial "no probe could be made"
}

@test "a local filesystem that was not measured, whose probe cannot make its scratch file: refused with status 3, --force overrides" {
  require_root
  mkdir m
  # hugetlbfs, read-write, with every inode used: the probe cannot make
  # its scratch file (ENOSPC), so nothing says the flag works.
  mount -t hugetlbfs -o nr_inodes=3 none m || skip "cannot mount hugetlbfs"
  TEST_MOUNT=$PWD/m
  : >m/a
  : >m/b
  ! { : >m/one-more; } 2>/dev/null || fail "the mount has inodes left"
  run atomic-swap m/a m/b
  assert_failure 3
  assert_output "atomic-swap: 'm/a' is on hugetlbfs: RENAME_EXCHANGE was not measured on this filesystem, and a probe failed: No space left on device; use --force to go ahead anyway"
  # The exchange itself needs no new inode: --force makes it.  (Files
  # on hugetlbfs cannot be written: their inodes tell them apart.)
  local ino_a ino_b
  ino_a=$(stat -c %i m/a)
  ino_b=$(stat -c %i m/b)
  run atomic-swap --force m/a m/b
  assert_success
  assert_output --partial "warning: 'm/a' is on hugetlbfs: RENAME_EXCHANGE was not measured"
  assert_equal "$(stat -c %i m/a) $(stat -c %i m/b)" "$ino_b $ino_a"
}

@test "a local filesystem that was not measured: an EXDEV is not blamed on the renameat2 flag" {
  require_root
  command -v strace >/dev/null || skip "no strace"
  mkdir m
  mount -t hugetlbfs none m || skip "cannot mount hugetlbfs"
  TEST_MOUNT=$PWD/m
  : >m/a
  : >m/b
  # The probe (the first renameat2) passes; the exchange gets EXDEV, as
  # between directories with different project quotas.  That says
  # nothing about the flag, which the probe showed working.
  run strace -f -o /dev/null -e trace=renameat2 \
    -e inject=renameat2:error=EXDEV:when=2 atomic-swap m/a m/b
  assert_failure 3
  assert_output "atomic-swap: cannot exchange 'm/a' and 'm/b': hugetlbfs will not move it between these directories (EXDEV, as with different project quotas): this cannot be done atomically here"
}

@test "tmpfs at a mount point with a space: mountinfo's \\040 is decoded" {
  require_mount tmpfs
  local mnt
  mnt=$(fs_mount_point tmpfs)
  grep -q 'tmp\\040fs ' /proc/self/mountinfo
  # An absent name: its directory is examined.
  check_fs "$mnt/not yet"
  # Quoted, as names with a space are (a newline would split the
  # report).
  assert_line --index 0 "'$mnt/not yet': tmpfs (local filesystem, f_type 0x1021994) mounted on '$mnt'"
  assert_line "  not there yet: examined its directory '$mnt'"
  assert_line "  source: atomicutils-test"
  assert_verdict RENAME_EXCHANGE safe
  assert_verdict O_APPEND safe
  # The mount point itself.
  check_fs "$mnt"
  assert_line --index 0 --partial "mounted on '$mnt'"
}

@test "--check-fs of atomic-swap, excl-create and lockdir on a read-only mount: said, and no primitive plainly safe" {
  require_root
  TEST_MOUNT=$PWD/ro
  mkdir ro
  mount -t tmpfs -o ro,size=1m tmpfs ro || skip "cannot mount tmpfs"
  local tool
  for tool in atomic-swap excl-create lockdir; do
    # An absent name: its directory's mount is the one judged.
    run "$tool" --check-fs ro/x
    assert_success
    assert_line "  mounted read-only: every primitive below fails with EROFS"
    assert_line "  RENAME_EXCHANGE   safe, but it is mounted read-only"
    assert_line "  mkdir             safe, but it is mounted read-only"
    refute_line --regexp "^  [^ ]+ +safe\$"
  done
}

@test "overlay: a directory from the lower layer cannot be renamed, files can" {
  require_mount overlay
  local mnt
  mnt=$(fs_mount_point overlay)
  check_fs "$mnt/ldir"
  assert_line --index 0 "$mnt/ldir: overlay (overlay filesystem, f_type 0x794c7630) mounted on $mnt"
  assert_line "  overlay: redirect_dir off, index off"
  assert_line --partial "  this directory: from the lower layer"
  assert_verdict RENAME_EXCHANGE refuse
  assert_line --partial "RENAME_EXCHANGE   refuse: it is a directory from overlay's lower layer and the mount lacks redirect_dir=on: renaming it fails with EXDEV, so this cannot be done atomically here"
  assert_verdict rename refuse
  assert_verdict O_EXCL safe
  assert_verdict O_APPEND safe

  # A directory from the second lower layer, too.
  check_fs "$mnt/ldir2"
  assert_line --partial "  this directory: from the lower layer"
  assert_verdict RENAME_EXCHANGE refuse

  # A file from the lower layer can be exchanged: copy-up, then rename.
  check_fs "$mnt/lfile"
  assert_verdict RENAME_EXCHANGE safe
  refute_line --partial "this directory"

  # A directory made on the mount lives in the upper layer only.
  mkdir -p "$mnt/t$BATS_TEST_NUMBER"
  check_fs "$mnt/t$BATS_TEST_NUMBER"
  assert_line "  this directory: in the upper layer only (it can be renamed)"
  assert_verdict RENAME_EXCHANGE safe

  # A lower directory removed and made again is opaque: upper only.
  check_fs "$mnt/ldir3"
  assert_line --partial "  this directory: from the lower layer"
  rm -rf "$mnt/ldir3"
  mkdir "$mnt/ldir3"
  check_fs "$mnt/ldir3"
  assert_line "  this directory: in the upper layer only (it can be renamed)"
  assert_verdict RENAME_EXCHANGE safe
  run fsclass-test rename rename "$mnt/ldir3" "$mnt/moved$BATS_TEST_NUMBER"
  assert_success

  # The mount as a whole: safe, with the condition spelled out.
  check_fs "$mnt"
  assert_line --regexp "^  RENAME_EXCHANGE +safe, but a directory from the lower layer cannot be renamed \(EXDEV\), since redirect_dir is off$"
  assert_line --regexp "^  link +safe, but a hard link to a file from the lower layer breaks"
}

@test "overlay: EXDEV from a lower directory is reported as 'cannot be done atomically here'" {
  require_mount overlay
  local mnt up
  mnt=$(fs_mount_point overlay)
  up=$mnt/t$BATS_TEST_NUMBER
  mkdir -p "$up"
  echo upper >"$up/f"
  run fsclass-test rename exchange "$mnt/ldir" "$up"
  assert_equal "$status" 3
  # The same words as the verdict of --check-fs: one fact, one sentence.
  assert_output --partial ": overlay: it is a directory from overlay's lower layer and the mount lacks redirect_dir=on: renaming it fails with EXDEV, so this cannot be done atomically here"
  run fsclass-test rename rename "$mnt/ldir" "$mnt/moved"
  assert_equal "$status" 3
  assert_output --partial "cannot be done atomically here"
  # Nothing moved, nothing copied.
  [ "$(cat "$mnt/ldir/f")" = lower ]
  [ "$(cat "$up/f")" = upper ]
  [ ! -e "$mnt/moved" ]
  [ ! -e "$mnt/ldir/t$BATS_TEST_NUMBER" ]
  # Between two mounts EXDEV means "different mounts".
  require_mount tmpfs
  run fsclass-test rename rename "$up/f" "$(fs_mount_point tmpfs)/f"
  assert_equal "$status" 3
  assert_output --partial "the two names are on different mounts"
}

@test "overlay mounted with an empty source: its mount is found, a lower directory refused up front" {
  require_root
  local base=$BATS_TEST_TMPDIR/ovl mnt out
  mnt=$base/mnt
  mkdir -p "$base/lower/ldir" "$base/upper" "$base/work" "$mnt"
  echo lower >"$base/lower/ldir/f"
  # mountinfo shows the empty source as two spaces in a row.
  out=$(mount -t overlay "" \
          -o "lowerdir=$base/lower,upperdir=$base/upper,workdir=$base/work" \
          "$mnt" 2>&1) || skip "cannot mount an overlay: $out"
  TEST_MOUNT=$mnt
  grep -q ' - overlay  rw,' /proc/self/mountinfo
  # The line was taken for a broken one, so the mount was not found:
  # no mount point, no layers, and the lower directory was "safe".
  check_fs "$mnt/ldir"
  assert_line --index 0 "$mnt/ldir: overlay (overlay filesystem, f_type 0x794c7630) mounted on $mnt"
  assert_line --partial "  this directory: from the lower layer"
  assert_verdict RENAME_EXCHANGE refuse
  mkdir "$mnt/up"
  run atomic-swap "$mnt/ldir" "$mnt/up"
  assert_failure 3
  assert_output --partial "is on overlay: it is a directory from overlay's lower layer and the mount lacks redirect_dir=on"
  [ "$(cat "$mnt/ldir/f")" = lower ]
  [ -z "$(ls -A "$mnt/up")" ]
  assert_no_scratch_names "$mnt"
}

@test "overlay whose layer paths hold ',' and ':': the layers are found, a lower directory refused up front" {
  require_root
  local base=$BATS_TEST_TMPDIR/ovl mnt out
  mnt=$base/mnt
  local lower="$base/low,er:1" upper="$base/up,per"
  mkdir -p "$lower/ldir" "$upper" "$base/work" "$mnt"
  echo lower >"$lower/ldir/f"
  # The mount options escape them with a backslash; mountinfo then shows
  # "\134\054" (a backslash, a comma) and "\134:".
  local esc_lower=${lower//,/\\,}
  esc_lower=${esc_lower//:/\\:}
  out=$(mount -t overlay overlay \
          -o "lowerdir=$esc_lower,upperdir=${upper//,/\\,},workdir=$base/work" \
          "$mnt" 2>&1) || skip "cannot mount an overlay with ',' in a layer: $out"
  TEST_MOUNT=$mnt
  # The options were split at the escaped comma, the layer taken for
  # "$base/low\", and the directory judged "unknown".
  check_fs "$mnt/ldir"
  assert_line --partial "  this directory: from the lower layer"
  assert_verdict RENAME_EXCHANGE refuse
  mkdir "$mnt/up"
  check_fs "$mnt/up"
  assert_line "  this directory: in the upper layer only (it can be renamed)"
  assert_verdict RENAME_EXCHANGE safe
  run atomic-swap "$mnt/ldir" "$mnt/up"
  assert_failure 3
  assert_output --partial "is on overlay: it is a directory from overlay's lower layer and the mount lacks redirect_dir=on"
  [ "$(cat "$mnt/ldir/f")" = lower ]
  assert_no_scratch_names "$mnt"
  umount "$mnt"

  # The new mount API's lowerdir+= takes a path as it is, and mountinfo
  # shows its ',' as "\054" alone: decoded before the options were
  # split, it split the path.
  rm -rf "$upper" "$base/work"
  mkdir -p "$upper" "$base/work"
  out=$(fs_mount_new_api overlay "$mnt" "lowerdir+=$lower" \
          "upperdir=$upper" "workdir=$base/work" 2>&1) ||
    skip "cannot mount an overlay with the new mount API: $out"
  grep -q 'lowerdir+=.*low\\054er:1' /proc/self/mountinfo
  check_fs "$mnt/ldir"
  assert_line --partial "  this directory: from the lower layer"
  assert_verdict RENAME_EXCHANGE refuse
}

@test "overlay whose layer paths end in a backslash: read as the kernel reads them" {
  require_root
  local base=$BATS_TEST_TMPDIR/ovl mnt out
  mnt=$base/mnt
  mkdir -p "$base/lower/ldir" "$base/lower/odir" "$base/upper" \
    "$base/work" "$mnt"
  # The kernel unescapes upperdir= (new mount API too) and lowerdir=
  # (ovl_unescape), and drops a trailing backslash, which escapes
  # nothing: "$base/upper\" is "$base/upper".  mountinfo shows the
  # option as given: "upper\134".
  out=$(fs_mount_new_api overlay "$mnt" "lowerdir+=$base/lower" \
          "upperdir=$base/upper\\" "workdir=$base/work" 2>&1) ||
    skip "cannot mount an overlay with the new mount API: $out"
  TEST_MOUNT=$mnt
  grep -q 'upperdir=.*/upper\\134,' /proc/self/mountinfo
  # Removed and made again, odir is opaque in the upper layer: it hides
  # the lower one, and can be renamed.
  rmdir "$mnt/odir"
  mkdir "$mnt/odir"
  check_fs "$mnt/odir"
  assert_line "  this directory: in the upper layer only (it can be renamed)"
  assert_verdict RENAME_EXCHANGE safe
  umount "$mnt"

  # The old mount API: a lowerdir= that ends the options with a
  # backslash.
  rm -rf "$base/upper" "$base/work"
  mkdir -p "$base/upper" "$base/work"
  out=$(mount -t overlay overlay \
          -o "upperdir=$base/upper,workdir=$base/work,lowerdir=$base/lower\\" \
          "$mnt" 2>&1) || skip "cannot mount an overlay: $out"
  grep -q 'lowerdir=.*/lower\\134,' /proc/self/mountinfo
  check_fs "$mnt/ldir"
  assert_line --partial "  this directory: from the lower layer"
  assert_verdict RENAME_EXCHANGE refuse
}

@test "overlay with redirect_dir=on: lower directories can be renamed" {
  require_mount overlay-redirect
  local mnt
  mnt=$(fs_mount_point overlay-redirect)
  check_fs "$mnt/ldir"
  assert_line "  overlay: redirect_dir on, index off"
  assert_line "  this directory: from the lower layer (it can be renamed: redirect_dir is on)"
  assert_verdict RENAME_EXCHANGE safe
  assert_verdict rename safe
  mkdir -p "$mnt/t$BATS_TEST_NUMBER"
  run fsclass-test rename exchange "$mnt/ldir" "$mnt/t$BATS_TEST_NUMBER"
  assert_success
  [ "$(cat "$mnt/t$BATS_TEST_NUMBER/f")" = lower ]
  run fsclass-test rename exchange "$mnt/ldir" "$mnt/t$BATS_TEST_NUMBER"
  assert_success
  [ "$(cat "$mnt/ldir/f")" = lower ]
}

@test "FUSE (bindfs): fstype fuse, no subtype, renameat2 flags refused by the probe" {
  require_mount fuse
  local mnt
  mnt=$(fs_mount_point fuse)
  check_fs "$mnt"
  assert_line --index 0 "$mnt: fuse (FUSE filesystem, f_type 0x65735546) mounted on $mnt"
  assert_line "  FUSE subtype: none (unknown daemon)"
  assert_line "  source: $(fs_backing_dir fuse)"
  assert_line "  RENAME_NOREPLACE  refuse: it does not support RENAME_NOREPLACE (a probe got EINVAL)"
  assert_line "  RENAME_EXCHANGE   refuse: it does not support RENAME_EXCHANGE (a probe got EINVAL)"
  assert_verdict rename warn
  assert_verdict O_EXCL warn
  assert_verdict link warn
  assert_verdict mkdir warn
  assert_verdict O_APPEND refuse
  assert_no_scratch_names "$mnt"
}

@test "FUSE: a probe refused with EOPNOTSUPP is reported as EOPNOTSUPP, not EINVAL" {
  require_mount fuse
  command -v strace >/dev/null || skip "strace is not installed"
  local dir
  dir=$(test_dir_on fuse)
  # The verdict names the error the probe got: a daemon (or a kernel)
  # may answer EOPNOTSUPP, and the message must not claim EINVAL.
  run strace -f -o /dev/null -e inject=renameat2:error=EOPNOTSUPP \
    excl-create --check-fs "$dir"
  assert_success
  assert_line "  RENAME_NOREPLACE  refuse: it does not support RENAME_NOREPLACE (a probe got EOPNOTSUPP)"
  assert_line "  RENAME_EXCHANGE   refuse: it does not support RENAME_EXCHANGE (a probe got EOPNOTSUPP)"
  assert_no_scratch_names "$dir"
}

@test "FUSE with a subtype (fuse.bindfs): the subtype is named, verdicts as unknown FUSE" {
  require_mount fuse-bindfs
  local mnt
  mnt=$(fs_mount_point fuse-bindfs)
  check_fs "$mnt/absent"
  assert_line --index 0 "$mnt/absent: fuse.bindfs (FUSE filesystem, f_type 0x65735546) mounted on $mnt"
  assert_line "  FUSE subtype: bindfs"
  assert_line "  source: bindfs"
  assert_verdict RENAME_EXCHANGE refuse
  assert_verdict O_EXCL warn
  assert_verdict O_APPEND refuse
  assert_no_scratch_names "$mnt"
}

@test "FUSE (bindfs): the probe uses an absent target, gets EINVAL, and cleans up" {
  require_mount fuse
  local dir
  dir=$(test_dir_on fuse)
  run strace -f -e trace=renameat2 fsclass-test probe "$dir"
  assert_success
  assert_line "NOREPLACE=0"
  assert_line "EXCHANGE=0"
  # RENAME_NOREPLACE was asked to rename onto a name that did not exist
  # (the scratch name plus ".probe"), and the daemon said EINVAL.
  assert_line --regexp 'renameat2\(.*"\.fsclass-test\.[^"]*", .*"\.fsclass-test\.[^"]*\.probe", RENAME_NOREPLACE\) = -1 EINVAL'
  assert_line --regexp 'RENAME_EXCHANGE\) = -1 EINVAL'
  assert_no_scratch_names "$dir"
  assert_no_scratch_names "$(fs_backing_dir fuse)/t$BATS_TEST_NUMBER"
  # On a local filesystem the same probe says "supported".
  run fsclass-test probe .
  assert_line "NOREPLACE=1"
  assert_line "EXCHANGE=1"
  assert_no_scratch_names .
}

@test "FUSE (bindfs): a failed RENAME_EXCHANGE is reported as missing, nothing changes" {
  require_mount fuse
  local dir
  dir=$(test_dir_on fuse)
  echo a >"$dir/a"
  echo b >"$dir/b"
  run fsclass-test rename exchange "$dir/a" "$dir/b"
  assert_equal "$status" 3
  assert_output --partial ": fuse: it does not support RENAME_EXCHANGE (a probe got EINVAL)"
  [ "$(cat "$dir/a")" = a ]
  [ "$(cat "$dir/b")" = b ]
  assert_no_scratch_names "$dir"
}

# --- excl-create on each mount ---------------------------------------------

@test "excl-create works on ext4, xfs, btrfs, tmpfs and overlay, silently" {
  local fs dir
  for fs in ext4 xfs btrfs tmpfs overlay; do
    require_mount "$fs"
    dir=$(test_dir_on "$fs")
    run excl-create "$dir/empty"
    assert_success
    assert_output ""
    run excl-create -c "on $fs" "$dir/full"
    assert_success
    assert_output ""
    [ "$(cat "$dir/full")" = "on $fs" ]
    run excl-create -c again "$dir/full"
    assert_equal "$status" 1
    [ "$(cat "$dir/full")" = "on $fs" ]
    assert_no_temporaries excl-create "$dir"
  done
  # In a directory from overlay's lower layer, too (copied up first).
  run excl-create -c x "$(fs_mount_point overlay)/ldir/new$BATS_TEST_NUMBER"
  assert_success
}

@test "excl-create on FUSE: warns about O_EXCL and link unless -q, and works" {
  require_mount fuse
  local dir
  dir=$(test_dir_on fuse)
  run excl-create "$dir/empty"
  assert_success
  assert_output "excl-create: warning: '$dir/empty' is on fuse: whether O_EXCL excludes processes on other mounts or hosts depends on the FUSE daemon"
  [ -f "$dir/empty" ]
  run excl-create -c text "$dir/full"
  assert_success
  assert_output --partial "warning: '$dir/full' is on fuse: whether link excludes"
  [ "$(cat "$dir/full")" = text ]
  run excl-create -q "$dir/quiet"
  assert_success
  assert_output ""
  # "Exists" is still status 1.
  run excl-create -q "$dir/empty"
  assert_equal "$status" 1
  assert_no_temporaries excl-create "$dir"
}

@test "excl-create with content where link(2) fails: RENAME_NOREPLACE is checked with the filesystem before it is tried" {
  command -v strace >/dev/null || skip "strace is not installed"
  require_mount fuse
  local dir trace=$BATS_TEST_TMPDIR/trace
  dir=$(test_dir_on fuse)
  # Without hard links (link fails with EPERM) excl-create falls back to
  # RENAME_NOREPLACE, a primitive the check at the start (for link) did
  # not cover.  Before, it was tried whatever the filesystem's verdict.
  run strace -f -o "$trace" -e trace=linkat,renameat2 \
    -e inject=linkat:error=EPERM excl-create -q -c text "$dir/f"
  assert_equal "$status" 3
  assert_output "excl-create: '$dir/f' is on fuse: it does not support RENAME_NOREPLACE (a probe got EINVAL)"
  run grep -c '"f", RENAME_NOREPLACE' "$trace"
  assert_output 0
  [ ! -e "$dir/f" ]
  assert_no_temporaries excl-create "$dir"
}

@test "excl-create --replace-stale: RENAME_NOREPLACE is checked with the filesystem before a stale FILE is renamed away" {
  command -v strace >/dev/null || skip "strace is not installed"
  require_mount fuse
  local dir dead trace=$BATS_TEST_TMPDIR/trace
  dir=$(test_dir_on fuse)
  dead=$(dead_pid)
  echo "$dead" >"$dir/f"
  # A stale FILE is renamed away with RENAME_NOREPLACE, a primitive the
  # check at the start (for link) did not cover.  Before, it was tried
  # whatever the filesystem's verdict.
  run strace -f -o "$trace" -e trace=renameat2 \
    excl-create -q --pid --replace-stale "$dir/f"
  assert_equal "$status" 3
  assert_output "excl-create: '$dir/f' is on fuse: it does not support RENAME_NOREPLACE (a probe got EINVAL)"
  run grep -c '"f", .*RENAME_NOREPLACE' "$trace"
  assert_output 0
  assert_equal "$(cat "$dir/f")" "$dead"
  assert_no_temporaries excl-create "$dir"
}

@test "excl-create -w on FUSE: FILE removed elsewhere (the backing directory) ends the wait" {
  require_mount fuse
  local dir back st
  dir=$(test_dir_on fuse)
  back=$(fs_backing_dir fuse)/t$BATS_TEST_NUMBER
  # dnotify and inotify on the mount see only what goes through it, not
  # what another mount, host or the backing directory does: the wait
  # must look again by itself, as lockdir's does.  Before, it slept
  # until the deadline and said FILE was never removed.
  echo held >"$back/f"
  background excl-create -q -w 30s -c mine "$dir/f"
  wait_until sleeps_in_poll "$BG"
  rm "$back/f"
  st=0
  wait "$BG" || st=$?
  assert_equal "$st" 0
  [ "$(cat "$back/f")" = mine ]
  # The same for a pid file whose process is alive (--replace-stale).
  echo "$$" >"$back/p"
  background excl-create -q -w 30s --pid-of=$$ --replace-stale "$dir/p"
  wait_until sleeps_in_poll "$BG"
  rm "$back/p"
  st=0
  wait "$BG" || st=$?
  assert_equal "$st" 0
  [ "$(head -n 1 "$back/p")" = "$$" ]
  assert_no_temporaries excl-create "$dir"
}

@test "excl-create on object-store FUSE (mountinfo fuse.s3fs): refused, --force goes ahead" {
  require_mount fuse-s3fs
  local mnt dir
  mnt=$(fs_mount_point fuse-s3fs)
  check_fs "$mnt"
  assert_line --index 0 "$mnt: fuse.s3fs (object-store FUSE filesystem, f_type 0x65735546) mounted on $mnt"
  assert_line "  FUSE subtype: s3fs"
  refute_output --regexp " (safe|warn)"
  dir=$(test_dir_on fuse-s3fs)
  run excl-create "$dir/f"
  assert_equal "$status" 3
  assert_output "excl-create: '$dir/f' is on fuse.s3fs: several clients can all succeed: there is no mutual exclusion; use --force to go ahead anyway"
  [ ! -e "$dir/f" ]
  run excl-create -q "$dir/f"
  assert_equal "$status" 3
  [ ! -e "$dir/f" ]
  run excl-create --force "$dir/f"
  assert_success
  assert_output "excl-create: warning: '$dir/f' is on fuse.s3fs: several clients can all succeed: there is no mutual exclusion"
  [ -f "$dir/f" ]
  run excl-create --force -q -c x "$dir/g"
  assert_success
  assert_output ""
  assert_no_temporaries excl-create "$dir"
}

# --- safe-append -------------------------------------------------------------

@test "safe-append on ext4, xfs, btrfs, tmpfs and overlay: appends, silently" {
  local fs dir
  for fs in ext4 xfs btrfs tmpfs overlay; do
    require_mount "$fs"
    dir=$(test_dir_on "$fs")
    run safe-append "$dir/log" -c "one on $fs"
    assert_success
    assert_output ""
    run safe-append "$dir/log" -c two
    assert_success
    assert_equal "$(cat "$dir/log")" "one on $fs
two"
  done
  # A file from overlay's lower layer is copied up, then appended to.
  local lfile before
  lfile=$(fs_mount_point overlay)/lfile
  before=$(cat "$lfile")
  run safe-append "$lfile" -c more
  assert_success
  assert_equal "$(cat "$lfile")" "$before
more"
}

@test "safe-append on FUSE: refused with status 3 and nothing written; --force appends" {
  require_mount fuse
  local dir
  dir=$(test_dir_on fuse)
  run safe-append "$dir/log" -c record
  assert_equal "$status" 3
  assert_output "safe-append: '$dir/log' is on fuse: appends from other hosts can interleave; use --force to go ahead anyway"
  [ ! -e "$dir/log" ]
  # -q does not silence a refusal.
  run safe-append -q "$dir/log" -c record
  assert_equal "$status" 3
  [ ! -e "$dir/log" ]
  # An existing file is refused too, and left as it was.
  printf 'old\n' >"$dir/log"
  run safe-append "$dir/log" -c record
  assert_equal "$status" 3
  assert_equal "$(cat "$dir/log")" old
  run safe-append --force "$dir/log" -c record
  assert_success
  assert_output "safe-append: warning: '$dir/log' is on fuse: appends from other hosts can interleave"
  run safe-append --force -q "$dir/log" -c another
  assert_success
  assert_output ""
  assert_equal "$(cat "$dir/log")" "old
record
another"
  # Through the mount and in the backing directory alike.
  assert_equal "$(cat "$(fs_backing_dir fuse)/t$BATS_TEST_NUMBER/log")" "old
record
another"
}

@test "safe-append on object-store FUSE: refused, appends can be lost" {
  require_mount fuse-s3fs
  local dir
  dir=$(test_dir_on fuse-s3fs)
  run safe-append "$dir/log" -c record
  assert_equal "$status" 3
  assert_output "safe-append: '$dir/log' is on fuse.s3fs: appends can be lost; use --force to go ahead anyway"
  [ ! -e "$dir/log" ]
  run safe-append --check-fs "$dir/log"
  assert_success
  assert_line --regexp "^  O_APPEND +refuse: appends can be lost$"
}

@test "safe-append --check-fs on FUSE and overlay" {
  require_mount fuse
  run safe-append --check-fs "$(fs_mount_point fuse)/log"
  assert_success
  assert_line --index 0 --partial ": fuse (FUSE filesystem, f_type 0x65735546) mounted on $(fs_mount_point fuse)"
  assert_line "  O_APPEND          refuse: appends from other hosts can interleave"
  require_mount overlay
  run safe-append --check-fs "$(fs_mount_point overlay)/log"
  assert_success
  assert_line "  O_APPEND          safe"
}

# --- atomic-swap -------------------------------------------------------------

@test "atomic-swap on ext4, xfs, btrfs, tmpfs: exchange, repoint and no-clobber, silently" {
  local fs dir
  for fs in ext4 xfs btrfs tmpfs; do
    require_mount "$fs"
    dir=$(test_dir_on "$fs")
    mkdir "$dir/d1" "$dir/d2"
    echo one >"$dir/d1/f"
    echo two >"$dir/d2/f"
    run atomic-swap "$dir/d1" "$dir/d2"
    assert_success
    assert_output ""
    assert_equal "$(cat "$dir/d1/f")" two
    assert_equal "$(cat "$dir/d2/f")" one
    run atomic-swap -s d1 "$dir/current"
    assert_success
    assert_output ""
    assert_equal "$(readlink "$dir/current")" d1
    run atomic-swap -s d2 "$dir/current"
    assert_success
    assert_equal "$(readlink "$dir/current")" d2
    run atomic-swap -n "$dir/d1" "$dir/d3"
    assert_success
    assert_output ""
    assert_no_temporaries atomic-swap "$dir"
  done
}

@test "atomic-swap on overlay: files from the lower layer and upper directories exchange" {
  require_mount overlay
  local mnt dir
  mnt=$(fs_mount_point overlay)
  dir=$(test_dir_on overlay)
  echo upper >"$dir/ufile"
  local lower_content
  lower_content=$(cat "$mnt/lfile")
  run atomic-swap "$mnt/lfile" "$dir/ufile"
  assert_success
  assert_output ""
  assert_equal "$(cat "$mnt/lfile")" upper
  assert_equal "$(cat "$dir/ufile")" "$lower_content"
  run atomic-swap "$mnt/lfile" "$dir/ufile"
  assert_success
  mkdir "$dir/u1" "$dir/u2"
  run atomic-swap "$dir/u1" "$dir/u2"
  assert_success
}

@test "atomic-swap: directory exchange from overlay's lower layer -> status 3, no copy" {
  require_mount overlay
  local mnt dir upper
  mnt=$(fs_mount_point overlay)
  upper=$(fs_backing_dir overlay)/upper
  dir=$(test_dir_on overlay)
  mkdir "$dir/new"
  echo new >"$dir/new/f"
  run atomic-swap "$mnt/xdir" "$dir/new"
  assert_equal "$status" 3
  assert_output --partial "'$mnt/xdir' is on overlay: it is a directory from overlay's lower layer and the mount lacks redirect_dir=on: renaming it fails with EXDEV, so this cannot be done atomically here"
  refute_output --partial "--force"
  # With --force the kernel has the last word: EXDEV, status 3.
  run atomic-swap --force "$mnt/xdir" "$dir/new"
  assert_equal "$status" 3
  assert_output --partial "cannot be done atomically here"
  # Either way or round: nothing moved, nothing copied up.
  run atomic-swap "$dir/new" "$mnt/xdir"
  assert_equal "$status" 3
  assert_equal "$(cat "$mnt/xdir/f")" lower
  assert_equal "$(cat "$dir/new/f")" new
  [ ! -e "$upper/xdir" ] || fail "xdir was copied up: $(ls -la "$upper/xdir")"
  [ ! -e "$upper/t$BATS_TEST_NUMBER/xdir" ]
  assert_no_temporaries atomic-swap "$dir"
  assert_no_temporaries atomic-swap "$mnt"
  # The same directory on the redirect_dir=on overlay is exchanged.
  require_mount overlay-redirect
  mnt=$(fs_mount_point overlay-redirect)
  dir=$(test_dir_on overlay-redirect)
  run atomic-swap "$mnt/ldir" "$dir"
  assert_success
  run atomic-swap "$mnt/ldir" "$dir"
  assert_success
  assert_equal "$(cat "$mnt/ldir/f")" lower
}

@test "atomic-swap: exchange refused on FUSE with status 3 and nothing changed" {
  require_mount fuse
  local dir
  dir=$(test_dir_on fuse)
  echo a >"$dir/a"
  echo b >"$dir/b"
  mkdir "$dir/da" "$dir/db"
  run atomic-swap "$dir/a" "$dir/b"
  assert_equal "$status" 3
  assert_output --partial "'$dir/a' is on fuse: it does not support RENAME_EXCHANGE"
  run atomic-swap "$dir/da" "$dir/db"
  assert_equal "$status" 3
  # --force cannot give the daemon the flag: still status 3, unchanged.
  run atomic-swap --force "$dir/a" "$dir/b"
  assert_equal "$status" 3
  assert_output --partial "RENAME_EXCHANGE"
  assert_equal "$(cat "$dir/a")" a
  assert_equal "$(cat "$dir/b")" b
  [ -d "$dir/da" ] && [ -d "$dir/db" ]
  # RENAME_NOREPLACE likewise.
  run atomic-swap -n "$dir/a" "$dir/c"
  assert_equal "$status" 3
  assert_output --partial "RENAME_NOREPLACE"
  [ ! -e "$dir/c" ]
  assert_equal "$(cat "$dir/a")" a
  assert_no_temporaries atomic-swap "$dir"
  assert_no_scratch_names "$dir"
}

@test "atomic-swap --force on object-store FUSE: an EINVAL is blamed on the filesystem only after a probe" {
  require_mount fuse-s3fs
  local dir
  dir=$(test_dir_on fuse-s3fs)
  echo a >"$dir/a"
  echo b >"$dir/b"
  mkdir -p "$dir/d/sub"
  # The table refuses s3fs for what its rename is, not for a missing
  # flag: the EINVAL (which also means "one contains the other") is
  # the filesystem's only if a probe says so.
  run atomic-swap --force -q "$dir/a" "$dir/b"
  assert_equal "$status" 3
  assert_output "atomic-swap: cannot exchange '$dir/a' and '$dir/b': fuse.s3fs: it does not support RENAME_EXCHANGE (a probe got EINVAL)"
  run atomic-swap --force -q "$dir/d" "$dir/d/sub"
  assert_equal "$status" 3
  assert_output --partial "fuse.s3fs: it does not support RENAME_EXCHANGE (a probe got EINVAL)"
  run atomic-swap --force -q -n "$dir/a" "$dir/c"
  assert_equal "$status" 3
  assert_output "atomic-swap: cannot move '$dir/a' to '$dir/c': fuse.s3fs: it does not support RENAME_NOREPLACE (a probe got EINVAL)"
  [ "$(cat "$dir/a")" = a ]
  [ "$(cat "$dir/b")" = b ]
  [ ! -e "$dir/c" ]
  assert_no_scratch_names "$dir"
}

@test "atomic-swap -s on FUSE: rename(2) with a warning; refused on object-store FUSE" {
  require_mount fuse
  local dir
  dir=$(test_dir_on fuse)
  mkdir "$dir/r1" "$dir/r2"
  run atomic-swap -s r1 "$dir/current"
  assert_success
  assert_output --partial "warning: '$dir/current' is on fuse: readers on this mount that have the old file open can briefly find no file"
  assert_equal "$(readlink "$dir/current")" r1
  run atomic-swap -q -s r2 "$dir/current"
  assert_success
  assert_output ""
  assert_equal "$(readlink "$dir/current")" r2
  assert_no_temporaries atomic-swap "$dir"
  # Without RENAME_EXCHANGE the old link is gone once replaced: if -v
  # cannot write, the change cannot be undone, and atomic-swap says so.
  run sh -c "atomic-swap -q -v -s r1 '$dir/current' >/dev/full"
  assert_equal "$status" 3
  assert_output "atomic-swap: '$dir/current' now points to 'r1', and cannot be put back (without RENAME_EXCHANGE the old link was replaced, not kept): write error on standard output: No space left on device"
  assert_equal "$(readlink "$dir/current")" r1
  # Nor can a LINK that did not exist be moved away again without
  # RENAME_NOREPLACE: atomic-swap says so, and does not try.
  run sh -c "atomic-swap -q -v -s r1 '$dir/new' >/dev/full"
  assert_equal "$status" 3
  assert_output "atomic-swap: '$dir/new' now points to 'r1', and cannot be removed again (without RENAME_NOREPLACE it cannot be moved away in one step): write error on standard output: No space left on device"
  assert_equal "$(readlink "$dir/new")" r1
  # -p needs the exchange, so it is refused before anything changes.
  run atomic-swap -q -p -s r2 "$dir/current"
  assert_equal "$status" 3
  assert_equal "$(readlink "$dir/current")" r1
  assert_no_temporaries atomic-swap "$dir"
  # A dangling LINK: bindfs answers statfs for it by following it
  # (ENOENT); its directory's filesystem is judged, with the warning.
  ln -s gone "$dir/dangling"
  run atomic-swap -s r1 "$dir/dangling"
  assert_success
  assert_output --partial "warning: '$dir/dangling' is on fuse:"
  assert_equal "$(readlink "$dir/dangling")" r1

  require_mount fuse-s3fs
  dir=$(test_dir_on fuse-s3fs)
  run atomic-swap -s r1 "$dir/current"
  assert_equal "$status" 3
  assert_output --partial "'$dir/current' is on fuse.s3fs: rename is a copy then a delete"
  [ ! -L "$dir/current" ]
  assert_no_temporaries atomic-swap "$dir"
}

@test "atomic-swap -s onto a file or a LINK/ that is no directory on FUSE: refused for that, as on tmpfs, not for the filesystem" {
  require_mount fuse
  local dir args
  dir=$(test_dir_on fuse)
  echo precious >"$dir/file"
  ln -s file "$dir/tofile"
  # bindfs has no RENAME_EXCHANGE, which -p and -b need, and its
  # rename(2) is warned about: neither is the first reason, as a file
  # is refused on every filesystem.
  for args in "-p -s" "-b -s" "-s"; do
    run atomic-swap $args rel "$dir/file"
    assert_failure 3
    assert_output "atomic-swap: '$dir/file' exists and is not a symbolic link; not replaced"
  done
  run atomic-swap -p -s rel "$dir/tofile/"
  assert_failure 3
  assert_output "atomic-swap: '$dir/tofile/' points to 'file', which is not a directory as its trailing slash requires; not replaced"
  assert_equal "$(cat "$dir/file")" precious
  assert_equal "$(readlink "$dir/tofile")" file
  assert_no_scratch_names "$dir"

  # Object-store FUSE refuses every form: still not the first reason.
  require_mount fuse-s3fs
  dir=$(test_dir_on fuse-s3fs)
  echo precious >"$dir/file"
  run atomic-swap -s rel "$dir/file"
  assert_failure 3
  assert_output "atomic-swap: '$dir/file' exists and is not a symbolic link; not replaced"
  assert_equal "$(cat "$dir/file")" precious
}

@test "atomic-swap --check-target --expect on FUSE: a TARGET that does not exist is refused before a LINK not as expected, as on tmpfs" {
  require_mount tmpfs
  require_mount fuse
  local fs dir
  for fs in tmpfs fuse; do
    dir=$(test_dir_on "$fs")
    mkdir "$dir/r1"
    ln -s r1 "$dir/current"
    run atomic-swap -s --check-target --expect=r0 absent "$dir/current"
    assert_failure 3
    assert_output "atomic-swap: refusing to point '$dir/current' to 'absent', as seen from '$dir': No such file or directory"
    assert_equal "$(readlink "$dir/current")" r1
    assert_no_scratch_names "$dir"
  done
}

@test "atomic-swap -b on FUSE: a LINK~ that is no symbolic link is refused before the missing RENAME_EXCHANGE, as on tmpfs" {
  require_mount tmpfs
  require_mount fuse
  local fs dir
  for fs in tmpfs fuse; do
    dir=$(test_dir_on "$fs")
    mkdir "$dir/r1" "$dir/r2"
    ln -s r1 "$dir/current"
    echo precious >"$dir/current~"
    run atomic-swap -b -s r2 "$dir/current"
    assert_failure 3
    assert_output "atomic-swap: '$dir/current~' exists and is not a symbolic link, so the old link of '$dir/current' cannot be kept there; not changed"
    assert_equal "$(readlink "$dir/current")" r1
    assert_equal "$(cat "$dir/current~")" precious
    assert_no_scratch_names "$dir"
  done
}

@test "atomic-swap -s and -p on FUSE: a TARGET too long for any symbolic link is refused before the filesystem is judged, as on tmpfs" {
  require_mount tmpfs
  require_mount fuse
  local fs dir long opt
  long=$(printf '%05000d' 0)
  for fs in tmpfs fuse; do
    dir=$(test_dir_on "$fs")
    mkdir "$dir/r1"
    ln -s r1 "$dir/current"
    # Without -p FUSE is warned about, with -p refused: neither before
    # what every filesystem refuses.
    for opt in -s -ps; do
      run atomic-swap "$opt" "$long" "$dir/current"
      assert_failure 3
      assert_output "atomic-swap: cannot create symbolic link '$dir/current': its target is too long (5000 bytes)"
      assert_equal "$(readlink "$dir/current")" r1
      assert_no_scratch_names "$dir"
    done
  done
}

@test "atomic-swap -s onto a directory from overlay's lower layer: refused for being a directory, as on tmpfs" {
  require_mount overlay
  require_mount tmpfs
  local mnt dir
  mnt=$(fs_mount_point overlay)
  dir=$(test_dir_on tmpfs)
  mkdir "$dir/real"
  # -s never replaces a directory, whatever its filesystem: that is the
  # first reason, and it was hidden behind overlay's EXDEV.
  run atomic-swap -s target "$dir/real"
  assert_failure 3
  assert_output "atomic-swap: '$dir/real' is a directory, not a symbolic link; not replaced (use --exchange-dir to exchange it for the symbolic link and keep it under a backup name)"
  # --exchange-dir is not offered for it: overlay refuses that too for
  # a directory from its lower layer (below).
  run atomic-swap -s target "$mnt/ldir"
  assert_failure 3
  assert_output "atomic-swap: '$mnt/ldir' is a directory, not a symbolic link; not replaced"
  [ -d "$mnt/ldir" ] && [ ! -L "$mnt/ldir" ]
  assert_no_scratch_names "$mnt"
  # --expect: the answer of tmpfs too (refused for being a directory,
  # status 3; --exchange-dir, which --expect cannot join, not offered).
  run atomic-swap -s --expect=old target "$mnt/ldir"
  assert_failure 3
  assert_output "atomic-swap: '$mnt/ldir' is a directory, not a symbolic link; not replaced"
  # With --exchange-dir the directory is wanted, and the overlay is
  # what refuses.
  run atomic-swap -s --exchange-dir target "$mnt/ldir"
  assert_failure 3
  assert_output --partial "'$mnt/ldir' is on overlay: it is a directory from overlay's lower layer"
  [ -d "$mnt/ldir" ] && [ ! -L "$mnt/ldir" ]
  assert_no_scratch_names "$mnt"
}

@test "FUSE where no probe can be made (read-only): renameat2 flags refused as unknown, not as missing" {
  require_mount fuse
  local src=$BATS_TEST_TMPDIR/ro-src mnt=$BATS_TEST_TMPDIR/ro out
  mkdir -p "$src" "$mnt"
  echo a >"$src/a"
  echo b >"$src/b"
  out=$(bindfs -r "$src" "$mnt" 2>&1) || skip "cannot mount bindfs read-only: $out"
  TEST_MOUNT=$mnt
  # The probe needs a scratch file: on a read-only mount it cannot be
  # made, so the daemon was not asked -- nothing says it lacks the flag.
  # Nor is --force suggested: on a read-only mount it would only reach
  # EROFS.
  run atomic-swap "$mnt/a" "$mnt/b"
  assert_failure 3
  assert_output "atomic-swap: '$mnt/a' is on fuse: could not tell whether it supports RENAME_EXCHANGE, and a probe failed: Read-only file system; it is mounted read-only"
  run excl-create "$mnt/new" <<<text
  assert_failure 3
  refute_output --partial "--force"
  run safe-append "$mnt/a" -c text
  assert_failure 3
  refute_output --partial "--force"
  check_fs "$mnt"
  assert_line "  RENAME_NOREPLACE  refuse: could not tell whether it supports RENAME_NOREPLACE, and a probe failed: Read-only file system"
  assert_equal "$(cat "$src/a")" a
}

@test "FUSE where the probe is denied (a directory the user may not write): refused, without suggesting --force" {
  require_mount fuse
  require_setpriv
  # The test's own directory is private to root: the unprivileged user
  # must reach the mount, and find a directory there it may not write.
  PERM_DIR=$(mktemp -d "${TMPDIR:-/tmp}/fs-perm.XXXXXX")
  chmod 755 "$PERM_DIR"
  local src=$PERM_DIR/src mnt=$PERM_DIR/mnt out
  mkdir -p "$src/rel-a" "$src/rel-b" "$mnt"
  ln -s rel-a "$src/current"
  out=$(bindfs -o allow_other "$src" "$mnt" 2>&1) ||
    skip "cannot mount bindfs for other users: $out"
  TEST_MOUNT=$mnt
  as_nobody atomic-swap --version >/dev/null 2>&1 ||
    skip "atomic-swap cannot run as an unprivileged user here"
  # -p needs RENAME_EXCHANGE, which only a probe could show; the probe
  # cannot make its scratch file, and --force would meet the same
  # "Permission denied": it is not suggested.
  run as_nobody atomic-swap -p -s rel-b "$mnt/current"
  assert_failure 3
  assert_output "atomic-swap: '$mnt/current' is on fuse: could not tell whether it supports RENAME_EXCHANGE, and a probe failed: Permission denied"
  run as_nobody atomic-swap "$mnt/rel-a" "$mnt/rel-b"
  assert_failure 3
  refute_output --partial "--force"
  # As said: with --force the change is refused alike, and nothing
  # changed.
  run as_nobody atomic-swap --force -p -s rel-b "$mnt/current"
  assert_failure 3
  assert_output --partial "Permission denied"
  assert_equal "$(readlink "$src/current")" rel-a
  assert_no_scratch_names "$mnt"
}

@test "atomic-swap --check-fs: both operands, with the overlay verdicts" {
  require_mount overlay
  local mnt
  mnt=$(fs_mount_point overlay)
  run atomic-swap --check-fs "$mnt/ldir" "$mnt/lfile"
  assert_success
  assert_line --index 0 --partial "$mnt/ldir: overlay (overlay filesystem"
  assert_line "  RENAME_EXCHANGE   refuse: it is a directory from overlay's lower layer and the mount lacks redirect_dir=on: renaming it fails with EXDEV, so this cannot be done atomically here"
  assert_line --partial "$mnt/lfile: overlay (overlay filesystem"
}

# --- lockdir -----------------------------------------------------------------

@test "lockdir on ext4, xfs, btrfs, tmpfs and overlay: command and script forms, silently" {
  local fs dir
  for fs in ext4 xfs btrfs tmpfs overlay; do
    require_mount "$fs"
    dir=$(test_dir_on "$fs")
    run lockdir "$dir/lock" sh -c 'echo "held $LOCKDIR_PATH"'
    assert_success
    assert_output "held $dir/lock"
    # Owned by this test's shell, which outlives each 'run'.
    run lockdir --owner-pid=$$ "$dir/lock"
    assert_success
    assert_output ""
    run lockdir --status "$dir/lock"
    assert_success
    run lockdir -n "$dir/lock" true
    assert_equal "$status" 75
    run lockdir -u --owner-pid=$$ "$dir/lock"
    assert_success
    run lockdir --status "$dir/lock"
    assert_equal "$status" 1
    assert_no_temporaries lockdir "$dir"
  done
  # A lock inside a directory from overlay's lower layer.
  run lockdir "$(fs_mount_point overlay)/ldir/lock$BATS_TEST_NUMBER" true
  assert_success
  assert_output ""
}

@test "lockdir after a power loss on ext4 and xfs: the empty record left is named, --break ends it, tokens go on from what survived" {
  require_power_loss
  local fs holder child
  for fs in ext4 xfs; do
    fs_crash_mount "$fs"
    # Two holdings: LOCK.last exists, so the next release replaces it.
    lockdir L true
    lockdir L true
    background lockdir L sleep 600
    holder=$BG
    wait_until sh -c 'lockdir --status L | grep -q "^child_pid="'
    child=$(lockdir --status L | sed -n 's/^child_pid=//p')
    assert_equal "$(lockdir --status L | sed -n 's/^token=//p')" 3
    fs_crash_under "$holder" "$child"
    # The record was written before the lock's name appeared, but its
    # data had not reached the disk: on ext4 and xfs file data is
    # written back up to 30 s after the names that the log commits.
    if [ -s L/owner.* ]; then
      skip "$fs: the record reached the disk before the simulated crash"
    fi
    run lockdir -n L true
    assert_failure 75
    assert_output "lockdir: 'L' is held by an unknown owner: its record is empty
lockdir: its system may have crashed before writing the record to disk (on a network filesystem, its host may not have sent it yet); if no process holds 'L' any more, 'lockdir --break L' ends the holding"
    if [ -s L.last ]; then
      # ext4 writes a file's data before a rename that replaces another
      # file with it (auto_da_alloc): the history survived, the tokens go
      # on, past the lost holding's 3.
      run lockdir --break L
      assert_success
      assert_equal "$(lockdir L sh -c 'echo $LOCKDIR_TOKEN')" 4
    else
      # xfs does not: LOCK.last lost its content too, and --break says
      # the tokens start again.
      run lockdir --break L
      assert_success
      assert_line "lockdir: removed 'L.last', which is empty (a system crash can leave it so): the tokens start again from 1"
      assert_equal "$(lockdir L sh -c 'echo $LOCKDIR_TOKEN')" 1
    fi
    [ ! -e L ]
    cd /
  done
}

@test "lockdir after a power loss on ext4 and xfs: a lock with a lease kept its record and its tokens, and the lease frees it" {
  require_power_loss
  require_pid_namespace
  local fs nsinit
  for fs in ext4 xfs; do
    fs_crash_mount "$fs"
    # Two holdings with a lease, then a third, held: LOCK.last is the
    # second's record.
    lockdir --lease=1m L true
    lockdir --lease=1m L true
    # The holder runs in a pid namespace of its own, so that its record,
    # like one from before a reboot, cannot be judged by its pids here:
    # only the lease can free the lock.
    background unshare --pid --fork --mount-proc \
      lockdir --lease=2s L sleep 600
    wait_until sh -c 'lockdir --status L | grep -q "^child_pid="'
    nsinit=$(pgrep -P "$BG")
    # Killing the namespace's first process (lockdir) kills all of it.
    fs_crash_under "$nsinit"
    # A record with a lease is on the disk before the lock appears: the
    # crash did not empty it, so its lease runs out and frees the lock.
    [ -s L/owner.* ] || fail "$fs: the record of a lock with a lease was lost"
    grep -qx 'lease=2.000' L/owner.*
    # LOCK.last is a record synced when its holding began, renamed when
    # it ended: the tokens survive too (on xfs a record without a lease
    # would be empty).
    assert_equal "$(sed -n 's/^token=//p' L.last)" 2
    run lockdir -v -w 30s L true
    assert_success
    assert_line --regexp "^lockdir: broke stale lock 'L' of pid 1 on .* \(token 3\): its lease expired\$"
    assert_equal "$(sed -n 's/^token=//p' L.last)" 4
    cd /
  done
}

@test "excl-create after a power loss on ext4 and xfs: the takeover lock a caller held is freed by its lease" {
  require_power_loss
  command -v strace >/dev/null || skip "strace is not installed"
  require_pid_namespace
  local fs nsinit
  for fs in ext4 xfs; do
    fs_crash_mount "$fs"
    # A caller replacing a stale pid file (its process 99999 is gone)
    # holds the takeover lock when the power fails: strace holds it up
    # at the renameat2 that takes the stale file away.  It runs in a pid
    # namespace of its own, so that, as after a reboot, its record
    # cannot be judged by its pid here.
    background unshare --pid --fork --mount-proc sh -c 'echo 99999 >f &&
      exec strace -o /dev/null -e trace=renameat2 \
        -e inject=renameat2:delay_enter=600000000:when=1 \
        excl-create --pid --replace-stale f'
    wait_until test -d .excl-create.f.lock
    nsinit=$(pgrep -P "$BG")
    fs_crash_under "$nsinit"
    [ -s .excl-create.f.lock/owner.* ] ||
      fail "$fs: the record of the takeover lock was lost"
    grep -qx 'lease=10.000' .excl-create.f.lock/owner.*
    # The next boot comes later than the lease (the heartbeat is the
    # record's time), and finds a stale pid file (written anew: the
    # crash may have emptied the first one, which is kept then).
    touch -d '1 minute ago' .excl-create.f.lock/owner.*
    dead_pid >f
    run excl-create -v --pid --replace-stale f
    assert_success
    assert_line --index 0 --regexp "^excl-create: broke stale lock '.excl-create.f.lock' of pid [0-9]+ on .*: its lease expired\$"
    assert_line "created 'f'"
    [ ! -e .excl-create.f.lock ]
    cd /
  done
}

@test "lockdir on FUSE: warns about its rename of a directory unless -q, and locks" {
  require_mount fuse
  local dir
  dir=$(test_dir_on fuse)
  run lockdir "$dir/lock" true
  assert_success
  assert_output "lockdir: warning: '$dir/lock' is on fuse: whether renaming a directory onto a lock's name excludes processes on other mounts or hosts depends on the FUSE daemon"
  run lockdir -q --owner-pid=$$ "$dir/lock"
  assert_success
  assert_output ""
  run lockdir -q -n "$dir/lock" true
  assert_equal "$status" 75
  run lockdir -q -u --owner-pid=$$ "$dir/lock"
  assert_success
  run lockdir -q --status "$dir/lock"
  assert_equal "$status" 1
  assert_no_temporaries lockdir "$dir"
}

@test "lockdir on object-store FUSE: refused (3, or 125 with a command) unless --force" {
  require_mount fuse-s3fs
  local dir
  dir=$(test_dir_on fuse-s3fs)
  run lockdir "$dir/lock"
  assert_equal "$status" 3
  assert_output "lockdir: '$dir/lock' is on fuse.s3fs: the lock is taken by renaming a directory onto its name, and rename here is a copy then a delete: several clients can all succeed; use --force to go ahead anyway"
  [ ! -e "$dir/lock" ]
  run lockdir "$dir/lock" touch "$dir/ran"
  assert_equal "$status" 125
  [ ! -e "$dir/ran" ]
  [ ! -e "$dir/lock" ]
  run lockdir --force "$dir/lock" touch "$dir/ran"
  assert_success
  assert_output --partial "warning: '$dir/lock' is on fuse.s3fs"
  [ -e "$dir/ran" ]
  run lockdir --check-fs "$dir/lock"
  assert_success
  assert_line --regexp "^  rename-dir +refuse: the lock is taken by renaming a directory"
  assert_no_temporaries lockdir "$dir"
}

@test "lockdir on GlusterFS (mountinfo fuse.glusterfs): refused, since the lock is taken by rename(2), not mkdir(2)" {
  require_mount fuse-glusterfs
  local dir
  dir=$(test_dir_on fuse-glusterfs)
  # The lock is a directory renamed onto LOCK.  The check was for
  # mkdir, which GlusterFS only warns about, while its rename (a link
  # then an unlink) is refused: the lock was taken with a warning.
  run lockdir "$dir/lock" touch "$dir/ran"
  assert_equal "$status" 125
  assert_output "lockdir: '$dir/lock' is on fuse.glusterfs: the lock is taken by renaming a directory onto its name, and rename here is a link then an unlink; use --force to go ahead anyway"
  [ ! -e "$dir/ran" ]
  [ ! -e "$dir/lock" ]
  run lockdir "$dir/lock"
  assert_equal "$status" 3
  [ ! -e "$dir/lock" ]
  run lockdir --check-fs "$dir/lock"
  assert_success
  assert_line --regexp "^  rename-dir +refuse: the lock is taken by renaming"
  assert_line --regexp "^  mkdir +warn"
  run lockdir -q --force "$dir/lock" true
  assert_success
  assert_no_temporaries lockdir "$dir"
}

@test "teardown's unmount_test_mounts unmounts what a failed test left under its directory, innermost first" {
  require_root
  # A test that fails before its inline 'umount' leaves its mounts; the
  # next tests would then run beside them, and bats would remove the
  # directory's files through them.  A space in a name is escaped as
  # \040 in mountinfo.
  mkdir -p "outer dir"
  mount -t tmpfs -o size=64k tmpfs "outer dir" || skip "cannot mount tmpfs"
  mkdir "outer dir/inner"
  mount -t tmpfs -o size=64k tmpfs "outer dir/inner"
  mkdir elsewhere
  mount --bind elsewhere elsewhere
  unmount_test_mounts
  run mountpoint -q "outer dir/inner"
  assert_failure
  run mountpoint -q "outer dir"
  assert_failure
  run mountpoint -q elsewhere
  assert_failure
}

#!/usr/bin/env bats
# The shared filesystem classifier: mountinfo decoding and the policy
# table (shared/research/fs-semantics.md, section 6).

load test_helper

setup() {
  common_setup
}

@test "mountinfo lines are decoded, escapes included" {
  run fsclass-test parse <"$BATS_TEST_DIRNAME/data/mountinfo.txt"
  assert_success
  assert_line --index 0 "26|1|/|ext4|/dev/vda|rw,discard|local"
  assert_line --index 1 "24|23|/dev/shm|tmpfs|tmpfs|rw,size=24683620k|local"
  # \040 is a space; optional fields before the '-' are skipped.
  assert_line --index 2 "61|26|/mnt/with space|xfs|/dev/loop0|rw,attr2|local"
  assert_line --index 3 --partial "|/srv/overlay|overlay|overlay|"
  assert_line --index 4 --partial "|nfs4|server:/export|rw,vers=4.2,rsize=1048576|network"
  assert_line --index 5 --partial "|cifs|//host/share|"
  assert_line --index 6 "65|26|/mnt/ssh|fuse.sshfs|user@host:/dir|rw,user_id=0,group_id=0|FUSE"
  assert_line --index 7 --partial "|fuse.s3fs|s3fs|rw,user_id=0,group_id=0|object-store FUSE"
  assert_line --index 8 --partial "|/mnt/bind|fuse|/tmp/fsp/bindsrc|"
  # \011 is a tab, \134 a backslash.
  assert_line --index 9 "68|26|/mnt/tab	and\\back|9p|hostshare|rw,trans=virtio|network"
  assert_line --index 10 --partial "|fuse.glusterfs|server:/vol|rw|GlusterFS"
  assert_line --index 11 --partial "|virtiofs|myfs|rw|virtiofs"
  assert_line --index 12 --partial "|ceph|"
  assert_line --index 13 "invalid"
}

@test "mountinfo: a mount with an empty source is decoded, not skipped" {
  # The kernel prints an empty source as nothing between two spaces
  # (recorded: mount -t tmpfs "" DIR; mount -t overlay "" ...; a FUSE
  # daemon given -o fsname=).  Such a line was taken as not a mountinfo
  # line, so the mount was not found and was judged by f_type alone:
  # fuse.s3fs as an unknown FUSE daemon.
  run fsclass-test parse <<'EOF2'
46 26 0:41 / /tmp/e rw,relatime - tmpfs  rw
52 26 0:44 / /tmp/o rw,relatime - overlay  rw,lowerdir=/l,upperdir=/u,workdir=/w,redirect_dir=on
53 26 0:45 / /mnt/bucket rw,nosuid,nodev,relatime shared:7 - fuse.s3fs  rw,user_id=0,group_id=0
EOF2
  assert_success
  assert_line --index 0 "46|26|/tmp/e|tmpfs||rw|local"
  assert_line --index 1 "52|26|/tmp/o|overlay||rw,lowerdir=/l,upperdir=/u,workdir=/w,redirect_dir=on|overlay"
  assert_line --index 2 "53|26|/mnt/bucket|fuse.s3fs||rw,user_id=0,group_id=0|object-store FUSE"
}

@test "mountinfo: the super options keep their escapes, so a ',' in a value separates nothing" {
  # Recorded on kernel 6.18: overlay layers "/t/lo,w" (old mount API,
  # given as "lo\,w") and "/t/a,b" (new API, lowerdir+=).  Decoded
  # here, "\054" would become a separator; the options are decoded
  # one value at a time instead.
  run fsclass-test parse <<'EOF2'
46 26 0:39 / /t/m rw,relatime - overlay overlay rw,lowerdir=/t/lo\134\054w:/t/l2,upperdir=/t/u,workdir=/t/w
47 26 0:40 / /t/n rw,relatime - overlay none rw,lowerdir+=/t/a\054b,upperdir=/t/u\054p,workdir=/t/w
EOF2
  assert_success
  assert_line --index 0 "46|26|/t/m|overlay|overlay|rw,lowerdir=/t/lo\134\054w:/t/l2,upperdir=/t/u,workdir=/t/w|overlay"
  assert_line --index 1 "47|26|/t/n|overlay|none|rw,lowerdir+=/t/a\054b,upperdir=/t/u\054p,workdir=/t/w|overlay"
}

@test "FUSE: subtypes match exactly; plain fuse is named by its source" {
  run fsclass-test parse <"$BATS_TEST_DIRNAME/data/mountinfo.txt"
  assert_success
  # A libfuse2 daemon without a subtype: the source names s3fs.
  assert_line --index 14 "72|26|/mnt/plain|fuse|s3fs|rw,user_id=0,group_id=0|object-store FUSE"
  # fuseblk (ntfs-3g, exfat-fuse) is FUSE of an unknown daemon.
  assert_line --index 15 --partial "|/media/usb|fuseblk|/dev/sdb1|"
  assert_line --index 15 --partial "|FUSE"
  assert_line --index 16 --partial "|fuse.blobfuse2|blobfuse2|rw|object-store FUSE"
  # ceph-fuse keeps CephFS's semantics.
  assert_line --index 17 --partial "|fuse.ceph-fuse|ceph-fuse|rw|network"
  # fusectl is not a FUSE mount.
  assert_line --index 18 --partial "|fusectl|fusectl|rw|local"
  assert_line --index 19 --partial "|fuse|sshfs#user@host:/|rw|FUSE"
  # No prefix matching: "s3fsx" is some other daemon.
  assert_line --index 20 --partial "|fuse.s3fsx|s3fsx|rw|FUSE"
  # Lines recorded on Debian 12 (kernel 6.18): tmpfs at a path with a
  # space, an overlay, bindfs 1.14.7 (libfuse2: plain "fuse").
  assert_line --index 21 "43|26|/tmp/fsx/with space|tmpfs|tmpfs|rw,size=8192k|local"
  assert_line --index 22 --partial "|/tmp/fsx/ovl|overlay|overlay|rw,lowerdir=/tmp/fsx/l,"
  assert_line --index 23 --partial "|/tmp/fsx/bind|fuse|/tmp/fsx/bsrc|"
  assert_line --index 23 --partial "|FUSE"
}

verdicts() {
  run fsclass-test classify "$@"
  assert_success
}

@test "local filesystems are safe for every primitive" {
  for fs in ext4 xfs btrfs tmpfs f2fs; do
    verdicts "$fs"
    assert_line --index 0 "class=local"
    refute_line --partial "=warn"
    refute_line --partial "=refuse"
  done
}

@test "ext2 and ext3: the renameat2 flags depend on the driver, so without a probe they are warned" {
  for fs in ext2 ext3; do
    verdicts "$fs"
    assert_line --index 0 "class=local"
    assert_line "RENAME_EXCHANGE=warn"
    assert_line "RENAME_NOREPLACE=warn"
    assert_line "rename=safe"
    assert_line "O_APPEND=safe"
  done
  # ext4 shares their magic, and was measured.
  verdicts ext4 0xEF53
  refute_line --partial "=warn"
}

@test "overlay is safe (directory EXDEV is reported at run time)" {
  verdicts overlay
  assert_line --index 0 "class=overlay"
  refute_line --partial "=refuse"
}

@test "fuseblk and FUSE without a subtype: warned, like any unknown daemon" {
  for fs in fuseblk fuse fuse.bindfs; do
    verdicts "$fs"
    assert_line --index 0 "class=FUSE"
    assert_line "O_EXCL=warn"
    assert_line "RENAME_EXCHANGE=refuse"
    assert_line "O_APPEND=refuse"
  done
  verdicts fusectl
  assert_line --index 0 "class=local"
}

@test "NFSv2 has no exclusive create" {
  run fsclass-test classify nfs 0 rw,vers=2
  assert_success
  assert_line "O_EXCL=refuse"
  run fsclass-test classify nfs 0 rw,vers=3
  assert_line "O_EXCL=safe"
}

@test "NFS, Ceph, Lustre, 9p, SMB: renameat2 flags and O_APPEND refused" {
  for fs in nfs nfs4 ceph lustre 9p cifs smb3; do
    verdicts "$fs"
    assert_line "RENAME_NOREPLACE=refuse"
    assert_line "RENAME_EXCHANGE=refuse"
    assert_line "O_APPEND=refuse"
    assert_line "O_EXCL=safe"
    assert_line "mkdir=safe"
    assert_line "rename-dir=safe"
  done
}

@test "9p is recognised by its fstype even when f_type looks like ext4" {
  verdicts 9p 0xEF53
  assert_line --index 0 "class=network"
}

@test "sshfs: exclusion safe, renameat2 flags and O_APPEND refused, rename warned" {
  verdicts fuse.sshfs
  assert_line "O_EXCL=safe"
  assert_line "mkdir=safe"
  assert_line "rename-dir=safe"
  assert_line "link=safe"
  assert_line "rename=warn"
  assert_line "RENAME_EXCHANGE=refuse"
  assert_line "O_APPEND=refuse"
}

@test "unknown FUSE is warned for exclusion" {
  verdicts fuse
  assert_line "O_EXCL=warn"
  assert_line "mkdir=warn"
  assert_line "rename-dir=warn"
  verdicts "" 0x65735546
  assert_line --index 0 "class=FUSE"
}

@test "object-store FUSE is refused for everything" {
  for fs in fuse.s3fs fuse.goofys fuse.gcsfuse fuse.mountpoint-s3 fuse.rclone; do
    verdicts "$fs"
    assert_line --index 0 "class=object-store FUSE"
    refute_line --partial "=safe"
    refute_line --partial "=warn"
  done
}

@test "GlusterFS: rename-based commits and appends refused" {
  verdicts fuse.glusterfs
  assert_line "rename=refuse"
  # lockdir's lock is a directory renamed into place: a rename, however
  # well mkdir alone would do.
  assert_line "rename-dir=refuse"
  assert_line "mkdir=warn"
  assert_line "RENAME_NOREPLACE=refuse"
  assert_line "O_APPEND=refuse"
}

# The fstypes a cell of the README's filesystem table names.
readme_fstypes() {
  local name
  for name in $(tr -c 'A-Za-z0-9-' ' ' <<<"$1"); do
    case $name in
      GlusterFS) echo fuse.glusterfs ;;
      s3fs | goofys | gcsfuse | mountpoint-s3 | rclone | blobfuse) echo "fuse.$name" ;;
      ext4 | xfs | btrfs | tmpfs | f2fs) echo "$name" ;;
    esac
  done
}

@test "README's filesystem table: what it says kept is safe, what it says refused is refused" {
  local table row fs n=0
  table=$(sed -n '/^| filesystem | verdict |$/,/^$/p' "$BATS_TEST_DIRNAME/../README.md")
  # The row "| FILESYSTEMS | every promise kept |" and the row "| ... | refused |".
  for row in "every promise kept" refused; do
    while read -r fs; do
      n=$((n + 1))
      verdicts "$fs"
      if [ "$row" = refused ]; then
        refute_line --partial "=safe"
        refute_line --partial "=warn"
      else
        refute_line --partial "=warn"
        refute_line --partial "=refuse"
      fi
    done < <(readme_fstypes "$(grep -F "| $row |" <<<"$table" | cut -d '|' -f 2)")
  done
  ((n >= 10)) || fail "only $n filesystems found in the table: $table"
}


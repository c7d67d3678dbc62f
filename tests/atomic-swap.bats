#!/usr/bin/env bats
# atomic-swap: exchange two paths, repoint a symlink in one step (with
# compare-and-swap and rollback), rename without clobbering.

load test_helper

setup() {
  common_setup
}

teardown() {
  if [ -n "${PERM_DIR:-}" ]; then rm -rf "$PERM_DIR"; fi
  # A test that failed half-way may leave readers or a stopped holder.
  local jobs
  jobs=$(jobs -p)
  if [ -n "$jobs" ]; then kill $jobs 2>/dev/null || true; fi
  unmount_test_mounts
}

# Two releases, each with an index.html naming it, and current -> rel-a.
make_releases() {
  mkdir -p releases/a releases/b
  echo a >releases/a/index.html
  echo b >releases/b/index.html
  ln -s releases/a current
}

# Nothing of atomic-swap is left in DIR (default: .): no temporary, and
# no --expect lock (it keeps no history, so nothing stays once it is
# released).
assert_no_leftovers() {
  local dir=${1:-.} left
  left=$(find "$dir" -maxdepth 1 -name '.atomic-swap.*' -print)
  [ -z "$left" ] || fail "left behind: $left"
}

# The fault shim (tests/fault-shim.c), preloaded: it stops a process just
# before its Nth call of a function until the test lets it go on, or
# makes a call fail -- a window with no timing in it.
SHIM=$(command -v fault-shim.so || true)
require_shim() {
  [ -n "$SHIM" ] || skip "tests/fault-shim.so is not built (make check builds it)"
}
# start_with_shim DIR VAR=VALUE... COMMAND...: start COMMAND in the
# background with the shim, its handshake files in DIR (made here), and
# no signal ignored (a background job ignores SIGINT, and 'nohup make
# check' SIGHUP); SHIM_PID is its pid.
start_with_shim() {
  local dir=$1
  shift
  mkdir -p "$dir"
  env --default-signal LD_PRELOAD="$SHIM" FAULT_DIR="$PWD/$dir" \
    "$@" 3>&- &
  SHIM_PID=$!
}
# True once the process of DIR is stopped before call CALL number N.
paused_at() { [ -e "$1/paused.$2.$3" ]; }
# Let the process of DIR go on past call CALL number N.
go_on() { touch "$1/go.$2.$3"; }

# A listing of DIR (names, types, sizes, inodes), to show it unchanged.
listing() {
  find "$1" -printf '%P %y %s %i\n' | sort
}

# --- command line ------------------------------------------------------

@test "--help prints usage on stdout and exits 0" {
  run --separate-stderr atomic-swap --help
  assert_success
  assert_line --index 0 "Usage: atomic-swap [OPTION]... PATH1 PATH2"
  assert_line --index 1 "  or:  atomic-swap -s [OPTION]... TARGET LINK"
  assert_line --index 2 "  or:  atomic-swap -n [OPTION]... SRC DST"
  for opt in --symlink --no-clobber --expect=OLD --print-old --relative \
             --exchange-dir --check-target --sync --verbose --quiet --force \
             --check-fs; do
    assert_output --partial -- "$opt"
  done
  assert_output --partial "Exit status:"
  assert_output --partial "Examples:"
  [ -z "$stderr" ]
}

@test "--version prints the package version" {
  run --separate-stderr atomic-swap --version
  assert_success
  assert_line --index 0 "atomic-swap (atomicutils) 0.1"
}

# The sentence on which filesystems keep or refuse the renameat2 flags,
# the same in --help, the manual page and README.md, and held to the
# verdicts of fsclass.c (without a probe: fsclass-test makes none).
@test "--help, the manual page and README.md name the same filesystems for the renameat2 flags, as fsclass judges them" {
  local sentence="Both flags are kept on ext4, xfs, btrfs, tmpfs and f2fs, and refused on NFS, SMB, Ceph, Lustre, 9p, GlusterFS and object-store FUSE filesystems (s3fs and the like); on other FUSE filesystems and other local ones (vfat, minix, the ext2 driver) a probe decides."
  local top=$BATS_TEST_DIRNAME/.. doc
  for doc in "$(atomic-swap --help)" "$(cat "$top/man/atomic-swap.x")" \
             "$(cat "$top/README.md")"; do
    [[ $(printf '%s\n' "$doc" | tr -s ' \n' '  ') == *"$sentence"* ]] ||
      fail "the renameat2 sentence is missing from: ${doc:0:60}"
  done
  local fs prim
  for fs in ext4 xfs btrfs tmpfs f2fs; do
    run fsclass-test classify "$fs"
    for prim in RENAME_EXCHANGE RENAME_NOREPLACE; do
      assert_line "$prim=safe"
    done
  done
  for fs in nfs nfs4 cifs smb3 ceph lustre 9p fuse.glusterfs fuse.s3fs; do
    run fsclass-test classify "$fs"
    for prim in RENAME_EXCHANGE RENAME_NOREPLACE; do
      assert_line "$prim=refuse"
    done
  done
  # Not safe without a probe, which judge makes on these.
  for fs in fuse fuse.bindfs vfat minix ext2; do
    run fsclass-test classify "$fs"
    for prim in RENAME_EXCHANGE RENAME_NOREPLACE; do
      refute_line "$prim=safe"
    done
  done
}

@test "usage errors exit 2 with the Try line, and change nothing" {
  make_releases
  before=$(listing .)

  run atomic-swap
  assert_usage_error atomic-swap
  assert_line --partial "missing operand"

  run atomic-swap current
  assert_usage_error atomic-swap
  assert_line --partial "missing PATH2 operand after 'current'"

  run atomic-swap -s releases/b
  assert_usage_error atomic-swap
  assert_line --partial "missing LINK operand"

  run atomic-swap -s releases/b current extra
  assert_usage_error atomic-swap
  assert_line --partial "extra operand 'extra'"
  # An operand is quoted as a shell would quote it, in any locale.
  run env LC_ALL=C.UTF-8 atomic-swap a b $'c\nd'
  assert_failure 2
  assert_line --index 0 "atomic-swap: extra operand 'c'\$'\\n''d'"
  run env LC_ALL=C.UTF-8 atomic-swap "it's"
  assert_failure 2
  assert_line --index 0 "atomic-swap: missing PATH2 operand after \"it's\""

  run atomic-swap --no-such-option a b
  assert_usage_error atomic-swap

  run atomic-swap -s -n releases/b current
  assert_usage_error atomic-swap
  assert_line --partial "cannot be combined"

  for opt in --expect=releases/a --print-old --relative --exchange-dir \
             --check-target; do
    run atomic-swap "$opt" releases/b current
    assert_usage_error atomic-swap
    assert_line --partial "works only with --symlink"
    run atomic-swap -n "$opt" releases/b current
    assert_usage_error atomic-swap
  done

  run atomic-swap -s --expect= --exchange-dir releases/b current
  assert_usage_error atomic-swap

  run atomic-swap -s '' current
  assert_usage_error atomic-swap
  assert_line --partial "TARGET must not be empty"

  run atomic-swap --check-fs
  assert_usage_error atomic-swap

  assert_equal "$(listing .)" "$before"
  assert_no_temporaries atomic-swap
}

@test "--exchange names the default form; every prefix of a long option is one option's or rejected" {
  echo one >x
  echo two >y
  # mv 9.5's spelling of the exchange.
  run atomic-swap --exchange x y
  assert_success
  assert_equal "$(cat x)" two
  run atomic-swap -s --exchange x y
  assert_usage_error atomic-swap
  assert_line --partial "--exchange cannot be combined with --symlink"
  run atomic-swap --exchange -n x y
  assert_usage_error atomic-swap

  # Every long option --help shows, and every prefix of it: a prefix that
  # is the start of one option only is that option; one shared by two is
  # rejected as ambiguous -- never silently taken as another option.
  mapfile -t names < <(atomic-swap --help | grep -o -- '--[a-z][a-z-]*' | sort -u)
  (( ${#names[@]} >= 15 )) || fail "too few options found: ${names[*]}"
  local name prefix other n checked=0
  for name in "${names[@]}"; do
    for ((n = 3; n <= ${#name}; n++)); do
      prefix=${name:0:n}
      local matches=()
      for other in "${names[@]}"; do
        if [ "$other" = "$prefix" ]; then matches=("$other"); break; fi
        [[ $other == "$prefix"* ]] && matches+=("$other")
      done
      # --help and --version exit at once; every other option is
      # harmless with a missing operand: a usage error that names no
      # option.  The status is checked too: a run that found no
      # atomic-swap (127, as while make relinks it) must not pass.
      run atomic-swap "$prefix"
      if ((${#matches[@]} == 1)); then
        refute_output --partial "unrecognized"
        refute_output --partial "ambiguous"
        case ${matches[0]} in
          --help | --version) assert_success ;;
          *) assert_usage_error atomic-swap ;;
        esac
      else
        assert_usage_error atomic-swap
        assert_output --partial "ambiguous"
      fi
      checked=$((checked + 1))
    done
  done
  echo "# $checked prefixes of ${#names[@]} long options" >&3
  # The one that used to be taken for --exchange-dir.
  run atomic-swap --exch x y
  assert_usage_error atomic-swap
  assert_output --partial "ambiguous"
}

@test "ln habits: -s takes ln's -f and -T; -sfn says what to type instead" {
  make_releases
  run --separate-stderr atomic-swap -sf releases/b current
  assert_success
  assert_equal "$(readlink current)" releases/b
  run atomic-swap -sfT releases/a current
  assert_success
  assert_equal "$(readlink current)" releases/a
  run atomic-swap -s --no-target-directory releases/b current
  assert_success
  assert_equal "$(readlink current)" releases/b
  # -T means nothing else in the other forms either.
  : >x; : >y
  run atomic-swap -T x y
  assert_success
  # -f belongs to -s (ln's -f); with -n it would contradict -n.
  run atomic-swap -f x y
  assert_usage_error atomic-swap
  assert_line --partial -- "-f works only with --symlink"

  # ln -sfn: here -n is --no-clobber.  One line says what to type.
  before=$(listing .)
  run atomic-swap -sfn releases/a current
  assert_usage_error atomic-swap
  assert_line --index 0 "atomic-swap: --symlink and --no-clobber cannot be combined (for ln's -sfn, type 'atomic-swap -s TARGET LINK': LINK is never followed)"
  assert_equal "${#lines[@]}" 2
  assert_equal "$(listing .)" "$before"
}

@test "operands '', '.', '/', '..' and 'dir/.' are usage errors; nothing changes" {
  make_releases
  : >x
  before=$(listing .)
  local bad
  for bad in '' . / .. releases/. releases/..; do
    run atomic-swap "$bad" x
    assert_usage_error atomic-swap
    assert_line --index 0 --partial "atomic-swap: invalid operand '$bad': "
    run atomic-swap x "$bad"
    assert_usage_error atomic-swap
    run atomic-swap -n "$bad" y
    assert_usage_error atomic-swap
    run atomic-swap -n x "$bad"
    assert_usage_error atomic-swap
    run atomic-swap -s releases/b "$bad"
    assert_usage_error atomic-swap
    run atomic-swap -p -s --expect=releases/a releases/b "$bad"
    assert_usage_error atomic-swap
  done
  assert_equal "$(listing .)" "$before"
  # TARGET is what the link holds, not a name to change: '.' and '/'
  # are fine there.
  atomic-swap -s . dot
  atomic-swap -s / root
  assert_equal "$(readlink dot) $(readlink root)" ". /"
}

# --- exchange ------------------------------------------------------------

@test "exchange: two files trade names, content and inode" {
  echo one >x
  echo two >y
  ix=$(stat -c %i x) iy=$(stat -c %i y)
  run --separate-stderr atomic-swap x y
  assert_success
  assert_output ""
  assert_equal "$(cat x)" two
  assert_equal "$(cat y)" one
  assert_equal "$(stat -c %i x)" "$iy"
  assert_equal "$(stat -c %i y)" "$ix"
}

@test "exchange: two directories, in different parent directories" {
  mkdir -p p/site q/site.new
  echo old >p/site/page
  echo new >q/site.new/page
  run atomic-swap -v p/site q/site.new
  assert_success
  assert_output "'p/site' <-> 'q/site.new'"
  assert_equal "$(cat p/site/page)" new
  assert_equal "$(cat q/site.new/page)" old
}

@test "exchange: mixed types, and symlinks are exchanged, never followed" {
  mkdir dir
  echo data >dir/f
  echo file >plain
  ln -s dir link
  atomic-swap plain dir
  [ -f dir ] && [ -d plain ]
  assert_equal "$(cat dir)" file
  assert_equal "$(cat plain/f)" data

  # The symlink moves, its target (the directory 'plain') does not.
  atomic-swap link dir
  [ -L dir ] && [ -f link ]
  assert_equal "$(readlink dir)" dir
  [ -d plain ] && assert_equal "$(cat plain/f)" data

  # A trailing slash asks for a directory, and a symlink to one is not
  # one when it is never followed: refused, as rename(2) and mv refuse.
  ln -s plain l2
  run atomic-swap l2/ link
  assert_failure 3
  assert_output "atomic-swap: cannot exchange 'l2/' and 'link': 'l2/' ends in '/' but is a symbolic link, which atomic-swap does not follow"
  [ -L l2 ] && [ -f link ]
  assert_equal "$(readlink l2)" plain
}

@test "exchange: a missing operand is named, status 3, nothing changed" {
  echo one >x
  run atomic-swap x absent
  assert_failure 3
  assert_output "atomic-swap: cannot exchange 'absent': No such file or directory"
  run atomic-swap absent x
  assert_failure 3
  assert_output "atomic-swap: cannot exchange 'absent': No such file or directory"
  run atomic-swap x no/such/dir
  assert_failure 3
  assert_output --partial "cannot access 'no/such/dir'"
  assert_equal "$(cat x)" one
  [ ! -e absent ]
  assert_no_temporaries atomic-swap
}

@test "exchange: a file with itself (one name twice, two hard links) is refused as mv does: status 1" {
  echo one >x
  ln x hx
  mkdir d
  # The kernel exchanges a file with itself by doing nothing, and says
  # it succeeded.  Before, atomic-swap then exited 0, and -v reported
  # the swap that changed nothing.
  run atomic-swap -v x x
  assert_failure 1
  assert_output "atomic-swap: 'x' and 'x' are the same file"
  run atomic-swap x ./x
  assert_failure 1
  assert_output "atomic-swap: 'x' and './x' are the same file"
  run atomic-swap x hx
  assert_failure 1
  assert_output "atomic-swap: 'x' and 'hx' are the same file"
  run atomic-swap d d/
  assert_failure 1
  assert_output "atomic-swap: 'd' and 'd/' are the same file"
  # A status-1 message: -q silences it.
  run atomic-swap -q x hx
  assert_failure 1
  assert_output ""
  assert_equal "$(cat x)" one
  assert_equal "$(stat -c %h x)" 2
  assert_no_temporaries atomic-swap
}

@test "exchange: a file and itself with a trailing slash is not a directory: status 3, not 'the same file'" {
  echo one >x
  ln x hx
  ln -s x lx
  # 'x/' asks for a directory, and x is none: the same-file check must
  # not answer first (it looked at 'x' without the slash, and said
  # status 1 where any other non-directory gets status 3).
  run atomic-swap x x/
  assert_failure 3
  assert_output "atomic-swap: cannot exchange 'x' and 'x/': Not a directory"
  run atomic-swap hx/ x
  assert_failure 3
  assert_output "atomic-swap: cannot exchange 'hx/' and 'x': Not a directory"
  run atomic-swap lx lx/
  assert_failure 3
  assert_output "atomic-swap: cannot exchange 'lx' and 'lx/': 'lx/' ends in '/' but is a symbolic link, which atomic-swap does not follow"
  assert_equal "$(cat x)" one
  assert_equal "$(readlink lx)" x
  assert_no_temporaries atomic-swap
}

@test "exchange: a directory and its own subdirectory: status 3" {
  mkdir -p outer/inner
  run atomic-swap outer outer/inner
  assert_failure 3
  assert_output --partial "one contains the other"
  [ -d outer/inner ]
  assert_no_temporaries atomic-swap
}

@test "exchange and --no-clobber: -S fsyncs each changed directory once" {
  command -v strace >/dev/null || skip "strace is not installed"
  mkdir d1 d2
  : >d1/a; : >d1/b; : >d2/c
  strace -f -e trace=fsync -o t1 atomic-swap -S d1/a d1/b
  assert_equal "$(grep -c 'fsync(' t1)" 1
  strace -f -e trace=fsync -o t2 atomic-swap -S d1/a d2/c
  assert_equal "$(grep -c 'fsync(' t2)" 2
  strace -f -e trace=fsync -o t3 atomic-swap -S -n d1/a d2/new
  assert_equal "$(grep -c 'fsync(' t3)" 2
  strace -f -e trace=fsync -o t4 atomic-swap -S -s x d1/link
  assert_equal "$(grep -c 'fsync(' t4)" 1
}

@test "-S: a failed sync of a directory says that the change was made" {
  command -v strace >/dev/null || skip "strace is not installed"
  # The change stands (status 3 is for the sync): the message must not
  # read as "nothing changed".
  mkdir a b
  ln -s a current
  run_failing_fsync 1 atomic-swap -S -s b current
  assert_failure 3
  assert_output "atomic-swap: 'current' now points to 'b', but cannot sync its directory: Input/output error"
  assert_equal "$(readlink current)" b
  echo x >x; echo y >y
  run_failing_fsync 1 atomic-swap -S x y
  assert_failure 3
  assert_output "atomic-swap: 'x' was exchanged with 'y', but cannot sync the directory of 'x': Input/output error"
  assert_equal "$(cat x)" y
  mkdir d
  run_failing_fsync 2 atomic-swap -S -n x d/z
  assert_failure 3
  assert_output "atomic-swap: 'x' was moved to 'd/z', but cannot sync the directory of 'd/z': Input/output error"
  assert_equal "$(cat d/z)" y
  assert_no_temporaries atomic-swap
}

@test "exchange is one renameat2(RENAME_EXCHANGE) call" {
  command -v strace >/dev/null || skip "strace is not installed"
  : >x; : >y
  strace -e trace=rename,renameat,renameat2 -o trace atomic-swap x y
  assert_equal "$(grep -c 'rename' trace)" 1
  grep -q 'renameat2(.*"x", .*"y", RENAME_EXCHANGE) = 0' trace
}

# --- a trailing slash: "this must be a directory" -------------------------

# coreutils' tests/mv/trailing-slash.sh, for the exchange and -n forms.
@test "trailing slash: an operand ending in '/' must be a directory, else nothing changes" {
  # mv foo/ bar, mv d e/: a directory moves with a slash on either name.
  mkdir foo d
  run atomic-swap -n foo/ bar
  assert_success
  [ -d bar ] && [ ! -e foo ]
  run atomic-swap -n d e/
  assert_success
  [ -d e ] && [ ! -e d ]
  mkdir x y
  : >x/1; : >y/2
  run atomic-swap x/ y/
  assert_success
  [ -e x/2 ] && [ -e y/1 ]

  # "mv a a2/" must fail: neither a nor a2 is a directory.
  echo a >a
  echo a2 >a2
  : >b
  : >f
  ln -s bar ld
  before=$(listing .)
  run atomic-swap a a2/
  assert_failure 3
  assert_output "atomic-swap: cannot exchange 'a' and 'a2/': Not a directory"
  run atomic-swap a/ a2
  assert_failure 3
  run atomic-swap -n f/ g
  assert_failure 3
  run atomic-swap -n a/ new
  assert_failure 3
  assert_output "atomic-swap: cannot move 'a/' to 'new': Not a directory"
  # cp b no-such/: nothing is created.
  run atomic-swap -n b no-such/
  assert_failure 3
  assert_output "atomic-swap: cannot move 'b' to 'no-such/': Not a directory"
  # A symlink to a directory is never followed, so it is not one.
  run atomic-swap ld/ a
  assert_failure 3
  assert_output "atomic-swap: cannot exchange 'ld/' and 'a': 'ld/' ends in '/' but is a symbolic link, which atomic-swap does not follow"
  # DST exists: that is status 1, slash or not.
  run atomic-swap -n a a2/
  assert_failure 1
  assert_equal "$(listing .)" "$before"
  assert_no_temporaries atomic-swap
}

@test "trailing slash on a symlink to a directory: said to be a symlink, never followed, status 3, nothing changed" {
  # "Not a directory" alone reads as wrong: dl/ leads to one.  The
  # operand is never followed, and that is what is said.
  mkdir d
  ln -s d dl
  : >e
  before=$(listing .)
  run atomic-swap e dl/
  assert_failure 3
  assert_output "atomic-swap: cannot exchange 'e' and 'dl/': 'dl/' ends in '/' but is a symbolic link, which atomic-swap does not follow"
  run atomic-swap dl/ d/
  assert_failure 3
  assert_output "atomic-swap: cannot exchange 'dl/' and 'd/': 'dl/' ends in '/' but is a symbolic link, which atomic-swap does not follow"
  run atomic-swap -n dl/ new
  assert_failure 3
  assert_output "atomic-swap: cannot move 'dl/' to 'new': 'dl/' ends in '/' but is a symbolic link, which atomic-swap does not follow"
  # A file with a slash is still just not a directory.
  run atomic-swap e/ d
  assert_failure 3
  assert_output "atomic-swap: cannot exchange 'e/' and 'd': Not a directory"
  assert_equal "$(listing .)" "$before"
  assert_equal "$(readlink dl)" d
  assert_no_temporaries atomic-swap
}

# coreutils' tests/ln/slash-decorated-nonexistent-dest.sh, and the rest of
# what a slash on LINK can meet.
@test "trailing slash on LINK: a directory or a symlink to one, else refused with nothing changed" {
  : >f
  mkdir dir
  ln -s dir ld
  ln -s f lf
  ln -s nowhere dangling
  : >file
  before=$(listing .)
  run atomic-swap -s f no-such-file/
  assert_failure 3
  assert_output "atomic-swap: cannot create symbolic link 'no-such-file/': Not a directory"
  [ ! -e no-such-file ] && [ ! -L no-such-file ]
  run atomic-swap -s -T f no-such-file/
  assert_failure 3
  [ ! -L no-such-file ]
  run atomic-swap -s --expect= f no-such-file/
  assert_failure 3
  [ ! -L no-such-file ]
  run atomic-swap -s dir lf/
  assert_failure 3
  assert_output "atomic-swap: 'lf/' points to 'f', which is not a directory as its trailing slash requires; not replaced"
  run atomic-swap -s dir dangling/
  assert_failure 3
  run atomic-swap -s dir file/
  assert_failure 3
  assert_equal "$(listing .)" "$before"
  assert_no_temporaries atomic-swap

  # A symlink to a directory: replaced itself, never entered.
  run atomic-swap -s f ld/
  assert_success
  assert_equal "$(readlink ld)" f
  [ -z "$(ls -A dir)" ]
}

@test "trailing slash on LINK: a link repointed to a file between the look and the exchange is put back" {
  require_shim
  : >f
  mkdir dir new
  ln -s dir current
  start_with_shim faults FAULT_PAUSE=renameat2:1 atomic-swap -s new current/
  pid=$SHIM_PID
  wait_until paused_at faults renameat2 1
  ln -sfn f current
  go_on faults renameat2 1
  status=0
  wait "$pid" || status=$?
  assert_equal "$status" 3
  assert_equal "$(readlink current)" f
  assert_no_temporaries atomic-swap
}

@test "-s: a directory at LINK on a filesystem without RENAME_EXCHANGE is refused without suggesting --exchange-dir" {
  mkdir src mnt
  bindfs_for_test src mnt
  atomic-swap -q --check-fs mnt/x | grep -q '^  RENAME_EXCHANGE *refuse' ||
    skip "bindfs has RENAME_EXCHANGE here"
  mkdir mnt/current
  run atomic-swap -s rel mnt/current
  assert_failure 3
  assert_output "atomic-swap: 'mnt/current' is a directory, not a symbolic link; not replaced"
  # It cannot work there indeed.
  run atomic-swap -s --exchange-dir rel mnt/current
  assert_failure 3
  assert [ -d mnt/current ] && refute [ -L mnt/current ]
}

@test "-s: a directory appearing at LINK during the rename, without RENAME_EXCHANGE, is refused without suggesting --exchange-dir" {
  require_shim
  mkdir src mnt
  bindfs_for_test src mnt
  atomic-swap -q --check-fs mnt/x | grep -q '^  RENAME_EXCHANGE *refuse' ||
    skip "bindfs has RENAME_EXCHANGE here"
  # LINK is absent when looked at; the directory comes before the
  # rename(2) over it.
  start_with_shim faults FAULT_PAUSE=renameat2:1 atomic-swap -q -s rel \
    mnt/current 2>err
  pid=$SHIM_PID
  wait_until paused_at faults renameat2 1
  mkdir mnt/current
  go_on faults renameat2 1
  status=0
  wait "$pid" || status=$?
  assert_equal "$status" 3
  assert_equal "$(cat err)" "atomic-swap: 'mnt/current' is a directory, not a symbolic link; not replaced"
  assert [ -d mnt/current ] && refute [ -L mnt/current ]
  assert_no_leftovers mnt
}

@test "-s without RENAME_EXCHANGE: a file put at LINK between the look and the rename is replaced, as the manual's BUGS says" {
  require_shim
  mkdir src mnt
  bindfs_for_test src mnt
  atomic-swap -q --check-fs mnt/x | grep -q '^  RENAME_EXCHANGE *refuse' ||
    skip "bindfs has RENAME_EXCHANGE here"
  ln -s old mnt/current
  # LINK is a symbolic link when looked at; a file takes its place before
  # the rename(2) over it, which no flag can make refuse it.
  start_with_shim faults FAULT_PAUSE=renameat2:1 atomic-swap -q -v -s rel \
    mnt/current >out 2>err
  pid=$SHIM_PID
  wait_until paused_at faults renameat2 1
  rm mnt/current
  echo precious >mnt/current
  go_on faults renameat2 1
  status=0
  wait "$pid" || status=$?
  assert_equal "$status" 0
  assert_equal "$(readlink mnt/current)" rel
  assert_equal "$(cat out)" "'mnt/current' -> 'rel' (was 'old')"
  assert_equal "$(cat err)" ""
  assert_no_leftovers mnt
  # Said where the behaviour is documented.
  in_man "a file that another process puts at LINK between the look"
  in_man "names what LINK held at the look."
  in_readme "process puts at LINK in between is replaced, and \`-v\` names what LINK"
  # --help's "never replaced" says where it holds.
  atomic-swap --help | tr '\n' ' ' |
    grep -qF "never replaced (where RENAME_EXCHANGE is missing, only one there when LINK is looked at: see the manual's BUGS)"
}

# --- --no-clobber ----------------------------------------------------------

@test "--no-clobber: moves SRC to an absent DST" {
  mkdir -p build/sub releases
  echo v5 >build/sub/f
  run atomic-swap -v -n build releases/5
  assert_success
  assert_output "renamed 'build' -> 'releases/5'"
  assert_equal "$(cat releases/5/sub/f)" v5
  [ ! -e build ]
}

@test "--no-clobber: an existing DST (file, directory, even a dangling symlink) is status 1" {
  echo src >src
  echo dst >dst
  mkdir dir
  ln -s nowhere dangling
  run atomic-swap -n src dst
  assert_failure 1
  assert_output "atomic-swap: cannot move 'src' to 'dst': File exists"
  run atomic-swap -n src dir
  assert_failure 1
  [ -z "$(ls -A dir)" ]
  run atomic-swap -q -n src dangling
  assert_failure 1
  assert_output ""
  [ ! -e nowhere ]
  assert_equal "$(cat src)" src
  assert_equal "$(cat dst)" dst
  assert_equal "$(readlink dangling)" nowhere
}

@test "--no-clobber: missing SRC is status 3" {
  run atomic-swap -n absent dst
  assert_failure 3
  assert_output --partial "No such file or directory"
  [ ! -e dst ]
}

@test "--no-clobber on a filesystem without RENAME_NOREPLACE: an existing DST is status 1, File exists, as on tmpfs" {
  mkdir src mnt
  bindfs_for_test src mnt
  atomic-swap -q --check-fs mnt/x | grep -q '^  RENAME_NOREPLACE *refuse' ||
    skip "bindfs has RENAME_NOREPLACE here"
  echo a >mnt/a
  echo b >mnt/b
  run atomic-swap -n mnt/a mnt/b
  assert_failure 1
  assert_output "atomic-swap: cannot move 'mnt/a' to 'mnt/b': File exists"
  run atomic-swap -q -n mnt/a mnt/b
  assert_failure 1
  assert_output ""
  # DST absent, or SRC missing: the missing flag is the answer.
  run atomic-swap -n mnt/a mnt/c
  assert_failure 3
  assert_output --partial "does not support RENAME_NOREPLACE"
  run atomic-swap -n mnt/x mnt/b
  assert_failure 3
  assert_output --partial "does not support RENAME_NOREPLACE"
  assert_equal "$(cat mnt/a) $(cat mnt/b)" "a b"
  refute [ -e mnt/c ]
}

@test "--no-clobber: renameat2 refused for its flag (EINVAL) while DST exists is status 1, File exists" {
  command -v strace >/dev/null || skip "strace is not installed"
  echo a >a
  echo b >b
  # The filesystem's answer when DST appears after the kernel's own
  # look at it, the only time the flag is refused with DST there.
  run strace -o /dev/null -e inject=renameat2:error=EINVAL \
    atomic-swap -n a b
  assert_failure 1
  assert_output "atomic-swap: cannot move 'a' to 'b': File exists"
  assert_equal "$(cat a) $(cat b)" "a b"
}

# --- --symlink ---------------------------------------------------------------

@test "-s: an absent LINK is created" {
  mkdir -p releases/1
  run --separate-stderr atomic-swap -s releases/1 current
  assert_success
  assert_output ""
  assert_equal "$(readlink current)" releases/1
  run atomic-swap -v -s releases/1 other
  assert_output "'other' -> 'releases/1' (new)"
  assert_no_temporaries atomic-swap
}

@test "-s: a symlink LINK is replaced; -v shows the old target" {
  make_releases
  run atomic-swap -v -s releases/b current
  assert_success
  assert_output "'current' -> 'releases/b' (was 'releases/a')"
  assert_equal "$(readlink current)" releases/b
  assert_equal "$(cat current/index.html)" b
  assert_no_temporaries atomic-swap
}

@test "-s: LINK pointing to a directory is replaced itself, nothing is created inside" {
  make_releases
  before_a=$(listing releases/a)
  before_b=$(listing releases/b)
  atomic-swap -s releases/b current
  assert_equal "$(readlink current)" releases/b
  # A trailing slash on LINK still names the link, not the directory.
  atomic-swap -s releases/a current/
  assert_equal "$(readlink current)" releases/a
  assert_equal "$(listing releases/a)" "$before_a"
  assert_equal "$(listing releases/b)" "$before_b"
  assert_no_temporaries atomic-swap
  assert_no_temporaries atomic-swap releases/a
  assert_no_temporaries atomic-swap releases/b
}

@test "-s: a dangling symlink LINK is replaced, its target never created" {
  ln -s nowhere current
  mkdir rel
  atomic-swap -s rel current
  assert_equal "$(readlink current)" rel
  [ ! -e nowhere ]
}

@test "-s: a regular file at LINK is refused with status 3 and kept" {
  echo precious >current
  mkdir rel
  run atomic-swap -s rel current
  assert_failure 3
  assert_output "atomic-swap: 'current' exists and is not a symbolic link; not replaced"
  assert_equal "$(cat current)" precious
  assert_no_temporaries atomic-swap
}

@test "-s: a directory at LINK is refused with status 3, explaining --exchange-dir" {
  mkdir -p current rel
  echo live >current/index.html
  before=$(listing .)
  run atomic-swap -s rel current
  assert_failure 3
  assert_output --partial "'current' is a directory, not a symbolic link"
  assert_output --partial "--exchange-dir"
  run atomic-swap -p -s rel current
  assert_failure 3
  assert_equal "$(listing .)" "$before"
  assert_no_temporaries atomic-swap
}

@test "-s: a mount point at LINK is refused without suggesting --exchange-dir, which cannot move it" {
  require_root
  mkdir current rel
  mount -t tmpfs tmpfs current || skip "cannot mount tmpfs"
  echo live >current/index.html
  run atomic-swap -s rel current
  local refused=$output refused_status=$status
  # What the suggestion would lead to: EBUSY, nothing changed.
  run atomic-swap --exchange-dir -s rel current
  local tried=$output tried_status=$status
  local left
  left=$(cat current/index.html)
  umount current
  assert_equal "$refused_status" 3
  assert_equal "$refused" "atomic-swap: 'current' is a directory, not a symbolic link; not replaced"
  assert_equal "$tried_status" 3
  assert_equal "$tried" "atomic-swap: cannot replace 'current': Device or resource busy"
  assert_equal "$left" live
  assert_no_temporaries atomic-swap
}

@test "-s: missing directory of LINK is status 3" {
  run atomic-swap -s rel no/such/current
  assert_failure 3
  assert_output "atomic-swap: cannot create symbolic link 'no/such/current': No such file or directory"
}

@test "-s: the old link is exchanged out and removed, or renamed over" {
  command -v strace >/dev/null || skip "strace is not installed"
  make_releases
  strace -e trace=symlink,symlinkat,rename,renameat,renameat2,unlink,unlinkat \
    -o trace atomic-swap -s releases/b current
  # One temporary symlink, one exchange with 'current', the old link
  # removed under the temporary name: 'current' itself is never removed.
  grep -q 'symlinkat("releases/b", [0-9]*, "\.atomic-swap\.[^"]*") = 0' trace
  grep -q 'renameat2(.*"\.atomic-swap\.[^"]*", .*"current", RENAME_EXCHANGE) = 0' trace
  ! grep -q 'unlinkat(.*"current"' trace
}

# --- --print-old and rollback ------------------------------------------------

@test "--print-old prints the old target; rollback is one more call" {
  make_releases
  run --separate-stderr atomic-swap -p -s releases/b current
  assert_success
  assert_output releases/a
  old=$output
  assert_equal "$(cat current/index.html)" b

  # Roll back, printing what is rolled back from.
  run --separate-stderr atomic-swap -p -s "$old" current
  assert_success
  assert_output releases/b
  assert_equal "$(readlink current)" releases/a
  assert_equal "$(cat current/index.html)" a
  assert_no_temporaries atomic-swap
}

@test "--print-old on an absent LINK prints an empty line" {
  mkdir rel
  run --separate-stderr atomic-swap -p -s rel current
  assert_success
  assert_equal "$output" ""
  [ "$(atomic-swap -p -s rel other | od -An -c | tr -d ' ')" = '\n' ]
  assert_equal "$(readlink current)" rel
}

@test "--print-old keeps targets with spaces and odd characters exact" {
  mkdir 'rel with space' "it's"
  ln -s 'rel with space' current
  run --separate-stderr atomic-swap -p -s "it's" current
  assert_output 'rel with space'
  run --separate-stderr atomic-swap -v -s 'rel with space' current
  assert_output "'current' -> 'rel with space' (was \"it's\")"
}

# manual_idiom REGEX: set IDIOM to the line of man/atomic-swap.x
# (roff's \- read as -) that REGEX matches, which README.md must give
# as it is, in `...`.  (Not through $(...): a fail there would not end
# the test.)
manual_idiom() {
  local top=$BATS_TEST_DIRNAME/..
  IDIOM=$(sed -n "s/\\\\-/-/g; /$1/p" "$top/man/atomic-swap.x")
  [ -n "$IDIOM" ] || fail "no such idiom in man/atomic-swap.x"
  grep -qF -- "\`$IDIOM\`" "$top/README.md" ||
    fail "README.md does not give it as the manual does: $IDIOM"
}

@test "--print-old: the manual's and README.md's idiom keeps a target ending in a newline, which \$(...) alone drops" {
  local idiom
  manual_idiom '^old=\$(atomic-swap -p .* echo \.)'
  idiom=$IDIOM
  # Without it, the newline is lost, and a rollback goes elsewhere.
  ln -s $'releases/41\n' current
  old=$(atomic-swap -p -s releases/40 current)
  assert_equal "$old" releases/41
  ln -sfn $'releases/41\n' current
  old=unset
  eval "$idiom"
  assert_equal "$old" $'releases/41\n'
  atomic-swap -s "$old" current
  assert_equal "$(readlink current; echo .)" $'releases/41\n\n.'
  # A LINK that did not exist: empty, as -p's empty line says.
  rm current
  eval "$idiom"
  assert_equal "$old" ''
  # A refusal keeps its status through it.
  rm current
  mkdir current
  status=0
  eval "$idiom" 2>/dev/null || status=$?
  assert_equal "$status" 3
}

@test "--expect: the manual's readlink idiom keeps a target ending in a newline, which \$(readlink) alone drops into a false status 1" {
  local idiom swap top=$BATS_TEST_DIRNAME/..
  manual_idiom '^old=\$(readlink current; echo \.)'
  idiom=$IDIOM
  # shellcheck disable=SC2016 # $old as printed
  swap=$(sed -n 's/\\-/-/g; /^atomic-swap -s --expect="\$old" /p' \
           "$top/man/atomic-swap.x")
  [ -n "$swap" ] || fail "no --expect call after the idiom in the manual"
  # Without it, the newline is lost: status 1, though nobody deployed.
  ln -s $'releases/41\n' current
  run atomic-swap -s --expect="$(readlink current)" releases/43 current
  assert_failure 1
  assert_equal "$(readlink current; echo .)" $'releases/41\n\n.'
  # With it, as printed, under set -e: the switch is made.
  run bash -e -c "$idiom"$'\n'"$swap"
  assert_success
  assert_equal "$(readlink current)" releases/43
  # A target without a newline at its end comes back as it is.
  old=unset
  eval "$idiom"
  assert_equal "$old" releases/43
  # No current (a first deploy): empty, as --expect= asks, and set -e
  # does not end the script.
  rm current
  run bash -e -c "$idiom"$'\n'"$swap"
  assert_success
  assert_equal "$(readlink current)" releases/43
}

# What was asked to be printed is part of the change: if it cannot be
# written, the change is undone -- status 3 then means "nothing changed".
@test "--print-old to a full disk: the repointing is undone, status 3" {
  make_releases
  inode=$(stat -c %i current)
  run sh -c 'atomic-swap -p -s releases/b current >/dev/full'
  assert_failure 3
  assert_output "atomic-swap: 'current' was put back as it was (undone): write error on standard output: No space left on device"
  # The very same link, not a copy of it.
  assert_equal "$(readlink current)" releases/a
  assert_equal "$(stat -c %i current)" "$inode"
  assert_no_temporaries atomic-swap

  # -v too, and for a LINK that did not exist: it does not exist again.
  run sh -c 'atomic-swap -v -s releases/b new >/dev/full'
  assert_failure 3
  [ ! -e new ] && [ ! -L new ]
  # --exchange-dir: the directory is LINK again.
  mkdir www
  : >www/index.html
  inode=$(stat -c %i www)
  run sh -c 'atomic-swap -q -p -s --exchange-dir releases/b www >/dev/full'
  assert_failure 3
  [ -d www ] && [ ! -L www ]
  assert_equal "$(stat -c %i www)" "$inode"
  [ -z "$(compgen -G 'www.atomic-swap-backup.*')" ]
  # With --expect the undo happens under the lock, which is then gone.
  run sh -c 'atomic-swap -p -s --expect=releases/a releases/b current >/dev/full'
  assert_failure 3
  assert_equal "$(readlink current)" releases/a
  assert_no_leftovers
}

@test "-v to a full disk: an exchange or a move is undone, status 3" {
  echo one >x
  echo two >y
  run sh -c 'atomic-swap -v x y >/dev/full'
  assert_failure 3
  assert_output "atomic-swap: 'x' and 'y' were exchanged back (undone): write error on standard output: No space left on device"
  assert_equal "$(cat x)" one
  assert_equal "$(cat y)" two
  run sh -c 'atomic-swap -v -n x z >/dev/full'
  assert_failure 3
  assert_output "atomic-swap: 'x' was moved back from 'z' (undone): write error on standard output: No space left on device"
  assert_equal "$(cat x)" one
  [ ! -e z ]
}

# fill_fifo FIFO: open FIFO read-write on descriptor 5 of this shell,
# which holds the only read end and never reads, and fill it up.
fill_fifo() {
  mkfifo "$1"
  exec 5<>"$1"
  dd if=/dev/zero of="$1" bs=4096 count=1024 oflag=nonblock 2>/dev/null ||
    true
}

# end_stuck PID: send SIGTERM to PID, and set DIED to yes if it ends
# while the full pipe still holds its output, and STATUS to its status.
end_stuck() {
  local i
  DIED=no
  kill -TERM "$1"
  for ((i = 0; i < 1000; i++)); do
    if is_dead "$1"; then DIED=yes; break; fi
    sleep 0.01
  done
  # Let a stuck atomic-swap go (EPIPE) before anything can fail.
  exec 5<&-
  STATUS=0
  wait "$1" || STATUS=$?
}

@test "-v into a full pipe nobody reads: SIGTERM still ends atomic-swap, the change undone" {
  ln -s a current
  # This shell holds the only read end and never reads.
  fill_fifo fifo
  atomic-swap -v -s b current >fifo 2>err 5<&- 3>&- &
  local pid=$!
  # The change is made; what -v says cannot be written.
  points_to_b() { [ "$(readlink current)" = b ]; }
  wait_until points_to_b
  end_stuck "$pid"
  assert_equal "$DIED" yes
  assert_equal "$STATUS" $((128 + 15))
  assert_equal "$(cat err)" "atomic-swap: 'current' was put back as it was (undone): write error on standard output: Interrupted system call"
  assert_equal "$(readlink current)" a
  assert_no_leftovers
}

@test "-v with standard error in the same full pipe: SIGTERM still ends atomic-swap, the change undone" {
  ln -s a current
  fill_fifo fifo
  # What -v says cannot be written; nor can the undo's message after it,
  # which is written with the signal held, as the undo is.
  atomic-swap -v -s b current >fifo 2>&1 5<&- 3>&- &
  local pid=$!
  points_to_b() { [ "$(readlink current)" = b ]; }
  wait_until points_to_b
  end_stuck "$pid"
  assert_equal "$DIED" yes
  assert_equal "$STATUS" $((128 + 15))
  assert_equal "$(readlink current)" a
  assert_no_leftovers
}

@test "a refusal into a full standard error pipe: SIGTERM still ends atomic-swap, no temporary left" {
  mkdir current
  fill_fifo fifo
  atomic-swap -s b current 2>fifo 5<&- 3>&- &
  local pid=$!
  # The temporary exists only with the cleanup signals blocked: the
  # refusal (a directory at LINK) is written with the signal held.
  temporary_made() {
    [ -n "$(find . -maxdepth 1 -name '.atomic-swap.*' -print)" ]
  }
  wait_until temporary_made
  end_stuck "$pid"
  assert_equal "$DIED" yes
  assert_equal "$STATUS" $((128 + 15))
  [ -d current ] && [ ! -L current ]
  assert_no_leftovers
}

@test "--print-old and -v into a closed pipe: undone, status 3, whether or not SIGPIPE is ignored" {
  make_releases
  echo one >x
  echo two >y
  for pipe_signal in default ignored; do
    if [ "$pipe_signal" = ignored ]; then trap '' PIPE; fi
    run with_closed_pipe atomic-swap -p -s releases/b current
    assert_failure 3
    assert_output "atomic-swap: 'current' was put back as it was (undone): write error on standard output: Broken pipe"
    assert_equal "$(readlink current)" releases/a
    run with_closed_pipe atomic-swap -v x y
    assert_failure 3
    assert_equal "$(cat x)" one
    trap - PIPE
  done
  assert_no_temporaries atomic-swap
}

@test "a message into a pipe nobody reads, or a full stderr, changes no status: 1, not SIGPIPE or 3" {
  mkdir a b
  run broken_stderr atomic-swap -n a b
  assert_output exit=1
  run sh -c 'atomic-swap -n a b 2>/dev/full'
  assert_failure 1
  [ -d a ] && [ -d b ] && [ ! -e b/a ]
}

# NFS and FUSE report a write that failed only when the file is closed.
# That close must come while the change can be undone: at exit it could
# only give status 3 with the change made.
# run_failing_stdout_close COMMAND...: run COMMAND (as bats' run does),
# its standard output going to the file out, with the close(2) of that
# standard output failing with EIO (found in a first, traced run, whose
# change RESET undoes).
run_failing_stdout_close() {
  strace -o close-trace -e trace=close "$@" >out 2>/dev/null || true
  local n
  n=$(grep -n '^close(1)' close-trace | head -n 1 | cut -d: -f1)
  [ -n "$n" ] || fail "no close(1) in: $(cat close-trace)"
  rm close-trace
  $RESET
  to_out() { "$@" >out; }
  run to_out strace -o /dev/null -e inject=close:error=EIO:when="$n" "$@"
}

@test "--print-old and -v to a file whose close fails: undone, status 3" {
  command -v strace >/dev/null || skip "strace is not installed"
  make_releases
  echo one >x
  echo two >y
  RESET="atomic-swap -s releases/a current"
  run_failing_stdout_close atomic-swap -p -s releases/b current
  assert_failure 3
  assert_output "atomic-swap: 'current' was put back as it was (undone): write error on standard output: Input/output error"
  assert_equal "$(readlink current)" releases/a
  RESET="atomic-swap x y"
  run_failing_stdout_close atomic-swap -v x y
  assert_failure 3
  assert_output "atomic-swap: 'x' and 'y' were exchanged back (undone): write error on standard output: Input/output error"
  assert_equal "$(cat x)" one
  RESET="atomic-swap -n z x"
  run_failing_stdout_close atomic-swap -v -n x z
  assert_failure 3
  assert_output "atomic-swap: 'x' was moved back from 'z' (undone): write error on standard output: Input/output error"
  assert_equal "$(cat x)" one
  [ ! -e z ]
  assert_no_temporaries atomic-swap
}

# NFS reports a failed write again at close(2): the undo's message is
# the only one, not followed by close_stdout's at exit.
@test "-v to a file whose write and close both fail: undone, said once" {
  command -v strace >/dev/null || skip "strace is not installed"
  echo one >x
  echo two >y
  # The first write(2) is the line; find the close(2) of fd 1 after it.
  strace -o close-trace -e trace=close,write \
    -e inject=write:error=EIO:when=1 \
    atomic-swap -v x y >out 2>/dev/null || true
  local n
  n=$(grep '^close(' close-trace | grep -n '^close(1)' | head -n 1 |
      cut -d: -f1)
  [ -n "$n" ] || fail "no close(1) in: $(cat close-trace)"
  rm close-trace
  assert_equal "$(cat x)" one
  to_out() { "$@" >out; }
  run to_out strace -o /dev/null -e inject=write:error=EIO:when=1 \
    -e inject=close:error=EIO:when="$n" atomic-swap -v x y
  assert_failure 3
  assert_output "atomic-swap: 'x' and 'y' were exchanged back (undone): write error on standard output: Input/output error"
  assert_equal "$(cat x)" one
  assert_equal "$(cat y)" two
}

@test "an undo that finds LINK changed by someone else leaves that change standing" {
  require_shim
  make_releases
  # Stopped just before the undo (its second renameat2), while another
  # deployer repoints LINK: the undo must not throw that change away.
  start_with_shim faults FAULT_PAUSE=renameat2:2 \
    sh -c 'exec atomic-swap -p -s releases/b current >/dev/full 2>err'
  pid=$SHIM_PID
  wait_until paused_at faults renameat2 2
  assert_equal "$(readlink current)" releases/b
  atomic-swap -s releases/c current
  go_on faults renameat2 2
  status=0
  wait "$pid" || status=$?
  assert_equal "$status" 3
  assert_equal "$(cat err)" "atomic-swap: 'current' cannot be put back as it was, since another process changed it meanwhile (its change stands): write error on standard output: No space left on device"
  assert_equal "$(readlink current)" releases/c
  assert_no_temporaries atomic-swap
}

# overtaken_repoint N [OPTION]...: run 'atomic-swap -v OPTION... -s
# releases/b current' with its output unwritable, stopped at its Nth
# renameat2 (the undo) while another deployer repoints current to
# releases/c; its next renameat2, which would put that change back,
# fails (EIO).  Its status in $status, its message in ./err.
overtaken_repoint() {
  local n=$1 pid
  shift
  start_with_shim faults FAULT_PAUSE=renameat2:"$n" \
    FAULT_FAIL=renameat2:$((n + 1)):5 \
    sh -c 'exec atomic-swap -v "$@" -s releases/b current >/dev/full 2>err' \
    sh "$@"
  pid=$SHIM_PID
  wait_until paused_at faults renameat2 "$n"
  atomic-swap -s releases/c current
  go_on faults renameat2 "$n"
  status=0
  wait "$pid" || status=$?
  rm -r faults
}

@test "an overtaken undo that cannot put the other change back says where it is left" {
  require_shim
  make_releases
  # Stopped just before the undo (its second renameat2) while another
  # deployer repoints LINK; the third renameat2, which would put that
  # change back, fails.
  overtaken_repoint 2
  assert_equal "$status" 3
  [[ $(cat err) =~ ^"atomic-swap: write error on standard output: No space left on device
atomic-swap: 'current' cannot be put back as it was, since another process changed it meanwhile; what it put at 'current' is left at '"(\.atomic-swap[^\']*)"', as it cannot be moved back: Input/output error"$ ]] ||
    fail "unexpected: $(cat err)"
  # The other deployer's link is kept, not removed as a temporary.
  assert_equal "$(readlink "${BASH_REMATCH[1]}")" releases/c
  assert_equal "$(readlink current)" releases/a
  # With -b over an older LINK~ (renameat2 2 and 3 keep the old link as
  # LINK~), the undo's exchange with LINK~ brings the other link there,
  # and the older LINK~, held at the temporary name, must stay too.
  rm -f .atomic-swap* current~ err
  ln -sfn releases/a current
  ln -s releases/0 current~
  overtaken_repoint 4 -b
  assert_equal "$status" 3
  [[ $(cat err) =~ ^"atomic-swap: write error on standard output: No space left on device
atomic-swap: 'current' cannot be put back as it was, since another process changed it meanwhile; what it put at 'current' is left at 'current~', as it cannot be moved back: Input/output error
atomic-swap: the older backup that was 'current~' is kept as '"(\.atomic-swap[^\']*)"'"$ ]] ||
    fail "unexpected: $(cat err)"
  assert_equal "$(readlink "${BASH_REMATCH[1]}")" releases/0
  assert_equal "$(readlink current~)" releases/c
  assert_equal "$(readlink current)" releases/a
}

# overtaken_undo NAME CONTENT OPERAND...: run 'atomic-swap -v OPERAND...'
# with its output unwritable, stopped just before its undo (its second
# renameat2) while another process puts a file holding CONTENT at NAME;
# its status in $status, its message in ./err.  FAULT_FAIL, if set, is
# passed to the fault shim.
overtaken_undo() {
  local name=$1 content=$2 pid
  shift 2
  start_with_shim faults FAULT_PAUSE=renameat2:2 \
    ${FAULT_FAIL:+FAULT_FAIL=$FAULT_FAIL} \
    sh -c 'exec atomic-swap -v "$@" >/dev/full 2>err' sh "$@"
  pid=$SHIM_PID
  wait_until paused_at faults renameat2 2
  echo "$content" >"$name.new"
  mv "$name.new" "$name"
  go_on faults renameat2 2
  status=0
  wait "$pid" || status=$?
  rm -r faults
}

@test "exchange and -n with -v: an undo that finds a name changed by someone else leaves that change standing" {
  require_shim
  echo one >x
  echo two >y
  # The undo must not move the file put at y to x.
  overtaken_undo y three x y
  assert_equal "$status" 3
  assert_equal "$(cat err)" "atomic-swap: 'x' and 'y' cannot be exchanged back, since another process changed one of them meanwhile (its change stands): write error on standard output: No space left on device"
  assert_equal "$(cat x)" two
  assert_equal "$(cat y)" three
  # The same for a move: the file put at z meanwhile stays there.
  overtaken_undo z four -n x z
  assert_equal "$status" 3
  assert_equal "$(cat err)" "atomic-swap: 'x' cannot be moved back from 'z', since another process changed 'z' meanwhile (its change stands): write error on standard output: No space left on device"
  [ ! -e x ]
  assert_equal "$(cat z)" four
}

@test "exchange and -n with -v: an overtaken undo that cannot put the other change back says where it is left" {
  require_shim
  echo one >x
  echo two >y
  # The third renameat2, which would put back what the undo took from
  # the other process, fails.
  FAULT_FAIL=renameat2:3:5 overtaken_undo y three x y
  assert_equal "$status" 3
  assert_equal "$(cat err)" "atomic-swap: write error on standard output: No space left on device
atomic-swap: 'x' and 'y' cannot be exchanged back, since another process changed one of them meanwhile; what it put in place is left at the other name, as they cannot be exchanged again: Input/output error"
  assert_equal "$(cat x)" three
  assert_equal "$(cat y)" two
  # A move: the file put at z meanwhile is left at x, and no name says
  # its change stands.
  rm -f x y z
  echo one >x
  FAULT_FAIL=renameat2:3:5 overtaken_undo z four -n x z
  assert_equal "$status" 3
  assert_equal "$(cat err)" "atomic-swap: write error on standard output: No space left on device
atomic-swap: 'x' cannot be moved back from 'z', since another process changed 'z' meanwhile; what it put at 'z' is left at 'x', as it cannot be moved back: Input/output error"
  assert_equal "$(cat x)" four
  [ ! -e z ]
}

# --- --backup ---------------------------------------------------------------------

@test "-b keeps the replaced link as LINK~, a symbolic link to the old target" {
  make_releases
  inode=$(stat -c %i current)
  run --separate-stderr atomic-swap -b -v -s releases/b current
  assert_success
  assert_output "'current' -> 'releases/b' (was 'releases/a', kept as 'current~')"
  assert_equal "$(readlink current)" releases/b
  assert_equal "$(readlink current~)" releases/a
  # The old link itself, moved: the same inode.
  assert_equal "$(stat -c %i current~)" "$inode"
  # A second change replaces the older backup, which was a symlink.
  atomic-swap -b -s releases/a current
  assert_equal "$(readlink current~)" releases/b
  # Rolling back is one more call with the backup's target.
  atomic-swap -s "$(readlink current~)" current
  assert_equal "$(readlink current)" releases/b
  # An absent LINK has nothing to keep.
  atomic-swap -b -s releases/a brand-new
  [ ! -e brand-new~ ] && [ ! -L brand-new~ ]
  # With --expect and -p, in a subdirectory.
  mkdir deploy
  ln -s old deploy/current
  run --separate-stderr atomic-swap -b -p -s --expect=old new deploy/current
  assert_success
  assert_output old
  assert_equal "$(readlink deploy/current~)" old
  assert_no_leftovers
  assert_no_leftovers deploy
}

@test "-v names the kept link of a LINK in the root directory with one slash" {
  require_root
  local link=/atomic-swap-test.$$
  [ ! -e "$link" ] && [ ! -L "$link" ] || skip "$link exists"
  ln -s old "$link" 2>/dev/null || skip "/ is not writable"
  run --separate-stderr atomic-swap -v -b -s new "$link"
  local kept
  kept=$(readlink "$link~")
  rm -f "$link" "$link~"
  assert_success
  assert_output "'$link' -> 'new' (was 'old', kept as '$link~')"
  assert_equal "$kept" old
}

@test "-v names the kept link and the kept directory from the current directory, as the other messages do" {
  mkdir -p deploy/www
  ln -s old deploy/current
  run --separate-stderr atomic-swap -v -b -s new deploy/current
  assert_success
  assert_output "'deploy/current' -> 'new' (was 'old', kept as 'deploy/current~')"
  assert_equal "$(readlink deploy/current~)" old
  run --separate-stderr atomic-swap -v -s --exchange-dir new deploy/www
  assert_success
  [[ $output =~ ^\'deploy/www\'\ -\>\ \'new\'\ \(was\ a\ directory,\ kept\ as\ \'(deploy/www\.atomic-swap-backup\.[A-Za-z0-9]{6})\'\)$ ]] ||
    fail "unexpected: $output"
  [ -d "${BASH_REMATCH[1]}" ] && [ ! -L "${BASH_REMATCH[1]}" ]
}

@test "-b: a LINK~ that is not a symbolic link is never replaced; nothing changes" {
  make_releases
  echo precious >current~
  before=$(listing .)
  run atomic-swap -b -s releases/b current
  assert_failure 3
  assert_output "atomic-swap: 'current~' exists and is not a symbolic link, so the old link of 'current' cannot be kept there; not changed"
  rm current~
  mkdir current~
  run atomic-swap -b -s releases/b current
  assert_failure 3
  assert_equal "$(readlink current)" releases/a
  assert_no_temporaries atomic-swap
}

@test "-b --expect: a LINK that is not as expected is status 1 (unsaid with -q) before a LINK~ that is no symbolic link, as on FUSE" {
  make_releases
  echo precious >current~
  # --expect= : create only if absent.  LINK exists: the answer is no.
  run --separate-stderr atomic-swap -q -b -s --expect= releases/b current
  assert_failure 1
  assert_equal "$stderr" ""
  run --separate-stderr atomic-swap -b -s --expect=releases/z releases/b current
  assert_failure 1
  assert_equal "$stderr" "atomic-swap: 'current' points to 'releases/a', not 'releases/z'; not changed"
  assert_equal "$(readlink current)" releases/a
  assert_equal "$(cat current~)" precious
  assert_no_temporaries atomic-swap
}

@test "-b: LINK/ that leads to no directory is refused for that before a LINK~ that is no symbolic link, as on FUSE" {
  echo data >file
  ln -s file tofile
  echo precious >tofile~
  run atomic-swap -b -s releases/b tofile/
  assert_failure 3
  assert_output "atomic-swap: 'tofile/' points to 'file', which is not a directory as its trailing slash requires; not replaced"
  assert_equal "$(readlink tofile)" file
  assert_equal "$(cat tofile~)" precious
}

@test "-b where no backup is made (LINK absent, a directory --exchange-dir keeps): a LINK~ that is no symbolic link does not refuse" {
  mkdir www
  : >www/index.html
  echo precious >new~
  echo precious >www~
  run --separate-stderr atomic-swap -b -s releases/a new
  assert_success
  assert_equal "$(readlink new)" releases/a
  run --separate-stderr atomic-swap -b -v -s --exchange-dir releases/a www
  assert_success
  [[ $output =~ ^\'www\'\ -\>\ \'releases/a\'\ \(was\ a\ directory,\ kept\ as\ \'(www\.atomic-swap-backup\.[A-Za-z0-9]{6})\'\)$ ]] ||
    fail "unexpected: $output"
  [ -f "${BASH_REMATCH[1]}/index.html" ]
  assert_equal "$(readlink www)" releases/a
  assert_equal "$(cat new~ www~)" "$(printf 'precious\nprecious')"
  assert_no_temporaries atomic-swap
}

@test "-b: LINK absent at the look, made a symbolic link before the rename, LINK~ a file: undone, LINK~ kept" {
  require_shim
  mkdir releases
  echo precious >current~
  # The pause is at the making of the temporary link, after the look
  # at LINK (absent: no backup to make, LINK~ not a concern).
  start_with_shim faults FAULT_PAUSE=symlinkat:1 \
    sh -c 'exec atomic-swap -b -s releases/b current 2>err'
  pid=$SHIM_PID
  wait_until paused_or_dead faults/paused.symlinkat.1 "$pid"
  ln -s releases/theirs current
  go_on faults symlinkat 1
  status=0
  wait "$pid" || status=$?
  assert_equal "$status" 3
  assert_equal "$(cat err)" "atomic-swap: 'current' was put back as it was (undone): cannot keep the old link of 'current' as 'current~': File exists"
  assert_equal "$(readlink current)" releases/theirs
  assert_equal "$(cat current~)" precious
  assert_no_temporaries atomic-swap
}

@test "-b: LINK~ made a directory between the check and the rename: undone, the directory kept" {
  require_shim
  make_releases
  start_with_shim faults FAULT_PAUSE=renameat2:2 atomic-swap -b -s releases/b current
  pid=$SHIM_PID
  wait_until paused_at faults renameat2 2
  mkdir current~
  : >current~/precious
  go_on faults renameat2 2
  status=0
  wait "$pid" || status=$?
  assert_equal "$status" 3
  assert_equal "$(readlink current)" releases/a
  [ -e current~/precious ]
  assert_no_temporaries atomic-swap
}

@test "-b: an older LINK~ that cannot be examined is put back, and the error is named" {
  command -v strace >/dev/null || skip "strace is not installed"
  make_releases
  ln -s releases/0 current~
  # The fstatat that looks at what the exchange with LINK~ brought back:
  # the first one after that exchange (found in a traced run).
  strace -o trace -e trace=newfstatat,renameat2 atomic-swap -b -s releases/b current
  n=$(awk '/RENAME_EXCHANGE/ && /"current~"/ { after = 1 }
           /^newfstatat/ { k++; if (after) { print k; exit } }' trace)
  [ -n "$n" ] || fail "no fstatat after the exchange: $(cat trace)"
  atomic-swap -s releases/a current
  ln -sfn releases/0 current~
  run strace -o /dev/null -e trace=newfstatat \
    -e inject=newfstatat:error=EIO:when="$n" atomic-swap -b -s releases/b current
  assert_failure 3
  assert_output "atomic-swap: 'current' was put back as it was (undone): cannot keep the old link of 'current' as 'current~': Input/output error"
  assert_equal "$(readlink current)" releases/a
  assert_equal "$(readlink current~)" releases/0
  assert_no_temporaries atomic-swap
}

@test "-b -v: an undo that cannot put the older LINK~ back keeps it, and says so" {
  command -v strace >/dev/null || skip "strace is not installed"
  make_releases
  ln -s releases/0 current~
  to_full() { "$@" >/dev/full; }
  # The undo's last step exchanges the older backup, held at the
  # temporary name, back with LINK~: the last renameat2 of a traced run.
  strace -o trace -e trace=renameat2 \
    atomic-swap -b -v -s releases/b current >/dev/full 2>/dev/null || true
  n=$(grep -c '^renameat2(' trace)
  grep '^renameat2(' trace | tail -n 1 | grep -q 'RENAME_EXCHANGE' ||
    fail "the last renameat2 is not an exchange: $(cat trace)"
  assert_equal "$(readlink current)" releases/a
  assert_equal "$(readlink current~)" releases/0
  run to_full strace -o /dev/null -e trace=renameat2 \
    -e inject=renameat2:error=EIO:when="$n" \
    atomic-swap -b -v -s releases/b current
  assert_failure 3
  [[ $output =~ ^"atomic-swap: write error on standard output: No space left on device
atomic-swap: 'current' was put back as it was, but its older backup cannot be put back as 'current~': it is kept as '"(\.atomic-swap[^\']*)"': Input/output error"$ ]] ||
    fail "unexpected: $output"
  local kept=${BASH_REMATCH[1]}
  assert_equal "$(readlink current)" releases/a
  # The older backup is not lost, and LINK~ does not name the undone
  # change.
  assert_equal "$(readlink "$kept")" releases/0
  [ ! -e current~ ] && [ ! -L current~ ]
}

# Make the releases, current and an older current~ (to releases/0), and
# print the number of the renameat2 that puts the older LINK~ back in
# the undo of 'atomic-swap -b -v -s releases/b current' (output to
# /dev/full): the last one of a traced run.
backup_put_back_call() {
  make_releases
  ln -s releases/0 current~
  strace -o trace -e trace=renameat2 \
    atomic-swap -b -v -s releases/b current >/dev/full 2>/dev/null || true
  grep '^renameat2(' trace | tail -n 1 | grep -q 'RENAME_EXCHANGE' ||
    fail "the last renameat2 is not an exchange: $(cat trace)"
  grep -c '^renameat2(' trace
}

@test "-b -v: an undo that cannot put the older LINK~ back, nor remove our link from LINK~, says where each is" {
  command -v strace >/dev/null || skip "strace is not installed"
  to_full() { "$@" >/dev/full; }
  local n
  n=$(backup_put_back_call)
  run to_full strace -o /dev/null -e trace=renameat2,unlinkat \
    -e inject=renameat2:error=EIO:when="$n" \
    -e inject=unlinkat:error=EIO:when=1 \
    atomic-swap -b -v -s releases/b current
  assert_failure 3
  [[ $output =~ ^"atomic-swap: write error on standard output: No space left on device
atomic-swap: 'current' was put back as it was, but its older backup cannot be put back as 'current~', which points to 'releases/b': it is kept as '"(\.atomic-swap[^\']*)"': Input/output error"$ ]] ||
    fail "unexpected: $output"
  local kept=${BASH_REMATCH[1]}
  assert_equal "$(readlink current)" releases/a
  assert_equal "$(readlink "$kept")" releases/0
  assert_equal "$(readlink current~)" releases/b
}

# The undo of 'atomic-swap -b -v -s releases/b current >/dev/full 2>err',
# run as $BG, could not put the older current~ back (EIO), and another
# process made current~ -> elsewhere meanwhile.  Check its status 3, its
# message (BUT: what it says after "cannot be put back as 'current~'"),
# and that current, the older backup and their current~ are as they
# should be.
assert_other_backup_kept() {
  local but=$1 status=0 kept
  wait "$BG" || status=$?
  assert_equal "$status" 3
  run cat err
  [[ $output =~ ^"atomic-swap: write error on standard output: No space left on device
atomic-swap: 'current' was put back as it was, but its older backup cannot be put back as 'current~'$but: it is kept as '"(\.atomic-swap[^\']*)"': Input/output error"$ ]] ||
    fail "unexpected: $output"
  kept=${BASH_REMATCH[1]}
  assert_equal "$(readlink current)" releases/a
  assert_equal "$(readlink "$kept")" releases/0
  assert_equal "$(readlink current~)" elsewhere
}

@test "-b -v: an undo that cannot put the older LINK~ back leaves a LINK~ another process made meanwhile" {
  command -v strace >/dev/null || skip "strace is not installed"
  require_shim
  local n
  n=$(backup_put_back_call)
  # The put-back fails (EIO) and is held (the shim) until another
  # process has made its own current~.  Before, the undo then removed
  # it, taking it for our new link.  The undo's exchange before it has
  # put our link (to releases/b) at current~.
  start_with_shim fa FAULT_PAUSE=renameat2:"$n" \
    FAULT_FAIL=renameat2:"$n":5 \
    atomic-swap -b -v -s releases/b current >/dev/full 2>err
  BG=$SHIM_PID
  wait_until paused_at fa renameat2 "$n"
  assert_equal "$(readlink current~)" releases/b
  ln -sfn elsewhere current~
  go_on fa renameat2 "$n"
  assert_other_backup_kept ", which another process changed meanwhile"
}

@test "-b -v: an undo that cannot put the older LINK~ back leaves a LINK~ another process makes as it removes ours" {
  command -v strace >/dev/null || skip "strace is not installed"
  local n
  n=$(backup_put_back_call)
  # The put-back fails (EIO); the undo then removes our link from
  # current~.  That removal is held (the shim) until another process
  # has made its own current~.  Before, the undo looked at current~,
  # found our link, and then removed current~ by name: theirs, made
  # between the two.
  require_shim
  start_with_shim fa FAULT_FAIL=renameat2:"$n":5 FAULT_PAUSE=unlinkat:1 \
    atomic-swap -b -v -s releases/b current >/dev/full 2>err
  BG=$SHIM_PID
  wait_until paused_at fa unlinkat 1
  ln -sfn elsewhere current~
  go_on fa unlinkat 1
  assert_other_backup_kept ""
  [ "$(ls -A | grep -c '^\.atomic-swap')" = 1 ] || fail "left: $(ls -A)"
}

# --- --relative ------------------------------------------------------------------

@test "relative_path: the tricky cases" {
  check() { assert_equal "$(relpath-test "$1" "$2")" "$3"; }
  check /a/b/c /a/b c
  check /a/x /a/b ../x
  check /a /a/b ..
  check /a/b /a/b .
  check / / .
  check / /a ..
  check /a/b / a/b
  check /ab /a ../ab
  check /a /ab ../a
  check /x/y/z /p/q ../../x/y/z
  check /a/b/c /a/b/c/d/e ../..
  check /srv/releases/42 /srv/www ../releases/42
}

@test "--relative stores TARGET relative to LINK's directory, as ln -r does" {
  mkdir -p releases/1 deploy/sub real/deep/dir
  echo one >releases/1/index.html
  ln -s real/deep/dir linked
  ln -s releases rels

  # TARGET is named from the current directory; the stored target leads
  # from LINK's directory.  GNU ln -r is the oracle.
  compare() {
    local target=$1 link=$2
    atomic-swap -r -s "$target" "$link"
    ln -sr "$target" "$link.ln"
    assert_equal "$(readlink "$link")" "$(readlink "$link.ln")"
    assert_equal "$(cat "$link/index.html")" one
  }
  compare releases/1 current                 # same directory: releases/1
  compare releases/1 deploy/current          # sibling: ../releases/1
  compare releases/1 deploy/sub/current      # ../../releases/1
  compare deploy/../releases/1 deploy/c2     # '..' in TARGET
  compare "$PWD/releases/1" deploy/abs       # absolute TARGET
  compare releases/1 linked/current          # symlinked parent of LINK
  compare rels/1 deploy/via-link             # symlinked directory in TARGET

  assert_equal "$(readlink deploy/current)" ../releases/1
  assert_equal "$(readlink linked/current)" ../../../releases/1
  # The link lives in the real directory.
  [ -L real/deep/dir/current ]

  # A target in LINK's own directory; LINK's directory itself.
  atomic-swap -r -s deploy/sub deploy/s
  assert_equal "$(readlink deploy/s)" sub
  atomic-swap -r -s deploy deploy/self
  assert_equal "$(readlink deploy/self)" .
  assert_no_temporaries atomic-swap
  assert_no_temporaries atomic-swap deploy
}

# --- --check-target ----------------------------------------------------------------

@test "-s: a TARGET too long for a symbolic link is named as the problem, not LINK; nothing changed" {
  mkdir rel
  ln -s rel current
  local long
  long=$(printf '%04096d' 0)
  run atomic-swap -s "$long" current
  assert_failure 3
  assert_output "atomic-swap: cannot create symbolic link 'current': its target is too long (4096 bytes)"
  assert_equal "$(readlink current)" rel
  assert_no_temporaries atomic-swap
  # One byte less fits.
  run atomic-swap -s "${long%0}" current
  assert_success
  assert_equal "$(readlink current)" "${long%0}"
}

@test "--check-target refuses a TARGET that does not exist from LINK's directory" {
  mkdir -p deploy/releases/1 releases/2
  ln -s releases/1 deploy/current
  # releases/2 exists from here, but not from deploy/: a typo would
  # publish a dangling link.
  run atomic-swap --check-target -s releases/2 deploy/current
  assert_failure 3
  assert_output --partial "refusing to point 'deploy/current' to 'releases/2', as seen from 'deploy'"
  assert_equal "$(readlink deploy/current)" releases/1
  assert_no_temporaries atomic-swap deploy

  run atomic-swap --check-target -s releases/3 deploy/current
  assert_failure 3

  # Resolved from deploy/, it exists.
  mkdir deploy/releases/2
  run atomic-swap --check-target -s releases/2 deploy/current
  assert_success
  assert_equal "$(readlink deploy/current)" releases/2
  # With -r, TARGET is named from here and stored relative.
  run atomic-swap -r --check-target -s releases/2 deploy/current
  assert_success
  assert_equal "$(readlink deploy/current)" ../releases/2

  # Without the option a dangling link is allowed, as with ln -s.
  atomic-swap -s releases/9 deploy/current
  assert_equal "$(readlink deploy/current)" releases/9
}

# --- --exchange-dir --------------------------------------------------------------------

@test "--exchange-dir: a real directory becomes the link and is kept intact" {
  mkdir -p www/css releases/1
  echo live >www/index.html
  echo body >www/css/site.css
  echo new >releases/1/index.html
  before=$(listing www)
  inode=$(stat -c %i www)

  run --separate-stderr atomic-swap -s --exchange-dir releases/1 www
  assert_success
  assert_output ""
  [[ $stderr =~ ^atomic-swap:\ the\ directory\ that\ was\ \'www\'\ is\ kept\ as\ \'(www\.atomic-swap-backup\.[A-Za-z0-9]{6})\'$ ]] ||
    fail "unexpected message: $stderr"
  backup=${BASH_REMATCH[1]}
  assert_equal "$(readlink www)" releases/1
  assert_equal "$(cat www/index.html)" new
  # The old tree, untouched, under the printed name.
  assert_equal "$(stat -c %i "$backup")" "$inode"
  assert_equal "$(listing "$backup")" "$before"
  assert_no_temporaries atomic-swap
}

@test "--exchange-dir with -q still says where the old directory went" {
  mkdir -p www releases/1
  run --separate-stderr atomic-swap -q -s --exchange-dir releases/1 www
  assert_success
  [[ $stderr =~ ^atomic-swap:\ the\ directory\ that\ was\ \'www\'\ is\ kept\ as\ \'www\.atomic-swap-backup\.[A-Za-z0-9]{6}\'$ ]] ||
    fail "unexpected message: $stderr"
}

@test "--exchange-dir with -p prints the backup name, which rolls back" {
  mkdir -p sub/www releases/1
  echo old-site >sub/www/index.html
  echo new >releases/1/index.html
  run --separate-stderr atomic-swap -q -p -r -s --exchange-dir releases/1 sub/www
  assert_success
  [ -z "$stderr" ]
  backup=$output
  [[ $backup =~ ^www\.atomic-swap-backup\.[A-Za-z0-9]{6}$ ]]
  assert_equal "$(cat sub/www/index.html)" new
  # The printed name is a target for LINK, from LINK's directory.
  atomic-swap -s "$backup" sub/www
  assert_equal "$(cat sub/www/index.html)" old-site
  # As --help says (the man page is made from it).
  atomic-swap --help | tr -s ' \n' '  ' |
    grep -qF "the name of a directory --exchange-dir kept" ||
    fail "--help does not say what -p prints for a directory"
}

@test "--exchange-dir: a long UTF-8 name is cut on a character boundary for the backup name" {
  command -v iconv >/dev/null || skip "iconv is not installed"
  # 120 x U+00E9 (2 bytes each) is 240 bytes: with the 26 bytes of
  # '.atomic-swap-backup.XXXXXX' it is cut to fit NAME_MAX (255), and
  # the 229 bytes left would end in half an e-acute.  The name is UTF-8
  # whatever the locale of the call, so the cut is the same in both.
  # Only the part kept must be UTF-8: a byte that is not, past the cut
  # (the second name), changes nothing.
  local e=$'\xc3\xa9' long='' kept='' i loc name
  for ((i = 0; i < 120; i++)); do long+=$e; done
  for ((i = 0; i < 114; i++)); do kept+=$e; done
  for name in "$long" "$long"$'\xff'; do
    for loc in C.UTF-8 C; do
      if [ "$loc" = C.UTF-8 ]; then
        locale -a | grep -qix 'c\.utf-\?8' || continue
      fi
      mkdir -p "$name" releases/1
      echo "old-$loc" >"$name/index.html"
      run --separate-stderr env LC_ALL=$loc \
        atomic-swap -q -p -s --exchange-dir releases/1 "$name"
      assert_success
      [ -z "$stderr" ] || fail "unexpected message: $stderr"
      backup=$output
      printf '%s' "$backup" | iconv -f UTF-8 -t UTF-8 >/dev/null ||
        fail "the backup name is not valid UTF-8 (LC_ALL=$loc): $backup"
      [ "${#backup}" -le 255 ] ||
        fail "the backup name is ${#backup} bytes (LC_ALL=$loc)"
      [[ $backup == "$kept.atomic-swap-backup."?????? ]] ||
        fail "unexpected backup name (LC_ALL=$loc): $backup"
      assert_equal "$(cat "$backup/index.html")" "old-$loc"
      assert_equal "$(readlink "$name")" releases/1
      rm -- "$name"
      rm -r -- "$backup"
    done
  done
  assert_no_temporaries atomic-swap
}

@test "--exchange-dir: a byte that is not UTF-8 right after the cut does not cut the backup name shorter" {
  # The cut for the backup name is at 229 bytes.  A stray continuation
  # byte (0x80) there belongs to no character of the part kept: the
  # 229 bytes before it are kept whole, a character is not dropped.
  local a229='' a227='' e=$'\xc3\xa9' i name kept
  for ((i = 0; i < 227; i++)); do a227+=a; done
  a229=${a227}aa
  for name in "$a229"$'\x80' "$a227$e"$'\x80'; do
    kept=${name%$'\x80'}
    mkdir -p -- "$name" releases/1
    run --separate-stderr env LC_ALL=C \
      atomic-swap -q -p -s --exchange-dir releases/1 "$name"
    assert_success
    [ -z "$stderr" ] || fail "unexpected message: $stderr"
    [[ $output == "$kept.atomic-swap-backup."?????? ]] ||
      fail "unexpected backup name (${#output} bytes): $output"
    assert_equal "$(printf '%s' "$output" | wc -c)" 255
    assert_equal "$(readlink -- "$name")" releases/1
    rm -- "$name"
    rm -r -- "$output"
  done
  assert_no_temporaries atomic-swap
}

@test "an old link or directory kept at its temporary name is named from the current directory" {
  command -v strace >/dev/null || skip "strace is not installed"
  # The exchange is the first renameat2, the backup name the second:
  # make that fail.  The old directory stays at the temporary name, in
  # LINK's directory.  Before, the message gave the bare temporary name.
  mkdir -p sub/www releases/1
  echo old-site >sub/www/index.html
  run strace -qq -o /dev/null -e trace=renameat2 \
    -e inject=renameat2:error=EIO:when=2 \
    atomic-swap -s --exchange-dir releases/1 sub/www
  assert_failure 3
  assert_output --regexp "^atomic-swap: 'sub/www' now points to 'releases/1', but its old directory could not be given a backup name; it is kept as 'sub/\.atomic-swap\.[^']+': Input/output error\$"
  local kept=${output##*kept as \'}
  kept=${kept%%\'*}
  assert_equal "$(cat "$kept/index.html")" old-site
  # What came back from the exchange cannot be read (the second
  # readlinkat; the first reads LINK before): kept as it is, named so.
  ln -s old sub/cur
  run strace -qq -o /dev/null -e trace=readlinkat \
    -e inject=readlinkat:error=EIO:when=2 atomic-swap -s new sub/cur
  assert_failure 3
  assert_output --regexp "^atomic-swap: 'sub/cur' now points to 'new'; cannot examine what it held before, kept as 'sub/\.atomic-swap\.[^']+': Input/output error\$"
  kept=${output##*kept as \'}
  kept=${kept%%\'*}
  assert_equal "$(readlink "$kept")" old
}

@test "--exchange-dir with a symlink or absent LINK behaves as plain -s" {
  make_releases
  atomic-swap -v -s --exchange-dir releases/b current
  assert_equal "$(readlink current)" releases/b
  atomic-swap -s --exchange-dir releases/b new
  assert_equal "$(readlink new)" releases/b
  # A regular file is still refused.
  : >file
  run atomic-swap -s --exchange-dir releases/b file
  assert_failure 3
  [ -f file ]
  [ -z "$(compgen -G '*.atomic-swap-backup.*')" ]
}

# --- filesystems ------------------------------------------------------------------

@test "different filesystems (EXDEV): status 3, nothing changed" {
  require_root
  mkdir other
  mount -t tmpfs -o size=1m tmpfs other || skip "cannot mount tmpfs"
  echo here >here
  echo there >other/there
  run atomic-swap here other/there
  s1=$status o1=$output
  run atomic-swap -n here other/new
  s2=$status o2=$output
  state=$(cat here other/there; ls -A other)
  umount other
  assert_equal "$s1" 3
  [[ $o1 == *"cannot exchange 'here' and 'other/there': the two names are on different mounts"*"cannot be done atomically" ]] ||
    fail "$o1"
  assert_equal "$s2" 3
  [[ $o2 == *"cannot move 'here' to 'other/new': the two names are on different mounts"*"cannot be done atomically" ]] || fail "$o2"
  assert_equal "$state" "$(printf 'here\nthere\nthere')"
}

@test "--check-fs of two names on different mounts says that no rename crosses them, where each filesystem alone is safe" {
  require_root
  mkdir other same bound
  mount -t tmpfs -o size=1m tmpfs other || skip "cannot mount tmpfs"
  # The same filesystem through a bind mount is another mount too.
  mount --bind same bound || { umount other; skip "cannot bind-mount"; }
  echo here >here
  echo there >other/there
  : >same/f
  run atomic-swap --check-fs here other/there
  s1=$status o1=$output
  run atomic-swap here other/there
  s2=$status
  run atomic-swap -n --check-fs here other/new
  s3=$status o3=$output
  run atomic-swap --check-fs here bound/f
  o4=$output
  run atomic-swap --check-fs here same/f
  s5=$status o5=$output
  umount bound
  umount other
  assert_equal "$s1" 0
  [[ $o1 == *$'\n'"'here' and 'other/there' are on different mounts, and no rename crosses mounts: they cannot be exchanged" ]] ||
    fail "$o1"
  # As the call then says.
  assert_equal "$s2" 3
  assert_equal "$s3" 0
  [[ $o3 == *$'\n'"'here' and 'other/new' are on different mounts, and no rename crosses mounts: 'here' cannot be moved to 'other/new'" ]] ||
    fail "$o3"
  [[ $o4 == *"'here' and 'bound/f' are on different mounts"* ]] || fail "$o4"
  # One mount: nothing more than each filesystem's report.
  assert_equal "$s5" 0
  [[ $o5 != *"different mounts"* ]] || fail "$o5"
  assert_equal "$(cat here other/there 2>/dev/null)" here
}

@test "overlay: a lower-layer directory cannot be exchanged: status 3, never a copy" {
  require_root
  mkdir -p lower/www lower/rel upper work merged
  echo live >lower/www/index.html
  mount -t overlay overlay \
    -o lowerdir=lower,upperdir=upper,workdir=work merged ||
    skip "cannot mount overlayfs"
  run atomic-swap -s --exchange-dir rel merged/www
  s1=$status o1=$output
  run atomic-swap merged/www merged/rel
  s2=$status
  www=$(cat merged/www/index.html)
  left=$(find merged -maxdepth 1 -name '.atomic-swap.*' -o -maxdepth 1 -name '*backup*')
  umount merged
  assert_equal "$s1" 3
  [[ $o1 == *"cannot be done atomically here"* ]] || fail "$o1"
  assert_equal "$s2" 3
  assert_equal "$www" live
  assert_equal "$left" ""
}

@test "read-only filesystem: status 3 for every form, nothing changed" {
  require_root
  mkdir ro
  mount -t tmpfs -o size=1m tmpfs ro || skip "cannot mount tmpfs"
  mkdir ro/rel ro/dir
  ln -s rel ro/current
  : >ro/a; : >ro/b
  mount -o remount,ro ro || { umount ro; skip "cannot remount read-only"; }
  statuses=
  for args in "-s dir ro/current" "-p -s dir ro/current" "-s dir ro/new" \
              "ro/a ro/b" "-n ro/a ro/c" "-s --exchange-dir rel ro/dir"; do
    run atomic-swap $args
    statuses="$statuses $status"
    [[ $output == *"Read-only file system"* ]] || { umount ro; fail "$args: $output"; }
  done
  state=$(ls -A ro; readlink ro/current)
  umount ro
  assert_equal "$statuses" " 3 3 3 3 3 3"
  assert_equal "$state" "$(printf 'a\nb\ncurrent\ndir\nrel\nrel')"
}

@test "read-only filesystem: --no-clobber onto an existing DST is status 1, File exists, as where it can write" {
  require_root
  mkdir ro
  mount -t tmpfs -o size=1m tmpfs ro || skip "cannot mount tmpfs"
  : >ro/a; : >ro/b
  mount -o remount,ro ro || { umount ro; skip "cannot remount read-only"; }
  local out1 st1 out2 st2 out3 st3
  run atomic-swap -n ro/a ro/b
  out1=$output st1=$status
  # DST absent, or SRC missing: the read-only mount is the answer.
  run atomic-swap -n ro/a ro/c
  out2=$output st2=$status
  run atomic-swap -n ro/x ro/b
  out3=$output st3=$status
  umount ro
  assert_equal "$st1" 1
  assert_equal "$out1" "atomic-swap: cannot move 'ro/a' to 'ro/b': File exists"
  assert_equal "$st2" 3
  assert_equal "$out2" "atomic-swap: cannot move 'ro/a' to 'ro/c': Read-only file system"
  assert_equal "$st3" 3
  assert_equal "$out3" "atomic-swap: cannot move 'ro/x' to 'ro/b': Read-only file system"
}

@test "-s onto a directory, a file or a slashed non-directory on a read-only or full filesystem: that refusal is named, not the filesystem" {
  require_root
  mkdir fs
  mount -t tmpfs -o size=1m,nr_inodes=8 tmpfs fs || skip "cannot mount tmpfs"
  mkdir fs/rel fs/www
  : >fs/file
  ln -s rel fs/current
  ln -s file fs/tofile
  local out=() st=() i
  for mode in full ro; do
    if [ $mode = full ]; then
      # Use up the inodes: the temporary link cannot be made.
      i=0
      while : 2>/dev/null >"fs/fill.$i"; do i=$((i + 1)); done
    else
      rm -f fs/fill.*
      mount -o remount,ro fs || { umount fs; skip "cannot remount read-only"; }
    fi
    for args in "-s rel fs/www" "-s rel fs/file" "-s rel fs/tofile/"; do
      run atomic-swap $args
      out+=("$output") st+=("$status")
    done
  done
  state=$(cd fs && ls -A && readlink current tofile)
  umount fs
  # Full, --exchange-dir can do it once there is room; read-only, it
  # cannot (EROFS), and is not suggested.
  assert_equal "${out[0]}" "atomic-swap: 'fs/www' is a directory, not a symbolic link; not replaced (use --exchange-dir to exchange it for the symbolic link and keep it under a backup name)"
  assert_equal "${out[3]}" "atomic-swap: 'fs/www' is a directory, not a symbolic link; not replaced"
  for i in 0 3; do
    assert_equal "${st[i]} ${st[i+1]} ${st[i+2]}" "3 3 3"
    assert_equal "${out[i+1]}" "atomic-swap: 'fs/file' exists and is not a symbolic link; not replaced"
    assert_equal "${out[i+2]}" "atomic-swap: 'fs/tofile/' points to 'file', which is not a directory as its trailing slash requires; not replaced"
  done
  assert_equal "$state" "$(printf 'current\nfile\nrel\ntofile\nwww\nrel\nfile')"
}

@test "-s: a directory at LINK that could not be renamed (no write permission, another user's in a sticky directory) is refused without suggesting --exchange-dir" {
  require_root
  require_setpriv
  # The test's own directory is private to root: use one that the
  # unprivileged user can enter.
  PERM_DIR=$(mktemp -d "${TMPDIR:-/tmp}/atomic-swap-perm.XXXXXX")
  chmod 755 "$PERM_DIR"
  cd "$PERM_DIR"
  mkdir -p closed/www sticky/www sticky/own
  chmod 1777 sticky
  chown 65534:65534 sticky/own
  as_nobody atomic-swap --version >/dev/null 2>&1 || skip "atomic-swap cannot run as an unprivileged user here"
  local plain="is a directory, not a symbolic link; not replaced"
  run as_nobody atomic-swap -s rel closed/www
  assert_failure 3
  assert_output "atomic-swap: 'closed/www' $plain"
  run as_nobody atomic-swap -s rel sticky/www
  assert_failure 3
  assert_output "atomic-swap: 'sticky/www' $plain"
  # Where the hint is given, it is right: our own directory there.
  run as_nobody atomic-swap -s rel sticky/own
  assert_failure 3
  assert_output "atomic-swap: 'sticky/own' $plain (use --exchange-dir to exchange it for the symbolic link and keep it under a backup name)"
  run as_nobody atomic-swap -q --exchange-dir -s rel sticky/own
  assert_success
  assert_equal "$(readlink sticky/own)" rel
  [ -d closed/www ] && [ -d sticky/www ] && [ ! -L sticky/www ]
  assert_no_leftovers closed
  assert_no_leftovers sticky
}

@test "-s: a directory at LINK in an append-only directory is refused without suggesting --exchange-dir, which could not move it" {
  mkdir -p d/www
  make_append_only d
  # No entry leaves d, even by a rename: --exchange-dir fails with
  # "Operation not permitted".  (No temporary link is made there: it
  # could not be removed.)
  run atomic-swap -s rel d/www
  local left
  left=$(ls -A d)
  chattr -a d
  assert_failure 3
  assert_output "atomic-swap: 'd/www' is a directory, not a symbolic link; not replaced"
  assert_equal "$left" www
  [ -d d/www ] && [ ! -L d/www ]
}

@test "permission denied: status 3 for every form, nothing changed, no temporary" {
  require_root
  require_setpriv
  # The test's own directory is private to root: use one that the
  # unprivileged user can enter but not write.
  PERM_DIR=$(mktemp -d "${TMPDIR:-/tmp}/atomic-swap-perm.XXXXXX")
  chmod 755 "$PERM_DIR"
  cd "$PERM_DIR"
  mkdir rel dir
  ln -s rel current
  : >a; : >b
  as_nobody atomic-swap --version >/dev/null 2>&1 || skip "atomic-swap cannot run as an unprivileged user here"
  before=$(listing .)
  statuses=
  for args in "-s dir current" "-p -s dir current" "-s --expect=rel dir current" \
              "-s dir new" "a b" "-n a c"; do
    run as_nobody atomic-swap $args
    statuses="$statuses $status"
    [[ $output == *"Permission denied"* ]] || fail "$args: $output"
  done
  assert_equal "$statuses" " 3 3 3 3 3 3"
  assert_equal "$(listing .)" "$before"
  assert_no_temporaries atomic-swap
}

@test "the filesystem check reads mountinfo only where statfs and statx cannot tell" {
  command -v strace >/dev/null || skip "strace is not installed"
  require_root
  mkdir tmpfs ramfs
  mount -t tmpfs -o size=1m tmpfs tmpfs || skip "cannot mount tmpfs"
  # ramfs has no block device (nor has 9p, which can report its host's
  # f_type) and no attribute of its own: the full classification, with
  # mountinfo, is needed.
  if mount -t ramfs ramfs ramfs; then
    strace -f -e trace=openat -o t0 atomic-swap -s rel ramfs/current
    ok=$?
    umount ramfs
    assert_equal "$ok" 0
    grep -q '"/proc/self/mountinfo"' t0
  fi
  # tmpfs has no block device either, but its driver reports the
  # append, immutable and nodump attributes (Linux 6.0 and later),
  # which 9p never does: then it is known without mountinfo.
  mask=$(fsclass-test attributes tmpfs)
  strace -f -e trace=openat -o t1 atomic-swap -s rel tmpfs/current
  ok=$?
  umount tmpfs
  assert_equal "$ok" 0
  if (( (mask & 0x70) == 0x70 )); then
    # (Not '! grep': a negated command does not fail a test midway.)
    if grep -q mountinfo t1; then fail "mountinfo read on tmpfs"; fi
  else
    grep -q '"/proc/self/mountinfo"' t1
  fi
  # ext4 or xfs on a block device: every verdict is safe without it.
  case $(stat -f -c %t .) in
    ef53|58465342) ;;
    *) skip "the test directory is not on ext4 or xfs" ;;
  esac
  [ "$(stat -c %Hd .)" != 0 ] || skip "no block device under the test directory"
  strace -f -e trace=openat -o t2 atomic-swap -s rel current
  ! grep -q mountinfo t2
}

@test "--check-fs names the filesystem and the renameat2 verdicts" {
  run atomic-swap --check-fs .
  assert_success
  assert_line --index 0 --regexp "^\.: [a-z0-9.]+ \(.*filesystem, f_type 0x[0-9a-f]+\)"
  assert_line --regexp "^  RENAME_EXCHANGE +(safe|warn|refuse)"
  assert_line --regexp "^  RENAME_NOREPLACE +(safe|warn|refuse)"
}

@test "-s --check-fs examines LINK only: TARGET is text, not a path" {
  # The link this would make is fine (dangling targets are allowed);
  # TARGET is never looked up, so --check-fs must not fail on it.
  run atomic-swap -s --check-fs nodir/target current
  assert_success
  assert_line --index 0 --regexp "^current: [a-z0-9.]+ \("
  refute_output --partial nodir
  run atomic-swap -s nodir/target current
  assert_success
  assert_equal "$(readlink current)" nodir/target
  # One operand is LINK.
  run atomic-swap -s --check-fs current
  assert_success
  assert_line --index 0 --regexp "^current: "
}

@test "--check-fs refuses the operands the form it checks refuses, before any report" {
  # An extra operand, and -s's empty TARGET, are usage errors of the
  # form itself: --check-fs must not examine the rest and say "safe".
  run atomic-swap -s --check-fs target current extra
  assert_equal "$status" 2
  assert_output "atomic-swap: extra operand 'extra'
Try 'atomic-swap --help' for more information."
  run atomic-swap --check-fs a b extra
  assert_equal "$status" 2
  assert_output "atomic-swap: extra operand 'extra'
Try 'atomic-swap --help' for more information."
  run atomic-swap -s --check-fs '' current
  assert_equal "$status" 2
  assert_output "atomic-swap: TARGET must not be empty (an empty --print-old line means LINK did not exist: to roll that back, remove LINK)
Try 'atomic-swap --help' for more information."
  run atomic-swap -s -n --check-fs target current
  assert_equal "$status" 2
  assert_line --index 0 --partial "atomic-swap: --symlink and --no-clobber cannot be combined"
  assert_equal "${#lines[@]}" 2
}

@test "--check-fs with both operands refuses a '.' or '/' the form refuses; one operand alone is the path to examine" {
  run atomic-swap --check-fs . x
  assert_equal "$status" 2
  assert_output "atomic-swap: invalid operand '.': its last component is '.' or '..', not a name to work on
Try 'atomic-swap --help' for more information."
  run atomic-swap -s --check-fs target /
  assert_equal "$status" 2
  assert_output "atomic-swap: invalid operand '/': it names the root directory, not an entry in a directory
Try 'atomic-swap --help' for more information."
  run atomic-swap -n --check-fs x ..
  assert_equal "$status" 2
  assert_line --index 0 "atomic-swap: invalid operand '..': its last component is '.' or '..', not a name to work on"
  # -s's TARGET is text, never a name to change.
  run atomic-swap -s --check-fs . current
  assert_success
  assert_line --index 0 --regexp "^current: "
  # Alone, '.' and '/' name the filesystem to examine.
  run atomic-swap --check-fs .
  assert_success
  assert_line --index 0 --regexp "^\.: "
  run atomic-swap -s --check-fs /
  assert_success
  assert_line --index 0 --regexp "^/: "
}

# --- signals -------------------------------------------------------------------------

# Run atomic-swap ARGS... stopped just before its first renameat2, with
# its temporary made; send it SIG there, then let it go on.  Sets STATUS
# to its exit status.
interrupt_at_rename() {
  local sig=$1
  shift
  rm -rf faults
  start_with_shim faults FAULT_PAUSE=renameat2:1 atomic-swap "$@"
  local pid=$SHIM_PID
  wait_until paused_at faults renameat2 1
  compgen -G '.atomic-swap.*' >/dev/null || fail "no temporary before the rename"
  kill -s "$sig" "$pid"
  go_on faults renameat2 1
  STATUS=0
  wait "$pid" || STATUS=$?
}

@test "a signal mid-operation: the change completes, then the signal ends it; no temporary" {
  require_shim
  make_releases
  # SIGALRM is no cleanup signal, but is held all the same (SIGNALS
  # in the manual).
  for sig in TERM INT HUP ALRM; do
    interrupt_at_rename "$sig" -s releases/b current
    # The repointing had begun: the signal waits until it is complete
    # (the old link removed), then atomic-swap dies of it.
    assert_equal "$STATUS" $((128 + $(kill -l "$sig")))
    assert_equal "$(readlink current)" releases/b
    assert_no_temporaries atomic-swap
    [ "$(ls -A | sort | tr '\n' ' ')" = "current faults releases " ] ||
      fail "left behind after SIG$sig: $(ls -A)"
    atomic-swap -s releases/a current
  done
  # A new link, too.
  interrupt_at_rename TERM -s releases/b brand-new
  assert_equal "$STATUS" 143
  assert_equal "$(readlink brand-new)" releases/b
  assert_no_temporaries atomic-swap
}

# The exchange and --no-clobber forms have no temporary, but what -v
# prints is part of the change: a signal that comes with the rename
# waits until the line is written, or the change undone, as with -s.
@test "exchange and -n with -v: a signal at the rename or the write ends atomic-swap only once the change is said or undone" {
  command -v strace >/dev/null || skip "strace is not installed"
  to_full() { "$@" >/dev/full; }
  echo one >x
  echo two >y
  # The signal comes as the exchange is made: the line still says so.
  run --separate-stderr strace -o /dev/null -e trace=renameat2 \
    -e inject=renameat2:signal=TERM:when=1 atomic-swap -v x y
  assert_equal "$status" 143
  assert_output "'x' <-> 'y'"
  assert_equal "$(cat x)" two
  atomic-swap x y
  # It comes as the line fails to be written: the exchange is undone
  # first.
  run --separate-stderr to_full strace -o /dev/null -e trace=write \
    -e inject=write:signal=TERM:when=1 atomic-swap -v x y
  assert_equal "$status" 143
  assert_equal "$stderr" "atomic-swap: 'x' and 'y' were exchanged back (undone): write error on standard output: No space left on device"
  assert_equal "$(cat x)" one
  assert_equal "$(cat y)" two
  # The same for a move.
  run --separate-stderr strace -o /dev/null -e trace=renameat2 \
    -e inject=renameat2:signal=TERM:when=1 atomic-swap -v -n x z
  assert_equal "$status" 143
  assert_output "renamed 'x' -> 'z'"
  atomic-swap -n z x
  run --separate-stderr to_full strace -o /dev/null -e trace=write \
    -e inject=write:signal=TERM:when=1 atomic-swap -v -n x z
  assert_equal "$status" 143
  assert_equal "$stderr" "atomic-swap: 'x' was moved back from 'z' (undone): write error on standard output: No space left on device"
  assert_equal "$(cat x)" one
  [ ! -e z ]
}

# Signals with --expect: a deployer waiting for the lock, with its
# temporary made, leaves nothing; one that holds the lock finishes and
# releases it first.
@test "--expect: a signal while waiting for the lock, or holding it, leaves nothing behind" {
  require_shim
  make_releases
  # The holder stops at its exchange, inside the lock.
  start_with_shim fa FAULT_PAUSE=renameat2:1 \
    atomic-swap -s --expect=releases/a releases/b current
  holder=$SHIM_PID
  wait_until paused_at fa renameat2 1
  atomic-swap -s --expect=releases/a releases/c current 3>&- &
  waiter=$!
  wait_until sleeps_in_poll "$waiter"
  [ "$(find . -maxdepth 1 -type l -name '.atomic-swap.*' | wc -l)" = 2 ] ||
    fail "expected two temporaries: $(ls -A)"
  kill -TERM "$waiter"
  status=0
  wait "$waiter" || status=$?
  assert_equal "$status" 143
  # Signalled while it holds the lock, the holder completes, releases
  # the lock, and then dies of the signal.
  kill -TERM "$holder"
  go_on fa renameat2 1
  status=0
  wait "$holder" || status=$?
  assert_equal "$status" 143
  assert_equal "$(readlink current)" releases/b
  rm -r fa
  assert_no_leftovers
}

@test "-s: a failed exchange whose new link cannot be removed (EIO) names it after the error; status 3" {
  command -v strace >/dev/null || skip "strace is not installed"
  make_releases
  # The exchange fails, then so does the unlink of the new link made
  # under a temporary name.  Before, that link was left there, unsaid.
  run strace -o /dev/null -e trace=renameat2,unlinkat \
    -e inject=renameat2:error=EIO:when=1 \
    -e inject=unlinkat:error=EIO:when=1 atomic-swap -s releases/b current
  assert_equal "$status" 3
  assert_line --index 0 "atomic-swap: cannot replace 'current': Input/output error"
  assert_line --index 1 --regexp "^atomic-swap: warning: cannot remove the temporary '\.atomic-swap\.[A-Za-z0-9]{6}': Input/output error\$"
  assert_equal "${#lines[@]}" 2
  assert_equal "$(readlink current)" releases/a
  [[ ${lines[1]} =~ \'(\.atomic-swap\.[A-Za-z0-9]{6})\' ]]
  assert_equal "$(readlink "${BASH_REMATCH[1]}")" releases/b
}

@test "--expect: the lock's temporary that cannot be removed (EIO) is named in LINK's directory, not as a bare name" {
  command -v strace >/dev/null || skip "strace is not installed"
  mkdir deploy
  ln -s base deploy/current
  # The lock is taken in deploy, opened once: the rename of its
  # temporary directory onto the lock fails, and so does the unlink of
  # the record in it.  Before, the warning said
  # '.atomic-swap.XXXXXX', which is not in the current directory.
  run strace -o /dev/null -e trace=renameat,unlinkat \
    -e inject=renameat:error=EIO:when=1 \
    -e inject=unlinkat:error=EIO:when=1 \
    atomic-swap -s --expect=base new deploy/current
  assert_equal "$status" 3
  assert_line --regexp "^atomic-swap: warning: cannot remove the temporary 'deploy/\.atomic-swap\.[A-Za-z0-9]{6}': Input/output error\$"
  assert_equal "$(readlink deploy/current)" base
  [[ $output =~ \'(deploy/\.atomic-swap\.[A-Za-z0-9]{6})\' ]]
  [ -d "${BASH_REMATCH[1]}" ]
  rm -r "${BASH_REMATCH[1]}"
  assert_no_leftovers deploy
}

@test "-s: the old link that cannot be removed (EIO) is named, status 3, the change stays" {
  command -v strace >/dev/null || skip "strace is not installed"
  make_releases
  run strace -o /dev/null -e trace=unlinkat -e inject=unlinkat:error=EIO:when=1 \
    atomic-swap -s releases/b current
  assert_equal "$status" 3
  assert_output --regexp "^atomic-swap: 'current' now points to 'releases/b', but the link it replaced is left as '(\.atomic-swap\.[A-Za-z0-9]{6})', which cannot be removed: Input/output error\$"
  assert_equal "$(readlink current)" releases/b
  [[ $output =~ \'(\.atomic-swap\.[A-Za-z0-9]{6})\' ]]
  assert_equal "$(readlink "${BASH_REMATCH[1]}")" releases/a
}

@test "-b: the older LINK~ that cannot be removed (EIO) is named as such, not as the replaced link" {
  command -v strace >/dev/null || skip "strace is not installed"
  make_releases
  ln -s releases/0 current~
  run strace -o /dev/null -e trace=unlinkat -e inject=unlinkat:error=EIO:when=1 \
    atomic-swap -b -s releases/b current
  assert_equal "$status" 3
  assert_output --regexp "^atomic-swap: 'current' now points to 'releases/b', and its old link is kept as 'current~', but the older 'current~' it replaced is left as '(\.atomic-swap\.[A-Za-z0-9]{6})', which cannot be removed: Input/output error\$"
  assert_equal "$(readlink current)" releases/b
  assert_equal "$(readlink current~)" releases/a
  [[ $output =~ \'(\.atomic-swap\.[A-Za-z0-9]{6})\' ]]
  assert_equal "$(readlink "${BASH_REMATCH[1]}")" releases/0
}

@test "--expect: a signal that comes as the lock is made leaves no lock behind" {
  command -v strace >/dev/null || skip "strace is not installed"
  make_releases
  # SIGTERM at the mkdirat of the lock's temporary directory: it waits,
  # blocked, until the lock has appeared, then ends atomic-swap.
  run strace -o /dev/null -e trace=mkdirat -e inject=mkdirat:signal=TERM:when=1 \
    atomic-swap -s --expect=releases/a releases/b current
  assert_equal "$status" 143
  assert_equal "$(readlink current)" releases/a
  [ ! -e .atomic-swap.current.lock ] || fail "the lock was left: $(ls -A)"
  assert_no_leftovers
}

# --- races ---------------------------------------------------------------------------

# Repoints and exchanges under readers; races with 20 deployers (the
# issue's number) for a quarter of the harness's rounds, since each round
# costs 20 process starts.  RUN_EXPENSIVE_TESTS multiplies both.
SWAPS=${SWAPS:-2000}
if [ "${RUN_EXPENSIVE_TESTS:-no}" = yes ]; then SWAPS=$((SWAPS * 5)); fi
EXCHANGES=$((SWAPS / 4 * 2))   # half as many, and even
DEPLOYERS=20
DEPLOY_ROUNDS=$(( ROUNDS / 4 > 10 ? ROUNDS / 4 : 10 ))

# Start N swap-reader processes ([--dir|--readlink] ARGS as for
# swap-reader, READY left out) at low priority; wait until each has read
# once.
start_readers() {
  local n=$1 i mode=()
  shift
  if [[ $1 == --* ]]; then mode=("$1"); shift; fi
  READERS=()
  for ((i = 0; i < n; i++)); do
    nice -n 19 swap-reader "${mode[@]}" "ready.$i" "$@" >"reader.$i" 3>&- &
    READERS+=($!)
  done
  for ((i = 0; i < n; i++)); do wait_until [ -e "ready.$i" ]; done
}

# Stop the readers; set READS, FAILURES, SWITCHES (sums) and FIRST (the
# first failure any reader saw).
stop_readers() {
  kill -TERM "${READERS[@]}"
  wait "${READERS[@]}"
  READS=0 FAILURES=0 SWITCHES=0 FIRST=
  local f line
  for f in reader.*; do
    line=$(head -1 "$f")
    [[ $line =~ reads=([0-9]+)\ failures=([0-9]+)\ switches=([0-9]+) ]] ||
      fail "bad reader output: $line"
    READS=$((READS + BASH_REMATCH[1]))
    FAILURES=$((FAILURES + BASH_REMATCH[2]))
    SWITCHES=$((SWITCHES + BASH_REMATCH[3]))
    [ -n "$FIRST" ] || FIRST=$(sed -n 's/^first failure: //p' "$f")
  done
}

@test "reader gap: $SWAPS repoints under concurrent readers, zero failed reads" {
  make_releases
  start_readers 2 current/index.html
  for ((i = 0; i < SWAPS; i++)); do
    if ((i % 2)); then new=releases/a; else new=releases/b; fi
    atomic-swap -s "$new" current || fail "atomic-swap failed at swap $i"
  done
  stop_readers
  echo "# $READS reads, $SWITCHES switches seen, $FAILURES failures" >&3
  assert_equal "$(readlink current)" releases/a
  ((SWITCHES > 0)) || fail "the readers never saw a switch ($READS reads)"
  assert_equal "$FAILURES" 0
  assert_no_temporaries atomic-swap
}

@test "control: the same readers catch 'rm current; ln -s'" {
  make_releases
  start_readers 2 current/index.html
  # The gap is held open 20 ms (injected): the readers run at nice 19,
  # and on one busy CPU might otherwise never be scheduled inside it.
  for ((i = 0; i < 100; i++)); do
    if ((i % 2)); then new=releases/a; else new=releases/b; fi
    rm current
    sleep 0.02
    ln -s "$new" current
  done
  stop_readers
  echo "# control: $READS reads, $FAILURES failures ($FIRST)" >&3
  ((FAILURES > 0)) || fail "the readers never caught the gap ($READS reads)"
}

# Two release directories, each with files a and b holding its version.
make_trees() {
  mkdir live next
  echo v1 >live/a; echo v1 >live/b
  echo v2 >next/a; echo v2 >next/b
}

@test "directory exchange: $EXCHANGES exchanges under concurrent readers, every read sees one whole directory" {
  make_trees
  start_readers 2 --dir live a b
  for ((i = 0; i < EXCHANGES; i++)); do
    atomic-swap live next || fail "atomic-swap failed at exchange $i"
  done
  stop_readers
  echo "# $READS reads, $SWITCHES switches seen, $FAILURES failures" >&3
  ((SWITCHES > 0)) || fail "the readers never saw a switch ($READS reads)"
  assert_equal "$FAILURES" 0
  assert_equal "$(cat live/a live/b)" "$(printf 'v1\nv1')"
}

@test "control: the same readers catch an exchange done with three renames" {
  make_trees
  start_readers 2 --dir live a b
  # The gap is held open 20 ms (injected), as in the control above.
  for ((i = 0; i < 50; i++)); do
    mv live tmp && sleep 0.02 && mv next live && mv tmp next
  done
  stop_readers
  echo "# control: $READS reads, $FAILURES failures ($FIRST)" >&3
  ((FAILURES > 0)) || fail "the readers never caught the gap ($READS reads)"
}

@test "--no-clobber race: $DEPLOYERS racers x $DEPLOY_ROUNDS rounds, exactly one winner" {
  race_rounds "$DEPLOYERS" "$DEPLOY_ROUNDS" \
    'echo "$racer" >"f$racer"; atomic-swap -q -n "f$racer" dst' \
    'rm -f dst'
  assert_equal "$RACE_MANY" 0
  assert_equal "$RACE_NONE" 0
  assert_equal "$RACE_ONE" "$DEPLOY_ROUNDS"
}

@test "control: the harness catches a naive check-then-mv" {
  # A racer wins only if it saw no dst and moved its file there: with
  # '[ -e dst ] ||' a racer that found dst there exits 0 and counted as
  # a winner too, so every racer "won" every round, and the control
  # passed whether or not two racers ever moved a file to dst.
  race_rounds "$DEPLOYERS" 10 \
    'echo "$racer" >"f$racer"; [ ! -e dst ] && mv "f$racer" dst' \
    'rm -f dst'
  ((RACE_MANY > 0)) || fail "naive version never raced ($RACE_ONE rounds with one winner)"
}

# --- --expect: compare and swap ------------------------------------------------------

@test "--expect: LINK changes only if it points to OLD" {
  make_releases
  run atomic-swap -s --expect=releases/b releases/b current
  assert_failure 1
  assert_output "atomic-swap: 'current' points to 'releases/a', not 'releases/b'; not changed"
  assert_equal "$(readlink current)" releases/a

  run --separate-stderr atomic-swap -p -v -s --expect=releases/a releases/b current
  assert_success
  assert_line --index 0 releases/a
  assert_line --index 1 "'current' -> 'releases/b' (was 'releases/a')"
  assert_equal "$(readlink current)" releases/b

  # OLD is compared with the link's content, not with where it leads.
  run atomic-swap -q -s --expect=./releases/b releases/a current
  assert_failure 1
  assert_output ""
  assert_equal "$(readlink current)" releases/b
  assert_no_leftovers
}

@test "--expect= (empty): only if LINK does not exist" {
  mkdir rel
  run atomic-swap -s --expect= rel current
  assert_success
  assert_equal "$(readlink current)" rel
  run atomic-swap -s --expect= rel2 current
  assert_failure 1
  assert_output "atomic-swap: 'current' exists (it points to 'rel'), expected it absent; not changed"
  run atomic-swap -s --expect=rel rel absent
  assert_failure 1
  assert_output "atomic-swap: 'absent' does not exist, expected it to point to 'rel'; not changed"
  [ ! -L absent ]
  assert_equal "$(readlink current)" rel
  assert_no_leftovers
}

@test "--expect with --exchange-dir is a usage error that --help and README.md name; nothing changes" {
  mkdir -p www rel
  ln -s rel current
  before=$(listing .)
  for expect in --expect=rel --expect= --expect=www; do
    for link in www current; do
      run atomic-swap -s --exchange-dir "$expect" rel "$link"
      assert_usage_error atomic-swap
      assert_line --index 0 "atomic-swap: --expect and --exchange-dir cannot be combined: a directory never matches --expect"
    done
  done
  assert_equal "$(listing .)" "$before"
  assert_no_leftovers
  in_help "with --expect, which a directory never matches"
  in_readme "(not with \`--expect\`, which a"
}

@test "--expect: a directory or a file at LINK is refused as without it: status 3, untouched" {
  mkdir -p current rel
  echo live >current/index.html
  : >file
  before=$(listing .)
  # Not a mismatch (status 1, "someone else deployed first"): the same
  # refusal as without --expect.
  run atomic-swap -s rel file
  assert_failure 3
  assert_output "atomic-swap: 'file' exists and is not a symbolic link; not replaced"
  for expect in rel ''; do
    run atomic-swap -s --expect="$expect" rel file
    assert_failure 3
    assert_output "atomic-swap: 'file' exists and is not a symbolic link; not replaced"
    # -q silences status 1 only: an error is still said.
    run atomic-swap -q -s --expect="$expect" rel file
    assert_failure 3
    assert_output "atomic-swap: 'file' exists and is not a symbolic link; not replaced"
  done
  run atomic-swap -s rel current
  assert_failure 3
  assert_output --partial "'current' is a directory, not a symbolic link; not replaced (use --exchange-dir"
  # --exchange-dir cannot join --expect: it is not offered.
  for expect in rel ''; do
    run atomic-swap -s --expect="$expect" rel current
    assert_failure 3
    assert_output "atomic-swap: 'current' is a directory, not a symbolic link; not replaced"
  done
  assert_equal "$(listing .)" "$before"
  assert_no_temporaries atomic-swap
}

@test "--expect takes the lock .atomic-swap.LINK.lock around the compare and the exchange" {
  command -v strace >/dev/null || skip "strace is not installed"
  mkdir deploy
  ln -s base deploy/current
  strace -e trace=renameat,renameat2,unlinkat,readlinkat -o trace \
    atomic-swap -s --expect=base new deploy/current
  assert_equal "$(readlink deploy/current)" new
  # In order: LINK is read (a quick check), the lock is renamed into
  # place, LINK is read again and exchanged, the lock is released.
  steps=$(while IFS= read -r line; do
      case $line in
        *'renameat('*'".atomic-swap.current.lock") = 0') echo lock ;;
        *'readlinkat('*'"current"'*) echo read ;;
        *RENAME_EXCHANGE*) echo exchange ;;
        *'".atomic-swap.current.lock", AT_REMOVEDIR) = 0') echo unlock ;;
      esac
    done <trace | tr '\n' ' ')
  assert_equal "$steps" "read lock read exchange unlock "
  # Nothing of the lock stays in the deploy directory: no LOCK, no
  # LOCK.last.
  assert_equal "$(ls -A deploy)" current
}

# LINK changed without the lock (by a plain -s or ln) between the look
# under the lock and the exchange: the exchange brings back something
# that is not OLD, and it is put back.  expect_while_changed [VAR=VALUE]
# runs 'atomic-swap -s --expect=base new current' with the shim (and
# VAR=VALUE), stopped at its exchange while current is repointed to
# 'other'; it sets STATUS, and leaves stderr in err.
expect_while_changed() {
  ln -s base current
  start_with_shim faults FAULT_PAUSE=renameat2:1 "$@" \
    sh -c 'exec atomic-swap -s --expect=base new current 2>err'
  wait_until paused_at faults renameat2 1
  ln -sfn other current
  go_on faults renameat2 1
  STATUS=0
  wait "$SHIM_PID" || STATUS=$?
}

@test "--expect: LINK changed between the look and the exchange is put back, status 1" {
  require_shim
  expect_while_changed
  assert_equal "$STATUS" 1
  assert_equal "$(cat err)" "atomic-swap: 'current' points to 'other', not 'base'; not changed"
  assert_equal "$(readlink current)" other
  rm -r faults err
  assert_no_leftovers
}

@test "--expect: when putting back fails, status 3 says exactly where everything is, never 'not changed'" {
  require_shim
  # As above, and the exchange that puts LINK back (the second
  # renameat2) fails with EIO.
  expect_while_changed FAULT_FAIL=renameat2:2:5
  assert_equal "$STATUS" 3
  run cat err
  refute_output --partial "not changed"
  [[ $output =~ ^atomic-swap:\ cannot\ restore\ \'current\',\ which\ changed\ meanwhile:\ it\ now\ points\ to\ \'new\'\;\ what\ it\ held\ \(which\ points\ to\ \'other\'\)\ is\ kept\ as\ \'(\.atomic-swap\.[A-Za-z0-9]{6})\':\ Input/output\ error$ ]] ||
    fail "unexpected message: $output"
  kept=${BASH_REMATCH[1]}
  # Exactly as said: LINK is the new link, the other one is kept.
  assert_equal "$(readlink current)" new
  assert_equal "$(readlink "$kept")" other
  # The lock is released all the same.
  [ ! -e .atomic-swap.current.lock ]
}

@test "--expect: a lock held all through the wait is a 'no' (status 1), and changes nothing" {
  require_shim
  ln -s base current
  # A holds the lock, stopped at its exchange.
  start_with_shim fa FAULT_PAUSE=renameat2:1 \
    atomic-swap -s --expect=base a current
  a=$SHIM_PID
  wait_until paused_at fa renameat2 1
  # B's clock runs 61 s ahead once its deadline is set (its first
  # reading of the monotonic clock): its 60-second wait runs out at
  # once.
  run env LD_PRELOAD="$SHIM" FAULT_CLOCK_AHEAD=1:61 \
    atomic-swap -s --expect=base b current
  assert_failure 1
  assert_output "atomic-swap: cannot change 'current': the lock '.atomic-swap.current.lock' is still held after 60 seconds; not changed"
  assert_equal "$(readlink current)" base
  go_on fa renameat2 1
  sa=0; wait "$a" || sa=$?
  assert_equal "$sa" 0
  assert_equal "$(readlink current)" a
  rm -r fa
  assert_no_leftovers
}

@test "--expect -q: a lock held all through the wait is status 1 without a message" {
  require_shim
  ln -s base current
  start_with_shim fa FAULT_PAUSE=renameat2:1 \
    atomic-swap -s --expect=base a current
  a=$SHIM_PID
  wait_until paused_at fa renameat2 1
  # -q prints no message for status 1, whatever the reason for the no.
  run env LD_PRELOAD="$SHIM" FAULT_CLOCK_AHEAD=1:61 \
    atomic-swap -q -s --expect=base b current
  assert_failure 1
  assert_output ""
  assert_equal "$(readlink current)" base
  go_on fa renameat2 1
  sa=0; wait "$a" || sa=$?
  assert_equal "$sa" 0
  assert_equal "$(readlink current)" a
  rm -r fa
  assert_no_leftovers
}

# The lock is taken in the directory atomic-swap already holds open.  If
# it were looked up by path again, a path repointed in between would
# put two deployers' locks in two directories.
@test "--expect: a directory path repointed meanwhile cannot split the lock" {
  require_shim
  mkdir d1 d2
  ln -s base d1/current
  ln -s base d2/current
  ln -s d1 deploy
  # A holds the lock of d1/current, stopped at its exchange.
  start_with_shim fa FAULT_PAUSE=renameat2:1 \
    atomic-swap -s --expect=base a deploy/current
  a=$SHIM_PID
  wait_until paused_at fa renameat2 1
  [ -d d1/.atomic-swap.current.lock ]
  # B opens deploy/ (d1) and stops before it makes its temporary; then
  # deploy is repointed to d2.
  start_with_shim fb FAULT_PAUSE=symlinkat:1 \
    atomic-swap -s --expect=base b deploy/current
  b=$SHIM_PID
  wait_until paused_at fb symlinkat 1
  ln -sfn d2 deploy
  go_on fb symlinkat 1
  # B must wait for A's lock (in d1), not take a lock in d2.
  b_settled() { ! kill -0 "$b" 2>/dev/null || sleeps_in_poll "$b"; }
  wait_until b_settled
  kill -0 "$b" 2>/dev/null || fail "B did not wait for the lock A holds"
  [ -z "$(find d2 -name '.atomic-swap.*')" ] || fail "B locked in d2: $(ls -A d2)"
  go_on fa renameat2 1
  sa=0; wait "$a" || sa=$?
  sb=0; wait "$b" || sb=$?
  # One winner: A; B then finds LINK changed.
  assert_equal "$sa $sb" "0 1"
  assert_equal "$(readlink d1/current)" a
  assert_equal "$(readlink d2/current)" base
  assert_no_leftovers d1
  assert_no_leftovers d2
}

@test "--expect on a LINK whose name is as long as a name can be: the lock fits, nothing is left" {
  long=$(printf 'l%.0s' {1..255})
  ln -s base "$long"
  run atomic-swap -s --expect=base new "$long"
  assert_success
  assert_equal "$(readlink "$long")" new
  run atomic-swap -s --expect=base newer "$long"
  assert_failure 1
  assert_no_leftovers
}

@test "-b with a 255-byte LINK: refused before anything changes, saying LINK~ would not fit" {
  long=$(printf 'l%.0s' {1..255})
  ln -s base "$long"
  run atomic-swap -b -s new "$long"
  assert_failure 3
  assert_output "atomic-swap: cannot keep the old link of '$long': its name is longer than 254 bytes: LINK~ would not fit in a name; not changed"
  assert_equal "$(readlink "$long")" base
  assert_equal "$(ls -A)" "$long"
  # One byte less leaves room for the ~.
  short=${long%l}
  ln -s base "$short"
  run atomic-swap -b -s new "$short"
  assert_success
  assert_equal "$(readlink "$short")" new
  assert_equal "$(readlink "$short~")" base
}

# release_fails PATTERN [OPTION]...: with current -> base, run
# 'atomic-swap OPTION... -s --expect=base new current' with EIO injected
# into the unlinkat of the lock's release whose trace matches PATTERN
# (found in a traced run first), under 'run'.
release_fails() {
  local pattern=$1 n
  shift
  ln -s base current
  strace -o trace -e trace=unlinkat atomic-swap -s --expect=base new current
  n=$(grep '^unlinkat(' trace | grep -n -- "$pattern" | cut -d: -f1)
  [ -n "$n" ] || fail "no unlinkat matching $pattern in: $(cat trace)"
  atomic-swap -s base current
  run strace -o /dev/null -e trace=unlinkat \
    -e inject=unlinkat:error=EIO:when="$n" \
    atomic-swap "$@" -s --expect=base new current
}

# The change stands, and the next --expect call takes the lock that
# release_fails left, and leaves nothing.
assert_release_failure_harmless() {
  assert_success
  assert_equal "$(readlink current)" new
  run atomic-swap -s --expect=new newer current
  assert_success
  assert_equal "$(readlink current)" newer
  assert_no_leftovers
}

@test "--expect: a lock directory that cannot be removed after the change is named in a warning; status 0" {
  command -v strace >/dev/null || skip "strace is not installed"
  release_fails '"\.atomic-swap\.current\.lock", AT_REMOVEDIR'
  # The change is made: done, but not silently.
  assert_output "atomic-swap: warning: cannot remove the empty lock '.atomic-swap.current.lock' (the next --expect call on 'current' recovers it): Input/output error"
  [ -d .atomic-swap.current.lock ]
  assert_release_failure_harmless
}

@test "--expect: an empty lock it can neither remove nor rename over (I/O error): not changed (3), and the empty lock is named" {
  command -v strace >/dev/null || skip "strace is not installed"
  ln -s base current
  # An ended holding's directory, left empty: the rmdir (the first
  # unlinkat) and the rename of our directory over it (the first
  # renameat) fail.  Before, the empty lock that stays was unsaid.
  mkdir .atomic-swap.current.lock
  run strace -o /dev/null -e inject=unlinkat:error=EIO:when=1 \
    -e inject=renameat:error=EIO:when=1 \
    atomic-swap -s --expect=base new current
  assert_failure 3
  assert_line --index 0 "atomic-swap: cannot lock '.atomic-swap.current.lock': Input/output error"
  assert_line --index 1 "atomic-swap: warning: cannot remove the empty lock '.atomic-swap.current.lock' (the next --expect call on 'current' recovers it): Input/output error"
  assert_equal "${#lines[@]}" 2
  assert_equal "$(readlink current)" base
  [ -z "$(ls -A .atomic-swap.current.lock)" ]
  # As it says, the next call recovers it.
  run atomic-swap -s --expect=base new current
  assert_success
  assert_equal "$(readlink current)" new
  assert_no_leftovers
}

@test "--expect -q: a lock that cannot be released is still warned of; the change stands, status 0" {
  command -v strace >/dev/null || skip "strace is not installed"
  # The removal of the lock's owner record.  -q is for status-1
  # messages and filesystem warnings (--help): this is neither.
  release_fails '"owner\.' -q
  assert_output "atomic-swap: warning: cannot release the lock '.atomic-swap.current.lock': Input/output error"
  # Its owner is gone: the next call recovers the lock.
  assert_release_failure_harmless
}

@test "--expect: a holder killed with SIGKILL while it holds the lock is recovered" {
  command -v strace >/dev/null || skip "strace is not installed"
  ln -s base current
  # The holder stops inside the lock: its exchange (the first renameat2)
  # is delayed long enough to kill it there.
  strace -f -qq -o /dev/null -e trace=renameat2 \
    -e inject=renameat2:delay_enter=60000000 \
    atomic-swap -s --expect=base killed current 3>&- &
  tracer=$!
  wait_until [ -d .atomic-swap.current.lock ]
  holder=$(pgrep -P "$tracer")
  grep -q "^pid=$holder\$" .atomic-swap.current.lock/owner.*

  # The next deployer, expecting the same OLD, waits for the lock...
  atomic-swap -s --expect=base next current 3>&- &
  waiter=$!
  wait_until sleeps_in_poll "$waiter"
  assert_equal "$(readlink current)" base

  # ...and once the holder dies, breaks its lock and wins.  (A tracee
  # stopped by strace dies of its pending SIGKILL only when strace lets
  # go of it: so strace goes too, after the signal is queued, and the
  # delayed exchange never runs.)
  kill -KILL "$holder"
  kill -KILL "$tracer"
  wait "$tracer" || true
  wait_until is_dead "$holder"
  status=0
  wait "$waiter" || status=$?
  assert_equal "$status" 0
  assert_equal "$(readlink current)" next
  [ ! -e .atomic-swap.current.lock ]

  # The lock works on: a stale OLD is refused, the right one wins.
  run atomic-swap -s --expect=base again current
  assert_failure 1
  atomic-swap -s --expect=next again current
  assert_equal "$(readlink current)" again
  # SIGKILL cannot be cleaned up after: the killed holder's temporary
  # symlink (to its would-be target) is all that is left.
  left=$(find . -maxdepth 1 -name '.atomic-swap.*' -printf '%f %l\n')
  [[ $left =~ ^\.atomic-swap\.[A-Za-z0-9]{6}\ killed$ ]] || fail "left: $left"
}

@test "--expect race: $DEPLOYERS deployers x $DEPLOY_ROUNDS rounds, one winner, readers see only OLD or the winner" {
  ln -s base current
  start_readers 1 --readlink current
  # Every racer wants base -> its own target; the coordinator resets
  # current to base between rounds and records where each round left it.
  race_rounds "$DEPLOYERS" "$DEPLOY_ROUNDS" \
    'atomic-swap -q -s --expect=base "r$round-$racer" current; s=$?
     echo "$round $racer $s" >>results
     [ "$s" = 0 ]' \
    'readlink current >>finals; atomic-swap -s base current'
  readlink current >>finals
  stop_readers

  assert_equal "$RACE_ONE" "$DEPLOY_ROUNDS"
  assert_equal "$(wc -l <results)" $((DEPLOYERS * DEPLOY_ROUNDS))
  # The losers exit 1, nothing else.
  assert_equal "$(awk '$3 != 0 && $3 != 1' results)" ""
  # After each round the link is that round's winner's target.
  awk '$3 == 0 { print "r" $1 "-" $2 }' results | sort >winners
  tail -n +2 finals | sort >after_rounds
  diff winners after_rounds
  # Readers never saw a missing link, nor a loser's target.
  assert_equal "$FAILURES" 0
  cat reader.* | sed -n 's/^seen //p' | sort -u >seen
  { echo base; cat winners; } | sort -u >allowed
  assert_equal "$(comm -23 seen allowed)" ""
  assert_no_leftovers
}

@test "control: the harness catches a naive read-compare-ln -sfn" {
  ln -s base current
  race_rounds "$DEPLOYERS" 10 \
    '[ "$(readlink current)" = base ] && ln -sfn "r$round-$racer" current' \
    'ln -sfn base current'
  ((RACE_MANY > 0)) || fail "naive version never raced ($RACE_ONE rounds with one winner)"
}

# --- the documented commands, as printed -------------------------------------

# Each command below is checked to appear verbatim in its document
# (README.md, --help, man/atomic-swap.x with roff's \- read as -), then
# run exactly so in a scratch directory, and what it did is checked.
in_readme() {
  grep -qF -- "$1" "$BATS_TEST_DIRNAME/../README.md" ||
    fail "not in README.md: $1"
}
in_help() {
  atomic-swap --help | grep -qF -- "$1" || fail "not in --help: $1"
}
in_man() {
  sed 's/\\-/-/g' "$BATS_TEST_DIRNAME/../man/atomic-swap.x" |
    grep -qF -- "$1" || fail "not in man/atomic-swap.x: $1"
}
# A fresh deploy directory: releases 41 to 44 and 1, current -> 41, a
# finished build.tmp, two sites and a real directory www.
deploy_dir() {
  cd "$BATS_TEST_TMPDIR"
  rm -rf deploy
  mkdir deploy
  cd deploy
  mkdir -p releases/41 releases/42 releases/43 releases/44 releases/1 \
    build.tmp site site.new www
  ln -s releases/41 current
}

@test "README: every atomic-swap command runs as printed" {
  local publish='old=$(atomic-swap -p -s releases/42 current)'
  local rollback='atomic-swap -s "$old" current'
  local expect='atomic-swap -s --expect=releases/41 releases/42 current'
  local backup='atomic-swap -b -s releases/43 current'
  local noclobber='atomic-swap -n build.tmp releases/42'
  local sites='atomic-swap site site.new'
  local cmd
  for cmd in "$publish" "$rollback" "$expect" "$backup" "$noclobber" \
             "$sites" 'atomic-swap -s "" current' 'atomic-swap a b/' \
             'atomic-swap -s x current/'; do
    in_readme "$cmd"
  done

  deploy_dir
  eval "$publish"
  assert_equal "$old" releases/41
  assert_equal "$(readlink current)" releases/42
  eval "$rollback"
  assert_equal "$(readlink current)" releases/41

  # A first deploy: nothing to roll back to, and the rollback says so.
  rm current
  eval "$publish"
  assert_equal "$old" ""
  run eval "$rollback"
  assert_usage_error atomic-swap
  assert_line --index 0 "atomic-swap: TARGET must not be empty (an empty --print-old line means LINK did not exist: to roll that back, remove LINK)"
  assert_equal "$(readlink current)" releases/42
  run atomic-swap -s "" current
  assert_usage_error atomic-swap

  deploy_dir
  run eval "$expect"
  assert_success
  run eval "$expect"
  assert_failure 1
  run eval "$backup"
  assert_success
  assert_equal "$(readlink current~)" releases/42
  run eval "$noclobber"
  assert_failure 1
  rm -r releases/42
  run eval "$noclobber"
  assert_success
  [ -d releases/42 ] && [ ! -e build.tmp ]
  : >site/old; : >site.new/new
  run eval "$sites"
  assert_success
  [ -e site/new ] && [ -e site.new/old ]

  # A trailing slash means "a directory".
  : >a; : >b
  run atomic-swap a b/
  assert_failure 3
  run atomic-swap -s x current/
  assert_success
  assert_equal "$(readlink current)" x
  run atomic-swap -s y current/
  assert_failure 3
  assert_no_leftovers
}

@test "--help: every example runs as printed" {
  local cmds=(
    'atomic-swap -s releases/42 current'
    'old=$(atomic-swap -p -s releases/42 current)'
    'atomic-swap -s "$old" current'
    'atomic-swap -s --expect=releases/42 releases/43 current'
    'atomic-swap -b -s releases/42 current'
    'atomic-swap -n build.tmp releases/42'
    'atomic-swap site site.new'
  )
  local cmd
  for cmd in "${cmds[@]}"; do in_help "$cmd"; done
  deploy_dir
  eval "${cmds[0]}"
  assert_equal "$(readlink current)" releases/42
  atomic-swap -s releases/41 current
  eval "${cmds[1]}"
  assert_equal "$old" releases/41
  eval "${cmds[2]}"
  assert_equal "$(readlink current)" releases/41
  atomic-swap -s releases/42 current
  eval "${cmds[3]}"
  assert_equal "$(readlink current)" releases/43
  atomic-swap -s releases/41 current
  eval "${cmds[4]}"
  assert_equal "$(readlink current~)" releases/41
  rm -r releases/42
  eval "${cmds[5]}"
  [ -d releases/42 ]
  eval "${cmds[6]}"
  assert_no_leftovers
}

@test "man page: every example runs as printed" {
  # The deploy pipeline; 'build' is the reader's own build step.
  local pipeline=(
    'build -o releases/42.tmp'
    'atomic-swap -n releases/42.tmp releases/42 || exit 1'
    'old=$(atomic-swap -p -s --check-target releases/42 current)'
    'echo "$old" > previous-release'
  )
  local rollback='atomic-swap -v -s "$(cat previous-release)" current'
  local cas=(
    'atomic-swap -s --expect="$(readlink current)" releases/43 current'
    'case $? in'
    '  0) echo deployed ;;'
    '  1) echo "someone else deployed first" ;;'
    '  *) echo "error" ;;'
    'esac'
  )
  local exdir='atomic-swap -s --exchange-dir -r releases/1 www'
  local backup=(
    'atomic-swap -b -s releases/44 current'
    'atomic-swap -s "$(readlink current~)" current'
  )
  local sites='atomic-swap -S site site.new && rm -rf site.new'
  local cmd
  for cmd in "${pipeline[@]}" "$rollback" "${cas[@]}" "$exdir" \
             "${backup[@]}" "$sites"; do
    in_man "$cmd"
  done

  deploy_dir
  rm -r releases/42
  build() { mkdir -p "$2"; echo 42 >"$2/index.html"; }
  export -f build
  run bash -c "$(printf '%s\n' "${pipeline[@]}")"
  assert_success
  assert_equal "$(readlink current)" releases/42
  assert_equal "$(cat previous-release)" releases/41
  assert_equal "$(cat current/index.html)" 42
  run eval "$rollback"
  assert_success
  assert_output "'current' -> 'releases/41' (was 'releases/42')"
  run bash -c "$(printf '%s\n' "${cas[@]}")"
  assert_output deployed
  assert_equal "$(readlink current)" releases/43
  run eval "$exdir"
  assert_success
  assert_equal "$(readlink www)" releases/1
  eval "${backup[0]}"
  assert_equal "$(readlink current)" releases/44
  eval "${backup[1]}"
  assert_equal "$(readlink current)" releases/43
  : >site/old
  eval "$sites"
  [ ! -e site.new ] && [ ! -e site/old ]
}

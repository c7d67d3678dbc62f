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
}

# Two releases, each with an index.html naming it, and current -> rel-a.
make_releases() {
  mkdir -p releases/a releases/b
  echo a >releases/a/index.html
  echo b >releases/b/index.html
  ln -s releases/a current
}

# No temporary of atomic-swap is left in DIR (default: .); the --expect
# lock's record of its last owner (.atomic-swap.LINK.lock.last, a regular
# file) may stay.
assert_no_leftovers() {
  local dir=${1:-.} left
  left=$(find "$dir" -maxdepth 1 -name '.atomic-swap.*' \
           ! \( -type f -name '.atomic-swap.*.lock.last' \) -print)
  [ -z "$left" ] || fail "left behind: $left"
}

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

  # A trailing slash does not make atomic-swap follow the link.
  ln -s plain l2
  atomic-swap l2/ link
  [ -L link ] && [ -f l2 ]
  assert_equal "$(readlink link)" plain
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

@test "exchange is one renameat2(RENAME_EXCHANGE) call" {
  command -v strace >/dev/null || skip "strace is not installed"
  : >x; : >y
  strace -e trace=rename,renameat,renameat2 -o trace atomic-swap x y
  assert_equal "$(grep -c 'rename' trace)" 1
  grep -q 'renameat2(.*"x", .*"y", RENAME_EXCHANGE) = 0' trace
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

@test "permission denied: status 3 for every form, nothing changed, no temporary" {
  require_root
  command -v setpriv >/dev/null || skip "setpriv is not installed"
  # The test's own directory is private to root: use one that the
  # unprivileged user can enter but not write.
  PERM_DIR=$(mktemp -d "${TMPDIR:-/tmp}/atomic-swap-perm.XXXXXX")
  chmod 755 "$PERM_DIR"
  cd "$PERM_DIR"
  mkdir rel dir
  ln -s rel current
  : >a; : >b
  nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups atomic-swap "$@"; }
  nobody --version >/dev/null 2>&1 || skip "atomic-swap cannot run as an unprivileged user here"
  before=$(listing .)
  statuses=
  for args in "-s dir current" "-p -s dir current" "-s --expect=rel dir current" \
              "-s dir new" "a b" "-n a c"; do
    run nobody $args
    statuses="$statuses $status"
    [[ $output == *"Permission denied"* ]] || fail "$args: $output"
  done
  assert_equal "$statuses" " 3 3 3 3 3 3"
  assert_equal "$(listing .)" "$before"
  assert_no_temporaries atomic-swap
}

@test "the filesystem check reads mountinfo only off a local block-device filesystem" {
  command -v strace >/dev/null || skip "strace is not installed"
  require_root
  mkdir tmpfs
  mount -t tmpfs -o size=1m tmpfs tmpfs || skip "cannot mount tmpfs"
  # tmpfs has no block device (nor has 9p, which can report its host's
  # ext4 f_type): the full classification, with mountinfo, is needed.
  strace -f -e trace=openat -o t1 atomic-swap -s rel tmpfs/current
  ok=$?
  umount tmpfs
  assert_equal "$ok" 0
  grep -q '"/proc/self/mountinfo"' t1
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

# --- signals -------------------------------------------------------------------------

# Run atomic-swap ARGS... under strace with its first renameat2 delayed,
# so it is stopped mid-operation with its temporary made; then send SIG
# to it.  Sets STATUS to its exit status.  (On a machine so loaded that
# the delay is over before the signal is sent, the operation simply
# completes; what the caller asserts holds either way.)
interrupt_at_rename() {
  local sig=$1
  shift
  env --default-signal=INT strace -f -qq -o /dev/null \
    -e trace=renameat2 -e inject=renameat2:delay_enter=2000000 \
    atomic-swap "$@" 3>&- &
  local tracer=$!
  wait_until compgen -G '.atomic-swap.*'
  local pid
  pid=$(pgrep -P "$tracer") || true
  if [ -n "$pid" ]; then kill -s "$sig" "$pid" || true; fi
  STATUS=0
  wait "$tracer" || STATUS=$?
}

@test "a signal mid-operation leaves the old or the new link, and no temporary" {
  command -v strace >/dev/null || skip "strace is not installed"
  make_releases
  for sig in TERM INT HUP; do
    interrupt_at_rename "$sig" -s releases/b current
    # The exchange had begun: it completes, then the signal is handled.
    target=$(readlink current)
    [[ $target == releases/[ab] ]] || fail "current -> $target after SIG$sig"
    assert_no_temporaries atomic-swap
    [ "$(ls -A | sort | tr '\n' ' ')" = "current releases " ] ||
      fail "left behind after SIG$sig: $(ls -A)"
  done
  # The temporary of a new link is removed too.
  interrupt_at_rename TERM -s releases/b brand-new
  assert_no_temporaries atomic-swap
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
  for ((i = 0; i < 100; i++)); do
    if ((i % 2)); then new=releases/a; else new=releases/b; fi
    rm current
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
  for ((i = 0; i < 50; i++)); do
    mv live tmp && mv next live && mv tmp next
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
  race_rounds "$DEPLOYERS" 10 \
    'echo "$racer" >"f$racer"; [ -e dst ] || mv "f$racer" dst' \
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

@test "--expect: a directory or a file at LINK never matches: status 1, untouched" {
  mkdir -p current rel
  echo live >current/index.html
  : >file
  before=$(listing .)
  run atomic-swap -s --expect=rel rel current
  assert_failure 1
  assert_output "atomic-swap: 'current' is not a symbolic link; not changed"
  run atomic-swap -s --expect= rel file
  assert_failure 1
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
  # Only the lock's record of its last owner stays, in LINK's directory.
  [ ! -e deploy/.atomic-swap.current.lock ]
  [ -f deploy/.atomic-swap.current.lock.last ]
  grep -q '^command=atomic-swap -s .*--expect=base' deploy/.atomic-swap.current.lock.last
  assert_no_leftovers deploy
}

# True once process PID is gone or a zombie.
is_dead() {
  [ ! -e "/proc/$1" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status"
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
  wait_until has_inotify_fd "$waiter"
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
  left=$(find . -maxdepth 1 -name '.atomic-swap.*' ! -name '*.lock.last' -printf '%f %l\n')
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

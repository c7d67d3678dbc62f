#!/usr/bin/env bats
# excl-create: create a file only if absent, with its content present the
# instant the name appears.

load test_helper

setup() {
  common_setup
}

teardown() {
  unmount_test_mounts
}

# From here on in this test, excl-create finds no unnamed files
# (O_TMPFILE fails with EOPNOTSUPP, as on a filesystem without them, by
# tests/fault-shim.c): its content then goes into a named temporary,
# whose life these tests look at.
named_temporaries() {
  local shim
  shim=$(command -v fault-shim.so) ||
    skip "tests/fault-shim.so is not built (make check builds it)"
  export LD_PRELOAD=$shim FAULT_NO_TMPFILE=1
}

# --- command line ------------------------------------------------------

@test "--help prints usage on stdout and exits 0" {
  run --separate-stderr excl-create --help
  assert_success
  assert_line --index 0 "Usage: excl-create [OPTION]... FILE..."
  assert_output --partial "-w, --wait=DURATION"
  refute_output --partial "[="
  assert_output --partial "Exit status:"
  [ -z "$stderr" ]
}

@test "a FILE that is '.', '..' or '/', with or without a trailing '/', is a usage error (2), as --help says; 'd/' for an existing d is 1" {
  mkdir d
  local file
  for file in ./ ../ d/./ d/.. /; do
    run excl-create "$file"
    assert_usage_error excl-create
    assert_line --index 0 --partial "excl-create: invalid operand '$file': "
  done
  run excl-create d/
  assert_failure 1
  assert_output "excl-create: cannot create 'd/': File exists"
  # The rule the help gives for a FILE ending in '/' says which is which.
  run excl-create --help
  assert_output --partial "one whose last component is '.'
or '..' ('./', 'd/..') or that is '/' names nothing to create: a usage
error, status 2"
  [ -z "$(ls -A d)" ]
}

@test "--version prints the package version" {
  run --separate-stderr excl-create --version
  assert_success
  assert_line --index 0 "excl-create (atomicutils) 0.1"
}

# The sentence of --help on refusals, held to the verdicts of fsclass.c
# for excl-create's primitives: O_EXCL (no content), link (content),
# RENAME_NOREPLACE (--replace-stale; content without hard links).
@test "--help says on which filesystems excl-create refuses unless --force, as fsclass judges its primitives" {
  help=$(excl-create --help | tr -s ' \n' '  ')
  [[ $help == *"On object-store FUSE filesystems (s3fs and the like) and on NFS version 2, where two callers can both create FILE, excl-create refuses (status 3) unless --force is given; so it does where it needs RENAME_NOREPLACE (--replace-stale, or content where there are no hard links) and the filesystem cannot keep it: NFS, SMB, GlusterFS, most FUSE filesystems."* ]] ||
    fail "--help lacks the refusal sentence"
  run fsclass-test classify fuse.s3fs
  assert_line "O_EXCL=refuse"
  assert_line "link=refuse"
  run fsclass-test classify nfs 0 rw,vers=2
  assert_line "O_EXCL=refuse"
  for fs in nfs cifs fuse.glusterfs fuse; do
    run fsclass-test classify "$fs"
    assert_line "RENAME_NOREPLACE=refuse"
    refute_line "O_EXCL=refuse"
    refute_line "link=refuse"
  done
  # Everywhere else O_EXCL and link are never refused.
  for fs in ext4 tmpfs nfs4 cifs fuse.sshfs fuse; do
    run fsclass-test classify "$fs"
    refute_line "O_EXCL=refuse"
    refute_line "link=refuse"
  done
}

@test "usage errors exit 2 with the Try line" {
  run excl-create
  assert_usage_error excl-create
  assert_line --partial "missing operand"

  run excl-create --no-such-option f
  assert_usage_error excl-create

  run excl-create --wait=soon f
  assert_usage_error excl-create
  assert_line --partial "invalid duration"

  run excl-create --wait=-1 f
  assert_usage_error excl-create

  run excl-create -m 999 f
  assert_usage_error excl-create
  assert_line --partial "invalid mode"

  run excl-create --pid-of=abc f
  assert_usage_error excl-create

  run excl-create --pid-of=0 f
  assert_usage_error excl-create

  # A process ID is plain decimal digits, as a DURATION is: a blank or a
  # sign is more likely a slip in a script than meant.
  local pid
  for pid in " $$" "+$$" "${$}x" -1; do
    run excl-create --pid-of="$pid" f
    assert_usage_error excl-create
    assert_line --index 0 "excl-create: invalid process ID '$pid'"
  done

  # No option takes an optional argument.
  run excl-create --pid=4242 f
  assert_usage_error excl-create
  run excl-create --wait f
  assert_usage_error excl-create
  run excl-create f -w
  assert_usage_error excl-create

  run excl-create --replace-stale f
  assert_usage_error excl-create
  assert_line --partial "--replace-stale needs --pid or --pid-of"

  run excl-create -c x --stdin f
  assert_usage_error excl-create
  assert_line --index 0 "excl-create: -c/--content and --stdin cannot be combined"

  # Nothing was created by any of them.
  [ ! -e f ]
}

# content_options_refused SUFFIX CASE...: each CASE is "WHAT|ARG...";
# 'excl-create ARG... f' is a usage error whose first line is
# "excl-create: WHAT SUFFIX", and makes no f.  Never "only one of
# --content, --stdin, ...": that named options the caller did not give.
content_options_refused() {
  local suffix=$1 c
  local -a args
  shift
  for c; do
    IFS='|' read -r -a args <<<"$c"
    run excl-create "${args[@]:1}" f </dev/null
    assert_usage_error excl-create
    assert_line --index 0 "excl-create: ${args[0]} $suffix"
    refute_output --partial "only one of"
    [ ! -e f ]
  done
}

@test "a content option given twice is said to be given twice, status 2, nothing created" {
  content_options_refused "given twice" \
    "-c/--content|-c|a|-c|b" \
    "-c/--content|--content=a|-ca" \
    "--stdin|--stdin|--stdin" \
    "--pid|--pid|--pid" \
    "--pid-of|--pid-of=$$|--pid-of=$$"
  # Two different ones are said to be two, by the names given.
  content_options_refused "cannot be combined" "--pid and --pid-of|--pid|--pid-of=$$"
}

@test "two different content options: only the two given are named, status 2, nothing created" {
  # The one given first comes first.
  content_options_refused "cannot be combined" \
    "-c/--content and --stdin|-c|a|--stdin" \
    "--stdin and -c/--content|--stdin|--content=a" \
    "--pid-of and -c/--content|--pid-of=1|-cb" \
    "--stdin and --pid|--stdin|--pid"
}

# --- plain creation -----------------------------------------------------

@test "creates an absent file, empty, with mode a=rw minus umask" {
  umask 022
  run excl-create f
  assert_success
  assert_output ""
  [ -f f ] && [ ! -s f ]
  assert_equal "$(stat -c %a f)" 644
}

@test "an existing file: status 1 and a message; -q silences it" {
  echo keep >f
  run excl-create f
  assert_failure 1
  assert_output "excl-create: cannot create 'f': File exists"
  assert_equal "$(cat f)" keep

  run excl-create -q f
  assert_failure 1
  assert_output ""
}

@test "a dangling symlink at FILE is not followed: status 1" {
  ln -s target dangling
  run excl-create dangling
  assert_failure 1
  [ ! -e target ]
  [ -L dangling ]

  run excl-create -c text dangling
  assert_failure 1
  [ ! -e target ]
  assert_no_temporaries excl-create
}

@test "a symlink to a file is neither followed nor replaced" {
  echo original >real
  ln -s real link
  run excl-create -c new link
  assert_failure 1
  assert_equal "$(cat real)" original
  [ -L link ]
}

@test "missing directory: status 3" {
  run excl-create no/such/dir/f
  assert_failure 3
  assert_output --partial "cannot create 'no/such/dir/f': No such file or directory"

  run excl-create -c x no/such/dir/f
  assert_failure 3
}

@test "a directory operand cannot be created over: status 1" {
  mkdir d
  run excl-create d
  assert_failure 1
  run excl-create d/
  assert_failure 1
}

@test "a trailing slash is refused, nothing created (issue 11 item 26)" {
  # Without the fix each of these created a regular file 'new'.
  run excl-create new/
  assert_failure 3
  assert_output "excl-create: cannot create 'new/': Not a directory"
  run excl-create -c text new/
  assert_failure 3
  run excl-create --pid new/
  assert_failure 3
  [ ! -e new ]
  assert_no_temporaries excl-create

  # Something there: it exists, and stays as it was.
  echo keep >f
  run excl-create -c other f/
  assert_failure 1
  assert_equal "$(cat f)" keep
}

@test "several FILEs: each is tried and the worst status wins" {
  : >exists
  run excl-create a exists b
  assert_failure 1
  [ -e a ] && [ -e b ]

  run excl-create c exists no/dir/x d
  assert_failure 3
  [ -e c ] && [ -e d ]
}

@test "-v reports each file created on stdout" {
  run --separate-stderr excl-create -v a b
  assert_success
  assert_line --index 0 "created 'a'"
  assert_line --index 1 "created 'b'"
}

@test "-v reports a stale file removed before the file created, as --help says" {
  # --help said only "a line for each file created".
  excl-create --help | tr -s ' \n' '  ' |
    grep -Fq -- "-v, --verbose print a line for each file created, and before it one for a stale file removed (--replace-stale)" ||
    fail "$(excl-create --help | grep -A2 -- --verbose)"
  local dead
  dead=$(dead_pid)
  echo "$dead" >f
  run --separate-stderr excl-create -v --pid --replace-stale f
  assert_success
  assert_equal "${#lines[@]}" 2
  assert_line --index 0 "removed stale 'f' (process $dead is gone)"
  assert_line --index 1 "created 'f'"
}

@test "-v: a signal that ends excl-create while -w waits for a later FILE leaves the lines of the FILEs already created written" {
  command -v strace >/dev/null || skip "strace is not installed"
  touch b
  # SIGTERM as the wait for b begins (its pipe2), once a is created.
  # Before, the lines were kept for the end, and a's died with us.
  run --separate-stderr strace -qq -o /dev/null -e trace=pipe2 \
    -e inject=pipe2:signal=SIGTERM:when=1 excl-create -v -w 10 -c x a b
  assert_failure 143
  assert_output "created 'a'"
  [ "$(cat a)" = x ]
  assert_no_temporaries excl-create
}

@test "-v whose lines cannot be written (a full disk): the FILEs are created, status that of the creates, and a warning says so" {
  [ -w /dev/full ] || skip "no /dev/full"
  touch c
  run sh -c 'excl-create -v -c x a b c >/dev/full'
  assert_failure 1
  # Each line is written once its FILE is created: the first write
  # error, a's, is the one the warning names.
  assert_line --index 0 "excl-create: cannot create 'c': File exists"
  assert_line --index 1 "excl-create: warning: the FILEs were created as said, but the lines saying so cannot be written: No space left on device"
  assert_equal "${#lines[@]}" 2
  run sh -c 'excl-create -v d >/dev/full'
  assert_success
  assert_output "excl-create: warning: the FILEs were created as said, but the lines saying so cannot be written: No space left on device"
  [ "$(cat a)" = x ] && [ "$(cat b)" = x ] && [ -f d ]
  assert_no_temporaries excl-create
}

@test "-v into a closed pipe: every FILE is created, whether or not SIGPIPE is ignored, and a warning says the lines were lost" {
  for pipe_signal in default ignored; do
    rm -f a b c
    if [ "$pipe_signal" = ignored ]; then trap '' PIPE; fi
    touch b
    # The line for a is written as a is created, into the closed pipe.
    run with_closed_pipe excl-create -v -c x a b c
    trap - PIPE
    assert_failure 1
    assert_line --index 0 "excl-create: cannot create 'b': File exists"
    # The first write error, a's, is the one the warning names.
    assert_line --index 1 "excl-create: warning: the FILEs were created as said, but the lines saying so cannot be written: Broken pipe"
    assert_equal "${#lines[@]}" 2
    [ "$(cat a)" = x ] && [ "$(cat c)" = x ]
  done
  assert_no_temporaries excl-create
}

@test "a message into a pipe nobody reads, or a full stderr, stops no FILE and changes no status: 1, not SIGPIPE or 3" {
  touch b
  # Without -v nothing is written but the message for b.
  run broken_stderr excl-create -c x a b c
  assert_output exit=1
  [ "$(cat a)" = x ] && [ "$(cat c)" = x ]
  rm a c
  run sh -c 'excl-create -c x a b c 2>/dev/full'
  assert_failure 1
  [ "$(cat a)" = x ] && [ "$(cat c)" = x ]
  # With -v, the lines saying "created" are written to stdout: fine.
  rm a c
  run broken_stderr excl-create -v -c x a b c
  assert_equal "$output" "$(printf "created 'a'\ncreated 'c'\nexit=1")"
  [ "$(cat a)" = x ] && [ "$(cat c)" = x ]
  assert_no_temporaries excl-create
}

# --- modes ---------------------------------------------------------------

@test "-m sets the mode exactly, octal or symbolic, with or without content" {
  umask 077
  excl-create -m 644 a
  assert_equal "$(stat -c %a a)" 644
  excl-create -m u=rw,go=r b
  assert_equal "$(stat -c %a b)" 644
  excl-create -m 600 -c secret c
  assert_equal "$(stat -c %a c)" 600
  assert_equal "$(cat c)" secret
}

@test "-m: a symbolic MODE applies to a=rw, the umask not subtracted, as --help says" {
  run excl-create --help
  assert_output --partial "MODE as in chmod, applied to a=rw"
  assert_output --partial "(-m go-w gives 0644, -m a+x 0777), the umask"
  umask 077
  excl-create -m go-w a
  assert_equal "$(stat -c %a a)" 644
  excl-create -m a+x b
  assert_equal "$(stat -c %a b)" 777
}

@test "-m keeps the set-user-ID and set-group-ID bits with content, which writing would clear" {
  # The kernel clears S_ISUID and S_ISGID when a caller without
  # CAP_FSETID writes to a file: run as such a caller (root without
  # that capability, if root).
  local run_as=()
  if [ "$(id -u)" -eq 0 ]; then
    command -v setpriv >/dev/null || skip "needs setpriv to drop CAP_FSETID"
    run_as=(setpriv --bounding-set=-fsetid)
  fi
  "${run_as[@]}" excl-create -m 4755 -c hello a
  assert_equal "$(stat -c %a a)" 4755
  assert_equal "$(cat a)" hello
  echo input | "${run_as[@]}" excl-create -m 2770 --stdin b
  assert_equal "$(stat -c %a b)" 2770
  "${run_as[@]}" excl-create -m 6755 --pid c
  assert_equal "$(stat -c %a c)" 6755
  # Without content nothing is written: the bits were always kept.
  "${run_as[@]}" excl-create -m 4755 d
  assert_equal "$(stat -c %a d)" 4755
  assert_no_temporaries excl-create
}

@test "-m with set-ID bits and content where the filesystem refuses the mode: status 3, the mode named, nothing left" {
  command -v strace >/dev/null || skip "strace is not installed"
  # The set-ID bits, cleared by the write, are given back by an fchmod,
  # which a filesystem may refuse (vfat: EPERM for a mode its mount
  # options cannot show).  Before, the message named neither the mode
  # nor that FILE was not made: "cannot set the mode of the content for
  # 'f'".
  run strace -qq -o /dev/null -e trace=fchmod \
    -e inject=fchmod:error=EPERM excl-create -m 4755 -c x f
  assert_failure 3
  assert_output "excl-create: cannot create 'f' with mode 4755: Operation not permitted"
  [ ! -e f ]
  assert_no_temporaries excl-create
  run strace -qq -o /dev/null -e trace=fchmod \
    -e inject=fchmod:error=EPERM excl-create -m u=rwxs,g=rx,o= -c x f
  assert_failure 3
  assert_output "excl-create: cannot create 'f' with mode 4750: Operation not permitted"
  assert_no_temporaries excl-create
}

@test "-m without set-ID bits: the temporary has the mode from its open(2), no fchmod" {
  command -v strace >/dev/null || skip "strace is not installed"
  # An fchmod would override a directory's default ACL, and vfat refuses
  # one to a mode it cannot show.
  strace -o trace -e trace=openat,fchmod excl-create -m 640 -c x f
  grep -q 'openat(.*"\.", O_RDWR|.*O_TMPFILE.*, 0640)' trace
  assert_equal "$(grep -c '^fchmod(' trace)" 0
  assert_equal "$(stat -c %a f)" 640
  # The same with a named temporary, where there are no unnamed files.
  named_temporaries
  strace -o trace2 -e trace=openat,fchmod excl-create -m 640 -c x g
  grep -q 'openat(.*"\.excl-create\.[^"]*", O_RDWR|O_CREAT|O_EXCL.*, 0640)' \
    trace2
  assert_equal "$(grep -c '^fchmod(' trace2)" 0
  assert_equal "$(stat -c %a g)" 640
}

@test "without -m, content or not, a directory's default ACL gives the mode, as open(2) does" {
  command -v setfacl >/dev/null || skip "setfacl is not installed (acl)"
  mkdir d
  setfacl -d -m u::rw,g::rw,o::r d || skip "no ACLs on this filesystem"
  umask 022
  excl-create -c x d/content
  excl-create d/empty
  # The umask is not applied where a default ACL is: group rw.
  assert_equal "$(stat -c %a d/content d/empty)" "664
664"
  command -v strace >/dev/null || return 0
  run strace -o trace -e trace=fchmod excl-create -c x d/again
  assert_success
  assert_equal "$(grep -c '^fchmod(' trace)" 0
}

@test "with content the final mode is what it always was: -m, or a=rw minus umask" {
  local m
  umask 077
  for m in 666 4755 600 444; do
    excl-create -m "$m" -c x "m$m"
    assert_equal "$(stat -c %a "m$m")" "$m"
  done
  umask 022
  excl-create -c x u022
  echo x | excl-create --stdin s022
  assert_equal "$(stat -c %a u022 s022)" "644
644"
  umask 002
  excl-create --pid u002
  assert_equal "$(stat -c %a u002)" 664
  umask 000
  excl-create -c x u000
  assert_equal "$(stat -c %a u000)" 666
  assert_no_temporaries excl-create
}

# --- content -------------------------------------------------------------

@test "--content writes TEXT and a newline" {
  excl-create -c "hello world" f
  assert_equal "$(od -An -c f | tr -s ' ')" " h e l l o w o r l d \n"
  assert_no_temporaries excl-create
}

@test "--pid writes the caller's pid; --pid-of=PID writes PID" {
  sh -c 'excl-create --pid p; echo $$ >expected'
  assert_equal "$(cat p)" "$(cat expected)"
  sleep 60 &
  excl-create --pid-of=$! q
  assert_equal "$(cat q)" $!
  kill $!
}

@test "--pid-of a process that does not exist: status 3, nothing created" {
  sh -c 'exit 0' &
  local dead=$!
  wait "$dead"
  run excl-create --pid-of=$dead f
  assert_failure 3
  assert_output "excl-create: cannot record process $dead: No such process"
  [ ! -e f ]
}

@test "--pid-of a zombie, --pid from outside the pid namespace: status 3, nothing created" {
  # A zombie has ended: its pid file would be judged stale at once.
  # Its parent never reaps it (perl, from Debian's essential perl-base,
  # where a shell could reap it at any time).
  background perl -e 'my $p = fork // die; exit 0 unless $p;
    open my $f, ">", "zombie.tmp" or die; print $f "$p\n"; close $f;
    rename "zombie.tmp", "zombie"; sleep 60'
  wait_until test -s zombie
  local zombie
  zombie=$(cat zombie)
  wait_until grep -q '^State:[[:space:]]*Z' "/proc/$zombie/status"
  run excl-create --pid-of="$zombie" f
  assert_failure 3
  assert_output "excl-create: cannot record process $zombie: No such process"
  [ ! -e f ]
  kill "$BG"
  wait "$BG" || :
  # In a pid namespace of its own, excl-create's parent has no pid.
  unshare --pid --fork true 2>/dev/null || skip "cannot make a pid namespace here"
  run unshare --pid --fork excl-create --pid f
  assert_failure 3
  assert_output "excl-create: cannot record the caller's process: it is outside this pid namespace (use --pid-of)"
  [ ! -e f ]
}

@test "--stdin copies standard input, to every FILE" {
  head -c 200000 /dev/urandom >data
  excl-create --stdin a b <data
  cmp data a
  cmp data b
  [ "$(stat -c %i a)" != "$(stat -c %i b)" ]
  assert_no_temporaries excl-create
}

@test "--stdin to several FILEs: a write that fails for one leaves the others uncreated, never with part of the input" {
  require_root
  mkdir small
  mount -t tmpfs -o size=64k tmpfs small
  run sh -c 'seq 1 100000 | excl-create --stdin small/a b'
  umount small
  assert_failure 3
  assert_line --index 0 "excl-create: cannot write content for 'small/a': No space left on device"
  assert_line --index 1 "excl-create: cannot write content for 'b': standard input is spent (its copy for 'small/a' failed: No space left on device)"
  [ ! -e b ]
  assert_no_temporaries excl-create
}

@test "--stdin, full disk, the first FILE exists: a later FILE's message names the write error that spent standard input" {
  require_root
  mkdir small
  mount -t tmpfs -o size=64k tmpfs small || skip "cannot mount tmpfs"
  echo theirs >small/a
  seq 1 100000 >in
  # a's copy of standard input fails (ENOSPC) where a exists: a's
  # answer is "File exists", and no message said why c gets nothing.
  run excl-create --stdin small/a c <in
  local a left
  a=$(cat small/a) left=$(ls -A small)
  umount small
  assert_failure 3
  assert_line --index 0 "excl-create: cannot create 'small/a': File exists"
  assert_line --index 1 "excl-create: cannot write content for 'c': standard input is spent (its copy for 'small/a' failed: No space left on device)"
  assert_equal "${#lines[@]}" 2
  assert_equal "$a" theirs
  assert_equal "$left" a
  [ ! -e c ]
  assert_no_temporaries excl-create
}

@test "--stdin that cannot be read: the message names FILE, which is not created, as safe-append's does" {
  # Before, it said only "error reading standard input", naming no FILE.
  mkdir d
  run excl-create --stdin f <d
  assert_failure 3
  assert_output "excl-create: cannot write content for 'f': cannot read standard input: Is a directory"
  [ ! -e f ] || fail "f was created"
  run bash -c 'excl-create --stdin g <&-'
  assert_failure 3
  assert_output "excl-create: cannot write content for 'g': cannot read standard input: Bad file descriptor"
  [ ! -e g ] || fail "g was created"
  assert_no_temporaries excl-create
}

@test "--stdin, the first FILE exists and standard input cannot be read: a later FILE's message names the read error" {
  touch a
  mkdir d
  # A directory as standard input: read(2) fails with EISDIR.
  run excl-create --stdin a b <d
  assert_failure 3
  assert_output "excl-create: cannot create 'a': File exists
excl-create: cannot write content for 'b': standard input is spent (reading it for 'a' failed: Is a directory)"
  [ ! -e b ]
  assert_no_temporaries excl-create
}

@test "--stdin: when no copy of standard input can be kept after the first FILE, a later FILE's message names why" {
  require_root
  command -v strace >/dev/null || skip "strace is not installed"
  mkdir small
  mount -t tmpfs -o size=64k tmpfs small || skip "cannot mount tmpfs"
  # Room for the first FILE's page only; no memfd: no copy anywhere.
  local page free
  page=$(getconf PAGESIZE)
  free=$(stat -f -c '%a * %S' small)
  head -c $((free - page)) /dev/zero >small/fill
  run sh -c 'echo ours | strace -qq -o /dev/null -e trace=memfd_create \
    -e inject=memfd_create:error=ENOMEM excl-create --stdin small/a b'
  local a
  a=$(cat small/a)
  umount small
  assert_failure 3
  assert_output "excl-create: cannot keep standard input for the FILEs after 'small/a': No space left on device
excl-create: cannot write content for 'b': standard input is spent (keeping it after 'small/a' failed: No space left on device)"
  assert_equal "$a" ours
  [ ! -e b ]
}

@test "--stdin: the last FILE to get standard input keeps no copy of it, even when an earlier FILE was not tried" {
  require_root
  mkdir d small
  mount -t tmpfs -o size=64k tmpfs small || skip "cannot mount tmpfs"
  # 34 KB: room for one copy on the 64 KiB filesystem, not for two.
  seq 1 7000 >data
  # 'd/' exists: status 1 before anything is read.
  run excl-create --stdin d/ small/b <data
  local b_content=same
  cmp -s data small/b || b_content=different
  umount small
  assert_failure 1
  assert_output "excl-create: cannot create 'd/': File exists"
  assert_equal "$b_content" same
}

@test "--stdin to several FILEs on a small filesystem: the copy kept for the later FILEs takes none of its room" {
  require_root
  mkdir small
  mount -t tmpfs -o size=64k tmpfs small || skip "cannot mount tmpfs"
  # 24 KB (6 pages of the 16): room for two FILEs, not for a third copy.
  seq 1 5000 >data24
  local status24 output24 same24=0
  run excl-create --stdin small/a small/b <data24
  status24=$status output24=$output
  cmp -s data24 small/a && cmp -s data24 small/b && same24=1
  rm -f small/a small/b
  # 34 KB (9 pages): room for one; the second FILE fails with ENOSPC,
  # named, and a FILE elsewhere still gets the whole input.
  seq 1 7000 >data34
  local same34=0 left
  run excl-create --stdin small/a small/b c <data34
  cmp -s data34 small/a && cmp -s data34 c && same34=1
  left=$(ls -A small)
  umount small
  assert_equal "$status24" 0
  assert_equal "$output24" ""
  assert_equal "$same24" 1
  assert_failure 3
  assert_output "excl-create: cannot write content for 'small/b': No space left on device"
  assert_equal "$same34" 1
  assert_equal "$left" a
}

@test "--stdin to several FILEs: the later ones get standard input, not what someone wrote into the first one meanwhile" {
  local shim n=0 appended=
  shim=$(command -v fault-shim.so) ||
    skip "tests/fault-shim.so is not built (make check builds it)"
  # The shim holds every pread until the test lets it go on: at the
  # first one once the first FILE is there for anyone to append to,
  # the test appends to it.
  echo original >input
  mkdir fa
  background sh -c 'exec env LD_PRELOAD="$1" FAULT_DIR="$PWD/fa" \
    FAULT_PAUSE=pread:1,pread:2,pread:3,pread:4,pread:5,pread:6 \
    excl-create --stdin g1 g2 <input' sh "$shim"
  while :; do
    n=$((n + 1))
    wait_until paused_or_dead "fa/paused.pread.$n" "$BG"
    [ -e "fa/paused.pread.$n" ] || break
    if [ -z "$appended" ] && [ -e g1 ]; then
      echo "appended by a reader of g1" >>g1
      appended=yes
    fi
    : >"fa/go.pread.$n"
  done
  wait "$BG"
  [ -n "$appended" ] || fail "no pread after g1 appeared"
  assert_equal "$(cat g2)" original
  assert_no_temporaries excl-create
}

@test "FILE exists where no temporary can be made, or is an unreadable pid file: status 1, as with O_EXCL" {
  require_root
  require_setpriv
  chmod o+x "$BATS_TEST_TMPDIR"
  mkdir ro
  touch ro/job.pid
  # uid 65534 may not write in ro: without content O_EXCL says "exists";
  # with content, which needs a temporary, the answer is the same.
  run as_nobody excl-create ro/job.pid
  assert_failure 1
  run as_nobody excl-create --pid ro/job.pid
  assert_failure 1
  assert_output "excl-create: cannot create 'ro/job.pid': File exists"
  run as_nobody excl-create -w 0.2 -c x ro/job.pid
  assert_failure 1
  assert_output "excl-create: timed out waiting for 'ro/job.pid' to be removed"
  # Absent, it is a permission error.
  rm ro/job.pid
  run as_nobody excl-create -c x ro/job.pid
  assert_failure 3
  # A pid file that cannot be read is never proved stale: kept.
  mkdir -m 1777 pub
  sleep 60 3>&- &
  local owner=$!
  excl-create -m 600 --pid-of=$owner --replace-stale pub/d.pid
  run as_nobody excl-create --pid --replace-stale pub/d.pid
  kill "$owner"
  assert_failure 1
  assert_output "excl-create: cannot create 'pub/d.pid': File exists (it cannot be read: Permission denied)"
}

# As root: a sticky directory pub, as /tmp is, holding root's stale pid
# file d.pid (the dead pid in dead), which nobody may not replace.
stale_not_nobodys() {
  require_root
  require_setpriv
  chmod o+x "$BATS_TEST_TMPDIR"
  mkdir -m 1777 pub
  dead=$(dead_pid)
  pid_record "$dead" 1 >pub/d.pid
}

# Start, as nobody, excl-create -w TIMEOUT --pid --replace-stale
# pub/d.pid in the background (its pid in waiter), and wait until it
# sleeps.  (setpriv itself, not a function: $! is then excl-create.)
waits_as_nobody() {
  setpriv --reuid=65534 --regid=65534 --clear-groups \
    excl-create -w "$1" --pid --replace-stale pub/d.pid &
  waiter=$!
  wait_until sleeps_in_poll "$waiter"
}

# A stale pid file in directory DIR, made with mode MODE, that nobody
# may not replace: --replace-stale as nobody keeps it, status 1, with
# a message that ends in WHY, and DIR holds it alone.  Sets dead.
stale_pid_kept_for_nobody() {
  local dir=$1 mode=$2 why=$3
  mkdir -m "$mode" "$dir"
  dead=$(dead_pid)
  pid_record "$dead" 1 >"$dir/d.pid"
  run as_nobody excl-create --pid --replace-stale "$dir/d.pid"
  assert_failure 1
  assert_output "excl-create: cannot create '$dir/d.pid': File exists (process $dead is gone, but $why)"
  assert_equal "$(head -n 1 "$dir/d.pid")" "$dead"
  assert_equal "$(ls -A "$dir")" d.pid
}

@test "--replace-stale: another user's stale pid file in a sticky directory is kept: status 1, as a file that cannot be read" {
  require_root
  require_setpriv
  chmod o+x "$BATS_TEST_TMPDIR"
  # Like /tmp: only a file's owner (or root) may rename it away.  Before,
  # that EPERM was status 3, a system error, though FILE exists and
  # nothing is broken: it is only not ours to replace.
  local dead
  stale_pid_kept_for_nobody pub 1777 "the file is another user's in a sticky directory, so only its owner may replace it"
  # -q: no message, the same status.
  run as_nobody excl-create -q --pid --replace-stale pub/d.pid
  assert_failure 1
  assert_output ""
  # -w waits for it to be removed, then creates it; a busy loop (each
  # look takes the takeover lock, whose change in pub woke it at once)
  # would burn a core meanwhile.
  local waiter
  waits_as_nobody 10s
  rm pub/d.pid
  wait "$waiter"
  [ "$(head -n 1 pub/d.pid)" != "$dead" ]
}

@test "--replace-stale: a stale pid file in a directory the caller may not write is kept: status 1, as in a sticky one" {
  require_root
  require_setpriv
  chmod o+x "$BATS_TEST_TMPDIR"
  # nobody may not write shut: no temporary for the new content can be
  # made there, nor the stale file renamed away.  It is not nobody's to
  # replace, as another user's in a sticky directory is not: status 1,
  # not the system error (3) it was.
  local dead
  stale_pid_kept_for_nobody shut 755 "the file cannot be replaced: Permission denied"
  # -w waits for it to change, as for one in a sticky directory; once
  # it is gone, nobody still may not create it there.
  setpriv --reuid=65534 --regid=65534 --clear-groups \
    excl-create -w 10s --pid --replace-stale shut/d.pid 2>err &
  local waiter=$!
  wait_until sleeps_in_poll "$waiter"
  rm shut/d.pid
  status=0
  wait "$waiter" || status=$?
  assert_equal "$status" 3
  assert_equal "$(cat err)" "excl-create: cannot create 'shut/d.pid': Permission denied"
  assert_equal "$(ls -A shut)" ""
}

@test "--replace-stale -w: a stale file not ours, replaced in one step, is judged anew" {
  local dead owner
  stale_not_nobodys
  # root's stale pid file: not nobody's to replace, so -w waits for it
  # to go.  Another process renames a new file over it: FILE is never
  # absent, but it is another file, and is judged.  Before, only a
  # removal ended the wait: the replacement was never looked at, and
  # the time-out named the old pid.
  sleep 60 3>&- &
  owner=$!
  local waiter
  waits_as_nobody 1s 2>err
  pid_record "$owner" >pub/new
  mv pub/new pub/d.pid
  status=0
  wait "$waiter" || status=$?
  kill "$owner"
  assert_equal "$status" 1
  assert_equal "$(cat err)" "excl-create: timed out waiting for 'pub/d.pid' to be removed (process $owner is running)"
  # The same, with a stale file that is ours: replaced, and created.
  pid_record "$dead" 1 >pub/d.pid
  waits_as_nobody 10s
  pid_record "$dead" 1 >pub/new
  chown 65534:65534 pub/new
  mv pub/new pub/d.pid
  wait "$waiter"
  [ "$(head -n 1 pub/d.pid)" != "$dead" ]
  [ "$(stat -c %u pub/d.pid)" = 65534 ]
}

@test "--replace-stale -w: a stale file not ours, replaced between its judgement and the wait, is judged too" {
  local owner shim
  shim=$(command -v fault-shim.so) ||
    skip "tests/fault-shim.so is not built (make check builds it)"
  stale_not_nobodys
  sleep 60 3>&- &
  owner=$!
  # nobody judges root's stale d.pid not ours to replace, and is held
  # by the shim at the release of the takeover lock (its first
  # unlinkat), before it waits for d.pid to change, until d.pid has
  # been replaced.  (FAULT_DIR is relative: nobody may not search the
  # directories above this one.)
  mkdir -m 777 fa
  background sh -c 'exec env LD_PRELOAD="$1" FAULT_DIR=fa \
    FAULT_PAUSE=unlinkat:1 setpriv --reuid=65534 --regid=65534 \
    --clear-groups excl-create -w 4s --pid --replace-stale pub/d.pid \
    2>err' sh "$shim"
  wait_until test -e fa/paused.unlinkat.1
  # Meanwhile d.pid is replaced by a live owner's pid file, again and
  # again until the new file has the inode number of the one judged
  # (ext4 gives a freed number to the next file made in the directory;
  # a bounded loop, since where the judged file is held open it cannot).
  # Before, the file judged was closed before the lock was released,
  # and opened again only for the wait: the new d.pid, with the number
  # of the one judged, looked like it, was never judged, and the
  # time-out named the dead pid.
  pid_record "$owner" >record
  perl -e 'open (R, "<", "record") or die; local $/; my $r = <R>;
    my $judged = (stat "pub/d.pid")[1] or die;
    for (1 .. 1000) {
      open (W, ">", "pub/new") or die; print W $r; close W;
      my $new = (stat "pub/new")[1];
      rename ("pub/new", "pub/d.pid") or die;
      last if $new == $judged; }'
  : >fa/go.unlinkat.1
  local status=0
  wait "$BG" || status=$?
  kill "$owner"
  assert_equal "$status" 1
  assert_equal "$(cat err)" "excl-create: timed out waiting for 'pub/d.pid' to be removed (process $owner is running)"
}

@test "--replace-stale -w: stale files not ours renamed over FILE without end: the deadline is still kept" {
  command -v strace >/dev/null || skip "strace is not installed"
  local dead renamer
  stale_not_nobodys
  # root's stale files, one renamed over the other without end.
  pid_record "$dead" 1 >record
  perl -e 'open (R, "<", "record") or die; local $/; my $r = <R>;
    while (1) { open (W, ">", "pub/new") or die; print W $r; close W;
                rename ("pub/new", "pub/d.pid") or die; }' &
  renamer=$!
  # Each openat slowed down: FILE has always been replaced again by
  # the time the file judged is held open.  Before, that was a new FILE
  # to judge at once, the deadline not looked at: it waited for ever.
  run timeout 20 strace -f -qq -o /dev/null \
    -e inject=openat:delay_enter=100000 \
    setpriv --reuid=65534 --regid=65534 --clear-groups \
    excl-create -w 1s --pid --replace-stale pub/d.pid
  kill "$renamer"
  wait "$renamer" || true
  # 1, the time-out of -w: before, timeout's 124 after its 20 s.
  assert_failure 1
  assert_output --partial "timed out waiting for 'pub/d.pid' to be removed (process $dead is gone"
}

@test "content for an existing FILE: status 1, old content kept, no temporary" {
  echo old >f
  run excl-create -c new f
  assert_failure 1
  assert_equal "$(cat f)" old
  assert_no_temporaries excl-create
}

@test "content for an existing FILE whose temporary cannot be removed (I/O error): status 1, and a warning names the temporary" {
  named_temporaries
  command -v strace >/dev/null || skip "strace is not installed"
  mkdir d
  echo old >d/f
  # The content is written to a temporary, FILE is found to exist, and
  # the temporary's unlink fails.  Before, it was left there, unsaid.
  run strace -o /dev/null -e trace=unlinkat \
    -e inject=unlinkat:error=EIO:when=1 excl-create -c new d/f
  assert_failure 1
  assert_line --index 0 "excl-create: cannot create 'd/f': File exists"
  assert_line --index 1 --regexp "^excl-create: warning: cannot remove the temporary 'd/\.excl-create\.[A-Za-z0-9]{6}': Input/output error\$"
  assert_equal "${#lines[@]}" 2
  assert_equal "$(cat d/f)" old
  [[ ${lines[1]} =~ \'(d/\.excl-create\.[A-Za-z0-9]{6})\' ]]
  assert_equal "$(cat "${BASH_REMATCH[1]}")" new
}

@test "without /proc, the unnamed file is linked with AT_EMPTY_PATH (CAP_DAC_READ_SEARCH)" {
  command -v strace >/dev/null || skip "strace is not installed"
  require_root
  local shim
  shim=$(command -v fault-shim.so) ||
    skip "tests/fault-shim.so is not built (make check builds it)"
  # The links through /proc (the probe's and the real one) fail as
  # where /proc is not mounted.
  run strace -o trace -e trace=linkat -E LD_PRELOAD="$shim" \
    -E FAULT_NO_PROC=1 excl-create -c data f
  assert_success
  assert_output ""
  assert_equal "$(cat f)" data
  grep -q '^linkat([0-9]*, "", [0-9]*, "f", AT_EMPTY_PATH) *= 0$' trace
  assert_equal "$(ls -A)" "f
trace"
}

@test "an unnamed file that cannot be linked (no /proc, no CAP_DAC_READ_SEARCH): a named temporary gets its content, standard input read once" {
  command -v strace >/dev/null || skip "strace is not installed"
  # Both ways to link the unnamed file fail, as without /proc and
  # without the capability (ENOENT): its content, read from standard
  # input, is copied to a named temporary, which is linked as before.
  # (The first linkat is the probe, which finds a way: it is let
  # through.)
  echo data >in
  run strace -o /dev/null -e trace=linkat \
    -e inject=linkat:error=ENOENT:when=2..3 excl-create --stdin f <in
  assert_success
  assert_output ""
  assert_equal "$(cat f)" data
  assert_equal "$(ls -A)" "f
in"
}

@test "no /proc and no AT_EMPTY_PATH link: the content goes to a named temporary at once, written once" {
  command -v strace >/dev/null || skip "strace is not installed"
  local shim
  shim=$(command -v fault-shim.so) ||
    skip "tests/fault-shim.so is not built (make check builds it)"
  # Where the unnamed file could never be linked, it was filled, then
  # copied to a named temporary: the content was written twice.
  run strace -qq -o trace -e trace=write -E LD_PRELOAD="$shim" \
    -E FAULT_NO_PROC=1 -E FAULT_NO_FLINK=1 excl-create -c data f
  assert_success
  assert_output ""
  assert_equal "$(cat f)" data
  assert_equal "$(grep -c '^write([0-9]*, "data\\n", 5) *= 5$' trace)" 1
  assert_equal "$(ls -A)" "f
trace"
}

@test "a /proc without our /proc/self/fd and no AT_EMPTY_PATH link: the content goes to a named temporary at once, written once" {
  require_root
  command -v strace >/dev/null || skip "strace is not installed"
  command -v unshare >/dev/null || skip "unshare is not installed"
  local shim
  shim=$(command -v fault-shim.so) ||
    skip "tests/fault-shim.so is not built (make check builds it)"
  # /proc is mounted, but (as in another pid namespace's /proc, after
  # nsenter -m) it does not lead to our descriptors: that /proc is
  # mounted said the unnamed file could be linked, it was filled, then
  # copied to a named temporary.  exec keeps the pid of the shell.
  run strace -f -qq -o trace -e trace=write unshare -m \
    --propagation private sh -c 'mount -t tmpfs none "/proc/$$/fd" &&
      exec env LD_PRELOAD="$1" FAULT_NO_FLINK=1 excl-create -c data f' \
    sh "$shim"
  assert_success
  assert_output ""
  assert_equal "$(cat f)" data
  assert_equal "$(grep -c ' write([0-9]*, "data\\n", 5) *= 5$' trace)" 1
  assert_equal "$(ls -A)" "f
trace"
}

@test "no /proc and no AT_EMPTY_PATH link, -w, full disk, FILE exists: it waits, as with a named temporary, status 1" {
  require_root
  local shim
  shim=$(command -v fault-shim.so) ||
    skip "tests/fault-shim.so is not built (make check builds it)"
  mkdir small
  mount -t tmpfs -o size=64k tmpfs small || skip "cannot mount tmpfs"
  echo theirs >small/f
  # Room for one page: the content's first file fits, a copy would not.
  head -c 4096 /dev/zero >small/pad
  head -c 1000000 /dev/zero >small/fill 2>/dev/null || true
  rm small/pad
  # Before, the unnamed file took the page, its copy to a named
  # temporary found none, and that failure was final with -w: status 3.
  run env LD_PRELOAD="$shim" FAULT_NO_PROC=1 FAULT_NO_FLINK=1 \
    excl-create -w 0.2 -c x small/f
  local content left
  content=$(cat small/f)
  left=$(ls -A small | tr '\n' ' ')
  umount small
  assert_failure 1
  assert_output "excl-create: timed out waiting for 'small/f' to be removed"
  assert_equal "$content" theirs
  assert_equal "$left" "f fill "
}

@test "an append-only directory gets FILE with its content, no temporary left and no warning" {
  mkdir d
  make_append_only d
  # Names can be added to d, never removed.  Before, the content's
  # temporary, linked to d/f, could not be unlinked: every call left
  # one, with a warning.
  run excl-create -c data d/f
  local left
  left=$(ls -A d)
  chattr -a d
  assert_success
  assert_output ""
  assert_equal "$left" f
  assert_equal "$(cat d/f)" data
}

@test "at the descriptor limit, content still goes through an unnamed file: no spare descriptor is needed" {
  # Descriptors 0-2, FILE's directory and the unnamed file fill a limit
  # of 5.  The duplicate whose close checks for late write errors
  # cannot be had: before, that failed FILE ("cannot write content
  # for 'f': Too many open files", status 3), where the named
  # temporary had worked.
  run bash -c 'exec 3>&- 4>&-; ulimit -n 5; exec excl-create -c data f'
  assert_success
  assert_output ""
  assert_equal "$(cat f)" data
  assert_equal "$(ls -A)" f
}

# --- waiting -------------------------------------------------------------

@test "--wait with a timeout: status 1 when FILE stays" {
  : >f
  run excl-create --wait=200ms f
  assert_failure 1
  assert_output --partial "timed out waiting for 'f' to be removed"

  run excl-create -q -w0.1 f
  assert_failure 1
  assert_output ""

  run excl-create -q -w 0.1 f
  assert_failure 1
  assert_output ""

  run excl-create --wait=0 f
  assert_failure 1
}

@test "--timeout=DURATION is the same as --wait, as in lockdir" {
  : >f
  run excl-create --timeout=10ms f
  assert_failure 1
  assert_output "excl-create: timed out waiting for 'f' to be removed"
  # Named as --help names it, whichever spelling was used.
  run excl-create --timeout=soon f
  assert_usage_error excl-create
  assert_line --partial "invalid duration for --wait: 'soon'"
  rm f
  run excl-create --timeout=inf -c data f
  assert_success
  assert_equal "$(cat f)" data
  run excl-create --help
  assert_line "      --timeout=DURATION  the same as --wait"
}

@test "-w with several FILEs: DURATION is for them all, not for each" {
  shim=$(command -v fault-shim.so) ||
    skip "tests/fault-shim.so is not built (make check builds it)"
  : >a
  : >b
  # The clock runs 100 s ahead once the deadline is set (the first
  # reading): the wait for a runs out at once.  One deadline for all
  # FILEs means b's has passed too; a deadline of its own would wait
  # 60 s more for b, and timeout(1) would end it with 124.
  run timeout 20 env LD_PRELOAD="$shim" FAULT_CLOCK_AHEAD=1:100 \
    excl-create -w 60 a b
  assert_failure 1
  assert_line --index 0 "excl-create: timed out waiting for 'a' to be removed"
  assert_line --index 1 "excl-create: timed out waiting for 'b' to be removed"
}

@test "-w 0 waits for nothing: FILE exists, not 'timed out waiting'" {
  : >f
  run excl-create -w 0 f
  assert_failure 1
  assert_output "excl-create: cannot create 'f': File exists"
  echo tickets >p
  run excl-create -w 0 --pid --replace-stale p
  assert_failure 1
  assert_output "excl-create: cannot create 'p': File exists (it is not a pid file)"
}

@test "-w takes its DURATION as the next word: -w 10s f creates only f (issue 12)" {
  # Without the fix -w took no separate argument: '10s' became a FILE.
  run excl-create -w 10s f
  assert_success
  [ -e f ]
  [ ! -e 10s ]
  run excl-create -w 1m g
  assert_success
  [ -e g ] && [ ! -e 1m ]
}

@test "--wait: FILE removed while waiting is then created (woken by dnotify)" {
  echo old >f
  excl-create -w10s -c new f &
  pid=$!
  # The waiter sleeps in poll(2), watching the directory with dnotify:
  # no inotify instance, whose close would cost milliseconds.
  wait_until sleeps_in_poll "$pid"
  ! has_inotify_fd "$pid" || fail "the waiter holds an inotify instance"
  rm f
  wait "$pid"
  assert_equal "$(cat f)" new
  assert_no_temporaries excl-create
}

# start_waiting OPTION...: with d/f there, start 'excl-create OPTION...
# d/f' in the background, its pid in $pid, and return once it sleeps
# in its wait.
start_waiting() {
  mkdir d
  echo old >d/f
  excl-create "$@" d/f &
  pid=$!
  wait_until sleeps_in_poll "$pid"
}

# Neither d nor d.old holds a temporary of excl-create.
assert_no_temporaries_in_either() {
  assert_no_temporaries excl-create d
  assert_no_temporaries excl-create d.old
}

# Put the directory d.old, made beforehand, in d's place in one step,
# and d, where excl-create waits, at d.old (atomic-swap exchanges them):
# 'mv d d.old; mkdir d' leaves a moment without a d, which the wait's
# look at d's name every second could fall into.
replace_d() {
  atomic-swap d d.old
}

# replace_d, then remove f from the old d, where excl-create waits: the
# name it waits for is free there.  Wait for excl-create; its status in
# $rc.
replace_d_and_wait() {
  replace_d
  rm d.old/f
  rc=0
  wait "$pid" || rc=$?
}

@test "--wait: FILE's directory replaced while waiting: FILE is created in the new one" {
  # 'mv d d.old; mkdir d' while -w waits: the file named d/f is made in
  # the new d, never as d.old/f; the content's temporary moves along.
  local how
  for how in empty content stdin; do
    mkdir d
    echo old >d/f
    case $how in
      empty) excl-create -w10s -v d/f >out & ;;
      content) excl-create -w10s -v -c new d/f >out & ;;
      stdin) echo new | excl-create -w10s -v --stdin d/f >out & ;;
    esac
    pid=$!
    wait_until sleeps_in_poll "$pid"
    mkdir d.old
    replace_d
    rm d.old/f
    wait "$pid" || fail "$how: status $?"
    assert_equal "$(cat out)" "created 'd/f'"
    [ -e d/f ] || fail "$how: no d/f"
    [ "$how" = empty ] || assert_equal "$(cat d/f)" new
    [ ! -e d.old/f ] || fail "$how: created in the old directory"
    assert_no_temporaries excl-create d
    assert_no_temporaries excl-create d.old
    rm -r d d.old
  done
}

@test "--wait: a replaced directory is noticed within a second, with no change in the old one" {
  start_waiting -w5s -c new
  mkdir d.old
  replace_d
  # Nothing happens in d.old: the wait looks at d's name every second.
  wait "$pid" || fail "status $?"
  assert_equal "$(cat d/f)" new
  assert_equal "$(cat d.old/f)" old
  assert_no_temporaries_in_either
}

@test "--wait: a timeout after FILE's directory was replaced is about the new one" {
  start_waiting -w2s -c new 2>err
  mkdir d.old
  echo other >d.old/f
  local rc
  replace_d_and_wait
  assert_equal "$rc" 1
  assert_equal "$(cat err)" "excl-create: timed out waiting for 'd/f' to be removed"
  assert_equal "$(cat d/f)" other
  [ ! -e d.old/f ]
  assert_no_temporaries_in_either
}

# True once DIR holds a temporary of excl-create.
has_temporary() {
  [ -n "$(find "$1" -maxdepth 1 -name '.excl-create.*' -print)" ]
}

@test "--wait: a signal after the temporary moved to FILE's new directory leaves it in neither" {
  named_temporaries
  start_waiting -w10s -c new
  mkdir d.old
  echo other >d.old/f
  replace_d
  rm d.old/f
  # The temporary is now in the new d, and the wait goes on there.
  wait_until has_temporary d
  wait_until sleeps_in_poll "$pid"
  kill -TERM "$pid"
  local rc=0
  wait "$pid" || rc=$?
  assert_equal "$rc" 143
  assert_equal "$(cat d/f)" other
  assert_no_temporaries_in_either
}

@test "--wait: FILE's directory replaced by one on another filesystem: status 3, nothing made" {
  require_root
  start_waiting -w10s -c new 2>err
  # The new d: a link to a directory in a tmpfs.
  mkdir m
  mount -t tmpfs -o size=1m tmpfs m || { kill "$pid"; skip "cannot mount tmpfs"; }
  mkdir m/x
  ln -s m/x d.old
  local rc files
  replace_d_and_wait
  files=$(ls -A d/)$(ls -A d.old)
  umount m
  assert_equal "$rc" 3
  assert_equal "$(cat err)" "excl-create: cannot create 'd/f': its directory was replaced while waiting: Invalid cross-device link"
  assert_equal "$files" ""
}

@test "--wait: FILE's directory replaced by another mount of its filesystem: FILE is created there" {
  # A file without a name can be linked only within its mount: the
  # content gets a new one in the new d.  Before, the named temporary
  # could not be moved there either (EXDEV): status 3, though the help
  # says that only another filesystem stops it.
  require_root
  start_waiting -w10s -c new 2>err
  mkdir x b
  mount --bind x b || { kill "$pid"; skip "cannot bind-mount"; }
  ln -s b d.old
  local rc made
  replace_d_and_wait
  made=$(cat b/f 2>&1) || true
  umount b
  assert_equal "$rc" 0
  assert_equal "$(cat err)" ""
  assert_equal "$made" new
  assert_equal "$(ls -A x)" f
  assert_equal "$(ls -A d.old)" ""
}

@test "--wait: FILE's directory replaced on the same mount: the content's unnamed file is linked there, not copied (room for one copy only)" {
  # A copy of the content is needed only on another mount of the
  # filesystem.  On the same mount the unnamed file itself is linked in
  # the new d: a filesystem with room for one copy still gets FILE.
  require_root
  mkdir small
  mount -t tmpfs -o size=96k tmpfs small || skip "cannot mount tmpfs"
  cd small
  local content
  content=$(head -c 60000 /dev/zero | tr '\0' a)
  start_waiting -w10s -c "$content" 2>../err
  mkdir d.old
  local rc made
  replace_d_and_wait
  made=$(cat d/f 2>&1) || true
  cd ..
  umount small
  assert_equal "$(cat err)" ""
  assert_equal "$rc" 0
  assert_equal "${#made}" 60000
}

@test "--wait: FILE's directory renamed away or removed while waiting: status 3, the message says so, nothing made" {
  # Nothing is in d's place: the message does not say "replaced".
  local how rc
  for how in renamed removed; do
    start_waiting -w10s -c new 2>err
    mv d d.old
    rm d.old/f
    [ "$how" = removed ] && rmdir d.old
    rc=0
    wait "$pid" || rc=$?
    assert_equal "$how: $rc" "$how: 3"
    assert_equal "$(cat err)" "excl-create: cannot create 'd/f': its directory was removed or renamed while waiting: No such file or directory"
    [ ! -e d ]
    [ "$how" = removed ] || assert_equal "$(ls -A d.old)" ""
    rm -rf d.old
  done
}

@test "--wait: FILE's directory replaced by a symlink loop, a file or a dangling link: status 3, nothing made" {
  # The path d no longer leads to a directory: it does not lead to the
  # old one either, wherever stat fails (ELOOP as much as ENOENT).
  local how msg
  for how in loop file dangling; do
    start_waiting -w10s -c new 2>err
    case $how in
      loop) ln -s d d.old; msg="Too many levels of symbolic links" ;;
      file) : >d.old; msg="Not a directory" ;;
      dangling) ln -s nowhere d.old; msg="No such file or directory" ;;
    esac
    local rc
    replace_d_and_wait
    assert_equal "$how: $rc" "$how: 3"
    assert_equal "$(cat err)" "excl-create: cannot create 'd/f': its directory was replaced while waiting: $msg"
    assert_equal "$how: $(ls -A d.old)" "$how: "
    rm -r d d.old
  done
}

@test "--wait: FILE's directory replaced by a link to one the caller may not search: status 3, nothing made" {
  # stat of d then fails with EACCES: d no longer leads to the directory
  # held, as far as the caller can see.  Before, only ENOENT, ENOTDIR,
  # ELOOP and ENAMETOOLONG counted: the wait went on in d.old, and
  # created d.old/f with status 0, saying it had made d/f.
  require_root
  require_setpriv
  chmod o+x "$BATS_TEST_TMPDIR"
  mkdir d
  echo old >d/f
  chown -R 65534:65534 d
  setpriv --reuid=65534 --regid=65534 --clear-groups \
    excl-create -w10s -c new d/f 2>err &
  pid=$!
  wait_until sleeps_in_poll "$pid"
  mkdir -m 700 private
  mkdir private/x
  ln -s private/x d.old
  local rc
  replace_d_and_wait
  assert_equal "$rc" 3
  assert_equal "$(cat err)" "excl-create: cannot create 'd/f': its directory was replaced while waiting: Permission denied"
  assert_equal "$(ls -A d.old)" ""
  assert_equal "$(ls -A private/x)" ""
}

@test "--wait --replace-stale: FILE's directory replaced while waiting for a live owner" {
  sleep 60 &
  owner=$!
  mkdir d
  echo "$owner" >d/f
  excl-create -w10s --pid --replace-stale d/f &
  pid=$!
  wait_until sleeps_in_poll "$pid"
  mkdir d.old
  replace_d
  local rc=0
  wait "$pid" || rc=$?
  kill "$owner"
  assert_equal "$rc" 0
  [ -s d/f ]
  assert_equal "$(cat d.old/f)" "$owner"
  assert_no_temporaries_in_either
}

@test "control: where dnotify fails, --wait falls back to inotify and still wakes" {
  echo old >f
  LD_PRELOAD="$(lockdir_shim)" LOCKDIR_SHIM_NO_DNOTIFY=1 excl-create -w10s -c new f &
  pid=$!
  wait_until has_inotify_fd "$pid"
  rm f
  wait "$pid"
  assert_equal "$(cat f)" new
}

# The inode (in hex, as fdinfo gives it) of the directory process PID
# watches with inotify, or nothing while it watches none.
watched_inode() {
  local fd
  for fd in /proc/"$1"/fd/*; do
    [ "$(readlink "$fd" 2>/dev/null)" = "anon_inode:inotify" ] || continue
    sed -n 's/^inotify wd:[0-9]* ino:\([0-9a-f]*\) .*/\1/p' \
      /proc/"$1"/fdinfo/"${fd##*/}"
  done
}

@test "--wait: where dnotify fails, inotify watches the directory the waiter holds, not the one its name leads to now" {
  # d is swapped with another directory between the waiter's open of d
  # and its inotify_add_watch, and swapped back after: watched by its
  # name, the other directory was watched, and a change in the held one
  # woke nobody (the once-a-second look at d's name found it later).
  # The shim stops the waiter before and after the watch is added; the
  # watch's inode, read while it is stopped, says which was watched.
  mkdir d other
  echo old >d/f
  local held
  held=$(printf '%x' "$(stat -c %i d)")
  LD_PRELOAD="$(lockdir_shim)" LOCKDIR_SHIM_NO_DNOTIFY=1 \
    LOCKDIR_SHIM_STOP_WATCH=1 excl-create -w10s -c new d/f &
  pid=$!
  wait_until is_stopped "$pid"
  atomic-swap d other
  kill -CONT "$pid"
  wait_until eval '[ -n "$(watched_inode '"$pid"')" ] && is_stopped '"$pid"
  local watched
  watched=$(watched_inode "$pid")
  atomic-swap d other
  kill -CONT "$pid"
  wait_until sleeps_in_poll "$pid"
  rm d/f
  wait "$pid"
  assert_equal "$watched" "$held"
  assert_equal "$(cat d/f)" new
}

@test "--wait: a plain create waits too, -w inf as long as it takes" {
  : >f
  excl-create -w inf f &
  pid=$!
  wait_until sleeps_in_poll "$pid"
  rm f
  wait "$pid"
  [ -e f ]
}

@test "--wait: 'infinity' is 'inf', as --help says" {
  run excl-create --help
  assert_line "d; 0 means do not wait, 'inf' or 'infinity' means forever;"
  : >f
  excl-create -w infinity -c x f &
  pid=$!
  wait_until sleeps_in_poll "$pid"
  rm f
  wait "$pid"
  assert_equal "$(cat f)" x
}

@test "help example: excl-create -w 10s --pid lockfile waits for it to go" {
  echo 1 >lockfile
  sh -c 'excl-create -w 10s --pid lockfile; echo $$ >expected' &
  local waiter=$!
  wait_until pgrep -f -P "$waiter" 'excl-create -w 10s'
  local pid
  pid=$(pgrep -f -P "$waiter" 'excl-create -w 10s')
  wait_until sleeps_in_poll "$pid"
  rm lockfile
  wait "$waiter"
  assert_equal "$(cat lockfile)" "$(cat expected)"
}

@test "help example: excl-create -w inf -c ready flag" {
  run excl-create -w inf -c ready flag
  assert_success
  assert_equal "$(cat flag)" ready
}

# --- durability ------------------------------------------------------------

# The descriptor number openat returned for NAME in strace log LOG.
opened_fd() {
  sed -n "s/^openat(.*\"$2\", .*) = \([0-9]*\)\$/\1/p" "$1"
}

@test "-S: a failed fsync still closes the file (issue 11 item 14)" {
  command -v strace >/dev/null || skip "strace is not installed"
  # The first fsync (of 'a') fails.  Its descriptor must be closed all
  # the same, so 'b' gets the same number; the fix's predecessor leaked
  # it, and 'b' got the next one.
  run strace -o trace -e trace=openat,close,fsync \
    -e inject=fsync:error=EIO:when=1 excl-create -S a b
  assert_failure 3
  assert_line "excl-create: created 'a', but cannot sync it: Input/output error"
  assert_equal "$(opened_fd trace a)" "$(opened_fd trace b)"

  # With content, the descriptor of its unnamed file.
  run strace -o trace2 -e trace=openat,close,fsync \
    -e inject=fsync:error=EIO:when=1 excl-create -S -c x c d
  assert_failure 3
  assert_line --partial "cannot sync the content for 'c': Input/output error"
  local fds
  fds=$(sed -n 's/^openat(.*"\.", .*O_TMPFILE.*) = \([0-9]*\)$/\1/p' trace2 | sort -u | wc -l)
  assert_equal "$fds" 1
  [ ! -e c ] && [ -e d ]
  assert_no_temporaries excl-create
}

@test "-S: a failed sync of the directory says that FILE was created" {
  command -v strace >/dev/null || skip "strace is not installed"
  # The second fsync, of the directory, fails: FILE is there all the
  # same, and the caller must not take the status 3 for "not created".
  run_failing_fsync 2 excl-create -S -c x f
  assert_failure 3
  assert_output "excl-create: created 'f', but cannot sync its directory: Input/output error"
  assert_equal "$(cat f)" x
  assert_no_temporaries excl-create
}

@test "a temporary that cannot be removed once FILE is made is named, not left silently" {
  named_temporaries
  command -v strace >/dev/null || skip "strace is not installed"
  # FILE is made by link(2) from the complete temporary, which is then
  # unlinked.  That unlink fails here (EIO, as on a network filesystem,
  # or EROFS when an error has just remounted the filesystem read-only).
  # Before, nothing was said: the temporary stayed behind as a second
  # name of FILE.  FILE was made: status 0 (it was 3 for a while, which
  # told a caller it had lost).
  run strace -o /dev/null -e trace=unlinkat \
    -e inject=unlinkat:error=EIO:when=1 excl-create -c x f
  assert_success
  assert_output --regexp "^excl-create: warning: created 'f', but its temporary name '\.excl-create\.[^']+' cannot be removed: Input/output error\$"
  assert_equal "$(cat f)" x
  local left=${output#*temporary name \'}
  left=${left%%\'*}
  [ "$(cat "$left")" = x ]
}

@test "a temporary that cannot be removed is named from the current directory, with one slash" {
  named_temporaries
  command -v strace >/dev/null || skip "strace is not installed"
  mkdir d
  run strace -o /dev/null -e trace=unlinkat \
    -e inject=unlinkat:error=EIO:when=1 excl-create -c x d/f
  assert_success
  assert_output --regexp "^excl-create: warning: created 'd/f', but its temporary name 'd/\.excl-create\.[^'/]+' cannot be removed: Input/output error\$"
  require_root
  local file=/excl-create-test.$$
  [ ! -e "$file" ] && [ ! -L "$file" ] || skip "$file exists"
  [ -w / ] || skip "/ is not writable"
  run strace -o /dev/null -e trace=unlinkat \
    -e inject=unlinkat:error=EIO:when=1 excl-create -c x "$file"
  local left=${output#*temporary name \'}
  left=${left%%\'*}
  rm -f "$file" "$left"
  assert_success
  assert_output --regexp "^excl-create: warning: created '$file', but its temporary name '/\.excl-create\.[^'/]+' cannot be removed: Input/output error\$"
}

@test "a failed close is reported as such, not as a sync failure (issue 11 item 14)" {
  command -v strace >/dev/null || skip "strace is not installed"
  # Find which close(2) call closes the new file, then make it fail.
  strace -o dry -e trace=openat,close excl-create a
  local fd n
  fd=$(opened_fd dry a)
  n=$(awk -v want="close($fd)" '/^close\(/ { n++ } index($0, want) == 1 { print n; exit }' dry)
  rm a
  run strace -o trace -e trace=close -e inject=close:error=EIO:when="$n" excl-create a
  assert_failure 3
  assert_output "excl-create: created 'a', but closing it failed: Input/output error"
  [ -e a ]
}

@test "-S fsyncs the new file and its directory" {
  command -v strace >/dev/null || skip "strace is not installed"
  run strace -f -e trace=fsync -o trace excl-create -S -c x f
  assert_success
  # Once for the content, once for the directory.
  assert_equal "$(grep -c 'fsync(' trace)" 2
  run strace -f -e trace=fsync -o trace2 excl-create -S g
  assert_success
  assert_equal "$(grep -c 'fsync(' trace2)" 2
}

@test "content is published with link(2), never written in place" {
  command -v strace >/dev/null || skip "strace is not installed"
  strace -f -e trace=openat,linkat,link,write,unlinkat -o trace \
    excl-create -c data f
  # The final name is made by linkat from the unnamed file, through
  # /proc; no open of 'f', and nothing to unlink.
  local fd
  fd=$(sed -n 's/^[0-9]* *openat(.*"\.", O_RDWR|.*O_TMPFILE.*) = \([0-9]*\)$/\1/p' \
    trace)
  [ -n "$fd" ]
  grep -q "linkat(AT_FDCWD, \"/proc/self/fd/$fd\", .*\"f\", AT_SYMLINK_FOLLOW) = 0" \
    trace
  ! grep -q 'openat(.*"f",' trace
  ! grep -q '^unlinkat(' trace
  # Where there are no unnamed files: linkat from a named temporary.
  named_temporaries
  strace -f -e trace=openat,linkat,link,write,unlinkat -o trace2 \
    excl-create -c data g
  grep -q 'linkat(.*"\.excl-create\.[^"]*", .*"g", 0) = 0' trace2
  ! grep -q 'openat(.*"g",' trace2
}

# --- signals ---------------------------------------------------------------

# Start excl-create --stdin f reading from a FIFO we keep open (on
# descriptor $w), so it is stuck mid-write, 'partial ' written to its
# (named) temporary; its pid is $pid.
start_mid_write() {
  named_temporaries
  mkfifo in
  # Background jobs of a script start with SIGINT and SIGQUIT ignored,
  # and 'nohup make check' ignores SIGHUP: give the tool every default
  # action, as an interactive ^C, ^\ or hang-up would find.
  env --default-signal excl-create --stdin f <in &
  pid=$!
  exec {w}>in
  printf 'partial ' >&$w
  wait_until compgen -G '.excl-create.*'
}

# Stop excl-create mid-write (start_mid_write), then send SIG.
interrupt_mid_write() {
  local sig=$1 pid w
  start_mid_write
  kill -s "$sig" "$pid"
  # Close our end before waiting: if the signal did not kill it,
  # excl-create then finishes (and the checks below fail) instead of
  # waiting for more input forever.
  exec {w}>&-
  status=0
  wait "$pid" || status=$?
  [ ! -e f ]
  assert_no_temporaries excl-create
}

@test "SIGTERM mid-write leaves no temporary and no FILE" {
  interrupt_mid_write TERM
  assert_equal "$status" 143
}

# True once process PID has a child.
has_child() {
  pgrep -P "$1" >/dev/null
}

# True once process PID has a file in directory DIR open.
has_open_in() {
  ls -l "/proc/$1/fd" 2>/dev/null | grep -q -F -- " $2/"
}

@test "SIGKILL mid-write leaves no FILE and nothing else: the content's file has no name" {
  command -v strace >/dev/null || skip "strace is not installed"
  mkdir d
  # The content's write(2) is held for a minute (never waited out):
  # excl-create is killed while it writes.  Before, its temporary
  # '.excl-create.XXXXXX' was left in d.
  strace -o /dev/null -e trace=write \
    -e inject=write:delay_enter=60000000:when=1 excl-create -c data d/f &
  local tracer=$! pid
  wait_until has_child "$tracer"
  pid=$(pgrep -P "$tracer")
  # The content's file is open: its write is next.
  wait_until has_open_in "$pid" "$PWD/d"
  kill -KILL "$pid"
  # strace ends as its tracee did.
  local rc=0
  wait "$tracer" 2>/dev/null || rc=$?
  assert_equal "$rc" 137
  assert_equal "$(ls -A d)" ""
}

@test "SIGKILL mid-write with a named temporary leaves no FILE, only the temporary (man page, BUGS)" {
  named_temporaries
  # What cannot be caught cannot be cleaned up: the manual says so.
  mkfifo in
  excl-create --stdin f <in &
  local pid=$!
  exec {w}>in
  printf 'partial content' >&$w
  wait_until compgen -G '.excl-create.*'
  kill -KILL "$pid"
  exec {w}>&-
  local status=0
  wait "$pid" || status=$?
  assert_equal "$status" 137
  [ ! -e f ]
  run compgen -G '.excl-create.*'
  assert_success
  assert_equal "${#lines[@]}" 1
}

@test "SIGINT and SIGHUP mid-write leave no temporary" {
  interrupt_mid_write INT
  assert_equal "$status" 130
  rm in
  interrupt_mid_write HUP
  assert_equal "$status" 129
}

@test "every other fatal signal mid-write leaves no temporary (issue 11 item 22)" {
  local sig
  # Not SIGPIPE, which is ignored (the next test).
  for sig in QUIT USR1 USR2 ALRM XCPU VTALRM PROF IO PWR RTMIN RTMAX; do
    # Death by that very signal: 128 + its number.
    interrupt_mid_write "$sig"
    assert_equal "$status" "$((128 + $(kill -l "$sig")))"
    rm in
  done
}

@test "SIGPIPE mid-write is ignored, as lockdir and safe-append ignore it: FILE gets all of the input" {
  local pid w
  start_mid_write
  kill -s PIPE "$pid"
  printf 'content' >&$w
  exec {w}>&-
  local status=0
  wait "$pid" || status=$?
  assert_equal "$status" 0
  assert_equal "$(cat f)" "partial content"
  assert_no_temporaries excl-create
}

@test "a signal the caller ignores stays ignored (issue 11 item 22)" {
  named_temporaries
  mkfifo in
  env --ignore-signal=USR1 excl-create --stdin f <in &
  local pid=$!
  exec {w}>in
  printf 'first ' >&$w
  wait_until compgen -G '.excl-create.*'
  kill -s USR1 "$pid"
  printf 'second\n' >&$w
  exec {w}>&-
  wait "$pid"
  assert_equal "$(cat f)" "first second"
  assert_no_temporaries excl-create
}

@test "past the file size limit: File too large, status 3, no temporary (issue 11 item 22)" {
  printf 'data\n' >data
  # Without the fix SIGXFSZ kills excl-create (status 153) and its
  # temporary stays.
  run bash -c 'ulimit -f 0; excl-create --stdin f <data'
  assert_failure 3
  assert_output --partial "cannot write content for 'f': File too large"
  run bash -c 'ulimit -f 0; excl-create -c text g'
  assert_failure 3
  assert_output --partial "File too large"
  [ ! -e f ] && [ ! -e g ]
  assert_no_temporaries excl-create
}

# --- filesystems that refuse -------------------------------------------------

@test "read-only filesystem: status 3, nothing left" {
  require_root
  mkdir ro
  mount -t tmpfs -o ro,size=1m tmpfs ro || skip "cannot mount tmpfs"
  run excl-create ro/f
  run2_status=$status
  run excl-create -c x ro/g
  umount ro
  assert_equal "$run2_status" 3
  assert_failure 3
  assert_output --partial "Read-only file system"
}

@test "read-only mount: --replace-stale on a stale FILE is status 3 and says FILE is stale and kept; without it, status 1" {
  require_root
  mkdir rw ro
  local dead
  dead=$(dead_pid)
  pid_record "$dead" 1 >rw/f
  mount --bind rw ro || skip "cannot bind-mount"
  mount -o remount,bind,ro ro || { umount ro; skip "cannot remount ro"; }
  # Asked to replace a stale FILE, excl-create cannot: the filesystem
  # refuses (status 3), which the message must say of FILE, not only
  # of a takeover lock the user never named.
  run excl-create --pid --replace-stale ro/f
  local stale_status=$status stale_output=$output
  # Not asked to replace it: FILE exists, the answer (status 1).
  run excl-create --pid ro/f
  umount ro
  assert_equal "$stale_status" 3
  # The content's temporary is what fails first: FILE is kept before
  # any takeover lock is tried.
  assert_equal "$stale_output" "excl-create: cannot replace the stale 'ro/f' (process $dead is gone): cannot make a temporary for its content: Read-only file system"
  assert_failure 1
  assert_output "excl-create: cannot create 'ro/f': File exists"
  assert_equal "$(head -n 1 rw/f)" "$dead"
  assert_equal "$(ls -A rw)" f
}

@test "full disk: status 3, no partial FILE, no temporary" {
  require_root
  mkdir small
  mount -t tmpfs -o size=64k tmpfs small || skip "cannot mount tmpfs"
  head -c 1000000 /dev/zero >big
  run excl-create --stdin small/f <big
  leftover=$(find small -mindepth 1 | wc -l)
  umount small
  assert_failure 3
  assert_output --partial "No space left on device"
  assert_equal "$leftover" 0
}

@test "full disk, FILE exists: status 1, as O_EXCL would answer, with content too; nothing left" {
  require_root
  mkdir small
  mount -t tmpfs -o size=64k tmpfs small || skip "cannot mount tmpfs"
  echo theirs >small/f
  head -c 1000000 /dev/zero >small/fill 2>/dev/null || true
  local out1 st1 out2 st2 out3 st3 out4 st4 content left
  run excl-create -c x small/f
  out1=$output st1=$status
  run sh -c 'seq 1 100000 | excl-create --stdin small/f'
  out2=$output st2=$status
  run excl-create -w 0.2 --pid small/f
  out3=$output st3=$status
  # Absent, the full disk is the answer.
  run excl-create -c x small/g
  out4=$output st4=$status
  # Standard input read in part cannot be read again after a wait: the
  # full disk is the answer at once, not "standard input is spent" once
  # FILE is gone.
  local out5 st5
  run sh -c 'seq 1 100000 | excl-create -w 30 --stdin small/f'
  out5=$output st5=$status
  content=$(cat small/f)
  left=$(ls -A small | tr '\n' ' ')
  umount small
  assert_equal "$st1" 1
  assert_equal "$out1" "excl-create: cannot create 'small/f': File exists"
  assert_equal "$st2" 1
  assert_equal "$out2" "excl-create: cannot create 'small/f': File exists"
  assert_equal "$st3" 1
  assert_equal "$out3" "excl-create: timed out waiting for 'small/f' to be removed"
  assert_equal "$st4" 3
  assert_equal "$out4" "excl-create: cannot write content for 'small/g': No space left on device"
  assert_equal "$st5" 3
  assert_equal "$out5" "excl-create: cannot write content for 'small/f': No space left on device"
  assert_equal "$content" theirs
  assert_equal "$left" "f fill "
}

@test "--stdin -w, several FILEs, full disk: an existing FILE after the first is waited for, status 1, not 3: the copy kept for it can be written again" {
  require_root
  mkdir small
  mount -t tmpfs -o size=64k tmpfs small || skip "cannot mount tmpfs"
  echo theirs >small/f
  # Room for one page: the first FILE's content, then none for f's.
  local page free
  page=$(getconf PAGESIZE)
  free=$(stat -f -c '%a * %S' small)
  head -c $((free - page)) /dev/zero >small/fill
  run sh -c 'echo ours | excl-create --stdin -w 0.2 small/new small/f'
  local new f left
  new=$(cat small/new) f=$(cat small/f) left=$(ls -A small | tr '\n' ' ')
  umount small
  assert_failure 1
  assert_output "excl-create: timed out waiting for 'small/f' to be removed"
  assert_equal "$new" ours
  assert_equal "$f" theirs
  assert_equal "$left" "f fill new "
}

@test "--check-fs names the filesystem and a verdict per primitive" {
  run excl-create --check-fs .
  assert_success
  assert_line --index 0 --regexp "^\.: [a-z0-9.]+ \(.*filesystem, f_type 0x[0-9a-f]+\)"
  assert_line --regexp "^  O_EXCL +(safe|warn|refuse)"
  assert_line --regexp "^  link +(safe|warn|refuse)"
}

@test "--check-fs refuses the options the creation refuses, before any report" {
  # --replace-stale without --pid, or a --pid-of that is no process ID,
  # is a usage error of the creation: --check-fs must not examine FILE
  # and say "safe" of a command line that would never run.
  run excl-create --replace-stale --check-fs .
  assert_usage_error excl-create
  assert_line --index 0 "excl-create: --replace-stale needs --pid or --pid-of"
  assert_equal "${#lines[@]}" 2
  run excl-create --pid-of 12x --check-fs .
  assert_usage_error excl-create
  assert_line --index 0 "excl-create: invalid process ID '12x'"
  assert_equal "${#lines[@]}" 2
  # What the form takes is examined as before.
  run excl-create --pid --replace-stale --check-fs .
  assert_success
  assert_line --index 0 --regexp "^\.: "
}

# --- races -----------------------------------------------------------------

@test "race: $RACERS racers x $ROUNDS rounds, exactly one winner every round" {
  race_rounds "$RACERS" "$ROUNDS" 'excl-create -q f' 'rm -f f'
  assert_equal "$RACE_MANY" 0
  assert_equal "$RACE_NONE" 0
  assert_equal "$RACE_ONE" "$ROUNDS"
}

@test "control: the same harness catches a naive check-then-create" {
  # A racer wins only if it saw no f and created it: with '[ -e f ] ||'
  # a racer that found f there exits 0 and counted as a winner too, so
  # every racer "won" every round, and the control caught a race whether
  # or not two racers ever created f.  Left to chance, the microseconds
  # between the test and the redirection (both built-ins) let two create
  # f in about 1 round of 6 (4-7 rounds of 30 measured: some run in a
  # few hundred would see none); held open for 0.1 s, as a descheduled
  # racer would hold it, every racer that saw no f creates it.
  race_rounds "$RACERS" 30 '[ ! -e f ] && { sleep 0.1; echo x >f; }' 'rm -f f'
  # The harness can fail: some round had more than one winner.
  ((RACE_MANY > 0)) || fail "naive version never raced ($RACE_ONE rounds with one winner)"
}

# A reader loop that, whenever f exists, opens and reads it in full; any
# content other than the expected line is recorded in reader.bad.
start_reader() {
  local expected=$1
  (
    exec 3>&-
    while [ ! -e reader.stop ]; do
      if exec {fd}<f; then
        IFS= read -r -d '' content <&$fd || true
        exec {fd}<&-
        if [ "$content" != "$expected" ]; then
          printf '%q\n' "$content" >>reader.bad
        fi
        echo >>reader.reads
      fi
    done 2>/dev/null
  ) &
  READER=$!
}

stop_reader() {
  : >reader.stop
  wait "$READER"
}

@test "race with --content: one winner, and readers never see it empty or partial" {
  line=$(printf 'payload-%.0s' {1..40})
  start_reader "$line"$'\n'
  race_rounds "$RACERS" "$ROUNDS" 'excl-create -q -c "$line" f' 'rm -f f'
  stop_reader
  assert_equal "$RACE_ONE" "$ROUNDS"
  [ -s reader.reads ] || fail "the reader never saw the file"
  [ ! -e reader.bad ] || fail "reader saw: $(head -3 reader.bad)"
  assert_no_temporaries excl-create
}

@test "control: readers catch a naive create-then-write" {
  line=$(printf 'payload-%.0s' {1..40})
  start_reader "$line"$'\n'
  # A delay between the create and the write is injected: on one busy
  # CPU the reader might otherwise never run inside that window.
  race_rounds 10 100 \
    '[ -e f ] || { exec {o}>f; sleep 0.01; printf "%s" "${line:0:100}" >&$o; printf "%s\n" "${line:100}" >&$o; exec {o}>&-; }' \
    'rm -f f'
  stop_reader
  [ -e reader.bad ] || fail "the reader never caught an empty or partial file"
}

# --- the commands the documentation prints ------------------------------------

# Run the shell code CODE in a private mount namespace whose /run (so
# /var/lock, its symlink on Debian) and /srv are empty tmpfs mounts, so
# commands printed with those paths run as printed, touching nothing of
# the machine's.  CODE's output and status are the function's.
in_scratch_root() {
  require_root
  unshare -m --propagation private true 2>/dev/null ||
    skip "cannot make a private mount namespace"
  unshare -m --propagation private bash -c '
    mount -t tmpfs tmpfs /run && mkdir -p /run/lock || exit 99
    if [ ! -L /var/lock ]; then mount -t tmpfs tmpfs /var/lock || exit 99; fi
    if [ -d /srv ]; then mount -t tmpfs tmpfs /srv || exit 99; fi
    mkdir -p /srv/app || exit 99
    eval "$1"' _ "$1"
}

@test "README: excl-create --pid /run/job.pid || exit 0" {
  run in_scratch_root '
    excl-create --pid /run/job.pid || exit 0        # claim a pid file, or stop
    [ "$(cat /run/job.pid)" = $$ ] || exit 5
    excl-create --pid /run/job.pid || exit 0        # claim a pid file, or stop
    exit 6'
  assert_success
  assert_output "excl-create: cannot create '/run/job.pid': File exists"
}

@test "README and man page: date | excl-create --stdin /srv/app/DEPLOYED" {
  run in_scratch_root '
    date | excl-create --stdin /srv/app/DEPLOYED     # never seen empty or partial
    cat /srv/app/DEPLOYED'
  assert_success
  assert_output --regexp '[0-9]{4}'
}

@test "README: excl-create -w 1m --pid /var/lock/nightly waits for it to go" {
  export -f sleeps_in_poll
  run in_scratch_root '
    echo 1 >/var/lock/nightly
    excl-create -w 1m --pid /var/lock/nightly &       # wait up to a minute for it to go
    waiter=$!
    until sleeps_in_poll $waiter; do sleep 0.01; done
    rm /var/lock/nightly
    wait $waiter || exit
    [ "$(cat /var/lock/nightly)" = $$ ]'
  assert_success
}

@test "man page: the cron job's excl-create -w 1m --pid /var/lock/nightly || exit 0 and its trap" {
  run in_scratch_root '
    bash -c "
      excl-create -w 1m --pid /var/lock/nightly || exit 0
      trap '\''rm -f /var/lock/nightly'\'' EXIT
      [ \"\$(cat /var/lock/nightly)\" = \$\$ ] || exit 7
    " || exit
    [ ! -e /var/lock/nightly ]'
  assert_success
}

@test "man page and help: excl-create --pid /run/myjob.pid || exit 0; excl-create -c done stamp" {
  run in_scratch_root '
    excl-create --pid /run/myjob.pid || exit 0
    [ "$(cat /run/myjob.pid)" = $$ ] || exit 5
    cd /run && excl-create -c done stamp                # one-time marker with content
    [ "$(cat /run/stamp)" = done ]'
  assert_success
}

@test "help: excl-create --pid /run/job.pid || exit stops the second caller" {
  run in_scratch_root '
    excl-create --pid /run/job.pid || exit   # claim a pid file, or stop
    excl-create --pid /run/job.pid || exit   # claim a pid file, or stop
    exit 6'
  assert_failure 1
}

# --- pid files: --replace-stale (issue 12) -------------------------------------

# Write a pid file naming PID with the facts excl-create records, each
# replaceable: stale_record PID [START_TIME [BOOT_ID [PIDNS [HOST]]]].
pid_record() {
  local pid=$1
  local start=${2:-$(cut -d' ' -f22 <"/proc/$pid/stat" 2>/dev/null || echo 1)}
  local boot=${3:-$(cat /proc/sys/kernel/random/boot_id)}
  local pidns=${4:-$(stat -L -c %i /proc/self/ns/pid)}
  local host=${5:-$(uname -n)}
  printf '%s\nstart_time=%s\nboot_id=%s\npidns=%s\nhost=%s\n' \
    "$pid" "$start" "$boot" "$pidns" "$host"
}

@test "--replace-stale writes the pid on line 1, then what identifies the process" {
  sh -c 'excl-create --pid --replace-stale f; echo $$ >expected; cut -d" " -f22 /proc/$$/stat >start'
  assert_equal "$(head -n 1 f)" "$(cat expected)"
  assert_equal "$(sed -n 2p f)" "start_time=$(cat start)"
  assert_equal "$(sed -n 3p f)" "boot_id=$(cat /proc/sys/kernel/random/boot_id)"
  assert_equal "$(sed -n 4p f)" "pidns=$(stat -L -c %i /proc/self/ns/pid)"
  assert_equal "$(sed -n 5p f)" "host=$(uname -n)"
  assert_equal "$(wc -l <f)" 5
  # The way other programs read it.
  read -r pid <f
  assert_equal "$pid" "$(cat expected)"
}

@test "--replace-stale keeps a live owner's pid file: status 1, unchanged" {
  sleep 60 &
  local owner=$!
  excl-create --pid-of=$owner --replace-stale f
  cp f before
  run excl-create --pid --replace-stale f
  kill "$owner"
  assert_failure 1
  assert_output "excl-create: cannot create 'f': File exists (process $owner is running)"
  cmp f before
  assert_no_temporaries excl-create
}

@test "--replace-stale replaces the pid file of a dead process" {
  local dead
  dead=$(dead_pid)
  pid_record "$dead" 12345 >f
  run excl-create -v --pid --replace-stale f
  assert_success
  assert_line --index 0 "removed stale 'f' (process $dead is gone)"
  assert_line --index 1 "created 'f'"
  [ "$(head -n 1 f)" != "$dead" ]
  assert_no_temporaries excl-create
}

@test "--replace-stale: a stale FILE whose replacement cannot be made ready (full disk at fsync) is kept: status 3, said" {
  command -v strace >/dev/null || skip "strace is not installed"
  local dead
  dead=$(dead_pid)
  pid_record "$dead" 12345 >f
  cp f before
  # Every fsync fails as on a full disk: the new content is never
  # ready.  Before, the stale FILE was removed first, then the content
  # failed again: no FILE at all, and nothing said of the removal.
  run strace -qq -o /dev/null -e trace=fsync \
    -e inject=fsync:error=ENOSPC excl-create -S --pid --replace-stale f
  assert_failure 3
  assert_output "excl-create: cannot replace the stale 'f' (process $dead is gone): cannot sync its content: No space left on device"
  cmp f before
  assert_no_temporaries excl-create
  [ ! -e .excl-create.f.lock ]
}

@test "--replace-stale: a stale FILE whose replacement's content cannot be written (full disk) is kept: status 3, said" {
  require_root
  mkdir small
  mount -t tmpfs -o size=64k tmpfs small || skip "cannot mount tmpfs"
  local dead left
  dead=$(dead_pid)
  pid_record "$dead" 12345 >small/f
  cp small/f before
  # Every page taken: the temporary can be created (an inode), but not
  # one byte of its content written.
  head -c 1000000 /dev/zero >small/fill 2>/dev/null || true
  run excl-create --pid --replace-stale small/f
  cmp small/f before && left=$(ls -A small | tr '\n' ' ')
  umount small
  assert_failure 3
  assert_output "excl-create: cannot replace the stale 'small/f' (process $dead is gone): cannot write content for it: No space left on device"
  assert_equal "$left" "f fill "
}

@test "--replace-stale: a reused pid (other start time) is stale" {
  # Our own shell is alive, but started at another time than recorded.
  pid_record $$ 1 >f
  run excl-create -v --pid --replace-stale f
  assert_success
  assert_line --index 0 "removed stale 'f' (pid $$ now names a later process)"
}

@test "--replace-stale: another host, boot or pid namespace cannot be judged: kept" {
  # As for lockdir's owner records: a host name is not unique enough to
  # tell this machine's earlier boot from another machine of that name.
  local dead
  dead=$(dead_pid)
  pid_record "$dead" 1 "" "" other.example >f
  run excl-create --pid --replace-stale f
  assert_failure 1
  assert_output --partial "(process $dead runs on host other.example)"

  pid_record "$dead" 1 00000000-0000-0000-0000-000000000000 >f
  run excl-create --pid --replace-stale f
  assert_failure 1
  assert_output --partial "(process $dead ran in another boot of this host, or on another machine of that name)"

  pid_record "$dead" 1 "" 1 >f
  run excl-create --pid --replace-stale f
  assert_failure 1
  assert_output --partial "(process $dead is in another pid namespace)"
  # Never touched.
  assert_equal "$(head -n 1 f)" "$dead"
}

@test "--replace-stale where this boot's id cannot be read (/proc with subset=pid): kept, and said why; the new pid file names no boot, and a warning says so, status 0" {
  require_proc_subset_pid
  # The script, pid 1 of its namespace, writes a record of a dead
  # process of this boot with a whole /proc, then mounts one with
  # subset=pid over it: /proc/sys is absent, so no boot id.  Before,
  # the record was said to be of "another boot of this host, or on
  # another machine of that name": the kept verdict was right, its
  # reason was not.
  cat >inside.sh <<'SCRIPT'
sh -c 'exit 0' & wait
dead=$!
printf '%s\nstart_time=1\nboot_id=%s\npidns=%s\nhost=%s\n' "$dead" \
  "$(cat /proc/sys/kernel/random/boot_id)" \
  "$(stat -L -c %i /proc/self/ns/pid)" "$(uname -n)" >f
echo "$dead" >dead
mount -t proc -o subset=pid proc /proc || exit 8
excl-create --pid --replace-stale f
echo "kept: $?"
excl-create -w 0.1 --pid --replace-stale f
echo "waited: $?"
excl-create --pid --replace-stale g
echo "created: $?"
umount /proc || exit 7
# With this boot's id back, g (of the living pid 1) names no boot.
excl-create --pid --replace-stale g
echo "judged: $?"
SCRIPT
  run unshare --mount --pid --fork --mount-proc sh inside.sh
  assert_success
  local dead why
  dead=$(cat dead)
  why="/proc/sys/kernel/random/boot_id cannot be read (No such file or directory)"
  assert_output "excl-create: cannot create 'f': File exists (cannot tell whether process $dead ran in this boot: $why)
kept: 1
excl-create: timed out waiting for 'f' to be removed (cannot tell whether process $dead ran in this boot: $why)
waited: 1
excl-create: warning: 'g' names no boot, as $why: where it can, --replace-stale will keep it even once its process is gone
created: 0
excl-create: cannot create 'g': File exists (cannot tell whether process 1 ran in this boot: its pid file names no boot)
judged: 1"
  # f is untouched; g claims no boot it could not read.
  assert_equal "$(head -n 1 f)" "$dead"
  assert_equal "$(head -n 1 g)" 1
  run grep -c '^boot_id=' g
  assert_output 0
  run sed 1d g
  assert_line --index 0 --regexp '^start_time=[0-9]+$'
  assert_line --index 1 --regexp '^pidns=[0-9]+$'
  assert_line --index 2 "host=$(uname -n)"
}

@test "--replace-stale: FILE gone between its open and its read is gone, not an error" {
  command -v strace >/dev/null || skip "strace is not installed"
  # A FUSE daemon that answers by path (bindfs) reads or stats a file
  # removed behind it (its backing directory, another mount) with
  # ENOENT, after the open succeeded.  That FILE is gone: look again.
  # Before, excl-create -w stopped with "cannot read FILE", status 3.
  echo "$$" >f
  # FILE's is the last pread64 (the dynamic loader makes some first).
  strace -o trace -e trace=pread64 excl-create -q --pid-of=$$ \
    --replace-stale f || :
  local n
  n=$(grep -c '^pread64(' trace)
  run strace -o /dev/null -e inject=pread64:error=ENOENT:when="$n" \
    excl-create --pid-of=$$ --replace-stale f
  assert_failure 1
  assert_output "excl-create: cannot create 'f': File exists (process $$ is running)"
  assert_equal "$(cat f)" "$$"
}

@test "--replace-stale: a file kept after FILE changed while being replaced is named from the current directory" {
  shim=$(command -v fault-shim.so) ||
    skip "tests/fault-shim.so is not built (make check builds it)"
  # Someone outside the protocol replaces the stale d/f just before it
  # is renamed away, and makes d/f again before it could be put back:
  # the file renamed away is kept under its temporary name, in d.
  # Before, the message named it as if it were in the current directory.
  # The shim holds each of the two renames until that is done.
  mkdir d fa
  echo 999999 >d/f
  background env LD_PRELOAD="$shim" FAULT_DIR="$PWD/fa" \
    FAULT_PAUSE=renameat2:1,renameat2:2 \
    excl-create --pid --replace-stale d/f 2>err
  wait_until test -e fa/paused.renameat2.1
  rm d/f
  echo 999999 >d/f
  : >fa/go.renameat2.1
  wait_until test -e fa/paused.renameat2.2
  echo "made meanwhile" >d/f
  : >fa/go.renameat2.2
  local status=0
  wait "$BG" || status=$?
  assert_equal "$status" 3
  run cat err
  assert_output --regexp "^excl-create: 'd/f' changed while being replaced; the file found there is kept as 'd/\.excl-create\.[^']+': File exists\$"
  local kept=${output##*kept as \'}
  kept=${kept%%\'*}
  assert_equal "$(cat "$kept")" 999999
  assert_equal "$(cat d/f)" "made meanwhile"
}

@test "--replace-stale: a stale file renamed away that cannot be removed is named, and FILE is not created" {
  command -v strace >/dev/null || skip "strace is not installed"
  # The stale d/f is renamed to a temporary name, then unlinked: an
  # unlink that fails (EIO) leaves it there.  Before, that failure was
  # ignored: status 0, no message, the stale file kept silently.
  mkdir d
  local dead
  dead=$(dead_pid)
  pid_record "$dead" 1 >d/f
  run strace -o /dev/null -e inject=unlinkat:error=EIO:when=1 \
    excl-create --pid --replace-stale d/f
  assert_failure 3
  assert_output --regexp "^excl-create: took the stale 'd/f' away, but cannot remove it: it is kept as 'd/\.excl-create\.[^']+', and 'd/f' is not created: Input/output error\$"
  local kept=${output##*kept as \'}
  kept=${kept%%\'*}
  assert_equal "$(head -n 1 "$kept")" "$dead"
  [ ! -e d/f ]
}

@test "--replace-stale: a takeover lock that cannot be released once the stale FILE is removed: the message says FILE is gone and not created" {
  command -v strace >/dev/null || skip "strace is not installed"
  # The stale file is unlinked first, then the lock's owner record: an
  # EIO on that second unlinkat keeps the lock.  Before, only "cannot
  # release the lock" was said: not that d/f was removed, nor that it
  # was not created.
  mkdir d
  pid_record "$(dead_pid)" 1 >d/f
  run strace -o /dev/null -e inject=unlinkat:error=EIO:when=2 \
    excl-create --pid --replace-stale d/f
  assert_failure 3
  assert_output "excl-create: the stale 'd/f' is gone, but the lock 'd/.excl-create.f.lock' cannot be released, so 'd/f' is not created: Input/output error"
  [ ! -e d/f ]
  # Only the lock stays: no temporary file.
  assert_equal "$(ls -A d)" .excl-create.f.lock
}

@test "--replace-stale: a plain pid file is judged by the pid alone" {
  sleep 60 &
  local owner=$!
  echo "$owner" >f
  run excl-create --pid --replace-stale f
  kill "$owner"
  assert_failure 1
  assert_equal "$(cat f)" "$owner"

  local dead
  dead=$(dead_pid)
  echo "$dead" >f
  run excl-create --pid --replace-stale f
  assert_success
}

@test "--replace-stale never replaces what is not a pid file" {
  : >empty
  printf 'hello\n' >text
  printf '123abc\n' >junk
  printf '1\nstart_time=x\n' >badfact
  ln -s "$(dead_pid)" link
  mkdir dir
  # A dead pid, then other words on the line: somebody's text.
  printf '%s tickets sold\nkeep this\n' "$(dead_pid)" >words
  local f
  for f in text junk badfact link dir words; do
    run excl-create --pid --replace-stale "$f"
    assert_failure 1
    assert_output "excl-create: cannot create '$f': File exists (it is not a pid file)"
  done
  assert_equal "$(sed -n 2p words)" "keep this"
  # Blanks around the pid (and a CR) are still a pid file.
  printf ' %s \r\n' "$(dead_pid)" >blanks
  run excl-create --pid --replace-stale blanks
  assert_success
  # An empty one is what a crash leaves of ours when its content never
  # reached the disk: the message says so.
  run excl-create --pid --replace-stale empty
  assert_failure 1
  assert_output "excl-create: cannot create 'empty': File exists (it is empty: a system crash can leave it so)"
  run excl-create --pid --replace-stale -w 0.2s empty
  assert_failure 1
  assert_output "excl-create: timed out waiting for 'empty' to be removed (it is empty: a system crash can leave it so)"
  # Zero bytes, as ext4 can leave (the size reached the disk, the data
  # did not), are empty too.
  head -c 8 /dev/zero >zeroed
  run excl-create --pid --replace-stale zeroed
  assert_failure 1
  assert_output "excl-create: cannot create 'zeroed': File exists (it is empty: a system crash can leave it so)"
  [ ! -s empty ] && [ -L link ] && [ -d dir ]
  assert_equal "$(cat text)" hello
}

# FILE f taken for a live OWNER (sleep), and a WAITER for it, with
# --replace-stale -w 10s, asleep in poll(2).
replace_stale_waiter() {
  sleep 600 &
  OWNER=$!
  excl-create --pid-of=$OWNER --replace-stale f
  excl-create -w 10s --pid-of=$$ --replace-stale f &
  WAITER=$!
  wait_until sleeps_in_poll "$WAITER"
}

@test "--replace-stale with -w: takes over as soon as the owner dies" {
  replace_stale_waiter
  ! has_inotify_fd "$WAITER" || fail "the waiter holds an inotify instance"
  # The waiter is asleep: neither a directory change nor a tick of a
  # poll will wake it, only the owner's death (its pidfd).
  kill "$OWNER"
  wait "$WAITER"
  assert_equal "$(head -n 1 f)" $$
  assert_no_temporaries excl-create
}

@test "--replace-stale with -w: FILE removed while its owner lives is then taken (a directory change wakes it)" {
  replace_stale_waiter
  # Its owner lives on, so only the change in the directory can wake the
  # waiter before its deadline (10 s, after which it would fail).
  rm f
  wait "$WAITER"
  assert_equal "$(head -n 1 f)" $$
  kill "$OWNER"
}

@test "--replace-stale with -w: times out while the owner lives" {
  sleep 60 &
  local owner=$!
  excl-create --pid-of=$owner --replace-stale f
  run excl-create -w 0.2 --pid --replace-stale f
  kill "$owner"
  assert_failure 1
  assert_output "excl-create: timed out waiting for 'f' to be removed (process $owner is running)"
}

@test "-w ends at its deadline while the directory keeps changing, with and without --replace-stale" {
  command -v strace >/dev/null || skip "strace is not installed"
  sleep 60 &
  local owner=$!
  excl-create --pid-of=$owner --replace-stale f
  # Another file in FILE's directory changes all the time (a busy /tmp),
  # faster than the waiter looks (each look is slowed down by 20 ms):
  # every wait is woken by a change.  The deadline was only checked when
  # a wait ran out, which it then never did: -w 0.3 waited as long as
  # the writer ran (timeout(1) ended it with 124).
  ( while :; do echo x >>churn; : >churn; done ) &
  local writer=$!
  local slow=(strace -o /dev/null -f
              -e inject=newfstatat,openat:delay_enter=20000)
  run timeout 10 "${slow[@]}" excl-create -w 0.3 --pid --replace-stale f
  local stale_status=$status stale_output=$output
  run timeout 10 "${slow[@]}" excl-create -w 0.3 f
  kill "$writer" "$owner"
  assert_equal "$stale_status" 1
  assert_equal "$stale_output" "excl-create: timed out waiting for 'f' to be removed (process $owner is running)"
  assert_failure 1
  assert_output "excl-create: timed out waiting for 'f' to be removed"
}

@test "--replace-stale killed while holding the takeover lock: the next one still takes over" {
  command -v strace >/dev/null || skip "strace is not installed"
  pid_record "$(dead_pid)" 1 >f
  # Killed at the renameat2 that takes the stale file away (the lock
  # itself is taken with renameat): the takeover lock is held, the stale
  # file still in place.
  run strace -o /dev/null -e trace=renameat2 \
    -e inject=renameat2:signal=KILL:when=1 excl-create --pid --replace-stale f
  assert_equal "$status" 137
  [ -d .excl-create.f.lock ]
  run excl-create --pid --replace-stale f
  assert_success
  [ ! -e .excl-create.f.lock ]
}

@test "--replace-stale of a FILE whose name is too long for its takeover lock's: a shortened lock name, the same for every caller" {
  command -v strace >/dev/null || skip "strace is not installed"
  local f dead
  f=$(printf 'x%.0s' $(seq 240))
  dead=$(dead_pid)
  pid_record "$dead" 1 >"$f"
  run strace -f -o trace -e trace=renameat excl-create --pid --replace-stale "$f"
  assert_success
  assert_not_equal "$(head -n 1 "$f")" "$dead"
  grep -Eq '"\.excl-create\.x{100}~[0-9a-f]{16}\.lock"' trace ||
    fail "no shortened lock name: $(cat trace)"
  assert_no_temporaries excl-create
}

@test "--replace-stale: a SIGTERM as the takeover lock is made leaves no lock behind" {
  command -v strace >/dev/null || skip "strace is not installed"
  pid_record "$(dead_pid)" 1 >f
  run strace -qq -o /dev/null -e trace=mkdirat -e inject=mkdirat:signal=TERM:when=1 \
    excl-create --pid --replace-stale f
  assert_equal "$status" 143
  [ ! -e .excl-create.f.lock ] || fail "the takeover lock was left: $(ls -A)"
  assert_no_temporaries excl-create
}

@test "--replace-stale: the takeover lock has a lease, and its record reaches the disk before the lock appears" {
  command -v strace >/dev/null || skip "strace is not installed"
  pid_record "$(dead_pid)" 1 >f
  run strace -f -o trace -e trace=fdatasync,renameat,renameat2,openat \
    excl-create --pid --replace-stale f
  assert_success
  assert_synced_before_rename trace .excl-create.f.lock
  [ ! -e .excl-create.f.lock ]
}

@test "--replace-stale: a takeover lock a crash left (a record of another boot) is broken when its lease runs out" {
  local dead
  dead=$(dead_pid)
  pid_record "$dead" 1 >f
  # As a crash leaves it: the record, synced, names this host and
  # another boot, so only its lease (10 s) can free it; 9 s are gone.
  plant_record .excl-create.f.lock 999999 1 \
    boot_id=00000000-0000-0000-0000-000000000000 lease=10.000
  touch -d '9 seconds ago' .excl-create.f.lock/owner.planted
  run excl-create -v --pid --replace-stale f
  assert_success
  assert_line --index 0 --regexp "^excl-create: broke stale lock '.excl-create.f.lock' of pid 999999 on .* \(token 0\): its lease expired\$"
  assert_line "removed stale 'f' (process $dead is gone)"
  assert_line "created 'f'"
  [ ! -e .excl-create.f.lock ]
  assert_not_equal "$(head -n 1 f)" "$dead"
}

@test "--replace-stale -v: a broken takeover lock is named in FILE's directory" {
  mkdir d
  pid_record "$(dead_pid)" 1 >d/f
  plant_record d/.excl-create.f.lock 999999 1 \
    boot_id=00000000-0000-0000-0000-000000000000 lease=10.000
  touch -d '9 seconds ago' d/.excl-create.f.lock/owner.planted
  run excl-create -v --pid --replace-stale d/f
  assert_success
  assert_line --index 0 --regexp "^excl-create: broke stale lock 'd/.excl-create.f.lock' of pid 999999 on .* \(token 0\): its lease expired\$"
  assert_line "created 'd/f'"
  [ ! -e d/.excl-create.f.lock ]
}

@test "--replace-stale: a takeover lock without a lease (as 0.1 left it) is named when it blocks, in FILE's directory" {
  mkdir d
  pid_record "$(dead_pid)" 1 >d/f
  plant_record d/.excl-create.f.lock 999999 1 \
    boot_id=00000000-0000-0000-0000-000000000000
  # The caller waits 11 s for the takeover lock, then gives up.  The
  # lock is in d: before, it was named as if in the current directory.
  run excl-create --pid --replace-stale d/f
  assert_failure 1
  assert_output "excl-create: cannot create 'd/f': File exists (another excl-create is replacing it, holding 'd/.excl-create.f.lock')"
  [ -d d/.excl-create.f.lock ]
}

@test "--replace-stale: an empty takeover lock it can neither remove nor rename over (I/O error): 3, FILE kept, the empty lock named" {
  command -v strace >/dev/null || skip "strace is not installed"
  mkdir d
  pid_record "$(dead_pid)" 1 >d/f
  # An ended holding's directory, left empty: the rmdir (the first
  # unlinkat) and the rename of our directory over it (the first
  # renameat) fail.  Before, the empty lock that stays was unsaid.
  mkdir d/.excl-create.f.lock
  run strace -o /dev/null -e inject=unlinkat:error=EIO:when=1 \
    -e inject=renameat:error=EIO:when=1 \
    excl-create --pid-of=$$ --replace-stale d/f
  assert_failure 3
  assert_line --index 1 "excl-create: warning: cannot remove the empty lock 'd/.excl-create.f.lock' (the next --replace-stale call on 'd/f' recovers it): Input/output error"
  assert_equal "${#lines[@]}" 2
  [ "$(head -n 1 d/f)" != "$$" ]
  [ -z "$(ls -A d/.excl-create.f.lock)" ]
  # As it says, the next call recovers it.
  run excl-create --pid-of=$$ --replace-stale d/f
  assert_success
  assert_equal "$(head -n 1 d/f)" "$$"
  [ ! -e d/.excl-create.f.lock ]
}

@test "--replace-stale: a takeover lock whose empty directory cannot be removed is named in a warning" {
  command -v strace >/dev/null || skip "strace is not installed"
  mkdir d
  pid_record "$(dead_pid)" 1 >d/f
  # The unlinkat calls: the stale file (renamed away), the lock's
  # record, then the lock's directory, which fails here.  Before, the
  # empty lock stayed, unsaid.
  run strace -o /dev/null -e inject=unlinkat:error=EIO:when=3 \
    excl-create --pid-of=$$ --replace-stale d/f
  assert_success
  assert_output "excl-create: warning: cannot remove the empty lock 'd/.excl-create.f.lock' (the next --replace-stale call on 'd/f' recovers it): Input/output error"
  assert_equal "$(head -n 1 d/f)" "$$"
  # Empty, so free: the next caller takes it, and removes it.
  pid_record "$(dead_pid)" 1 >d/f
  run excl-create --pid-of=$$ --replace-stale d/f
  assert_success
  [ ! -e d/.excl-create.f.lock ]
}

# A takeover round queues most racers on the takeover lock one after
# another: a quarter of the rounds of the plain race keeps it as long.
TAKEOVER_ROUNDS=$(( ROUNDS / 4 > 10 ? ROUNDS / 4 : 10 ))

@test "race: $RACERS racers take over a stale pid file, exactly one wins, $TAKEOVER_ROUNDS rounds" {
  local dead
  dead=$(dead_pid)
  pid_record "$dead" 1 >stale
  # The owner recorded is this test's shell ($$ in the racers), alive
  # throughout: a racer's own shell exits after the last round.
  race_rounds "$RACERS" "$TAKEOVER_ROUNDS" \
    'excl-create -q --pid-of=$$ --replace-stale f' 'cp stale f'
  assert_equal "$RACE_MANY" 0
  assert_equal "$RACE_NONE" 0
  assert_equal "$RACE_ONE" "$TAKEOVER_ROUNDS"
  assert_no_temporaries excl-create
}

@test "control: the same harness catches the naive kill -0 || { rm; echo \$\$ >f; }" {
  local dead
  dead=$(dead_pid)
  # The same naive takeover, written '! kill -0 ... && { ...; }' so that
  # a racer wins only if it judged the owner dead and took f over: with
  # 'kill -0 ... ||' a racer that found a live owner (and rightly left f
  # alone) exits 0 and counted as a winner too, so every racer "won"
  # every round whether or not any two took f over.
  race_rounds "$RACERS" 30 \
    '! kill -0 "$(cat f 2>/dev/null)" 2>/dev/null && { rm -f f; echo $BASHPID >f; }' \
    "echo $dead >f"
  ((RACE_MANY > 0)) || fail "naive takeover never raced ($RACE_ONE rounds with one winner)"
}

@test "README and man page: excl-create --pid --replace-stale /run/job.pid || exit 0 after a crash" {
  run in_scratch_root '
    # The first owner crashed: its pid file stays behind.
    bash -c "excl-create --pid --replace-stale /run/job.pid; kill -9 \$\$"
    excl-create --pid --replace-stale /run/job.pid || exit 0   # ... even after a crash
    [ "$(head -n 1 /run/job.pid)" = $$ ] || exit 5
    excl-create --pid --replace-stale /run/myjob.pid || exit 0
    [ "$(head -n 1 /run/myjob.pid)" = $$ ] || exit 6
    # While we live, a second start stops.
    bash -c "excl-create --pid --replace-stale /run/job.pid || exit   # even after a crash
             exit 7"'
  assert_failure 1
  assert_output --partial "excl-create: cannot create '/run/job.pid': File exists (process "
}

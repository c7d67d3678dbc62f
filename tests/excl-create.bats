#!/usr/bin/env bats
# excl-create: create a file only if absent, with its content present the
# instant the name appears.

load test_helper

setup() {
  common_setup
}

# --- command line ------------------------------------------------------

@test "--help prints usage on stdout and exits 0" {
  run --separate-stderr excl-create --help
  assert_success
  assert_line --index 0 "Usage: excl-create [OPTION]... FILE..."
  assert_output --partial "--wait[=DURATION]"
  assert_output --partial "Exit status:"
  [ -z "$stderr" ]
}

@test "--version prints the package version" {
  run --separate-stderr excl-create --version
  assert_success
  assert_line --index 0 "excl-create (atomicutils) 0.1"
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

  run excl-create --pid=abc f
  assert_usage_error excl-create

  run excl-create --pid=0 f
  assert_usage_error excl-create

  run excl-create -c x --stdin f
  assert_usage_error excl-create
  assert_line --partial "only one of"

  # Nothing was created by any of them.
  [ ! -e f ]
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

# --- content -------------------------------------------------------------

@test "--content writes TEXT and a newline" {
  excl-create -c "hello world" f
  assert_equal "$(od -An -c f | tr -s ' ')" " h e l l o w o r l d \n"
  assert_no_temporaries excl-create
}

@test "--pid writes the caller's pid; --pid=PID writes PID" {
  sh -c 'excl-create --pid p; echo $$ >expected'
  assert_equal "$(cat p)" "$(cat expected)"
  excl-create --pid=4242 q
  assert_equal "$(cat q)" 4242
}

@test "--stdin copies standard input, to every FILE" {
  head -c 200000 /dev/urandom >data
  excl-create --stdin a b <data
  cmp data a
  cmp data b
  [ "$(stat -c %i a)" != "$(stat -c %i b)" ]
  assert_no_temporaries excl-create
}

@test "content for an existing FILE: status 1, old content kept, no temporary" {
  echo old >f
  run excl-create -c new f
  assert_failure 1
  assert_equal "$(cat f)" old
  assert_no_temporaries excl-create
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

  run excl-create --wait=0 f
  assert_failure 1
}

@test "--wait: FILE removed while waiting is then created (woken by inotify)" {
  echo old >f
  excl-create -w10s -c new f &
  pid=$!
  # The waiter is blocked on an inotify watch of the directory.
  wait_until has_inotify_fd "$pid"
  rm f
  wait "$pid"
  assert_equal "$(cat f)" new
  assert_no_temporaries excl-create
}

@test "--wait: a plain create waits too" {
  : >f
  excl-create --wait f &
  pid=$!
  wait_until has_inotify_fd "$pid"
  rm f
  wait "$pid"
  [ -e f ]
}

# --- durability ------------------------------------------------------------

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
  # The final name is made by linkat from a temporary; no open of 'f'.
  grep -q 'linkat(.*"\.excl-create\.[^"]*", .*"f", 0) = 0' trace
  ! grep -q 'openat(.*"f",' trace
}

# --- signals ---------------------------------------------------------------

# Start excl-create --stdin reading from a FIFO we keep open, so it is
# stuck mid-write with its temporary made; then send SIG.
interrupt_mid_write() {
  local sig=$1
  mkfifo in
  # Background jobs of a script start with SIGINT and SIGQUIT ignored;
  # give the tool the default actions, as an interactive ^C or ^\ would.
  env --default-signal=INT,QUIT excl-create --stdin f <in &
  local pid=$!
  exec {w}>in
  printf 'partial content' >&$w
  wait_until compgen -G '.excl-create.*'
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

@test "SIGINT and SIGHUP mid-write leave no temporary" {
  interrupt_mid_write INT
  assert_equal "$status" 130
  rm in
  interrupt_mid_write HUP
  assert_equal "$status" 129
}

@test "every other fatal signal mid-write leaves no temporary (issue 11 item 22)" {
  local sig
  for sig in QUIT USR1 USR2 ALRM PIPE XCPU VTALRM PROF IO PWR RTMIN RTMAX; do
    # Death by that very signal: 128 + its number.
    interrupt_mid_write "$sig"
    assert_equal "$status" "$((128 + $(kill -l "$sig")))"
    rm in
  done
}

@test "a signal the caller ignores stays ignored (issue 11 item 22)" {
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

@test "--check-fs names the filesystem and a verdict per primitive" {
  run excl-create --check-fs .
  assert_success
  assert_line --index 0 --regexp "^\.: [a-z0-9.]+ \(.*filesystem, f_type 0x[0-9a-f]+\)"
  assert_line --regexp "^  O_EXCL +(safe|warn|refuse)"
  assert_line --regexp "^  link +(safe|warn|refuse)"
}

# --- races -----------------------------------------------------------------

@test "race: $RACERS racers x $ROUNDS rounds, exactly one winner every round" {
  race_rounds "$RACERS" "$ROUNDS" 'excl-create -q f' 'rm -f f'
  assert_equal "$RACE_MANY" 0
  assert_equal "$RACE_NONE" 0
  assert_equal "$RACE_ONE" "$ROUNDS"
}

@test "control: the same harness catches a naive check-then-create" {
  race_rounds "$RACERS" 30 '[ -e f ] || { echo x >f; }' 'rm -f f'
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
  race_rounds 10 100 \
    '[ -e f ] || { exec {o}>f; printf "%s" "${line:0:100}" >&$o; printf "%s\n" "${line:100}" >&$o; exec {o}>&-; }' \
    'rm -f f'
  stop_reader
  [ -e reader.bad ] || fail "the reader never caught an empty or partial file"
}

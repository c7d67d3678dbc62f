# test_helper.bash -- shared helpers for the atomicutils bats tests.
#
# Load with 'load test_helper' from a .bats file.  Each test runs in its
# own scratch directory ($BATS_TEST_TMPDIR), which is the current
# directory when the test body starts.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

# Run from a build tree (make check puts src/ on PATH) or straight from
# the source tree after a build.
if ! command -v excl-create >/dev/null 2>&1; then
  PATH="$BATS_TEST_DIRNAME/../src:$BATS_TEST_DIRNAME:$PATH"
fi
export LC_ALL=C

# Race sizes: the defaults satisfy the issue's minimums; RUN_EXPENSIVE_TESTS
# multiplies the rounds for a soak.
RACERS=${RACERS:-50}
ROUNDS=${ROUNDS:-200}
if [ "${RUN_EXPENSIVE_TESTS:-no}" = yes ]; then
  ROUNDS=$((ROUNDS * 10))
fi

common_setup() {
  cd "$BATS_TEST_TMPDIR" || return 1
}

# Skip unless the expensive tests were asked for.
require_expensive() {
  [ "${RUN_EXPENSIVE_TESTS:-no}" = yes ] ||
    skip "long stress test: set RUN_EXPENSIVE_TESTS=yes to run it"
}

require_root() {
  [ "$(id -u)" -eq 0 ] || skip "needs root (to mount a filesystem)"
}

# bindfs_for_test SRC MNT: mount directory SRC on MNT with bindfs (FUSE),
# or skip the test saying why.  unmount_test_mounts, from teardown,
# unmounts it, so that a test failing half-way leaves no mount behind.
bindfs_for_test() {
  require_root
  command -v bindfs >/dev/null || skip "bindfs is not installed"
  local out
  out=$(bindfs "$1" "$2" 2>&1) || skip "cannot mount bindfs (FUSE): $out"
  TEST_MOUNTS+=("$(realpath "$2")")
}

# Unmount what this test mounted, innermost (latest) first: the mounts
# of bindfs_for_test, and any other mount under the test's directory,
# such as a tmpfs a test unmounts inline but did not reach because an
# assertion failed first.  Left mounted, it would outlive the test, and
# bats would remove the directory's files through it.  Lazily if a
# process the test left behind still uses it.
unmount_test_mounts() {
  local test_dir mnt bound i is_ours
  local -a ours=()
  test_dir=$(realpath "$BATS_TEST_TMPDIR")
  # mountinfo's fifth field, the mount point, escapes a space as \040.
  while read -r _ _ _ _ mnt _; do
    printf -v mnt '%b' "$mnt"
    is_ours=false
    [[ $mnt == "$test_dir"/* ]] && is_ours=true
    for bound in "${TEST_MOUNTS[@]}"; do
      [ "$bound" = "$mnt" ] && is_ours=true
    done
    if $is_ours; then ours+=("$mnt"); fi
  done </proc/self/mountinfo
  for ((i = ${#ours[@]} - 1; i >= 0; i--)); do
    mnt=${ours[i]}
    mountpoint -q "$mnt" || continue
    umount "$mnt" 2>/dev/null || umount -l "$mnt"
  done
  TEST_MOUNTS=()
  return 0
}

# make_append_only DIR: chattr +a DIR (names can be added to it, never
# renamed or removed), or skip the test where that cannot be done.  The
# test must chattr -a DIR again before it can fail.
make_append_only() {
  command -v chattr >/dev/null || skip "chattr is not installed (e2fsprogs)"
  chattr +a "$1" 2>/dev/null ||
    skip "cannot make a directory append-only here (chattr +a: ext4, xfs, btrfs, as root)"
}

# Skip unless setpriv (util-linux) is there for as_nobody.
require_setpriv() {
  command -v setpriv >/dev/null || skip "setpriv is not installed"
}

# as_nobody COMMAND...: run COMMAND as the unprivileged user and group
# 65534 (nobody), in no other group.
as_nobody() {
  setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}

# Skip unless a /proc can be mounted with subset=pid (systemd's
# ProcSubset=pid: no /proc/sys, so no boot id) in a pid and mount
# namespace of our own.
require_proc_subset_pid() {
  require_pid_namespace
  unshare --mount --pid --fork sh -c \
    'mount -t proc -o subset=pid proc /proc' 2>/dev/null ||
    skip "cannot mount /proc with subset=pid here"
}

# Skip unless this root can make a pid namespace (unshare --pid), with
# a /proc of its own if asked (--mount-proc); else /proc stays the one
# outside.
require_pid_namespace() {
  require_root
  unshare --pid --fork --mount-proc true 2>/dev/null ||
    skip "cannot make a pid namespace here"
}

# Assert that the last 'run' failed with usage status 2 and GNU's
# "Try ... --help" line.
assert_usage_error() {
  local tool=$1
  assert_equal "$status" 2
  assert_line --partial "Try '$tool --help' for more information."
}

# No temporary name of TOOL is left in DIR (default: .).
assert_no_temporaries() {
  local tool=$1 dir=${2:-.}
  local left
  left=$(find "$dir" -maxdepth 1 -name ".$tool.*" -print)
  [ -z "$left" ] || fail "temporaries left behind: $left"
}

# Wait (bounded, up to about 10 s) until COMMAND succeeds: for observing
# a state another process reaches, such as "the waiter is now blocked on
# inotify".  Not a sleep standing in for synchronisation: it looks at the
# state itself and fails the test if the state never comes.
wait_until() {
  local i
  for ((i = 0; i < 1000; i++)); do
    if "$@"; then return 0; fi
    sleep 0.01
  done
  fail "timed out waiting for: $*"
}

# True once process PID is gone or a zombie.  kill(1) returns before
# its target has died: a test that needs a process dead waits for this.
is_dead() {
  [ ! -e "/proc/$1" ] ||
    grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# exit_in_delayed_wait N LOCKDIR_ARG...: run 'lockdir LOCKDIR_ARG...
# sh -c SCRIPT', where SCRIPT ignores SIGTERM, waits for ./gate and
# exits 7, under strace, with lockdir's Nth wait4 (a look at COMMAND,
# which finds it running) returning 3 s late; COMMAND exits meanwhile:
# as if lockdir were slow between that look and what follows (a
# loaded machine).  Then status holds lockdir's status, err its
# standard error, trace its wait4 and kill calls.
exit_in_delayed_wait() {
  local n=$1
  shift
  rm -f gate && mkfifo gate
  background sh -c 'n=$1; shift
    strace -qq -o trace -e trace=wait4,kill \
      -e inject=wait4:delay_exit=3000000:when="$n" \
      lockdir "$@" sh -c "trap \"\" TERM; read x <gate; exit 7" 2>err
    echo "$?" >status' _ "$n" "$@"
  wait_until grep -qs DELAYED trace
  echo >gate
  wait "$BG"
}

# True once the fault shim (tests/fault-shim.c) has made FILE, its
# paused.CALL.N (the process waits there), or process PID is gone.
paused_or_dead() {
  [ -e "$1" ] || is_dead "$2"
}

# A pid no process has: one that just exited and was reaped.
dead_pid() {
  sh -c 'exit 0' &
  local pid=$!
  wait "$pid"
  echo "$pid"
}

# plant_record LOCK PID START_TIME [KEY=VALUE]...: make LOCK as lockdir
# would, owned by PID started at START_TIME on this system; extra lines
# override or add fields (host=elsewhere, lease=1, ...).
plant_record() {
  local lock=$1 pid=$2 start=$3
  shift 3
  mkdir "$lock"
  {
    echo "id=planted"
    echo "token=0"
    echo "pid=$pid"
    echo "start_time=$start"
    echo "boot_id=$(cat /proc/sys/kernel/random/boot_id)"
    echo "pidns=$(stat -L -c %i /proc/self/ns/pid)"
    echo "host=$(uname -n)"
    echo "uid=$(id -u)"
    echo "acquired=2026-01-01T00:00:00.000+00:00"
    echo "command=planted by the test"
    local kv
    for kv in "$@"; do echo "$kv"; done
  } >"$lock/owner.planted.tmp"
  # Later lines win in the parser, so extra lines override.
  mv "$lock/owner.planted.tmp" "$lock/owner.planted"
}

# assert_synced_before_rename TRACE NAME: in strace's output TRACE an
# fdatasync comes before the first rename to NAME (a record that reaches
# the disk before the lock NAME appears).
assert_synced_before_rename() {
  local trace=$1 name=$2 synced appeared
  synced=$(grep -n 'fdatasync(' "$trace" | head -n 1 | cut -d: -f1)
  appeared=$(grep -n 'rename[a-z0-9]*(' "$trace" | grep -F ", \"$name\"" |
    head -n 1 | cut -d: -f1)
  [ -n "$synced" ] || fail "no fdatasync: $(cat "$trace")"
  [ -n "$appeared" ] || fail "no rename to $name: $(cat "$trace")"
  ((synced < appeared)) || fail "synced after $name appeared: $(cat "$trace")"
}

# True once process PID holds an inotify descriptor, i.e. it is waiting
# on a directory.
has_inotify_fd() {
  local pid=$1 fd
  for fd in /proc/"$pid"/fd/*; do
    [ "$(readlink "$fd" 2>/dev/null)" = "anon_inode:inotify" ] && return 0
  done
  return 1
}

# True once process PID sleeps in poll(2): a waiter that has set up what
# wakes it (inotify, or dnotify and pidfds) and waits.
sleeps_in_poll() {
  [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" = S ] ||
    return 1
  [[ $(cat "/proc/$1/wchan" 2>/dev/null) == *poll* ]] && return 0
  # Where wchan says nothing (no kallsyms): the system call it is in,
  # poll or ppoll (x86-64), ppoll (arm64).
  case $(cut -d' ' -f1 "/proc/$1/syscall" 2>/dev/null) in
    7 | 271 | 73) return 0 ;;
  esac
  return 1
}

# lockdir's LD_PRELOAD shim (tests/lockdir-shim.c), from PATH (make
# check puts the build's tests/ there).
lockdir_shim() {
  local dir
  local IFS=:
  for dir in $PATH; do
    if [ -f "$dir/lockdir-shim.so" ]; then
      echo "$dir/lockdir-shim.so"
      return 0
    fi
  done
  skip "tests/lockdir-shim.so is not built (make check builds it)"
}

# ---------------------------------------------------------------------
# The race harness.
#
# race_rounds N R SNIPPET [BEFORE_ROUND]
#
# Starts N racer processes.  In each of R rounds every racer waits at a
# barrier; when all N are there they are released at once (one write of
# N bytes to a FIFO they are all blocked reading), and each evaluates
# SNIPPET with $round and $racer set.  A racer whose SNIPPET exits 0 is
# a winner of that round.  BEFORE_ROUND, if given, is evaluated by the
# coordinator before each release (e.g. to remove the file raced for),
# when every racer is at the barrier.
#
# Afterwards:
#   RACE_ONE    rounds with exactly one winner
#   RACE_MANY   rounds with more than one winner
#   RACE_NONE   rounds with no winner
#   RACE_MAX    the most winners seen in one round
#
# Barrier: round r has its own FIFO, go.r, held open read-write by the
# coordinator so no open() blocks.  A racer announces itself by writing
# one byte to the 'ready' FIFO and then blocks reading one byte from
# go.r.  A round's FIFO is closed only after every racer has announced
# itself for the next round, i.e. has consumed its byte.
race_rounds() {
  local n=$1 rounds=$2 snippet=$3 before=${4:-:}
  local dir=$BATS_TEST_TMPDIR/.race
  rm -rf "$dir"
  mkdir -p "$dir"
  mkfifo "$dir/ready"
  local r fifos=()
  for ((r = 0; r < rounds; r++)); do fifos+=("$dir/go.$r"); done
  mkfifo "${fifos[@]}"
  : >"$dir/winners"

  local ready go prev_go=
  exec {ready}<>"$dir/ready"
  exec {go}<>"$dir/go.0"

  local i pids=()
  for ((i = 0; i < n; i++)); do
    _racer "$i" "$rounds" "$snippet" "$dir" 3>&- &
    pids+=($!)
  done

  local release
  release=$(printf "%${n}s" '')
  local ok=1 junk
  for ((r = 0; r < rounds; r++)); do
    if ! read -r -t 120 -N "$n" junk <&"$ready"; then
      ok=0
      break
    fi
    # Every racer has consumed its byte of the previous round.
    if [ -n "$prev_go" ]; then exec {prev_go}>&-; fi
    eval "$before"
    printf '%s' "$release" >&"$go"
    prev_go=$go
    if ((r + 1 < rounds)); then exec {go}<>"$dir/go.$((r + 1))"; fi
  done
  if [ "$ok" = 1 ]; then wait "${pids[@]}"; else kill "${pids[@]}" 2>/dev/null; fi
  exec {ready}>&-
  if [ -n "$prev_go" ]; then exec {prev_go}>&-; fi
  [ "$ok" = 1 ] || fail "race harness: racers did not reach the barrier"

  RACE_ONE=0 RACE_MANY=0 RACE_NONE=0 RACE_MAX=0
  local -a count=()
  local w
  while read -r w; do count[w]=$((${count[w]:-0} + 1)); done <"$dir/winners"
  for ((r = 0; r < rounds; r++)); do
    w=${count[r]:-0}
    if ((w == 1)); then RACE_ONE=$((RACE_ONE + 1))
    elif ((w == 0)); then RACE_NONE=$((RACE_NONE + 1))
    else RACE_MANY=$((RACE_MANY + 1)); fi
    ((w > RACE_MAX)) && RACE_MAX=$w
  done
  rm -rf "$dir"
  return 0
}

_racer() {
  local racer=$1 rounds=$2 snippet=$3 dir=$4 round byte
  for ((round = 0; round < rounds; round++)); do
    printf x >"$dir/ready"
    read -r -N 1 byte <"$dir/go.$round"
    if eval "$snippet"; then
      echo "$round" >>"$dir/winners"
    fi
  done
}

# ---------------------------------------------------------------------
# Background processes.

# Start "$@" in the background (without bats' fd 3); its pid goes to
# $BG and into the list reap_background cleans up.
background() {
  "$@" 3>&- &
  BG=$!
  BG_PIDS="${BG_PIDS:-} $BG"
}

# The processes PID started, and theirs, and so on.
descendants() {
  local child
  for child in $(pgrep -P "$1"); do
    echo "$child"
    descendants "$child"
  done
}

# Kill whatever background left running (call from teardown), so bats
# does not wait for it; stopped processes are continued first.  What
# each started goes too: a COMMAND blocked on a FIFO whose lockdir was
# killed would wait for ever.  The processes a test listed in ./orphans
# (commands that may outlive the lockdir that ran them) are killed too.
reap_background() {
  local pid tree
  for pid in ${BG_PIDS:-}; do
    # Stopped first, so that none starts another meanwhile.
    tree="$pid $(descendants "$pid")"
    # shellcheck disable=SC2086
    kill -STOP $tree 2>/dev/null
    # shellcheck disable=SC2086
    kill -KILL $tree 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if [ -f orphans ]; then
    xargs -r kill -KILL <orphans 2>/dev/null
  fi
  return 0
}

# assert_no_inherited_fds WRAPPER...: a command run through WRAPPER
# (lockdir L, say) has the same descriptors above 2 as one run
# directly: the wrapper passes on none of its own.
assert_no_inherited_fds() {
  # No pipeline in the script: the shell would hold a pipe of its own
  # while the loop lists its descriptors, and that pipe's name differs
  # from run to run (seen once in CI as a "pipe:[N]" lockdir never made).
  cat >fds.sh <<'SH'
for fd in /proc/$$/fd/*; do
  # readlink fails for the directory the glob read: it is closed by now.
  [ "${fd##*/}" -le 2 ] || readlink "$fd" || :
done
SH
  sh fds.sh >fds.without
  "$@" sh fds.sh >fds.with
  sort -o fds.without fds.without
  sort -o fds.with fds.with
  # Only what the wrapper adds counts: a descriptor of the harness's
  # that closed between the two runs (seen under make -j2) is not one.
  assert_equal "$(comm -23 fds.with fds.without)" ""
}

# reads_terminal OPTION... LOCK: run
# 'lockdir OPTION... LOCK sh -c "read x; echo got $x"' under script(1),
# which gives it a terminal of its own, with lockdir in its foreground
# process group, and types "hello" there.  Sets status; leaves what the
# terminal showed in out, without its carriage returns.  Each word is
# given to script's shell quoted.
reads_terminal() {
  command -v script >/dev/null || skip "script(1) is not installed"
  local words
  words=$(printf '%q ' lockdir "$@")
  status=0
  # A lockdir that never ends its stopped COMMAND fails the test (137)
  # rather than hang it.
  echo hello |
    timeout --preserve-status -s KILL 60 \
      script -qec "$words sh -c 'read x; echo got \$x'" /dev/null >out.raw ||
    status=$?
  tr -d '\r' <out.raw >out
}

# run_failing_fsync N COMMAND...: run COMMAND (as bats' run does) with
# its Nth fsync(2) failing with EIO, injected by strace.
run_failing_fsync() {
  local n=$1
  shift
  run strace -o /dev/null -e inject=fsync:error=EIO:when="$n" "$@"
}

# After reads_terminal: lockdir said that the command was stopped for
# reading the terminal.
assert_told_of_terminal_stop() {
  grep -q "lockdir: the command is stopped: in a process group of its own, it may not read from the terminal (--foreground lets it)" out ||
    fail "no word of the stopped command: $(cat out)"
}

# is_stopped PID: process PID is stopped (by a signal, not traced).
is_stopped() {
  grep -q '^State:[[:space:]]*T (stopped)' "/proc/$1/status" 2>/dev/null
}

# ends_on_sigterm_while_stopped LOCKDIR_ARGS...: lockdir ARGS... runs a
# COMMAND that stops itself, as the terminal stops a command in a
# process group of its own that reads it; a SIGTERM to lockdir (as
# Ctrl-C would be) must end it at once, with 143, not at --max-runtime
# or never.  Sets status.
ends_on_sigterm_while_stopped() {
  background lockdir "$@" sh -c 'echo $$ >cmd; kill -STOP $$; exit 7'
  local lockdir_pid=$BG i
  wait_until test -s cmd
  wait_until is_stopped "$(cat cmd)"
  kill -TERM "$lockdir_pid"
  for ((i = 0; i < 1000; i++)); do
    is_dead "$lockdir_pid" && break
    sleep 0.01
  done
  # Not left stopped for ever if lockdir did not pass the signal on.
  kill -KILL "$(cat cmd)" 2>/dev/null || true
  status=0
  wait "$lockdir_pid" || status=$?
  [ "$i" -lt 1000 ] || fail "lockdir still ran 10 s after SIGTERM"
}

# perl -e "$in_own_group" COMMAND...: run COMMAND in a process group of
# its own, as a shell with job control runs a job.  A SIGTSTP then
# stops it even where the harness's process group is orphaned (a runner
# that started the tests in a session of their own), where the kernel
# drops it, as a stopped job there would have no shell to continue it.
# shellcheck disable=SC2016
in_own_group='setpgrp (0, 0) or die "setpgrp: $!\n";
  exec { $ARGV[0] } @ARGV or die "cannot run $ARGV[0]: $!\n"'

# stops_with_lockdir LOCKDIR_ARGS...: lockdir ARGS... runs a COMMAND in
# a process group of its own; SIGTSTP to lockdir (Ctrl-Z, which reaches
# only lockdir's group) must stop COMMAND and the process it started
# too, and SIGCONT continue them.  Then a SIGTERM ends them; sets
# status to lockdir's.
stops_with_lockdir() {
  # COMMAND starts its child once and waits, rather than loop on
  # 'sleep 0.1': dash runs a foreground command with vfork, and a stop
  # that reaches the child before its exec leaves dash waiting for the
  # exec, not stopped (seen once in CI).
  background perl -e "$in_own_group" lockdir "$@" sh -c 'echo $$ >>orphans; sleep 300 >/dev/null &
    echo $! >>orphans; echo $$ $! >cmd; wait'
  local lockdir_pid=$BG pid
  wait_until test -s cmd
  kill -TSTP "$lockdir_pid"
  wait_until is_stopped "$lockdir_pid"
  for pid in $(cat cmd); do
    wait_until is_stopped "$pid"
  done
  kill -CONT "$lockdir_pid"
  for pid in $(cat cmd); do
    wait_until eval "! is_stopped $pid"
  done
  kill -TERM "$lockdir_pid"
  status=0
  wait "$lockdir_pid" || status=$?
}

# tstp_stop_signal LOCKDIR_ARGS...: lockdir ARGS... runs a COMMAND that
# waits; print the signal that its parent's waitpid says stopped it
# after a SIGTSTP, or "running" if it was not stopped within 10 s.
# Then it is continued and ended (SIGTERM).  A shell shows a stop by
# SIGTSTP as "Stopped", and one by SIGSTOP as "Stopped (signal)".
# (COMMAND's sleep writes elsewhere: an orphan that kept run's pipe
# open would keep run waiting.)
tstp_stop_signal() {
  perl -MPOSIX -e '
    my $pid = fork // die "fork: $!";
    # A group of its own: see in_own_group.
    if (!$pid) { setpgrp (0, 0); exec @ARGV; exit 127 }
    for (my $i = 0; !-s "cmd" && $i < 1000; $i++) { select undef, undef, undef, 0.01 }
    kill "TSTP", $pid;
    my $stopped = 0;
    for (my $i = 0; $i < 1000; $i++) {
      if (waitpid ($pid, WNOHANG | WUNTRACED) == $pid) { $stopped = 1; last }
      select undef, undef, undef, 0.01;
    }
    print $stopped && WIFSTOPPED (${^CHILD_ERROR_NATIVE})
      ? WSTOPSIG (${^CHILD_ERROR_NATIVE}) : "running", "\n";
    kill "CONT", $pid;
    kill "TERM", $pid;
    waitpid ($pid, 0);' \
    lockdir "$@" sh -c 'echo $$ >>orphans; echo $$ >cmd; exec sleep 300 >/dev/null'
}

# ends_after_tstp_when_orphaned LOCKDIR_ARGS...: lockdir ARGS..., in a
# session of its own (so its process group is orphaned: no shell would
# continue it), runs a COMMAND that waits; a SIGTSTP must not stop it
# for good (the kernel drops one for a process that does not catch
# it), so the SIGTERM that follows ends it.  Sets status to lockdir's.
ends_after_tstp_when_orphaned() {
  background setsid lockdir "$@" \
    sh -c 'echo $$ >>orphans; echo $$ >cmd; exec sleep 300 >/dev/null'
  local lockdir_pid=$BG i
  wait_until test -s cmd
  kill -TSTP "$lockdir_pid"
  kill -TERM "$lockdir_pid"
  for ((i = 0; i < 1000; i++)); do
    is_dead "$lockdir_pid" && break
    sleep 0.01
  done
  # Not left stopped for ever if it did stop.
  kill -CONT "$lockdir_pid" 2>/dev/null || true
  status=0
  wait "$lockdir_pid" || status=$?
  [ "$i" -lt 1000 ] || fail "lockdir still ran 10 s after SIGTSTP and SIGTERM"
}

# broken_stderr CMD...: run CMD with standard error a pipe whose reader
# has gone (a '2>&1 | head -1' whose head has exited), and print how it
# ended: "exit=N" or "signal=N".
broken_stderr() {
  perl -e 'pipe my $r, my $w or die "pipe: $!\n"; close $r;
    open STDERR, ">&", $w or die "dup: $!\n"; close $w;
    system @ARGV;
    print $? & 127 ? "signal=" . ($? & 127) : "exit=" . ($? >> 8), "\n"' "$@"
}

# Run COMMAND... with standard output a pipe whose reader is gone
# before it starts (perl is essential on Debian), with SIGPIPE as the
# caller leaves it.
with_closed_pipe() {
  perl -e 'pipe (R, W) or die; close R; open (STDOUT, ">&W") or die;
           exec @ARGV or die' "$@"
}

# A --max-runtime -k test's straggler, which ignores SIGTERM and would
# write 'out' once let through the FIFO 'gate' (its pid in 'straggler'),
# must be gone now that lockdir has exited: open the gate and check.
assert_no_straggler() {
  exec 4<>gate
  echo go >&4
  # Its pid is missing only if SIGTERM came first (a loaded machine).
  if [ -s straggler ]; then wait_until is_dead "$(cat straggler)"; fi
  exec 4>&-
  [ ! -e out ] || fail "a process of COMMAND's group ran on after the release"
}

#!/usr/bin/env bats
# lockdir: mutual exclusion with a visible owner, safe stale recovery and
# no polling.

load test_helper

setup() {
  common_setup
}

teardown() {
  # Let any holder a test left behind go, so bats does not wait for it.
  reap_background
  local pid
  # What a kill sweep left behind (a child that outlived its lockdir).
  if [ -n "${SWEEP:-}" ]; then
    for pid in $(sweep_leftovers "$SWEEP"); do kill -KILL "$pid"; done
  fi
  unmount_test_mounts
  return 0
}

# Field 22 of /proc/PID/stat: the process start time.
start_time_of() {
  sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f20
}

# A lock whose owner has died: a shell takes it for itself, then exits.
make_dead_lock() {
  sh -c 'lockdir "$1" && :' sh "$1"
  run lockdir --status "$1"
  assert_failure 4
  assert_line stale=yes
}

# The value of KEY in the owner record of LOCK.
owner_field() {
  lockdir --status "$1" | sed -n "s/^$2=//p"
}

# True when the lock is free.
lock_free() {
  ! lockdir --status "$1" >/dev/null 2>&1
}

# --- command line ------------------------------------------------------

@test "--help prints usage, exit statuses and examples on stdout" {
  run --separate-stderr lockdir --help
  assert_success
  assert_line --index 0 "Usage: lockdir [OPTION]... LOCK COMMAND [ARG]..."
  assert_output --partial "--timeout=DURATION"
  assert_output --partial "--max-runtime=DURATION"
  assert_output --partial "--lease=DURATION"
  assert_output --partial "LOCKDIR_TOKEN"
  assert_output --partial "Exit status:"
  assert_output --partial "With COMMAND, lockdir exits instead as timeout(1) does:"
  assert_output --partial "Examples:"
  [ -z "$stderr" ]
}

@test "--version prints the package version" {
  run --separate-stderr lockdir --version
  assert_success
  assert_line --index 0 "lockdir (atomicutils) 0.1"
}

@test "usage errors exit 2 with the Try line, and take no lock" {
  run lockdir
  assert_usage_error lockdir
  assert_line --partial "missing operand"
  run lockdir -w soon L
  assert_usage_error lockdir
  # Named as --help names it, whichever spelling was used.
  assert_line --partial "invalid duration for --wait: 'soon'"
  run lockdir --timeout=soon L
  assert_line --partial "invalid duration for --wait: 'soon'"
  run lockdir -n -w 1 L
  assert_usage_error lockdir
  assert_line --index 0 "lockdir: --nonblock and --wait cannot be combined"
  run lockdir -E 300 L
  assert_usage_error lockdir
  run lockdir --lease=0 L
  assert_usage_error lockdir
  run lockdir --break L extra
  assert_usage_error lockdir
  run lockdir --list L extra
  assert_usage_error lockdir
  run lockdir --status --break L
  assert_usage_error lockdir
  run lockdir --json L
  assert_usage_error lockdir
  run lockdir --max-runtime=1 L
  assert_usage_error lockdir
  run lockdir --owner-pid=abc L
  assert_usage_error lockdir
  # Numbers are plain decimal digits, as a DURATION is: a blank or a
  # sign is more likely a slip in a script than meant.
  local n
  for n in " 12" +12 12x -1; do
    run lockdir -E "$n" L
    assert_usage_error lockdir
    assert_line --index 0 "lockdir: invalid exit code '$n' (use 0 to 255)"
  done
  for n in " $$" "+$$" "${$}x" -1; do
    run lockdir --owner-pid="$n" L
    assert_usage_error lockdir
    assert_line --index 0 "lockdir: invalid process ID '$n'"
  done
  [ ! -e L ]
}

# With COMMAND, status 2 could be the command's own: like timeout(1),
# lockdir reports a usage error there as 125.
assert_command_usage_error() {
  assert_equal "$status" 125
  assert_line --partial "Try 'lockdir --help' for more information."
}

@test "usage errors with COMMAND exit 125 with the Try line, and take no lock" {
  run lockdir --no-such-option L true
  assert_command_usage_error
  assert_equal "${#lines[@]}" 2
  run lockdir -w soon L true
  assert_command_usage_error
  assert_line --partial "invalid duration"
  run lockdir -n -w 1 L true
  assert_command_usage_error
  run lockdir -E 300 L true
  assert_command_usage_error
  run lockdir --lease=0 L true
  assert_command_usage_error
  run lockdir -k 1 L true
  assert_command_usage_error
  run lockdir --owner-pid=1 L true
  assert_command_usage_error
  [ ! -e L ]
}

@test "options after LOCK belong to COMMAND" {
  run lockdir L sh -c 'printf "%s\n" "$*"' sh -n -v --status
  assert_success
  assert_output -- "-n -v --status"
}

# --- command form ------------------------------------------------------

@test "COMMAND runs holding LOCK; its status is lockdir's; LOCK is free after" {
  run lockdir L sh -c 'test -d L && ls L; exit 3'
  assert_failure 3
  assert_output --regexp '^owner\.[0-9a-f]{32}$'
  [ ! -e L ]
  run lockdir L true
  assert_success
  [ ! -e L ]
  assert_equal "$(ls -A)" L.last
}

@test "the owner record names lockdir, its child, and the command line" {
  run lockdir L sh -c 'echo "$$"; cat L/owner.*'
  assert_success
  child=${lines[0]}
  assert_line "child_pid=$child"
  assert_line --regexp '^pid=[0-9]+$'
  assert_line "host=$(uname -n)"
  assert_line "boot_id=$(cat /proc/sys/kernel/random/boot_id)"
  assert_line "uid=$(id -u)"
  assert_line --regexp '^acquired=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+[-+][0-9]{2}:[0-9]{2}$'
  assert_line --regexp "^start_time=[0-9]+$"
  assert_line --regexp '^child_start_time=[0-9]+$'
  assert_line "command=sh -c 'echo \"\$\$\"; cat L/owner.*'"
}

@test "fencing token: larger on every acquisition, exported as LOCKDIR_TOKEN" {
  prev=0
  for i in 1 2 3 4 5; do
    t=$(lockdir L sh -c 'echo "$LOCKDIR_TOKEN"')
    [ "$t" -gt "$prev" ] || fail "token $t after $prev"
    prev=$t
  done
  # The script form too, and a break carries the token on.
  t=$(lockdir --print-token L)
  [ "$t" -gt "$prev" ]
  lockdir --break L >/dev/null
  t2=$(lockdir L sh -c 'echo "$LOCKDIR_TOKEN:$LOCKDIR_PATH"')
  assert_equal "$t2" "$((t + 1)):L"
}

@test "breaking a holding killed before it settled its token never lowers it" {
  for i in 1 2 3; do lockdir L true; done
  grep -qx token=3 L.last
  # A dead holder whose record still has a candidate token below LOCK.last.
  true & wait $!
  plant_record L "$!" 1 token=2
  run lockdir -n -v L sh -c 'echo "$LOCKDIR_TOKEN"'
  assert_success
  assert_line --partial "broke stale lock"
  assert_line 4
  grep -qx token=4 L.last
}

@test "the lock holds no file descriptor that COMMAND inherits" {
  assert_no_inherited_fds lockdir L
}

@test "control: the same check catches a wrapper that passes on a descriptor" {
  leaky_wrapper() {
    exec 7</dev/null
    "$@"
  }
  run assert_no_inherited_fds leaky_wrapper
  assert_failure
  assert_output --partial /dev/null
}

@test "busy: -n fails at once with 75 (with COMMAND) or 1 (without); -E changes it" {
  mkfifo gate
  background lockdir L sh -c 'read x <gate'
  wait_until test -d L
  run lockdir -n L true
  assert_failure 75
  assert_output --partial "'L' is held by pid $BG"
  run lockdir -n -q L true
  assert_failure 75
  assert_output ""
  run lockdir -n -E 9 L true
  assert_failure 9
  run lockdir -n L
  assert_failure 1
  run lockdir -w 200ms L true
  assert_failure 75
  assert_output --partial "still held after the timeout"
  run lockdir -w 200ms L
  assert_failure 1
  # A zero wait is no wait: held, as with -n, not "after the timeout".
  run lockdir -w 0 L true
  assert_failure 75
  assert_output --partial "'L' is held by pid $BG"
  echo >gate
  wait "$BG"
  lockdir -n L true
  assert_no_temporaries lockdir
}

@test "a waiter gets the lock when the holder releases it" {
  mkfifo gate
  background lockdir L sh -c 'read x <gate; echo first >>order'
  holder=$BG
  wait_until test -d L
  background lockdir -w 30s L sh -c 'echo second >>order'
  waiter=$BG
  wait_until sleeps_in_poll "$waiter"
  echo >gate
  wait "$holder"
  wait "$waiter"
  assert_equal "$(cat order)" "$(printf 'first\nsecond')"
}

@test "exec errors: 127 for a missing command, 126 for one that cannot run; LOCK free" {
  run -127 lockdir L no-such-command-xyz
  assert_output --partial "cannot run 'no-such-command-xyz': No such file or directory"
  [ ! -e L ]
  : >not-executable
  run lockdir L ./not-executable
  assert_failure 126
  assert_output --partial "Permission denied"
  [ ! -e L ]
}

@test "a command killed by signal N gives 128+N" {
  run lockdir L sh -c 'kill -KILL $$'
  assert_failure 137
  [ ! -e L ]
}

@test "Ctrl-C ends a shell loop of lockdir COMMANDs: lockdir dies of the signal that killed COMMAND, as timeout(1) does" {
  # bash ends its loop at SIGINT only if the child it waited for died
  # of SIGINT too; a child that exits 130 has, for all it knows, handled
  # the signal, and the loop goes on.  The terminal's Ctrl-C is a SIGINT
  # to the whole process group (setsid: a group of the loop's own).
  # shellcheck disable=SC2016
  background setsid env --default-signal=INT bash -c '
    for i in 1 2 3; do
      lockdir L sh -c "[ -e ready ] && exit 0; echo >ready; exec sleep 30"
      echo "went on after status $?" >>log
    done'
  wait_until test -e ready
  wait_until test -d L
  kill -INT -- "-$BG"
  status=0
  wait "$BG" || status=$?
  [ ! -e log ] || fail "the loop went on: $(cat log)"
  assert_equal "$status" 130
  [ ! -e L ]
  # Its parent sees it killed by the signal, and no core dump of
  # lockdir's own for a signal that makes one (the core is COMMAND's).
  run bash -c 'ulimit -c unlimited 2>/dev/null
    exec perl -e "system @ARGV; print \$? & 255, qq(\n)" "$@"' bash \
    lockdir L sh -c 'kill -SEGV $$'
  assert_output 11
  [ ! -e L ]
  # The shell's own report is unchanged: 128+N.
  run lockdir L sh -c 'kill -TERM $$'
  assert_failure 143
}

@test "--max-runtime: SIGTERM, status 124; -k adds SIGKILL" {
  run lockdir --max-runtime=200ms L sleep 30
  assert_failure 124
  [ ! -e L ]
  # A command that ignores SIGTERM is killed after --kill-after.
  run lockdir --max-runtime=100ms -k 200ms L sh -c 'trap "" TERM; while :; do sleep 0.05; done'
  assert_failure 124
  [ ! -e L ]
  # A command that ends in time keeps its own status.
  run lockdir --max-runtime=30s L sh -c 'exit 4'
  assert_failure 4
  # A positive duration below a nanosecond is one, not "no limit" (0).
  run lockdir --max-runtime=0.0000000001 L sleep 30
  assert_failure 124
}

@test "--max-runtime: a COMMAND that exited in time, seen only after the deadline (lockdir slept past it), keeps its status, not 124" {
  command -v strace >/dev/null || skip "strace is not installed"
  mkfifo gate
  # lockdir's first poll, the wait for COMMAND, returns 3 s late (a
  # loaded machine): COMMAND has exited long before its 2 s were up,
  # and its SIGCHLD has come; only the reaping is late.
  background sh -c 'strace -qq -o trace -e trace=poll,wait4 \
      -e inject=poll:delay_exit=3000000:when=1 \
      lockdir --max-runtime=2 L sh -c "echo >ready; read x <gate; exit 6"
    echo "$?" >status'
  wait_until test -e ready
  echo >gate
  wait "$BG"
  grep -q 'CLD_EXITED.*si_status=6' trace || fail "$(cat trace)"
  assert_equal "$(cat status)" 6
  [ ! -e L ]
}

@test "--max-runtime=0 and inf set no limit, as --help says; COMMAND stays in lockdir's group" {
  local d
  for d in 0 inf; do
    run lockdir --max-runtime=$d L sh -c 'sleep 0.2; ps -o pgid= -p $$ >pgid; exit 7'
    assert_failure 7
    assert_equal "$(tr -d ' ' <pgid)" "$(ps -o pgid= -p $$ | tr -d ' ')"
  done
}

@test "DURATION: 'infinity' is 'inf', as --help says" {
  run lockdir --help
  assert_line "d; 0 means do not wait, 'inf' or 'infinity' means forever;"
  # No limit: COMMAND stays in lockdir's group, as with inf.
  run lockdir --max-runtime=infinity L sh -c 'ps -o pgid= -p $$ >pgid; exit 7'
  assert_failure 7
  assert_equal "$(tr -d ' ' <pgid)" "$(ps -o pgid= -p $$ | tr -d ' ')"
  # No -k, so taken without --max-runtime, as -k inf is.
  run lockdir -k infinity L sh -c 'echo ran'
  assert_success
  assert_output ran
  [ ! -e L ]
}

@test "-k inf and -k 0 send no SIGKILL, as --help says" {
  # A command that ignores SIGTERM (its sleep too) ends on its own.  It
  # ignores it from the start, inherited through lockdir: a trap set by
  # the command itself could come after the SIGTERM on a loaded machine.
  local d
  for d in inf 0; do
    run bash -c 'trap "" TERM; exec lockdir --max-runtime=100ms -k "$1" L sh -c "sleep 0.5; echo ended"' _ "$d"
    assert_failure 124
    assert_output ended
    [ ! -e L ]
  done
  run bash -c "lockdir --help | tr -s ' \\n' ' '"
  assert_output --partial "after SIGTERM; 'inf' or 0: never, as without -k"
}

@test "--help says that a DURATION above 36500d is refused, as -w 36501d is, and 36500d taken" {
  run lockdir --help
  assert_line "more than 36500d (100 years) is refused as a usage error."
  assert_line "--max-runtime=0 sets no limit."
  run lockdir -w 36501d L true
  assert_failure 125
  assert_output --partial "duration too long for --wait: '36501d' (at most 36500d"
  run lockdir -w 36500d L true
  assert_success
}

@test "--help says on which filesystems lockdir refuses unless --force and on which it warns, as fsclass judges the rename of its directory" {
  run bash -c "lockdir --help | tr -s ' \\n' ' '"
  assert_output --partial "The lock holds on local filesystems and, through the server, on NFS, SMB and sshfs."
  assert_output --partial "On object-store FUSE filesystems (s3fs, goofys, ...) and on GlusterFS, where several clients could all take it, lockdir refuses unless --force is given; on other FUSE filesystems it warns (not with -q) and goes on."
  # What lockdir checks is the rename of a directory onto LOCK
  # (rename-dir); tests/fs.bats runs lockdir on s3fs, GlusterFS and
  # plain FUSE mounts.
  local fs
  for fs in ext4 tmpfs nfs nfs4 cifs smb3 fuse.sshfs; do
    run fsclass-test classify "$fs"
    assert_line "rename-dir=safe"
  done
  for fs in fuse.s3fs fuse.goofys fuse.glusterfs; do
    run fsclass-test classify "$fs"
    assert_line "rename-dir=refuse"
  done
  run fsclass-test classify fuse
  assert_line "rename-dir=warn"
}

@test "-k: 0 and inf, the same as no -k, are taken without --max-runtime, as --help says; any other DURATION needs one" {
  local d
  for d in 1 500ms 1d; do
    run lockdir -k $d L true
    assert_command_usage_error
    assert_line "lockdir: --kill-after needs a --max-runtime other than 0 or inf"
    # --max-runtime=inf and 0 are no limit: nothing for SIGKILL to follow.
    run lockdir --max-runtime=inf -k $d L true
    assert_command_usage_error
    run lockdir --max-runtime=0 -k $d L true
    assert_command_usage_error
    run lockdir -k $d L
    assert_usage_error lockdir
  done
  [ ! -e L ]
  for d in inf 0 0s; do
    run lockdir -k $d L sh -c 'echo ran'
    assert_success
    assert_output ran
    run lockdir --max-runtime=inf -k $d L true
    assert_success
  done
  run bash -c "lockdir --help | tr -s ' \\n' ' '"
  assert_output --partial "'inf' or 0: never, as without -k, and so taken without --max-runtime too"
}

@test "--max-runtime stops the processes COMMAND started too (its process group): none runs on after the release" {
  # The sleep writes elsewhere: one left running would hold run's
  # output open, and run would wait for it to end, passing anyway.
  run lockdir --max-runtime=300ms L sh -c 'sleep 30 >/dev/null 2>&1 & echo $! >child; wait'
  assert_failure 124
  [ ! -e L ]
  wait_until is_dead "$(cat child)"
  # Without --max-runtime, COMMAND stays in lockdir's process group.
  run lockdir L sh -c 'ps -o pgid= -p $$ >pgid'
  assert_success
  assert_equal "$(tr -d ' ' <pgid)" "$(ps -o pgid= -p $$ | tr -d ' ')"
}

@test "--max-runtime -k: a process of COMMAND's group that ignores SIGTERM gets SIGKILL when COMMAND exits, before the release" {
  # The straggler ignores SIGTERM from its start (env), and then waits
  # at gate, opened only once lockdir has exited: had it run on, it
  # would write 'survived'.  COMMAND, whose sleep SIGTERM ends, exits
  # long before -k's SIGKILL is due.
  mkfifo ready gate
  run lockdir --max-runtime=1s -k 1h L sh -c '
    env --ignore-signal=TERM sh -c "echo >ready; read x <gate; echo survived >out" >/dev/null 2>&1 &
    echo $! >straggler; read x <ready; exec sleep 30'
  assert_failure 124
  assert_output ''
  [ ! -e L ]
  assert_no_straggler
}

@test "--max-runtime -k: a COMMAND that exits in time leaves its group alone: -k acts only once SIGTERM was sent, as --help says" {
  # The straggler, in COMMAND's group, waits at gate, opened only once
  # lockdir has exited; COMMAND exits at once, long before either
  # signal is due.  Had -k killed what is left of the group, nothing
  # would write 'survived'.
  mkfifo ready gate
  run lockdir --max-runtime=1h -k 1h L sh -c '
    sh -c "echo >ready; read x <gate; echo survived >out" >/dev/null 2>&1 &
    read x <ready; exit 0'
  assert_success
  [ ! -e L ]
  echo >gate
  wait_until test -s out
  assert_equal "$(cat out)" survived
  run bash -c "lockdir --help | tr -s ' \\n' ' '"
  assert_output --partial "-k, --kill-after=DURATION once --max-runtime has sent SIGTERM, also send SIGKILL"
}

@test "--max-runtime -k: COMMAND exiting just after lockdir looked at it, the rest of its group still gets SIGKILL before the release" {
  # After the SIGTERM, COMMAND waits at gate2.  lockdir, woken by its
  # heartbeat (--lease), looks whether COMMAND has exited (its second
  # waitid: the first is its look just before the SIGTERM, whether
  # COMMAND has exited already), and is held there by the shim while
  # COMMAND is let go and
  # exits.  lockdir must not then take that exit and release the lock
  # without the SIGKILL -k promises the rest of the group.
  local shim
  shim=$(command -v fault-shim.so) ||
    skip "tests/fault-shim.so is not built (make check builds it)"
  mkdir fa
  mkfifo ready gate gate2
  background env LD_PRELOAD="$shim" FAULT_DIR="$PWD/fa" \
    FAULT_PAUSE=waitid:2 lockdir --lease=3s --max-runtime=1s -k 1h L \
    env -u LD_PRELOAD -u FAULT_PAUSE sh -c '
    exec 2>/dev/null; trap "read x <gate2; exit 0" TERM; echo $$ >cmd
    env --ignore-signal=TERM sh -c "echo >ready; read x <gate; echo survived >out" >/dev/null 2>&1 &
    echo $! >straggler; read x <ready; sleep 30 & wait $!' 2>err
  local lockdir=$BG
  wait_until paused_or_dead fa/paused.waitid.2 "$lockdir"
  [ -e fa/paused.waitid.2 ] || fail "lockdir never looked: $(cat err)"
  local cmd
  cmd=$(cat cmd)
  is_dead "$cmd" && fail "COMMAND exited before lockdir looked"
  echo go >gate2
  wait_until is_dead "$cmd"
  : >fa/go.waitid.2
  local status=0
  wait "$lockdir" || status=$?
  assert_equal "$status" 124
  assert_equal "$(cat err)" ""
  [ ! -e L ]
  assert_no_straggler
}

@test "-v: lockdir says when --max-runtime sends SIGTERM and -k SIGKILL (when due, or when COMMAND exits first); without -v nothing" {
  # COMMAND ignores SIGTERM (from lockdir's start): SIGKILL when due.
  run bash -c 'trap "" TERM; exec lockdir -v --max-runtime=100ms -k 200ms L sleep 30'
  assert_failure 124
  assert_equal "${#lines[@]}" 3
  assert_line --index 1 "lockdir: the command under 'L' ran for 0.100 s (--max-runtime): sending SIGTERM to its process group"
  assert_line --index 2 "lockdir: the command under 'L' still ran 0.200 s after SIGTERM (--kill-after): sending SIGKILL to its process group"
  [ ! -e L ]
  # COMMAND ends on SIGTERM: its group gets SIGKILL then (said so
  # whether or not another process was left in it).
  run lockdir -v --max-runtime=100ms -k 1h L sleep 30
  assert_failure 124
  assert_equal "${#lines[@]}" 3
  assert_line --index 1 "lockdir: the command under 'L' ran for 0.100 s (--max-runtime): sending SIGTERM to its process group"
  assert_line --index 2 "lockdir: the command under 'L' exited after SIGTERM was due: sent SIGKILL to its process group (--kill-after)"
  # Without -k, and with --foreground (COMMAND alone is signalled).
  run lockdir -v --max-runtime=100ms --foreground L sleep 30
  assert_failure 124
  assert_equal "${#lines[@]}" 2
  assert_line --index 1 "lockdir: the command under 'L' ran for 0.100 s (--max-runtime): sending SIGTERM to it"
  # Without -v, nothing: scripts read COMMAND's standard error.
  run bash -c 'trap "" TERM; exec lockdir --max-runtime=100ms -k 200ms L sleep 30'
  assert_failure 124
  assert_output ''
  run lockdir --max-runtime=100ms -k 1h L sleep 30
  assert_failure 124
  assert_output ''
  [ ! -e L ]
}

@test "--foreground: with --max-runtime, COMMAND can read the terminal (without it, it is stopped and ended: 124)" {
  reads_terminal --max-runtime=60s --foreground L
  assert_equal "$status" 0
  assert_equal "$(tail -n 1 out)" "got hello"
  [ ! -e L ]
  # With --foreground, COMMAND is in lockdir's process group.
  run lockdir --max-runtime=60s --foreground L sh -c 'ps -o pgid= -p $$ >pgid'
  assert_success
  assert_equal "$(tr -d ' ' <pgid)" "$(ps -o pgid= -p $$ | tr -d ' ')"
  # The control: in a process group of its own, COMMAND is stopped
  # when it reads the terminal (SIGTTIN) until --max-runtime ends it.
  reads_terminal --max-runtime=1s L
  assert_equal "$status" 124
  refute grep -q "got hello" out
  # ... and lockdir says why it waits.
  assert_told_of_terminal_stop
  [ ! -e L ]
}

@test "--max-runtime -k -v: a COMMAND that exits after lockdir's last look, before the SIGTERM, is neither signalled nor said stopped; its status stands" {
  command -v strace >/dev/null || skip "strace is not installed"
  # The first look finds COMMAND running; it exits, and its 100 ms
  # pass, before lockdir goes on.
  exit_in_delayed_wait 1 -v --max-runtime=100ms -k 1h L
  # Before: 124, "sending SIGTERM", "exited after SIGTERM".
  assert_equal "$(cat status)" 7
  run cat err
  assert_line --index 0 --partial "lockdir: acquired 'L'"
  assert_equal "${#lines[@]}" 1
  run grep kill trace
  assert_output ''
  [ ! -e L ]
}

@test "--max-runtime -k -v: a COMMAND that exits after SIGTERM, just after lockdir's look when SIGKILL is due found it running, is neither said to run still nor sent SIGKILL" {
  command -v strace >/dev/null || skip "strace is not installed"
  # The third look (before SIGTERM, when it is due, when -k's SIGKILL
  # is due) finds COMMAND, which ignores SIGTERM, running; it exits
  # before lockdir goes on.  (--foreground: each look is one wait4.)
  exit_in_delayed_wait 3 -v --max-runtime=100ms -k 200ms --foreground L
  assert_equal "$(cat status)" 124
  run cat err
  assert_line --index 1 "lockdir: the command under 'L' ran for 0.100 s (--max-runtime): sending SIGTERM to it"
  # Before: "still ran 0.200 s after SIGTERM (--kill-after): sending
  # SIGKILL to it".
  assert_equal "${#lines[@]}" 2
  run grep SIGKILL trace
  assert_output ''
  [ ! -e L ]
}

@test "--max-runtime: a signal passed on to a COMMAND the terminal stopped ends it (SIGCONT follows)" {
  ends_on_sigterm_while_stopped --max-runtime=60s L
  assert_equal "$status" 143
  [ ! -e L ]
}

@test "a command stopped by the terminal while lockdir itself is in the background: no --foreground hint" {
  command -v script >/dev/null || skip "script(1) is not installed"
  # bash with job control (set -m) runs lockdir as a background job of
  # the terminal script(1) gives it: --foreground would not help there.
  # (It lists lockdir in ./orphans, so that the teardown can end one that
  # never ends, after timeout(1) ended script(1).)
  echo hello | timeout --preserve-status -s KILL 60 script -qec "bash -c 'set -m; lockdir --max-runtime=1s L sh -c \"read x\" & echo \$! >>orphans; wait \$!; echo status=\$?'" /dev/null >out.raw
  tr -d '\r' <out.raw >out
  grep -q "status=124" out || fail "no status 124: $(cat out)"
  grep -q "lockdir: the command is stopped: it may not read from the terminal from the background" out ||
    fail "no word of the stopped command: $(cat out)"
  if grep -q -- "--foreground lets it" out; then
    fail "a hint that cannot help: $(cat out)"
  fi
}

@test "--foreground: the processes COMMAND started are not signalled at --max-runtime, as documented" {
  run lockdir --max-runtime=1s --foreground L sh -c 'sleep 30 >/dev/null 2>&1 & echo $! >child; wait'
  assert_failure 124
  [ ! -e L ]
  kill -0 "$(cat child)" || fail "the process COMMAND started was signalled"
  kill "$(cat child)"
}

@test "SIGTSTP (Ctrl-Z) stops a COMMAND with a process group of its own (--max-runtime) with lockdir, and SIGCONT continues both" {
  # Else it would run on unwatched: past --max-runtime, and after
  # others broke a lock whose heartbeat lockdir no longer refreshes.
  stops_with_lockdir --max-runtime=60s L
  assert_equal "$status" 143
  [ ! -e L ]
}

@test "SIGTSTP stops lockdir as it stops other programs: its shell sees SIGTSTP, not SIGSTOP" {
  # A shell lists a job stopped by SIGSTOP as "Stopped (signal)".
  run tstp_stop_signal --max-runtime=60s L
  assert_output "$(kill -l TSTP)"
}

@test "SIGTSTP does not stop a lockdir in an orphaned process group, where no shell would continue it" {
  # As the kernel drops it for a program that does not catch it.
  ends_after_tstp_when_orphaned --max-runtime=60s L
  assert_equal "$status" 143
  [ ! -e L ]
}

@test "--foreground without --max-runtime is a usage error" {
  run lockdir --foreground L true
  assert_failure 125
  assert_output --partial "--foreground needs a COMMAND, and --max-runtime or --etcd"
}

@test "signals sent to lockdir reach COMMAND; lockdir exits with its status, LOCK free" {
  for sig in TERM HUP USR1 USR2 INT QUIT; do
    rm -f ready got
    # env --default-signal: a background job starts with SIGINT and
    # SIGQUIT ignored, and lockdir keeps an inherited "ignore".
    background env --default-signal lockdir L sh -c \
      "trap 'echo $sig >got; exit 7' $sig; echo >ready; while :; do sleep 0.02; done"
    wait_until test -e ready
    kill -"$sig" "$BG"
    status=0
    wait "$BG" || status=$?
    assert_equal "$status" 7
    assert_equal "$(cat got)" "$sig"
    [ ! -e L ] || fail "LOCK left after $sig"
  done
}

@test "lockdir releases only after COMMAND has exited" {
  mkfifo gate
  # The command's TERM trap blocks on the gate: it has got the signal
  # and not yet exited for as long as the test wants.
  background lockdir L sh -c 'trap "echo >got; read x <gate; echo done >done; exit 0" TERM; echo >ready; while :; do sleep 0.02; done'
  wait_until test -e ready
  kill -TERM "$BG"
  wait_until test -e got
  # lockdir has passed the signal on and the command is still running
  # (in its trap): the lock is held.
  [ -d L ] || fail "released while the command still ran"
  lockdir --status L >/dev/null
  echo >gate
  wait "$BG"
  [ -e done ]
  [ ! -e L ]
}

@test "taking a lock one already holds fails instead of waiting forever" {
  lockdir L
  # Not through 'run', whose subshell would be another owner.
  status=0
  lockdir -w 30s L 2>err || status=$?
  assert_equal "$status" 1
  grep -q "waiting would never end" err
  # A command that takes its parent's lock again.
  run lockdir M lockdir -w 30s M true
  assert_failure 75
  assert_output --partial "waiting would never end"
  lockdir -u L
}

@test "man page: a shared holding taken again as its COMMAND is busy at once; a deeper descendant waits out -w" {
  run lockdir -s M lockdir -s -w 30s M true
  assert_failure 75
  assert_output --partial "waiting would never end"
  # Not recognised through a shell in between: the wait runs out.
  run lockdir M sh -c 'true; lockdir -w 100ms M true'
  assert_failure 75
  assert_output --partial "still held after the timeout"
  refute_output --partial "waiting would never end"
}

# Two background processes hold S shared (--owner-pid): LISTED_FIRST
# and LISTED_SECOND are their pids in the order --status lists them.
hold_shared_by_two() {
  background sleep 1000
  local first=$BG
  background sleep 1000
  local second=$BG
  lockdir -s --owner-pid="$first" S
  lockdir -s --owner-pid="$second" S
  LISTED_FIRST=$(lockdir --status --json S | jq '.holders[0].pid')
  if [ "$LISTED_FIRST" = "$first" ]; then
    LISTED_SECOND=$second
  else
    LISTED_SECOND=$first
  fi
}

@test "a shared holder taking its lock again is told its own pid, not another holder's" {
  hold_shared_by_two
  # The holder whose record comes first is the one the message used to
  # name, whoever asked.
  run lockdir -s -n --owner-pid="$LISTED_SECOND" S
  assert_failure 1
  assert_output "lockdir: 'S' is already held by pid $LISTED_SECOND, for the same owner or as our parent: waiting would never end"
}

@test "--list names a live shared holder, not a dead one, and counts the dead one stale" {
  hold_shared_by_two
  # The holder listed first dies: the line used to name it after
  # "stale (its owner is dead)", though the live one keeps the lock.
  local dead=$LISTED_FIRST live=$LISTED_SECOND
  kill "$dead"
  wait "$dead" || :
  run lockdir --list .
  assert_success
  assert_output --regexp "^S: held shared by pid $live on .*; 1 more shared holder, 1 of them stale\$"
  lockdir --owner-pid="$live" T
  run lockdir --status S T
  assert_success
  assert_output --regexp "^S: held shared by pid $live on "
}

@test "--status of a shared lock with a live holder and a dead one is held (0), not stale (4)" {
  hold_shared_by_two
  local dead=$LISTED_SECOND
  kill "$dead"
  wait "$dead" || :
  run lockdir --status S
  assert_success
  # Each holder's own verdict stays in the record, and in JSON.
  assert_output --partial "stale=yes"
  assert_output --partial "stale=no"
  run lockdir --status --json S
  assert_success
  assert_equal "$(jq -c '[.holders[].stale]' <<<"$output")" '[false,true]'
  # The next lockdir only removes the dead record: the lock stays busy,
  # as the status said.
  run lockdir -n S true
  assert_failure 75
  # Only once every holder is dead is the lock stale.
  kill "$LISTED_FIRST"
  wait "$LISTED_FIRST" || :
  run lockdir --status S
  assert_failure 4
}

@test "--status --json of a shared lock whose first holder is dead speaks for a live one: its \"stale\" is false" {
  hold_shared_by_two
  local dead=$LISTED_FIRST live=$LISTED_SECOND
  kill "$dead"
  wait "$dead" || :
  run lockdir --status --json S
  assert_success
  # The object's own fields were the first holder's: "stale":true of
  # a lock that is held (status 0).
  assert_equal "$(jq -c '[.pid, .stale]' <<<"$output")" "[$live,false]"
  assert_equal "$(jq -c '[.holders[] | [.pid, .stale]]' <<<"$output")" \
    "[[$dead,true],[$live,false]]"
}

# --- script form ---------------------------------------------------------

@test "without COMMAND: the caller owns LOCK until it releases it" {
  lockdir L
  assert_equal "$(owner_field L pid)" "$BASHPID"
  run lockdir -n L true
  assert_failure 75
  # Someone else cannot release it...
  run sh -c 'lockdir -u L'
  assert_failure 1
  assert_output --partial "held by pid $BASHPID"
  [ -d L ]
  # ... the caller can.
  lockdir -u L
  [ ! -e L ]
  run lockdir -u L
  assert_failure 1
  assert_output --partial "not held"
}

# True once process PID runs COMMAND (its argv joined by spaces): a
# background job is a copy of the shell until its exec.
runs_command() {
  [ "$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)" = "$2 " ]
}

@test "--help says that --owner-pid goes with --renew too, as the README's renewal loop uses it" {
  # It said "(and, with -u, release on behalf of PID)" only.
  lockdir --help | tr -s ' \n' ' ' |
    grep -Fq -- "--owner-pid=PID without COMMAND: record process PID as the owner (and, with -u or --renew, release or renew on behalf of PID)"
  sleep 60 3>&- &
  local sleeper=$!
  BG_PIDS=$sleeper
  wait_until runs_command "$sleeper" "sleep 60"
  lockdir --lease=1m --owner-pid="$sleeper" L
  touch -d '30 seconds ago' L/owner.*
  local planted
  planted=$(stat -c %Y L/owner.*)
  lockdir --renew --owner-pid="$sleeper" L
  [ "$(stat -c %Y L/owner.*)" -gt "$planted" ]
  lockdir -u --owner-pid="$sleeper" L
}

@test "--owner-pid records another process, which may release it with -u" {
  sleep 60 3>&- &
  sleeper=$!
  BG_PIDS=$sleeper
  wait_until runs_command "$sleeper" "sleep 60"
  lockdir --owner-pid="$sleeper" L
  assert_equal "$(owner_field L pid)" "$sleeper"
  assert_equal "$(owner_field L start_time)" "$(start_time_of "$sleeper")"
  assert_equal "$(owner_field L command)" "sleep 60"
  run lockdir -u L
  assert_failure 1
  lockdir -u --owner-pid="$sleeper" L
  [ ! -e L ]
  run lockdir --owner-pid=4294967296 L
  assert_failure 2
  kill "$sleeper"
  wait "$sleeper" || true
  run lockdir --owner-pid="$sleeper" L
  assert_failure 3
  assert_output --partial "no process"
}

@test "-u and --renew for an owner that has ended: the lock is stale, and the message says so" {
  sleep 60 3>&- &
  local sleeper=$!
  wait_until runs_command "$sleeper" "sleep 60"
  lockdir --owner-pid="$sleeper" L
  kill "$sleeper"
  wait "$sleeper" || true
  run lockdir -u --owner-pid="$sleeper" L
  assert_failure 1
  assert_output "lockdir: cannot release 'L': it is stale (its owner is dead): the process that took it as pid $sleeper has ended; the next lockdir breaks it"
  run lockdir --renew --owner-pid="$sleeper" L
  assert_failure 1
  assert_output --partial "cannot renew 'L': it is stale (its owner is dead)"
  run lockdir -n L true
  assert_success
}

@test "a SIGTERM that comes as the lock is made ends the holding: 143, nothing held, nothing left" {
  command -v strace >/dev/null || skip "strace is not installed"
  # The signal comes at the rename that makes LOCK appear; it waits,
  # blocked, until then, and ends lockdir before it says "acquired".
  run strace -f -qq -o /dev/null -e trace=renameat -e inject=renameat:signal=TERM:when=1 \
    lockdir --owner-pid=$$ L
  assert_equal "$status" 143
  [ ! -e L ] || fail "the lock is held: $(lockdir --status L)"
  assert_no_temporaries lockdir
  # With a command, which then never runs.
  run strace -f -qq -o /dev/null -e trace=renameat -e inject=renameat:signal=TERM:when=1 \
    lockdir L touch ran
  assert_equal "$status" 143
  [ ! -e L ]
  [ ! -e ran ]
  # Joining a shared holding: our record is taken out again.
  mkfifo gate
  background lockdir -s L sh -c 'read x <gate'
  wait_until test -d L
  run strace -f -qq -o /dev/null -e trace=renameat -e inject=renameat:signal=TERM:when=1 \
    lockdir -s --owner-pid=$$ L
  assert_equal "$status" 143
  assert_equal "$(ls L | wc -l)" 1
  echo >gate
  wait "$BG"
  assert_no_temporaries lockdir
}

@test "a SIGTERM after the lock is made for a script, before lockdir hands it over, waits: 0 and held" {
  command -v strace >/dev/null || skip "strace is not installed"
  # The look at L.last settles the token after the lock was made.
  # Before, the signal killed lockdir there (143): the script held a
  # lock it was told it had not got.
  run sh -c 'strace -qq -o /dev/null -P L.last -e inject=newfstatat:signal=TERM:when=1 \
    lockdir --owner-pid=$$ L; echo status=$?; lockdir -u --owner-pid=$$ L; echo released=$?'
  assert_output "status=0
released=0"
  [ ! -e L ]
}

@test "through the queue, a script's lockdir lets no signal through from the rename that makes L to its exit" {
  command -v strace >/dev/null || skip "strace is not installed"
  # Before, the signals were let through after the rename, and blocked
  # again only after the queue had forgotten the ticket: a SIGTERM in
  # between ended the holding (143) but left the ticket, which names
  # the live script, so that no one else could take the free L.
  mkfifo gate
  background lockdir L sh -c 'read x <gate'
  wait_until test -d L
  background sh -c 'strace -qq -o trace -e trace=renameat,rt_sigprocmask,exit_group \
    lockdir --owner-pid=$$ -w 60 L; echo status=$? >out; lockdir -u --owner-pid=$$ L'
  wait_until test -e L.queue
  echo >gate
  wait_until test -s out
  assert_equal "$(cat out)" "status=0"
  grep -q 'renameat(.*, "L") *= 0' trace || fail "no rename to L: $(cat trace)"
  # After the rename, nothing but a block, up to the exit.
  sed -n '/renameat(.*, "L") *= 0/,$p' trace >after
  if grep 'rt_sigprocmask' after | grep -v 'SIG_BLOCK'; then
    fail "signals let through after the lock was made: $(cat after)"
  fi
  grep -q '^exit_group(0)' after || fail "$(cat after)"
}

@test "--break removes the lock whoever holds it and prints the record" {
  lockdir L
  id=$(owner_field L id)
  run --separate-stderr lockdir --break L
  assert_success
  assert_line "id=$id"
  assert_line "pid=$BASHPID"
  [ ! -e L ]
  run lockdir --break L
  assert_failure 1
  lockdir L
  me=$BASHPID
  lockdir --break --json L | jq -e ".pid == $me" >/dev/null
}

@test "--break --json on a free lock prints one JSON object, held false, as --status --json does (status 1)" {
  run --separate-stderr lockdir --break --json L
  assert_failure 1
  assert_output '{"lock":"L","held":false}'
  assert_equal "$stderr" "lockdir: cannot break 'L': it is not held"
  # -q leaves the message out, not the object.
  run --separate-stderr lockdir -q --break --json L
  assert_failure 1
  assert_output '{"lock":"L","held":false}'
  assert_equal "$stderr" ""
  # Without --json, nothing on stdout, as before.
  run --separate-stderr lockdir --break L
  assert_failure 1
  assert_output ""
}

# --- status ----------------------------------------------------------------

@test "--status: the owner and status 0 if held, status 1 if free" {
  run lockdir --status L
  assert_failure 1
  assert_output ""
  run lockdir --status --json L
  assert_failure 1
  assert_output '{"lock":"L","held":false}'
  lockdir L
  run lockdir --status L
  assert_success
  assert_line "pid=$BASHPID"
  assert_line "stale=no"
  assert_line --regexp '^heartbeat='
}

@test "a directory read error on LOCK is an error (3), never a free lock (1)" {
  command -v strace >/dev/null || skip "strace is not installed"
  lockdir L
  # The first getdents64 is the read of L's entries: it fails (EIO, as
  # a failing disk or a network filesystem can).
  # (-u and --renew name the owner: their parent is strace.)
  for form in --status "-u --owner-pid=$BASHPID" \
      "--renew --owner-pid=$BASHPID" --break; do
    # shellcheck disable=SC2086
    run strace -qq -o /dev/null -e trace=getdents64 \
      -e inject=getdents64:error=EIO:when=1 lockdir $form L
    assert_failure 3
    assert_output --partial "Input/output error"
    [ -d L ] || fail "$form: L is gone"
  done
  run lockdir --status L
  assert_success
  lockdir -u L
}

@test "--status --json is one valid JSON object with every field" {
  mkfifo gate
  background lockdir --lease=1h L sh -c 'read x <gate'
  wait_until test -d L
  wait_until sh -c 'lockdir --status L | grep -q child_pid'
  run lockdir --status L
  assert_success
  refute_line --partial "empty="
  run lockdir --status --json L
  assert_success
  assert_equal "${#lines[@]}" 1
  echo "$output" | jq -e '
    (.lock == "L") and .held
    and (.pid | type == "number") and (.start_time | type == "number")
    and (.boot_id | test("^[0-9a-f-]{36}$")) and (.host | type == "string")
    and (.uid | type == "number") and (.acquired | type == "string")
    and (.child_pid | type == "number") and (.child_start_time | type == "number")
    and (.token | type == "number") and (.id | type == "string")
    and (.command == "sh -c '"'"'read x <gate'"'"'")
    and (.lease == 3600) and (.heartbeat | type == "string")
    and (.stale == false) and (.stale_reason == null) and (.empty == false)
  '
  assert_equal "$(echo "$output" | jq .pid)" "$BG"
  echo >gate
  wait "$BG"
}

# --- mutual exclusion --------------------------------------------------------

# N workers each add 1 to a counter M times, read-modify-write.
count_with() {
  local n=$1 m=$2 cmd=$3 w
  echo 0 >counter
  for ((w = 0; w < n; w++)); do
    (for ((i = 0; i < m; i++)); do eval "$cmd"; done) 3>&- &
  done
  wait
}

@test "mutual exclusion: N workers x M increments under lockdir give exactly N*M" {
  n=6 m=20
  count_with $n $m "lockdir L sh -c 'read n <counter; echo \$((n + 1)) >counter'"
  assert_equal "$(cat counter)" $((n * m))
  [ ! -e L ]
  assert_no_temporaries lockdir
}

@test "control: the same workers without the lock lose updates" {
  n=6
  # The window between the read and the write is held open until every
  # worker has read (a barrier on the file 'readers'): without the lock,
  # all of them read 0, and the counter ends at 1, every time.
  : >readers
  count_with $n 1 "sh -c 'read n <counter; echo >>readers
    while [ \$(wc -l <readers) -lt $n ]; do sleep 0.01; done
    echo \$((n + 1)) >counter'"
  assert_equal "$(cat counter)" 1
}

# --- stale locks ---------------------------------------------------------------

@test "a holder killed with its command is broken by the next lockdir (-v says so)" {
  background lockdir L sh -c 'echo $$ >child; exec sleep 60'
  holder=$BG
  wait_until test -s child
  wait_until sh -c 'lockdir --status L | grep -q child_pid'
  kill -KILL "$holder" "$(cat child)"
  wait "$holder" || true
  # The command is lockdir's child, not ours: kill returned before it
  # died, and only its death (or zombie) makes the holding stale.
  wait_until is_dead "$(cat child)"
  run lockdir -n -v L sh -c 'echo ran'
  assert_success
  assert_line ran
  assert_line --partial "broke stale lock 'L' of pid $holder"
  assert_line --partial "its owner is dead"
  [ ! -e L ]
}

@test "a lock whose owner shell exited is broken; an empty LOCK counts as free" {
  make_dead_lock L
  run lockdir -n L true
  assert_success
  mkdir L
  run lockdir -n L true
  assert_success
  [ ! -e L ]
}

@test "PID reuse: a record with a live pid but another start time is broken" {
  sleep 60 3>&- &
  BG_PIDS=$!
  plant_record L "$!" 12345
  run lockdir -n -v L true
  assert_success
  assert_output --partial "broke stale lock 'L' of pid $!"
  kill "$!"
}

@test "a stale lock broken before lockdir fails (disk full) is said, even without -v" {
  command -v strace >/dev/null || skip "strace is not installed"
  plant_record L 999999 1
  # The look at L comes first: the planted holding is broken, then the
  # first mkdirat, of the temporary that would become L, fails.
  run strace -qq -o /dev/null -e trace=mkdirat \
    -e inject=mkdirat:error=ENOSPC:when=1 lockdir -n L true
  assert_failure 125
  assert_line --index 0 "lockdir: broke stale lock 'L' of pid 999999 on $(uname -n) (token 0): its owner is dead"
  assert_line --index 1 "lockdir: cannot acquire 'L': No space left on device"
  [ ! -e L ]
  # Broken and then taken: as before, nothing said without -v.
  plant_record L 999999 1
  run lockdir -n L true
  assert_success
  assert_output ""
}

@test "a live holder (right pid and start time) is never broken" {
  sleep 60 3>&- &
  BG_PIDS=$!
  plant_record L "$!" "$(start_time_of $!)"
  for i in 1 2 3; do
    run lockdir -n -v L true
    assert_failure 75
    refute_output --partial "broke"
  done
  # ... but once that process dies, it is.
  kill "$!"
  wait "$!" || true
  run lockdir -n -v L true
  assert_success
  assert_output --partial "broke stale lock"
}

@test "a lock from another host or boot is not broken, unless its lease expired" {
  plant_record L 999999 1 host=elsewhere.example
  run lockdir -n -v L true
  assert_failure 75
  rm -r L
  plant_record L 999999 1 boot_id=00000000-0000-0000-0000-000000000000
  run lockdir -n -v L true
  assert_failure 75
  rm -r L
  plant_record L 999999 1 host=elsewhere.example lease=0.1
  touch -d '1 minute ago' L/owner.planted
  run lockdir -n -v L true
  assert_success
  assert_output --partial "its lease expired"
}

@test "lockdir --lease=1m L true: the record reaches the disk before the lock appears; without a lease nothing is synced" {
  command -v strace >/dev/null || skip "strace is not installed"
  run strace -f -o trace -e trace=fdatasync,renameat,renameat2 \
    lockdir --lease=1m L true
  assert_success
  assert_synced_before_rename trace L
  run strace -f -o trace -e trace=fdatasync lockdir L true
  assert_success
  run grep 'fdatasync(' trace
  assert_failure
}

@test "a holding from another boot of this host: kept, and the message says how to end it" {
  plant_record L 999999 1 boot_id=00000000-0000-0000-0000-000000000000
  run lockdir -n L true
  assert_failure 75
  assert_line --index 0 --regexp "^lockdir: 'L' is held by pid 999999 on .+ in another boot for [0-9dhms]+: planted by the test\$"
  assert_line --index 0 --partial " on $(uname -n) in another boot "
  assert_line --index 1 "lockdir: a holding from another boot is kept, as another host may have the same name; if no process holds 'L' any more, 'lockdir --break L' ends the holding"
  run lockdir --list .
  assert_success
  assert_line --regexp "^L: held by pid 999999 on .+ in another boot for [0-9dhms]+ \(token 0\): planted by the test\$"
  run lockdir --break L
  assert_success
  run lockdir -n L true
  assert_success
  # Another host's holding is not called "another boot".
  plant_record L 999999 1 host=elsewhere.example
  run lockdir -n L true
  assert_failure 75
  assert_output --regexp "^lockdir: 'L' is held by pid 999999 on elsewhere.example for [0-9dhms]+: planted by the test\$"
}

@test "an empty owner record, as a crash leaves one: kept, named as such, and --break ends it" {
  mkdir L
  : >L/owner.0123456789abcdef0123456789abcdef
  run lockdir -n L true
  assert_failure 75
  assert_output "lockdir: 'L' is held by an unknown owner: its record is empty
lockdir: its system may have crashed before writing the record to disk (on a network filesystem, its host may not have sent it yet); if no process holds 'L' any more, 'lockdir --break L' ends the holding"
  run lockdir -w 0.2s L true
  assert_failure 75
  assert_line --index 0 "lockdir: 'L' is still held after the timeout by an unknown owner: its record is empty"
  run lockdir --list .
  assert_success
  assert_output "L: held by an unknown owner: its record is empty"
  # --status prints the record's fields, all absent, and says why.
  run lockdir --status L
  assert_success
  assert_line "stale=no"
  assert_line "empty=yes"
  run lockdir --status --json L
  assert_success
  echo "$output" | jq -e '.held and (.empty == true) and (.pid == 0) and (.holders[0].empty == true)'
  run lockdir -v --break L
  assert_success
  assert_line --index 0 "lockdir: broke lock 'L' held by an unknown owner: its record is empty"
  [ ! -e L ]
  run lockdir -n L true
  assert_success
  # Zero bytes in place of the record, as ext4 can leave it (the size
  # reached the disk, the data did not), are empty too.
  mkdir L
  head -c 242 /dev/zero >L/owner.0123456789abcdef0123456789abcdef
  run lockdir -n L true
  assert_failure 75
  assert_line --index 0 "lockdir: 'L' is held by an unknown owner: its record is empty"
}

@test "an owner record that names no pid (written by hand): an unknown owner, not 'pid 0', and --break ends it" {
  mkdir L
  echo 'garbage, not key=value lines' >L/owner.0123456789abcdef0123456789abcdef
  run lockdir -n L true
  assert_failure 75
  assert_output "lockdir: 'L' is held by an unknown owner: its record is not lockdir's: it names no pid
lockdir: a holding whose record names no process is never judged dead; if no process holds 'L' any more, 'lockdir --break L' ends the holding"
  run lockdir --list .
  assert_success
  assert_output "L: held by an unknown owner: its record is not lockdir's: it names no pid"
  run lockdir --status L
  assert_success
  assert_line "stale=no"
  run lockdir -v --break L
  assert_success
  assert_line --index 0 "lockdir: broke lock 'L' held by an unknown owner: its record is not lockdir's: it names no pid"
  [ ! -e L ]
}

@test "--status of one lock whose owner record names no pid: no 'pid=0' (null in JSON), names_no_pid=yes, as --list says it" {
  plant_record L 0 0
  run lockdir --list .
  assert_success
  assert_output "L: held by an unknown owner: its record is not lockdir's: it names no pid"
  run lockdir --status L
  assert_success
  refute_line --regexp '^pid='
  assert_line "names_no_pid=yes"
  assert_line "stale=no"
  assert_line "host=$(uname -n)"
  run lockdir --status --json L
  assert_success
  echo "$output" | jq -e '(.pid == null) and (.names_no_pid == true) and (.holders[0].pid == null) and (.holders[0].names_no_pid == true) and (.empty == false)'
  # A record that names its process keeps its pid, and says nothing more.
  rm -r L
  run lockdir -n L sh -c 'lockdir --status L; lockdir --status --json L'
  assert_success
  assert_line --regexp '^pid=[1-9][0-9]*$'
  refute_line --regexp "^names_no_pid="
  echo "${lines[-1]}" | jq -e '(.pid > 0) and (.names_no_pid == false)'
}

@test "an owner record that is a FIFO: lockdir names it and says it is not a regular file, without reading it" {
  mkdir L
  mkfifo L/owner.0123456789abcdef0123456789abcdef
  # timeout: only so that a read that blocks fails the test, not hangs it.
  run timeout 20 lockdir --status L
  assert_failure 3
  assert_output "lockdir: cannot read 'L': its owner record 'L/owner.0123456789abcdef0123456789abcdef' is not a regular file"
  run timeout 20 lockdir -n L true
  assert_failure 125
  assert_output "lockdir: cannot acquire 'L': its owner record 'L/owner.0123456789abcdef0123456789abcdef' is not a regular file"
  [ -p L/owner.0123456789abcdef0123456789abcdef ]
}

@test "an owner record that is a socket (whose open fails with ENXIO): lockdir names it and says it is not a regular file" {
  mkdir L
  python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
    L/owner.0123456789abcdef0123456789abcdef
  [ -S L/owner.0123456789abcdef0123456789abcdef ]
  run lockdir --status L
  assert_failure 3
  assert_output "lockdir: cannot read 'L': its owner record 'L/owner.0123456789abcdef0123456789abcdef' is not a regular file"
  run lockdir -n L true
  assert_failure 125
  assert_output "lockdir: cannot acquire 'L': its owner record 'L/owner.0123456789abcdef0123456789abcdef' is not a regular file"
  run lockdir --break L
  assert_failure 3
  assert_output "lockdir: cannot break 'L': its owner record 'L/owner.0123456789abcdef0123456789abcdef' is not a regular file"
  [ -S L/owner.0123456789abcdef0123456789abcdef ]
}

@test "hand-edited owner records: a uid that is not all digits is garbage, no uid" {
  # As for a pid: 1000abc must not pass for uid 1000, nor -5 or one too
  # large for a uid be shown as one.
  for uid in 1000abc ' 1000' -5 99999999999999999999; do
    plant_record L "$BASHPID" 0 "uid=$uid"
    run lockdir --status L
    assert_success
    refute_line --regexp '^uid='
    run lockdir --status --json L
    assert_success
    assert_output --partial '"uid":null'
    rm -r L
  done
  # One that lockdir wrote reads back, root's 0 among them.
  plant_record L "$BASHPID" 0 uid=0
  run lockdir --status L
  assert_line uid=0
}

@test "hand-edited owner records: a pid or an acquisition time out of range is garbage, as one that is no number" {
  # A pid that is no number reads as none: an owner that cannot be
  # judged, kept.  One too large for a pid must not wrap into another
  # pid, nor 123abc pass for 123, nor a sign be taken.
  for pid in abc 99999999999 123abc -1; do
    plant_record L "$pid" 1
    run lockdir -n L true
    assert_failure 75
    run lockdir --status L
    refute_line --regexp '^pid='
    assert_line "names_no_pid=yes"
    rm -r L
  done
  # So is a start time too large for one: the owner, alive, is judged by
  # its pid alone (never dead because no process started at 2^64-1).
  plant_record L "$BASHPID" 99999999999999999999999
  run lockdir -n L true
  assert_failure 75
  run lockdir --status L
  assert_line "start_time=0"
  assert_line "stale=no"
  rm -r L
  # An acquisition time that is no time gives the holding no age; nor
  # does one with month 13 (not January of the next year).
  for when in garbage 2026-13-01T00:00:00.000+00:00 \
      2026-12-32T00:00:00.000+00:00 2026-12-01T24:00:00.000+00:00; do
    plant_record L "$BASHPID" 0 "acquired=$when"
    run lockdir --status L
    assert_success
    refute_line --regexp '^age='
    run lockdir --list .
    assert_output --regexp "^L: held by pid $BASHPID on [^ ]+ \(token 0\): "
    rm -r L
  done
}

@test "--break of an empty record raises the token past the one the lost holding may have used" {
  lockdir L true
  lockdir L true
  # The crash emptied the third holding's record, and its token (3) with
  # it; its holder may still use 3 (a network filesystem's client that
  # had not sent the record), so the next holder must not get 3 again.
  mkdir L
  : >L/owner.0123456789abcdef0123456789abcdef
  run lockdir --break L
  assert_success
  # The record printed is the one that ended the holding.
  assert_line "empty=yes"
  assert_line "token=3"
  assert_equal "$(sed -n 's/^token=//p' L.last)" 3
  assert_equal "$(sed -n 's/^id=//p' L.last)" 0123456789abcdef0123456789abcdef
  assert_equal "$(lockdir L sh -c 'echo $LOCKDIR_TOKEN')" 4
  assert_no_temporaries lockdir
}

@test "--break of an empty record where the filesystem cannot exchange: ended as before, nothing left" {
  command -v strace >/dev/null || skip "strace is not installed"
  lockdir L true
  mkdir L
  : >L/owner.0123456789abcdef0123456789abcdef
  # RENAME_EXCHANGE refused, as NFS and FUSE refuse it.
  run strace -o /dev/null -e trace=renameat2 -e inject=renameat2:error=EINVAL \
    lockdir --break L
  assert_success
  refute_line --partial "token="
  [ ! -e L ]
  assert_equal "$(sed -n 's/^token=//p' L.last)" 1
  assert_equal "$(lockdir L sh -c 'echo $LOCKDIR_TOKEN')" 2
  assert_no_temporaries lockdir
}

# lockdir's warning that a temporary could not be removed (I/O error);
# BASH_REMATCH[1] is then the temporary's name.
KEPT_TEMP_WARNING="^lockdir: warning: cannot remove the temporary '(\.lockdir\.[A-Za-z0-9]{6})': Input/output error\$"

@test "--break of an empty record whose temporary cannot be removed (I/O error) names it after its own message; broken all the same (0)" {
  command -v strace >/dev/null || skip "strace is not installed"
  lockdir L true
  mkdir L
  : >L/owner.0123456789abcdef0123456789abcdef
  # unlinkat 1 removes the temporary that the exchange left holding the
  # empty record.  Before, the warning came first.
  run --separate-stderr strace -o /dev/null -e trace=unlinkat \
    -e inject=unlinkat:error=EIO:when=1 lockdir -v --break L
  assert_success
  [ "${stderr_lines[0]}" = "lockdir: broke lock 'L' held by an unknown owner: its record is empty" ] ||
    fail "$stderr"
  [[ ${stderr_lines[1]} =~ $KEPT_TEMP_WARNING ]] ||
    fail "$stderr"
  [ "${#stderr_lines[@]}" -eq 2 ] || fail "$stderr"
  [ -f "${BASH_REMATCH[1]}" ]
  rm "${BASH_REMATCH[1]}"
  [ ! -e L ]
}

# After 'run --separate-stderr' of 'lockdir L true' ended by SIGTERM,
# with a temporary it could not remove: its one line of stderr named
# that temporary, which is there, and no lock was taken.
assert_ended_naming_kept_temp() {
  assert_equal "$status" 143
  [[ ${stderr_lines[0]} =~ $KEPT_TEMP_WARNING ]] ||
    fail "$stderr"
  [ "${#stderr_lines[@]}" -eq 1 ] || fail "$stderr"
  [ -d "${BASH_REMATCH[1]}" ]
  rm -r "${BASH_REMATCH[1]}"
  [ ! -e L ]
  assert_no_temporaries lockdir
}

@test "a waiter ended by SIGTERM while it waits has named the temporary it could not remove" {
  command -v strace >/dev/null || skip "strace is not installed"
  # Every rename to L fails as if another had just taken it (it never
  # shows), and the record in the first temporary cannot be removed
  # (EIO), so that temporary stays; after 8 such losses lockdir pauses,
  # and SIGTERM comes as it does.  Before, the warning kept for after
  # lockdir's own message was never said.
  run --separate-stderr strace -qq -o /dev/null \
    -e trace=renameat,unlinkat,?nanosleep,?clock_nanosleep \
    -e inject=renameat:error=ENOTEMPTY \
    -e inject=unlinkat:error=EIO:when=1 \
    -e inject=?nanosleep,?clock_nanosleep:signal=TERM:when=1 \
    lockdir L true
  assert_ended_naming_kept_temp
}

@test "a SIGTERM that comes during a lost attempt whose temporary cannot be removed (I/O error) ends lockdir after naming it" {
  command -v strace >/dev/null || skip "strace is not installed"
  # The rename to L fails as if another had just taken it, and SIGTERM
  # comes with that failure, blocked until the attempt is done; the
  # record in the temporary cannot be removed (EIO), so it stays.
  # Before, the warning kept for later died with lockdir at the
  # unblock.
  run --separate-stderr strace -qq -o /dev/null \
    -e trace=renameat,unlinkat \
    -e inject=renameat:error=ENOTEMPTY:signal=TERM:when=1 \
    -e inject=unlinkat:error=EIO:when=1 \
    lockdir L true
  assert_ended_naming_kept_temp
}

@test "an ignored SIGINT that comes during a lost attempt whose temporary cannot be removed (I/O error) ends nothing: the warning comes in its place" {
  command -v strace >/dev/null || skip "strace is not installed"
  # As above, with SIGINT ignored (a background job's): pending, it
  # is dropped at the unblock, and lockdir goes on.  Before, it was
  # taken for one that ends lockdir: the warning came first, before
  # the message it follows.
  run --separate-stderr strace -qq -o /dev/null \
    -e trace=renameat,unlinkat \
    -e inject=renameat:error=ENOTEMPTY:signal=INT:when=1 \
    -e inject=unlinkat:error=EIO:when=1 \
    env --ignore-signal=INT lockdir -v L true
  assert_success
  [[ ${stderr_lines[0]} =~ ^lockdir:\ acquired\ \'L\' ]] || fail "$stderr"
  [[ ${stderr_lines[1]} =~ $KEPT_TEMP_WARNING ]] ||
    fail "$stderr"
  [ "${#stderr_lines[@]}" -eq 2 ] || fail "$stderr"
  rm -r "${BASH_REMATCH[1]}"
  [ ! -e L ]
  assert_no_temporaries lockdir
}

@test "a signal that ends lockdir while COMMAND runs (SIGALRM, not passed on) leaves the lock to COMMAND" {
  mkfifo gate
  background lockdir L sh -c 'read x <gate'
  wait_until sh -c 'lockdir --status L | grep -q "^child_pid="'
  kill -ALRM "$BG"
  local status=0
  wait "$BG" || status=$?
  assert_equal "$status" 142
  # COMMAND lives on, and keeps the lock.
  run lockdir -n L true
  assert_failure 75
  echo >gate
  # Once it has exited, the holding is stale, and the next one breaks it.
  wait_until lockdir -n -q L true
}

# Hold L with "lockdir L sh -c 'echo $$ >child; read x <gate'", then
# kill that lockdir (SIGKILL) once its COMMAND has named itself in the
# record: COMMAND, whose pid is in child, holds L on until gate is
# written to.  Sets holder to the dead lockdir's pid.
kill_lockdir_under_command() {
  mkfifo gate
  background lockdir L sh -c 'echo $$ >child; read x <gate'
  holder=$BG
  wait_until test -s child
  wait_until sh -c 'lockdir --status L | grep -q child_pid'
  kill -KILL "$holder"
  wait "$holder" || true
}

@test "lockdir killed while its COMMAND lives: not broken until COMMAND exits" {
  kill_lockdir_under_command
  run lockdir -n -v L true
  assert_failure 75
  refute_output --partial "broke"
  assert_equal "$(owner_field L stale)" no
  # A waiter is woken when the command exits (its pidfd), and breaks it.
  background sh -c 'exec lockdir -v -w 30s L true 2>err'
  waiter=$BG
  wait_until sleeps_in_poll "$waiter"
  echo >gate
  wait "$waiter"
  grep -q "broke stale lock" err
  [ ! -e L ]
}

# start_held_in_vfork US COMMAND...: lockdir L COMMAND under strace,
# its child held back US microseconds before it names itself in the
# owner record (the only pwrite), while vfork keeps lockdir waiting.
# Sets TRACER (strace) and HOLDER (lockdir) once the child is there.
start_held_in_vfork() {
  local us=$1
  shift
  background strace -f -qq -o /dev/null -e trace=pwrite64 \
    -e inject=pwrite64:delay_enter="$us" lockdir L "$@"
  TRACER=$BG
  wait_until pgrep -x -P "$TRACER" lockdir >/dev/null
  HOLDER=$(pgrep -x -P "$TRACER" lockdir)
  wait_until pgrep -P "$HOLDER" >/dev/null
}

@test "lockdir killed while its COMMAND lives: the busy message names COMMAND's pid, which holds the lock, and says that lockdir's is gone" {
  kill_lockdir_under_command
  run lockdir -n L true
  assert_failure 75
  assert_output --regexp "^lockdir: 'L' is held by pid $(cat child) on $(uname -n) for [0-9]+s \\(its lockdir, pid $holder, is gone\\): sh -c 'echo \\\$\\\$ >child; read x <gate'\$"
  echo >gate
}

@test "lockdir killed in vfork before COMMAND named itself: the lock is broken, and COMMAND never runs beside the next holder" {
  command -v strace >/dev/null || skip "strace is not installed"
  # SIGKILL ends lockdir while its child is held back (60 s, or until
  # strace is killed: a tracee goes on once its tracer is gone), and
  # the next lockdir breaks the lock; the child goes on while the next
  # one holds it.
  start_held_in_vfork 60000000 sh -c 'echo first >>log'
  local child
  child=$(pgrep -P "$HOLDER")
  kill -KILL "$HOLDER"
  mkfifo gate
  background sh -c 'exec lockdir -v L sh -c "echo second starts >>log
    read x <gate; echo second ends >>log" 2>err'
  local second=$BG
  wait_until grep -qs '^second starts' log
  kill -KILL "$TRACER"
  wait "$TRACER" || true
  wait_until is_dead "$child"
  echo >gate
  wait "$second"
  grep -q "broke stale lock" err || fail "not broken: $(cat err)"
  # The held-back child found its parent gone, and ran nothing (before,
  # it ran COMMAND while the second one held the lock).
  assert_equal "$(cat log)" "second starts
second ends"
  [ ! -e L ]
}

@test "a breaker that read the record before COMMAND named itself reads it again: the owner's death then breaks nothing" {
  command -v strace >/dev/null || skip "strace is not installed"
  # COMMAND's child writes its name 5 s late; meanwhile a breaker reads
  # the record (no child_pid yet), and is held at its look at the
  # owner's /proc entry until its strace is killed (a tracee goes on
  # once its tracer is gone).  The child names itself while lockdir
  # lives and runs COMMAND; then lockdir is killed, and only once it is
  # gone does the breaker look at it.
  mkfifo gate
  start_held_in_vfork 5000000 \
    sh -c 'echo first starts >>log; read x <gate; echo first ends >>log'
  local child
  child=$(pgrep -P "$HOLDER")
  background strace -f -qq -o btrace -P "/proc/$HOLDER/stat" \
    -e trace=openat -e inject=openat:delay_enter=60000000:when=1 \
    sh -c 'lockdir -v -n L sh -c "echo second >>log"; echo $? >status'
  breaker=$BG
  wait_until grep -qs "/proc/$HOLDER/stat" btrace
  # It read the record before the child named itself in it.
  run grep -h '^child_pid=' L/owner.*
  assert_failure
  # COMMAND has started: the child checked that lockdir lived after it
  # named itself (a kill between the two would rightly leave it stale).
  wait_until grep -qs '^first starts' log
  kill -KILL "$HOLDER"
  # Reaped by its strace: gone, not a zombie (which counts as alive).
  wait_until test ! -e "/proc/$HOLDER"
  kill -KILL "$breaker"
  wait_until test -s status
  # (Judged on the record it read first, it broke the lock of a running
  # COMMAND, and ran beside it.)
  assert_equal "$(cat status)" 75
  echo >gate
  wait_until is_dead "$child"
  wait "$TRACER" || true
  assert_equal "$(cat log)" "first starts
first ends"
}

@test "a waiter whose parent blocked SIGIO (dnotify's signal) still wakes when a script releases L" {
  mkfifo gate
  background sh -c 'lockdir L && : >held && read x <gate && lockdir -u L && exec sleep 600'
  script=$BG
  wait_until test -e held
  # --no-queue: no ticket.  (No step of lockdir unblocks what its
  # parent blocked: each puts back the mask it found.)
  background perl -MPOSIX -e \
    'sigprocmask(SIG_BLOCK, POSIX::SigSet->new(SIGPOLL)) or die; exec @ARGV' \
    lockdir --no-queue -w 60s L sh -c ': >ran'
  waiter=$BG
  wait_until sleeps_in_poll "$waiter"
  echo >gate
  # Woken by the release, not by its deadline a minute away.
  wait_until test -e ran
  wait "$waiter"
  kill -0 "$script" || fail "the script was expected to live on"
}

# The mask is the caller's to set: lockdir blocks signals around its
# own steps, and must put back what it found, not unblock everything.
# (grep reads its own mask: sh would reset it.)
@test "COMMAND keeps the signal mask lockdir was started with, even after waiting in line" {
  block_usr1='sigprocmask(SIG_BLOCK, POSIX::SigSet->new(SIGUSR1)) or die; exec @ARGV'
  run perl -MPOSIX -e "$block_usr1" lockdir L grep SigBlk: /proc/self/status
  assert_success
  assert_output "SigBlk:	0000000000000200"
  mkfifo gate
  background sh -c 'lockdir L && : >held && read x <gate && lockdir -u L && exec sleep 600'
  wait_until test -e held
  background sh -c "exec perl -MPOSIX -e '$block_usr1' lockdir -w 60s L grep SigBlk: /proc/self/status >mask"
  waiter=$BG
  wait_until sleeps_in_poll "$waiter"
  echo >gate
  wait "$waiter"
  assert_equal "$(cat mask)" "SigBlk:	0000000000000200"
}

@test "a waiter is woken by the owner's death alone (pidfd), and breaks the lock" {
  sleep 600 3>&- &
  keeper=$!
  BG_PIDS=$keeper
  lockdir --owner-pid="$keeper" L
  background sh -c 'exec lockdir -v -w 60s L true 2>err'
  waiter=$BG
  wait_until sleeps_in_poll "$waiter"
  kill "$keeper"
  wait "$waiter"
  grep -q "broke stale lock 'L' of pid $keeper" err
  [ ! -e L ]
}

# The pids that process $1 holds pidfds of, one per line, sorted.
pidfds_of() {
  local fd
  for fd in /proc/"$1"/fd/*; do
    [ "$(readlink "$fd" 2>/dev/null)" = "anon_inode:[pidfd]" ] || continue
    sed -n 's/^Pid:[[:space:]]*//p' /proc/"$1"/fdinfo/"${fd##*/}"
  done | sort -n
}

# True when process $1 holds a pidfd of process $2 and of no other.
watches_only() {
  [ "$(pidfds_of "$1")" = "$2" ]
}

@test "a waiter keeps no pidfd of a holder it no longer waits for" {
  # Shared holders come and go while an exclusive waiter waits; each
  # time one dies, the waiter wakes, and watches the exit of the one
  # left.  Before the fix it never closed the pidfd it had watched: one
  # descriptor per wait, until a long wait ran out of them.
  local keepers=() i
  for i in 0 1 2 3; do
    sleep 600 3>&- &
    keepers[i]=$!
    BG_PIDS="${BG_PIDS:-} $!"
  done
  lockdir -s --owner-pid="${keepers[0]}" L
  background lockdir --no-queue -w 60s L true
  waiter=$BG
  wait_until watches_only "$waiter" "${keepers[0]}"
  for i in 1 2 3; do
    lockdir -s --owner-pid="${keepers[i]}" L
    kill "${keepers[i - 1]}"
    wait_until watches_only "$waiter" "${keepers[i]}"
  done
  kill "${keepers[3]}"
  wait "$waiter"
}

@test "20 waiters racing on one dead lock: exactly one breaker, exactly one holder" {
  rounds=$((ROUNDS < 10 ? ROUNDS : 10))
  [ "${RUN_EXPENSIVE_TESTS:-no}" = yes ] && rounds=$((rounds * 5))
  # Each round's winner takes the lock in the script form for a keeper
  # process that outlives the round (a racer's own shell exits after the
  # last round, and its lock would rightly be broken).
  sleep 600 3>&- &
  keeper=$!
  BG_PIDS=$keeper
  race_rounds 20 "$rounds" \
    'lockdir -n -q -v --owner-pid=$keeper L 2>>"breaks.$round"' \
    'rm -rf L; make_dead_lock L'
  assert_equal "$RACE_ONE" "$rounds"
  local r
  for ((r = 0; r < rounds; r++)); do
    assert_equal "$(grep -c 'broke stale lock' "breaks.$r")" 1
  done
  assert_no_temporaries lockdir
}

@test "control: a naive check-then-remove breaker lets several hold at once" {
  rounds=4
  # Check the owner, remove the lock, take it: between one racer's check
  # and its removal another has already broken and retaken it.  Left to
  # chance, that window let several hold in about 9 rounds out of 10
  # (once, on a fresh machine, in none of 4); held open for 0.3 s, as a
  # descheduled breaker would hold it, every racer that saw the dead
  # lock breaks whatever holds it by then.
  race_rounds 20 "$rounds" \
    'if lockdir --status L 2>/dev/null | grep -q stale=yes; then sleep 0.3; rm -rf L; fi; mkdir L 2>/dev/null && echo "$racer" >L/owner.x' \
    'rm -rf L; make_dead_lock L'
  [ "$RACE_MANY" -gt 0 ] || fail "the naive breaker never let two hold at once"
}

@test "20 waiters on a live lock: none breaks it" {
  mkfifo gate
  background lockdir L sh -c 'read x <gate'
  wait_until sh -c 'lockdir --status L | grep -q child_pid'
  id=$(owner_field L id)
  race_rounds 20 3 'lockdir -n -q -v L true 2>>breaks; [ $? = 0 ]'
  assert_equal "$RACE_ONE$RACE_MANY" 00
  [ ! -s breaks ]
  assert_equal "$(owner_field L id)" "$id"
  echo >gate
  wait "$BG"
}

# --- leases ------------------------------------------------------------------

@test "--lease: a holder that stops heartbeating (SIGSTOP) loses the lock" {
  mkfifo gate
  background sh -c "exec lockdir --lease=500ms L sh -c 'read x <gate; exit 5' 2>err"
  holder=$BG
  wait_until sh -c 'lockdir --status L | grep -q child_pid'
  kill -STOP "$holder"
  run lockdir -v -w 30s L true
  assert_success
  assert_output --partial "its lease expired"
  # The stopped holder, resumed, learns it lost the lock (it says so)
  # and keeps its command's status.
  kill -CONT "$holder"
  echo >gate
  status=0
  wait "$holder" || status=$?
  assert_equal "$status" 5
  grep -Eq "lock 'L' (was broken while the command ran|had been broken by someone else)" err ||
    fail "the holder did not say it lost the lock: $(cat err)"
}

# stop_past_lease [OPTION]: run lockdir [OPTION] --lease=1s L around a
# COMMAND that exits 5 when let go, stop it (SIGSTOP) until --status
# says the lock is stale, resume it, and wait until it holds the lock
# again (nobody broke it).  Set STATUS to its exit status; its standard
# error is in err.
stop_past_lease() {
  mkfifo gate
  background sh -c "exec lockdir $* --lease=1s L sh -c 'read x <gate; exit 5' 2>err"
  local holder=$BG
  wait_until sh -c 'lockdir --status L | grep -q child_pid'
  kill -STOP "$holder"
  wait_until sh -c 'lockdir --status L | grep -q stale=yes'
  kill -CONT "$holder"
  wait_until sh -c 'lockdir --status L | grep -q stale=no'
  echo >gate
  STATUS=0
  wait "$holder" || STATUS=$?
}

@test "--lease: a holder stopped past its lease and resumed, not broken, warns that the lease ran out" {
  # Resumed, the holder refreshes the heartbeat (it holds the lock
  # again) and says that the lease ran out meanwhile.
  stop_past_lease
  assert_equal "$STATUS" 5
  grep -q "^lockdir: warning: the lease of 'L' ran out [0-9]*\.[0-9]\{3\} s before its heartbeat" err ||
    fail "the holder did not warn: $(cat err)"
}

@test "--lease -q: a holder stopped past its lease and resumed, not broken, says nothing" {
  stop_past_lease -q
  assert_equal "$STATUS" 5
  [ ! -s err ] || fail "-q did not keep it quiet: $(cat err)"
}

@test "--lease: a live holder keeps the lock by heartbeating" {
  mkfifo gate
  # The heartbeat comes every third of the lease: a 3 s lease lets the
  # holder be off the CPU for 2 s (a loaded machine) before it is broken.
  background lockdir --lease=3s L sh -c 'read x <gate'
  holder=$BG
  wait_until sh -c 'lockdir --status L | grep -q child_pid'
  # Three lease periods go by; the heartbeat keeps the lock.
  run lockdir -v -w 9s L true
  assert_failure 75
  refute_output --partial "broke"
  echo >gate
  wait "$holder"
}

# --- waiting without polling ---------------------------------------------------

# count_wakeups SECONDS WAITER...: hold L, start WAITER (a command that
# waits for L) under strace, let it be blocked for about SECONDS, then
# release L.  Print how many times the waiter slept or polled.
count_wakeups() {
  local hold=$1
  shift
  rm -rf gate t && mkfifo gate && mkdir t
  background lockdir L sh -c 'read x <gate'
  local holder=$BG
  wait_until test -d L
  # The trace goes to a subdirectory: writes beside LOCK would be
  # events in the directory the waiter watches.
  background strace -f -qq -o t/trace \
    -e trace=poll,ppoll,select,pselect6,nanosleep,clock_nanosleep,epoll_wait,epoll_pwait \
    "$@"
  local waiter=$BG
  wait_until pgrep -P "$waiter" >/dev/null
  if [ "$1" = lockdir ]; then
    # The traced lockdir, named by its name: strace first forks children
    # of its own that test ptrace and exit.
    wait_until pgrep -x -P "$waiter" lockdir >/dev/null
    wait_until sleeps_in_poll "$(pgrep -x -P "$waiter" lockdir)"
  fi
  sleep "$hold"   # the interval measured, not a synchronisation
  echo >gate
  wait "$holder"
  wait "$waiter"
  grep -c -E '(poll|select|sleep|epoll_wait|epoll_pwait)\(' t/trace
}

@test "a blocked waiter does not poll: its wake-ups do not grow with the wait" {
  short=$(count_wakeups 0.2 lockdir -w 60s L true)
  long=$(count_wakeups 3 lockdir -w 60s L true)
  # A poller (even backing off to 250 ms) wakes at least 11 more times
  # in the longer wait.
  [ "$long" -le "$((short + 2))" ] ||
    fail "wake-ups grew with the wait: $short in 0.2 s, $long in 3 s"
  [ "$long" -le 6 ] || fail "$long wake-ups while blocked"
}

@test "control: the wake-up count catches a waiter that polls" {
  poller='while [ -d L ]; do sleep 0.1; done'
  short=$(count_wakeups 0.2 sh -c "$poller")
  long=$(count_wakeups 3 sh -c "$poller")
  [ "$long" -gt "$((short + 2))" ] ||
    fail "the harness missed a polling waiter: $short then $long"
}

# --- filesystems and odd operands ------------------------------------------------

@test "LOCK that is a file, or a directory that is not a lock: status 125 / 3" {
  : >file
  run lockdir file true
  assert_failure 125
  assert_output --partial "exists and is not a directory"
  run lockdir file
  assert_failure 3
  mkdir dir && : >dir/stuff
  run lockdir dir true
  assert_failure 125
  assert_output --partial "not a lockdir lock"
  run lockdir --status dir
  assert_failure 3
  ln -s elsewhere link
  run lockdir link true
  assert_failure 125
  [ ! -e elsewhere ]
}

@test "missing directory: status 125 with COMMAND, 3 without" {
  run lockdir no/such/dir/L true
  assert_failure 125
  assert_output --partial "No such file or directory"
  run lockdir no/such/dir/L
  assert_failure 3
}

@test "a directory of LOCK's path that is a file: the message says so, not that LOCK exists" {
  : >file
  run lockdir file/L true
  assert_failure 125
  assert_output "lockdir: cannot use 'file/L': Not a directory"
  for form in "" --status --break -u; do
    run lockdir $form file/L
    assert_failure 3
    refute_output --partial "exists"
    assert_output --partial "Not a directory"
  done
  # LOCK itself a file is still named as such.
  run lockdir file true
  assert_output --partial "'file': it exists and is not a directory"
}

@test "--check-fs prints the verdicts for LOCK's filesystem" {
  run lockdir --check-fs L
  assert_success
  assert_output --partial "mkdir"
}

@test "--status --check-fs examines every LOCK; with a COMMAND, LOCK only, running nothing" {
  run lockdir --status --check-fs A B
  assert_success
  assert_line --regexp "^A: [a-z0-9.]+ \("
  assert_line --regexp "^B: [a-z0-9.]+ \("
  run lockdir --check-fs A touch ran
  assert_success
  assert_line --index 0 --regexp "^A: [a-z0-9.]+ \("
  refute_line --regexp "^(touch|ran): "
  [ ! -e ran ]
  [ ! -e A ]
}

@test "--check-fs examines '.', '..' or '/' given alone as LOCK; with a COMMAND or more LOCKs, refuses it as the form does" {
  # Before, 'lockdir --check-fs .' was a usage error, while the other
  # tools' --check-fs . examine the current directory's filesystem.
  local dir
  for dir in . .. /; do
    run lockdir --check-fs "$dir"
    assert_success
    assert_line --index 0 --regexp "^$dir: [a-z0-9.]+ \("
    run lockdir --status --check-fs "$dir"
    assert_success
    assert_line --index 0 --regexp "^$dir: [a-z0-9.]+ \("
  done
  # The forms that would take '.' as a LOCK beside something else
  # refuse it, before any report, as atomic-swap --check-fs . x does.
  local said="lockdir: invalid operand '.': its last component is '.' or '..', not a name to work on
Try 'lockdir --help' for more information."
  run lockdir --check-fs . touch ran
  assert_equal "$status" 2
  assert_output "$said"
  run lockdir --check-fs -c 'touch ran' .
  assert_equal "$status" 2
  assert_output "$said"
  run lockdir --status --check-fs . L
  assert_equal "$status" 2
  assert_output "$said"
  # Acquiring still refuses '.' as a LOCK.
  run lockdir -n .
  assert_equal "$status" 2
  assert_output "$said"
  [ ! -e ran ]
  [ -z "$(ls -A)" ]
}

@test "--check-fs with --json (--status, --list, --break) is a usage error: it has no JSON form, and printed text" {
  local form
  for form in --status --list --break; do
    run lockdir --check-fs $form --json L
    assert_equal "$status" 2
    assert_output "lockdir: --json has no meaning with --check-fs, which prints text
Try 'lockdir --help' for more information."
  done
  [ ! -e L ]
}

@test "a LOCK name too long for LOCK.queue and LOCK.last (250 to 255 bytes) is refused for that, not \"File name too long\"" {
  local name
  name=$(printf 'n%.0s' $(seq 250))
  local said="its name is longer than 249 bytes: LOCK.last and LOCK.queue would not fit in a name"
  # Before, "cannot acquire 'nnn...': File name too long", of a name
  # that is a valid file name.
  run lockdir -n "./$name" true
  assert_failure 125
  assert_output "lockdir: cannot acquire './$name': $said"
  run lockdir -n "$name/"
  assert_failure 3
  assert_output "lockdir: cannot acquire '$name/': $said"
  # 249 bytes is fine; 256 is no name at all, as the system says.
  run lockdir -n "${name%n}" true
  assert_success
  run lockdir -n "${name}nnnnnn" true
  assert_failure 125
  assert_output "lockdir: cannot acquire '${name}nnnnnn': File name too long"
  [ "$(ls -A)" = "${name%n}.last" ]
}

@test "--status refuses an empty LOCK after the first, as the first, before any line" {
  run lockdir --status A ''
  assert_equal "$status" 2
  assert_output "lockdir: invalid operand '': empty name
Try 'lockdir --help' for more information."
  run lockdir --status --check-fs A ''
  assert_equal "$status" 2
  assert_output "lockdir: invalid operand '': empty name
Try 'lockdir --help' for more information."
}

@test "--list '' is the usage error '' is everywhere else, not \"No such file or directory\"" {
  # It was status 3, "cannot list the locks in '': No such file or
  # directory", while 'lockdir --check-fs --list ""' was a usage error.
  run lockdir --list ''
  assert_equal "$status" 2
  assert_output "lockdir: invalid operand '': empty name
Try 'lockdir --help' for more information."
  run lockdir --list --json -- ''
  assert_equal "$status" 2
  assert_line --index 0 "lockdir: invalid operand '': empty name"
  # '.' is a directory to list.
  lockdir L
  run lockdir --list .
  assert_success
  assert_output --regexp "^L: held by pid [0-9]+ "
  lockdir -u L
}

@test "--status with several LOCKs takes them for LOCKs, not a COMMAND: --max-runtime is refused, --owner-pid and --print-token as with one" {
  # The second LOCK was taken for a COMMAND: --max-runtime was then
  # ignored (status 1, the locks listed), and the others named COMMAND.
  local one several
  for opts in "--max-runtime=5" "--max-runtime=5 -k 5" "--owner-pid=1" \
              "--print-token"; do
    run lockdir --status $opts A
    one=$output
    assert_equal "$status" 2
    run lockdir --status $opts A B
    assert_equal "$status" 2
    assert_equal "$output" "$one"
  done
  assert_equal "$one" "lockdir: --print-token goes with acquiring without COMMAND
Try 'lockdir --help' for more information."
}

@test "--print-token with -u, --renew, --break, --status, --list or a COMMAND says it goes with acquiring without COMMAND" {
  # It said "goes with the form without COMMAND", which -u L, --status
  # L and the others are.
  lockdir L
  local form
  for form in -u --renew --break --status --list; do
    run lockdir $form --print-token L
    assert_equal "$status" 2
    assert_output "lockdir: --print-token goes with acquiring without COMMAND
Try 'lockdir --help' for more information."
  done
  run lockdir --print-token L2 true
  assert_equal "$status" 125
  assert_output "lockdir: --print-token goes with acquiring without COMMAND
Try 'lockdir --help' for more information."
  # L is held as before; L2 was never taken.
  run lockdir --status L
  assert_success
  [ ! -e L2 ]
  lockdir -u L
}

@test "-u or --renew run by the COMMAND of the lockdir that holds LOCK says so: it is released when COMMAND exits" {
  # It said only "it is held by pid N on HOST, not by pid M", of the
  # lockdir that runs it.
  run lockdir L sh -c 'lockdir -u L; echo "u $? $$ $PPID"; lockdir --renew L; echo "renew $? $$"; lockdir --status L >/dev/null; echo "held $?"'
  assert_success
  local command_pid holder_pid
  command_pid=$(printf '%s\n' "$output" | sed -n 's/^u 1 \([0-9]*\) .*/\1/p')
  holder_pid=$(printf '%s\n' "$output" | sed -n 's/^u 1 [0-9]* \([0-9]*\)$/\1/p')
  [ -n "$command_pid" ] && [ -n "$holder_pid" ] || fail "$output"
  assert_line --index 0 "lockdir: cannot release 'L': it is held by lockdir (pid $holder_pid) for its COMMAND (pid $command_pid), and released when that COMMAND exits"
  assert_line --index 2 "lockdir: cannot renew 'L': it is held by lockdir (pid $holder_pid) for its COMMAND (pid $command_pid), and released when that COMMAND exits"
  assert_line --index 3 "renew 1 $command_pid"
  # Held while COMMAND ran; released when it exited.
  assert_line --index 4 "held 0"
  [ "$(ls -A)" = L.last ]
}

@test "-u or --renew that COMMAND's shell runs in its own place (bash execs a last command) fails too, and the lock stays held until COMMAND exits" {
  # lockdir -u is then COMMAND itself, and its parent the lockdir that
  # holds LOCK: it released LOCK (status 0) while COMMAND ran, and the
  # holder said "lock 'L' had been broken by someone else".
  local form
  for form in -u --renew; do
    run lockdir L bash -c 'echo "command $$"; exec lockdir '"$form"' L'
    assert_failure 1
    local command_pid
    command_pid=$(sed -n 's/^command //p' <<<"$output")
    [ -n "$command_pid" ] || fail "$output"
    assert_line --index 1 --regexp "^lockdir: cannot (release|renew) 'L': it is held by lockdir \(pid [0-9]+\) for its COMMAND \(pid $command_pid\), and released when that COMMAND exits$"
    refute_output --partial "broken"
    [ "${#lines[@]}" = 2 ] || fail "$output"
    [ "$(ls -A)" = L.last ]
  done
  # bash's own exec of a last command, as the issue found it.
  run lockdir L bash -c ': ; lockdir -u L'
  assert_failure 1
  refute_output --partial "broken"
}

@test "-q silences what --help says it does: busy, and not held with -u, --renew and --break" {
  # --help said only "no message when LOCK is busy".
  lockdir --help | tr -s ' \n' '  ' |
    grep -Fq -- "-q, --quiet no message when LOCK is busy or not held (-u, --renew, --break)," ||
    fail "$(lockdir --help | grep -A3 -- --quiet)"
  local form
  for form in -u --renew --break; do
    run lockdir -q $form L
    assert_failure 1
    assert_output ''
  done
  lockdir L
  run lockdir -q -n L true
  assert_failure 75
  assert_output ''
  # Held by our caller, not by the sh below: not held for -u there.
  run sh -c 'lockdir -q -u L; echo $?'
  assert_output 1
  lockdir -u L
}

@test "no temporaries are left, whatever happened" {
  lockdir L true
  make_dead_lock L
  lockdir -n L true
  run -127 lockdir -n L no-such-command-xyz
  lockdir L
  lockdir -u L
  assert_no_temporaries lockdir
  assert_equal "$(ls -A)" L.last
}

# --- killed at any point ---------------------------------------------------------

# kill_points TRACE: for each system call in the strace output TRACE
# from the first pipe on (made just before the lock is taken), print
# "NAME N": it is the N-th call of NAME, the argument strace's
# inject=NAME:when=N needs.
kill_points() {
  awk '/^(---|\+\+\+)/ { next }
       { name = $0; sub(/\(.*/, "", name); n[name]++ }
       /^pipe2/ { started = 1 }
       started { print name, n[name] }' "$1"
}

# The processes a sweep started and left, by the marker in their command
# line (a bracket keeps the pattern from matching itself).
sweep_leftovers() {
  pgrep -f -- "kill-swee[p]-$1\$"
}

@test "lockdir SIGKILLed at any system call: a COMMAND that started keeps the lock held while it runs; then the lock is recovered" {
  SWEEP=$BASHPID
  marker=kill-sweep-$SWEEP
  lockdir L true
  strace -qq -o trace lockdir L sh -c 'sleep 0.5; :' "$marker"
  kill_points trace >points
  grep -q '^vfork ' points || fail "no vfork among: $(cat points)"
  [ "$(wc -l <points)" -gt 10 ] || fail "too few kill points: $(cat points)"
  checked=0
  while read -r name n; do
    # Not 'run': it would wait for the end of the output, which a COMMAND
    # that outlives lockdir keeps open.  In a group: bash would print a
    # "Killed" notice for each strace it saw killed, and those notices
    # crowd out the failure's message.
    status=0
    { strace -qq -o /dev/null -e inject="$name":signal=KILL:when="$n" \
        lockdir L sh -c 'sleep 0.5; :' "$marker" 2>err; } \
      >/dev/null 2>&1 3>&- || status=$?
    [ "$status" = 137 ] || [ "$status" = 0 ] ||
      fail "killed at $name #$n: status $status: $(cat err)"
    # COMMAND outlives a killed lockdir: while it runs, the lock is held
    # (its pid is in the owner record before it can run).
    if sweep_leftovers "$SWEEP" >/dev/null; then
      run lockdir -n L true
      if sweep_leftovers "$SWEEP" >/dev/null; then
        [ "$status" = 75 ] ||
          fail "killed at $name #$n: COMMAND runs, yet lockdir -n L got $status: $output"
        checked=$((checked + 1))
      fi
      wait_until eval '! sweep_leftovers "$SWEEP" >/dev/null' ||
        fail "killed at $name #$n: COMMAND still runs: $(sweep_leftovers "$SWEEP")"
    fi
    run lockdir -w 5 L true
    [ "$status" = 0 ] ||
      fail "killed at $name #$n: the recovery got $status: $output"
    [ ! -e L ] || fail "killed at $name #$n: L left after recovery"
  done <points
  # The check above ran, for the calls after the vfork at least.
  [ "$checked" -gt 0 ] || fail "COMMAND never outlived a killed lockdir"
}

@test "out of descriptors (ulimit -n 5 to 20): lockdir fails with a message and leaves no lock" {
  for n in $(seq 5 20); do
    run sh -c "ulimit -n $n && exec lockdir L true" 3>&-
    if [ "$status" != 0 ]; then
      assert_equal "$status" 125
      assert_output --partial "Too many open files"
    fi
    [ ! -e L ] || fail "ulimit -n $n: status $status, and L left behind"
    assert_no_temporaries lockdir
  done
  # Enough descriptors: it works.
  run sh -c "ulimit -n 20 && exec lockdir L true" 3>&-
  assert_success
}

# True once process PID is stopped (by a signal, or for its tracer).
stopped() {
  grep -q '^State:[[:space:]]*[Tt]' "/proc/$1/status"
}

# True once signal SIG (a name) is pending for process PID.
signal_pending() {
  local bit mask
  bit=$((1 << ($(kill -l "$2") - 1)))
  for mask in $(sed -n 's/^\(SigPnd\|ShdPnd\):[[:space:]]*//p' \
    "/proc/$1/status"); do
    ((0x$mask & bit)) && return 0
  done
  return 1
}

@test "a signal that arrives as COMMAND is reaped is not passed to its recycled pid" {
  command -v strace >/dev/null || skip "strace is not installed"
  mkfifo gate
  # lockdir's first wait4 finds COMMAND running; its second reaps it.
  # strace sends SIGSTOP on entering the second: lockdir stops as that
  # wait4 returns, in the window between reaping the command and
  # forgetting its pid, and stays there until the test continues it.
  background strace -qq -o trace -e trace=wait4,kill \
    -e inject=wait4:signal=STOP:when=2 lockdir L sh -c 'read x <gate'
  wait_until sh -c 'lockdir --status L | grep -q child_pid'
  holder=$(owner_field L pid)
  child=$(owner_field L child_pid)
  # The first wait4 has returned: lockdir sleeps until COMMAND exits.
  wait_until sleeps_in_poll "$holder"
  echo >gate
  # The command is reaped (its zombie gone) and lockdir stopped there.
  wait_until test ! -e "/proc/$child"
  wait_until stopped "$holder"
  # The TERM arrives in the window (pending while lockdir is stopped);
  # then lockdir goes on.
  kill -TERM "$holder"
  wait_until signal_pending "$holder" TERM
  kill -CONT "$holder"
  wait "$BG"
  grep -q "^wait4($child, .* = $child" trace || fail "no reap in: $(cat trace)"
  grep -q "^--- SIGTERM" trace || fail "no SIGTERM in: $(cat trace)"
  run grep "^kill($child," trace
  assert_failure
  [ ! -e L ]
}

@test "a failed wait for COMMAND stops it and releases the lock (status 125)" {
  run strace -qq -o /dev/null -e inject=wait4:error=EINVAL:when=1 \
    lockdir L sleep 30
  assert_failure 125
  assert_output --partial "cannot wait for the command"
  [ ! -e L ]
}

# --- output that cannot be written -------------------------------------------------

# (bats' run captures stdout and stderr itself: the redirections to
# /dev/full are made inside sh -c.)

@test "with COMMAND, an unwritable stderr changes no status: the command's, or 125" {
  make_dead_lock L
  # -v reports the break, into a full stderr: the command still succeeded.
  run sh -c "lockdir -v L sh -c 'exit 0' 2>/dev/full"
  assert_success
  make_dead_lock L
  run sh -c "lockdir -v L sh -c 'exit 4' 2>/dev/full"
  assert_failure 4
  # lockdir's own failure stays 125, not the 3 of a write error.
  : >file
  run sh -c 'lockdir file true 2>/dev/full'
  assert_failure 125
  run sh -c 'lockdir --no-such-option L true 2>/dev/full'
  assert_failure 125
}

@test "a message into a pipe nobody reads changes no status and stops nothing (no SIGPIPE); COMMAND gets SIGPIPE as the caller had it" {
  # The message comes after the release: the command's 127 stands.
  run broken_stderr lockdir L no-such-command-xyz
  assert_output exit=127
  [ ! -e L ]
  # -v says "acquired" before COMMAND starts: COMMAND still runs.
  run broken_stderr lockdir -v L sh -c 'echo ran >ran'
  assert_output exit=0
  [ -e ran ]
  # Without COMMAND: busy is 1, a release of a lock not held 1.
  mkfifo gate
  background lockdir L sh -c 'read x <gate'
  wait_until test -d L
  run broken_stderr lockdir -n L
  assert_output exit=1
  run broken_stderr lockdir -u L
  assert_output exit=1
  echo >gate
  wait "$BG"
  # COMMAND's SIGPIPE is the caller's: not ignored (a writer into a
  # closed pipe dies of it), and ignored if the caller ignores it.
  assert_equal "$(lockdir L grep SigIgn: /proc/self/status)" \
    "$(grep SigIgn: /proc/self/status)"
  run perl -e '$SIG{PIPE} = "IGNORE"; exec @ARGV' lockdir L \
    sh -c 'grep SigIgn: /proc/self/status'
  [ $((0x${output##*[[:space:]]} >> 12 & 1)) = 1 ] || fail "SIGPIPE not ignored: $output"
}

@test "without COMMAND, an unwritable stderr changes no status: held is 0, busy 1, not held 1" {
  # -v says "acquired", into a full stderr, and into a closed one: the
  # lock is held, so the status is 0.
  run sh -c 'lockdir -v L 2>/dev/full; echo "status=$?"; lockdir --status L | grep "^pid="; echo "me=$$"'
  assert_line "status=0"
  assert_equal "$(sed -n 's/^pid=//p' <<<"$output")" "$(sed -n 's/^me=//p' <<<"$output")"
  lockdir --break L >/dev/null
  run sh -c 'lockdir -v L 2>&-; echo "status=$?"'
  assert_line "status=0"
  [ -d L ]
  lockdir --break L >/dev/null
  # Busy, a release of what the caller does not hold, a break of a free
  # lock: 1, each with its message lost.
  mkfifo gate
  background lockdir L sh -c 'read x <gate'
  wait_until test -d L
  run sh -c 'lockdir -n L 2>/dev/full'
  assert_failure 1
  run sh -c 'lockdir -u L 2>/dev/full'
  assert_failure 1
  echo >gate
  wait "$BG"
  run sh -c 'lockdir --break L 2>&-'
  assert_failure 1
}

@test "--print-token into a full stdout: status 3, and the lock is released again" {
  run sh -c 'lockdir --print-token L >/dev/full'
  assert_failure 3
  assert_output "lockdir: cannot print the token of 'L'; the lock is released again: No space left on device"
  [ ! -e L ]
}

@test "--break into a full stdout: status 3, saying that the lock was broken" {
  lockdir L
  run sh -c 'lockdir --break L >/dev/full'
  assert_failure 3
  assert_output "lockdir: broke lock 'L', but cannot print its record: No space left on device"
  [ ! -e L ]
}

@test "--break whose look at LOCK.last fails after the break: the record is shown, and the message does not deny the break" {
  command -v strace >/dev/null || skip "strace is not installed"
  lockdir L true
  lockdir L
  # The first open of L.last reads its token before the record replaces
  # it; the second, to see whether it must be reset, fails (EIO).
  # (strace says how it resolved L.last on stderr: set apart.)
  status=0
  strace -qq -o /dev/null -P L.last -e trace=openat \
    -e inject=openat:error=EIO:when=2 lockdir --break L >out 2>err ||
    status=$?
  assert_equal "$status" 3
  [ ! -e L ]
  grep -qx "pid=$BASHPID" out || fail "no record shown: $(cat out)"
  run grep -v '^strace: ' err
  refute_output --partial "cannot break"
  assert_output --partial "cannot read 'L.last': Input/output error"
}

# --- LOCK.last: the history that carries the fencing token ----------------------------

@test "an unusable token in LOCK.last: a clear error naming it; --break resets the history" {
  lockdir L true
  for bad in 18446744073709551615 9007199254740992 abc -1 ''; do
    sed -i "s/^token=.*/token=$bad/" L.last
    run lockdir -w 2 L true
    assert_failure 125
    assert_output "lockdir: cannot acquire 'L': 'L.last' holds no valid fencing token; remove it, or run 'lockdir --break L' (the tokens then start again from 1)"
    run lockdir L
    assert_failure 3
    assert_output --partial "'L.last' holds no valid fencing token"
  done
  # The largest token there is cannot be followed.
  sed -i "s/^token=.*/token=9007199254740991/" L.last
  run lockdir L true
  assert_failure 125
  assert_output --partial "'L.last' holds the largest fencing token there is"
  run lockdir --break L
  assert_success
  assert_output "lockdir: removed 'L.last', which holds the largest fencing token there is: the tokens start again from 1"
  [ ! -e L.last ]
  assert_equal "$(lockdir L sh -c 'echo $LOCKDIR_TOKEN')" 1
  # A valid history is not touched.
  run lockdir --break L
  assert_failure 1
  [ -f L.last ]
}

@test "an empty LOCK.last, as a crash leaves one: named as such; --break starts the tokens again" {
  lockdir L true
  : >L.last
  run lockdir L true
  assert_failure 125
  assert_output "lockdir: cannot acquire 'L': 'L.last' is empty (a system crash can leave it so); remove it, or run 'lockdir --break L' (the tokens then start again from 1)"
  run lockdir --break L
  assert_success
  assert_output "lockdir: removed 'L.last', which is empty (a system crash can leave it so): the tokens start again from 1"
  assert_equal "$(lockdir L sh -c 'echo $LOCKDIR_TOKEN')" 1
  # Zero bytes are empty too.
  head -c 242 /dev/zero >L.last
  run lockdir L true
  assert_failure 125
  assert_output --partial "'L.last' is empty (a system crash can leave it so)"
}

@test "LOCK.last planted as a directory, FIFO or symlink: a clear error naming it, no hang" {
  mkdir L.last
  run lockdir L true
  assert_failure 125
  assert_output --partial "cannot acquire 'L': 'L.last' is not a regular file"
  rmdir L.last
  mkfifo L.last
  run timeout 10 lockdir L true
  assert_failure 125
  assert_output --partial "'L.last' is not a regular file"
  rm L.last
  ln -s /etc/passwd L.last
  run lockdir L true
  assert_failure 125
  assert_output --partial "'L.last' is a symbolic link"
  run lockdir --break L
  assert_success
  [ ! -L L.last ]
  run lockdir L true
  assert_success
}

@test "LOCK.last planted while the lock is held: COMMAND's status stands and the lock is released" {
  run lockdir L sh -c 'mkdir L.last; exit 7'
  assert_failure 7
  [ ! -e L ]
  rmdir L.last
  run lockdir L sh -c 'mkfifo L.last; exit 6'
  assert_failure 6
  [ ! -e L ]
  # The release replaced the FIFO with the record of the holding.
  [ -f L.last ]
  # A holder killed with its lock, then a planted directory: the break works.
  make_dead_lock L
  mkdir L.last.new && rm -f L.last && mv L.last.new L.last
  run lockdir -v L true
  assert_failure 125
  assert_output --partial "'L.last' is not a regular file"
  [ ! -e L ] || [ -z "$(ls -A L)" ]
}

@test "a release whose record cannot become LOCK.last (disk full, quota, I/O error) fails and keeps the lock: no token repeats" {
  command -v strace >/dev/null || skip "strace is not installed"
  lockdir L true
  grep -qx token=1 L.last
  # The release renames the record over L.last: lockdir's second
  # renameat, after the one that made L.  Before, the record was then
  # unlinked, L.last kept token 1 and the next holder got token 2 again.
  run strace -qq -o /dev/null -e trace=renameat \
    -e inject=renameat:error=ENOSPC:when=2 \
    lockdir L sh -c 'echo "$LOCKDIR_TOKEN"'
  assert_failure 125
  assert_line --index 0 2
  assert_line --index 1 "lockdir: cannot release 'L': No space left on device"
  grep -qx token=1 L.last
  [ -d L ]
  # Its owner is gone: the next lockdir ends the holding as a stale one,
  # through L.last, and takes the next token.
  run lockdir L sh -c 'echo "$LOCKDIR_TOKEN"'
  assert_success
  assert_line 3
  # The script form: -u says the lock is still held, and a later -u
  # releases it.
  lockdir --owner-pid=$$ L
  run strace -qq -o /dev/null -e trace=renameat \
    -e inject=renameat:error=EDQUOT:when=1 lockdir -u --owner-pid=$$ L
  assert_failure 3
  assert_output --partial "cannot release 'L'"
  grep -qx token=3 L.last
  lockdir -u --owner-pid=$$ L
  grep -qx token=4 L.last
  assert_equal "$(lockdir L sh -c 'echo "$LOCKDIR_TOKEN"')" 5
  assert_no_temporaries lockdir
}

# L is an empty lock, which is free: --status says nothing holds it,
# and the next lockdir takes it and leaves nothing.
assert_empty_lock_free() {
  [ -z "$(ls -A L)" ]
  run lockdir --status L
  assert_failure 1
  lockdir L true
  [ ! -e L ]
  assert_no_temporaries lockdir
}

# rmdir_fails_at ARG...: the number of the unlinkat of 'lockdir ARG...'
# that removes the lock L's directory (found in a traced run, which
# must leave L as it found it), for inject=unlinkat:when=N.
rmdir_fails_at() {
  strace -o trace -e trace=unlinkat lockdir "$@" >/dev/null
  local n
  n=$(grep '^unlinkat(' trace | grep -n '"L", AT_REMOVEDIR' | cut -d: -f1)
  rm trace
  [ -n "$n" ] || fail "no unlinkat of L by lockdir $*"
  echo "$n"
}

# Run lockdir -n L true, which loses the race for L: the shim holds its
# rename of the temporary directory onto L (its first renameat) until
# another has taken L, however long that takes.  The unlinkat number
# $1 fails (1: our record in the temporary, 2: the temporary directory).
lose_race_with_removal_failing() {
  local shim
  shim=$(command -v fault-shim.so) ||
    skip "tests/fault-shim.so is not built (make check builds it)"
  rm -rf fa
  mkdir fa
  background sh -c 'while [ ! -e fa/paused.renameat.1 ]; do
    sleep 0.01; done; lockdir --owner-pid='"$$"' L; : >fa/go.renameat.1'
  run strace -o /dev/null -e trace=renameat,unlinkat \
    -E LD_PRELOAD="$shim" -E FAULT_DIR="$PWD/fa" \
    -E FAULT_PAUSE=renameat:1 \
    -e inject=unlinkat:error=EIO:when="$1" lockdir -n L true
  wait "$BG"
}

@test "an acquirer that loses the race and cannot remove its temporary (I/O error) names it after its own message; the status stays 75" {
  command -v strace >/dev/null || skip "strace is not installed"
  local when
  for when in 1 2; do
    lose_race_with_removal_failing "$when"
    # Before, the temporary directory was left, unsaid; then the warning
    # came first, before the message it follows in every other tool.
    assert_failure 75
    assert_line --index 0 --partial "'L' is held by pid $$"
    assert_line --index 1 --regexp "^lockdir: warning: cannot remove the temporary '\.lockdir\.[A-Za-z0-9]{6}': Input/output error\$"
    assert_equal "${#lines[@]}" 2
    [[ ${lines[1]} =~ \'(\.lockdir\.[A-Za-z0-9]{6})\' ]]
    [ -d "${BASH_REMATCH[1]}" ]
    rm -r "${BASH_REMATCH[1]}"
    lockdir -u --owner-pid=$$ L
  done
}

@test "an acquirer that loses the race, cannot remove its temporary (I/O error), then gets the lock, warns once before its command runs" {
  command -v strace >/dev/null || skip "strace is not installed"
  local shim
  shim=$(command -v fault-shim.so) ||
    skip "tests/fault-shim.so is not built (make check builds it)"
  mkdir fa
  # The loser's rename onto L is held (the shim) until the winner holds
  # L; the winner holds it until the loser waits in the queue.
  background sh -c 'while [ ! -e fa/paused.renameat.1 ]; do
    sleep 0.01; done
    exec lockdir L sh -c ": >fa/go.renameat.1
      while [ ! -e go ]; do sleep 0.01; done"'
  local winner=$BG
  background sh -c 'while [ -z "$(ls -A L.queue 2>/dev/null)" ]; do
    sleep 0.01; done; : >go'
  run strace -o /dev/null -e trace=renameat,unlinkat \
    -E LD_PRELOAD="$shim" -E FAULT_DIR="$PWD/fa" \
    -E FAULT_PAUSE=renameat:1 \
    -e inject=unlinkat:error=EIO:when=2 lockdir -w 60s L echo ran
  wait "$winner"
  assert_success
  assert_line --index 0 --regexp "^lockdir: warning: cannot remove the temporary '\.lockdir\.[A-Za-z0-9]{6}': Input/output error\$"
  assert_line --index 1 ran
  assert_equal "${#lines[@]}" 2
  [[ ${lines[0]} =~ \'(\.lockdir\.[A-Za-z0-9]{6})\' ]]
  [ -d "${BASH_REMATCH[1]}" ]
  rm -r "${BASH_REMATCH[1]}"
  [ ! -e L ]
}

@test "a release whose empty directory cannot be removed (I/O error) says so; the command's status stays, the lock is free" {
  command -v strace >/dev/null || skip "strace is not installed"
  local n
  n=$(rmdir_fails_at L true)
  # Before, lockdir said nothing, and an empty L stayed.
  run strace -o /dev/null -e trace=unlinkat \
    -e inject=unlinkat:error=EIO:when="$n" lockdir -q L sh -c 'exit 7'
  assert_failure 7
  assert_output "lockdir: warning: cannot remove the empty lock 'L' (the next lockdir on 'L' recovers it): Input/output error"
  [ -d L ]
  [ -z "$(ls -A L)" ]
  run lockdir -n L sh -c 'echo "$LOCKDIR_TOKEN"'
  assert_success
  assert_output 3
  [ ! -e L ]
  # The script form: -u has released it (status 0), and says what stays.
  lockdir --owner-pid=$$ L
  n=$(rmdir_fails_at -u --owner-pid=$$ L)
  lockdir --owner-pid=$$ L
  run strace -o /dev/null -e trace=unlinkat \
    -e inject=unlinkat:error=EIO:when="$n" lockdir -u --owner-pid=$$ L
  assert_success
  assert_output "lockdir: warning: cannot remove the empty lock 'L' (the next lockdir on 'L' recovers it): Input/output error"
  assert_empty_lock_free
}

@test "--break whose empty directory cannot be removed (I/O error) says so; the holding is broken all the same (0)" {
  command -v strace >/dev/null || skip "strace is not installed"
  local n
  lockdir L
  n=$(rmdir_fails_at --break L)
  lockdir L
  # Before, --break said nothing of the empty L it left.
  run --separate-stderr strace -o /dev/null -e trace=unlinkat \
    -e inject=unlinkat:error=EIO:when="$n" lockdir --break L
  assert_success
  assert_line "pid=$BASHPID"
  assert_equal "$stderr" "lockdir: warning: cannot remove the empty lock 'L' (the next lockdir on 'L' recovers it): Input/output error"
  assert_empty_lock_free
}

@test "a stale holding ended where its empty directory cannot be removed (I/O error): the acquirer renames over it, and says it once" {
  command -v strace >/dev/null || skip "strace is not installed"
  plant_record L "$(dead_pid)" 1 token=5
  # Every rmdir fails: the breaker's, and the release's.  Before, the
  # acquirer tried to rmdir the empty L again, and gave up (125).
  run --separate-stderr strace -o /dev/null -e trace=unlinkat \
    -e inject=unlinkat:error=EIO lockdir -n L sh -c 'echo "$LOCKDIR_TOKEN"; exit 7'
  assert_failure 7
  assert_output 6
  assert_equal "$stderr" "lockdir: warning: cannot remove the empty lock 'L' (the next lockdir on 'L' recovers it): Input/output error"
  [ -z "$(ls -A L)" ]
  run lockdir -n L sh -c 'echo "$LOCKDIR_TOKEN"'
  assert_success
  assert_output 7
  [ ! -e L ]
  assert_no_temporaries lockdir
}

@test "a stale holding ended, its empty directory kept (I/O error), then the acquisition fails: all three are said" {
  command -v strace >/dev/null || skip "strace is not installed"
  local pid
  pid=$(dead_pid)
  plant_record L "$pid" 1 token=5
  # The two rmdirs of L (the breaker's, then the acquirer's) fail, then
  # the rename of the acquirer's directory over the empty L (the first
  # renameat put the record in L.last).  Before, the empty L was unsaid.
  run strace -o /dev/null -e trace=unlinkat,renameat \
    -e inject=unlinkat:error=EIO:when=1..2 \
    -e inject=renameat:error=EIO:when=2 lockdir -n L true
  assert_failure 125
  assert_line --index 0 "lockdir: broke stale lock 'L' of pid $pid on $(uname -n) (token 5): its owner is dead"
  assert_line --index 1 "lockdir: cannot acquire 'L': Input/output error"
  assert_line --index 2 "lockdir: warning: cannot remove the empty lock 'L' (the next lockdir on 'L' recovers it): Input/output error"
  assert_equal "${#lines[@]}" 3
  [ -z "$(ls -A L)" ]
  assert_no_temporaries lockdir
  run lockdir -n L sh -c 'echo "$LOCKDIR_TOKEN"'
  assert_success
  assert_output 6
  [ ! -e L ]
}

@test "a lockdir killed (SIGKILL) before renaming its temporary to L leaves it: the name does not say for which lock, so nobody removes it" {
  command -v strace >/dev/null || skip "strace is not installed"
  # The first renameat is the temporary's to L: skipped, then SIGKILL.
  run strace -o /dev/null -e trace=renameat \
    -e inject=renameat:error=EIO:signal=SIGKILL:when=1 lockdir L true
  assert_failure
  [ ! -e L ]
  local left
  left=$(find . -maxdepth 1 -name '.lockdir.*' -type d)
  [ -n "$left" ]
  # It holds the dead lockdir's owner record, and no field names the
  # lock (command= is the owner's command line: a script's, with
  # --owner-pid).
  run sh -c "cat $left/owner.*"
  assert_line --regexp '^pid=[0-9]+$'
  refute_line --regexp '^lock='
  # The next lockdir on L cannot tell it from a temporary of another
  # lock in this directory, and leaves it.
  lockdir -n L true
  [ ! -e L ]
  [ -d "$left" ]
}

@test "an empty lock that no rename can replace (a mount point, a read-only filesystem) is an error, with no promise that the next lockdir recovers it" {
  require_root
  mkdir L ro
  mount -t tmpfs atomicutils-test L
  run lockdir -n L true
  umount L
  assert_failure 125
  assert_output "lockdir: cannot acquire 'L': Device or resource busy"
  mkdir ro/L
  mount --bind ro ro
  mount -o remount,bind,ro ro
  run lockdir -n ro/L true
  umount ro
  assert_failure 125
  assert_output "lockdir: cannot acquire 'ro/L': Read-only file system"
  assert_no_temporaries lockdir
  [ -d ro/L ]
}

@test "a stale record with an absurd token does not poison LOCK.last" {
  lockdir L true
  true & wait $!
  plant_record L "$!" 1 token=18446744073709551615
  run lockdir -v L sh -c 'echo "$LOCKDIR_TOKEN"'
  assert_success
  assert_line --partial "broke stale lock"
  assert_line 2
  grep -qx token=2 L.last
}

@test "LOCK.last of another user in a sticky directory is not trusted" {
  require_root
  mkdir -m 1777 pub
  setpriv --reuid=65534 --regid=65534 --clear-groups \
    sh -c 'printf "token=9007199254740990\n" >pub/L.last'
  run lockdir pub/L true
  assert_failure 125
  assert_output --partial "'pub/L.last' belongs to uid 65534, in a sticky directory"
  # Root's own history there is trusted.
  rm pub/L.last
  lockdir pub/L true
  lockdir pub/L true
  grep -qx token=2 pub/L.last
}

@test "root's LOCK.last in a sticky directory is refused to another user, who could not replace it: no token repeats" {
  require_root
  require_setpriv
  mkdir -m 1777 pub
  lockdir pub/L true
  # Another user's holding could not rename its record over root's
  # LOCK.last when it ends (the sticky bit), so every one of them would
  # get token 2.  It is refused instead, saying why.
  run setpriv --reuid=65534 --regid=65534 --clear-groups \
    lockdir pub/L sh -c 'echo "$LOCKDIR_TOKEN"'
  assert_failure 125
  assert_output "lockdir: cannot acquire 'pub/L': 'pub/L.last' belongs to uid 0, in a sticky directory, where uid 65534 cannot replace it: the fencing tokens would repeat; only root can remove it, with rm or 'lockdir --break pub/L' (the tokens then start again from 1)"
  grep -qx token=1 pub/L.last
  # Its own history there goes on as usual.
  rm pub/L.last
  run setpriv --reuid=65534 --regid=65534 --clear-groups \
    sh -c 'lockdir pub/L true && lockdir pub/L sh -c "echo \$LOCKDIR_TOKEN"'
  assert_success
  assert_output 2
  # Root may replace the directory owner's history, and its own: root
  # goes on from there.
  rm pub/L.last
  lockdir pub/L true
  chown 65534 pub
  assert_equal "$(lockdir pub/L sh -c 'echo "$LOCKDIR_TOKEN"')" 2
}

@test "LOCK.last refused in a sticky directory: the message names who can remove it, not the caller, who cannot" {
  require_root
  require_setpriv
  mkdir -m 1777 pub
  chown 65533 pub
  lockdir pub/L true
  run setpriv --reuid=65534 --regid=65534 --clear-groups lockdir pub/L true
  assert_failure 125
  assert_output --partial "; only the directory's owner (uid 65533) or root can remove it, with rm or 'lockdir --break pub/L' (the tokens"
  refute_output --partial "; remove it"
  # The caller indeed cannot.
  run setpriv --reuid=65534 --regid=65534 --clear-groups lockdir --break pub/L
  assert_failure 3
  run setpriv --reuid=65534 --regid=65534 --clear-groups rm -f pub/L.last
  assert_failure
  # Nor another user's planted one there (root may).
  rm pub/L.last
  setpriv --reuid=65532 --regid=65532 --clear-groups \
    sh -c 'printf "token=5\n" >pub/L.last'
  run setpriv --reuid=65534 --regid=65534 --clear-groups lockdir pub/L true
  assert_failure 125
  assert_output --partial "'pub/L.last' belongs to uid 65532, in a sticky directory; only the directory's owner (uid 65533) or root can remove it"
  run lockdir pub/L true
  assert_failure 125
  assert_output --partial "; remove it, or run 'lockdir --break pub/L'"
}

@test "past the file size limit (ulimit -f 0): a message, status 125 or 3, nothing left" {
  run bash -c 'ulimit -f 0; lockdir L true'
  assert_failure 125
  assert_output --partial "cannot acquire 'L': File too large"
  run bash -c 'ulimit -f 0; lockdir -w 1 L'
  assert_failure 3
  assert_output --partial "File too large"
  [ ! -e L ]
  assert_no_temporaries lockdir
  # A holder that may write its record still runs COMMAND under the limit.
  run bash -c 'lockdir L sh -c "ulimit -f 0; exit 5"'
  assert_failure 5
}

# --- network filesystem faults (tests/lockdir-shim.c) ---------------------------------

@test "a rename that succeeded but reported an error (NFS retry) still acquires the lock" {
  shim=$(lockdir_shim)
  run env LD_PRELOAD="$shim" LOCKDIR_SHIM_RENAME_LIES=1 \
    lockdir L sh -c 'ls L; echo "token $LOCKDIR_TOKEN"'
  assert_success
  assert_line --regexp '^owner\.[0-9a-f]{32}$'
  assert_line "token 1"
  [ ! -e L ]
  assert_no_temporaries lockdir
  # The script form too: the lock is held, with its record.
  LD_PRELOAD="$shim" LOCKDIR_SHIM_RENAME_LIES=1 lockdir L
  assert_equal "$(owner_field L pid)" "$BASHPID"
  lockdir -u L
}

@test "joining a shared holding through a rename that succeeded but reported an error (NFS retry): COMMAND runs, its pid recorded" {
  shim=$(lockdir_shim)
  lockdir -s L
  # The rename of our record into L is done, then reported as failed:
  # L is found holding our record, which COMMAND's pid is added to.
  run env LD_PRELOAD="$shim" LOCKDIR_SHIM_RENAME_LIES=1 \
    lockdir -s L sh -c 'grep -h "^child_pid=" L/owner.*; echo ran'
  assert_success
  assert_line "ran"
  assert_line --regexp '^child_pid=[0-9]+$'
  assert_no_temporaries lockdir
  lockdir -u L
  [ ! -e L ]
}

@test "joining a shared holding through a rename that succeeded but reported an error (NFS retry), then our record will not open: 125 with that error, our record gone" {
  shim=$(lockdir_shim)
  lockdir -s L
  # The open of our record, found in L after the rename that lied.
  strace -qq -o trace -e trace=openat -E LD_PRELOAD="$shim" \
    -E LOCKDIR_SHIM_RENAME_LIES=1 lockdir -s L true
  n=$(grep -n '^openat(.*"owner\.[0-9a-f]*", O_RDWR|O_NOFOLLOW|O_CLOEXEC)' \
      trace | cut -d: -f1)
  [ -n "$n" ] || fail "no open of our record in L in: $(cat trace)"
  run strace -qq -o /dev/null -e inject=openat:error=EMFILE:when="$n" \
    -E LD_PRELOAD="$shim" -E LOCKDIR_SHIM_RENAME_LIES=1 \
    lockdir -s L sh -c 'echo ran'
  assert_failure 125
  assert_output "lockdir: cannot acquire 'L': Too many open files"
  # Only the first holder's record is left.
  assert_equal "$(find L -name 'owner.*' | wc -l)" 1
  assert_no_temporaries lockdir
  lockdir -u L
  [ ! -e L ]
}

@test "a failure to create the owner record is reported with its own errno, whatever TZ loads" {
  # The time zone file is looked up when the acquisition time is first
  # formatted; TZ naming no file makes that lookup fail with ENOENT.
  export TZ=No/Such/Zone
  lockdir L true
  strace -qq -o trace -e trace=openat lockdir L true
  n=$(grep -n '^openat(.*"owner\.[0-9a-f]*", O_RDWR|O_CREAT' trace | cut -d: -f1)
  [ -n "$n" ] || fail "no owner record created in: $(cat trace)"
  run strace -qq -o /dev/null -e inject=openat:error=EDQUOT:when="$n" \
    lockdir L true
  assert_failure 125
  assert_output "lockdir: cannot acquire 'L': Disk quota exceeded"
  [ ! -e L ]
  assert_no_temporaries lockdir
}

# --- JSON -----------------------------------------------------------------------------

# Decode standard input as strict UTF-8 JSON (python3 -m json.tool would
# accept invalid UTF-8), and print the value at the keys given.
strict_json() {
  python3 -c '
import json, sys
value = json.loads(sys.stdin.buffer.read().decode("utf-8"))
for key in sys.argv[1:]:
    value = value[key]
print(ascii(value))' "$@"
}

@test "--json is valid UTF-8 JSON whatever bytes the lock name and command hold" {
  name=$'L\xff\x01\xc2\x85\xe2\x82\xac\xed\xa0\x80"\\'
  mkfifo gate
  background lockdir "$name" sh -c 'read x <gate' $'arg\xfe\x7f\t'
  wait_until sh -c 'lockdir --status "$1" | grep -q child_pid' sh "$name"
  lockdir --status --json "$name" >out
  run strict_json lock <out
  assert_success
  # Invalid bytes and control characters are \u00XX; the euro sign, valid
  # UTF-8, stays as it is.
  assert_output "'L\\xff\\x01\\x85\\u20ac\\xed\\xa0\\x80\"\\\\'"
  grep -qF '"lock":"L\u00ff\u0001\u0085€\u00ed\u00a0\u0080\"\\"' out
  run strict_json command <out
  assert_success
  echo >gate
  wait "$BG"
  run lockdir --status --json "$name"
  assert_failure 1
  echo "$output" | strict_json held
}

# --- leases ---------------------------------------------------------------------------

@test "--lease above 365d is a usage error; 365d and inf are accepted" {
  # Past every duration's limit (36500d): the common parser refuses it.
  run lockdir --lease=10000000000 L
  assert_usage_error lockdir
  assert_output --partial "duration too long for --lease"
  run lockdir --lease=366d L
  assert_usage_error lockdir
  assert_output --partial "--lease must be at most 365d"
  run lockdir --lease=366d L true
  assert_failure 125
  assert_output --partial "--lease must be at most 365d"
  [ ! -e L ]
  run lockdir --lease=365d L sh -c 'cat L/owner.*'
  assert_success
  assert_line lease=31536000.000
  run lockdir --lease=inf L true
  assert_success
}

@test "--lease=inf is no lease, and --help says so" {
  run lockdir --lease=inf L sh -c 'cat L/owner.*'
  assert_success
  refute_line --partial "lease="
  run bash -c "lockdir --help | tr -s ' \\n' ' '"
  assert_output --partial "(at most 365d; 'inf': no lease, as without --lease)"
}

@test "a lease that is no whole number of milliseconds is recorded rounded up, never as none" {
  # The record keeps milliseconds: 0.5 ms was written 'lease=0.000',
  # which reads as no lease at all (never broken by its expiry), and
  # 1.9995 s as 1.999, shorter than asked.
  # (--status says 4, stale, once the millisecond is over.)
  run lockdir --lease=0.5ms L sh -c 'cat L/owner.*; lockdir --status --json L; :'
  assert_success
  assert_line lease=0.001
  assert_output --partial '"lease":0.001,'
  run lockdir --lease=1.9995 L sh -c 'cat L/owner.*'
  assert_line lease=2.000
}

# --- the script form's owner --------------------------------------------------------------

# In SHELL, run SCRIPT; it prints "ok" when the lock's owner is the
# script's own shell ($$) and it could release the lock.
script_owner_check() {
  local shell=$1 script=$2
  $shell -c "$script"'
    p=$(lockdir --status L | sed -n "s/^pid=//p")
    [ "$p" = $$ ] && lockdir -u L && echo ok'
}

@test "without /proc, lockdir L COMMAND says /proc is not mounted, runs nothing, leaves no L (125)" {
  require_root
  unshare -m --propagation private true 2>/dev/null ||
    skip "cannot make a private mount namespace"
  # The record names the command by its start time, from /proc: before,
  # the reason given was a bare "No such process".
  run unshare -m --propagation private sh -c \
    'umount -l /proc && lockdir L sh -c ": >ran"'
  assert_failure 125
  assert_output "lockdir: cannot name the command in the owner record of 'L': /proc is not mounted; the command was not run"
  [ ! -e ran ]
  [ ! -e L ]
}

@test "lockdir L COMMAND: the command names itself from one read of /proc/self/stat, with no readlink of /proc/self" {
  command -v strace >/dev/null || skip "strace is not installed"
  # One trace per process: lockdir reads its own start time too.
  run strace -ff -qq -o trace -e trace=readlink,openat,execve lockdir L true
  assert_success
  # The command's process: the one that execs true.
  run grep -l 'execve("[^"]*/true"' trace.*
  assert_success
  [ "${#lines[@]}" -eq 1 ] || fail "$output"
  local command_trace=$output
  run grep -c 'openat([^"]*"/proc/self/stat"' "$command_trace"
  assert_output 1
  run grep 'readlink("/proc/self"' trace.*
  assert_failure 1
  assert_output ""
}

@test "/proc of another pid namespace (unshare --pid without --mount-proc): lockdir L COMMAND says so, runs nothing, leaves no L (125)" {
  require_pid_namespace
  # /proc stays the one outside: the command's pid there is not its own.
  # Before, the reason given was a bare "No such process".
  run unshare --pid --fork lockdir L sh -c ": >ran"
  assert_failure 125
  assert_output "lockdir: cannot name the command in the owner record of 'L': /proc is not this process's pid namespace's; the command was not run"
  [ ! -e ran ]
  [ ! -e L ]
}

@test "/proc of another pid namespace: lockdir L COMMAND tells it from /proc/self/stat alone, with no readlink of /proc/self and no read of /proc/1/stat, another process's (125)" {
  require_pid_namespace
  command -v strace >/dev/null || skip "strace is not installed"
  # lockdir is pid 1 of the new namespace; /proc/1 is the outside's 1.
  run strace -f -qq -o trace -e trace=readlink,openat \
    unshare --pid --fork lockdir L sh -c ": >ran"
  assert_failure 125
  assert_output "lockdir: cannot name the command in the owner record of 'L': /proc is not this process's pid namespace's; the command was not run"
  run grep -e 'readlink("/proc/self"' -e '"/proc/1/stat"' trace
  assert_failure 1
  assert_output ""
  [ ! -e ran ]
  [ ! -e L ]
  # No temporary left: only the lock's history, L.last, stays.
  run ls -A
  assert_output "L.last
trace"
}

@test "a parent outside lockdir's pid namespace (docker exec): the script forms refuse without --owner-pid, and take nothing" {
  unshare --pid --fork --mount-proc true 2>/dev/null ||
    skip "cannot make a pid namespace here"
  # unshare's child, lockdir, is pid 1 of a new namespace: its parent,
  # outside, is pid 0 to it.  It made itself the owner, and exited: a
  # lock held by a process of a namespace that no longer exists.
  for form in "" -u --renew --print-token; do
    # shellcheck disable=SC2086
    run unshare --pid --fork --mount-proc lockdir $form L
    assert_failure 3
    assert_output "lockdir: cannot tell which process owns the lock: lockdir's parent is outside its pid namespace; name the owner with --owner-pid"
    [ ! -e L ] || fail "$form: L taken"
  done
  # With COMMAND, or from a shell inside the namespace, the owner is known.
  run unshare --pid --fork --mount-proc lockdir L true
  assert_success
  run unshare --pid --fork --mount-proc sh -c \
    'lockdir L && lockdir --status L | grep -x pid=1 && lockdir -u L'
  assert_success
  [ ! -e L ]
}

@test "/proc of another pid namespace: a script's lockdir L refuses, as it cannot name the script by its start time, and takes nothing (3)" {
  require_pid_namespace
  # The script is pid 1 of the new namespace; /proc/1 is the outside's
  # 1.  Before, the record named the outside's start time, and the lock
  # was never judged dead.
  for form in "" --print-token; do
    # shellcheck disable=SC2086
    run unshare --pid --fork sh -c "lockdir $form L; echo \$?"
    assert_output "lockdir: cannot name lockdir's caller in the owner record of 'L': /proc is not this process's pid namespace's; not acquired
3"
    [ ! -e L ] || fail "$form: L taken"
  done
  run ls -A
  assert_output ""
}

@test "/proc of another pid namespace: a script's lockdir -u L and --renew L refuse, as they cannot tell the script by its start time, and change nothing (3)" {
  require_pid_namespace
  # A script, pid 1 of its namespace, takes L where /proc is its own;
  # then calls -u and --renew with the outside's /proc over it (kept as
  # oproc), where /proc/1 is the outside's 1.  Before, both said that L
  # was stale, its owner "ended" (status 1), while the script lived.
  mkdir oproc
  cat >inside.sh <<'SCRIPT'
lockdir L || exit 9
for form in -u --renew "-u --owner-pid 1"; do
  unshare --mount sh -c "mount --bind oproc /proc && exec lockdir $form L"
  echo "$form: $?"
done
lockdir --status L | grep -qx pid=1 && echo held
lockdir -u L
SCRIPT
  run unshare --mount sh -c \
    'mount --bind /proc oproc && exec unshare --pid --fork --mount-proc sh inside.sh'
  assert_success
  assert_output "lockdir: cannot tell whether lockdir's caller holds 'L': /proc is not this process's pid namespace's; not released
-u: 3
lockdir: cannot tell whether lockdir's caller holds 'L': /proc is not this process's pid namespace's; not renewed
--renew: 3
lockdir: cannot tell whether pid 1 holds 'L': /proc is not this process's pid namespace's; not released
-u --owner-pid 1: 3
held"
  [ ! -e L ]
}

@test "/proc of another pid namespace with no entry for us (nsenter -m): the script forms refuse (3), COMMAND is not run (125), nothing taken" {
  require_pid_namespace
  command -v nsenter >/dev/null || skip "nsenter is not installed"
  # A namespace with a /proc of its own, mounted in its mount namespace:
  # entered with -m alone, we stay in the outside pid namespace, and
  # that /proc has no /proc/self for us (ENOENT, not another pid).
  background unshare --pid --fork --mount-proc sh -c ': >ready; exec sleep 60'
  wait_until test -e ready
  rm ready
  inside() { nsenter -t "$BG" -m sh -c "cd '$PWD' && $1"; }
  # Before, "cannot acquire 'L': No such process".
  run inside 'lockdir L'
  assert_failure 3
  assert_output "lockdir: cannot name lockdir's caller in the owner record of 'L': /proc is not this process's pid namespace's; not acquired"
  run inside 'lockdir -u L'
  assert_failure 3
  assert_output "lockdir: cannot tell whether lockdir's caller holds 'L': /proc is not this process's pid namespace's; not released"
  run inside 'lockdir --renew L'
  assert_failure 3
  assert_output "lockdir: cannot tell whether lockdir's caller holds 'L': /proc is not this process's pid namespace's; not renewed"
  run ls -A
  assert_output ""
  run inside 'lockdir L sh -c ": >ran"'
  assert_failure 125
  assert_output "lockdir: cannot name the command in the owner record of 'L': /proc is not this process's pid namespace's; the command was not run"
  [ ! -e ran ]
  [ ! -e L ]
}

@test "/proc mounted with subset=pid (no boot id): the script forms refuse, -u and --renew too, and change nothing (3); COMMAND runs" {
  require_proc_subset_pid
  # The script, pid 1 of its namespace, takes L with a whole /proc, then
  # mounts one with subset=pid over it: /proc/sys is absent, so no boot
  # id.  Before, lockdir M1 took M1 naming no boot, and -u L and --renew
  # L said that L was "held by pid 1 on HOST, another process than pid
  # 1 here" (status 1): a holding never released by -u, nor judged dead.
  cat >inside.sh <<'SCRIPT'
lockdir L || exit 9
mount -t proc -o subset=pid proc /proc || exit 8
n=0
for form in "" --print-token "--owner-pid 1"; do
  n=$((n + 1))
  lockdir $form M$n
  echo "$form: $?"
done
for form in -u --renew "-u --owner-pid 1"; do
  lockdir $form L
  echo "$form: $?"
done
lockdir M sh -c ': >ran'
echo "command: $?"
umount /proc || exit 7
lockdir --status L | grep -qx pid=1 && echo held
lockdir -u L
SCRIPT
  run unshare --mount --pid --fork --mount-proc sh inside.sh
  assert_success
  local why="/proc/sys/kernel/random/boot_id cannot be read (No such file or directory)"
  assert_output "lockdir: cannot name this boot in the owner record of 'M1': $why; not acquired
: 3
lockdir: cannot name this boot in the owner record of 'M2': $why; not acquired
--print-token: 3
lockdir: cannot name this boot in the owner record of 'M3': $why; not acquired
--owner-pid 1: 3
lockdir: cannot tell whether lockdir's caller holds 'L': $why; not released
-u: 3
lockdir: cannot tell whether lockdir's caller holds 'L': $why; not renewed
--renew: 3
lockdir: cannot tell whether pid 1 holds 'L': $why; not released
-u --owner-pid 1: 3
command: 0
held"
  [ -e ran ]
  [ ! -e L ]
  rm ran inside.sh
  # No M1, M2, M3 (nor tickets): only what L and M leave when released.
  run ls -A
  assert_output "L.last
M.last"
}

@test "tok=\$(lockdir --print-token L), even with || inside, makes the script the owner" {
  for shell in bash dash; do
    for idiom in 'tok=$(lockdir --print-token L)' \
                 'tok=$(lockdir --print-token L || exit 1)' \
                 'tok=$(lockdir --print-token L; true)'; do
      run script_owner_check "$shell" "$idiom; [ \"\$tok\" -gt 0 ] || exit 9;"
      assert_output ok || fail "$shell: $idiom"
      [ ! -e L ]
    done
  done
  # A subshell whose output goes elsewhere is an owner of its own: it
  # lives until the commands after lockdir are done.  (Once the shell
  # has closed its copy of the pipe: in the moment before, lockdir takes
  # the shell for a command substitution's reader and names it -- a
  # known race, not yet fixed.  The subshell waits for that, by the
  # shell's descriptors, not by time.)
  run bash -c '( pp=$(cut -d" " -f4 /proc/$BASHPID/stat); out=$(readlink /proc/$BASHPID/fd/1)
    while ls -l /proc/$pp/fd 2>/dev/null | grep -qF "$out"; do :; done
    lockdir L; lockdir --status L | sed -n "s/^pid=//p"; echo "$BASHPID" ) | cat'
  assert_success
  assert_equal "${lines[0]}" "${lines[1]}"
  lockdir --break L >/dev/null
}

@test "lockdir -u run in place of the owner (bash and dash exec a last command) releases it" {
  for shell in bash dash; do
    run $shell -c '( lockdir -n L; lockdir -u L ); echo "status $?"'
    assert_output "status 0"
    [ ! -e L ] || fail "$shell: ( lockdir -n L; lockdir -u L ) left L"
    run $shell -c 'lockdir -n L; echo hi; lockdir -u L'
    assert_success
    assert_output hi
    [ ! -e L ] || fail "$shell -c 'lockdir -n L; ...; lockdir -u L' left L"
  done
  # Someone else still cannot.
  lockdir L
  run sh -c 'lockdir -u L'
  assert_failure 1
  lockdir -u L
}

# --- another user's lock ----------------------------------------------------------------

@test "with umask 0, another user can neither release nor break root's lock" {
  require_root
  mkdir -m 1777 pub
  umask 0
  lockdir pub/L
  umask 022
  assert_equal "$(stat -c %a pub/L)" 755
  assert_equal "$(stat -c %a pub/L/owner.*)" 644
  run as_nobody lockdir --break pub/L
  assert_failure 3
  assert_output --partial "cannot break 'pub/L' of pid $BASHPID"
  assert_output --partial "belongs to uid 0"
  run as_nobody lockdir -u --owner-pid="$BASHPID" pub/L
  assert_failure 1
  assert_output --partial "belongs to uid 0"
  assert_equal "$(owner_field pub/L pid)" "$BASHPID"
  lockdir -u pub/L
  # Not even the owner of the lock's directory: root's lock directory is
  # not its to empty.  A clear refusal, and the lock stays whole.
  mkdir -m 1777 theirs
  chown 65534:65534 theirs
  lockdir theirs/L
  run as_nobody lockdir --break theirs/L
  assert_failure 3
  assert_output --partial "belongs to uid 0; only that user or root may"
  run as_nobody lockdir -u --owner-pid="$BASHPID" theirs/L
  assert_failure 1
  assert_output --partial "belongs to uid 0; only that user or root may"
  assert_equal "$(owner_field theirs/L pid)" "$BASHPID"
  lockdir -u theirs/L
  # In a directory shared by a group, the lock is writable by the group.
  mkdir -m 775 shared
  (umask 077 && lockdir shared/L true && lockdir shared/L sh -c 'stat -c %a shared/L shared/L/owner.*') >modes
  assert_equal "$(cat modes)" "$(printf '775\n644')"
}

# --- flock habits (issue 12) -----------------------------------------------------------

@test "flock spellings: -x/--exclusive, --wait, --nb, -c COMMAND_STRING before or after LOCK" {
  run lockdir -x L true
  assert_success
  run lockdir --exclusive --wait 5 L true
  assert_success
  run lockdir --wait=5 L true
  assert_success
  run lockdir -c 'echo "one $LOCKDIR_TOKEN" | tr a-z A-Z' L
  assert_success
  assert_output "ONE 4"
  run lockdir L -c 'echo two; exit 4'
  assert_failure 4
  assert_output two
  run lockdir --command='test -d L && echo three' L
  assert_output three
  run lockdir L --command 'cat L/owner.* | grep ^command='
  assert_output "command=sh -c 'cat L/owner.* | grep ^command='"
  mkfifo gate
  background lockdir L sh -c 'read x <gate'
  wait_until test -d L
  run lockdir --nb L true
  assert_failure 75
  run lockdir --nonblock L -c true
  assert_failure 75
  run lockdir -n -c true L
  assert_failure 75
  echo >gate
  wait "$BG"
  # -c with a COMMAND as well is a usage error (125: the command form).
  run lockdir -c true L false
  assert_failure 125
  assert_output --partial "cannot be combined"
  run lockdir --status -c true L
  assert_usage_error lockdir
  # flock's other spelling of --wait.
  run lockdir --timeout 5 L true
  assert_success
  run lockdir --timeout=5 L true
  assert_success
}

@test "-c after LOCK without exactly one COMMAND_STRING, or -c twice, is a usage error and takes no lock" {
  # flock refuses these too; run, they took LOCK and then failed with
  # 127 ("cannot run '-c'"), or dropped the second string unsaid.
  run lockdir L -c
  assert_command_usage_error
  assert_line --partial "'-c' after LOCK takes exactly one COMMAND_STRING"
  run lockdir L -c 'echo one' 'echo two'
  assert_command_usage_error
  assert_line --partial "'-c' after LOCK takes exactly one COMMAND_STRING"
  run lockdir L --command
  assert_command_usage_error
  run lockdir L --command='echo one' 'echo two'
  assert_command_usage_error
  assert_line --partial "'--command=echo one' after LOCK takes exactly one"
  run lockdir -c 'echo one' L -c 'echo two'
  assert_command_usage_error
  assert_line --partial "-c COMMAND_STRING is given both before and after LOCK"
  refute_line one
  run lockdir -c 'echo one' L --command='echo two'
  assert_command_usage_error
  [ ! -e L ]
  [ ! -e L.last ]
}

@test "-c after LOCK with --status, -u, --renew, --break or --list is a usage error that says -c goes with acquiring" {
  # --status took '-c' and 'true' for two more LOCKs, skipped as no
  # locks: status 1 and no word; the others called '-c' an extra
  # operand.
  lockdir L
  local form
  for form in --status -u --renew --break --list; do
    run lockdir "$form" L -c true
    assert_equal "$status" 2
    assert_output "lockdir: -c goes with acquiring LOCK
Try 'lockdir --help' for more information."
    run lockdir "$form" L --command=true
    assert_equal "$status" 2
    assert_line --index 0 "lockdir: -c goes with acquiring LOCK"
  done
  # Still held: nothing was done.
  run lockdir --status L
  assert_success
  lockdir -u L
}

@test "-n, -w, -E and --lease, which only acquiring uses, are usage errors with --status, -u, --renew, --break and --list, which do nothing" {
  # They were dropped without a word: 'lockdir --break -n L' broke a
  # held L, and 'lockdir --renew --lease=1h L' kept L's lease.
  lockdir --lease=1h L
  local before form opt name
  before=$(cat L/owner.*)
  for form in --status -u --renew --break --list; do
    for opt in -n --nb "-w 5" --timeout=5 "-E 9" --lease=30s --lease=inf; do
      case $opt in
        -n | --nb) name=--nonblock ;;
        -w* | --timeout*) name=--wait ;;
        -E*) name=--conflict-exit-code ;;
        --lease*) name=--lease ;;
      esac
      run lockdir $form $opt L
      assert_equal "$status" 2
      assert_output "lockdir: $name goes with acquiring
Try 'lockdir --help' for more information."
    done
  done
  # Held as before, with its lease.
  assert_equal "$(cat L/owner.*)" "$before"
  lockdir -u L
}

@test "-v is a usage error with --status, --list, -u and --renew, which it changed nothing in; with --break it names the holding ended" {
  # 'lockdir --status -v L' said nothing more, and -u -v released in
  # silence.
  lockdir L
  local before form
  before=$(cat L/owner.*)
  for form in --status --list -u --release --renew; do
    for opt in -v --verbose; do
      run lockdir $form $opt L
      assert_equal "$status" 2
      assert_output "lockdir: --verbose goes with acquiring or --break
Try 'lockdir --help' for more information."
    done
  done
  # With --etcd as well, before any request.
  run lockdir --etcd=http://127.0.0.1:9 -v -u L
  assert_equal "$status" 2
  assert_output --partial "lockdir: --verbose goes with acquiring or --break"
  # Held as before.
  assert_equal "$(cat L/owner.*)" "$before"
  run --separate-stderr lockdir -v --break L
  assert_success
  assert_equal "${#stderr_lines[@]}" 1
  [[ ${stderr_lines[0]} == "lockdir: broke lock 'L' held by pid "* ]] ||
    fail "$stderr"
  [ ! -e L ]
}

@test "lockdir -n 9 (flock's descriptor idiom) is refused: lockdir locks names" {
  run lockdir -n 9
  assert_usage_error lockdir
  assert_output --partial "lockdir locks names, not file descriptors: '9' would be a lock named '9' in the current directory (write ./9 if that is what you mean)"
  [ ! -e 9 ]
  run lockdir 9 true
  assert_failure 125
  run lockdir -u 9
  assert_usage_error lockdir
  run lockdir -n ./9 true
  assert_success
  run lockdir -n 9x true
  assert_success
}

@test "--verbose says when it starts waiting, for whom, and when and after how long it got the lock" {
  mkfifo gate
  background lockdir L sh -c 'read x <gate'
  holder=$BG
  wait_until sh -c 'lockdir --status L | grep -q child_pid'
  background sh -c 'exec lockdir -v -w 30 L true 2>err'
  waiter=$BG
  wait_until grep -q waiting err
  grep -q "^lockdir: waiting for 'L', held by pid $holder on $(uname -n) for [0-9]*s: sh -c 'read x <gate'\$" err ||
    fail "$(cat err)"
  echo >gate
  wait "$holder"
  wait "$waiter"
  grep -Eq "^lockdir: acquired 'L' \(token 2\) after [0-9]+\.[0-9]{3} s\$" err ||
    fail "$(cat err)"
  assert_equal "$(wc -l <err)" 2
  # Without a wait, it only says that it got it.
  run lockdir -v L true
  assert_output --regexp "^lockdir: acquired 'L' \(token 3\) after 0\.[0-9]{3} s\$"
}

@test "the busy message names the holder's command and how long it has held the lock" {
  mkfifo gate
  background lockdir L sh -c 'read x <gate'
  wait_until sh -c 'lockdir --status L | grep -q child_pid'
  run lockdir -n L true
  assert_failure 75
  assert_output --regexp "^lockdir: 'L' is held by pid $BG on $(uname -n) for [0-9]+s: sh -c 'read x <gate'\$"
  echo >gate
  wait "$BG"
}

# Assert that L's owner record names the command line PREFIX and then
# two-byte characters, cut between two of them before its "...", within
# what the record keeps (DIRLOCK_COMMAND_MAX, 2047 bytes).
assert_command_cut_between_characters() {
  local line
  line=$(grep -a '^command=' L/owner.*)
  [[ $line == "command=$1éé"*"é..." ]] ||
    fail "not cut as expected: $(tail -c 40 <<<"$line" | od -c)"
  iconv -f UTF-8 -t UTF-8 <<<"$line" >/dev/null ||
    fail "the command line in the record is not valid UTF-8"
  ((${#line} <= 8 + 2047)) || fail "${#line} bytes"
}

# The owner record keeps DIRLOCK_COMMAND_MAX (2047) bytes of the command
# line, the last three "...": the 25 bytes of "sh -c 'read x <gate' sh x"
# leave 2019 for the two-byte characters, so a cut in bytes would end in
# half a character.
@test "a long UTF-8 command line is cut between two characters in the owner record" {
  mkfifo gate
  local long
  long=$(printf 'é%.0s' {1..1100})
  LC_ALL=C.UTF-8 background lockdir L sh -c 'read x <gate' sh "x$long"
  wait_until sh -c 'grep -qs "^child_pid=" L/owner.*'
  assert_command_cut_between_characters "sh -c 'read x <gate' sh x"
  echo >gate
  wait "$BG"
}

# The script form names its caller's command line, read from /proc, as
# shell words: the 24 bytes of "sh -c 'lockdir L; :' sh " and the "x"
# leave 2019 for the two-byte characters before the "...", so a cut in
# bytes would end in half a character.
@test "a caller's long UTF-8 command line is cut between two characters in the owner record" {
  local long
  long=$(printf 'é%.0s' {1..1100})
  LC_ALL=C.UTF-8 sh -c 'lockdir L; :' sh "x$long"
  assert_command_cut_between_characters "sh -c 'lockdir L; :' sh x"
}

# --- leases in the script form (issue 12) -------------------------------------------

@test "--renew refreshes a script's leased lock; only its owner may renew it" {
  lockdir --lease=1m L
  # A heartbeat 50 s old: the lease has not run out yet.
  touch -d '50 seconds ago' L/owner.*
  planted=$(stat -c %Y L/owner.*)
  # Renewed, its heartbeat is new, and nobody breaks it.
  lockdir --renew L
  [ "$(stat -c %Y L/owner.*)" -gt "$planted" ]
  run lockdir --status L
  assert_success
  run lockdir -n -v L true
  assert_failure 75
  refute_output --partial "broke"
  # Only its owner may renew it.
  run sh -c 'lockdir --renew L'
  assert_failure 1
  assert_output --partial "cannot renew 'L': it is held by pid $BASHPID"
  # Not renewed, the lease expires: the next acquirer breaks the lock.
  touch -d '2 minutes ago' L/owner.*
  run lockdir -v -n L true
  assert_success
  assert_output --partial "its lease expired"
  run lockdir --renew L
  assert_failure 1
  assert_output --partial "it is not held"
}

@test "--renew after the lease ran out fails (1), says when it ran out and that the lock may have been broken, and changes nothing" {
  # A breaker may judge such a lock stale at any moment, and break it
  # after a renewal: the renewal must not tell the caller it holds it.
  # ('run' is a subshell: the shell that owns L is $BASHPID.)
  lockdir --lease=1m L
  touch -d '2 minutes ago' L/owner.*
  planted=$(stat -c %y L/owner.*)
  run lockdir --renew --owner-pid=$BASHPID L
  assert_failure 1
  assert_output --regexp "^lockdir: cannot renew 'L': its lease ran out at [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+[+-][0-9]{2}:[0-9]{2} \([0-9]+\.[0-9]{3} s ago\), and it may have been broken; not renewed$"
  [ "$(stat -c %y L/owner.*)" = "$planted" ]
  run lockdir --status L
  assert_failure 4
  run lockdir -q --renew --owner-pid=$BASHPID L
  assert_failure 1
  assert_output ""
  # The issue's case: a short lease run out by itself, nobody has broken
  # the lock yet.
  lockdir -u L
  lockdir --lease=200ms M
  wait_until sh -c 'lockdir --status M | grep -qx stale=yes'
  run lockdir --renew --owner-pid=$BASHPID M
  assert_failure 1
  assert_output --partial "cannot renew 'M': its lease ran out at "
  run lockdir --status M
  assert_failure 4
}

@test "--renew in a background loop keeps the lock past its lease, as the README shows" {
  lockdir --lease=2s L
  start=$(stat -c %Y L/owner.*)
  # ($$ in a script; in a bats test the shell that owns L is $BASHPID.)
  me=$BASHPID
  (while sleep 0.5; do lockdir --renew --owner-pid=$me L || break; done) 3>&- &
  renewer=$!
  BG_PIDS=$renewer
  # Wait until a renewal lands after the first lease would have ended:
  # then the lock is alive (status 0), not stale (4).
  wait_until sh -c "[ \$(stat -c %Y L/owner.*) -ge $((start + 3)) ]"
  run lockdir --status L
  assert_success
  lockdir -u L
  wait "$renewer" || true
}

@test "--status: 4 for a lock whose owner is dead, 0 live, 1 free" {
  make_dead_lock L
  run lockdir --status L
  assert_failure 4
  assert_line stale=yes
  run lockdir --status --json L
  assert_failure 4
  lockdir L
  run lockdir --status L
  assert_success
  assert_line --regexp '^age=[0-9]+$'
  lockdir -u L
  run lockdir --status L
  assert_failure 1
}

@test "--status while the holding ends and its owner exits: free (1), not stale (4)" {
  command -v strace >/dev/null || skip "strace is not installed"
  mkfifo gate
  # A script holds L (the script form: sh is the owner), and releases
  # it and exits once --status has read L's record.
  background sh -c 'lockdir -n L || exit 9; : >taken; read x <gate
                    lockdir -u L && : >released'
  local holder=$BG
  wait_until test -e taken
  # --status is held at its look at the queue, after the look at L,
  # until strace lets it go (killed: a tracee goes on when its tracer
  # is gone): meanwhile the holding ends, and its owner is gone.
  background strace -f -qq -o trace -P L.queue -e trace=openat \
    -e inject=openat:delay_enter=60000000:when=1 \
    sh -c 'lockdir --status L >status 2>&1; echo $? >rc'
  local tracer=$BG
  wait_until grep -qs 'L.queue' trace
  echo >gate
  wait "$holder"
  [ -e released ]
  kill -KILL "$tracer"
  wait "$tracer" || true
  wait_until test -s rc
  local rc
  rc=$(cat rc)
  # A released lock, not an abandoned one: a script told "stale" might
  # break it, and with it the next holding.
  [ "$rc" = 1 ] || fail "status $rc: $(cat status)"
  refute grep -q stale status
}

@test "--status of several operands none of which is a lock: nothing printed, status 1 (none is held)" {
  echo x >F
  mkdir D
  touch D/y
  run lockdir --status F D
  assert_failure 1
  assert_output ""
  run lockdir --status --json F D
  assert_failure 1
  assert_output ""
  # With one lock among them, its status.
  lockdir L
  run lockdir --status F L D
  assert_success
  assert_output --regexp "^L: held by pid $BASHPID on "
}

@test "LOCK a symbolic link, to a lock or to nothing: refused by every form, and the message says it is a link" {
  make_dead_lock dead
  ln -s dead link
  ln -s nowhere dangling
  local msg="it is a symbolic link, which lockdir does not follow"
  run lockdir --status link
  assert_failure 3
  assert_output "lockdir: cannot read 'link': $msg"
  run lockdir --break link
  assert_failure 3
  assert_output "lockdir: cannot break 'link': $msg"
  run lockdir -u link
  assert_failure 3
  assert_output "lockdir: cannot release 'link': $msg"
  run lockdir -n dangling true
  assert_failure 125
  assert_output "lockdir: cannot acquire 'dangling': $msg"
  run lockdir --status dangling
  assert_failure 3
  assert_output "lockdir: cannot read 'dangling': $msg"
  # Nothing changed: the link, and the lock it leads to.
  [ -L link ] && [ -L dangling ] && [ ! -e nowhere ]
  run lockdir --status dead
  assert_failure 4
}

@test "--status of several: a lock that cannot be read (3) wins over a stale one (4), as --help says" {
  make_dead_lock dead
  mkdir bad
  mkfifo bad/owner.0123456789abcdef0123456789abcdef
  run lockdir --status dead bad
  assert_failure 3
  run lockdir --status bad dead
  assert_failure 3
  run lockdir --help
  assert_output --partial "several LOCKs, the highest status is lockdir's, except that 3 (one
     could not be read) wins over 4"
}

@test "--list and --status of several: a lock named like a history or a queue (job.last, x.queue) is listed as itself" {
  mkfifo gate gate2
  background lockdir job.last sh -c 'read x <gate'
  local first=$BG
  background lockdir x.queue sh -c 'read x <gate2'
  wait_until test -d job.last
  wait_until test -d x.queue
  lockdir free true
  run lockdir --list .
  assert_success
  assert_line --index 0 "free: free"
  assert_line --index 1 --regexp "^job\.last: held by pid $first on "
  assert_line --index 2 --regexp "^x\.queue: held by pid $BG on "
  assert_equal "${#lines[@]}" 3
  run lockdir --status job.last free.last
  assert_failure 1
  assert_line --index 0 --regexp "^job\.last: held by pid $first on "
  assert_line --index 1 "free: free"
  echo >gate
  echo >gate2
  wait "$first"
  wait "$BG"
}

@test "--list: a lock x.queue that may not be read, with no lock x, is named alone (3); beside a lock x, as x's queue; the others are shown" {
  require_root
  require_setpriv
  chmod o+x "$BATS_TEST_TMPDIR"
  mkdir M
  lockdir x.queue
  chmod 700 x.queue
  # Before, "cannot read 'x': cannot read 'x.queue': Permission
  # denied", of a lock x that is not there.
  run --separate-stderr as_nobody lockdir --list .
  assert_failure 3
  assert_output "M: free"
  assert_equal "$stderr" "lockdir: cannot read 'x.queue': Permission denied"
  run --separate-stderr as_nobody lockdir --list --json .
  assert_failure 3
  assert_output '{"lock":"M","held":false}'
  jq -e . <<<"$output" >/dev/null
  assert_equal "$stderr" "lockdir: cannot read 'x.queue': Permission denied"
  # Beside a lock x it may be x's queue: x's line names it, as before.
  lockdir x
  run --separate-stderr as_nobody lockdir --list .
  assert_failure 3
  assert_output "M: free"
  assert_equal "$stderr" "lockdir: cannot read 'x': cannot read 'x.queue': Permission denied"
  lockdir -u x
  chmod 755 x.queue
  lockdir -u x.queue
}

# x.last says x was a lock: the x.queue beside it is x's queue, and x,
# listed for its history, names it; not a second time alone.
@test "--list: an x.queue that may not be read, beside x.last with no lock x, is named once, as x's queue (3)" {
  require_root
  require_setpriv
  chmod o+x "$BATS_TEST_TMPDIR"
  mkdir M
  lockdir x
  lockdir -u x
  mkdir x.queue
  chmod 700 x.queue
  # Before, also "cannot read 'x.queue': Permission denied" on a line
  # of its own.
  run --separate-stderr as_nobody lockdir --list .
  assert_failure 3
  assert_output "M: free"
  assert_equal "$stderr" "lockdir: cannot read 'x': cannot read 'x.queue': Permission denied"
}

@test "--list: a failed read (EIO) of a directory L.queue names L.queue, or L if L's read failed, status 3; the others are shown" {
  command -v strace >/dev/null || skip "strace is not installed"
  mkdir M
  lockdir L
  mkdir L.queue
  # The first open of L.queue is the listing's, to learn whether it
  # is a lock (it holds an owner record) or L's queue; the second is
  # L's reading of its queue.  (strace says how it resolved L.queue
  # on stderr: set apart.)
  local list="strace -qq -o /dev/null -P L.queue -e trace=openat"
  # Before, "cannot list the locks in '.': Input/output error", and
  # nothing listed.
  run --separate-stderr $list -e inject=openat:error=EIO:when=1 \
    lockdir --list .
  assert_failure 3
  assert_equal "$(grep -v '^strace: ' <<<"$stderr")" \
    "lockdir: cannot read 'L.queue': Input/output error"
  assert_line --index 0 --regexp "^L: held by pid [0-9]+ on "
  assert_line --index 1 "M: free"
  assert_equal "${#lines[@]}" 2
  run --separate-stderr $list -e inject=openat:error=EIO:when=1 \
    lockdir --list --json .
  assert_failure 3
  assert_equal "${#lines[@]}" 2
  jq -e '.lock == "L" and .held' <<<"${lines[0]}"
  jq -e '.lock == "M" and (.held | not)' <<<"${lines[1]}"
  assert_equal "$(grep -v '^strace: ' <<<"$stderr")" \
    "lockdir: cannot read 'L.queue': Input/output error"
  run --separate-stderr $list -e inject=openat:error=EIO:when=2 \
    lockdir --list .
  assert_failure 3
  assert_output "M: free"
  assert_equal "$(grep -v '^strace: ' <<<"$stderr")" \
    "lockdir: cannot read 'L': cannot read 'L.queue': Input/output error"
  # Without L (free, its history L.last left), the same.
  lockdir -u L
  mkdir -p L.queue
  run --separate-stderr $list -e inject=openat:error=EIO:when=1 \
    lockdir --list .
  assert_failure 3
  assert_output "L: free
M: free"
  assert_equal "$(grep -v '^strace: ' <<<"$stderr")" \
    "lockdir: cannot read 'L.queue': Input/output error"
}

@test "--list: a failed read (EIO) of a lock named like a queue (x.queue) is an error (3), never a free lock x" {
  command -v strace >/dev/null || skip "strace is not installed"
  mkdir d
  lockdir d/x.queue
  # The first getdents64 reads d's entries; the second, x.queue's, to
  # learn whether it holds an owner record (a lock) or not (a queue).
  run strace -qq -o /dev/null -e trace=getdents64 \
    -e inject=getdents64:error=EIO:when=2 lockdir --list d
  assert_failure 3
  assert_output "lockdir: cannot read 'd/x.queue': Input/output error"
  run lockdir --list d
  assert_success
  assert_output --regexp "^d/x\.queue: held by pid $BASHPID on "
  lockdir -u d/x.queue
}

@test "--status DIR/* and --list DIR: one line per lock, in text and JSON" {
  mkdir d
  mkfifo gate
  background lockdir d/busy sh -c 'read x <gate'
  wait_until sh -c 'lockdir --status d/busy | grep -q child_pid'
  lockdir d/free true
  make_dead_lock d/dead
  # Other files and directories are passed over (/run/lock has some).
  mkdir d/not-a-lock && : >d/not-a-lock/x && : >d/file
  run lockdir --status d/*
  assert_failure 4
  assert_equal "${#lines[@]}" 3
  assert_line --index 0 --regexp "^d/busy: held by pid $BG on $(uname -n) for [0-9]+s \(token 1\): sh -c 'read x <gate'\$"
  assert_line --index 1 --regexp "^d/dead: stale \(its owner is dead\), held by pid [0-9]+ on .* \(token 1\): "
  assert_line --index 2 "d/free: free"
  run lockdir --list d
  assert_success
  assert_equal "${#lines[@]}" 3
  assert_line --index 0 --partial "d/busy: held by pid $BG"
  run lockdir --list --json d
  assert_equal "${#lines[@]}" 3
  echo "${lines[0]}" | jq -e '.lock == "d/busy" and .held and (.age | type == "number") and .command == "sh -c '"'"'read x <gate'"'"'"'
  echo "${lines[1]}" | jq -e '.lock == "d/dead" and .stale'
  echo "${lines[2]}" | jq -e '.lock == "d/free" and (.held | not)'
  (cd d && lockdir --list .) >here
  assert_equal "$(head -c 6 here)" "busy: "
  echo >gate
  wait "$BG"
}

@test "--list of the current directory, however spelt (., ./, .//, ././), names each lock bare; sub/, .. and ../ keep sub/L and ../L" {
  mkdir sub
  lockdir L true
  lockdir sub/L true
  local dir
  for dir in . ./ .// ././ ./././/; do
    run lockdir --list "$dir"
    assert_success
    assert_output "L: free"
    run lockdir --list --json "$dir"
    assert_success
    echo "$output" | jq -e '.lock == "L"'
  done
  for dir in sub sub/ ./sub; do
    run lockdir --list "$dir"
    assert_success
    assert_output "${dir%/}/L: free"
  done
  # A name that only starts with dots is a directory of its own.
  mkdir .x && lockdir .x/L true
  run lockdir --list .x/
  assert_output ".x/L: free"
  # Nor is ".." the current directory: the parent's locks keep "../".
  cd sub
  for dir in .. ../; do
    run lockdir --list "$dir"
    assert_success
    assert_output "../L: free"
    run lockdir --list --json "$dir"
    assert_success
    echo "$output" | jq -e '.lock == "../L"'
  done
}

# --- every command the documentation shows ----------------------------------------------

# (tests/docs.bats runs the examples of --help, of the manual page and
# the README's code blocks; here, the commands the README's lockdir
# section writes inline and in its flock table, in the same sandbox.)

@test "every lockdir command written inline in the README runs as printed" {
  [ "$(id -u)" -eq 0 ] || skip "needs root (a private mount namespace)"
  unshare --mount --propagation private true 2>/dev/null ||
    skip "cannot make a private mount namespace here"
  load examples_helper
  readme=$BATS_TEST_DIRNAME/../README.md
  # Placeholders: LOCK is a lock's name, DIR a directory (the current
  # one), cmd, work and filter stand for the user's programs.
  sed -n '/^## lockdir/,/^## /p' "$readme" |
    grep -o '`[^`]*`' | tr -d '`' | sed 's/\\|/|/g' |
    grep -E '^(\( |tok=\$\()?lockdir |^\(while .*lockdir ' |
    grep -v -e '^lockdir LOCK COMMAND' -e '^lockdir -n 9$' |
    sed 's|DIR/\*|./*|; s| DIR$| .|' >inline
  [ "$(wc -l <inline)" -ge 20 ] || fail "too few commands: $(cat inline)"
  mkdir blocks
  n=0
  while IFS= read -r line; do
    n=$((n + 1))
    {
      # What the block before left (here, not at its end: a block's
      # EXIT trap, 'lockdir -u LOCK', runs after its last line).
      echo 'rm -rf LOCK LOCK.last'
      # -u and --renew need the lock held by the script that runs them,
      # and --status and --break show a held one (free, they say 1) --
      # unless the line takes it itself first ('lockdir -n LOCK || ...').
      case ${line#*lockdir } in
        '-u '* | --renew* | --status* | --break*)
          echo 'lockdir --lease=1m LOCK' ;;
      esac
      printf '%s\n' "$line"
      # A renewal loop in the background: until its first renewal
      # (line 3 of this block) is done, then stop it and release.
      case $line in
        *'&') printf '%s\n' \
          'until grep -q "^0 3 lockdir" "$DOCS_LOG"; do sleep 0.05; done' \
          'kill $!' 'lockdir -u LOCK' ;;
      esac
      # Never run (':' succeeds), but makes the sandbox stub them.
      echo ': || cmd || filter || work'
    } >"blocks/block.$n"
  done <inline
  # Every command exits 0 but this one: the sandbox's current
  # directory holds empty directories too, free locks.
  EXAMPLE_STATUSES=('README inline: 1 lockdir --status ./*')
  run examples_run_blocks "$PWD/blocks" "$n" "README inline"
  assert_output ""
  # Shown as what is refused: flock's descriptor idiom.
  run lockdir -n 9
  assert_usage_error lockdir
}

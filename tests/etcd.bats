#!/usr/bin/env bats
# lockdir --etcd: a lock across hosts in etcd, served in FIFO order, that
# never lets a holder run on a lost lock.  A real etcd on 127.0.0.1.

load test_helper
load etcd_helper

setup_file() {
  command -v etcd >/dev/null 2>&1 || return 0
  # One server for the tests that do not stop it.
  ETCD_SCHEME=http etcd_start "$BATS_FILE_TMPDIR/etcd"
  echo "$ETCD_URL" >"$BATS_FILE_TMPDIR/url"
  echo "$ETCD_PID" >"$BATS_FILE_TMPDIR/pid"
}

teardown_file() {
  etcd_stop_all
}

setup() {
  common_setup
  require_etcd
  lockdir --etcd=http://127.0.0.1:1 --status x 2>&1 | grep -q 'was not built' &&
    skip "lockdir was built without the etcd backend"
  ETCD_URL=$(cat "$BATS_FILE_TMPDIR/url")
  ETCD_PID=$(cat "$BATS_FILE_TMPDIR/pid")
  # Each test its own lock names.
  L=t$BATS_SUITE_TEST_NUMBER/lock
}

teardown() {
  # (With the commands a SIGKILLed lock holder left running.)
  reap_background
}

# lockdir on the test's etcd; bg_le runs it in the background, as $BG.
le() { lockdir --etcd="$ETCD_URL" "$@"; }
bg_le() { background lockdir --etcd="$ETCD_URL" "$@"; }

# command_in_record: the record of $L names COMMAND's process.  lockdir
# rewrites the record once COMMAND has started, and may learn then that
# the lock is gone: a test that takes the lock away from a holder waits
# for this first, so that the holder learns it where the test expects.
command_in_record() { le --status "$L" | grep -q '^child_pid='; }

# hold_and_queue N: a holder of lock $L (running until the test ends),
# then N waiters ('true'), each queued before the next comes.  Sets
# HOLDER and WAITERS (their lockdir pids, in order).
hold_and_queue() {
  local n=$1 i
  bg_le "$L" sh -c 'touch held; sleep 30'
  HOLDER=$BG
  wait_until test -f held
  WAITERS=()
  for ((i = 1; i <= n; i++)); do
    bg_le "$L" true
    WAITERS+=("$BG")
    wait_until etcd_queued "$L" $((i + 1))
  done
}

# The value of KEY in --status of etcd lock NAME.
status_field() {
  le --status "$1" | sed -n "s/^$2=//p"
}

# Milliseconds since the epoch.
now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

# --- command line ---------------------------------------------------------

@test "--help describes --etcd, its options and status 76" {
  run lockdir --help
  assert_success
  assert_output --partial '--etcd=URL[,URL]...'
  assert_output --partial '--cacert=FILE'
  assert_output --partial '--user=USER:PASSWORD'
  assert_output --partial '76   the lock was lost'
}

@test "a lock name of 512 bytes is taken, one of 513 is a usage error (the man page's limit)" {
  local name
  name=t$BATS_SUITE_TEST_NUMBER/$(printf "%0$((511 - ${#BATS_SUITE_TEST_NUMBER} - 1))d" 0)
  assert_equal "${#name}" 512
  run le "$name" true
  assert_success
  run le "${name}1"
  assert_usage_error lockdir
  assert_output --partial "may have at most 512 bytes"
}

@test "a bad lock name: status 2 without COMMAND, 125 with; nothing queued" {
  run le ''
  assert_usage_error lockdir
  assert_output --partial 'may not be empty'
  run le "$(printf 'a\tb')"
  assert_usage_error lockdir
  assert_output --partial 'control characters'
  run le 'deploy/' true
  assert_equal "$status" 125
  assert_output --partial "may not end in '/'"
  run le "$(printf 'caf\xe9')" true
  assert_equal "$status" 125
  assert_output --partial 'UTF-8'
  run le --lease=1 "$L" true
  assert_equal "$status" 125
  assert_output --partial 'at least 2s'
  run le --status "$L"
  assert_equal "$status" 1
}

@test "bad endpoints and TLS options without --etcd are usage errors" {
  run lockdir --etcd=ftp://x "$L"
  assert_usage_error lockdir
  assert_output --partial 'http:// or https://'
  run lockdir --cacert=/dev/null "$L"
  assert_usage_error lockdir
  run lockdir --etcd="$ETCD_URL" --check-fs "$L"
  assert_usage_error lockdir
}

@test "an endpoint URL with a user or password in it is a usage error that does not show it: --user is the way" {
  local url=${ETCD_URL/http:\/\//http://root:s3cret@}
  run lockdir --etcd="$url" "$L"
  assert_usage_error lockdir
  assert_output --partial 'LOCKDIR_ETCD_USER'
  refute_output --partial 's3cret'
  run lockdir --etcd="$ETCD_URL,$url" "$L" env
  assert_equal "$status" 125
  refute_output --partial 's3cret'
  LOCKDIR_ETCD=$url run lockdir --status --json "$L"
  assert_usage_error lockdir
  refute_output --partial 's3cret'
  run lockdir --etcd="${ETCD_URL/http:\/\//http://root@}" -v "$L" true
  assert_equal "$status" 125
  assert_output --partial 'LOCKDIR_ETCD_USER'
  # An @ after the host is a path's, not a password.
  run lockdir --etcd="$ETCD_URL/@x" --status "$L"
  refute_output --partial 'LOCKDIR_ETCD_USER'
}

@test "a password in an endpoint is not shown when another endpoint, or its own scheme, is the mistake" {
  local url=${ETCD_URL/http:\/\//http://root:s3cret@}
  run lockdir --etcd="ftp://x,$url" "$L"
  assert_usage_error lockdir
  refute_output --partial 's3cret'
  run lockdir --etcd="$ETCD_URL/a b,$url" "$L" true
  assert_equal "$status" 125
  refute_output --partial 's3cret'
  LOCKDIR_ETCD="ftp://root:s3cret@x" run lockdir --status "$L"
  assert_usage_error lockdir
  refute_output --partial 's3cret'
  # A mistake with no password in sight is still shown.
  run lockdir --etcd="ftp://x,$ETCD_URL" "$L"
  assert_usage_error lockdir
  assert_output --partial "ftp://x,$ETCD_URL"
}

@test "without COMMAND: the keeper keeps none of the caller's descriptors (a reader of a pipe lockdir had sees its end)" {
  mkfifo fifo
  cat fifo >/dev/null &
  local reader=$!
  # fd 5 is the only writer of the pipe once lockdir has exited, unless
  # the keeper kept it: then the reader would wait as long as the lock
  # is held.
  le "$L" 5>fifo
  wait_until is_dead "$reader"
  # Not under run: the owner is this shell, not run's subshell.
  le -u "$L"
}

@test "--lease=inf with --etcd is a usage error, not the default TTL in silence" {
  run le --lease=inf "$L"
  assert_usage_error lockdir
  assert_output --partial "--lease=inf does not apply to a lock in etcd"
  run le --lease=inf "$L" true
  assert_equal "$status" 125
  # Nothing was taken.
  run le --status "$L"
  assert_equal "$status" 1
}

@test "forms that only a directory lock has are usage errors with --etcd" {
  run le --renew "$L"
  assert_usage_error lockdir
  assert_output --partial 'do not apply to a lock in etcd'
  run le --list "$L"
  assert_usage_error lockdir
  run le -s "$L" true
  assert_equal "$status" 125
  assert_output --partial 'it is exclusive, and always a queue'
  run le --no-queue "$L"
  assert_usage_error lockdir
  run le --status "$L" "$L/other"
  assert_usage_error lockdir
  assert_output --partial "extra operand '$L/other': with --etcd, --status, --release and --break take one operand"
}

@test "an extra operand with --etcd names only the forms --etcd has, and --renew is refused as such" {
  local form
  for form in -u --break --status; do
    run le "$form" "$L" b
    assert_usage_error lockdir
    assert_line --index 0 "lockdir: extra operand 'b': with --etcd, --status, --release and --break take one operand"
  done
  LOCKDIR_ETCD=$ETCD_URL run lockdir -u "$L" b
  assert_usage_error lockdir
  assert_line --index 0 "lockdir: extra operand 'b': with --etcd, --status, --release and --break take one operand"
  run le --renew "$L" b
  assert_usage_error lockdir
  assert_line --index 0 "lockdir: --renew and --list do not apply to a lock in etcd"
  # Without --etcd, the directory lock's forms.
  run lockdir -u "$L" b
  assert_usage_error lockdir
  assert_output --partial "--release, --renew, --break and --list take one operand"
}

# --- the command form -----------------------------------------------------

@test "COMMAND runs holding the lock; its status is lockdir's; free after" {
  run le "$L" sh -c 'lockdir --etcd="$0" --status "$1" >held; exit 7' "$ETCD_URL" "$L"
  assert_equal "$status" 7
  grep -q "^pid=" held
  grep -q "^backend=etcd" held
  run le --status "$L"
  assert_equal "$status" 1
}

@test "-c COMMAND_STRING runs through sh -c, holding the lock" {
  run le -c 'echo "$LOCKDIR_PATH" | tr a-z A-Z' "$L"
  assert_success
  assert_output "$(echo "$L" | tr a-z A-Z)"
}

@test "LOCKDIR_ETCD in the environment is the same as --etcd" {
  LOCKDIR_ETCD=$ETCD_URL run lockdir "$L" sh -c 'echo "$LOCKDIR_PATH"'
  assert_success
  assert_output "$L"
}

@test "the record names lockdir, its command and the token; COMMAND inherits no descriptor" {
  assert_no_inherited_fds lockdir --etcd="$ETCD_URL" "$L"
  # COMMAND enters the record as soon as it has started.
  run le "$L" sh -c '
    until lockdir --etcd="$0" --status "$1" | grep -q "^child_pid=$$"; do
      sleep 0.01
    done
    lockdir --etcd="$0" --status "$1" >record
    echo "$LOCKDIR_TOKEN" >token' "$ETCD_URL" "$L"
  assert_success
  grep -qx "host=$(uname -n)" record
  grep -qx "uid=$(id -u)" record
  grep -q "^command=sh -c" record || fail "$(cat record)"
  grep -qx "token=$(cat token)" record
  grep -q '^lease=10' record
}

@test "--lease that is no whole number of seconds: the record says the TTL etcd granted (rounded up), as -v does" {
  run --separate-stderr le -v --lease=2.5s "$L" sh -c \
    'lockdir --etcd="$0" --status "$1" | grep "^lease="' "$ETCD_URL" "$L"
  assert_success
  assert_output "lease=3.000"
  assert_equal "${stderr#*TTL }" "3s) after ${stderr##*after }"
}

@test "exec errors: 127 for a missing command, 126 for one that cannot run; lock free" {
  run -127 le "$L" /nonexistent/command
  assert_output --partial "cannot run '/nonexistent/command'"
  touch notexec
  run -126 le "$L" ./notexec
  run le --status "$L"
  assert_equal "$status" 1
}

@test "a message into a pipe nobody reads changes no status and stops nothing (no SIGPIPE); COMMAND gets SIGPIPE as the caller had it" {
  # As in lockdir.bats: -v says "acquired" before COMMAND starts.
  run broken_stderr lockdir --etcd="$ETCD_URL" -v "$L" sh -c 'echo ran >ran'
  assert_output exit=0
  [ -e ran ]
  run le --status "$L"
  assert_failure 1
  run broken_stderr lockdir --etcd="$ETCD_URL" "$L" /nonexistent/command
  assert_output exit=127
  # (Bit 12: SIGPIPE.)
  run le "$L" grep SigIgn: /proc/self/status
  [ $((0x${output##*[[:space:]]} >> 12 & 1)) = 0 ] || fail "SIGPIPE ignored: $output"
  run perl -e '$SIG{PIPE} = "IGNORE"; exec @ARGV' \
    lockdir --etcd="$ETCD_URL" "$L" sh -c 'grep SigIgn: /proc/self/status'
  [ $((0x${output##*[[:space:]]} >> 12 & 1)) = 1 ] || fail "SIGPIPE not ignored: $output"
}

@test "a command killed by signal N gives 128+N; --max-runtime gives 124, -k SIGKILL" {
  run le "$L" sh -c 'kill -USR1 $$'
  assert_equal "$status" $((128 + 10))
  # Killed by it too, after the release, as timeout(1) is: a shell loop
  # then ends at Ctrl-C (see lockdir.bats).
  run perl -e 'system @ARGV; print $? & 127, "\n"' \
    lockdir --etcd="$ETCD_URL" "$L" sh -c 'kill -USR1 $$'
  assert_output 10
  run le --status "$L"
  assert_failure 1
  run le --max-runtime=0.2 "$L" sleep 30
  assert_equal "$status" 124
  # exec: no orphaned sleep keeps run's output open for 30 s; an
  # ignored SIGTERM stays ignored across exec.
  run le --max-runtime=0.2 -k 0.2 "$L" sh -c 'trap "" TERM; exec sleep 30'
  assert_equal "$status" 124
}

@test "--etcd --max-runtime -k -v: a COMMAND that exits after lockdir's last look, before the SIGTERM, is neither signalled nor said stopped; its status stands" {
  command -v strace >/dev/null || skip "strace is not installed"
  # The first look finds COMMAND running; it exits, and its 100 ms
  # pass, before lockdir goes on.
  exit_in_delayed_wait 1 --etcd="$ETCD_URL" -v --max-runtime=100ms -k 1h "$L"
  # Before: 124, "sending SIGTERM", "exited after SIGTERM".
  assert_equal "$(cat status)" 7
  run cat err
  assert_line --index 0 --partial "lockdir: holding '$L'"
  assert_equal "${#lines[@]}" 1
  run grep kill trace
  assert_output ''
}

@test "-v: lockdir --etcd says when --max-runtime sends SIGTERM and -k SIGKILL (when due, or when COMMAND exits first), as without --etcd" {
  # COMMAND ignores SIGTERM (from lockdir's start): SIGKILL when due.
  run bash -c 'trap "" TERM; exec lockdir --etcd="$1" -v --max-runtime=100ms -k 200ms "$2" sleep 30' _ "$ETCD_URL" "$L"
  assert_equal "$status" 124
  assert_equal "${#lines[@]}" 3
  assert_line --index 1 "lockdir: the command under '$L' ran for 0.100 s (--max-runtime): sending SIGTERM to its process group"
  assert_line --index 2 "lockdir: the command under '$L' still ran 0.200 s after SIGTERM (--kill-after): sending SIGKILL to its process group"
  # COMMAND ends on SIGTERM: its group gets SIGKILL then.
  run le -v --max-runtime=100ms -k 1h "$L" sleep 30
  assert_equal "$status" 124
  assert_equal "${#lines[@]}" 3
  assert_line --index 1 "lockdir: the command under '$L' ran for 0.100 s (--max-runtime): sending SIGTERM to its process group"
  assert_line --index 2 "lockdir: the command under '$L' exited after SIGTERM was due: sent SIGKILL to its process group (--kill-after)"
  # --foreground: COMMAND alone is signalled.
  run le -v --max-runtime=100ms --foreground "$L" sleep 30
  assert_equal "$status" 124
  assert_equal "${#lines[@]}" 2
  assert_line --index 1 "lockdir: the command under '$L' ran for 0.100 s (--max-runtime): sending SIGTERM to it"
}

@test "--max-runtime stops the processes COMMAND started too (its process group)" {
  # The sleep writes elsewhere: one left running would hold run's
  # output open, and run would wait for it to end, passing anyway.
  run le --max-runtime=1s "$L" sh -c 'sleep 30 >/dev/null 2>&1 & echo $! >child; echo $! >>orphans; wait'
  assert_equal "$status" 124
  wait_until is_dead "$(cat child)"
}

@test "--max-runtime -k: a process of COMMAND's group that ignores SIGTERM gets SIGKILL when COMMAND exits, before the release" {
  # As in lockdir.bats: the straggler ignores SIGTERM from its start,
  # and would write 'survived' at the gate, opened once lockdir exited.
  mkfifo ready gate
  run le --max-runtime=1s -k 1h "$L" sh -c '
    env --ignore-signal=TERM sh -c "echo >ready; read x <gate; echo survived >out" >/dev/null 2>&1 &
    echo $! >straggler; echo $! >>orphans; read x <ready; exec sleep 30'
  assert_equal "$status" 124
  assert_no_straggler
}

@test "a lock lost while COMMAND runs stops every process COMMAND started, before another can hold it" {
  bg_le "$L" sh -c 'sleep 30 >/dev/null 2>&1 & echo $! >child; echo $! >>orphans; touch held; wait' 2>err
  local first=$BG
  wait_until test -f held
  wait_until command_in_record
  # --break revokes the lease: the lock is free for others at once.
  run le --break "$L"
  assert_success
  local status=0
  wait "$first" || status=$?
  assert_equal "$status" 76
  wait_until is_dead "$(cat child)"
}

@test "--foreground: COMMAND stays in lockdir's process group (without it, it has its own)" {
  run le --foreground "$L" sh -c 'ps -o pgid= -p $$ >pgid'
  assert_success
  assert_equal "$(tr -d ' ' <pgid)" "$(ps -o pgid= -p $$ | tr -d ' ')"
  run le "$L" sh -c 'ps -o pgid= -p $$ >pgid; echo $$ >pid'
  assert_success
  assert_equal "$(tr -d ' ' <pgid)" "$(cat pid)"
}

@test "--foreground: COMMAND can read the terminal; without it, it is stopped, and lockdir says so" {
  reads_terminal --etcd="$ETCD_URL" --foreground "$L"
  assert_equal "$status" 0
  assert_equal "$(tail -n 1 out)" "got hello"
  # The control: in a group of its own, COMMAND is stopped (SIGTTIN)
  # until --max-runtime ends it.
  reads_terminal --etcd="$ETCD_URL" --max-runtime=1s "$L"
  assert_equal "$status" 124
  refute grep -q "got hello" out
  assert_told_of_terminal_stop
}

@test "a signal passed on to a COMMAND the terminal stopped ends it (SIGCONT follows)" {
  ends_on_sigterm_while_stopped --etcd="$ETCD_URL" "$L"
  assert_equal "$status" 143
  run le --status "$L"
  assert_failure 1
}

@test "SIGTSTP (Ctrl-Z) stops COMMAND's process group with lockdir, and SIGCONT continues both" {
  # Not left running while lockdir cannot renew the lease.
  stops_with_lockdir --etcd="$ETCD_URL" "$L"
  assert_equal "$status" 143
}

@test "SIGTSTP stops lockdir as it stops other programs: its shell sees SIGTSTP, not SIGSTOP" {
  run tstp_stop_signal --etcd="$ETCD_URL" "$L"
  assert_output "$(kill -l TSTP)"
}

@test "SIGTSTP does not stop a lockdir in an orphaned process group, where no shell would continue it" {
  ends_after_tstp_when_orphaned --etcd="$ETCD_URL" "$L"
  assert_equal "$status" 143
}

@test "signals sent to lockdir reach COMMAND; lockdir exits with its status, lock free" {
  for sig in TERM HUP USR1 USR2 INT QUIT; do
    rm -f ready got
    # env --default-signal: a background job starts with SIGINT and
    # SIGQUIT ignored, and lockdir keeps an inherited "ignore".
    background env --default-signal lockdir --etcd="$ETCD_URL" "$L" sh -c \
      "trap 'echo $sig >got; exit 7' $sig; echo >ready; while :; do sleep 0.02; done"
    wait_until test -e ready
    kill -"$sig" "$BG"
    local status=0
    wait "$BG" || status=$?
    assert_equal "$status" 7
    assert_equal "$(cat got)" "$sig"
    run le --status "$L"
    assert_equal "$status" 1
  done
}

@test "a signal while waiting leaves the queue and kills lockdir with it" {
  hold_and_queue 1
  local holder=$HOLDER waiter=${WAITERS[0]}
  kill -TERM "$waiter"
  local status=0
  wait "$waiter" || status=$?
  assert_equal "$status" $((128 + 15))
  # Its key is gone at once, not when its lease expires.
  run etcd_queued "$L" 1
  assert_success
  kill -TERM "$holder"
}

@test "busy: -n fails at once with 75 (with COMMAND) or 1 (without); -E changes it; the holder is named" {
  bg_le "$L" sh -c 'touch held; sleep 30'
  wait_until test -f held
  run le -n "$L" true
  assert_equal "$status" 75
  assert_output --partial "is held by pid $BG on $(uname -n)"
  run le -n -E 3 "$L" true
  assert_equal "$status" 3
  run le -w 0.3 "$L" true
  assert_equal "$status" 75
  assert_output --partial 'is still held after the timeout'
  run le -n "$L"
  assert_equal "$status" 1
  # The failed attempts left no key behind.
  run etcd_queued "$L" 1
  assert_success
}

@test "busy with -E 0: status 0, as on a directory lock, COMMAND not run, and no key left (it crashed, SIGSEGV)" {
  bg_le "$L" sh -c 'touch held; sleep 30'
  wait_until test -f held
  # take_lock returned 0 for "held", and -E 0's busy status was taken
  # for it: lockdir went on with a lock it had freed.
  run le -n -E 0 "$L" touch ran
  assert_success
  assert_output --partial "is held by pid $BG on $(uname -n)"
  [ ! -e ran ]
  run le -w 0.3 -E 0 "$L" touch ran
  assert_success
  assert_output --partial 'is still held after the timeout'
  [ ! -e ran ]
  run le -q -n -E 0 "$L"
  assert_success
  assert_output ""
  # Not held by this shell: the script form took nothing.
  run le -u "$L"
  assert_failure 1
  run etcd_queued "$L" 1
  assert_success
  # The directory lock's -E 0, for comparison.
  background lockdir d sh -c 'touch held2; sleep 30'
  wait_until test -f held2
  run lockdir -n -E 0 d touch ran
  assert_success
  [ ! -e ran ]
}

@test "busy behind 'etcdctl lock': the message names its key, not a pid 0 on an empty host" {
  command -v etcdctl >/dev/null 2>&1 || skip "etcdctl is not installed (Debian: etcd-client)"
  background env ETCDCTL_API=3 etcdctl --endpoints="$ETCD_URL" lock "$L" -- \
    sh -c 'echo $$ >>orphans; touch held; exec sleep 30'
  wait_until test -f held
  run le -n "$L" true
  assert_equal "$status" 75
  refute_output --partial 'pid 0'
  assert_output --regexp "'$L' is held by the key '$L/[0-9a-f]+', which has no owner record"
}

@test "the busy message, -v's waiting line and -v --break name the holder's COMMAND, as for a directory lock" {
  bg_le "$L" sh -c 'touch held; exec sleep 30'
  local holder=$BG
  wait_until test -f held
  wait_until command_in_record
  local by="by pid $holder on $(uname -n) since [^ ]+: sh -c 'touch held; exec sleep 30'"
  run le -n "$L" true
  assert_equal "$status" 75
  assert_output --regexp "^lockdir: '$L' is held $by\$"
  run le -w 0.2 -v "$L" true
  assert_equal "$status" 75
  assert_line --index 0 --regexp "^lockdir: waiting for '$L', held $by\$"
  assert_line --index 1 --regexp "^lockdir: '$L' is still held after the timeout $by\$"
  run le -v --break "$L"
  assert_success
  assert_line --index 0 --regexp "^lockdir: broke lock '$L' held $by\$"
}

@test "-v says when it starts waiting and for whom, and how long it waited" {
  mkfifo gate
  bg_le "$L" sh -c 'touch held; read x <gate'
  local holder=$BG
  wait_until test -f held
  wait_until command_in_record
  bg_le -v "$L" true 2>err
  local waiter=$BG
  wait_until grep -q 'waiting for' err
  echo >gate
  wait "$holder"
  wait "$waiter"
  cat err
  grep -q "waiting for '$L', held by pid $holder on $(hostname) since " err
  grep -Eq "holding '$L' \(token [0-9]+, lease [0-9a-f]+, TTL 10s\) after [0-9]+\.[0-9]{3} s" err
}

@test "-v says which token and lease it holds; -q silences the busy message, not the status" {
  run le -v "$L" true
  assert_success
  assert_output --regexp "holding '?$L'? \(token [0-9]+, lease [0-9a-f]+, TTL 10s\)"
  bg_le "$L" sh -c 'touch held; sleep 30'
  wait_until test -f held
  run le -n -q "$L" true
  assert_equal "$status" 75
  assert_output ''
  run le -n "$L" true
  assert_equal "$status" 75
  assert_output --partial 'is held by pid'
}

@test "unreachable etcd: 125 with COMMAND, 3 without, naming the endpoint and the error" {
  run lockdir --etcd=http://127.0.0.1:1 "$L" true
  assert_equal "$status" 125
  assert_output --partial 'http://127.0.0.1:1'
  assert_output --partial 'onnect'
  run lockdir --etcd=http://127.0.0.1:1 "$L"
  assert_equal "$status" 3
  assert_output --partial 'http://127.0.0.1:1'
  run lockdir --etcd=http://127.0.0.1:1 --status "$L"
  assert_equal "$status" 3
}

@test "etcd silent from the start: 125 (3 without COMMAND) a second after -w or -n, not after a call's 5 s" {
  etcd_start "$BATS_TEST_TMPDIR/etcd2"
  # It takes connections and answers nothing: joining the queue (the
  # lease, then the key) is what waits.
  kill -STOP "$ETCD_PID"
  local wait command started took
  for wait in -n '-w 1' '-w 1 script'; do
    command=true
    [ "$wait" != '-w 1 script' ] || command=
    started=$(now_ms)
    # shellcheck disable=SC2086
    run le ${wait% script} "$L" $command
    took=$(($(now_ms) - started))
    echo "lockdir $wait: status $status after $took ms"
    if [ -z "$command" ]; then
      assert_equal "$status" 3
    else
      assert_equal "$status" 125
    fi
    assert_output --partial "cannot take '$L' in etcd: $ETCD_URL: no answer in time"
    # (A generous bound: the machine may be busy.)
    [ "$took" -le 4000 ] || fail "lockdir $wait answered after $took ms"
  done
  etcd_stop
}

# silent_while_waiting SECONDS: a waiter with -w SECONDS behind a
# holder, and etcd stops answering once it waits: it must fail at the
# deadline with 125 naming the endpoint, not say the lock is still held
# (75); not before the deadline, nor a call's 5 s (or two) after it.
silent_while_waiting() {
  etcd_start "$BATS_TEST_TMPDIR/etcd2"
  bg_le "$L" sh -c 'touch held; sleep 60'
  wait_until test -f held
  local started
  started=$(now_ms)
  bg_le -w "$1" "$L" true 2>err
  local waiter=$BG
  wait_until etcd_waiting "$L" "$waiter"
  kill -STOP "$ETCD_PID"
  local status=0
  wait "$waiter" || status=$?
  local took=$(($(now_ms) - started))
  kill -CONT "$ETCD_PID"
  cat err
  echo "the waiter with -w $1 answered after $took ms"
  assert_equal "$status" 125
  grep -q "cannot take '$L' in etcd: $ETCD_URL: no answer in time" err
  if grep -q 'still held' err; then
    fail "it said the lock is still held: $(cat err)"
  fi
  [ "$took" -ge $(($1 * 1000)) ] || fail "it answered before -w"
  # (A generous bound: the machine may be busy.)
  [ "$took" -le $((($1 + 3) * 1000)) ] ||
    fail "it answered $took ms after it started, with -w $1"
  etcd_stop
}

@test "etcd silent while waiting: at -w (not a call's 5 s later), 125 naming the endpoint, not 75 and 'still held'" {
  # Its first renewal, after a third of the lease, finds etcd silent.
  silent_while_waiting 5
}

@test "etcd silent while waiting, no renewal due by -w: 125 at -w (not 10 s later), not 75 and 'still held'" {
  # -w ends before the first renewal (a third of the 10 s lease): only
  # the watch, which is silent, has heard nothing.
  silent_while_waiting 2
}

@test "--print-token into a pipe nobody reads: status 3 and the lock released, not killed by SIGPIPE" {
  # The reader is gone before lockdir starts.
  { wait_until test -e closed
    status=0
    le --print-token "$L" 2>err || status=$?
    echo "$status" >rc
  } | { exec <&-; touch closed; }
  assert_equal "$(cat rc)" 3
  grep -q "cannot print the token of '$L'; the lock is released again: Broken pipe" err
  run le --status "$L"
  assert_failure 1
}

# fake_gateway BODY: an HTTP server on 127.0.0.1 that answers every
# request with status 200 and BODY; sets FAKE_URL.
fake_gateway() {
  local port
  port=$("$BATS_TEST_DIRNAME/../scripts/unused-port")
  background python3 -c '
import http.server, sys
body = sys.argv[2].encode()
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
' "$port" "$1"
  FAKE_URL=http://127.0.0.1:$port
  wait_until curl -s --max-time 1 -X POST -d '{}' "$FAKE_URL/"
}

@test "an answer of 200 and JSON that lacks what etcd sends: the error says so, not 'no error' or an expired lease" {
  # No lease ID in the grant.
  fake_gateway '{}'
  run lockdir --etcd="$FAKE_URL" "$L" true
  assert_equal "$status" 125
  assert_output "lockdir: cannot take '$L' in etcd: $FAKE_URL: not an etcd v3 gateway (a lease granted without an ID or a TTL)"
  # A lease, but a transaction without responses.
  fake_gateway '{"ID":"5","TTL":"10"}'
  run lockdir --etcd="$FAKE_URL" "$L"
  assert_equal "$status" 3
  assert_output "lockdir: cannot take '$L' in etcd: $FAKE_URL: not an etcd v3 gateway (a transaction without its responses)"
}

# silent_after PATH: an HTTP proxy on 127.0.0.1 to $ETCD_URL that passes
# requests on until it has passed one to PATH (such as /v3/lease/revoke)
# and then answers nothing more, as a member does that stops there;
# sets PROXY_URL.  Each request it holds so touches ./held-request.
# (Requests are one to a connection: lockdir's, not a watch's, which
# never ends.)
silent_after() {
  local port
  port=$("$BATS_TEST_DIRNAME/../scripts/unused-port")
  background python3 -c '
import http.server, sys, threading, urllib.request
target, last = sys.argv[2], sys.argv[3]
silent = threading.Event()
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if silent.is_set():
            open("held-request", "w").close()
            threading.Event().wait()
        request = urllib.request.Request(target + self.path, data=body,
                                         method="POST")
        with urllib.request.urlopen(request) as answer:
            reply = answer.read()
        if self.path == last:
            silent.set()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
server.daemon_threads = True
server.serve_forever()
' "$port" "$ETCD_URL" "$1"
  PROXY_URL=http://127.0.0.1:$port
  wait_until curl -s -o /dev/null --max-time 1 -X POST -d '{}' \
    "$PROXY_URL/v3/maintenance/status"
}

@test "busy, and etcd silent once the waiter left the queue: 75 at once, saying etcd did not say by whom, not a call's 5 s later" {
  bg_le "$L" sh -c 'touch held; sleep 30'
  wait_until test -f held
  silent_after /v3/lease/revoke
  local started took
  started=$(now_ms)
  run lockdir --etcd="$PROXY_URL" -n "$L" true
  took=$(($(now_ms) - started))
  echo "answered after $took ms"
  assert_equal "$status" 75
  assert_output "lockdir: '$L' is held (by whom, etcd did not say: $PROXY_URL: no answer in time)"
  # (A generous bound: the machine may be busy.)
  [ "$took" -le 3500 ] || fail "lockdir -n answered after $took ms"
}

@test "-v, and etcd silent once the waiter queued: 125 a second after -w, not a call's 5 s later for the 'waiting for' message" {
  bg_le "$L" sh -c 'touch held; sleep 30'
  wait_until test -f held
  silent_after /v3/kv/txn
  local started took
  started=$(now_ms)
  run lockdir --etcd="$PROXY_URL" -v -w 1 "$L" true
  took=$(($(now_ms) - started))
  echo "answered after $took ms"
  assert_equal "$status" 125
  assert_output --partial "waiting for '$L', held (by whom, etcd did not say: $PROXY_URL: no answer in time)"
  assert_output --partial "cannot take '$L' in etcd: $PROXY_URL: no answer in time"
  [ "$took" -le 4500 ] || fail "lockdir -v -w 1 answered after $took ms"
}

# signal_while_asking_holder PATH OPTION...: with $L held, etcd falls
# silent after the request to PATH, the last one before lockdir OPTION
# asks who holds the lock; a SIGTERM while that question is in the air
# must end lockdir with it (143).
signal_while_asking_holder() {
  local path=$1
  shift
  bg_le "$L" sh -c 'touch held; sleep 30'
  wait_until test -f held
  silent_after "$path"
  background lockdir --etcd="$PROXY_URL" "$@" "$L" true 2>err
  local waiter=$BG
  wait_until test -f held-request
  kill -TERM "$waiter"
  local status=0
  wait "$waiter" || status=$?
  cat err
  assert_equal "$status" $((128 + 15))
}

@test "-v: a signal while it asks etcd who holds the lock ends lockdir with it, not a wait until -w" {
  # Queued, then the question for "waiting for ..., held by ...".
  signal_while_asking_holder /v3/kv/txn -v -w 8
}

@test "busy: a signal while it asks etcd who holds the lock ends lockdir with it, not with the busy status" {
  # Busy and out of the queue, then the question for the busy message.
  signal_while_asking_holder /v3/lease/revoke -n
}

@test "several endpoints are tried in turn" {
  run lockdir --etcd="http://127.0.0.1:1,$ETCD_URL" "$L" echo ran
  assert_success
  assert_output ran
}

# --- exclusion, order, tokens ---------------------------------------------

# incr_workers N M SNIPPET: N workers each run SNIPPET M times; SNIPPET
# increments the counter in file c.
incr_workers() {
  local n=$1 m=$2 snippet=$3 w pids=()
  echo 0 >c
  for ((w = 0; w < n; w++)); do
    (for ((i = 0; i < m; i++)); do eval "$snippet"; done) 3>&- &
    pids+=($!)
  done
  wait "${pids[@]}"
}

# Read, yield, write back: any overlap loses an update.
INCREMENT='n=$(cat c); sleep 0.001; echo $((n + 1)) >c'

@test "mutual exclusion: 20 workers x 20 increments under --etcd give exactly 400" {
  export INCREMENT ETCD_URL L
  incr_workers 20 20 'le "$L" sh -c "$INCREMENT" || echo "status $?" >>failures'
  [ ! -s failures ] || fail "lockdir failed: $(sort | uniq -c <failures)"
  assert_equal "$(cat c)" 400
}

@test "control: the same workers without the lock lose updates" {
  export INCREMENT
  incr_workers 20 20 'sh -c "$INCREMENT"'
  [ "$(cat c)" -lt 400 ] || fail "no update lost: the harness cannot see a race"
}

# fifo_rounds ROUNDS TAKE: in each round, a holder holds lock $L while 8
# waiters arrive one after another -- each at least 50 ms after the one
# before, and only once that one is seen queued -- then the holder
# lets go.  TAKE is the command a waiter runs to take the lock and
# append its number to 'order'.  Sets INVERSIONS.
fifo_rounds() {
  local rounds=$1 take=$2 r i pids
  INVERSIONS=0
  for ((r = 0; r < rounds; r++)); do
    : >order
    rm -f go
    le "$L" sh -c 'touch held; while [ ! -e go ]; do sleep 0.01; done' 3>&- &
    local holder=$!
    wait_until test -f held
    pids=()
    for ((i = 1; i <= 8; i++)); do
      sleep 0.05
      (i=$i; eval "$take") 3>&- &
      pids+=($!)
      wait_until etcd_queued "$L" $((i + 1))
    done
    touch go
    wait "$holder" "${pids[@]}"
    rm -f held
    local prev=0 n
    while read -r n; do
      ((n < prev)) && INVERSIONS=$((INVERSIONS + 1))
      prev=$n
    done <order
    assert_equal "$(wc -l <order)" 8
  done
}

@test "FIFO: 8 waiters arriving 50 ms apart are served in arrival order, 10 rounds, 0 inversions" {
  fifo_rounds 10 'le "$L" sh -c "echo $i >>order"'
  assert_equal "$INVERSIONS" 0
}

@test "control: waiters that poll instead of queueing are served out of order" {
  # The same harness; each waiter, once queued (so the harness sees it),
  # leaves the queue and, once the holder is told to let go, polls with
  # -n at random intervals instead.  (Polling before that would make the
  # queue the harness counts flicker.)
  fifo_rounds 3 'le "$L" sh -c "exit 0" & until [ -e go ]; do sleep 0.1; done; until le -n -q "$L" sh -c "echo $i >>order"; do sleep 0.0$((RANDOM % 9 + 1)); done; wait'
  [ "$INVERSIONS" -gt 0 ] || fail "no inversion: the harness cannot see one"
}

@test "fencing tokens strictly increase across 100 acquisitions" {
  export ETCD_URL L
  local w pids=()
  for ((w = 0; w < 4; w++)); do
    (for ((i = 0; i < 25; i++)); do
       le "$L" sh -c 'echo "$LOCKDIR_TOKEN" >>tokens'
     done) 3>&- &
    pids+=($!)
  done
  wait "${pids[@]}"
  assert_equal "$(wc -l <tokens)" 100
  sort -n -c -u tokens || fail "tokens not strictly increasing in acquisition order"
}

# --- losing the lock -------------------------------------------------------

# etcd revokes an expired lease on a timer of its own (every 500 ms), and
# the last renewal came up to a third of the lease before the kill: the
# lease runs out 1.3-2 s after it, the waiter is told 0-0.5 s later.
# The 3 s allowed past the lease are for a loaded machine.
@test "SIGKILL of a holder: the next waiter gets the lock once the lease runs out (within lease + 3 s)" {
  bg_le --lease=2 "$L" sh -c 'echo $$ >>orphans; touch held; exec sleep 60'
  local holder=$BG
  wait_until test -f held
  bg_le "$L" sh -c 'date +%s%3N >got'
  local waiter=$BG
  wait_until etcd_queued "$L" 2
  local killed
  killed=$(now_ms)
  kill -KILL "$holder"
  wait "$waiter"
  local after=$(($(cat got) - killed))
  echo "acquired ${after} ms after the kill"
  ((after <= 5000)) || fail "the waiter got the lock only ${after} ms after the kill"
}

# overlap_run HOLDER_CMD...: the holder (a lock command given as words)
# runs a command that logs its start and end; etcd is frozen once it
# runs; a second holder queues; etcd comes back once the first
# lockdir has given up (or after 4 s).  Sets FIRST_STATUS, FIRST_ERR
# and SECOND_STATUS, and checks nothing itself.
overlap_run() {
  local url=$ETCD_URL
  "$@" sh -c '
    trap "echo A-end \$(date +%s%N) >>log; exit 143" TERM
    echo $$ >>orphans
    echo A-start $(date +%s%N) >>log
    while :; do sleep 0.05; done' 2>err.first 3>&- &
  local first=$!
  BG_PIDS="${BG_PIDS:-} $first"
  wait_until grep -q A-start log
  # A second holder, queued behind the first.  Its own lease is long:
  # etcd is frozen for up to 4 s while it waits, and with a 2 s lease a
  # renewal that comes late after the thaw (a loaded machine) would
  # rightly stop its command (76), which is not what this measures.
  lockdir --etcd="$url" -w 60 --lease=20 "$L" sh -c '
    echo B-start $(date +%s%N) >>log; sleep 0.2; echo B-end $(date +%s%N) >>log' \
    2>err.second 3>&- &
  local second=$!
  BG_PIDS="${BG_PIDS:-} $second"
  wait_until etcd_queued "$L" 2
  # etcd stops answering (a partition, or a member that hangs).
  kill -STOP "$ETCD_PID"
  local i
  for ((i = 0; i < 40; i++)); do
    kill -0 "$first" 2>/dev/null || break
    sleep 0.1
  done
  kill -CONT "$ETCD_PID"
  SECOND_STATUS=0
  wait "$second" || SECOND_STATUS=$?
  kill -KILL "$first" 2>/dev/null || true
  FIRST_STATUS=0
  wait "$first" || FIRST_STATUS=$?
  FIRST_ERR=$(cat err.first)
  echo "first: status $FIRST_STATUS: $FIRST_ERR"
  echo "second: status $SECOND_STATUS: $(cat err.second)"
  cat log
}

# Did the two commands in 'log' ever run at the same time?
overlapped() {
  local a_start a_end b_start
  a_start=$(sed -n 's/^A-start //p' log)
  a_end=$(sed -n 's/^A-end //p' log)
  b_start=$(sed -n 's/^B-start //p' log)
  [ -n "$a_start" ] && [ -n "$b_start" ] || fail "a command did not run: $(cat log)"
  [ -z "$a_end" ] || [ "$b_start" -lt "$a_end" ]
}

@test "etcd unreachable mid-hold: the command is stopped before the lease can expire, never overlapping the next holder" {
  etcd_start "$BATS_TEST_TMPDIR/etcd"
  overlap_run lockdir --etcd="$ETCD_URL" --lease=2 "$L"
  assert_equal "$SECOND_STATUS" 0
  assert_equal "$FIRST_STATUS" 76
  [[ $FIRST_ERR == *"may be lost"* ]] || fail "no reason given: $FIRST_ERR"
  grep -q A-end log
  run overlapped
  assert_failure
  etcd_stop
}

@test "etcd silent as COMMAND starts: SIGTERM before the lease can expire, not SIGKILL when the record's rewrite gives up 5 s later" {
  command -v strace >/dev/null || skip "strace is not installed"
  etcd_start "$BATS_TEST_TMPDIR/etcd"
  # strace holds lockdir for 1 s as it returns from starting COMMAND
  # (vfork), before it names COMMAND in its record; COMMAND freezes
  # etcd meanwhile, so the rewrite of the record gets no answer.  With
  # a 4 s lease, COMMAND must get SIGTERM 1 s before the lease could
  # expire; the rewrite's own 5 s would end after it.
  local status=0
  strace -o /dev/null -e trace=clone,clone3 \
    -e inject=clone,clone3:delay_exit=1000000 \
    lockdir --etcd="$ETCD_URL" --lease=4 "$L" sh -c "
      kill -STOP $ETCD_PID
      trap 'echo TERM >>log; exit 143' TERM
      echo start >>log
      while :; do sleep 0.05; done" 2>err || status=$?
  kill -CONT "$ETCD_PID"
  cat err log
  assert_equal "$status" 76
  grep -q 'may be lost' err
  grep -qx TERM log || fail "COMMAND got no SIGTERM: it was killed outright"
  etcd_stop
}

@test "control: etcdctl lock keeps its command running on a lost lock, and the harness sees the overlap" {
  command -v etcdctl >/dev/null 2>&1 || skip "etcdctl is not installed (Debian: etcd-client)"
  etcd_start "$BATS_TEST_TMPDIR/etcd"
  overlap_run env ETCDCTL_API=3 etcdctl --endpoints="$ETCD_URL" lock --ttl=2 "$L" --
  assert_equal "$SECOND_STATUS" 0
  run overlapped
  assert_success
  etcd_stop
}

@test "SIGSTOP of lockdir past its lease: another waiter gets the lock; on SIGCONT the command is stopped at once, status 76" {
  bg_le --lease=2 "$L" sh -c 'touch held; while :; do sleep 0.05; done' 2>err
  local first=$BG
  wait_until test -f held
  wait_until command_in_record
  kill -STOP "$first"
  # Its lease expires; the next waiter gets the lock.
  run le -w 10 "$L" echo second
  assert_success
  assert_output second
  kill -CONT "$first"
  local status=0
  wait "$first" || status=$?
  assert_equal "$status" 76
  # Usually its own clock tells it first.  Stopped in a renewal that had
  # not reached etcd yet, it may instead hear from etcd that the lease
  # is gone (the likely cause of a failure beside two CPU hogs).
  grep -Eq 'may be lost|was lost: its lease expired' err ||
    fail "lockdir did not say why it stopped the command: $(cat err)"
}

@test "--break revokes the holder's lease: its lockdir stops the command and exits 76" {
  bg_le --lease=3 "$L" sh -c 'touch held; while :; do sleep 0.05; done' 2>err
  wait_until test -f held
  wait_until command_in_record
  run le --break "$L"
  assert_success
  assert_line "pid=$BG"
  local status=0
  wait "$BG" || status=$?
  assert_equal "$status" 76
  grep -q 'was lost: its lease expired or was revoked' err
  run le --break "$L"
  assert_equal "$status" 1
}

@test "--break -v behind 'etcdctl lock' names its key, not a pid 0 on an empty host; a lockdir holder by pid and host" {
  command -v etcdctl >/dev/null 2>&1 || skip "etcdctl is not installed (Debian: etcd-client)"
  background env ETCDCTL_API=3 etcdctl --endpoints="$ETCD_URL" lock "$L" -- \
    sh -c 'echo $$ >>orphans; touch held; exec sleep 30'
  wait_until test -f held
  run --separate-stderr le -v --break "$L"
  assert_success
  [[ $stderr != *"pid 0"* ]] || fail "$stderr"
  [[ $stderr =~ ^"lockdir: broke lock '$L' held by the key '$L/"[0-9a-f]+"', which has no owner record" ]] ||
    fail "$stderr"
  bg_le "$L" sh -c 'touch held2; exec sleep 30'
  wait_until test -f held2
  run --separate-stderr le -v --break "$L"
  assert_success
  assert_equal "${stderr%% since *}" "lockdir: broke lock '$L' held by pid $BG on $(uname -n)"
}

@test "--break --json on a free lock prints one JSON object, held false (status 1), as for a directory lock" {
  run --separate-stderr le --break --json "$L"
  assert_failure 1
  assert_output '{"lock":"'"$L"'","backend":"etcd","held":false}'
  assert_equal "$stderr" "lockdir: cannot break '$L': it is not held"
  # -q leaves the message out, not the object.
  run --separate-stderr le -q --break --json "$L"
  assert_failure 1
  assert_output '{"lock":"'"$L"'","backend":"etcd","held":false}'
  assert_equal "$stderr" ""
  # Without --json, nothing on stdout.
  run --separate-stderr le --break "$L"
  assert_failure 1
  assert_output ""
}

@test "--break removes a holder's key that has no lease (put by hand), instead of revoking lease 0 forever" {
  # A key of the lock's form, NAME/ID, put without a lease.
  curl -s --max-time 5 -X POST "$ETCD_URL/v3/kv/put" \
    -d "{\"key\":\"$(printf '%s/1f' "$L" | base64 -w0)\",\"value\":\"\"}" |
    grep -q revision
  etcd_held "$L"
  run timeout 20 lockdir --etcd="$ETCD_URL" --break "$L"
  assert_success
  assert_line "key=$L/1f"
  run le --status "$L"
  assert_failure 1
}

# jepsen_run WAITER_CMD...: A holds the lock; the waiter W (a lock
# command given as words) queues behind it and is stopped; C queues
# (behind W, unless W's key has gone already); W's lease expires (its
# key goes); A lets go, so C holds the lock; then W runs again.  W must
# not believe it holds the lock: its command may start only after C's
# has ended.  Logs starts and ends.
jepsen_run() {
  bg_le "$L" sh -c 'touch a-held; while [ ! -e a-go ]; do sleep 0.01; done'
  wait_until test -f a-held
  "$@" sh -c 'echo W-start $(date +%s%N) >>log; echo W-end $(date +%s%N) >>log' \
    2>err.w 3>&- &
  local w=$!
  BG_PIDS="${BG_PIDS:-} $w"
  wait_until etcd_queued "$L" 2
  kill -STOP "$w"
  bg_le "$L" sh -c 'echo C-start $(date +%s%N) >>log
    while [ ! -e c-go ]; do sleep 0.01; done
    echo C-end $(date +%s%N) >>log'
  local c=$BG
  # W's lease expires while it is stopped and etcd deletes its key --
  # perhaps even before C has queued, on a loaded machine: so wait for
  # C's key, then for A's and C's to be all that is left.
  wait_until etcd_waiting "$L" "$c"
  wait_until etcd_queued "$L" 2
  touch a-go
  wait_until grep -q C-start log
  kill -CONT "$w"
  # W either runs at once (wrongly) or queues again behind C.
  wait_until eval 'grep -q W-start log || etcd_queued "$L" 2'
  touch c-go
  wait "$c"
  W_STATUS=0
  wait "$w" || W_STATUS=$?
  cat log err.w
}

# Did W's command start before C's ended?
w_overlapped() {
  local c_end w_start
  c_end=$(sed -n 's/^C-end //p' log)
  w_start=$(sed -n 's/^W-start //p' log)
  [ -n "$c_end" ] && [ -n "$w_start" ] || fail "a command did not run: $(cat log)"
  [ "$w_start" -lt "$c_end" ]
}

@test "--break while COMMAND runs gives 76 also when COMMAND ends before lockdir's next renewal" {
  mkfifo gate
  # A renewal every 10 s: COMMAND ends long before the next one.
  bg_le --lease=30s "$L" sh -c 'touch held; read x <gate' 2>err
  wait_until test -f held
  wait_until command_in_record
  le --break "$L" >/dev/null
  echo >gate
  local status=0
  wait "$BG" || status=$?
  cat err
  assert_equal "$status" 76
  grep -q "lock '$L' was lost while the command ran" err
}

@test "a waiter whose lease expired while it waited never runs on it (the Jepsen case, etcd 11456)" {
  jepsen_run lockdir --etcd="$ETCD_URL" --lease=2 "$L"
  assert_equal "$W_STATUS" 0
  run w_overlapped
  assert_failure
}

@test "control: etcdctl lock runs its command on the expired lease, and the harness sees it" {
  command -v etcdctl >/dev/null 2>&1 || skip "etcdctl is not installed (Debian: etcd-client)"
  jepsen_run env ETCDCTL_API=3 etcdctl --endpoints="$ETCD_URL" lock --ttl=2 "$L" --
  run w_overlapped
  assert_success
}

# --- the script form ---------------------------------------------------------

@test "without COMMAND: the caller owns the lock after lockdir exits; -u releases it" {
  # Not through 'run': the owner is lockdir's parent, this shell.
  le --print-token "$L" >token
  local token
  token=$(cat token)
  # The lock outlives lockdir itself.
  assert_equal "$(status_field "$L" pid)" "$BASHPID"
  assert_equal "$(status_field "$L" token)" "$token"
  run le -n "$L" true
  assert_equal "$status" 75
  # Only the owner may release it ('run' is a subshell: not the owner).
  run le -u "$L"
  assert_equal "$status" 1
  assert_output --partial "it is held by pid $BASHPID"
  le -u "$L"
  run le --status "$L"
  assert_equal "$status" 1
  local status=0
  le -u "$L" 2>err || status=$?
  assert_equal "$status" 1
  grep -q 'not held' err
}

@test "without COMMAND: tok=\$(lockdir --print-token NAME || exit 1) makes the script the owner" {
  # The shell forks a subshell for this substitution, which exits as
  # soon as lockdir does: the owner must be the script, as for a
  # directory lock.
  local tok
  tok=$(le --print-token "$L" || exit 1)
  [ -n "$tok" ]
  assert_equal "$(status_field "$L" pid)" "$BASHPID"
  run le -n "$L" true
  assert_equal "$status" 75
  le -u "$L"
}

@test "without COMMAND: lockdir -u run in place of the owner (bash and dash exec a last command) releases it" {
  export LOCKDIR_ETCD=$ETCD_URL L
  local shell
  for shell in bash dash; do
    run $shell -c '( lockdir -n "$L"; lockdir -u "$L" ); echo "status $?"'
    assert_output "status 0"
    run $shell -c 'lockdir -n "$L"; echo hi; lockdir -u "$L"'
    assert_success
    assert_output hi
  done
  # Someone else still cannot.
  le "$L"
  run sh -c 'lockdir -u "$L"'
  assert_equal "$status" 1
  le -u "$L"
}

@test "-u by the holder's own COMMAND says it is released when that COMMAND exits, as for a directory lock" {
  # It said only "it is held by pid N on HOST, not by pid M", of the
  # lockdir that runs it.  COMMAND waits until the record names it.
  run le "$L" sh -c '
    until lockdir --etcd="$0" --status "$1" | grep -q "^child_pid=$$"; do
      sleep 0.01
    done
    lockdir --etcd="$0" -u "$1"; echo "u $? $$ $PPID"
    lockdir --etcd="$0" --status "$1" >/dev/null; echo "held $?"' \
    "$ETCD_URL" "$L"
  assert_success
  local command_pid holder_pid
  command_pid=$(printf '%s\n' "$output" | sed -n 's/^u 1 \([0-9]*\) .*/\1/p')
  holder_pid=$(printf '%s\n' "$output" | sed -n 's/^u 1 [0-9]* \([0-9]*\)$/\1/p')
  [ -n "$command_pid" ] && [ -n "$holder_pid" ] || fail "$output"
  assert_line --index 0 "lockdir: cannot release '$L': it is held by lockdir (pid $holder_pid) for its COMMAND (pid $command_pid), and released when that COMMAND exits"
  # Held while COMMAND ran; released when it exited.
  assert_line --index 2 "held 0"
  run le --status "$L"
  assert_equal "$status" 1
}

@test "-u that COMMAND's shell runs in its own place (bash execs a last command) fails too, and the lock stays held until COMMAND exits" {
  # lockdir -u is then COMMAND itself, and its parent the lockdir that
  # holds the lock: it released the lock while COMMAND ran.
  run le "$L" bash -c '
    until lockdir --etcd="$0" --status "$1" | grep -q "^child_pid=$$"; do
      sleep 0.01
    done
    echo "command $$"
    exec lockdir --etcd="$0" -u "$1"' "$ETCD_URL" "$L"
  assert_equal "$status" 1
  local command_pid
  command_pid=$(sed -n 's/^command //p' <<<"$output")
  [ -n "$command_pid" ] || fail "$output"
  assert_line --index 1 --regexp "^lockdir: cannot release '$L': it is held by lockdir \(pid [0-9]+\) for its COMMAND \(pid $command_pid\), and released when that COMMAND exits$"
  [ "${#lines[@]}" = 2 ] || fail "$output"
  run le --status "$L"
  assert_equal "$status" 1
}

@test "without COMMAND: a token that cannot be printed releases the lock again, status 3" {
  [ -w /dev/full ] || skip "no /dev/full"
  local status=0
  le --print-token "$L" >/dev/full 2>err || status=$?
  cat err
  assert_equal "$status" 3
  grep -q 'cannot print the token of .*the lock is released again' err
  run le --status "$L"
  assert_equal "$status" 1
}

@test "without COMMAND: the lock is released when its owner exits" {
  sh -c 'lockdir --etcd="$1" "$2" && touch taken && sleep 0.5' sh "$ETCD_URL" "$L"
  test -f taken
  run le -w 10 "$L" echo next
  assert_success
  assert_output next
}

@test "without COMMAND: taking it twice for one owner fails instead of waiting" {
  le "$L"
  local status=0
  le -w 5 "$L" 2>err || status=$?
  assert_equal "$status" 1
  grep -q 'waiting would never end' err
  le -u "$L"
}

@test "without COMMAND, taking it twice for one owner with etcd silent: 3 a second after -n, and the lock kept" {
  etcd_start "$BATS_TEST_TMPDIR/etcd2"
  le "$L"
  # Its keeper's socket is there: lockdir first asks etcd whose the
  # lock is.  Etcd takes connections and answers nothing.
  kill -STOP "$ETCD_PID"
  local started took status=0
  started=$(now_ms)
  le -n "$L" 2>err || status=$?
  took=$(($(now_ms) - started))
  cat err
  echo "status $status after $took ms"
  assert_equal "$status" 3
  grep -q "cannot take '$L' in etcd: $ETCD_URL: no answer in time" err
  # (A generous bound: the machine may be busy.)
  [ "$took" -le 4000 ] || fail "lockdir -n answered after $took ms"
  kill -CONT "$ETCD_PID"
  # The keeper was not told to let go of the owner's lock.
  assert_equal "$(status_field "$L" pid)" "$BASHPID"
  le -u "$L"
  etcd_stop
}

@test "a lockdir --etcd run as the COMMAND of the one holding the lock is busy at once, as a directory lock is, even before the record names it" {
  run le "$L" lockdir --etcd="$ETCD_URL" -w 30s "$L" true
  assert_failure 75
  assert_output --partial "waiting would never end"
  # The holder names its COMMAND in the record once COMMAND has started:
  # held back here for 2 s (strace delays the return of the clone that
  # starts COMMAND), so the COMMAND's lockdir first finds a record
  # without it, and waits; the record's rewrite must wake it, not the
  # end of -w (nor, with -w inf, nothing ever).
  local started took
  started=$(now_ms)
  run strace -qq -o /dev/null -e inject=clone,clone3:delay_exit=2000000 \
    lockdir --etcd="$ETCD_URL" "$L" lockdir --etcd="$ETCD_URL" -w 60s "$L" true
  took=$(($(now_ms) - started))
  assert_failure 75
  assert_output --partial "waiting would never end"
  # (A generous bound: the machine may be busy.)
  [ "$took" -lt 30000 ] || fail "it waited $took ms, until -w ran out"
}

@test "without COMMAND: -u reports a lock lost meanwhile with status 1" {
  le --lease=2 "$L"
  # The keeper: a process of its own session, holding the lease.
  local keeper
  keeper=$(pgrep -f -n -x "lockdir --etcd=$ETCD_URL --lease=2 $L")
  [ -n "$keeper" ] || fail "no keeper"
  BG_PIDS="${BG_PIDS:-} $keeper"
  # The keeper cannot renew; the lease expires and another takes it.
  kill -STOP "$keeper"
  run le -w 10 "$L" true
  assert_success
  kill -CONT "$keeper"
  local status=0
  le -u "$L" 2>err || status=$?
  assert_equal "$status" 1
  grep -q 'had been lost' err
}

@test "without COMMAND: one owner's locks of one name in two clusters are kept apart" {
  local a=$ETCD_URL b
  etcd_start "$BATS_TEST_TMPDIR/etcd2"
  b=$ETCD_URL
  lockdir --etcd="$a" "$L"
  lockdir --etcd="$b" "$L"
  # Each held for this shell: taking the second did not end the first.
  assert_equal "$(ETCD_URL=$a status_field "$L" pid)" "$BASHPID"
  assert_equal "$(ETCD_URL=$b status_field "$L" pid)" "$BASHPID"
  # Releasing one releases that one.
  lockdir --etcd="$a" -u "$L"
  run lockdir --etcd="$a" --status "$L"
  assert_equal "$status" 1
  run lockdir --etcd="$b" --status "$L"
  assert_success
  lockdir --etcd="$b" -u "$L"
  etcd_stop
}

@test "--owner-pid names another process, which may release with -u" {
  sleep 60 3>&- &
  local owner=$!
  BG_PIDS="${BG_PIDS:-} $owner"
  le --owner-pid="$owner" "$L"
  assert_equal "$(status_field "$L" pid)" "$owner"
  local status=0
  le -u "$L" 2>/dev/null || status=$?
  assert_equal "$status" 1
  le -u --owner-pid="$owner" "$L"
}

# --- status --------------------------------------------------------------

@test "--status --json is strict UTF-8 JSON naming the holder and the waiters in order" {
  hold_and_queue 2
  local holder=$HOLDER w1=${WAITERS[0]} w2=${WAITERS[1]}
  le --status --json "$L" >status.json
  cat status.json
  python3 -c 'import json,sys; json.loads(sys.stdin.buffer.read().decode("utf-8"))' <status.json
  assert_equal "$(wc -l <status.json)" 1
  assert_equal "$(jq -r .backend status.json)" etcd
  assert_equal "$(jq .held status.json)" true
  assert_equal "$(jq .pid status.json)" "$holder"
  assert_equal "$(jq -c '[.waiters[].pid]' status.json)" "[$w1,$w2]"
  jq -e '.token < .waiters[0].token and .waiters[0].token < .waiters[1].token' status.json
  jq -e '.lease_left > 0' status.json
  run le --status "$L"
  assert_success
  assert_line waiters=2
  assert_line --regexp "^waiter=[0-9]+ $w1 "
  kill -TERM "$holder"
}

@test "--status of a free lock: status 1, and JSON that says so" {
  run le --status --json "$L"
  assert_equal "$status" 1
  assert_output '{"lock":"'"$L"'","backend":"etcd","held":false,"waiters":[]}'
}

@test "locks whose names nest do not share a queue" {
  bg_le "$L/sub" sh -c 'touch held; sleep 30'
  wait_until test -f held
  run le -n "$L" echo free
  assert_success
  assert_output free
}

# --- TLS ---------------------------------------------------------------------

# A CA and a server certificate for 127.0.0.1, and a client certificate.
make_pki() {
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca \
    -keyout ca.key -out ca.crt 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
    -keyout server.key -out server.csr 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\n' >san.ext
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key \
    -CAcreateserial -days 2 -extfile san.ext -out server.crt 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=client \
    -keyout client.key -out client.csr 2>/dev/null
  openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key \
    -CAcreateserial -days 2 -out client.crt 2>/dev/null
}

@test "TLS: https with a self-signed CA (--cacert or LOCKDIR_ETCD_CACERT); refused without it" {
  command -v openssl >/dev/null 2>&1 || skip "openssl is not installed"
  make_pki
  ETCD_SCHEME=https ETCD_CURL_ARGS="--cacert ca.crt" \
    etcd_start "$BATS_TEST_TMPDIR/etcd" \
    --cert-file=server.crt --key-file=server.key
  run lockdir --etcd="$ETCD_URL" --cacert=ca.crt "$L" echo secure
  assert_success
  assert_output secure
  LOCKDIR_ETCD_CACERT=ca.crt run lockdir --etcd="$ETCD_URL" "$L" echo secure
  assert_success
  run lockdir --etcd="$ETCD_URL" "$L" echo insecure
  assert_equal "$status" 125
  assert_output --partial "$ETCD_URL"
  refute_output --partial insecure
  etcd_stop
}

# An etcd on https that demands a client certificate (make_pki's).
etcd_start_mutual_tls() {
  make_pki
  ETCD_SCHEME=https ETCD_CURL_ARGS="--cacert ca.crt --cert client.crt --key client.key" \
    etcd_start "$BATS_TEST_TMPDIR/etcd" \
    --cert-file=server.crt --key-file=server.key \
    --client-cert-auth --trusted-ca-file=ca.crt
}

@test "TLS: a client certificate (--cert, --key) where etcd demands one" {
  command -v openssl >/dev/null 2>&1 || skip "openssl is not installed"
  etcd_start_mutual_tls
  run lockdir --etcd="$ETCD_URL" --cacert=ca.crt --cert=client.crt --key=client.key "$L" echo mutual
  assert_success
  assert_output mutual
  run lockdir --etcd="$ETCD_URL" --cacert=ca.crt "$L" echo anonymous
  assert_equal "$status" 125
  refute_output --partial anonymous
  etcd_stop
}

@test "TLS without COMMAND: the keeper (in /) renews with relative --cacert, --cert and --key" {
  command -v openssl >/dev/null 2>&1 || skip "openssl is not installed"
  etcd_start_mutual_tls
  tls() {
    lockdir --etcd="$ETCD_URL" --cacert=ca.crt --cert=client.crt \
      --key=client.key "$@"
  }
  tls --lease=2s "$L"
  # A keeper that cannot renew gives the lock up within 1.5 s.
  run tls -w 5s "$L" echo taken
  assert_equal "$status" 75
  refute_output --partial taken
  tls -u "$L"
  etcd_stop
}

# --- a member that does not answer ---------------------------------------------

@test "a member that takes connections but never answers is passed over after 2 s; asked alone, it fails the call (125)" {
  etcd_start_cluster "$BATS_TEST_TMPDIR/cluster"
  local urls leader hung
  IFS=, read -ra urls <<<"$CLUSTER_URLS"
  leader=$(etcd_cluster_leader) || fail "the cluster has no leader"
  # A follower stopped: the kernel still takes connections on its port,
  # and nothing answers; the two others are a quorum.
  hung=$(((leader + 1) % 3))
  kill -STOP "${CLUSTER_PIDS[hung]}"
  # The control: asked alone, it holds the request past the call's 5 s.
  run lockdir --etcd="${urls[hung]}" -n "$L" echo taken
  assert_equal "$status" 125
  assert_output --partial "${urls[hung]}: no answer in time"
  # Listed first, it is left after 2 s for the next, which answers.
  run lockdir --etcd="${urls[hung]},${urls[leader]}" -n "$L" echo taken
  assert_success
  assert_output taken
  etcd_stop_cluster
}

@test "a waiter whose watch is on a member that goes silent still gets the lock when it is released, even with a 60 s lease" {
  etcd_start_cluster "$BATS_TEST_TMPDIR/cluster"
  local urls leader hung other
  IFS=, read -ra urls <<<"$CLUSTER_URLS"
  leader=$(etcd_cluster_leader) || fail "the cluster has no leader"
  hung=$(((leader + 1) % 3))
  other=$(((leader + 2) % 3))
  ETCD_URL=${urls[leader]}
  mkfifo gate
  bg_le "$L" sh -c 'read x <gate'
  local holder=$BG
  wait_until etcd_held "$L"
  # The waiter asks the member to be stopped first, so its watch is there.
  # Its lease is long: renewing every third of it (20 s) it would miss
  # the release past -w 15s; with two members it renews every 3 s.
  background lockdir --etcd="${urls[hung]},${urls[other]}" --lease=60s \
    -w 15s "$L" sh -c 'date +%s%3N >ran'
  local waiter=$BG
  wait_until etcd_waiting "$L" "$waiter"
  # Stopped, the member sends no event: the release reaches the waiter
  # only through another member, once its next renewal turned to one
  # (within 3 s, plus 2 s for the silent member).
  kill -STOP "${CLUSTER_PIDS[hung]}"
  local released
  released=$(now_ms)
  echo >gate
  wait "$holder"
  local status=0
  wait "$waiter" || status=$?
  assert_equal "$status" 0
  [ -s ran ]
  echo "the waiter ran $(($(cat ran) - released)) ms after the release"
  etcd_stop_cluster
}

# --- authentication ------------------------------------------------------------

@test "--user (or LOCKDIR_ETCD_USER) authenticates where etcd has auth on; refused without" {
  command -v etcdctl >/dev/null 2>&1 || skip "etcdctl is not installed (Debian: etcd-client)"
  etcd_start "$BATS_TEST_TMPDIR/etcd"
  etcdctl --endpoints="$ETCD_URL" user add root --new-user-password=secret >/dev/null 2>&1
  etcdctl --endpoints="$ETCD_URL" auth enable >/dev/null 2>&1
  run lockdir --etcd="$ETCD_URL" --user=root:secret "$L" echo authenticated
  assert_success
  assert_output authenticated
  # While the lock is held, ps shows no password (COMMAND's parent is
  # lockdir).
  run lockdir --etcd="$ETCD_URL" --user=root:secret "$L" \
    sh -c 'tr "\0" " " </proc/$PPID/cmdline'
  assert_success
  assert_output --partial "--user=root:******"
  refute_output --partial secret
  LOCKDIR_ETCD_USER=root:secret run lockdir --etcd="$ETCD_URL" "$L" echo authenticated
  assert_success
  run lockdir --etcd="$ETCD_URL" --user=root:wrong "$L" echo wrong
  assert_equal "$status" 125
  assert_output --partial 'authentication failed'
  run lockdir --etcd="$ETCD_URL" "$L" echo anonymous
  assert_equal "$status" 125
  refute_output --partial anonymous
  etcd_stop
}

@test "COMMAND inherits LOCKDIR_ETCD_USER: a lockdir it runs reaches an etcd with auth on, as the man page says" {
  command -v etcdctl >/dev/null 2>&1 || skip "etcdctl is not installed (Debian: etcd-client)"
  etcd_start "$BATS_TEST_TMPDIR/etcd"
  etcdctl --endpoints="$ETCD_URL" user add root --new-user-password=secret >/dev/null 2>&1
  etcdctl --endpoints="$ETCD_URL" auth enable >/dev/null 2>&1
  LOCKDIR_ETCD=$ETCD_URL LOCKDIR_ETCD_USER=root:secret \
    run lockdir "$L" lockdir "$L-inner" echo inner
  assert_success
  assert_output inner
  # ... and one run under env -u does not see the password.
  LOCKDIR_ETCD=$ETCD_URL LOCKDIR_ETCD_USER=root:secret \
    run lockdir "$L" env -u LOCKDIR_ETCD_USER env
  assert_success
  refute_output --partial secret
  etcd_stop
}

# --- the documentation's examples -------------------------------------------

# The lockdir lines of the README's "Across hosts" example, as printed.
readme_etcd_lines() {
  sed -n '/^## Across hosts/,/^## /p' "$BATS_TEST_DIRNAME/../README.md" |
    sed -n '/^```sh/,/^```/p' | grep '^lockdir ' | sed 's/  *#.*//'
}

@test "the README's 3-node example runs as printed, also with a member down" {
  etcd_start_cluster "$BATS_TEST_TMPDIR/cluster"
  export LOCKDIR_ETCD=$CLUSTER_URLS VERSION=42
  printf '#!/bin/sh\necho "deployed $1" >>deployed\n' >deploy.sh
  printf '#!/bin/sh\necho backed up >>backups\n' >backup.sh
  chmod +x deploy.sh backup.sh
  local lines line
  lines=$(readme_etcd_lines)
  [ "$(wc -l <<<"$lines")" -eq 3 ] || fail "README example changed: $lines"
  local round
  for round in all-up first-down; do
    while IFS= read -r line; do
      echo "$round: $line"
      local st=0
      eval "$line" >out || st=$?
      # --status of a free lock says so with status 1.
      case $line in
        *--status*) assert_equal "$st" 1 ;;
        *) assert_equal "$st" 0 ;;
      esac
    done <<<"$lines"
    jq -e '.held == false and .lock == "deploy/web"' out
    [ "$round" = all-up ] || break
    # The first member stops; once the others have a leader (an
    # election if it was the leader), they answer.
    kill -KILL "${CLUSTER_PIDS[0]}"
    wait "${CLUSTER_PIDS[0]}" 2>/dev/null || true
    local urls
    IFS=, read -ra urls <<<"$CLUSTER_URLS"
    etcd_wait_healthy "${urls[1]}" "${CLUSTER_PIDS[1]}" &&
      etcd_wait_healthy "${urls[2]}" "${CLUSTER_PIDS[2]}" ||
      etcd_cluster_failed "$BATS_TEST_TMPDIR/cluster" \
        "the two members left did not become healthy"
  done
  assert_equal "$(cat deployed)" "deployed 42
deployed 42"
  assert_equal "$(wc -l <backups)" 2
  # The man page shows the deploy line too.
  grep -qF 'lockdir \-w 10m deploy/web ./deploy.sh "$VERSION"' "$BATS_TEST_DIRNAME/../man/lockdir.x"
}

@test "/proc of another pid namespace: lockdir --etcd L COMMAND takes no start time from /proc/PID/stat, for itself or its command: another process's" {
  require_pid_namespace
  command -v strace >/dev/null || skip "strace is not installed"
  # lockdir is pid 1 of the new namespace, its command pid 2; /proc/1
  # and /proc/2 are the outside's.
  run strace -f -qq -o trace -e trace=openat \
    unshare --pid --fork lockdir --etcd="$ETCD_URL" "$L" sh -c ": >ran"
  assert_success
  [ -e ran ]
  run grep -E '"/proc/[0-9]+/stat"' trace
  assert_failure 1
  assert_output ""
}

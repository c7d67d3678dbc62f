#!/usr/bin/env bats
# lockdir's queue: waiters served in the order they came, one waiter
# woken per release, dead and impatient waiters skipped; shared holders.

load test_helper

setup() {
  common_setup
}

teardown() {
  reap_background
  if [ -n "${FUSE_MOUNT:-}" ]; then
    cd "$BATS_TEST_TMPDIR" && fusermount -u "$FUSE_MOUNT"
  fi
  unmount_test_mounts
  return 0
}

# --- helpers -------------------------------------------------------------

# The number of tickets in the queue of LOCK.
tickets() {
  local n
  n=$(ls -A "$1.queue" 2>/dev/null | wc -l)
  echo "$n"
}

# True when LOCK's queue holds N tickets (for wait_until, which must
# count again on each try: 'wait_until test "$(tickets L)" -eq N'
# would count once, before waiting).
tickets_are() {
  [ "$(tickets "$1")" -eq "$2" ]
}

# True once process PID waits in the queue of LOCK: a ticket whose
# record names it is there.  (One process per look: these run in loops
# on a loaded machine.)
queued() {
  [ -n "$(find "$1.queue" -maxdepth 1 -type l -lname "*
pid=$2
*" 2>/dev/null)" ]
}

# True once process PID sleeps, waiting for what wakes it.
sleeps() {
  sleeps_in_poll "$1"
}

# True once lockdir process PID waits for LOCK: with the queue, its
# ticket is there; without (NO_QUEUE set), it sleeps.
waiting() {
  if [ -n "${NO_QUEUE:-}" ]; then sleeps "$2"; else queued "$1" "$2"; fi
}

# Start 'lockdir -w 30s L sh -c SCRIPT' in the background (its pid in
# BG) and wait until it waits for L.
enqueue() {
  background lockdir -w 30s L sh -c "$1"
  wait_until waiting L "$BG"
}

# True once PID waits for LOCK, or has already given up.
waiting_or_gone() {
  ! kill -0 "$2" 2>/dev/null || waiting "$1" "$2"
}

# Field 22 of /proc/PID/stat: the process start time.
start_time_of() {
  sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f20
}

# The pid of the lockdir that strace (process PID) runs.  Only a child
# that is running lockdir: strace first forks a child of its own that
# tests ptrace and exits, so "any child of PID" could be that one -- or,
# once it has gone and before the tracee is made, none.
child_of() {
  local child i
  for ((i = 0; i < 1000; i++)); do
    child=$(pgrep -x -P "$1" lockdir) && { echo "$child"; return 0; }
    sleep 0.01
  done
  fail "no lockdir process under $1"
}

# slow_first_rename COMMAND...: run COMMAND with its first rename(2)
# held back by strace, SLOW_RENAME_USEC microseconds (default 0.3 s).
# A waiter so slowed always loses a race for the lock: anyone who does
# not wait for their turn gets ahead.
slow_first_rename() {
  exec strace -qq -o /dev/null -e trace=renameat,renameat2 \
    -e inject=renameat,renameat2:delay_enter="${SLOW_RENAME_USEC:-300000}":when=1 "$@"
}

# Order inversions in FILE, a list of numbers: the pairs out of order.
inversions() {
  awk '{ a[NR] = $1 }
       END { n = 0
             for (i = 1; i <= NR; i++)
               for (j = i + 1; j <= NR; j++)
                 if (a[i] > a[j]) n++
             print n }' "$1"
}

# hold_lock [OPTION]...: hold L in the background until 'echo >gate'
# (or the FIFO named by $GATE); the holder's pid is $HOLDER.
hold_lock() {
  local gate=${GATE:-gate}
  rm -f "$gate" && mkfifo "$gate"
  background lockdir "$@" L sh -c "read x <$gate"
  HOLDER=$BG
  wait_until test -d L
}

# The holder of hold_lock releases L; then wait for the waiter WAITER
# and put its status in rc (the caller's local).
release_then_reap() {
  echo >gate
  wait "$HOLDER"
  rc=0
  wait "$1" || rc=$?
}

# True once LOCK holds a record of process PID that names its command.
holds_with_command() {
  local record
  for record in "$1"/owner.*; do
    grep -qx "pid=$2" "$record" 2>/dev/null &&
      grep -q '^child_pid=' "$record" 2>/dev/null && return 0
  done
  return 1
}

# lockdir -v --break L with every open of L.queue failing (EIO), which
# must succeed; run its stderr without strace's own lines (how it
# resolved L.queue) into output and lines.
break_with_queue_unread() {
  local rc=0
  strace -qq -o /dev/null -P L.queue -e trace=openat \
    -e inject=openat:error=EIO lockdir -v --break L >/dev/null 2>err ||
    rc=$?
  [ "$rc" -eq 0 ] || fail "status $rc: $(cat err)"
  run grep -v '^strace: ' err
}

# --- order -----------------------------------------------------------------

# start_ordered_waiter K [OPTION]...: start waiter K in the background
# (BG), lockdir OPTION... -w 60s L, whose command appends K to order;
# waiter 1 is slowed by slow_first_rename.  Set pid to the waiting
# lockdir's pid (waiter 1's is a child of BG).  Uses the caller's round r.
start_ordered_waiter() {
  local k=$1
  shift
  if ((k == 1)); then
    background slow_first_rename lockdir "$@" -w 60s L \
      sh -c "echo $k >>order"
    pid=$(child_of "$BG")
    [ -n "$pid" ] || fail "round $r: waiter 1 has no lockdir process"
  else
    background lockdir "$@" -w 60s L sh -c "echo $k >>order"
    pid=$BG
  fi
}

# fifo_rounds ROUNDS [OPTION]...: in each round, hold L and let 8
# waiters (lockdir OPTION... -w 60s L) arrive 50 ms apart, waiter k+1
# only once waiter k visibly waits; waiter 1 is slowed by
# slow_first_rename.  Then release L.  Print the total of order
# inversions; fail if a waiter fails.
fifo_rounds() {
  local rounds=$1 r k pid total=0
  shift
  for ((r = 0; r < rounds; r++)); do
    rm -f order
    hold_lock "$@"
    # Not just 'test -d L': wait until L is the holder's, its record
    # naming the holder and its command, so that waiter 1 cannot find
    # L free and take it first.
    wait_until holds_with_command L "$HOLDER"
    local waiters=()
    for ((k = 1; k <= 8; k++)); do
      start_ordered_waiter "$k" "$@"
      waiters+=("$BG")
      wait_until waiting L "$pid"
      sleep 0.05    # the issue's arrival spacing, not a synchronisation
    done
    echo >gate
    wait "$HOLDER"
    for pid in "${waiters[@]}"; do
      wait "$pid" || fail "a waiter failed in round $r"
    done
    [ "$(wc -l <order)" -eq 8 ] || fail "round $r: $(cat order)"
    total=$((total + $(inversions order)))
  done
  echo "$total"
}

@test "LOCK.queue that is not a directory: the message names it, not LOCK" {
  touch L.queue
  run lockdir L true
  assert_failure 125
  assert_output "lockdir: cannot acquire 'L': its queue 'L.queue' exists and is not a directory; remove it"
  run lockdir --status L
  assert_failure 3
  assert_output "lockdir: cannot read 'L': its queue 'L.queue' exists and is not a directory; remove it"
  # LOCK itself not a directory is still said so.
  rm L.queue
  touch L
  run lockdir L true
  assert_failure 125
  assert_output "lockdir: cannot acquire 'L': it exists and is not a directory"
}

@test "--list and --status of several: a held lock whose LOCK.queue is not a directory is named (3), never left out" {
  lockdir L
  touch L.queue
  mkdir M
  local said="lockdir: cannot read 'L': its queue 'L.queue' exists and is not a directory; remove it"
  # Before, L was skipped as no lock: "M: free", status 1 (none held),
  # and --list said nothing of it, status 0.
  run --separate-stderr lockdir --status M L
  assert_failure 3
  assert_output "M: free"
  assert_equal "$stderr" "$said"
  run --separate-stderr lockdir --list --json .
  assert_failure 3
  assert_output '{"lock":"M","held":false}'
  assert_equal "$stderr" "$said"
  # A glob's L.queue, which is no lock, is still skipped.
  run --separate-stderr lockdir --status L.queue M
  assert_failure 1
  assert_output "M: free"
  assert_equal "$stderr" ""
  rm L.queue
  lockdir -u L
}

@test "8 waiters arriving 50 ms apart are served in arrival order: 20 rounds, 0 inversions" {
  run fifo_rounds "${FIFO_ROUNDS:-20}"
  assert_success
  assert_output 0
  [ ! -e L.queue ]
  assert_no_temporaries lockdir
}

@test "control: without the queue (--no-queue) the same rounds show inversions" {
  NO_QUEUE=yes run fifo_rounds 2 --no-queue
  assert_success
  [ "$output" -gt 0 ] || fail "no inversion without the queue: $output"
}

@test "on FUSE, where waiters poll, the order holds; a crowd (--no-queue, the control) never finds the lock unreadable" {
  require_root
  command -v bindfs >/dev/null || skip "no bindfs (see scripts/install-deps)"
  mkdir back mnt
  bindfs back mnt || skip "cannot mount bindfs here"
  FUSE_MOUNT=$PWD/mnt
  cd mnt
  # lockdir takes FUSE for a filesystem other hosts may change: it polls
  # (-q: without the warning that exclusion depends on the daemon).
  run fifo_rounds 2 -q
  assert_success
  assert_output 0
  NO_QUEUE=yes run fifo_rounds 1 -q --no-queue
  assert_success
  [ "$output" -gt 0 ] || fail "no inversion without the queue: $output"
  [ ! -e L.queue ]
}

# barging [OPTION]...: a loop takes L three times, releasing and asking
# again at once, in the script form (lockdir L; ...; lockdir -u L) and
# then the command form; while its first holding lasts, a slowed waiter
# queues.  Print who held L in order, one per line.
barging() {
  rm -f log gate && mkfifo gate
  (
    for i in 1 2 3; do
      lockdir "$@" L || exit 1
      echo "script $i" >>log
      if [ "$i" = 1 ]; then read -r x <gate; fi
      lockdir -u L || exit 1
    done
    for i in 1 2 3; do
      lockdir "$@" L sh -c "echo command $i >>log" || exit 1
    done
  ) 3>&- &
  local loop=$!
  BG_PIDS="${BG_PIDS:-} $loop"
  wait_until test -d L
  # Slowed 2 s: time enough, on a loaded machine, for the loop to start
  # its next lockdir (without the queue, it gets ahead of the waiter).
  SLOW_RENAME_USEC=2000000 \
    background slow_first_rename lockdir "$@" -w 30s L sh -c 'echo waiter >>log'
  local waiter=$BG
  wait_until waiting L "$(child_of "$waiter")"
  echo >gate
  wait "$loop" || fail "the loop failed"
  wait "$waiter" || fail "the waiter failed"
  cat log
}

@test "barging: a holder that releases and asks again at once queues behind the waiter" {
  run barging
  assert_success
  assert_equal "$(sed -n 2p <<<"$output")" waiter
  assert_equal "$(wc -l <<<"$output")" 7
  [ ! -e L.queue ]
}

@test "control: without the queue the looping holder barges past the waiter" {
  NO_QUEUE=yes run barging --no-queue
  assert_success
  [ "$(sed -n 2p <<<"$output")" != waiter ] ||
    fail "the waiter was served at the next release without the queue"
}

# --- dead and impatient waiters ----------------------------------------------

@test "SIGKILL of a waiter in mid-queue: it is skipped, the others are served in order, none hangs, no ticket left" {
  hold_lock
  local pids=() k
  for ((k = 1; k <= 6; k++)); do
    background lockdir -w 30s L sh -c "echo $k >>order"
    pids[k]=$BG
    wait_until waiting L "$BG"
  done
  kill -KILL "${pids[3]}"
  # Not 'run wait': run's subshell cannot wait for this shell's child,
  # and only knows its status if this shell reaped it first.
  local status=0
  wait "${pids[3]}" || status=$?
  [ "$status" = 137 ] || fail "the killed waiter exited $status, not 137"
  # The waiter behind it was woken by its death (pidfd) and removed its
  # ticket: one removal, before any release.
  wait_until tickets_are L 5
  echo >gate
  wait "$HOLDER"
  for k in 1 2 4 5 6; do
    wait "${pids[k]}" || fail "waiter $k failed"
  done
  assert_equal "$(cat order | tr '\n' ' ')" "1 2 4 5 6 "
  [ ! -e L.queue ]
}

# kill_queued_script_lockdir [ENV...]: hold L; behind it, a script
# whose lockdir (run with ENV) waits and which then lives on (SCRIPT);
# behind that, a waiter (WAITER) that writes 'ran'.  Then SIGKILL the
# script's lockdir: its status (137) is in ./status.
kill_queued_script_lockdir() {
  hold_lock
  background env "$@" sh -c 'lockdir -w 60s L; echo $? >status; exec sleep 600'
  SCRIPT=$BG
  wait_until queued L "$SCRIPT"
  local killed
  killed=$(pgrep -x -P "$SCRIPT" lockdir)
  background lockdir -w 60s L sh -c 'echo ran >ran'
  WAITER=$BG
  wait_until queued L "$WAITER"
  wait_until sleeps "$WAITER"
  kill -KILL "$killed"
  wait_until test -e status
}

@test "SIGKILL of a script's lockdir in mid-queue: its ticket is skipped though the script lives on" {
  # The ticket of the script form names the script as the owner, which
  # outlives its killed lockdir: the ticket names that lockdir too, as
  # its waiter, and the waiter behind watches that one.
  kill_queued_script_lockdir
  assert_equal "$(cat status)" 137
  # Woken by the death of the script's lockdir, the waiter behind
  # removed its ticket, before any release.
  wait_until tickets_are L 1
  echo >gate
  wait "$HOLDER"
  ran_while_alive "$SCRIPT"
  [ ! -e L.queue ]
}

@test "control: the same SIGKILL, with a ticket that names no waiter, blocks the queue while the script lives" {
  kill_queued_script_lockdir LD_PRELOAD="$(lockdir_shim)" LOCKDIR_SHIM_NO_WAITER=1
  echo >gate
  wait "$HOLDER"
  still_asleep
  [ "$(tickets L)" -eq 2 ]
  kill "$SCRIPT"
  wait "$WAITER"
  [ -e ran ]
}

# The number of the unlinkat by 'lockdir ARG...' (a waiter for L that
# times out) that removes its own ticket, once renamed to '.TICKET'
# (found in a traced run), for inject=unlinkat:when=N.
ticket_unlink_at() {
  strace -o trace -e trace=unlinkat lockdir "$@" 2>/dev/null
  local n
  n=$(grep '^unlinkat(' trace | grep -n '"\.[0-9]\{10\}\.x\.' |
    cut -d: -f1)
  rm trace
  [ -n "$n" ] || fail "no unlinkat of a ticket by lockdir $*"
  echo "$n"
}

@test "a waiter that times out and cannot remove its ticket (I/O error) names it after its own message; the status stays 75" {
  command -v strace >/dev/null || skip "strace is not installed"
  hold_lock
  local n
  n=$(ticket_unlink_at -w 0.2s L true)
  # Before, the ticket stayed, unsaid.
  run strace -o /dev/null -e trace=unlinkat \
    -e inject=unlinkat:error=EIO:when="$n" lockdir -w 0.2s L true
  assert_failure 75
  assert_line --index 0 --partial "'L' is still held after the timeout"
  assert_line --index 1 --regexp "^lockdir: warning: cannot remove the temporary 'L\.queue/\.[0-9]{10}\.x\.[^/']+': Input/output error\$"
  assert_equal "${#lines[@]}" 2
  [[ ${lines[1]} =~ \'(L\.queue/[^\']+)\' ]]
  [ -L "${BASH_REMATCH[1]}" ]
  rm "${BASH_REMATCH[1]}"
  echo >gate
  wait "$HOLDER"
  [ ! -e L ]
}

@test "a holder whose queue ticket cannot be removed when it releases (I/O error) names it; the status stays the command's" {
  hold_lock
  background env LD_PRELOAD="$(lockdir_shim)" \
    LOCKDIR_SHIM_TICKET_UNLINK_FAILS=5 lockdir -w 30s L sh -c 'exit 7' 2>err
  local waiter=$BG
  wait_until queued L "$waiter"
  local ticket
  ticket=$(ls L.queue)
  local rc
  release_then_reap "$waiter"
  # Before, the ticket stayed, unsaid, and blocked the queue.
  [ "$rc" -eq 7 ] || fail "status $rc: $(cat err)"
  run cat err
  assert_output "lockdir: warning: cannot remove the temporary 'L.queue/$ticket': Input/output error"
  [ ! -e L ]
  [ -L "L.queue/$ticket" ]
  rm -r L.queue
}

@test "--break that cannot remove the holding's queue ticket (I/O error) names it, retired, after its own message (-v); the status stays 0" {
  hold_lock
  background lockdir -w 30s L sh -c "read x <gate2"
  local waiter=$BG
  rm -f gate2 && mkfifo gate2
  wait_until queued L "$waiter"
  local ticket
  ticket=$(ls L.queue)
  echo >gate
  wait "$HOLDER"
  wait_until holds_with_command L "$waiter"
  local rc=0
  env LD_PRELOAD="$(lockdir_shim)" LOCKDIR_SHIM_TICKET_UNLINK_FAILS=5 \
    lockdir -v --break L >/dev/null 2>err || rc=$?
  [ "$rc" -eq 0 ] || fail "status $rc: $(cat err)"
  run cat err
  assert_line --index 0 --partial "lockdir: broke lock 'L' held by pid $waiter"
  assert_line --index 1 "lockdir: warning: cannot remove the temporary 'L.queue/.$ticket': Input/output error"
  assert_equal "${#lines[@]}" 2
  [ -L "L.queue/.$ticket" ]
  # The next look at the queue (the holder's own release) removes it.
  echo >gate2
  wait "$waiter" || :
  [ ! -e L.queue ]
}

@test "a holder whose lock was broken meanwhile and whose ticket cannot be removed (I/O error) says both, its own message first; the status stays the command's" {
  hold_lock
  rm -f gate2 && mkfifo gate2
  background env LD_PRELOAD="$(lockdir_shim)" \
    LOCKDIR_SHIM_TICKET_UNLINK_FAILS=5 lockdir -w 30s L sh -c \
    'read x <gate2; exit 7' 2>err
  local waiter=$BG
  wait_until queued L "$waiter"
  local ticket
  ticket=$(ls L.queue)
  echo >gate
  wait "$HOLDER"
  wait_until holds_with_command L "$waiter"
  # Broken by a --break that cannot remove the ticket either, nor retire
  # it: it stays under its own name, the holder's to remove.
  env LD_PRELOAD="$(lockdir_shim)" LOCKDIR_SHIM_TICKET_UNLINK_FAILS=5 \
    LOCKDIR_SHIM_NO_RETIRE=1 lockdir --break L >/dev/null 2>/dev/null
  [ ! -e L ]
  [ -L "L.queue/$ticket" ]
  echo >gate2
  local rc=0
  wait "$waiter" || rc=$?
  [ "$rc" -eq 7 ] || fail "status $rc: $(cat err)"
  run cat err
  # Before, the warning came first.
  assert_line --index 0 "lockdir: lock 'L' had been broken by someone else"
  assert_line --index 1 "lockdir: warning: cannot remove the temporary 'L.queue/$ticket': Input/output error"
  assert_equal "${#lines[@]}" 2
  rm -r L.queue
}

@test "--break that cannot read the queue to remove the holding's ticket (I/O error) says so, after its own message (-v); the status stays 0" {
  command -v strace >/dev/null || skip "strace is not installed"
  hold_lock
  background lockdir -w 30s L sh -c "read x <gate2"
  local waiter=$BG
  rm -f gate2 && mkfifo gate2
  wait_until queued L "$waiter"
  echo >gate
  wait "$HOLDER"
  wait_until holds_with_command L "$waiter"
  local ticket
  ticket=$(ls L.queue)
  break_with_queue_unread
  assert_line --index 0 --partial "lockdir: broke lock 'L' held by pid $waiter"
  assert_line --index 1 "lockdir: warning: cannot read the queue 'L.queue', so the holding's ticket, if it has one, stays: Input/output error"
  assert_equal "${#lines[@]}" 2
  [ -L "L.queue/$ticket" ]
  echo >gate2
  wait "$waiter" || :
}

@test "--break of a shared lock's two holdings that cannot read the queue (I/O error) says so once, after its own messages (-v)" {
  command -v strace >/dev/null || skip "strace is not installed"
  background sleep 60
  local one=$BG
  background sleep 60
  local two=$BG
  mkdir L.queue
  lockdir --shared --owner-pid "$one" L
  lockdir --shared --owner-pid "$two" L
  # Before, each holding ended said it again.
  break_with_queue_unread
  assert_line --index 0 --partial "lockdir: broke lock 'L' held by pid "
  assert_line --index 1 --partial "lockdir: broke lock 'L' held by pid "
  assert_line --index 2 "lockdir: warning: cannot read the queue 'L.queue', so the holding's ticket, if it has one, stays: Input/output error"
  assert_equal "${#lines[@]}" 3
  [ ! -e L ]
}

@test "lockdir -u that cannot read the queue (I/O error) says so; the status stays 0" {
  command -v strace >/dev/null || skip "strace is not installed"
  mkdir L.queue
  lockdir L
  local rc=0
  strace -qq -o /dev/null -P L.queue -e trace=openat \
    -e inject=openat:error=EIO lockdir -u --owner-pid "$BASHPID" L 2>err ||
    rc=$?
  [ "$rc" -eq 0 ] || fail "status $rc: $(cat err)"
  [ ! -e L ]
  run grep -v '^strace: ' err
  assert_output "lockdir: warning: cannot read the queue 'L.queue', so the holding's ticket, if it has one, stays: Input/output error"
}

@test "lockdir -u where L.queue is a file, which holds no ticket, says nothing of the queue; the status stays 0" {
  background sleep 60
  lockdir --no-queue --owner-pid "$BG" L
  : >L.queue
  # Before: "cannot read the queue 'L.queue', so the holding's ticket,
  # if it has one, stays: Not a directory".
  run lockdir -u --owner-pid "$BG" L
  assert_success
  assert_output ""
  [ ! -e L ]
  [ -f L.queue ]
}

@test "the script form: a waiter whose script dies gives up at once, says so, and leaves no ticket" {
  # In the queue (behind the holder's ticket) and without it.
  local opts
  for opts in "" "--no-queue"; do
    GATE=gate hold_lock -w 1s
    # The script runs lockdir in the background, so that its death
    # leaves lockdir waiting on its own.
    background sh -c "lockdir $opts -w 60s L 2>err & echo \$! >pid; wait"
    script=$BG
    wait_until test -s pid
    waiter=$(cat pid)
    wait_until sleeps "$waiter"
    kill -KILL "$script"
    wait_until is_dead "$waiter"
    assert_equal "$(cat err)" "lockdir: the owner, pid $script, exited while waiting for 'L': not acquired"
    [ ! -e L.queue ] || [ "$(tickets L)" -eq 0 ]
    # The holder was not disturbed.
    lockdir --status L | grep -qx "pid=$HOLDER"
    echo >gate
    wait "$HOLDER"
    rm -f pid err
  done
}

@test "--owner-pid: a waiter whose owner dies gives up at once with status 3" {
  hold_lock
  sleep 600 3>&- &
  owner=$!
  BG_PIDS="${BG_PIDS:-} $owner"
  background sh -c "lockdir --owner-pid=$owner -w 60s L 2>err; echo \$? >status"
  waiter=$BG
  wait_until queued L "$owner"
  kill "$owner"
  wait_until test -e status
  assert_equal "$(cat status)" 3
  assert_equal "$(cat err)" "lockdir: the owner, pid $owner, exited while waiting for 'L': not acquired"
  [ "$(tickets L)" -eq 0 ]
}

@test "--owner-pid: an owner that dies as L is released is not given L: status 3, L free" {
  # The waiter is stopped (SIGSTOP) while its owner dies and the holder
  # releases L, so that both have happened when it wakes: the order a
  # loaded machine can give them, held open here.  In the queue and
  # without it.
  local opts
  for opts in "" "--no-queue"; do
    GATE=gate hold_lock
    sleep 600 3>&- &
    owner=$!
    BG_PIDS="${BG_PIDS:-} $owner"
    background lockdir $opts --owner-pid="$owner" -w 60s L
    waiter=$BG
    [ -n "$opts" ] || wait_until queued L "$owner"
    wait_until sleeps "$waiter"
    kill -STOP "$waiter"
    kill "$owner"
    wait "$owner" || :
    echo >gate
    wait "$HOLDER"
    [ ! -e L ]
    kill -CONT "$waiter"
    local status=0
    wait "$waiter" || status=$?
    assert_equal "$status" 3
    [ ! -e L ] || fail "${opts:-queue}: L was taken for a dead owner: $(lockdir --status L)"
    [ ! -e L.queue ]
  done
}

# plant_ticket NUMBER PID [KEY=VALUE]...: put in L's queue a ticket of
# process PID (alive on this system), as lockdir would; extra lines
# override fields (later lines win in the parser).
plant_ticket() {
  local number=$1 pid=$2
  shift 2
  mkdir -p L.queue
  ln -s "pid=$pid
start_time=$(start_time_of "$pid")
boot_id=$(cat /proc/sys/kernel/random/boot_id)
pidns=$(stat -L -c %i /proc/self/ns/pid)
host=$(uname -n)
command=planted by the test
$(printf '%s\n' "$@")" "L.queue/$(printf %010d "$number").x.planted$number"
}

@test "control: a ticket whose waiter lives but never comes blocks the queue, and the harness sees it" {
  background sleep 60
  sleeper=$BG
  plant_ticket 1 "$sleeper"
  run lockdir -w 1s L true
  assert_failure 75
  assert_output --partial "is free, but 1 waiter is queued for it"
  [ "$(tickets L)" -eq 1 ]
  # Once the process behind that ticket is dead, the next one skips it.
  kill "$sleeper"
  wait "$sleeper" || :
  run lockdir -n L true
  assert_success
  [ ! -e L.queue ]
}

@test "a ticket from another boot of this host, left by a crash or a reboot, is removed by the next lockdir" {
  background sleep 60
  plant_ticket 1 "$BG" boot_id=00000000-0000-0000-0000-000000000000
  run lockdir -n L true
  assert_success
  [ ! -e L.queue ]
  plant_ticket 1 "$BG" boot_id=00000000-0000-0000-0000-000000000000
  run lockdir -w 10s L true
  assert_success
  [ ! -e L.queue ]
}

@test "--status --json calls a ticket from another boot of this host stale, as the next lockdir finds it" {
  background sleep 60
  plant_ticket 1 "$BG" boot_id=00000000-0000-0000-0000-000000000000
  run lockdir --status --json L
  assert_failure 1
  echo "$output" | jq -e '.queue[0].stale == true' >/dev/null ||
    fail "not stale: $output"
  # It is what lockdir does with it.
  lockdir -n L true
  [ ! -e L.queue ]
}

@test "--status marks a dead waiter's ticket stale=yes, as --json says stale, and a live one not" {
  background sleep 60
  plant_ticket 1 "$BG" boot_id=00000000-0000-0000-0000-000000000000
  plant_ticket 2 "$BG"
  run lockdir --status --json L
  echo "$output" | jq -e '[.queue[].stale] == [true, false]' >/dev/null ||
    fail "$output"
  run lockdir --status L
  assert_failure 1
  assert_line --regexp "^queued=1 pid=$BG .* since= stale=yes command=planted by the test\$"
  assert_line --regexp "^queued=2 pid=$BG .* since= command=planted by the test\$"
  # The one line of --list says it too.
  run lockdir --list .
  assert_output "L: free; 2 waiting, 1 of them stale"
}

@test "--status and --list that cannot read a ticket (I/O error) name it, status 3, not a free lock with no waiters" {
  background sleep 60
  plant_ticket 1 "$BG"
  local ticket=L.queue/0000000001.x.planted1
  run env LD_PRELOAD="$(lockdir_shim)" LOCKDIR_SHIM_TICKET_READ_FAILS=5 \
    lockdir --status L
  assert_failure 3
  assert_output "lockdir: cannot read 'L': cannot read '$ticket': Input/output error"
  run env LD_PRELOAD="$(lockdir_shim)" LOCKDIR_SHIM_TICKET_READ_FAILS=5 \
    lockdir --list .
  assert_failure 3
  assert_output "lockdir: cannot read 'L': cannot read '$ticket': Input/output error"
  # A ticket that is gone meanwhile (its waiter left) is rightly left
  # out: that one is ENOENT, not an error.
  run env LD_PRELOAD="$(lockdir_shim)" LOCKDIR_SHIM_TICKET_READ_FAILS=2 \
    lockdir --status L
  assert_failure 1
  assert_output ""
  [ -L "$ticket" ]
}

@test "a waiter that cannot read a ticket ahead of it (I/O error) names it, status 3, and leaves nothing behind" {
  background sleep 60
  plant_ticket 1 "$BG"
  local ticket=L.queue/0000000001.x.planted1
  # Before, only "cannot acquire 'L': Input/output error".
  run env LD_PRELOAD="$(lockdir_shim)" LOCKDIR_SHIM_TICKET_READ_FAILS=5 \
    lockdir -w 0 L
  assert_failure 3
  assert_output "lockdir: cannot acquire 'L': cannot read '$ticket': Input/output error"
  run env LD_PRELOAD="$(lockdir_shim)" LOCKDIR_SHIM_TICKET_READ_FAILS=5 \
    lockdir -w 0 L true
  assert_failure 125
  assert_output "lockdir: cannot acquire 'L': cannot read '$ticket': Input/output error"
  [ ! -e L ]
  run ls L.queue
  assert_output "${ticket#L.queue/}"
}

@test "a waiter that cannot read the queue (I/O error) names it, status 3" {
  command -v strace >/dev/null || skip "strace is not installed"
  background sleep 60
  plant_ticket 1 "$BG"
  # Every open of L.queue fails.  (strace says how it resolved L.queue
  # on stderr: set apart.)
  local rc=0
  strace -qq -o /dev/null -P L.queue -e trace=openat \
    -e inject=openat:error=EIO lockdir -w 0 L 2>err || rc=$?
  [ "$rc" -eq 3 ] || fail "status $rc: $(cat err)"
  run grep -v '^strace: ' err
  # Before, only "cannot acquire 'L': Input/output error".
  assert_output "lockdir: cannot acquire 'L': cannot read 'L.queue': Input/output error"
  [ ! -e L ]
}

@test "--status, --list and a waiter that may not read the queue name 'L.queue', status 3; the other locks are shown" {
  require_root
  require_setpriv
  chmod o+x "$BATS_TEST_TMPDIR"
  mkdir M
  background sleep 60
  plant_ticket 1 "$BG"
  chmod 700 L.queue
  local said="cannot read 'L': cannot read 'L.queue': Permission denied"
  # Before, "cannot read 'L': Permission denied", and --list failed
  # for every lock with "cannot list the locks in '.'".
  run --separate-stderr as_nobody lockdir --status L
  assert_failure 3
  assert_output ""
  assert_equal "$stderr" "lockdir: $said"
  run --separate-stderr as_nobody lockdir --status --json L M
  assert_failure 3
  assert_output '{"lock":"M","held":false}'
  assert_equal "$stderr" "lockdir: $said"
  # --list cannot tell this L.queue, with no L beside it, from a lock
  # of that name: it names L.queue alone (a lock L, once there, names
  # it as its queue).
  run --separate-stderr as_nobody lockdir --list --json .
  assert_failure 3
  assert_output '{"lock":"M","held":false}'
  assert_equal "$stderr" "lockdir: cannot read 'L.queue': Permission denied"
  chmod o+w "$BATS_TEST_TMPDIR"
  run as_nobody lockdir -w 1s L true
  assert_failure 125
  assert_output "lockdir: cannot acquire 'L': cannot read 'L.queue': Permission denied"
  [ ! -e L ]
}

@test "a waiter that may not put its ticket in the queue names 'L.queue', status 125 (3 without COMMAND), and leaves nothing" {
  require_root
  require_setpriv
  # A sticky directory all may write in, as /tmp: the queue is root's.
  chmod 1777 "$BATS_TEST_TMPDIR"
  hold_lock
  background sleep 60
  plant_ticket 1 "$BG"
  local said="cannot acquire 'L': cannot queue in 'L.queue': Permission denied"
  # Before, "cannot acquire 'L': Permission denied": L itself, in a
  # directory anyone may write in, looked at fault.
  run as_nobody lockdir -w 30s L true
  assert_failure 125
  assert_output "lockdir: $said"
  run as_nobody lockdir -w 30s L
  assert_failure 3
  assert_output "lockdir: $said"
  assert_equal "$(ls L.queue)" 0000000001.x.planted1
  echo >gate
  wait "$HOLDER"
}

@test "a waiter that cannot remove a dead waiter's ticket (I/O error) names it once, passes over it, and is served" {
  hold_lock
  background sleep 60
  plant_ticket 1 "$BG" boot_id=00000000-0000-0000-0000-000000000000
  local dead=L.queue/0000000001.x.planted1
  background env LD_PRELOAD="$(lockdir_shim)" \
    LOCKDIR_SHIM_TICKET_UNLINK_FAILS=5 lockdir -w 30s L true 2>err
  local waiter=$BG
  # Judged before it queued, and again once queued: twice at least.
  wait_until queued L "$waiter"
  wait_until sleeps "$waiter"
  local ticket
  ticket=$(ls L.queue | grep -v planted)
  local rc
  release_then_reap "$waiter"
  [ "$rc" -eq 0 ] || fail "status $rc: $(cat err)"
  run cat err
  # Its own ticket, which it cannot remove either, is named as before.
  assert_line --index 0 "lockdir: warning: cannot remove the ticket '$dead' of a dead waiter: Input/output error"
  assert_line --index 1 "lockdir: warning: cannot remove the temporary 'L.queue/$ticket': Input/output error"
  assert_equal "${#lines[@]}" 2
  [ -L "$dead" ]
  rm -r L.queue
}

@test "a ticket that names no pid: --status shows no 'pid=0', as --json says null" {
  background sleep 60
  plant_ticket 1 "$BG" pid=abc
  run lockdir --status L
  assert_failure 1
  assert_output --regexp "^queued=1 host=$(uname -n) mode=exclusive since= command=planted by the test\$"
  run lockdir --status --json L
  echo "$output" | jq -e '.queue[0].pid == null' >/dev/null || fail "$output"
}

@test "a script's lockdir under a /proc of another pid namespace refuses --owner-pid before it queues: that /proc cannot tell whether the owner lives (3)" {
  require_pid_namespace
  command -v strace >/dev/null || skip "strace is not installed"
  hold_lock
  background sleep 60
  # lockdir is pid 1 of the new namespace; /proc/1 is the outside's 1,
  # and $BG, alive outside, is no pid of the namespace.  Before, it
  # queued, then said that $BG had exited.
  run strace -f -qq -o trace -e trace=openat,symlinkat \
    unshare --pid --fork lockdir --owner-pid "$BG" -w 30s L
  assert_failure 3
  assert_output "lockdir: cannot name pid $BG in the owner record of 'L': /proc is not this process's pid namespace's; not acquired"
  # It took no ticket, and read no start time but its own.
  run grep 'symlinkat(' trace
  assert_failure 1
  run grep -E '"/proc/(1|'"$BG"')/stat"' trace
  assert_failure 1
  assert_output ""
  [ ! -e L.queue ]
  kill -0 "$HOLDER"
  echo >gate
  wait "$HOLDER"
}

@test "a ticket that names no uid: --status says nothing of it, as --json says null; --list neither" {
  background sleep 60
  plant_ticket 1 "$BG"
  run lockdir --status L
  assert_failure 1
  assert_output --regexp "^queued=1 pid=$BG host=$(uname -n) mode=exclusive since= command=planted by the test\$"
  run lockdir --status --json L
  echo "$output" | jq -e '.queue[0].uid == null' >/dev/null || fail "$output"
  run lockdir --list .
  assert_output "L: free; 1 waiting"
}

@test "control: the same ticket from another host blocks the queue, and the message says how to clear it" {
  background sleep 60
  plant_ticket 1 "$BG" boot_id=00000000-0000-0000-0000-000000000000 host=elsewhere.example
  run lockdir -n L true
  assert_failure 75
  assert_output "lockdir: 'L' is free, but 1 waiter is queued for it
lockdir: the first, pid $BG on elsewhere.example, is of another host or pid namespace and has no lease, so it is never judged dead from here; if it no longer waits, remove its ticket from 'L.queue'"
  [ "$(tickets L)" -eq 1 ]
}

@test "a waiter behind a ticket that names no pid names that ticket, says it is never judged dead and is to be removed by hand" {
  background sleep 60
  plant_ticket 1 "$BG" pid=abc
  run lockdir -w 0.2s L true
  assert_failure 75
  assert_output "lockdir: 'L' is free, but 1 waiter is queued for it
lockdir: the first is an unknown waiter: its ticket 'L.queue/0000000001.x.planted1' is not lockdir's: it names no pid, so it is never judged dead; if no one waits with it, remove it by hand"
  [ "$(tickets L)" -eq 1 ]
  # A ticket written by hand with nothing but a command: the same, not
  # "pid 0 on an unknown host".
  rm L.queue/*
  ln -s 'command=by hand' L.queue/1.x.byhand
  run lockdir -n L true
  assert_failure 75
  assert_output "lockdir: 'L' is free, but 1 waiter is queued for it
lockdir: the first is an unknown waiter: its ticket 'L.queue/1.x.byhand' is not lockdir's: it names no pid, so it is never judged dead; if no one waits with it, remove it by hand"
  [ "$(tickets L)" -eq 1 ]
}

@test "LOCK given as 'L/': the tickets the busy message names are in 'L.queue', not 'L/.queue'" {
  mkdir L.queue
  ln -s 'command=by hand' L.queue/1.x.byhand
  run lockdir -n L/ true
  assert_failure 75
  assert_line --index 1 "lockdir: the first is an unknown waiter: its ticket 'L.queue/1.x.byhand' is not lockdir's: it names no pid, so it is never judged dead; if no one waits with it, remove it by hand"
  rm L.queue/*
  background sleep 60
  plant_ticket 1 "$BG" boot_id=00000000-0000-0000-0000-000000000000 host=elsewhere.example
  run lockdir -n L// true
  assert_failure 75
  assert_line --index 1 "lockdir: the first, pid $BG on elsewhere.example, is of another host or pid namespace and has no lease, so it is never judged dead from here; if it no longer waits, remove its ticket from 'L.queue'"
}

@test "a ticket from another boot ahead of a live waiter: -n names neither it as a waiter nor as never judged dead" {
  background sleep 60
  plant_ticket 1 "$BG" boot_id=00000000-0000-0000-0000-000000000000
  background sleep 60
  local sleeper=$BG
  plant_ticket 2 "$sleeper"
  run lockdir -n L true
  assert_failure 75
  assert_output "lockdir: 'L' is free, but 1 waiter is queued for it"
  run lockdir --status --json L
  echo "$output" | jq -e '[.queue[].stale] == [true, false]' >/dev/null ||
    fail "$output"
  # It is what lockdir does with it: once the live waiter is gone, the
  # next lockdir removes both.
  kill "$sleeper"
  wait "$sleeper" || :
  lockdir -n L true
  [ ! -e L.queue ]
}

# mixed_timeouts [OPTION]...: hold L; 25 waiters arrive, every fifth
# (the 3rd, 8th, ...) a long one (-w 60s, the first of them slowed by
# slow_first_rename), the others with -w 1s.  Once every short one has
# timed out (status 75), print the number of tickets left, then release
# L and print the order the long ones were served in.
mixed_timeouts() {
  hold_lock
  local i j=0 pid shorts=() longs=()
  for ((i = 0; i < 25; i++)); do
    if ((i % 5 == 2)); then
      j=$((j + 1))
      start_ordered_waiter "$j" "$@"
      longs+=("$BG")
      wait_until waiting L "$pid"
    else
      background lockdir -q "$@" -w 1s L true
      shorts+=("$BG")
      wait_until waiting_or_gone L "$BG"
    fi
  done
  for pid in "${shorts[@]}"; do
    local status=0
    wait "$pid" || status=$?
    [ "$status" = 75 ] || fail "a short waiter exited $status, not 75"
  done
  tickets L
  echo >gate
  wait "$HOLDER"
  for pid in "${longs[@]}"; do
    wait "$pid" || fail "a long waiter failed"
  done
  tr '\n' ' ' <order
  echo
}

@test "20 waiters with -w 1s among 5 long ones: the long ones are served in order, no ticket is left" {
  run mixed_timeouts
  assert_success
  assert_equal "${lines[0]}" 5
  assert_equal "${lines[1]}" "1 2 3 4 5 "
  [ ! -e L.queue ]
}

@test "control: without the queue the long waiters are not served in order" {
  NO_QUEUE=yes run mixed_timeouts --no-queue
  assert_success
  [ "${lines[1]}" != "1 2 3 4 5 " ] ||
    fail "served in order without the queue"
}

@test "a waiter interrupted by SIGTERM, SIGINT or SIGHUP removes its ticket (SIGKILL cannot)" {
  hold_lock
  local sig rc
  for sig in TERM INT HUP; do
    # A background job of a shell without job control starts with
    # SIGINT ignored (and under nohup, SIGHUP too), and lockdir leaves
    # them so: give them back.
    background env --default-signal lockdir -w 30s L true
    wait_until waiting L "$BG"
    [ "$(tickets L)" -eq 1 ]
    kill -"$sig" "$BG"
    rc=0
    wait "$BG" || rc=$?
    # Ended by the signal, not by -w's timeout.
    [ "$rc" -eq $((128 + $(kill -l "$sig"))) ] || fail "SIG$sig: status $rc"
    [ ! -e L.queue ] || fail "SIG$sig left $(ls L.queue)"
  done
  # The control: a killed waiter leaves its ticket, to be judged dead.
  background lockdir -w 30s L true
  wait_until waiting L "$BG"
  kill -KILL "$BG"
  wait "$BG" || :
  [ "$(tickets L)" -eq 1 ]
  echo >gate
  wait "$HOLDER"
  lockdir -w 5s L true
  [ ! -e L.queue ]
}

@test "a waiter ended by SIGTERM, SIGINT or SIGHUP that cannot remove its ticket (I/O error) names it, retired; the status stays the signal's" {
  hold_lock
  local sig ticket rc
  for sig in TERM INT HUP; do
    # SIGINT and SIGHUP given back (see above).
    background env --default-signal LD_PRELOAD="$(lockdir_shim)" \
      LOCKDIR_SHIM_TICKET_UNLINK_FAILS=5 lockdir -w 30s L true 2>err
    wait_until waiting L "$BG"
    ticket=$(ls L.queue)
    kill -"$sig" "$BG"
    rc=0
    wait "$BG" || rc=$?
    [ "$rc" -eq $((128 + $(kill -l "$sig"))) ] ||
      fail "SIG$sig: status $rc: $(cat err)"
    # Before, nothing was said.
    run cat err
    assert_output "lockdir: warning: cannot remove the temporary 'L.queue/.$ticket': Input/output error"
    [ -L "L.queue/.$ticket" ]
    rm -r L.queue
  done
}

@test "a waiter that times out and cannot remove its ticket (I/O error), with SIGTERM coming meanwhile, names it; the status stays the signal's" {
  command -v strace >/dev/null || skip "strace is not installed"
  hold_lock
  local n
  n=$(ticket_unlink_at -w 0.2s L true)
  # SIGTERM comes with the failed unlinkat, blocked until the ticket is
  # unregistered.  Before, it ended lockdir there, and the warning kept
  # for later with it: nothing was said.
  run --separate-stderr strace -qq -o /dev/null -e trace=unlinkat \
    -e inject=unlinkat:error=EIO:signal=TERM:when="$n" lockdir -w 0.2s L true
  assert_equal "$status" 143
  [[ $stderr =~ ^lockdir:\ warning:\ cannot\ remove\ the\ temporary\ \'(L\.queue/\.[0-9]{10}\.x\.[^/\']+)\':\ Input/output\ error$ ]] ||
    fail "$stderr"
  [ -L "${BASH_REMATCH[1]}" ]
  rm "${BASH_REMATCH[1]}"
  echo >gate
  wait "$HOLDER"
  [ ! -e L ]
}

@test "a waiter ended by SIGTERM that can neither retire nor remove its ticket names it as it is, in the lock's directory" {
  mkdir d
  local gate=gate
  rm -f "$gate" && mkfifo "$gate"
  background lockdir d/L sh -c "read x <$gate"
  HOLDER=$BG
  wait_until test -d d/L
  background env LD_PRELOAD="$(lockdir_shim)" LOCKDIR_SHIM_NO_RETIRE=1 \
    LOCKDIR_SHIM_TICKET_UNLINK_FAILS=5 lockdir -w 30s d/L true 2>err
  wait_until waiting d/L "$BG"
  local ticket
  ticket=$(ls d/L.queue)
  kill -TERM "$BG"
  local rc=0
  wait "$BG" || rc=$?
  [ "$rc" -eq 143 ] || fail "status $rc: $(cat err)"
  run cat err
  assert_output "lockdir: warning: cannot remove the temporary 'd/L.queue/$ticket': Input/output error"
  [ -L "d/L.queue/$ticket" ]
  rm -r d/L.queue
  echo >gate
  wait "$HOLDER"
}

# lease_queue SIGNAL: hold L; w1 queues with --lease=3s, w2 behind it;
# w1 gets SIGNAL (STOP, or CONT: nothing), then 7 s (2.3 leases) pass.
# (w1 touches its ticket every second: running, it may be off the CPU
# for 2 s, on a loaded machine, and keep its place.)
# Release L, continue w1, and print the order they were served in.
lease_queue() {
  hold_lock
  background lockdir --lease=3s -w 60s L sh -c 'echo w1 >>order'
  w1=$BG
  wait_until waiting L "$w1"
  background lockdir -w 60s L sh -c 'echo w2 >>order'
  w2=$BG
  wait_until waiting L "$w2"
  kill -"$1" "$w1"
  sleep 7     # the leases that pass, not a synchronisation
  echo >gate
  wait "$HOLDER"
  wait_until test -s order
  kill -CONT "$w1" 2>/dev/null || :     # it may be done already
  wait "$w1" "$w2"
  tr '\n' ' ' <order
}

@test "--lease: a queued waiter keeps its place by touching its ticket; a stopped one loses it" {
  run lease_queue CONT
  assert_success
  assert_output "w1 w2 "
  rm -f order
  # Stopped past its lease, w1's ticket is judged dead by w2 behind it;
  # continued, w1 finds its ticket gone and queues again, at the back.
  run lease_queue STOP
  assert_success
  assert_output "w2 w1 "
  [ ! -e L.queue ]
}

@test "--lease: a waiter that cannot refresh its ticket's time (I/O error) says so once, naming it" {
  command -v strace >/dev/null || skip "strace is not installed"
  hold_lock
  # Every utimensat(2) of the waiter fails; it touches its ticket every
  # 100 ms, and never holds the lock, so touches nothing else.
  background strace -f -qq -o trace -e trace=utimensat \
    -e inject=utimensat:error=EIO \
    lockdir --lease=300ms -w 60s L true 2>err
  local waiter
  waiter=$(child_of "$BG")
  wait_until queued L "$waiter"
  local ticket
  ticket=$(ls L.queue)
  # At least two failed touches, so "once" means something.
  wait_until eval '[ "$(grep -c "utimensat.*EIO" trace)" -ge 2 ]'
  kill -TERM "$waiter"
  wait "$BG" || :
  run cat err
  assert_output "lockdir: warning: cannot refresh the time of the ticket 'L.queue/$ticket', which then looks dead once its lease passes: Input/output error"
  [ ! -e L.queue ]
}

@test "-n never queues and does not barge past a waiter; --no-queue -n does" {
  hold_lock
  background lockdir -w 30s L sh -c 'echo waiter >>log'
  waiter=$BG
  wait_until waiting L "$waiter"
  run lockdir -n L true
  assert_failure 75
  [ "$(tickets L)" -eq 1 ]
  # The lock free, but the waiter's turn: it is stopped, so it cannot
  # take it yet.
  kill -STOP "$waiter"
  echo >gate
  wait "$HOLDER"
  wait_until test ! -e L
  run lockdir -n L true
  assert_failure 75
  assert_output --partial "'L' is free, but 1 waiter is queued for it"
  run lockdir -w 0 L true
  assert_failure 75
  [ "$(tickets L)" -eq 1 ]
  run lockdir --no-queue -n L sh -c 'echo barged >>log'
  assert_success
  kill -CONT "$waiter"
  wait "$waiter"
  assert_equal "$(cat log)" "$(printf 'barged\nwaiter')"
  [ ! -e L.queue ]
}

# True once LOCK holds no owner record: free, or an ended holding.
no_record() {
  ! compgen -G "$1/owner.*" >/dev/null
}

@test "-n as a holder releases: its own ticket is never counted as a waiter" {
  local shim
  shim=$(command -v fault-shim.so) ||
    skip "tests/fault-shim.so is not built (make check builds it)"
  # The holder came through the queue, so it has a ticket.  The shim
  # holds each of its unlinks (of the ticket, of L) until the test lets
  # it go on, whatever the order of its steps; at the first one after
  # its record has gone, -n runs.
  GATE=gate0 hold_lock
  local first=$HOLDER holder n=0 ran_n=
  mkfifo gate
  mkdir fa
  background env LD_PRELOAD="$shim" FAULT_DIR="$PWD/fa" \
    FAULT_PAUSE=unlinkat:1,unlinkat:2,unlinkat:3,unlinkat:4,unlinkat:5 \
    lockdir -w 30s L sh -c 'read x <gate'
  holder=$BG
  wait_until queued L "$holder"
  echo >gate0
  wait "$first"
  wait_until holds_with_command L "$holder"
  echo >gate
  while :; do
    n=$((n + 1))
    wait_until paused_or_dead "fa/paused.unlinkat.$n" "$holder"
    [ -e "fa/paused.unlinkat.$n" ] || break
    if [ -z "$ran_n" ] && no_record L; then
      # The holding has ended (its record is gone): L is free.
      run lockdir -n L true
      ran_n=$status
      refute_output --partial "queued for it"
    fi
    : >"fa/go.unlinkat.$n"
  done
  wait "$holder"
  [ -n "$ran_n" ] || fail "no unlink after the record went"
  assert_equal "$ran_n" 0
}

@test "a failed read of the queue (EIO) is an error: no newcomer ticket ahead of its turn, no --status without the waiters" {
  command -v strace >/dev/null || skip "strace is not installed"
  hold_lock
  enqueue 'echo w1 >>order'
  local w1=$BG
  # The newcomer reads L's entries first (two getdents64: the entries,
  # then the end); the third is the queue's.  --status reads L twice
  # (its holders, then its record): the queue's is the fifth.  A read
  # cut short there listed no ticket: the newcomer took number 1, w1's
  # own, and --status showed nobody waiting.
  run strace -qq -o /dev/null -e trace=getdents64 \
    -e inject=getdents64:error=EIO:when=3 lockdir -w 30s L true
  assert_failure 125
  assert_output --partial "Input/output error"
  tickets_are L 1 || fail "tickets: $(ls -A L.queue)"
  run strace -qq -o /dev/null -e trace=getdents64 \
    -e inject=getdents64:error=EIO:when=5 lockdir --status L
  assert_failure 3
  assert_output --partial "Input/output error"
  echo >gate
  wait "$w1"
  assert_equal "$(cat order)" w1
}

# newcomer_in_release WHERE [OPTION]...: a holder that came through
# the queue (its ticket goes first) and a waiter behind it (w1, asleep);
# the holder's release is held open by the fault shim: after its ticket
# went, before its record goes to L.last (WHERE is "record": its second
# rename, the first took L), or after that, before L is removed (WHERE
# is "L": the first unlink once its record has gone).  While it is
# held, a newcomer (lockdir OPTION... -w 30s L) comes; then the holder
# goes on.  The order the two got L in is in ./order; what L held when
# the newcomer had queued, in WINDOW.
newcomer_in_release() {
  local shim
  shim=$(command -v fault-shim.so) ||
    skip "tests/fault-shim.so is not built (make check builds it)"
  GATE=gate0 hold_lock
  local first=$HOLDER holder w1 newcomer n pause
  mkfifo gate
  mkdir fa
  if [ "$1" = record ]; then
    pause=renameat:2
  else
    pause=unlinkat:1,unlinkat:2,unlinkat:3,unlinkat:4,unlinkat:5
  fi
  background env LD_PRELOAD="$shim" FAULT_DIR="$PWD/fa" \
    FAULT_PAUSE="$pause" lockdir -w 30s L sh -c 'read x <gate'
  holder=$BG
  wait_until queued L "$holder"
  echo >gate0
  wait "$first"
  wait_until holds_with_command L "$holder"
  enqueue 'echo w1 >>order'
  w1=$BG
  wait_until sleeps "$w1"
  echo >gate
  if [ "$1" = record ]; then
    wait_until test -e fa/paused.renameat.2
    ! no_record L || fail "no record in L at the second rename"
  else
    for ((n = 1; n <= 5; n++)); do
      wait_until test -e "fa/paused.unlinkat.$n"
      no_record L && break
      : >"fa/go.unlinkat.$n"
    done
    ((n <= 5)) || fail "no unlink after the record went"
  fi
  # The release is held there: the holder's ticket is gone.
  tickets_are L 1 || fail "tickets: $(ls -A L.queue)"
  background lockdir "${@:2}" -w 30s L sh -c 'echo newcomer >>order'
  newcomer=$BG
  if [ $# -gt 1 ]; then
    wait_until test -s order
  else
    wait_until queued L "$newcomer"
  fi
  WINDOW=$(ls -A L 2>/dev/null | sed 's/[.].*//' | sort -u | tr '\n' ' ')
  # The holder goes on.
  : >fa/go.renameat.2
  for ((n = 1; n <= 5; n++)); do : >"fa/go.unlinkat.$n"; done
  wait "$holder"
  wait "$w1"
  wait "$newcomer"
}

# newcomer_behind_waiter WHERE WINDOW: newcomer_in_release WHERE; L
# held WINDOW then, and the waiter got L before the newcomer.
newcomer_behind_waiter() {
  newcomer_in_release "$1"
  assert_equal "$WINDOW" "$2"
  assert_equal "$(cat order | tr '\n' ' ')" "w1 newcomer "
  [ ! -e L ] && [ ! -e L.queue ]
}

@test "a newcomer while a release is held between its ticket and its record finds L held, and queues behind the waiter" {
  # The record was still there when the newcomer queued.
  newcomer_behind_waiter record "owner "
}

@test "a newcomer while a release is held between its record and LOCK finds L free, and still defers to the waiter" {
  # The record has gone to L.last: the empty L counts as free (the
  # newcomer may even remove it), and the waiter still sleeps.
  newcomer_behind_waiter L ""
}

@test "control: a newcomer without the queue, in the same window, takes L ahead of the waiter" {
  newcomer_in_release L --no-queue
  assert_equal "$(cat order | tr '\n' ' ')" "newcomer w1 "
}

# --- no herd -------------------------------------------------------------------

# wakeups [OPTION]...: 10 waiters (lockdir OPTION... -w 60s L) queue
# behind a holder, each under strace; then the holder releases, and
# each waiter in turn takes L, runs a short command and releases it.
# Print, per waiter, how many times it woke from poll(2) (something
# ready, or a signal) before it got L.
wakeups() {
  rm -rf t && mkdir t
  # The holder came through the queue too, so that every waiter has a
  # ticket ahead of it to sleep on.
  GATE=gate0 hold_lock
  local first=$HOLDER
  hold_lock "$@" -w 30s
  wait_until waiting L "$HOLDER"
  echo >gate0
  wait "$first"
  wait_until sh -c "lockdir --status L | grep -qx 'pid=$HOLDER'"
  local k pids=()
  for ((k = 1; k <= 10; k++)); do
    background strace -qq -o "t/w$k" -e trace=poll,ppoll,epoll_wait,epoll_pwait,select,pselect6,renameat,renameat2 \
      lockdir "$@" -w 60s L sh -c "echo $k >>order"
    pids+=("$BG")
    local pid
    pid=$(child_of "$BG")
    wait_until waiting L "$pid"
    wait_until sleeps "$pid"
  done
  echo >gate
  wait "$HOLDER"
  for k in "${pids[@]}"; do wait "$k" || fail "a waiter failed"; done
  for ((k = 1; k <= 10; k++)); do
    # Wake-ups: poll calls that returned something ready, or that a
    # signal interrupted (dnotify's SIGIO), before the rename that made
    # L ours.
    awk '/"L"\) = 0/ { exit }
         /^(poll|ppoll|epoll_wait|epoll_pwait|select|pselect6)\(.*\) = ([1-9]|\? ERESTART|-1 EINTR)/ { n++ }
         END { print n + 0 }' "t/w$k"
  done
}

@test "one wake-up per release: of 10 waiters, each release wakes only the next one" {
  run wakeups
  assert_success
  assert_equal "$(echo $output)" "1 1 1 1 1 1 1 1 1 1"
  assert_equal "$(cat order | tr '\n' ' ')" "1 2 3 4 5 6 7 8 9 10 "
}

# Without the queue every release wakes every waiter, but wake-ups that
# come while a waiter is busy (strace makes it slow, a loaded machine
# slower) count as one: here 43-68 in all, under make -j2 in CI once 20.
# The claim is only that waiters wake for releases that are not theirs:
# more than the 10 wake-ups the queue makes.
@test "control: without the queue releases wake waiters they do not serve" {
  NO_QUEUE=yes run wakeups --no-queue
  assert_success
  total=0
  for n in $output; do total=$((total + n)); done
  [ "$total" -gt 10 ] || fail "only $total wake-ups without the queue: $output"
}

# --- waking without inotify -------------------------------------------------
# Closing an inotify instance waits for an RCU grace period (milliseconds
# under contention), so a waiter sleeps on dnotify and pidfds instead: the
# exit of the waiter whose ticket is ahead, or the rename that retires a
# ticket whose waiter lives on.

# two_waiters [ENV...]: hold L (no ticket); two waiters queue behind it,
# each run with ENV (env(1) assignments); WAITERS are their pids, once
# both sleep.
two_waiters() {
  hold_lock
  WAITERS=()
  local k
  for k in 1 2; do
    background env "$@" lockdir -w 30s L sh -c "echo $k >>order"
    WAITERS+=("$BG")
    wait_until queued L "$BG"
    wait_until sleeps "$BG"
  done
}

@test "waiters sleep without an inotify instance, first in line and behind a ticket" {
  two_waiters
  for pid in "${WAITERS[@]}"; do
    ! has_inotify_fd "$pid" || fail "waiter $pid holds an inotify instance"
  done
  echo >gate
  wait "$HOLDER"
  for pid in "${WAITERS[@]}"; do wait "$pid"; done
  assert_equal "$(cat order)" "$(printf '1\n2')"
}

@test "control: where dnotify fails, waiters fall back to inotify, in the same order" {
  two_waiters LD_PRELOAD="$(lockdir_shim)" LOCKDIR_SHIM_NO_DNOTIFY=1
  for pid in "${WAITERS[@]}"; do
    has_inotify_fd "$pid" || fail "waiter $pid holds no inotify instance"
  done
  echo >gate
  wait "$HOLDER"
  for pid in "${WAITERS[@]}"; do wait "$pid"; done
  assert_equal "$(cat order)" "$(printf '1\n2')"
}

# ran_while_alive PID: the waiter (WAITER) ran its command, woken by the
# retirement rather than by its deadline a minute away, while process PID
# lives on.
ran_while_alive() {
  wait_until test -e ran
  wait "$WAITER"
  kill -0 "$1" || fail "process $1 was expected to live on"
}

# still_asleep: a second on, the waiter has not run, and waits.
still_asleep() {
  sleep 1   # the interval shown to pass without a wake-up
  [ ! -e ran ] || fail "the waiter ran: the harness cannot tell a retired ticket"
  kill -0 "$WAITER"
}

# behind_a_script_that_gives_up [ENV...]: hold L; behind it, a script
# whose lockdir (run with ENV) gives up after 5 s, and which then lives
# on (SCRIPT); behind that, a waiter (WAITER) that writes 'ran'.  Once
# the script's lockdir has given up, the holder releases L.
behind_a_script_that_gives_up() {
  hold_lock
  # 5 s: time enough, on a loaded machine, for the waiter to queue
  # behind the script's ticket before the script gives up.
  background env "$@" sh -c 'lockdir -w 5s L; echo $? >gave-up; exec sleep 600'
  SCRIPT=$BG
  wait_until queued L "$SCRIPT"
  background lockdir -w 60s L sh -c 'echo ran >ran'
  WAITER=$BG
  wait_until queued L "$WAITER"
  wait_until sleeps "$WAITER"
  [ ! -e gave-up ] ||
    fail "the script gave up before the waiter queued: the harness was too slow"
  wait_until test -e gave-up
  assert_equal "$(cat gave-up)" 1
  echo >gate
  wait "$HOLDER"
}

# A script's lockdir that gives up wakes the waiter behind it twice
# over: it retires its ticket (the rename), and then exits, and its
# ticket names it as the waiter, whose exit the one behind watches.
# Either alone suffices; without both, the waiter sleeps on.

@test "a script's lockdir that gives up: the waiter behind moves up, though the script lives on" {
  behind_a_script_that_gives_up
  ran_while_alive "$SCRIPT"
}

@test "a script's lockdir that gives up retires its ticket: enough to wake the waiter behind if the ticket names no waiter" {
  behind_a_script_that_gives_up LD_PRELOAD="$(lockdir_shim)" LOCKDIR_SHIM_NO_WAITER=1
  ran_while_alive "$SCRIPT"
}

@test "a script's lockdir that gives up is the ticket's waiter: its exit wakes the waiter behind if the ticket is not retired" {
  behind_a_script_that_gives_up LD_PRELOAD="$(lockdir_shim)" LOCKDIR_SHIM_NO_RETIRE=1
  ran_while_alive "$SCRIPT"
}

@test "control: a ticket unlinked without the rename, naming no waiter, leaves the waiter behind asleep while the script lives" {
  behind_a_script_that_gives_up LD_PRELOAD="$(lockdir_shim)" \
    LOCKDIR_SHIM_NO_RETIRE=1 LOCKDIR_SHIM_NO_WAITER=1
  still_asleep
  kill "$SCRIPT"
  wait "$WAITER"
  [ -e ran ]
}

# break_behind_holder [ENV...]: a holder that came through the queue (so
# its ticket stays while it holds, and it runs on when broken), and a
# waiter queued behind that ticket (WAITER, writes 'ran'); then
# 'lockdir --break L', run with ENV.
break_behind_holder() {
  GATE=gate0 hold_lock
  local first=$HOLDER
  hold_lock -w 30s
  wait_until queued L "$HOLDER"
  echo >gate0
  wait "$first"
  wait_until holds_with_command L "$HOLDER"
  background lockdir -w 60s L sh -c 'echo ran >ran'
  WAITER=$BG
  wait_until queued L "$WAITER"
  wait_until sleeps "$WAITER"
  env "$@" lockdir --break L >/dev/null
}

@test "--break of a live holder retires its ticket: the waiter behind gets L while the holder runs on" {
  break_behind_holder
  ran_while_alive "$HOLDER"
}

@test "control: --break without the rename leaves the waiter behind asleep until the holder exits" {
  break_behind_holder LD_PRELOAD="$(lockdir_shim)" LOCKDIR_SHIM_NO_RETIRE=1
  [ ! -e L ]
  still_asleep
  echo >gate
  wait "$WAITER"
  [ -e ran ]
}

@test "a ticket left half-retired (.NAME, its remover killed) is removed by the next waiter" {
  mkdir L.queue
  ln -s 'pid=1' L.queue/.0000000001.x.0123456789abcdef0123456789abcdef
  lockdir L true
  [ ! -e L.queue ]
}

# --- the queue and the rest of lockdir -------------------------------------------

@test "the script form: a queued waiter's ticket stays while the script holds L; -u removes it" {
  hold_lock
  mkfifo gate2
  background sh -c 'lockdir -w 30s L && echo held >out && read x <gate2 && lockdir -u L'
  script=$BG
  wait_until tickets_are L 1
  echo >gate
  wait "$HOLDER"
  wait_until test -s out
  run lockdir --status L
  assert_success
  assert_line "pid=$script"
  [ "$(tickets L)" -eq 1 ]
  # The ticket is the holding's, so --status lists nobody waiting.
  refute_line --partial queued=
  echo >gate2
  wait "$script"
  [ ! -e L ] && [ ! -e L.queue ]
}

# script_holds_behind_queue: hold L, and queue behind it a script that
# takes L (lockdir -w 30s L, whose lockdir then exits) and holds it
# until 'echo >gate2' (SCRIPT; its ticket is the holding's).
script_holds_behind_queue() {
  hold_lock
  mkfifo gate2
  background sh -c 'lockdir -w 30s L && echo held >out && read x <gate2 && lockdir -u L'
  SCRIPT=$BG
  wait_until tickets_are L 1
  echo >gate
  wait "$HOLDER"
  wait_until test -s out
}

@test "the script form: a waiter behind the script's holding leaves its ticket, as the manual says, and is served next" {
  script_holds_behind_queue
  local ticket
  ticket=$(ls L.queue)
  # The script's lockdir, its ticket's waiter, has exited: the waiters
  # that judge the ticket must see that it is the holding's.
  background lockdir -w 30s L sh -c 'echo w1 >>order'
  w1=$BG
  wait_until queued L "$w1"
  wait_until sleeps "$w1"
  background lockdir -w 30s L sh -c 'echo w2 >>order'
  w2=$BG
  wait_until queued L "$w2"
  wait_until sleeps "$w2"
  run ls L.queue
  assert_line "$ticket"
  [ "$(tickets L)" -eq 3 ]
  lockdir --status L | grep -qx "pid=$SCRIPT"
  echo >gate2
  wait "$SCRIPT" "$w1" "$w2"
  assert_equal "$(cat order | tr '\n' ' ')" "w1 w2 "
  [ ! -e L ] && [ ! -e L.queue ]
}

@test "--lease: a holding's ticket lasts as long as the holding, not one lease; the waiter behind is served next" {
  # The holder came through the queue; its heartbeat goes to its owner
  # record, and its ticket is judged by that.
  GATE=gate0 hold_lock
  local first=$HOLDER ticket
  hold_lock --lease=1s -w 30s
  wait_until queued L "$HOLDER"
  echo >gate0
  wait "$first"
  wait_until holds_with_command L "$HOLDER"
  ticket=$(ls L.queue)
  enqueue 'echo w1 >>order'
  w1=$BG
  enqueue 'echo w2 >>order'
  w2=$BG
  sleep 2.5   # the leases that pass, not a synchronisation
  run ls L.queue
  assert_line "$ticket"
  [ "$(tickets L)" -eq 3 ]
  run lockdir --status --json L
  echo "$output" | jq -e '[.queue[].stale] == [false, false]' >/dev/null ||
    fail "$output"
  echo >gate
  wait "$HOLDER" "$w1" "$w2"
  assert_equal "$(cat order | tr '\n' ' ')" "w1 w2 "
  [ ! -e L ] && [ ! -e L.queue ]
}

@test "--status --json while a script's lockdir takes L and exits: the holding's ticket is not shown as a stale waiter" {
  command -v strace >/dev/null || skip "strace is not installed"
  hold_lock
  background sh -c 'lockdir -w 30s L && : >held && exec sleep 600'
  script=$BG
  wait_until queued L "$script"
  # --status looks at L (the holder's), and is held at its look at
  # the queue until strace lets it go (killed: a tracee goes on when
  # its tracer is gone); meanwhile the holding ends (its process lives
  # on), and the script's lockdir takes L and exits, leaving its ticket
  # to the holding.
  background strace -f -qq -o trace -P L.queue -e trace=openat \
    -e inject=openat:delay_enter=60000000:when=1 \
    sh -c 'lockdir --status --json L >status 2>/dev/null; : >looked'
  tracer=$BG
  wait_until grep -qs 'L.queue' trace
  lockdir -u --owner-pid="$HOLDER" L
  wait_until test -e held
  kill -KILL "$tracer"
  wait "$tracer" || true
  wait_until test -e looked
  # What it saw: L held by the holder (when it looked), and nobody
  # waiting: the script's ticket is its holding's, not a dead waiter's.
  jq -e ".pid == $HOLDER and .queue == null" status >/dev/null ||
    fail "$(cat status)"
}

@test "a waiter stamps its ticket in UTC and loads no time zone" {
  command -v strace >/dev/null || skip "strace is not installed"
  hold_lock
  # A zone of its own, so a waiter that loads one opens its file (or
  # tries to) whatever /etc/localtime is.
  background env TZ=Europe/Paris strace -f -e trace=openat -o trace \
    lockdir -w 30s L true
  local tracer=$BG
  local waiter
  waiter=$(child_of "$tracer")
  wait_until waiting L "$waiter"
  run lockdir --status L
  assert_line --regexp "^queued=1 pid=$waiter .* since=[0-9-]+T[0-9:.]+\+00:00 command=true\$"
  echo >gate
  wait "$HOLDER" "$tracer"
  grep -q '"L.queue"' trace
  run grep -E 'localtime|zoneinfo' trace
  assert_output ""
}

@test "--status lists the queue in order: position, pid, host, mode, waiting since, command; text and --json name a script's waiting lockdir" {
  hold_lock
  background lockdir -w 30s L sleep 0
  w1=$BG
  wait_until waiting L "$w1"
  background lockdir -s -w 30s L true
  w2=$BG
  wait_until waiting L "$w2"
  # The script form: the script owns the ticket, its lockdir waits.
  background sh -c 'lockdir -w 30s L && lockdir -u L'
  w3=$BG
  wait_until waiting L "$w3"
  w3_lockdir=$(pgrep -x -P "$w3" lockdir)
  run lockdir --status L
  assert_success
  assert_line --regexp "^queued=1 pid=$w1 host=$(uname -n) uid=$(id -u) mode=exclusive since=[0-9-]+T[0-9:.+-]+ command=sleep 0\$"
  assert_line --regexp "^queued=2 pid=$w2 host=.* mode=shared since=.* command=true\$"
  assert_line --regexp "^queued=3 pid=$w3 host=.* mode=exclusive since=[^ ]+ waiter_pid=$w3_lockdir command=sh -c .*\$"
  # Only a script's ticket names a lockdir of its own.
  assert_equal "$(grep -c waiter_pid= <<<"$output")" 1
  run lockdir --status --json L
  assert_success
  assert_equal "${#lines[@]}" 1
  echo "$output" | python3 -c 'import json,sys; json.loads(sys.stdin.buffer.read().decode("utf-8"))'
  echo "$output" | jq -e "
    (.holders | length == 1) and (.holders[0].holder == 1) and (.holders[0].pid == $HOLDER)
    and (.holders[0].mode == \"exclusive\") and (.mode == \"exclusive\")
    and (.queue | length == 3)
    and (.queue[0].position == 1) and (.queue[0].pid == $w1)
    and (.queue[0].mode == \"exclusive\") and (.queue[0].command == \"sleep 0\")
    and (.queue[0].since | type == \"string\") and (.queue[0].stale == false)
    and (.queue[0].waiter_pid == null)
    and (.queue[1].position == 2) and (.queue[1].pid == $w2)
    and (.queue[1].mode == \"shared\")
    and (.queue[2].pid == $w3) and (.queue[2].waiter_pid == $w3_lockdir)
    and (.queue[2].stale == false)"
  echo >gate
  wait "$HOLDER" "$w1" "$w2" "$w3"
  run lockdir --status --json L
  assert_failure 1
  assert_output '{"lock":"L","held":false}'
}

@test "--list and --status of several locks: one line each, with shared holders and waiters; LOCK.queue is not a lock" {
  mkdir d
  mkfifo gate1 gate2
  background lockdir -s d/L sh -c 'read x <gate1'
  local r1=$BG
  wait_until sh -c "lockdir --status d/L | grep -q '^pid=$r1\$'"
  background lockdir -s d/L sh -c 'read x <gate2'
  local r2=$BG
  wait_until sh -c "lockdir --status d/L | grep -q '^pid=$r2\$'"
  background lockdir -w 30s d/L true
  local w=$BG
  wait_until waiting d/L "$w"
  run lockdir --list d
  assert_success
  assert_equal "${#lines[@]}" 1
  assert_output --regexp "^d/L: held shared by pid ($r1|$r2) on .*; 1 more shared holder; 1 waiting\$"
  local listed=$output
  run lockdir --status d/*
  assert_success
  # The same line (but for the age, which may have turned a second).
  assert_equal "$(sed 's/ for [0-9]*s / /' <<<"$output")" \
    "$(sed 's/ for [0-9]*s / /' <<<"$listed")"
  echo >gate1
  echo >gate2
  wait "$r1" "$r2" "$w"
  # A free lock whose queue is there (its last waiter about to take it
  # or to leave): listed once, by its name, with its history or not.
  mkdir d/L.queue
  run lockdir --list d
  assert_success
  assert_output "d/L: free"
  rm d/L.last
  run lockdir --list d
  assert_success
  assert_output "d/L: free"
  rmdir d/L.queue
}

@test "a queued waiter breaks a dead holder's lock in its turn; tokens still increase" {
  sh -c 'lockdir L && :'
  token=$(lockdir --status L | sed -n 's/^token=//p')
  hold_lock -n
  # L was there before (the dead holding), so hold_lock's 'test -d L'
  # proves nothing: wait until the holder's own command runs (its
  # record names it), or a waiter below could break the dead holding
  # first.
  wait_until sh -c 'lockdir --status L | grep -q "^child_pid="'
  # The dead holder was broken by the holder above; now two queue.
  enqueue 'echo "$LOCKDIR_TOKEN" >>tokens'
  w1=$BG
  enqueue 'echo "$LOCKDIR_TOKEN" >>tokens'
  w2=$BG
  # The holder dies with its command: w1 is woken by its death.
  kill -KILL "$(pgrep -P "$HOLDER")" "$HOLDER"
  wait "$w1" "$w2"
  assert_equal "$(cat tokens | tr '\n' ' ')" "$((token + 2)) $((token + 3)) "
  [ ! -e L.queue ]
}

# dead_holding_behind_queue [OPTION]...: a script takes L through the
# queue (its lockdir exits; its ticket is the holding's) and holds it;
# three waiters (lockdir -v OPTION... -w 30s L) queue behind it; then
# the script is killed.  Their stderr is in ./errK, the order and the
# tokens they got L with in ./order ("K TOKEN" lines).
dead_holding_behind_queue() {
  GATE=gate0 hold_lock
  local first=$HOLDER script k pids=()
  background sh -c 'lockdir -w 30s L && echo held >out && exec sleep 600'
  script=$BG
  wait_until queued L "$script"
  echo >gate0
  wait "$first"
  wait_until test -s out
  TOKEN=$(lockdir --status L | sed -n 's/^token=//p')
  for k in 1 2 3; do
    background lockdir -v "$@" -w 30s L \
      sh -c "echo $k \$LOCKDIR_TOKEN >>order" 2>"err$k"
    pids+=("$BG")
    wait_until queued L "$BG"
    wait_until sleeps "$BG"
  done
  [ "$(tickets L)" -eq 4 ]
  kill -KILL "$script"
  for k in "${pids[@]}"; do wait "$k" || fail "a waiter failed"; done
}

@test "a dead holding with its ticket: one waiter breaks it, the others follow in order, no ticket is left" {
  dead_holding_behind_queue
  # Whoever broke it (the first, or one woken by the retirement of the
  # holding's ticket, which goes first), only one did.
  assert_equal "$(cat err1 err2 err3 | grep -c '^lockdir: broke stale lock')" 1
  assert_equal "$(cat order | tr '\n' ' ')" \
    "1 $((TOKEN + 1)) 2 $((TOKEN + 2)) 3 $((TOKEN + 3)) "
  [ ! -e L ] && [ ! -e L.queue ]
}

@test "shared: a dead exclusive holding with its ticket is broken by one of the shared waiters behind it; all go in" {
  dead_holding_behind_queue -s
  assert_equal "$(cat err1 err2 err3 | grep -c '^lockdir: broke stale lock')" 1
  [ "$(wc -l <order)" -eq 3 ] || fail "$(cat order)"
  [ ! -e L ] && [ ! -e L.queue ]
}

@test "a filesystem that refuses symbolic links: a clear error about the queue; --no-queue waits" {
  shim=$(command -v fault-shim.so) ||
    skip "tests/fault-shim.so is not built (make check builds it)"
  hold_lock
  # symlink(2) fails as on vfat (EPERM).
  run env LD_PRELOAD="$shim" FAULT_FAIL=symlinkat:1:1 lockdir -w 30s L true
  assert_failure 125
  assert_output --partial "cannot acquire 'L': its filesystem refuses symbolic links, which its queue is made of (--no-queue waits without one)"
  [ ! -e L.queue ]
  background env LD_PRELOAD="$shim" FAULT_FAIL=symlinkat:1:1 \
    lockdir --no-queue -w 30s L sh -c 'echo waited >out'
  waiter=$BG        # env runs lockdir in its own process
  wait_until sleeps "$waiter"
  echo >gate
  wait "$HOLDER" "$waiter"
  assert_equal "$(cat out)" waited
}

@test "LOCK names: LOCK.queue must fit in a name too" {
  name=$(printf '%*s' 249 '' | tr ' ' x)
  lockdir "$name" true
  run lockdir "${name}y" true
  assert_failure 125
  assert_output "lockdir: cannot acquire '${name}y': its name is longer than 249 bytes: LOCK.last and LOCK.queue would not fit in a name"
}

@test "-s, --shared and --no-queue go with acquiring only; -x after -s holds exclusively" {
  for opts in "-s --status" "--shared -u" "--no-queue --break" "-s --list"; do
    run lockdir $opts L
    assert_usage_error lockdir
    [ ! -e L ] && [ ! -e L.queue ]
  done
  lockdir -s -x L sh -c 'cat L/owner.*' >record
  ! grep -q '^mode=' record || fail "-x after -s: $(cat record)"
  lockdir -x -s L sh -c 'cat L/owner.*' >record
  grep -qx 'mode=shared' record
}

# --- shared holders ------------------------------------------------------------

# readers_behind_writer [OPTION]...: a writer holds L; 3 requests
# (lockdir OPTION... -w 60s L) queue behind it, each of whose commands
# notes its start, waits until all three have started (READERS_WAIT
# seconds at most, default 30: readers that go in together stop waiting
# as soon as the third has started, so the bound costs nothing then; it
# only keeps a stalled machine -- a CI run saw one reader start 10 s
# after the others -- from looking like readers kept apart), and notes
# its end.  Print whether the three ran at the same time: "overlap" when
# every start came before every end, else "apart" and, one per line,
# each start and end in seconds after the first start.
readers_behind_writer() {
  hold_lock
  local k pids=()
  for k in 1 2 3; do
    background lockdir "$@" -w 60s L sh -c '
      date +%s.%N >start.'$k'
      until=$(($(date +%s) + '"${READERS_WAIT:-30}"'))
      while [ "$(ls start.* | wc -l)" -lt 3 ] && [ "$(date +%s)" -lt $until ]
      do
        sleep 0.01
      done
      date +%s.%N >end.'$k
    pids+=("$BG")
    wait_until waiting L "$BG"
  done
  echo >gate
  wait "$HOLDER" "${pids[@]}"
  awk 'FILENAME ~ /^start/ { if ($1 > s) s = $1
                             if (first == "" || $1 < first) first = $1 }
       FILENAME ~ /^end/ { if (e == "" || $1 < e) e = $1 }
       { t[FILENAME] = $1 }
       END { print (s < e ? "overlap" : "apart")
             if (s >= e)
               for (f in t) printf "%s %.3f\n", f, t[f] - first }' \
    start.* end.*
}

@test "shared: readers queued together behind a writer go in together after it (timestamps overlap)" {
  run readers_behind_writer -s
  assert_success
  assert_output overlap
}

@test "control: exclusive requests in the same harness do not overlap" {
  # Each waits out READERS_WAIT alone: 2 s is enough to see them apart.
  READERS_WAIT=2 run readers_behind_writer
  assert_success
  assert_line --index 0 apart
}

# readers_and_writers [OPTION]...: 3 writers (lockdir OPTION... L) and
# 4 readers (lockdir -s L) loop 15 times each; a writer increments a
# counter read-modify-write, and everyone logs "+W", "-W", "+R", "-R"
# around the critical section.  Print the counter, then the overlaps the
# log shows: a writer entering while anyone is in, or a reader while a
# writer is.
readers_and_writers() {
  echo 0 >counter
  : >log
  local w r pids=()
  for ((w = 0; w < 3; w++)); do
    background sh -c 'for i in $(seq 15); do
        lockdir "$@" -w 60s L sh -c "echo +W >>log; n=\$(cat counter)
          echo \$((n + 1)) >counter; echo -W >>log" || exit 1
      done' sh "$@"
    pids+=("$BG")
  done
  for ((r = 0; r < 4; r++)); do
    background sh -c 'for i in $(seq 15); do
        lockdir -s -w 60s L sh -c "echo +R >>log; cat counter >/dev/null
          echo -R >>log" || exit 1
      done'
    pids+=("$BG")
  done
  local pid
  for pid in "${pids[@]}"; do wait "$pid" || fail "a worker failed"; done
  cat counter
  awk '$1 == "+W" { if (w || r) bad++; w++ }
       $1 == "-W" { w-- }
       $1 == "+R" { if (w) bad++; r++ }
       $1 == "-R" { r-- }
       END { print bad + 0 }' log
}

@test "shared: a writer never overlaps anyone (exact counter, overlap log)" {
  run readers_and_writers
  assert_success
  assert_equal "${lines[0]}" 45
  assert_equal "${lines[1]}" 0
  grep -c '^+R' log | grep -qx 60
  [ ! -e L ] && [ ! -e L.queue ]
}

@test "control: writers taking the lock shared overlap, and the log shows it" {
  run readers_and_writers -s
  assert_success
  [ "${lines[1]}" -gt 0 ] || fail "no overlap seen: ${lines[*]}"
}

# True once reader K (lockdir process PID) holds L or waits in its queue.
holds_or_queued() {
  grep -qx "+R$1" log || { [ -z "${NO_QUEUE:-}" ] && queued L "$2"; }
}

# reader_stream [OPTION]...: a stream of readers (lockdir OPTION... -s L)
# holds L without a gap: reader k leaves only once reader k+1 holds L or
# waits in its queue.  Once reader 3 holds L, a writer (lockdir
# OPTION... -w 3s L) arrives.  The stream goes on until the writer is
# done (at most 60 readers).  Print the writer's status, then the log
# of who entered and left, in order.
reader_stream() {
  : >log
  local k=1 writer= pid pids=()
  while :; do
    background lockdir "$@" -s -w 30s L sh -c "echo +R$k >>log
      i=0; while [ ! -e leave.$k ] && [ \$i -lt 1000 ]; do
        sleep 0.01; i=\$((i + 1)); done
      echo -R$k >>log"
    pids[k]=$BG
    if ((k > 1)); then
      # Reader k-1 may go once reader k holds L or is queued for it.
      wait_until holds_or_queued "$k" "${pids[k]}"
      touch "leave.$((k - 1))"
    else
      wait_until grep -qx +R1 log
    fi
    if ((k == 3)); then
      wait_until grep -qx +R3 log
      background lockdir -q "$@" -w 3s L sh -c 'echo +W >>log; echo -W >>log'
      writer=$BG
      wait_until waiting L "$writer"
    fi
    if [ -n "$writer" ] && ! kill -0 "$writer" 2>/dev/null; then break; fi
    ((k < 60)) || break
    k=$((k + 1))
  done
  local status=0
  wait "$writer" || status=$?
  touch "leave.$k"
  for pid in "${pids[@]}"; do wait "$pid" || :; done
  echo "$status"
  cat log
}

@test "shared: a writer behind a continuous stream of readers gets in after the readers ahead of it" {
  run reader_stream
  assert_success
  assert_equal "${lines[0]}" 0
  # The writer's turn came once readers 1-3 (ahead of it) had left, and
  # before reader 4 (behind it) entered.
  log=$(printf '%s\n' "${lines[@]:1}")
  assert_equal "$(grep -n . <<<"$log" | grep -E ':(-R3|\+W|-W|\+R4)$' | cut -d: -f2 | tr '\n' ' ')" "-R3 +W -W +R4 "
}

@test "control: without the queue the writer starves behind the stream" {
  NO_QUEUE=yes run reader_stream --no-queue
  assert_success
  assert_equal "${lines[0]}" 75
  refute_line +W
}

@test "shared: a dead shared holder is removed alone; the fencing token grows per exclusive holding only" {
  lockdir L true
  t=$(sed -n 's/^token=//p' L.last)
  hold_lock -s
  sh -c 'lockdir -s L && :'           # a shared holder that dies
  assert_equal "$(ls L | wc -l)" 2
  mkfifo gate3
  background lockdir -s L sh -c 'echo "$LOCKDIR_TOKEN" >shared
    ls L | wc -l >count; read x <gate3'
  reader=$BG
  wait_until test -s count
  # The dead one's record went; the live holder's stayed.
  assert_equal "$(cat count)" 2
  assert_equal "$(cat shared)" "$t"
  run lockdir --status L
  assert_line mode=shared
  assert_line "pid=$HOLDER"
  assert_line "pid=$reader"
  background lockdir -w 30s L sh -c 'echo "$LOCKDIR_TOKEN" >exclusive'
  writer=$BG
  wait_until waiting L "$writer"
  echo >gate
  echo >gate3
  wait "$HOLDER" "$reader" "$writer"
  assert_equal "$(cat exclusive)" "$((t + 1))"
  [ ! -e L ] && [ ! -e L.queue ]
}

@test "shared: -n -s passes shared waiters as a waiting shared request does, not an exclusive one" {
  hold_lock
  background lockdir -s -w 30s L sh -c 'echo s1 >>log'
  s1=$BG
  wait_until queued L "$s1"
  # L free, with only a shared waiter queued (stopped, so it cannot
  # take L yet).
  kill -STOP "$s1"
  echo >gate
  wait "$HOLDER"
  wait_until test ! -e L
  run lockdir -n L true
  assert_failure 75
  assert_output "lockdir: 'L' is free, but 1 waiter is queued for it"
  run lockdir -n -s L sh -c 'echo n >>log'
  assert_success
  # Behind an exclusive waiter, -n -s is busy, as a shared waiter
  # would wait.
  GATE=gate2 hold_lock -s
  background lockdir -w 30s L sh -c 'echo x >>log'
  x=$BG
  wait_until queued L "$x"
  run lockdir -n -s L true
  assert_failure 75
  kill -CONT "$s1"
  echo >gate2
  wait "$s1" "$HOLDER" "$x"
  assert_equal "$(cat log | tr '\n' ' ')" "n s1 x "
}

@test "shared: -n -s behind an exclusive waiter names the waiter it gives way to, not only the shared holder" {
  hold_lock -s
  background lockdir -w 30s L true
  local x=$BG
  wait_until queued L "$x"
  # The holder alone would not stop a shared request: it said only
  # "'L' is held by pid N".
  run lockdir -n -s L true
  assert_failure 75
  assert_line --index 0 --regexp "^lockdir: 'L' is held by pid $HOLDER on "
  assert_line --index 1 "lockdir: pid $x is waiting for 'L' exclusively, and a shared request does not pass it"
  assert_equal "${#lines[@]}" 2
  # An exclusive request is stopped by the holder: the holder is said.
  run lockdir -n L true
  assert_failure 75
  assert_equal "${#lines[@]}" 1
  echo >gate
  wait "$HOLDER" "$x"
}

@test "shared: a shared waiter removes a dead shared ticket it passes; the queue is left empty" {
  hold_lock
  # A shared waiter killed in the queue leaves its ticket.
  background lockdir -s -w 60s L true
  local killed=$BG
  wait_until queued L "$killed"
  kill -KILL "$killed"
  wait "$killed" || :
  background lockdir -s -w 5m L sh -c 'echo ran >ran'
  WAITER=$BG
  wait_until queued L "$WAITER"
  wait_until sleeps "$WAITER"
  # Judged by the shared waiter behind it, with no exclusive request
  # to come: the dead ticket is gone before any release.
  wait_until tickets_are L 1
  run lockdir --list .
  assert_output --regexp "^L: held by pid $HOLDER .*; 1 waiting\$"
  echo >gate
  wait "$HOLDER" "$WAITER"
  [ -e ran ]
  [ ! -e L.queue ]
}

@test "shared: -u releases the caller's own shared holding; --break ends them all" {
  background sh -c 'lockdir -s L && sleep 30'
  wait_until test -d L
  lockdir -s L
  [ "$(ls L | wc -l)" -eq 2 ]
  lockdir -u L
  [ "$(ls L | wc -l)" -eq 1 ]
  lockdir -s L
  run --separate-stderr lockdir --break L
  assert_success
  assert_equal "$(grep -c '^id=' <<<"$output")" 2
  assert_equal "$(grep -c '^mode=shared$' <<<"$output")" 2
  # Shared holdings leave no LOCK.last: the token is the exclusive ones'.
  [ ! -e L ] && [ ! -e L.last ] && [ ! -e L.queue ]
}

@test "shared: --break that ends some holdings and then fails says which it ended, status 3" {
  command -v strace >/dev/null || skip "strace is not installed"
  local a b
  background sleep 60
  a=$BG
  background sleep 60
  b=$BG
  lockdir -s --owner-pid="$a" L
  lockdir -s --owner-pid="$b" L
  # --break unlinks the first record, tries to remove L (not empty
  # yet), then unlinks the second: that third unlinkat fails.  Before,
  # it said only "cannot break 'L'", though one holding was ended.
  run --separate-stderr strace -qq -o /dev/null -e trace=unlinkat \
    -e inject=unlinkat:error=EIO:when=3 lockdir --break L
  assert_equal "$status" 3
  assert_equal "$stderr" "lockdir: broke 1 of the holdings of 'L', but cannot end the others: Input/output error"
  assert_equal "$(grep -c '^id=' <<<"$output")" 1
  assert_equal "$(ls L | wc -l)" 1
  # The record shown is the one that is gone.
  [ ! -e "L/owner.$(sed -n 's/^id=//p' <<<"$output")" ]
  run lockdir --break L
  assert_success
  [ ! -e L ]
}

# --- the examples --------------------------------------------------------------

# The command of the documented line in FILE (or stdin) that contains
# TEXT: the line's text up to a '#' comment, troff's '\-' read as '-'.
documented() {
  local text=$1 file=${2:--}
  local line
  line=$(sed 's/\\-/-/g' "$file" | grep -F -- "$text" | head -n 1)
  [ -n "$line" ] || fail "not documented in ${file}: $text"
  line=${line%%#*}
  line=${line#"${line%%[! ]*}"}
  printf '%s\n' "${line%"${line##*[! ]}"}"
}

@test "the queue and shared examples of --help, the manual and the README run as printed" {
  srcdir=$BATS_TEST_DIRNAME/..
  printf '#!/bin/sh\necho report >>reports\n' >report.sh
  chmod +x report.sh
  shared=$(lockdir --help | documented 'lockdir -s -w 1m data.lock ./report.sh')
  assert_equal "$shared" 'lockdir -s -w 1m data.lock ./report.sh'
  for doc in "$srcdir/man/lockdir.x" "$srcdir/README.md"; do
    assert_equal "$(documented "$shared" "$doc")" "$shared"
  done
  eval "$shared"
  assert_equal "$(cat reports)" report

  # The manual's queue listing, with one waiter queued.
  status=$(documented "lockdir --status --json data.lock | jq" \
    "$srcdir/man/lockdir.x")
  mkfifo gate
  background lockdir data.lock sh -c 'read x <gate'
  holder=$BG
  wait_until test -d data.lock
  background lockdir -w 30s data.lock true
  waiter=$BG
  wait_until queued data.lock "$waiter"
  run eval "$status"
  assert_success
  assert_output "[1,$waiter,\"exclusive\",\"true\"]"
  echo >gate
  wait "$holder" "$waiter"
}

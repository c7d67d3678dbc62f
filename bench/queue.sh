#!/bin/bash
# queue.sh -- lockdir's FIFO queue against flock(1), lockdir --no-queue
# and a mkdir loop: order kept, hand-off latency along a queue, time
# under contention, wake-ups per release.  Run by bench.sh ('make
# bench'); alone: PATH=src:$PATH bash bench/queue.sh.
#
# As in bench.sh, every comparison is made inside one run and reported
# as a ratio: the machines here are shared and noisy.
#
# Knobs (environment): BENCH_ROUNDS (default 3), BENCH_QUEUED (waiters
# per queue, default 8), BENCH_WORKERS / BENCH_ACQ (contention, default
# 8 x 50), BENCH_QUICK=1 (one round, 4 x 10: part of make bench's two
# minutes).

set -u
if [ "${BENCH_QUICK:-0}" != 0 ]; then
  ROUNDS=${BENCH_ROUNDS:-1} WORKERS=${BENCH_WORKERS:-4} ACQ=${BENCH_ACQ:-10}
else
  ROUNDS=${BENCH_ROUNDS:-3} WORKERS=${BENCH_WORKERS:-8} ACQ=${BENCH_ACQ:-50}
fi
QUEUED=${BENCH_QUEUED:-8}

scratch=$(mktemp -d "${TMPDIR:-/tmp}/atomicutils-queue.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
cd "$scratch" || exit 1

have() { command -v "$1" >/dev/null 2>&1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
now() { echo "${EPOCHREALTIME/./}"; }   # microseconds
median_of() {
  tr ' ' '\n' | grep . | sort -n |
    awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# True while process PID sleeps (state S): blocked in flock(2), poll(2).
sleeping() { [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" = S ]; }

# Wait (up to 5 s) until COMMAND succeeds.
await() {
  local i
  for ((i = 0; i < 500; i++)); do "$@" && return 0; sleep 0.01; done
  return 1
}

# The lockers compared.  Each is a command prefix that runs the rest of
# the line holding the lock, waiting as long as it takes.
declare -A run_locked=(
  [flock]='flock L.flock'
  [lockdir]='lockdir L.dir'
  [lockdir-no-queue]='lockdir --no-queue L.dir'
  [mkdir-loop]='mkdir_loop'
)
mkdir_loop() {
  until mkdir L.d 2>/dev/null; do sleep 0.01; done
  "$@"
  local status=$?
  rmdir L.d
  return $status
}

echo
echo "== Q1. Order: $QUEUED waiters arrive 50 ms apart behind a holder"
echo "   (each once the one before sleeps); order inversions per round"

# queue_up LOCKER GAP COMMAND: a holder takes the lock and waits at a
# gate; $QUEUED waiters queue behind it, GAP seconds apart (each once the
# one before sleeps), each running COMMAND, in which $k is its number;
# then the holder goes, and all of them finish.
queue_up() {
  local prefix=${run_locked[$1]} gap=$2 command=$3 k
  rm -f gate held && mkfifo gate
  eval "$prefix sh -c ': >held; read x <gate'" &
  local holder=$!
  await test -e held
  local pids=()
  for ((k = 1; k <= QUEUED; k++)); do
    eval "$prefix $command" &
    pids+=($!)
    [ "$1" = mkdir-loop ] || await sleeping "$!"
    [ "$gap" = 0 ] || sleep "$gap"
  done
  echo >gate
  wait "$holder" "${pids[@]}"
}

# order_round LOCKER: print the inversions of one round.
order_round() {
  rm -f order
  # shellcheck disable=SC2016
  queue_up "$1" 0.05 'sh -c "echo $k >>order"'
  awk '{ a[NR] = $1 }
       END { n = 0
             for (i = 1; i <= NR; i++)
               for (j = i + 1; j <= NR; j++)
                 if (a[i] > a[j]) n++
             print n }' order
}

printf '%-18s %10s   %s\n' locker inversions per-round
for name in flock lockdir lockdir-no-queue mkdir-loop; do
  rounds=
  total=0
  for ((round = 0; round < ROUNDS; round++)); do
    n=$(order_round "$name")
    rounds="$rounds $n"
    total=$((total + n))
  done
  printf '%-18s %10s  %s\n' "$name" "$total" "$rounds"
done

echo
echo "== Q2. Hand-off along a queue: $QUEUED waiters queued behind a holder;"
echo "   one command's end -> the next command's start, median (us)"

# handoffs LOCKER: print every hand-off of one queue, in microseconds.
handoffs() {
  rm -f times
  queue_up "$1" 0 "bash -c 'echo \"s \${EPOCHREALTIME/./}\" >>times
      echo \"e \${EPOCHREALTIME/./}\" >>times'"
  awk '$1 == "e" { end = $2 } $1 == "s" && end { print $2 - end }' times
}

declare -A handoff_us=()
for ((round = 0; round < ROUNDS; round++)); do
  for name in flock lockdir lockdir-no-queue; do
    handoff_us[$name]="${handoff_us[$name]:-} $(handoffs "$name" | tr '\n' ' ')"
  done
done
flock_us=$(echo "${handoff_us[flock]}" | median_of)
printf '%-18s %12s %10s\n' locker handoff-us x-flock
for name in flock lockdir lockdir-no-queue; do
  us=$(echo "${handoff_us[$name]}" | median_of)
  printf '%-18s %12s %10s\n' "$name" "$us" "$(ratio "$us" "$flock_us")"
done

echo
echo "== Q3. Contention: $WORKERS workers x $ACQ locked increments (median ms)"

contend() {
  local prefix=${run_locked[$1]} w start end
  echo 0 >c
  start=$(now)
  for ((w = 0; w < WORKERS; w++)); do
    ( for ((i = 0; i < ACQ; i++)); do
        eval "$prefix sh -c 'read n <c; echo \$((n + 1)) >c'"
      done ) &
  done
  wait
  end=$(now)
  echo "$(( (end - start) / 1000 )) $(cat c)"
}

declare -A contend_ms=()
declare -A contend_count=()
for ((round = 0; round < ROUNDS; round++)); do
  for name in flock lockdir lockdir-no-queue; do
    read -r ms count < <(contend "$name")
    contend_ms[$name]="${contend_ms[$name]:-} $ms"
    contend_count[$name]="${contend_count[$name]:-} $count"
  done
done
flock_ms=$(echo "${contend_ms[flock]}" | median_of)
printf '%-18s %10s %10s  %s\n' locker total-ms x-flock \
  "counter (expected $((WORKERS * ACQ)))"
for name in flock lockdir lockdir-no-queue; do
  ms=$(echo "${contend_ms[$name]}" | median_of)
  printf '%-18s %10s %10s  %s\n' "$name" "$ms" "$(ratio "$ms" "$flock_ms")" \
    "${contend_count[$name]}"
done

echo
echo "== Q4. Wake-ups: $QUEUED waiters queued, then released one by one;"
echo "   poll(2) returns, and attempts lost (its rename to the lock failed),"
echo "   per waiter before it holds the lock (strace)"
if have strace; then
  wakeups() {
    local k opts=("$@")
    rm -rf t gate && mkdir t && mkfifo gate
    lockdir "${opts[@]}" L.dir sh -c 'read x <gate' &
    local holder=$!
    await test -d L.dir
    local pids=()
    for ((k = 1; k <= QUEUED; k++)); do
      strace -qq -o "t/$k" -e trace=poll,ppoll,renameat,renameat2 \
        lockdir "${opts[@]}" L.dir true &
      pids+=($!)
      await pgrep -P "$!" >/dev/null
      await sleeping "$(pgrep -P "$!")"
    done
    echo >gate
    wait "$holder" "${pids[@]}"
    # Each waiter's poll(2) returns with something ready, and its
    # renames to the lock that failed (another took it first: a waiter
    # woken by a change it then lost to), until the rename that made
    # the lock its own.  A wake-up that comes while the waiter is not
    # sleeping (dnotify's SIGIO) shows only as an attempt.
    for k in t/*; do
      awk '/"L.dir"\) = 0/ { exit }
           /^p?poll\(.*\) = [1-9]/ { n++ }
           /"L.dir"\) = -1/ { lost++ }
           END { print n + 0, lost + 0 }' "$k"
    done | awk '{ n += $1; lost += $2 } END { print n, lost }'
  }
  printf '%-18s %10s %14s %14s %14s\n' locker wake-ups per-release \
    lost-attempts per-release
  for opt in '' --no-queue; do
    # shellcheck disable=SC2086 # no option at all, or one
    read -r n lost < <(wakeups $opt)
    printf '%-18s %10s %14s %14s %14s\n' "lockdir${opt:+ $opt}" "$n" \
      "$(ratio "$n" "$QUEUED")" "$lost" "$(ratio "$lost" "$QUEUED")"
  done
else
  echo "(no strace: skipped)"
fi

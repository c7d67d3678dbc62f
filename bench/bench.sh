#!/bin/bash
# bench.sh -- measure the atomicutils tools against their peers, in one
# run, and print ratios.  Run by 'make bench' with the built tools and
# bench/spawnbench first on PATH.
#
# The machines here are shared and noisy (2 cores, process creation
# 2-6 ms): absolute times wander between minutes, so every comparison is
# made inside one run, interleaved, and reported as a ratio.
#
# Knobs (environment): BENCH_ITER (spawn iterations, default 200),
# BENCH_WORKERS / BENCH_ACQ (lock contention, default 8 x 50),
# BENCH_MB (append data size, default 100), BENCH_ROUNDS (default 3).

# The lockers and writers below are snippets run with eval: the
# expansions inside their single quotes happen then, and $cs is used
# only there.
# shellcheck disable=SC2016,SC2034
set -u
ITER=${BENCH_ITER:-200}
WORKERS=${BENCH_WORKERS:-8}
ACQ=${BENCH_ACQ:-50}
MB=${BENCH_MB:-100}
ROUNDS=${BENCH_ROUNDS:-3}

scratch=$(mktemp -d "${TMPDIR:-/tmp}/atomicutils-bench.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
cd "$scratch" || exit 1

have() { command -v "$1" >/dev/null 2>&1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
now() { echo "${EPOCHREALTIME/./}"; }   # microseconds

echo "atomicutils benchmark: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "scratch directory: $scratch ($(stat -f -c %T .))"

# ---------------------------------------------------------------------
echo
echo "== 1. Cost of one invocation (interleaved; ratio to /bin/true)"
mkdir rel-a rel-b
cases=$scratch/cases
{
  printf 'true\t-\t/bin/true\n'
  printf 'excl-create f\trm -f f\texcl-create f\n'
  printf "sh set -C (peer)\trm -f f\tsh -c 'set -C; : >f'\n"
  printf 'atomic-swap -s\tln -sfn rel-a current\tatomic-swap -s rel-b current\n'
  printf 'ln -sfn (peer)\tln -sfn rel-a current\tln -sfn rel-b current\n'
  printf 'atomic-swap A B\t-\tatomic-swap rel-a rel-b\n'
  printf 'lockdir L true\t-\tlockdir L.dir /bin/true\n'
  printf 'flock L true (peer)\t-\tflock L.flock /bin/true\n'
  printf "safe-append -c TEXT log\t-\tsafe-append -c 'a log record' log\n"
  printf "sh echo >> (peer)\t-\tsh -c 'echo a log record >>log'\n"
} >"$cases"
printf '%-24s %10s %10s\n' case median-us x-true
spawnbench -n "$ITER" "$cases" |
  while IFS=$'\t' read -r name us r; do
    printf '%-24s %10s %10s\n' "$name" "$us" "$r"
  done

# ---------------------------------------------------------------------
echo
echo "== 2. Lock contention: $WORKERS workers x $ACQ acquisitions,"
echo "   critical section: sh -c 'read n <c; echo \$((n+1)) >c'"

cs='read n <c || n=0; echo $((n+1)) >c'
declare -A lockers=(
  [lockdir]='lockdir L.dir sh -c "$cs"'
  [flock]='flock L.flock sh -c "$cs"'
  [mkdir-sleep-loop]='until mkdir L.d 2>/dev/null; do sleep 0.01; done; sh -c "$cs"; rmdir L.d'
)
order=(flock lockdir mkdir-sleep-loop)
if have dotlockfile; then
  lockers[dotlockfile]='dotlockfile -l -r -1 L.dot && { sh -c "$cs"; dotlockfile -u L.dot; }'
  order+=(dotlockfile)
fi

contend() {
  local snippet=$1 w
  echo 0 >c
  local start end
  start=$(now)
  for ((w = 0; w < WORKERS; w++)); do
    ( for ((i = 0; i < ACQ; i++)); do eval "$snippet"; done ) &
  done
  wait
  end=$(now)
  echo "$(( (end - start) / 1000 )) $(cat c)"
}

declare -A total_ms=()
declare -A counts=()
for ((round = 0; round < ROUNDS; round++)); do
  for name in "${order[@]}"; do
    # The pollers are slow: one round is enough to place them.
    if [ "$name" != flock ] && [ "$name" != lockdir ] && ((round > 0)); then
      continue
    fi
    read -r ms count < <(contend "${lockers[$name]}")
    total_ms[$name]="${total_ms[$name]:-} $ms"
    counts[$name]="${counts[$name]:-} $count"
  done
done
median_of() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
flock_ms=$(echo "${total_ms[flock]}" | median_of)
printf '%-18s %10s %12s %10s  %s\n' locker total-ms ms/acq x-flock "counter (expected $((WORKERS * ACQ)))"
for name in "${order[@]}"; do
  ms=$(echo "${total_ms[$name]}" | median_of)
  printf '%-18s %10s %12s %10s  %s\n' "$name" "$ms" \
    "$(ratio "$ms" $((WORKERS * ACQ)))" "$(ratio "$ms" "$flock_ms")" "${counts[$name]}"
done

# ---------------------------------------------------------------------
echo
echo "== 3. Hand-off latency: release -> waiter holds the lock (median of $ROUNDS)"

handoff() {
  local holder=$1 waiter=$2
  rm -f released acquired
  eval "$holder" &
  local hpid=$!
  # The waiter starts while the lock is held and blocks.
  sleep 0.2
  eval "$waiter"
  wait "$hpid"
  echo $(( ($(cat acquired) - $(cat released)) / 1000 ))
}
declare -A holders=(
  [lockdir]='lockdir L.dir bash -c "sleep 0.5; echo \${EPOCHREALTIME/./} >released"'
  [flock]='flock L.flock bash -c "sleep 0.5; echo \${EPOCHREALTIME/./} >released"'
  [mkdir-sleep-loop]='{ mkdir L.d; sleep 0.5; echo ${EPOCHREALTIME/./} >released; rmdir L.d; }'
)
declare -A waiters=(
  [lockdir]='lockdir L.dir bash -c "echo \${EPOCHREALTIME/./} >acquired"'
  [flock]='flock L.flock bash -c "echo \${EPOCHREALTIME/./} >acquired"'
  [mkdir-sleep-loop]='until mkdir L.d 2>/dev/null; do sleep 0.01; done; bash -c "echo \${EPOCHREALTIME/./} >acquired"; rmdir L.d'
)
printf '%-18s %12s\n' locker handoff-ms
for name in flock lockdir mkdir-sleep-loop; do
  samples=
  for ((round = 0; round < ROUNDS; round++)); do
    samples="$samples $(handoff "${holders[$name]}" "${waiters[$name]}")"
  done
  printf '%-18s %12s   (samples:%s)\n' "$name" "$(echo "$samples" | median_of)" "$samples"
done

# ---------------------------------------------------------------------
echo
echo "== 4. Streaming append throughput: ${MB} MB of lines, one writer"

awk -v mb="$MB" 'BEGIN {
  srand(42); target = mb * 1024 * 1024; total = 0
  pad = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
  while (length(pad) < 400) pad = pad pad
  for (n = 0; total < target; n++) {
    len = 20 + int(rand() * 280)
    line = n "," substr(pad, 1, len)
    print line
    total += length(line) + 1
  }
}' >data
bytes=$(stat -c %s data)
cat data >/dev/null    # warm the page cache

declare -A appenders=(
  [cat]='cat >>out <data'
  [safe-append]='safe-append out <data'
  [tee-a]='tee -a out <data >/dev/null'
  [grep-line-buffered]='grep --line-buffered "" <data >>out'
)
declare -A append_ms=()
for ((round = 0; round < ROUNDS; round++)); do
  for name in cat safe-append tee-a grep-line-buffered; do
    rm -f out
    start=$(now)
    eval "${appenders[$name]}"
    end=$(now)
    append_ms[$name]="${append_ms[$name]:-} $(( (end - start) / 1000 ))"
    [ "$(stat -c %s out)" = "$bytes" ] || echo "warning: $name wrote $(stat -c %s out) of $bytes bytes"
  done
done
cat_ms=$(echo "${append_ms[cat]}" | median_of)
printf '%-20s %10s %10s %14s\n' writer ms MB/s x-cat-throughput
for name in cat safe-append tee-a grep-line-buffered; do
  ms=$(echo "${append_ms[$name]}" | median_of)
  ((ms > 0)) || ms=1
  printf '%-20s %10s %10s %14s\n' "$name" "$ms" \
    "$(awk -v b="$bytes" -v ms="$ms" 'BEGIN { printf "%.0f", b / 1048576 / (ms / 1000) }')" \
    "$(ratio "$cat_ms" "$ms")"
done

# A shell loop appends one line per write: far slower.  Time a slice.
head -n 20000 data >slice
rm -f out
start=$(now)
while IFS= read -r line; do echo "$line" >>out; done <slice
end=$(now)
loop_ms=$(( (end - start) / 1000 ))
rm -f out
start=$(now)
safe-append out <slice
end=$(now)
sa_ms=$(( (end - start) / 1000 )); ((sa_ms > 0)) || sa_ms=1
echo "20000 lines: 'while read; echo >>' ${loop_ms} ms, safe-append ${sa_ms} ms ($(ratio "$loop_ms" "$sa_ms")x faster)"

#!/bin/bash
# bench.sh -- measure the atomicutils tools against their peers, in one
# run, and write a report: bench/results/RESULTS.md, the raw data
# (*.tsv) and SVG plots (bench/report.sh, gnuplot).  Run by 'make bench'
# with the built tools, bench/ and tests/ (swap-reader, tear-lines)
# first on PATH.
#
# The machines here are shared and noisy (2 cores, process creation
# 2-6 ms): absolute times wander between minutes, so every comparison is
# made inside one run, interleaved or in alternating rounds, and the
# report gives ratios and the spread of the rounds.
#
# What is measured:
#   1. cost of one call (spawnbench, interleaved), as a ratio to /bin/true,
#      and the lock's own part of it: one holding without a process
#      (holdbench: lockdir's library code against flock's system calls);
#   2. lock contention: N workers x K locked increments of a counter
#      file; the counter must come out exact, or the lock is BROKEN;
#   3. lock hand-off latency (release -> the waiter runs), p50 and p99;
#   4. FIFO order: 8 waiters arriving 50 ms apart at a held lock, and the
#      order inversions of the order they get it in;
#   5. symlink switches: reads that fail while a link is repointed again
#      and again, per method;
#   6. torn lines: 8 concurrent writers of lines of 1 byte to 64 KiB
#      appending to one file, per writer;
#   7. streaming append throughput, one writer, against cat >>;
#   8. whatever bench/etcd.sh and bench/queue.sh measure, if present.
# Peers that are not installed (scripts/install-deps --bench installs
# them) are skipped with a note.  Each case is bounded in time
# (BENCH_CASE_TIMEOUT; BENCH_SLOW_TIMEOUT for the locks that sleep for
# seconds), and one cut short is reported as a timeout.
#
# Knobs (environment): BENCH_QUICK=1 (small sizes: under 2 minutes),
# BENCH_RESULTS (report directory, default bench/results), BENCH_DIR
# (where the scratch directory goes, default $TMPDIR or /tmp),
# BENCH_TMPFS (a tmpfs directory where the cost of one call and the
# flock and lockdir cases are measured again, default /dev/shm),
# BENCH_EXT4=0 (do not measure them a third time in a journaled ext4 on
# a loop image, which needs root), and the sizes below (BENCH_ITER,
# BENCH_WORKERS, BENCH_ACQ, BENCH_MB, ...).

# Single-quoted code below is given to 'sh -c' or 'bash -c', which
# expands it.
# shellcheck disable=SC2016
set -u
export LC_ALL=C

bench_dir=$(cd "$(dirname "$0")" && pwd)
RESULTS=${BENCH_RESULTS:-$bench_dir/results}
QUICK=${BENCH_QUICK:-0}
[ "$QUICK" = 0 ] && QUICK=

if [ -z "$QUICK" ]; then
  ITER=${BENCH_ITER:-200} SPAWN_ROUNDS=${BENCH_SPAWN_ROUNDS:-3}
  HOLD_ITER=${BENCH_HOLD_ITER:-1000}
  WORKERS=${BENCH_WORKERS:-8} ACQ=${BENCH_ACQ:-50}
  POLL_ACQ=${BENCH_POLL_ACQ:-10} SLOW_ACQ=${BENCH_SLOW_ACQ:-2}
  ROUNDS=${BENCH_ROUNDS:-3}
  SAMPLES=${BENCH_SAMPLES:-30} SLOW_SAMPLES=${BENCH_SLOW_SAMPLES:-3}
  FIFO_ROUNDS=${BENCH_FIFO_ROUNDS:-3}
  SWAPS=${BENCH_SWAPS:-2000} CONTROL_SWAPS=${BENCH_CONTROL_SWAPS:-300}
  TEAR_LINES=${BENCH_TEAR_LINES:-2000}
  MB=${BENCH_MB:-100} APPEND_ROUNDS=${BENCH_APPEND_ROUNDS:-7}
  LOOP_LINES=${BENCH_LOOP_LINES:-20000}
  CASE_TIMEOUT=${BENCH_CASE_TIMEOUT:-120}
  SLOW_TIMEOUT=${BENCH_SLOW_TIMEOUT:-60}
else
  ITER=${BENCH_ITER:-30} SPAWN_ROUNDS=${BENCH_SPAWN_ROUNDS:-2}
  HOLD_ITER=${BENCH_HOLD_ITER:-200}
  WORKERS=${BENCH_WORKERS:-4} ACQ=${BENCH_ACQ:-10}
  POLL_ACQ=${BENCH_POLL_ACQ:-4} SLOW_ACQ=${BENCH_SLOW_ACQ:-1}
  ROUNDS=${BENCH_ROUNDS:-2}
  SAMPLES=${BENCH_SAMPLES:-8} SLOW_SAMPLES=${BENCH_SLOW_SAMPLES:-1}
  FIFO_ROUNDS=${BENCH_FIFO_ROUNDS:-1}
  SWAPS=${BENCH_SWAPS:-200} CONTROL_SWAPS=${BENCH_CONTROL_SWAPS:-100}
  TEAR_LINES=${BENCH_TEAR_LINES:-300}
  MB=${BENCH_MB:-10} APPEND_ROUNDS=${BENCH_APPEND_ROUNDS:-2}
  LOOP_LINES=${BENCH_LOOP_LINES:-2000}
  CASE_TIMEOUT=${BENCH_CASE_TIMEOUT:-30}
  SLOW_TIMEOUT=${BENCH_SLOW_TIMEOUT:-20}
fi
FIFO_WAITERS=${BENCH_FIFO_WAITERS:-8}
FIFO_GAP=${BENCH_FIFO_GAP:-0.05}
READERS=${BENCH_READERS:-3}
TEAR_WRITERS=${BENCH_TEAR_WRITERS:-8}

mkdir -p "$RESULTS" || exit 1
RESULTS=$(cd "$RESULTS" && pwd)
rm -f "$RESULTS"/*.tsv "$RESULTS"/*.svg "$RESULTS"/*.txt "$RESULTS"/RESULTS.md
scratch=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/atomicutils-bench.XXXXXX") || exit 1
# The cost of one call, and flock and lockdir as locks, are measured a
# second time in a tmpfs directory (BENCH_TMPFS, default /dev/shm;
# /run/lock, where locks usually live, is one too), unless the scratch
# directory is on tmpfs already: what a lock's files cost depends much
# on the filesystem (on an ext4 without a journal, making and removing
# a directory frees a block, and every block freed with 'discard' waits
# for the device), and flock's costs it nothing.
fs_type() { findmnt -n -o FSTYPE -T "$1" 2>/dev/null | head -n 1; }
scratch_fs=$(fs_type "$scratch")
tmpfs_scratch=
tmpfs_dir=${BENCH_TMPFS:-/dev/shm}
if [ "$scratch_fs" != tmpfs ] && [ "$(fs_type "$tmpfs_dir")" = tmpfs ]; then
  tmpfs_scratch=$(mktemp -d "$tmpfs_dir/atomicutils-bench.XXXXXX") || tmpfs_scratch=
fi
have() { command -v "$1" >/dev/null 2>&1; }
now_us() { echo "${EPOCHREALTIME/./}"; }
note() { printf '%s\n' "$*" | tee -a "$RESULTS/notes.txt"; }
if [ -z "$tmpfs_scratch" ] && [ "$scratch_fs" != tmpfs ]; then
  note "no tmpfs directory to measure in a second time: $tmpfs_dir is not a writable tmpfs (BENCH_TMPFS)"
fi
# has_journal DIR: DIR is on an ext4 with a journal (jbd2 runs for its
# device: /proc/fs/jbd2).
has_journal() {
  local dev
  dev=$(findmnt -n -o SOURCE -T "$1" | head -n 1)
  compgen -G "/proc/fs/jbd2/${dev##*/}-*" >/dev/null
}
# The same cases again in an ext4 with a journal, mounted with its
# defaults (no 'discard'), as most systems' / is: a loop image in the
# scratch directory, made when run as root (BENCH_EXT4=0: not at all),
# unless the scratch directory is on such an ext4 already.
ext4_scratch=
if [ "${BENCH_EXT4:-1}" != 0 ] &&
   ! { [ "$scratch_fs" = ext4 ] && has_journal "$scratch"; }; then
  if [ "$(id -u)" != 0 ] || ! have mkfs.ext4; then
    note "no journaled ext4 to measure in a third time: that needs root and mkfs.ext4 (BENCH_EXT4=0 to leave it out)"
  elif ! out=$(truncate -s 256M "$scratch/ext4.img" 2>&1 &&
               mkfs.ext4 -q -F "$scratch/ext4.img" 2>&1 &&
               mkdir "$scratch/ext4" &&
               mount -o loop "$scratch/ext4.img" "$scratch/ext4" 2>&1); then
    note "no journaled ext4 to measure in a third time: ${out//$'\n'/ }"
  else
    ext4_scratch=$scratch/ext4
  fi
fi
trap '${ext4_scratch:+umount -l "$ext4_scratch"}
      rm -rf "$scratch" ${tmpfs_scratch:+"$tmpfs_scratch"}' EXIT
cd "$scratch" || exit 1
# section NAME TITLE: print TITLE, and note when section NAME starts
# (the report gives each one's duration).
section() {
  printf '\n== %s\n' "$2"
  printf '%s\t%s\n' "$(now_us)" "$1" >>"$RESULTS/sections.tsv"
}

# Facts about the run, for the report.
{
  printf '%s\t%s\n' date "$(date -u '+%Y-%m-%d %H:%M UTC')"
  if [ -n "$QUICK" ]; then
    printf '%s\t%s\n' mode 'quick (BENCH_QUICK=1)'
  else
    printf '%s\t%s\n' mode full
  fi
  printf '%s\t%s\n' load_start "$(cut -d' ' -f1-3 /proc/loadavg)"
  printf '%s\t%s\n' start_us "$(now_us)"
  printf '%s\t%s\n' scratch "$scratch"
  printf '%s\t%s\n' sizes "spawn ${ITER} iterations x ${SPAWN_ROUNDS} rounds; holding ${HOLD_ITER} (1 ms apart) x ${SPAWN_ROUNDS} rounds; contention ${WORKERS} workers x ${ACQ} (pollers ${POLL_ACQ}, slow pollers ${SLOW_ACQ}) x ${ROUNDS} rounds; hand-off ${SAMPLES} samples (slow pollers ${SLOW_SAMPLES}); FIFO ${FIFO_WAITERS} waiters ${FIFO_GAP} s apart x ${FIFO_ROUNDS} rounds; ${SWAPS} symlink switches (controls ${CONTROL_SWAPS}) with ${READERS} readers; ${TEAR_WRITERS} writers x ${TEAR_LINES} lines; ${MB} MB x ${APPEND_ROUNDS} rounds"
} >"$RESULTS/run.tsv"

# The machine, and the versions of what is compared.
pkg_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo absent; }
{
  printf '%s\t%s\n' cpus "$(nproc)"
  printf '%s\t%s\n' cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
  printf '%s\t%s\n' memory "$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
  printf '%s\t%s\n' kernel "$(uname -srm)"
  printf '%s\t%s\n' os "$(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release 2>/dev/null)"
  printf '%s\t%s\n' filesystem "$(findmnt -n -o FSTYPE,SOURCE,OPTIONS -T "$scratch" 2>/dev/null | head -n 1 | tr -s ' ')"
  if [ "$scratch_fs" = ext4 ]; then
    if has_journal "$scratch"; then
      printf '%s\t%s\n' journal yes
    else
      printf '%s\t%s\n' journal no
    fi
  fi
  [ -n "$tmpfs_scratch" ] && printf '%s\t%s\n' tmpfs "$tmpfs_dir"
  [ -n "$ext4_scratch" ] && printf '%s\t%s\n' ext4j \
    "$(findmnt -n -o FSTYPE,SOURCE,OPTIONS -T "$ext4_scratch" | tr -s ' ') (journal: $(has_journal "$ext4_scratch" && echo yes || echo no))"
  printf '%s\t%s\n' atomicutils "$(lockdir --version | head -n 1)"
  printf '%s\t%s\n' coreutils "$(ln --version | head -n 1)"
  printf '%s\t%s\n' util-linux "$(flock --version 2>&1 | head -n 1)"
  printf '%s\t%s\n' bash "$BASH_VERSION"
  for p in busybox s6 daemontools moreutils liblockfile-bin lockfile-progs gnuplot-nox gnuplot; do
    printf '%s\t%s\n' "$p" "$(pkg_version "$p")"
  done
} >"$RESULTS/machine.tsv"

# ---------------------------------------------------------------------
# The locks.  'locked NAME CMD...' runs CMD holding lock NAME (the lock
# files live in the current directory).  LOCKS lists the installed ones;
# KIND says how each waits: kernel (blocks in the kernel), inotify,
# poll (a short sleep loop) or slowpoll (sleeps of seconds).

declare -A KIND=()
LOCKS=()
add_lock() {
  local name=$1 kind=$2 needs=$3
  if have "$needs"; then
    LOCKS+=("$name")
    KIND[$name]=$kind
  else
    note "skipped lock '$name': $needs is not installed"
  fi
}
add_lock flock kernel flock
add_lock lockdir inotify lockdir
# lockdir without its queue: waiters race at each release, as flock's
# do, with no first-come-first-served order.
add_lock 'lockdir --no-queue' inotify lockdir
# flock and lockdir again, with their lock files in the tmpfs directory.
if [ -n "$tmpfs_scratch" ]; then
  add_lock 'flock (tmpfs)' kernel flock
  add_lock 'lockdir (tmpfs)' inotify lockdir
fi
# ... and in the journaled ext4.
if [ -n "$ext4_scratch" ]; then
  add_lock 'flock (ext4j)' kernel flock
  add_lock 'lockdir (ext4j)' inotify lockdir
fi
add_lock setlock kernel setlock
add_lock s6-setlock kernel s6-setlock
add_lock lckdo kernel lckdo
add_lock mkdir-loop poll mkdir
add_lock dotlockfile slowpoll dotlockfile
add_lock lockfile-progs slowpoll lockfile-create

locked() {
  local name=$1 st
  shift
  case $name in
    flock) flock L.flock "$@" ;;
    lockdir) lockdir L.dir "$@" ;;
    'lockdir --no-queue') lockdir --no-queue L.dir "$@" ;;
    'flock (tmpfs)') flock "$tmpfs_scratch/case/L.flock" "$@" ;;
    'lockdir (tmpfs)') lockdir "$tmpfs_scratch/case/L.dir" "$@" ;;
    'flock (ext4j)') flock "$ext4_scratch/case/L.flock" "$@" ;;
    'lockdir (ext4j)') lockdir "$ext4_scratch/case/L.dir" "$@" ;;
    setlock) setlock L.setlock "$@" ;;
    s6-setlock) s6-setlock L.s6 "$@" ;;
    lckdo) lckdo -w L.lckdo "$@" ;;
    mkdir-loop)
      until mkdir L.d 2>/dev/null; do sleep 0.01; done
      "$@"; st=$?
      rmdir L.d
      return $st ;;
    dotlockfile) dotlockfile -l -r -1 -q L.dot "$@" ;;
    lockfile-progs)
      lockfile-create -q -r 100000 L.lfp || return 1
      "$@"; st=$?
      lockfile-remove L.lfp
      return $st ;;
  esac
}

# How long a case of lock NAME may take: the locks that sleep for
# seconds get less, so that they cannot take most of the run.
timeout_of() {
  if [ "${KIND[$1]}" = slowpoll ]; then echo "$SLOW_TIMEOUT"; else echo "$CASE_TIMEOUT"; fi
}

# Kill PIDS if they have not all ended within SECONDS; return 1 if they
# had to be killed.
wait_or_kill() {
  local seconds=$1 pid
  shift
  local deadline=$(( $(now_us) + seconds * 1000000 ))
  for pid in "$@"; do
    while kill -0 "$pid" 2>/dev/null; do
      if (( $(now_us) > deadline )); then
        kill -KILL "$@" 2>/dev/null
        pkill -KILL -P "$(echo "$@" | tr ' ' ',')" 2>/dev/null
        wait "$@" 2>/dev/null
        return 1
      fi
      sleep 0.05
    done
  done
  wait "$@" 2>/dev/null
  return 0
}

# A fresh directory for one case (and one in the tmpfs directory and
# the journaled ext4).
fresh() {
  local d
  for d in ${tmpfs_scratch:+"$tmpfs_scratch"} ${ext4_scratch:+"$ext4_scratch"}; do
    rm -rf "$d/case"
    mkdir "$d/case" || exit 1
  done
  cd "$scratch" || exit 1
  rm -rf case
  mkdir case && cd case || exit 1
}

# ---------------------------------------------------------------------
section 'spawn' "1. Cost of one call (interleaved; ratio to /bin/true), $SPAWN_ROUNDS rounds"

fresh
mkdir rel-a rel-b
cases=$scratch/cases
{
  printf 'true\t-\t/bin/true\n'
  printf 'excl-create f\trm -f f\texcl-create f\n'
  printf "sh set -C\trm -f f\tsh -c 'set -C; : >f'\n"
  printf 'atomic-swap -s\tln -sfn rel-a current\tatomic-swap -s rel-b current\n'
  printf 'ln -sfn\tln -sfn rel-a current\tln -sfn rel-b current\n'
  have busybox &&
    printf 'busybox ln -sfn\tln -sfn rel-a current\tbusybox ln -sfn rel-b current\n'
  printf 'atomic-swap A B\t-\tatomic-swap rel-a rel-b\n'
  printf 'lockdir L true\t-\tlockdir L.dir /bin/true\n'
  printf 'flock L true\t-\tflock L.flock /bin/true\n'
  have setlock && printf 'setlock L true\t-\tsetlock L.setlock /bin/true\n'
  have s6-setlock && printf 's6-setlock L true\t-\ts6-setlock L.s6 /bin/true\n'
  have lckdo && printf 'lckdo L true\t-\tlckdo L.lckdo /bin/true\n'
  have dotlockfile && printf 'dotlockfile L true\t-\tdotlockfile -l L.dot /bin/true\n'
  printf "safe-append -c TEXT log\t-\tsafe-append -c 'a log record' log\n"
  printf "sh echo >>\t-\tsh -c 'echo a log record >>log'\n"
  for place in ${tmpfs_scratch:+tmpfs} ${ext4_scratch:+ext4j}; do
    t=$tmpfs_scratch
    [ "$place" = ext4j ] && t=$ext4_scratch
    mkdir "$t/rel-a" "$t/rel-b"
    printf 'lockdir L true (%s)\t-\tlockdir %s/L.dir /bin/true\n' "$place" "$t"
    printf 'flock L true (%s)\t-\tflock %s/L.flock /bin/true\n' "$place" "$t"
    printf 'excl-create f (%s)\trm -f %s/f\texcl-create %s/f\n' "$place" "$t" "$t"
    printf "sh set -C (%s)\trm -f %s/f\tsh -c 'set -C; : >%s/f'\n" "$place" "$t" "$t"
    printf 'atomic-swap -s (%s)\tln -sfn rel-a %s/current\tatomic-swap -s rel-b %s/current\n' "$place" "$t" "$t"
    printf 'ln -sfn (%s)\tln -sfn rel-a %s/current\tln -sfn rel-b %s/current\n' "$place" "$t" "$t"
  done
} >"$cases"
# The run is in the C locale, where no tool loads locale files.  Users
# mostly have a UTF-8 one, where each tool loads what its setlocale
# asks for: the same calls measured again there, peers included.
utf8_locale=$(locale -a 2>/dev/null | grep -ix -m 1 'c\.utf-\{0,1\}8')
utf8_cases=$scratch/cases-utf8
if [ -n "$utf8_locale" ]; then
  awk -F'\t' -v OFS='\t' -v l="$utf8_locale" '
    $1 ~ /^(true|lockdir L true|flock L true|atomic-swap -s|ln -sfn|excl-create f|sh set -C)$/ {
      $1 = $1 " (" l ")"; print }' "$cases" >"$utf8_cases"
else
  note "no C.UTF-8 locale: the cost of one call is measured in the C locale only"
fi
for ((round = 1; round <= SPAWN_ROUNDS; round++)); do
  { spawnbench -n "$ITER" "$cases"
    [ -n "$utf8_locale" ] && LC_ALL=$utf8_locale spawnbench -n "$ITER" "$utf8_cases"
  } | while IFS=$'\t' read -r name us r; do
      printf '%s\t%s\t%s\t%s\n' "$round" "$name" "$us" "$r"
    done
done >>"$RESULTS/spawn.tsv"
awk -F'\t' '{ print "  round " $1 ": " $2 " " $3 " us, " $4 "x true" }' "$RESULTS/spawn.tsv"

# The lock's own part of one call: one holding without a process
# (holdbench runs lockdir's library code and flock's three system calls
# in turn), in the scratch directory and the tmpfs one.  The holdings
# are 1 ms apart, about what a command takes: on ext4, holdings back to
# back cost less than holdings apart (170 against 220 us here).
echo "  one holding without a process (holdbench, $HOLD_ITER holdings 1 ms apart x $SPAWN_ROUNDS rounds):"
for ((round = 1; round <= SPAWN_ROUNDS; round++)); do
  for place in scratch ${tmpfs_scratch:+tmpfs} ${ext4_scratch:+ext4j}; do
    dir=$scratch
    [ "$place" = tmpfs ] && dir=$tmpfs_scratch
    [ "$place" = ext4j ] && dir=$ext4_scratch
    rm -rf "$dir/hold"
    mkdir "$dir/hold" || exit 1
    holdbench -n "$HOLD_ITER" -p 1000 "$dir/hold" | while IFS=$'\t' read -r kind median p90; do
      printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$place" "$kind" "$median" "$p90"
    done
    rm -rf "$dir/hold"
  done
done | tee -a "$RESULTS/holding.tsv" |
  awk -F'\t' '{ printf "  round %s: %-7s %-7s %7.1f us (p90 %.1f)\n", $1, $2, $3, $4, $5 }'

# ---------------------------------------------------------------------
section 'contention' "2. Lock contention: $WORKERS workers x $ACQ locked increments"

# The critical section (a process, as with every lock): read the
# counter, write it back plus one.
contend() {
  local name=$1 acq=$2 w pids=() start end status=ok failures
  fresh
  echo 0 >c
  : >failures
  start=$(now_us)
  for ((w = 0; w < WORKERS; w++)); do
    (
      for ((i = 0; i < acq; i++)); do
        locked "$name" sh -c 'read n <c || n=0; echo $((n + 1)) >c' || echo x >>failures
      done
    ) &
    pids+=($!)
  done
  wait_or_kill "$(timeout_of "$name")" "${pids[@]}" || status=timeout
  end=$(now_us)
  failures=$(wc -l <failures)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$WORKERS" "$acq" \
    $(( (end - start) / 1000 )) "$(cat c)" $((WORKERS * acq)) "$status:$failures"
}

acq_of() {
  case ${KIND[$1]} in
    poll) echo "$POLL_ACQ" ;;
    slowpoll) echo "$SLOW_ACQ" ;;
    *) echo "$ACQ" ;;
  esac
}

# A no-lock control shows the harness can lose updates at all.
for ((round = 1; round <= ROUNDS; round++)); do
  for name in "${LOCKS[@]}"; do
    # The pollers are slow: one round places them; the ones that sleep
    # for seconds are left out of a quick run.
    if [ "${KIND[$name]}" != kernel ] && [ "${KIND[$name]}" != inotify ] &&
       ((round > 1)); then
      continue
    fi
    [ "${KIND[$name]}" = slowpoll ] && [ -n "$QUICK" ] && continue
    contend "$name" "$(acq_of "$name")" | sed "s/^/$round\t/"
  done
  if ((round == 1)); then
    fresh
    echo 0 >c
    start=$(now_us)
    pids=()
    for ((w = 0; w < WORKERS; w++)); do
      ( for ((i = 0; i < ACQ; i++)); do
          sh -c 'read n <c || n=0; echo $((n + 1)) >c'
        done ) &
      pids+=($!)
    done
    wait "${pids[@]}"
    end=$(now_us)
    printf '%s\tnone (control)\t%s\t%s\t%s\t%s\t%s\tok:0\n' "$round" "$WORKERS" "$ACQ" \
      $(( (end - start) / 1000 )) "$(cat c)" $((WORKERS * ACQ))
  fi
done | tee -a "$RESULTS/contention.tsv" |
  awk -F'\t' '{ printf "  round %s: %-16s %7d ms  counter %s of %s  %s\n", $1, $2, $5, $6, $7, $8 }'

# ---------------------------------------------------------------------
section 'hand-off' "3. Hand-off latency: the holder releases, the waiter runs ($SAMPLES samples)"

# One sample: a holder takes the lock and waits for 'go'; a waiter is
# started and given time to block (100 ms after it started); then the
# holder writes the time and exits, which releases the lock; the waiter's
# command writes the time it ran.  Latency = the difference.
handoff_sample() {
  local name=$1 hpid wpid
  fresh
  mkfifo go
  locked "$name" bash -c ': >held; read -r _ <go; echo ${EPOCHREALTIME/./} >released' &
  hpid=$!
  until [ -e held ]; do sleep 0.005; done
  ( : >waiting; locked "$name" bash -c 'echo ${EPOCHREALTIME/./} >acquired' ) &
  wpid=$!
  until [ -e waiting ]; do sleep 0.005; done
  sleep 0.1
  echo go >go
  wait_or_kill "$(timeout_of "$name")" "$hpid" "$wpid" || { echo timeout; return; }
  if [ -s released ] && [ -s acquired ]; then
    echo $(( $(cat acquired) - $(cat released) ))
  else
    echo failed
  fi
}

for name in "${LOCKS[@]}"; do
  n=$SAMPLES
  [ "${KIND[$name]}" = slowpoll ] && n=$SLOW_SAMPLES
  [ "${KIND[$name]}" = slowpoll ] && [ -n "$QUICK" ] && continue
  for ((s = 1; s <= n; s++)); do
    printf '%s\t%s\n' "$name" "$(handoff_sample "$name")"
  done
done | tee -a "$RESULTS/handoff.tsv" |
  awk -F'\t' '{ v[$1] = v[$1] " " ($2 ~ /^[0-9]+$/ ? sprintf("%.1f", $2 / 1000) : $2) }
              END { for (k in v) printf "  %-16s ms:%s\n", k, v[k] }'

# ---------------------------------------------------------------------
section 'FIFO' "4. FIFO order: $FIFO_WAITERS waiters arriving $FIFO_GAP s apart at a held lock"

# Waiter k starts only once waiter k-1 has started and FIFO_GAP more
# seconds have passed; each waiter's command appends its number to
# 'order' when it gets the lock.  Inversions: pairs served in the
# opposite order of their arrival.
fifo_round() {
  local name=$1 k pids=() hpid
  fresh
  mkfifo go
  : >order
  locked "$name" bash -c ': >held; read -r _ <go' &
  hpid=$!
  until [ -e held ]; do sleep 0.005; done
  for ((k = 1; k <= FIFO_WAITERS; k++)); do
    ( : >"started.$k"; locked "$name" sh -c "echo $k >>order" ) &
    pids+=($!)
    until [ -e "started.$k" ]; do sleep 0.005; done
    sleep "$FIFO_GAP"
  done
  echo go >go
  if ! wait_or_kill "$(timeout_of "$name")" "$hpid" "${pids[@]}"; then
    printf '%s\t%s\n' timeout "$(tr '\n' ' ' <order)"
    return
  fi
  awk '{ pos[NR] = $1 } END {
         inv = 0
         for (i = 1; i <= NR; i++) for (j = i + 1; j <= NR; j++) if (pos[i] > pos[j]) inv++
         printf "%d\t", inv
         for (i = 1; i <= NR; i++) printf "%s ", pos[i]
         print "" }' order
}

for ((round = 1; round <= FIFO_ROUNDS; round++)); do
  for name in "${LOCKS[@]}"; do
    if [ "${KIND[$name]}" = slowpoll ] && { [ -n "$QUICK" ] || ((round > 1)); }; then
      continue
    fi
    printf '%s\t%s\t%s\n' "$round" "$name" "$(fifo_round "$name")"
  done
done | tee -a "$RESULTS/fifo.tsv" |
  awk -F'\t' '{ printf "  round %s: %-16s inversions %s  order %s\n", $1, $2, $3, $4 }'
[ -n "$QUICK" ] &&
  note "the slow pollers (dotlockfile, lockfile-progs: they sleep for seconds) are measured only in a full run, except for the cost of one call"

# ---------------------------------------------------------------------
section 'symlinks' "5. Symlink switches: failed reads by $READERS readers, per method"

# switch_to METHOD NEW: repoint 'current' to NEW with METHOD.
switch_to() {
  local new=$2
  case $1 in
    'atomic-swap -s') atomic-swap -s "$new" current ;;
    'ln -sfn') ln -sfn "$new" current ;;
    'ln -s tmp + mv -T') ln -s "$new" tmp && mv -T tmp current ;;
    'busybox ln -sfn') busybox ln -sfn "$new" current ;;
    'rm + ln -s') rm -f current && ln -s "$new" current ;;
  esac
}
switch_methods=('atomic-swap -s' 'ln -sfn' 'ln -s tmp + mv -T')
have busybox && switch_methods+=('busybox ln -sfn')
have busybox || note "skipped 'busybox ln -sfn': busybox is not installed"
switch_methods+=('rm + ln -s')

switch_run() {
  local method=$1 swaps=$2 r pids=() new start end reads=0 failures=0 line
  fresh
  mkdir rel-a rel-b
  echo a >rel-a/VERSION
  echo b >rel-b/VERSION
  ln -s rel-a current
  for ((r = 1; r <= READERS; r++)); do
    nice -n 19 swap-reader "ready.$r" current/VERSION >"reader.$r" 2>&1 &
    pids+=($!)
  done
  for ((r = 1; r <= READERS; r++)); do
    until [ -e "ready.$r" ]; do sleep 0.005; done
  done
  start=$(now_us)
  for ((i = 0; i < swaps; i++)); do
    if ((i % 2 == 0)); then new=rel-b; else new=rel-a; fi
    switch_to "$method" "$new"
  done
  end=$(now_us)
  kill -TERM "${pids[@]}"
  wait "${pids[@]}" 2>/dev/null
  for ((r = 1; r <= READERS; r++)); do
    line=$(grep -o 'reads=[0-9]* failures=[0-9]*' "reader.$r")
    line=${line#reads=}
    reads=$((reads + ${line%% *}))
    failures=$((failures + ${line##*=}))
  done
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$method" "$swaps" $(( (end - start) / 1000 )) \
    "$reads" "$failures" "$(readlink current)"
}

for method in "${switch_methods[@]}"; do
  case $method in
    'busybox ln -sfn' | 'rm + ln -s') swaps=$CONTROL_SWAPS ;;
    *) swaps=$SWAPS ;;
  esac
  switch_run "$method" "$swaps"
done | tee -a "$RESULTS/symlink.tsv" |
  awk -F'\t' '{ printf "  %-18s %5d switches in %6d ms: %d reads, %d failed\n", $1, $2, $3, $4, $5 }'

# ---------------------------------------------------------------------
section 'torn lines' "6. Torn lines: $TEAR_WRITERS writers x $TEAR_LINES lines of 1 B to 64 KiB, one file"

# append_with WRITER: append standard input to 'out' the way WRITER does.
append_with() {
  local line
  case $1 in
    safe-append) safe-append out ;;
    'cat >>') cat >>out ;;
    'tee -a') tee -a out >/dev/null ;;
    'grep --line-buffered') grep --line-buffered "" >>out ;;
    'while read; echo >>')
      while IFS= read -r line; do echo "$line" >>out; done ;;
    'stdio (awk)') awk 1 >>out ;;
  esac
}
tear_writers=('safe-append' 'cat >>' 'tee -a' 'stdio' 'grep --line-buffered' 'while read; echo >>')

tear_run() {
  local method=$1 lines=$TEAR_LINES w pids=() start end result
  # bash reads a pipe one byte at a time: the shell loop gets fewer lines.
  [ "$method" = 'while read; echo >>' ] && lines=$(( (TEAR_LINES + 9) / 10 ))
  fresh
  mkfifo ready go
  : >out
  for ((w = 0; w < TEAR_WRITERS; w++)); do
    if [ "$method" = stdio ]; then
      # tear-lines writes through stdio itself (a 4093-byte buffer).
      tear-lines gen -s 7 -b ready:go -o out "$w" "$lines" &
    else
      tear-lines gen -s 7 -b ready:go "$w" "$lines" |
        append_with "$method" &
    fi
    pids+=($!)
  done
  # The barrier: every writer has its lines ready, then all go at once.
  exec 8<>ready 9<>go
  read -r -N "$TEAR_WRITERS" _ <&8
  start=$(now_us)
  printf "%${TEAR_WRITERS}s" '' >&9
  if ! wait_or_kill "$CASE_TIMEOUT" "${pids[@]}"; then
    exec 8>&- 9>&-
    printf '%s\ttimeout\t%s\n' "$method" "$lines"
    return
  fi
  end=$(now_us)
  exec 8>&- 9>&-
  result=$(tear-lines check -s 7 "$TEAR_WRITERS" "$lines" <out 2>/dev/null)
  printf '%s\t%s\t%s\t%s\t%s\n' "$method" "$TEAR_WRITERS" "$lines" \
    $(( (end - start) / 1000 )) "$result"
}

for method in "${tear_writers[@]}"; do
  tear_run "$method"
done | tee -a "$RESULTS/torn.tsv" |
  awk -F'\t' '{ printf "  %-22s %s ms  %s\n", $1, $4, $5 }'

# ---------------------------------------------------------------------
section 'append' "7. Streaming append throughput: ${MB} MB of lines, one writer"

fresh
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
}' >"$scratch/data"
bytes=$(stat -c %s "$scratch/data")
cat "$scratch/data" >/dev/null    # warm the page cache

# time_append ROUND NAME SOURCE: append the data's lines to out with
# writer NAME, reading the data file itself (SOURCE file) or from a
# producer through a pipe (SOURCE pipe), the way a pipeline feeds its
# log: a writer may then read less than it asks for (safe-append widens
# the pipe to 256 KiB; cat reads what the default 64 KiB pipe holds).
# Print round, writer, microseconds (a fast writer takes only tens of
# milliseconds), bytes, bytes written.
time_append() {
  local round=$1 name=$2 source=$3 start end
  rm -f out
  start=$(now_us)
  if [ "$source" = pipe ]; then
    # cat is the producer here, not a useless cat.
    # shellcheck disable=SC2002
    cat "$scratch/data" | append_with "$name"
  else
    append_with "$name" <"$scratch/data"
  fi
  end=$(now_us)
  printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$name" $((end - start)) \
    "$bytes" "$(stat -c %s out)"
}

# rotated NAMES...: print NAMES one a line, beginning at the ROUND-th
# (from 1, counting round): each writer takes every place in turn, so
# none always follows the same one (the one whose pages are still being
# written back, or freed).
rotated() {
  local n=$# i
  local -a names=("$@")
  for ((i = 0; i < n; i++)); do
    printf '%s\n' "${names[(round - 1 + i) % n]}"
  done
}

appenders=('cat >>' 'safe-append' 'tee -a' 'stdio (awk)' 'grep --line-buffered')
for ((round = 1; round <= APPEND_ROUNDS; round++)); do
  mapfile -t order < <(rotated "${appenders[@]}")
  for name in "${order[@]}"; do
    time_append "$round" "$name" file
  done
done | tee -a "$RESULTS/append.tsv" |
  awk -F'\t' '{ printf "  round %s: %-22s %8.1f ms (%s of %s bytes)\n", $1, $2, $3 / 1000, $5, $4 }'

piped_appenders=('cat >>' 'safe-append' 'tee -a')
for ((round = 1; round <= APPEND_ROUNDS; round++)); do
  mapfile -t order < <(rotated "${piped_appenders[@]}")
  for name in "${order[@]}"; do
    time_append "$round" "$name" pipe
  done
done | tee -a "$RESULTS/append-pipe.tsv" |
  awk -F'\t' '{ printf "  round %s: producer | %-12s %8.1f ms (%s of %s bytes)\n", $1, $2, $3 / 1000, $5, $4 }'

# A shell loop writes one line per write: far slower; time a slice.
head -n "$LOOP_LINES" "$scratch/data" >slice
for name in 'while read; echo >>' 'safe-append'; do
  rm -f out
  start=$(now_us)
  append_with "$name" <slice
  end=$(now_us)
  printf '%s\t%s\t%s\t%s\n' "$name" "$LOOP_LINES" $(( (end - start) / 1000 )) "$(stat -c %s out)"
done | tee -a "$RESULTS/append-loop.tsv" |
  awk -F'\t' '{ printf "  %-22s %s lines in %s ms\n", $1, $2, $3 }'

# ---------------------------------------------------------------------
# 8. Measurements other parts of the suite add: their own scripts, run
# with the same environment; their output goes into the report as is.
cd "$scratch" || exit 1
for extra in etcd queue; do
  if [ -f "$bench_dir/$extra.sh" ]; then
    printf '%s\t%s\n' "$(now_us)" "$extra.sh" >>"$RESULTS/sections.tsv"
    BENCH_RESULTS=$RESULTS bash "$bench_dir/$extra.sh" 2>&1 |
      tee "$RESULTS/extra-$extra.txt"
  fi
done

printf '%s\t%s\n' "$(now_us)" end >>"$RESULTS/sections.tsv"
{
  printf '%s\t%s\n' load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
  printf '%s\t%s\n' end_us "$(now_us)"
} >>"$RESULTS/run.tsv"

# ---------------------------------------------------------------------
printf '\n== Report\n'
bash "$bench_dir/report.sh" "$RESULTS"

#!/bin/bash
# etcd.sh -- lockdir --etcd against 'etcdctl lock', on one private etcd,
# in one run, as ratios.  Run by bench.sh (make bench) from its scratch
# directory, with the built tools and bench/spawnbench first on PATH;
# its output goes into the report as is.  Skipped when etcd, etcdctl,
# curl or lockdir's etcd backend is missing.
#
# Knobs: BENCH_QUICK=1 (fewer runs), BENCH_ETCD_ITER (calls per case,
# default 100, 20 quick), BENCH_ETCD_SAMPLES (hand-offs, default 9, 3
# quick).

set -u
if [ "${BENCH_QUICK:-0}" != 0 ]; then
  iter=${BENCH_ETCD_ITER:-20} samples=${BENCH_ETCD_SAMPLES:-3}
else
  iter=${BENCH_ETCD_ITER:-100} samples=${BENCH_ETCD_SAMPLES:-9}
fi

echo
echo "== etcd: lockdir --etcd against etcdctl lock, on one private etcd"
for tool in etcd etcdctl curl spawnbench; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "skipped: $tool is not installed"
    exit 0
  fi
done
if lockdir --etcd=http://127.0.0.1:1 --status x 2>&1 | grep -q 'not built'; then
  echo "skipped: lockdir was built without the etcd backend"
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/atomicutils-etcd-bench.XXXXXX") || exit 1
server=
finish() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null
    wait "$server" 2>/dev/null
  fi
  rm -rf "$work"
}
trap finish EXIT
# Found before the cd: $0 may be a relative path.
unused_port=$(cd "$(dirname "$0")/.." && pwd)/scripts/unused-port
cd "$work" || exit 1

# A private single-node etcd on 127.0.0.1, on ports nobody listens on.
client=$("$unused_port")
peer=$("$unused_port")
url=http://127.0.0.1:$client
etcd --name bench --data-dir "$work/data" \
  --listen-client-urls "$url" --advertise-client-urls "$url" \
  --listen-peer-urls "http://127.0.0.1:$peer" \
  --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
  --initial-cluster "bench=http://127.0.0.1:$peer" >"$work/etcd.log" 2>&1 &
server=$!
up=no
for ((i = 0; i < 300; i++)); do
  if curl -s --max-time 1 "$url/health" 2>/dev/null | grep -q '"health":"true"'; then
    up=yes
    break
  fi
  sleep 0.1
done
if [ "$up" != yes ]; then
  echo "skipped: etcd did not start"
  exit 0
fi
echo "etcd $(etcd --version | sed -n 's/^etcd Version: //p'), data in $(findmnt -n -o FSTYPE -T "$work" 2>/dev/null)"

# --- one call: lock, run /bin/true, release; interleaved -------------
printf '%s\t%s\t%s\n' \
  'true' - /bin/true \
  'lockdir --etcd' - "lockdir --etcd=$url bench/a /bin/true" \
  'etcdctl lock' - "etcdctl --endpoints=$url lock bench/b /bin/true" \
  >cases
declare -A median_us
echo "per call ($iter calls each; median us, ratio to /bin/true):"
while IFS=$'\t' read -r name us x; do
  printf '  %-16s %9s us %7sx\n' "$name" "$us" "$x"
  median_us[$name]=$us
done < <(spawnbench -n "$iter" cases)
awk -v a="${median_us[lockdir --etcd]}" -v b="${median_us[etcdctl lock]}" \
  'BEGIN { printf "lockdir --etcd per call: %.2fx the time of etcdctl lock\n", a / b }'

# --- hand-off between two processes (two hosts, as etcd sees them) ----
# The holder waits for 'go', notes the time and exits; the waiter, queued
# meanwhile, notes when its command runs.  Latency = the difference.
# shellcheck disable=SC2016 # the bash the lock runs expands them
one_handoff() {
  local lock=("$@") holder waiter
  rm -f go held released acquired
  mkfifo go
  "${lock[@]}" bash -c ': >held; read -r _ <go; echo ${EPOCHREALTIME/./} >released' &
  holder=$!
  until [ -e held ]; do sleep 0.005; done
  "${lock[@]}" bash -c 'echo ${EPOCHREALTIME/./} >acquired' &
  waiter=$!
  sleep 0.2
  echo go >go
  wait "$holder" "$waiter"
  echo $(( ($(cat acquired) - $(cat released)) / 1000 ))
}
echo "hand-off ($samples samples; ms, median first):"
for who in lockdir etcdctl; do
  if [ "$who" = lockdir ]; then
    cmd=(lockdir --etcd="$url" bench/h)
  else
    cmd=(etcdctl --endpoints="$url" lock bench/i --)
  fi
  ms=()
  for ((s = 0; s < samples; s++)); do
    ms+=("$(one_handoff "${cmd[@]}")")
  done
  sorted=$(printf '%s\n' "${ms[@]}" | sort -n | tr '\n' ' ')
  read -ra by_size <<<"$sorted"
  printf '  %-16s %5s   (%s)\n' "$who" "${by_size[$(((samples - 1) / 2))]}" "$sorted"
done

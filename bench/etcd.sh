# shellcheck shell=bash
# etcd.sh -- sourced by bench.sh: lockdir --etcd against 'etcdctl lock',
# on one private etcd, in one run, as ratios.  Uses bench.sh's scratch
# directory, ITER, ROUNDS, have, ratio, median_of and handoff.  Skipped
# when etcd, etcdctl or lockdir's etcd backend is missing.
# shellcheck disable=SC2154 # scratch, ITER and ROUNDS are bench.sh's

# A port nobody listens on now.
bench_free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    (exec 9<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}

bench_etcd() {
  echo
  echo "== 5. Across hosts: lockdir --etcd against etcdctl lock (same etcd)"
  local tool
  for tool in etcd etcdctl curl; do
    if ! have "$tool"; then
      echo "skipped: $tool is not installed"
      return 0
    fi
  done
  if lockdir --etcd=http://127.0.0.1:1 --status x 2>&1 | grep -q 'not built'; then
    echo "skipped: lockdir was built without the etcd backend"
    return 0
  fi

  # A private single-node etcd on 127.0.0.1, stopped however we exit.
  local client peer url
  client=$(bench_free_port)
  peer=$(bench_free_port)
  url=http://127.0.0.1:$client
  etcd --name bench --data-dir "$scratch/etcd" \
    --listen-client-urls "$url" --advertise-client-urls "$url" \
    --listen-peer-urls "http://127.0.0.1:$peer" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "bench=http://127.0.0.1:$peer" >"$scratch/etcd.log" 2>&1 &
  local etcd_pid=$!
  # shellcheck disable=SC2064
  trap "kill $etcd_pid 2>/dev/null; rm -rf '$scratch'" EXIT
  local i
  for ((i = 0; i < 300; i++)); do
    curl -s --max-time 1 "$url/health" 2>/dev/null | grep -q '"health":"true"' && break
    sleep 0.1
  done
  if ((i == 300)); then
    echo "skipped: etcd did not start"
    return 0
  fi
  echo "etcd $(etcd --version | sed -n 's/^etcd Version: //p') at $url"

  # One lock + run + release per call, interleaved with the peer.
  {
    printf 'true\t-\t/bin/true\n'
    printf 'lockdir --etcd L true\t-\tlockdir --etcd=%s bench/a /bin/true\n' "$url"
    printf 'etcdctl lock L true\t-\tetcdctl --endpoints=%s lock bench/b /bin/true\n' "$url"
  } >"$scratch/etcd-cases"
  printf '%-24s %10s %10s\n' case median-us x-true
  local name us_case x lockdir_us='' etcdctl_us=''

  while IFS=$'\t' read -r name us_case x; do
    printf '%-24s %10s %10s\n' "$name" "$us_case" "$x"
    case $name in
      lockdir*) lockdir_us=$us_case ;;
      etcdctl*) etcdctl_us=$us_case ;;
    esac
  done < <(spawnbench -n "$ITER" "$scratch/etcd-cases")
  echo "lockdir --etcd per call: $(ratio "$lockdir_us" "$etcdctl_us")x the time of etcdctl lock"

  # Hand-off between two processes (two hosts, as etcd sees them).
  # shellcheck disable=SC2016 # expanded by the bash the locker runs
  local stamp='echo \${EPOCHREALTIME/./}'
  local -A etcd_holders=(
    [lockdir-etcd]="lockdir --etcd=$url bench/h bash -c \"sleep 0.5; $stamp >released\""
    [etcdctl-lock]="etcdctl --endpoints=$url lock bench/i -- bash -c \"sleep 0.5; $stamp >released\""
  )
  local -A etcd_waiters=(
    [lockdir-etcd]="lockdir --etcd=$url bench/h bash -c \"$stamp >acquired\""
    [etcdctl-lock]="etcdctl --endpoints=$url lock bench/i -- bash -c \"$stamp >acquired\""
  )
  printf '%-18s %12s\n' locker handoff-ms
  for name in lockdir-etcd etcdctl-lock; do
    local samples=()
    while ((${#samples[@]} < ROUNDS)); do
      samples+=("$(handoff "${etcd_holders[$name]}" "${etcd_waiters[$name]}")")
    done
    printf '%-18s %12s   (samples: %s)\n' "$name" \
      "$(echo "${samples[*]}" | median_of)" "${samples[*]}"
  done
  kill "$etcd_pid" 2>/dev/null
  wait "$etcd_pid" 2>/dev/null
}

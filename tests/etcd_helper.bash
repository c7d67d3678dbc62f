# etcd_helper.bash -- private etcd servers for the tests of lockdir --etcd.
#
# Load after test_helper.  etcd_start starts a single-node etcd on
# 127.0.0.1 with free ports and a private data directory, and waits
# until it answers; etcd_stop stops it by its pid.  Each server is
# described by variables named after it (default "etcd"):
#   ETCD_URL        its client URL
#   ETCD_PID        its pid
#   ETCD_DATA       its data directory: on tmpfs (/dev/shm) where it has
#                   room, since etcd syncs every write and the tests
#                   are about lockdir, not about disks
# Only 127.0.0.1 is ever used.

require_etcd() {
  command -v etcd >/dev/null 2>&1 ||
    skip "etcd is not installed (Debian: etcd-server)"
  command -v curl >/dev/null 2>&1 ||
    skip "curl is not installed (the helper asks etcd for its health)"
}

# A port nobody listens on now: etcd_start retries with others if it
# is taken by the time etcd binds it.
_etcd_random_port() {
  "$BATS_TEST_DIRNAME/../scripts/unused-port"
}

# etcd_alive PID: the server PID runs (kill -0 would also accept a
# zombie: a server that died and was not reaped yet).
etcd_alive() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
  [ -n "$state" ] && [ "$state" != Z ]
}

# etcd_wait_healthy URL PID: until URL/health says true (about 1-3 s,
# bounded at 60 s), or the server PID died.
etcd_wait_healthy() {
  local url=$1 pid=$2 i
  shift 2
  for ((i = 0; i < 600; i++)); do
    if curl -s --max-time 1 "$@" "$url/health" 2>/dev/null |
        grep -q '"health":"true"'; then
      return 0
    fi
    etcd_alive "$pid" || return 1
    sleep 0.1
  done
  return 1
}

# _etcd_data_dir DIR: a new data directory for a server: in /dev/shm
# when it has 512 MiB free (each server makes a 64 MiB write-ahead log
# at once, and the cluster test runs four servers; a container's
# /dev/shm may be 64 MiB in all), else under DIR.
_etcd_data_dir() {
  local free_kib
  free_kib=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')
  if [ "${free_kib:-0}" -ge 524288 ] &&
      mktemp -d /dev/shm/atomicutils-etcd.XXXXXX 2>/dev/null; then
    return 0
  fi
  mktemp -d "$1/data.XXXXXX"
}

# etcd_start [DIR [EXTRA_ETCD_ARGS...]]: start a server whose log (and
# data, without tmpfs) live in DIR (default: $BATS_TEST_TMPDIR/etcd).  With TLS options
# among EXTRA_ETCD_ARGS, set ETCD_SCHEME=https and ETCD_CURL_ARGS (for
# the health check) first.
etcd_start() {
  local dir=${1:-$BATS_TEST_TMPDIR/etcd}
  shift || true
  local scheme=${ETCD_SCHEME:-http} attempt client peer log
  mkdir -p "$dir"
  ETCD_DATA=$(_etcd_data_dir "$dir")
  echo "$ETCD_DATA" >>"$BATS_FILE_TMPDIR/etcd-data"
  for ((attempt = 0; attempt < 5; attempt++)); do
    client=$(_etcd_random_port)
    peer=$(_etcd_random_port)
    [ "$client" != "$peer" ] || continue
    rm -rf "${ETCD_DATA:?}"/*
    etcd --name default --data-dir "$ETCD_DATA" \
      --listen-client-urls "$scheme://127.0.0.1:$client" \
      --advertise-client-urls "$scheme://127.0.0.1:$client" \
      --listen-peer-urls "http://127.0.0.1:$peer" \
      --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
      --initial-cluster "default=http://127.0.0.1:$peer" \
      "$@" >"$dir/log" 2>&1 3>&- &
    ETCD_PID=$!
    ETCD_URL=$scheme://127.0.0.1:$client
    echo "$ETCD_PID" >>"$BATS_FILE_TMPDIR/etcd-pids"
    # shellcheck disable=SC2086
    if etcd_wait_healthy "$ETCD_URL" "$ETCD_PID" ${ETCD_CURL_ARGS:-}; then
      return 0
    fi
    # (|| true: a server that died already cannot be killed, and the
    # status of a killed one is 137; neither may end the test under
    # errexit before the next attempt.)
    kill -KILL "$ETCD_PID" 2>/dev/null || true
    wait "$ETCD_PID" 2>/dev/null || true
    # Kept, so that a failure says why every attempt failed, not only
    # the last one.
    mv "$dir/log" "$dir/log.attempt$attempt"
  done
  for log in "$dir"/log.attempt*; do
    printf '== %s (last 30 lines)\n' "$log" >&2
    tail -n 30 "$log" >&2
  done
  fail "etcd did not start"
}

# etcd_start_cluster DIR: three members on 127.0.0.1, each with its data
# under DIR (or tmpfs).  Sets CLUSTER_URLS (comma-separated client URLs)
# and CLUSTER_PIDS (an array).
etcd_start_cluster() {
  local dir=$1 attempt i
  mkdir -p "$dir"
  for ((attempt = 0; attempt < 3; attempt++)); do
    local clients=() peers=() initial=
    for i in 0 1 2; do
      clients+=("$(_etcd_random_port)")
      peers+=("$(_etcd_random_port)")
      initial+=${initial:+,}m$i=http://127.0.0.1:${peers[i]}
    done
    CLUSTER_PIDS=()
    CLUSTER_URLS=
    for i in 0 1 2; do
      local data
      data=$(_etcd_data_dir "$dir")
      echo "$data" >>"$BATS_FILE_TMPDIR/etcd-data"
      etcd --name "m$i" --data-dir "$data" \
        --listen-client-urls "http://127.0.0.1:${clients[i]}" \
        --advertise-client-urls "http://127.0.0.1:${clients[i]}" \
        --listen-peer-urls "http://127.0.0.1:${peers[i]}" \
        --initial-advertise-peer-urls "http://127.0.0.1:${peers[i]}" \
        --initial-cluster "$initial" --initial-cluster-state new \
        >"$dir/log.$i" 2>&1 3>&- &
      CLUSTER_PIDS+=($!)
      echo $! >>"$BATS_FILE_TMPDIR/etcd-pids"
      CLUSTER_URLS+=${CLUSTER_URLS:+,}http://127.0.0.1:${clients[i]}
    done
    local healthy=0
    for i in 0 1 2; do
      etcd_wait_healthy "http://127.0.0.1:${clients[i]}" "${CLUSTER_PIDS[i]}" &&
        healthy=$((healthy + 1))
    done
    ((healthy == 3)) && return 0
    etcd_stop_cluster
  done
  cat "$dir"/log.* >&2
  fail "the etcd cluster did not start"
}

# etcd_stop_cluster: stop the members of the cluster, stopped ones too.
etcd_stop_cluster() {
  kill -CONT "${CLUSTER_PIDS[@]}" 2>/dev/null || true
  kill -KILL "${CLUSTER_PIDS[@]}" 2>/dev/null || true
  wait "${CLUSTER_PIDS[@]}" 2>/dev/null || true
}

# etcd_cluster_leader: the index (0-2) in CLUSTER_URLS of the leader.
etcd_cluster_leader() {
  local urls i
  IFS=, read -ra urls <<<"$CLUSTER_URLS"
  for i in 0 1 2; do
    curl -s --max-time 2 -X POST -d '{}' "${urls[i]}/v3/maintenance/status" |
      jq -e '.leader == .header.member_id' >/dev/null && { echo "$i"; return 0; }
  done
  return 1
}

# etcd_cluster_failed DIR WHAT: fail, showing the end of each member's
# log under DIR and whether it still runs.
etcd_cluster_failed() {
  local i
  for i in 0 1 2; do
    echo "--- member $i ($(etcd_alive "${CLUSTER_PIDS[i]}" && echo running || echo dead)), end of its log:" >&2
    tail -n 15 "$1/log.$i" >&2
  done
  fail "$2"
}

# etcd_stop: stop the server $ETCD_PID, wait for it, remove its data.
etcd_stop() {
  kill -CONT "$ETCD_PID" 2>/dev/null
  kill -TERM "$ETCD_PID" 2>/dev/null
  wait "$ETCD_PID" 2>/dev/null || true
  rm -rf "$ETCD_DATA"
}

# Stop every server this file started (for teardown_file).
etcd_stop_all() {
  local pid
  [ -f "$BATS_FILE_TMPDIR/etcd-pids" ] || return 0
  while read -r pid; do
    kill -CONT "$pid" 2>/dev/null
    kill -KILL "$pid" 2>/dev/null
  done <"$BATS_FILE_TMPDIR/etcd-pids"
  rm -f "$BATS_FILE_TMPDIR/etcd-pids"
  if [ -f "$BATS_FILE_TMPDIR/etcd-data" ]; then
    xargs -r rm -rf <"$BATS_FILE_TMPDIR/etcd-data"
    rm -f "$BATS_FILE_TMPDIR/etcd-data"
  fi
  return 0
}

# The number of waiters queued behind the holder of etcd lock NAME.
etcd_waiters() {
  lockdir --etcd="$ETCD_URL" --status --json "$1" 2>/dev/null |
    jq '.waiters | length'
}

# True when etcd lock NAME has a holder.
etcd_held() {
  lockdir --etcd="$ETCD_URL" --status "$1" >/dev/null 2>&1
}

# etcd_waiting NAME PID: true once process PID waits for etcd lock NAME.
etcd_waiting() {
  lockdir --etcd="$ETCD_URL" --status --json "$1" 2>/dev/null |
    jq -e --argjson pid "$2" 'any(.waiters[]; .pid == $pid)' >/dev/null
}

# etcd_queued NAME N: true once N keys (holder and waiters) are queued.
etcd_queued() {
  local n
  n=$(lockdir --etcd="$ETCD_URL" --status --json "$1" 2>/dev/null |
    jq 'if .held then (.waiters | length) + 1 else 0 end')
  [ "${n:-0}" -eq "$2" ]
}

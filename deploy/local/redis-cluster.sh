#!/usr/bin/env bash
# Start, stop or check a private Redis Cluster on loopback: 6 redis-server
# processes (3 masters, 3 replicas) under $RUN_DIR/redis-cluster/<port>/.
#
# usage: deploy/local/redis-cluster.sh {start|stop|status}
#
# env knobs:
#   RUN_DIR              state dir (default: <repo root>/.run)
#   REDIS_CLUSTER_PORT   first node port (default 7000); nodes use PORT..PORT+5
#                        and their cluster bus ports PORT+10000..PORT+10005
#   REDIS_CLUSTER_HOST   loopback address to bind and announce (default 127.0.0.1)
#   REDIS_CLUSTER_WAIT   seconds to wait for the cluster to become ok (default 30)
#
# start is idempotent, prints RALLYPOINT_REDIS__URLS=... as its last line.
# stop only signals pids from the pid files it wrote, and only if they are
# still redis-server processes; it then removes $RUN_DIR/redis-cluster.
# status exits 0 and prints "running" when every node answers and reports
# cluster_state:ok, else exits 1.
set -euo pipefail

# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REDIS_CLUSTER_PORT="${REDIS_CLUSTER_PORT:-7000}"
REDIS_CLUSTER_HOST="${REDIS_CLUSTER_HOST:-127.0.0.1}"
REDIS_CLUSTER_WAIT="${REDIS_CLUSTER_WAIT:-30}"
CLUSTER_DIR="$RUN_DIR/redis-cluster"
NODES=6

is_uint "$REDIS_CLUSTER_PORT" || die "REDIS_CLUSTER_PORT must be a number, got '$REDIS_CLUSTER_PORT'"
is_uint "$REDIS_CLUSTER_WAIT" || die "REDIS_CLUSTER_WAIT must be a number of seconds, got '$REDIS_CLUSTER_WAIT'"
if ((REDIS_CLUSTER_PORT < 1024 || REDIS_CLUSTER_PORT + NODES - 1 + 10000 > 65535)); then
  die "REDIS_CLUSTER_PORT=$REDIS_CLUSTER_PORT is out of range: it must be 1024..$((65535 - 10000 - NODES + 1)) (the cluster bus uses port+10000)"
fi
case "$REDIS_CLUSTER_HOST" in
  127.* | localhost) ;;
  *) die "REDIS_CLUSTER_HOST=$REDIS_CLUSTER_HOST is not a loopback address; the local stack binds loopback only" ;;
esac
[[ "$REDIS_CLUSTER_HOST" == localhost ]] && REDIS_CLUSTER_HOST=127.0.0.1

# The ports wanted now.
wanted_ports() {
  local i
  for ((i = 0; i < NODES; i++)); do
    printf '%s\n' "$((REDIS_CLUSTER_PORT + i))"
  done
}

# The ports of the cluster recorded under CLUSTER_DIR (empty if none).
recorded_ports() {
  [[ -f "$CLUSTER_DIR/ports" ]] && cat "$CLUSTER_DIR/ports"
  return 0
}

recorded_host() {
  if [[ -f "$CLUSTER_DIR/host" ]]; then cat "$CLUSTER_DIR/host"; else printf '%s\n' "$REDIS_CLUSTER_HOST"; fi
}

rcli() { # rcli HOST PORT ARGS...: redis-cli with a short timeout, no retries
  local host="$1" port="$2"
  shift 2
  timeout 5 redis-cli -h "$host" -p "$port" "$@" 2>/dev/null
}

node_pings() { [[ "$(rcli "$1" "$2" PING || true)" == "PONG" ]]; }

# cluster_field HOST PORT FIELD: one field of CLUSTER INFO, "" if no answer.
cluster_field() {
  rcli "$1" "$2" CLUSTER INFO | tr -d '\r' | sed -n "s/^$3://p" || true
}

# urls_line HOST PORTS...: the config line services read (the first three ports).
urls_line() {
  local host="$1" p urls=""
  shift
  for p in "${@:1:3}"; do
    urls+="${urls:+,}redis://$host:$p"
  done
  printf 'RALLYPOINT_REDIS__URLS=%s\n' "$urls"
}

# cluster_healthy HOST PORTS...: every node answers and reports state ok.
# With NEED_KNOWN=1 also requires cluster_known_nodes equal to the node count.
cluster_healthy() {
  local host="$1" p
  shift
  for p in "$@"; do
    [[ "$(cluster_field "$host" "$p" cluster_state)" == "ok" ]] || return 1
    if [[ "${NEED_KNOWN:-0}" == 1 ]]; then
      [[ "$(cluster_field "$host" "$p" cluster_known_nodes)" == "$#" ]] || return 1
    fi
  done
}

# our_redis_pid PORT: prints the pid from the node's pid file if it is still a
# redis-server serving that port; fails otherwise.
our_redis_pid() {
  local port="$1" pidfile pid
  pidfile="$CLUSTER_DIR/$port/redis.pid"
  [[ -f "$pidfile" ]] || return 1
  pid="$(tr -dc '0-9' <"$pidfile")"
  pid_alive "$pid" || return 1
  [[ "$(pid_comm "$pid")" == redis-server* ]] || return 1
  [[ "$(pid_cmdline "$pid")" == *":$port"* ]] || return 1
  printf '%s\n' "$pid"
}

print_log_tails() {
  local d
  for d in "$CLUSTER_DIR"/*/; do
    [[ -f "$d/redis.log" ]] || continue
    printf -- '--- tail of %sredis.log\n' "$d" >&2
    tail -n 15 "$d/redis.log" >&2 || true
  done
  if [[ -f "$CLUSTER_DIR/create.log" ]]; then
    printf -- '--- tail of %s/create.log\n' "$CLUSTER_DIR" >&2
    tail -n 25 "$CLUSTER_DIR/create.log" >&2 || true
  fi
}

# stop_nodes: TERM the recorded redis-server pids, wait up to ~5 s, then KILL.
stop_nodes() {
  local d port pid pids=()
  [[ -d "$CLUSTER_DIR" ]] || return 0
  for d in "$CLUSTER_DIR"/*/; do
    port="$(basename "$d")"
    is_uint "$port" || continue
    if pid="$(our_redis_pid "$port")"; then
      say "stopping redis node $port (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    elif [[ -f "$d/redis.pid" ]]; then
      info "node $port: pid $(tr -dc '0-9' <"$d/redis.pid") is not running (or no longer redis-server); leaving it alone"
    fi
  done
  [[ ${#pids[@]} -eq 0 ]] && return 0
  wait_pids_gone 50 "${pids[@]}" && return 0
  for pid in "${pids[@]}"; do
    if pid_alive "$pid" && [[ "$(pid_comm "$pid")" == redis-server* ]]; then
      warn "redis-server pid $pid did not exit after TERM; sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  wait_pids_gone 20 "${pids[@]}" && return 0
  die "some redis-server processes (${pids[*]}) are still alive after KILL"
}

cmd_stop() {
  if [[ ! -d "$CLUSTER_DIR" ]]; then
    say "redis cluster: nothing recorded under $CLUSTER_DIR; nothing to stop"
    return 0
  fi
  stop_nodes
  rm -rf "$CLUSTER_DIR"
  say "redis cluster stopped; removed $CLUSTER_DIR"
}

cmd_status() {
  local -a ports=()
  local host
  mapfile -t ports < <(recorded_ports)
  [[ ${#ports[@]} -gt 0 ]] || mapfile -t ports < <(wanted_ports)
  host="$(recorded_host)"
  if cluster_healthy "$host" "${ports[@]}"; then
    echo running
    return 0
  fi
  echo "not running (or cluster_state not ok) on $host:${ports[0]}..${ports[-1]}"
  return 1
}

write_node_config() {
  local port="$1" dir="$CLUSTER_DIR/$1"
  mkdir -p "$dir"
  cat >"$dir/redis.conf" <<EOF
# Written by deploy/local/redis-cluster.sh; removed by "stop".
port $port
bind $REDIS_CLUSTER_HOST
protected-mode no
daemonize yes
pidfile "$dir/redis.pid"
logfile "$dir/redis.log"
dir "$dir"
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout 2000
appendonly no
save ""
# Never evict (Redis's default, stated so it is not lost): leases and match records
# must not vanish under memory pressure; the services warn at start otherwise.
maxmemory-policy noeviction
# Replicas sync at once instead of waiting 5 s for more replicas to batch.
repl-diskless-sync-delay 0
EOF
}

fail_start() {
  printf '%s: error: %s\n' "$LOG_NAME" "$*" >&2
  print_log_tails
  stop_nodes || true
  printf '%s: the node logs are kept under %s (the next start or stop removes them)\n' "$LOG_NAME" "$CLUSTER_DIR" >&2
  exit 1
}

cmd_start() {
  local -a ports=() recorded=()
  local host p q t0 i
  t0="$(date +%s)"
  mapfile -t ports < <(wanted_ports)
  mapfile -t recorded < <(recorded_ports)

  # Already running?
  if [[ ${#recorded[@]} -gt 0 ]]; then
    host="$(recorded_host)"
    if NEED_KNOWN=1 cluster_healthy "$host" "${recorded[@]}"; then
      if [[ "${recorded[*]}" != "${ports[*]}" || "$host" != "$REDIS_CLUSTER_HOST" ]]; then
        die "a cluster from $CLUSTER_DIR is already running on $host:${recorded[0]}..${recorded[-1]}; run '$0 stop' first to move it to $REDIS_CLUSTER_HOST:${ports[0]}"
      fi
      say "redis cluster already running on $host:${ports[0]}..${ports[-1]} (cluster_state:ok)"
      urls_line "$host" "${ports[@]}"
      return 0
    fi
    say "redis cluster recorded under $CLUSTER_DIR is not healthy; restarting it from scratch"
    stop_nodes
  fi
  rm -rf "$CLUSTER_DIR"

  ensure_packages "redis-server redis-server" "redis-cli redis-tools"
  command -v timeout >/dev/null 2>&1 || die "'timeout' (coreutils) is required"

  # Ports free?
  for p in "${ports[@]}"; do
    local bus=$((p + 10000)) owner
    for q in "$p" "$bus"; do
      if port_in_use "$q"; then
        owner="$(port_owner "$q")"
        die "port $q is already in use${owner:+ by $owner}$([[ $q == "$bus" ]] && echo " (cluster bus of node $p)"). Pick other ports, e.g. REDIS_CLUSTER_PORT=$((REDIS_CLUSTER_PORT + 100)) $0 start"
      fi
    done
  done

  mkdir -p "$CLUSTER_DIR"
  printf '%s\n' "${ports[@]}" >"$CLUSTER_DIR/ports"
  printf '%s\n' "$REDIS_CLUSTER_HOST" >"$CLUSTER_DIR/host"

  for p in "${ports[@]}"; do
    say "starting redis node $p"
    write_node_config "$p"
    if ! redis-server "$CLUSTER_DIR/$p/redis.conf" >"$CLUSTER_DIR/$p/stdout.log" 2>&1; then
      cat "$CLUSTER_DIR/$p/stdout.log" >&2 || true
      fail_start "redis-server for port $p failed to start"
    fi
    # The daemon writes its pid file just after forking: wait for it, so an
    # interrupted or failed start can still stop every node it launched.
    for ((i = 0; ; i++)); do
      [[ -s "$CLUSTER_DIR/$p/redis.pid" ]] && break
      ((i < 50)) || fail_start "redis node $p wrote no pid file after 5 s"
      sleep 0.1
    done
  done

  say "waiting for the nodes to answer PING"
  for p in "${ports[@]}"; do
    for ((i = 0; ; i++)); do
      node_pings "$REDIS_CLUSTER_HOST" "$p" && break
      ((i < 100)) || fail_start "redis node $p does not answer PING after 10 s"
      sleep 0.1
    done
  done

  say "creating the cluster (3 masters, 3 replicas)"
  local addrs=()
  for p in "${ports[@]}"; do addrs+=("$REDIS_CLUSTER_HOST:$p"); done
  if ! timeout 60 redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes \
    >"$CLUSTER_DIR/create.log" 2>&1; then
    fail_start "redis-cli --cluster create failed"
  fi

  say "waiting (up to ${REDIS_CLUSTER_WAIT}s) for cluster_state:ok and cluster_known_nodes:$NODES on every node"
  local deadline=$((SECONDS + REDIS_CLUSTER_WAIT)) last_report=$SECONDS
  while :; do
    local ok=0
    for p in "${ports[@]}"; do
      if [[ "$(cluster_field "$REDIS_CLUSTER_HOST" "$p" cluster_state)" == ok &&
        "$(cluster_field "$REDIS_CLUSTER_HOST" "$p" cluster_known_nodes)" == "$NODES" ]]; then
        ok=$((ok + 1))
      fi
    done
    ((ok == NODES)) && break
    ((SECONDS < deadline)) || fail_start "cluster not ok after ${REDIS_CLUSTER_WAIT}s ($ok/$NODES nodes ok)"
    if ((SECONDS - last_report >= 2)); then
      info "$ok/$NODES nodes report cluster_state:ok with $NODES known nodes"
      last_report=$SECONDS
    fi
    sleep 0.2
  done

  # Replicas attached and synced, so failover tests can rely on them.
  say "waiting for the replicas to sync"
  while :; do
    local synced=0 role link
    for p in "${ports[@]}"; do
      role="$(rcli "$REDIS_CLUSTER_HOST" "$p" INFO replication | tr -d '\r')" || role=""
      if [[ "$role" == *"role:master"* ]]; then
        [[ "$role" == *"connected_slaves:1"* ]] && synced=$((synced + 1))
      else
        link="$(sed -n 's/^master_link_status://p' <<<"$role")"
        [[ "$link" == up ]] && synced=$((synced + 1))
      fi
    done
    ((synced == NODES)) && break
    ((SECONDS < deadline)) || fail_start "replicas not in sync after ${REDIS_CLUSTER_WAIT}s ($synced/$NODES nodes ready)"
    sleep 0.2
  done

  say "redis cluster ok on $REDIS_CLUSTER_HOST:${ports[0]}..${ports[-1]} in $(($(date +%s) - t0))s (state in $CLUSTER_DIR)"
  urls_line "$REDIS_CLUSTER_HOST" "${ports[@]}"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 {start|stop|status}" >&2
    exit 2
    ;;
esac

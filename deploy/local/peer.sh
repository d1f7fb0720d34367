#!/usr/bin/env bash
# Start, stop or check the Node.js peer the benchmark compares against: PEER_INSTANCES
# Socket.IO 4.8 servers (bench/peer/server.js) with @socket.io/redis-adapter's sharded
# adapter, on a 6-node Redis Cluster of their own (deploy/local/redis-cluster.sh with its
# state under $RUN_DIR/peer/redis-cluster, so it never touches the stack's cluster).
#
# usage: deploy/local/peer.sh {start|stop|status}
#
# env knobs:
#   RUN_DIR          state dir (default: <repo root>/.run); the peer's is $RUN_DIR/peer
#   PEER_INSTANCES   number of node servers (default 2)
#   PEER_PORT        first server port (default 8180); servers use PORT..PORT+N-1 on 127.0.0.1
#   PEER_REDIS_PORT  first port of the peer's Redis Cluster (default 7200; nodes PORT..PORT+5,
#                    cluster bus PORT+10000..PORT+10005)
#   PEER_WAIT        seconds to wait for each server's GET /ready (default 30)
#
# start installs node and npm (Debian's nodejs, npm) if missing, runs `npm ci` in
# bench/peer when node_modules is missing or older than package-lock.json, starts the
# Redis Cluster and the servers, and prints as its last three lines:
#   PEER_URLS=ws://127.0.0.1:8180/socket.io/?EIO=4&transport=websocket,...
#   PEER_PIDS=<node pid>,...
#   PEER_REDIS_PIDS=<redis-server pid>,... (6)
# It is idempotent: with the same instances already running and ready it only prints them.
# Logs: $RUN_DIR/peer/peer-N.log (kept by stop); pids: $RUN_DIR/peer/peer-N.pid.
# stop only signals pids from its pid files that are still node processes running
# bench/peer/server.js, then stops the peer's Redis Cluster.
# status exits 0 and prints "running" when every recorded server answers /ready and the
# peer's Redis Cluster is ok, else prints "not running" and exits 1.
set -euo pipefail

# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PEER_INSTANCES="${PEER_INSTANCES:-2}"
PEER_PORT="${PEER_PORT:-8180}"
PEER_REDIS_PORT="${PEER_REDIS_PORT:-7200}"
PEER_WAIT="${PEER_WAIT:-30}"
PEER_SRC="$REPO_ROOT/bench/peer"
PEER_RUN="$RUN_DIR/peer"
SERVER_JS="$PEER_SRC/server.js"
HOST=127.0.0.1

if ! is_uint "$PEER_INSTANCES" || ((PEER_INSTANCES < 1)); then
  die "PEER_INSTANCES must be a number >= 1, got '$PEER_INSTANCES'"
fi
is_uint "$PEER_PORT" || die "PEER_PORT must be a number, got '$PEER_PORT'"
is_uint "$PEER_REDIS_PORT" || die "PEER_REDIS_PORT must be a number, got '$PEER_REDIS_PORT'"
is_uint "$PEER_WAIT" || die "PEER_WAIT must be a number of seconds, got '$PEER_WAIT'"
if ((PEER_PORT < 1024 || PEER_PORT + PEER_INSTANCES - 1 > 65535)); then
  die "PEER_PORT=$PEER_PORT with PEER_INSTANCES=$PEER_INSTANCES is out of range (1024..65535)"
fi

# redis_cluster ARGS...: the peer's own Redis Cluster (state under $PEER_RUN/redis-cluster).
redis_cluster() {
  RUN_DIR="$PEER_RUN" REDIS_CLUSTER_PORT="$PEER_REDIS_PORT" "$LOCAL_DIR/redis-cluster.sh" "$@"
}

# Instance indexes recorded under PEER_RUN (from the pid files), one per line, sorted.
recorded_instances() {
  local f n
  shopt -s nullglob
  for f in "$PEER_RUN"/peer-*.pid; do
    n="$(basename "$f" .pid)"
    n="${n#peer-}"
    is_uint "$n" && printf '%s\n' "$n"
  done | sort -n
  shopt -u nullglob
}

# our_peer_pid N: prints the pid from peer-N.pid if it is still a node process running
# bench/peer/server.js; fails otherwise.
our_peer_pid() {
  local pidfile="$PEER_RUN/peer-$1.pid" pid comm
  [[ -f "$pidfile" ]] || return 1
  pid="$(tr -dc '0-9' <"$pidfile")"
  pid_alive "$pid" || return 1
  comm="$(pid_comm "$pid")"
  [[ "$comm" == node || "$comm" == nodejs || "$comm" == node-* ]] || return 1
  [[ "$(pid_cmdline "$pid")" == *"$SERVER_JS"* ]] || return 1
  printf '%s\n' "$pid"
}

# peer_port N: the port instance N was started on ("" when unknown).
peer_port() { tr -dc '0-9' <"$PEER_RUN/peer-$1.port" 2>/dev/null || true; }

peer_ready() { # peer_ready PORT
  [[ "$(curl -fsS --max-time 2 "http://$HOST:$1/ready" 2>/dev/null || true)" == ready ]]
}

# redis_pids: the peer cluster's redis-server pids, comma-separated, from its pid files.
redis_pids() {
  local dir="$PEER_RUN/redis-cluster" p pid out=""
  [[ -f "$dir/ports" ]] || return 0
  while read -r p; do
    is_uint "$p" || continue
    pid="$(tr -dc '0-9' <"$dir/$p/redis.pid" 2>/dev/null || true)"
    [[ -n "$pid" ]] && out+="${out:+,}$pid"
  done <"$dir/ports"
  printf '%s\n' "$out"
}

print_lines() {
  local n port pid urls="" pids=""
  while read -r n; do
    port="$(peer_port "$n")"
    pid="$(our_peer_pid "$n")" || pid=""
    urls+="${urls:+,}ws://$HOST:$port/socket.io/?EIO=4&transport=websocket"
    pids+="${pids:+,}$pid"
  done < <(recorded_instances)
  printf 'PEER_URLS=%s\n' "$urls"
  printf 'PEER_PIDS=%s\n' "$pids"
  printf 'PEER_REDIS_PIDS=%s\n' "$(redis_pids)"
}

# stop_peers: TERM the recorded node servers, wait up to ~10 s, then KILL; remove pid files.
stop_peers() {
  local n pid pids=()
  [[ -d "$PEER_RUN" ]] || return 0
  while read -r n; do
    if pid="$(our_peer_pid "$n")"; then
      say "stopping peer-$n (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    else
      info "peer-$n: pid $(tr -dc '0-9' <"$PEER_RUN/peer-$n.pid") is not running (or no longer the peer); leaving it alone"
    fi
  done < <(recorded_instances)
  if [[ ${#pids[@]} -gt 0 ]]; then
    wait_pids_gone 100 "${pids[@]}" || true
    for pid in "${pids[@]}"; do
      if pid_alive "$pid" && [[ "$(pid_cmdline "$pid")" == *"$SERVER_JS"* ]]; then
        warn "peer pid $pid did not exit after TERM; sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
      fi
    done
    wait_pids_gone 20 "${pids[@]}" || die "some peer processes (${pids[*]}) are still alive after KILL"
  fi
  rm -f "$PEER_RUN"/peer-*.pid "$PEER_RUN"/peer-*.port
}

fail_start() {
  printf '%s: error: %s\n' "$LOG_NAME" "$*" >&2
  stop_peers || true
  redis_cluster stop >/dev/null 2>&1 || true
  printf '%s: the peer logs are kept under %s\n' "$LOG_NAME" "$PEER_RUN" >&2
  exit 1
}

cmd_start() {
  local -a recorded=()
  local n port pid urls nodes deadline any_alive=0 all_ready=1
  mapfile -t recorded < <(recorded_instances)

  # Already running?
  if [[ ${#recorded[@]} -gt 0 ]]; then
    for n in "${recorded[@]}"; do
      if our_peer_pid "$n" >/dev/null; then
        any_alive=1
        port="$(peer_port "$n")"
        if [[ "$port" != "$((PEER_PORT + n - 1))" ]] || ! peer_ready "$port"; then
          all_ready=0
        fi
      else
        all_ready=0
      fi
    done
    if ((any_alive)); then
      if ((all_ready && ${#recorded[@]} == PEER_INSTANCES)) && redis_cluster status >/dev/null 2>&1; then
        say "peer already running (${#recorded[@]} instances from port $PEER_PORT)"
        print_lines
        return 0
      fi
      die "a peer recorded under $PEER_RUN is running but is not the one asked for (or not ready); run '$0 stop' first"
    fi
    rm -f "$PEER_RUN"/peer-*.pid "$PEER_RUN"/peer-*.port
  fi

  ensure_packages "curl curl"
  ensure_node 18 "the peer"
  ensure_npm_modules "$PEER_SRC"

  for ((n = 1; n <= PEER_INSTANCES; n++)); do
    port=$((PEER_PORT + n - 1))
    if port_in_use "$port"; then
      local owner
      owner="$(port_owner "$port")"
      die "port $port is already in use${owner:+ by $owner}. Pick other ports, e.g. PEER_PORT=$((PEER_PORT + 100)) $0 start"
    fi
  done

  mkdir -p "$PEER_RUN"
  say "starting the peer's Redis Cluster (port $PEER_REDIS_PORT, state in $PEER_RUN/redis-cluster)"
  local out
  if ! out="$(redis_cluster start)"; then
    printf '%s\n' "$out"
    die "the peer's Redis Cluster did not start (see above)"
  fi
  sed -e '/^RALLYPOINT_REDIS__URLS=/d' -e 's/^/    /' <<<"$out"
  urls="$(sed -n 's/^RALLYPOINT_REDIS__URLS=//p' <<<"$out" | tail -n1)"
  [[ -n "$urls" ]] || fail_start "redis-cluster.sh start printed no URLs"
  nodes="${urls//redis:\/\//}"

  trap 'fail_start "interrupted"' INT TERM
  for ((n = 1; n <= PEER_INSTANCES; n++)); do
    port=$((PEER_PORT + n - 1))
    say "starting peer-$n on $HOST:$port"
    PORT="$port" REDIS_NODES="$nodes" setsid node "$SERVER_JS" \
      >"$PEER_RUN/peer-$n.log" 2>&1 </dev/null &
    printf '%s\n' "$!" >"$PEER_RUN/peer-$n.pid"
    printf '%s\n' "$port" >"$PEER_RUN/peer-$n.port"
  done

  for ((n = 1; n <= PEER_INSTANCES; n++)); do
    port=$((PEER_PORT + n - 1))
    pid="$(cat "$PEER_RUN/peer-$n.pid")"
    deadline=$((SECONDS + PEER_WAIT))
    until peer_ready "$port"; do
      if ! pid_alive "$pid"; then
        printf -- '--- tail of %s\n' "$PEER_RUN/peer-$n.log" >&2
        tail -n 20 "$PEER_RUN/peer-$n.log" >&2 || true
        fail_start "peer-$n (pid $pid) exited; its log is $PEER_RUN/peer-$n.log"
      fi
      if ((SECONDS >= deadline)); then
        printf -- '--- tail of %s\n' "$PEER_RUN/peer-$n.log" >&2
        tail -n 20 "$PEER_RUN/peer-$n.log" >&2 || true
        fail_start "peer-$n is not ready after ${PEER_WAIT}s; its log is $PEER_RUN/peer-$n.log"
      fi
      sleep 0.2
    done
    info "peer-$n ready (pid $pid)"
  done
  trap - INT TERM

  say "peer running: $PEER_INSTANCES Socket.IO servers on the sharded Redis adapter"
  print_lines
}

cmd_stop() {
  stop_peers
  redis_cluster stop
  say "peer stopped (logs kept in $PEER_RUN)"
}

cmd_status() {
  local -a recorded=()
  local n port pid ok=1
  mapfile -t recorded < <(recorded_instances)
  if [[ ${#recorded[@]} -eq 0 ]]; then
    echo "not running (no peer recorded under $PEER_RUN)"
    return 1
  fi
  for n in "${recorded[@]}"; do
    port="$(peer_port "$n")"
    if pid="$(our_peer_pid "$n")" && [[ -n "$port" ]] && peer_ready "$port"; then
      info "peer-$n: ready on $HOST:$port (pid $pid)"
    else
      info "peer-$n: not running"
      ok=0
    fi
  done
  if redis_cluster status >/dev/null 2>&1; then
    info "redis cluster: running"
  else
    info "redis cluster: not running (or cluster_state not ok)"
    ok=0
  fi
  if ((ok)); then
    echo running
    return 0
  fi
  echo "not running"
  return 1
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

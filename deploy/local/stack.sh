#!/usr/bin/env bash
# The whole platform on this machine, for playing with it and for demos: the local Redis
# Cluster and PostgreSQL, two gateways, two matchmakers, two server pools, a
# cache-warmer, and four simulated game servers (two per region, capacity 8 each).
#
# usage: deploy/local/stack.sh {run|up|down|status}
#   run     build, start everything, print what is where, stay in the foreground;
#           Ctrl-C stops everything it started
#   up      the same in the background; returns once every part answers ready
#   down    stop what `up` (or an interrupted `run`) started, by pid
#   status  what is running
#
# Dev secrets (fixed, documented, local only; production configs have no defaults and
# refuse to start without them): JWT secret rallypoint-dev-jwt, game-server registration
# token rallypoint-dev-pool, join secret rallypoint-dev-join-secret-0123456789, admin
# token rallypoint-dev-admin. Guests are allowed, and one address may open 100,000
# connections a second (the load generator is one address). The squad queue has a 10 s
# ready check (duel none), so a newcomer sees one.
# DATABASE_URL, when set, is used instead of the local PostgreSQL.
# STACK_PROFILE=release runs release builds (what `make bench` measures); the default is
# the debug build `make test` already made. Any RALLYPOINT_* variable set in the
# environment reaches every service (e.g. RALLYPOINT_GATEWAY__CHAT_PER_MINUTE).
# STACK_ONLY="gateway-1 gateway-2" starts only the services named (and no game servers):
# what `make bench-peer` compares with a peer that has nothing but its socket servers.
# The web lobby (sdk/typescript/examples/web-lobby, the TypeScript SDK in a browser page) is
# built (deploy/local/sdk.sh: npm ci from its lock file the first time) and served on
# http://127.0.0.1:8060/; STACK_LOBBY=0 leaves it out (the load generator's stacks do).
# STACK_SKIP_BUILD=1 runs the binaries already in the target directory without calling
# cargo (an A/B of two builds copies each in turn; cargo would rebuild over the copy).
# Logs: $RUN_DIR/stack/<name>.log; pids: $RUN_DIR/stack/<name>.pid.
set -euo pipefail

# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STACK_DIR="$RUN_DIR/stack"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
PROFILE="${STACK_PROFILE:-debug}"
case "$PROFILE" in
  debug) PROFILE_FLAG=() ;;
  release) PROFILE_FLAG=(--release) ;;
  *) echo "stack.sh: STACK_PROFILE must be debug or release, not $PROFILE" >&2; exit 2 ;;
esac
BIN="$TARGET_DIR/$PROFILE"
JWT_SECRET="rallypoint-dev-jwt"
POOL_TOKEN="rallypoint-dev-pool"
JOIN_SECRET="rallypoint-dev-join-secret-0123456789"
ADMIN_TOKEN="rallypoint-dev-admin"
API_TOKEN="rallypoint-dev-api"
NAMESPACE="local"

# name | binary | ops port | extra env (space separated KEY=VALUE)
SERVICES=(
  "gateway-1|gateway|9101|RALLYPOINT_GATEWAY__LISTEN=127.0.0.1:8080 RALLYPOINT_GATEWAY__API_LISTEN=127.0.0.1:8180"
  "gateway-2|gateway|9102|RALLYPOINT_GATEWAY__LISTEN=127.0.0.1:8081 RALLYPOINT_GATEWAY__API_LISTEN=127.0.0.1:8181"
  "matchmaker-1|matchmaker|9201|"
  "matchmaker-2|matchmaker|9202|"
  "server-pool-1|server-pool|9301|RALLYPOINT_POOL__LISTEN=127.0.0.1:8090"
  "server-pool-2|server-pool|9302|RALLYPOINT_POOL__LISTEN=127.0.0.1:8091"
  "cache-warmer|cache-warmer|9401|"
)
# name | region | join port
GAME_SERVERS=(
  "sim-eu-1|eu|7701"
  "sim-eu-2|eu|7702"
  "sim-us-1|us|7711"
  "sim-us-2|us|7712"
)
if [[ -n "${STACK_ONLY:-}" ]]; then
  ONLY=()
  for entry in "${SERVICES[@]}"; do
    [[ " $STACK_ONLY " == *" ${entry%%|*} "* ]] && ONLY+=("$entry")
  done
  ((${#ONLY[@]})) || die "STACK_ONLY=$STACK_ONLY names none of the services"
  SERVICES=("${ONLY[@]}")
  GAME_SERVERS=()
  STACK_LOBBY=0
fi
LOBBY_PORT=8060
[[ "${STACK_LOBBY:-1}" == 0 ]] && LOBBY=0 || LOBBY=1

build() {
  if [[ "${STACK_SKIP_BUILD:-0}" == 1 ]]; then
    say "not building (STACK_SKIP_BUILD=1): running the binaries in the target directory"
    return
  fi
  say "building the services and the simulated game server (the first build takes several minutes; cargo shows its progress)"
  (cd "$REPO_ROOT" && cargo build "${PROFILE_FLAG[@]}" --bins)
  if ((LOBBY)); then
    "$LOCAL_DIR/sdk.sh" build
  fi
}

start_infra() {
  say "starting the local Redis Cluster"
  REDIS_URLS="$("$LOCAL_DIR/redis-cluster.sh" start | sed -n 's/^RALLYPOINT_REDIS__URLS=//p' | tail -n1)"
  [[ -n "$REDIS_URLS" ]] || die "redis-cluster.sh start printed no URLs"
  if [[ -n "${DATABASE_URL:-}" ]]; then
    info "using DATABASE_URL from the environment"
  else
    say "starting the local PostgreSQL"
    DATABASE_URL="$("$LOCAL_DIR/postgres.sh" start | sed -n 's/^DATABASE_URL=//p' | tail -n1)"
    [[ -n "$DATABASE_URL" ]] || die "postgres.sh start printed no DATABASE_URL"
  fi
}

# launch NAME CMD...: start CMD in its own session, logging to NAME.log, pid in NAME.pid.
# A small bash parent waits for it and writes how it ended (its exit status, 128 + N for
# signal N) to NAME.exit, so `make status` can say how a stopped process ended.
launch() {
  local name="$1"
  shift
  local pidfile="$STACK_DIR/$name.pid" exitfile="$STACK_DIR/$name.exit"
  if [[ -f "$pidfile" ]] && pid_alive "$(cat "$pidfile")"; then
    die "$name is already running (pid $(cat "$pidfile")); run: make down"
  fi
  rm -f "$exitfile" "$pidfile"
  # shellcheck disable=SC2016 # expanded by the inner bash
  setsid bash -c '"${@:3}" & echo $! >"$1"; wait $!; echo $? >"$2"' \
    launch "$pidfile" "$exitfile" "$@" >"$STACK_DIR/$name.log" 2>&1 </dev/null &
  local deadline=$((SECONDS + 5))
  while [[ ! -s "$pidfile" ]] && ((SECONDS < deadline)); do sleep 0.05; done
  [[ -s "$pidfile" ]] || die "$name did not start"
}

# ended NAME: how NAME's last run ended, from NAME.exit ("" if unknown).
ended() {
  local code
  code="$(cat "$STACK_DIR/$1.exit" 2>/dev/null)" || return 0
  if ((code > 128)); then
    echo "killed by SIG$(kill -l $((code - 128)))"
  else
    echo "exited with status $code"
  fi
}

start_services() {
  mkdir -p "$STACK_DIR"
  local entry name binary ops extra
  for entry in "${SERVICES[@]}"; do
    IFS='|' read -r name binary ops extra <<<"$entry"
    port_in_use "$ops" && die "port $ops (ops of $name) is taken by $(port_owner "$ops"); stop it or run: make down"
    # shellcheck disable=SC2086 # extra is a list of KEY=VALUE words
    launch "$name" env \
      RALLYPOINT_REDIS__URLS="$REDIS_URLS" \
      RALLYPOINT_REDIS__NAMESPACE="$NAMESPACE" \
      RALLYPOINT_INSTANCE__ID="$name" \
      RALLYPOINT_OPS__LISTEN="127.0.0.1:$ops" \
      RALLYPOINT_OPS__ADMIN_TOKEN="$ADMIN_TOKEN" \
      RALLYPOINT_GATEWAY__JWT_SECRET="$JWT_SECRET" \
      RALLYPOINT_GATEWAY__API_TOKEN="$API_TOKEN" \
      RALLYPOINT_INSTANCE__ENVIRONMENT=development \
      RALLYPOINT_GATEWAY__ALLOW_GUESTS=true \
      RALLYPOINT_GATEWAY__ROOMS__LOBBY__PREFIX="lobby:" \
      RALLYPOINT_GATEWAY__ROOMS__LOBBY__PRESENCE=true \
      RALLYPOINT_GATEWAY__ROOMS__LOBBY__HISTORY_LEN=100 \
      RALLYPOINT_GATEWAY__ROOMS__LOBBY__HISTORY_TTL_MS=600000 \
      RALLYPOINT_GATEWAY__CONNECTS_PER_IP_PER_SECOND="${RALLYPOINT_GATEWAY__CONNECTS_PER_IP_PER_SECOND:-100000}" \
      RALLYPOINT_GATEWAY__CONNECTS_PER_IP_BURST="${RALLYPOINT_GATEWAY__CONNECTS_PER_IP_BURST:-100000}" \
      RALLYPOINT_POOL__TOKEN="$POOL_TOKEN" \
      RALLYPOINT_POOL__JOIN_SECRET="$JOIN_SECRET" \
      RALLYPOINT_MATCHMAKING__QUEUES__SQUAD__READY_CHECK_MS="${RALLYPOINT_MATCHMAKING__QUEUES__SQUAD__READY_CHECK_MS:-10000}" \
      DATABASE_URL="$DATABASE_URL" \
      $extra \
      "$BIN/rallypoint-$binary"
  done
  wait_ready
  local region port
  for entry in "${GAME_SERVERS[@]}"; do
    IFS='|' read -r name region port <<<"$entry"
    launch "$name" "$BIN/rallypoint-sim-server" \
      --pool "http://127.0.0.1:8090,http://127.0.0.1:8091" --token "$POOL_TOKEN" \
      --join-secret "$JOIN_SECRET" --id "$name" --region "$region" --capacity 8 --listen "127.0.0.1:$port"
  done
  if ((LOBBY)); then
    port_in_use "$LOBBY_PORT" && die "port $LOBBY_PORT (the web lobby) is taken by $(port_owner "$LOBBY_PORT"); stop it, run with STACK_LOBBY=0, or run: make down"
    launch web-lobby node "$REPO_ROOT/sdk/typescript/scripts/serve-lobby.mjs" "$LOBBY_PORT"
  fi
}

wait_ready() {
  local entry name binary ops extra deadline
  for entry in "${SERVICES[@]}"; do
    IFS='|' read -r name binary ops extra <<<"$entry"
    deadline=$((SECONDS + 60))
    until curl -fsS "http://127.0.0.1:$ops/health/ready" >/dev/null 2>&1; do
      if ! pid_alive "$(cat "$STACK_DIR/$name.pid")"; then
        tail -n 20 "$STACK_DIR/$name.log" >&2 || true
        die "$name exited; its log is $STACK_DIR/$name.log"
      fi
      ((SECONDS < deadline)) || die "$name is not ready after 60 s; see $STACK_DIR/$name.log"
      sleep 0.2
    done
    info "$name ready"
  done
}

print_table() {
  cat <<EOF

Rallypoint is running (namespace "$NAMESPACE"; logs in $STACK_DIR/).

  what             where                                 ops (health, metrics, admin)
  gateway-1        ws://127.0.0.1:8080/ws                http://127.0.0.1:9101
                   server API http://127.0.0.1:8180
  gateway-2        ws://127.0.0.1:8081/ws                http://127.0.0.1:9102
                   server API http://127.0.0.1:8181
  matchmaker-1/2   (no port of its own)                  http://127.0.0.1:9201, :9202
  server-pool-1    http://127.0.0.1:8090                 http://127.0.0.1:9301
  server-pool-2    http://127.0.0.1:8091                 http://127.0.0.1:9302
  cache-warmer     PostgreSQL: $DATABASE_URL
                                                         http://127.0.0.1:9401
  game servers     sim-eu-1/2 (127.0.0.1:7701/7702), sim-us-1/2 (127.0.0.1:7711/7712), capacity 8
  Redis Cluster    $REDIS_URLS
  web lobby        http://127.0.0.1:$LOBBY_PORT/   (open it in two browser windows: chat, party, queue for duel)

Dev secrets: JWT rallypoint-dev-jwt, game servers rallypoint-dev-pool (registration) and
rallypoint-dev-join-secret-0123456789 (join tokens), admin rallypoint-dev-admin, server API
rallypoint-dev-api.

Connect a client:
  cargo run -p rallypoint-client --example queue -- --guest alice --queue duel --region eu
  cargo run -p rallypoint-client --example queue -- --guest bob --url ws://127.0.0.1:8081/ws
  websocat 'ws://127.0.0.1:8080/ws?guest=carol'   then send {"type":"queue.join","queue":"duel","region":"eu"}
Operator view:
  curl -H 'Authorization: Bearer rallypoint-dev-admin' http://127.0.0.1:9201/v1/stats
The studio's backend (server API):
  curl -H 'Authorization: Bearer rallypoint-dev-api' http://127.0.0.1:8180/v1/broadcast -d '{"body":"hello"}'
EOF
}

# stop_group GLOB: SIGTERM the processes whose pid files match GLOB, wait (bounded), then
# SIGKILL what is left.
stop_group() {
  local pidfile pid
  local files=("$STACK_DIR"/$1.pid)
  for pidfile in "${files[@]}"; do
    [[ -f "$pidfile" ]] || continue
    pid="$(cat "$pidfile")"
    if pid_alive "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  local deadline=$((SECONDS + 20))
  for pidfile in "${files[@]}"; do
    [[ -f "$pidfile" ]] || continue
    pid="$(cat "$pidfile")"
    while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    if pid_alive "$pid"; then
      warn "$(basename "$pidfile" .pid) did not stop in time; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
}

stop_all() {
  # Game servers first (they finish their games against the pools), then the services.
  stop_group 'sim-*'
  stop_group '*'
  # Each stops only what it started itself (a DATABASE_URL of your own is left alone).
  "$LOCAL_DIR/redis-cluster.sh" stop || true
  "$LOCAL_DIR/postgres.sh" stop || true
}

status() {
  local file name how any=0
  shopt -s nullglob
  for file in "$STACK_DIR"/*.pid "$STACK_DIR"/*.exit; do
    name="$(basename "${file%.*}")"
    # A process with both files is reported once, by its pid file.
    [[ "$file" == *.exit && -f "$STACK_DIR/$name.pid" ]] && continue
    any=1
    if [[ "$file" == *.pid ]] && pid_alive "$(cat "$file")"; then
      info "$name: running (pid $(cat "$file"))"
    else
      how="$(ended "$name")"
      info "$name: not running${how:+ ($how)}"
    fi
  done
  ((any)) || info "nothing of the stack is running"
}

case "${1:-}" in
  run)
    ensure_packages "curl curl"
    build
    start_infra
    trap 'echo; say "stopping everything"; stop_all; exit 0' INT TERM
    start_services
    print_table
    say "press Ctrl-C to stop everything"
    while true; do sleep 1; done
    ;;
  up)
    ensure_packages "curl curl"
    build
    start_infra
    start_services
    print_table
    ;;
  down)
    stop_all
    say "stopped"
    ;;
  status)
    status
    ;;
  *)
    echo "usage: $0 {run|up|down|status}" >&2
    exit 2
    ;;
esac

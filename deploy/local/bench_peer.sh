#!/usr/bin/env bash
# make bench-peer: Rallypoint side by side with a Node.js peer on the same machine, in one
# run: Socket.IO 4.8 with @socket.io/redis-adapter's sharded adapter (one channel per room)
# on its own 6-node Redis Cluster (bench/peer/, deploy/local/peer.sh), both driven by the
# same load generator (rallypoint-loadgen --protocol rallypoint|socketio).
#
# Both sides are up at once (on their own ports and Redis Clusters) and take turns, rate
# by rate, never both under load at once: at each rate Rallypoint runs, then the peer, so
# a machine that drifts (a shared VM's neighbours come and go) moves both sides' figures
# alike and the ratios hold. Measured:
#   - fan-out in rooms of 10 (100 rooms over two instances) and rooms of 100 (10 rooms),
#     at rising rates until delivery latency p99 passes 10 ms (or something is lost),
#     each side's ladder ending on its own;
#   - idle connections: resident memory per connection.
# Then the report: deliveries/s at p99 < 10 ms, CPU per delivery of the servers and of
# Redis per room message, bytes per idle connection, and the ratios; written to
# bench/results/<date>-peer.md and .json (a --quick run's to .run/bench-peer-quick/).
#
# usage: deploy/local/bench_peer.sh [--quick] [--work DIR]
#   --quick     two small rates per shape and a few hundred connections (about 2 minutes)
#   --work DIR  keep the raw reports in DIR (make bench puts them beside its own)
set -euo pipefail

# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

QUICK=0
WORK="$RUN_DIR/bench-peer"
OUT_DIR="$REPO_ROOT/bench/results"
while (($#)); do
  case "$1" in
    --quick) QUICK=1 ;;
    --work)
      shift
      WORK="${1:?--work needs a directory}"
      ;;
    *) die "unknown argument $1 (usage: bench_peer.sh [--quick] [--work DIR])" ;;
  esac
  shift
done
((QUICK)) && OUT_DIR="$RUN_DIR/bench-peer-quick"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
LOADGEN="$TARGET_DIR/release/rallypoint-loadgen"
DATE="$(date -u +%Y-%m-%d)"

if [[ "${BENCH_PEER_SKIP_BUILD:-0}" != 1 ]]; then
  say "building release binaries (the first release build takes several minutes)"
  (cd "$REPO_ROOT" && cargo build --release --bins)
fi
mkdir -p "$WORK" "$OUT_DIR"
rm -f "$WORK"/peer-*.json

# The shapes: NAME ROOMS MEMBERS, and the message rates tried (messages/s; each is
# delivered to every member of its room, so deliveries/s = rate x members).
SHAPES=("rooms-10 100 10" "rooms-100 10 100")
if ((QUICK)); then
  RATES_10=(200 400)
  RATES_100=(50 100)
  IDLE=400
  SECONDS_PER_RUN=3
else
  # Steps of an eighth to a sixth of the rate where the sides' ceilings lie (1,500 to
  # 6,000): a side's figure is the last rate it held, so coarser steps understate it by up
  # to a quarter.
  RATES_10=(250 500 1000 1500 1750 2000 2500 3000 3500 4000 4500 5000 5500 6000 8000 10000)
  RATES_100=(50 100 200 300 400 600 800 1000)
  IDLE=5000
  SECONDS_PER_RUN=8
fi
# Two rates in a row whose p99 passes this (or that lose a message) end the shape's
# ladder (one alone may be a hiccup of a shared machine).
P99_LIMIT_MS=10
# Seconds of idle measured before each run: one whole heartbeat of the gateways (their
# session refreshes come in bursts over the first half of each 10 s beat; a 3 s window
# could see none of them and make Rallypoint's idle Redis look cheaper than it is).
IDLE_WINDOW=10
((QUICK)) && IDLE_WINDOW=3

# run_rate SIDE SHAPE ROOMS MEMBERS RATE: one fan-out run; counts a run over the p99
# limit (or one that lost a message) in OVER[SIDE], sets DONE[SIDE] at the second in a
# row. Reads SIDE_ARGS_<SIDE> (the side's --url/--protocol/--*-pid flags).
declare -A OVER DONE
run_rate() {
  local side="$1" shape="$2" rooms="$3" members="$4" rate="$5" name code p99
  local -n side_args="SIDE_ARGS_$side"
  name="peer-$side-$shape-$rate"
  say "$side, $shape: $rate messages/s ($((rate * members)) deliveries/s)"
  code=0
  "$LOADGEN" --json --run-id "bp-$side-$shape-$rate-$$" "${side_args[@]}" \
    --idle-window "$IDLE_WINDOW" fanout --rooms "$rooms" --members "$members" --rate "$rate" \
    --duration "$SECONDS_PER_RUN" --warmup 2 >"$WORK/$name.json" || code=$?
  ((code == 0 || code == 2)) || die "$name: the load generator failed (exit $code)"
  p99="$(python3 "$LOCAL_DIR/bench_report.py" figure "$WORK/$name.json" "delivery latency p99")"
  info "delivery latency p99 $p99 ms"
  if ((code == 2)) || python3 -c "import sys; sys.exit(0 if float('$p99') > $P99_LIMIT_MS else 1)"; then
    OVER[$side]=$((${OVER[$side]:-0} + 1))
    ((OVER[$side] < 2)) || DONE[$side]=1
  else
    OVER[$side]=0
  fi
}

# ladders SHAPE ROOMS MEMBERS RATES...: both sides' ladders, taking turns at each rate.
ladders() {
  local shape="$1" rooms="$2" members="$3" rate side
  shift 3
  OVER=() DONE=()
  for rate in "$@"; do
    for side in rallypoint socketio; do
      [[ -n "${DONE[$side]:-}" ]] || run_rate "$side" "$shape" "$rooms" "$members" "$rate"
    done
    [[ -z "${DONE[rallypoint]:-}" || -z "${DONE[socketio]:-}" ]] || break
  done
}

# idle SIDE: idle connections held for a few seconds, memory per connection.
idle() {
  local side="$1"
  local -n idle_args="IDLE_ARGS_$side"
  say "$side: $IDLE idle connections"
  "$LOADGEN" --json --run-id "bp-$side-idle-$$" "${idle_args[@]}" \
    connections --count "$IDLE" --hold 3 >"$WORK/peer-$side-idle.json" ||
    die "$side: the idle connections run failed"
}

# --- both sides up --------------------------------------------------------------------
# Rallypoint: only the gateways (the peer has nothing but its socket servers either).
start_load_stack "$WORK/stack-up.log" "gateway-1 gateway-2"
GATEWAYS="$(cat "$RUN_DIR/stack/gateway-1.pid"),$(cat "$RUN_DIR/stack/gateway-2.pid")"
REDIS_PIDS="$(cat "$RUN_DIR"/redis-cluster/*/redis.pid | paste -sd, -)"
# shellcheck disable=SC2034 # read through run_rate's and idle's namerefs
SIDE_ARGS_rallypoint=(--threads 1 --protocol rallypoint --url "ws://127.0.0.1:8080/ws,ws://127.0.0.1:8081/ws"
  --gateway-pid "$GATEWAYS" --redis-pid "$REDIS_PIDS")
# shellcheck disable=SC2034
IDLE_ARGS_rallypoint=(--threads 1 --protocol rallypoint --url ws://127.0.0.1:8080/ws --gateway-pid "${GATEWAYS%%,*}")

# The peer, on ports clear of the stack's (its gateways' server API has 8180 and 8181).
say "starting the peer (Socket.IO + sharded Redis adapter)"
trap '"$LOCAL_DIR/stack.sh" down >/dev/null 2>&1 || true; "$LOCAL_DIR/peer.sh" stop >/dev/null 2>&1 || true' EXIT
PEER_PORT="${PEER_PORT:-8280}" "$LOCAL_DIR/peer.sh" start >"$WORK/peer-up.log" 2>&1 || {
  cat "$WORK/peer-up.log" >&2
  die "the peer did not start"
}
PEER_URLS="$(sed -n 's/^PEER_URLS=//p' "$WORK/peer-up.log" | tail -n1)"
PEER_PIDS="$(sed -n 's/^PEER_PIDS=//p' "$WORK/peer-up.log" | tail -n1)"
PEER_REDIS_PIDS="$(sed -n 's/^PEER_REDIS_PIDS=//p' "$WORK/peer-up.log" | tail -n1)"
[[ -n "$PEER_URLS" && -n "$PEER_PIDS" && -n "$PEER_REDIS_PIDS" ]] ||
  die "peer.sh start did not print PEER_URLS, PEER_PIDS and PEER_REDIS_PIDS"
# shellcheck disable=SC2034
SIDE_ARGS_socketio=(--threads 1 --protocol socketio --url "$PEER_URLS" --gateway-pid "$PEER_PIDS" --redis-pid "$PEER_REDIS_PIDS")
# shellcheck disable=SC2034
IDLE_ARGS_socketio=(--threads 1 --protocol socketio --url "${PEER_URLS%%,*}" --gateway-pid "${PEER_PIDS%%,*}")

# --- the runs, taking turns ---------------------------------------------------------------
for shape in "${SHAPES[@]}"; do
  read -r name rooms members <<<"$shape"
  if [[ "$name" == rooms-10 ]]; then rates=("${RATES_10[@]}"); else rates=("${RATES_100[@]}"); fi
  ladders "$name" "$rooms" "$members" "${rates[@]}"
done
idle rallypoint
idle socketio
"$LOCAL_DIR/stack.sh" down >/dev/null 2>&1 || true
"$LOCAL_DIR/peer.sh" stop >/dev/null 2>&1 || true
trap - EXIT

python3 "$LOCAL_DIR/bench_report.py" peer "$WORK" "$OUT_DIR/$DATE-peer"
say "wrote $OUT_DIR/$DATE-peer.md and .json"

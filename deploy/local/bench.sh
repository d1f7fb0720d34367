#!/usr/bin/env bash
# make bench: release builds of the whole stack on this machine, the load generator's
# scenarios at sizes that fit a 2-core box in a few minutes, focused benchmarks, and the
# side by side with Socket.IO (bench_peer.sh, also `make bench-peer`); writes
# bench/results/<date>.md and .json (machine, versions, every figure).
#
# usage: deploy/local/bench.sh [--quick]
#   --quick   tiny sizes (a smoke run of the whole pipeline, about a minute)
#
# While each one runs, cpu_share.py records where the cores went (per program, and how
# busy the machine was); a full run also keeps a perf profile of the whole machine per
# scenario under bench/profiles/<date>/, so a figure short of its target shows its bound.
#
# The stack runs with the chat and request limits raised (a load generator's players send
# far faster than people); everything else is the default configuration.
set -euo pipefail

# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

QUICK=0
[[ "${1:-}" == "--quick" ]] && QUICK=1
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
RELEASE="$TARGET_DIR/release"
WORK="$RUN_DIR/bench"
OUT_DIR="$REPO_ROOT/bench/results"
# A quick run only checks the pipeline: its report stays under .run/, so it neither
# replaces the day's results nor is compared with them.
((QUICK)) && OUT_DIR="$RUN_DIR/bench-quick"
DATE="$(date -u +%Y-%m-%d)"
PROFILE_DIR="$REPO_ROOT/bench/profiles/$DATE"
((QUICK)) || ensure_packages "perf linux-perf"

say "building release binaries (the first release build takes several minutes)"
(cd "$REPO_ROOT" && cargo build --release --bins &&
  cargo build --release -p server-pool --example matchmaking_bench --example allocation_bench &&
  cargo build --release -p cache-warmer --example results_bench)

rm -rf "$WORK"
mkdir -p "$WORK" "$OUT_DIR"
export RALLYPOINT_GATEWAY__IDLE_TIMEOUT_MS=120000
start_load_stack "$WORK/stack-up.log"
GW1="$(cat "$RUN_DIR/stack/gateway-1.pid")"
GW2="$(cat "$RUN_DIR/stack/gateway-2.pid")"
LOADGEN="$RELEASE/rallypoint-loadgen"
BROKEN=0

# observe NAME: starts recording where the cores go (and, in a full run, a perf profile
# of the whole machine) until `observed NAME`.
observe() {
  python3 "$LOCAL_DIR/cpu_share.py" watch "$WORK/$1.cpu" &
  CPU_WATCH=$!
  PERF=""
  if ((!QUICK)); then
    perf record -q -e cpu-clock -F 199 -a -o "$WORK/$1.perf" >/dev/null 2>&1 &
    PERF=$!
  fi
}

observed() {
  kill -TERM "$CPU_WATCH" && wait "$CPU_WATCH" || warn "$1: no CPU figures"
  if [[ -n "$PERF" ]]; then
    kill -INT "$PERF" && wait "$PERF" || true
    mkdir -p "$PROFILE_DIR"
    # perf pads every line to the terminal's width with empty columns: trimmed.
    perf report -q -i "$WORK/$1.perf" --stdio --sort comm,dso,symbol --percent-limit 0.5 2>/dev/null |
      sed -E 's/([[:space:]]+-)*[[:space:]]*$//' >"$PROFILE_DIR/$1.txt" || warn "$1: no perf profile"
  fi
}

# scenario NAME LOADGEN-ARGS...: one load generator run, its JSON report kept as NAME.json.
scenario() {
  local name="$1"
  shift
  say "$name: rallypoint-loadgen $*"
  local code=0
  observe "$name"
  "$LOADGEN" --json --run-id "bench-$name-$$" "$@" >"$WORK/$name.json" || code=$?
  observed "$name"
  if ((code == 2)); then
    warn "$name: an invariant was broken (see the report)"
    BROKEN=1
  elif ((code != 0)); then
    die "$name: the load generator failed (exit $code)"
  fi
  python3 "$LOCAL_DIR/bench_report.py" table "$WORK/$name.json" "$WORK/$name.cpu"
}

# example NAME CMD...: a focused benchmark whose printed lines are kept as NAME.txt.
example() {
  local name="$1"
  shift
  say "$name: $*"
  observe "$name"
  (eval "$("$LOCAL_DIR/env.sh")" && "$@") | tee "$WORK/$name.txt"
  observed "$name"
}

# settle: waits (bounded) until the gateways have cleaned up the last scenario's
# connections, so its teardown is not measured as the next scenario's latency.
settle() {
  local port count deadline=$((SECONDS + 60))
  for port in 9101 9102; do
    while ((SECONDS < deadline)); do
      count="$(curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null |
        sed -n 's/^rallypoint_gateway_connections \([0-9.e+]*\)$/\1/p')"
      [[ "${count:-1}" == "0" ]] && break
      sleep 0.5
    done
  done
}

ONE_GATEWAY=(--url ws://127.0.0.1:8080/ws --gateway-pid "$GW1")
BOTH=(--gateway-pid "$GW1,$GW2")
if ((QUICK)); then
  scenario connections "${ONE_GATEWAY[@]}" connections --count 500 --hold 2
  settle
  scenario fanout "${BOTH[@]}" fanout --rooms 4 --members 20 --rate 200 --duration 3
  scenario whisper "${BOTH[@]}" whisper --pairs 50 --rate 500 --duration 3
  scenario recovery "${BOTH[@]}" recovery --rooms 4 --members 10 --rate 200 --duration 3 --reconnects-per-second 10
  settle
  scenario broadcast "${BOTH[@]}" broadcast --players 500 --broadcasts 2
  settle
  scenario abuse "${BOTH[@]}" abuse --pairs 10 --rate 100 --duration 3 --abusers 4 --storm-rate 20 --half-open 200 --probe-rate 5
  scenario matchmaking "${BOTH[@]}" matchmaking --rate 200 --duration 3 --players 1000 --game-ms 300
  scenario parties "${BOTH[@]}" parties --players 100 --max-party 5 --rate 50 --decline-share 0.05 --ready-wait-ms 10000
  example matchmaking-queued "$RELEASE/examples/matchmaking_bench" --queued 1000 --pairs 200
  example allocation "$RELEASE/examples/allocation_bench" --matches 1000 --servers 2
  example results "$RELEASE/examples/results_bench" 200 100
else
  scenario connections "${ONE_GATEWAY[@]}" connections --count 15000 --hold 10
  settle
  scenario fanout-50k "${BOTH[@]}" fanout --rooms 40 --members 50 --rate 1000 --duration 10
  scenario fanout-200k "${BOTH[@]}" fanout --rooms 4 --members 500 --rate 400 --duration 10
  # The same as fanout-50k in rooms that keep history (lobby:): what the append costs.
  scenario fanout-history-50k "${BOTH[@]}" fanout --rooms 40 --members 50 --rate 1000 --duration 10 --room-prefix lobby:
  # Members of busy history rooms reconnecting at random to the other gateway, 20 a
  # second: every member must still get every message once.
  scenario recovery "${BOTH[@]}" recovery --rooms 40 --members 25 --rate 1000 --duration 10 --reconnects-per-second 20
  settle
  # One server-API broadcast to 15,000 connected players, five times: until the last has it.
  scenario broadcast "${BOTH[@]}" broadcast --players 15000 --broadcasts 5
  settle
  scenario whisper-5k "${BOTH[@]}" whisper --pairs 1000 --rate 5000 --duration 10
  scenario whisper-10k "${BOTH[@]}" whisper --pairs 1000 --rate 10000 --duration 10
  scenario whisper-20k "${BOTH[@]}" whisper --pairs 1000 --rate 20000 --duration 10
  # Honest whispers and chat, alone and then while garbage, connect storms and 2,000
  # half-open handshakes hit gateway-1 (every attacker from one address: the per-address
  # limit is raised in this stack, so the per-player limits and the handshake deadline
  # are what holds them).
  settle
  scenario abuse "${BOTH[@]}" abuse --pairs 50 --rate 500 --duration 10 --abusers 20 --storm-rate 100 --half-open 2000 --probe-rate 10
  # Fresh players (no one queues twice): queue.join and matching without rating waits.
  scenario join-1k "${BOTH[@]}" matchmaking --rate 1000 --duration 10 --players 10500 --game-ms 500
  # Players queue again after their games: the whole loop, results and ratings included.
  scenario matchmaking-10k "${BOTH[@]}" matchmaking --rate 10000 --duration 8 --players 12000 --squad-share 0 --game-ms 300
  # 1,000 players in parties of 1-5 into 5v5 with a 10 s ready check, 5% of answers
  # declining: matches per second and a party's join to match.found.
  scenario parties "${BOTH[@]}" parties --players 1000 --max-party 5 --rate 50 --decline-share 0.05
  example matchmaking-queued "$RELEASE/examples/matchmaking_bench" --queued 100000
  example allocation "$RELEASE/examples/allocation_bench" --matches 20000 --servers 20
  example results "$RELEASE/examples/results_bench" 5000 1000
fi

# What the services warned about while under load (an invariant broken, a lagging
# subscriber, a canary gone quiet) stays with the run's profiles: the logs themselves go
# when the stack is started again.
if ((!QUICK)); then
  mkdir -p "$PROFILE_DIR"
  for log in "$RUN_DIR"/stack/*.log; do
    sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E ' (WARN|ERROR) ' >"$PROFILE_DIR/$(basename "$log" .log).warnings.txt" || true
  done
fi
"$LOCAL_DIR/stack.sh" down >/dev/null 2>&1 || true
trap - EXIT
# The side-by-side with Socket.IO (make bench-peer) is a section of this report.
PEER_ARGS=(--work "$WORK/peer")
((QUICK)) && PEER_ARGS+=(--quick)
BENCH_PEER_SKIP_BUILD=1 "$LOCAL_DIR/bench_peer.sh" "${PEER_ARGS[@]}"
python3 "$LOCAL_DIR/bench_report.py" write "$WORK" "$OUT_DIR/$DATE" "$REPO_ROOT"
say "wrote $OUT_DIR/$DATE.md and $OUT_DIR/$DATE.json"
((BROKEN == 0)) || die "an invariant was broken in at least one scenario; see the reports"

#!/usr/bin/env bash
# Runs the load generator's `abuse` scenario against the local stack ROUNDS times and,
# after each round, checks that every process of the stack is still alive; the first
# round that loses one stops the loop with how it ended (`stack.sh status`: the signal
# or exit status) and the last lines of its log. Written to hunt a gateway that once
# died silently under floods and connect storms; the note of each hunt says how many
# rounds ran clean.
#
# usage: deploy/local/flood_rounds.sh [ROUNDS] [SECONDS]
#   ROUNDS    rounds to run (default 10)
#   SECONDS   the flood phase of each round (default 10; the baseline phase is as long)
# Uses the release binaries (built here when missing, or always with FLOOD_BUILD=1) and
# the stack's own ports; run
# it with nothing else of the stack up, it starts and stops its own.
set -euo pipefail

# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS="${1:-10}"
SECONDS_PER_PHASE="${2:-10}"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
LOADGEN="$TARGET_DIR/release/rallypoint-loadgen"
STACK_DIR="$RUN_DIR/stack"
WORK="$RUN_DIR/flood-rounds"

if [[ ! -x "$LOADGEN" || "${FLOOD_BUILD:-0}" == 1 ]]; then
  say "building release binaries"
  (cd "$REPO_ROOT" && cargo build --release --bins)
fi
rm -rf "$WORK"
mkdir -p "$WORK"
# Attackers meet the default per-player limits and the handshake deadline.
start_load_stack "$WORK/stack-up.log"
GW1="$(cat "$STACK_DIR/gateway-1.pid")"
GW2="$(cat "$STACK_DIR/gateway-2.pid")"

# every_process_alive: 0 when every process the stack started still runs.
every_process_alive() {
  local file
  for file in "$STACK_DIR"/*.pid; do
    pid_alive "$(cat "$file")" || return 1
  done
}

for ((round = 1; round <= ROUNDS; round++)); do
  code=0
  "$LOADGEN" --json --run-id "flood-$round-$$" --gateway-pid "$GW1,$GW2" abuse \
    --pairs 50 --rate 500 --duration "$SECONDS_PER_PHASE" --abusers 40 --garbage-rate 100 \
    --storm-rate 200 --half-open 2000 --probe-rate 10 >"$WORK/round-$round.json" 2>"$WORK/round-$round.log" || code=$?
  if ! every_process_alive; then
    warn "round $round: a process of the stack is gone"
    "$LOCAL_DIR/stack.sh" status >&2
    for file in "$STACK_DIR"/*.log; do
      echo "--- last lines of $(basename "$file")" >&2
      tail -n 20 "$file" >&2
    done
    die "stopped after $((round - 1)) clean rounds"
  fi
  if ((code == 2)); then
    warn "round $round: an honest player lost something or could not connect (see $WORK/round-$round.json)"
  elif ((code != 0)); then
    die "round $round: the load generator failed (exit $code; $WORK/round-$round.log)"
  fi
  python3 - "$WORK/round-$round.json" "$round" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
fig = {f["name"]: f["value"] for f in report["figures"]}
get = lambda name: fig.get(name, 0)
print(f"round {sys.argv[2]}: every process alive; honest p99 {get('honest delivery latency baseline p99'):.1f} ms alone, "
      f"{get('honest delivery latency under flood p99'):.1f} ms under the flood; lost {get('lost'):.0f}; "
      f"garbage frames {get('abuser frames sent'):.0f}, storm connects {get('storm connects'):.0f}, "
      f"half-open sockets {get('half-open sockets opened'):.0f}")
PY
done
say "$ROUNDS rounds clean: every process of the stack alive after each"

#!/usr/bin/env bash
# Smoke test of the local stack as a new user meets it: `make up`, two example clients on
# the two gateways play a duel (both must print the same match), the web lobby answers,
# `make down`. Bounded in
# time; stops the stack whatever happens. Run by CI after `make test`.
set -euo pipefail

# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$REPO_ROOT"
trap '"$LOCAL_DIR/stack.sh" down >/dev/null 2>&1 || true' EXIT
say "smoke test: make up, two example clients, make down"
cargo build -q -p rallypoint-client --example queue
"$LOCAL_DIR/stack.sh" up >"$RUN_DIR/smoke-up.log" 2>&1 || {
  tail -n 30 "$RUN_DIR/smoke-up.log" >&2
  die "make up failed"
}
EXAMPLE="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/debug/examples/queue"
player="smoke-$$"
timeout 60 "$EXAMPLE" --guest "$player-a" --queue duel --region eu >"$RUN_DIR/smoke-a.log" 2>&1 &
a=$!
timeout 60 "$EXAMPLE" --guest "$player-b" --queue duel --region eu --url ws://127.0.0.1:8081/ws --msgpack >"$RUN_DIR/smoke-b.log" 2>&1 || true
wait "$a" || true
match_a="$(sed -n 's/^match \([0-9a-f]*\) on .*/\1/p' "$RUN_DIR/smoke-a.log")"
match_b="$(sed -n 's/^match \([0-9a-f]*\) on .*/\1/p' "$RUN_DIR/smoke-b.log")"
if [[ -z "$match_a" || "$match_a" != "$match_b" ]]; then
  cat "$RUN_DIR/smoke-a.log" "$RUN_DIR/smoke-b.log" >&2
  die "the two example clients did not get the same match"
fi
info "both players got match $match_a"
for page in / /lobby.js; do
  curl -fsS -o /dev/null "http://127.0.0.1:8060$page" || die "the web lobby does not serve $page (see $RUN_DIR/stack/web-lobby.log)"
done
info "the web lobby answers on http://127.0.0.1:8060/"
"$LOCAL_DIR/stack.sh" down >/dev/null
trap - EXIT
say "smoke test passed"

#!/usr/bin/env bash
# Run a command (the test suite) against a Redis Cluster and a PostgreSQL of its
# own, started here on private ports under a private folder, and stopped again
# however the command ends. Used by `make test`. It never uses a stack that
# `make up` started (that one lives in .run/ on ports 7000-7005 and 5433).
#
# usage: deploy/local/test-stack.sh -- COMMAND [ARGS...]
#
# env knobs:
#   RALLYPOINT_REDIS__URLS  use this Redis Cluster instead (left alone)
#   DATABASE_URL            use this PostgreSQL instead (left alone)
#   TEST_STACK_RUN_DIR      the private folder (default: <repo root>/.run/test)
#   TEST_STACK_REDIS_PORT   first node port of the private cluster (default 7100;
#                           nodes use PORT..PORT+5)
#   TEST_STACK_PG_PORT      port of the private PostgreSQL (default 5533)
#   TEST_STACK_PG_PURGE     1: delete the private PostgreSQL data dir on stop
#                           (default 0: keep it, restarts are quicker)
# A private cluster or server still running from an interrupted run is stopped
# and started afresh. Exits with the command's exit status.
set -euo pipefail

LOG_NAME=test-stack
RUN_DIR="${TEST_STACK_RUN_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.run/test}"
export RUN_DIR
export REDIS_CLUSTER_PORT="${TEST_STACK_REDIS_PORT:-7100}"
export PG_PORT="${TEST_STACK_PG_PORT:-5533}"
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ "${1:-}" == "--" ]] && shift
if [[ $# -eq 0 ]]; then
  echo "usage: $0 -- COMMAND [ARGS...]" >&2
  exit 2
fi

started_redis=0
started_pg=0
exec 3>&1 # start_service's progress goes here while its stdout is captured
tmp="$(mktemp -d "${TMPDIR:-/tmp}/rallypoint-test-stack.XXXXXX")"

# shellcheck disable=SC2317  # called from the EXIT trap
stop_started() {
  local what=()
  ((started_redis)) && what+=("redis cluster")
  ((started_pg)) && what+=("postgres")
  if ((${#what[@]} > 0)); then
    say "test-stack: stopping what it started: ${what[*]}"
  fi
  if ((started_redis)); then
    "$LOCAL_DIR/redis-cluster.sh" stop || warn "stopping the redis cluster failed"
    started_redis=0
  fi
  if ((started_pg)); then
    local purge=()
    [[ "${TEST_STACK_PG_PURGE:-0}" == 1 ]] && purge=(--purge)
    "$LOCAL_DIR/postgres.sh" stop "${purge[@]}" || warn "stopping postgres failed"
    started_pg=0
  fi
}

# shellcheck disable=SC2317  # the EXIT trap
on_exit() {
  local rc=$?
  trap - EXIT INT TERM HUP
  stop_started
  rm -rf "$tmp"
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# start_service SCRIPT VAR: run SCRIPT start, print its output, and echo the
# value of the VAR=... line it ends with.
start_service() {
  local script="$1" var="$2" out="$tmp/$2.out"
  "$LOCAL_DIR/$script" start | tee "$out" >&3 || return 1
  sed -n "s/^$var=//p" "$out" | tail -n1
}

# Redis
if [[ -n "${RALLYPOINT_REDIS__URLS:-}" ]]; then
  redis_note="using RALLYPOINT_REDIS__URLS=$RALLYPOINT_REDIS__URLS from the environment"
else
  if [[ -d "$RUN_DIR/redis-cluster" ]]; then
    say "test-stack: a private cluster is left from an interrupted run; starting afresh"
    "$LOCAL_DIR/redis-cluster.sh" stop || warn "stopping the leftover cluster failed"
  fi
  started_redis=1 # before start: a failed or interrupted start is cleaned up too
  redis_note="started a private cluster under $RUN_DIR"
  if ! RALLYPOINT_REDIS__URLS="$(start_service redis-cluster.sh RALLYPOINT_REDIS__URLS)"; then
    die "could not start the local redis cluster (see above)"
  fi
  [[ -n "$RALLYPOINT_REDIS__URLS" ]] || die "redis-cluster.sh start printed no RALLYPOINT_REDIS__URLS"
  redis_note+=": $RALLYPOINT_REDIS__URLS"
fi

# PostgreSQL
if [[ -n "${DATABASE_URL:-}" ]]; then
  pg_note="using DATABASE_URL=$DATABASE_URL from the environment"
else
  if [[ -f "$RUN_DIR/postgres/data/postmaster.pid" ]]; then
    say "test-stack: a private postgres is left from an interrupted run; starting afresh"
    "$LOCAL_DIR/postgres.sh" stop || warn "stopping the leftover postgres failed"
  fi
  started_pg=1
  pg_note="started a private postgres under $RUN_DIR"
  if ! DATABASE_URL="$(start_service postgres.sh DATABASE_URL)"; then
    die "could not start the local postgres (see above)"
  fi
  [[ -n "$DATABASE_URL" ]] || die "postgres.sh start printed no DATABASE_URL"
  pg_note+=": $DATABASE_URL"
fi

# The operator dashboard's test drives a headless Chromium over WebDriver.
ensure_packages "chromium chromium" "chromedriver chromium-driver"

export RALLYPOINT_REDIS__URLS DATABASE_URL
say "test-stack: redis: $redis_note"
say "test-stack: postgres: $pg_note"
say "test-stack: running: $*"

set +e
"$@"
status=$?
set -e

say "test-stack: command exited $status"
exit "$status"

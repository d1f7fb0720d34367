#!/usr/bin/env bash
# Run a command (the test suite) against a Redis Cluster and a PostgreSQL,
# starting the local ones only when none is configured, and stopping again
# whatever this script started, however the command ends. Used by `make test`.
#
# usage: deploy/local/test-stack.sh -- COMMAND [ARGS...]
#
# env knobs:
#   RALLYPOINT_REDIS__URLS  use this Redis Cluster; unset: start the local one
#   DATABASE_URL            use this PostgreSQL; unset: start the local one
#   TEST_STACK_PG_PURGE     1: delete the local PostgreSQL data dir on stop
#                           (default 0: keep it, restarts are quicker)
#   plus the knobs of redis-cluster.sh and postgres.sh (RUN_DIR,
#   REDIS_CLUSTER_PORT, PG_PORT, PG_DB, PG_USER, ...).
# A cluster or server that was already running from RUN_DIR is used and left
# running. Exits with the command's exit status.
set -euo pipefail

LOG_NAME=test-stack
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
  if [[ -f "$RUN_DIR/redis-cluster/ports" ]] && "$LOCAL_DIR/redis-cluster.sh" status >/dev/null 2>&1; then
    redis_note="using the local cluster already running from $RUN_DIR (left running)"
  else
    started_redis=1 # before start: a failed or interrupted start is cleaned up too
    redis_note="started the local cluster"
  fi
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
  if [[ -f "$RUN_DIR/postgres/data/postmaster.pid" ]] &&
    [[ "$("$LOCAL_DIR/postgres.sh" status 2>/dev/null || true)" == running ]]; then
    pg_note="using the local postgres already running from $RUN_DIR (left running)"
  else
    started_pg=1
    pg_note="started the local postgres"
  fi
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

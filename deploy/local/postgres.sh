#!/usr/bin/env bash
# Start, stop or check a private PostgreSQL on loopback, with its data under
# $RUN_DIR/postgres/data (initdb on first start, kept across stops).
#
# usage: deploy/local/postgres.sh {start|stop [--purge]|status}
#
# env knobs:
#   RUN_DIR    state dir (default: <repo root>/.run)
#   PG_PORT    TCP port (default 5433; Debian's own cluster uses 5432)
#   PG_HOST    loopback address to listen on (default 127.0.0.1)
#   PG_DB      database created on start (default rallypoint)
#   PG_USER    superuser created by initdb, trust auth (default rallypoint)
#   PG_BINDIR  server binaries (default: pg_config --bindir if it has initdb,
#              else the newest /usr/lib/postgresql/*/bin)
#   PG_WAIT    seconds to wait for start/stop (default 30)
#
# As root the server runs as the "postgres" system user (initdb refuses root).
# start is idempotent and prints DATABASE_URL=... as its last line.
# stop uses pg_ctl (fast, then immediate); --purge also deletes the data dir.
# status exits 0 when pg_isready answers on PG_HOST:PG_PORT, else 1.
# Test settings: fsync, synchronous_commit and full_page_writes are off, so
# the data does not survive a machine crash. Do not use it for anything else.
set -euo pipefail

# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_PORT="${PG_PORT:-5433}"
PG_HOST="${PG_HOST:-127.0.0.1}"
PG_DB="${PG_DB:-rallypoint}"
PG_USER="${PG_USER:-rallypoint}"
PG_WAIT="${PG_WAIT:-30}"
PG_DIR="$RUN_DIR/postgres"
PG_DATA="$PG_DIR/data"
PG_LOG="$PG_DIR/postgres.log"
# The OS user that runs the server when we are root: the owner of an existing
# data dir (unless root), else "postgres".
PG_OS_USER=postgres
if [[ -d "$PG_DATA" ]]; then
  _owner="$(stat -c %U "$PG_DATA" 2>/dev/null || true)"
  [[ -n "$_owner" && "$_owner" != root && "$_owner" != UNKNOWN ]] && PG_OS_USER="$_owner"
  unset _owner
fi

if ! is_uint "$PG_PORT" || ((PG_PORT < 1024 || PG_PORT > 65535)); then
  die "PG_PORT must be a port number in 1024..65535, got '$PG_PORT'"
fi
is_uint "$PG_WAIT" || die "PG_WAIT must be a number of seconds, got '$PG_WAIT'"
case "$PG_HOST" in
  127.*) ;;
  localhost) PG_HOST=127.0.0.1 ;;
  *) die "PG_HOST=$PG_HOST is not a loopback address; the local stack binds loopback only" ;;
esac
[[ "$PG_DB" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "PG_DB must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*), got '$PG_DB'"
[[ "$PG_USER" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "PG_USER must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*), got '$PG_USER'"

AS_ROOT=0
[[ "$(id -u)" -eq 0 ]] && AS_ROOT=1

database_url() { printf 'DATABASE_URL=postgres://%s@%s:%s/%s\n' "$PG_USER" "$PG_HOST" "$PG_PORT" "$PG_DB"; }

# find_bindir: sets PG_BIN to a directory holding initdb, pg_ctl, postgres,
# pg_isready and psql; returns 1 if there is none.
find_bindir() {
  local d cand=()
  if [[ -n "${PG_BINDIR:-}" ]]; then
    cand+=("$PG_BINDIR")
  else
    if command -v pg_config >/dev/null 2>&1; then
      d="$(pg_config --bindir 2>/dev/null || true)"
      [[ -n "$d" ]] && cand+=("$d")
    fi
    # Newest major version first.
    while IFS= read -r d; do
      cand+=("$d")
    done < <(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -t/ -k5,5 -V -r)
  fi
  for d in "${cand[@]}"; do
    if [[ -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" && -x "$d/pg_isready" && -x "$d/psql" ]]; then
      PG_BIN="$d"
      return 0
    fi
  done
  [[ -n "${PG_BINDIR:-}" ]] && die "PG_BINDIR=$PG_BINDIR does not hold initdb, pg_ctl, postgres, pg_isready and psql"
  return 1
}

ensure_server() {
  find_bindir && return 0
  install_packages postgresql
  find_bindir || die "installed postgresql but found no server binaries (initdb) under /usr/lib/postgresql/*/bin; set PG_BINDIR"
}

# as_pg CMD...: run CMD as the OS user that owns the data dir.
as_pg() {
  if ((AS_ROOT)); then
    if command -v runuser >/dev/null 2>&1; then
      (cd / && runuser -u "$PG_OS_USER" -- "$@")
    else
      local q
      q="$(printf '%q ' "$@")"
      (cd / && su -s /bin/sh "$PG_OS_USER" -c "$q")
    fi
  else
    "$@"
  fi
}

ensure_os_user() {
  ((AS_ROOT)) || return 0
  if ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
    say "creating system user $PG_OS_USER (initdb refuses to run as root)"
    useradd --system --user-group --no-create-home --home-dir /var/lib/postgresql \
      --shell /usr/sbin/nologin "$PG_OS_USER" ||
      die "could not create the system user $PG_OS_USER; create it (useradd --system $PG_OS_USER) or run as a normal user"
  fi
}

# check_traverse: as root, make sure the postgres user can reach PG_DIR.
check_traverse() {
  ((AS_ROOT)) || return 0
  local path="" part blocked=""
  local IFS=/
  for part in $PG_DIR; do
    [[ -z "$part" ]] && continue
    path="$path/$part"
    [[ -d "$path" ]] || break
    if ! as_pg test -x "$path"; then
      blocked="$path"
      break
    fi
  done
  if [[ -n "$blocked" ]]; then
    die "the '$PG_OS_USER' user cannot enter $blocked ($(stat -c '%A %U:%G' "$blocked")), so the server cannot reach $PG_DIR. Make it traversable (chmod o+x $blocked) or use a RUN_DIR under a world-traversable path, e.g. RUN_DIR=/tmp/rallypoint-run"
  fi
}

# server_running: true when our data dir has a live postmaster.
server_running() {
  [[ -f "$PG_DATA/postmaster.pid" ]] || return 1
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

# The port our running postmaster listens on (line 4 of postmaster.pid).
running_port() { sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null || true; }

pg_ready() { "$PG_BIN/pg_isready" -q -h "$PG_HOST" -p "$PG_PORT" -t 2 >/dev/null 2>&1; }

psql_q() { # psql_q USER DB SQL: one query, tuples only
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$1" -d "$2" -tAc "$3"
}

# ensure_role_and_db: PG_USER and PG_DB exist (PG_USER may differ from the
# superuser the data dir was initialised with).
ensure_role_and_db() {
  local su
  su="$(cat "$PG_DIR/superuser" 2>/dev/null || echo "$PG_USER")"
  if [[ "$su" != "$PG_USER" ]] &&
    [[ "$(psql_q "$su" postgres "SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER'")" != 1 ]]; then
    say "creating role $PG_USER"
    psql_q "$su" postgres "CREATE ROLE \"$PG_USER\" LOGIN SUPERUSER" >/dev/null
  fi
  if [[ "$(psql_q "$PG_USER" postgres "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != 1 ]]; then
    say "creating database $PG_DB"
    psql_q "$PG_USER" postgres "CREATE DATABASE \"$PG_DB\" OWNER \"$PG_USER\"" >/dev/null
  else
    info "database $PG_DB exists"
  fi
}

print_log_tail() {
  if [[ -f "$PG_LOG" ]]; then
    printf -- '--- tail of %s\n' "$PG_LOG" >&2
    tail -n 25 "$PG_LOG" >&2 || true
  fi
}

cmd_start() {
  local t0 rport owner i
  t0="$(date +%s)"
  ensure_server
  info "using PostgreSQL binaries in $PG_BIN"

  if [[ -d "$PG_DATA" ]] && server_running; then
    rport="$(running_port)"
    if [[ "$rport" != "$PG_PORT" ]]; then
      die "the PostgreSQL of $PG_DATA is already running on port $rport, not $PG_PORT; run '$0 stop' first (or use PG_PORT=$rport)"
    fi
    say "postgres already running on $PG_HOST:$PG_PORT (data in $PG_DATA)"
    pg_ready || die "postgres of $PG_DATA is running but does not answer on $PG_HOST:$PG_PORT; see $PG_LOG"
    ensure_role_and_db
    database_url
    return 0
  fi

  if port_in_use "$PG_PORT"; then
    owner="$(port_owner "$PG_PORT")"
    die "port $PG_PORT is already in use${owner:+ by $owner}. Pick another port, e.g. PG_PORT=$((PG_PORT + 10)) $0 start"
  fi

  ensure_os_user
  mkdir -p "$PG_DIR"
  if ((AS_ROOT)); then
    chown "$PG_OS_USER:" "$PG_DIR"
    chmod 700 "$PG_DIR"
  fi
  check_traverse

  if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
    if [[ -d "$PG_DATA" ]] && [[ -n "$(ls -A "$PG_DATA")" ]]; then
      die "$PG_DATA exists but is not a PostgreSQL data dir; remove it ('$0 stop --purge') and start again"
    fi
    say "initialising $PG_DATA (superuser $PG_USER, trust auth)"
    if ! as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U "$PG_USER" --auth=trust -E UTF8 --no-locale --no-sync \
      >"$PG_DIR/initdb.log" 2>&1; then
      tail -n 25 "$PG_DIR/initdb.log" >&2 || true
      rm -rf "$PG_DATA"
      die "initdb failed (log: $PG_DIR/initdb.log)"
    fi
    printf '%s\n' "$PG_USER" >"$PG_DIR/superuser"
  else
    local have want
    have="$(cat "$PG_DATA/PG_VERSION")"
    want="$("$PG_BIN/postgres" --version | sed -n 's/.* \([0-9][0-9]*\)\..*/\1/p')"
    if [[ -n "$want" && "$have" != "$want" ]]; then
      die "$PG_DATA was made by PostgreSQL $have but the binaries in $PG_BIN are $want; run '$0 stop --purge' to start afresh (or set PG_BINDIR)"
    fi
  fi

  say "starting postgres on $PG_HOST:$PG_PORT"
  local opts="-c listen_addresses=$PG_HOST -c port=$PG_PORT -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -o "$opts" -w -t "$PG_WAIT" start >"$PG_DIR/pg_ctl.log" 2>&1; then
    cat "$PG_DIR/pg_ctl.log" >&2 || true
    print_log_tail
    # pg_ctl may time out with the server still coming up: stop it.
    if server_running; then
      as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
    fi
    die "pg_ctl start failed"
  fi

  say "waiting for pg_isready on $PG_HOST:$PG_PORT"
  for ((i = 0; ; i++)); do
    pg_ready && break
    if ((i >= PG_WAIT * 5)); then
      print_log_tail
      as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
      die "postgres does not answer on $PG_HOST:$PG_PORT after ${PG_WAIT}s"
    fi
    sleep 0.2
  done

  ensure_role_and_db
  say "postgres ready on $PG_HOST:$PG_PORT in $(($(date +%s) - t0))s (data in $PG_DATA)"
  database_url
}

cmd_stop() {
  local purge=0
  [[ "${1:-}" == "--purge" ]] && purge=1
  if [[ -f "$PG_DATA/postmaster.pid" ]]; then
    if ! find_bindir; then
      die "no PostgreSQL binaries found to stop the server of $PG_DATA; set PG_BINDIR"
    fi
    if server_running; then
      local pid
      pid="$(sed -n 1p "$PG_DATA/postmaster.pid")"
      say "stopping postgres (pid $pid, data $PG_DATA)"
      if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t "$PG_WAIT" stop >/dev/null; then
        warn "fast shutdown did not finish in ${PG_WAIT}s; trying immediate"
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w -t 10 stop >/dev/null ||
          die "could not stop postgres (pid $pid); see $PG_LOG"
      fi
      say "postgres stopped"
    else
      say "postgres of $PG_DATA is not running (stale postmaster.pid)"
    fi
  else
    say "postgres of $PG_DATA is not running; nothing to stop"
  fi
  if ((purge)) && [[ -e "$PG_DIR" ]]; then
    rm -rf "$PG_DIR"
    say "removed $PG_DIR"
  fi
}

cmd_status() {
  find_bindir || die "no PostgreSQL binaries found (pg_isready); '$0 start' installs them"
  if pg_ready; then
    if [[ -d "$PG_DATA" ]] && server_running && [[ "$(running_port)" == "$PG_PORT" ]]; then
      echo "running"
    else
      echo "running (a server answers on $PG_HOST:$PG_PORT, but not the one of $PG_DATA)"
    fi
    return 0
  fi
  echo "not running on $PG_HOST:$PG_PORT"
  return 1
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop "${2:-}" ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 {start|stop [--purge]|status}" >&2
    exit 2
    ;;
esac

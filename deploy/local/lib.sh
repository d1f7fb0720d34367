# shellcheck shell=bash
# Helpers shared by the local-stack scripts in deploy/local/. Sourced, never run.
#
# Sets REPO_ROOT (two levels up from deploy/local/) and RUN_DIR (env knob,
# default "$REPO_ROOT/.run", made absolute). Provides logging, port checks,
# bounded waits and the "install this Debian package if missing" step.

LOCAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$LOCAL_DIR/../.." && pwd)"
RUN_DIR="${RUN_DIR:-$REPO_ROOT/.run}"
case "$RUN_DIR" in
  /*) ;;
  *) RUN_DIR="$PWD/$RUN_DIR" ;;
esac
export RUN_DIR

# The script name used as a prefix on stderr messages.
LOG_NAME="${LOG_NAME:-$(basename "$0")}"

say() { printf '==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
warn() { printf '%s: warning: %s\n' "$LOG_NAME" "$*" >&2; }
die() {
  printf '%s: error: %s\n' "$LOG_NAME" "$*" >&2
  exit 1
}

# is_uint VALUE: true when VALUE is a non-empty string of digits.
is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

# port_in_use PORT: true when something listens on TCP PORT on any address
# that would clash with binding 127.0.0.1:PORT.
port_in_use() {
  local port="$1"
  if command -v ss >/dev/null 2>&1; then
    if [[ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]]; then
      return 0
    fi
  fi
  # Fallback (and double check): try to connect on loopback.
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    return 0
  fi
  return 1
}

# port_owner PORT: best-effort description of who listens on PORT.
port_owner() {
  local port="$1"
  if command -v ss >/dev/null 2>&1; then
    ss -Hltnp "sport = :$port" 2>/dev/null | sed -n 's/.*users:((\(.*\)))/\1/p' | head -n1
  fi
}

# pid_alive PID: true when PID is a live process (not a zombie).
pid_alive() {
  local pid="$1" state
  is_uint "$pid" || return 1
  [[ -r "/proc/$pid/stat" ]] || return 1
  state="$(sed -e 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
  [[ -n "$state" && "$state" != "Z" && "$state" != "X" ]]
}

# pid_comm PID: the process's command name ("" when gone).
# wait_pids_gone TENTHS PID...: waits up to TENTHS tenths of a second for every PID to
# exit; 0 when they all have, 1 if one is still alive.
wait_pids_gone() {
  local tenths="$1" i pid alive
  shift
  for ((i = 0; i < tenths; i++)); do
    alive=0
    for pid in "$@"; do
      pid_alive "$pid" && alive=1
    done
    ((alive == 0)) && return 0
    sleep 0.1
  done
  return 1
}

pid_comm() { cat "/proc/$1/comm" 2>/dev/null || true; }

# pid_cmdline PID: the process's command line, NULs turned into spaces.
pid_cmdline() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true; }

# ensure_packages "cmd pkg" ...: for every "command package" pair whose command
# is missing, install the packages with apt-get (root only); otherwise print
# exactly what to install and exit non-zero.
ensure_packages() {
  local pair cmd pkg missing=()
  for pair in "$@"; do
    cmd="${pair%% *}"
    pkg="${pair#* }"
    if ! command -v "$cmd" >/dev/null 2>&1; then
      [[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
    fi
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  install_packages "${missing[@]}"
}

# install_packages PKG...: apt-get install PKG... as root, or explain and exit.
install_packages() {
  if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing missing packages: $*"
    if ! apt-get update -qq; then
      die "apt-get update failed; install by hand: apt-get install -y $*"
    fi
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; then
      die "apt-get install failed; install by hand: apt-get install -y $*"
    fi
    return 0
  fi
  if command -v apt-get >/dev/null 2>&1; then
    die "missing packages: $*. Install them with: sudo apt-get update && sudo apt-get install -y $*"
  fi
  die "missing packages: $* (Debian/Ubuntu names; no apt-get here: install the equivalent with your package manager and make sure the commands are on PATH)"
}

# ensure_node MAJOR WHO: node and npm (Debian's nodejs and npm when missing), node at
# least MAJOR; WHO names what needs it in the error.
ensure_node() {
  ensure_packages "node nodejs" "npm npm"
  local v major
  v="$(node --version 2>/dev/null || true)"
  major="${v#v}"
  major="${major%%.*}"
  is_uint "$major" || die "cannot tell node's version (node --version printed '$v')"
  ((major >= $1)) || die "node $v is too old: $2 needs node >= $1 (install a newer nodejs)"
}

# ensure_npm_modules DIR: `npm ci` in DIR (from its package-lock.json) when node_modules
# is missing or older than the lock file.
ensure_npm_modules() {
  local stamp="$1/node_modules/.package-lock.json"
  if [[ -f "$stamp" && ! "$1/package-lock.json" -nt "$stamp" ]]; then
    return 0
  fi
  say "installing node modules from the lock file (npm ci in ${1#"$REPO_ROOT"/})"
  (cd "$1" && npm ci --no-audit --no-fund) || die "npm ci in $1 failed"
}

# start_load_stack LOG [STACK_ONLY]: the local stack from release builds, with the limits
# a load generator needs raised (its players chat and send far faster than people; the
# per-player connect and abuse limits and every other default stay), its output in LOG;
# dies with that output if it does not start, and stops it when the script exits.
# STACK_ONLY limits it to those parts (stack.sh's STACK_ONLY).
start_load_stack() {
  local log="$1" only="${2:-}"
  export RALLYPOINT_GATEWAY__CHAT_PER_MINUTE=10000000
  export RALLYPOINT_GATEWAY__RATE_PER_SECOND=100000
  export RALLYPOINT_GATEWAY__RATE_BURST=100000
  # The local stack gives squad a ready check (for newcomers to see one); the load
  # scenarios measure matchmaking without it, so their figures stay comparable.
  export RALLYPOINT_MATCHMAKING__QUEUES__SQUAD__READY_CHECK_MS=0
  # The parties scenario's queue: 5v5 in eu, with a 10 s ready check.
  export RALLYPOINT_MATCHMAKING__QUEUES__TEAM__TEAMS=2
  export RALLYPOINT_MATCHMAKING__QUEUES__TEAM__TEAM_SIZE=5
  export RALLYPOINT_MATCHMAKING__QUEUES__TEAM__REGIONS=eu
  export RALLYPOINT_MATCHMAKING__QUEUES__TEAM__INITIAL_WINDOW=200
  export RALLYPOINT_MATCHMAKING__QUEUES__TEAM__WIDEN_PER_SECOND=100
  export RALLYPOINT_MATCHMAKING__QUEUES__TEAM__MAX_WINDOW=1000
  export RALLYPOINT_MATCHMAKING__QUEUES__TEAM__MAX_WAIT_MS=120000
  export RALLYPOINT_MATCHMAKING__QUEUES__TEAM__READY_CHECK_MS=10000
  say "starting ${only:-the stack} (release build)"
  STACK_LOBBY=0 STACK_ONLY="$only" STACK_PROFILE=release "$LOCAL_DIR/stack.sh" up >"$log" 2>&1 || {
    cat "$log" >&2
    die "the stack did not start"
  }
  trap '"$LOCAL_DIR/stack.sh" down >/dev/null 2>&1 || true' EXIT
}

#!/bin/sh
# The image's entrypoint: runs the command it is given (the ECS task definition's or
# docker-compose's `command`, e.g. `rallypoint-gateway`), after filling in, on ECS only,
# what the task metadata endpoint knows and the environment does not:
#   RALLYPOINT_INSTANCE__ID   <service>-<ECS task id>, a stable id per task (README: "give
#                             each task a stable RALLYPOINT_INSTANCE__ID")
#   RALLYPOINT_INSTANCE__ADVERTISE  <task IP>:<ops port>, what the instance registry shows
# Either one already set in the environment is left alone; off ECS (no
# ECS_CONTAINER_METADATA_URI_V4) nothing is added and the services pick a random id.
# Without a command it prints what the image holds.
set -eu

usage() {
  cat <<'EOF'
Rallypoint image: one binary per service, picked by the command.
  rallypoint-gateway        WebSocket endpoint for game clients (ops :9100)
  rallypoint-matchmaker     matches queued tickets (ops :9200)
  rallypoint-server-pool    game-server HTTP API and allocation (ops :9300)
  rallypoint-cache-warmer   PostgreSQL <-> Redis bridge (ops :9400); `rallypoint-cache-warmer migrate`
  rallypoint-sim-server     a simulated dedicated game server
  rallypoint-loadgen        the load generator
Each service: configured by RALLYPOINT_* environment variables (or --config FILE);
`rallypoint-<service> --check-config` validates the config and exits.
e.g. docker run --rm -e RALLYPOINT_GATEWAY__JWT_SECRET=... IMAGE rallypoint-gateway --check-config
EOF
}

if [ "$#" -eq 0 ] || [ "$1" = help ] || [ "$1" = --help ]; then
  usage
  exit 0
fi

case "$1" in
  rallypoint-gateway | rallypoint-matchmaker | rallypoint-server-pool | rallypoint-cache-warmer)
    service="${1#rallypoint-}"
    if [ -n "${ECS_CONTAINER_METADATA_URI_V4:-}" ]; then
      task="$(curl -fsS --max-time 2 "$ECS_CONTAINER_METADATA_URI_V4/task" 2>/dev/null | tr -d '\n' || true)"
      if [ -z "${RALLYPOINT_INSTANCE__ID:-}" ]; then
        # "TaskARN":"arn:aws:ecs:<region>:<account>:task/<cluster>/<32 hex task id>"
        task_id="$(printf '%s' "$task" | sed -n 's/.*"TaskARN": *"[^"]*\/\([0-9a-zA-Z]*\)".*/\1/p')"
        if [ -n "$task_id" ]; then
          export RALLYPOINT_INSTANCE__ID="$service-$task_id"
        fi
      fi
      if [ -z "${RALLYPOINT_INSTANCE__ADVERTISE:-}" ]; then
        ip="$(printf '%s' "$task" | sed -n 's/.*"IPv4Addresses": *\[ *"\([0-9.]*\)".*/\1/p')"
        port="${RALLYPOINT_OPS__LISTEN:-}"
        port="${port##*:}"
        if [ -n "$ip" ] && [ -n "$port" ]; then
          export RALLYPOINT_INSTANCE__ADVERTISE="$ip:$port"
        fi
      fi
    fi
    ;;
esac

exec "$@"

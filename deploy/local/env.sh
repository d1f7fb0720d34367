#!/usr/bin/env bash
# shellcheck shell=sh
# Connection settings for the local stack (deploy/local/redis-cluster.sh and
# deploy/local/postgres.sh). POSIX sh; does not change shell options.
#
# usage:  . deploy/local/env.sh            (exports into the current shell)
#         eval "$(deploy/local/env.sh)"    (run: prints export lines)
#
# Exports, unless already set (and non-empty) in the environment:
#   RALLYPOINT_REDIS__URLS  redis://HOST:PORT,...  (three seed nodes)
#   DATABASE_URL            postgres://PG_USER@PG_HOST:PG_PORT/PG_DB
# env knobs (same defaults as the start scripts):
#   REDIS_CLUSTER_HOST (127.0.0.1), REDIS_CLUSTER_PORT (7000),
#   PG_HOST (127.0.0.1), PG_PORT (5433), PG_DB (rallypoint), PG_USER (rallypoint)

_rp_rhost="${REDIS_CLUSTER_HOST:-127.0.0.1}"
_rp_rport="${REDIS_CLUSTER_PORT:-7000}"
if [ -z "${RALLYPOINT_REDIS__URLS:-}" ]; then
  RALLYPOINT_REDIS__URLS="redis://$_rp_rhost:$_rp_rport,redis://$_rp_rhost:$((_rp_rport + 1)),redis://$_rp_rhost:$((_rp_rport + 2))"
fi
export RALLYPOINT_REDIS__URLS

if [ -z "${DATABASE_URL:-}" ]; then
  DATABASE_URL="postgres://${PG_USER:-rallypoint}@${PG_HOST:-127.0.0.1}:${PG_PORT:-5433}/${PG_DB:-rallypoint}"
fi
export DATABASE_URL
unset _rp_rhost _rp_rport

# Run rather than sourced: print the settings for eval. ("return" outside a
# function fails in bash; dash accepts it, so also look at $0.)
if ! (return 0 2>/dev/null) || { [ "${0##*/}" = env.sh ] && [ -z "${ZSH_VERSION:-}" ]; }; then
  printf "export RALLYPOINT_REDIS__URLS='%s'\n" "$RALLYPOINT_REDIS__URLS"
  printf "export DATABASE_URL='%s'\n" "$DATABASE_URL"
fi

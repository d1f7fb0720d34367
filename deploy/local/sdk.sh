#!/usr/bin/env bash
# The TypeScript SDK (sdk/typescript): its packages from the lock file, its build, its tests.
#
# usage: deploy/local/sdk.sh build   npm ci when node_modules is missing or older than the
#                                    lock file; check that src/protocol.ts is what
#                                    proto/schema/protocol.json gives; tsc; bundle the web lobby
#        deploy/local/sdk.sh test    build, then the SDK's unit tests (node --test)
#        deploy/local/sdk.sh types   regenerate src/protocol.ts from the schema (make schema)
#
# Installs node and npm (Debian's nodejs, npm) when missing; needs node >= 20.
set -euo pipefail

# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SDK="$REPO_ROOT/sdk/typescript"

ensure_node 20 "the TypeScript SDK"
ensure_npm_modules "$SDK"
cd "$SDK"
case "${1:-build}" in
  build)
    say "building the TypeScript SDK and the web lobby (sdk/typescript)"
    npm run --silent build
    ;;
  test)
    say "building the TypeScript SDK and the web lobby (sdk/typescript)"
    npm run --silent build
    say "the TypeScript SDK's unit tests"
    npm test --silent
    ;;
  types)
    npm run --silent generate
    ;;
  *) die "usage: $0 build|test|types" ;;
esac

#!/usr/bin/env bash
# Offline check of the deployment artifacts (deploy/docker, deploy/compose, deploy/ecs,
# deploy/terraform): no Docker, no AWS account, no network beyond PyPI on first use.
# What it checks: deploy/check/check_deploy.py (task definitions against botocore's ECS
# model, compose file, Terraform syntax, every environment against the services'
# `--check-config`, stop timeouts and health checks, no guests outside development; its
# --self-test, run first, proves the guest check fails on files that let guests in).
#
# usage: deploy/check.sh
#   CARGO_TARGET_DIR              where the debug binaries are (default <repo>/target);
#                                 build them first: cargo build --workspace --bins
#   DEPLOY_CHECK_SKIP_CONFIG=1    skip the --check-config part (no binaries needed)
#
# Uses a virtualenv at <repo>/.run/deploy-venv with pinned botocore, PyYAML and
# python-hcl2, created and filled only when missing (python3-venv is installed with
# apt-get when needed, as root). Exit code: 0 when every check passed, 1 otherwise.
set -euo pipefail

# shellcheck source=local/lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/local/lib.sh"

VENV="$REPO_ROOT/.run/deploy-venv"
PINS=(botocore==1.44.5 PyYAML==6.0.3 python-hcl2==8.1.4)

ensure_packages "python3 python3"

# A venv needs ensurepip (Debian ships it in python3-venv).
if [[ ! -x "$VENV/bin/python" || ! -x "$VENV/bin/pip" ]]; then
  if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    install_packages python3-venv
  fi
  say "creating the virtualenv $VENV"
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV" || die "python3 -m venv $VENV failed"
fi

# Install the pins only when one is missing or at another version.
if ! "$VENV/bin/python" - "${PINS[@]}" <<'EOF'; then
import sys
from importlib.metadata import PackageNotFoundError, version
for pin in sys.argv[1:]:
    name, wanted = pin.split("==")
    try:
        if version(name) != wanted:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
EOF
  say "installing ${PINS[*]} into $VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}" ||
    die "pip install ${PINS[*]} failed (is PyPI reachable?)"
fi

"$VENV/bin/python" "$REPO_ROOT/deploy/check/check_deploy.py" --self-test
exec "$VENV/bin/python" "$REPO_ROOT/deploy/check/check_deploy.py" "$@"

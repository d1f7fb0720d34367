#!/usr/bin/env bash
# Offline check of the deployment artifacts (deploy/docker, deploy/compose, deploy/ecs,
# deploy/terraform): no Docker, no AWS account, no network beyond PyPI on first use.
# What it checks: deploy/check/check_deploy.py (task definitions against botocore's ECS
# model, compose file, Terraform syntax, every environment against the services'
# `--check-config`, health checks, no guests outside development, the drain arithmetic,
# names derived from var.name, and checkov's static analysis of deploy/terraform; its
# --self-test, run first, proves the guest, drain and name checks fail on bad files).
#
# usage: deploy/check.sh
#   CARGO_TARGET_DIR              where the debug binaries are (default <repo>/target);
#                                 build them first: cargo build --workspace --bins
#   DEPLOY_CHECK_SKIP_CONFIG=1    skip the --check-config part (no binaries needed)
#
# Uses two virtualenvs, created and filled only when missing or at another version
# (python3-venv is installed with apt-get when needed, as root):
#   <repo>/.run/deploy-venv   pinned botocore, PyYAML and python-hcl2 (the checks)
#   <repo>/.run/checkov-venv  pinned checkov, kept apart: it pins its own botocore and
#                             ships bc-python-hcl2, which also installs a module "hcl2"
# Checkov runs offline (--skip-download). Exit code: 0 when every check passed, 1 otherwise.
set -euo pipefail

# shellcheck source=local/lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/local/lib.sh"

VENV="$REPO_ROOT/.run/deploy-venv"
PINS=(botocore==1.44.5 PyYAML==6.0.3 python-hcl2==8.1.4)
CHECKOV_VENV="$REPO_ROOT/.run/checkov-venv"
CHECKOV_PINS=(checkov==3.3.30)

ensure_packages "python3 python3"

# ensure_venv DIR PIN...: a virtualenv at DIR with exactly these pins installed.
ensure_venv() {
  local venv="$1"
  shift
  # A venv needs ensurepip (Debian ships it in python3-venv).
  if [[ ! -x "$venv/bin/python" || ! -x "$venv/bin/pip" ]]; then
    if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
      install_packages python3-venv
    fi
    say "creating the virtualenv $venv"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" || die "python3 -m venv $venv failed"
  fi
  # Install the pins only when one is missing or at another version.
  if ! "$venv/bin/python" - "$@" <<'EOF'; then
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
    say "installing $* into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" ||
      die "pip install $* failed (is PyPI reachable?)"
  fi
}

ensure_venv "$VENV" "${PINS[@]}"
ensure_venv "$CHECKOV_VENV" "${CHECKOV_PINS[@]}"
export DEPLOY_CHECK_CHECKOV="$CHECKOV_VENV/bin/checkov"

"$VENV/bin/python" "$REPO_ROOT/deploy/check/check_deploy.py" --self-test
exec "$VENV/bin/python" "$REPO_ROOT/deploy/check/check_deploy.py" "$@"

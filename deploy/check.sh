#!/usr/bin/env bash
# Checks deploy/docker and deploy/k8s against deploy/local without a container engine
# (deploy/check.py says what). Needs the idp binary (IDP_BIN, default target/debug/idp) and
# installs kubernetes-validate and PyYAML from PyPI in a venv of its own.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv="$here/../target/deploy-check-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/check-requirements.txt"
IDP_BIN=$(realpath "${IDP_BIN:-$here/../target/debug/idp}") exec "$venv/bin/python" "$here/check.py"

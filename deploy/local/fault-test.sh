#!/usr/bin/env bash
# Starts the local topology, runs the multi-node fault test against it (idp/tests/deploy.rs:
# flows across nodes, a node killed mid-flow, Redis then PostgreSQL restarted under load),
# prints its table, and stops the topology, restarting Redis and PostgreSQL if needed.
#   deploy/local/fault-test.sh                         # builds the release binary
#   DEPLOY_BIN=target/debug/idp deploy/local/fault-test.sh   # reuses the test build's binary
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# the test runs from idp/ and starts nodes again: it needs the binary's absolute path
if [ -n "${DEPLOY_BIN:-}" ]; then DEPLOY_BIN=$(realpath "$DEPLOY_BIN"); export DEPLOY_BIN; fi
trap '"$here/services.sh" ensure; "$here/down.sh"' EXIT
"$here/up.sh"
cd "$here/../.."
cargo test -p idp --test deploy -- --ignored --nocapture

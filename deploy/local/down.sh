#!/usr/bin/env bash
# Stops the local topology's nginx and nodes (the database and Redis keep running).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/env.sh"
if [ -f "$DEPLOY_RUN/nginx.pid" ]; then
  nginx -c "$DEPLOY_RUN/nginx.conf" -s quit 2>/dev/null || kill "$(cat "$DEPLOY_RUN/nginx.pid")" 2>/dev/null
  rm -f "$DEPLOY_RUN/nginx.pid"
fi
for n in $(seq 1 "$DEPLOY_NODES"); do "$here/node.sh" stop "$n"; done
echo "local topology down"

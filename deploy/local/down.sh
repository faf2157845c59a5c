#!/usr/bin/env bash
# Stops the local topology's nginx and nodes (the database and Redis keep running).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/env.sh"
if [ -f "$DEPLOY_RUN/nginx.pid" ]; then
  pid=$(cat "$DEPLOY_RUN/nginx.pid")
  nginx -c "$DEPLOY_RUN/nginx.conf" -s quit 2>/dev/null || kill "$pid" 2>/dev/null
  # the next up.sh needs the port: wait until nginx has gone
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$DEPLOY_RUN/nginx.pid"
fi
for n in $(seq 1 "$DEPLOY_NODES"); do "$here/node.sh" stop "$n"; done
echo "local topology down"

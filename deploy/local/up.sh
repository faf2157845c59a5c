#!/usr/bin/env bash
# Starts the local multi-node topology: three `idp serve` nodes on 127.0.0.1 behind nginx in
# round-robin, on the PostgreSQL and Redis of this machine. One command:
#   deploy/local/up.sh          (builds the release binary first unless DEPLOY_BIN is given)
# Then the IdP is at http://127.0.0.1:18080 with the demo's accounts (lea.martin /
# Cartable-2026, …) and the three relying parties of deploy/relying-parties.
# deploy/local/down.sh stops it; deploy/local/fault-test.sh runs the fault tests against it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin_given=${DEPLOY_BIN:-}
source "$here/env.sh"
for tool in nginx curl psql redis-cli; do
  command -v "$tool" >/dev/null || { echo "up.sh needs $tool (Debian: nginx postgresql-client redis-tools curl)" >&2; exit 1; }
done
if [ -z "$bin_given" ]; then
  (cd "$here/../.." && cargo build --release --bin idp)
fi
"$here/down.sh" >/dev/null 2>&1 || true
rm -rf "$DEPLOY_RUN"
mkdir -p "$DEPLOY_RUN/nginx-body" "$DEPLOY_RUN/nginx-proxy"

# a fresh database, and no state left in Redis under this deployment's prefix
psql -q "$DEPLOY_PG/postgres" -c "DROP DATABASE IF EXISTS $DEPLOY_DB WITH (FORCE)" \
  -c "CREATE DATABASE $DEPLOY_DB"
redis-cli -u "$DEPLOY_REDIS" --scan --pattern "${DEPLOY_REDIS_PREFIX}*" |
  xargs -r redis-cli -u "$DEPLOY_REDIS" del >/dev/null

# one server secret for every node
head -c 32 /dev/urandom | base64 >"$DEPLOY_RUN/server-secret"
chmod 600 "$DEPLOY_RUN/server-secret"

cat >"$DEPLOY_RUN/idp.toml" <<TOML
# written by deploy/local/up.sh; every node reads it (IDP_LISTEN and IDP_DATA_DIR differ)
issuer = "http://127.0.0.1:$DEPLOY_PORT"
listen = "127.0.0.1:$(node_port 1)"
data_dir = "$DEPLOY_RUN/node1"
database_url = "$DEPLOY_PG/$DEPLOY_DB"
database_max_connections = 8
redis_url = "$DEPLOY_REDIS"
redis_key_prefix = "$DEPLOY_REDIS_PREFIX"
server_secret_file = "$DEPLOY_RUN/server-secret"
relying_parties_dir = "$here/../relying-parties"
trusted_proxies = ["127.0.0.1"]
log_format = "json"
TOML

"$DEPLOY_BIN" migrate --config "$DEPLOY_RUN/idp.toml"
"$DEPLOY_BIN" seed-demo --config "$DEPLOY_RUN/idp.toml"
for n in $(seq 1 "$DEPLOY_NODES"); do "$here/node.sh" start "$n"; done

upstreams=""
for n in $(seq 1 "$DEPLOY_NODES"); do
  upstreams+="        server 127.0.0.1:$(node_port "$n") max_fails=1 fail_timeout=2s;"$'\n'
done
python3 - "$here/nginx.conf.in" "$DEPLOY_RUN/nginx.conf" "$DEPLOY_RUN" "$DEPLOY_PORT" "$upstreams" "$(dirname "$here")" <<'PY'
import sys
src, dst, run, port, ups, deploy = sys.argv[1:]
text = open(src).read().replace("@RUN@", run).replace("@PORT@", port)
open(dst, "w").write(text.replace("@UPSTREAMS@", ups.rstrip("\n")).replace("@DEPLOY@", deploy))
PY
nginx -t -q -c "$DEPLOY_RUN/nginx.conf"
nginx -c "$DEPLOY_RUN/nginx.conf"
for _ in $(seq 1 50); do
  curl -fs -o /dev/null "http://127.0.0.1:$DEPLOY_PORT/readyz" && break
  sleep 0.1
done
curl -fs -o /dev/null "http://127.0.0.1:$DEPLOY_PORT/readyz"
echo "local topology up: http://127.0.0.1:$DEPLOY_PORT -> nodes on $(for n in $(seq 1 "$DEPLOY_NODES"); do printf '%s ' "$(node_port "$n")"; done)(run dir $DEPLOY_RUN)"

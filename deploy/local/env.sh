# The local topology's addresses and places, shared by its scripts (sourced, not run).
# Every value may be set in the environment first.
: "${DEPLOY_RUN:=/tmp/idp-local}"                  # pids, logs, configuration, data dirs
: "${DEPLOY_PORT:=18080}"                          # nginx; the nodes listen on the next three
: "${DEPLOY_NODES:=3}"
: "${DEPLOY_PG:=postgres://postgres@127.0.0.1:5432}" # a server where we may create a database
: "${DEPLOY_DB:=idp_local}"
: "${DEPLOY_REDIS:=redis://127.0.0.1:6379/}"
: "${DEPLOY_REDIS_PREFIX:=idp-local:}"
: "${DEPLOY_BIN:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/target/release/idp}"
export DEPLOY_RUN DEPLOY_PORT DEPLOY_NODES DEPLOY_PG DEPLOY_DB \
  DEPLOY_REDIS DEPLOY_REDIS_PREFIX DEPLOY_BIN
node_port() { echo $((DEPLOY_PORT + $1)); }

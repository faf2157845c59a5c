#!/usr/bin/env bash
# Stops and starts the PostgreSQL and Redis the topology uses, for the fault tests:
#   services.sh stop-redis|start-redis|stop-postgres|start-postgres|ensure
# The defaults are this machine's (services started outside systemd); elsewhere set
# DEPLOY_{REDIS,POSTGRES}_{STOP,START} to the commands of yours (`systemctl stop redis`…).
set -euo pipefail
source "$(dirname "$0")/env.sh"
pg_version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
: "${DEPLOY_REDIS_STOP:=redis-cli -h 127.0.0.1 -p 6379 shutdown nosave}"
: "${DEPLOY_REDIS_START:=redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log}"
: "${DEPLOY_POSTGRES_STOP:=pg_ctlcluster --skip-systemctl-redirect $pg_version main stop -m fast}"
: "${DEPLOY_POSTGRES_START:=pg_ctlcluster --skip-systemctl-redirect $pg_version main start}"
redis_up() { redis-cli -u "$DEPLOY_REDIS" ping >/dev/null 2>&1; }
pg_up() { pg_isready -q -d "$DEPLOY_PG/postgres"; }
wait_for() { for _ in $(seq 1 100); do "$1" && return 0; sleep 0.1; done; echo "$1: still not answering" >&2; return 1; }
case ${1:-} in
  stop-redis) eval "$DEPLOY_REDIS_STOP" || true; ! redis_up ;;
  start-redis) redis_up || eval "$DEPLOY_REDIS_START"; wait_for redis_up ;;
  stop-postgres) eval "$DEPLOY_POSTGRES_STOP"; ! pg_up ;;
  start-postgres) pg_up || eval "$DEPLOY_POSTGRES_START"; wait_for pg_up ;;
  ensure) redis_up || eval "$DEPLOY_REDIS_START"; pg_up || eval "$DEPLOY_POSTGRES_START"
          wait_for redis_up; wait_for pg_up ;;
  *) echo "usage: services.sh stop-redis|start-redis|stop-postgres|start-postgres|ensure" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# One node of the local topology: node.sh start|stop|kill|status N
#   start  starts `idp serve` on 127.0.0.1:<port+N> and waits until /readyz answers
#   stop   SIGTERM (graceful), kill: SIGKILL (a crash)
set -euo pipefail
source "$(dirname "$0")/env.sh"
action=$1 n=$2
port=$(node_port "$n")
pidfile="$DEPLOY_RUN/node$n.pid"
alive() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
case $action in
  start)
    if alive; then echo "node $n already runs (pid $(cat "$pidfile"))"; exit 0; fi
    mkdir -p "$DEPLOY_RUN/node$n"
    # only the configuration file and these two: a stray IDP_* variable would be read as a key
    for v in $(compgen -e | grep '^IDP_' || true); do unset "$v"; done
    IDP_LISTEN="127.0.0.1:$port" IDP_DATA_DIR="$DEPLOY_RUN/node$n" \
      nohup "$DEPLOY_BIN" serve --config "$DEPLOY_RUN/idp.toml" \
      >>"$DEPLOY_RUN/node$n.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do
      if curl -fs -o /dev/null "http://127.0.0.1:$port/readyz"; then
        echo "node $n ready on 127.0.0.1:$port (pid $(cat "$pidfile"))"; exit 0
      fi
      alive || { echo "node $n exited; its log:"; tail -20 "$DEPLOY_RUN/node$n.log"; exit 1; }
      sleep 0.2
    done
    echo "node $n did not become ready in 20 s"; exit 1 ;;
  stop|kill)
    if alive; then
      pid=$(cat "$pidfile")
      if [ "$action" = kill ]; then kill -KILL "$pid"; else kill -TERM "$pid"; fi
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      # still there after 5 s: it would hold the port
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" && sleep 0.2
      echo "node $n ${action/stop/stopp}ed (pid $pid)"
    fi
    rm -f "$pidfile" ;;
  status)
    if alive; then echo "node $n runs (pid $(cat "$pidfile"))"; else echo "node $n is down"; exit 1; fi ;;
  *) echo "usage: node.sh start|stop|kill|status N" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Stops a hub started with ./start-caspian.sh --detach: SIGTERM (it finishes the running cycle), then
# waits up to 35 s before giving up.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -f .caspian.pid ]; then
  echo "caspian: no hub started in the background here (no .caspian.pid)"
  exit 0
fi
pid=$(cat .caspian.pid)
if ! kill -0 "$pid" 2>/dev/null; then
  echo "caspian: the hub (pid $pid) is not running"
  rm -f .caspian.pid
  exit 0
fi
kill -TERM "$pid"
for _ in $(seq 1 35); do
  if ! kill -0 "$pid" 2>/dev/null; then
    rm -f .caspian.pid
    echo "caspian: hub stopped"
    exit 0
  fi
  sleep 1
done
echo "stop-caspian.sh: the hub (pid $pid) did not stop within 35 s" >&2
exit 1

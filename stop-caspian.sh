#!/usr/bin/env bash
# Undoes ./start-caspian.sh: stops a hub started with --detach (SIGTERM: it finishes the running cycle; waits
# up to 35 s), then deletes the kind clusters it created, unless --keep-clusters is given.
# With --compose, undoes ./start-caspian.sh --compose instead: docker compose down (the volumes, with the
# AppWrappers and the Prometheus and Grafana data, stay), then the kind clusters as above.
set -euo pipefail
cd "$(dirname "$0")"

keep_clusters=false
compose=false
for arg in "$@"; do
  case "$arg" in
    --keep-clusters) keep_clusters=true ;;
    --compose) compose=true ;;
    -h|--help) sed -n '2,5p' "$0" | sed 's/^# //'; exit 0 ;;
    *) echo "stop-caspian.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

delete_clusters() {
  $keep_clusters && return 0
  # Exit 3: kind or Docker is not usable here, so there are no clusters to delete.
  scripts/kind-down.sh || [ $? -eq 3 ]
}

if $compose; then
  scripts/require-compose.sh stop-caspian.sh || exit 1
  # The project is named in docker-compose.yml, so this also removes a hub started with the kind overlay.
  docker compose -f docker-compose.yml down
  echo "caspian: containers stopped (volumes kept; 'docker compose down -v' deletes them)"
  rm -f .kind/kubeconfig.internal
  delete_clusters
  exit 0
fi

if [ ! -f .caspian.pid ]; then
  echo "caspian: no hub started in the background here (no .caspian.pid)"
  delete_clusters
  exit 0
fi
# shellcheck source=scripts/hub-pid.sh
. scripts/hub-pid.sh
if ! pid=$(hub_pid); then
  echo "caspian: the hub (pid $(cat .caspian.pid)) is not running"
  rm -f .caspian.pid
  delete_clusters
  exit 0
fi
kill -TERM "$pid"
for _ in $(seq 1 35); do
  if ! kill -0 "$pid" 2>/dev/null; then
    rm -f .caspian.pid
    echo "caspian: hub stopped"
    delete_clusters
    exit 0
  fi
  sleep 1
done
echo "stop-caspian.sh: the hub (pid $pid) did not stop within 35 s" >&2
exit 1

#!/usr/bin/env bash
# Starts the CASPIAN hub: installs what is missing, builds, and runs it. Spokes: with CASPIAN_SPOKES unset,
# the kind clusters carbon-kr/-jp/-cn are created (or reused) when Docker and kind work, and the hub is
# pointed at them; otherwise it runs on simulated spokes and says why. CASPIAN_SPOKES=simulated or
# =kubernetes (with CASPIAN_KUBECONFIG) is taken as given. In the foreground by default; with --detach in
# the background, its pid in .caspian.pid and its log in caspian.log (stop it with ./stop-caspian.sh).
set -euo pipefail
cd "$(dirname "$0")"

detach=false
for arg in "$@"; do
  case "$arg" in
    --detach|-d) detach=true ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# //'; exit 0 ;;
    *) echo "start-caspian.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

if ! command -v node >/dev/null 2>&1; then
  echo "start-caspian.sh: Node.js 20 or newer is required (https://nodejs.org)" >&2
  exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "start-caspian.sh: Node.js 20 or newer is required (found $(node --version))" >&2
  exit 1
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "caspian: installing dependencies"
  npm ci --no-audit --no-fund
fi
echo "caspian: building"
npm run --silent build

if [ -z "${CASPIAN_SPOKES:-}" ]; then
  if kind_env="$(scripts/kind-up.sh)"; then
    eval "$kind_env"
  else
    rc=$?
    [ "$rc" -eq 3 ] || exit "$rc"
    echo "caspian: using simulated spokes (see the reason above)"
    export CASPIAN_SPOKES=simulated
  fi
fi

echo "caspian: starting the hub on port ${CASPIAN_PORT:-8080} (spokes: ${CASPIAN_SPOKES:-simulated}, carbon: ${CASPIAN_CARBON_PROVIDER:-mock})"
if $detach; then
  if [ -f .caspian.pid ] && kill -0 "$(cat .caspian.pid)" 2>/dev/null; then
    echo "start-caspian.sh: the hub is already running (pid $(cat .caspian.pid))" >&2
    exit 1
  fi
  nohup node dist/cli/main.js serve >>caspian.log 2>&1 &
  echo $! >.caspian.pid
  echo "caspian: running in the background (pid $!, log caspian.log); stop it with ./stop-caspian.sh"
else
  exec node dist/cli/main.js serve
fi

#!/usr/bin/env bash
# Starts the CASPIAN hub: installs what is missing, builds, and runs it. Spokes: with CASPIAN_SPOKES unset,
# the kind clusters carbon-kr/-jp/-cn are created (or reused) when Docker and kind work, and the hub is
# pointed at them; otherwise it runs on simulated spokes and says why. CASPIAN_SPOKES=simulated or
# =kubernetes (with CASPIAN_KUBECONFIG) is taken as given. In the foreground by default; with --detach in
# the background once it listens (CASPIAN_START_TIMEOUT_SECONDS, 30), pid in .caspian.pid, log in caspian.log.
# With --compose, instead: the hub, Prometheus and Grafana in containers (docker-compose.yml, built
# here with Docker's compose plugin; Node.js is not needed), on the kind clusters when kind works, else
# on simulated spokes; stop them with ./stop-caspian.sh --compose.
set -euo pipefail
# Paths given relative to where the script was run (a config file, a kubeconfig, a trace, the data directory)
# name files there, not in the checkout the script moves to.
caller=$PWD
absolute() {
  case "$1" in
    /* | '') printf '%s' "$1" ;;
    # Its folder resolved when it exists (kind/../kind/x.yaml reads as kind/x.yaml), else as given.
    *) local dir
       if dir=$(cd "$caller" && cd "$(dirname "$1")" 2>/dev/null && pwd); then printf '%s/%s' "$dir" "$(basename "$1")"; else printf '%s/%s' "$caller" "$1"; fi ;;
  esac
}
for var in CASPIAN_CONFIG CASPIAN_KUBECONFIG CASPIAN_DATA_DIR CASPIAN_DECISIONS_PATH; do
  if [ -n "${!var:-}" ]; then export "$var=$(absolute "${!var}")"; fi
done
# Lists: the trace files (comma-separated) and kubectl's KUBECONFIG (colon-separated).
if [ -n "${CASPIAN_CARBON_FILE:-}" ]; then
  IFS=, read -ra files <<<"$CASPIAN_CARBON_FILE"
  # Each item trimmed, as the hub reads the list ("a.csv, b.csv"), and empty ones left out.
  CASPIAN_CARBON_FILE=$(for f in "${files[@]}"; do
    f="${f#"${f%%[![:space:]]*}"}"; f="${f%"${f##*[![:space:]]}"}"
    [ -z "$f" ] || { absolute "$f"; echo; }
  done | paste -sd, -)
  export CASPIAN_CARBON_FILE
fi
if [ -n "${KUBECONFIG:-}" ]; then
  IFS=: read -ra files <<<"$KUBECONFIG"
  KUBECONFIG=$(for f in "${files[@]}"; do absolute "$f"; echo; done | paste -sd: -)
  export KUBECONFIG
fi
cd "$(dirname "$0")"

detach=false
compose=false
for arg in "$@"; do
  case "$arg" in
    --detach|-d) detach=true ;;
    --compose) compose=true ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# //'; exit 0 ;;
    *) echo "start-caspian.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done
# How long --detach waits for the hub to say it listens: checked before anything starts. At most a day, and at most
# six digits before the arithmetic, which would wrap a 20-digit number round to a negative wait.
wait_seconds=${CASPIAN_START_TIMEOUT_SECONDS:-30}
if $detach && { ! [[ "$wait_seconds" =~ ^[0-9]{1,6}$ ]] || [ $((10#$wait_seconds)) -lt 1 ] || [ $((10#$wait_seconds)) -gt 86400 ]; }; then
  echo "start-caspian.sh: CASPIAN_START_TIMEOUT_SECONDS must be a whole number of seconds from 1 to 86400, got \"$wait_seconds\"" >&2
  exit 2
fi

# What the CASPIAN_CONFIG file sets is taken as given, as the variables would be (they override the file):
# spokes it names are not replaced by kind's or by simulated ones, and the kind clusters get the namespace it
# names. (An unreadable file: the hub says why.)
file_setting() {
  [ -n "${CASPIAN_CONFIG:-}" ] && [ -f "$CASPIAN_CONFIG" ] && command -v node >/dev/null 2>&1 || return 0
  node -e 'try { const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").replace(/^\uFEFF/, "")); const v = process.argv[2].split(".").reduce((o, k) => o?.[k], c); if (v !== undefined && v !== null) process.stdout.write(String(v)); } catch {}' "$CASPIAN_CONFIG" "$1"
}

# The kind clusters, with the namespace the hub will use (the variable's, else the file's; kind-up.sh exports it
# only when one is named, so that the file's value is not overridden by a default).
kind_up() {
  CASPIAN_NAMESPACE="${CASPIAN_NAMESPACE:-$(file_setting spokes.namespace)}" scripts/kind-up.sh
}

if $compose; then
  scripts/require-compose.sh start-caspian.sh "; without them, run ./start-caspian.sh" || exit 1

  files=(-f docker-compose.yml)
  if [ -z "${CASPIAN_SPOKES:-}" ]; then
    if kind_env="$(kind_up)"; then
      eval "$kind_env"
      # In a container the clusters answer on kind's network at their internal addresses, not on the
      # host's 127.0.0.1 ports of the kubeconfig kind-up.sh wrote.
      internal="$PWD/.kind/kubeconfig.internal"
      rm -f "$internal"
      for cluster in carbon-kr carbon-jp carbon-cn; do
        kind export kubeconfig --internal --name "$cluster" --kubeconfig "$internal" >&2
      done
      # kind writes it 0600 for this user; the container's hub runs as the image's node user (uid 1000).
      # These are the local kind clusters' credentials only.
      chmod 0644 "$internal"
      export CASPIAN_KUBECONFIG="$internal"
      files+=(-f docker-compose.kind.yml)
    else
      rc=$?
      [ "$rc" -eq 3 ] || exit "$rc"
      echo "caspian: using simulated spokes (see the reason above)"
      export CASPIAN_SPOKES=simulated
    fi
  elif [ "$CASPIAN_SPOKES" = kubernetes ] && [ -z "${CASPIAN_KUBECONFIG:-}" ]; then
    echo "start-caspian.sh: CASPIAN_SPOKES=kubernetes with --compose needs CASPIAN_KUBECONFIG, the kubeconfig (on this machine) that the hub container is given" >&2
    exit 2
  fi

  # The config file and the traces are on this machine: the hub container gets each mounted read-only, and the
  # variables name them there (a generated overlay; a missing file is refused here, or Docker would make a
  # directory in its place). Paths inside the config file are read in the container.
  if [ -n "${CASPIAN_CONFIG:-}${CASPIAN_CARBON_FILE:-}" ]; then
    quoted() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "${s//\$/\$\$}"; }
    mounts=() env_lines=() traces=() n=0
    if [ -n "${CASPIAN_CONFIG:-}" ]; then
      [ -f "$CASPIAN_CONFIG" ] || { echo "start-caspian.sh: CASPIAN_CONFIG: no such file: $CASPIAN_CONFIG" >&2; exit 2; }
      mounts+=("$CASPIAN_CONFIG:/etc/caspian/files/config.json:ro")
      env_lines+=("CASPIAN_CONFIG=/etc/caspian/files/config.json")
    fi
    if [ -n "${CASPIAN_CARBON_FILE:-}" ]; then
      IFS=, read -ra files_given <<<"$CASPIAN_CARBON_FILE"
      for f in "${files_given[@]}"; do
        [ -f "$f" ] || { echo "start-caspian.sh: CASPIAN_CARBON_FILE: no such file: $f" >&2; exit 2; }
        n=$((n + 1))
        mounts+=("$f:/etc/caspian/files/trace-$n-$(basename "$f"):ro")
        traces+=("/etc/caspian/files/trace-$n-$(basename "$f")")
      done
      env_lines+=("CASPIAN_CARBON_FILE=$(IFS=,; echo "${traces[*]}")")
    fi
    mkdir -p .caspian
    {
      echo "# Written by ./start-caspian.sh --compose: the files CASPIAN_CONFIG and CASPIAN_CARBON_FILE name, in the hub container."
      echo "services:"
      echo "  hub:"
      echo "    environment:"
      for line in "${env_lines[@]}"; do echo "      - $(quoted "$line")"; done
      echo "    volumes:"
      for mount in "${mounts[@]}"; do echo "      - $(quoted "$mount")"; done
    } >.caspian/compose.files.yml
    files+=(-f .caspian/compose.files.yml)
  fi

  echo "caspian: building and starting the hub, Prometheus and Grafana with docker compose (spokes: ${CASPIAN_SPOKES:-simulated})"
  docker compose "${files[@]}" up -d --build
  echo "caspian: hub        http://localhost:8080  (curl -s localhost:8080/hub/stats)"
  echo "caspian: Prometheus http://localhost:9090"
  echo "caspian: Grafana    http://localhost:3000/d/caspian-hub  (anonymous view; admin/admin to edit)"
  echo "caspian: logs with 'docker compose logs -f hub'; stop with ./stop-caspian.sh --compose"
  exit 0
fi

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

# Spokes the environment or the file names are used as named (see file_setting).
spokes=${CASPIAN_SPOKES:-$(file_setting spokes.kind)}
if [ -z "$spokes" ]; then
  if kind_env="$(kind_up)"; then
    eval "$kind_env"
  else
    rc=$?
    [ "$rc" -eq 3 ] || exit "$rc"
    echo "caspian: using simulated spokes (see the reason above)"
    export CASPIAN_SPOKES=simulated
  fi
fi
port=${CASPIAN_PORT:-$(file_setting port)}
provider=${CASPIAN_CARBON_PROVIDER:-$(file_setting carbon.provider)}

echo "caspian: starting the hub on port ${port:-8080} (spokes: ${CASPIAN_SPOKES:-${spokes:-simulated}}, carbon: ${provider:-mock})"
if $detach; then
  # shellcheck source=scripts/hub-pid.sh
  . scripts/hub-pid.sh
  if running=$(hub_pid); then
    echo "start-caspian.sh: the hub is already running (pid $running)" >&2
    exit 1
  fi
  log_from=1
  [ ! -f caspian.log ] || log_from=$(($(wc -c <caspian.log) + 1))
  nohup node dist/cli/main.js serve >>caspian.log 2>&1 &
  pid=$!
  echo "$pid" >.caspian.pid
  # Started is not listening: wait for the hub's "listening" line (logged at info), or its exit (a bad
  # setting, a port in use), for up to CASPIAN_START_TIMEOUT_SECONDS (a big store takes a while to load).
  listening=false
  for ((check = 0; check < 2 * 10#$wait_seconds; check++)); do
    # Not a pipe: under pipefail, tail killed by grep -q stopping early would make a found line read as missing.
    if grep -q '"msg":"CASPIAN hub listening"' < <(tail -c "+$log_from" caspian.log); then
      listening=true
      break
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f .caspian.pid
      echo "start-caspian.sh: the hub exited as it started; the end of caspian.log:" >&2
      tail -c "+$log_from" caspian.log | tail -n 5 >&2
      exit 1
    fi
    sleep 0.5
  done
  if ! $listening; then
    # Still running, but not confirmed: left to finish starting (or to be stopped), not reported as up.
    echo "start-caspian.sh: the hub (pid $pid) has not said it listens after ${wait_seconds} s; it may still be starting (loading its store, reaching its clusters): follow caspian.log, stop it with ./stop-caspian.sh" >&2
    exit 1
  fi
  echo "caspian: running in the background (pid $pid, log caspian.log); stop it with ./stop-caspian.sh"
else
  exec node dist/cli/main.js serve
fi

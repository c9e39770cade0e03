#!/usr/bin/env bash
# Exits 0 when Docker with its compose plugin and a running engine are usable; otherwise prints
# "<caller>: --compose needs Docker with its compose plugin: <what is missing><hint>" and exits 1.
# Usage: scripts/require-compose.sh <caller> [hint]
caller=$1
hint=${2:-}
unusable() {
  echo "$caller: --compose needs Docker with its compose plugin: $1$hint" >&2
  exit 1
}
command -v docker >/dev/null 2>&1 || unusable "docker is not installed"
docker compose version >/dev/null 2>&1 || unusable "the compose plugin is missing ('docker compose version' failed)"
docker info >/dev/null 2>&1 || unusable "the Docker engine does not answer ('docker info' failed)"
exit 0

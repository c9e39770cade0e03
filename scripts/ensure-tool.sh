#!/usr/bin/env bash
# Usage: scripts/ensure-tool.sh COMMAND DEBIAN_PACKAGE
# Makes sure COMMAND is on PATH for the tests that run real tools (kubectl against the Kubernetes API
# double, Prometheus against the hub). Installs DEBIAN_PACKAGE when COMMAND is missing and we are root
# with apt-get; otherwise says what is missing and succeeds, so that a developer's `npm test` is not
# blocked (those tests fail under CI=true when the tool is still absent, and are skipped elsewhere).
set -euo pipefail

command_name="${1:?usage: ensure-tool.sh COMMAND DEBIAN_PACKAGE}"
package="${2:?usage: ensure-tool.sh COMMAND DEBIAN_PACKAGE}"

if command -v "$command_name" >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-tool: $command_name not found; installing Debian's $package" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$package" >/dev/null
  command -v "$command_name" >/dev/null 2>&1 && exit 0
  echo "ensure-tool: $package installed but $command_name is still not on PATH" >&2
  exit 0
fi

echo "ensure-tool: $command_name not found and cannot install $package (need root and apt-get); the tests that need it are skipped outside CI" >&2

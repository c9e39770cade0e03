#!/usr/bin/env bash
# Deletes the kind clusters made by scripts/kind-up.sh and their kubeconfig. Clusters that do not exist
# are skipped. Exits 3, saying why, when kind or Docker is not usable (there is then nothing to delete).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kubeconfig="${CASPIAN_KUBECONFIG:-$root/.kind/kubeconfig}"

unusable() {
  echo "kind-down: $1; no kind clusters to delete" >&2
  exit 3
}

command -v kind >/dev/null 2>&1 || unusable "kind is not installed"
docker info >/dev/null 2>&1 || unusable "the Docker engine does not answer (docker info failed)"

existing="$(kind get clusters 2>/dev/null || true)"
for name in carbon-kr carbon-jp carbon-cn; do
  if grep -qx "$name" <<<"$existing"; then
    echo "kind-down: deleting cluster $name" >&2
    kind delete cluster --name "$name" --kubeconfig "$kubeconfig" >&2
  fi
done
# Only the kubeconfig kind-up.sh wrote by default is ours to remove; a user-named one is left in place.
if [ -z "${CASPIAN_KUBECONFIG:-}" ]; then rm -f "$kubeconfig"; fi

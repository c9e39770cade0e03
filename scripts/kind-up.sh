#!/usr/bin/env bash
# Creates the kind clusters carbon-kr, carbon-jp and carbon-cn (kind/carbon-*.yaml) when Docker and kind
# work, writes their contexts (kind-carbon-kr, -jp, -cn) into one kubeconfig, and prints on stdout the
# environment that points the hub at them:
#   eval "$(scripts/kind-up.sh)"
# Clusters that already exist are reused. Progress goes to stderr. Exits 3, saying why, when Docker or kind
# is not usable (the caller then runs the hub on simulated spokes); any other failure exits non-zero too.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kubeconfig="${CASPIAN_KUBECONFIG:-$root/.kind/kubeconfig}"
namespace="${CASPIAN_NAMESPACE:-default}"
clusters=(carbon-kr carbon-jp carbon-cn)

unusable() {
  echo "kind-up: $1; not creating Kubernetes clusters" >&2
  exit 3
}

command -v docker >/dev/null 2>&1 || unusable "docker is not installed"
docker info >/dev/null 2>&1 || unusable "the Docker engine does not answer (docker info failed)"
command -v kind >/dev/null 2>&1 || unusable "kind is not installed (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)"

mkdir -p "$(dirname "$kubeconfig")"
existing="$(kind get clusters 2>/dev/null || true)"
for name in "${clusters[@]}"; do
  if grep -qx "$name" <<<"$existing"; then
    echo "kind-up: cluster $name exists; exporting its context" >&2
    kind export kubeconfig --name "$name" --kubeconfig "$kubeconfig" >&2
  else
    echo "kind-up: creating cluster $name" >&2
    kind create cluster --config "$root/kind/$name.yaml" --kubeconfig "$kubeconfig" --wait 180s >&2
  fi
done

if [ "$namespace" != "default" ] && command -v kubectl >/dev/null 2>&1; then
  for name in "${clusters[@]}"; do
    kubectl --kubeconfig "$kubeconfig" --context "kind-$name" get namespace "$namespace" >/dev/null 2>&1 ||
      kubectl --kubeconfig "$kubeconfig" --context "kind-$name" create namespace "$namespace" >&2
  done
fi

echo "kind-up: clusters ready; watch Jobs with: kubectl --kubeconfig $kubeconfig --context kind-carbon-kr get jobs,pods" >&2
printf 'export CASPIAN_SPOKES=kubernetes\n'
printf 'export CASPIAN_KUBECONFIG=%q\n' "$kubeconfig"
# Only a namespace named: the default must not override one the hub's config file names.
[ -z "${CASPIAN_NAMESPACE:-}" ] || printf 'export CASPIAN_NAMESPACE=%q\n' "$namespace"

#!/usr/bin/env bash
# Generates into DIR (default manifests/) what is derived from the Go code: the CRDs from
# api/ (controller-gen, then crdtrim) and one ClusterRole per component from its
# +kubebuilder:rbac markers. `make manifests` and the staleness test both use it, so
# they agree.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-manifests}
: "${CONTROLLER_GEN:?CONTROLLER_GEN must point at controller-gen (make manifests sets it)}"
mkdir -p "$out/crd/bases"
"$CONTROLLER_GEN" crd paths=./api/... output:crd:artifacts:config="$out/crd/bases"
go run ./hack/crdtrim "$out"/crd/bases/*.yaml

for component in controller webhook router; do
  dir="$out/rbac/$component"
  mkdir -p "$dir"
  rm -f "$dir/role.yaml"
  if [ -n "$(go list "./$component/..." 2>/dev/null)" ]; then
    "$CONTROLLER_GEN" rbac:roleName="gsi-$component" paths="./$component/..." output:rbac:artifacts:config="$dir"
  fi
  if [ ! -f "$dir/role.yaml" ]; then
    # no markers (yet): an empty role keeps the binding valid and grants nothing
    printf -- '---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: gsi-%s\nrules: []\n' "$component" > "$dir/role.yaml"
  fi
done

#!/usr/bin/env bash
# Generates the CRDs from api/ into DIR (default manifests/crd/bases): controller-gen,
# then crdtrim. `make manifests` and the staleness test both use it, so they agree.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-manifests/crd/bases}
: "${CONTROLLER_GEN:?CONTROLLER_GEN must point at controller-gen (make manifests sets it)}"
mkdir -p "$out"
"$CONTROLLER_GEN" crd paths=./api/... output:crd:artifacts:config="$out"
go run ./hack/crdtrim "$out"/*.yaml

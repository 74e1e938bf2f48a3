#!/usr/bin/env bash
# Installs everything the tests and the demo need, idempotently: Debian packages listed in
# hack/packages/*.txt, kube-apiserver built from the Go module proxy, etcd linked beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${GSI_CACHE:=$HOME/.cache/gsi}" "${KUBE_VERSION:=v1.37.1}"
export GSI_CACHE KUBE_VERSION

mapfile -t wanted < <(cat hack/packages/*.txt 2>/dev/null | sed 's/#.*//' | tr -s ' \t' '\n' | grep -v '^$' | sort -u)
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

bash hack/kube-apiserver.sh
assets="$GSI_CACHE/kube-$KUBE_VERSION"
ln -sf "$(command -v etcd)" "$assets/etcd"
if command -v kubectl >/dev/null; then ln -sf "$(command -v kubectl)" "$assets/kubectl"; fi

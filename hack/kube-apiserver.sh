#!/usr/bin/env bash
# Builds kube-apiserver from the Go module proxy into the cache, once. envtest needs a
# real API server and none can be downloaded here, so we compile the one that matches
# our client libraries. A tiny throw-away module requires k8s.io/kubernetes and pins
# every k8s.io staging module to the matching v0.x (kubernetes' own go.mod points them
# at ./staging, which a module download does not carry).
set -euo pipefail
version=${KUBE_VERSION:?KUBE_VERSION is required, e.g. v1.37.2}
cache=${GSI_CACHE:?GSI_CACHE is required}
out="$cache/kube-$version/kube-apiserver"
if [ -x "$out" ] && [ "$("$out" --version 2>/dev/null)" = "Kubernetes $version" ]; then
  exit 0
fi
staging_version="v0.${version#v1.}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! info=$(go mod download -json "k8s.io/kubernetes@$version"); then
  echo "kube-apiserver.sh: cannot download k8s.io/kubernetes@$version:" >&2
  echo "$info" | grep '"Error"' >&2
  exit 1
fi
gomod=$(echo "$info" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
{
  echo "module gsi.local/kube-apiserver-build"
  echo "go $(go env GOVERSION | sed 's/^go//; s/\([0-9]*\.[0-9]*\).*/\1/')"
  echo "require k8s.io/kubernetes $version"
  # every "k8s.io/x => ./staging/src/k8s.io/x" of kubernetes' go.mod, pinned to v0.x
  grep -oE 'k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$gomod" |
    awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
} > go.mod
echo 'package main' > tools.go
echo "kube-apiserver.sh: building kube-apiserver $version (several minutes, once)" >&2
GOFLAGS=-mod=mod go get "k8s.io/kubernetes/cmd/kube-apiserver@$version" >/dev/null 2>&1 || true
mkdir -p "$(dirname "$out")"
# stamp the version as Kubernetes' own build does: the API server derives its
# compatibility version from it, and clients show it
minor=${version#v1.}; minor=${minor%%.*}
ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out.tmp" k8s.io/kubernetes/cmd/kube-apiserver
mv "$out.tmp" "$out"

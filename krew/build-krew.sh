#!/usr/bin/env bash
# Builds the real krew (sigs.k8s.io/krew/cmd/krew) from the Go module proxy into the
# cache, once: the plugin's install test and `make krew-install` use it. krew ships no
# Debian package and prebuilt binaries cannot be downloaded here, so we compile it in a
# throw-away module that requires sigs.k8s.io/krew at an exact version (`go install
# pkg@version` would ask the proxy for the module's version list, which it refuses).
# Prints the binary's path on stdout.
set -euo pipefail
version=${KREW_VERSION:-v0.4.4}
cache=${GSI_CACHE:-$HOME/.cache/gsi}
out="$cache/bin/krew-$version"
if [ -x "$out" ] && "$out" version >/dev/null 2>&1; then
  echo "$out"
  exit 0
fi
mkdir -p "$cache/bin"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "build-krew.sh: building sigs.k8s.io/krew/cmd/krew@$version (once)" >&2
cd "$work"
{
  echo "module gsi.local/krew-build"
  echo "go $(go env GOVERSION | sed 's/^go//; s/\([0-9]*\.[0-9]*\).*/\1/')"
  echo "require sigs.k8s.io/krew $version"
} > go.mod
printf 'package main\n\nimport _ "sigs.k8s.io/krew/cmd/krew"\n' > tools.go
GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath \
  -ldflags "-X sigs.k8s.io/krew/internal/version.gitTag=$version" \
  -o "$out.tmp" sigs.k8s.io/krew/cmd/krew
mv "$out.tmp" "$out"
echo "$out"

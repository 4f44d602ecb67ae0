#!/usr/bin/env bash
# Builds kube-rig (the tests' kube-apiserver and etcd) into target/kube-bin/kube-rig, stamping the
# Kubernetes release it is built from as Kubernetes' own build does, so that the API server's
# /version (and `kubectl version`) says v1.37.x instead of v0.0.0-master.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v go >/dev/null 2>&1; then
  echo "go is not installed: the kube tests build their control plane (integration/kube) with Go 1.26" >&2
  exit 127
fi
version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
minor=${version#v1.}
minor=${minor%%.*}
pkg=k8s.io/component-base/version
go build \
  -ldflags "-X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean" \
  -o ../../target/kube-bin/kube-rig ./cmd/kube-rig

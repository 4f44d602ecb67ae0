#!/usr/bin/env bash
# Builds the real Helm (helm.sh/helm/v4/cmd/helm at the version go.mod pins) into
# target/kube-bin/helm, stamping its version as Helm's own release build does.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v go >/dev/null 2>&1; then
  echo "go is not installed: the Helm tests build helm (integration/helm) with Go 1.26" >&2
  exit 127
fi
version=$(go list -m -f '{{.Version}}' helm.sh/helm/v4)
go build \
  -ldflags "-X helm.sh/helm/v4/internal/version.version=$version -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
  -o ../../target/kube-bin/helm helm.sh/helm/v4/cmd/helm

#!/usr/bin/env bash
# Builds vap-diff (the policy differential's client of the rig's API server) into
# target/kube-bin/vap-diff.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v go >/dev/null 2>&1; then
  echo "go is not installed: the policy differential builds its API server client (integration/kube) with Go 1.26" >&2
  exit 127
fi
go build -o ../../target/kube-bin/vap-diff ./cmd/vap-diff

#!/usr/bin/env bash
# Generates the cert-manager and Prometheus operator CRDs the chart's optional objects need
# (Certificate, Issuer, ServiceMonitor) from those projects' own Go API types, with controller-gen,
# at the versions go.mod pins, into integration/fixtures/kube/crds/, where the kube rig installs
# every CRD it finds. The output is committed; `.ci/run` regenerates it and fails on a difference.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v go >/dev/null 2>&1; then
  echo "go is not installed: the CRDs are generated (integration/crds) with Go 1.26" >&2
  exit 127
fi
go build -o ../../target/kube-bin/controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# controller-gen writes one CRD for every kind of a package; only the chart's kinds are kept.
../../target/kube-bin/controller-gen crd \
  paths=github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1 \
  paths=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1 \
  output:crd:dir="$out"
for crd in cert-manager.io_certificates cert-manager.io_issuers monitoring.coreos.com_servicemonitors; do
  cp "$out/$crd.yaml" "../fixtures/kube/crds/$crd.yaml"
done

#!/usr/bin/env bash
# Writes a realistic stream of N documents (default 10,000) to stdout, for the Performance section
# of the README: the README's compliant Knative Service (2.5 KB), every tenth document the
# service that needs a key (which `fix` and `check --mutate` with
# integration/fixtures/mutation/default-keys-params.yaml give one), every 25th a Config Connector
# RunService and every 25th (offset) a RunJob, each with its own name.
#   bash benches/many-documents.sh 10000 > /tmp/many.yaml
set -euo pipefail
count="${1:-10000}"
root="$(cd "$(dirname "$0")/.." && pwd)"
compliant="$(grep -v '^#' "$root/examples/service-compliant.yaml")"
denied="$(grep -v '^#' "$root/examples/service.yaml")"
runservice="$(grep -v '^#' "$root/integration/fixtures/kube/configsync-repo/runservice.yaml")"
runjob="$(grep -v '^#' "$root/integration/fixtures/kube/configsync-repo/runjob.yaml")"
for ((i = 0; i < count; i++)); do
  echo '---'
  if ((i % 10 == 0)); then body="$denied"
  elif ((i % 25 == 3)); then body="$runservice"
  elif ((i % 25 == 17)); then body="$runjob"
  else body="$compliant"
  fi
  # Every object gets its own name (the first `name:` at two spaces is metadata.name).
  printf '%s\n' "$body" | sed "0,/^  name: .*/s//  name: svc-$i/"
done

#!/usr/bin/env bash
# Instructions per document, counted by callgrind (stable on a shared, noisy machine, unlike
# wall time), for `cmek-gate check` of the README's compliant Service (2.5 KB):
#   library    the shipped library: check of N and of 2N copies, the difference divided by N
#              (what one more document costs: parsing, evaluation and its report entry)
#   no-policy  the same with a policy set that matches nothing (an empty set is refused): parsing,
#              matching and the report, no evaluation
#   evaluation library minus no-policy: what the policies cost per document
# For each binary given (default: this tree's, built with the `profiling` profile), so that a
# baseline and a candidate are measured in the same run:
#   bash benches/instructions.sh [N] [BINARY...]
#   bash benches/instructions.sh 200 /tmp/base/cmek-gate target/profiling/cmek-gate
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-200}"
shift || true
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
binaries=("$@")
if [ ${#binaries[@]} -eq 0 ]; then
  cargo build --profile profiling --locked --quiet
  binaries=(target/profiling/cmek-gate)
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for copies in "$n" "$((2 * n))"; do
  for _ in $(seq "$copies"); do cat examples/service-compliant.yaml; echo '---'; done >"$work/$copies.yaml"
done

instructions() { # binary, copies, extra args...
  local binary=$1 copies=$2; shift 2
  valgrind --tool=callgrind --callgrind-out-file="$work/out" \
    "$binary" check --output json "$@" "$work/$copies.yaml" >/dev/null 2>"$work/log" || true
  sed -n 's/.*Collected : *\([0-9]*\).*/\1/p' "$work/log"
}

printf '%-40s %14s %14s %14s\n' binary library no-policy evaluation
for binary in "${binaries[@]}"; do
  lib_small=$(instructions "$binary" "$n")
  lib_large=$(instructions "$binary" "$((2 * n))")
  none_small=$(instructions "$binary" "$n" --policies benches/no-policy)
  none_large=$(instructions "$binary" "$((2 * n))" --policies benches/no-policy)
  library=$(( (lib_large - lib_small) / n ))
  none=$(( (none_large - none_small) / n ))
  printf '%-40s %14s %14s %14s\n' "$binary" "$library" "$none" "$((library - none))"
done

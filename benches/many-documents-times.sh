#!/usr/bin/env bash
# Wall time, CPU time and peak RSS of `check`, `fix` and `scan` on the same stream of documents
# (benches/many-documents.sh, 10,000 by default), interleaved, RUNS (3) runs each, with the
# ratio of `fix` and `scan` to `check` per run and of the medians over the runs (issue 15's
# goals: `check` of 10,000 documents at most 0.4 s and 100 MB on 2 cores, `fix` and `scan` at
# most 2x `check`). Release build.
#   bash benches/many-documents-times.sh [COUNT] [BINARY]
# Wall time depends on what else runs on the machine: the script prints the load average before
# and after; compare CPU time when it is not near zero.
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-10000}"
gate="${2:-target/release/cmek-gate}"
runs="${RUNS:-3}"
if [ $# -lt 2 ]; then cargo build --release --locked --quiet; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bash benches/many-documents.sh "$count" >"$work/many.yaml"
params=integration/fixtures/mutation/default-keys-params.yaml
echo "$count documents, $(wc -c <"$work/many.yaml") bytes, $(nproc) cores, $gate, load average $(cut -d' ' -f1-3 /proc/loadavg)"
measure() { # name, args...: prints "wall cpu rss_kb"
  local name=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$work/$name.time" "$gate" "$@" >/dev/null 2>"$work/$name.err" || true
  tail -n 1 "$work/$name.time" | awk '{printf "%.2f %.2f %d\n", $1, $2 + $3, $4}'
}
for run in $(seq "$runs"); do
  read -r cw cc cm < <(measure check check --output json "$work/many.yaml")
  read -r fw fc fm < <(measure fix fix --stdout --params "$params" "$work/many.yaml")
  read -r sw sc sm < <(measure scan scan "$work/many.yaml")
  echo "$cw $cc $fw $fc $sw $sc" >>"$work/runs"
  printf 'run %d  check %ss wall %ss CPU %d MB | fix %ss wall %ss CPU %d MB (%.2fx wall) | scan %ss wall %ss CPU %d MB (%.2fx wall)\n' \
    "$run" "$cw" "$cc" $((cm / 1024)) "$fw" "$fc" $((fm / 1024)) "$(awk -v a="$fw" -v b="$cw" 'BEGIN{print a / b}')" \
    "$sw" "$sc" $((sm / 1024)) "$(awk -v a="$sw" -v b="$cw" 'BEGIN{print a / b}')"
done
# Medians over the runs (one slow run on a shared host moves a single run's ratio by 2x).
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
col() { cut -d' ' -f"$1" "$work/runs" | median; }
read -r mcw mcc mfw mfc msw msc < <(echo "$(col 1) $(col 2) $(col 3) $(col 4) $(col 5) $(col 6)")
printf 'median of %d runs  check %.2fs wall %.2fs CPU | fix %.2fs wall %.2fs CPU (%.2fx wall, %.2fx CPU) | scan %.2fs wall %.2fs CPU (%.2fx wall, %.2fx CPU)\n' \
  "$runs" "$mcw" "$mcc" "$mfw" "$mfc" "$(awk -v a="$mfw" -v b="$mcw" 'BEGIN{print a / b}')" "$(awk -v a="$mfc" -v b="$mcc" 'BEGIN{print a / b}')" \
  "$msw" "$msc" "$(awk -v a="$msw" -v b="$mcw" 'BEGIN{print a / b}')" "$(awk -v a="$msc" -v b="$mcc" 'BEGIN{print a / b}')"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

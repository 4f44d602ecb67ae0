#!/usr/bin/env bash
# Instructions per /validate request of `cmek-gate serve`, counted by callgrind (stable on a
# shared, noisy machine, unlike the throughput of benches/load.sh):
#   library    the server with the shipped library
#   no-policy  a server whose policy set matches nothing (TLS, HTTP, parsing the review and
#              answering it, without evaluation)
# Each server runs under valgrind; wrk (1 connection) warms it up, the counters are zeroed, wrk
# sends the AdmissionReview fixture for SECONDS, and the counters are dumped: the instructions of
# every thread divided by the requests wrk completed. The ratio no-policy / library is the
# throughput ratio the instructions alone predict (benches/load.sh measures the real one).
#
#   bash benches/server-instructions.sh [SECONDS] [BINARY]   (default 30 s; this tree's
#                                                           `profiling` build)
#   CACHE_SIM=1 ...   also simulates this machine's caches (32 KiB L1s; a last level the size of
#                     one core's 512 KiB L2) and prints the L2 misses per request, instruction and
#                     data: what instructions alone do not show (an evaluation instruction costs the
#                     server more than a parsing one, as the policies' code and data must come back
#                     into the cache). About 10 times slower.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
binary="${2:-}"
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
if [ -z "$binary" ]; then
  cargo build --profile profiling --locked --quiet
  binary=target/profiling/cmek-gate
fi
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
"$binary" certs --out "$work/certs" --dns localhost --dns 127.0.0.1 >/dev/null 2>&1

cache=()
if [ -n "${CACHE_SIM:-}" ]; then
  cache=(--cache-sim=yes --I1=32768,8,64 --D1=32768,8,64 --LL=524288,8,64)
fi

per_request() { # name, extra serve args...
  local name=$1; shift
  valgrind --tool=callgrind "${cache[@]}" --callgrind-out-file="$work/$name.out" \
    "$binary" serve --cert "$work/certs/tls.crt" --key "$work/certs/tls.key" \
    --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 "$@" >"$work/$name.stdout" 2>"$work/$name.log" &
  local pid=$!
  for _ in $(seq 600); do grep -q '^metrics on' "$work/$name.stdout" 2>/dev/null && break; sleep 0.1; done
  local url; url=$(sed -n 's/^listening on //p' "$work/$name.stdout")
  [ -n "$url" ] || { echo "the $name server did not start: $(cat "$work/$name.log")" >&2; exit 1; }
  wrk -t1 -c1 -d3s -s benches/post-review.lua "$url/validate" >/dev/null
  callgrind_control -z "$pid" >/dev/null
  local requests
  requests=$(wrk -t1 -c1 -d"${seconds}s" -s benches/post-review.lua "$url/validate" | awk '/requests in/ {print $1}')
  callgrind_control -d "$pid" >/dev/null
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local dump; dump=$(ls "$work/$name.out".* | head -1)
  # Instructions, then (with the cache simulation) the L2 misses: instruction, data read and write.
  local show=Ir
  [ ${#cache[@]} -eq 0 ] || show=Ir,ILmr,DLmr,DLmw
  local total misses
  read -r total misses < <(callgrind_annotate --auto=no --threshold=1 --show="$show" "$dump" 2>/dev/null |
    awk '/PROGRAM TOTALS/ {gsub(",", ""); m = 0; for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) m += $i; print $1, m; exit}')
  echo $((total / requests)) $((misses / requests)) "$requests"
}

read -r library library_misses library_requests < <(per_request library)
read -r none none_misses none_requests < <(per_request no-policy --policies benches/no-policy)
printf '%-10s %12s  (%s requests)\n' library "$library" "$library_requests"
printf '%-10s %12s  (%s requests)\n' no-policy "$none" "$none_requests"
python3 -c "
library, none = $library, $none
print(f'evaluation {library - none:12,} per request; no-policy / library = {none / library:.3f}')
"
if [ ${#cache[@]} -gt 0 ]; then
  printf 'L2 misses per request (simulated): library %s, no-policy %s\n' "$library_misses" "$none_misses"
fi

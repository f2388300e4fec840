#!/usr/bin/env bash
# Soak: mixed load against one credvaultd for a long time, printing a line every interval
# with that interval's throughput, p50/p99, errors, and credvaultd's RSS, open file
# descriptors and threads, so that a leak or a slow drift shows as a trend.
#
#   scripts/bench-soak.sh [MINUTES [INTERVAL_SECONDS]]      (default 10 minutes, 30 s)
#
# Builds Release (BENCH_BUILD_DIR, default build/release) unless BENCH_NO_BUILD=1, brings up
# a throwaway stack with scripts/dev-stack.sh and runs bench/credvault_load once per
# interval (mix of Put and Decrypt, BENCH_PUT_FRACTION, concurrency BENCH_CONCURRENCY) on
# the same credentials, so each line is one closed-loop run of INTERVAL seconds. The
# interval's figures come from the load generator; the process figures are read from /proc
# right after it. At the end it prints the first and last lines' RSS, fds and threads.
# Figures, not assertions: the exit status is non-zero only if a run failed outright or
# credvaultd died.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
minutes=${1:-${BENCH_SOAK_MINUTES:-10}}
interval=${2:-${BENCH_SOAK_INTERVAL:-30}}
concurrency=${BENCH_CONCURRENCY:-16}
put_fraction=${BENCH_PUT_FRACTION:-0.2}
credentials=${BENCH_CREDENTIALS:-1000}
orgs=${BENCH_ORGS:-16}
build=${BENCH_BUILD_DIR:-build/release}
[[ "$build" == /* ]] || build="$root/$build"
for v in minutes interval concurrency credentials orgs; do
  [[ "${!v}" =~ ^[0-9]+$ && "${!v}" -gt 0 ]] || { echo "bench-soak: $v must be a positive whole number" >&2; exit 2; }
done

"$root/scripts/bootstrap.sh"
if [[ "${BENCH_NO_BUILD:-0}" != 1 ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCREDVAULT_BUILD_BENCH=ON >/dev/null
  cmake --build "$build" -j "${BENCH_BUILD_JOBS:-2}" --target credvaultd credvaultctl credvault_load
fi
load="$build/bench/credvault_load"

work=$(mktemp -d /tmp/credvault-soak.XXXXXX)
chmod 0755 "$work"
cleanup() {
  "$root/scripts/dev-stack.sh" down "$work/stack" >/dev/null 2>&1 || true
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then echo "bench-soak: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
"$root/scripts/dev-stack.sh" up "$work/stack" "$build" >"$work/stack.log" 2>&1 \
  || { cat "$work/stack.log" >&2; exit 1; }
# shellcheck disable=SC1091
source "$work/stack/stack.env"

process_figures() {
  local rss threads fds
  rss=$(awk '$1 == "VmRSS:" { printf "%.1f", $2 / 1024 }' "/proc/$CREDVAULT_PID/status")
  threads=$(awk '$1 == "Threads:" { print $2 }' "/proc/$CREDVAULT_PID/status")
  fds=$(find "/proc/$CREDVAULT_PID/fd" -mindepth 1 -maxdepth 1 | wc -l)
  echo "$rss $fds $threads"
}
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

runs=$(( (minutes * 60 + interval - 1) / interval ))
read -r rss0 fds0 threads0 < <(process_figures)
echo "== soak: $minutes min of mixed load ($put_fraction Puts), concurrency $concurrency, a line every ${interval}s"
echo "idle: RSS $rss0 MiB, $fds0 fds, $threads0 threads"
printf '%-8s %10s %9s %9s %8s %9s %6s %8s\n' elapsed req/s p50_ms p99_ms errors rss_MiB fds threads
started=$(date +%s)
first=
last=
for ((i = 1; i <= runs; i++)); do
  populate=false
  ((i == 1)) && populate=true
  set +e
  out=$("$load" --mode=mix --orgs="$orgs" --prefix=soak --populate="$populate" \
    --write-addr="$CREDVAULT_WRITE_ADDR" --decrypt-addr="$CREDVAULT_DECRYPT_ADDR" \
    --ca="$CREDVAULT_PKI/ca.pem" --cert="$CREDVAULT_PKI/backend.pem" --key="$CREDVAULT_PKI/backend.key" \
    --decrypt-cert="$CREDVAULT_PKI/worker.pem" --decrypt-key="$CREDVAULT_PKI/worker.key" \
    --concurrency="$concurrency" --duration="${interval}s" --warmup=0s \
    --credentials="$credentials" --put-fraction="$put_fraction" 2>&1)
  set -e
  kill -0 "$CREDVAULT_PID" 2>/dev/null || { echo "bench-soak: credvaultd died" >&2; tail -20 "$CREDVAULT_STACK_DIR/credvaultd.log" >&2; exit 1; }
  result=$(grep '^RESULT ' <<<"$out" || true)
  [[ -n "$result" ]] || { echo "bench-soak: the load generator printed no RESULT:" >&2; echo "$out" >&2; exit 1; }
  read -r rss fds threads < <(process_figures)
  line=$(printf '%-8s %10s %9s %9s %8s %9s %6s %8s' "$(( $(date +%s) - started ))s" \
    "$(field "$result" rps)" "$(field "$result" p50_ms)" "$(field "$result" p99_ms)" \
    "$(field "$result" errors)" "$rss" "$fds" "$threads")
  echo "$line"
  [[ -n "$first" ]] || first="$rss $fds $threads"
  last="$rss $fds $threads"
done
read -r rss1 fds1 threads1 <<<"$first"
read -r rss2 fds2 threads2 <<<"$last"
echo "first interval -> last: RSS $rss1 -> $rss2 MiB, fds $fds1 -> $fds2, threads $threads1 -> $threads2"

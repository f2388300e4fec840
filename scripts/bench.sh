#!/usr/bin/env bash
# Builds the benchmarks in Release and runs the crypto micro-benchmarks, printing ops/s
# (items_per_second). Figures, not assertions: compare them with the targets in bench/.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/bootstrap.sh"
build="$root/build/release"
# run.sh shares this build directory and turns the benchmarks off in its cache.
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCREDVAULT_BUILD_BENCH=ON >/dev/null
cmake --build "$build" --target envelope_bench
# One core: the targets are per core.
taskset -c 0 "$build/bench/envelope_bench" --benchmark_min_time=1 "$@"

#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ with clang (build/fuzz, CREDVAULT_FUZZ=ON)
# and runs each for FUZZ_SECONDS (default 30) on a copy of its seed corpus
# (tests/fuzz/corpus/<target>/; a run never writes into the repository).
#
#   scripts/fuzz.sh                      every target, FUZZ_SECONDS each
#   scripts/fuzz.sh --seconds 600        longer runs (or FUZZ_SECONDS=600)
#   scripts/fuzz.sh envelope policy      a subset, by name (tests/fuzz/<name>_fuzzer.cc)
#
# Prints per target the number of executions and whether anything was found. Exits
# non-zero on any crash, leak, timeout or out-of-memory, keeping the work directory with
# the artefacts (crash-*, leak-*, timeout-*, oom-*) and the logs; docs/operations.md
# ("Fuzzing") says how to turn an artefact into a regression input.
# FUZZ_BUILD_JOBS limits the parallel compile jobs (default: every core).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${FUZZ_SECONDS:-30}
targets=()
while (($#)); do
  case "$1" in
    --seconds)
      [[ $# -ge 2 ]] || { echo "fuzz: --seconds needs a value" >&2; exit 2; }
      seconds=$2
      shift 2
      ;;
    --seconds=*)
      seconds=${1#--seconds=}
      shift
      ;;
    -h | --help)
      sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*)
      echo "fuzz: unknown option $1" >&2
      exit 2
      ;;
    *)
      targets+=("${1%_fuzzer}")
      shift
      ;;
  esac
done
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: seconds must be a positive integer" >&2; exit 2; }

if ((${#targets[@]} == 0)); then
  for source in "$root"/tests/fuzz/*_fuzzer.cc; do
    name=$(basename "$source" _fuzzer.cc)
    targets+=("$name")
  done
fi
for name in "${targets[@]}"; do
  [[ -f "$root/tests/fuzz/${name}_fuzzer.cc" ]] || { echo "fuzz: no target $name" >&2; exit 2; }
done

# clang-14 with libFuzzer and the sanitizer runtimes come with the other packages.
"$root/scripts/bootstrap.sh"

started=$(date +%s)
build="$root/build/fuzz"
echo "== configure and build the fuzz targets (clang, libFuzzer + ASan + UBSan) in $build"
CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCREDVAULT_FUZZ=ON -DCREDVAULT_BUILD_BENCH=OFF >/dev/null
build_targets=()
for name in "${targets[@]}"; do build_targets+=("${name}_fuzzer"); done
cmake --build "$build" --target "${build_targets[@]}" -j "${FUZZ_BUILD_JOBS:-$(nproc)}"
built=$(date +%s)

work=$(mktemp -d /tmp/credvault-fuzz.XXXXXX)
echo "== fuzzing ${#targets[@]} target(s), ${seconds}s each; work directory $work"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for name in "${targets[@]}"; do
  dir="$work/$name"
  mkdir -p "$dir/corpus"
  if [[ -d "$root/tests/fuzz/corpus/$name" ]]; then
    cp -R "$root/tests/fuzz/corpus/$name/." "$dir/corpus/"
  fi
  status=0
  "$build/tests/fuzz/${name}_fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$dir/" "$dir/corpus" >"$dir/log" 2>&1 || status=$?
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
  artefacts=$(find "$dir" -maxdepth 1 -type f \
    \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sort)
  if ((status != 0)) || [[ -n "$artefacts" ]]; then
    failed+=("$name")
    printf '%-14s %10s executions  FOUND a failure (exit %d); log %s\n' \
      "$name" "${executions:-?}" "$status" "$dir/log"
    for artefact in $artefacts; do echo "               artefact $artefact"; done
    grep -m1 -E '^==[0-9]+==ERROR|^SUMMARY|runtime error|deadly signal|ERROR: libFuzzer' \
      "$dir/log" | sed 's/^/               /' || true
  else
    printf '%-14s %10s executions  nothing found\n' "$name" "${executions:-?}"
  fi
done
finished=$(date +%s)
echo "== build $((built - started))s, fuzzing $((finished - built))s"

if ((${#failed[@]})); then
  echo "== fuzzing found failures in: ${failed[*]}; artefacts and logs kept in $work" >&2
  exit 1
fi
rm -rf "$work"
echo "== fuzzing found nothing"

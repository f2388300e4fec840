#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine (run as root):
# installs what is missing, starts a throwaway PostgreSQL, builds with ASan + UBSan and
# runs every test with CTest. Exits non-zero on any failure.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

"$root/scripts/bootstrap.sh"

work=$(mktemp -d /tmp/credvault-test.XXXXXX)
chmod 0755 "$work"
cleanup() {
  "$root/scripts/pg-throwaway.sh" stop "$work/pg" || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== formatting (clang-format, .clang-format)"
mapfile -t sources < <(git ls-files -co --exclude-standard '*.h' '*.cc' | sort -u)
if ((${#sources[@]})); then
  clang-format --dry-run --Werror "${sources[@]}"
fi

echo "== throwaway PostgreSQL"
"$root/scripts/pg-throwaway.sh" start "$work/pg"
# shellcheck disable=SC1091
source "$work/pg/env"
export CREDVAULT_TEST_WORKDIR="$work"

build="$root/build/asan"
echo "== configure and build (ASan + UBSan) in $build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCREDVAULT_SANITIZE=ON >/dev/null
cmake --build "$build"

echo "== tests"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/scripts/lsan.supp}
ctest --test-dir "$build" --output-on-failure --no-tests=error -j "$(nproc)"

echo "== fuzzing (libFuzzer, each target ${FUZZ_SECONDS:-30}s)"
FUZZ_SECONDS=${FUZZ_SECONDS:-30} "$root/scripts/fuzz.sh"
echo "== all tests passed"

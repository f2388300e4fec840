#!/usr/bin/env bash
# The container image recipe, checked without building it (no container engine runs on
# the test machines): the Dockerfile's runtime stage must provide every library that the
# built binaries load. Binaries come from CTest ($CREDVAULTD, $CREDVAULTCTL) or, run by
# hand, from the first build directory that has them.
#
#   CREDVAULTD=build/dev/server/credvaultd tests/image/image_test.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck disable=SC2012  # the build directories are ours; newest binary first
credvaultd=${CREDVAULTD:-$(ls -t "$root"/build/*/server/credvaultd 2>/dev/null | head -1 || true)}
# shellcheck disable=SC2012
credvaultctl=${CREDVAULTCTL:-$(ls -t "$root"/build/*/cli/credvaultctl 2>/dev/null | head -1 || true)}
[[ -x "$credvaultd" ]] || { echo "image_test: no credvaultd binary (set CREDVAULTD)" >&2; exit 1; }
binaries=("$credvaultd")
[[ -x "$credvaultctl" ]] && binaries+=("$credvaultctl")
for tool in python3 ldd readelf dpkg-query; do
  command -v "$tool" >/dev/null || { echo "image_test: $tool is required" >&2; exit 1; }
done
check=(python3 "$root/tests/image/check_image.py" --bootstrap "$root/scripts/bootstrap.sh")

echo "== Dockerfile against ${binaries[*]}"
"${check[@]}" --dockerfile "$root/Dockerfile" "${binaries[@]}"

# The check must be able to fail: a runtime stage without libsodium is refused.
tmp=$(mktemp -d /tmp/credvault-image-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
sed '/^      libsodium23 \\$/d' "$root/Dockerfile" > "$tmp/Dockerfile"
if cmp -s "$root/Dockerfile" "$tmp/Dockerfile"; then
  echo "image_test: could not remove libsodium23 from a copy of the Dockerfile" >&2
  exit 1
fi
echo "== a runtime stage without libsodium23 must be refused"
if "${check[@]}" --dockerfile "$tmp/Dockerfile" "$credvaultd" >"$tmp/out" 2>&1; then
  cat "$tmp/out"
  echo "image_test: the check accepted a runtime stage without libsodium23" >&2
  exit 1
fi
grep -q "libsodium23" "$tmp/out" || { cat "$tmp/out"; echo "image_test: refusal does not name libsodium23" >&2; exit 1; }
grep "FAIL" "$tmp/out" | head -2
echo "== image test passed"

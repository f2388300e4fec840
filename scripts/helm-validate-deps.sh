#!/usr/bin/env bash
# Installs the dependencies of the Helm chart's OpenAPI validator (tests/helm/validate:
# kubernetes-models and yaml at the versions pinned in its package-lock.json) and prints
# the validator's path.
#
#   scripts/helm-validate-deps.sh
#
# Idempotent and offline-safe like scripts/node-deps.sh: runs `npm ci` (preferring npm's
# cache) only when tests/helm/validate/node_modules is missing or was installed from a
# different package.json / package-lock.json; otherwise it needs no network.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir="$root/tests/helm/validate"
stamp="$dir/node_modules/.credvault-deps.sha256"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "helm-validate-deps: installing Debian's nodejs and npm" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "helm-validate-deps: node and npm are required (apt-get install nodejs npm)" >&2
    exit 1
  fi
fi

want=$(cd "$dir" && sha256sum package.json package-lock.json | sha256sum | cut -d' ' -f1)
installed() {
  [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] || return 1
  local p
  for p in kubernetes-models yaml; do
    [[ -f "$dir/node_modules/$p/package.json" ]] || return 1
  done
}

if ! installed; then
  echo "helm-validate-deps: npm ci in tests/helm/validate" >&2
  (cd "$dir" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error >&2)
  echo "$want" >"$stamp"
fi
echo "$dir/validate.mjs"

#!/usr/bin/env bash
# Installs the Node test client's dependencies (tests/node: @grpc/grpc-js and
# @grpc/proto-loader at the versions pinned in tests/node/package-lock.json).
#
#   scripts/node-deps.sh
#
# Idempotent and offline-safe: runs `npm ci` only when tests/node/node_modules is missing
# or was installed from a different package.json / package-lock.json; otherwise it does
# nothing and needs no network. If Node.js is not installed and the script runs as root, it
# installs Debian's nodejs and npm packages first (Node 18 or later is enough).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir="$root/tests/node"
stamp="$dir/node_modules/.credvault-deps.sha256"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "node-deps: installing Debian's nodejs and npm"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "node-deps: node and npm are required (apt-get install nodejs npm)" >&2
    exit 1
  fi
fi

major=$(node -p 'process.versions.node.split(".")[0]')
if ((major < 18)); then
  echo "node-deps: Node.js $(node --version) is too old; 18 or later is required" >&2
  exit 1
fi

want=$(cd "$dir" && sha256sum package.json package-lock.json | sha256sum | cut -d' ' -f1)

installed() {
  [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] || return 1
  local p
  for p in @grpc/grpc-js @grpc/proto-loader; do
    [[ -f "$dir/node_modules/$p/package.json" ]] || return 1
  done
}

if installed; then
  echo "node-deps: tests/node/node_modules is up to date"
  exit 0
fi

echo "node-deps: npm ci in tests/node"
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
echo "$want" >"$stamp"
echo "node-deps: installed $(cd "$dir" && node -p '
  const l = require("./package-lock.json").packages;
  ["@grpc/grpc-js", "@grpc/proto-loader"].map((p) => p + "@" + l["node_modules/" + p].version).join(" ")')"

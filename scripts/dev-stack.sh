#!/usr/bin/env bash
# A complete local credvault for development, demos and end-to-end tests.
#
#   scripts/dev-stack.sh up DIR BUILD_DIR [--ports=WRITE,DECRYPT,METRICS[,HEALTH]]
#   scripts/dev-stack.sh down DIR
#
# `up` starts a throwaway PostgreSQL in DIR/pg, creates the database and an owner role,
# runs `credvaultd migrate`, makes dev TLS material (DIR/pki, scripts/dev-pki.sh), a seal
# key and a writer key (DIR/keys), the policy (DIR/policy.yaml), the first root key
# (`credvaultd init-root-key`), writes DIR/credvaultd.yaml with the root key pin and starts
# `credvaultd serve` in the background (log: DIR/credvaultd.log). Ports default to free
# ones (0: chosen by the kernel); CREDVAULT_STACK_EXTRA_CONFIG, if set, is YAML appended to
# DIR/credvaultd.yaml (more top-level sections). DIR/stack.env then holds, as shell exports:
#   CREDVAULT_WRITE_ADDR, CREDVAULT_DECRYPT_ADDR, CREDVAULT_METRICS_ADDR,
#   CREDVAULT_HEALTH_ADDR (plaintext grpc.health.v1.Health), CREDVAULT_PID, CREDVAULT_PKI,
#   CREDVAULT_STACK_DIR, CREDVAULT_CONFIG, and the CREDVAULT_PG_* variables.
# Every secret stays in DIR (mode 0700) and is never printed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cmd=${1:-}
dir=${2:-}
[[ -n "$cmd" && -n "$dir" ]] || { echo "usage: $0 up DIR BUILD_DIR [--ports=W,D,M[,H]] | down DIR" >&2; exit 2; }

case "$cmd" in
  down)
    if [[ -f "$dir/credvaultd.pid" ]]; then
      pid=$(cat "$dir/credvaultd.pid")
      if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
      fi
      rm -f "$dir/credvaultd.pid"
    fi
    "$root/scripts/pg-throwaway.sh" stop "$dir/pg" || true
    exit 0
    ;;
  up) ;;
  *) echo "usage: $0 up DIR BUILD_DIR | down DIR" >&2; exit 2 ;;
esac

build=${3:-}
[[ -x "$build/server/credvaultd" ]] || { echo "dev-stack: no credvaultd in $build/server" >&2; exit 2; }
ports="0,0,0"
for arg in "${@:4}"; do
  case "$arg" in
    --ports=*) ports=${arg#--ports=} ;;
    *) echo "dev-stack: unknown argument $arg" >&2; exit 2 ;;
  esac
done
IFS=, read -r write_port decrypt_port metrics_port health_port <<<"$ports"
health_port=${health_port:-0}

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
chmod 0711 "$dir"
credvaultd="$build/server/credvaultd"

random_secret() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

"$root/scripts/pg-throwaway.sh" start "$dir/pg"
# shellcheck disable=SC1091
source "$dir/pg/env"
psql_super() {
  "$CREDVAULT_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$CREDVAULT_PG_SOCKET_DIR" \
    -p "$CREDVAULT_PG_PORT" -U "$CREDVAULT_PG_SUPERUSER" -d postgres "$@"
}

secrets="$dir/secrets.env"
if [[ ! -f "$secrets" ]]; then
  umask 077
  cat > "$secrets" <<ENV
export CREDVAULT_OWNER_PASSWORD=$(random_secret)
export CREDVAULT_DB_WRITER_PASSWORD=$(random_secret)
export CREDVAULT_DB_DECRYPTOR_PASSWORD=$(random_secret)
export CREDVAULT_DB_ADMIN_PASSWORD=$(random_secret)
ENV
  umask 022
fi
# shellcheck disable=SC1090
source "$secrets"

if [[ -z $(psql_super -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'credvault_owner'") ]]; then
  psql_super -v pw="$CREDVAULT_OWNER_PASSWORD" <<'SQL'
CREATE ROLE credvault_owner LOGIN CREATEROLE PASSWORD :'pw';
CREATE DATABASE credvault OWNER credvault_owner;
REVOKE ALL ON DATABASE credvault FROM PUBLIC;
SQL
fi
owner_url="postgresql://credvault_owner:${CREDVAULT_OWNER_PASSWORD}@127.0.0.1:${CREDVAULT_PG_PORT}/credvault"
# CONNECT is revoked from PUBLIC above, as docs/operations.md prepares a production
# database; migrate grants it to the roles it creates, so every stack checks that it does.
CREDVAULT_MIGRATE_DATABASE_URL="$owner_url" "$credvaultd" migrate >"$dir/migrate.log"

"$root/scripts/dev-pki.sh" "$dir/pki" >/dev/null
pki="$dir/pki"
mkdir -p "$dir/keys"
chmod 0700 "$dir/keys"
for key in seal writer-1 audit-signing key-directory-1; do
  [[ -f "$dir/keys/$key.key" ]] || (umask 077 && head -c 32 /dev/urandom > "$dir/keys/$key.key")
done

cat > "$dir/policy.yaml" <<YAML
# Development policy: one principal per role over every org, plus scoped and token
# principals for the end-to-end tests.
principals:
  - id: "spiffe://credvault.test/backend"
    roles: [writer]
    orgs: ["*"]
  - id: "spiffe://credvault.test/worker"
    roles: [decryptor]
    orgs: ["*"]
  - id: "spiffe://credvault.test/admin"
    roles: [admin, auditor]
    orgs: ["*"]
  - id: "spiffe://credvault.test/auditor"
    roles: [auditor]
    orgs: ["*"]
  - id: "dns:dns-client.credvault.test"
    roles: [writer, decryptor]
    orgs: [org-a]
  - id: "cn:cn-client"
    roles: [writer]
    orgs: [org-b]
  - token_name: backend
    token_hash: "$(cat "$pki/tokens/backend.hash")"
    roles: [writer]
    orgs: ["*"]
  - token_name: worker
    token_hash: "$(cat "$pki/tokens/worker.hash")"
    roles: [decryptor]
    orgs: ["*"]
  - token_name: admin
    token_hash: "$(cat "$pki/tokens/admin.hash")"
    roles: [admin, auditor]
    orgs: ["*"]
YAML

write_config() {  # $1: file, $2: tiers, $3: root pins block, $4: key directory pins block
  cat > "$1" <<YAML
tiers: [$2]
listeners:
$( [[ "$2" == *write* ]] && cat <<L
  write:
    address: "127.0.0.1:${write_port}"
    tls:
      cert_file: $pki/server.pem
      key_file: $pki/server.key
      client_ca_file: $pki/ca.pem
      require_client_cert: false
L
)
  decrypt:
    address: "127.0.0.1:${decrypt_port}"
    tls:
      cert_file: $pki/server.pem
      key_file: $pki/server.key
      client_ca_file: $pki/ca.pem
      require_client_cert: false
  health:
    address: "127.0.0.1:${health_port}"
metrics:
  address: "127.0.0.1:${metrics_port}"
database:
  host: 127.0.0.1
  port: ${CREDVAULT_PG_PORT}
  dbname: credvault
  sslmode: disable
$( [[ "$2" == *write* ]] && cat <<L
  writer:
    user: credvault_writer
    password_env: CREDVAULT_DB_WRITER_PASSWORD
    pool_size: 8
L
)
  decryptor:
    user: credvault_decryptor
    password_env: CREDVAULT_DB_DECRYPTOR_PASSWORD
    pool_size: 8
  admin:
    user: credvault_admin
    password_env: CREDVAULT_DB_ADMIN_PASSWORD
    pool_size: 2
keys:
  writer_keys:
    current: 1
    files:
      1: $dir/keys/writer-1.key
$3
  seal_key:
    provider: file
    file: $dir/keys/seal.key
  audit_signing_key_file: $dir/keys/audit-signing.key
  key_directory_signing_keys:
    current: 1
    files:
      1: $dir/keys/key-directory-1.key
$4
policy_file: $dir/policy.yaml
shutdown:
  drain_timeout: 5s
YAML
}

write_config "$dir/init.yaml" "decrypt" "" ""
pins=$("$credvaultd" init-root-key --config="$dir/init.yaml")
pin_block="  root_key_pins:"
while IFS= read -r line; do
  pin_block+=$'\n'"    ${line%%:*}: \"${line#*: }\""
done <<<"$pins"
# The key directory pins are redundant while both tiers share a process, but they let a
# write-only process be configured from this file (the end-to-end tests do).
directory_pins=$("$credvaultd" key-directory-pins --config="$dir/init.yaml")
directory_block="  key_directory_pins:"
while IFS= read -r line; do
  directory_block+=$'\n'"    ${line%%:*}: \"${line#*: }\""
done <<<"$directory_pins"
write_config "$dir/credvaultd.yaml" "write, decrypt" "$pin_block" "$directory_block"
# More top-level sections for credvaultd.yaml (end-to-end tests), appended as given.
[[ -z "${CREDVAULT_STACK_EXTRA_CONFIG:-}" ]] ||
  printf '%s\n' "$CREDVAULT_STACK_EXTRA_CONFIG" >> "$dir/credvaultd.yaml"

rm -f "$dir/ready.json"
"$credvaultd" serve --config="$dir/credvaultd.yaml" --ready-file="$dir/ready.json" \
  >"$dir/credvaultd.out" 2>"$dir/credvaultd.log" &
echo $! > "$dir/credvaultd.pid"
for _ in $(seq 1 100); do
  [[ -s "$dir/ready.json" ]] && break
  if ! kill -0 "$(cat "$dir/credvaultd.pid")" 2>/dev/null; then
    echo "dev-stack: credvaultd exited; its log:" >&2
    tail -20 "$dir/credvaultd.log" >&2
    exit 1
  fi
  sleep 0.1
done
[[ -s "$dir/ready.json" ]] || { echo "dev-stack: credvaultd did not become ready" >&2; exit 1; }
read -r wport dport mport hport < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["listeners"]["write"], r["listeners"]["decrypt"], r.get("metrics", 0), r["listeners"].get("health", 0))' "$dir/ready.json")

cat > "$dir/stack.env" <<ENV
export CREDVAULT_STACK_DIR=$dir
export CREDVAULT_CONFIG=$dir/credvaultd.yaml
export CREDVAULT_PKI=$pki
export CREDVAULT_WRITE_ADDR=127.0.0.1:$wport
export CREDVAULT_DECRYPT_ADDR=127.0.0.1:$dport
export CREDVAULT_METRICS_ADDR=127.0.0.1:$mport
export CREDVAULT_HEALTH_ADDR=127.0.0.1:$hport
export CREDVAULT_PID=$(cat "$dir/credvaultd.pid")
ENV
cat "$dir/pg/env" >> "$dir/stack.env"

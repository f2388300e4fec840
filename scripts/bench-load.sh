#!/usr/bin/env bash
# End-to-end load figures for credvault, with PostgreSQL's own ceiling beside them.
#
#   scripts/bench-load.sh [CONCURRENCY [DURATION]]
#
# Builds Release (build/release), brings up a throwaway stack with scripts/dev-stack.sh
# (PostgreSQL + credvaultd with dev PKI) in a temporary directory, and then, for each of
# put, decrypt and mix:
#   1. runs credvault_load against credvaultd (gRPC over mTLS, closed loop);
#   2. runs pgbench on the SAME PostgreSQL, in a scratch database `pgbench_shape`, with a
#      transaction of the same shape as the one credvaultd runs for that request.
# Each pgbench run follows its credvault run directly, so both see the same machine noise.
# It ends with a table: credvault req/s, pgbench tps, their ratio, and credvault's
# p50/p99/p999 latency. The ratio is the figure to watch: it says how much of what
# PostgreSQL can do with this exact SQL credvault delivers end to end (gRPC, TLS,
# authorisation, crypto, libpqxx, its connection pool and executor).
#
# Settings (arguments win over the environment):
#   BENCH_CONCURRENCY=16     client threads of credvault_load, and pgbench clients
#   BENCH_DURATION=10        measured seconds per run (integer; "10s" is accepted)
#   BENCH_WARMUP=2           warm-up seconds before each measured run (both tools)
#   BENCH_SECRET_SIZE=256    secret bytes (the envelope is 165 bytes longer)
#   BENCH_ORGS=16            orgs the credentials are spread over
#   BENCH_CREDENTIALS=1000   credentials (Put replaces one of them, Decrypt reads one)
#   BENCH_PUT_FRACTION=0.2   share of Puts in the mix
#   BENCH_PGBENCH_CLIENTS    pgbench clients (default: BENCH_CONCURRENCY)
#   BENCH_BUILD_JOBS=2       parallel compile jobs
#   BENCH_KEEP=1             keep the temporary directory (logs, pgbench scripts)
#
# Figures, not assertions. On the development machines fsync is cheap (about 130 us), so
# absolute rates are higher than on real disks; compare ratios taken in the same run.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
concurrency=${1:-${BENCH_CONCURRENCY:-16}}
duration=${2:-${BENCH_DURATION:-10}}
duration=${duration%s}
warmup=${BENCH_WARMUP:-2}
warmup=${warmup%s}
secret_size=${BENCH_SECRET_SIZE:-256}
orgs=${BENCH_ORGS:-16}
credentials=${BENCH_CREDENTIALS:-1000}
put_fraction=${BENCH_PUT_FRACTION:-0.2}
pgbench_clients=${BENCH_PGBENCH_CLIENTS:-$concurrency}
jobs=${BENCH_BUILD_JOBS:-2}
for v in concurrency duration warmup secret_size orgs credentials pgbench_clients jobs; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "bench-load: $v must be a whole number, got '${!v}'" >&2; exit 2; }
done
((duration > 0 && concurrency > 0 && credentials >= orgs && orgs > 0)) \
  || { echo "bench-load: need duration > 0, concurrency > 0, credentials >= orgs > 0" >&2; exit 2; }
# A pgbench -D value is one argv string, and Linux caps one at 128 KiB.
((2 * (secret_size + 165) < 120000)) || { echo "bench-load: secret size too large for the pgbench shape" >&2; exit 2; }
put_weight=$(awk -v f="$put_fraction" 'BEGIN { if (f < 0 || f > 1) exit 1; printf "%d", f * 100 + 0.5 }') \
  || { echo "bench-load: BENCH_PUT_FRACTION must be in [0, 1]" >&2; exit 2; }

"$root/scripts/bootstrap.sh"
build="$root/build/release"
echo "== build (Release, $build)"
# run.sh shares this build directory and turns the benchmarks off in its cache.
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCREDVAULT_BUILD_BENCH=ON >/dev/null
cmake --build "$build" -j "$jobs" --target credvaultd credvaultctl credvault_load
load="$build/bench/credvault_load"

work=$(mktemp -d /tmp/credvault-bench.XXXXXX)
chmod 0755 "$work"
cleanup() {
  "$root/scripts/dev-stack.sh" down "$work/stack" >/dev/null 2>&1 || true
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
    echo "bench-load: kept $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

echo "== stack (scripts/dev-stack.sh up $work/stack)"
"$root/scripts/dev-stack.sh" up "$work/stack" "$build" >"$work/stack.log" 2>&1 \
  || { cat "$work/stack.log" >&2; exit 1; }
# shellcheck disable=SC1091
source "$work/stack/stack.env"

psql_super() {
  "$CREDVAULT_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$CREDVAULT_PG_SOCKET_DIR" \
    -p "$CREDVAULT_PG_PORT" -U "$CREDVAULT_PG_SUPERUSER" "$@"
}
random_hex() { head -c "$1" /dev/urandom | od -An -tx1 -v | tr -d ' \n'; }

# Busy and total jiffies of the whole machine.
machine_cpu() { awk '/^cpu / { idle = $5 + $6; t = 0; for (i = 2; i <= NF; i++) t += $i; print t - idle, t }' /proc/stat; }

# ---------------------------------------------------------------------------------------
# pgbench_shape: credvault's own schema (dumped from the live database, so tables, keys,
# indexes, constraints, row-level security policies and grants are exactly the server's),
# filled with the same number of orgs and credentials.
#
# pgbench connects through the unix socket, but not as the superuser: a superuser bypasses
# row-level security, and credvault pays for its policies on every row. It connects as
# pgbench_shape_app, a plain role holding credvault_writer and credvault_decryptor, so the
# same policies and column grants apply. (The socket trusts local users, so no password.)
# ---------------------------------------------------------------------------------------
echo "== pgbench_shape database (schema of credvault, $orgs orgs, $credentials credentials)"
envelope_hex=$(random_hex $((secret_size + 165)))
psql_super -d postgres <<'SQL'
SET client_min_messages = warning;
DROP DATABASE IF EXISTS pgbench_shape;
CREATE DATABASE pgbench_shape;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgbench_shape_app') THEN
    CREATE ROLE pgbench_shape_app LOGIN NOSUPERUSER NOBYPASSRLS;
  END IF;
END $$;
GRANT credvault_writer, credvault_decryptor TO pgbench_shape_app;
SQL
"$CREDVAULT_PG_BIN/pg_dump" -h "$CREDVAULT_PG_SOCKET_DIR" -p "$CREDVAULT_PG_PORT" \
  -U "$CREDVAULT_PG_SUPERUSER" --schema-only credvault >"$work/schema.sql"
psql_super -d pgbench_shape -f "$work/schema.sql" >/dev/null
# The superuser bypasses row-level security, so it can fill every org at once. Org i's
# ids are plain numbers ("0".."N-1", names "0".."M-1"): pgbench can only compute integers.
psql_super -d pgbench_shape -v orgs="$orgs" -v creds="$credentials" \
  -v envelope="\\x$envelope_hex" <<'SQL'
INSERT INTO root_keys (version, public_key, sealed_private_key, seal_key_id, state)
  VALUES (1, sha256('root'), sha256('sealed') || sha256('root'), 'file', 'ACTIVE');
INSERT INTO orgs (org_id, state) SELECT g::text, 'ACTIVE' FROM generate_series(0, :orgs - 1) g;
INSERT INTO org_keys (org_id, version, public_key, sealed_private_key, root_key_version,
                      state, directory_key_version, signature)
  SELECT g::text, 1, sha256(('pk' || g)::bytea),
         sha256(('a' || g)::bytea) || sha256(('b' || g)::bytea) || substr(sha256('c'), 1, 16),
         1, 'ACTIVE', 1, sha256(('sig' || g)::bytea) || sha256(('nature' || g)::bytea)
  FROM generate_series(0, :orgs - 1) g;
INSERT INTO credentials (org_id, name, version, envelope, org_key_version, writer_key_version,
                         labels, created_by, is_current, max_versions)
  SELECT (i % :orgs)::text, i::text, 1, :'envelope'::bytea, 1, 1,
         '{}', 'spiffe://credvault.test/backend', true, 0
  FROM generate_series(0, :creds - 1) i;
INSERT INTO audit_heads (org_id, seq, hash)
  SELECT g::text, 0, sha256(g::text::bytea) FROM generate_series(0, :orgs - 1) g;
VACUUM ANALYZE;
SQL

mkdir -p "$work/pgbench"
# The Put transaction, as credvaultd runs it for PutCredential without idempotency key,
# precondition, expiry or max_versions, replacing an existing credential of an existing
# org: storage/transaction.cc (Begin), CredentialStore::PreparePut, OrgStore (active key),
# CredentialStore::InsertVersion (the write role's credvault_put_version, which re-checks
# the version and key, retires the current version, inserts, erases beyond max_versions
# and appends the audit event), CredentialStore::GetMetadata, COMMIT. Same statements, in
# the same order, with the same SQL text, sent the same way (-M extended: one unnamed
# statement per query, which is what libpqxx's exec_params does; credvault prepares
# nothing). Differences, all small:
#   - the next version is computed in the SELECT that reads it (\gset), where credvaultd
#     adds 1 in C++;
#   - the envelope is fixed random bytes of the right size, where credvaultd makes a new
#     one (the crypto is what the ratio is meant to show);
#   - pgbench connects through the unix socket; credvaultd's pool connects over loopback
#     TCP, which costs a little more per round trip (so the ratio errs against credvault).
cat >"$work/pgbench/put.sql" <<'SQL'
\set i random(0, :ncreds - 1)
\set org :i % :norgs
\set name :i
BEGIN;
SELECT set_config('credvault.org_id', :org, true);
SELECT pg_advisory_xact_lock(hashtext(:org), hashtext(:name));
SELECT o.state, coalesce(c.version, 0) + 1 AS next_version, c.deleted_at IS NOT NULL AS deleted
  FROM orgs o LEFT JOIN credentials c ON c.org_id = o.org_id AND c.name = :name AND c.is_current
  WHERE o.org_id = :org \gset
SELECT org_id, version, public_key, root_key_version, writer_key_version, authenticator, state,
  (extract(epoch FROM created_at) * 1000000)::bigint,
  (extract(epoch FROM retired_at) * 1000000)::bigint,
  (extract(epoch FROM destroyed_at) * 1000000)::bigint, directory_key_version, signature,
  made_before_signing
  FROM org_keys WHERE org_id = :org AND state = 'ACTIVE';
SELECT erased_count, audit_seq FROM credvault_put_version(:org, :name, :next_version,
  :envelope::bytea, 1, 1, :labels::jsonb, :writer,
  'epoch'::timestamptz + NULL::bigint * interval '1 microsecond', NULL, NULL, NULL::bytea,
  :request_id);
SELECT org_id, name, version, org_key_version, writer_key_version,
  (SELECT coalesce(string_agg(encode(convert_to(l.key, 'UTF8'), 'hex') || '=' ||
    encode(convert_to(l.value, 'UTF8'), 'hex'), ',' ORDER BY l.key), '')
    FROM jsonb_each_text(labels) AS l),
  (extract(epoch FROM created_at) * 1000000)::bigint, created_by,
  (extract(epoch FROM expires_at) * 1000000)::bigint,
  (extract(epoch FROM deleted_at) * 1000000)::bigint, erased, is_current, max_versions,
  (SELECT max(c2.version) FROM credentials c2
    WHERE c2.org_id = credentials.org_id AND c2.name = credentials.name),
  (SELECT count(*) FROM credentials c3 WHERE c3.org_id = credentials.org_id
    AND c3.name = credentials.name AND NOT c3.erased AND c3.deleted_at IS NULL)
  FROM credentials
  WHERE org_id = :org AND name = :name AND version = :next_version AND deleted_at IS NULL;
COMMIT;
SQL
# The Decrypt transaction (DecryptCredential of the current version, audited "ok"):
# Begin, OrgStore::GetOrg, CredentialStore::ReadEnvelope, AuditLog::Append (the decrypt
# role's credvault_audit_append, which links and hashes the event), COMMIT. The org
# private key is cached by credvaultd after the first use, so no org_keys read.
cat >"$work/pgbench/decrypt.sql" <<'SQL'
\set i random(0, :ncreds - 1)
\set org :i % :norgs
\set name :i
BEGIN;
SELECT set_config('credvault.org_id', :org, true);
SELECT org_id, state, (extract(epoch FROM created_at) * 1000000)::bigint,
  (extract(epoch FROM destroyed_at) * 1000000)::bigint FROM orgs WHERE org_id = :org;
SELECT org_id, name, version, org_key_version, writer_key_version,
  (SELECT coalesce(string_agg(encode(convert_to(l.key, 'UTF8'), 'hex') || '=' ||
    encode(convert_to(l.value, 'UTF8'), 'hex'), ',' ORDER BY l.key), '')
    FROM jsonb_each_text(labels) AS l),
  (extract(epoch FROM created_at) * 1000000)::bigint, created_by,
  (extract(epoch FROM expires_at) * 1000000)::bigint,
  (extract(epoch FROM deleted_at) * 1000000)::bigint, erased, is_current, max_versions,
  (SELECT max(c2.version) FROM credentials c2
    WHERE c2.org_id = credentials.org_id AND c2.name = credentials.name),
  (SELECT count(*) FROM credentials c3 WHERE c3.org_id = credentials.org_id
    AND c3.name = credentials.name AND NOT c3.erased AND c3.deleted_at IS NULL),
  envelope
  FROM credentials
  WHERE org_id = :org AND name = :name AND is_current AND deleted_at IS NULL AND NOT erased;
SELECT org_id, seq FROM credvault_audit_append(:org, now(), :worker, 'credential.decrypt',
  :name, 'ok', :request_id, :decrypt_details);
COMMIT;
SQL

pgbench_vars=(
  -D "norgs=$orgs" -D "ncreds=$credentials"
  -D "envelope=\\x$envelope_hex" -D "fingerprint=\\x$(random_hex 32)" -D "hash=\\x$(random_hex 32)"
  -D "labels={}" -D "request_id=$(random_hex 12)"
  -D "writer=spiffe://credvault.test/backend" -D "worker=spiffe://credvault.test/worker"
  -D "put_details=version 2" -D "decrypt_details=purpose: credvault_load benchmark; version 1"
)
# run_pgbench SECONDS SCRIPT... ; prints tps
run_pgbench() {
  local seconds=$1
  shift
  "$CREDVAULT_PG_BIN/pgbench" -n -M extended -c "$pgbench_clients" -j 2 -T "$seconds" \
    -h "$CREDVAULT_PG_SOCKET_DIR" -p "$CREDVAULT_PG_PORT" -U pgbench_shape_app \
    "${pgbench_vars[@]}" "$@" pgbench_shape
}

load_args=(
  --write-addr="$CREDVAULT_WRITE_ADDR" --decrypt-addr="$CREDVAULT_DECRYPT_ADDR"
  --ca="$CREDVAULT_PKI/ca.pem"
  --cert="$CREDVAULT_PKI/backend.pem" --key="$CREDVAULT_PKI/backend.key"
  --decrypt-cert="$CREDVAULT_PKI/worker.pem" --decrypt-key="$CREDVAULT_PKI/worker.key"
  --concurrency="$concurrency" --duration="${duration}s" --warmup="${warmup}s"
  --secret-size="$secret_size" --orgs="$orgs" --credentials="$credentials"
  --put-fraction="$put_fraction" --prefix=load --server-pid="$CREDVAULT_PID"
)

declare -A cv_rps cv_p50 cv_p99 cv_p999 cv_errors cv_cpu pg_tps pg_failed busy_cv busy_pg
result_field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

populate=true
for mode in put decrypt mix; do
  echo
  echo "== $mode: credvault_load, concurrency $concurrency, ${duration}s (+${warmup}s warm-up)"
  set +e
  "$load" --mode="$mode" --populate="$populate" "${load_args[@]}" | tee "$work/load-$mode.txt"
  set -e
  populate=false
  result=$(grep '^RESULT ' "$work/load-$mode.txt" || true)
  [[ -n "$result" ]] || { echo "bench-load: credvault_load $mode printed no RESULT" >&2; exit 1; }
  cv_rps[$mode]=$(result_field "$result" rps)
  cv_p50[$mode]=$(result_field "$result" p50_ms)
  cv_p99[$mode]=$(result_field "$result" p99_ms)
  cv_p999[$mode]=$(result_field "$result" p999_ms)
  cv_errors[$mode]=$(result_field "$result" errors)
  cv_cpu[$mode]=$(result_field "$result" server_cpu_ms)
  busy_cv[$mode]=$(result_field "$result" machine_busy_pct)

  case "$mode" in
    put) scripts=(-f "$work/pgbench/put.sql") ;;
    decrypt) scripts=(-f "$work/pgbench/decrypt.sql") ;;
    mix)
      scripts=()
      ((put_weight > 0)) && scripts+=(-f "$work/pgbench/put.sql@$put_weight")
      ((put_weight < 100)) && scripts+=(-f "$work/pgbench/decrypt.sql@$((100 - put_weight))")
      ;;
  esac
  echo "== $mode: pgbench (same transaction shape), $pgbench_clients clients, ${duration}s (+${warmup}s warm-up)"
  if ((warmup > 0)); then run_pgbench "$warmup" "${scripts[@]}" >/dev/null 2>&1 || true; fi
  read -r busy0 total0 < <(machine_cpu)
  run_pgbench "$duration" "${scripts[@]}" >"$work/pgbench-$mode.txt" 2>&1 \
    || { cat "$work/pgbench-$mode.txt" >&2; echo "bench-load: pgbench failed" >&2; exit 1; }
  read -r busy1 total1 < <(machine_cpu)
  busy_pg[$mode]=$(awk -v b=$((busy1 - busy0)) -v t=$((total1 - total0)) 'BEGIN { printf "%.0f", 100 * b / t }')
  grep -E '^(number of (transactions actually processed|failed)|latency average|tps)' \
    "$work/pgbench-$mode.txt" | sed 's/^/  /'
  pg_tps[$mode]=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/pgbench-$mode.txt" | head -1)
  pg_failed[$mode]=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$work/pgbench-$mode.txt" | head -1)
  [[ -n "${pg_tps[$mode]}" ]] || { cat "$work/pgbench-$mode.txt" >&2; exit 1; }
done

echo
echo "== summary"
echo "machine: $(nproc) CPUs ($(uname -m), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)); load generator, credvaultd and PostgreSQL share them"
echo "fsync is cheap here (about 130 us), so absolute rates run higher than on real disks:"
echo "compare the ratios, which were measured in the same run on the same PostgreSQL."
echo "workload: ${secret_size}-byte secrets, $credentials credentials over $orgs orgs, mix = $put_weight% put;"
echo "credvault_load $concurrency threads, pgbench $pgbench_clients clients (-M extended -j 2), ${duration}s each"
echo
printf '%-8s %13s %12s %7s %8s %8s %8s %7s %12s %10s\n' \
  op "credvault/s" "pgbench tps" ratio "p50 ms" "p99 ms" "p999 ms" errors "cvd CPU ms" "CPU busy"
for mode in put decrypt mix; do
  ratio=$(awk -v a="${cv_rps[$mode]}" -v b="${pg_tps[$mode]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
  printf '%-8s %13s %12.1f %7s %8s %8s %8s %7s %12s %10s\n' "$mode" "${cv_rps[$mode]}" \
    "${pg_tps[$mode]}" "$ratio" "${cv_p50[$mode]}" "${cv_p99[$mode]}" "${cv_p999[$mode]}" \
    "${cv_errors[$mode]}/${pg_failed[$mode]:-0}" "${cv_cpu[$mode]}" "${busy_cv[$mode]}%/${busy_pg[$mode]}%"
done
echo
echo "errors: credvault_load errors / pgbench failed transactions. cvd CPU ms: credvaultd"
echo "CPU time per request. CPU busy: whole machine during the credvault / pgbench run."

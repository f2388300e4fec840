#!/usr/bin/env bash
# End-to-end load figures for credvault, beside the PostgreSQL limit for the same work.
#
#   scripts/bench-load.sh [CONCURRENCY [DURATION]]
#
# Builds Release (BENCH_BUILD_DIR), brings up a throwaway stack with scripts/dev-stack.sh
# (PostgreSQL + credvaultd with dev PKI) in a temporary directory, and measures:
#   - idle RSS: VmRSS of credvaultd right after the stack is up, before any load;
#   - time to ready: a second credvaultd with the stack's configuration (every listener on
#     a port of the kernel's choosing, so both run side by side) is started before the
#     load runs; the time is from just before its exec (date +%s%N) to the first answer
#     SERVING of its health listener's "readiness" service (server/api/health_listener.h:
#     every listener up and every database role it uses connected), asked every few
#     milliseconds with curl over HTTP/2 once its --ready-file names the health port.
#     Without a curl that speaks HTTP/2 the figure stops at the ready file (every listener
#     up, databases not yet checked), and the targets line says so;
#   - for each of put, decrypt, mix, "put, one org" and "decrypt, one org":
#       1. credvault_load against credvaultd (gRPC over mTLS, closed loop), then credvaultd's
#          VmRSS and its peak VmHWM from /proc;
#       2. right after it, pgbench of the PostgreSQL limit on the SAME PostgreSQL.
#     The one-org runs put all BENCH_CONCURRENCY clients on one org with BENCH_CREDENTIALS
#     credentials (credvault_load --orgs=1 --prefix=hot: its org hot-0, populated by the
#     first of them), and pgbench sends all its calls to one org too (an org of its own
#     with as many credentials, so that its chain and rows start fresh as hot-0's do).
#
# The PostgreSQL limit. What credvault guarantees for a request, done by PostgreSQL alone
# in ONE transaction, one prepared call per request (pgbench -M prepared, a one-statement
# autocommit script `SELECT bench_limit_put(...)` or `SELECT bench_limit_decrypt(...)`):
#   put:     serialise on the name (pg_advisory_xact_lock(hashtext(org), hashtext(name)), as
#            credvault does), retire the current version (UPDATE ... RETURNING version),
#            insert version + 1 with its envelope, lock the org's audit head (FOR UPDATE),
#            insert the chained audit event (prev_hash and seq from the head, hash = SHA-256
#            over the canonical encoding of credvault_audit_link, format v2, see
#            storage/migrations/0011_audit_link_fast_path.sql) and advance the head;
#   decrypt: read the current envelope with the columns credvaultd reads with it (metadata,
#            org state, org key state; storage/credential_store.cc) and append the chained
#            audit event the same way.
# It runs on credvault's own schema, roles and row-level security: the scratch database
# `pgbench_shape` is `pg_dump --schema-only` of the live credvault database (owners
# included), and pgbench connects as pgbench_shape_app, a plain role holding
# credvault_writer and credvault_decryptor. As credvault's own writes, the limit functions
# are SECURITY DEFINER with a fixed search_path, owned by the role that owns credvault's
# SECURITY DEFINER functions, and scope themselves with set_config('credvault.org_id', ..,
# true): they pay for the same policies and privileges. Whatever credvault does beyond this
# (gRPC, TLS, authorisation, envelope crypto, more statements and round trips, its pool)
# is what the ratio credvault/limit shows. It is the yardstick because it is the least a
# request that commits its own work in its own transaction asks of this PostgreSQL: one
# round trip, one commit, nothing outside the database. (Work shared between requests,
# such as one commit for the audit events of many, is outside it: with that a ratio may
# pass 1.)
# The ratio errs against credvault: credvault_load (gRPC + TLS client) costs far more CPU
# per request than pgbench, and on this shared 2-core machine the load generator's CPU is
# taken from credvaultd and PostgreSQL (see "client CPU ms" in the table).
#
# After the last run the script checks, as the superuser in pgbench_shape, that the limit
# functions did their work: one audit event and (for a put) one credential version per
# committed pgbench call, every org's chain linked from its head's seed with hashes that
# recompute, the head at the last event, one current version per name. A failed check is
# a failure (exit 1); a missed target is only printed.
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
#   BENCH_BUILD_DIR=build/release  build directory (relative to the repository root)
#   BENCH_NO_BUILD=1         skip the build; use the binaries already in BENCH_BUILD_DIR
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
build=${BENCH_BUILD_DIR:-build/release}
[[ "$build" == /* ]] || build="$root/$build"
for v in concurrency duration warmup secret_size orgs credentials pgbench_clients jobs; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "bench-load: $v must be a whole number, got '${!v}'" >&2; exit 2; }
done
((duration > 0 && concurrency > 0 && credentials >= orgs && orgs > 0)) \
  || { echo "bench-load: need duration > 0, concurrency > 0, credentials >= orgs > 0" >&2; exit 2; }
# A pgbench -D value is one argv string, and Linux caps one at 128 KiB.
((2 * (secret_size + 165) < 120000)) || { echo "bench-load: secret size too large for pgbench" >&2; exit 2; }
put_weight=$(awk -v f="$put_fraction" 'BEGIN { if (f < 0 || f > 1) exit 1; printf "%d", f * 100 + 0.5 }') \
  || { echo "bench-load: BENCH_PUT_FRACTION must be in [0, 1]" >&2; exit 2; }

"$root/scripts/bootstrap.sh"
if [[ "${BENCH_NO_BUILD:-0}" == 1 ]]; then
  echo "== build skipped (BENCH_NO_BUILD=1), binaries of $build"
else
  echo "== build (Release, $build)"
  # run.sh shares build/release and turns the benchmarks off in its cache.
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCREDVAULT_BUILD_BENCH=ON >/dev/null
  cmake --build "$build" -j "$jobs" --target credvaultd credvaultctl credvault_load
fi
credvaultd="$build/server/credvaultd"
load="$build/bench/credvault_load"
for binary in "$credvaultd" "$load"; do
  [[ -x "$binary" ]] || { echo "bench-load: $binary is missing" >&2; exit 1; }
done

work=$(mktemp -d /tmp/credvault-bench.XXXXXX)
chmod 0755 "$work"
probe_pid=
cleanup() {
  if [[ -n "$probe_pid" ]]; then kill -TERM "$probe_pid" 2>/dev/null || true; fi
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

# VmRSS / VmHWM of a process in MiB (from /proc/PID/status).
memory_mib() { awk -v f="$2:" '$1 == f { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
idle_rss=$(memory_mib "$CREDVAULT_PID" VmRSS)
echo "idle RSS of credvaultd: $idle_rss MiB"

# ---------------------------------------------------------------------------------------
# Time to ready: a second credvaultd with the same configuration, every listener on a
# port of the kernel's choosing. It gets the stack's database passwords (in its
# environment only, as scripts/dev-stack.sh gives them to the first one).
# ---------------------------------------------------------------------------------------
echo "== time to ready (a second credvaultd with the stack's configuration)"
sed -E 's/(address: "127\.0\.0\.1):[0-9]+"/\1:0"/' "$CREDVAULT_CONFIG" >"$work/stack/probe.yaml"
(
  # shellcheck disable=SC1091
  source "$work/stack/secrets.env"
  date +%s%N >"$work/probe.start"
  exec "$credvaultd" serve --config="$work/stack/probe.yaml" --ready-file="$work/probe-ready.json" \
    >"$work/probe.out" 2>"$work/probe.log"
) &
probe_pid=$!
# grpc.health.v1.Health/Check{service: "readiness"} in gRPC framing; the answer
# HealthCheckResponse{status: SERVING} is the five-byte frame header and 08 01.
printf '\x00\x00\x00\x00\x0b\x0a\x09readiness' >"$work/readiness.bin"
readiness_via=health
curl --version 2>/dev/null | grep -q HTTP2 || readiness_via=ready-file
health_port=
ready_ns=
for _ in $(seq 1 6000); do
  if [[ -z "$health_port" && -s "$work/probe-ready.json" ]]; then
    health_port=$(sed -n 's/.*"health":\([0-9]*\).*/\1/p' "$work/probe-ready.json")
    [[ -n "$health_port" ]] || readiness_via=ready-file
  fi
  if [[ -n "$health_port" || "$readiness_via" == ready-file ]] && [[ -s "$work/probe-ready.json" ]]; then
    if [[ "$readiness_via" == ready-file ]]; then
      ready_ns=$(date +%s%N)
      break
    fi
    answer=$(curl -s --max-time 1 --http2-prior-knowledge -H 'content-type: application/grpc' \
      -H 'te: trailers' --data-binary @"$work/readiness.bin" \
      "http://127.0.0.1:$health_port/grpc.health.v1.Health/Check" | od -An -tx1 | tr -d ' \n' || true)
    if [[ "$answer" == 00000000020801 ]]; then
      ready_ns=$(date +%s%N)
      break
    fi
  fi
  kill -0 "$probe_pid" 2>/dev/null || break
  sleep 0.005
done
ready_ms=$(( (ready_ns - $(cat "$work/probe.start")) / 1000000 ))
kill -TERM "$probe_pid"
wait "$probe_pid" || true
probe_pid=
echo "time to ready: $ready_ms ms (until: $readiness_via)"

psql_super() {
  "$CREDVAULT_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$CREDVAULT_PG_SOCKET_DIR" \
    -p "$CREDVAULT_PG_PORT" -U "$CREDVAULT_PG_SUPERUSER" "$@"
}
random_hex() { head -c "$1" /dev/urandom | od -An -tx1 -v | tr -d ' \n'; }

# Busy and total jiffies of the whole machine.
machine_cpu() { awk '/^cpu / { idle = $5 + $6; t = 0; for (i = 2; i <= NF; i++) t += $i; print t - idle, t }' /proc/stat; }

# ---------------------------------------------------------------------------------------
# pgbench_shape: credvault's own schema (dumped from the live database, so tables, keys,
# indexes, constraints, row-level security policies, grants and owners are exactly the
# server's). Orgs "0".."N-1" hold credentials named "0".."M-1" (credential i in org
# i mod N), as credvault_load spreads its "load" credentials; org "N" alone holds M more
# ("M".."2M-1"), as credvault_load's one-org "hot" run. pgbench can only compute
# integers, hence the numbers.
# ---------------------------------------------------------------------------------------
echo "== pgbench_shape database (schema of credvault, $orgs orgs + 1 for the one-org runs, $credentials credentials each way)"
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
# The superuser bypasses row-level security, so it can fill every org at once.
psql_super -d pgbench_shape -v orgs="$orgs" -v creds="$credentials" \
  -v envelope="\\x$envelope_hex" <<'SQL'
INSERT INTO root_keys (version, public_key, sealed_private_key, seal_key_id, state)
  VALUES (1, sha256('root'), sha256('sealed') || sha256('root'), 'file', 'ACTIVE');
INSERT INTO orgs (org_id, state) SELECT g::text, 'ACTIVE' FROM generate_series(0, :orgs) g;
INSERT INTO org_keys (org_id, version, public_key, sealed_private_key, root_key_version,
                      state, directory_key_version, signature)
  SELECT g::text, 1, sha256(('pk' || g)::bytea),
         sha256(('a' || g)::bytea) || sha256(('b' || g)::bytea) || substr(sha256('c'), 1, 16),
         1, 'ACTIVE', 1, sha256(('sig' || g)::bytea) || sha256(('nature' || g)::bytea)
  FROM generate_series(0, :orgs) g;
INSERT INTO credentials (org_id, name, version, envelope, org_key_version, writer_key_version,
                         labels, created_by, is_current, max_versions)
  SELECT CASE WHEN i < :creds THEN (i % :orgs)::text ELSE (:orgs)::text END, i::text, 1,
         :'envelope'::bytea, 1, 1, '{}', 'spiffe://credvault.test/backend', true, 0
  FROM generate_series(0, 2 * :creds - 1) i;
-- Each head starts at a seed hash; the chain check below starts from it.
INSERT INTO audit_heads (org_id, seq, hash)
  SELECT g::text, 0, sha256(g::text::bytea) FROM generate_series(0, :orgs) g;
SQL

# The limit functions, owned by the owner of credvault's own SECURITY DEFINER functions.
definer=$(psql_super -d pgbench_shape -tA <<'SQL'
SELECT string_agg(DISTINCT pg_get_userbyid(proowner), ',') FROM pg_proc
 WHERE prosecdef AND pronamespace = 'public'::regnamespace AND proname LIKE 'credvault\_%'
SQL
)
[[ "$definer" =~ ^[a-z_][a-z0-9_]*$ ]] \
  || { echo "bench-load: expected one owner of credvault's SECURITY DEFINER functions, got '$definer'" >&2; exit 1; }
psql_super -d pgbench_shape -v definer="$definer" <<'SQL'
-- Put: one transaction, the work credvault guarantees for a Put that replaces a version.
CREATE FUNCTION public.bench_limit_put(p_org text, p_name text, p_envelope bytea,
                                       p_org_key_version integer, p_writer_key_version integer,
                                       p_principal text, p_request_id text)
  RETURNS bigint
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_version bigint;
  v_time timestamptz := date_trunc('microseconds', clock_timestamp());
  v_role text := session_user::text;
  v_details text;
  v_seq bigint;
  v_prev bytea;
  v_hash bytea;
BEGIN
  PERFORM set_config('credvault.org_id', p_org, true);
  PERFORM pg_advisory_xact_lock(hashtext(p_org), hashtext(p_name));
  UPDATE public.credentials SET is_current = false
   WHERE org_id = p_org AND name = p_name AND is_current
  RETURNING version INTO v_version;
  v_version := coalesce(v_version, 0) + 1;
  INSERT INTO public.credentials (org_id, name, version, envelope, org_key_version,
                                  writer_key_version, labels, created_by, is_current,
                                  max_versions)
  VALUES (p_org, p_name, v_version, p_envelope, p_org_key_version, p_writer_key_version, '{}',
          p_principal, true, 0);
  SELECT h.seq, h.hash INTO v_seq, v_prev FROM public.audit_heads h
   WHERE h.org_id = p_org FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no audit head' USING ERRCODE = 'no_data_found';
  END IF;
  v_seq := v_seq + 1;
  v_details := 'version ' || v_version;
  v_hash := sha256(
    '\x00000018'::bytea || convert_to('credvault.audit.event.v2', 'UTF8') || v_prev
    || public.credvault_enc(p_org) || int8send(v_seq)
    || int8send((extract(epoch FROM v_time) * 1000000)::bigint)
    || public.credvault_enc(p_principal) || public.credvault_enc('credential.put')
    || public.credvault_enc(p_name) || public.credvault_enc('ok')
    || public.credvault_enc(p_request_id) || public.credvault_enc(v_details)
    || public.credvault_enc(v_role));
  INSERT INTO public.audit_events (org_id, seq, event_time, principal, action, target, result,
                                   request_id, details, prev_hash, hash, chain_format,
                                   appended_by)
  VALUES (p_org, v_seq, v_time, p_principal, 'credential.put', p_name, 'ok', p_request_id,
          v_details, v_prev, v_hash, 2, v_role);
  UPDATE public.audit_heads SET seq = v_seq, hash = v_hash WHERE org_id = p_org;
  RETURN v_version;
END
$fn$;

-- Decrypt: read the current envelope with what credvaultd reads with it, then the same
-- chained audit append.
CREATE FUNCTION public.bench_limit_decrypt(p_org text, p_name text, p_principal text,
                                           p_purpose text, p_request_id text)
  RETURNS bytea
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  r record;
  v_time timestamptz := date_trunc('microseconds', clock_timestamp());
  v_role text := session_user::text;
  v_details text;
  v_seq bigint;
  v_prev bytea;
  v_hash bytea;
BEGIN
  PERFORM set_config('credvault.org_id', p_org, true);
  SELECT org_id, name, version, org_key_version, writer_key_version,
         (SELECT coalesce(string_agg(encode(convert_to(l.key, 'UTF8'), 'hex') || '=' ||
            encode(convert_to(l.value, 'UTF8'), 'hex'), ',' ORDER BY l.key), '')
            FROM jsonb_each_text(labels) AS l) AS labels_text,
         (extract(epoch FROM created_at) * 1000000)::bigint AS created_us, created_by,
         (extract(epoch FROM expires_at) * 1000000)::bigint AS expires_us,
         (extract(epoch FROM deleted_at) * 1000000)::bigint AS deleted_us, erased, is_current,
         max_versions,
         (SELECT max(c2.version) FROM public.credentials c2
           WHERE c2.org_id = credentials.org_id AND c2.name = credentials.name) AS newest,
         (SELECT count(*) FROM public.credentials c3 WHERE c3.org_id = credentials.org_id
           AND c3.name = credentials.name AND NOT c3.erased AND c3.deleted_at IS NULL) AS live,
         envelope,
         (SELECT o.state FROM public.orgs o WHERE o.org_id = credentials.org_id) AS org_state,
         (SELECT k.state FROM public.org_keys k WHERE k.org_id = credentials.org_id
           AND k.version = credentials.org_key_version) AS key_state
    INTO r
    FROM public.credentials
   WHERE org_id = p_org AND name = p_name AND is_current AND deleted_at IS NULL AND NOT erased;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'credential not found' USING ERRCODE = 'no_data_found';
  END IF;
  IF r.org_state IS DISTINCT FROM 'ACTIVE' OR r.key_state IS NULL OR r.key_state = 'DESTROYED'
  THEN
    RAISE EXCEPTION 'org or org key destroyed' USING ERRCODE = 'raise_exception';
  END IF;
  SELECT h.seq, h.hash INTO v_seq, v_prev FROM public.audit_heads h
   WHERE h.org_id = p_org FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no audit head' USING ERRCODE = 'no_data_found';
  END IF;
  v_seq := v_seq + 1;
  v_details := 'purpose: ' || p_purpose || '; version ' || r.version;
  v_hash := sha256(
    '\x00000018'::bytea || convert_to('credvault.audit.event.v2', 'UTF8') || v_prev
    || public.credvault_enc(p_org) || int8send(v_seq)
    || int8send((extract(epoch FROM v_time) * 1000000)::bigint)
    || public.credvault_enc(p_principal) || public.credvault_enc('credential.decrypt')
    || public.credvault_enc(p_name) || public.credvault_enc('ok')
    || public.credvault_enc(p_request_id) || public.credvault_enc(v_details)
    || public.credvault_enc(v_role));
  INSERT INTO public.audit_events (org_id, seq, event_time, principal, action, target, result,
                                   request_id, details, prev_hash, hash, chain_format,
                                   appended_by)
  VALUES (p_org, v_seq, v_time, p_principal, 'credential.decrypt', p_name, 'ok', p_request_id,
          v_details, v_prev, v_hash, 2, v_role);
  UPDATE public.audit_heads SET seq = v_seq, hash = v_hash WHERE org_id = p_org;
  RETURN r.envelope;
END
$fn$;

ALTER FUNCTION public.bench_limit_put(text, text, bytea, integer, integer, text, text)
  OWNER TO :"definer";
ALTER FUNCTION public.bench_limit_decrypt(text, text, text, text, text) OWNER TO :"definer";
REVOKE ALL ON FUNCTION public.bench_limit_put(text, text, bytea, integer, integer, text, text)
  FROM PUBLIC;
REVOKE ALL ON FUNCTION public.bench_limit_decrypt(text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.bench_limit_put(text, text, bytea, integer, integer, text, text)
  TO pgbench_shape_app;
GRANT EXECUTE ON FUNCTION public.bench_limit_decrypt(text, text, text, text, text)
  TO pgbench_shape_app;
VACUUM ANALYZE;
SQL

mkdir -p "$work/pgbench"
# Credential i of the run's layout: org org_base + i mod norgs, name name_base + i.
cat >"$work/pgbench/limit-put.sql" <<'SQL'
\set i random(0, :ncreds - 1)
\set org :org_base + :i % :norgs
\set name :name_base + :i
SELECT bench_limit_put(:org, :name, :envelope, 1, 1, :writer, :request_id);
SQL
cat >"$work/pgbench/limit-decrypt.sql" <<'SQL'
\set i random(0, :ncreds - 1)
\set org :org_base + :i % :norgs
\set name :name_base + :i
SELECT bench_limit_decrypt(:org, :name, :worker, :purpose, :request_id);
SQL

pgbench_vars=(
  -D "ncreds=$credentials" -D "envelope=\\x$envelope_hex" -D "request_id=$(random_hex 12)"
  -D "writer=spiffe://credvault.test/backend" -D "worker=spiffe://credvault.test/worker"
  -D "purpose=credvault_load benchmark"
)
spread_layout=(-D "norgs=$orgs" -D org_base=0 -D name_base=0)
one_org_layout=(-D norgs=1 -D "org_base=$orgs" -D "name_base=$credentials")
# run_pgbench SECONDS OUTPUT LAYOUT-AND-SCRIPT-ARGS...
pgbench_runs=0
run_pgbench() {
  local seconds=$1 output=$2
  shift 2
  pgbench_runs=$((pgbench_runs + 1))
  "$CREDVAULT_PG_BIN/pgbench" -n -M prepared -c "$pgbench_clients" -j 2 -T "$seconds" \
    -h "$CREDVAULT_PG_SOCKET_DIR" -p "$CREDVAULT_PG_PORT" -U pgbench_shape_app \
    "${pgbench_vars[@]}" "$@" pgbench_shape >"$output" 2>&1
}
# committed_calls OUTPUT KIND MODE: calls of KIND (put or decrypt) that a pgbench run of
# MODE (put, decrypt or mix) saw commit. With more than one script pgbench counts each.
committed_calls() {
  local file=$1 kind=$2 mode=$3
  if [[ "$mode" == mix ]]; then
    awk -v kind="limit-$kind.sql" '
      /^SQL script [0-9]+:/ { mine = index($0, kind) > 0 }
      /^ - [0-9]+ transactions/ && mine { n = $2 }
      END { print n + 0 }' "$file"
  elif [[ "$mode" == "$kind" ]]; then
    sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$file"
  else
    echo 0
  fi
}

common_load_args=(
  --write-addr="$CREDVAULT_WRITE_ADDR" --decrypt-addr="$CREDVAULT_DECRYPT_ADDR"
  --ca="$CREDVAULT_PKI/ca.pem"
  --cert="$CREDVAULT_PKI/backend.pem" --key="$CREDVAULT_PKI/backend.key"
  --decrypt-cert="$CREDVAULT_PKI/worker.pem" --decrypt-key="$CREDVAULT_PKI/worker.key"
  --concurrency="$concurrency" --duration="${duration}s" --warmup="${warmup}s"
  --secret-size="$secret_size" --credentials="$credentials"
  --put-fraction="$put_fraction" --server-pid="$CREDVAULT_PID"
)

declare -A cv_rps cv_p50 cv_p99 cv_p999 cv_errors cv_cpu cv_client_cpu cv_rss cv_hwm
declare -A pg_tps pg_failed busy_cv busy_pg
result_field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }
put_calls=0
decrypt_calls=0

runs=(put decrypt mix put-1org decrypt-1org)
declare -A run_label=([put]="put" [decrypt]="decrypt" [mix]="mix"
                      [put-1org]="put, one org" [decrypt-1org]="decrypt, one org")
for run in "${runs[@]}"; do
  mode=${run%-1org}
  case "$run" in
    put) layout=(--orgs="$orgs" --prefix=load --populate=true) ;;
    *-1org)
      layout=(--orgs=1 --prefix=hot --populate="$([[ $run == put-1org ]] && echo true || echo false)")
      ;;
    *) layout=(--orgs="$orgs" --prefix=load --populate=false) ;;
  esac
  echo
  echo "== ${run_label[$run]}: credvault_load, concurrency $concurrency, ${duration}s (+${warmup}s warm-up)"
  set +e
  "$load" --mode="$mode" "${layout[@]}" "${common_load_args[@]}" | tee "$work/load-$run.txt"
  set -e
  kill -0 "$CREDVAULT_PID" 2>/dev/null \
    || { echo "bench-load: credvaultd is gone; its log:" >&2; tail -20 "$CREDVAULT_STACK_DIR/credvaultd.log" >&2; exit 1; }
  cv_rss[$run]=$(memory_mib "$CREDVAULT_PID" VmRSS)
  cv_hwm[$run]=$(memory_mib "$CREDVAULT_PID" VmHWM)
  result=$(grep '^RESULT ' "$work/load-$run.txt" || true)
  [[ -n "$result" ]] || { echo "bench-load: credvault_load $run printed no RESULT" >&2; exit 1; }
  cv_rps[$run]=$(result_field "$result" rps)
  cv_p50[$run]=$(result_field "$result" p50_ms)
  cv_p99[$run]=$(result_field "$result" p99_ms)
  cv_p999[$run]=$(result_field "$result" p999_ms)
  cv_errors[$run]=$(result_field "$result" errors)
  cv_cpu[$run]=$(result_field "$result" server_cpu_ms)
  cv_client_cpu[$run]=$(result_field "$result" client_cpu_ms)
  busy_cv[$run]=$(result_field "$result" machine_busy_pct)
  echo "credvaultd    RSS ${cv_rss[$run]} MiB, peak ${cv_hwm[$run]} MiB"

  case "$run" in
    *-1org) args=("${one_org_layout[@]}") ;;
    *) args=("${spread_layout[@]}") ;;
  esac
  case "$mode" in
    put) args+=(-f "$work/pgbench/limit-put.sql") ;;
    decrypt) args+=(-f "$work/pgbench/limit-decrypt.sql") ;;
    mix)
      ((put_weight > 0)) && args+=(-f "$work/pgbench/limit-put.sql@$put_weight")
      ((put_weight < 100)) && args+=(-f "$work/pgbench/limit-decrypt.sql@$((100 - put_weight))")
      ;;
  esac
  echo "== ${run_label[$run]}: pgbench of the PostgreSQL limit, $pgbench_clients clients, ${duration}s (+${warmup}s warm-up)"
  outputs=()
  if ((warmup > 0)); then
    run_pgbench "$warmup" "$work/pgbench-$run-warmup.txt" "${args[@]}" \
      || { cat "$work/pgbench-$run-warmup.txt" >&2; echo "bench-load: pgbench failed" >&2; exit 1; }
    outputs+=("$work/pgbench-$run-warmup.txt")
  fi
  read -r busy0 total0 < <(machine_cpu)
  run_pgbench "$duration" "$work/pgbench-$run.txt" "${args[@]}" \
    || { cat "$work/pgbench-$run.txt" >&2; echo "bench-load: pgbench failed" >&2; exit 1; }
  read -r busy1 total1 < <(machine_cpu)
  outputs+=("$work/pgbench-$run.txt")
  busy_pg[$run]=$(awk -v b=$((busy1 - busy0)) -v t=$((total1 - total0)) 'BEGIN { printf "%.0f", 100 * b / t }')
  grep -E '^(number of (transactions actually processed|failed)|latency average|tps)' \
    "$work/pgbench-$run.txt" | sed 's/^/  /'
  pg_tps[$run]=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/pgbench-$run.txt" | head -1)
  pg_failed[$run]=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$work/pgbench-$run.txt" | head -1)
  [[ -n "${pg_tps[$run]}" ]] || { cat "$work/pgbench-$run.txt" >&2; exit 1; }
  for output in "${outputs[@]}"; do
    put_calls=$((put_calls + $(committed_calls "$output" put "$mode")))
    decrypt_calls=$((decrypt_calls + $(committed_calls "$output" decrypt "$mode")))
  done
done

# ---------------------------------------------------------------------------------------
# Did the limit functions do the work? Every committed call left one audit event, every
# committed put one credential version (a call cut off when pgbench's time ran out may
# still commit, hence up to one more per client and pgbench run); every org's chain runs
# from its head's seed, each event's prev_hash is the hash before it and its hash
# recomputes; each head sits at its last event; each name has exactly one current version
# and versions 1..n.
# ---------------------------------------------------------------------------------------
echo
echo "== check of the limit's work (pgbench_shape)"
slack=$((pgbench_runs * pgbench_clients))
check=$(psql_super -d pgbench_shape -tA -F ' ' -v orgs="$orgs" -v creds="$credentials" <<'SQL'
WITH chain AS (
  SELECT e.*, lag(e.hash) OVER (PARTITION BY e.org_id ORDER BY e.seq) AS before,
         row_number() OVER (PARTITION BY e.org_id ORDER BY e.seq) AS n
    FROM audit_events e),
bad_links AS (
  SELECT count(*) AS n FROM chain c
   WHERE c.seq <> c.n
      OR c.prev_hash IS DISTINCT FROM coalesce(c.before, sha256(c.org_id::bytea))
      OR c.hash <> sha256(
           '\x00000018'::bytea || convert_to('credvault.audit.event.v2', 'UTF8') || c.prev_hash
           || credvault_enc(c.org_id) || int8send(c.seq)
           || int8send((extract(epoch FROM c.event_time) * 1000000)::bigint)
           || credvault_enc(c.principal) || credvault_enc(c.action) || credvault_enc(c.target)
           || credvault_enc(c.result) || credvault_enc(c.request_id) || credvault_enc(c.details)
           || credvault_enc(c.appended_by))),
bad_heads AS (
  SELECT count(*) AS n FROM audit_heads h
    LEFT JOIN LATERAL (SELECT e.seq, e.hash FROM audit_events e WHERE e.org_id = h.org_id
                        ORDER BY e.seq DESC LIMIT 1) last ON true
   WHERE h.seq <> coalesce(last.seq, 0)
      OR h.hash <> coalesce(last.hash, sha256(h.org_id::bytea))),
names AS (
  SELECT count(*) FILTER (WHERE is_current) AS current, max(version) AS newest,
         count(*) AS versions
    FROM credentials GROUP BY org_id, name),
bad_names AS (
  SELECT count(*) FILTER (WHERE current <> 1 OR newest <> versions) AS n, count(*) AS names,
         sum(versions) - count(*) AS added
    FROM names)
SELECT (SELECT count(*) FROM audit_events WHERE action = 'credential.put'),
       (SELECT count(*) FROM audit_events WHERE action = 'credential.decrypt'),
       (SELECT added FROM bad_names), (SELECT n FROM bad_links), (SELECT n FROM bad_heads),
       (SELECT n FROM bad_names), (SELECT names FROM bad_names)
SQL
)
read -r ev_put ev_decrypt versions_added bad_links bad_heads bad_names names <<<"$check"
echo "pgbench committed $put_calls put and $decrypt_calls decrypt calls; the database holds"
echo "$ev_put put and $ev_decrypt decrypt events, $versions_added new versions of $names names;"
echo "broken links or hashes: $bad_links, heads off their last event: $bad_heads, names without"
echo "exactly one current version or with gaps: $bad_names"
within() { (($1 >= $2 && $1 <= $2 + slack)); }
if ! within "$ev_put" "$put_calls" || ! within "$ev_decrypt" "$decrypt_calls" \
   || ! within "$versions_added" "$put_calls" || ((bad_links + bad_heads + bad_names > 0)) \
   || ((names != 2 * credentials)) || ((put_calls == 0 || decrypt_calls == 0)); then
  echo "bench-load: the PostgreSQL limit did not do the work it is meant to" >&2
  exit 1
fi
echo "limit work check: ok"

echo
echo "== summary"
echo "machine: $(nproc) CPUs ($(uname -m), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1));"
echo "the load generator, credvaultd and PostgreSQL share them: the load generator's CPU counts against credvault."
echo "fsync is cheap here (about 130 us), so absolute rates run higher than on real disks:"
echo "compare the ratios, which were measured in the same run on the same PostgreSQL."
echo "workload: ${secret_size}-byte secrets, $credentials credentials over $orgs orgs (one-org runs: $credentials in one org),"
echo "mix = $put_weight% put; credvault_load $concurrency threads, pgbench $pgbench_clients clients"
echo "(-M prepared -j 2, one call of the limit function per request), ${duration}s each"
echo
printf '%-17s %11s %10s %6s %8s %8s %7s %7s %8s %7s %12s %8s\n' \
  run "credvault/s" "limit tps" ratio "cvd CPU" "cli CPU" "p50" "p99" "p999" errors "RSS/peak" "busy"
printf '%-17s %11s %10s %6s %8s %8s %7s %7s %8s %7s %12s %8s\n' \
  "" "" "" "" "ms/req" "ms/req" "ms" "ms" "ms" "" "MiB" "cv/pg %"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
for run in "${runs[@]}"; do
  printf '%-17s %11s %10.1f %6s %8s %8s %7s %7s %8s %7s %12s %8s\n' "${run_label[$run]}" \
    "${cv_rps[$run]}" "${pg_tps[$run]}" "$(ratio "${cv_rps[$run]}" "${pg_tps[$run]}")" \
    "${cv_cpu[$run]:--}" "${cv_client_cpu[$run]:--}" "${cv_p50[$run]}" "${cv_p99[$run]}" \
    "${cv_p999[$run]}" "${cv_errors[$run]}/${pg_failed[$run]:-0}" \
    "${cv_rss[$run]}/${cv_hwm[$run]}" "${busy_cv[$run]:--}/${busy_pg[$run]}"
done
echo
echo "errors: credvault_load errors / pgbench failed calls. cvd CPU: credvaultd CPU time per"
echo "request; cli CPU: the load generator's. RSS/peak: credvaultd VmRSS right after the run / VmHWM."
echo "busy: whole machine during the credvault / pgbench run."
echo
# verdict VALUE OP TARGET: "met" or "MISSED" (a printed figure, never a failure).
verdict() { awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
  if (v == "" || v == "-") { print "no figure"; exit }
  ok = (op == ">=") ? v + 0 >= t + 0 : v + 0 <= t + 0; print ok ? "met" : "MISSED" }'; }
put_ratio=$(ratio "${cv_rps[put]}" "${pg_tps[put]}")
decrypt_ratio=$(ratio "${cv_rps[decrypt]}" "${pg_tps[decrypt]}")
put_one_org=$(ratio "${cv_rps[put-1org]}" "${cv_rps[put]}")
decrypt_one_org=$(ratio "${cv_rps[decrypt-1org]}" "${cv_rps[decrypt]}")
echo "== targets"
echo "put ratio $put_ratio (target >= 0.40): $(verdict "$put_ratio" '>=' 0.40)"
echo "decrypt ratio $decrypt_ratio (target >= 0.50, stretch 0.70): $(verdict "$decrypt_ratio" '>=' 0.50)," \
  "stretch $(verdict "$decrypt_ratio" '>=' 0.70)"
echo "put CPU/request ${cv_cpu[put]:--} ms (target <= 0.30): $(verdict "${cv_cpu[put]:--}" '<=' 0.30)"
echo "decrypt CPU/request ${cv_cpu[decrypt]:--} ms (target <= 0.20): $(verdict "${cv_cpu[decrypt]:--}" '<=' 0.20)"
echo "one org vs $orgs orgs: put ${cv_rps[put-1org]}/s vs ${cv_rps[put]}/s = $put_one_org (target >= 0.50):" \
  "$(verdict "$put_one_org" '>=' 0.50)"
echo "one org vs $orgs orgs: decrypt ${cv_rps[decrypt-1org]}/s vs ${cv_rps[decrypt]}/s = $decrypt_one_org" \
  "(target >= 0.50): $(verdict "$decrypt_one_org" '>=' 0.50)"
echo "idle RSS $idle_rss MiB (target <= 50): $(verdict "$idle_rss" '<=' 50)"
echo "time to ready $ready_ms ms (target <= 1000): $(verdict "$ready_ms" '<=' 1000)$(
  [[ "$readiness_via" == health ]] || echo " (listeners only: no curl with HTTP/2 to ask readiness)")"

-- credvault schema, version 8: function-only access for the write tier and an audit chain
-- the database links itself.
--
-- The write tier is untrusted (docs/security-model.md). Its role loses INSERT/UPDATE/DELETE
-- on tenant data, and every request role loses them on the audit tables; each mutation is a
-- SECURITY DEFINER function below, owned by the migrating role, with a fixed search_path,
-- that enforces the invariants no request role is trusted with:
--   * credential versions only grow; the current-version marker moves only to a version
--     just put, and a deletion only marks versions deleted or erases them;
--   * an envelope is written once, by a put, and afterwards only erased (or re-sealed by
--     the decrypt tier, which holds every key anyway);
--   * orgs and org key records are written only by the decrypt tier's roles (the key
--     authority), never by the write role;
--   * audit events are linked by the database itself: seq = last + 1, prev = last hash,
--     hash computed here (format v2, SHA-256, docs/crypto.md), the appending database
--     role recorded in the event.
-- Every function takes org_id first and scopes the transaction to it.

-- Fingerprints (a MAC of the secret under the writer key) and idempotency digests over
-- the secret let whoever holds the writer key test guesses offline: both are gone.
ALTER TABLE credentials DROP COLUMN fingerprint;
ALTER TABLE credentials DROP COLUMN fingerprint_key_version;
ALTER TABLE credentials ADD CHECK (NOT erased OR deleted_at IS NOT NULL);

ALTER TABLE idempotency_keys NO FORCE ROW LEVEL SECURITY;
DELETE FROM idempotency_keys;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;

-- Audit events record which chain format hashed them and which database role appended
-- them (NULL for format 1, which the service hashed).
ALTER TABLE audit_events ADD COLUMN chain_format smallint NOT NULL DEFAULT 1
  CHECK (chain_format IN (1, 2));
ALTER TABLE audit_events ADD COLUMN appended_by text;
ALTER TABLE audit_events ADD CHECK ((chain_format = 2) = (appended_by IS NOT NULL));
ALTER TABLE audit_events ALTER COLUMN chain_format SET DEFAULT 2;

-- Take every write privilege on tenant data away from the write role, and every write
-- privilege on the audit tables and org keys from all request roles.
REVOKE INSERT, UPDATE, DELETE ON orgs, org_keys, credentials, idempotency_keys FROM {{writer}};
REVOKE SELECT ON credentials FROM {{writer}};
GRANT SELECT (org_id, name, version, org_key_version, writer_key_version, labels, created_at,
              created_by, expires_at, deleted_at, erased, is_current, max_versions)
  ON credentials TO {{writer}};
REVOKE SELECT ON credentials FROM {{admin}};
GRANT SELECT (org_id, name, version, org_key_version, writer_key_version, labels, created_at,
              created_by, expires_at, deleted_at, erased, is_current, max_versions)
  ON credentials TO {{admin}};
REVOKE INSERT, UPDATE, DELETE ON audit_heads, audit_events, audit_checkpoints
  FROM {{writer}}, {{decryptor}}, {{admin}};
-- The write tier has no use for the audit log (decrypt purposes, other callers' actions).
REVOKE SELECT ON audit_heads, audit_events, audit_checkpoints FROM {{writer}};
REVOKE UPDATE ON credentials FROM {{decryptor}};
-- The key authority (the decrypt tier) provisions the orgs that first Puts name.
GRANT INSERT ON orgs, org_keys TO {{decryptor}};

-- Canonical encoding of the audit chain (crypto/canonical_encoding.h): strings as u32
-- big-endian length then UTF-8 bytes, integers as fixed-width big-endian.
CREATE FUNCTION credvault_enc(p_text text) RETURNS bytea
  LANGUAGE sql IMMUTABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT int4send(length(b)) || b FROM (SELECT convert_to(p_text, 'UTF8') AS b) AS s
$fn$;
REVOKE ALL ON FUNCTION credvault_enc(text) FROM PUBLIC;

CREATE FUNCTION credvault_audit_genesis_v2(p_org text) RETURNS bytea
  LANGUAGE sql IMMUTABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT sha256(public.credvault_enc('credvault.audit.genesis.v2') || public.credvault_enc(p_org))
$fn$;
REVOKE ALL ON FUNCTION credvault_audit_genesis_v2(text) FROM PUBLIC;

-- Appends one event to the chain of p_org and returns it. Internal: callable only from
-- the functions below (they run as the owner). The last stored event, not the head row,
-- decides seq and prev: the head row is the lock that serializes appenders and a cache of
-- the last event, so a head row that disagrees with the events cannot block appends.
CREATE FUNCTION credvault_audit_link(p_org text, p_time timestamptz, p_principal text,
                                     p_action text, p_target text, p_result text,
                                     p_request_id text, p_details text)
  RETURNS audit_events
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_time timestamptz := date_trunc('microseconds', p_time);
  v_prev bytea;
  v_seq bigint;
  v_hash bytea;
  v_event public.audit_events;
BEGIN
  IF p_org IS NULL OR p_org = '' THEN
    RAISE EXCEPTION 'audit event needs an org' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_time IS NULL OR p_principal IS NULL OR p_action IS NULL OR p_target IS NULL
     OR p_result IS NULL OR p_request_id IS NULL OR p_details IS NULL
     OR p_principal = '' OR p_action = '' OR p_result = '' THEN
    RAISE EXCEPTION 'audit event fields missing' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF greatest(octet_length(p_principal), octet_length(p_action), octet_length(p_target),
              octet_length(p_result), octet_length(p_request_id), octet_length(p_details)) > 4096
  THEN
    RAISE EXCEPTION 'audit event field too long' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM set_config('credvault.org_id', p_org, true);
  INSERT INTO public.audit_heads (org_id, seq, hash)
  VALUES (p_org, 0, public.credvault_audit_genesis_v2(p_org))
  ON CONFLICT (org_id) DO NOTHING;
  PERFORM 1 FROM public.audit_heads WHERE org_id = p_org FOR UPDATE;
  SELECT e.seq, e.hash INTO v_seq, v_prev
    FROM public.audit_events e WHERE e.org_id = p_org ORDER BY e.seq DESC LIMIT 1;
  IF v_seq IS NULL THEN
    -- An empty chain: genesis, or the anchor left by a purge of every event.
    SELECT c.seq, c.head_hash INTO v_seq, v_prev
      FROM public.audit_checkpoints c WHERE c.org_id = p_org ORDER BY c.seq DESC LIMIT 1;
    IF v_seq IS NULL THEN
      v_seq := 0;
      v_prev := public.credvault_audit_genesis_v2(p_org);
    END IF;
  END IF;
  v_seq := v_seq + 1;
  v_hash := sha256(
    public.credvault_enc('credvault.audit.event.v2') || v_prev || public.credvault_enc(p_org)
    || int8send(v_seq)
    || int8send((extract(epoch FROM v_time) * 1000000)::bigint)
    || public.credvault_enc(p_principal) || public.credvault_enc(p_action)
    || public.credvault_enc(p_target) || public.credvault_enc(p_result)
    || public.credvault_enc(p_request_id) || public.credvault_enc(p_details)
    || public.credvault_enc(session_user::text));
  INSERT INTO public.audit_events (org_id, seq, event_time, principal, action, target, result,
                                   request_id, details, prev_hash, hash, chain_format,
                                   appended_by)
  VALUES (p_org, v_seq, v_time, p_principal, p_action, p_target, p_result, p_request_id,
          p_details, v_prev, v_hash, 2, session_user::text)
  RETURNING * INTO v_event;
  UPDATE public.audit_heads SET seq = v_seq, hash = v_hash WHERE org_id = p_org;
  RETURN v_event;
END
$fn$;
REVOKE ALL ON FUNCTION credvault_audit_link(text, timestamptz, text, text, text, text, text, text)
  FROM PUBLIC;

-- The decrypt tier and the admin path append their own events (they hold every key; what
-- they append is recorded with their role).
CREATE FUNCTION credvault_audit_append(p_org text, p_time timestamptz, p_principal text,
                                       p_action text, p_target text, p_result text,
                                       p_request_id text, p_details text)
  RETURNS audit_events
  LANGUAGE sql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT * FROM public.credvault_audit_link(p_org, p_time, p_principal, p_action, p_target,
                                            p_result, p_request_id, p_details)
$fn$;
REVOKE ALL ON FUNCTION credvault_audit_append(text, timestamptz, text, text, text, text, text, text)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credvault_audit_append(text, timestamptz, text, text, text, text, text, text)
  TO {{decryptor}}, {{admin}};

-- Every tier records a refusal of a caller who holds a grant for the org (design section
-- 3). The write role can append nothing else by itself: its other events come with the
-- put or delete that they describe. Nothing is appended for an org that does not exist.
CREATE FUNCTION credvault_audit_append_denial(p_org text, p_principal text, p_method text,
                                              p_result text, p_request_id text, p_details text)
  RETURNS bigint
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  PERFORM set_config('credvault.org_id', p_org, true);
  IF NOT EXISTS (SELECT 1 FROM public.orgs WHERE org_id = p_org) THEN
    RETURN NULL;
  END IF;
  RETURN (public.credvault_audit_link(p_org, clock_timestamp(), p_principal, 'access.denied',
                                      p_method, p_result, p_request_id, p_details)).seq;
END
$fn$;
REVOKE ALL ON FUNCTION credvault_audit_append_denial(text, text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credvault_audit_append_denial(text, text, text, text, text, text)
  TO {{writer}}, {{decryptor}}, {{admin}};

-- Admin path only: a checkpoint at an event that exists, with that event's hash. (The
-- retention purge writes its own anchors.)
CREATE FUNCTION credvault_audit_add_checkpoint(p_org text, p_kind text, p_seq bigint,
                                               p_head_hash bytea, p_signature bytea,
                                               p_signing_key_id text, p_created_at timestamptz)
  RETURNS void
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_hash bytea;
BEGIN
  PERFORM set_config('credvault.org_id', p_org, true);
  SELECT e.hash INTO v_hash FROM public.audit_events e WHERE e.org_id = p_org AND e.seq = p_seq;
  IF v_hash IS NULL THEN
    SELECT c.head_hash INTO v_hash FROM public.audit_checkpoints c
     WHERE c.org_id = p_org AND c.seq = p_seq;
  END IF;
  IF v_hash IS NULL OR v_hash <> p_head_hash THEN
    RAISE EXCEPTION 'checkpoint does not match the chain at event %', p_seq
      USING ERRCODE = 'raise_exception';
  END IF;
  INSERT INTO public.audit_checkpoints (org_id, seq, head_hash, signature, signing_key_id,
                                        created_at, kind)
  VALUES (p_org, p_seq, p_head_hash, p_signature, p_signing_key_id,
          coalesce(p_created_at, now()), p_kind);
END
$fn$;
REVOKE ALL ON FUNCTION credvault_audit_add_checkpoint(text, text, bigint, bytea, bytea, text, timestamptz)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credvault_audit_add_checkpoint(text, text, bigint, bytea, bytea, text, timestamptz)
  TO {{admin}};

-- Write role: puts version p_version of p_name, which must be the next one. The caller
-- locked the name and chose the version with a read first (the envelope binds it); this
-- function takes the same lock and re-checks, so a caller that skips either gains nothing.
CREATE FUNCTION credvault_put_version(p_org text, p_name text, p_version bigint,
                                      p_envelope bytea, p_org_key_version integer,
                                      p_writer_key_version integer, p_labels jsonb,
                                      p_created_by text, p_expires_at timestamptz,
                                      p_max_versions integer, p_idempotency_key text,
                                      p_request_digest bytea, p_request_id text)
  RETURNS TABLE (erased_count bigint, audit_seq bigint)
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_state text;
  v_next bigint;
  v_active integer;
  v_max integer;
  v_erased bigint;
  v_details text;
BEGIN
  PERFORM set_config('credvault.org_id', p_org, true);
  PERFORM pg_advisory_xact_lock(hashtext(p_org), hashtext(p_name));
  SELECT o.state INTO v_state FROM public.orgs o WHERE o.org_id = p_org;
  IF v_state IS NULL THEN
    RAISE EXCEPTION 'org does not exist' USING ERRCODE = 'no_data_found';
  END IF;
  IF v_state <> 'ACTIVE' THEN
    RAISE EXCEPTION 'org is destroyed' USING ERRCODE = 'raise_exception';
  END IF;
  SELECT coalesce(max(c.version), 0) + 1 INTO v_next
    FROM public.credentials c WHERE c.org_id = p_org AND c.name = p_name;
  IF p_version IS DISTINCT FROM v_next THEN
    RAISE EXCEPTION 'version % is not the next version of the credential (%)', p_version, v_next
      USING ERRCODE = 'raise_exception';
  END IF;
  SELECT k.version INTO v_active FROM public.org_keys k
   WHERE k.org_id = p_org AND k.state = 'ACTIVE';
  IF v_active IS NULL THEN
    RAISE EXCEPTION 'the org has no active key' USING ERRCODE = 'raise_exception';
  END IF;
  -- A rotation committed since the caller read the active key: the whole transaction is
  -- retried (serialization failure), and seals to the new key.
  IF v_active IS DISTINCT FROM p_org_key_version THEN
    RAISE EXCEPTION 'the envelope is not sealed to the active org key (version %)', v_active
      USING ERRCODE = 'serialization_failure';
  END IF;
  IF p_envelope IS NULL OR length(p_envelope) = 0 THEN
    RAISE EXCEPTION 'envelope missing' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_max_versions IS NULL THEN
    SELECT c.max_versions INTO v_max FROM public.credentials c
     WHERE c.org_id = p_org AND c.name = p_name AND c.is_current;
    v_max := coalesce(v_max, 0);
  ELSE
    v_max := p_max_versions;
  END IF;
  UPDATE public.credentials SET is_current = false
   WHERE org_id = p_org AND name = p_name AND is_current;
  INSERT INTO public.credentials (org_id, name, version, envelope, org_key_version,
                                  writer_key_version, labels, created_by, expires_at,
                                  is_current, max_versions)
  VALUES (p_org, p_name, p_version, p_envelope, p_org_key_version, p_writer_key_version,
          p_labels, p_created_by, p_expires_at, true, v_max);
  WITH erased AS (
    UPDATE public.credentials SET envelope = NULL, erased = true,
           deleted_at = coalesce(deleted_at, now())
     WHERE org_id = p_org AND name = p_name AND NOT erased AND v_max > 0
       AND version <= p_version - v_max
    RETURNING 1)
  SELECT count(*) INTO v_erased FROM erased;
  IF p_idempotency_key IS NOT NULL THEN
    INSERT INTO public.idempotency_keys (org_id, idempotency_key, request_hash,
                                         credential_name, result_version)
    VALUES (p_org, p_idempotency_key, p_request_digest, p_name, p_version);
  END IF;
  v_details := 'version ' || p_version;
  IF v_erased > 0 THEN
    v_details := v_details || ', ' || v_erased || ' old versions crypto-erased';
  END IF;
  erased_count := v_erased;
  audit_seq := (public.credvault_audit_link(p_org, clock_timestamp(), p_created_by,
                                            'credential.put', p_name, 'ok', p_request_id,
                                            v_details)).seq;
  RETURN NEXT;
END
$fn$;
REVOKE ALL ON FUNCTION credvault_put_version(text, text, bigint, bytea, integer, integer, jsonb,
                                             text, timestamptz, integer, text, bytea, text)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credvault_put_version(text, text, bigint, bytea, integer, integer, jsonb,
                                                text, timestamptz, integer, text, bytea, text)
  TO {{writer}};

-- Write role: soft delete (every live version marked deleted) or crypto-erase (every
-- envelope dropped) of p_name. outcome: 'ok', 'not_found' (no version, or nothing left
-- to erase), 'already_deleted', 'version_mismatch' (version = the newest version).
CREATE FUNCTION credvault_delete_credential(p_org text, p_name text, p_erase boolean,
                                            p_expected_version bigint,
                                            p_idempotency_key text, p_request_digest bytea,
                                            p_principal text, p_request_id text)
  RETURNS TABLE (outcome text, version bigint, affected bigint, audit_seq bigint)
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_state text;
  v_newest bigint;
  v_deleted boolean;
  v_affected bigint;
BEGIN
  PERFORM set_config('credvault.org_id', p_org, true);
  PERFORM pg_advisory_xact_lock(hashtext(p_org), hashtext(p_name));
  SELECT o.state INTO v_state FROM public.orgs o WHERE o.org_id = p_org;
  IF v_state IS NULL THEN
    RAISE EXCEPTION 'org does not exist' USING ERRCODE = 'no_data_found';
  END IF;
  IF v_state <> 'ACTIVE' THEN
    RAISE EXCEPTION 'org is destroyed' USING ERRCODE = 'raise_exception';
  END IF;
  SELECT c.version, c.deleted_at IS NOT NULL INTO v_newest, v_deleted
    FROM public.credentials c WHERE c.org_id = p_org AND c.name = p_name AND c.is_current;
  IF v_newest IS NULL THEN
    outcome := 'not_found'; version := 0; affected := 0; audit_seq := 0;
    RETURN NEXT; RETURN;
  END IF;
  IF p_expected_version IS NOT NULL AND p_expected_version <> v_newest THEN
    outcome := 'version_mismatch'; version := v_newest; affected := 0; audit_seq := 0;
    RETURN NEXT; RETURN;
  END IF;
  IF p_erase THEN
    WITH erased AS (
      UPDATE public.credentials SET envelope = NULL, erased = true,
             deleted_at = coalesce(deleted_at, now())
       WHERE org_id = p_org AND name = p_name AND NOT erased
      RETURNING 1)
    SELECT count(*) INTO v_affected FROM erased;
    IF v_affected = 0 THEN
      outcome := 'not_found'; version := v_newest; affected := 0; audit_seq := 0;
      RETURN NEXT; RETURN;
    END IF;
  ELSE
    IF v_deleted THEN
      outcome := 'already_deleted'; version := v_newest; affected := 0; audit_seq := 0;
      RETURN NEXT; RETURN;
    END IF;
    SELECT count(*) INTO v_affected FROM public.credentials c
     WHERE c.org_id = p_org AND c.name = p_name AND NOT c.erased AND c.deleted_at IS NULL;
    UPDATE public.credentials SET deleted_at = now()
     WHERE org_id = p_org AND name = p_name AND deleted_at IS NULL;
  END IF;
  IF p_idempotency_key IS NOT NULL THEN
    INSERT INTO public.idempotency_keys (org_id, idempotency_key, request_hash,
                                         credential_name, result_version)
    VALUES (p_org, p_idempotency_key, p_request_digest, p_name, v_newest);
  END IF;
  outcome := 'ok';
  version := v_newest;
  affected := v_affected;
  audit_seq := (public.credvault_audit_link(
      p_org, clock_timestamp(), p_principal,
      CASE WHEN p_erase THEN 'credential.erase' ELSE 'credential.delete' END, p_name, 'ok',
      p_request_id, v_affected || ' versions')).seq;
  RETURN NEXT;
END
$fn$;
REVOKE ALL ON FUNCTION credvault_delete_credential(text, text, boolean, bigint, text, bytea, text, text)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credvault_delete_credential(text, text, boolean, bigint, text, bytea, text, text)
  TO {{writer}};

-- Decrypt role, org key re-seal: replaces the envelope of one version with the same
-- secret sealed to another org key version, if it is still sealed to the expected one.
-- Returns false when it is not (moved on, erased or gone).
CREATE FUNCTION credvault_reseal_envelope(p_org text, p_name text, p_version bigint,
                                          p_expected_org_key_version integer, p_envelope bytea,
                                          p_org_key_version integer, p_writer_key_version integer)
  RETURNS boolean
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  PERFORM set_config('credvault.org_id', p_org, true);
  IF p_envelope IS NULL OR length(p_envelope) = 0 THEN
    RAISE EXCEPTION 'envelope missing' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  UPDATE public.credentials
     SET envelope = p_envelope, org_key_version = p_org_key_version,
         writer_key_version = p_writer_key_version
   WHERE org_id = p_org AND name = p_name AND version = p_version
     AND org_key_version = p_expected_org_key_version AND NOT erased;
  RETURN FOUND;
END
$fn$;
REVOKE ALL ON FUNCTION credvault_reseal_envelope(text, text, bigint, integer, bytea, integer, integer)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credvault_reseal_envelope(text, text, bigint, integer, bytea, integer, integer)
  TO {{decryptor}};

-- CompareCredential is answered by the key authority (the decrypt tier), which decrypts the
-- stored secret and compares in constant time. Its rate limit is per (principal, org,
-- name) and shared by every replica: a fixed one-minute window per row.
CREATE TABLE compare_attempts (
  org_id text COLLATE "C" NOT NULL,
  principal text COLLATE "C" NOT NULL,
  name text COLLATE "C" NOT NULL,
  window_start timestamptz NOT NULL,
  attempts integer NOT NULL CHECK (attempts > 0),
  PRIMARY KEY (org_id, principal, name)
);
ALTER TABLE compare_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE compare_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON compare_attempts
  USING (org_id = current_setting('credvault.org_id', true))
  WITH CHECK (org_id = current_setting('credvault.org_id', true));

-- Counts one attempt and tells whether it is within p_per_minute.
CREATE FUNCTION credvault_compare_admit(p_org text, p_principal text, p_name text,
                                        p_per_minute integer)
  RETURNS boolean
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_attempts integer;
BEGIN
  PERFORM set_config('credvault.org_id', p_org, true);
  INSERT INTO public.compare_attempts AS a (org_id, principal, name, window_start, attempts)
  VALUES (p_org, p_principal, p_name, now(), 1)
  ON CONFLICT (org_id, principal, name) DO UPDATE
    SET attempts = CASE WHEN a.window_start <= now() - interval '1 minute' THEN 1
                        ELSE a.attempts + 1 END,
        window_start = CASE WHEN a.window_start <= now() - interval '1 minute' THEN now()
                            ELSE a.window_start END
  RETURNING a.attempts INTO v_attempts;
  RETURN v_attempts <= p_per_minute;
END
$fn$;
REVOKE ALL ON FUNCTION credvault_compare_admit(text, text, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credvault_compare_admit(text, text, text, integer) TO {{decryptor}};

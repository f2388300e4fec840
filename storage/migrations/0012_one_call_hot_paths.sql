-- credvault schema, version 12: the hot paths in one call each (docs/architecture.md,
-- "Performance"). A Put was a transaction of about ten statements (lock, plan, key read,
-- idempotency lookup, put, metadata read, commit), each a round trip; now it is one
-- statement that runs as its own transaction. A Decrypt reads its envelope in one call
-- and its audit event is committed with those of concurrent Decrypts (group commit).
-- Every check of version 8's credvault_put_version is still made, in the database, under
-- the same lock: the caller's guesses (the next version, the active key) are verified,
-- never trusted.

-- Labels as storage/labels.h reads them back (CREDVAULT_LABELS_COLUMN): hex(key)=hex(value)
-- pairs in key order, comma-separated. A plain SQL function, so the planner inlines it.
CREATE FUNCTION credvault_labels_text(p_labels jsonb) RETURNS text
  LANGUAGE sql IMMUTABLE
AS $fn$
  SELECT coalesce(string_agg(pg_catalog.encode(pg_catalog.convert_to(l.key, 'UTF8'), 'hex') || '='
                             || pg_catalog.encode(pg_catalog.convert_to(l.value, 'UTF8'), 'hex'),
                             ',' ORDER BY l.key), '')
    FROM pg_catalog.jsonb_each_text(p_labels) AS l
$fn$;
REVOKE ALL ON FUNCTION credvault_labels_text(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credvault_labels_text(jsonb) TO {{decryptor}};

-- Write role: the whole PutCredential in one call. The caller sealed the envelope to
-- p_org_key_version for version p_version, its guess of the next version; when a guess is
-- wrong nothing is written and the outcome says what is true, so the caller seals again.
-- p_expected_live_version: NULL for no precondition, 0 for "must not exist", else the live
-- version the Put must replace. p_org_public_key is the key the caller sealed to: a record
-- changed in place since the caller verified it is reported as a changed key, so the
-- caller reads and verifies it again (and refuses a forged one). Outcomes:
--   ok                      written; version, erased_count, audit_seq and the metadata
--   replay                  p_idempotency_key made version `version` for this same request;
--                           the metadata of that version
--   idempotency_key_reused  the key made a version for another request
--   org_not_found, org_destroyed
--   precondition_failed     version = the live version (0 when there is none)
--   version_moved           version = the next version
--   key_changed             version = the active org key version (0 when there is none)
-- Metadata columns are those of storage/credential_store.cc (CREDVAULT_METADATA_COLUMNS).
CREATE FUNCTION credvault_put(p_org text, p_name text, p_version bigint, p_envelope bytea,
                              p_org_key_version integer, p_writer_key_version integer,
                              p_labels jsonb, p_created_by text, p_expires_at timestamptz,
                              p_max_versions integer, p_idempotency_key text,
                              p_request_digest bytea, p_request_id text,
                              p_expected_live_version bigint, p_org_public_key bytea)
  RETURNS TABLE (outcome text, version bigint, erased_count bigint, audit_seq bigint,
                 m_org_id text, m_name text, m_version bigint, m_org_key_version integer,
                 m_writer_key_version integer, m_labels text, m_created_micros bigint,
                 m_created_by text, m_expires_micros bigint, m_deleted_micros bigint,
                 m_erased boolean, m_current boolean, m_max_versions integer,
                 m_newest_version bigint, m_live_versions bigint)
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  v_state text;
  v_newest bigint;
  v_newest_current boolean;
  v_newest_deleted boolean;
  v_newest_max integer;
  v_live bigint;
  v_active integer;
  v_active_public bytea;
  v_max integer;
  v_erased bigint;
  v_seq bigint;
  v_details text;
  v_hash bytea;
  v_earlier bigint;
  v_result_version bigint;
  v_created timestamptz;
BEGIN
  IF p_org IS NULL OR p_name IS NULL OR p_name = '' OR p_version IS NULL OR p_version < 1 THEN
    RAISE EXCEPTION 'org, name and version are required' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_envelope IS NULL OR length(p_envelope) = 0 THEN
    RAISE EXCEPTION 'envelope missing' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF (p_idempotency_key IS NULL) <> (p_request_digest IS NULL) THEN
    RAISE EXCEPTION 'an idempotency key needs its request digest'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM set_config('credvault.org_id', p_org, true);
  PERFORM pg_advisory_xact_lock(hashtext(p_org), hashtext(p_name));
  -- The org's state and its active key, in one read.
  SELECT o.state, k.version, k.public_key INTO v_state, v_active, v_active_public
    FROM public.orgs o
    LEFT JOIN public.org_keys k ON k.org_id = o.org_id AND k.state = 'ACTIVE'
   WHERE o.org_id = p_org;
  IF v_state IS NULL THEN
    outcome := 'org_not_found';
    RETURN NEXT;
    RETURN;
  END IF;
  IF v_state <> 'ACTIVE' THEN
    outcome := 'org_destroyed';
    RETURN NEXT;
    RETURN;
  END IF;
  -- A retry of a Put that already happened is answered before anything else is compared:
  -- the versions have moved on since, by that very Put.
  IF p_idempotency_key IS NOT NULL THEN
    SELECT i.request_hash, i.result_version INTO v_hash, v_earlier
      FROM public.idempotency_keys i
     WHERE i.org_id = p_org AND i.idempotency_key = p_idempotency_key;
    IF v_earlier IS NOT NULL THEN
      IF v_hash <> p_request_digest THEN
        outcome := 'idempotency_key_reused';
        RETURN NEXT;
        RETURN;
      END IF;
      v_result_version := v_earlier;
      outcome := 'replay';
    END IF;
  END IF;
  IF outcome IS NULL THEN
    -- The newest version of the name, in any state (one probe of the primary key).
    SELECT c.version, c.is_current, c.deleted_at IS NOT NULL, c.max_versions
      INTO v_newest, v_newest_current, v_newest_deleted, v_newest_max
      FROM public.credentials c WHERE c.org_id = p_org AND c.name = p_name
     ORDER BY c.version DESC LIMIT 1;
    v_live := CASE WHEN v_newest_current AND NOT v_newest_deleted THEN v_newest ELSE 0 END;
    IF p_expected_live_version IS NOT NULL AND p_expected_live_version <> v_live THEN
      outcome := 'precondition_failed';
      version := v_live;
      RETURN NEXT;
      RETURN;
    END IF;
    IF p_version <> coalesce(v_newest, 0) + 1 THEN
      outcome := 'version_moved';
      version := coalesce(v_newest, 0) + 1;
      RETURN NEXT;
      RETURN;
    END IF;
    IF v_active IS DISTINCT FROM p_org_key_version
       OR v_active_public IS DISTINCT FROM p_org_public_key THEN
      outcome := 'key_changed';
      version := coalesce(v_active, 0);
      RETURN NEXT;
      RETURN;
    END IF;
    v_max := coalesce(p_max_versions,
                      CASE WHEN v_newest_current THEN v_newest_max END, 0);
    IF v_newest_current THEN
      UPDATE public.credentials SET is_current = false
       WHERE org_id = p_org AND name = p_name AND is_current;
    END IF;
    INSERT INTO public.credentials (org_id, name, version, envelope, org_key_version,
                                    writer_key_version, labels, created_by, expires_at,
                                    is_current, max_versions)
    VALUES (p_org, p_name, p_version, p_envelope, p_org_key_version, p_writer_key_version,
            p_labels, p_created_by, p_expires_at, true, v_max)
    RETURNING created_at INTO v_created;
    v_erased := 0;
    IF v_max > 0 AND p_version > v_max THEN
      WITH erased AS (
        UPDATE public.credentials SET envelope = NULL, erased = true,
               deleted_at = coalesce(deleted_at, now())
         WHERE org_id = p_org AND name = p_name AND NOT erased
           AND version <= p_version - v_max
        RETURNING 1)
      SELECT count(*) INTO v_erased FROM erased;
    END IF;
    IF p_idempotency_key IS NOT NULL THEN
      INSERT INTO public.idempotency_keys (org_id, idempotency_key, request_hash,
                                           credential_name, result_version)
      VALUES (p_org, p_idempotency_key, p_request_digest, p_name, p_version);
    END IF;
    v_details := 'version ' || p_version;
    IF v_erased > 0 THEN
      v_details := v_details || ', ' || v_erased || ' old versions crypto-erased';
    END IF;
    v_seq := (public.credvault_audit_link(p_org, clock_timestamp(), p_created_by,
                                          'credential.put', p_name, 'ok', p_request_id,
                                          v_details)).seq;
    -- What was just written is known: only the count of live versions is read.
    RETURN QUERY
    SELECT 'ok'::text, p_version, v_erased, v_seq, p_org, p_name, p_version, p_org_key_version,
           p_writer_key_version,
           public.credvault_labels_text(p_labels),
           (extract(epoch FROM v_created) * 1000000)::bigint, p_created_by,
           (extract(epoch FROM p_expires_at) * 1000000)::bigint, NULL::bigint, false, true,
           v_max, p_version,
           (SELECT count(*) FROM public.credentials c3
             WHERE c3.org_id = p_org AND c3.name = p_name AND NOT c3.erased
               AND c3.deleted_at IS NULL);
    RETURN;
  END IF;
  RETURN QUERY
  SELECT outcome, v_result_version, v_erased, v_seq,
         c.org_id::text, c.name::text, c.version, c.org_key_version, c.writer_key_version,
         public.credvault_labels_text(c.labels),
         (extract(epoch FROM c.created_at) * 1000000)::bigint, c.created_by,
         (extract(epoch FROM c.expires_at) * 1000000)::bigint,
         (extract(epoch FROM c.deleted_at) * 1000000)::bigint, c.erased, c.is_current,
         c.max_versions,
         (SELECT max(c2.version) FROM public.credentials c2
           WHERE c2.org_id = c.org_id AND c2.name = c.name),
         (SELECT count(*) FROM public.credentials c3
           WHERE c3.org_id = c.org_id AND c3.name = c.name AND NOT c3.erased
             AND c3.deleted_at IS NULL)
    FROM public.credentials c
   WHERE c.org_id = p_org AND c.name = p_name AND c.version = v_result_version;
  IF NOT FOUND THEN
    -- A replayed version purged since: the Put happened, its metadata is gone.
    RAISE EXCEPTION 'version % made by this idempotency key no longer exists', v_result_version
      USING ERRCODE = 'no_data_found';
  END IF;
END
$fn$;
REVOKE ALL ON FUNCTION credvault_put(text, text, bigint, bytea, integer, integer, jsonb, text,
                                     timestamptz, integer, text, bytea, text, bigint, bytea)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credvault_put(text, text, bigint, bytea, integer, integer, jsonb, text,
                                        timestamptz, integer, text, bytea, text, bigint, bytea)
  TO {{writer}};

-- Decrypt role: the envelope of a version (the current one when p_version is NULL) with
-- the org's state and the state of the org key version the row names, in one call. It
-- runs with the caller's rights (row-level security and column grants apply as to any
-- read of the decrypt role); it only sets the org first, which a lone statement cannot.
CREATE FUNCTION credvault_read_envelope(p_org text, p_name text, p_version bigint)
  RETURNS TABLE (m_org_id text, m_name text, m_version bigint, m_org_key_version integer,
                 m_writer_key_version integer, m_labels text, m_created_micros bigint,
                 m_created_by text, m_expires_micros bigint, m_deleted_micros bigint,
                 m_erased boolean, m_current boolean, m_max_versions integer,
                 m_newest_version bigint, m_live_versions bigint, envelope bytea,
                 org_state text, org_key_state text)
  LANGUAGE plpgsql
  SECURITY INVOKER
  SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
BEGIN
  PERFORM set_config('credvault.org_id', p_org, true);
  RETURN QUERY
  SELECT c.org_id::text, c.name::text, c.version, c.org_key_version, c.writer_key_version,
         public.credvault_labels_text(c.labels),
         (extract(epoch FROM c.created_at) * 1000000)::bigint, c.created_by,
         (extract(epoch FROM c.expires_at) * 1000000)::bigint,
         (extract(epoch FROM c.deleted_at) * 1000000)::bigint, c.erased, c.is_current,
         c.max_versions,
         (SELECT max(c2.version) FROM public.credentials c2
           WHERE c2.org_id = c.org_id AND c2.name = c.name),
         (SELECT count(*) FROM public.credentials c3
           WHERE c3.org_id = c.org_id AND c3.name = c.name AND NOT c3.erased
             AND c3.deleted_at IS NULL),
         c.envelope,
         (SELECT o.state FROM public.orgs o WHERE o.org_id = c.org_id)::text,
         (SELECT k.state FROM public.org_keys k
           WHERE k.org_id = c.org_id AND k.version = c.org_key_version)::text
    FROM public.credentials c
   WHERE c.org_id = p_org AND c.name = p_name AND c.deleted_at IS NULL AND NOT c.erased
     AND CASE WHEN p_version IS NULL THEN c.is_current ELSE c.version = p_version END;
END
$fn$;
REVOKE ALL ON FUNCTION credvault_read_envelope(text, text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credvault_read_envelope(text, text, bigint) TO {{decryptor}};

-- Decrypt and admin roles: appends the events of many requests in one transaction (group
-- commit: one WAL flush for all of them). Event i is (p_orgs[i], p_micros[i] (its time in
-- microseconds since the Unix epoch), ...); the
-- events of one org are chained in array order. Callers order the array by org, so that
-- two concurrent batches lock the chain heads in the same order. Returns each event's
-- org and seq, by its index (1-based).
CREATE FUNCTION credvault_audit_append_batch(p_orgs text[], p_micros bigint[],
                                             p_principals text[], p_actions text[],
                                             p_targets text[], p_results text[],
                                             p_request_ids text[], p_details text[])
  RETURNS TABLE (idx integer, org_id text, seq bigint)
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
  v_count integer := coalesce(cardinality(p_orgs), 0);
BEGIN
  IF v_count = 0 OR v_count > 1024
     OR coalesce(cardinality(p_micros), -1) <> v_count
     OR coalesce(cardinality(p_principals), -1) <> v_count
     OR coalesce(cardinality(p_actions), -1) <> v_count
     OR coalesce(cardinality(p_targets), -1) <> v_count
     OR coalesce(cardinality(p_results), -1) <> v_count
     OR coalesce(cardinality(p_request_ids), -1) <> v_count
     OR coalesce(cardinality(p_details), -1) <> v_count THEN
    RAISE EXCEPTION 'an audit batch is 1 to 1024 events with every field given for each'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOR i IN 1 .. v_count LOOP
    idx := i;
    org_id := p_orgs[i];
    seq := (public.credvault_audit_link(p_orgs[i],
                                        'epoch'::timestamptz + p_micros[i] * interval '1 microsecond',
                                        p_principals[i], p_actions[i],
                                        p_targets[i], p_results[i], p_request_ids[i],
                                        p_details[i])).seq;
    RETURN NEXT;
  END LOOP;
END
$fn$;
REVOKE ALL ON FUNCTION credvault_audit_append_batch(text[], bigint[], text[], text[], text[],
                                                    text[], text[], text[])
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credvault_audit_append_batch(text[], bigint[], text[], text[],
                                                       text[], text[], text[], text[])
  TO {{decryptor}}, {{admin}};

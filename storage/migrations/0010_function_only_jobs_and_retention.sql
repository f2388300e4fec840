-- credvault schema, version 10: retention and re-seal jobs through functions only.
--
-- After version 9 the admin role still updated and deleted credential versions and deleted
-- idempotency keys directly (the retention sweep), and the decrypt and admin roles inserted
-- and updated re-seal jobs directly. Those grants go; each statement that needed them is a
-- SECURITY DEFINER function below (owned by the migrating role, fixed search_path, org_id
-- first, the transaction scoped to it) that enforces what the statement means:
--   * retention erases only versions deleted before its cutoff, deletes only erased versions
--     that are not the newest of their credential (the newest stays as a tombstone, so
--     version numbers are never reused), and removes every version only of a DESTROYED org;
--   * it deletes only idempotency keys made before its cutoff;
--   * a re-seal job starts PENDING with nothing done; afterwards its state only moves forward
--     (PENDING -> RUNNING -> SUCCEEDED, FAILED or CANCELLED; a finished job is final) and
--     items_done never decreases. Kind, versions and creator never change.
-- No request role writes credentials, idempotency_keys or reseal_jobs directly any more.

REVOKE INSERT, UPDATE, DELETE ON credentials, idempotency_keys, reseal_jobs
  FROM {{writer}}, {{decryptor}}, {{admin}};

-- Admin role, retention: one batch of the deleted credential versions of p_org, up to
-- p_limit (1..10000) of them in (name, version) order after (p_after_name,
-- p_after_version). The batch is selected and locked here, so a concurrent Put cannot move
-- the current-version marker between erasing and deleting. Each version is crypto-erased
-- if its envelope is still there, then deleted unless it is the newest of its credential.
-- In a DESTROYED org every version goes, whatever the cutoff: its keys are gone and no
-- version will ever be written again. Returns the batch's counts and its last version
-- (NULL when the batch is empty).
CREATE FUNCTION credvault_purge_credential_versions(p_org text, p_cutoff timestamptz,
                                                    p_limit integer, p_after_name text,
                                                    p_after_version bigint)
  RETURNS TABLE (examined_count bigint, erased_count bigint, deleted_count bigint,
                 last_name text, last_version bigint)
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_state text;
  v_row record;
BEGIN
  PERFORM set_config('credvault.org_id', p_org, true);
  IF p_cutoff IS NULL OR isfinite(p_cutoff) IS NOT TRUE THEN
    RAISE EXCEPTION 'retention cutoff must be a finite time' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_limit IS NULL OR p_limit < 1 OR p_limit > 10000 THEN
    RAISE EXCEPTION 'retention batch size must be 1..10000' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT o.state INTO v_state FROM public.orgs o WHERE o.org_id = p_org;
  IF v_state IS NULL THEN
    RAISE EXCEPTION 'org does not exist' USING ERRCODE = 'no_data_found';
  END IF;
  examined_count := 0;
  erased_count := 0;
  deleted_count := 0;
  IF v_state = 'DESTROYED' THEN
    FOR v_row IN
      SELECT c.name, c.version FROM public.credentials c
       WHERE c.org_id = p_org
         AND (c.name, c.version) > (coalesce(p_after_name, ''), coalesce(p_after_version, 0))
       ORDER BY c.name, c.version LIMIT p_limit FOR UPDATE
    LOOP
      examined_count := examined_count + 1;
      last_name := v_row.name;
      last_version := v_row.version;
    END LOOP;
    IF examined_count = 0 THEN
      RETURN NEXT;
      RETURN;
    END IF;
    WITH e AS (
      UPDATE public.credentials c SET envelope = NULL, erased = true,
             deleted_at = coalesce(c.deleted_at, now())
       WHERE c.org_id = p_org AND NOT c.erased
         AND (c.name, c.version) > (coalesce(p_after_name, ''), coalesce(p_after_version, 0))
         AND (c.name, c.version) <= (last_name, last_version)
      RETURNING 1)
    SELECT count(*) INTO erased_count FROM e;
    WITH d AS (
      DELETE FROM public.credentials c
       WHERE c.org_id = p_org
         AND (c.name, c.version) > (coalesce(p_after_name, ''), coalesce(p_after_version, 0))
         AND (c.name, c.version) <= (last_name, last_version)
      RETURNING 1)
    SELECT count(*) INTO deleted_count FROM d;
    RETURN NEXT;
    RETURN;
  END IF;

  -- Erased tombstones of newest versions are left out: nothing is left to do for them.
  FOR v_row IN
    SELECT c.name, c.version FROM public.credentials c
     WHERE c.org_id = p_org AND c.deleted_at IS NOT NULL AND c.deleted_at < p_cutoff
       AND (NOT c.is_current OR NOT c.erased)
       AND (c.name, c.version) > (coalesce(p_after_name, ''), coalesce(p_after_version, 0))
     ORDER BY c.name, c.version LIMIT p_limit FOR UPDATE
  LOOP
    examined_count := examined_count + 1;
    last_name := v_row.name;
    last_version := v_row.version;
  END LOOP;
  IF examined_count = 0 THEN
    RETURN NEXT;
    RETURN;
  END IF;
  -- Erasing first means no version leaves the transaction deleted but still holding an
  -- envelope, and counts what retention itself erased (the rest was erased before).
  WITH e AS (
    UPDATE public.credentials c SET envelope = NULL, erased = true
     WHERE c.org_id = p_org AND c.deleted_at IS NOT NULL AND c.deleted_at < p_cutoff
       AND NOT c.erased
       AND (c.name, c.version) > (coalesce(p_after_name, ''), coalesce(p_after_version, 0))
       AND (c.name, c.version) <= (last_name, last_version)
    RETURNING 1)
  SELECT count(*) INTO erased_count FROM e;
  WITH d AS (
    DELETE FROM public.credentials c
     WHERE c.org_id = p_org AND c.deleted_at IS NOT NULL AND c.deleted_at < p_cutoff
       AND c.erased AND NOT c.is_current
       AND (c.name, c.version) > (coalesce(p_after_name, ''), coalesce(p_after_version, 0))
       AND (c.name, c.version) <= (last_name, last_version)
    RETURNING 1)
  SELECT count(*) INTO deleted_count FROM d;
  RETURN NEXT;
END
$fn$;
REVOKE ALL ON FUNCTION credvault_purge_credential_versions(text, timestamptz, integer, text, bigint)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credvault_purge_credential_versions(text, timestamptz, integer, text, bigint)
  TO {{admin}};

-- Admin role, retention: deletes up to p_limit (1..10000) idempotency keys of p_org made
-- before p_cutoff, oldest first. Returns how many went.
CREATE FUNCTION credvault_purge_idempotency_keys(p_org text, p_cutoff timestamptz,
                                                 p_limit integer)
  RETURNS bigint
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_deleted bigint;
BEGIN
  PERFORM set_config('credvault.org_id', p_org, true);
  IF p_cutoff IS NULL OR isfinite(p_cutoff) IS NOT TRUE THEN
    RAISE EXCEPTION 'retention cutoff must be a finite time' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_limit IS NULL OR p_limit < 1 OR p_limit > 10000 THEN
    RAISE EXCEPTION 'retention batch size must be 1..10000' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  WITH d AS (
    DELETE FROM public.idempotency_keys k
     WHERE k.org_id = p_org AND k.created_at < p_cutoff AND k.idempotency_key IN (
       SELECT o.idempotency_key FROM public.idempotency_keys o
        WHERE o.org_id = p_org AND o.created_at < p_cutoff
        ORDER BY o.created_at LIMIT p_limit)
    RETURNING 1)
  SELECT count(*) INTO v_deleted FROM d;
  RETURN v_deleted;
END
$fn$;
REVOKE ALL ON FUNCTION credvault_purge_idempotency_keys(text, timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credvault_purge_idempotency_keys(text, timestamptz, integer) TO {{admin}};

-- Rotation requests (decrypt and admin roles): a new re-seal job, PENDING with nothing
-- done. An org key job names an ACTIVE org; a root key job belongs to `_system` (the table
-- checks that pairing, the versions, and that an org has one unfinished job at most).
CREATE FUNCTION credvault_create_reseal_job(p_org text, p_job_id text, p_kind text,
                                            p_from_version integer, p_to_version integer,
                                            p_items_total bigint, p_created_by text,
                                            p_idempotency_key text, p_request_hash bytea)
  RETURNS SETOF reseal_jobs
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  PERFORM set_config('credvault.org_id', p_org, true);
  IF p_kind = 'ORG_KEY' AND NOT EXISTS (
      SELECT 1 FROM public.orgs o WHERE o.org_id = p_org AND o.state = 'ACTIVE') THEN
    RAISE EXCEPTION 'org % is not active', p_org USING ERRCODE = 'raise_exception';
  END IF;
  RETURN QUERY
  INSERT INTO public.reseal_jobs (org_id, job_id, kind, from_version, to_version, state,
                                  items_done, items_total, created_by, idempotency_key,
                                  request_hash)
  VALUES (p_org, p_job_id, p_kind, p_from_version, p_to_version, 'PENDING', 0, p_items_total,
          p_created_by, p_idempotency_key, p_request_hash)
  RETURNING *;
END
$fn$;
REVOKE ALL ON FUNCTION credvault_create_reseal_job(text, text, text, integer, integer, bigint, text, text, bytea)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credvault_create_reseal_job(text, text, text, integer, integer, bigint, text, text, bytea)
  TO {{decryptor}}, {{admin}};

-- The re-seal worker (decrypt role) claims p_org's unfinished job, locked for its
-- transaction; nothing when there is none or another worker holds it (SKIP LOCKED), so two
-- workers never run the same batch. The row lock needs no UPDATE privilege on the table.
CREATE FUNCTION credvault_claim_reseal_job(p_org text)
  RETURNS SETOF reseal_jobs
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  PERFORM set_config('credvault.org_id', p_org, true);
  RETURN QUERY
  SELECT * FROM public.reseal_jobs j
   WHERE j.org_id = p_org AND j.state IN ('PENDING', 'RUNNING')
   FOR UPDATE SKIP LOCKED;
END
$fn$;
REVOKE ALL ON FUNCTION credvault_claim_reseal_job(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credvault_claim_reseal_job(text) TO {{decryptor}}, {{admin}};

-- Decrypt and admin roles: stores a job's progress (state, items, cursor, last error) and
-- stamps updated_at, and ended_at when the state is final. The state only moves forward,
-- a finished job is final, and items_done never decreases. The cursor may go back (a job
-- that finds versions behind it goes round once more). False when there is no such job.
CREATE FUNCTION credvault_update_reseal_job(p_org text, p_job_id text, p_state text,
                                            p_items_done bigint, p_items_total bigint,
                                            p_cursor_key text, p_cursor_version bigint,
                                            p_last_error text)
  RETURNS boolean
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_old public.reseal_jobs;
  v_rank_old integer;
  v_rank_new integer;
  -- The three final states share one rank: none follows another.
  c_ranks CONSTANT text[] := ARRAY['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'];
BEGIN
  PERFORM set_config('credvault.org_id', p_org, true);
  v_rank_new := least(array_position(c_ranks, p_state), 3);
  IF v_rank_new IS NULL THEN
    RAISE EXCEPTION 'unknown re-seal job state' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT * INTO v_old FROM public.reseal_jobs j
   WHERE j.org_id = p_org AND j.job_id = p_job_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  v_rank_old := least(array_position(c_ranks, v_old.state), 3);
  IF v_rank_old = 3 THEN
    RAISE EXCEPTION 're-seal job % is finished (%)', p_job_id, v_old.state
      USING ERRCODE = 'raise_exception';
  END IF;
  IF v_rank_new < v_rank_old THEN
    RAISE EXCEPTION 're-seal job % may not move back from % to %', p_job_id, v_old.state,
      p_state USING ERRCODE = 'raise_exception';
  END IF;
  IF p_items_done IS NULL OR p_items_done < v_old.items_done THEN
    RAISE EXCEPTION 're-seal job % may not lose progress', p_job_id
      USING ERRCODE = 'raise_exception';
  END IF;
  UPDATE public.reseal_jobs
     SET state = p_state, items_done = p_items_done, items_total = p_items_total,
         cursor_key = p_cursor_key, cursor_version = p_cursor_version,
         last_error = coalesce(p_last_error, ''), updated_at = now(),
         ended_at = CASE WHEN v_rank_new = 3 THEN now() END
   WHERE org_id = p_org AND job_id = p_job_id;
  RETURN true;
END
$fn$;
REVOKE ALL ON FUNCTION credvault_update_reseal_job(text, text, text, bigint, bigint, text, bigint, text)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credvault_update_reseal_job(text, text, text, bigint, bigint, text, bigint, text)
  TO {{decryptor}}, {{admin}};

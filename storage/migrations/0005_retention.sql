-- credvault schema, version 5: retention.
--
-- The retention sweep (decrypt tier, admin role) purges what is past its retention window:
-- credential versions deleted or erased long enough ago, idempotency keys, and audit
-- events (leaving a checkpoint). It works one org at a time, in bounded batches, each in a
-- transaction scoped to the org by row-level security like every other.

-- The audit chain directory: the id of every audit chain. Chains exist for orgs, for the
-- reserved `_system` chain and for org ids named by denied requests that no org has. The
-- org directory lists only the first kind and audit_heads is tenant-scoped, so without this
-- list the sweep could not find the others, and their events would outlive the retention
-- window. It holds ids only, is filled by a trigger on audit_heads, and is readable by the
-- admin role only.
CREATE TABLE audit_chain_directory (
  org_id text COLLATE "C" PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION audit_chain_directory_add() RETURNS trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  INSERT INTO public.audit_chain_directory (org_id)
  VALUES (NEW.org_id)
  ON CONFLICT (org_id) DO NOTHING;
  RETURN NEW;
END
$fn$;
REVOKE ALL ON FUNCTION audit_chain_directory_add() FROM PUBLIC;

CREATE TRIGGER audit_heads_directory
  AFTER INSERT ON audit_heads
  FOR EACH ROW EXECUTE FUNCTION audit_chain_directory_add();

-- Existing chains: row-level security is forced on the owner too, so lift it for the
-- backfill alone, inside this migration's transaction.
ALTER TABLE audit_heads NO FORCE ROW LEVEL SECURITY;
INSERT INTO audit_chain_directory (org_id) SELECT org_id FROM audit_heads;
ALTER TABLE audit_heads FORCE ROW LEVEL SECURITY;

GRANT SELECT ON audit_chain_directory TO {{admin}};

-- The purge below also deletes the checkpoints that only covered purged events (periodic
-- signed checkpoints would otherwise pile up forever); the append-only trigger lets that
-- through under the same conditions as the purge of events: from a definer function of
-- the owner that has raised credvault.audit_purge.
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  IF TG_OP = 'DELETE' AND TG_TABLE_NAME IN ('audit_events', 'audit_checkpoints')
     AND current_setting('credvault.audit_purge', true) = 'on'
     AND current_user = (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = TG_RELID)
     AND session_user <> current_user
  THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$fn$;

-- As audit_purge_before(p_before), but never beyond event p_through_seq, so that the sweep
-- purges a long chain in batches of the size it chooses. The caller may record (and sign)
-- the checkpoint at the last purged event first; an existing checkpoint there is kept, and
-- the checkpoints before it, which vouch only for purged events, go with those events.
CREATE FUNCTION audit_purge_before(p_before timestamptz, p_through_seq bigint) RETURNS bigint
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_org text := current_setting('credvault.org_id', true);
  v_seq bigint;
  v_hash bytea;
  v_deleted bigint;
BEGIN
  IF v_org IS NULL OR v_org = '' THEN
    RAISE EXCEPTION 'audit_purge_before needs credvault.org_id' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT e.seq, e.hash INTO v_seq, v_hash
    FROM public.audit_events e
   WHERE e.org_id = v_org AND e.event_time < p_before AND e.seq <= p_through_seq
   ORDER BY e.seq DESC
   LIMIT 1;
  IF v_seq IS NULL THEN
    RETURN 0;
  END IF;
  INSERT INTO public.audit_checkpoints (org_id, seq, head_hash)
  VALUES (v_org, v_seq, v_hash)
  ON CONFLICT (org_id, seq) DO NOTHING;
  PERFORM set_config('credvault.audit_purge', 'on', true);
  DELETE FROM public.audit_events WHERE org_id = v_org AND seq <= v_seq;
  GET DIAGNOSTICS v_deleted = ROW_COUNT;
  DELETE FROM public.audit_checkpoints WHERE org_id = v_org AND seq < v_seq;
  PERFORM set_config('credvault.audit_purge', 'off', true);
  RETURN v_deleted;
END
$fn$;
REVOKE ALL ON FUNCTION audit_purge_before(timestamptz, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_purge_before(timestamptz, bigint) TO {{admin}};

-- Credential versions past retention: the sweep crypto-erases what still has an envelope,
-- then deletes the rows (except the newest version of a credential, which stays as an
-- erased tombstone so that version numbers are never reused). The admin role still reads
-- no envelope: these are write-only columns for it.
GRANT UPDATE (envelope, fingerprint, erased, deleted_at), DELETE ON credentials TO {{admin}};
-- Only rows that are deleted or erased are candidates: the sweep walks them in key order.
CREATE INDEX credentials_deleted ON credentials (org_id, name, version)
  WHERE deleted_at IS NOT NULL;

-- Idempotency keys expire after idempotency.retention. The admin role sees when each was
-- made, never the request MAC or the credential it names.
GRANT SELECT (org_id, idempotency_key, created_at), DELETE ON idempotency_keys TO {{admin}};
CREATE INDEX idempotency_keys_created ON idempotency_keys (org_id, created_at);

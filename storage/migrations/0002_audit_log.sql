-- credvault schema, version 2: the append-only, hash-chained audit log.
--
-- Each org has its own chain: event n stores hash(n) = H(hash(n-1), event n) (computed by
-- the service, see crypto/audit_chain.h) and prev_hash = hash(n-1). Appenders lock the
-- org's audit_heads row (SELECT ... FOR UPDATE), so sequence numbers stay gapless and the
-- chain linear however many connections and processes append at once.
-- Audit events are not foreign keys of orgs: a denied request may name an org that does
-- not exist, and it is audited too.

CREATE TABLE audit_heads (
  org_id text COLLATE "C" PRIMARY KEY,
  seq bigint NOT NULL CHECK (seq >= 0),
  hash bytea NOT NULL CHECK (length(hash) = 32)
);

CREATE TABLE audit_events (
  org_id text COLLATE "C" NOT NULL,
  seq bigint NOT NULL CHECK (seq > 0),
  event_time timestamptz NOT NULL,
  principal text NOT NULL,
  action text NOT NULL,
  target text NOT NULL,
  result text NOT NULL,
  request_id text NOT NULL,
  details text NOT NULL,
  prev_hash bytea NOT NULL CHECK (length(prev_hash) = 32),
  hash bytea NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (org_id, seq)
);

-- A checkpoint records the chain head at seq, so that the chain still verifies after the
-- events up to seq are purged. The signature is optional (made by a signing key outside
-- the database).
CREATE TABLE audit_checkpoints (
  org_id text COLLATE "C" NOT NULL,
  seq bigint NOT NULL CHECK (seq > 0),
  head_hash bytea NOT NULL CHECK (length(head_hash) = 32),
  created_at timestamptz NOT NULL DEFAULT now(),
  signature bytea,
  signing_key_id text,
  PRIMARY KEY (org_id, seq),
  CHECK ((signature IS NULL) = (signing_key_id IS NULL))
);

ALTER TABLE audit_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON audit_heads
  USING (org_id = current_setting('credvault.org_id', true))
  WITH CHECK (org_id = current_setting('credvault.org_id', true));

ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON audit_events
  USING (org_id = current_setting('credvault.org_id', true))
  WITH CHECK (org_id = current_setting('credvault.org_id', true));

ALTER TABLE audit_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_checkpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON audit_checkpoints
  USING (org_id = current_setting('credvault.org_id', true))
  WITH CHECK (org_id = current_setting('credvault.org_id', true));

-- UPDATE, DELETE and TRUNCATE are refused for everyone, the owner included, except a
-- DELETE of audit_events made by audit_purge_before() below: that function runs as the
-- table owner (SECURITY DEFINER) on behalf of another session user, and sets
-- credvault.audit_purge first. Any session can set the flag, so it opens nothing alone:
-- an application role is not the owner, and the owner's own session has
-- session_user = current_user, which only a definer function called by someone else
-- changes. (The owner could still disable the trigger; it never serves requests.)
CREATE FUNCTION audit_refuse_change() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_events'
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

CREATE TRIGGER audit_events_append_only
  BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_events_no_truncate
  BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_append_only
  BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoints_no_truncate
  BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

-- Retention purge for the org of the current transaction: records a checkpoint at the
-- newest purged event, then deletes the events older than p_before. Row-level security
-- still applies (it is FORCED on the owner too), so only the current org is touched.
-- Returns the number of events deleted.
CREATE FUNCTION audit_purge_before(p_before timestamptz) RETURNS bigint
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
   WHERE e.org_id = v_org AND e.event_time < p_before
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
  PERFORM set_config('credvault.audit_purge', 'off', true);
  RETURN v_deleted;
END
$fn$;
REVOKE ALL ON FUNCTION audit_purge_before(timestamptz) FROM PUBLIC;

-- Appending needs INSERT on events and the head row; nothing else.
GRANT SELECT, INSERT, UPDATE ON audit_heads TO {{writer}}, {{decryptor}}, {{admin}};
GRANT SELECT, INSERT ON audit_events TO {{writer}}, {{decryptor}}, {{admin}};
GRANT SELECT, INSERT ON audit_checkpoints TO {{writer}}, {{decryptor}}, {{admin}};
GRANT EXECUTE ON FUNCTION audit_purge_before(timestamptz) TO {{admin}};

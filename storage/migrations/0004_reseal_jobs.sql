-- credvault schema, version 4: key rotation (re-seal jobs) and the org directory.
--
-- Re-seal jobs move what is sealed to an old key version onto a new one in bounded,
-- resumable batches: the data keys of one org (org key rotation), or the org private keys
-- of every org (root key rotation, recorded under the reserved org id `_system`).

-- The org directory: the ids of every org, with no tenant data. Row-level security keeps a
-- transaction inside one org, so work that must visit every org (root key re-seal,
-- retention) needs a list of org ids that is not itself tenant-scoped. It is filled by a
-- trigger on orgs and readable by the decrypt and admin roles only, never the write role.
CREATE TABLE org_directory (
  org_id text COLLATE "C" PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION org_directory_add() RETURNS trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  INSERT INTO public.org_directory (org_id, created_at)
  VALUES (NEW.org_id, NEW.created_at)
  ON CONFLICT (org_id) DO NOTHING;
  RETURN NEW;
END
$fn$;
REVOKE ALL ON FUNCTION org_directory_add() FROM PUBLIC;

CREATE TRIGGER orgs_directory
  AFTER INSERT ON orgs
  FOR EACH ROW EXECUTE FUNCTION org_directory_add();

-- Existing orgs: row-level security is forced on the owner too, so lift it for the
-- backfill alone, inside this migration's transaction.
ALTER TABLE orgs NO FORCE ROW LEVEL SECURITY;
INSERT INTO org_directory (org_id, created_at) SELECT org_id, created_at FROM orgs;
ALTER TABLE orgs FORCE ROW LEVEL SECURITY;

GRANT SELECT ON org_directory TO {{decryptor}}, {{admin}};

-- When an org key stopped being ACTIVE, and when its private half was destroyed (a whole
-- org's by DestroyOrg, or one RETIRED version's on request).
ALTER TABLE org_keys ADD COLUMN retired_at timestamptz;
ALTER TABLE org_keys ADD COLUMN destroyed_at timestamptz;
GRANT SELECT (retired_at, destroyed_at) ON org_keys TO {{writer}}, {{admin}};
GRANT UPDATE (retired_at, destroyed_at) ON org_keys TO {{admin}};

CREATE TABLE reseal_jobs (
  -- The org whose keys are re-sealed, or `_system` for a root key job.
  org_id text COLLATE "C" NOT NULL,
  job_id text COLLATE "C" NOT NULL CHECK (job_id ~ '^[A-Za-z0-9_-]{1,64}$'),
  kind text NOT NULL CHECK (kind IN ('ORG_KEY', 'ROOT_KEY')),
  from_version integer NOT NULL CHECK (from_version > 0),
  to_version integer NOT NULL CHECK (to_version > from_version),
  state text NOT NULL CHECK (state IN ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
  items_done bigint NOT NULL DEFAULT 0 CHECK (items_done >= 0),
  items_total bigint NOT NULL DEFAULT 0 CHECK (items_total >= 0),
  -- Resume point: everything up to it is done. Org key jobs: the last (name, version);
  -- root key jobs: the last org id.
  cursor_key text COLLATE "C",
  cursor_version bigint,
  -- The rotation request that made the job, so that a retried rotation finds it.
  idempotency_key text COLLATE "C",
  request_hash bytea CHECK (length(request_hash) = 32),
  created_by text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  ended_at timestamptz,
  last_error text NOT NULL DEFAULT '',
  PRIMARY KEY (org_id, job_id),
  CHECK ((kind = 'ROOT_KEY') = (org_id = '_system')),
  CHECK ((state IN ('SUCCEEDED', 'FAILED', 'CANCELLED')) = (ended_at IS NOT NULL)),
  CHECK ((idempotency_key IS NULL) = (request_hash IS NULL))
);
-- One unfinished job per org (and one root key job at a time).
CREATE UNIQUE INDEX reseal_jobs_one_open ON reseal_jobs (org_id)
  WHERE state IN ('PENDING', 'RUNNING');
CREATE UNIQUE INDEX reseal_jobs_idempotency ON reseal_jobs (org_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
-- Newest first listing.
CREATE INDEX reseal_jobs_by_start ON reseal_jobs (org_id, started_at DESC, job_id DESC);

ALTER TABLE reseal_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE reseal_jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON reseal_jobs
  USING (org_id = current_setting('credvault.org_id', true))
  WITH CHECK (org_id = current_setting('credvault.org_id', true));

-- The orgs that have an unfinished job, which is all the decrypt tier's re-seal worker
-- polls (ids only, like org_directory). Kept by a trigger, so it cannot drift.
CREATE TABLE open_reseal_jobs (
  org_id text COLLATE "C" PRIMARY KEY
);

CREATE FUNCTION open_reseal_jobs_track() RETURNS trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  IF NEW.state IN ('PENDING', 'RUNNING') THEN
    INSERT INTO public.open_reseal_jobs (org_id) VALUES (NEW.org_id)
    ON CONFLICT (org_id) DO NOTHING;
  ELSE
    DELETE FROM public.open_reseal_jobs WHERE org_id = NEW.org_id;
  END IF;
  RETURN NEW;
END
$fn$;
REVOKE ALL ON FUNCTION open_reseal_jobs_track() FROM PUBLIC;

CREATE TRIGGER reseal_jobs_track_open
  AFTER INSERT OR UPDATE OF state ON reseal_jobs
  FOR EACH ROW EXECUTE FUNCTION open_reseal_jobs_track();

GRANT SELECT ON open_reseal_jobs TO {{decryptor}}, {{admin}};

-- Rotation requests (admin and decrypt roles) make jobs; the decrypt tier's worker runs
-- them and, when an org key job finishes, retires the old org key.
GRANT SELECT, INSERT,
      UPDATE (state, items_done, items_total, cursor_key, cursor_version, updated_at,
              ended_at, last_error)
  ON reseal_jobs TO {{decryptor}}, {{admin}};
GRANT UPDATE (state) ON org_keys TO {{decryptor}};

-- credvault schema, version 1: orgs, keys, credentials, idempotency keys.
--
-- Placeholders {{writer}}, {{decryptor}} and {{admin}} are replaced by the migrator with
-- the quoted names of the application roles (they are configurable so that several
-- deployments, or tests, can share one PostgreSQL cluster). Everything else is plain SQL.
--
-- Tenant isolation: every table that holds tenant data has org_id, and row-level security
-- is ENABLED and FORCED on it with a policy comparing org_id to the transaction-local
-- setting credvault.org_id. The storage layer sets that setting at the start of every
-- transaction; a statement that forgets its WHERE org_id = ... still sees one org only.

-- Root key pairs (X25519). Not tenant data: one set per deployment.
CREATE TABLE root_keys (
  version integer PRIMARY KEY CHECK (version > 0),
  public_key bytea NOT NULL CHECK (length(public_key) = 32),
  -- The private half wrapped by the seal key provider; only the decrypt tier reads it.
  sealed_private_key bytea NOT NULL,
  seal_key_id text NOT NULL,
  state text NOT NULL CHECK (state IN ('ACTIVE', 'RETIRING', 'RETIRED')),
  created_at timestamptz NOT NULL DEFAULT now()
);
-- At most one root key that new org keys are sealed to.
CREATE UNIQUE INDEX root_keys_one_active ON root_keys ((true)) WHERE state = 'ACTIVE';

CREATE TABLE orgs (
  -- Byte-wise collation: identifiers compare the same everywhere.
  org_id text COLLATE "C" PRIMARY KEY,
  state text NOT NULL CHECK (state IN ('ACTIVE', 'DESTROYED')),
  created_at timestamptz NOT NULL DEFAULT now(),
  destroyed_at timestamptz,
  CHECK ((state = 'DESTROYED') = (destroyed_at IS NOT NULL))
);

CREATE TABLE org_keys (
  org_id text COLLATE "C" NOT NULL REFERENCES orgs (org_id),
  version integer NOT NULL CHECK (version > 0),
  public_key bytea NOT NULL CHECK (length(public_key) = 32),
  -- crypto_box_seal of the private half to the root public key; NULL once destroyed
  -- (crypto-shredding: every ciphertext of the org becomes unrecoverable).
  sealed_private_key bytea,
  root_key_version integer NOT NULL REFERENCES root_keys (version),
  -- Authenticator over (org id, version, public key, root key version) made with the
  -- writer authentication key of this version; the write tier checks it before sealing.
  writer_key_version integer NOT NULL CHECK (writer_key_version > 0),
  authenticator bytea NOT NULL CHECK (length(authenticator) = 32),
  state text NOT NULL CHECK (state IN ('ACTIVE', 'RETIRING', 'RETIRED', 'DESTROYED')),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, version),
  CHECK ((state = 'DESTROYED') = (sealed_private_key IS NULL))
);
-- New secrets of an org are sealed to exactly one key.
CREATE UNIQUE INDEX org_keys_one_active ON org_keys (org_id) WHERE state = 'ACTIVE';

-- One row per credential version.
CREATE TABLE credentials (
  org_id text COLLATE "C" NOT NULL REFERENCES orgs (org_id),
  name text COLLATE "C" NOT NULL CHECK (name <> ''),
  version bigint NOT NULL CHECK (version > 0),
  -- The sealed envelope; NULL after crypto-erase. The write role cannot SELECT it.
  envelope bytea,
  org_key_version integer NOT NULL,
  writer_key_version integer NOT NULL CHECK (writer_key_version > 0),
  -- Keyed hash of the secret (change detection without decrypting); cleared on erase.
  fingerprint bytea,
  fingerprint_key_version integer NOT NULL CHECK (fingerprint_key_version > 0),
  labels jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object'),
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL,
  expires_at timestamptz,
  deleted_at timestamptz,
  erased boolean NOT NULL DEFAULT false,
  is_current boolean NOT NULL,
  PRIMARY KEY (org_id, name, version),
  FOREIGN KEY (org_id, org_key_version) REFERENCES org_keys (org_id, version),
  CHECK (erased = (envelope IS NULL)),
  CHECK (NOT erased OR (fingerprint IS NULL AND deleted_at IS NOT NULL))
);
-- The current-version marker, and the index behind Describe and List (keyset on name).
CREATE UNIQUE INDEX credentials_current ON credentials (org_id, name) WHERE is_current;

-- Idempotency keys of PutCredential: a retried Put returns the version it made before.
CREATE TABLE idempotency_keys (
  org_id text COLLATE "C" NOT NULL REFERENCES orgs (org_id),
  idempotency_key text COLLATE "C" NOT NULL,
  request_hash bytea NOT NULL CHECK (length(request_hash) = 32),
  credential_name text COLLATE "C" NOT NULL,
  result_version bigint NOT NULL CHECK (result_version > 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, idempotency_key)
);

ALTER TABLE orgs ENABLE ROW LEVEL SECURITY;
ALTER TABLE orgs FORCE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON orgs
  USING (org_id = current_setting('credvault.org_id', true))
  WITH CHECK (org_id = current_setting('credvault.org_id', true));

ALTER TABLE org_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE org_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON org_keys
  USING (org_id = current_setting('credvault.org_id', true))
  WITH CHECK (org_id = current_setting('credvault.org_id', true));

ALTER TABLE credentials ENABLE ROW LEVEL SECURITY;
ALTER TABLE credentials FORCE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON credentials
  USING (org_id = current_setting('credvault.org_id', true))
  WITH CHECK (org_id = current_setting('credvault.org_id', true));

ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON idempotency_keys
  USING (org_id = current_setting('credvault.org_id', true))
  WITH CHECK (org_id = current_setting('credvault.org_id', true));

-- Write role: provisions orgs (first org key included), puts and deletes credentials.
-- Column grants: it never reads an envelope or a sealed private half.
GRANT SELECT (version, public_key, state, created_at) ON root_keys TO {{writer}};
GRANT SELECT, INSERT ON orgs TO {{writer}};
GRANT SELECT (org_id, version, public_key, root_key_version, writer_key_version,
              authenticator, state, created_at),
      INSERT ON org_keys TO {{writer}};
GRANT SELECT (org_id, name, version, org_key_version, writer_key_version, fingerprint,
              fingerprint_key_version, labels, created_at, created_by, expires_at,
              deleted_at, erased, is_current),
      INSERT,
      UPDATE (is_current, deleted_at, envelope, fingerprint, erased)
  ON credentials TO {{writer}};
GRANT SELECT, INSERT ON idempotency_keys TO {{writer}};

-- Decrypt role: reads envelopes and sealed private halves, re-seals (rotation).
GRANT SELECT, INSERT, UPDATE (state) ON root_keys TO {{decryptor}};
GRANT SELECT ON orgs TO {{decryptor}};
GRANT SELECT, UPDATE (sealed_private_key, root_key_version, writer_key_version, authenticator)
  ON org_keys TO {{decryptor}};
GRANT SELECT, UPDATE (envelope, org_key_version, writer_key_version) ON credentials
  TO {{decryptor}};

-- Admin role: org lifecycle (describe, key rotation, destroy). No envelope, no sealed half.
GRANT SELECT (version, public_key, state, created_at) ON root_keys TO {{admin}};
GRANT SELECT, INSERT, UPDATE (state, destroyed_at) ON orgs TO {{admin}};
GRANT SELECT (org_id, version, public_key, root_key_version, writer_key_version,
              authenticator, state, created_at),
      INSERT,
      UPDATE (state, sealed_private_key)
  ON org_keys TO {{admin}};
GRANT SELECT (org_id, name, version, org_key_version, writer_key_version, fingerprint,
              fingerprint_key_version, labels, created_at, created_by, expires_at,
              deleted_at, erased, is_current)
  ON credentials TO {{admin}};

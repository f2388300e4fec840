-- credvault schema, version 9: org key records signed by the key directory key, and an
-- org key state machine only the key authority's functions can move.
--
-- Each org key record (org, version, public key, root key version, state) carries an
-- Ed25519 signature by the key directory signing key, which only the key authority (the
-- decrypt tier) holds (docs/crypto.md). The write tier pins the public halves and seals
-- only to an ACTIVE record whose signature verifies: whoever can write the database can no
-- longer redirect new secrets to a key of their own, with or without the writer key.
-- Records made before this version keep their writer authenticator until the key
-- authority signs them (it checks that authenticator and that the private half opens and
-- matches first).
ALTER TABLE org_keys ALTER COLUMN writer_key_version DROP NOT NULL;
ALTER TABLE org_keys ALTER COLUMN authenticator DROP NOT NULL;
ALTER TABLE org_keys ADD COLUMN directory_key_version integer CHECK (directory_key_version > 0);
ALTER TABLE org_keys ADD COLUMN signature bytea CHECK (length(signature) = 64);
ALTER TABLE org_keys ADD CHECK ((directory_key_version IS NULL) = (signature IS NULL));
-- Only the records that exist now may be unsigned: the key authority signs an unsigned
-- record only if this flag says it predates signing, so a row planted later without a
-- signature (even with a valid writer authenticator) is never signed.
ALTER TABLE org_keys ADD COLUMN made_before_signing boolean NOT NULL DEFAULT false;
ALTER TABLE org_keys NO FORCE ROW LEVEL SECURITY;
UPDATE org_keys SET made_before_signing = true;
ALTER TABLE org_keys FORCE ROW LEVEL SECURITY;
ALTER TABLE org_keys ADD CHECK (signature IS NOT NULL OR made_before_signing);
ALTER TABLE org_keys ADD CHECK (signature IS NOT NULL OR authenticator IS NOT NULL);
GRANT SELECT (made_before_signing) ON org_keys TO {{writer}}, {{decryptor}}, {{admin}};
GRANT SELECT (directory_key_version, signature) ON org_keys TO {{writer}}, {{decryptor}}, {{admin}};

-- No request role writes orgs or org keys directly any more.
REVOKE INSERT, UPDATE, DELETE ON orgs, org_keys FROM {{writer}}, {{decryptor}}, {{admin}};

-- Key authority (decrypt and admin roles): creates an org. Its first key follows through
-- credvault_store_org_key in the same transaction.
CREATE FUNCTION credvault_create_org(p_org text) RETURNS void
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  PERFORM set_config('credvault.org_id', p_org, true);
  INSERT INTO public.orgs (org_id, state) VALUES (p_org, 'ACTIVE');
END
$fn$;
REVOKE ALL ON FUNCTION credvault_create_org(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credvault_create_org(text) TO {{decryptor}}, {{admin}};

-- Key authority: stores an org key record it signed. A new version must be the next one,
-- start ACTIVE and carry its sealed private half (at most one ACTIVE per org, by index).
-- An existing version keeps its public key, moves its state only forward (ACTIVE ->
-- RETIRING -> RETIRED -> DESTROYED), loses its sealed private half exactly when it becomes
-- DESTROYED, and otherwise changes its sealed half only together with its root key version
-- (root key re-seal). Destroyed orgs take no new keys.
CREATE FUNCTION credvault_store_org_key(p_org text, p_version integer, p_public_key bytea,
                                        p_sealed_private_key bytea, p_root_key_version integer,
                                        p_state text, p_directory_key_version integer,
                                        p_signature bytea)
  RETURNS void
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_old public.org_keys;
  v_max integer;
  v_org_state text;
  v_rank_old integer;
  v_rank_new integer;
BEGIN
  PERFORM set_config('credvault.org_id', p_org, true);
  IF p_directory_key_version IS NULL OR p_signature IS NULL THEN
    RAISE EXCEPTION 'org key records must be signed' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  v_rank_new := array_position(ARRAY['ACTIVE', 'RETIRING', 'RETIRED', 'DESTROYED'], p_state);
  IF v_rank_new IS NULL THEN
    RAISE EXCEPTION 'unknown org key state' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT * INTO v_old FROM public.org_keys k
   WHERE k.org_id = p_org AND k.version = p_version FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    SELECT o.state INTO v_org_state FROM public.orgs o WHERE o.org_id = p_org;
    IF v_org_state IS DISTINCT FROM 'ACTIVE' THEN
      RAISE EXCEPTION 'org % is not active', p_org USING ERRCODE = 'raise_exception';
    END IF;
    SELECT coalesce(max(k.version), 0) INTO v_max FROM public.org_keys k WHERE k.org_id = p_org;
    IF p_version <> v_max + 1 OR p_state <> 'ACTIVE' OR p_sealed_private_key IS NULL THEN
      RAISE EXCEPTION 'a new org key must be the next version, ACTIVE and sealed'
        USING ERRCODE = 'raise_exception';
    END IF;
    INSERT INTO public.org_keys (org_id, version, public_key, sealed_private_key,
                                 root_key_version, state, directory_key_version, signature)
    VALUES (p_org, p_version, p_public_key, p_sealed_private_key, p_root_key_version, p_state,
            p_directory_key_version, p_signature);
    RETURN;
  END IF;
  v_rank_old := array_position(ARRAY['ACTIVE', 'RETIRING', 'RETIRED', 'DESTROYED'], v_old.state);
  IF v_old.public_key <> p_public_key OR v_rank_new < v_rank_old THEN
    RAISE EXCEPTION 'org key % may not change its public key or move back to %', p_version,
      p_state USING ERRCODE = 'raise_exception';
  END IF;
  -- A NULL sealed half keeps the stored one (a state change; the admin role cannot even
  -- read it), except that a DESTROYED key always loses it. A new sealed half comes with a
  -- new root key version (root key re-seal).
  IF p_state <> 'DESTROYED' AND p_sealed_private_key IS NULL
     AND p_root_key_version <> v_old.root_key_version THEN
    RAISE EXCEPTION 'a re-sealed org key carries its new sealed half'
      USING ERRCODE = 'raise_exception';
  END IF;
  IF p_state <> 'DESTROYED' AND p_sealed_private_key IS NOT NULL
     AND p_sealed_private_key <> v_old.sealed_private_key
     AND p_root_key_version = v_old.root_key_version THEN
    RAISE EXCEPTION 'a re-sealed org key names its new root key'
      USING ERRCODE = 'raise_exception';
  END IF;
  IF v_old.state = 'DESTROYED' AND p_state = 'DESTROYED' AND p_root_key_version <> v_old.root_key_version THEN
    RAISE EXCEPTION 'a destroyed org key is not re-sealed' USING ERRCODE = 'raise_exception';
  END IF;
  UPDATE public.org_keys
     SET sealed_private_key = CASE WHEN p_state = 'DESTROYED' THEN NULL
                                   ELSE coalesce(p_sealed_private_key, sealed_private_key) END,
         root_key_version = p_root_key_version,
         state = p_state,
         directory_key_version = p_directory_key_version,
         signature = p_signature,
         retired_at = CASE WHEN p_state <> 'ACTIVE' THEN coalesce(retired_at, now()) END,
         destroyed_at = CASE WHEN p_state = 'DESTROYED' THEN coalesce(destroyed_at, now()) END
   WHERE org_id = p_org AND version = p_version;
END
$fn$;
REVOKE ALL ON FUNCTION credvault_store_org_key(text, integer, bytea, bytea, integer, text, integer, bytea)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credvault_store_org_key(text, integer, bytea, bytea, integer, text, integer, bytea)
  TO {{decryptor}}, {{admin}};

-- Admin role, crypto-shredding: the org becomes DESTROYED once every key of it is (each
-- destroyed through credvault_store_org_key, signed again).
CREATE FUNCTION credvault_mark_org_destroyed(p_org text) RETURNS void
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  PERFORM set_config('credvault.org_id', p_org, true);
  IF EXISTS (SELECT 1 FROM public.org_keys k WHERE k.org_id = p_org AND k.state <> 'DESTROYED')
  THEN
    RAISE EXCEPTION 'destroy every org key first' USING ERRCODE = 'raise_exception';
  END IF;
  UPDATE public.orgs SET state = 'DESTROYED', destroyed_at = coalesce(destroyed_at, now())
   WHERE org_id = p_org;
END
$fn$;
REVOKE ALL ON FUNCTION credvault_mark_org_destroyed(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credvault_mark_org_destroyed(text) TO {{admin}};

-- The key authority locks an org row (ordering rotations and destruction) without UPDATE
-- privilege on it. NULL when the org does not exist.
CREATE FUNCTION credvault_lock_org(p_org text) RETURNS text
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_state text;
BEGIN
  PERFORM set_config('credvault.org_id', p_org, true);
  SELECT o.state INTO v_state FROM public.orgs o WHERE o.org_id = p_org FOR UPDATE;
  RETURN v_state;
END
$fn$;
REVOKE ALL ON FUNCTION credvault_lock_org(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION credvault_lock_org(text) TO {{decryptor}}, {{admin}};

-- Seal key rotation (`credvaultd rewrap-root-keys`): the decrypt tier re-wraps each root
-- private key under the new seal key. Only the wrapped private half and the id of the
-- seal key that wrapped it may change; version, public half and state stay as they are.
GRANT UPDATE (sealed_private_key, seal_key_id) ON root_keys TO {{decryptor}};

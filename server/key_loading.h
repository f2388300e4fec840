#ifndef CREDVAULT_SERVER_KEY_LOADING_H_
#define CREDVAULT_SERVER_KEY_LOADING_H_

#include <memory>

#include "absl/status/statusor.h"
#include "crypto/seal_key_provider.h"
#include "crypto/writer_key_ring.h"
#include "server/config/config.h"
#include "server/decrypt_tier_keys.h"
#include "server/write_tier_keys.h"
#include "storage/pool.h"

namespace credvault::server {

// Reads the writer key files named by keys.writer_keys.
absl::StatusOr<crypto::WriterKeyRing> LoadWriterKeys(const KeysConfig& keys);

// The seal key provider named by keys.seal_key.
absl::StatusOr<std::unique_ptr<crypto::SealKeyProvider>> OpenSealKey(const KeysConfig& keys);

// Write tier: writer keys and root key pins. Nothing that decrypts.
absl::StatusOr<WriteTierKeys> LoadWriteTierKeys(const KeysConfig& keys);

// Decrypt tier: seal key, writer keys, and every root key in the database unwrapped with
// the seal key (through `decryptor_pool`). A root key that does not unwrap stops start-up.
absl::StatusOr<DecryptTierKeys> LoadDecryptTierKeys(const KeysConfig& keys,
                                                    storage::ConnectionPool& decryptor_pool);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_KEY_LOADING_H_

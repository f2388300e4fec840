#ifndef CREDVAULT_SERVER_KEYS_KEY_LOADING_H_
#define CREDVAULT_SERVER_KEYS_KEY_LOADING_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/key_directory.h"
#include "crypto/seal_key_provider.h"
#include "crypto/writer_key_ring.h"
#include "server/config/config.h"
#include "server/keys/decrypt_tier_keys.h"
#include "server/keys/write_tier_keys.h"
#include "storage/pool.h"

namespace credvault::server {

// Reads the writer key files named by keys.writer_keys.
absl::StatusOr<crypto::WriterKeyRing> LoadWriterKeys(const KeysConfig& keys);

// The seal key provider named by keys.seal_key.
absl::StatusOr<std::unique_ptr<crypto::SealKeyProvider>> OpenSealKey(const KeysConfig& keys);

// The providers named by keys.previous_seal_keys, in order.
absl::StatusOr<std::vector<std::unique_ptr<crypto::SealKeyProvider>>> OpenPreviousSealKeys(
    const KeysConfig& keys);

// The provider of one seal key section. Errors start with the configuration key at fault,
// `config_key` (keys.seal_key or keys.previous_seal_keys[i]) and below, e.g.
// "keys.seal_key.pkcs11.token_label: ..."; a PKCS#11 PIN never appears in them.
absl::StatusOr<std::unique_ptr<crypto::SealKeyProvider>> OpenSealKeyProvider(
    const SealKeyConfig& seal_key, const std::string& config_key);

// A PKCS#11 provider error with the configuration key at fault in front: the provider
// starts its messages with the part of the location (module, token_label, key_label, pin),
// and a PIN problem is reported against pin_env or pin_file, whichever supplied it.
absl::Status Pkcs11ConfigError(const absl::Status& status, const std::string& config_key,
                               const Pkcs11Config& pkcs11);

// The user PIN of a PKCS#11 seal key section: `pin` (read from pin_env when the
// configuration was loaded) or the contents of pin_file without a trailing newline.
absl::StatusOr<ConfigSecret> ReadPkcs11Pin(const Pkcs11Config& pkcs11,
                                           const std::string& config_key);

// Write tier: writer keys and root key pins. Nothing that decrypts.
absl::StatusOr<WriteTierKeys> LoadWriteTierKeys(const KeysConfig& keys);

// The key directory signing keys of keys.key_directory_signing_keys, the current one last
// (empty when the section is absent).
absl::StatusOr<std::vector<crypto::KeyDirectorySigner>> LoadKeyDirectorySigners(
    const KeysConfig& keys);

// Decrypt tier: seal key, writer keys, and every root key in the database unwrapped with
// the seal key (through `decryptor_pool`). A root key is unwrapped with whichever of
// keys.seal_key and keys.previous_seal_keys has the key id stored with it (a seal key
// rotation in progress); one that no configured seal key wrapped, or that does not
// unwrap, stops start-up.
absl::StatusOr<DecryptTierKeys> LoadDecryptTierKeys(const KeysConfig& keys,
                                                    storage::ConnectionPool& decryptor_pool);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_KEYS_KEY_LOADING_H_

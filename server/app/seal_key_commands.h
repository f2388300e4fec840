#ifndef CREDVAULT_SERVER_APP_SEAL_KEY_COMMANDS_H_
#define CREDVAULT_SERVER_APP_SEAL_KEY_COMMANDS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "crypto/seal_key_provider.h"
#include "storage/pool.h"

namespace credvault::server {

// What a seal key rotation did. Nothing here is secret: key ids are key check values.
struct RewrapReport {
  struct Rewrapped {
    std::uint32_t version = 0;
    std::string old_seal_key_id;
  };
  std::string seal_key_id;               // the seal key everything is wrapped by now
  std::vector<Rewrapped> rewrapped;      // oldest first
  std::vector<std::uint32_t> unchanged;  // already wrapped by seal_key
};

// Seal key rotation: in one transaction of the decrypt role, re-wraps with `seal_key` every
// root private key whose stored seal key id is not seal_key's, unwrapping each with the
// provider in `previous` that has its id. Each new wrapping is checked to unwrap before it
// is stored. A root key that none of `previous` wrapped is FAILED_PRECONDITION, and a key
// that does not unwrap DATA_LOSS; either way nothing is changed. Running it again after
// success changes nothing.
absl::StatusOr<RewrapReport> RewrapRootKeys(
    storage::ConnectionPool& decryptor_pool, const crypto::SealKeyProvider& seal_key,
    absl::Span<const crypto::SealKeyProvider* const> previous);

// `credvaultd rewrap-root-keys --config=FILE`: RewrapRootKeys with keys.seal_key and
// keys.previous_seal_keys of a decrypt-tier configuration; prints a summary. Returns the
// process exit code.
int RunRewrapRootKeysCommand(const std::vector<std::string_view>& args);

// `credvaultd pkcs11-generate-seal-key --config=FILE`: generates the AES-256 key named by
// keys.seal_key.pkcs11 inside its token (non-extractable, sensitive) and prints its key id.
int RunPkcs11GenerateSealKeyCommand(const std::vector<std::string_view>& args);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_APP_SEAL_KEY_COMMANDS_H_

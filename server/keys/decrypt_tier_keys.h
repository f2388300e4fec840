#ifndef CREDVAULT_SERVER_KEYS_DECRYPT_TIER_KEYS_H_
#define CREDVAULT_SERVER_KEYS_DECRYPT_TIER_KEYS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "crypto/audit_signer.h"
#include "crypto/key_directory.h"
#include "crypto/root_key.h"
#include "crypto/seal_key_provider.h"
#include "crypto/writer_key_ring.h"
#include "server/base/reloadable.h"
#include "server/keys/late_root_keys.h"

namespace credvault::server {

// What only the decrypt tier holds: the seal key, the unwrapped root private keys and the
// writer keys (to verify records and re-authenticate re-sealed envelopes).
struct DecryptTierKeys {
  std::unique_ptr<crypto::SealKeyProvider> seal_key;
  std::map<std::uint32_t, crypto::RootPrivateKey> roots;
  // Replaced by a configuration reload (SIGHUP) during writer key rotation.
  Reloadable<crypto::WriterKeyRing> writer_keys;
  // Signs audit checkpoints and erasure receipts; absent when none is configured.
  std::optional<crypto::AuditSigner> audit_signer;
  // Signs org key records (the current key directory key version); always present in a
  // running decrypt tier. The pins hold the public half of every configured version.
  std::optional<crypto::KeyDirectorySigner> key_directory_signer{};
  crypto::KeyDirectoryPins directory_pins{};
  const crypto::KeyDirectorySigner& directory_signer() const { return *key_directory_signer; }

  // Root keys made or found after start-up; shared so that this struct stays movable.
  std::shared_ptr<LateRootKeys> late_roots = std::make_shared<LateRootKeys>();

  // Root key `version`: loaded at start-up, or made or unwrapped since. FAILED_PRECONDITION
  // when this process cannot get it.
  absl::StatusOr<const crypto::RootPrivateKey*> Root(std::uint32_t version) const;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_KEYS_DECRYPT_TIER_KEYS_H_

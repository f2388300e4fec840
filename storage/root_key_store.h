#ifndef CREDVAULT_STORAGE_ROOT_KEY_STORE_H_
#define CREDVAULT_STORAGE_ROOT_KEY_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/transaction.h"

namespace credvault::storage {

enum class RootKeyState { kActive, kRetiring, kRetired };

// The public side of a root key pair.
struct RootKey {
  std::int32_t version = 0;
  std::vector<std::uint8_t> public_key;  // X25519, 32 bytes
  RootKeyState state = RootKeyState::kActive;
  absl::Time created_at;
};

struct NewRootKey {
  std::int32_t version = 0;
  std::vector<std::uint8_t> public_key;          // 32 bytes
  std::vector<std::uint8_t> sealed_private_key;  // wrapped by the seal key provider
  std::string seal_key_id;                       // which seal key wrapped it
};

struct SealedRootKey {
  std::int32_t version = 0;
  std::vector<std::uint8_t> sealed_private_key;
  std::string seal_key_id;
};

// Root key pairs: deployment-wide, not tenant data, so used in transactions from
// ConnectionPool::RunWithoutOrg. Stateless.
class RootKeyStore {
 public:
  // Decrypt role, root rotation: `key` becomes ACTIVE and the previous ACTIVE one RETIRING.
  // ALREADY_EXISTS if the version is taken.
  absl::Status Rotate(Transaction& tx, const NewRootKey& key) const;

  // Any role: every root key, oldest first (public halves only).
  absl::StatusOr<std::vector<RootKey>> List(Transaction& tx) const;

  // Decrypt role: the wrapped private half of one version; NOT_FOUND if unknown.
  absl::StatusOr<SealedRootKey> GetSealed(Transaction& tx, std::int32_t version) const;
};

}  // namespace credvault::storage

#endif  // CREDVAULT_STORAGE_ROOT_KEY_STORE_H_

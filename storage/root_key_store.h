#ifndef CREDVAULT_STORAGE_ROOT_KEY_STORE_H_
#define CREDVAULT_STORAGE_ROOT_KEY_STORE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
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

  // Decrypt role, end of a root key re-seal: root key `version` becomes RETIRED if it is
  // RETIRING (its wrapped private half is kept: an org key created under it by a write tier
  // that did not yet pin the new root still opens). Returns whether it changed.
  absl::StatusOr<bool> Retire(Transaction& tx, std::int32_t version) const;

  // Any role: every root key, oldest first (public halves only).
  absl::StatusOr<std::vector<RootKey>> List(Transaction& tx) const;

  // Decrypt role: the wrapped private half of one version; NOT_FOUND if unknown.
  absl::StatusOr<SealedRootKey> GetSealed(Transaction& tx, std::int32_t version) const;

  // Decrypt role, seal key rotation: replaces the wrapped private half of `version` with
  // one made under seal key `new_seal_key_id`, provided it is still wrapped by
  // `expected_seal_key_id` (a concurrent re-wrap is ABORTED, not overwritten). NOT_FOUND if
  // the version is unknown.
  absl::Status Rewrap(Transaction& tx, std::int32_t version, std::string_view expected_seal_key_id,
                      absl::Span<const std::uint8_t> new_sealed_private_key,
                      std::string_view new_seal_key_id) const;
};

}  // namespace credvault::storage

#endif  // CREDVAULT_STORAGE_ROOT_KEY_STORE_H_

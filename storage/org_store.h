#ifndef CREDVAULT_STORAGE_ORG_STORE_H_
#define CREDVAULT_STORAGE_ORG_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/transaction.h"

namespace credvault::storage {

enum class OrgState { kActive, kDestroyed };
enum class OrgKeyState { kActive, kRetiring, kRetired, kDestroyed };

struct Org {
  std::string org_id;
  OrgState state = OrgState::kActive;
  absl::Time created_at;
  std::optional<absl::Time> destroyed_at;
};

// The public side of an org key: what the write tier reads and checks before sealing.
struct OrgKey {
  std::string org_id;
  std::int32_t version = 0;
  std::vector<std::uint8_t> public_key;  // X25519, 32 bytes
  std::int32_t root_key_version = 0;
  std::int32_t writer_key_version = 0;
  std::vector<std::uint8_t> authenticator;  // 32 bytes
  OrgKeyState state = OrgKeyState::kActive;
  absl::Time created_at;
  std::optional<absl::Time> retired_at;    // when it stopped being ACTIVE
  std::optional<absl::Time> destroyed_at;  // when its private half was destroyed
};

// An org key with its sealed private half, for the decrypt role.
struct SealedOrgKey {
  OrgKey key;
  std::vector<std::uint8_t> sealed_private_key;
};

struct NewOrgKey {
  std::int32_t version = 0;
  std::vector<std::uint8_t> public_key;          // 32 bytes
  std::vector<std::uint8_t> sealed_private_key;  // sealed to the root public key
  std::int32_t root_key_version = 0;
  std::int32_t writer_key_version = 0;
  std::vector<std::uint8_t> authenticator;  // 32 bytes
};

// Orgs and their key pairs, for the org of the transaction. Stateless.
class OrgStore {
 public:
  // Write or admin role: creates the org with `first_key` (version 1) as its ACTIVE key.
  // ALREADY_EXISTS if the org exists.
  absl::Status CreateOrg(Transaction& tx, const NewOrgKey& first_key) const;

  // NOT_FOUND if the org does not exist.
  absl::StatusOr<Org> GetOrg(Transaction& tx) const;

  // Admin role, key rotation: `key` becomes ACTIVE and the previous ACTIVE key RETIRING.
  // FAILED_PRECONDITION if the org is destroyed; ALREADY_EXISTS if the version is taken.
  absl::Status RotateOrgKey(Transaction& tx, const NewOrgKey& key) const;

  // All keys of the org, oldest first.
  absl::StatusOr<std::vector<OrgKey>> ListOrgKeys(Transaction& tx) const;

  // The ACTIVE key; NOT_FOUND if there is none (no such org, or destroyed).
  absl::StatusOr<OrgKey> GetActiveOrgKey(Transaction& tx) const;

  // Decrypt role: the sealed private half of one key version. NOT_FOUND if the version
  // does not exist, FAILED_PRECONDITION if it was destroyed.
  absl::StatusOr<std::vector<std::uint8_t>> GetSealedPrivateKey(Transaction& tx,
                                                                std::int32_t version) const;

  // Decrypt role, root key re-seal: the keys of the org still holding a private half that
  // is sealed to a root key other than `root_key_version`, locked for the transaction.
  absl::StatusOr<std::vector<SealedOrgKey>> LockKeysNotSealedToRoot(
      Transaction& tx, std::int32_t root_key_version) const;

  // Decrypt role, root key re-seal: replaces the sealed private half, root key version and
  // authenticator of key `key.version` if it is still sealed to `expected_root_key_version`
  // (ABORTED otherwise; NOT_FOUND if it is gone or destroyed).
  absl::Status ReplaceSealedPrivateKey(Transaction& tx, std::int32_t expected_root_key_version,
                                       const NewOrgKey& key) const;

  // Decrypt role, end of an org key re-seal: every RETIRING key becomes RETIRED. Returns the
  // versions retired.
  absl::StatusOr<std::vector<std::int32_t>> RetireRetiringKeys(Transaction& tx) const;

  // Admin role: destroys the private half of RETIRED key `version` when no unerased
  // credential version is sealed to it. Returns false if it was already DESTROYED.
  // NOT_FOUND if the version does not exist; FAILED_PRECONDITION if it is not RETIRED or
  // still in use.
  absl::StatusOr<bool> DestroyRetiredKey(Transaction& tx, std::int32_t version) const;

  // Admin role, crypto-shredding: every key of the org becomes DESTROYED and loses its
  // sealed private half; the org becomes DESTROYED. Idempotent.
  absl::Status MarkDestroyed(Transaction& tx) const;
};

}  // namespace credvault::storage

#endif  // CREDVAULT_STORAGE_ORG_STORE_H_

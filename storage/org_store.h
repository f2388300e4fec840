#ifndef CREDVAULT_STORAGE_ORG_STORE_H_
#define CREDVAULT_STORAGE_ORG_STORE_H_

#include <cstdint>
#include <functional>
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

// An org key record as stored: the public side, which every role reads. The write tier
// seals only to an ACTIVE record whose key directory signature verifies (crypto/org_key.h).
struct OrgKey {
  std::string org_id;
  std::int32_t version = 0;
  std::vector<std::uint8_t> public_key;  // X25519, 32 bytes
  std::int32_t root_key_version = 0;
  OrgKeyState state = OrgKeyState::kActive;
  // The key directory signature; absent on records made before records were signed, which
  // carry only a writer authenticator until the key authority signs them.
  std::optional<std::int32_t> directory_key_version;
  std::vector<std::uint8_t> signature;  // 64 bytes, or empty
  std::optional<std::int32_t> writer_key_version;
  std::vector<std::uint8_t> authenticator;  // 32 bytes, or empty
  // Set by the migration that introduced signatures on the records that existed then: the
  // only unsigned records the key authority signs.
  bool made_before_signing = false;
  absl::Time created_at;
  std::optional<absl::Time> retired_at;    // when it stopped being ACTIVE
  std::optional<absl::Time> destroyed_at;  // when its private half was destroyed
};

// An org key with its sealed private half, for the decrypt role.
struct SealedOrgKey {
  OrgKey key;
  std::vector<std::uint8_t> sealed_private_key;
};

// A record the key authority signed, to be stored.
struct NewOrgKey {
  std::int32_t version = 0;
  std::vector<std::uint8_t> public_key;  // 32 bytes
  // Sealed to the root public key. Empty keeps the stored one (a state change); a DESTROYED
  // record always loses it.
  std::vector<std::uint8_t> sealed_private_key;
  std::int32_t root_key_version = 0;
  OrgKeyState state = OrgKeyState::kActive;
  std::int32_t directory_key_version = 0;
  std::vector<std::uint8_t> signature;  // 64 bytes
};

// What OrgStore::TryCreateOrg did.
enum class CreateOrgOutcome {
  kCreated,
  // The org exists: a transaction that committed first made it. The refused insert spoils
  // this transaction, which must be rolled back; run again, it finds the org.
  kOrgExists,
};

// Signs `key` again in `new_state` (the key authority's signer; see crypto/org_key.h).
using OrgKeyResigner =
    std::function<absl::StatusOr<NewOrgKey>(const OrgKey& key, OrgKeyState new_state)>;

// Orgs and their key records, for the org of the transaction. Stateless. No request role
// writes orgs or org_keys directly: records go through credvault_store_org_key, which
// keeps versions growing, the state moving only forward and the public key fixed
// (storage/migrations/0009_org_key_signatures.sql).
class OrgStore {
 public:
  // Key authority (decrypt or admin role): creates the org with `first_key` (version 1,
  // ACTIVE). ALREADY_EXISTS if the org exists.
  absl::Status CreateOrg(Transaction& tx, const NewOrgKey& first_key) const;

  // As CreateOrg, for a caller to whom an org made concurrently is an answer, not an error
  // (two first Puts into one new org race on its primary key).
  absl::StatusOr<CreateOrgOutcome> TryCreateOrg(Transaction& tx, const NewOrgKey& first_key) const;

  // NOT_FOUND if the org does not exist.
  absl::StatusOr<Org> GetOrg(Transaction& tx) const;

  // As GetOrg; nullopt if the org does not exist.
  absl::StatusOr<std::optional<Org>> FindOrg(Transaction& tx) const;

  // Key authority: stores a signed record (a new version, a state change or a re-seal).
  absl::Status StoreKey(Transaction& tx, const NewOrgKey& key) const;

  // Admin role, key rotation: the ACTIVE key becomes RETIRING (signed again by `resign`)
  // and `key` becomes ACTIVE. FAILED_PRECONDITION if the org is destroyed; ALREADY_EXISTS
  // if the version is taken.
  absl::Status RotateOrgKey(Transaction& tx, const NewOrgKey& key,
                            const OrgKeyResigner& resign) const;

  // All keys of the org, oldest first.
  absl::StatusOr<std::vector<OrgKey>> ListOrgKeys(Transaction& tx) const;

  // The ACTIVE key; NOT_FOUND if there is none (no such org, or destroyed).
  absl::StatusOr<OrgKey> GetActiveOrgKey(Transaction& tx) const;

  // As GetActiveOrgKey; nullopt if there is none.
  absl::StatusOr<std::optional<OrgKey>> FindActiveOrgKey(Transaction& tx) const;

  // Decrypt role: the sealed private half of one key version. NOT_FOUND if the version
  // does not exist, FAILED_PRECONDITION if it was destroyed.
  absl::StatusOr<std::vector<std::uint8_t>> GetSealedPrivateKey(Transaction& tx,
                                                                std::int32_t version) const;

  // Decrypt role, root key re-seal: the keys of the org still holding a private half that
  // is sealed to a root key other than `root_key_version`.
  absl::StatusOr<std::vector<SealedOrgKey>> LockKeysNotSealedToRoot(
      Transaction& tx, std::int32_t root_key_version) const;

  // Decrypt role, root key re-seal: stores `key` (its new sealed half, root key version and
  // signature) if the stored record is still sealed to `expected_root_key_version`
  // (ABORTED otherwise; NOT_FOUND if it is gone or destroyed).
  absl::Status ReplaceSealedPrivateKey(Transaction& tx, std::int32_t expected_root_key_version,
                                       const NewOrgKey& key) const;

  // Decrypt role, end of an org key re-seal: every RETIRING key becomes RETIRED (signed
  // again by `resign`). Returns the versions retired.
  absl::StatusOr<std::vector<std::int32_t>> RetireRetiringKeys(Transaction& tx,
                                                               const OrgKeyResigner& resign) const;

  // Admin role: destroys the private half of RETIRED key `version` when no unerased
  // credential version is sealed to it. Returns false if it was already DESTROYED.
  // NOT_FOUND if the version does not exist; FAILED_PRECONDITION if it is not RETIRED or
  // still in use.
  absl::StatusOr<bool> DestroyRetiredKey(Transaction& tx, std::int32_t version,
                                         const OrgKeyResigner& resign) const;

  // Admin role, crypto-shredding: every key of the org becomes DESTROYED and loses its
  // sealed private half (each signed again by `resign`); the org becomes DESTROYED.
  // Idempotent.
  absl::Status MarkDestroyed(Transaction& tx, const OrgKeyResigner& resign) const;
};

}  // namespace credvault::storage

#endif  // CREDVAULT_STORAGE_ORG_STORE_H_

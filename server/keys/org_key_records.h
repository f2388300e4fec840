#ifndef CREDVAULT_SERVER_KEYS_ORG_KEY_RECORDS_H_
#define CREDVAULT_SERVER_KEYS_ORG_KEY_RECORDS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/org_key.h"
#include "server/keys/decrypt_tier_keys.h"
#include "storage/org_store.h"
#include "storage/transaction.h"

namespace credvault::server {

// Conversions between the stored and the crypto form of an org key, and the one way the
// decrypt tier unseals an org private key.

// DATA_LOSS (reason INTEGRITY_FAILURE) when the stored fields have the wrong sizes. A record
// made before records were signed (IsUnsigned) converts with directory key version 0, which
// no pin matches: nothing verifies it until the key authority signs it (SignIfUnsigned).
absl::StatusOr<crypto::OrgKeyRecord> ToOrgKeyRecord(const storage::OrgKey& key,
                                                    std::vector<std::uint8_t> sealed_private_key);

storage::NewOrgKey ToNewOrgKey(const crypto::OrgKeyRecord& record);

bool IsUnsigned(const storage::OrgKey& key);

// Key authority, in `tx` (decrypt or admin role): `key` signed by the key directory key,
// stored if it was unsigned. An unsigned record is signed only if its writer authenticator
// verifies (crypto::SignLegacyOrgKeyRecord).
absl::StatusOr<storage::OrgKey> SignIfUnsigned(storage::Transaction& tx, storage::OrgKey key,
                                               const DecryptTierKeys& keys);

// Key authority: what re-signs a stored record in another state (storage::OrgStore calls
// it for rotations, retirements and destruction). Unsigned records are signed first.
storage::OrgKeyResigner ResignerFor(const DecryptTierKeys& keys);

// Reads key `version` of the org of `tx` and unseals it with the root key it names.
// DATA_LOSS when the version does not exist or the record fails its checks;
// FAILED_PRECONDITION when it was destroyed.
absl::StatusOr<crypto::OrgPrivateKey> LoadOrgPrivateKey(storage::Transaction& tx,
                                                        std::uint32_t version,
                                                        const DecryptTierKeys& keys);

// The decrypt tier seals org keys only to root keys it unwrapped itself with the seal key,
// so it pins them by their own public half.
absl::StatusOr<crypto::PinnedRootPublicKey> PinUnwrappedRoot(const crypto::RootPrivateKey& root);

// A pin of root key `version`, which this decrypt tier unwrapped itself (for its own
// sealing checks).
absl::StatusOr<crypto::RootKeyPins> PinRootFor(const DecryptTierKeys& keys, std::uint32_t version);

// Key authority (decrypt tier): a new org key pair `version` for `org_id`, sealed to the
// ACTIVE root key in the database (which may have been made by a rotation on another
// replica since this one started). With `acceptable_roots` (the root versions the asking
// write tier pins), the ACTIVE root if it is one of them, else the newest of them: right
// after a root rotation, until the write tier pins the new root, its new orgs still work.
// The private half is forgotten before returning.
absl::StatusOr<crypto::OrgKeyRecord> MakeOrgKey(
    storage::Transaction& tx, const std::string& org_id, std::uint32_t version,
    const DecryptTierKeys& keys, const std::vector<std::uint32_t>& acceptable_roots = {});

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_KEYS_ORG_KEY_RECORDS_H_

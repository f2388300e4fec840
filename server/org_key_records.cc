#include "server/org_key_records.h"

#include <algorithm>
#include <string>
#include <utility>

#include "common/status_macros.h"
#include "server/error_reason.h"

namespace credvault::server {

absl::StatusOr<crypto::OrgKeyRecord> ToOrgKeyRecord(const storage::OrgKey& key,
                                                    std::vector<std::uint8_t> sealed_private_key) {
  crypto::OrgKeyRecord record;
  if (key.public_key.size() != record.public_key.size() ||
      key.authenticator.size() != record.authenticator.mac.size()) {
    return WithReason(absl::DataLossError("org key record of " + key.org_id + " is malformed"),
                      credvault::v1::ERROR_REASON_INTEGRITY_FAILURE);
  }
  record.org_id = key.org_id;
  record.key_version = static_cast<std::uint32_t>(key.version);
  record.root_key_version = static_cast<std::uint32_t>(key.root_key_version);
  record.sealed_private_key = std::move(sealed_private_key);
  record.authenticator.key_version = static_cast<std::uint32_t>(key.writer_key_version);
  std::copy(key.public_key.begin(), key.public_key.end(), record.public_key.begin());
  std::copy(key.authenticator.begin(), key.authenticator.end(), record.authenticator.mac.begin());
  return record;
}

storage::NewOrgKey ToNewOrgKey(const crypto::OrgKeyRecord& record) {
  storage::NewOrgKey key;
  key.version = static_cast<std::int32_t>(record.key_version);
  key.public_key.assign(record.public_key.begin(), record.public_key.end());
  key.sealed_private_key = record.sealed_private_key;
  key.root_key_version = static_cast<std::int32_t>(record.root_key_version);
  key.writer_key_version = static_cast<std::int32_t>(record.authenticator.key_version);
  key.authenticator.assign(record.authenticator.mac.begin(), record.authenticator.mac.end());
  return key;
}

absl::StatusOr<crypto::OrgPrivateKey> LoadOrgPrivateKey(storage::Transaction& tx,
                                                        std::uint32_t version,
                                                        const DecryptTierKeys& keys) {
  const storage::OrgStore orgs;
  CV_ASSIGN_OR_RETURN(const std::vector<storage::OrgKey> stored, orgs.ListOrgKeys(tx));
  const auto found = std::find_if(stored.begin(), stored.end(), [&](const storage::OrgKey& key) {
    return static_cast<std::uint32_t>(key.version) == version;
  });
  if (found == stored.end()) {
    return WithReason(absl::DataLossError("envelope names org key version " +
                                          std::to_string(version) + ", which does not exist"),
                      credvault::v1::ERROR_REASON_INTEGRITY_FAILURE);
  }
  CV_ASSIGN_OR_RETURN(std::vector<std::uint8_t> sealed,
                      orgs.GetSealedPrivateKey(tx, static_cast<std::int32_t>(version)));
  CV_ASSIGN_OR_RETURN(const crypto::OrgKeyRecord record, ToOrgKeyRecord(*found, std::move(sealed)));
  CV_ASSIGN_OR_RETURN(const crypto::RootPrivateKey* root, keys.Root(record.root_key_version));
  return crypto::UnsealOrgPrivateKey(record, *root, *keys.writer_keys.Get());
}

absl::StatusOr<crypto::PinnedRootPublicKey> PinUnwrappedRoot(const crypto::RootPrivateKey& root) {
  CV_ASSIGN_OR_RETURN(
      const crypto::RootKeyPins pins,
      crypto::RootKeyPins::New({{root.version(), crypto::RootKeyFingerprint(root.public_key())}}));
  return pins.Pin(root.version(), root.public_key());
}

}  // namespace credvault::server

#include "server/org_key_records.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "common/status_macros.h"
#include "server/error_reason.h"
#include "server/json_log.h"
#include "storage/root_key_store.h"

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

absl::StatusOr<crypto::OrgKeyRecord> MakeOrgKey(
    storage::Transaction& tx, const std::string& org_id, std::uint32_t version,
    const DecryptTierKeys& keys, const std::vector<std::uint32_t>& acceptable_roots) {
  const storage::RootKeyStore root_keys;
  CV_ASSIGN_OR_RETURN(const std::vector<storage::RootKey> roots, root_keys.List(tx));
  const auto active = std::find_if(roots.begin(), roots.end(), [](const storage::RootKey& root) {
    return root.state == storage::RootKeyState::kActive;
  });
  if (active == roots.end()) {
    return absl::FailedPreconditionError(
        "no root key exists yet; run `credvaultd init-root-key` first");
  }
  const auto acceptable = [&](std::int32_t root_version) {
    return acceptable_roots.empty() ||
           std::find(acceptable_roots.begin(), acceptable_roots.end(),
                     static_cast<std::uint32_t>(root_version)) != acceptable_roots.end();
  };
  std::optional<std::int32_t> chosen;
  if (acceptable(active->version)) {
    chosen = active->version;
  } else {
    for (auto it = roots.rbegin(); it != roots.rend(); ++it) {
      if (acceptable(it->version) && keys.Root(static_cast<std::uint32_t>(it->version)).ok()) {
        chosen = it->version;
        break;
      }
    }
    if (!chosen) {
      return absl::FailedPreconditionError(
          "the write tier pins none of the root keys this key authority holds; pin root key "
          "version " +
          std::to_string(active->version));
    }
    LogWarning("the active root key is not pinned by the write tier; new orgs use an older root",
               {{"active_root_key_version", std::to_string(active->version)},
                {"used_root_key_version", std::to_string(*chosen)}});
  }
  CV_ASSIGN_OR_RETURN(const crypto::RootPrivateKey* root,
                      keys.Root(static_cast<std::uint32_t>(*chosen)));
  CV_ASSIGN_OR_RETURN(const crypto::PinnedRootPublicKey pinned, PinUnwrappedRoot(*root));
  return crypto::CreateOrgKey(org_id, version, pinned, *keys.writer_keys.Get());
}

}  // namespace credvault::server

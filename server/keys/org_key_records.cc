#include "server/keys/org_key_records.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "common/status_macros.h"
#include "server/base/error_reason.h"
#include "server/telemetry/json_log.h"
#include "storage/root_key_store.h"

namespace credvault::server {

namespace {

absl::Status Malformed(const storage::OrgKey& key) {
  return WithReason(absl::DataLossError("org key record of " + key.org_id + " is malformed"),
                    ErrorReason::kIntegrityFailure);
}

crypto::OrgKeyState ToCryptoState(storage::OrgKeyState state) {
  switch (state) {
    case storage::OrgKeyState::kActive:
      return crypto::OrgKeyState::kActive;
    case storage::OrgKeyState::kRetiring:
      return crypto::OrgKeyState::kRetiring;
    case storage::OrgKeyState::kRetired:
      return crypto::OrgKeyState::kRetired;
    case storage::OrgKeyState::kDestroyed:
      break;
  }
  return crypto::OrgKeyState::kDestroyed;
}

storage::OrgKeyState ToStorageState(crypto::OrgKeyState state) {
  switch (state) {
    case crypto::OrgKeyState::kActive:
      return storage::OrgKeyState::kActive;
    case crypto::OrgKeyState::kRetiring:
      return storage::OrgKeyState::kRetiring;
    case crypto::OrgKeyState::kRetired:
      return storage::OrgKeyState::kRetired;
    case crypto::OrgKeyState::kDestroyed:
      break;
  }
  return storage::OrgKeyState::kDestroyed;
}

// The stored record's signature (checked against `keys`' pins), after signing it if it was
// made before records were signed.
absl::StatusOr<crypto::OrgKeyRecord> SignedRecord(const storage::OrgKey& key,
                                                  const DecryptTierKeys& keys) {
  CV_ASSIGN_OR_RETURN(crypto::OrgKeyRecord record, ToOrgKeyRecord(key, {}));
  if (!IsUnsigned(key)) return record;
  if (!key.made_before_signing) {
    return WithReason(
        absl::DataLossError("org key version " + std::to_string(key.version) + " of " + key.org_id +
                            " is unsigned but was not made before signing"),
        ErrorReason::kIntegrityFailure);
  }
  if (key.authenticator.size() != crypto::kAuthenticatorSize || !key.writer_key_version) {
    return Malformed(key);
  }
  crypto::WriterTag tag;
  tag.key_version = static_cast<std::uint32_t>(*key.writer_key_version);
  std::copy(key.authenticator.begin(), key.authenticator.end(), tag.mac.begin());
  absl::StatusOr<crypto::OrgKeyRecord> signed_record =
      crypto::SignLegacyOrgKeyRecord(record, tag, *keys.writer_keys.Get(), keys.directory_signer());
  if (!signed_record.ok()) {
    return WithReason(signed_record.status(), ErrorReason::kIntegrityFailure);
  }
  return signed_record;
}

}  // namespace

absl::StatusOr<crypto::OrgKeyRecord> ToOrgKeyRecord(const storage::OrgKey& key,
                                                    std::vector<std::uint8_t> sealed_private_key) {
  crypto::OrgKeyRecord record;
  if (key.public_key.size() != record.public_key.size() || key.version < 1 ||
      key.root_key_version < 1) {
    return Malformed(key);
  }
  record.org_id = key.org_id;
  record.key_version = static_cast<std::uint32_t>(key.version);
  std::copy(key.public_key.begin(), key.public_key.end(), record.public_key.begin());
  record.root_key_version = static_cast<std::uint32_t>(key.root_key_version);
  record.state = ToCryptoState(key.state);
  record.sealed_private_key = std::move(sealed_private_key);
  if (!IsUnsigned(key)) {
    if (key.signature.size() != record.signature.size() || *key.directory_key_version < 1) {
      return Malformed(key);
    }
    record.directory_key_version = static_cast<std::uint32_t>(*key.directory_key_version);
    std::copy(key.signature.begin(), key.signature.end(), record.signature.begin());
  }
  return record;
}

storage::NewOrgKey ToNewOrgKey(const crypto::OrgKeyRecord& record) {
  storage::NewOrgKey key;
  key.version = static_cast<std::int32_t>(record.key_version);
  key.public_key.assign(record.public_key.begin(), record.public_key.end());
  key.sealed_private_key = record.sealed_private_key;
  key.root_key_version = static_cast<std::int32_t>(record.root_key_version);
  key.state = ToStorageState(record.state);
  key.directory_key_version = static_cast<std::int32_t>(record.directory_key_version);
  key.signature.assign(record.signature.begin(), record.signature.end());
  return key;
}

bool IsUnsigned(const storage::OrgKey& key) { return !key.directory_key_version.has_value(); }

absl::StatusOr<storage::OrgKey> SignIfUnsigned(storage::Transaction& tx, storage::OrgKey key,
                                               const DecryptTierKeys& keys) {
  if (!IsUnsigned(key)) return key;
  CV_ASSIGN_OR_RETURN(const crypto::OrgKeyRecord record, SignedRecord(key, keys));
  CV_RETURN_IF_ERROR(storage::OrgStore().StoreKey(tx, ToNewOrgKey(record)));
  key.directory_key_version = static_cast<std::int32_t>(record.directory_key_version);
  key.signature.assign(record.signature.begin(), record.signature.end());
  LogInfo("signed an org key record made before records were signed",
          {{"org_id", key.org_id}, {"org_key_version", std::to_string(key.version)}});
  return key;
}

storage::OrgKeyResigner ResignerFor(const DecryptTierKeys& keys) {
  return [&keys](const storage::OrgKey& key,
                 storage::OrgKeyState new_state) -> absl::StatusOr<storage::NewOrgKey> {
    if (new_state == storage::OrgKeyState::kDestroyed) {
      // Destruction never waits on a signature check: see SignDestroyedOrgKeyRecord.
      CV_ASSIGN_OR_RETURN(const crypto::OrgKeyRecord stored, ToOrgKeyRecord(key, {}));
      return ToNewOrgKey(crypto::SignDestroyedOrgKeyRecord(stored, keys.directory_signer()));
    }
    CV_ASSIGN_OR_RETURN(const crypto::OrgKeyRecord record, SignedRecord(key, keys));
    absl::StatusOr<crypto::OrgKeyRecord> resigned = crypto::ResignOrgKeyRecord(
        record, ToCryptoState(new_state), keys.directory_pins, keys.directory_signer());
    if (absl::IsDataLoss(resigned.status())) {
      return WithReason(resigned.status(), ErrorReason::kIntegrityFailure);
    }
    if (!resigned.ok()) return resigned.status();
    return ToNewOrgKey(*resigned);
  };
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
                      ErrorReason::kIntegrityFailure);
  }
  CV_ASSIGN_OR_RETURN(const storage::OrgKey key, SignIfUnsigned(tx, *found, keys));
  CV_ASSIGN_OR_RETURN(std::vector<std::uint8_t> sealed,
                      orgs.GetSealedPrivateKey(tx, static_cast<std::int32_t>(version)));
  CV_ASSIGN_OR_RETURN(const crypto::OrgKeyRecord record, ToOrgKeyRecord(key, std::move(sealed)));
  CV_ASSIGN_OR_RETURN(const crypto::RootPrivateKey* root, keys.Root(record.root_key_version));
  return crypto::UnsealOrgPrivateKey(record, *root, keys.directory_pins);
}

absl::StatusOr<crypto::PinnedRootPublicKey> PinUnwrappedRoot(const crypto::RootPrivateKey& root) {
  CV_ASSIGN_OR_RETURN(
      const crypto::RootKeyPins pins,
      crypto::RootKeyPins::New({{root.version(), crypto::RootKeyFingerprint(root.public_key())}}));
  return pins.Pin(root.version(), root.public_key());
}

absl::StatusOr<crypto::RootKeyPins> PinRootFor(const DecryptTierKeys& keys, std::uint32_t version) {
  CV_ASSIGN_OR_RETURN(const crypto::RootPrivateKey* root, keys.Root(version));
  return crypto::RootKeyPins::New({{version, crypto::RootKeyFingerprint(root->public_key())}});
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
  return crypto::CreateOrgKey(org_id, version, pinned, keys.directory_signer());
}

}  // namespace credvault::server

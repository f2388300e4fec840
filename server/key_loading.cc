#include "server/key_loading.h"

#include <string>

#include "common/status_macros.h"
#include "crypto/key_file.h"
#include "crypto/key_file_seal_key_provider.h"
#include "storage/root_key_store.h"

namespace credvault::server {

absl::StatusOr<crypto::WriterKeyRing> LoadWriterKeys(const KeysConfig& keys) {
  if (!keys.writer_keys) {
    return absl::FailedPreconditionError("keys.writer_keys: required by this tier");
  }
  std::vector<std::pair<std::uint32_t, crypto::KeyBuffer>> loaded;
  for (const auto& [version, path] : keys.writer_keys->files) {
    absl::StatusOr<crypto::KeyBuffer> key = crypto::ReadKeyFile(path, crypto::kWriterKeySize);
    if (!key.ok()) {
      return absl::Status(key.status().code(), "keys.writer_keys.files." + std::to_string(version) +
                                                   ": " + std::string(key.status().message()));
    }
    loaded.emplace_back(version, *std::move(key));
  }
  return crypto::WriterKeyRing::New(keys.writer_keys->current, std::move(loaded));
}

absl::StatusOr<std::unique_ptr<crypto::SealKeyProvider>> OpenSealKey(const KeysConfig& keys) {
  if (!keys.seal_key) return absl::FailedPreconditionError("keys.seal_key: required by this tier");
  switch (keys.seal_key->provider) {
    case SealKeyBackend::kFile: {
      absl::StatusOr<std::unique_ptr<crypto::KeyFileSealKeyProvider>> provider =
          crypto::KeyFileSealKeyProvider::Open(keys.seal_key->file);
      if (!provider.ok()) {
        return absl::Status(provider.status().code(),
                            "keys.seal_key.file: " + std::string(provider.status().message()));
      }
      return std::unique_ptr<crypto::SealKeyProvider>(*std::move(provider));
    }
    case SealKeyBackend::kPkcs11:
      return absl::FailedPreconditionError(
          "keys.seal_key.provider: pkcs11 is not available in this build; use file");
  }
  return absl::InvalidArgumentError("keys.seal_key.provider: unknown provider");
}

absl::StatusOr<WriteTierKeys> LoadWriteTierKeys(const KeysConfig& keys) {
  CV_ASSIGN_OR_RETURN(crypto::WriterKeyRing writer_keys, LoadWriterKeys(keys));
  absl::StatusOr<crypto::RootKeyPins> pins = crypto::RootKeyPins::New(keys.root_key_pins);
  if (!pins.ok()) {
    return absl::Status(pins.status().code(),
                        "keys.root_key_pins: " + std::string(pins.status().message()));
  }
  return WriteTierKeys{std::move(writer_keys), *std::move(pins)};
}

absl::StatusOr<DecryptTierKeys> LoadDecryptTierKeys(const KeysConfig& keys,
                                                    storage::ConnectionPool& decryptor_pool) {
  CV_ASSIGN_OR_RETURN(std::unique_ptr<crypto::SealKeyProvider> seal_key, OpenSealKey(keys));
  CV_ASSIGN_OR_RETURN(crypto::WriterKeyRing writer_keys, LoadWriterKeys(keys));
  const storage::RootKeyStore root_keys;
  std::vector<crypto::SealedRootKey> sealed;
  CV_RETURN_IF_ERROR(decryptor_pool.RunWithoutOrg([&](storage::Transaction& tx) -> absl::Status {
    sealed.clear();
    CV_ASSIGN_OR_RETURN(const std::vector<storage::RootKey> roots, root_keys.List(tx));
    for (const storage::RootKey& root : roots) {
      CV_ASSIGN_OR_RETURN(const storage::SealedRootKey stored,
                          root_keys.GetSealed(tx, root.version));
      crypto::SealedRootKey key;
      key.version = static_cast<std::uint32_t>(root.version);
      if (root.public_key.size() != key.public_key.size()) {
        return absl::DataLossError("root key version " + std::to_string(root.version) +
                                   " has a malformed public key");
      }
      std::copy(root.public_key.begin(), root.public_key.end(), key.public_key.begin());
      key.wrapped_private_key = stored.sealed_private_key;
      key.seal_key_id = stored.seal_key_id;
      sealed.push_back(std::move(key));
    }
    return absl::OkStatus();
  }));
  std::map<std::uint32_t, crypto::RootPrivateKey> roots;
  for (const crypto::SealedRootKey& key : sealed) {
    CV_ASSIGN_OR_RETURN(crypto::RootPrivateKey root, crypto::UnsealRootKey(key, *seal_key));
    roots.emplace(key.version, std::move(root));
  }
  std::optional<crypto::AuditSigner> audit_signer;
  if (!keys.audit_signing_key_file.empty()) {
    absl::StatusOr<crypto::KeyBuffer> seed =
        crypto::ReadKeyFile(keys.audit_signing_key_file, crypto::kAuditSigningSeedSize);
    if (!seed.ok()) {
      return absl::Status(seed.status().code(),
                          "keys.audit_signing_key_file: " + std::string(seed.status().message()));
    }
    CV_ASSIGN_OR_RETURN(crypto::AuditSigner signer, crypto::AuditSigner::FromSeed(*seed));
    audit_signer.emplace(std::move(signer));
  }
  return DecryptTierKeys{std::move(seal_key), std::move(roots), std::move(writer_keys),
                         std::move(audit_signer)};
}

}  // namespace credvault::server

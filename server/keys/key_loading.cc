#include "server/keys/key_loading.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "crypto/key_directory.h"
#include "crypto/key_file.h"
#include "crypto/key_file_seal_key_provider.h"
#include "crypto/pkcs11_seal_key_provider.h"
#include "server/base/read_file.h"
#include "storage/root_key_store.h"

namespace credvault::server {
namespace {

// A PIN file is a few bytes; anything large is the wrong file.
constexpr std::size_t kMaxPinFileBytes = 4096;

}  // namespace

absl::Status Pkcs11ConfigError(const absl::Status& status, const std::string& config_key,
                               const Pkcs11Config& pkcs11) {
  const std::string message(status.message());
  const std::string section = absl::StrCat(config_key, ".pkcs11");
  for (const char* field : {"module", "token_label", "key_label"}) {
    if (absl::StartsWith(message, absl::StrCat(field, ": "))) {
      return absl::Status(status.code(), absl::StrCat(section, ".", message));
    }
  }
  if (absl::StartsWith(message, "pin: ")) {
    const std::string source = pkcs11.pin_file.empty()
                                   ? absl::StrCat("pin_env (", pkcs11.pin_env, ")")
                                   : absl::StrCat("pin_file (", pkcs11.pin_file, ")");
    return absl::Status(status.code(), absl::StrCat(section, ".", source, ": ", message.substr(5)));
  }
  return absl::Status(status.code(), absl::StrCat(section, ": ", message));
}

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

absl::StatusOr<ConfigSecret> ReadPkcs11Pin(const Pkcs11Config& pkcs11,
                                           const std::string& config_key) {
  if (pkcs11.pin_file.empty()) {
    if (pkcs11.pin.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(config_key,
                                                        ".pkcs11.pin_env: environment variable ",
                                                        pkcs11.pin_env, " is not set or empty"));
    }
    return pkcs11.pin;
  }
  absl::StatusOr<std::string> contents = ReadSmallFile(
      pkcs11.pin_file, absl::StrCat(config_key, ".pkcs11.pin_file"), kMaxPinFileBytes);
  if (!contents.ok()) return contents.status();
  ConfigSecret pin(*std::move(contents));
  std::string_view value = pin.RevealSecret();
  // Files made with `echo` end in a newline that is not part of the PIN.
  if (!value.empty() && value.back() == '\n') value.remove_suffix(1);
  if (!value.empty() && value.back() == '\r') value.remove_suffix(1);
  if (value.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(config_key, ".pkcs11.pin_file (", pkcs11.pin_file, "): the file is empty"));
  }
  return ConfigSecret(std::string(value));
}

absl::StatusOr<std::unique_ptr<crypto::SealKeyProvider>> OpenSealKeyProvider(
    const SealKeyConfig& seal_key, const std::string& config_key) {
  switch (seal_key.provider) {
    case SealKeyBackend::kFile: {
      absl::StatusOr<std::unique_ptr<crypto::KeyFileSealKeyProvider>> provider =
          crypto::KeyFileSealKeyProvider::Open(seal_key.file);
      if (!provider.ok()) {
        return absl::Status(provider.status().code(),
                            absl::StrCat(config_key, ".file: ", provider.status().message()));
      }
      return std::unique_ptr<crypto::SealKeyProvider>(*std::move(provider));
    }
    case SealKeyBackend::kPkcs11: {
      if (!seal_key.pkcs11.has_value()) {
        return absl::FailedPreconditionError(
            absl::StrCat(config_key, ".pkcs11: required with provider pkcs11"));
      }
      const Pkcs11Config& pkcs11 = *seal_key.pkcs11;
      CV_ASSIGN_OR_RETURN(const ConfigSecret pin, ReadPkcs11Pin(pkcs11, config_key));
      absl::StatusOr<std::unique_ptr<crypto::Pkcs11SealKeyProvider>> provider =
          crypto::Pkcs11SealKeyProvider::Open(
              crypto::Pkcs11KeyLocation{pkcs11.module, pkcs11.token_label, pkcs11.key_label},
              crypto::SecretView::Borrow(pin.RevealSecret()));
      if (!provider.ok()) return Pkcs11ConfigError(provider.status(), config_key, pkcs11);
      return std::unique_ptr<crypto::SealKeyProvider>(*std::move(provider));
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(config_key, ".provider: unknown provider"));
}

absl::StatusOr<std::unique_ptr<crypto::SealKeyProvider>> OpenSealKey(const KeysConfig& keys) {
  if (!keys.seal_key) return absl::FailedPreconditionError("keys.seal_key: required by this tier");
  return OpenSealKeyProvider(*keys.seal_key, "keys.seal_key");
}

absl::StatusOr<std::vector<std::unique_ptr<crypto::SealKeyProvider>>> OpenPreviousSealKeys(
    const KeysConfig& keys) {
  std::vector<std::unique_ptr<crypto::SealKeyProvider>> providers;
  for (std::size_t i = 0; i < keys.previous_seal_keys.size(); ++i) {
    CV_ASSIGN_OR_RETURN(std::unique_ptr<crypto::SealKeyProvider> provider,
                        OpenSealKeyProvider(keys.previous_seal_keys[i],
                                            absl::StrCat("keys.previous_seal_keys[", i, "]")));
    providers.push_back(std::move(provider));
  }
  return providers;
}

// The signing keys of keys.key_directory_signing_keys (current last), each from its seed.
absl::StatusOr<std::vector<crypto::KeyDirectorySigner>> LoadKeyDirectorySigners(
    const KeysConfig& keys) {
  std::vector<crypto::KeyDirectorySigner> signers;
  if (!keys.key_directory_signing_keys) return signers;
  const KeyDirectoryKeysConfig& config = *keys.key_directory_signing_keys;
  std::vector<std::uint32_t> order;
  for (const auto& [version, file] : config.files) {
    if (version != config.current) order.push_back(version);
  }
  order.push_back(config.current);
  for (const std::uint32_t version : order) {
    const auto file = config.files.find(version);
    if (file == config.files.end()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "keys.key_directory_signing_keys.current: version ", version, " is not listed in files"));
    }
    absl::StatusOr<crypto::KeyBuffer> seed =
        crypto::ReadKeyFile(file->second, crypto::kKeyDirectorySeedSize);
    if (!seed.ok()) {
      return absl::Status(seed.status().code(),
                          absl::StrCat("keys.key_directory_signing_keys.files.", version, ": ",
                                       seed.status().message()));
    }
    CV_ASSIGN_OR_RETURN(crypto::KeyDirectorySigner signer,
                        crypto::KeyDirectorySigner::FromSeed(version, *seed));
    signers.push_back(std::move(signer));
  }
  return signers;
}

// keys.key_directory_pins, plus the public halves of the signing keys this process holds.
absl::StatusOr<crypto::KeyDirectoryPins> LoadKeyDirectoryPins(
    const KeysConfig& keys, const std::vector<crypto::KeyDirectorySigner>& signers) {
  crypto::KeyDirectoryPins pins;
  for (const crypto::KeyDirectorySigner& signer : signers) {
    CV_RETURN_IF_ERROR(pins.Add(signer.version(), signer.public_key()));
  }
  for (const auto& [version, text] : keys.key_directory_pins) {
    absl::StatusOr<crypto::KeyDirectoryPublicKey> key = crypto::ParseKeyDirectoryPublicKey(text);
    if (!key.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("keys.key_directory_pins.", version, ": not a key directory public key"));
    }
    if (absl::Status added = pins.Add(version, *key); !added.ok()) {
      return absl::Status(added.code(),
                          absl::StrCat("keys.key_directory_pins.", version, ": ", added.message()));
    }
  }
  return pins;
}

absl::StatusOr<WriteTierKeys> LoadWriteTierKeys(const KeysConfig& keys) {
  CV_ASSIGN_OR_RETURN(crypto::WriterKeyRing writer_keys, LoadWriterKeys(keys));
  absl::StatusOr<crypto::RootKeyPins> pins = crypto::RootKeyPins::New(keys.root_key_pins);
  if (!pins.ok()) {
    return absl::Status(pins.status().code(),
                        "keys.root_key_pins: " + std::string(pins.status().message()));
  }
  CV_ASSIGN_OR_RETURN(const std::vector<crypto::KeyDirectorySigner> signers,
                      LoadKeyDirectorySigners(keys));
  CV_ASSIGN_OR_RETURN(crypto::KeyDirectoryPins directory_pins, LoadKeyDirectoryPins(keys, signers));
  if (directory_pins.empty()) {
    return absl::FailedPreconditionError(
        "keys.key_directory_pins: the write tier needs at least one key directory public key");
  }
  return WriteTierKeys{std::move(writer_keys), *std::move(pins), std::move(directory_pins)};
}

absl::StatusOr<DecryptTierKeys> LoadDecryptTierKeys(const KeysConfig& keys,
                                                    storage::ConnectionPool& decryptor_pool) {
  CV_ASSIGN_OR_RETURN(std::unique_ptr<crypto::SealKeyProvider> seal_key, OpenSealKey(keys));
  // Closed again once the root keys are unwrapped: only keys.seal_key wraps anything new.
  CV_ASSIGN_OR_RETURN(const std::vector<std::unique_ptr<crypto::SealKeyProvider>> previous,
                      OpenPreviousSealKeys(keys));
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
    const crypto::SealKeyProvider* wrapped_by = nullptr;
    if (key.seal_key_id == seal_key->KeyId()) wrapped_by = seal_key.get();
    for (const auto& candidate : previous) {
      if (wrapped_by == nullptr && key.seal_key_id == candidate->KeyId()) {
        wrapped_by = candidate.get();
      }
    }
    if (wrapped_by == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("root key version ", key.version, " is wrapped by seal key ",
                       key.seal_key_id, ", which is neither keys.seal_key (", seal_key->KeyId(),
                       ") nor any of keys.previous_seal_keys"));
    }
    CV_ASSIGN_OR_RETURN(crypto::RootPrivateKey root, crypto::UnsealRootKey(key, *wrapped_by));
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
  CV_ASSIGN_OR_RETURN(std::vector<crypto::KeyDirectorySigner> signers,
                      LoadKeyDirectorySigners(keys));
  if (signers.empty()) {
    return absl::FailedPreconditionError(
        "keys.key_directory_signing_keys: required by the decrypt tier");
  }
  CV_ASSIGN_OR_RETURN(crypto::KeyDirectoryPins directory_pins, LoadKeyDirectoryPins(keys, signers));
  DecryptTierKeys loaded{std::move(seal_key), std::move(roots), std::move(writer_keys),
                         std::move(audit_signer)};
  loaded.key_directory_signer.emplace(std::move(signers.back()));
  loaded.directory_pins = std::move(directory_pins);
  return loaded;
}

}  // namespace credvault::server

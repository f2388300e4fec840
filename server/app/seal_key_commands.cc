#include "server/app/seal_key_commands.h"

#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "crypto/pkcs11_seal_key_provider.h"
#include "crypto/root_key.h"
#include "server/app/database_pools.h"
#include "server/app/one_shot_command.h"
#include "server/config/config.h"
#include "server/keys/key_loading.h"
#include "storage/root_key_store.h"

namespace credvault::server {
namespace {

constexpr OneShotCommand kRewrapRootKeys{
    .name = "rewrap-root-keys",
    .usage = R"(usage: credvaultd rewrap-root-keys --config=FILE

Seal key rotation. With the decrypt tier's configuration, re-wraps every root private key
that is not wrapped by keys.seal_key with it, unwrapping each with the entry of
keys.previous_seal_keys that wrapped it; all in one database transaction of the decrypt
role, so either every root key moves or none does. Safe to run again, and while the
service runs. Prints the versions re-wrapped and the old and new seal key ids.

flags:
  --config=FILE   the decrypt tier's YAML configuration (default: $CREDVAULT_CONFIG)
  --help          this text
)",
    .needs_decrypt_tier = true,
};

constexpr OneShotCommand kPkcs11GenerateSealKey{
    .name = "pkcs11-generate-seal-key",
    .usage = R"(usage: credvaultd pkcs11-generate-seal-key --config=FILE

Generates the seal key named by keys.seal_key.pkcs11 (token_label, key_label) inside the
token: AES-256, sensitive and not extractable, so its value never leaves the HSM. Refuses
to run when the token already holds a secret key with that label. Prints the new key's id.

flags:
  --config=FILE   the decrypt tier's YAML configuration (default: $CREDVAULT_CONFIG)
  --help          this text
)",
    .needs_decrypt_tier = true,
};

}  // namespace

absl::StatusOr<RewrapReport> RewrapRootKeys(
    storage::ConnectionPool& decryptor_pool, const crypto::SealKeyProvider& seal_key,
    absl::Span<const crypto::SealKeyProvider* const> previous) {
  const storage::RootKeyStore root_keys;
  RewrapReport report;
  CV_RETURN_IF_ERROR(decryptor_pool.RunWithoutOrg([&](storage::Transaction& tx) -> absl::Status {
    report = RewrapReport{seal_key.KeyId(), {}, {}};
    CV_ASSIGN_OR_RETURN(const std::vector<storage::RootKey> roots, root_keys.List(tx));
    for (const storage::RootKey& root : roots) {
      const auto version = static_cast<std::uint32_t>(root.version);
      CV_ASSIGN_OR_RETURN(const storage::SealedRootKey stored,
                          root_keys.GetSealed(tx, root.version));
      if (stored.seal_key_id == report.seal_key_id) {
        report.unchanged.push_back(version);
        continue;
      }
      const auto from = std::find_if(previous.begin(), previous.end(), [&](const auto* candidate) {
        return candidate->KeyId() == stored.seal_key_id;
      });
      if (from == previous.end()) {
        return absl::FailedPreconditionError(
            absl::StrCat("root key version ", version, " is wrapped by seal key ",
                         stored.seal_key_id, ", which is not in keys.previous_seal_keys"));
      }
      crypto::SealedRootKey sealed;
      sealed.version = version;
      if (root.public_key.size() != sealed.public_key.size()) {
        return absl::DataLossError(
            absl::StrCat("root key version ", version, " has a malformed public key"));
      }
      std::copy(root.public_key.begin(), root.public_key.end(), sealed.public_key.begin());
      sealed.wrapped_private_key = stored.sealed_private_key;
      sealed.seal_key_id = stored.seal_key_id;
      CV_ASSIGN_OR_RETURN(const crypto::SealedRootKey rewrapped,
                          crypto::RewrapRootKey(sealed, **from, seal_key));
      // Never store a wrapping that would not open: the old one is gone once this commits.
      CV_RETURN_IF_ERROR(crypto::UnsealRootKey(rewrapped, seal_key).status());
      CV_RETURN_IF_ERROR(root_keys.Rewrap(tx, root.version, stored.seal_key_id,
                                          rewrapped.wrapped_private_key, rewrapped.seal_key_id));
      report.rewrapped.push_back({version, stored.seal_key_id});
    }
    return absl::OkStatus();
  }));
  return report;
}

int RunRewrapRootKeysCommand(const std::vector<std::string_view>& args) {
  std::variant<Config, int> start = StartOneShotCommand(kRewrapRootKeys, args);
  if (const int* exit_code = std::get_if<int>(&start)) return *exit_code;
  const Config* const config = &std::get<Config>(start);

  const absl::StatusOr<std::unique_ptr<crypto::SealKeyProvider>> seal_key =
      OpenSealKey(config->keys);
  if (!seal_key.ok()) {
    std::cerr << "credvaultd rewrap-root-keys: " << seal_key.status().message() << "\n";
    return 1;
  }
  const absl::StatusOr<std::vector<std::unique_ptr<crypto::SealKeyProvider>>> previous =
      OpenPreviousSealKeys(config->keys);
  if (!previous.ok()) {
    std::cerr << "credvaultd rewrap-root-keys: " << previous.status().message() << "\n";
    return 1;
  }
  const absl::StatusOr<std::unique_ptr<storage::ConnectionPool>> pool =
      OpenPool(*config, *config->database.decryptor);
  if (!pool.ok()) {
    std::cerr << "credvaultd rewrap-root-keys: database.decryptor: " << pool.status().message()
              << "\n";
    return 1;
  }
  std::vector<const crypto::SealKeyProvider*> previous_keys;
  for (const auto& provider : *previous) previous_keys.push_back(provider.get());
  const absl::StatusOr<RewrapReport> report = RewrapRootKeys(**pool, **seal_key, previous_keys);
  if (!report.ok()) {
    std::cerr << "credvaultd rewrap-root-keys: nothing changed: " << report.status().ToString()
              << "\n";
    return 1;
  }
  std::cout << "seal key: " << report->seal_key_id << "\n";
  for (const RewrapReport::Rewrapped& key : report->rewrapped) {
    std::cout << "root key " << key.version << ": re-wrapped (was " << key.old_seal_key_id << ")\n";
  }
  for (const std::uint32_t version : report->unchanged) {
    std::cout << "root key " << version << ": already wrapped by the seal key\n";
  }
  std::cout << report->rewrapped.size() << " re-wrapped, " << report->unchanged.size()
            << " already current\n";
  return 0;
}

int RunPkcs11GenerateSealKeyCommand(const std::vector<std::string_view>& args) {
  std::variant<Config, int> start = StartOneShotCommand(kPkcs11GenerateSealKey, args);
  if (const int* exit_code = std::get_if<int>(&start)) return *exit_code;
  const Config* const config = &std::get<Config>(start);
  const std::optional<SealKeyConfig>& seal_key = config->keys.seal_key;
  if (!seal_key.has_value() || seal_key->provider != SealKeyBackend::kPkcs11 ||
      !seal_key->pkcs11.has_value()) {
    std::cerr << "credvaultd pkcs11-generate-seal-key: keys.seal_key.provider must be pkcs11\n";
    return 2;
  }
  const Pkcs11Config& pkcs11 = *seal_key->pkcs11;
  const absl::StatusOr<ConfigSecret> pin = ReadPkcs11Pin(pkcs11, "keys.seal_key");
  if (!pin.ok()) {
    std::cerr << "credvaultd pkcs11-generate-seal-key: " << pin.status().message() << "\n";
    return 1;
  }
  const absl::Status generated = crypto::Pkcs11SealKeyProvider::GenerateKey(
      crypto::Pkcs11KeyLocation{pkcs11.module, pkcs11.token_label, pkcs11.key_label},
      crypto::SecretView::Borrow(pin->RevealSecret()));
  if (!generated.ok()) {
    std::cerr << "credvaultd pkcs11-generate-seal-key: "
              << Pkcs11ConfigError(generated, "keys.seal_key", pkcs11).message() << "\n";
    return 1;
  }
  // Opening it runs the same checks as the server does at start.
  const absl::StatusOr<std::unique_ptr<crypto::SealKeyProvider>> provider =
      OpenSealKey(config->keys);
  if (!provider.ok()) {
    std::cerr << "credvaultd pkcs11-generate-seal-key: " << provider.status().message() << "\n";
    return 1;
  }
  std::cout << "generated seal key " << (*provider)->KeyId() << "\n";
  return 0;
}

}  // namespace credvault::server

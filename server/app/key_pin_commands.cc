#include "server/app/key_pin_commands.h"

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <variant>

#include "common/status_macros.h"
#include "crypto/key_directory.h"
#include "crypto/root_key.h"
#include "server/app/database_pools.h"
#include "server/app/one_shot_command.h"
#include "server/app/startup_failure.h"
#include "server/config/config.h"
#include "server/keys/key_loading.h"
#include "storage/pool.h"
#include "storage/root_key_store.h"

namespace credvault::server {
namespace {

constexpr OneShotCommand kInitRootKey{
    .name = "init-root-key",
    .usage = R"(usage: credvaultd init-root-key --config=FILE

Makes root key version 1 (wrapped by the seal key) when the database has no
root key, then prints every root key's pin for keys.root_key_pins.
)",
    .needs_decrypt_tier = true,
};

constexpr OneShotCommand kKeyDirectoryPins{
    .name = "key-directory-pins",
    .usage = R"(usage: credvaultd key-directory-pins --config=FILE

Prints the public half of every key directory signing key of a decrypt-tier
configuration, one `version: key` line each, for keys.key_directory_pins.
)",
};

// Reports a failure (startup_failure.h); returns `exit_code`.
int Fail(const absl::Status& status, std::string_view what, int exit_code) {
  ReportFailure(status, what).IgnoreError();
  return exit_code;
}

}  // namespace

int RunInitRootKeyCommand(const std::vector<std::string_view>& args) {
  std::variant<Config, int> start = StartOneShotCommand(kInitRootKey, args);
  if (const int* exit_code = std::get_if<int>(&start)) return *exit_code;
  const Config* const config = &std::get<Config>(start);
  absl::StatusOr<std::unique_ptr<storage::ConnectionPool>> pool =
      OpenPool(*config, *config->database.decryptor);
  absl::StatusOr<std::unique_ptr<crypto::SealKeyProvider>> seal_key = OpenSealKey(config->keys);
  if (!pool.ok()) return Fail(pool.status(), "database.decryptor", 1);
  if (!seal_key.ok()) return Fail(seal_key.status(), "keys.seal_key", 1);
  const storage::RootKeyStore root_keys;
  std::vector<storage::RootKey> roots;
  const absl::Status status = (*pool)->RunWithoutOrg([&](storage::Transaction& tx) -> absl::Status {
    CV_ASSIGN_OR_RETURN(roots, root_keys.List(tx));
    if (!roots.empty()) return absl::OkStatus();
    CV_ASSIGN_OR_RETURN(const crypto::SealedRootKey made, crypto::GenerateRootKey(1, **seal_key));
    storage::NewRootKey key;
    key.version = 1;
    key.public_key.assign(made.public_key.begin(), made.public_key.end());
    key.sealed_private_key = made.wrapped_private_key;
    key.seal_key_id = made.seal_key_id;
    CV_RETURN_IF_ERROR(root_keys.Rotate(tx, key));
    CV_ASSIGN_OR_RETURN(roots, root_keys.List(tx));
    return absl::OkStatus();
  });
  if (!status.ok()) return Fail(status, "init-root-key", 1);
  for (const storage::RootKey& root : roots) {
    crypto::X25519PublicKey public_key{};
    if (root.public_key.size() != public_key.size()) continue;
    std::copy(root.public_key.begin(), root.public_key.end(), public_key.begin());
    std::cout << root.version << ": " << crypto::RootKeyFingerprint(public_key) << "\n";
  }
  return 0;
}

int RunKeyDirectoryPinsCommand(const std::vector<std::string_view>& args) {
  std::variant<Config, int> start = StartOneShotCommand(kKeyDirectoryPins, args);
  if (const int* exit_code = std::get_if<int>(&start)) return *exit_code;
  const Config* const config = &std::get<Config>(start);
  absl::StatusOr<std::vector<crypto::KeyDirectorySigner>> signers =
      LoadKeyDirectorySigners(config->keys);
  if (!signers.ok()) return Fail(signers.status(), "keys.key_directory_signing_keys", 1);
  if (signers->empty()) {
    std::cerr << "credvaultd key-directory-pins: the configuration has no "
                 "keys.key_directory_signing_keys\n";
    return 2;
  }
  std::map<std::uint32_t, std::string> pins;
  for (const crypto::KeyDirectorySigner& signer : *signers) {
    pins[signer.version()] = crypto::KeyDirectoryPublicKeyHex(signer.public_key());
  }
  for (const auto& [version, pin] : pins) std::cout << version << ": " << pin << "\n";
  return 0;
}

}  // namespace credvault::server

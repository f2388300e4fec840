// credvaultd: the credvault server. See `credvaultd --help`.
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "server/app/key_pin_commands.h"
#include "server/app/migrate_command.h"
#include "server/app/seal_key_commands.h"
#include "server/app/selfcheck.h"
#include "server/app/serve_command.h"
#include "server/auth/bearer_token.h"

namespace {

constexpr std::string_view kUsage = R"(usage: credvaultd <command> [flags]

commands:
  serve          run the service (see `credvaultd serve --help` for every option)
  migrate        apply the schema migrations and create the database roles
  init-root-key  make the first root key on the decrypt tier and print the root key pins
  key-directory-pins
                 print the key directory public keys of a decrypt-tier configuration, for
                 keys.key_directory_pins of write-only tiers
  rewrap-root-keys
                 seal key rotation: re-wrap the root keys still under a previous seal key
                 with the current one
  pkcs11-generate-seal-key
                 generate the PKCS#11 seal key (AES-256, non-extractable) inside its token
  hash-token     read a bearer token on stdin and print its hash for the policy file
  selfcheck      exercise the key hierarchy in memory and report
)";

}  // namespace

int main(int argc, char** argv) {
#ifdef NDEBUG
  // Deadlock detection costs every lock and unlock, gRPC's included; debug builds and the
  // test suite keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  const std::string_view command = args[0];
  const std::vector<std::string_view> rest(args.begin() + 1, args.end());
  if (command == "serve") return credvault::server::RunServeCommand(rest);
  if (command == "migrate") return credvault::server::RunMigrateCommand(rest);
  if (command == "init-root-key") return credvault::server::RunInitRootKeyCommand(rest);
  if (command == "key-directory-pins") return credvault::server::RunKeyDirectoryPinsCommand(rest);
  if (command == "rewrap-root-keys") return credvault::server::RunRewrapRootKeysCommand(rest);
  if (command == "pkcs11-generate-seal-key") {
    return credvault::server::RunPkcs11GenerateSealKeyCommand(rest);
  }
  if (command == "selfcheck") return credvault::server::RunSelfCheck(std::cout);
  if (command == "hash-token") {
    const absl::StatusOr<std::string> hash = credvault::server::HashTokenFromInput(std::cin);
    if (!hash.ok()) {
      std::cerr << "credvaultd hash-token: " << hash.status().message() << "\n";
      return 2;
    }
    std::cout << *hash << "\n";
    return 0;
  }
  std::cerr << "credvaultd: unknown command '" << command << "'\n\n" << kUsage;
  return 2;
}

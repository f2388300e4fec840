#include "server/app/one_shot_command.h"

#include <iostream>
#include <utility>

#include "absl/status/statusor.h"
#include "server/app/command_flags.h"
#include "server/app/core_dumps.h"
#include "server/config/environment.h"

namespace credvault::server {

std::variant<Config, int> StartOneShotCommand(const OneShotCommand& command,
                                              const std::vector<std::string_view>& args) {
  const absl::StatusOr<CommandFlags> flags = ParseCommandFlags(args, /*accept_overrides=*/false);
  if (!flags.ok()) {
    std::cerr << "credvaultd " << command.name << ": " << flags.status().message() << "\n\n"
              << command.usage;
    return 2;
  }
  if (flags->help) {
    std::cout << command.usage;
    return 0;
  }
  DisableCoreDumps();
  const ProcessEnvironment environment;
  absl::StatusOr<Config> config = LoadConfig(flags->config_path, environment);
  if (!config.ok()) {
    std::cerr << "credvaultd " << command.name << ": configuration:\n"
              << config.status().message() << "\n";
    return 2;
  }
  if (command.needs_decrypt_tier &&
      (!config->RunsTier(Tier::kDecrypt) || !config->database.decryptor.has_value())) {
    std::cerr << "credvaultd " << command.name << ": needs a decrypt-tier configuration\n";
    return 2;
  }
  return *std::move(config);
}

}  // namespace credvault::server

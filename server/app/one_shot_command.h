#ifndef CREDVAULT_SERVER_APP_ONE_SHOT_COMMAND_H_
#define CREDVAULT_SERVER_APP_ONE_SHOT_COMMAND_H_

#include <string_view>
#include <variant>
#include <vector>

#include "server/config/config.h"

namespace credvault::server {

// A credvaultd command that runs once on a configuration file and exits (init-root-key,
// key-directory-pins, rewrap-root-keys, pkcs11-generate-seal-key).
struct OneShotCommand {
  std::string_view name;
  // Printed on stdout for --help, after the error on stderr for a bad argument.
  std::string_view usage;
  // Refuse configurations without the decrypt tier and its database role.
  bool needs_decrypt_tier = false;
};

// What every one-shot command starts with: its flags (--config=FILE or $CREDVAULT_CONFIG,
// --help), no core dumps from here on (these commands handle root keys, seal keys and
// PINs), and its configuration. Returns the configuration, or the exit code when the command
// ends here: 0 after --help, 2 after a usage or configuration error, reported on stderr as
// "credvaultd NAME: ...".
std::variant<Config, int> StartOneShotCommand(const OneShotCommand& command,
                                              const std::vector<std::string_view>& args);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_APP_ONE_SHOT_COMMAND_H_

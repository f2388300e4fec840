#ifndef CREDVAULT_SERVER_APP_COMMAND_FLAGS_H_
#define CREDVAULT_SERVER_APP_COMMAND_FLAGS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "server/config/config_flags.h"

namespace credvault::server {

// The flags that credvaultd's configuration-driven commands (serve, init-root-key,
// key-directory-pins) share.
struct CommandFlags {
  std::string config_path;  // --config, else $CREDVAULT_CONFIG
  std::string ready_file;   // --ready-file
  FlagOverrides overrides;  // configuration flags, when the command takes them
  bool help = false;        // --help or -h
};

// INVALID_ARGUMENT names an unknown argument, or a missing configuration file outside
// --help. Configuration flags are accepted only with `accept_overrides`.
absl::StatusOr<CommandFlags> ParseCommandFlags(const std::vector<std::string_view>& args,
                                               bool accept_overrides);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_APP_COMMAND_FLAGS_H_

#include "server/app/command_flags.h"

#include <cstdlib>

#include "common/status_macros.h"

namespace credvault::server {

absl::StatusOr<CommandFlags> ParseCommandFlags(const std::vector<std::string_view>& args,
                                               bool accept_overrides) {
  CommandFlags flags;
  for (const std::string_view arg : args) {
    if (arg == "--help" || arg == "-h") {
      flags.help = true;
    } else if (arg.substr(0, 9) == "--config=") {
      flags.config_path = std::string(arg.substr(9));
    } else if (arg.substr(0, 13) == "--ready-file=") {
      flags.ready_file = std::string(arg.substr(13));
    } else if (accept_overrides) {
      CV_ASSIGN_OR_RETURN(const bool known, ParseConfigFlag(arg, flags.overrides));
      if (!known) return absl::InvalidArgumentError("unknown argument '" + std::string(arg) + "'");
    } else {
      return absl::InvalidArgumentError("unknown argument '" + std::string(arg) + "'");
    }
  }
  if (flags.config_path.empty()) {
    if (const char* env = std::getenv("CREDVAULT_CONFIG"); env != nullptr) flags.config_path = env;
  }
  if (flags.config_path.empty() && !flags.help) {
    return absl::InvalidArgumentError("--config=FILE (or CREDVAULT_CONFIG) is required");
  }
  return flags;
}

}  // namespace credvault::server

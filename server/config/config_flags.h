#ifndef CREDVAULT_SERVER_CONFIG_CONFIG_FLAGS_H_
#define CREDVAULT_SERVER_CONFIG_CONFIG_FLAGS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "server/schema/schema_parser.h"

namespace credvault::server {

// Command-line flags for the options most often changed per run ("--write-address=
// 127.0.0.1:0" in a test, "--log-level=debug" while investigating). Each flag overrides one
// configuration key and is validated by the same schema as the file, so a flag can never
// produce a configuration the file could not; errors name the flag and the key.
struct FlagOverrides {
  std::vector<KeyOverride> values;  // in command-line order; a later flag wins
};

// If `arg` is one of the configuration flags ("--name=value"), records it in `flags` and
// returns true; returns false for any other argument. A configuration flag without a value
// is INVALID_ARGUMENT.
absl::StatusOr<bool> ParseConfigFlag(std::string_view arg, FlagOverrides& flags);

// The flags, their keys and meanings, for --help.
std::string RenderConfigFlagsReference();

// The names of the flags ("write-address", ...), for tests and completion.
std::vector<std::string> ConfigFlagNames();

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_CONFIG_CONFIG_FLAGS_H_

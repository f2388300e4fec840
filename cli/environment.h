#ifndef CREDVAULT_CLI_ENVIRONMENT_H_
#define CREDVAULT_CLI_ENVIRONMENT_H_

// Everything credvaultctl takes from its process: environment variables, randomness,
// standard streams. Injected so that tests run the whole tool in-process and hermetically.

#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "absl/strings/string_view.h"

namespace credvault::cli {

struct Environment {
  // Value of an environment variable, or nullopt when unset.
  std::function<std::optional<std::string>(absl::string_view name)> get_env;
  // A fresh idempotency key for a mutation that was given none.
  std::function<std::string()> new_idempotency_key;
  // Where secrets are read from (put, compare) and where decrypt writes raw bytes. File
  // descriptors, not streams, so that no stream buffer keeps an unwiped copy.
  int stdin_fd = 0;
  int stdout_fd = 1;
  // Formatted output and diagnostics.
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
};

// The real process: getenv, random keys, fds 0 and 1, std::cout and std::cerr.
Environment ProcessEnvironment();

// "credvaultctl-" followed by 32 random hex digits (128 bits from libsodium): unique per
// invocation, and within the API's rule of 1-128 characters from [A-Za-z0-9._:-].
std::string RandomIdempotencyKey();

}  // namespace credvault::cli

#endif  // CREDVAULT_CLI_ENVIRONMENT_H_

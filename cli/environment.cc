#include "cli/environment.h"

#include <sodium.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <iostream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace credvault::cli {

std::string RandomIdempotencyKey() {
  // sodium_init is idempotent and thread-safe; randombytes_buf needs it first.
  if (sodium_init() < 0) std::abort();
  std::array<std::uint8_t, 16> bytes;
  randombytes_buf(bytes.data(), bytes.size());
  return absl::StrCat("credvaultctl-",
                      absl::BytesToHexString(absl::string_view(
                          reinterpret_cast<const char*>(bytes.data()), bytes.size())));
}

Environment ProcessEnvironment() {
  Environment env;
  env.get_env = [](absl::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
  env.new_idempotency_key = RandomIdempotencyKey;
  env.stdin_fd = 0;
  env.stdout_fd = 1;
  env.out = &std::cout;
  env.err = &std::cerr;
  return env;
}

}  // namespace credvault::cli

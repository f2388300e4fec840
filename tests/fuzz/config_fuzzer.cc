// The server configuration loader (server/config/config.h, ParseConfig: the YAML text of
// LoadConfig) on arbitrary text. The environment holds the variables the example
// configuration names, so valid seeds get past the secret look-ups to the cross-checks.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "absl/status/status.h"
#include "server/config/config.h"
#include "server/config/environment.h"

namespace {

const credvault::server::MapEnvironment* environment = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  environment = new credvault::server::MapEnvironment({
      {"CREDVAULT_DB_WRITER_PASSWORD", "fuzz-writer"},
      {"CREDVAULT_DB_DECRYPTOR_PASSWORD", "fuzz-decryptor"},
      {"CREDVAULT_DB_ADMIN_PASSWORD", "fuzz-admin"},
      {"CREDVAULT_PKCS11_PIN", "1234"},
      {"CREDVAULT_KEY_AUTHORITY_TOKEN", "fuzz-token"},
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<credvault::server::Config> config =
      credvault::server::ParseConfig(yaml, "fuzz.yaml", *environment);
  // Every refusal is a configuration error, never an internal one.
  if (!config.ok() && config.status().code() != absl::StatusCode::kInvalidArgument) {
    std::abort();
  }
  return 0;
}

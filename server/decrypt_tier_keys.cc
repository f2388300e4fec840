#include "server/decrypt_tier_keys.h"

#include <string>

#include "absl/status/status.h"

namespace credvault::server {

absl::StatusOr<const crypto::RootPrivateKey*> DecryptTierKeys::Root(std::uint32_t version) const {
  const auto it = roots.find(version);
  if (it == roots.end()) {
    return absl::FailedPreconditionError("root key version " + std::to_string(version) +
                                         " is not loaded on this decrypt tier");
  }
  return &it->second;
}

}  // namespace credvault::server

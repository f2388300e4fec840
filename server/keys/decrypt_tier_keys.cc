#include "server/keys/decrypt_tier_keys.h"

#include <string>

#include "absl/status/status.h"

namespace credvault::server {

absl::StatusOr<const crypto::RootPrivateKey*> DecryptTierKeys::Root(std::uint32_t version) const {
  if (const auto it = roots.find(version); it != roots.end()) return &it->second;
  return late_roots->GetOrLoad(version);
}

}  // namespace credvault::server

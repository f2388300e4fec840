#include "server/auth/role.h"

namespace credvault::server {
namespace {

constexpr std::string_view kRoleNames[] = {"writer", "decryptor", "admin", "auditor",
                                           "key_authority_client"};

}  // namespace

std::string_view RoleName(Role role) { return kRoleNames[static_cast<int>(role)]; }

std::optional<Role> ParseRole(std::string_view name) {
  for (std::size_t i = 0; i < std::size(kRoleNames); ++i) {
    if (kRoleNames[i] == name) return static_cast<Role>(i);
  }
  return std::nullopt;
}

absl::Span<const std::string_view> RoleNames() { return kRoleNames; }

}  // namespace credvault::server

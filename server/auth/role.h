#ifndef CREDVAULT_SERVER_AUTH_ROLE_H_
#define CREDVAULT_SERVER_AUTH_ROLE_H_

#include <optional>
#include <string_view>

#include "absl/types/span.h"

namespace credvault::server {

// What a principal may do (common.proto, "Authentication and authorisation"):
//   writer     CredentialService: put, describe, list, delete; never reads a secret
//   decryptor  CredentialAccessService: decrypt, with a stated purpose
//   admin      AdminService: org lifecycle, key rotation, re-seal jobs
//   auditor    AdminService: read and verify the audit log
//   key_authority_client
//              KeyAuthorityService (internal): the identity of a write tier running
//              without the decrypt tier, which asks the key authority to provision orgs
//              and answer comparisons on behalf of its own callers
enum class Role { kWriter, kDecryptor, kAdmin, kAuditor, kKeyAuthorityClient };

// "writer", "decryptor", "admin", "auditor", "key_authority_client": the names used in
// the policy file.
std::string_view RoleName(Role role);
std::optional<Role> ParseRole(std::string_view name);

// Every role name, indexed by enumerator value.
absl::Span<const std::string_view> RoleNames();

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_AUTH_ROLE_H_

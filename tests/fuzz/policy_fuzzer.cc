// The access policy loader (server/auth/policy.h, Policy::Parse: the YAML text of
// LoadFile) on arbitrary text, then the decisions of whatever policy it accepts.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "absl/status/status.h"
#include "server/auth/policy.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<credvault::server::Policy> policy =
      credvault::server::Policy::Parse(yaml, "fuzz-policy.yaml");
  if (!policy.ok()) {
    Check(policy.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  // Decisions on an accepted policy: a token never matches unless the policy lists it, so
  // the fixed guess below must be refused by any policy without a grant for it.
  absl::StatusOr<credvault::server::Principal> token =
      policy->AuthenticateBearerToken("fuzz-token-not-in-any-seed");
  if (!token.ok()) Check(token.status().code() == absl::StatusCode::kUnauthenticated);

  // Authorization answers OK or PERMISSION_DENIED, and a grant for one org or for all orgs
  // implies that the org trusts the principal with something.
  using credvault::server::Principal;
  using credvault::server::PrincipalSource;
  using credvault::server::Role;
  const Principal principals[] = {
      {"spiffe://example.org/ns/prod/sa/backend", PrincipalSource::kCertificate},
      {"token:ci-worker", PrincipalSource::kToken},
  };
  for (const Principal& principal : principals) {
    for (Role role : {Role::kWriter, Role::kDecryptor, Role::kAdmin, Role::kAuditor,
                      Role::kKeyAuthorityClient}) {
      const absl::Status all = policy->AuthorizeAllOrgs(principal, role);
      Check(all.ok() || all.code() == absl::StatusCode::kPermissionDenied);
      for (std::string_view org : {"org-a", "org-b", "*", ""}) {
        const absl::Status one = policy->Authorize(principal, role, org);
        Check(one.ok() || one.code() == absl::StatusCode::kPermissionDenied);
        if (all.ok() && credvault::server::IsValidOrgId(org)) Check(one.ok());
        if (one.ok()) Check(policy->HasAnyGrantFor(principal, org));
      }
    }
  }
  return 0;
}

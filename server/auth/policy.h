#ifndef CREDVAULT_SERVER_AUTH_POLICY_H_
#define CREDVAULT_SERVER_AUTH_POLICY_H_

#include <cstddef>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/auth/bearer_token.h"
#include "server/auth/principal.h"
#include "server/auth/role.h"
#include "server/auth/service_account_token.h"
#include "server/schema/schema_reference.h"

namespace credvault::server {

// The access policy: which principals may act, in which roles, for which orgs. Read from a
// YAML file with a strict schema (unknown keys are errors naming the key):
//
//   principals:
//     - id: "spiffe://example.org/ns/prod/sa/backend"  # certificate identity, exact match
//       roles: [writer]
//       orgs: ["*"]                                    # every org
//     - token_name: ci-worker                          # principal "token:ci-worker"
//       token_hash: "blake2b256:<64 hex>"              # credvaultd hash-token < token
//       roles: [decryptor]
//       orgs: [org-a, org-b]
//     - id: "k8s:jobs/worker"                          # Kubernetes ServiceAccount token
//       roles: [decryptor]                             # (auth.kubernetes in the config)
//       orgs: [org-a]
//
// Default deny: a principal absent from the policy has no role for any org. A Policy is an
// immutable value; PolicyStore swaps whole policies on reload.
class Policy {
 public:
  // The empty policy, which denies everything.
  Policy() = default;

  // INVALID_ARGUMENT listing every problem, each naming its key
  // ("principals[2].orgs[0]: ..."). `source_name` prefixes the messages.
  static absl::StatusOr<Policy> Parse(std::string_view yaml, std::string_view source_name);
  // As Parse, from a file; an unreadable file is NOT_FOUND / PERMISSION_DENIED.
  static absl::StatusOr<Policy> LoadFile(const std::string& path);

  // The token principal whose token_hash matches the hash of `token`, comparing against
  // every entry in constant time (sodium_memcmp, no early exit), so response time says
  // nothing about which entry matched or how close a guess came. UNAUTHENTICATED
  // "unknown bearer token" otherwise.
  absl::StatusOr<Principal> AuthenticateBearerToken(std::string_view token) const;

  // The verifier of Kubernetes ServiceAccount tokens (auth.kubernetes), or null when they
  // are not accepted. Set by PolicyStore on every policy it loads.
  const ServiceAccountTokenVerifier* service_account_tokens() const {
    return service_account_tokens_.get();
  }
  void set_service_account_tokens(std::shared_ptr<const ServiceAccountTokenVerifier> verifier) {
    service_account_tokens_ = std::move(verifier);
  }

  // OK when `principal` holds `role` for `org_id` (listed, or "*"). Otherwise
  // PERMISSION_DENIED with the same message whether the principal is unknown, lacks the
  // role or lacks the org, and whether or not the org exists, e.g.
  // "principal token:ci-worker may not act as decryptor for org org-b".
  absl::Status Authorize(const Principal& principal, Role role, std::string_view org_id) const;

  // For operations that span orgs (system audit chain, listing across orgs): the principal
  // must hold `role` with the "*" org scope.
  absl::Status AuthorizeAllOrgs(const Principal& principal, Role role) const;

  // Whether `principal` holds any role at all for `org_id` (the org listed, or "*"): that
  // is, whether the org trusts it with anything. Decides where a denial is recorded: a
  // caller the org trusts is accountable in the org's audit chain, a stranger only in the
  // rate-limited security log (docs/data-handling.md). False for a malformed org id.
  bool HasAnyGrantFor(const Principal& principal, std::string_view org_id) const;

  std::size_t principal_count() const {
    return certificate_grants_.size() + tokens_.size() + service_account_grants_.size();
  }

  // The policy file's keys, and their reference text for the docs.
  static std::vector<SchemaKey> DescribeSchema();
  static std::string RenderReference();

 private:
  struct Grant {
    std::set<Role> roles;
    bool all_orgs = false;
    std::set<std::string> orgs;
  };
  struct TokenEntry {
    TokenHash hash;
    std::string principal_id;  // "token:<name>"
  };

  const Grant* FindGrant(const Principal& principal) const;

  std::map<std::string, Grant> certificate_grants_;      // by certificate principal id
  std::map<std::string, Grant> service_account_grants_;  // by "k8s:<namespace>/<name>"
  std::map<std::string, Grant> token_grants_;            // by "token:<name>"
  std::vector<TokenEntry> tokens_;
  std::shared_ptr<const ServiceAccountTokenVerifier> service_account_tokens_;
};

// The org id rule of common.proto: 1-64 characters, the first [a-z0-9], the rest
// [a-z0-9._-].
bool IsValidOrgId(std::string_view org_id);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_AUTH_POLICY_H_

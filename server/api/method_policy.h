#ifndef CREDVAULT_SERVER_API_METHOD_POLICY_H_
#define CREDVAULT_SERVER_API_METHOD_POLICY_H_

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "google/protobuf/message.h"
#include "server/api/requested_org.h"
#include "server/auth/role.h"

namespace credvault::server {

// How a method's request names the org that authorisation checks.
enum class OrgRule {
  // The request's org field names one org; the caller needs one of the roles for it.
  kOrgField,
  // As kOrgField, except that the reserved `_system` names no org, so the caller needs
  // one of the roles for every org (the "*" scope): the audit and re-seal job methods.
  kOrgFieldOrSystem,
  // The method spans orgs or names none; the caller needs the "*" scope.
  kAllOrgs,
};

// Who may call one RPC, and for which org: the roles of each tier in docs/architecture.md
// ("The two tiers"), the rule in proto/credvault/v1/common.proto ("Authentication and
// authorisation").
struct MethodPolicy {
  // The method's name in logs, metric labels and audit events ("PutCredential",
  // "KeyAuthority.ProvisionOrg"); the adapters in grpc_services.cc look policies up by it.
  std::string_view name;
  // The method as gRPC names it: "<package>.<Service>/<Method>".
  std::string_view full_method;
  // One of these is enough. They are tried in this order, and a refused caller gets the
  // refusal of the last one, so the order is part of the behaviour.
  std::vector<Role> roles;
  OrgRule org_rule;
  // The request's string field that names the org; empty for kAllOrgs.
  std::string_view org_field;
};

// Every RPC the server serves, one entry each.
absl::Span<const MethodPolicy> MethodPolicies();

// The entry named `name` (MethodPolicy::name), never null; INTERNAL when there is none, so
// that a method missing from the table is refused rather than let through.
absl::StatusOr<const MethodPolicy*> LookUpMethodPolicy(std::string_view name);

// The org `request` names under `policy`. INTERNAL when the request has no string field of
// the name the policy gives (a table that does not match the contract).
absl::StatusOr<RequestedOrg> RequestedOrgOf(const MethodPolicy& policy,
                                            const google::protobuf::Message& request);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_API_METHOD_POLICY_H_

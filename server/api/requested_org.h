#ifndef CREDVAULT_SERVER_API_REQUESTED_ORG_H_
#define CREDVAULT_SERVER_API_REQUESTED_ORG_H_

#include <string>
#include <utility>

#include "absl/status/status.h"

namespace credvault::server {

// The org a call asks to act on, with its id checked once when the call arrives. The
// executor's fairness key, the authorisation and the auditing of a refusal all read this
// one result, so they cannot disagree about whether the id is well formed
// (docs/security-model.md: a refusal that names an org goes to that org's chain only when
// the id is one an org can have).
class RequestedOrg {
 public:
  // A call that names no single org (it spans orgs, or names `_system`): the caller needs
  // its role for every org, the "*" scope.
  static RequestedOrg AllOrgs();
  // `org_id` exactly as the request gave it, checked against the org id rule
  // (server/service/api_validation.h).
  static RequestedOrg Named(std::string org_id);

  // False for AllOrgs.
  bool names_org() const { return names_org_; }
  // The id as the request gave it (possibly malformed); empty for AllOrgs.
  const std::string& org_id() const { return org_id_; }
  // OK, or the INVALID_ARGUMENT a caller gets for a malformed id. OK for AllOrgs.
  const absl::Status& validity() const { return validity_; }
  // Names an org with a well-formed id: one that may have an audit chain.
  bool names_valid_org() const { return names_org_ && validity_.ok(); }

 private:
  RequestedOrg(bool names_org, std::string org_id, absl::Status validity)
      : names_org_(names_org), org_id_(std::move(org_id)), validity_(std::move(validity)) {}

  bool names_org_;
  std::string org_id_;
  absl::Status validity_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_API_REQUESTED_ORG_H_

#include "server/service/org_guard.h"

#include <string>

#include "common/status_macros.h"
#include "server/base/error_reason.h"

namespace credvault::server {

absl::Status OrgNotFoundError(std::string_view org_id) {
  return WithReason(absl::NotFoundError("org " + std::string(org_id) + " does not exist"),
                    ErrorReason::kOrgNotFound);
}

absl::Status OrgDestroyedError(std::string_view org_id, std::string_view consequence) {
  std::string message = "org " + std::string(org_id) + " is destroyed";
  if (!consequence.empty()) message += "; " + std::string(consequence);
  return WithReason(absl::FailedPreconditionError(message), ErrorReason::kOrgDestroyed);
}

absl::StatusOr<storage::Org> LoadExistingOrg(const storage::OrgStore& orgs,
                                             storage::Transaction& tx) {
  absl::StatusOr<storage::Org> org = orgs.GetOrg(tx);
  if (absl::IsNotFound(org.status())) return OrgNotFoundError(tx.org_id());
  return org;
}

absl::Status CheckNotDestroyed(const storage::Org& org) {
  if (org.state == storage::OrgState::kDestroyed) return OrgDestroyedError(org.org_id);
  return absl::OkStatus();
}

absl::Status RequireActiveOrg(const storage::OrgStore& orgs, storage::Transaction& tx) {
  CV_ASSIGN_OR_RETURN(const storage::Org org, LoadExistingOrg(orgs, tx));
  return CheckNotDestroyed(org);
}

}  // namespace credvault::server

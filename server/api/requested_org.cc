#include "server/api/requested_org.h"

#include <utility>

#include "server/service/api_validation.h"

namespace credvault::server {

RequestedOrg RequestedOrg::AllOrgs() { return RequestedOrg(false, "", absl::OkStatus()); }

RequestedOrg RequestedOrg::Named(std::string org_id) {
  absl::Status validity = ValidateOrgId("org_id", org_id);
  return RequestedOrg(true, std::move(org_id), std::move(validity));
}

}  // namespace credvault::server

#ifndef CREDVAULT_SERVER_API_ORG_TRANSLATION_H_
#define CREDVAULT_SERVER_API_ORG_TRANSLATION_H_

#include "absl/status/statusor.h"
#include "credvault/v1/admin_service.pb.h"
#include "server/service/org_requests.h"

// The org lifecycle RPCs of AdminService between the API's messages and OrgHandler's terms.
// Pure functions: every value is carried over as it is, the handler judges it; only an
// enum value the domain has no name for is refused here.
namespace credvault::server {

CreateOrgParams FromApi(const credvault::v1::CreateOrgRequest& request);
credvault::v1::CreateOrgResponse ToApi(const CreateOrgResult& result);

DescribeOrgParams FromApi(const credvault::v1::DescribeOrgRequest& request);
credvault::v1::DescribeOrgResponse ToApi(const DescribeOrgResult& result);

// INVALID_ARGUMENT for a state that is no OrgState value.
absl::StatusOr<ListOrgsParams> FromApi(const credvault::v1::ListOrgsRequest& request);
credvault::v1::ListOrgsResponse ToApi(const ListOrgsResult& result);

DestroyOrgParams FromApi(const credvault::v1::DestroyOrgRequest& request);
credvault::v1::DestroyOrgResponse ToApi(const DestroyOrgResult& result);

// The parts the key rotation RPCs answer with too.
credvault::v1::OrgInfo ToApi(const OrgDescription& org);
credvault::v1::ErasureReceipt ToApi(const ErasureReceipt& receipt);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_API_ORG_TRANSLATION_H_

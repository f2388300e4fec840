#ifndef CREDVAULT_SERVER_API_KEY_ROTATION_TRANSLATION_H_
#define CREDVAULT_SERVER_API_KEY_ROTATION_TRANSLATION_H_

#include "absl/status/statusor.h"
#include "credvault/v1/admin_service.pb.h"
#include "server/service/key_rotation_requests.h"

// The key rotation RPCs of AdminService between the API's messages and KeyRotationHandler's
// terms. Pure functions: every value is carried over as it is, the handler judges it; only
// an enum value the domain has no name for is refused here.
namespace credvault::server {

RotateOrgKeyParams FromApi(const credvault::v1::RotateOrgKeyRequest& request);
credvault::v1::RotateOrgKeyResponse ToApi(const RotateOrgKeyResult& result);

DestroyOrgKeyVersionParams FromApi(const credvault::v1::DestroyOrgKeyVersionRequest& request);
credvault::v1::DestroyOrgKeyVersionResponse ToApi(const DestroyOrgKeyVersionResult& result);

RotateRootKeyParams FromApi(const credvault::v1::RotateRootKeyRequest& request);
credvault::v1::RotateRootKeyResponse ToApi(const RotateRootKeyResult& result);

GetResealJobParams FromApi(const credvault::v1::GetResealJobRequest& request);
credvault::v1::GetResealJobResponse ToApi(const GetResealJobResult& result);

// INVALID_ARGUMENT for a state that is no ResealJobState value.
absl::StatusOr<ListResealJobsParams> FromApi(const credvault::v1::ListResealJobsRequest& request);
credvault::v1::ListResealJobsResponse ToApi(const ListResealJobsResult& result);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_API_KEY_ROTATION_TRANSLATION_H_

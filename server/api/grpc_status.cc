#include "server/api/grpc_status.h"

#include <string>

#include "server/api/api_error_reason.h"
#include "server/base/error_reason.h"

namespace credvault::server {

grpc::Status ToGrpcStatus(const absl::Status& status, grpc::ServerContextBase* context) {
  if (status.ok()) return grpc::Status::OK;
  const auto code = static_cast<grpc::StatusCode>(static_cast<int>(status.code()));
  const ErrorReason reason = ReasonOf(status);
  if (context != nullptr && reason != ErrorReason::kUnspecified) {
    context->AddTrailingMetadata("credvault-error-reason",
                                 credvault::v1::ErrorReason_Name(ToApi(reason)));
  }
  if (code == grpc::StatusCode::INTERNAL || code == grpc::StatusCode::UNKNOWN) {
    return grpc::Status(code, "internal error; see the server log for the request id");
  }
  return grpc::Status(code, std::string(status.message()));
}

}  // namespace credvault::server

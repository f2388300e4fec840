#ifndef CREDVAULT_SERVER_API_GRPC_STATUS_H_
#define CREDVAULT_SERVER_API_GRPC_STATUS_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"

namespace credvault::server {

// The one place where an absl::Status becomes a grpc::Status. Codes map one to one; the
// message is passed through (every module writes messages that are safe to show: a field
// name and a reason, never a value that could be secret). INTERNAL and UNKNOWN errors are
// replaced by a generic message, because their text may describe internals. The error
// reason, when there is one, is added to the call's trailing metadata.
grpc::Status ToGrpcStatus(const absl::Status& status, grpc::ServerContextBase* context);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_API_GRPC_STATUS_H_

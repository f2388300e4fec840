#ifndef CREDVAULT_COMMON_GRPC_STATUS_NAME_H_
#define CREDVAULT_COMMON_GRPC_STATUS_NAME_H_

#include <grpcpp/support/status.h>

#include <optional>
#include <string_view>

namespace credvault {

// The canonical upper-case name of a gRPC status code ("PERMISSION_DENIED"), as gRPC spells
// it; nullopt for a number that names no code (e.g. one a newer peer sent). Each caller
// decides how to print such a number.
std::optional<std::string_view> GrpcStatusName(grpc::StatusCode code);

}  // namespace credvault

#endif  // CREDVAULT_COMMON_GRPC_STATUS_NAME_H_

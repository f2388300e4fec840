#include "common/grpc_status_name.h"

#include <array>

namespace credvault {

std::optional<std::string_view> GrpcStatusName(grpc::StatusCode code) {
  // Indexed by code number, as in grpc/impl/codegen/status.h.
  static constexpr std::array<std::string_view, 17> kNames = {
      "OK",
      "CANCELLED",
      "UNKNOWN",
      "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED",
      "NOT_FOUND",
      "ALREADY_EXISTS",
      "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION",
      "ABORTED",
      "OUT_OF_RANGE",
      "UNIMPLEMENTED",
      "INTERNAL",
      "UNAVAILABLE",
      "DATA_LOSS",
      "UNAUTHENTICATED",
  };
  const int number = static_cast<int>(code);
  if (number < 0 || number >= static_cast<int>(kNames.size())) return std::nullopt;
  return kNames[number];
}

}  // namespace credvault

#include "cli/exit_codes.h"

#include <array>

#include "absl/strings/str_format.h"

namespace credvault::cli {
namespace {

// Indexed by code number, as in grpc/impl/codegen/status.h.
constexpr std::array<absl::string_view, 17> kCodeNames = {
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

bool IsKnownCode(grpc::StatusCode code) {
  const int number = static_cast<int>(code);
  return number >= 0 && number < static_cast<int>(kCodeNames.size());
}

}  // namespace

int ExitCodeForGrpcStatus(grpc::StatusCode code) {
  if (code == grpc::StatusCode::OK) return kExitOk;
  if (!IsKnownCode(code)) return kExitGrpcBase + static_cast<int>(grpc::StatusCode::UNKNOWN);
  return kExitGrpcBase + static_cast<int>(code);
}

absl::string_view GrpcStatusCodeName(grpc::StatusCode code) {
  if (!IsKnownCode(code)) return kCodeNames[grpc::StatusCode::UNKNOWN];
  return kCodeNames[static_cast<int>(code)];
}

std::string ExitCodeTable() {
  std::string table =
      "EXIT STATUS:\n"
      "  0   success\n"
      "  1   negative answer: compare found no match, audit verify found the chain (or the\n"
      "      export) broken\n"
      "  2   usage error (bad arguments, conflicting flags, plaintext to a non-loopback "
      "address)\n"
      "  3   local I/O error (secret, token, TLS or output file; empty or oversized secret;\n"
      "      an audit export or public key file that cannot be read or is not one)\n"
      "  10+N  the server or channel returned gRPC status code N:\n";
  for (int number = 1; number < static_cast<int>(kCodeNames.size()); ++number) {
    absl::StrAppendFormat(&table, "        %d  %s\n", kExitGrpcBase + number, kCodeNames[number]);
  }
  return table;
}

}  // namespace credvault::cli

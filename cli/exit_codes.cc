#include "cli/exit_codes.h"

#include <optional>
#include <string_view>

#include "absl/strings/str_format.h"
#include "common/grpc_status_name.h"

namespace credvault::cli {
namespace {

bool IsKnownCode(grpc::StatusCode code) { return GrpcStatusName(code).has_value(); }

}  // namespace

int ExitCodeForGrpcStatus(grpc::StatusCode code) {
  if (code == grpc::StatusCode::OK) return kExitOk;
  if (!IsKnownCode(code)) return kExitGrpcBase + static_cast<int>(grpc::StatusCode::UNKNOWN);
  return kExitGrpcBase + static_cast<int>(code);
}

absl::string_view GrpcStatusCodeName(grpc::StatusCode code) {
  const std::string_view name = GrpcStatusName(code).value_or("UNKNOWN");
  return absl::string_view(name.data(), name.size());
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
  for (int number = 1;; ++number) {
    const std::optional<std::string_view> name =
        GrpcStatusName(static_cast<grpc::StatusCode>(number));
    if (!name) break;
    absl::StrAppendFormat(&table, "        %d  %s\n", kExitGrpcBase + number, *name);
  }
  return table;
}

}  // namespace credvault::cli

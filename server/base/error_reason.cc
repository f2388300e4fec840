#include "server/base/error_reason.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"

namespace credvault::server {
namespace {

// The payload stays inside the process: server/api turns it into the API's reason name.
constexpr char kPayloadUrl[] = "type.credvault.dev/credvault.server.ErrorReason";

}  // namespace

absl::Status WithReason(absl::Status status, ErrorReason reason) {
  if (!status.ok()) {
    status.SetPayload(kPayloadUrl, absl::Cord(std::to_string(static_cast<int>(reason))));
  }
  return status;
}

ErrorReason ReasonOf(const absl::Status& status) {
  const auto payload = status.GetPayload(kPayloadUrl);
  int value = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &value) ||
      value < static_cast<int>(ErrorReason::kUnspecified) ||
      value > static_cast<int>(ErrorReason::kAuditUnavailable)) {
    return ErrorReason::kUnspecified;
  }
  return static_cast<ErrorReason>(value);
}

}  // namespace credvault::server

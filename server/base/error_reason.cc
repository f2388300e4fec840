#include "server/base/error_reason.h"

#include <string>

#include "absl/strings/cord.h"

namespace credvault::server {
namespace {

constexpr char kPayloadUrl[] = "type.credvault.dev/credvault.v1.ErrorReason";

}  // namespace

absl::Status WithReason(absl::Status status, credvault::v1::ErrorReason reason) {
  if (!status.ok()) {
    status.SetPayload(kPayloadUrl, absl::Cord(credvault::v1::ErrorReason_Name(reason)));
  }
  return status;
}

credvault::v1::ErrorReason ReasonOf(const absl::Status& status) {
  const auto payload = status.GetPayload(kPayloadUrl);
  credvault::v1::ErrorReason reason = credvault::v1::ERROR_REASON_UNSPECIFIED;
  if (payload.has_value()) {
    credvault::v1::ErrorReason_Parse(std::string(*payload), &reason);
  }
  return reason;
}

}  // namespace credvault::server

#ifndef CREDVAULT_SERVER_BASE_ERROR_REASON_H_
#define CREDVAULT_SERVER_BASE_ERROR_REASON_H_

#include "absl/status/status.h"
#include "credvault/v1/common.pb.h"

namespace credvault::server {

// Attaches a machine-readable reason to a status; the gRPC boundary sends it to the client
// as the `credvault-error-reason` trailing metadata (see common.proto).
absl::Status WithReason(absl::Status status, credvault::v1::ErrorReason reason);

// The reason attached by WithReason, or ERROR_REASON_UNSPECIFIED.
credvault::v1::ErrorReason ReasonOf(const absl::Status& status);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_BASE_ERROR_REASON_H_

#ifndef CREDVAULT_SERVER_BASE_ERROR_REASON_H_
#define CREDVAULT_SERVER_BASE_ERROR_REASON_H_

#include "absl/status/status.h"

namespace credvault::server {

// Why a request was refused, beyond its status code: the cases a client acts on. server/api
// sends it as the `credvault-error-reason` trailing metadata, under the names of the API's
// ErrorReason enum (common.proto), which lists the same cases.
enum class ErrorReason {
  kUnspecified,
  kInvalidField,
  kInvalidPageToken,
  kOrgNotFound,
  kCredentialNotFound,
  kJobNotFound,
  kCredentialExists,
  kOrgExists,
  kVersionMismatch,
  kOrgDestroyed,
  kCredentialExpired,
  kIdempotencyKeyReused,
  kResealInProgress,
  kSecretTooLarge,
  kRateLimited,
  kIntegrityFailure,
  kAuditUnavailable,
};

// Attaches `reason` to a non-OK status (an OK status is returned as it is).
absl::Status WithReason(absl::Status status, ErrorReason reason);

// The reason attached by WithReason, or kUnspecified.
ErrorReason ReasonOf(const absl::Status& status);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_BASE_ERROR_REASON_H_

#include "server/api/api_error_reason.h"

namespace credvault::server {

namespace v1 = ::credvault::v1;

v1::ErrorReason ToApi(ErrorReason reason) {
  switch (reason) {
    case ErrorReason::kUnspecified:
      return v1::ERROR_REASON_UNSPECIFIED;
    case ErrorReason::kInvalidField:
      return v1::ERROR_REASON_INVALID_FIELD;
    case ErrorReason::kInvalidPageToken:
      return v1::ERROR_REASON_INVALID_PAGE_TOKEN;
    case ErrorReason::kOrgNotFound:
      return v1::ERROR_REASON_ORG_NOT_FOUND;
    case ErrorReason::kCredentialNotFound:
      return v1::ERROR_REASON_CREDENTIAL_NOT_FOUND;
    case ErrorReason::kJobNotFound:
      return v1::ERROR_REASON_JOB_NOT_FOUND;
    case ErrorReason::kCredentialExists:
      return v1::ERROR_REASON_CREDENTIAL_EXISTS;
    case ErrorReason::kOrgExists:
      return v1::ERROR_REASON_ORG_EXISTS;
    case ErrorReason::kVersionMismatch:
      return v1::ERROR_REASON_VERSION_MISMATCH;
    case ErrorReason::kOrgDestroyed:
      return v1::ERROR_REASON_ORG_DESTROYED;
    case ErrorReason::kCredentialExpired:
      return v1::ERROR_REASON_CREDENTIAL_EXPIRED;
    case ErrorReason::kIdempotencyKeyReused:
      return v1::ERROR_REASON_IDEMPOTENCY_KEY_REUSED;
    case ErrorReason::kResealInProgress:
      return v1::ERROR_REASON_RESEAL_IN_PROGRESS;
    case ErrorReason::kSecretTooLarge:
      return v1::ERROR_REASON_SECRET_TOO_LARGE;
    case ErrorReason::kRateLimited:
      return v1::ERROR_REASON_RATE_LIMITED;
    case ErrorReason::kIntegrityFailure:
      return v1::ERROR_REASON_INTEGRITY_FAILURE;
    case ErrorReason::kAuditUnavailable:
      return v1::ERROR_REASON_AUDIT_UNAVAILABLE;
  }
  return v1::ERROR_REASON_UNSPECIFIED;
}

ErrorReason FromApi(v1::ErrorReason reason) {
  switch (reason) {
    case v1::ERROR_REASON_UNSPECIFIED:
      return ErrorReason::kUnspecified;
    case v1::ERROR_REASON_INVALID_FIELD:
      return ErrorReason::kInvalidField;
    case v1::ERROR_REASON_INVALID_PAGE_TOKEN:
      return ErrorReason::kInvalidPageToken;
    case v1::ERROR_REASON_ORG_NOT_FOUND:
      return ErrorReason::kOrgNotFound;
    case v1::ERROR_REASON_CREDENTIAL_NOT_FOUND:
      return ErrorReason::kCredentialNotFound;
    case v1::ERROR_REASON_JOB_NOT_FOUND:
      return ErrorReason::kJobNotFound;
    case v1::ERROR_REASON_CREDENTIAL_EXISTS:
      return ErrorReason::kCredentialExists;
    case v1::ERROR_REASON_ORG_EXISTS:
      return ErrorReason::kOrgExists;
    case v1::ERROR_REASON_VERSION_MISMATCH:
      return ErrorReason::kVersionMismatch;
    case v1::ERROR_REASON_ORG_DESTROYED:
      return ErrorReason::kOrgDestroyed;
    case v1::ERROR_REASON_CREDENTIAL_EXPIRED:
      return ErrorReason::kCredentialExpired;
    case v1::ERROR_REASON_IDEMPOTENCY_KEY_REUSED:
      return ErrorReason::kIdempotencyKeyReused;
    case v1::ERROR_REASON_RESEAL_IN_PROGRESS:
      return ErrorReason::kResealInProgress;
    case v1::ERROR_REASON_SECRET_TOO_LARGE:
      return ErrorReason::kSecretTooLarge;
    case v1::ERROR_REASON_RATE_LIMITED:
      return ErrorReason::kRateLimited;
    case v1::ERROR_REASON_INTEGRITY_FAILURE:
      return ErrorReason::kIntegrityFailure;
    case v1::ERROR_REASON_AUDIT_UNAVAILABLE:
      return ErrorReason::kAuditUnavailable;
    default:
      return ErrorReason::kUnspecified;
  }
}

}  // namespace credvault::server

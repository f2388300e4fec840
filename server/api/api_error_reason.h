#ifndef CREDVAULT_SERVER_API_API_ERROR_REASON_H_
#define CREDVAULT_SERVER_API_API_ERROR_REASON_H_

#include "credvault/v1/common.pb.h"
#include "server/base/error_reason.h"

namespace credvault::server {

// The API's name for each refusal reason (common.proto), and back: what a client sees in
// the `credvault-error-reason` trailer, and what a key authority's answer carries.
credvault::v1::ErrorReason ToApi(ErrorReason reason);
ErrorReason FromApi(credvault::v1::ErrorReason reason);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_API_API_ERROR_REASON_H_

#ifndef CREDVAULT_SERVER_BASE_STATUS_NAME_H_
#define CREDVAULT_SERVER_BASE_STATUS_NAME_H_

#include <string>

#include "absl/status/status.h"

namespace credvault::server {

// A status code in lower case ("ok", "not_found", "resource_exhausted"): the spelling of
// request outcomes in logs, metric labels and audit event results.
std::string StatusCodeName(absl::StatusCode code);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_BASE_STATUS_NAME_H_

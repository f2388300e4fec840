#ifndef CREDVAULT_SERVER_APP_STARTUP_FAILURE_H_
#define CREDVAULT_SERVER_APP_STARTUP_FAILURE_H_

#include <string_view>

#include "absl/status/status.h"

namespace credvault::server {

// Reports why a command cannot go on, once, where it fails: a log line whose message is
// `what` (the configuration section or stage, e.g. "database.writer", "listeners") and
// "credvaultd: WHAT: message" on stderr. Returns `status`, so that a step can end with it.
absl::Status ReportFailure(absl::Status status, std::string_view what);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_APP_STARTUP_FAILURE_H_

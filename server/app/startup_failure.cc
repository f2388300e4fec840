#include "server/app/startup_failure.h"

#include <iostream>

#include "server/telemetry/json_log.h"

namespace credvault::server {

absl::Status ReportFailure(absl::Status status, std::string_view what) {
  LogError(what, {{"error", status.ToString()}});
  std::cerr << "credvaultd: " << what << ": " << status.message() << "\n";
  return status;
}

}  // namespace credvault::server

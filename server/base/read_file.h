#ifndef CREDVAULT_SERVER_BASE_READ_FILE_H_
#define CREDVAULT_SERVER_BASE_READ_FILE_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace credvault::server {

// The contents of a small text file such as the configuration or the policy. Errors name
// `what` and the path: NOT_FOUND, PERMISSION_DENIED, FAILED_PRECONDITION (other I/O
// errors), INVALID_ARGUMENT when it is larger than `max_bytes` (a mistake, not a config).
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, std::string_view what,
                                          std::size_t max_bytes = 1 << 20);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_BASE_READ_FILE_H_

#include "server/auth/principal.h"

#include <algorithm>

namespace credvault::server {

absl::Status ValidatePrincipalId(std::string_view id) {
  constexpr std::size_t kMaxPrincipalIdLength = 1024;
  if (id.empty() || id.size() > kMaxPrincipalIdLength) {
    return absl::InvalidArgumentError("principal ids are 1-1024 characters");
  }
  if (!std::all_of(id.begin(), id.end(), [](char c) { return c >= 0x20 && c <= 0x7e; }) ||
      id.front() == ' ' || id.back() == ' ') {
    return absl::InvalidArgumentError(
        "principal ids are printable ASCII without leading or trailing spaces");
  }
  return absl::OkStatus();
}

}  // namespace credvault::server

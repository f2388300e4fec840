#include "server/auth/principal.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"

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

namespace {

bool IsDnsLabel(std::string_view label) {
  return !label.empty() && label.size() <= 63 && absl::ascii_isalnum(label.front()) &&
         absl::ascii_isalnum(label.back()) && std::all_of(label.begin(), label.end(), [](char c) {
           return absl::ascii_isdigit(c) || (c >= 'a' && c <= 'z') || c == '-';
         });
}

bool IsDnsSubdomain(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  for (absl::string_view label : absl::StrSplit(absl::string_view(name.data(), name.size()), '.')) {
    if (!IsDnsLabel(std::string_view(label.data(), label.size()))) return false;
  }
  return true;
}

}  // namespace

absl::Status ValidateServiceAccountPrincipalId(std::string_view id) {
  if (id.substr(0, kServiceAccountPrincipalPrefix.size()) != kServiceAccountPrincipalPrefix) {
    return absl::InvalidArgumentError("must start with \"k8s:\"");
  }
  const std::string_view rest = id.substr(kServiceAccountPrincipalPrefix.size());
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) {
    return absl::InvalidArgumentError("must be \"k8s:NAMESPACE/SERVICEACCOUNT\"");
  }
  if (!IsDnsLabel(rest.substr(0, slash))) {
    return absl::InvalidArgumentError(
        "the namespace of \"k8s:NAMESPACE/SERVICEACCOUNT\" must be a DNS label (1-63 "
        "characters of [a-z0-9-], alphanumeric at both ends)");
  }
  if (!IsDnsSubdomain(rest.substr(slash + 1))) {
    return absl::InvalidArgumentError(
        "the service account of \"k8s:NAMESPACE/SERVICEACCOUNT\" must be a DNS subdomain (at "
        "most 253 characters: DNS labels separated by dots)");
  }
  return absl::OkStatus();
}

}  // namespace credvault::server

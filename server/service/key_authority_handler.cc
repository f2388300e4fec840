#include "server/service/key_authority_handler.h"

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status_macros.h"
#include "server/service/api_validation.h"
#include "storage/validation.h"

namespace credvault::server {
namespace {

constexpr std::size_t kMaxPinnedVersions = 64;
constexpr std::size_t kMaxPrincipalBytes = 1024;
constexpr std::size_t kMaxRequestIdLength = 64;

// The shared "<field>: <why>" refusal (storage/validation.h). This internal service's
// refusals carry no API error reason, as they always have.
constexpr auto& Invalid = storage::InvalidInput;

// The principal is recorded in audit events and keys the compare rate limit; it must be
// what the write tier authenticated, which never holds control characters.
absl::Status ValidatePrincipal(std::string_view field, std::string_view principal) {
  if (principal.empty()) return Invalid(field, "required");
  if (principal.size() > kMaxPrincipalBytes) return Invalid(field, "longer than 1024 bytes");
  for (const char c : principal) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) return Invalid(field, "contains a control character");
  }
  return absl::OkStatus();
}

absl::Status ValidateRequestId(std::string_view field, std::string_view request_id) {
  if (request_id.empty()) return Invalid(field, "required");
  if (request_id.size() > kMaxRequestIdLength) return Invalid(field, "longer than 64 characters");
  for (const char c : request_id) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '_';
    if (!plain) return Invalid(field, "may hold only [A-Za-z0-9_-]");
  }
  return absl::OkStatus();
}

// The original caller, as the audit event and the rate limit must see it; the deadline
// stays the one this call arrived with.
CallContext OnBehalfOf(const CallContext& call, const std::string& principal,
                       const std::string& request_id) {
  return CallContext{principal, request_id, call.deadline};
}

}  // namespace

absl::StatusOr<ProvisionOrgResult> KeyAuthorityHandler::ProvisionOrg(
    const CallContext& call, const ProvisionOrgParams& params) const {
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", params.org_id));
  const std::vector<std::uint32_t>& pins = params.pinned_root_key_versions;
  if (pins.empty()) return Invalid("pinned_root_key_versions", "required");
  if (pins.size() > kMaxPinnedVersions) {
    return Invalid("pinned_root_key_versions", "at most 64 entries");
  }
  std::set<std::uint32_t> distinct;
  for (const std::uint32_t version : pins) {
    if (version == 0) return Invalid("pinned_root_key_versions", "versions start at 1");
    if (!distinct.insert(version).second) {
      return Invalid("pinned_root_key_versions", "a version is listed twice");
    }
  }
  CV_RETURN_IF_ERROR(ValidateRequestId("request_id", params.request_id));
  CV_RETURN_IF_ERROR(ValidatePrincipal("principal", params.principal));
  CV_RETURN_IF_ERROR(authority_.ProvisionOrg(OnBehalfOf(call, params.principal, params.request_id),
                                             params.org_id, pins));
  return ProvisionOrgResult{};
}

absl::StatusOr<CompareCredentialResult> KeyAuthorityHandler::Compare(
    const CallContext& call, const KeyAuthorityCompareParams& params) const {
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", params.org_id));
  CV_RETURN_IF_ERROR(ValidateCredentialName("name", params.name));
  if (params.version.has_value() && *params.version == 0) {
    return Invalid("version", "must be at least 1");
  }
  CV_RETURN_IF_ERROR(ValidateSecretSize("candidate", params.candidate.size(), max_secret_size_));
  CV_RETURN_IF_ERROR(ValidatePrincipal("principal", params.principal));
  CV_RETURN_IF_ERROR(ValidateRequestId("request_id", params.request_id));
  // The candidate stays borrowed from the request, whose owner wipes it: no copy is made.
  return authority_.Compare(
      OnBehalfOf(call, params.principal, params.request_id),
      CompareCredentialParams{params.org_id, params.name, params.version, params.candidate});
}

}  // namespace credvault::server

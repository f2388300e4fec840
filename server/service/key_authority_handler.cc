#include "server/service/key_authority_handler.h"

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "common/status_macros.h"
#include "crypto/secret_bytes.h"
#include "server/service/api_validation.h"
#include "storage/validation.h"

namespace credvault::server {
namespace {

namespace v1 = ::credvault::v1;

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

absl::StatusOr<v1::ProvisionOrgResponse> KeyAuthorityHandler::ProvisionOrg(
    const CallContext& call, const v1::ProvisionOrgRequest& request) const {
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", request.org_id()));
  const auto& pins = request.pinned_root_key_versions();
  if (pins.empty()) return Invalid("pinned_root_key_versions", "required");
  if (static_cast<std::size_t>(pins.size()) > kMaxPinnedVersions) {
    return Invalid("pinned_root_key_versions", "at most 64 entries");
  }
  std::set<std::uint32_t> distinct;
  for (const std::uint32_t version : pins) {
    if (version == 0) return Invalid("pinned_root_key_versions", "versions start at 1");
    if (!distinct.insert(version).second) {
      return Invalid("pinned_root_key_versions", "a version is listed twice");
    }
  }
  CV_RETURN_IF_ERROR(ValidateRequestId("request_id", request.request_id()));
  CV_RETURN_IF_ERROR(ValidatePrincipal("principal", request.principal()));
  CV_RETURN_IF_ERROR(authority_.ProvisionOrg(
      OnBehalfOf(call, request.principal(), request.request_id()), request.org_id(),
      std::vector<std::uint32_t>(pins.begin(), pins.end())));
  return v1::ProvisionOrgResponse();
}

absl::StatusOr<v1::CompareCredentialResponse> KeyAuthorityHandler::Compare(
    const CallContext& call, const v1::KeyAuthorityCompareRequest& request) const {
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", request.org_id()));
  CV_RETURN_IF_ERROR(ValidateCredentialName("name", request.name()));
  if (request.has_version() && request.version() == 0) {
    return Invalid("version", "must be at least 1");
  }
  CV_RETURN_IF_ERROR(ValidateSecretSize("candidate", request.candidate().size(), max_secret_size_));
  CV_RETURN_IF_ERROR(ValidatePrincipal("principal", request.principal()));
  CV_RETURN_IF_ERROR(ValidateRequestId("request_id", request.request_id()));

  v1::CompareCredentialRequest compare;
  compare.set_org_id(request.org_id());
  compare.set_name(request.name());
  if (request.has_version()) compare.set_version(request.version());
  compare.set_candidate(request.candidate());
  // The copy of the candidate is wiped whatever the outcome.
  const absl::Cleanup wipe_candidate = [&compare] {
    std::string& candidate = *compare.mutable_candidate();
    crypto::WipeBytes(candidate.data(), candidate.size());
  };
  return authority_.Compare(OnBehalfOf(call, request.principal(), request.request_id()), compare);
}

}  // namespace credvault::server

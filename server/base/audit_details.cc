#include "server/base/audit_details.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace credvault::server {
namespace {

constexpr std::string_view kCreatePrefix = "org key version 1, root key version ";
constexpr std::string_view kIdempotencyField = ", idempotency_key=";
constexpr std::string_view kReasonPrefix = "reason: ";
constexpr std::string_view kEveryKeyDestroyed = "; every org private key destroyed";
constexpr std::string_view kDestroyedVersionsField = "destroyed_key_versions=";
constexpr std::string_view kErasedCountField = "erased_credential_versions=";

// The leading decimal digits of `text` (0 when there are none), as strtoull reads them.
std::uint64_t LeadingNumber(std::string_view text) {
  const std::string digits(text);
  return std::strtoull(digits.c_str(), nullptr, 10);
}

}  // namespace

std::string OrgCreateDetails::Format() const {
  return absl::StrCat(std::string(kCreatePrefix), root_key_version,
                      idempotency_key.empty() ? "" : std::string(kIdempotencyField),
                      idempotency_key);
}

OrgCreateDetails OrgCreateDetails::Parse(std::string_view details) {
  OrgCreateDetails parsed;
  // An idempotency key holds no ',' or ' ' (docs/api.md), so the last field marker is the
  // one Format wrote.
  const std::size_t key_at = details.rfind(kIdempotencyField);
  if (key_at != std::string_view::npos) {
    parsed.idempotency_key = std::string(details.substr(key_at + kIdempotencyField.size()));
    details = details.substr(0, key_at);
  }
  if (details.substr(0, kCreatePrefix.size()) == kCreatePrefix) {
    parsed.root_key_version =
        static_cast<std::uint32_t>(LeadingNumber(details.substr(kCreatePrefix.size())));
  }
  return parsed;
}

std::string OrgDestroyDetails::Format() const {
  return absl::StrCat(std::string(kReasonPrefix), reason, std::string(kEveryKeyDestroyed), "; ",
                      std::string(kDestroyedVersionsField),
                      absl::StrJoin(destroyed_key_versions, ","), "; ",
                      std::string(kErasedCountField), erased_credential_versions);
}

OrgDestroyDetails OrgDestroyDetails::Parse(std::string_view details) {
  OrgDestroyDetails parsed;
  // The fields after the reason are read from the end, so that a reason that happens to
  // contain their names does not mislead.
  const std::size_t count_at = details.rfind(kErasedCountField);
  if (count_at != std::string_view::npos) {
    parsed.erased_credential_versions =
        LeadingNumber(details.substr(count_at + kErasedCountField.size()));
  }
  const std::size_t versions_at = details.rfind(kDestroyedVersionsField);
  if (versions_at != std::string_view::npos) {
    std::string_view versions = details.substr(versions_at + kDestroyedVersionsField.size());
    versions = versions.substr(0, versions.find(';'));
    while (!versions.empty()) {
      const std::size_t comma = versions.find(',');
      const std::string_view version = versions.substr(0, comma);
      if (!version.empty()) {
        parsed.destroyed_key_versions.push_back(static_cast<std::uint32_t>(LeadingNumber(version)));
      }
      versions = comma == std::string_view::npos ? std::string_view() : versions.substr(comma + 1);
    }
  }
  const std::size_t reason_end = details.rfind(kEveryKeyDestroyed);
  if (details.substr(0, kReasonPrefix.size()) == kReasonPrefix &&
      reason_end != std::string_view::npos && reason_end >= kReasonPrefix.size()) {
    parsed.reason =
        std::string(details.substr(kReasonPrefix.size(), reason_end - kReasonPrefix.size()));
  }
  return parsed;
}

}  // namespace credvault::server

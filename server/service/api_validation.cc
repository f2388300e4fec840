#include "server/service/api_validation.h"

#include <algorithm>
#include <string>
#include <utility>

#include "server/base/error_reason.h"
#include "storage/validation.h"

namespace credvault::server {
namespace {

// Far enough for any credential; the database and protobuf timestamps both reach it.
const absl::Time kLatestExpiry =
    absl::FromCivil(absl::CivilSecond(9999, 12, 31, 23, 59, 59), absl::UTCTimeZone());

// The storage rule's failure, with the API's reason.
absl::Status AsInvalidField(absl::Status status) {
  if (status.ok()) return status;
  return WithReason(std::move(status), ErrorReason::kInvalidField);
}

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

}  // namespace

absl::Status InvalidField(std::string_view field, std::string_view why) {
  return AsInvalidField(storage::InvalidInput(field, why));
}

absl::Status ValidateOrgId(std::string_view field, std::string_view org_id) {
  return AsInvalidField(storage::ValidateOrgIdSyntax(field, org_id));
}

absl::Status ValidateOrgIdOrSystem(std::string_view field, std::string_view org_id) {
  if (org_id == storage::kSystemOrgId) return absl::OkStatus();
  return ValidateOrgId(field, org_id);
}

std::optional<std::string> OrgScope(const std::string& org_id) {
  if (org_id == storage::kSystemOrgId) return std::nullopt;
  return org_id;
}

absl::Status ValidateCredentialName(std::string_view field, std::string_view name) {
  return AsInvalidField(storage::ValidateCredentialNameSyntax(field, name));
}

absl::Status ValidateNamePrefix(std::string_view field, std::string_view prefix) {
  return AsInvalidField(storage::ValidateNamePrefixSyntax(field, prefix));
}

absl::Status ValidateLabels(std::string_view field,
                            const std::map<std::string, std::string>& labels) {
  if (absl::Status status = storage::ValidateLabelCount(field, labels.size()); !status.ok()) {
    return AsInvalidField(std::move(status));
  }
  for (const auto& [key, value] : labels) {
    if (absl::Status status = storage::ValidateLowerIdentifier(std::string(field) + " key", key,
                                                               storage::kMaxLabelKeyLength);
        !status.ok()) {
      return AsInvalidField(std::move(status));
    }
    const std::string where = std::string(field) + "[" + key + "]";
    if (value.size() > storage::kMaxLabelValueBytes) {
      return InvalidField(where, "value must be at most " +
                                     std::to_string(storage::kMaxLabelValueBytes) + " bytes");
    }
    std::size_t i = 0;
    while (i < value.size()) {
      std::uint32_t cp = 0;
      if (!storage::NextCodePoint(value, i, cp))
        return InvalidField(where, "value must be valid UTF-8");
      if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
        return InvalidField(where, "value must not contain control characters");
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateSecretSize(std::string_view field, std::size_t size, std::size_t max_size) {
  if (size == 0) return InvalidField(field, "must not be empty");
  if (size > max_size) {
    return WithReason(
        absl::ResourceExhaustedError(std::string(field) + ": is " + std::to_string(size) +
                                     " bytes; the limit is " + std::to_string(max_size)),
        ErrorReason::kSecretTooLarge);
  }
  return absl::OkStatus();
}

absl::Status ValidateIdempotencyKey(std::string_view field, std::string_view key) {
  if (key.empty()) return absl::OkStatus();
  if (key.size() > 128) return InvalidField(field, "must be at most 128 characters");
  for (const char c : key) {
    if (!IsAlnum(c) && c != '.' && c != '_' && c != ':' && c != '-') {
      return InvalidField(field, "may contain only [A-Za-z0-9._:-]");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidatePurpose(std::string_view field, std::string_view purpose) {
  if (purpose.empty()) return InvalidField(field, "is required");
  if (purpose.size() > kMaxPurposeLength)
    return InvalidField(field, "must be at most 256 characters");
  for (const char c : purpose) {
    if (c < 0x20 || c > 0x7E) return InvalidField(field, "must be printable ASCII");
  }
  if (purpose.front() == ' ' || purpose.back() == ' ') {
    return InvalidField(field, "must not start or end with a space");
  }
  return absl::OkStatus();
}

absl::Status ValidateVersion(std::string_view field, std::uint64_t version) {
  if (version == 0) return InvalidField(field, "must be at least 1");
  return absl::OkStatus();
}

absl::Status ValidateExpectedVersion(std::string_view field, std::uint64_t expected_version) {
  if (expected_version == 0) {
    return InvalidField(field, "must be at least 1 (use must_not_exist for none)");
  }
  return absl::OkStatus();
}

absl::Status ValidateMustNotExist(std::string_view field, bool must_not_exist) {
  if (!must_not_exist) return InvalidField(field, "if set, must be true");
  return absl::OkStatus();
}

absl::Status ValidateExpireTime(std::string_view field, absl::Time expire_time, absl::Time now) {
  if (expire_time <= now) return InvalidField(field, "must be in the future");
  if (expire_time > kLatestExpiry) return InvalidField(field, "must not be after 9999-12-31");
  return absl::OkStatus();
}

absl::Status ValidateTtl(std::string_view field, absl::Duration ttl, absl::Time now) {
  if (ttl < absl::Seconds(1)) return InvalidField(field, "must be at least 1s");
  if (now + ttl > kLatestExpiry) return InvalidField(field, "ends after 9999-12-31");
  return absl::OkStatus();
}

absl::Status ValidateMaxVersions(std::string_view field, std::uint32_t max_versions) {
  if (max_versions > kMaxMaxVersions) {
    return InvalidField(field, "must be 0 (unlimited) or 1-" + std::to_string(kMaxMaxVersions));
  }
  return absl::OkStatus();
}

absl::Status NormalizePageSize(std::string_view field, int requested, int& page_size) {
  if (requested < 0) return InvalidField(field, "must not be negative");
  page_size = requested == 0 ? kDefaultPageSize : std::min(requested, kMaxPageSize);
  return absl::OkStatus();
}

}  // namespace credvault::server

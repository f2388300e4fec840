#ifndef CREDVAULT_SERVER_SERVICE_API_VALIDATION_H_
#define CREDVAULT_SERVER_SERVICE_API_VALIDATION_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "storage/validation.h"

namespace credvault::server {

// The field rules of the v1 API, exactly as proto/credvault/v1/*.proto states them. Every
// failure is INVALID_ARGUMENT (RESOURCE_EXHAUSTED for an oversized secret) with a message
// "<field>: <why>" that never repeats the offending value, which might be secret or huge.
// Rules that storage/ checks too are defined there once (storage/validation.h); these add
// the API's error reason.

using storage::kMaxLabels;
inline constexpr std::size_t kMaxPurposeLength = 256;
inline constexpr int kDefaultPageSize = 50;
inline constexpr int kMaxPageSize = 500;
inline constexpr std::uint32_t kMaxMaxVersions = 100;

// INVALID_ARGUMENT "<field>: <why>" with ERROR_REASON_INVALID_FIELD.
absl::Status InvalidField(std::string_view field, std::string_view why);

// 1-64 characters, [a-z0-9] first, then [a-z0-9._-].
absl::Status ValidateOrgId(std::string_view field, std::string_view org_id);

// As ValidateOrgId, or the reserved `_system`: what the audit and re-seal job RPCs accept.
absl::Status ValidateOrgIdOrSystem(std::string_view field, std::string_view org_id);

// The org scope a request needs: its org, or none (the "*" scope) for `_system`.
std::optional<std::string> OrgScope(const std::string& org_id);

// The rule of storage::ValidateCredentialNameSyntax, with the API's reason.
absl::Status ValidateCredentialName(std::string_view field, std::string_view name);

// The rule of storage::ValidateNamePrefixSyntax, with the API's reason.
absl::Status ValidateNamePrefix(std::string_view field, std::string_view prefix);

// At most 32 entries; keys 1-63 characters, [a-z0-9] first, then [a-z0-9._-]; values
// 0-256 bytes of UTF-8 without control characters (U+0000-U+001F, U+007F-U+009F).
absl::Status ValidateLabels(std::string_view field,
                            const std::map<std::string, std::string>& labels);

// 1..max_size bytes: empty is INVALID_ARGUMENT, larger is RESOURCE_EXHAUSTED.
absl::Status ValidateSecretSize(std::string_view field, std::size_t size, std::size_t max_size);

// Empty (no key), or 1-128 characters of [A-Za-z0-9._:-].
absl::Status ValidateIdempotencyKey(std::string_view field, std::string_view key);

// 1-256 characters of printable ASCII, not starting or ending with a space.
absl::Status ValidatePurpose(std::string_view field, std::string_view purpose);

// A version number: 1 or more (an unset field, not 0, means "the current one").
absl::Status ValidateVersion(std::string_view field, std::uint64_t version);

// PutCredentialRequest's precondition: expected_version 1 or more (none is must_not_exist),
// must_not_exist true when set.
absl::Status ValidateExpectedVersion(std::string_view field, std::uint64_t expected_version);
absl::Status ValidateMustNotExist(std::string_view field, bool must_not_exist);

// PutCredentialRequest's expiration, as of `now`: expire_time in the future and not after
// 9999-12-31; ttl at least 1s and ending by 9999-12-31.
absl::Status ValidateExpireTime(std::string_view field, absl::Time expire_time, absl::Time now);
absl::Status ValidateTtl(std::string_view field, absl::Duration ttl, absl::Time now);

// 0 (unlimited) or 1-100 versions kept.
absl::Status ValidateMaxVersions(std::string_view field, std::uint32_t max_versions);

// 0 means the default (50); 1-500 as given; above 500 clamped to 500; negative refused.
absl::Status NormalizePageSize(std::string_view field, int requested, int& page_size);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SERVICE_API_VALIDATION_H_

#ifndef CREDVAULT_STORAGE_VALIDATION_H_
#define CREDVAULT_STORAGE_VALIDATION_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"

namespace credvault::storage {

// Input checks shared by the storage layer and the request handlers, each rule defined once
// here: the API's field rules (server/service/api_validation.h) build on these and add the
// API's error reason. Every failure is INVALID_ARGUMENT "<field>: <why>", and never echoes
// the value.

// The limits of proto/credvault/v1/common.proto.
inline constexpr std::size_t kMaxOrgIdLength = 64;
inline constexpr std::size_t kMaxLabels = 32;
inline constexpr std::size_t kMaxLabelKeyLength = 63;
inline constexpr std::size_t kMaxLabelValueBytes = 256;
inline constexpr std::size_t kMaxCredentialNameLength = 200;

// Limits of text that only the storage layer sees whole.
inline constexpr std::size_t kMaxAuditFieldBytes = 4096;

// The reserved org id of what belongs to no org: the audit chain of deployment-wide actions
// and root key re-seal jobs. No org can be created with it.
inline constexpr std::string_view kSystemOrgId = "_system";

// INVALID_ARGUMENT "<field>: <why>": how every input check fails.
absl::Status InvalidInput(std::string_view field, std::string_view why);

// 1-max_length characters, [a-z0-9] first, then [a-z0-9._-]: org ids and label keys.
absl::Status ValidateLowerIdentifier(std::string_view field, std::string_view value,
                                     std::size_t max_length);

// An org id: 1-64 characters, [a-z0-9] first, then [a-z0-9._-] (common.proto). kSystemOrgId
// is none (it starts with '_').
absl::Status ValidateOrgIdSyntax(std::string_view field, std::string_view org_id);

// A credential name: 1-200 characters, [A-Za-z0-9] first, then [A-Za-z0-9._/-]; no "//", no
// trailing "/", no "." or ".." segment (common.proto). Names look like paths to operators, so
// none may be read as a relative path or be two spellings of one.
absl::Status ValidateCredentialNameSyntax(std::string_view field, std::string_view name);

// A name prefix for listing: empty, or a prefix that some valid name could start with.
absl::Status ValidateNamePrefixSyntax(std::string_view field, std::string_view prefix);

// What a transaction may be scoped to: an org id or kSystemOrgId. It is the value of the
// row-level security setting of every transaction.
absl::Status ValidateOrgId(std::string_view org_id);

// At most kMaxLabels labels (the count only; each key and value has its own check).
absl::Status ValidateLabelCount(std::string_view field, std::size_t count);

// Decodes the UTF-8 code point at `i` of `text` and moves `i` past it; false for malformed
// input (overlong forms, surrogates and code points above U+10FFFF included).
bool NextCodePoint(std::string_view text, std::size_t& i, std::uint32_t& code_point);

// Text stored verbatim (label keys and values, audit fields): valid
// UTF-8 without NUL (PostgreSQL text cannot hold NUL), 1..max_bytes bytes (0..max_bytes
// when allow_empty). SQL metacharacters are fine: values only ever travel as parameters.
absl::Status ValidateText(std::string_view field, std::string_view value, std::size_t max_bytes,
                          bool allow_empty = false);

}  // namespace credvault::storage

#endif  // CREDVAULT_STORAGE_VALIDATION_H_

#ifndef CREDVAULT_STORAGE_VALIDATION_H_
#define CREDVAULT_STORAGE_VALIDATION_H_

#include <cstddef>
#include <string_view>

#include "absl/status/status.h"

namespace credvault::storage {

// Input checks shared by the storage layer and the request handlers. Every failure is
// INVALID_ARGUMENT naming the field and the reason, and never echoes the value.

inline constexpr std::size_t kMaxOrgIdBytes = 128;
inline constexpr std::size_t kMaxCredentialNameBytes = 512;
inline constexpr std::size_t kMaxLabelKeyBytes = 128;
inline constexpr std::size_t kMaxLabelValueBytes = 1024;
inline constexpr std::size_t kMaxLabels = 64;
inline constexpr std::size_t kMaxAuditFieldBytes = 4096;

// The reserved org id of what belongs to no org: the audit chain of deployment-wide actions
// and root key re-seal jobs. No org can be created with it.
inline constexpr std::string_view kSystemOrgId = "_system";

// An org id is 1..128 bytes of ASCII letters, digits, '.', '_' and '-', starting with a
// letter or digit, or kSystemOrgId. It is the value of the row-level security setting of
// every transaction.
absl::Status ValidateOrgId(std::string_view org_id);

// Text stored verbatim (credential names, label keys and values, audit fields): valid
// UTF-8 without NUL (PostgreSQL text cannot hold NUL), 1..max_bytes bytes (0..max_bytes
// when allow_empty). SQL metacharacters are fine: values only ever travel as parameters.
absl::Status ValidateText(std::string_view field, std::string_view value, std::size_t max_bytes,
                          bool allow_empty = false);

}  // namespace credvault::storage

#endif  // CREDVAULT_STORAGE_VALIDATION_H_

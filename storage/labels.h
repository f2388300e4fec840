#ifndef CREDVAULT_STORAGE_LABELS_H_
#define CREDVAULT_STORAGE_LABELS_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/credential_store.h"

namespace credvault::storage {

// Labels travel to PostgreSQL as a JSON object (bound to a `$n::jsonb` parameter) and
// come back through CREDVAULT_LABELS_COLUMN, which hex-encodes every key and value so that
// reading them needs no JSON parser. A macro, so that statements stay string literals.
#define CREDVAULT_LABELS_COLUMN                                                     \
  "(SELECT coalesce(string_agg(encode(convert_to(l.key, 'UTF8'), 'hex') || '=' || " \
  "encode(convert_to(l.value, 'UTF8'), 'hex'), ',' ORDER BY l.key), '') "           \
  "FROM jsonb_each_text(labels) AS l)"

// One label of `field`: the key 1-63 characters of [a-z0-9._-] starting with [a-z0-9], the
// value at most 256 bytes of UTF-8 without control characters (common.proto). The one rule
// of the API and of storage; failures name "<field> key" or "<field>[<key>]" (a key is
// never secret, and is only echoed once it passed its own check).
absl::Status ValidateLabel(std::string_view field, std::string_view key, std::string_view value);

// At most kMaxLabels labels, each meeting ValidateLabel as "labels".
absl::Status ValidateLabels(const Labels& labels);
std::string LabelsToJson(const Labels& labels);
absl::StatusOr<Labels> LabelsFromColumn(std::string_view encoded);

}  // namespace credvault::storage

#endif  // CREDVAULT_STORAGE_LABELS_H_

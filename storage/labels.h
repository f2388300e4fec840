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

// The limits of the API's label rule (validation.h) on text stored verbatim: any UTF-8
// without NUL, so that what the API's stricter syntax lets through always fits.
absl::Status ValidateLabels(const Labels& labels);
std::string LabelsToJson(const Labels& labels);
absl::StatusOr<Labels> LabelsFromColumn(std::string_view encoded);

}  // namespace credvault::storage

#endif  // CREDVAULT_STORAGE_LABELS_H_

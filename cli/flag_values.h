#ifndef CREDVAULT_CLI_FLAG_VALUES_H_
#define CREDVAULT_CLI_FLAG_VALUES_H_

// Parsers for the values of credvaultctl flags. Each rejects malformed input with
// INVALID_ARGUMENT and a message that names the flag, so the user learns what to fix
// before anything is sent. Label rules mirror common.proto; the server re-checks them.

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/map.h"
#include "google/protobuf/timestamp.pb.h"

namespace credvault::cli {

// At most this many labels per credential version (common.proto).
inline constexpr int kMaxLabels = 32;

// Splits "key=value" at the first '=' and checks both halves against the label rules:
// key 1-63 characters, [a-z0-9] first, then [a-z0-9._-]; value 0-256 bytes of valid UTF-8
// without control characters. "key=" is a label with an empty value.
absl::StatusOr<std::pair<std::string, std::string>> ParseLabel(absl::string_view text);

// Parses every "key=value" into `labels`; rejects a repeated key and more than kMaxLabels
// entries. `flag` names the flag in error messages ("--label").
absl::Status ParseLabels(const std::vector<std::string>& texts, absl::string_view flag,
                         google::protobuf::Map<std::string, std::string>* labels);

// A positive duration: Go-style as absl::ParseDuration accepts ("90s", "1h30m", "250ms"),
// or a whole number of days ("30d"), which absl does not know but TTLs need.
absl::StatusOr<absl::Duration> ParsePositiveDuration(absl::string_view text,
                                                     absl::string_view flag);

// --ttl: a positive duration of at least one second (the server's rule), as a proto Duration.
absl::StatusOr<google::protobuf::Duration> ParseTtl(absl::string_view text);

// An RFC 3339 time with a zone designator, e.g. "2030-01-31T12:00:00Z" or
// "2030-01-31T13:00:00.5+01:00", as a proto Timestamp.
absl::StatusOr<google::protobuf::Timestamp> ParseRfc3339(absl::string_view text,
                                                         absl::string_view flag);

}  // namespace credvault::cli

#endif  // CREDVAULT_CLI_FLAG_VALUES_H_

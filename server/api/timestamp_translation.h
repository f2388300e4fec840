#ifndef CREDVAULT_SERVER_API_TIMESTAMP_TRANSLATION_H_
#define CREDVAULT_SERVER_API_TIMESTAMP_TRANSLATION_H_

#include <google/protobuf/timestamp.pb.h>

#include "absl/time/time.h"

namespace credvault::server {

// The API's timestamps and absl::Time, at the microsecond precision the database keeps:
// finer digits are truncated (common.proto).
void SetTimestamp(absl::Time time, google::protobuf::Timestamp& out);
absl::Time FromTimestamp(const google::protobuf::Timestamp& timestamp);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_API_TIMESTAMP_TRANSLATION_H_

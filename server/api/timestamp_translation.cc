#include "server/api/timestamp_translation.h"

#include <cstdint>

namespace credvault::server {

void SetTimestamp(absl::Time time, google::protobuf::Timestamp& out) {
  const std::int64_t micros = absl::ToUnixMicros(time);
  std::int64_t seconds = micros / 1000000;
  std::int64_t remainder = micros % 1000000;
  if (remainder < 0) {  // before 1970: nanos count forwards from the earlier second
    remainder += 1000000;
    --seconds;
  }
  out.set_seconds(seconds);
  out.set_nanos(static_cast<std::int32_t>(remainder * 1000));
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& timestamp) {
  return absl::FromUnixSeconds(timestamp.seconds()) + absl::Microseconds(timestamp.nanos() / 1000);
}

}  // namespace credvault::server

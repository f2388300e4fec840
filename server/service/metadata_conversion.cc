#include "server/service/metadata_conversion.h"

namespace credvault::server {

void SetTimestamp(absl::Time time, google::protobuf::Timestamp& out) {
  const std::int64_t micros = absl::ToUnixMicros(time);
  std::int64_t seconds = micros / 1000000;
  std::int64_t remainder = micros % 1000000;
  if (remainder < 0) {
    remainder += 1000000;
    --seconds;
  }
  out.set_seconds(seconds);
  out.set_nanos(static_cast<std::int32_t>(remainder * 1000));
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& timestamp) {
  // Microseconds are what the database keeps; finer digits are truncated (common.proto).
  return absl::FromUnixSeconds(timestamp.seconds()) + absl::Microseconds(timestamp.nanos() / 1000);
}

credvault::v1::CredentialMetadata ToApiMetadata(const storage::CredentialMetadata& stored,
                                                absl::Duration soft_delete_retention) {
  credvault::v1::CredentialMetadata out;
  out.set_org_id(stored.org_id);
  out.set_name(stored.name);
  out.set_version(static_cast<std::uint64_t>(stored.version));
  out.set_current_version(static_cast<std::uint64_t>(stored.current_version));
  for (const auto& [key, value] : stored.labels) (*out.mutable_labels())[key] = value;
  SetTimestamp(stored.created_at, *out.mutable_create_time());
  SetTimestamp(stored.deleted_at.value_or(stored.created_at), *out.mutable_update_time());
  if (stored.expires_at) SetTimestamp(*stored.expires_at, *out.mutable_expire_time());
  out.set_created_by(stored.created_by);
  out.set_max_versions(static_cast<std::uint32_t>(stored.max_versions));
  out.set_live_version_count(static_cast<std::uint32_t>(stored.live_version_count));
  if (stored.erased) {
    out.set_state(credvault::v1::CREDENTIAL_STATE_ERASED);
  } else if (stored.deleted_at) {
    out.set_state(credvault::v1::CREDENTIAL_STATE_SOFT_DELETED);
    SetTimestamp(*stored.deleted_at + soft_delete_retention, *out.mutable_purge_time());
  } else {
    out.set_state(credvault::v1::CREDENTIAL_STATE_ACTIVE);
  }
  if (stored.deleted_at) SetTimestamp(*stored.deleted_at, *out.mutable_delete_time());
  if (!stored.erased) {
    out.set_org_key_version(static_cast<std::uint32_t>(stored.org_key_version));
  }
  return out;
}

}  // namespace credvault::server

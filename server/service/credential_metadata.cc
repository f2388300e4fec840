#include "server/service/credential_metadata.h"

namespace credvault::server {

CredentialMetadata DescribeStoredVersion(const storage::CredentialMetadata& stored,
                                         absl::Duration soft_delete_retention) {
  CredentialMetadata out;
  out.org_id = stored.org_id;
  out.name = stored.name;
  out.version = static_cast<std::uint64_t>(stored.version);
  out.current_version = static_cast<std::uint64_t>(stored.current_version);
  out.labels = stored.labels;
  out.create_time = stored.created_at;
  out.update_time = stored.deleted_at.value_or(stored.created_at);
  out.expire_time = stored.expires_at;
  out.created_by = stored.created_by;
  out.max_versions = static_cast<std::uint32_t>(stored.max_versions);
  out.live_version_count = static_cast<std::uint32_t>(stored.live_version_count);
  if (stored.erased) {
    out.state = CredentialState::kErased;
  } else if (stored.deleted_at) {
    out.state = CredentialState::kSoftDeleted;
    out.purge_time = *stored.deleted_at + soft_delete_retention;
  } else {
    out.state = CredentialState::kActive;
  }
  out.delete_time = stored.deleted_at;
  if (!stored.erased) out.org_key_version = static_cast<std::uint32_t>(stored.org_key_version);
  return out;
}

}  // namespace credvault::server

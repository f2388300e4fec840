#ifndef CREDVAULT_SERVER_SERVICE_CREDENTIAL_METADATA_H_
#define CREDVAULT_SERVER_SERVICE_CREDENTIAL_METADATA_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "storage/credential_store.h"

namespace credvault::server {

// The lifecycle state of a credential version.
enum class CredentialState {
  kActive,
  kSoftDeleted,
  kErased,
};

// One version of a credential as the API describes it (CredentialMetadata in
// proto/credvault/v1/common.proto): what storage keeps, plus what the server's policy
// makes of it (its state, and when a soft-deleted version is purged).
struct CredentialMetadata {
  std::string org_id;
  std::string name;
  std::uint64_t version = 0;
  // The newest version of the credential, whatever its state.
  std::uint64_t current_version = 0;
  std::map<std::string, std::string> labels;
  CredentialState state = CredentialState::kActive;
  absl::Time create_time;
  // When the version's record last changed: written, soft-deleted or erased.
  absl::Time update_time;
  std::optional<absl::Time> expire_time;
  // Set once soft-deleted or erased.
  std::optional<absl::Time> delete_time;
  // Set while soft-deleted: when the version will be crypto-erased.
  std::optional<absl::Time> purge_time;
  std::string created_by;
  // The org key version the data key is sealed to; 0 once erased.
  std::uint32_t org_key_version = 0;
  // 0: unlimited.
  std::uint32_t max_versions = 0;
  std::uint32_t live_version_count = 0;
};

// The description of a stored version; a soft-deleted one is purged
// `soft_delete_retention` after its deletion.
CredentialMetadata DescribeStoredVersion(const storage::CredentialMetadata& stored,
                                         absl::Duration soft_delete_retention);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SERVICE_CREDENTIAL_METADATA_H_

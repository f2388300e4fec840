#include "server/service/org_snapshot.h"

#include <algorithm>

#include "common/status_macros.h"
#include "server/service/org_guard.h"

namespace credvault::server {

std::uint32_t OrgSnapshot::current_key_version() const {
  std::uint32_t current = 0;
  for (const storage::OrgKey& key : keys) {
    if (key.state == storage::OrgKeyState::kActive) {
      current = static_cast<std::uint32_t>(key.version);
    }
  }
  return current;
}

std::uint32_t OrgSnapshot::newest_key_version() const {
  std::uint32_t newest = 0;
  for (const storage::OrgKey& key : keys) {
    newest = std::max(newest, static_cast<std::uint32_t>(key.version));
  }
  return newest;
}

std::vector<std::uint32_t> OrgSnapshot::key_versions() const {
  std::vector<std::uint32_t> versions;
  versions.reserve(keys.size());
  for (const storage::OrgKey& key : keys)
    versions.push_back(static_cast<std::uint32_t>(key.version));
  return versions;
}

absl::StatusOr<OrgSnapshot> LoadOrgSnapshot(const storage::OrgStore& orgs,
                                            storage::Transaction& tx) {
  OrgSnapshot snapshot;
  CV_ASSIGN_OR_RETURN(snapshot.org, LoadExistingOrg(orgs, tx));
  CV_ASSIGN_OR_RETURN(snapshot.keys, orgs.ListOrgKeys(tx));
  return snapshot;
}

}  // namespace credvault::server

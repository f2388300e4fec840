#ifndef CREDVAULT_SERVER_SERVICE_ORG_SNAPSHOT_H_
#define CREDVAULT_SERVER_SERVICE_ORG_SNAPSHOT_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/org_store.h"
#include "storage/pool.h"

namespace credvault::server {

// An org and every version of its key, as read in one transaction: what the admin
// handlers decide on, and what they report of an org (OrgDescription, org_requests.h).
struct OrgSnapshot {
  storage::Org org;
  std::vector<storage::OrgKey> keys;  // in the order the store lists them

  bool destroyed() const { return org.state == storage::OrgState::kDestroyed; }
  // The ACTIVE key version; 0 when there is none (a destroyed org).
  std::uint32_t current_key_version() const;
  // The highest key version in any state.
  std::uint32_t newest_key_version() const;
  // Every key version, in the order of `keys`.
  std::vector<std::uint32_t> key_versions() const;
};

// The org of `tx` and its keys: OrgNotFoundError (org_guard.h) when it does not exist.
absl::StatusOr<OrgSnapshot> LoadOrgSnapshot(const storage::OrgStore& orgs,
                                            storage::Transaction& tx);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SERVICE_ORG_SNAPSHOT_H_

#ifndef CREDVAULT_STORAGE_ORG_DIRECTORY_H_
#define CREDVAULT_STORAGE_ORG_DIRECTORY_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/org_store.h"
#include "storage/pool.h"
#include "storage/transaction.h"

namespace credvault::storage {

// One org as the org listing shows it: no key material, no credential data.
struct OrgSummary {
  std::string org_id;
  OrgState state = OrgState::kActive;
  absl::Time created_at;
  std::optional<absl::Time> destroyed_at;
  std::int32_t current_key_version = 0;  // the ACTIVE key version; 0 once destroyed
};

// The ids of every org, from the org directory (no tenant data), for work that visits
// every org one transaction at a time. Decrypt and admin roles. Stateless.
class OrgDirectory {
 public:
  // Up to `limit` org ids after `after` (empty: from the start), in byte order.
  absl::StatusOr<std::vector<std::string>> ListAfter(Transaction& tx, const std::string& after,
                                                     std::size_t limit) const;

  // How many orgs there are, and how many sort at or before `through`.
  absl::StatusOr<std::uint64_t> Count(Transaction& tx) const;
  absl::StatusOr<std::uint64_t> CountThrough(Transaction& tx, const std::string& through) const;

  // Admin role: up to `limit` (1..1000) orgs after `after` (empty: from the start), in byte
  // order of id, in one call (credvault_list_orgs, storage/migrations/0013_list_orgs.sql).
  // Reads only; bounded by `deadline` as ConnectionPool::Call is.
  absl::StatusOr<std::vector<OrgSummary>> ListOrgs(ConnectionPool& pool, const std::string& after,
                                                   std::size_t limit, absl::Time deadline) const;
};

}  // namespace credvault::storage

#endif  // CREDVAULT_STORAGE_ORG_DIRECTORY_H_

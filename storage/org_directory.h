#ifndef CREDVAULT_STORAGE_ORG_DIRECTORY_H_
#define CREDVAULT_STORAGE_ORG_DIRECTORY_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/transaction.h"

namespace credvault::storage {

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
};

}  // namespace credvault::storage

#endif  // CREDVAULT_STORAGE_ORG_DIRECTORY_H_

#include "storage/audit_hash_column.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/status_macros.h"

namespace credvault::storage {

absl::StatusOr<crypto::AuditHash> HashColumn(const Row& row, std::size_t column) {
  CV_ASSIGN_OR_RETURN(const std::vector<std::uint8_t> bytes, row.Bytes(column));
  if (bytes.size() != crypto::kAuditHashSize) {
    return absl::DataLossError("audit hash of the wrong length");
  }
  crypto::AuditHash hash;
  std::copy(bytes.begin(), bytes.end(), hash.begin());
  return hash;
}

}  // namespace credvault::storage

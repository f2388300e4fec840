#ifndef CREDVAULT_STORAGE_AUDIT_HASH_COLUMN_H_
#define CREDVAULT_STORAGE_AUDIT_HASH_COLUMN_H_

#include <cstddef>

#include "absl/status/statusor.h"
#include "crypto/audit_chain.h"
#include "storage/transaction.h"

namespace credvault::storage {

// An audit chain hash read from a bytea column (docs/crypto.md, "Audit chain"). A value of
// another length is DATA_LOSS: the chain cannot be checked past it.
absl::StatusOr<crypto::AuditHash> HashColumn(const Row& row, std::size_t column);

}  // namespace credvault::storage

#endif  // CREDVAULT_STORAGE_AUDIT_HASH_COLUMN_H_

#ifndef CREDVAULT_STORAGE_IDEMPOTENCY_STORE_H_
#define CREDVAULT_STORAGE_IDEMPOTENCY_STORE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/transaction.h"

namespace credvault::storage {

inline constexpr std::size_t kMaxIdempotencyKeyBytes = 256;

// What a Put with an idempotency key produced, so that a retry returns it again.
struct IdempotencyRecord {
  std::string key;
  std::vector<std::uint8_t> request_hash;  // 32 bytes, over the whole request
  std::string credential_name;
  std::int64_t result_version = 0;
  absl::Time created_at;
};

// Idempotency keys of the org of the transaction. Stateless, read-only: the write role
// cannot insert keys itself; CredentialStore::InsertVersion and CredentialStore::Delete
// record them, in the transaction of the change they describe
// (storage/migrations/0008_function_only_access.sql). Used in the Put (or Delete)
// transaction, after CredentialStore::PreparePut has locked the name:
//   Lookup -> found with the same request hash: return its version, insert nothing;
//             found with another hash: reject the request (key reused);
//   not found: InsertVersion (or Delete) with the key, which records it. A concurrent twin
//             with the same key fails there with ALREADY_EXISTS and rolls back; run again,
//             it finds this record. (The one-call CredentialStore::Put says so as
//             PutOutcome::kRaceLost.)
class IdempotencyStore {
 public:
  absl::StatusOr<std::optional<IdempotencyRecord>> Lookup(Transaction& tx,
                                                          std::string_view key) const;
};

}  // namespace credvault::storage

#endif  // CREDVAULT_STORAGE_IDEMPOTENCY_STORE_H_

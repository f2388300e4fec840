#ifndef CREDVAULT_STORAGE_RETENTION_STORE_H_
#define CREDVAULT_STORAGE_RETENTION_STORE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "crypto/audit_chain.h"
#include "storage/transaction.h"

namespace credvault::storage {

// An audit chain the retention sweep visits. Every org has one; so do the reserved
// `_system` chain and org ids that only denied requests ever named (is_org false: only
// their audit events are purged).
struct RetentionTarget {
  std::string org_id;
  bool is_org = false;
};

// A position in an org's credential versions, in (name, version) order.
struct CredentialCursor {
  std::string name;
  std::int64_t version = 0;
};

struct CredentialPurgeBatch {
  std::size_t examined = 0;  // versions the batch took (at most the limit)
  std::size_t erased = 0;    // of those, envelopes crypto-erased now
  std::size_t deleted = 0;   // of those, rows deleted
  // Where the next batch starts; nullopt when the batch reached the end.
  std::optional<CredentialCursor> resume_after;
};

struct AuditPurgeBatch {
  std::uint64_t deleted = 0;
  std::uint64_t checkpoint_seq = 0;  // the checkpoint the purge left; 0 when none
  bool more = false;                 // events older than the cutoff remain
};

// The signature of a purge checkpoint: over (org, seq, head hash, signed_at), which is
// stored as the checkpoint's time (crypto::AuditSigner::SignCheckpoint in the service).
struct CheckpointSignature {
  std::vector<std::uint8_t> signature;
  std::string signing_key_id;
  absl::Time signed_at;
};
using CheckpointSigner = std::function<CheckpointSignature(
    std::string_view org_id, std::uint64_t seq, const crypto::AuditHash& head_hash)>;

// What retention removes, for the org of the transaction (admin role). Stateless. Each
// method does one bounded batch, so a caller purges a large backlog in many short
// transactions instead of one long one that would hold locks and bloat the WAL.
class RetentionStore {
 public:
  // Up to `limit` (1..10000) chains with ids after `after` (empty: from the start), in
  // byte order: every org of the org directory and every other audit chain. Runs in a
  // transaction without an org.
  absl::StatusOr<std::vector<RetentionTarget>> ListTargets(Transaction& tx,
                                                           const std::string& after,
                                                           std::size_t limit) const;

  // Credential versions deleted (soft-deleted or erased) before `cutoff`, up to `limit`
  // (1..10000) of them after `after`: each is crypto-erased if its envelope is still
  // there, then its row deleted -- except the newest version of a credential, which stays
  // as an erased tombstone, because version numbers are never reused. A version that is
  // not deleted (the live current one included) is never touched. In a destroyed org
  // every version goes, whatever the cutoff: its keys are gone, nothing is recoverable,
  // and no version will ever be written again.
  absl::StatusOr<CredentialPurgeBatch> PurgeCredentialVersions(
      Transaction& tx, absl::Time cutoff, std::size_t limit,
      const std::optional<CredentialCursor>& after = std::nullopt) const;

  // Deletes up to `limit` (1..10000) idempotency keys made before `cutoff`, oldest first.
  absl::StatusOr<std::size_t> PurgeIdempotencyKeys(Transaction& tx, absl::Time cutoff,
                                                   std::size_t limit) const;

  // Deletes audit events older than `cutoff`, a prefix of the chain of at most
  // `max_events` (1..10000), through the database's audit_purge_before, which leaves a
  // checkpoint at the last one so the rest of the chain still verifies. With `sign`, the
  // checkpoint is signed (unless one already stands at that sequence).
  absl::StatusOr<AuditPurgeBatch> PurgeAuditEvents(Transaction& tx, absl::Time cutoff,
                                                   std::size_t max_events,
                                                   const CheckpointSigner& sign = {}) const;
};

}  // namespace credvault::storage

#endif  // CREDVAULT_STORAGE_RETENTION_STORE_H_

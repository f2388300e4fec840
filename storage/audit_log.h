#ifndef CREDVAULT_STORAGE_AUDIT_LOG_H_
#define CREDVAULT_STORAGE_AUDIT_LOG_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "crypto/audit_chain.h"
#include "storage/transaction.h"

namespace credvault::storage {

// What the caller says about an event; org, sequence number, time and hashes are added
// by Append. No field may hold a secret (docs/data-handling.md, "Stored (PostgreSQL)").
struct NewAuditEvent {
  std::string principal;
  std::string action;  // e.g. "credential.put"
  std::string target;  // e.g. the credential name; may be empty
  std::string result;  // e.g. "ok", "denied"
  std::string request_id;
  std::string details;  // may be empty
};

// INVALID_ARGUMENT when a field is too long or not valid text.
absl::Status ValidateNewAuditEvent(const NewAuditEvent& event);

struct AuditEvent {
  std::string org_id;
  std::uint64_t seq = 0;
  absl::Time time;
  std::string principal;
  std::string action;
  std::string target;
  std::string result;
  std::string request_id;
  std::string details;
  crypto::AuditHash prev_hash{};
  crypto::AuditHash hash{};
  // Format 2 events are linked and hashed by the database, which records the role that
  // appended them; format 1 events were hashed by the service and name no role.
  crypto::AuditChainFormat chain_format = crypto::AuditChainFormat::kV2;
  std::string appended_by;
};

// The chain head at `seq` (0 and the genesis value for an empty chain).
struct AuditHead {
  std::uint64_t seq = 0;
  crypto::AuditHash hash{};
};

// Why a checkpoint was written. kUnknown: before the schema recorded it.
enum class AuditCheckpointKind { kUnknown, kPeriodic, kPurge, kErasure };

struct AuditCheckpoint {
  std::uint64_t seq = 0;
  AuditCheckpointKind kind = AuditCheckpointKind::kUnknown;
  crypto::AuditHash head_hash{};
  absl::Time created_at;
  std::optional<std::vector<std::uint8_t>> signature;
  std::optional<std::string> signing_key_id;
};

struct AuditVerifyOptions {
  // Walk only the events after the latest checkpoint, trusting it (quick, incremental
  // checks). Otherwise the whole retained chain is walked from genesis, or from the
  // checkpoint left by the last purge, and every checkpoint on the way is compared.
  bool from_latest_checkpoint = false;
  // Walk only the events after this (seq, hash), trusting it: a checkpoint whose signature
  // the caller checked. No stored checkpoint is compared or trusted then, since the caller
  // judges them by their signatures (audit_checkpointer.h). Takes precedence over
  // from_latest_checkpoint.
  std::optional<AuditHead> anchor;
};

// What kind of damage a verification found.
enum class AuditBreak {
  kNone,
  kSequenceGap,         // events missing: inside the chain, at its start or after its head
  kAnchorMismatch,      // the first event does not link to genesis or the purge checkpoint
  kPrevHashMismatch,    // an event does not link to the one before it
  kHashMismatch,        // an event (or the head) differs from the hash of its fields
  kCheckpointMismatch,  // a stored checkpoint differs from the chain at its sequence
  // An unsigned checkpoint beyond the last stored event: planted, since only a signed one
  // (reported as kSequenceGap) shows that events after it were lost.
  kCheckpointBeyondHead,
  // The chain head row differs from the last stored event (rewound or edited). Appends
  // link to the last event, not to this row, so the chain itself is intact.
  kHeadMismatch,
};

struct AuditVerification {
  bool ok = true;
  std::uint64_t first_seq = 0;  // first event walked (0 if none)
  std::uint64_t last_seq = 0;   // last event walked (0 if none)
  // Where the chain verified up to: the last event walked, or the anchor if none was.
  AuditHead verified_head;
  std::uint64_t events_checked = 0;
  // When !ok: the sequence number of the first broken link and what is wrong with it.
  std::uint64_t broken_seq = 0;
  AuditBreak kind = AuditBreak::kNone;
  std::string problem;
};

// The per-org, append-only, hash-chained audit log (docs/crypto.md, "Audit chain"), for
// the org of the transaction. Append locks the org's chain head row until commit, so
// concurrent appends from any number of connections and processes serialize into one
// gapless chain; appending in the same transaction as the audited change makes both
// durable together.
class AuditLog {
 public:
  using Clock = std::function<absl::Time()>;

  // Told how long each successful Append took (for a latency metric); may be empty.
  using AppendObserver = std::function<void(absl::Duration)>;

  explicit AuditLog(Clock clock = &absl::Now, AppendObserver on_append = {})
      : clock_(std::move(clock)), on_append_(std::move(on_append)) {}

  // Decrypt and admin roles. The event's time is the clock's; seq, links and hash are the
  // database's.
  absl::StatusOr<AuditEvent> Append(Transaction& tx, const NewAuditEvent& event) const;

  // Any request role: an `access.denied` event (event.action is ignored; event.target is
  // the method) for a caller that holds a grant for the org. Appends nothing, and returns
  // nullopt, when the org does not exist. The write role can append nothing else.
  absl::StatusOr<std::optional<std::uint64_t>> AppendDenial(Transaction& tx,
                                                            const NewAuditEvent& event) const;

  // Events with seq > after_seq, oldest first, at most `limit` (1..1000).
  absl::StatusOr<std::vector<AuditEvent>> List(Transaction& tx, std::uint64_t after_seq,
                                               std::size_t limit) const;

  absl::StatusOr<AuditHead> Head(Transaction& tx) const;

  absl::StatusOr<AuditVerification> Verify(Transaction& tx,
                                           const AuditVerifyOptions& options = {}) const;

  // Records a checkpoint at `seq`, whose hash must be the chain's hash at that event
  // (FAILED_PRECONDITION otherwise). signature and signing_key_id go together.
  // `created_at` defaults to the clock; a signed checkpoint passes the time it signed.
  // `kind` must be known.
  absl::Status AddCheckpoint(Transaction& tx, AuditCheckpointKind kind, std::uint64_t seq,
                             const crypto::AuditHash& hash,
                             std::optional<std::vector<std::uint8_t>> signature,
                             std::optional<std::string> signing_key_id,
                             std::optional<absl::Time> created_at = std::nullopt) const;

  absl::StatusOr<std::vector<AuditCheckpoint>> ListCheckpoints(Transaction& tx) const;

  // The checkpoint with the highest seq, if there is one.
  absl::StatusOr<std::optional<AuditCheckpoint>> LatestCheckpoint(Transaction& tx) const;

  // Admin role, retention: deletes the events older than `cutoff` (a prefix of the chain,
  // by sequence number), leaving a checkpoint at the last one. Returns how many went.
  absl::StatusOr<std::uint64_t> PurgeBefore(Transaction& tx, absl::Time cutoff) const;

 private:
  absl::StatusOr<AuditEvent> AppendUnobserved(Transaction& tx, const NewAuditEvent& event) const;

  Clock clock_;
  AppendObserver on_append_;
};

}  // namespace credvault::storage

#endif  // CREDVAULT_STORAGE_AUDIT_LOG_H_

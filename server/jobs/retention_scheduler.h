#ifndef CREDVAULT_SERVER_JOBS_RETENTION_SCHEDULER_H_
#define CREDVAULT_SERVER_JOBS_RETENTION_SCHEDULER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "crypto/audit_signer.h"
#include "server/jobs/leader_loop.h"
#include "server/telemetry/metrics.h"
#include "storage/audit_log.h"
#include "storage/leader_lock.h"
#include "storage/pool.h"
#include "storage/retention_store.h"

namespace credvault::server {

struct RetentionOptions {
  absl::Duration deleted_credentials = absl::Hours(720);  // retention.deleted_credentials
  absl::Duration audit_events = absl::Hours(9600);        // retention.audit_events
  absl::Duration idempotency_keys = absl::Hours(24);      // idempotency.retention
  absl::Duration interval = absl::Hours(1);
  std::size_t batch_size = 500;  // per kind and transaction, 1..10000
};

// What one sweep (or one transaction of it) removed.
struct RetentionCounts {
  std::uint64_t credential_versions = 0;   // rows deleted
  std::uint64_t credential_envelopes = 0;  // envelopes crypto-erased by retention
  std::uint64_t idempotency_keys = 0;
  std::uint64_t audit_events = 0;

  bool empty() const {
    return credential_versions == 0 && credential_envelopes == 0 && idempotency_keys == 0 &&
           audit_events == 0;
  }
  RetentionCounts& operator+=(const RetentionCounts& other);
};

struct SweepReport {
  bool leader = false;   // false: another replica holds the leader lock; nothing was done
  bool stopped = false;  // Stop() cut the sweep short
  std::uint64_t chains_visited = 0;
  std::uint64_t chains_purged = 0;  // chains where something was purged
  std::uint64_t failures = 0;       // chains whose purge failed (logged; retried next sweep)
  RetentionCounts purged;
};

// The retention sweep: on a schedule, on the replica that holds the leader lock, visits
// every org and every other audit chain and purges what is past its window
// (storage::RetentionStore), in transactions of at most `batch_size` items of each kind.
// Each transaction that purged something also appends a `retention.purge` event (counts
// only) to the chain of its org, so the purge and its record commit together; purge
// checkpoints are signed when an audit signer is configured.
//
// Safe to run on every decrypt-tier replica: the leader lock keeps them from sweeping at
// once, and a sweep that overlaps another anyway (a leader cut off mid-sweep) only finds
// less to do, since every step is scoped to one org and re-checks what it deletes. The
// schedule, the leader lock and the paging through chains are the LeaderLoop's.
class RetentionScheduler {
 public:
  using Clock = std::function<absl::Time()>;

  // `admin_pool` (admin database role) must outlive this object; so must `signer` and
  // `metrics` when given.
  RetentionScheduler(storage::ConnectionPool& admin_pool,
                     std::unique_ptr<storage::LeaderLock> leader, RetentionOptions options,
                     const crypto::AuditSigner* signer = nullptr, Metrics* metrics = nullptr,
                     Clock clock = &absl::Now,
                     storage::AuditLog::AppendObserver on_audit_append = {});
  ~RetentionScheduler();  // Stop()

  RetentionScheduler(const RetentionScheduler&) = delete;
  RetentionScheduler& operator=(const RetentionScheduler&) = delete;

  // Sweeps now and then every `interval` after the previous sweep ends, on a thread of its
  // own. At most once.
  void Start();
  // Returns once the thread has ended: a sweep in progress stops after its current
  // transaction. Gives up leadership. Idempotent.
  void Stop();

  // One sweep on the calling thread, if this replica holds (or can take) the leader lock.
  // Not while the thread of Start() runs. UNAVAILABLE when the lock cannot be checked;
  // failures of single chains are counted in the report instead.
  absl::StatusOr<SweepReport> SweepOnce();

 private:
  struct Cutoffs {
    absl::Time credentials;
    absl::Time idempotency_keys;
    absl::Time audit_events;
  };

  absl::StatusOr<SweepReport> Sweep();
  // Purges one chain completely, transaction after transaction, adding to `report`;
  // kStopped when Stop() cut it short.
  absl::StatusOr<ChainVisit> PurgeChain(const storage::RetentionTarget& target,
                                        const Cutoffs& cutoffs, const std::string& sweep_id,
                                        SweepReport& report);
  void RecordPurged(const RetentionCounts& counts);

  storage::ConnectionPool& pool_;
  const RetentionOptions options_;
  Metrics* const metrics_;
  const Clock clock_;
  const storage::AuditLog audit_;
  const storage::RetentionStore store_{};
  storage::CheckpointSigner sign_;

  // Last: its thread, which runs Sweep(), ends before the members above go.
  LeaderLoop loop_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_JOBS_RETENTION_SCHEDULER_H_

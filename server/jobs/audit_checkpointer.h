#ifndef CREDVAULT_SERVER_JOBS_AUDIT_CHECKPOINTER_H_
#define CREDVAULT_SERVER_JOBS_AUDIT_CHECKPOINTER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "crypto/audit_signer.h"
#include "server/jobs/leader_loop.h"
#include "server/telemetry/metrics.h"
#include "storage/audit_log.h"
#include "storage/leader_lock.h"
#include "storage/pool.h"

namespace credvault::server {

struct CheckpointRoundReport {
  bool leader = false;   // false: another replica holds the leader lock; nothing was done
  bool stopped = false;  // Stop() cut the round short
  std::uint64_t chains_visited = 0;
  std::uint64_t signed_checkpoints = 0;  // chains whose head moved since their last checkpoint
  std::uint64_t failures = 0;            // chains that could not be checkpointed (logged)
};

// Signs the head of every audit chain that has grown since its latest checkpoint, on a
// schedule, on the replica that holds the leader lock. Before signing it verifies the
// chain from the newest checkpoint that its own key signed (never from an unsigned one):
// a chain that fails is not signed, and anything wrong (a broken chain, dropped events, a
// checkpoint beyond the last event, a rewound head row) is reported through
// credvault_audit_anomalies_total and a log line naming the org, round after round until
// it is dealt with (docs/operations.md). A planted checkpoint or a rewound head row does
// not stop the real head from being signed. A signed checkpoint pins the chain
// up to its head: events before it cannot be rewritten, and the newest ones cannot be
// dropped, without the audit signing key, because an exported checkpoint (or a stored one
// that VerifyAuditLog compares) would no longer match. The interval bounds how many of the
// newest events a database writer could remove unnoticed.
//
// Safe on every decrypt-tier replica: two overlapping rounds only race to insert the same
// checkpoint, and the loser's insert fails harmlessly and is logged. The schedule, the
// leader lock and the paging through chains are the LeaderLoop's.
class AuditCheckpointer {
 public:
  using Clock = std::function<absl::Time()>;

  // `admin_pool` (admin database role), `signer` and `metrics` (if given) must outlive
  // this object.
  AuditCheckpointer(storage::ConnectionPool& admin_pool,
                    std::unique_ptr<storage::LeaderLock> leader, absl::Duration interval,
                    const crypto::AuditSigner& signer, Metrics* metrics = nullptr,
                    Clock clock = &absl::Now);
  ~AuditCheckpointer();  // Stop()
  AuditCheckpointer(const AuditCheckpointer&) = delete;
  AuditCheckpointer& operator=(const AuditCheckpointer&) = delete;

  // Runs a round now and then every `interval` after the previous one ends, on a thread of
  // its own. At most once.
  void Start();
  // Returns once the thread has ended. Gives up leadership. Idempotent.
  void Stop();

  // One round on the calling thread. Not while the thread of Start() runs. UNAVAILABLE
  // when the leader lock cannot be checked; failures of single chains are counted instead.
  absl::StatusOr<CheckpointRoundReport> RunOnce();

 private:
  absl::StatusOr<CheckpointRoundReport> Round();
  // true if a new checkpoint was signed.
  absl::StatusOr<bool> CheckpointChain(const std::string& org_id);

  // Something wrong with a chain, reported as credvault_audit_anomalies_total{kind} and a
  // log line naming the org. `kind` is one of Metrics::kAuditAnomalyKinds.
  struct AuditAnomaly {
    std::string_view kind;
    std::uint64_t seq = 0;
    std::string detail;
  };
  // The head to sign: the last event, once the chain verifies from the newest checkpoint
  // this signer signed (or from genesis). nullopt when there is nothing new to sign or the
  // chain cannot be vouched for; `anomalies` then says why.
  absl::StatusOr<std::optional<storage::AuditHead>> VerifiedHead(
      storage::Transaction& tx, const std::string& org_id,
      std::vector<AuditAnomaly>& anomalies) const;

  storage::ConnectionPool& pool_;
  const crypto::AuditSigner& signer_;
  Metrics* const metrics_;
  const Clock clock_;
  const storage::AuditLog audit_{};
  // Last: its thread, which runs Round(), ends before the members above go.
  LeaderLoop loop_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_JOBS_AUDIT_CHECKPOINTER_H_

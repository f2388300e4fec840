#ifndef CREDVAULT_SERVER_APP_LEADER_JOBS_H_
#define CREDVAULT_SERVER_APP_LEADER_JOBS_H_

#include <memory>

#include "absl/status/status.h"
#include "server/app/database_pools.h"
#include "server/app/tier_keys.h"
#include "server/config/config.h"
#include "server/jobs/audit_checkpointer.h"
#include "server/jobs/retention_scheduler.h"
#include "server/telemetry/metrics.h"
#include "storage/audit_log.h"

namespace credvault::server {

// The periodic jobs that one decrypt-tier replica at a time runs, with the admin role,
// each under a leader lock of its own (server/jobs/leader_loop.h): the retention sweep
// and the signing of audit checkpoints.
class LeaderJobs {
 public:
  LeaderJobs() = default;
  ~LeaderJobs();  // Stop()
  LeaderJobs(const LeaderJobs&) = delete;
  LeaderJobs& operator=(const LeaderJobs&) = delete;

  // Starts the jobs `config` asks for: retention when retention.enabled, checkpoints when
  // an audit signing key is configured; neither without the admin role. A failure is
  // reported (ReportFailure) as "retention" or "audit_checkpoints".
  absl::Status Start(const Config& config, const DatabasePools& pools, const TierKeys& keys,
                     Metrics& metrics, const storage::AuditLog::AppendObserver& on_audit_append);
  // The retention sweep first (it ends after its current transaction), then the
  // checkpoints; each gives up its leadership. Idempotent.
  void Stop();

 private:
  std::unique_ptr<RetentionScheduler> retention_;
  std::unique_ptr<AuditCheckpointer> checkpointer_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_APP_LEADER_JOBS_H_

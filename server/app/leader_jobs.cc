#include "server/app/leader_jobs.h"

#include <string>
#include <utility>

#include "server/app/startup_failure.h"
#include "server/config/libpq_conninfo.h"
#include "storage/leader_lock.h"

namespace credvault::server {
namespace {

// A session advisory lock on a connection of its own, with the admin role.
absl::StatusOr<std::unique_ptr<storage::LeaderLock>> AdminLeaderLock(const Config& config,
                                                                     std::int64_t key) {
  return storage::LeaderLock::Create(
      {std::string(LibpqConnectionString(config.database, *config.database.admin).RevealSecret()),
       key, config.database.statement_timeout});
}

}  // namespace

LeaderJobs::~LeaderJobs() { Stop(); }

absl::Status LeaderJobs::Start(const Config& config, const DatabasePools& pools,
                               const TierKeys& keys, Metrics& metrics,
                               const storage::AuditLog::AppendObserver& on_audit_append) {
  // The retention sweep: decrypt tier, admin role; replicas elect one sweeper with an
  // advisory lock on a connection of its own.
  if (pools.admin && config.retention.enabled) {
    absl::StatusOr<std::unique_ptr<storage::LeaderLock>> leader =
        AdminLeaderLock(config, storage::kRetentionLeaderLockKey);
    if (!leader.ok()) return ReportFailure(leader.status(), "retention");
    retention_ = std::make_unique<RetentionScheduler>(
        *pools.admin, *std::move(leader),
        RetentionOptions{config.retention.deleted_credentials, config.retention.audit_events,
                         config.idempotency.retention, config.retention.interval,
                         config.retention.batch_size},
        keys.decrypt->audit_signer ? &*keys.decrypt->audit_signer : nullptr, &metrics, &absl::Now,
        on_audit_append);
    retention_->Start();
  }
  // Periodic signed checkpoints: like retention, decrypt tier and admin role, one replica
  // at a time under a lock of their own.
  if (pools.admin && keys.decrypt->audit_signer) {
    absl::StatusOr<std::unique_ptr<storage::LeaderLock>> leader =
        AdminLeaderLock(config, storage::kAuditCheckpointLeaderLockKey);
    if (!leader.ok()) return ReportFailure(leader.status(), "audit_checkpoints");
    checkpointer_ = std::make_unique<AuditCheckpointer>(*pools.admin, *std::move(leader),
                                                        config.audit_checkpoints.interval,
                                                        *keys.decrypt->audit_signer, &metrics);
    checkpointer_->Start();
  }
  return absl::OkStatus();
}

void LeaderJobs::Stop() {
  if (retention_) retention_->Stop();  // ends a sweep after its current transaction
  if (checkpointer_) checkpointer_->Stop();
}

}  // namespace credvault::server

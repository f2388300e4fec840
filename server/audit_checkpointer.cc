#include "server/audit_checkpointer.h"

#include <string>
#include <utility>
#include <vector>

#include "common/status_macros.h"
#include "server/json_log.h"

namespace credvault::server {
namespace {

// Chains listed per read of the directories; leadership is re-checked after each page.
constexpr std::size_t kChainPage = 100;

}  // namespace

AuditCheckpointer::AuditCheckpointer(storage::ConnectionPool& admin_pool,
                                     std::unique_ptr<storage::LeaderLock> leader,
                                     absl::Duration interval, const crypto::AuditSigner& signer,
                                     Metrics* metrics, Clock clock)
    : pool_(admin_pool),
      leader_(std::move(leader)),
      interval_(interval),
      signer_(signer),
      metrics_(metrics),
      clock_(std::move(clock)) {}

AuditCheckpointer::~AuditCheckpointer() { Stop(); }

void AuditCheckpointer::Start() {
  if (thread_.joinable() || stop_.HasBeenNotified()) return;
  thread_ = std::thread([this] { Loop(); });
}

void AuditCheckpointer::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
  leader_->Release();
}

absl::StatusOr<CheckpointRoundReport> AuditCheckpointer::RunOnce() { return Round(); }

void AuditCheckpointer::Loop() {
  do {
    const absl::StatusOr<CheckpointRoundReport> report = Round();
    if (!report.ok()) {
      LogError("audit checkpoint round failed", {{"error", report.status().ToString()}});
    }
  } while (!stop_.WaitForNotificationWithTimeout(interval_));
}

absl::StatusOr<CheckpointRoundReport> AuditCheckpointer::Round() {
  const absl::Time start = clock_();
  CheckpointRoundReport report;
  const absl::StatusOr<bool> leading = leader_->Acquire();
  if (!leading.ok()) {
    if (metrics_ != nullptr) metrics_->RecordAuditCheckpointRound("failed", 0, start);
    return leading.status();
  }
  if (!*leading) {
    if (metrics_ != nullptr) metrics_->RecordAuditCheckpointRound("standby", 0, start);
    return report;
  }
  report.leader = true;

  absl::Status failed;
  std::string after;
  while (!report.stopped && failed.ok()) {
    std::vector<storage::RetentionTarget> page;
    failed = pool_.RunWithoutOrg([&](storage::Transaction& tx) -> absl::Status {
      CV_ASSIGN_OR_RETURN(page, chains_.ListTargets(tx, after, kChainPage));
      return absl::OkStatus();
    });
    if (!failed.ok()) break;
    for (const storage::RetentionTarget& chain : page) {
      if (stop_.HasBeenNotified()) {
        report.stopped = true;
        break;
      }
      ++report.chains_visited;
      const absl::StatusOr<bool> signed_one = CheckpointChain(chain.org_id);
      if (!signed_one.ok()) {
        // One chain's failure must not hold up the others; the next round retries it.
        ++report.failures;
        LogError("audit checkpoint failed",
                 {{"org_id", chain.org_id}, {"error", signed_one.status().ToString()}});
      } else if (*signed_one) {
        ++report.signed_checkpoints;
      }
    }
    if (report.stopped || page.size() < kChainPage) break;
    after = page.back().org_id;
    const absl::StatusOr<bool> still = leader_->Acquire();
    if (!still.ok() || !*still) {
      failed = still.ok() ? absl::AbortedError("lost the audit checkpoint leader lock mid-round")
                          : still.status();
    }
  }

  const bool ok = failed.ok() && report.failures == 0;
  if (metrics_ != nullptr && (!report.stopped || !ok)) {
    metrics_->RecordAuditCheckpointRound(ok ? "ok" : "failed", report.signed_checkpoints, clock_());
  }
  (ok ? LogInfo : LogError)("audit checkpoint round finished",
                            {{"chains", std::to_string(report.chains_visited)},
                             {"signed", std::to_string(report.signed_checkpoints)},
                             {"failures", std::to_string(report.failures)},
                             {"stopped", report.stopped ? "true" : "false"}});
  if (!failed.ok()) return failed;
  return report;
}

absl::StatusOr<bool> AuditCheckpointer::CheckpointChain(const std::string& org_id) {
  bool signed_one = false;
  CV_RETURN_IF_ERROR(pool_.Run(org_id, [&](storage::Transaction& tx) -> absl::Status {
    signed_one = false;
    CV_ASSIGN_OR_RETURN(const storage::AuditHead head, audit_.Head(tx));
    if (head.seq == 0) return absl::OkStatus();
    CV_ASSIGN_OR_RETURN(const std::optional<storage::AuditCheckpoint> latest,
                        audit_.LatestCheckpoint(tx));
    if (latest.has_value() && latest->seq >= head.seq) return absl::OkStatus();
    // The database keeps microseconds; the signature covers exactly what is stored.
    const absl::Time now = absl::FromUnixMicros(absl::ToUnixMicros(clock_()));
    const crypto::AuditSignature signature =
        signer_.SignCheckpoint(org_id, head.seq, head.hash, absl::ToUnixMicros(now));
    CV_RETURN_IF_ERROR(audit_.AddCheckpoint(
        tx, storage::AuditCheckpointKind::kPeriodic, head.seq, head.hash,
        std::vector<std::uint8_t>(signature.begin(), signature.end()), signer_.key_id(), now));
    signed_one = true;
    return absl::OkStatus();
  }));
  return signed_one;
}

}  // namespace credvault::server

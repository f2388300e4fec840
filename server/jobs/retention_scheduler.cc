#include "server/jobs/retention_scheduler.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/base/audit_actions.h"
#include "server/telemetry/json_log.h"

namespace credvault::server {
namespace {

// The principal of what the service does on its own; never a caller's identity.
constexpr char kPrincipal[] = "credvaultd:retention";

std::string Details(const RetentionCounts& counts) {
  return absl::StrCat("credential_versions=", counts.credential_versions,
                      " credential_envelopes=", counts.credential_envelopes,
                      " idempotency_keys=", counts.idempotency_keys,
                      " audit_events=", counts.audit_events);
}

}  // namespace

RetentionCounts& RetentionCounts::operator+=(const RetentionCounts& other) {
  credential_versions += other.credential_versions;
  credential_envelopes += other.credential_envelopes;
  idempotency_keys += other.idempotency_keys;
  audit_events += other.audit_events;
  return *this;
}

RetentionScheduler::RetentionScheduler(storage::ConnectionPool& admin_pool,
                                       std::unique_ptr<storage::LeaderLock> leader,
                                       RetentionOptions options, const crypto::AuditSigner* signer,
                                       Metrics* metrics, Clock clock,
                                       storage::AuditLog::AppendObserver on_audit_append)
    : pool_(admin_pool),
      options_(options),
      metrics_(metrics),
      clock_(std::move(clock)),
      audit_(clock_, std::move(on_audit_append)),
      loop_(admin_pool, std::move(leader),
            LeaderLoopOptions{options.interval, "retention sweep failed",
                              "lost the retention leader lock mid-sweep"}) {
  if (signer != nullptr) {
    sign_ = [signer, clock = clock_](std::string_view org_id, std::uint64_t seq,
                                     const crypto::AuditHash& head_hash) {
      // The database keeps microseconds; the signature covers exactly what is stored.
      const absl::Time now = absl::FromUnixMicros(absl::ToUnixMicros(clock()));
      const crypto::AuditSignature signature =
          signer->SignCheckpoint(org_id, seq, head_hash, absl::ToUnixMicros(now));
      return storage::CheckpointSignature{
          std::vector<std::uint8_t>(signature.begin(), signature.end()), signer->key_id(), now};
    };
  }
}

RetentionScheduler::~RetentionScheduler() { Stop(); }

void RetentionScheduler::Start() {
  loop_.Start([this] { return Sweep().status(); });
}

void RetentionScheduler::Stop() {
  loop_.Stop();
  if (metrics_ != nullptr) metrics_->SetRetentionLeader(false);
}

absl::StatusOr<SweepReport> RetentionScheduler::SweepOnce() { return Sweep(); }

absl::StatusOr<SweepReport> RetentionScheduler::Sweep() {
  const absl::Time start = clock_();
  SweepReport report;
  const absl::StatusOr<bool> leading = loop_.Lead();
  if (metrics_ != nullptr) metrics_->SetRetentionLeader(leading.ok() && *leading);
  if (!leading.ok()) {
    if (metrics_ != nullptr) metrics_->RecordRetentionSweep("failed", absl::ZeroDuration(), start);
    return leading.status();
  }
  if (!*leading) {
    if (metrics_ != nullptr) metrics_->RecordRetentionSweep("standby", absl::ZeroDuration(), start);
    JsonLog::Write(Severity::kDebug, "retention sweep skipped: another replica leads");
    return report;
  }
  report.leader = true;
  const Cutoffs cutoffs{start - options_.deleted_credentials, start - options_.idempotency_keys,
                        start - options_.audit_events};
  const std::string sweep_id = absl::StrCat("retention-", absl::ToUnixMicros(start));

  const ChainPass pass =
      loop_.VisitChains([&](const storage::RetentionTarget& target) -> absl::StatusOr<ChainVisit> {
        absl::StatusOr<ChainVisit> purged = PurgeChain(target, cutoffs, sweep_id, report);
        if (!purged.ok()) {
          LogError("retention purge failed", {{"org_id", target.org_id},
                                              {"sweep_id", sweep_id},
                                              {"error", purged.status().ToString()}});
        }
        return purged;
      });
  report.stopped = pass.stopped;
  report.chains_visited = pass.visited;
  report.failures = pass.failures;
  if (pass.lost_leadership && metrics_ != nullptr) metrics_->SetRetentionLeader(false);

  const absl::Time end = clock_();
  const bool ok = pass.failed.ok() && report.failures == 0;
  // A sweep cut short by shutdown is neither a success nor a failure.
  if (metrics_ != nullptr && (!report.stopped || !ok)) {
    metrics_->RecordRetentionSweep(ok ? "ok" : "failed", end - start, end);
  }
  (ok ? LogInfo : LogError)(
      "retention sweep finished",
      {{"sweep_id", sweep_id},
       {"chains", std::to_string(report.chains_visited)},
       {"chains_purged", std::to_string(report.chains_purged)},
       {"failures", std::to_string(report.failures)},
       {"credential_versions", std::to_string(report.purged.credential_versions)},
       {"credential_envelopes", std::to_string(report.purged.credential_envelopes)},
       {"idempotency_keys", std::to_string(report.purged.idempotency_keys)},
       {"audit_events", std::to_string(report.purged.audit_events)},
       {"stopped", report.stopped ? "true" : "false"},
       {"ms", std::to_string(absl::ToInt64Milliseconds(end - start))}});
  if (!pass.failed.ok()) return pass.failed;
  return report;
}

absl::StatusOr<ChainVisit> RetentionScheduler::PurgeChain(const storage::RetentionTarget& target,
                                                          const Cutoffs& cutoffs,
                                                          const std::string& sweep_id,
                                                          SweepReport& report) {
  // Only orgs have credentials and idempotency keys; every chain has audit events.
  bool credentials = target.is_org;
  bool idempotency = target.is_org;
  bool audit = true;
  std::optional<storage::CredentialCursor> cursor;
  bool purged_any = false;
  ChainVisit visit = ChainVisit::kFinished;
  while (credentials || idempotency || audit) {
    if (loop_.stopping()) {
      visit = ChainVisit::kStopped;
      break;
    }
    // Written only by the transaction's last attempt: Run may repeat it after a conflict.
    RetentionCounts round;
    std::optional<storage::CredentialCursor> next_cursor;
    bool more_credentials = false;
    bool more_idempotency = false;
    bool more_audit = false;
    CV_RETURN_IF_ERROR(pool_.Run(target.org_id, [&](storage::Transaction& tx) -> absl::Status {
      round = RetentionCounts{};
      next_cursor.reset();
      more_credentials = more_idempotency = more_audit = false;
      if (credentials) {
        CV_ASSIGN_OR_RETURN(
            const storage::CredentialPurgeBatch batch,
            store_.PurgeCredentialVersions(tx, cutoffs.credentials, options_.batch_size, cursor));
        round.credential_versions = batch.deleted;
        round.credential_envelopes = batch.erased;
        next_cursor = batch.resume_after;
        more_credentials = next_cursor.has_value();
      }
      if (idempotency) {
        CV_ASSIGN_OR_RETURN(
            const std::size_t deleted,
            store_.PurgeIdempotencyKeys(tx, cutoffs.idempotency_keys, options_.batch_size));
        round.idempotency_keys = deleted;
        more_idempotency = deleted == options_.batch_size;
      }
      if (audit) {
        CV_ASSIGN_OR_RETURN(
            const storage::AuditPurgeBatch batch,
            store_.PurgeAuditEvents(tx, cutoffs.audit_events, options_.batch_size, sign_));
        round.audit_events = batch.deleted;
        more_audit = batch.more;
      }
      if (round.empty()) return absl::OkStatus();
      // In the purge's own transaction: nothing is ever purged without its record, and a
      // chain whose events all went keeps one, which links to the purge checkpoint.
      return audit_
          .Append(tx, storage::NewAuditEvent{kPrincipal, audit_action::kRetentionPurge, "", "ok",
                                             sweep_id, Details(round)})
          .status();
    }));
    if (!round.empty()) {
      purged_any = true;
      report.purged += round;
      RecordPurged(round);
    }
    cursor = std::move(next_cursor);
    credentials = more_credentials;
    idempotency = more_idempotency;
    audit = more_audit;
  }
  if (purged_any) ++report.chains_purged;
  return visit;
}

void RetentionScheduler::RecordPurged(const RetentionCounts& counts) {
  if (metrics_ == nullptr) return;
  metrics_->RecordRetentionPurged("credential_versions", counts.credential_versions);
  metrics_->RecordRetentionPurged("credential_envelopes", counts.credential_envelopes);
  metrics_->RecordRetentionPurged("idempotency_keys", counts.idempotency_keys);
  metrics_->RecordRetentionPurged("audit_events", counts.audit_events);
}

}  // namespace credvault::server

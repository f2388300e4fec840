#include "server/jobs/audit_checkpointer.h"

#include <string>
#include <utility>
#include <vector>

#include "common/status_macros.h"
#include "server/telemetry/json_log.h"

namespace credvault::server {

AuditCheckpointer::AuditCheckpointer(storage::ConnectionPool& admin_pool,
                                     std::unique_ptr<storage::LeaderLock> leader,
                                     absl::Duration interval, const crypto::AuditSigner& signer,
                                     Metrics* metrics, Clock clock)
    : pool_(admin_pool),
      signer_(signer),
      metrics_(metrics),
      clock_(std::move(clock)),
      loop_(admin_pool, std::move(leader),
            LeaderLoopOptions{interval, "audit checkpoint round failed",
                              "lost the audit checkpoint leader lock mid-round"}) {}

AuditCheckpointer::~AuditCheckpointer() { Stop(); }

void AuditCheckpointer::Start() {
  loop_.Start([this] { return Round().status(); });
}

void AuditCheckpointer::Stop() { loop_.Stop(); }

absl::StatusOr<CheckpointRoundReport> AuditCheckpointer::RunOnce() { return Round(); }

absl::StatusOr<CheckpointRoundReport> AuditCheckpointer::Round() {
  const absl::Time start = clock_();
  CheckpointRoundReport report;
  const absl::StatusOr<bool> leading = loop_.Lead();
  if (!leading.ok()) {
    if (metrics_ != nullptr) metrics_->RecordAuditCheckpointRound("failed", 0, start);
    return leading.status();
  }
  if (!*leading) {
    if (metrics_ != nullptr) metrics_->RecordAuditCheckpointRound("standby", 0, start);
    return report;
  }
  report.leader = true;

  const ChainPass pass =
      loop_.VisitChains([&](const storage::RetentionTarget& chain) -> absl::StatusOr<ChainVisit> {
        const absl::StatusOr<bool> signed_one = CheckpointChain(chain.org_id);
        if (!signed_one.ok()) {
          LogError("audit checkpoint failed",
                   {{"org_id", chain.org_id}, {"error", signed_one.status().ToString()}});
          return signed_one.status();
        }
        if (*signed_one) ++report.signed_checkpoints;
        return ChainVisit::kFinished;
      });
  report.stopped = pass.stopped;
  report.chains_visited = pass.visited;
  report.failures = pass.failures;

  const bool ok = pass.failed.ok() && report.failures == 0;
  if (metrics_ != nullptr && (!report.stopped || !ok)) {
    metrics_->RecordAuditCheckpointRound(ok ? "ok" : "failed", report.signed_checkpoints, clock_());
  }
  (ok ? LogInfo : LogError)("audit checkpoint round finished",
                            {{"chains", std::to_string(report.chains_visited)},
                             {"signed", std::to_string(report.signed_checkpoints)},
                             {"failures", std::to_string(report.failures)},
                             {"stopped", report.stopped ? "true" : "false"}});
  if (!pass.failed.ok()) return pass.failed;
  return report;
}

absl::StatusOr<bool> AuditCheckpointer::CheckpointChain(const std::string& org_id) {
  bool signed_one = false;
  std::vector<AuditAnomaly> anomalies;
  CV_RETURN_IF_ERROR(pool_.Run(org_id, [&](storage::Transaction& tx) -> absl::Status {
    signed_one = false;
    anomalies.clear();
    CV_ASSIGN_OR_RETURN(const std::optional<storage::AuditHead> to_sign,
                        VerifiedHead(tx, org_id, anomalies));
    if (!to_sign.has_value()) return absl::OkStatus();
    // The database keeps microseconds; the signature covers exactly what is stored.
    const absl::Time now = absl::FromUnixMicros(absl::ToUnixMicros(clock_()));
    const crypto::AuditSignature signature =
        signer_.SignCheckpoint(org_id, to_sign->seq, to_sign->hash, absl::ToUnixMicros(now));
    CV_RETURN_IF_ERROR(audit_.AddCheckpoint(
        tx, storage::AuditCheckpointKind::kPeriodic, to_sign->seq, to_sign->hash,
        std::vector<std::uint8_t>(signature.begin(), signature.end()), signer_.key_id(), now));
    signed_one = true;
    return absl::OkStatus();
  }));
  // Reported once the transaction is over, so that a retried one is not counted twice.
  for (const AuditAnomaly& anomaly : anomalies) {
    if (metrics_ != nullptr) metrics_->RecordAuditAnomaly(anomaly.kind);
    LogError("audit chain anomaly", {{"org_id", org_id},
                                     {"kind", std::string(anomaly.kind)},
                                     {"seq", std::to_string(anomaly.seq)},
                                     {"detail", anomaly.detail}});
  }
  return signed_one;
}

absl::StatusOr<std::optional<storage::AuditHead>> AuditCheckpointer::VerifiedHead(
    storage::Transaction& tx, const std::string& org_id,
    std::vector<AuditAnomaly>& anomalies) const {
  CV_ASSIGN_OR_RETURN(const std::vector<storage::AuditCheckpoint> checkpoints,
                      audit_.ListCheckpoints(tx));
  // The anchor is the newest checkpoint this key signed: nothing else in the database is
  // beyond the reach of someone who can write to it. Checkpoints of other keys (or none)
  // are neither trusted nor held against the chain.
  std::optional<storage::AuditHead> anchor;
  for (auto it = checkpoints.rbegin(); it != checkpoints.rend() && !anchor; ++it) {
    if (!it->signature.has_value() || it->signing_key_id != signer_.key_id()) continue;
    if (crypto::VerifyCheckpointSignature(signer_.public_key(), org_id, it->seq, it->head_hash,
                                          absl::ToUnixMicros(it->created_at), *it->signature)) {
      anchor = storage::AuditHead{it->seq, it->head_hash};
    } else {
      anomalies.push_back({"checkpoint_signature_invalid", it->seq,
                           "checkpoint names this signing key but its signature does not verify"});
    }
  }
  if (!anchor.has_value()) {
    CV_ASSIGN_OR_RETURN(const std::vector<storage::AuditEvent> first, audit_.List(tx, 0, 1));
    if (first.empty()) return std::nullopt;  // nothing to sign
    if (first.front().seq != 1) {
      anomalies.push_back({"unanchored", first.front().seq,
                           "the oldest retained event follows no checkpoint signed by this key"});
      return std::nullopt;
    }
    anchor = storage::AuditHead{0, crypto::AuditChainGenesis(org_id, first.front().chain_format)};
  }

  storage::AuditVerifyOptions options;
  options.anchor = anchor;
  CV_ASSIGN_OR_RETURN(const storage::AuditVerification verification, audit_.Verify(tx, options));
  if (!verification.ok && verification.kind != storage::AuditBreak::kHeadMismatch) {
    // A signed checkpoint beyond the stored events: the newest events were dropped.
    // (Verify reports the first missing event then, which is not after the anchor.)
    const bool truncated = verification.kind == storage::AuditBreak::kSequenceGap &&
                           verification.broken_seq <= anchor->seq;
    anomalies.push_back({truncated ? "events_missing" : "chain_broken", verification.broken_seq,
                         verification.problem});
    return std::nullopt;
  }
  if (verification.kind == storage::AuditBreak::kHeadMismatch) {
    // The events are intact; appends link to the last of them, so the real head is signed.
    anomalies.push_back({"head_mismatch", verification.broken_seq, verification.problem});
  }
  const storage::AuditHead verified = verification.verified_head;
  for (const storage::AuditCheckpoint& c : checkpoints) {
    if (c.seq <= verified.seq) continue;
    // Anything beyond the verified events that this key did not sign vouches for nothing.
    anomalies.push_back({"checkpoint_beyond_head", c.seq,
                         c.signature.has_value() ? "checkpoint beyond the last event, not "
                                                   "validly signed by this key"
                                                 : "unsigned checkpoint beyond the last event"});
  }
  if (verified.seq <= anchor->seq) return std::nullopt;  // nothing new since the anchor
  return verified;
}

}  // namespace credvault::server

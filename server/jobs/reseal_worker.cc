#include "server/jobs/reseal_worker.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "common/status_macros.h"
#include "crypto/envelope.h"
#include "server/base/audit_actions.h"
#include "server/keys/org_key_records.h"
#include "server/telemetry/json_log.h"
#include "storage/validation.h"

namespace credvault::server {
namespace {

constexpr char kWorkerPrincipal[] = "credvaultd/reseal-worker";

// Failures that retrying cannot fix: a record or envelope that fails its integrity check, a
// key that is gone. The job stops as FAILED with the reason; the old key stays usable.
bool IsPermanent(const absl::Status& status) {
  return status.code() == absl::StatusCode::kDataLoss ||
         status.code() == absl::StatusCode::kFailedPrecondition ||
         status.code() == absl::StatusCode::kInvalidArgument;
}

storage::NewAuditEvent WorkerEvent(std::string action, std::string target, std::string details) {
  return storage::NewAuditEvent{kWorkerPrincipal,  std::move(action), std::move(target), "ok", "",
                                std::move(details)};
}

}  // namespace

ResealWorker::ResealWorker(storage::ConnectionPool& decryptor_pool, const DecryptTierKeys& keys,
                           OrgKeyCache& org_keys, ResealWorkerOptions options,
                           storage::AuditLog::AppendObserver on_audit_append, Clock clock)
    : pool_(decryptor_pool),
      keys_(keys),
      org_keys_(org_keys),
      options_(options),
      clock_(std::move(clock)),
      audit_(clock_, std::move(on_audit_append)) {}

absl::StatusOr<std::size_t> ResealWorker::RunOnce() {
  std::vector<std::string> orgs;
  CV_RETURN_IF_ERROR(pool_.RunWithoutOrg([&](storage::Transaction& tx) -> absl::Status {
    CV_ASSIGN_OR_RETURN(orgs, jobs_.ListOrgsWithOpenJobs(tx));
    return absl::OkStatus();
  }));
  std::size_t open = 0;
  for (const std::string& org_id : orgs) {
    const absl::StatusOr<bool> still_open =
        org_id == storage::kSystemOrgId ? RunRootKeyBatch() : RunOrgKeyBatch(org_id);
    if (!still_open.ok()) {
      // One org's trouble (e.g. a lock timeout) must not stall the others.
      LogWarning("re-seal batch failed; it will be retried",
                 {{"org_id", org_id}, {"error", still_open.status().ToString()}});
      ++open;
      continue;
    }
    if (*still_open) ++open;
  }
  return open;
}

absl::StatusOr<bool> ResealWorker::RunOrgKeyBatch(const std::string& org_id) {
  bool open = false;
  CV_RETURN_IF_ERROR(pool_.Run(org_id, [&](storage::Transaction& tx) -> absl::Status {
    open = false;
    CV_ASSIGN_OR_RETURN(const std::optional<storage::ResealJob> locked, jobs_.LockOpen(tx));
    if (!locked) return absl::OkStatus();  // finished, or another replica has the batch
    storage::ResealJob job = *locked;
    CV_ASSIGN_OR_RETURN(const storage::Org org, orgs_.GetOrg(tx));
    if (org.state == storage::OrgState::kDestroyed) {
      job.state = storage::ResealJobState::kCancelled;
      job.last_error = "the org was destroyed";
      return jobs_.Update(tx, job);
    }
    job.state = storage::ResealJobState::kRunning;

    // Everything below that fails for good stops the job with the reason.
    const auto fail = [&](const absl::Status& cause) -> absl::Status {
      job.state = storage::ResealJobState::kFailed;
      job.last_error = std::string(cause.message());
      LogError("re-seal job failed",
               {{"org_id", org_id}, {"job_id", job.job_id}, {"error", cause.ToString()}});
      return jobs_.Update(tx, job);
    };

    CV_ASSIGN_OR_RETURN(const storage::OrgKey active, orgs_.GetActiveOrgKey(tx));
    if (active.version != job.to_version) {
      return fail(absl::FailedPreconditionError(
          "org key version " + std::to_string(job.to_version) + " is no longer the active one"));
    }
    absl::StatusOr<storage::OrgKey> signed_active = SignIfUnsigned(tx, active, keys_);
    if (!signed_active.ok()) return fail(signed_active.status());
    absl::StatusOr<crypto::OrgKeyRecord> record = ToOrgKeyRecord(*signed_active, {});
    if (!record.ok()) return fail(record.status());
    absl::StatusOr<crypto::RootKeyPins> roots = PinRootFor(keys_, record->root_key_version);
    if (!roots.ok()) return fail(roots.status());
    absl::StatusOr<crypto::VerifiedOrgPublicKey> target =
        crypto::VerifyOrgKeyRecordForSealing(*record, keys_.directory_pins, *roots);
    if (!target.ok()) return fail(target.status());

    std::optional<std::pair<std::string, std::int64_t>> after;
    if (job.cursor_key) after.emplace(*job.cursor_key, job.cursor_version);
    CV_ASSIGN_OR_RETURN(
        const std::vector<storage::EnvelopeToReseal> items,
        credentials_.LockEnvelopesNotSealedTo(tx, job.to_version, after, options_.batch_size));
    for (const storage::EnvelopeToReseal& item : items) {
      const std::string where =
          "credential " + item.name + " version " + std::to_string(item.version) + ": ";
      const auto version = static_cast<std::uint32_t>(item.org_key_version);
      absl::StatusOr<std::shared_ptr<const crypto::OrgPrivateKey>> old_key = org_keys_.GetOrLoad(
          org_id, version, [&] { return LoadOrgPrivateKey(tx, version, keys_); });
      if (!old_key.ok()) {
        if (!IsPermanent(old_key.status())) return old_key.status();
        return fail(
            absl::Status(old_key.status().code(), where + std::string(old_key.status().message())));
      }
      absl::StatusOr<crypto::ParsedEnvelope> parsed =
          crypto::ParseEnvelope(item.envelope, crypto::kMaxSecretSizeLimit);
      absl::StatusOr<std::vector<std::uint8_t>> resealed =
          parsed.ok() ? crypto::ResealEnvelope(
                            *parsed,
                            crypto::CredentialBinding{org_id, item.name,
                                                      static_cast<std::uint64_t>(item.version)},
                            **old_key, *target, *keys_.writer_keys.Get())
                      : parsed.status();
      if (!resealed.ok()) {
        return fail(absl::Status(resealed.status().code(),
                                 where + std::string(resealed.status().message())));
      }
      CV_RETURN_IF_ERROR(credentials_.ReplaceEnvelope(
          tx, item.name, item.version, item.org_key_version, *resealed, job.to_version,
          static_cast<std::int32_t>(keys_.writer_keys.Get()->current_version())));
    }
    job.items_done += items.size();
    job.items_total = std::max(job.items_total, job.items_done);
    if (!items.empty()) {
      job.cursor_key = items.back().name;
      job.cursor_version = items.back().version;
    }
    open = true;
    if (items.size() == options_.batch_size) return jobs_.Update(tx, job);

    // The end of the keyset. Anything left behind the cursor (it cannot normally happen:
    // new versions are sealed to the active key) sends the job round once more.
    CV_ASSIGN_OR_RETURN(const std::uint64_t remaining,
                        credentials_.CountEnvelopesNotSealedTo(tx, job.to_version));
    if (remaining > 0) {
      job.cursor_key.reset();
      job.cursor_version = 0;
      return jobs_.Update(tx, job);
    }
    CV_ASSIGN_OR_RETURN(const std::vector<std::int32_t> retired,
                        orgs_.RetireRetiringKeys(tx, ResignerFor(keys_)));
    std::string retired_list;
    for (const std::int32_t version : retired) {
      if (!retired_list.empty()) retired_list += ",";
      retired_list += std::to_string(version);
    }
    job.state = storage::ResealJobState::kSucceeded;
    job.last_error.clear();
    open = false;
    CV_RETURN_IF_ERROR(
        audit_
            .Append(tx, WorkerEvent(audit_action::kOrgKeyReseal, job.job_id,
                                    std::to_string(job.items_done) +
                                        " credential versions re-sealed to org key "
                                        "version " +
                                        std::to_string(job.to_version) +
                                        "; retired org key versions: " +
                                        (retired_list.empty() ? "none" : retired_list)))
            .status());
    return jobs_.Update(tx, job);
  }));
  return open;
}

absl::Status ResealWorker::ResealOrgKeys(const std::string& org_id, std::uint32_t to_root_version) {
  CV_ASSIGN_OR_RETURN(const crypto::RootPrivateKey* new_root, keys_.Root(to_root_version));
  CV_ASSIGN_OR_RETURN(const crypto::PinnedRootPublicKey pinned, PinUnwrappedRoot(*new_root));
  return pool_.Run(org_id, [&](storage::Transaction& tx) -> absl::Status {
    CV_ASSIGN_OR_RETURN(
        const std::vector<storage::SealedOrgKey> stale,
        orgs_.LockKeysNotSealedToRoot(tx, static_cast<std::int32_t>(to_root_version)));
    for (const storage::SealedOrgKey& sealed : stale) {
      CV_ASSIGN_OR_RETURN(const storage::OrgKey signed_key, SignIfUnsigned(tx, sealed.key, keys_));
      CV_ASSIGN_OR_RETURN(const crypto::OrgKeyRecord record,
                          ToOrgKeyRecord(signed_key, sealed.sealed_private_key));
      CV_ASSIGN_OR_RETURN(const crypto::RootPrivateKey* old_root,
                          keys_.Root(record.root_key_version));
      absl::StatusOr<crypto::OrgKeyRecord> resealed = crypto::ResealOrgKeyRecord(
          record, *old_root, pinned, keys_.directory_pins, keys_.directory_signer());
      if (!resealed.ok()) {
        return absl::Status(resealed.status().code(),
                            "org " + org_id + ": " + std::string(resealed.status().message()));
      }
      CV_RETURN_IF_ERROR(orgs_.ReplaceSealedPrivateKey(
          tx, static_cast<std::int32_t>(record.root_key_version), ToNewOrgKey(*resealed)));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<bool> ResealWorker::RunRootKeyBatch() {
  const std::string system(storage::kSystemOrgId);
  std::optional<storage::ResealJob> job;
  std::vector<std::string> orgs;
  CV_RETURN_IF_ERROR(pool_.Run(system, [&](storage::Transaction& tx) -> absl::Status {
    CV_ASSIGN_OR_RETURN(job, jobs_.GetOpen(tx));
    if (!job) return absl::OkStatus();
    CV_ASSIGN_OR_RETURN(
        orgs, directory_.ListAfter(tx, job->cursor_key.value_or(""), options_.batch_size));
    return absl::OkStatus();
  }));
  if (!job) return false;
  if (options_.root_pinned && !options_.root_pinned(static_cast<std::uint32_t>(job->to_version))) {
    const std::string waiting = "waiting until root key version " +
                                std::to_string(job->to_version) +
                                " is pinned in keys.root_key_pins";
    if (job->last_error != waiting) {
      LogInfo("root key re-seal waits for the new root key to be pinned",
              {{"job_id", job->job_id}, {"root_key_version", std::to_string(job->to_version)}});
      CV_RETURN_IF_ERROR(pool_.Run(system, [&](storage::Transaction& tx) -> absl::Status {
        CV_ASSIGN_OR_RETURN(std::optional<storage::ResealJob> open, jobs_.GetOpen(tx));
        if (!open || open->job_id != job->job_id) return absl::OkStatus();
        open->last_error = waiting;
        return jobs_.Update(tx, *open);
      }));
    }
    return false;
  }

  absl::Status failure;
  for (const std::string& org_id : orgs) {
    absl::Status status = ResealOrgKeys(org_id, static_cast<std::uint32_t>(job->to_version));
    if (!status.ok()) {
      if (!IsPermanent(status)) return status;
      failure = std::move(status);
      break;
    }
  }

  bool open = false;
  CV_RETURN_IF_ERROR(pool_.Run(system, [&](storage::Transaction& tx) -> absl::Status {
    open = false;
    CV_ASSIGN_OR_RETURN(const std::optional<storage::ResealJob> locked, jobs_.LockOpen(tx));
    if (!locked || locked->job_id != job->job_id) return absl::OkStatus();
    storage::ResealJob current = *locked;
    open = true;
    current.state = storage::ResealJobState::kRunning;
    if (!failure.ok()) {
      current.state = storage::ResealJobState::kFailed;
      current.last_error = std::string(failure.message());
      open = false;
      LogError("root key re-seal job failed",
               {{"job_id", current.job_id}, {"error", failure.ToString()}});
      return jobs_.Update(tx, current);
    }
    if (!orgs.empty() && (!current.cursor_key || *current.cursor_key < orgs.back())) {
      current.cursor_key = orgs.back();
      current.cursor_version = 0;
    }
    if (current.cursor_key) {
      CV_ASSIGN_OR_RETURN(current.items_done, directory_.CountThrough(tx, *current.cursor_key));
    }
    CV_ASSIGN_OR_RETURN(const std::uint64_t total, directory_.Count(tx));
    current.items_total = std::max(total, current.items_done);
    if (orgs.size() == options_.batch_size) return jobs_.Update(tx, current);

    CV_ASSIGN_OR_RETURN(const bool retired, root_keys_.Retire(tx, current.from_version));
    current.state = storage::ResealJobState::kSucceeded;
    current.last_error.clear();
    open = false;
    CV_RETURN_IF_ERROR(
        audit_
            .Append(tx, WorkerEvent(audit_action::kRootKeyReseal, current.job_id,
                                    "org keys of " + std::to_string(current.items_done) +
                                        " orgs re-sealed to root key version " +
                                        std::to_string(current.to_version) + "; root key version " +
                                        std::to_string(current.from_version) +
                                        (retired ? " retired" : " was not RETIRING")))
            .status());
    return jobs_.Update(tx, current);
  }));
  return open;
}

void ResealWorker::Run() {
  while (true) {
    absl::StatusOr<std::size_t> open = RunOnce();
    if (!open.ok()) {
      LogWarning("re-seal worker pass failed; retrying", {{"error", open.status().ToString()}});
    }
    absl::MutexLock lock(&mutex_);
    if (stop_) return;
    // Keep going while jobs are open; otherwise wait for a new job or the next poll.
    if (open.ok() && *open > 0 && !wake_) continue;
    const auto woken = [this]() ABSL_SHARED_LOCKS_REQUIRED(mutex_) { return wake_ || stop_; };
    mutex_.AwaitWithTimeout(absl::Condition(&woken), options_.poll_interval);
    wake_ = false;
    if (stop_) return;
  }
}

void ResealWorker::Wake() {
  absl::MutexLock lock(&mutex_);
  wake_ = true;
}

void ResealWorker::Stop() {
  absl::MutexLock lock(&mutex_);
  stop_ = true;
}

}  // namespace credvault::server

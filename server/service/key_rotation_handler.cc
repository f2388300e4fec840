#include "server/service/key_rotation_handler.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status_macros.h"
#include "crypto/blake2b.h"
#include "crypto/org_key.h"
#include "crypto/random_id.h"
#include "crypto/root_key.h"
#include "server/base/audit_actions.h"
#include "server/base/error_reason.h"
#include "server/keys/org_key_records.h"
#include "server/service/admin_audit_event.h"
#include "server/service/api_validation.h"
#include "server/service/org_guard.h"
#include "server/service/org_snapshot.h"
#include "server/service/page_token.h"

namespace credvault::server {
namespace {

absl::Status Invalid(const std::string& message) {
  return WithReason(absl::InvalidArgumentError(message), ErrorReason::kInvalidField);
}

// "rj-" and 20 hex digits: unguessable, and unique without a round trip.
std::string NewJobId() { return crypto::RandomHexId("rj-", 10); }

// What a rotation request asked for, stored with its idempotency key so that a retry can be
// told apart from another request that reuses the key: the unkeyed BLAKE2b-256 of
// "<rpc>\0<org id>". It is not the domain-separated canonical digest that PutCredential
// stores (credential_handler.cc) on purpose: reseal_jobs rows already hold digests made
// this way, and one column holding two schemes with nothing to tell them apart would make
// the stored digests of older jobs useless to compare with. (A retried rotation is matched
// by its idempotency key alone today.)
std::vector<std::uint8_t> RotationRequestDigest(std::string_view rpc, std::string_view org_id) {
  crypto::Blake2bHasher hasher;
  hasher.Update({reinterpret_cast<const std::uint8_t*>(rpc.data()), rpc.size()});
  constexpr std::uint8_t kSeparator = 0;
  hasher.Update({&kSeparator, 1});
  hasher.Update({reinterpret_cast<const std::uint8_t*>(org_id.data()), org_id.size()});
  const crypto::Blake2b256 digest = hasher.Finish();
  return std::vector<std::uint8_t>(digest.begin(), digest.end());
}

// The number a ListResealJobs page token binds its state filter with: the API's number for
// that ResealJobState (0 for every state), as tokens have always carried it, so that tokens
// handed out before stay good.
std::uint64_t StateFilterNumber(const std::optional<storage::ResealJobState>& state) {
  if (!state) return 0;
  switch (*state) {
    case storage::ResealJobState::kPending:
      return 1;
    case storage::ResealJobState::kRunning:
      return 2;
    case storage::ResealJobState::kSucceeded:
      return 3;
    case storage::ResealJobState::kFailed:
      return 4;
    case storage::ResealJobState::kCancelled:
      return 5;
  }
  return 0;
}

absl::Status ResealInProgress(const std::string& what, const storage::ResealJob& job) {
  return WithReason(absl::FailedPreconditionError("the re-seal job " + job.job_id + " of " + what +
                                                  " is still running; wait for it to finish"),
                    ErrorReason::kResealInProgress);
}

}  // namespace

KeyRotationHandler::KeyRotationHandler(storage::ConnectionPool& admin_pool,
                                       storage::ConnectionPool& decryptor_pool,
                                       const DecryptTierKeys& keys, OrgKeyCache& org_keys,
                                       std::function<void()> on_job_created,
                                       storage::AuditLog::AppendObserver on_audit_append,
                                       Clock clock)
    : pool_(admin_pool),
      decryptor_pool_(decryptor_pool),
      keys_(keys),
      org_keys_(org_keys),
      on_job_created_(std::move(on_job_created)),
      clock_(std::move(clock)),
      audit_(clock_, std::move(on_audit_append)) {}

absl::Status KeyRotationHandler::CheckOrgExists(storage::Transaction& tx) const {
  if (tx.org_id() == storage::kSystemOrgId) return absl::OkStatus();
  return LoadExistingOrg(orgs_, tx).status();
}

absl::StatusOr<RotateOrgKeyResult> KeyRotationHandler::RotateOrgKey(
    const CallContext& call, const RotateOrgKeyParams& params) const {
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", params.org_id));
  CV_RETURN_IF_ERROR(ValidateIdempotencyKey("idempotency_key", params.idempotency_key));
  const std::vector<std::uint8_t> request_digest =
      RotationRequestDigest("RotateOrgKey", params.org_id);
  RotateOrgKeyResult result;
  CV_RETURN_IF_ERROR(
      pool_.Run(params.org_id, call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        result = RotateOrgKeyResult{};
        CV_ASSIGN_OR_RETURN(const OrgSnapshot before, LoadOrgSnapshot(orgs_, tx));
        // A retry is answered even once the org is destroyed: the rotation happened.
        if (!params.idempotency_key.empty()) {
          CV_ASSIGN_OR_RETURN(const std::optional<storage::ResealJob> earlier,
                              jobs_.FindByIdempotencyKey(tx, params.idempotency_key));
          if (earlier) {
            result.org.snapshot = before;
            result.reseal_job = *earlier;
            result.idempotent_replay = true;
            return absl::OkStatus();
          }
        }
        CV_RETURN_IF_ERROR(CheckNotDestroyed(before.org));
        CV_ASSIGN_OR_RETURN(const std::optional<storage::ResealJob> open, jobs_.GetOpen(tx));
        if (open) return ResealInProgress("org " + params.org_id, *open);
        const std::uint32_t newest = before.newest_key_version();
        CV_ASSIGN_OR_RETURN(const crypto::OrgKeyRecord record,
                            MakeOrgKey(tx, params.org_id, newest + 1, keys_));
        CV_RETURN_IF_ERROR(orgs_.RotateOrgKey(tx, ToNewOrgKey(record), ResignerFor(keys_)));
        const auto to_version = static_cast<std::int32_t>(newest + 1);
        CV_ASSIGN_OR_RETURN(const std::uint64_t items,
                            credentials_.CountEnvelopesNotSealedTo(tx, to_version));
        storage::NewResealJob job;
        job.job_id = NewJobId();
        job.kind = storage::ResealJobKind::kOrgKey;
        job.from_version = static_cast<std::int32_t>(before.current_key_version());
        job.to_version = to_version;
        job.items_total = items;
        job.created_by = call.principal;
        if (!params.idempotency_key.empty()) {
          job.idempotency_key = params.idempotency_key;
          job.request_hash = request_digest;
        }
        CV_ASSIGN_OR_RETURN(const storage::ResealJob created, jobs_.Create(tx, job));
        CV_RETURN_IF_ERROR(
            audit_
                .Append(tx, AdminAuditEvent(call, audit_action::kOrgKeyRotate,
                                            "org key version " + std::to_string(newest + 1) +
                                                " replaces " +
                                                std::to_string(before.current_key_version()) +
                                                "; re-seal job " + created.job_id + " moves " +
                                                std::to_string(items) + " credential versions"))
                .status());
        CV_ASSIGN_OR_RETURN(result.org.snapshot, LoadOrgSnapshot(orgs_, tx));
        result.reseal_job = created;
        return absl::OkStatus();
      }));
  if (!result.idempotent_replay && on_job_created_) on_job_created_();
  return result;
}

absl::StatusOr<DestroyOrgKeyVersionResult> KeyRotationHandler::DestroyOrgKeyVersion(
    const CallContext& call, const DestroyOrgKeyVersionParams& params) const {
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", params.org_id));
  if (params.key_version == 0) return Invalid("key_version: must be at least 1");
  if (params.key_version > 0x7fffffff) return Invalid("key_version: too large");
  CV_RETURN_IF_ERROR(ValidatePurpose("reason", params.reason));
  DestroyOrgKeyVersionResult result;
  CV_RETURN_IF_ERROR(
      pool_.Run(params.org_id, call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        result = DestroyOrgKeyVersionResult{};
        CV_RETURN_IF_ERROR(RequireActiveOrg(orgs_, tx));
        const auto version = static_cast<std::int32_t>(params.key_version);
        CV_ASSIGN_OR_RETURN(const bool destroyed,
                            orgs_.DestroyRetiredKey(tx, version, ResignerFor(keys_)));
        result.already_destroyed = !destroyed;
        if (destroyed) {
          CV_RETURN_IF_ERROR(
              audit_
                  .Append(tx, AdminAuditEvent(call, audit_action::kOrgKeyDestroy,
                                              "reason: " + params.reason +
                                                  "; private half of org key " + "version " +
                                                  std::to_string(version) + " destroyed"))
                  .status());
        }
        CV_ASSIGN_OR_RETURN(result.org.snapshot, LoadOrgSnapshot(orgs_, tx));
        return absl::OkStatus();
      }));
  // No cached copy of the destroyed private half may outlive it.
  org_keys_.DropOrg(params.org_id);
  return result;
}

absl::StatusOr<RotateRootKeyResult> KeyRotationHandler::RotateRootKey(
    const CallContext& call, const RotateRootKeyParams& params) const {
  CV_RETURN_IF_ERROR(ValidateIdempotencyKey("idempotency_key", params.idempotency_key));
  if (!keys_.seal_key) {
    return absl::FailedPreconditionError("this process holds no seal key");
  }
  const std::string system(storage::kSystemOrgId);
  RotateRootKeyResult result;
  std::optional<crypto::SealedRootKey> made;
  // Root keys are written by the decrypt role: only the decrypt tier can wrap one.
  CV_RETURN_IF_ERROR(
      decryptor_pool_.Run(system, call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        result = RotateRootKeyResult{};
        made.reset();
        CV_ASSIGN_OR_RETURN(const std::vector<storage::RootKey> roots, root_keys_.List(tx));
        const auto public_key_of = [&](std::int32_t version) -> std::vector<std::uint8_t> {
          for (const storage::RootKey& root : roots) {
            if (root.version == version) {
              return std::vector<std::uint8_t>(root.public_key.begin(), root.public_key.end());
            }
          }
          return {};
        };
        if (!params.idempotency_key.empty()) {
          CV_ASSIGN_OR_RETURN(const std::optional<storage::ResealJob> earlier,
                              jobs_.FindByIdempotencyKey(tx, params.idempotency_key));
          if (earlier) {
            result.root_key_version = static_cast<std::uint32_t>(earlier->to_version);
            result.previous_root_key_version = static_cast<std::uint32_t>(earlier->from_version);
            result.root_public_key = public_key_of(earlier->to_version);
            result.reseal_job = *earlier;
            result.idempotent_replay = true;
            return absl::OkStatus();
          }
        }
        CV_ASSIGN_OR_RETURN(const std::optional<storage::ResealJob> open, jobs_.GetOpen(tx));
        if (open) return ResealInProgress("the previous root key rotation", *open);
        const storage::RootKey* active = nullptr;
        std::int32_t newest = 0;
        for (const storage::RootKey& root : roots) {
          if (root.state == storage::RootKeyState::kActive) active = &root;
          newest = std::max(newest, root.version);
        }
        if (active == nullptr) {
          return absl::FailedPreconditionError(
              "no root key exists yet; run `credvaultd init-root-key` first");
        }
        const auto version = static_cast<std::uint32_t>(newest + 1);
        CV_ASSIGN_OR_RETURN(crypto::SealedRootKey sealed,
                            crypto::GenerateRootKey(version, *keys_.seal_key));
        storage::NewRootKey stored;
        stored.version = static_cast<std::int32_t>(version);
        stored.public_key.assign(sealed.public_key.begin(), sealed.public_key.end());
        stored.sealed_private_key = sealed.wrapped_private_key;
        stored.seal_key_id = sealed.seal_key_id;
        CV_RETURN_IF_ERROR(root_keys_.Rotate(tx, stored));
        CV_ASSIGN_OR_RETURN(const std::uint64_t orgs, directory_.Count(tx));
        storage::NewResealJob job;
        job.job_id = NewJobId();
        job.kind = storage::ResealJobKind::kRootKey;
        job.from_version = active->version;
        job.to_version = static_cast<std::int32_t>(version);
        job.items_total = orgs;
        job.created_by = call.principal;
        if (!params.idempotency_key.empty()) {
          job.idempotency_key = params.idempotency_key;
          job.request_hash = RotationRequestDigest("RotateRootKey", system);
        }
        CV_ASSIGN_OR_RETURN(const storage::ResealJob created, jobs_.Create(tx, job));
        CV_RETURN_IF_ERROR(
            audit_
                .Append(tx, AdminAuditEvent(call, audit_action::kRootKeyRotate,
                                            "root key version " + std::to_string(version) + " (" +
                                                crypto::RootKeyFingerprint(sealed.public_key) +
                                                ") replaces " + std::to_string(active->version) +
                                                "; re-seal job " + created.job_id))
                .status());
        result.root_key_version = version;
        result.previous_root_key_version = static_cast<std::uint32_t>(active->version);
        result.root_public_key.assign(sealed.public_key.begin(), sealed.public_key.end());
        result.reseal_job = created;
        made = std::move(sealed);
        return absl::OkStatus();
      }));
  if (made) {
    // This process can seal to the new root at once; other replicas unwrap it on first use.
    absl::StatusOr<crypto::RootPrivateKey> root = crypto::UnsealRootKey(*made, *keys_.seal_key);
    if (root.ok()) keys_.late_roots->Add(*std::move(root));
    if (on_job_created_) on_job_created_();
  }
  return result;
}

absl::StatusOr<GetResealJobResult> KeyRotationHandler::GetResealJob(
    const CallContext& call, const GetResealJobParams& params) const {
  CV_RETURN_IF_ERROR(ValidateOrgIdOrSystem("org_id", params.org_id));
  if (params.job_id.empty() || params.job_id.size() > 64 ||
      params.job_id.find_first_not_of(
          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") !=
          std::string::npos) {
    return Invalid("job_id: must be 1-64 characters from [A-Za-z0-9_-]");
  }
  GetResealJobResult result;
  CV_RETURN_IF_ERROR(
      pool_.Run(params.org_id, call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        CV_RETURN_IF_ERROR(CheckOrgExists(tx));
        absl::StatusOr<storage::ResealJob> job = jobs_.Get(tx, params.job_id);
        if (absl::IsNotFound(job.status())) {
          return WithReason(
              absl::NotFoundError("org " + params.org_id + " has no re-seal job " + params.job_id),
              ErrorReason::kJobNotFound);
        }
        if (!job.ok()) return job.status();
        result.job = *std::move(job);
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<ListResealJobsResult> KeyRotationHandler::ListResealJobs(
    const CallContext& call, const ListResealJobsParams& params) const {
  CV_RETURN_IF_ERROR(ValidateOrgIdOrSystem("org_id", params.org_id));
  int page_size = 0;
  CV_RETURN_IF_ERROR(NormalizePageSize("page_size", params.page_size, page_size));
  PageQuery query("ListResealJobs");
  query.Add(params.org_id).Add(StateFilterNumber(params.state));
  storage::ResealJobPageQuery page_query;
  page_query.state = params.state;
  page_query.page_size = static_cast<std::size_t>(page_size);
  if (!params.page_token.empty()) {
    CV_ASSIGN_OR_RETURN(const std::string cursor, DecodePageToken(*keys_.writer_keys.Get(), query,
                                                                  "page_token", params.page_token));
    // The cursor is "<started_at micros>/<job id>", made below.
    const std::size_t slash = cursor.find('/');
    if (slash == std::string::npos) return Invalid("page_token: malformed");
    page_query.after.emplace(absl::FromUnixMicros(std::stoll(cursor.substr(0, slash))),
                             cursor.substr(slash + 1));
  }
  ListResealJobsResult result;
  CV_RETURN_IF_ERROR(
      pool_.Run(params.org_id, call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        result = ListResealJobsResult{};
        CV_RETURN_IF_ERROR(CheckOrgExists(tx));
        CV_ASSIGN_OR_RETURN(storage::ResealJobPage page, jobs_.List(tx, page_query));
        if (page.more && !page.jobs.empty()) {
          const storage::ResealJob& last = page.jobs.back();
          result.next_page_token = EncodePageToken(
              *keys_.writer_keys.Get(), query,
              std::to_string(absl::ToUnixMicros(last.started_at)) + "/" + last.job_id);
        }
        result.jobs = std::move(page.jobs);
        return absl::OkStatus();
      }));
  return result;
}

}  // namespace credvault::server

#include "server/service/admin_handler.h"

#include <sodium.h>

#include <algorithm>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "crypto/org_key.h"
#include "server/base/error_reason.h"
#include "server/keys/org_key_records.h"
#include "server/service/api_validation.h"
#include "server/service/metadata_conversion.h"
#include "server/service/page_token.h"

namespace credvault::server {
namespace {

namespace v1 = ::credvault::v1;

constexpr std::size_t kExportChunk = 500;
// ListOrgs filtered by state reads the directory in batches this large, and examines at
// most kListOrgsMaxExamined orgs per call, so that a call's cost stays bounded however few
// orgs match; the page token resumes after the last org examined.
constexpr std::size_t kListOrgsFilteredBatch = 500;
constexpr std::size_t kListOrgsMaxExamined = 5000;
// Written into the org.destroy event so a retried DestroyOrg can rebuild the receipt.
constexpr std::string_view kErasedCountField = "erased_credential_versions=";
constexpr std::string_view kDestroyedVersionsField = "destroyed_key_versions=";

absl::Status Invalid(const std::string& message) {
  return WithReason(absl::InvalidArgumentError(message), v1::ERROR_REASON_INVALID_FIELD);
}

absl::Status OrgNotFound(const std::string& org_id) {
  return WithReason(absl::NotFoundError("org " + org_id + " does not exist"),
                    v1::ERROR_REASON_ORG_NOT_FOUND);
}

v1::OrgKeyState ToApi(storage::OrgKeyState state) {
  switch (state) {
    case storage::OrgKeyState::kActive:
      return v1::ORG_KEY_STATE_ACTIVE;
    case storage::OrgKeyState::kRetiring:
      return v1::ORG_KEY_STATE_RETIRING;
    case storage::OrgKeyState::kRetired:
      return v1::ORG_KEY_STATE_RETIRED;
    case storage::OrgKeyState::kDestroyed:
      return v1::ORG_KEY_STATE_DESTROYED;
  }
  return v1::ORG_KEY_STATE_UNSPECIFIED;
}

void ToApi(const storage::AuditEvent& event, v1::AuditEvent& out) {
  out.set_org_id(event.org_id);
  out.set_sequence(event.seq);
  SetTimestamp(event.time, *out.mutable_time());
  out.set_principal(event.principal);
  out.set_action(event.action);
  out.set_target(event.target);
  out.set_result(event.result);
  out.set_request_id(event.request_id);
  out.set_details(event.details);
  out.set_prev_hash(std::string(event.prev_hash.begin(), event.prev_hash.end()));
  out.set_chain_format(static_cast<std::uint32_t>(event.chain_format));
  // Format 1 events name no appending role; the export says so by leaving it empty.
  if (event.chain_format != crypto::AuditChainFormat::kV1) out.set_appended_by(event.appended_by);
  out.set_hash(std::string(event.hash.begin(), event.hash.end()));
}

void ToApi(const std::string& org_id, const storage::AuditCheckpoint& checkpoint,
           v1::AuditCheckpoint& out) {
  out.set_org_id(org_id);
  out.set_sequence(checkpoint.seq);
  out.set_chain_head_hash(std::string(checkpoint.head_hash.begin(), checkpoint.head_hash.end()));
  SetTimestamp(checkpoint.created_at, *out.mutable_time());
  if (checkpoint.signature) {
    out.set_signature(std::string(checkpoint.signature->begin(), checkpoint.signature->end()));
  }
  if (checkpoint.signing_key_id) out.set_signing_key_id(*checkpoint.signing_key_id);
  switch (checkpoint.kind) {
    case storage::AuditCheckpointKind::kPeriodic:
      out.set_kind(v1::AUDIT_CHECKPOINT_KIND_PERIODIC);
      break;
    case storage::AuditCheckpointKind::kPurge:
      out.set_kind(v1::AUDIT_CHECKPOINT_KIND_PURGE);
      break;
    case storage::AuditCheckpointKind::kErasure:
      out.set_kind(v1::AUDIT_CHECKPOINT_KIND_ERASURE);
      break;
    case storage::AuditCheckpointKind::kUnknown:
      out.set_kind(v1::AUDIT_CHECKPOINT_KIND_UNSPECIFIED);
      break;
  }
}

storage::NewAuditEvent Event(const CallContext& call, std::string action, std::string details) {
  return storage::NewAuditEvent{call.principal, std::move(action), "",
                                "ok",           call.request_id,   std::move(details)};
}

v1::AuditVerificationFailure ToApi(storage::AuditBreak kind) {
  switch (kind) {
    case storage::AuditBreak::kNone:
      return v1::AUDIT_VERIFICATION_FAILURE_UNSPECIFIED;
    case storage::AuditBreak::kSequenceGap:
      return v1::AUDIT_VERIFICATION_FAILURE_SEQUENCE_GAP;
    case storage::AuditBreak::kAnchorMismatch:
      return v1::AUDIT_VERIFICATION_FAILURE_ANCHOR_MISMATCH;
    case storage::AuditBreak::kPrevHashMismatch:
      return v1::AUDIT_VERIFICATION_FAILURE_PREV_HASH_MISMATCH;
    case storage::AuditBreak::kHashMismatch:
      return v1::AUDIT_VERIFICATION_FAILURE_HASH_MISMATCH;
    case storage::AuditBreak::kCheckpointMismatch:
      return v1::AUDIT_VERIFICATION_FAILURE_CHECKPOINT_MISMATCH;
    case storage::AuditBreak::kCheckpointBeyondHead:
      return v1::AUDIT_VERIFICATION_FAILURE_CHECKPOINT_BEYOND_HEAD;
    case storage::AuditBreak::kHeadMismatch:
      return v1::AUDIT_VERIFICATION_FAILURE_HEAD_MISMATCH;
  }
  return v1::AUDIT_VERIFICATION_FAILURE_UNSPECIFIED;
}

v1::ResealJobState ToApi(storage::ResealJobState state) {
  switch (state) {
    case storage::ResealJobState::kPending:
      return v1::RESEAL_JOB_STATE_PENDING;
    case storage::ResealJobState::kRunning:
      return v1::RESEAL_JOB_STATE_RUNNING;
    case storage::ResealJobState::kSucceeded:
      return v1::RESEAL_JOB_STATE_SUCCEEDED;
    case storage::ResealJobState::kFailed:
      return v1::RESEAL_JOB_STATE_FAILED;
    case storage::ResealJobState::kCancelled:
      return v1::RESEAL_JOB_STATE_CANCELLED;
  }
  return v1::RESEAL_JOB_STATE_UNSPECIFIED;
}

void ToApi(const storage::ResealJob& job, v1::ResealJob& out) {
  out.set_job_id(job.job_id);
  out.set_org_id(job.org_id);
  out.set_kind(job.kind == storage::ResealJobKind::kOrgKey ? v1::RESEAL_JOB_KIND_ORG_KEY
                                                           : v1::RESEAL_JOB_KIND_ROOT_KEY);
  out.set_from_key_version(static_cast<std::uint32_t>(job.from_version));
  out.set_to_key_version(static_cast<std::uint32_t>(job.to_version));
  out.set_state(ToApi(job.state));
  out.set_items_done(job.items_done);
  out.set_items_total(job.items_total);
  SetTimestamp(job.started_at, *out.mutable_start_time());
  SetTimestamp(job.updated_at, *out.mutable_update_time());
  if (job.ended_at) SetTimestamp(*job.ended_at, *out.mutable_end_time());
  out.set_last_error(job.last_error);
}

void ToApi(const storage::OrgSummary& org, v1::OrgSummary& out) {
  out.set_org_id(org.org_id);
  out.set_state(org.state == storage::OrgState::kDestroyed ? v1::ORG_STATE_DESTROYED
                                                           : v1::ORG_STATE_ACTIVE);
  out.set_current_key_version(static_cast<std::uint32_t>(org.current_key_version));
  SetTimestamp(org.created_at, *out.mutable_create_time());
  if (org.destroyed_at) SetTimestamp(*org.destroyed_at, *out.mutable_destroy_time());
}

std::string NewJobId() {
  unsigned char random[10];
  randombytes_buf(random, sizeof(random));
  char hex[2 * sizeof(random) + 1];
  sodium_bin2hex(hex, sizeof(hex), random, sizeof(random));
  return std::string("rj-") + hex;
}

// What a rotation request asked for, so that a retry with the same idempotency key can be
// told apart from another request that reuses it.
std::vector<std::uint8_t> RequestHash(std::string_view rpc, std::string_view org_id) {
  const std::string message = std::string(rpc) + '\0' + std::string(org_id);
  std::vector<std::uint8_t> hash(crypto_generichash_BYTES);
  crypto_generichash(hash.data(), hash.size(),
                     reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                     nullptr, 0);
  return hash;
}

absl::Status ResealInProgress(const std::string& what, const storage::ResealJob& job) {
  return WithReason(absl::FailedPreconditionError("the re-seal job " + job.job_id + " of " + what +
                                                  " is still running; wait for it to finish"),
                    v1::ERROR_REASON_RESEAL_IN_PROGRESS);
}

std::optional<storage::ResealJobState> ToStorage(v1::ResealJobState state) {
  switch (state) {
    case v1::RESEAL_JOB_STATE_PENDING:
      return storage::ResealJobState::kPending;
    case v1::RESEAL_JOB_STATE_RUNNING:
      return storage::ResealJobState::kRunning;
    case v1::RESEAL_JOB_STATE_SUCCEEDED:
      return storage::ResealJobState::kSucceeded;
    case v1::RESEAL_JOB_STATE_FAILED:
      return storage::ResealJobState::kFailed;
    case v1::RESEAL_JOB_STATE_CANCELLED:
      return storage::ResealJobState::kCancelled;
    default:
      return std::nullopt;
  }
}

}  // namespace

absl::Status AdminHandler::CheckOrgExists(storage::Transaction& tx) const {
  if (tx.org_id() == storage::kSystemOrgId) return absl::OkStatus();
  absl::StatusOr<storage::Org> org = orgs_.GetOrg(tx);
  if (absl::IsNotFound(org.status())) return OrgNotFound(tx.org_id());
  return org.status();
}

void AdminHandler::FillReceipt(const crypto::ErasureReceiptFields& fields,
                               v1::ErasureReceipt& receipt) const {
  receipt.set_org_id(fields.org_id);
  receipt.clear_destroyed_key_versions();
  for (const std::uint32_t version : fields.destroyed_key_versions) {
    receipt.add_destroyed_key_versions(version);
  }
  SetTimestamp(absl::FromUnixMicros(fields.destroy_time_unix_micros),
               *receipt.mutable_destroy_time());
  receipt.set_erased_credential_version_count(fields.erased_credential_version_count);
  receipt.set_audit_sequence(fields.audit_sequence);
  receipt.set_audit_chain_head(
      std::string(fields.audit_chain_head.begin(), fields.audit_chain_head.end()));
  if (keys_.audit_signer) {
    const crypto::AuditSignature signature = keys_.audit_signer->SignErasureReceipt(fields);
    receipt.set_signature(std::string(signature.begin(), signature.end()));
    receipt.set_signing_key_id(keys_.audit_signer->key_id());
  }
}

void AdminHandler::AddSigningKey(v1::ExportAuditLogResponse& response) const {
  if (!keys_.audit_signer) return;
  v1::AuditSigningKey* key = response.add_signing_keys();
  key->set_key_id(keys_.audit_signer->key_id());
  key->set_public_key(std::string(keys_.audit_signer->public_key().begin(),
                                  keys_.audit_signer->public_key().end()));
}

absl::StatusOr<v1::ErasureReceipt> AdminHandler::RebuildReceipt(storage::Transaction& tx,
                                                                const v1::OrgInfo& org) const {
  // The org.destroy event: usually at the newest signed checkpoint, else found by a scan.
  std::optional<storage::AuditEvent> destroy_event;
  CV_ASSIGN_OR_RETURN(const std::vector<storage::AuditCheckpoint> checkpoints,
                      audit_.ListCheckpoints(tx));
  for (auto it = checkpoints.rbegin(); it != checkpoints.rend() && !destroy_event; ++it) {
    CV_ASSIGN_OR_RETURN(const std::vector<storage::AuditEvent> at, audit_.List(tx, it->seq - 1, 1));
    if (!at.empty() && at.front().action == "org.destroy") destroy_event = at.front();
  }
  for (std::uint64_t after = 0; !destroy_event;) {
    CV_ASSIGN_OR_RETURN(const std::vector<storage::AuditEvent> batch,
                        audit_.List(tx, after, kExportChunk));
    for (const storage::AuditEvent& event : batch) {
      if (event.action == "org.destroy") destroy_event = event;
    }
    if (batch.size() < kExportChunk) break;
    after = batch.back().seq;
  }
  if (!destroy_event) {
    return absl::DataLossError("org " + org.org_id() +
                               " is destroyed but its org.destroy event "
                               "is missing from the audit log");
  }
  crypto::ErasureReceiptFields fields;
  fields.org_id = org.org_id();
  for (const v1::OrgKeyVersion& key : org.key_versions()) {
    fields.destroyed_key_versions.push_back(key.version());
  }
  fields.destroy_time_unix_micros = absl::ToUnixMicros(FromTimestamp(org.destroy_time()));
  const std::size_t at = destroy_event->details.rfind(kErasedCountField);
  if (at != std::string::npos) {
    fields.erased_credential_version_count =
        std::strtoull(destroy_event->details.c_str() + at + kErasedCountField.size(), nullptr, 10);
  }
  fields.audit_sequence = destroy_event->seq;
  fields.audit_chain_head = destroy_event->hash;
  v1::ErasureReceipt receipt;
  FillReceipt(fields, receipt);
  return receipt;
}

AdminHandler::AdminHandler(storage::ConnectionPool& admin_pool,
                           storage::ConnectionPool& decryptor_pool, const DecryptTierKeys& keys,
                           OrgKeyCache& org_keys, std::function<void()> on_job_created,
                           storage::AuditLog::AppendObserver on_audit_append, Clock clock)
    : pool_(admin_pool),
      decryptor_pool_(decryptor_pool),
      keys_(keys),
      on_job_created_(std::move(on_job_created)),
      org_keys_(org_keys),
      clock_(std::move(clock)),
      audit_(clock_, std::move(on_audit_append)) {}

absl::StatusOr<crypto::OrgKeyRecord> AdminHandler::NewOrgKey(storage::Transaction& tx,
                                                             const std::string& org_id,
                                                             std::uint32_t version) const {
  return MakeOrgKey(tx, org_id, version, keys_);
}

absl::StatusOr<v1::OrgInfo> AdminHandler::LoadOrgInfo(storage::Transaction& tx) const {
  absl::StatusOr<storage::Org> org = orgs_.GetOrg(tx);
  if (!org.ok()) {
    return org.status().code() == absl::StatusCode::kNotFound ? OrgNotFound(tx.org_id())
                                                              : org.status();
  }
  CV_ASSIGN_OR_RETURN(const std::vector<storage::OrgKey> keys, orgs_.ListOrgKeys(tx));
  v1::OrgInfo info;
  info.set_org_id(org->org_id);
  info.set_state(org->state == storage::OrgState::kActive ? v1::ORG_STATE_ACTIVE
                                                          : v1::ORG_STATE_DESTROYED);
  SetTimestamp(org->created_at, *info.mutable_create_time());
  if (org->destroyed_at) SetTimestamp(*org->destroyed_at, *info.mutable_destroy_time());
  for (const storage::OrgKey& key : keys) {
    v1::OrgKeyVersion* out = info.add_key_versions();
    out->set_version(static_cast<std::uint32_t>(key.version));
    out->set_state(ToApi(key.state));
    out->set_public_key(std::string(key.public_key.begin(), key.public_key.end()));
    SetTimestamp(key.created_at, *out->mutable_create_time());
    if (key.retired_at) SetTimestamp(*key.retired_at, *out->mutable_retire_time());
    if (key.state == storage::OrgKeyState::kDestroyed) {
      // Its private half is gone: it is sealed to no root key any more.
      if (key.destroyed_at) {
        SetTimestamp(*key.destroyed_at, *out->mutable_destroy_time());
      } else if (org->destroyed_at) {
        SetTimestamp(*org->destroyed_at, *out->mutable_destroy_time());
      }
    } else {
      out->set_root_key_version(static_cast<std::uint32_t>(key.root_key_version));
    }
    if (key.state == storage::OrgKeyState::kActive) {
      info.set_current_key_version(static_cast<std::uint32_t>(key.version));
    }
  }
  return info;
}

namespace {

// Written into the org.create event, so that a retried CreateOrg is told from a request
// for an org that someone else (or a first Put) made.
constexpr char kCreateIdempotencyField[] = ", idempotency_key=";

// Whether the chain of the org holds the org.create event of a CreateOrg by `principal`
// with `idempotency_key`. That event is appended in the transaction that creates the org,
// so only the events around the org's creation time are read.
absl::StatusOr<bool> MadeByCreateOrg(storage::Transaction& tx, const storage::AuditLog& audit,
                                     const storage::Org& org, std::string_view principal,
                                     std::string_view idempotency_key) {
  constexpr std::size_t kPage = 1000;
  // Room for the difference between the database clock (the org's creation time) and the
  // service clock (the event's time).
  constexpr absl::Duration kClockSlack = absl::Hours(1);
  const std::string field = kCreateIdempotencyField + std::string(idempotency_key);
  std::uint64_t after = 0;
  while (true) {
    CV_ASSIGN_OR_RETURN(const std::vector<storage::AuditEvent> events,
                        audit.List(tx, after, kPage));
    for (const storage::AuditEvent& event : events) {
      if (event.time > org.created_at + kClockSlack) return false;
      if (event.action == "org.create" && event.result == "ok" && event.principal == principal &&
          absl::EndsWith(event.details, field)) {
        return true;
      }
      after = event.seq;
    }
    if (events.size() < kPage) return false;
  }
}

}  // namespace

absl::StatusOr<v1::CreateOrgResponse> AdminHandler::CreateOrg(
    const CallContext& call, const v1::CreateOrgRequest& request) const {
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", request.org_id()));
  CV_RETURN_IF_ERROR(ValidateIdempotencyKey("idempotency_key", request.idempotency_key()));
  v1::CreateOrgResponse response;
  CV_RETURN_IF_ERROR(
      pool_.Run(request.org_id(), call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        response.Clear();
        absl::StatusOr<storage::Org> existing = orgs_.GetOrg(tx);
        if (existing.ok()) {
          // A retried CreateOrg with its idempotency key finds the org it made; an org made
          // by anyone or anything else, or under another key, already exists.
          bool replay = false;
          if (!request.idempotency_key().empty() && existing->state == storage::OrgState::kActive) {
            CV_ASSIGN_OR_RETURN(replay, MadeByCreateOrg(tx, audit_, *existing, call.principal,
                                                        request.idempotency_key()));
          }
          if (replay) {
            CV_ASSIGN_OR_RETURN(*response.mutable_org(), LoadOrgInfo(tx));
            response.set_idempotent_replay(true);
            return absl::OkStatus();
          }
          return WithReason(absl::AlreadyExistsError("org " + request.org_id() + " already exists"),
                            v1::ERROR_REASON_ORG_EXISTS);
        }
        if (existing.status().code() != absl::StatusCode::kNotFound) return existing.status();
        CV_ASSIGN_OR_RETURN(const crypto::OrgKeyRecord record, NewOrgKey(tx, request.org_id(), 1));
        CV_RETURN_IF_ERROR(orgs_.CreateOrg(tx, ToNewOrgKey(record)));
        CV_RETURN_IF_ERROR(
            audit_
                .Append(tx,
                        Event(call, "org.create",
                              absl::StrCat(
                                  "org key version 1, root key version ", record.root_key_version,
                                  request.idempotency_key().empty() ? "" : kCreateIdempotencyField,
                                  request.idempotency_key())))
                .status());
        CV_ASSIGN_OR_RETURN(*response.mutable_org(), LoadOrgInfo(tx));
        return absl::OkStatus();
      }));
  return response;
}

absl::StatusOr<v1::DescribeOrgResponse> AdminHandler::DescribeOrg(
    const CallContext& call, const v1::DescribeOrgRequest& request) const {
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", request.org_id()));
  v1::DescribeOrgResponse response;
  CV_RETURN_IF_ERROR(
      pool_.Run(request.org_id(), call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        CV_ASSIGN_OR_RETURN(*response.mutable_org(), LoadOrgInfo(tx));
        if (response.org().state() == v1::ORG_STATE_DESTROYED) {
          CV_ASSIGN_OR_RETURN(*response.mutable_org()->mutable_erasure_receipt(),
                              RebuildReceipt(tx, response.org()));
        }
        return absl::OkStatus();
      }));
  return response;
}

absl::StatusOr<v1::ListOrgsResponse> AdminHandler::ListOrgs(
    const CallContext& call, const v1::ListOrgsRequest& request) const {
  int page_size = 0;
  CV_RETURN_IF_ERROR(NormalizePageSize("page_size", request.page_size(), page_size));
  if (!v1::OrgState_IsValid(request.state())) return Invalid("state: not an OrgState value");
  PageQuery query("ListOrgs");
  query.Add(static_cast<std::uint64_t>(request.state()));
  // The cursor is the last org id examined.
  std::string cursor;
  if (!request.page_token().empty()) {
    CV_ASSIGN_OR_RETURN(cursor, DecodePageToken(*keys_.writer_keys.Get(), query, "page_token",
                                                request.page_token()));
  }
  const bool filtered = request.state() != v1::ORG_STATE_UNSPECIFIED;
  const std::size_t wanted = static_cast<std::size_t>(page_size);
  // Unfiltered, one org more than the page tells whether another page follows.
  const std::size_t batch = filtered ? kListOrgsFilteredBatch : wanted + 1;
  v1::ListOrgsResponse response;
  std::size_t examined = 0;
  bool more = true;
  while (more && static_cast<std::size_t>(response.orgs_size()) < wanted &&
         examined < kListOrgsMaxExamined) {
    CV_ASSIGN_OR_RETURN(const std::vector<storage::OrgSummary> orgs,
                        directory_.ListOrgs(pool_, cursor, batch, call.deadline));
    more = orgs.size() == batch;
    for (std::size_t i = 0; i < orgs.size(); ++i) {
      if (static_cast<std::size_t>(response.orgs_size()) == wanted) {
        more = true;  // orgs[i] and any after it are left for the next page
        break;
      }
      cursor = orgs[i].org_id;
      ++examined;
      v1::OrgSummary summary;
      ToApi(orgs[i], summary);
      if (filtered && summary.state() != request.state()) continue;
      *response.add_orgs() = std::move(summary);
    }
  }
  if (more) {
    response.set_next_page_token(EncodePageToken(*keys_.writer_keys.Get(), query, cursor));
  }
  return response;
}

absl::StatusOr<v1::RotateOrgKeyResponse> AdminHandler::RotateOrgKey(
    const CallContext& call, const v1::RotateOrgKeyRequest& request) const {
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", request.org_id()));
  CV_RETURN_IF_ERROR(ValidateIdempotencyKey("idempotency_key", request.idempotency_key()));
  const std::vector<std::uint8_t> request_hash = RequestHash("RotateOrgKey", request.org_id());
  v1::RotateOrgKeyResponse response;
  CV_RETURN_IF_ERROR(
      pool_.Run(request.org_id(), call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        response.Clear();
        CV_ASSIGN_OR_RETURN(const v1::OrgInfo before, LoadOrgInfo(tx));
        if (!request.idempotency_key().empty()) {
          CV_ASSIGN_OR_RETURN(const std::optional<storage::ResealJob> earlier,
                              jobs_.FindByIdempotencyKey(tx, request.idempotency_key()));
          if (earlier) {
            *response.mutable_org() = before;
            ToApi(*earlier, *response.mutable_reseal_job());
            response.set_idempotent_replay(true);
            return absl::OkStatus();
          }
        }
        if (before.state() == v1::ORG_STATE_DESTROYED) {
          return WithReason(
              absl::FailedPreconditionError("org " + request.org_id() + " is destroyed"),
              v1::ERROR_REASON_ORG_DESTROYED);
        }
        CV_ASSIGN_OR_RETURN(const std::optional<storage::ResealJob> open, jobs_.GetOpen(tx));
        if (open) return ResealInProgress("org " + request.org_id(), *open);
        std::uint32_t newest = 0;
        for (const v1::OrgKeyVersion& key : before.key_versions())
          newest = std::max(newest, key.version());
        CV_ASSIGN_OR_RETURN(const crypto::OrgKeyRecord record,
                            NewOrgKey(tx, request.org_id(), newest + 1));
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
        if (!request.idempotency_key().empty()) {
          job.idempotency_key = request.idempotency_key();
          job.request_hash = request_hash;
        }
        CV_ASSIGN_OR_RETURN(const storage::ResealJob created, jobs_.Create(tx, job));
        CV_RETURN_IF_ERROR(
            audit_
                .Append(tx, Event(call, "org.key_rotate",
                                  "org key version " + std::to_string(newest + 1) + " replaces " +
                                      std::to_string(before.current_key_version()) +
                                      "; re-seal job " + created.job_id + " moves " +
                                      std::to_string(items) + " credential versions"))
                .status());
        CV_ASSIGN_OR_RETURN(*response.mutable_org(), LoadOrgInfo(tx));
        ToApi(created, *response.mutable_reseal_job());
        return absl::OkStatus();
      }));
  if (!response.idempotent_replay() && on_job_created_) on_job_created_();
  return response;
}

absl::StatusOr<v1::DestroyOrgKeyVersionResponse> AdminHandler::DestroyOrgKeyVersion(
    const CallContext& call, const v1::DestroyOrgKeyVersionRequest& request) const {
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", request.org_id()));
  if (request.key_version() == 0) return Invalid("key_version: must be at least 1");
  if (request.key_version() > 0x7fffffff) return Invalid("key_version: too large");
  CV_RETURN_IF_ERROR(ValidatePurpose("reason", request.reason()));
  v1::DestroyOrgKeyVersionResponse response;
  CV_RETURN_IF_ERROR(
      pool_.Run(request.org_id(), call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        response.Clear();
        CV_ASSIGN_OR_RETURN(const v1::OrgInfo before, LoadOrgInfo(tx));
        if (before.state() == v1::ORG_STATE_DESTROYED) {
          return WithReason(
              absl::FailedPreconditionError("org " + request.org_id() + " is destroyed"),
              v1::ERROR_REASON_ORG_DESTROYED);
        }
        const auto version = static_cast<std::int32_t>(request.key_version());
        CV_ASSIGN_OR_RETURN(const bool destroyed,
                            orgs_.DestroyRetiredKey(tx, version, ResignerFor(keys_)));
        response.set_already_destroyed(!destroyed);
        if (destroyed) {
          CV_RETURN_IF_ERROR(
              audit_
                  .Append(tx, Event(call, "org.key_destroy",
                                    "reason: " + request.reason() + "; private half of org key " +
                                        "version " + std::to_string(version) + " destroyed"))
                  .status());
        }
        CV_ASSIGN_OR_RETURN(*response.mutable_org(), LoadOrgInfo(tx));
        return absl::OkStatus();
      }));
  // No cached copy of the destroyed private half may outlive it.
  org_keys_.DropOrg(request.org_id());
  return response;
}

absl::StatusOr<v1::RotateRootKeyResponse> AdminHandler::RotateRootKey(
    const CallContext& call, const v1::RotateRootKeyRequest& request) const {
  CV_RETURN_IF_ERROR(ValidateIdempotencyKey("idempotency_key", request.idempotency_key()));
  if (!keys_.seal_key) {
    return absl::FailedPreconditionError("this process holds no seal key");
  }
  const std::string system(storage::kSystemOrgId);
  v1::RotateRootKeyResponse response;
  std::optional<crypto::SealedRootKey> made;
  // Root keys are written by the decrypt role: only the decrypt tier can wrap one.
  CV_RETURN_IF_ERROR(
      decryptor_pool_.Run(system, call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        response.Clear();
        made.reset();
        CV_ASSIGN_OR_RETURN(const std::vector<storage::RootKey> roots, root_keys_.List(tx));
        const auto public_key_of = [&](std::int32_t version) -> std::string {
          for (const storage::RootKey& root : roots) {
            if (root.version == version) {
              return std::string(root.public_key.begin(), root.public_key.end());
            }
          }
          return "";
        };
        if (!request.idempotency_key().empty()) {
          CV_ASSIGN_OR_RETURN(const std::optional<storage::ResealJob> earlier,
                              jobs_.FindByIdempotencyKey(tx, request.idempotency_key()));
          if (earlier) {
            response.set_root_key_version(static_cast<std::uint32_t>(earlier->to_version));
            response.set_previous_root_key_version(
                static_cast<std::uint32_t>(earlier->from_version));
            response.set_root_public_key(public_key_of(earlier->to_version));
            ToApi(*earlier, *response.mutable_reseal_job());
            response.set_idempotent_replay(true);
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
        if (!request.idempotency_key().empty()) {
          job.idempotency_key = request.idempotency_key();
          job.request_hash = RequestHash("RotateRootKey", system);
        }
        CV_ASSIGN_OR_RETURN(const storage::ResealJob created, jobs_.Create(tx, job));
        CV_RETURN_IF_ERROR(
            audit_
                .Append(tx, Event(call, "root.key_rotate",
                                  "root key version " + std::to_string(version) + " (" +
                                      crypto::RootKeyFingerprint(sealed.public_key) +
                                      ") replaces " + std::to_string(active->version) +
                                      "; re-seal job " + created.job_id))
                .status());
        response.set_root_key_version(version);
        response.set_previous_root_key_version(static_cast<std::uint32_t>(active->version));
        response.set_root_public_key(
            std::string(sealed.public_key.begin(), sealed.public_key.end()));
        ToApi(created, *response.mutable_reseal_job());
        made = std::move(sealed);
        return absl::OkStatus();
      }));
  if (made) {
    // This process can seal to the new root at once; other replicas unwrap it on first use.
    absl::StatusOr<crypto::RootPrivateKey> root = crypto::UnsealRootKey(*made, *keys_.seal_key);
    if (root.ok()) keys_.late_roots->Add(*std::move(root));
    if (on_job_created_) on_job_created_();
  }
  return response;
}

absl::StatusOr<v1::GetResealJobResponse> AdminHandler::GetResealJob(
    const CallContext& call, const v1::GetResealJobRequest& request) const {
  CV_RETURN_IF_ERROR(ValidateOrgIdOrSystem("org_id", request.org_id()));
  if (request.job_id().empty() || request.job_id().size() > 64 ||
      request.job_id().find_first_not_of(
          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") !=
          std::string::npos) {
    return Invalid("job_id: must be 1-64 characters from [A-Za-z0-9_-]");
  }
  v1::GetResealJobResponse response;
  CV_RETURN_IF_ERROR(
      pool_.Run(request.org_id(), call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        response.Clear();
        CV_RETURN_IF_ERROR(CheckOrgExists(tx));
        absl::StatusOr<storage::ResealJob> job = jobs_.Get(tx, request.job_id());
        if (absl::IsNotFound(job.status())) {
          return WithReason(absl::NotFoundError("org " + request.org_id() + " has no re-seal job " +
                                                request.job_id()),
                            v1::ERROR_REASON_JOB_NOT_FOUND);
        }
        if (!job.ok()) return job.status();
        ToApi(*job, *response.mutable_job());
        return absl::OkStatus();
      }));
  return response;
}

absl::StatusOr<v1::ListResealJobsResponse> AdminHandler::ListResealJobs(
    const CallContext& call, const v1::ListResealJobsRequest& request) const {
  CV_RETURN_IF_ERROR(ValidateOrgIdOrSystem("org_id", request.org_id()));
  int page_size = 0;
  CV_RETURN_IF_ERROR(NormalizePageSize("page_size", request.page_size(), page_size));
  if (!v1::ResealJobState_IsValid(request.state())) {
    return Invalid("state: not a ResealJobState value");
  }
  PageQuery query("ListResealJobs");
  query.Add(request.org_id()).Add(static_cast<std::uint64_t>(request.state()));
  storage::ResealJobPageQuery page_query;
  page_query.state = ToStorage(request.state());
  page_query.page_size = static_cast<std::size_t>(page_size);
  if (!request.page_token().empty()) {
    CV_ASSIGN_OR_RETURN(
        const std::string cursor,
        DecodePageToken(*keys_.writer_keys.Get(), query, "page_token", request.page_token()));
    // The cursor is "<started_at micros>/<job id>", made below.
    const std::size_t slash = cursor.find('/');
    if (slash == std::string::npos) return Invalid("page_token: malformed");
    page_query.after.emplace(absl::FromUnixMicros(std::stoll(cursor.substr(0, slash))),
                             cursor.substr(slash + 1));
  }
  v1::ListResealJobsResponse response;
  CV_RETURN_IF_ERROR(
      pool_.Run(request.org_id(), call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        response.Clear();
        CV_RETURN_IF_ERROR(CheckOrgExists(tx));
        CV_ASSIGN_OR_RETURN(const storage::ResealJobPage page, jobs_.List(tx, page_query));
        for (const storage::ResealJob& job : page.jobs) ToApi(job, *response.add_jobs());
        if (page.more && !page.jobs.empty()) {
          const storage::ResealJob& last = page.jobs.back();
          response.set_next_page_token(EncodePageToken(
              *keys_.writer_keys.Get(), query,
              std::to_string(absl::ToUnixMicros(last.started_at)) + "/" + last.job_id));
        }
        return absl::OkStatus();
      }));
  return response;
}

absl::StatusOr<v1::DestroyOrgResponse> AdminHandler::DestroyOrg(
    const CallContext& call, const v1::DestroyOrgRequest& request) const {
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", request.org_id()));
  if (request.confirm_org_id() != request.org_id()) {
    return Invalid("confirm_org_id: must equal org_id");
  }
  CV_RETURN_IF_ERROR(ValidatePurpose("reason", request.reason()));
  v1::DestroyOrgResponse response;
  CV_RETURN_IF_ERROR(
      pool_.Run(request.org_id(), call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        response.Clear();
        CV_ASSIGN_OR_RETURN(const v1::OrgInfo before, LoadOrgInfo(tx));
        if (before.state() == v1::ORG_STATE_DESTROYED) {
          response.set_already_destroyed(true);
          CV_ASSIGN_OR_RETURN(*response.mutable_receipt(), RebuildReceipt(tx, before));
          return absl::OkStatus();
        }
        CV_ASSIGN_OR_RETURN(const std::uint64_t unerased, credentials_.CountUnerasedVersions(tx));
        CV_RETURN_IF_ERROR(orgs_.MarkDestroyed(tx, ResignerFor(keys_)));
        CV_ASSIGN_OR_RETURN(std::optional<storage::ResealJob> open_job, jobs_.GetOpen(tx));
        if (open_job) {
          open_job->state = storage::ResealJobState::kCancelled;
          open_job->last_error = "the org was destroyed";
          CV_RETURN_IF_ERROR(jobs_.Update(tx, *open_job));
        }
        CV_ASSIGN_OR_RETURN(const v1::OrgInfo after, LoadOrgInfo(tx));
        crypto::ErasureReceiptFields fields;
        fields.org_id = request.org_id();
        for (const v1::OrgKeyVersion& key : after.key_versions()) {
          fields.destroyed_key_versions.push_back(key.version());
        }
        // The event carries what the receipt states, so an audit export (whose chain the
        // erasure checkpoint signs) proves the erasure without the receipt itself.
        CV_ASSIGN_OR_RETURN(
            const storage::AuditEvent event,
            audit_.Append(tx, Event(call, "org.destroy",
                                    absl::StrCat("reason: ", request.reason(),
                                                 "; every org private key destroyed; ",
                                                 std::string(kDestroyedVersionsField),
                                                 absl::StrJoin(fields.destroyed_key_versions, ","),
                                                 "; ", std::string(kErasedCountField), unerased))));
        fields.destroy_time_unix_micros = absl::ToUnixMicros(FromTimestamp(after.destroy_time()));
        fields.erased_credential_version_count = unerased;
        fields.audit_sequence = event.seq;
        fields.audit_chain_head = event.hash;
        FillReceipt(fields, *response.mutable_receipt());
        if (keys_.audit_signer) {
          // A signed checkpoint at the destruction: the chain up to it cannot be rewritten
          // without the audit signing key.
          const absl::Time now = absl::FromUnixMicros(absl::ToUnixMicros(clock_()));
          const crypto::AuditSignature signature = keys_.audit_signer->SignCheckpoint(
              request.org_id(), event.seq, event.hash, absl::ToUnixMicros(now));
          CV_RETURN_IF_ERROR(audit_.AddCheckpoint(
              tx, storage::AuditCheckpointKind::kErasure, event.seq, event.hash,
              std::vector<std::uint8_t>(signature.begin(), signature.end()),
              keys_.audit_signer->key_id(), now));
        }
        return absl::OkStatus();
      }));
  // Committed: no cached copy of the org's private keys may outlive their destruction.
  org_keys_.DropOrg(request.org_id());
  return response;
}

absl::StatusOr<v1::ListAuditEventsResponse> AdminHandler::ListAuditEvents(
    const CallContext& call, const v1::ListAuditEventsRequest& request) const {
  CV_RETURN_IF_ERROR(ValidateOrgIdOrSystem("org_id", request.org_id()));
  int page_size = 0;
  CV_RETURN_IF_ERROR(NormalizePageSize("page_size", request.page_size(), page_size));
  if (request.has_start_sequence() && request.start_sequence() == 0) {
    return Invalid("start_sequence: must be at least 1");
  }
  if (request.has_start_sequence() && request.has_end_sequence() &&
      request.end_sequence() < request.start_sequence()) {
    return Invalid("end_sequence: must not be before start_sequence");
  }
  const bool has_start_time = request.has_start_time();
  const bool has_end_time = request.has_end_time();
  const absl::Time start_time = FromTimestamp(request.start_time());
  const absl::Time end_time = FromTimestamp(request.end_time());
  if (has_start_time && has_end_time && end_time <= start_time) {
    return Invalid("end_time: must be after start_time");
  }
  if (request.action().size() > 64) return Invalid("action: must be at most 64 characters");
  for (const char c : request.action()) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_')) {
      return Invalid("action: may contain only [a-z0-9._]");
    }
  }
  PageQuery query("ListAuditEvents");
  query.Add(request.org_id())
      .Add(request.has_start_sequence() ? request.start_sequence() : 0)
      .Add(request.has_end_sequence() ? request.end_sequence() : 0)
      .Add(static_cast<std::uint64_t>(absl::ToUnixMicros(start_time)))
      .Add(static_cast<std::uint64_t>(absl::ToUnixMicros(end_time)))
      .Add(request.action());
  std::uint64_t after = request.has_start_sequence() ? request.start_sequence() - 1 : 0;
  if (!request.page_token().empty()) {
    CV_ASSIGN_OR_RETURN(
        const std::string cursor,
        DecodePageToken(*keys_.writer_keys.Get(), query, "page_token", request.page_token()));
    after = std::stoull(cursor);
  }
  v1::ListAuditEventsResponse response;
  CV_RETURN_IF_ERROR(
      pool_.Run(request.org_id(), call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        response.Clear();
        std::uint64_t cursor = after;
        bool exhausted = false;
        // Filters by time and action are applied while scanning in sequence order, so a page
        // may need several reads; the cursor is the last sequence examined.
        while (response.events_size() < page_size && !exhausted) {
          CV_ASSIGN_OR_RETURN(const std::vector<storage::AuditEvent> batch,
                              audit_.List(tx, cursor, static_cast<std::size_t>(page_size)));
          exhausted = batch.size() < static_cast<std::size_t>(page_size);
          for (const storage::AuditEvent& event : batch) {
            if (request.has_end_sequence() && event.seq > request.end_sequence()) {
              exhausted = true;
              break;
            }
            cursor = event.seq;
            if (has_start_time && event.time < start_time) continue;
            if (has_end_time && event.time >= end_time) continue;
            if (!request.action().empty() && event.action != request.action()) continue;
            ToApi(event, *response.add_events());
            if (response.events_size() == page_size) break;
          }
        }
        if (!exhausted) {
          response.set_next_page_token(
              EncodePageToken(*keys_.writer_keys.Get(), query, std::to_string(cursor)));
        }
        return absl::OkStatus();
      }));
  return response;
}

absl::StatusOr<v1::VerifyAuditLogResponse> AdminHandler::VerifyAuditLog(
    const CallContext& call, const v1::VerifyAuditLogRequest& request) const {
  CV_RETURN_IF_ERROR(ValidateOrgIdOrSystem("org_id", request.org_id()));
  v1::VerifyAuditLogResponse response;
  CV_RETURN_IF_ERROR(
      pool_.Run(request.org_id(), call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        response.Clear();
        CV_ASSIGN_OR_RETURN(const storage::AuditVerification result, audit_.Verify(tx));
        response.set_ok(result.ok);
        response.set_events_checked(result.events_checked);
        response.set_start_sequence(result.first_seq);
        response.set_end_sequence(result.last_seq);
        if (!result.ok) {
          response.set_first_broken_sequence(result.broken_seq);
          response.set_failure_detail(result.problem);
          response.set_failure_reason(ToApi(result.kind));
        }
        CV_ASSIGN_OR_RETURN(const std::vector<storage::AuditCheckpoint> checkpoints,
                            audit_.ListCheckpoints(tx));
        if (!checkpoints.empty()) {
          ToApi(request.org_id(), checkpoints.back(), *response.mutable_latest_checkpoint());
        }
        return absl::OkStatus();
      }));
  return response;
}

absl::StatusOr<v1::ExportAuditLogResponse> AdminHandler::ExportAuditLogChunk(
    const CallContext& call, const v1::ExportAuditLogRequest& request, std::uint64_t after_sequence,
    bool& done) const {
  CV_RETURN_IF_ERROR(ValidateOrgIdOrSystem("org_id", request.org_id()));
  if (request.has_start_sequence() && request.start_sequence() == 0) {
    return Invalid("start_sequence: must be at least 1");
  }
  if (request.has_start_sequence() && request.has_end_sequence() &&
      request.end_sequence() < request.start_sequence()) {
    return Invalid("end_sequence: must not be before start_sequence");
  }
  const bool first_chunk = after_sequence == 0;
  if (first_chunk && request.has_start_sequence()) after_sequence = request.start_sequence() - 1;
  v1::ExportAuditLogResponse response;
  CV_RETURN_IF_ERROR(
      pool_.Run(request.org_id(), call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        response.Clear();
        done = false;
        CV_ASSIGN_OR_RETURN(const std::vector<storage::AuditCheckpoint> checkpoints,
                            audit_.ListCheckpoints(tx));
        if (first_chunk) {
          if (absl::Status org = orgs_.GetOrg(tx).status(); !org.ok()) {
            return org.code() == absl::StatusCode::kNotFound ? OrgNotFound(request.org_id()) : org;
          }
          AddSigningKey(response);
          for (const storage::AuditCheckpoint& checkpoint : checkpoints) {
            ToApi(request.org_id(), checkpoint, *response.add_checkpoints());
          }
        }
        CV_ASSIGN_OR_RETURN(const std::vector<storage::AuditEvent> batch,
                            audit_.List(tx, after_sequence, kExportChunk));
        done = batch.size() < kExportChunk;
        std::uint64_t last = after_sequence;
        crypto::AuditHash last_hash{};
        for (const storage::AuditEvent& event : batch) {
          if (request.has_end_sequence() && event.seq > request.end_sequence()) {
            done = true;
            break;
          }
          ToApi(event, *response.add_events());
          last = event.seq;
          last_hash = event.hash;
        }
        if (!done || !keys_.audit_signer) return absl::OkStatus();
        // Every exported event must be covered by a signature: sign the head of the export
        // unless a stored checkpoint already stands at that sequence.
        if (last == after_sequence) {
          if (last != 0) return absl::OkStatus();  // nothing new in this chunk
          CV_ASSIGN_OR_RETURN(const storage::AuditHead head, audit_.Head(tx));
          last = head.seq;
          last_hash = head.hash;
        }
        for (const storage::AuditCheckpoint& checkpoint : checkpoints) {
          if (checkpoint.seq == last && checkpoint.signature) return absl::OkStatus();
        }
        const std::int64_t now = absl::ToUnixMicros(clock_());
        const crypto::AuditSignature signature =
            keys_.audit_signer->SignCheckpoint(request.org_id(), last, last_hash, now);
        v1::AuditCheckpoint* checkpoint = response.add_checkpoints();
        checkpoint->set_org_id(request.org_id());
        checkpoint->set_sequence(last);
        checkpoint->set_chain_head_hash(std::string(last_hash.begin(), last_hash.end()));
        SetTimestamp(absl::FromUnixMicros(now), *checkpoint->mutable_time());
        checkpoint->set_signature(std::string(signature.begin(), signature.end()));
        checkpoint->set_signing_key_id(keys_.audit_signer->key_id());
        checkpoint->set_kind(v1::AUDIT_CHECKPOINT_KIND_EXPORT);
        return absl::OkStatus();
      }));
  return response;
}

}  // namespace credvault::server

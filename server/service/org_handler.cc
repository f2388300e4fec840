#include "server/service/org_handler.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status_macros.h"
#include "crypto/org_key.h"
#include "server/base/audit_actions.h"
#include "server/base/audit_details.h"
#include "server/base/error_reason.h"
#include "server/keys/org_key_records.h"
#include "server/service/admin_audit_event.h"
#include "server/service/api_validation.h"
#include "server/service/org_guard.h"
#include "server/service/page_token.h"

namespace credvault::server {
namespace {

// Audit events read per query while looking for an org.destroy event.
constexpr std::size_t kAuditScanBatch = 500;
// ListOrgs filtered by state reads the directory in batches this large, and examines at
// most kListOrgsMaxExamined orgs per call, so that a call's cost stays bounded however few
// orgs match; the page token resumes after the last org examined.
constexpr std::size_t kListOrgsFilteredBatch = 500;
constexpr std::size_t kListOrgsMaxExamined = 5000;

absl::Status Invalid(const std::string& message) {
  return WithReason(absl::InvalidArgumentError(message), ErrorReason::kInvalidField);
}

// The number a ListOrgs page token binds its state filter with: the API's number for that
// OrgState (0 for every state), as tokens have always carried it, so that tokens handed out
// before stay good.
std::uint64_t StateFilterNumber(const std::optional<storage::OrgState>& state) {
  if (!state) return 0;
  switch (*state) {
    case storage::OrgState::kActive:
      return 1;
    case storage::OrgState::kDestroyed:
      return 2;
  }
  return 0;
}

// Whether the chain of the org holds the org.create event of a CreateOrg by `principal`
// with `idempotency_key`, so that a retried CreateOrg is told from a request for an org
// that someone else (or a first Put) made. That event is appended in the transaction that
// creates the org, so only the events around the org's creation time are read.
absl::StatusOr<bool> MadeByCreateOrg(storage::Transaction& tx, const storage::AuditLog& audit,
                                     const storage::Org& org, std::string_view principal,
                                     std::string_view idempotency_key) {
  constexpr std::size_t kPage = 1000;
  // Room for the difference between the database clock (the org's creation time) and the
  // service clock (the event's time).
  constexpr absl::Duration kClockSlack = absl::Hours(1);
  std::uint64_t after = 0;
  while (true) {
    CV_ASSIGN_OR_RETURN(const std::vector<storage::AuditEvent> events,
                        audit.List(tx, after, kPage));
    for (const storage::AuditEvent& event : events) {
      if (event.time > org.created_at + kClockSlack) return false;
      if (event.action == audit_action::kOrgCreate && event.result == "ok" &&
          event.principal == principal &&
          OrgCreateDetails::Parse(event.details).idempotency_key == idempotency_key) {
        return true;
      }
      after = event.seq;
    }
    if (events.size() < kPage) return false;
  }
}

}  // namespace

OrgHandler::OrgHandler(storage::ConnectionPool& admin_pool, const DecryptTierKeys& keys,
                       OrgKeyCache& org_keys, storage::AuditLog::AppendObserver on_audit_append,
                       Clock clock)
    : pool_(admin_pool),
      keys_(keys),
      org_keys_(org_keys),
      clock_(std::move(clock)),
      audit_(clock_, std::move(on_audit_append)) {}

ErasureReceipt OrgHandler::SignedReceipt(crypto::ErasureReceiptFields fields) const {
  ErasureReceipt receipt;
  if (keys_.audit_signer) {
    receipt.signature = keys_.audit_signer->SignErasureReceipt(fields);
    receipt.signing_key_id = keys_.audit_signer->key_id();
  }
  receipt.fields = std::move(fields);
  return receipt;
}

absl::StatusOr<ErasureReceipt> OrgHandler::RebuildReceipt(storage::Transaction& tx,
                                                          const OrgSnapshot& org) const {
  // The org.destroy event: usually at the newest signed checkpoint, else found by a scan.
  std::optional<storage::AuditEvent> destroy_event;
  CV_ASSIGN_OR_RETURN(const std::vector<storage::AuditCheckpoint> checkpoints,
                      audit_.ListCheckpoints(tx));
  for (auto it = checkpoints.rbegin(); it != checkpoints.rend() && !destroy_event; ++it) {
    CV_ASSIGN_OR_RETURN(const std::vector<storage::AuditEvent> at, audit_.List(tx, it->seq - 1, 1));
    if (!at.empty() && at.front().action == audit_action::kOrgDestroy) destroy_event = at.front();
  }
  for (std::uint64_t after = 0; !destroy_event;) {
    CV_ASSIGN_OR_RETURN(const std::vector<storage::AuditEvent> batch,
                        audit_.List(tx, after, kAuditScanBatch));
    for (const storage::AuditEvent& event : batch) {
      if (event.action == audit_action::kOrgDestroy) destroy_event = event;
    }
    if (batch.size() < kAuditScanBatch) break;
    after = batch.back().seq;
  }
  if (!destroy_event) {
    return absl::DataLossError("org " + org.org.org_id +
                               " is destroyed but its org.destroy event "
                               "is missing from the audit log");
  }
  crypto::ErasureReceiptFields fields;
  fields.org_id = org.org.org_id;
  fields.destroyed_key_versions = org.key_versions();
  fields.destroy_time_unix_micros =
      org.org.destroyed_at ? absl::ToUnixMicros(*org.org.destroyed_at) : 0;
  fields.erased_credential_version_count =
      OrgDestroyDetails::Parse(destroy_event->details).erased_credential_versions;
  fields.audit_sequence = destroy_event->seq;
  fields.audit_chain_head = destroy_event->hash;
  return SignedReceipt(std::move(fields));
}

absl::StatusOr<CreateOrgResult> OrgHandler::CreateOrg(const CallContext& call,
                                                      const CreateOrgParams& params) const {
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", params.org_id));
  CV_RETURN_IF_ERROR(ValidateIdempotencyKey("idempotency_key", params.idempotency_key));
  CreateOrgResult result;
  CV_RETURN_IF_ERROR(
      pool_.Run(params.org_id, call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        result = CreateOrgResult{};
        absl::StatusOr<storage::Org> existing = orgs_.GetOrg(tx);
        if (existing.ok()) {
          // A retried CreateOrg with its idempotency key finds the org it made; an org made
          // by anyone or anything else, or under another key, already exists.
          bool replay = false;
          if (!params.idempotency_key.empty() && existing->state == storage::OrgState::kActive) {
            CV_ASSIGN_OR_RETURN(replay, MadeByCreateOrg(tx, audit_, *existing, call.principal,
                                                        params.idempotency_key));
          }
          if (replay) {
            CV_ASSIGN_OR_RETURN(result.org.snapshot, LoadOrgSnapshot(orgs_, tx));
            result.idempotent_replay = true;
            return absl::OkStatus();
          }
          return WithReason(absl::AlreadyExistsError("org " + params.org_id + " already exists"),
                            ErrorReason::kOrgExists);
        }
        if (existing.status().code() != absl::StatusCode::kNotFound) return existing.status();
        CV_ASSIGN_OR_RETURN(const crypto::OrgKeyRecord record,
                            MakeOrgKey(tx, params.org_id, 1, keys_));
        CV_RETURN_IF_ERROR(orgs_.CreateOrg(tx, ToNewOrgKey(record)));
        const OrgCreateDetails details{record.root_key_version, params.idempotency_key};
        CV_RETURN_IF_ERROR(
            audit_.Append(tx, AdminAuditEvent(call, audit_action::kOrgCreate, details.Format()))
                .status());
        CV_ASSIGN_OR_RETURN(result.org.snapshot, LoadOrgSnapshot(orgs_, tx));
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<DescribeOrgResult> OrgHandler::DescribeOrg(const CallContext& call,
                                                          const DescribeOrgParams& params) const {
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", params.org_id));
  DescribeOrgResult result;
  CV_RETURN_IF_ERROR(
      pool_.Run(params.org_id, call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        result = DescribeOrgResult{};
        CV_ASSIGN_OR_RETURN(result.org.snapshot, LoadOrgSnapshot(orgs_, tx));
        if (result.org.snapshot.destroyed()) {
          CV_ASSIGN_OR_RETURN(result.org.erasure_receipt, RebuildReceipt(tx, result.org.snapshot));
        }
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<ListOrgsResult> OrgHandler::ListOrgs(const CallContext& call,
                                                    const ListOrgsParams& params) const {
  int page_size = 0;
  CV_RETURN_IF_ERROR(NormalizePageSize("page_size", params.page_size, page_size));
  PageQuery query("ListOrgs");
  query.Add(StateFilterNumber(params.state));
  // The cursor is the last org id examined.
  std::string cursor;
  if (!params.page_token.empty()) {
    CV_ASSIGN_OR_RETURN(
        cursor, DecodePageToken(*keys_.writer_keys.Get(), query, "page_token", params.page_token));
  }
  // nullopt: every state.
  const std::optional<storage::OrgState>& wanted_state = params.state;
  const std::size_t wanted = static_cast<std::size_t>(page_size);
  // Unfiltered, one org more than the page tells whether another page follows.
  const std::size_t batch = wanted_state ? kListOrgsFilteredBatch : wanted + 1;
  ListOrgsResult result;
  std::size_t examined = 0;
  bool more = true;
  while (more && result.orgs.size() < wanted && examined < kListOrgsMaxExamined) {
    CV_ASSIGN_OR_RETURN(const std::vector<storage::OrgSummary> orgs,
                        directory_.ListOrgs(pool_, cursor, batch, call.deadline));
    more = orgs.size() == batch;
    for (std::size_t i = 0; i < orgs.size(); ++i) {
      if (result.orgs.size() == wanted) {
        more = true;  // orgs[i] and any after it are left for the next page
        break;
      }
      cursor = orgs[i].org_id;
      ++examined;
      if (wanted_state && orgs[i].state != *wanted_state) continue;
      result.orgs.push_back(orgs[i]);
    }
  }
  if (more) result.next_page_token = EncodePageToken(*keys_.writer_keys.Get(), query, cursor);
  return result;
}

absl::StatusOr<DestroyOrgResult> OrgHandler::DestroyOrg(const CallContext& call,
                                                        const DestroyOrgParams& params) const {
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", params.org_id));
  if (params.confirm_org_id != params.org_id) {
    return Invalid("confirm_org_id: must equal org_id");
  }
  CV_RETURN_IF_ERROR(ValidatePurpose("reason", params.reason));
  DestroyOrgResult result;
  CV_RETURN_IF_ERROR(
      pool_.Run(params.org_id, call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        result = DestroyOrgResult{};
        CV_ASSIGN_OR_RETURN(const OrgSnapshot before, LoadOrgSnapshot(orgs_, tx));
        if (before.destroyed()) {
          result.already_destroyed = true;
          CV_ASSIGN_OR_RETURN(result.receipt, RebuildReceipt(tx, before));
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
        CV_ASSIGN_OR_RETURN(const OrgSnapshot after, LoadOrgSnapshot(orgs_, tx));
        crypto::ErasureReceiptFields fields;
        fields.org_id = params.org_id;
        fields.destroyed_key_versions = after.key_versions();
        // The event carries what the receipt states, so an audit export (whose chain the
        // erasure checkpoint signs) proves the erasure without the receipt itself.
        const OrgDestroyDetails details{params.reason, fields.destroyed_key_versions, unerased};
        CV_ASSIGN_OR_RETURN(
            const storage::AuditEvent event,
            audit_.Append(tx, AdminAuditEvent(call, audit_action::kOrgDestroy, details.Format())));
        fields.destroy_time_unix_micros =
            after.org.destroyed_at ? absl::ToUnixMicros(*after.org.destroyed_at) : 0;
        fields.erased_credential_version_count = unerased;
        fields.audit_sequence = event.seq;
        fields.audit_chain_head = event.hash;
        result.receipt = SignedReceipt(fields);
        if (keys_.audit_signer) {
          // A signed checkpoint at the destruction: the chain up to it cannot be rewritten
          // without the audit signing key.
          const absl::Time now = absl::FromUnixMicros(absl::ToUnixMicros(clock_()));
          const crypto::AuditSignature signature = keys_.audit_signer->SignCheckpoint(
              params.org_id, event.seq, event.hash, absl::ToUnixMicros(now));
          CV_RETURN_IF_ERROR(audit_.AddCheckpoint(
              tx, storage::AuditCheckpointKind::kErasure, event.seq, event.hash,
              std::vector<std::uint8_t>(signature.begin(), signature.end()),
              keys_.audit_signer->key_id(), now));
        }
        return absl::OkStatus();
      }));
  // Committed: no cached copy of the org's private keys may outlive their destruction.
  org_keys_.DropOrg(params.org_id);
  return result;
}

}  // namespace credvault::server

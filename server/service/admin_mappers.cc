#include "server/service/admin_mappers.h"

#include <utility>

#include "server/service/metadata_conversion.h"

namespace credvault::server {
namespace {

namespace v1 = ::credvault::v1;

v1::OrgState ToApi(storage::OrgState state) {
  return state == storage::OrgState::kDestroyed ? v1::ORG_STATE_DESTROYED : v1::ORG_STATE_ACTIVE;
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

}  // namespace

v1::OrgInfo ToApi(const OrgSnapshot& snapshot) {
  const storage::Org& org = snapshot.org;
  v1::OrgInfo info;
  info.set_org_id(org.org_id);
  info.set_state(ToApi(org.state));
  SetTimestamp(org.created_at, *info.mutable_create_time());
  if (org.destroyed_at) SetTimestamp(*org.destroyed_at, *info.mutable_destroy_time());
  for (const storage::OrgKey& key : snapshot.keys) {
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
      } else if (org.destroyed_at) {
        SetTimestamp(*org.destroyed_at, *out->mutable_destroy_time());
      }
    } else {
      out->set_root_key_version(static_cast<std::uint32_t>(key.root_key_version));
    }
  }
  info.set_current_key_version(snapshot.current_key_version());
  return info;
}

void ToApi(const storage::OrgSummary& org, v1::OrgSummary& out) {
  out.set_org_id(org.org_id);
  out.set_state(ToApi(org.state));
  out.set_current_key_version(static_cast<std::uint32_t>(org.current_key_version));
  SetTimestamp(org.created_at, *out.mutable_create_time());
  if (org.destroyed_at) SetTimestamp(*org.destroyed_at, *out.mutable_destroy_time());
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

std::optional<storage::OrgState> ToStorage(v1::OrgState state) {
  switch (state) {
    case v1::ORG_STATE_ACTIVE:
      return storage::OrgState::kActive;
    case v1::ORG_STATE_DESTROYED:
      return storage::OrgState::kDestroyed;
    default:
      return std::nullopt;
  }
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

storage::NewAuditEvent AdminAuditEvent(const CallContext& call, std::string action,
                                       std::string details) {
  return storage::NewAuditEvent{call.principal, std::move(action), "",
                                "ok",           call.request_id,   std::move(details)};
}

}  // namespace credvault::server

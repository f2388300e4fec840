#include "server/api/audit_translation.h"

#include <cstdint>
#include <string>

#include "google/protobuf/timestamp.pb.h"
#include "server/api/timestamp_translation.h"

namespace credvault::server {
namespace {

namespace v1 = ::credvault::v1;

template <typename Bytes>
std::string AsString(const Bytes& bytes) {
  return std::string(bytes.begin(), bytes.end());
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
  out.set_prev_hash(AsString(event.prev_hash));
  out.set_chain_format(static_cast<std::uint32_t>(event.chain_format));
  // Format 1 events name no appending role; the export says so by leaving it empty.
  if (event.chain_format != crypto::AuditChainFormat::kV1) out.set_appended_by(event.appended_by);
  out.set_hash(AsString(event.hash));
}

void ToApi(const std::string& org_id, const storage::AuditCheckpoint& checkpoint,
           v1::AuditCheckpoint& out) {
  out.set_org_id(org_id);
  out.set_sequence(checkpoint.seq);
  out.set_chain_head_hash(AsString(checkpoint.head_hash));
  SetTimestamp(checkpoint.created_at, *out.mutable_time());
  if (checkpoint.signature) out.set_signature(AsString(*checkpoint.signature));
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

void ToApi(const std::string& org_id, const ExportCheckpoint& checkpoint,
           v1::AuditCheckpoint& out) {
  out.set_org_id(org_id);
  out.set_sequence(checkpoint.seq);
  out.set_chain_head_hash(AsString(checkpoint.head_hash));
  SetTimestamp(checkpoint.created_at, *out.mutable_time());
  out.set_signature(AsString(checkpoint.signature));
  out.set_signing_key_id(checkpoint.signing_key_id);
  out.set_kind(v1::AUDIT_CHECKPOINT_KIND_EXPORT);
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

}  // namespace

ListAuditEventsParams FromApi(const v1::ListAuditEventsRequest& request) {
  ListAuditEventsParams params;
  params.org_id = request.org_id();
  params.page_size = request.page_size();
  params.page_token = request.page_token();
  if (request.has_start_sequence()) params.start_sequence = request.start_sequence();
  if (request.has_end_sequence()) params.end_sequence = request.end_sequence();
  if (request.has_start_time()) params.start_time = FromTimestamp(request.start_time());
  if (request.has_end_time()) params.end_time = FromTimestamp(request.end_time());
  params.action = request.action();
  return params;
}

v1::ListAuditEventsResponse ToApi(const ListAuditEventsResult& result) {
  v1::ListAuditEventsResponse response;
  for (const storage::AuditEvent& event : result.events) ToApi(event, *response.add_events());
  response.set_next_page_token(result.next_page_token);
  return response;
}

VerifyAuditLogParams FromApi(const v1::VerifyAuditLogRequest& request) {
  return VerifyAuditLogParams{.org_id = request.org_id()};
}

v1::VerifyAuditLogResponse ToApi(const VerifyAuditLogResult& result) {
  v1::VerifyAuditLogResponse response;
  response.set_ok(result.ok);
  response.set_events_checked(result.events_checked);
  response.set_start_sequence(result.start_sequence);
  response.set_end_sequence(result.end_sequence);
  response.set_first_broken_sequence(result.first_broken_sequence);
  response.set_failure_detail(result.failure_detail);
  response.set_failure_reason(ToApi(result.failure_reason));
  if (result.latest_checkpoint) {
    ToApi(result.org_id, *result.latest_checkpoint, *response.mutable_latest_checkpoint());
  }
  return response;
}

ExportAuditLogParams FromApi(const v1::ExportAuditLogRequest& request) {
  ExportAuditLogParams params;
  params.org_id = request.org_id();
  if (request.has_start_sequence()) params.start_sequence = request.start_sequence();
  if (request.has_end_sequence()) params.end_sequence = request.end_sequence();
  return params;
}

v1::ExportAuditLogResponse ToApi(const ExportAuditLogResult& result) {
  v1::ExportAuditLogResponse response;
  for (const storage::AuditEvent& event : result.events) ToApi(event, *response.add_events());
  for (const storage::AuditCheckpoint& checkpoint : result.checkpoints) {
    ToApi(result.org_id, checkpoint, *response.add_checkpoints());
  }
  if (result.export_checkpoint) {
    ToApi(result.org_id, *result.export_checkpoint, *response.add_checkpoints());
  }
  for (const AuditSigningKey& key : result.signing_keys) {
    v1::AuditSigningKey* out = response.add_signing_keys();
    out->set_key_id(key.key_id);
    out->set_public_key(AsString(key.public_key));
  }
  return response;
}

}  // namespace credvault::server

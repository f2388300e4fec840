#include "server/service/audit_handler.h"

#include <string>
#include <utility>
#include <vector>

#include "common/status_macros.h"
#include "server/base/error_reason.h"
#include "server/service/admin_mappers.h"
#include "server/service/api_validation.h"
#include "server/service/metadata_conversion.h"
#include "server/service/org_guard.h"
#include "server/service/page_token.h"

namespace credvault::server {
namespace {

namespace v1 = ::credvault::v1;

constexpr std::size_t kExportChunk = 500;

absl::Status Invalid(const std::string& message) {
  return WithReason(absl::InvalidArgumentError(message), v1::ERROR_REASON_INVALID_FIELD);
}

}  // namespace

AuditHandler::AuditHandler(storage::ConnectionPool& admin_pool, const DecryptTierKeys& keys,
                           Clock clock)
    : pool_(admin_pool), keys_(keys), clock_(std::move(clock)), audit_(clock_) {}

void AuditHandler::AddSigningKey(v1::ExportAuditLogResponse& response) const {
  if (!keys_.audit_signer) return;
  v1::AuditSigningKey* key = response.add_signing_keys();
  key->set_key_id(keys_.audit_signer->key_id());
  key->set_public_key(std::string(keys_.audit_signer->public_key().begin(),
                                  keys_.audit_signer->public_key().end()));
}

absl::StatusOr<v1::ListAuditEventsResponse> AuditHandler::ListAuditEvents(
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

absl::StatusOr<v1::VerifyAuditLogResponse> AuditHandler::VerifyAuditLog(
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

absl::StatusOr<v1::ExportAuditLogResponse> AuditHandler::ExportAuditLogChunk(
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
          CV_RETURN_IF_ERROR(LoadExistingOrg(orgs_, tx).status());
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

#include "server/service/audit_handler.h"

#include <string>
#include <utility>
#include <vector>

#include "common/status_macros.h"
#include "server/base/error_reason.h"
#include "server/service/api_validation.h"
#include "server/service/org_guard.h"
#include "server/service/page_token.h"

namespace credvault::server {
namespace {

constexpr std::size_t kExportChunk = 500;

absl::Status Invalid(const std::string& message) {
  return WithReason(absl::InvalidArgumentError(message), ErrorReason::kInvalidField);
}

}  // namespace

AuditHandler::AuditHandler(storage::ConnectionPool& admin_pool, const DecryptTierKeys& keys,
                           Clock clock)
    : pool_(admin_pool), keys_(keys), clock_(std::move(clock)), audit_(clock_) {}

absl::StatusOr<ListAuditEventsResult> AuditHandler::ListAuditEvents(
    const CallContext& call, const ListAuditEventsParams& params) const {
  CV_RETURN_IF_ERROR(ValidateOrgIdOrSystem("org_id", params.org_id));
  int page_size = 0;
  CV_RETURN_IF_ERROR(NormalizePageSize("page_size", params.page_size, page_size));
  if (params.start_sequence && *params.start_sequence == 0) {
    return Invalid("start_sequence: must be at least 1");
  }
  if (params.start_sequence && params.end_sequence &&
      *params.end_sequence < *params.start_sequence) {
    return Invalid("end_sequence: must not be before start_sequence");
  }
  // An unset time is bound into the page token as the epoch.
  const absl::Time start_time = params.start_time.value_or(absl::UnixEpoch());
  const absl::Time end_time = params.end_time.value_or(absl::UnixEpoch());
  if (params.start_time && params.end_time && end_time <= start_time) {
    return Invalid("end_time: must be after start_time");
  }
  if (params.action.size() > 64) return Invalid("action: must be at most 64 characters");
  for (const char c : params.action) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_')) {
      return Invalid("action: may contain only [a-z0-9._]");
    }
  }
  PageQuery query("ListAuditEvents");
  query.Add(params.org_id)
      .Add(params.start_sequence.value_or(0))
      .Add(params.end_sequence.value_or(0))
      .Add(static_cast<std::uint64_t>(absl::ToUnixMicros(start_time)))
      .Add(static_cast<std::uint64_t>(absl::ToUnixMicros(end_time)))
      .Add(params.action);
  std::uint64_t after = params.start_sequence ? *params.start_sequence - 1 : 0;
  if (!params.page_token.empty()) {
    CV_ASSIGN_OR_RETURN(const std::string cursor, DecodePageToken(*keys_.writer_keys.Get(), query,
                                                                  "page_token", params.page_token));
    after = std::stoull(cursor);
  }
  const std::size_t page_limit = static_cast<std::size_t>(page_size);
  ListAuditEventsResult result;
  CV_RETURN_IF_ERROR(
      pool_.Run(params.org_id, call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        result = ListAuditEventsResult{};
        std::uint64_t cursor = after;
        bool exhausted = false;
        // Filters by time and action are applied while scanning in sequence order, so a page
        // may need several reads; the cursor is the last sequence examined.
        while (result.events.size() < page_limit && !exhausted) {
          CV_ASSIGN_OR_RETURN(std::vector<storage::AuditEvent> batch,
                              audit_.List(tx, cursor, page_limit));
          exhausted = batch.size() < page_limit;
          for (storage::AuditEvent& event : batch) {
            if (params.end_sequence && event.seq > *params.end_sequence) {
              exhausted = true;
              break;
            }
            cursor = event.seq;
            if (params.start_time && event.time < start_time) continue;
            if (params.end_time && event.time >= end_time) continue;
            if (!params.action.empty() && event.action != params.action) continue;
            result.events.push_back(std::move(event));
            if (result.events.size() == page_limit) break;
          }
        }
        if (!exhausted) {
          result.next_page_token =
              EncodePageToken(*keys_.writer_keys.Get(), query, std::to_string(cursor));
        }
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<VerifyAuditLogResult> AuditHandler::VerifyAuditLog(
    const CallContext& call, const VerifyAuditLogParams& params) const {
  CV_RETURN_IF_ERROR(ValidateOrgIdOrSystem("org_id", params.org_id));
  VerifyAuditLogResult result;
  CV_RETURN_IF_ERROR(
      pool_.Run(params.org_id, call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        result = VerifyAuditLogResult{};
        result.org_id = params.org_id;
        CV_ASSIGN_OR_RETURN(const storage::AuditVerification verification, audit_.Verify(tx));
        result.ok = verification.ok;
        result.events_checked = verification.events_checked;
        result.start_sequence = verification.first_seq;
        result.end_sequence = verification.last_seq;
        if (!verification.ok) {
          result.first_broken_sequence = verification.broken_seq;
          result.failure_detail = verification.problem;
          result.failure_reason = verification.kind;
        }
        CV_ASSIGN_OR_RETURN(std::vector<storage::AuditCheckpoint> checkpoints,
                            audit_.ListCheckpoints(tx));
        if (!checkpoints.empty()) result.latest_checkpoint = std::move(checkpoints.back());
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<ExportAuditLogResult> AuditHandler::ExportAuditLogChunk(
    const CallContext& call, const ExportAuditLogParams& params,
    std::uint64_t after_sequence) const {
  CV_RETURN_IF_ERROR(ValidateOrgIdOrSystem("org_id", params.org_id));
  if (params.start_sequence && *params.start_sequence == 0) {
    return Invalid("start_sequence: must be at least 1");
  }
  if (params.start_sequence && params.end_sequence &&
      *params.end_sequence < *params.start_sequence) {
    return Invalid("end_sequence: must not be before start_sequence");
  }
  const bool first_chunk = after_sequence == 0;
  if (first_chunk && params.start_sequence) after_sequence = *params.start_sequence - 1;
  ExportAuditLogResult result;
  CV_RETURN_IF_ERROR(
      pool_.Run(params.org_id, call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        result = ExportAuditLogResult{};
        result.org_id = params.org_id;
        CV_ASSIGN_OR_RETURN(const std::vector<storage::AuditCheckpoint> checkpoints,
                            audit_.ListCheckpoints(tx));
        if (first_chunk) {
          CV_RETURN_IF_ERROR(LoadExistingOrg(orgs_, tx).status());
          if (keys_.audit_signer) {
            result.signing_keys.push_back(AuditSigningKey{
                .key_id = keys_.audit_signer->key_id(),
                .public_key = keys_.audit_signer->public_key(),
            });
          }
          result.checkpoints = checkpoints;
        }
        CV_ASSIGN_OR_RETURN(std::vector<storage::AuditEvent> batch,
                            audit_.List(tx, after_sequence, kExportChunk));
        result.done = batch.size() < kExportChunk;
        std::uint64_t last = after_sequence;
        crypto::AuditHash last_hash{};
        for (storage::AuditEvent& event : batch) {
          if (params.end_sequence && event.seq > *params.end_sequence) {
            result.done = true;
            break;
          }
          last = event.seq;
          last_hash = event.hash;
          result.events.push_back(std::move(event));
        }
        if (!result.done || !keys_.audit_signer) return absl::OkStatus();
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
        result.export_checkpoint = ExportCheckpoint{
            .seq = last,
            .head_hash = last_hash,
            .created_at = absl::FromUnixMicros(now),
            .signature = keys_.audit_signer->SignCheckpoint(params.org_id, last, last_hash, now),
            .signing_key_id = keys_.audit_signer->key_id(),
        };
        return absl::OkStatus();
      }));
  return result;
}

}  // namespace credvault::server

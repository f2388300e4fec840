#include "storage/retention_store.h"

#include <algorithm>
#include <utility>

#include "common/status_macros.h"
#include "storage/audit_log.h"

namespace credvault::storage {
namespace {

// `$n` microseconds since the epoch as a timestamptz (exact, unlike a float).
#define CREDVAULT_MICROS(n) "('epoch'::timestamptz + $" #n "::bigint * interval '1 microsecond')"

// Each directory is cut at the page size before the union, so a page costs O(limit)
// whatever the number of orgs and chains.
constexpr Statement kListTargets{
    "retention.list_targets",
    "SELECT org_id, bool_or(is_org) FROM ("
    " (SELECT org_id, true AS is_org FROM org_directory WHERE org_id > $1 "
    "  ORDER BY org_id LIMIT $2) "
    " UNION ALL "
    " (SELECT org_id, false AS is_org FROM audit_chain_directory WHERE org_id > $1 "
    "  ORDER BY org_id LIMIT $2)"
    ") chains GROUP BY org_id ORDER BY org_id LIMIT $2"};

constexpr Statement kOrgState{"retention.org_state", "SELECT state FROM orgs WHERE org_id = $1"};

// Versions deleted before the cutoff, minus the erased tombstones of newest versions
// (nothing left to do for those). Locking them keeps a concurrent Put from moving the
// current-version marker between the statements of a batch.
constexpr Statement kSelectDeleted{
    "retention.select_deleted_versions",
    "SELECT name, version FROM credentials "
    "WHERE org_id = $1 AND deleted_at IS NOT NULL AND deleted_at < " CREDVAULT_MICROS(2)
    " AND (NOT is_current OR NOT erased) AND (name, version) > ($3, $4::bigint) "
    "ORDER BY name, version LIMIT $5 FOR UPDATE"};
constexpr Statement kEraseDeleted{
    "retention.erase_deleted_versions",
    "UPDATE credentials SET envelope = NULL, erased = true "
    "WHERE org_id = $1 AND deleted_at IS NOT NULL AND deleted_at < " CREDVAULT_MICROS(2)
    " AND NOT erased AND (name, version) > ($3, $4::bigint) "
    "AND (name, version) <= ($5, $6::bigint)"};
// The newest version (is_current, whatever its state) stays: it is what keeps the next
// Put of the name from starting again at version 1.
constexpr Statement kDeleteDeleted{
    "retention.delete_deleted_versions",
    "DELETE FROM credentials "
    "WHERE org_id = $1 AND deleted_at IS NOT NULL AND deleted_at < " CREDVAULT_MICROS(2)
    " AND NOT is_current AND (name, version) > ($3, $4::bigint) "
    "AND (name, version) <= ($5, $6::bigint)"};

// A destroyed org: every version, in the same key order.
constexpr Statement kSelectAll{"retention.select_destroyed_org_versions",
                               "SELECT name, version FROM credentials "
                               "WHERE org_id = $1 AND (name, version) > ($2, $3::bigint) "
                               "ORDER BY name, version LIMIT $4 FOR UPDATE"};
constexpr Statement kEraseAll{
    "retention.erase_destroyed_org_versions",
    "UPDATE credentials SET envelope = NULL, erased = true, "
    "deleted_at = coalesce(deleted_at, now()) "
    "WHERE org_id = $1 AND NOT erased AND (name, version) > ($2, $3::bigint) "
    "AND (name, version) <= ($4, $5::bigint)"};
constexpr Statement kDeleteAll{"retention.delete_destroyed_org_versions",
                               "DELETE FROM credentials "
                               "WHERE org_id = $1 AND (name, version) > ($2, $3::bigint) "
                               "AND (name, version) <= ($4, $5::bigint)"};

constexpr Statement kPurgeIdempotencyKeys{
    "retention.purge_idempotency_keys",
    "DELETE FROM idempotency_keys WHERE org_id = $1 AND idempotency_key IN ("
    " SELECT idempotency_key FROM idempotency_keys "
    " WHERE org_id = $1 AND created_at < " CREDVAULT_MICROS(2) " ORDER BY created_at LIMIT $3)"};

// The last event older than the cutoff among the oldest `limit` ones: purging through it
// removes at most `limit` events, read by primary key however long the chain is.
constexpr Statement kAuditPurgePoint{
    "retention.audit_purge_point",
    "SELECT seq, hash FROM ("
    " SELECT seq, hash, event_time FROM audit_events WHERE org_id = $1 "
    " ORDER BY seq LIMIT $3) oldest "
    "WHERE event_time < " CREDVAULT_MICROS(2) " ORDER BY seq DESC LIMIT 1"};
constexpr Statement kCheckpointAt{
    "retention.checkpoint_at",
    "SELECT count(*) FROM audit_checkpoints WHERE org_id = $1 AND seq = $2"};
constexpr Statement kAuditPurgeThrough{
    "retention.audit_purge", "SELECT audit_purge_before(" CREDVAULT_MICROS(1) ", $2::bigint)"};
constexpr Statement kAuditOlderRemain{
    "retention.audit_older_remain",
    "SELECT event_time < " CREDVAULT_MICROS(
        2) " FROM audit_events WHERE org_id = $1 ORDER BY seq LIMIT 1"};

#undef CREDVAULT_MICROS

constexpr std::size_t kMaxBatch = 10000;

absl::Status ValidateCutoff(absl::Time cutoff) {
  if (cutoff == absl::InfinitePast() || cutoff == absl::InfiniteFuture()) {
    return absl::InvalidArgumentError("retention cutoff: must be a finite time");
  }
  return absl::OkStatus();
}

absl::Status ValidateLimit(std::string_view what, std::size_t limit) {
  if (limit == 0 || limit > kMaxBatch) {
    return absl::InvalidArgumentError(std::string(what) + ": must be 1.." +
                                      std::to_string(kMaxBatch));
  }
  return absl::OkStatus();
}

SqlParam Count(std::size_t n) { return SqlParam::Int(static_cast<std::int64_t>(n)); }

absl::StatusOr<crypto::AuditHash> HashColumn(const Row& row, std::size_t column) {
  CV_ASSIGN_OR_RETURN(const std::vector<std::uint8_t> bytes, row.Bytes(column));
  if (bytes.size() != crypto::kAuditHashSize) {
    return absl::DataLossError("audit hash of the wrong length");
  }
  crypto::AuditHash hash;
  std::copy(bytes.begin(), bytes.end(), hash.begin());
  return hash;
}

}  // namespace

absl::StatusOr<std::vector<RetentionTarget>> RetentionStore::ListTargets(Transaction& tx,
                                                                         const std::string& after,
                                                                         std::size_t limit) const {
  CV_RETURN_IF_ERROR(ValidateLimit("retention target page size", limit));
  CV_ASSIGN_OR_RETURN(const std::vector<Row> rows,
                      tx.Execute(kListTargets, {SqlParam::Text(after), Count(limit)}));
  std::vector<RetentionTarget> targets;
  targets.reserve(rows.size());
  for (const Row& row : rows) {
    RetentionTarget target;
    CV_ASSIGN_OR_RETURN(target.org_id, row.Text(0));
    CV_ASSIGN_OR_RETURN(target.is_org, row.Bool(1));
    targets.push_back(std::move(target));
  }
  return targets;
}

absl::StatusOr<CredentialPurgeBatch> RetentionStore::PurgeCredentialVersions(
    Transaction& tx, absl::Time cutoff, std::size_t limit,
    const std::optional<CredentialCursor>& after) const {
  CV_RETURN_IF_ERROR(ValidateLimit("credential purge batch size", limit));
  CV_RETURN_IF_ERROR(ValidateCutoff(cutoff));
  const SqlParam org = SqlParam::Text(tx.org_id());
  absl::StatusOr<Row> state_row = tx.ExecuteOne(kOrgState, {org});
  if (absl::IsNotFound(state_row.status())) return absl::NotFoundError("org not found");
  if (!state_row.ok()) return state_row.status();
  CV_ASSIGN_OR_RETURN(const std::string state, state_row->Text(0));
  const bool destroyed = state == "DESTROYED";

  // Names are never empty and versions start at 1, so ("", 0) sorts before every version.
  const SqlParam after_name = SqlParam::Text(after ? after->name : std::string());
  const SqlParam after_version = SqlParam::Int(after ? after->version : 0);
  const SqlParam at = SqlParam::Micros(cutoff);
  CV_ASSIGN_OR_RETURN(
      const std::vector<Row> rows,
      destroyed ? tx.Execute(kSelectAll, {org, after_name, after_version, Count(limit)})
                : tx.Execute(kSelectDeleted, {org, at, after_name, after_version, Count(limit)}));
  CredentialPurgeBatch batch;
  batch.examined = rows.size();
  if (rows.empty()) return batch;
  CredentialCursor last;
  CV_ASSIGN_OR_RETURN(last.name, rows.back().Text(0));
  CV_ASSIGN_OR_RETURN(last.version, rows.back().Int(1));
  const SqlParam last_name = SqlParam::Text(last.name);
  const SqlParam last_version = SqlParam::Int(last.version);

  // Erasing first means no version leaves this transaction deleted but still holding an
  // envelope, and counts what retention itself erased (the rest was erased before).
  if (destroyed) {
    CV_ASSIGN_OR_RETURN(batch.erased, tx.ExecuteCount(kEraseAll, {org, after_name, after_version,
                                                                  last_name, last_version}));
    CV_ASSIGN_OR_RETURN(batch.deleted, tx.ExecuteCount(kDeleteAll, {org, after_name, after_version,
                                                                    last_name, last_version}));
  } else {
    CV_ASSIGN_OR_RETURN(
        batch.erased, tx.ExecuteCount(kEraseDeleted, {org, at, after_name, after_version, last_name,
                                                      last_version}));
    CV_ASSIGN_OR_RETURN(batch.deleted,
                        tx.ExecuteCount(kDeleteDeleted, {org, at, after_name, after_version,
                                                         last_name, last_version}));
  }
  if (batch.examined == limit) batch.resume_after = std::move(last);
  return batch;
}

absl::StatusOr<std::size_t> RetentionStore::PurgeIdempotencyKeys(Transaction& tx, absl::Time cutoff,
                                                                 std::size_t limit) const {
  CV_RETURN_IF_ERROR(ValidateLimit("idempotency key purge batch size", limit));
  CV_RETURN_IF_ERROR(ValidateCutoff(cutoff));
  return tx.ExecuteCount(kPurgeIdempotencyKeys,
                         {SqlParam::Text(tx.org_id()), SqlParam::Micros(cutoff), Count(limit)});
}

absl::StatusOr<AuditPurgeBatch> RetentionStore::PurgeAuditEvents(
    Transaction& tx, absl::Time cutoff, std::size_t max_events,
    const CheckpointSigner& sign) const {
  CV_RETURN_IF_ERROR(ValidateLimit("audit purge batch size", max_events));
  CV_RETURN_IF_ERROR(ValidateCutoff(cutoff));
  const SqlParam org = SqlParam::Text(tx.org_id());
  const SqlParam at = SqlParam::Micros(cutoff);
  AuditPurgeBatch batch;
  CV_ASSIGN_OR_RETURN(const std::vector<Row> point,
                      tx.Execute(kAuditPurgePoint, {org, at, Count(max_events)}));
  if (point.empty()) return batch;
  CV_ASSIGN_OR_RETURN(const std::int64_t seq, point.front().Int(0));
  CV_ASSIGN_OR_RETURN(const crypto::AuditHash hash, HashColumn(point.front(), 1));
  const SqlParam seq_param = SqlParam::Int(seq);

  if (sign) {
    // Recorded before the purge, so the purge keeps it instead of writing an unsigned one.
    // A checkpoint already at this event (e.g. the signed one of a destruction) stays.
    CV_ASSIGN_OR_RETURN(const Row existing, tx.ExecuteOne(kCheckpointAt, {org, seq_param}));
    CV_ASSIGN_OR_RETURN(const std::int64_t existing_count, existing.Int(0));
    if (existing_count == 0) {
      const std::uint64_t useq = static_cast<std::uint64_t>(seq);
      const CheckpointSignature signature = sign(tx.org_id(), useq, hash);
      CV_RETURN_IF_ERROR(AuditLog().AddCheckpoint(tx, AuditCheckpointKind::kPurge, useq, hash,
                                                  signature.signature, signature.signing_key_id,
                                                  signature.signed_at));
    }
  }
  CV_ASSIGN_OR_RETURN(const Row purged, tx.ExecuteOne(kAuditPurgeThrough, {at, seq_param}));
  CV_ASSIGN_OR_RETURN(const std::int64_t deleted, purged.Int(0));
  batch.deleted = static_cast<std::uint64_t>(deleted);
  batch.checkpoint_seq = static_cast<std::uint64_t>(seq);
  CV_ASSIGN_OR_RETURN(const std::vector<Row> next, tx.Execute(kAuditOlderRemain, {org, at}));
  if (!next.empty()) {
    CV_ASSIGN_OR_RETURN(batch.more, next.front().Bool(0));
  }
  return batch;
}

}  // namespace credvault::storage

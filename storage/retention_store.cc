#include "storage/retention_store.h"

#include <algorithm>
#include <utility>

#include "common/status_macros.h"
#include "storage/audit_hash_column.h"
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

// One batch of deleted versions (every version in a destroyed org): the database function
// selects and locks it, crypto-erases it and deletes all but the newest version of each
// credential, keeping those rules itself (schema version 10; the admin role has no direct
// write on credentials).
constexpr Statement kPurgeVersions{
    "retention.purge_credential_versions",
    "SELECT examined_count, erased_count, deleted_count, last_name, last_version "
    "FROM credvault_purge_credential_versions($1, " CREDVAULT_MICROS(2) ", $3::integer, $4, "
    "$5::bigint)"};

// Oldest first, through the database function (no direct delete either).
constexpr Statement kPurgeIdempotencyKeys{
    "retention.purge_idempotency_keys",
    "SELECT credvault_purge_idempotency_keys($1, " CREDVAULT_MICROS(2) ", $3::integer)"};

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
  // The function reads the org's state itself; this read only tells a missing org apart.
  const absl::Status org_exists = tx.ExecuteOne(kOrgState, {org}).status();
  if (absl::IsNotFound(org_exists)) return absl::NotFoundError("org not found");
  CV_RETURN_IF_ERROR(org_exists);

  // Names are never empty and versions start at 1, so ("", 0) sorts before every version.
  CV_ASSIGN_OR_RETURN(
      const Row row,
      tx.ExecuteOne(kPurgeVersions, {org, SqlParam::Micros(cutoff), Count(limit),
                                     SqlParam::Text(after ? after->name : std::string()),
                                     SqlParam::Int(after ? after->version : 0)}));
  CV_ASSIGN_OR_RETURN(const std::int64_t examined, row.Int(0));
  CV_ASSIGN_OR_RETURN(const std::int64_t erased, row.Int(1));
  CV_ASSIGN_OR_RETURN(const std::int64_t deleted, row.Int(2));
  CredentialPurgeBatch batch;
  batch.examined = static_cast<std::size_t>(examined);
  batch.erased = static_cast<std::size_t>(erased);
  batch.deleted = static_cast<std::size_t>(deleted);
  if (batch.examined == limit) {
    CredentialCursor last;
    CV_ASSIGN_OR_RETURN(last.name, row.Text(3));
    CV_ASSIGN_OR_RETURN(last.version, row.Int(4));
    batch.resume_after = std::move(last);
  }
  return batch;
}

absl::StatusOr<std::size_t> RetentionStore::PurgeIdempotencyKeys(Transaction& tx, absl::Time cutoff,
                                                                 std::size_t limit) const {
  CV_RETURN_IF_ERROR(ValidateLimit("idempotency key purge batch size", limit));
  CV_RETURN_IF_ERROR(ValidateCutoff(cutoff));
  CV_ASSIGN_OR_RETURN(const Row row, tx.ExecuteOne(kPurgeIdempotencyKeys,
                                                   {SqlParam::Text(tx.org_id()),
                                                    SqlParam::Micros(cutoff), Count(limit)}));
  CV_ASSIGN_OR_RETURN(const std::int64_t deleted, row.Int(0));
  return static_cast<std::size_t>(deleted);
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

#include "storage/audit_log.h"

#include <algorithm>
#include <map>
#include <utility>

#include "common/status_macros.h"
#include "storage/audit_hash_column.h"
#include "storage/validation.h"

namespace credvault::storage {
namespace {

#define CREDVAULT_AUDIT_EVENT_COLUMNS                                                    \
  "org_id, seq, (extract(epoch FROM event_time) * 1000000)::bigint, principal, action, " \
  "target, result, request_id, details, prev_hash, hash, chain_format, "                 \
  "coalesce(appended_by, '')"

// Appending is the database's job (storage/migrations/0008_function_only_access.sql): it
// links the event to the last one, hashes it (format 2) and records the appending role.
constexpr Statement kAppend{
    "audit.append", "SELECT " CREDVAULT_AUDIT_EVENT_COLUMNS
                    " FROM credvault_audit_append($1, 'epoch'::timestamptz + $2::bigint * interval "
                    "'1 microsecond', $3, $4, $5, $6, $7, $8)"};
constexpr Statement kAppendDenial{"audit.append_denial",
                                  "SELECT credvault_audit_append_denial($1, $2, $3, $4, $5, $6)"};
constexpr Statement kReadHead{"audit.read_head",
                              "SELECT seq, hash FROM audit_heads WHERE org_id = $1"};
constexpr Statement kListEvents{"audit.list_events",
                                "SELECT " CREDVAULT_AUDIT_EVENT_COLUMNS
                                " FROM audit_events WHERE org_id = $1 AND seq > $2 "
                                "ORDER BY seq LIMIT $3"};
constexpr Statement kFirstSeq{"audit.first_seq",
                              "SELECT min(seq) FROM audit_events WHERE org_id = $1"};
constexpr Statement kLastSeq{"audit.last_seq",
                             "SELECT max(seq) FROM audit_events WHERE org_id = $1"};
constexpr Statement kEventHash{"audit.event_hash",
                               "SELECT hash FROM audit_events WHERE org_id = $1 AND seq = $2"};
constexpr Statement kInsertCheckpoint{
    "audit.insert_checkpoint",
    "SELECT credvault_audit_add_checkpoint($1, $7, $2, $3::bytea, $4::bytea, $5, "
    "'epoch'::timestamptz + $6::bigint * interval '1 microsecond')"};
constexpr Statement kListCheckpoints{
    "audit.list_checkpoints",
    "SELECT seq, head_hash, (extract(epoch FROM created_at) * 1000000)::bigint, signature, "
    "signing_key_id, kind FROM audit_checkpoints WHERE org_id = $1 ORDER BY seq"};
constexpr Statement kLatestCheckpoint{
    "audit.latest_checkpoint",
    "SELECT seq, head_hash, (extract(epoch FROM created_at) * 1000000)::bigint, signature, "
    "signing_key_id, kind FROM audit_checkpoints WHERE org_id = $1 ORDER BY seq DESC LIMIT 1"};
constexpr Statement kPurge{
    "audit.purge",
    "SELECT audit_purge_before('epoch'::timestamptz + $1::bigint * interval '1 microsecond')"};

#undef CREDVAULT_AUDIT_EVENT_COLUMNS

constexpr std::size_t kMaxListLimit = 1000;
constexpr std::size_t kVerifyPage = 1000;

SqlParam HashParam(const crypto::AuditHash& hash) { return SqlParam::Bytes(hash); }

absl::StatusOr<std::uint64_t> Seq(const Row& row, std::size_t column) {
  CV_ASSIGN_OR_RETURN(const std::int64_t seq, row.Int(column));
  if (seq < 0) return absl::InternalError("negative audit sequence number");
  return static_cast<std::uint64_t>(seq);
}

absl::StatusOr<AuditEvent> EventFromRow(const Row& row) {
  AuditEvent e;
  CV_ASSIGN_OR_RETURN(e.org_id, row.Text(0));
  CV_ASSIGN_OR_RETURN(e.seq, Seq(row, 1));
  CV_ASSIGN_OR_RETURN(e.time, row.Micros(2));
  CV_ASSIGN_OR_RETURN(e.principal, row.Text(3));
  CV_ASSIGN_OR_RETURN(e.action, row.Text(4));
  CV_ASSIGN_OR_RETURN(e.target, row.Text(5));
  CV_ASSIGN_OR_RETURN(e.result, row.Text(6));
  CV_ASSIGN_OR_RETURN(e.request_id, row.Text(7));
  CV_ASSIGN_OR_RETURN(e.details, row.Text(8));
  CV_ASSIGN_OR_RETURN(e.prev_hash, HashColumn(row, 9));
  CV_ASSIGN_OR_RETURN(e.hash, HashColumn(row, 10));
  CV_ASSIGN_OR_RETURN(const std::int64_t format, row.Int(11));
  e.chain_format = static_cast<crypto::AuditChainFormat>(format);
  CV_ASSIGN_OR_RETURN(e.appended_by, row.Text(12));
  return e;
}

crypto::AuditEventFields ChainFields(const AuditEvent& e) {
  crypto::AuditEventFields fields{e.org_id,    e.seq,        absl::ToUnixMicros(e.time),
                                  e.principal, e.action,     e.target,
                                  e.result,    e.request_id, e.details};
  fields.appended_by = e.appended_by;
  fields.format = e.chain_format;
  return fields;
}

// The values of audit_checkpoints.kind.
std::string_view CheckpointKindName(AuditCheckpointKind kind) {
  switch (kind) {
    case AuditCheckpointKind::kPeriodic:
      return "periodic";
    case AuditCheckpointKind::kPurge:
      return "purge";
    case AuditCheckpointKind::kErasure:
      return "erasure";
    case AuditCheckpointKind::kUnknown:
      break;
  }
  return "";
}

AuditVerification Broken(AuditVerification v, std::uint64_t seq, AuditBreak kind,
                         std::string problem) {
  v.ok = false;
  v.broken_seq = seq;
  v.kind = kind;
  v.problem = std::move(problem);
  return v;
}

}  // namespace

absl::Status ValidateNewAuditEvent(const NewAuditEvent& e) {
  CV_RETURN_IF_ERROR(ValidateText("audit.principal", e.principal, kMaxAuditFieldBytes));
  CV_RETURN_IF_ERROR(ValidateText("audit.action", e.action, kMaxAuditFieldBytes));
  CV_RETURN_IF_ERROR(ValidateText("audit.target", e.target, kMaxAuditFieldBytes, true));
  CV_RETURN_IF_ERROR(ValidateText("audit.result", e.result, kMaxAuditFieldBytes));
  CV_RETURN_IF_ERROR(ValidateText("audit.request_id", e.request_id, kMaxAuditFieldBytes, true));
  return ValidateText("audit.details", e.details, kMaxAuditFieldBytes, true);
}

absl::StatusOr<AuditEvent> AuditLog::Append(Transaction& tx, const NewAuditEvent& event) const {
  const absl::Time started = absl::Now();
  absl::StatusOr<AuditEvent> appended = AppendUnobserved(tx, event);
  if (appended.ok() && on_append_) on_append_(absl::Now() - started);
  return appended;
}

absl::StatusOr<AuditEvent> AuditLog::AppendUnobserved(Transaction& tx,
                                                      const NewAuditEvent& event) const {
  CV_RETURN_IF_ERROR(ValidateNewAuditEvent(event));
  CV_ASSIGN_OR_RETURN(
      const Row row,
      tx.ExecuteOne(kAppend, {SqlParam::Text(tx.org_id()), SqlParam::Micros(clock_()),
                              SqlParam::Text(event.principal), SqlParam::Text(event.action),
                              SqlParam::Text(event.target), SqlParam::Text(event.result),
                              SqlParam::Text(event.request_id), SqlParam::Text(event.details)}));
  return EventFromRow(row);
}

absl::StatusOr<std::optional<std::uint64_t>> AuditLog::AppendDenial(
    Transaction& tx, const NewAuditEvent& event) const {
  CV_RETURN_IF_ERROR(ValidateNewAuditEvent(event));
  CV_ASSIGN_OR_RETURN(
      const Row row,
      tx.ExecuteOne(kAppendDenial,
                    {SqlParam::Text(tx.org_id()), SqlParam::Text(event.principal),
                     SqlParam::Text(event.target), SqlParam::Text(event.result),
                     SqlParam::Text(event.request_id), SqlParam::Text(event.details)}));
  if (row.IsNull(0)) return std::nullopt;
  CV_ASSIGN_OR_RETURN(const std::uint64_t seq, Seq(row, 0));
  return seq;
}

absl::StatusOr<std::vector<AuditEvent>> AuditLog::List(Transaction& tx, std::uint64_t after_seq,
                                                       std::size_t limit) const {
  if (limit == 0 || limit > kMaxListLimit) {
    return absl::InvalidArgumentError("limit: must be 1.." + std::to_string(kMaxListLimit));
  }
  CV_ASSIGN_OR_RETURN(std::vector<Row> rows,
                      tx.Execute(kListEvents, {SqlParam::Text(tx.org_id()),
                                               SqlParam::Int(static_cast<std::int64_t>(after_seq)),
                                               SqlParam::Int(static_cast<std::int64_t>(limit))}));
  std::vector<AuditEvent> events;
  events.reserve(rows.size());
  for (const Row& row : rows) {
    CV_ASSIGN_OR_RETURN(AuditEvent e, EventFromRow(row));
    events.push_back(std::move(e));
  }
  return events;
}

absl::StatusOr<AuditHead> AuditLog::Head(Transaction& tx) const {
  absl::StatusOr<Row> row = tx.ExecuteOne(kReadHead, {SqlParam::Text(tx.org_id())});
  if (absl::IsNotFound(row.status())) {
    return AuditHead{0, crypto::AuditChainGenesis(tx.org_id(), crypto::AuditChainFormat::kV2)};
  }
  if (!row.ok()) return row.status();
  AuditHead head;
  CV_ASSIGN_OR_RETURN(head.seq, Seq(*row, 0));
  CV_ASSIGN_OR_RETURN(head.hash, HashColumn(*row, 1));
  return head;
}

absl::StatusOr<AuditVerification> AuditLog::Verify(Transaction& tx,
                                                   const AuditVerifyOptions& options) const {
  const SqlParam org = SqlParam::Text(tx.org_id());
  AuditVerification v;
  const bool trust_stored_checkpoints = !options.anchor.has_value();
  std::vector<AuditCheckpoint> checkpoint_list;
  if (trust_stored_checkpoints) {
    CV_ASSIGN_OR_RETURN(checkpoint_list, ListCheckpoints(tx));
  }
  std::map<std::uint64_t, const AuditCheckpoint*> checkpoints;
  for (const AuditCheckpoint& c : checkpoint_list) checkpoints[c.seq] = &c;

  // The last stored event first, then the head row: an append moves both in one
  // transaction, so a head read afterwards is never behind an event already seen unless
  // the head was rewound. Appends link to the last event (storage/migrations/0008), so
  // the walk goes to whichever is further; every event up to there is committed.
  std::uint64_t last_event = 0;
  {
    CV_ASSIGN_OR_RETURN(const Row last_row, tx.ExecuteOne(kLastSeq, {org}));
    if (!last_row.IsNull(0)) {
      CV_ASSIGN_OR_RETURN(last_event, Seq(last_row, 0));
    }
  }
  CV_ASSIGN_OR_RETURN(const AuditHead head, Head(tx));
  const std::uint64_t end = std::max(last_event, head.seq);

  // The anchor: the (seq, hash) the walk starts from. A chain begun before the database
  // linked events itself starts from the format 1 genesis.
  AuditHead anchor{0, crypto::AuditChainGenesis(tx.org_id(), crypto::AuditChainFormat::kV2)};
  {
    CV_ASSIGN_OR_RETURN(const std::vector<AuditEvent> first_events, List(tx, 0, 1));
    if (!first_events.empty() && first_events.front().seq == 1 &&
        first_events.front().chain_format == crypto::AuditChainFormat::kV1) {
      anchor.hash = crypto::AuditChainGenesis(tx.org_id(), crypto::AuditChainFormat::kV1);
    }
  }
  if (options.anchor.has_value()) {
    anchor = *options.anchor;
  } else if (options.from_latest_checkpoint && !checkpoints.empty()) {
    anchor = AuditHead{checkpoints.rbegin()->first, checkpoints.rbegin()->second->head_hash};
  } else {
    CV_ASSIGN_OR_RETURN(const Row first_row, tx.ExecuteOne(kFirstSeq, {org}));
    if (!first_row.IsNull(0)) {
      CV_ASSIGN_OR_RETURN(const std::uint64_t first, Seq(first_row, 0));
      if (first > 1) {
        // Events before `first` were purged (or removed): a checkpoint must cover them.
        auto it = checkpoints.lower_bound(first);
        if (it == checkpoints.begin()) {
          return Broken(v, 1, AuditBreak::kSequenceGap,
                        "events missing from the start of the chain");
        }
        --it;
        if (it->first != first - 1) {
          return Broken(v, it->first + 1, AuditBreak::kSequenceGap, "event missing");
        }
        anchor = AuditHead{it->first, it->second->head_hash};
      }
    } else if (!checkpoints.empty() && checkpoints.begin()->first <= head.seq) {
      // Every event was purged: the chain continues from the purge checkpoint.
      auto it = checkpoints.upper_bound(head.seq);
      --it;
      anchor = AuditHead{it->first, it->second->head_hash};
    }
  }
  if (anchor.seq > end) {
    return Broken(v, end + 1, AuditBreak::kSequenceGap, "anchor beyond the last event");
  }

  std::uint64_t expected = anchor.seq + 1;
  crypto::AuditHash running = anchor.hash;
  std::optional<crypto::AuditHash> hash_at_head;
  if (head.seq == anchor.seq) hash_at_head = anchor.hash;
  v.verified_head = anchor;
  while (expected <= end) {
    const std::size_t page =
        static_cast<std::size_t>(std::min<std::uint64_t>(kVerifyPage, end - expected + 1));
    CV_ASSIGN_OR_RETURN(const std::vector<AuditEvent> events, List(tx, expected - 1, page));
    if (events.empty()) break;
    for (const AuditEvent& e : events) {
      if (e.seq != expected) return Broken(v, expected, AuditBreak::kSequenceGap, "event missing");
      if (e.prev_hash != running) {
        return Broken(
            v, e.seq,
            e.seq == anchor.seq + 1 ? AuditBreak::kAnchorMismatch : AuditBreak::kPrevHashMismatch,
            "previous hash does not match the preceding event");
      }
      if (!crypto::IsKnownAuditChainFormat(e.chain_format)) {
        return Broken(v, e.seq, AuditBreak::kHashMismatch, "event has an unknown chain format");
      }
      const crypto::AuditHash computed = crypto::AuditChainStep(running, ChainFields(e));
      if (computed != e.hash)
        return Broken(v, e.seq, AuditBreak::kHashMismatch, "event content does not match its hash");
      if (auto c = checkpoints.find(e.seq);
          c != checkpoints.end() && c->second->head_hash != computed) {
        return Broken(v, e.seq, AuditBreak::kCheckpointMismatch,
                      "checkpoint does not match the chain");
      }
      if (v.events_checked == 0) v.first_seq = e.seq;
      v.last_seq = e.seq;
      ++v.events_checked;
      running = computed;
      v.verified_head = AuditHead{e.seq, computed};
      if (e.seq == head.seq) hash_at_head = computed;
      ++expected;
    }
  }
  if (expected <= end) return Broken(v, expected, AuditBreak::kSequenceGap, "event missing");

  // A checkpoint vouches for every event up to its seq. A signed one beyond the last
  // event shows that the newest events were dropped; an unsigned one there vouches for
  // nothing and was planted (only the purge and the admin path write checkpoints, and
  // only at events that exist).
  if (auto beyond = checkpoints.upper_bound(end); beyond != checkpoints.end()) {
    if (beyond->second->signature.has_value()) {
      return Broken(v, end + 1, AuditBreak::kSequenceGap,
                    "events missing after the chain head (a checkpoint covers them)");
    }
    return Broken(v, beyond->first, AuditBreak::kCheckpointBeyondHead,
                  "unsigned checkpoint beyond the last event");
  }
  if (head.seq < last_event || !hash_at_head.has_value() || *hash_at_head != head.hash) {
    return Broken(v, head.seq < last_event ? head.seq + 1 : head.seq, AuditBreak::kHeadMismatch,
                  "chain head row does not match the last event");
  }
  return v;
}

absl::Status AuditLog::AddCheckpoint(Transaction& tx, AuditCheckpointKind kind, std::uint64_t seq,
                                     const crypto::AuditHash& hash,
                                     std::optional<std::vector<std::uint8_t>> signature,
                                     std::optional<std::string> signing_key_id,
                                     std::optional<absl::Time> created_at) const {
  if (seq == 0) return absl::InvalidArgumentError("checkpoint seq: must be positive");
  if (kind == AuditCheckpointKind::kUnknown) {
    return absl::InvalidArgumentError("checkpoint kind: must be known");
  }
  if (signature.has_value() != signing_key_id.has_value()) {
    return absl::InvalidArgumentError("checkpoint: signature and signing_key_id go together");
  }
  if (signing_key_id.has_value()) {
    CV_RETURN_IF_ERROR(ValidateText("signing_key_id", *signing_key_id, kMaxAuditFieldBytes));
  }
  const SqlParam org = SqlParam::Text(tx.org_id());
  const SqlParam seq_param = SqlParam::Int(static_cast<std::int64_t>(seq));
  // The function checks the hash again; asking first gives callers a precise answer.
  absl::StatusOr<Row> row = tx.ExecuteOne(kEventHash, {org, seq_param});
  if (absl::IsNotFound(row.status())) {
    return absl::NotFoundError("checkpoint: no audit event " + std::to_string(seq));
  }
  if (!row.ok()) return row.status();
  CV_ASSIGN_OR_RETURN(const crypto::AuditHash stored, HashColumn(*row, 0));
  if (stored != hash) {
    return absl::FailedPreconditionError("checkpoint: hash differs from the chain at event " +
                                         std::to_string(seq));
  }
  return tx
      .Execute(kInsertCheckpoint,
               {org, seq_param, HashParam(hash),
                signature.has_value() ? SqlParam::Bytes(*signature) : SqlParam::Null(),
                signing_key_id.has_value() ? SqlParam::Text(*signing_key_id) : SqlParam::Null(),
                SqlParam::Micros(created_at.value_or(clock_())),
                SqlParam::Text(std::string(CheckpointKindName(kind)))})
      .status();
}

namespace {

absl::StatusOr<AuditCheckpoint> CheckpointFromRow(const Row& row) {
  AuditCheckpoint c;
  if (!row.IsNull(5)) {
    CV_ASSIGN_OR_RETURN(const std::string kind, row.Text(5));
    for (const AuditCheckpointKind k : {AuditCheckpointKind::kPeriodic, AuditCheckpointKind::kPurge,
                                        AuditCheckpointKind::kErasure}) {
      if (kind == CheckpointKindName(k)) c.kind = k;
    }
  }
  CV_ASSIGN_OR_RETURN(c.seq, Seq(row, 0));
  CV_ASSIGN_OR_RETURN(c.head_hash, HashColumn(row, 1));
  CV_ASSIGN_OR_RETURN(c.created_at, row.Micros(2));
  if (!row.IsNull(3)) {
    CV_ASSIGN_OR_RETURN(c.signature, row.Bytes(3));
    CV_ASSIGN_OR_RETURN(c.signing_key_id, row.Text(4));
  }
  return c;
}

}  // namespace

absl::StatusOr<std::vector<AuditCheckpoint>> AuditLog::ListCheckpoints(Transaction& tx) const {
  CV_ASSIGN_OR_RETURN(std::vector<Row> rows,
                      tx.Execute(kListCheckpoints, {SqlParam::Text(tx.org_id())}));
  std::vector<AuditCheckpoint> checkpoints;
  checkpoints.reserve(rows.size());
  for (const Row& row : rows) {
    CV_ASSIGN_OR_RETURN(AuditCheckpoint c, CheckpointFromRow(row));
    checkpoints.push_back(std::move(c));
  }
  return checkpoints;
}

absl::StatusOr<std::optional<AuditCheckpoint>> AuditLog::LatestCheckpoint(Transaction& tx) const {
  CV_ASSIGN_OR_RETURN(std::vector<Row> rows,
                      tx.Execute(kLatestCheckpoint, {SqlParam::Text(tx.org_id())}));
  if (rows.empty()) return std::nullopt;
  CV_ASSIGN_OR_RETURN(AuditCheckpoint c, CheckpointFromRow(rows.front()));
  return c;
}

absl::StatusOr<std::uint64_t> AuditLog::PurgeBefore(Transaction& tx, absl::Time cutoff) const {
  CV_ASSIGN_OR_RETURN(const Row row, tx.ExecuteOne(kPurge, {SqlParam::Micros(cutoff)}));
  return Seq(row, 0);
}

}  // namespace credvault::storage

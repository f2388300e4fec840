#include "storage/credential_store.h"

#include <utility>

#include "common/status_macros.h"
#include "storage/idempotency_store.h"
#include "storage/labels.h"
#include "storage/validation.h"

namespace credvault::storage {
namespace {

// Metadata columns, in the order MetadataFromRow reads them. Times leave PostgreSQL as
// exact microseconds since the epoch.
#define CREDVAULT_METADATA_COLUMNS                                                         \
  "org_id, name, version, org_key_version, writer_key_version, " CREDVAULT_LABELS_COLUMN   \
  ", (extract(epoch FROM created_at) * 1000000)::bigint, created_by, "                     \
  "(extract(epoch FROM expires_at) * 1000000)::bigint, "                                   \
  "(extract(epoch FROM deleted_at) * 1000000)::bigint, erased, is_current, max_versions, " \
  "(SELECT max(c2.version) FROM credentials c2 "                                           \
  " WHERE c2.org_id = credentials.org_id AND c2.name = credentials.name), "                \
  "(SELECT count(*) FROM credentials c3 WHERE c3.org_id = credentials.org_id "             \
  " AND c3.name = credentials.name AND NOT c3.erased AND c3.deleted_at IS NULL)"
constexpr std::size_t kMetadataColumnCount = 15;

// Serializes Puts of one name (the two-key advisory lock space is separate from the
// migrator's one-key lock). A hash collision only serializes two unrelated names.
constexpr Statement kLockName{"credentials.lock_name",
                              "SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))"};
constexpr Statement kPlanPut{"credentials.plan_put",
                             "SELECT o.state, c.version, c.deleted_at IS NOT NULL "
                             "FROM orgs o LEFT JOIN credentials c "
                             "ON c.org_id = o.org_id AND c.name = $2 AND c.is_current "
                             "WHERE o.org_id = $1"};
constexpr Statement kPutVersion{
    "credentials.put_version",
    "SELECT erased_count, audit_seq FROM credvault_put_version($1, $2, $3, $4::bytea, $5, $6, "
    "$7::jsonb, $8, 'epoch'::timestamptz + $9::bigint * interval '1 microsecond', $10, $11, "
    "$12::bytea, $13)"};
constexpr Statement kDelete{
    "credentials.delete",
    "SELECT outcome, version, affected, audit_seq "
    "FROM credvault_delete_credential($1, $2, $3, $4, $5, $6::bytea, $7, $8)"};
constexpr Statement kGetCurrent{
    "credentials.get_current",
    "SELECT " CREDVAULT_METADATA_COLUMNS
    " FROM credentials "
    "WHERE org_id = $1 AND name = $2 AND is_current AND deleted_at IS NULL"};
constexpr Statement kGetVersion{
    "credentials.get_version",
    "SELECT " CREDVAULT_METADATA_COLUMNS
    " FROM credentials "
    "WHERE org_id = $1 AND name = $2 AND version = $3 AND deleted_at IS NULL"};
constexpr Statement kGetCurrentAnyState{
    "credentials.get_current_any_state",
    "SELECT " CREDVAULT_METADATA_COLUMNS
    " FROM credentials WHERE org_id = $1 AND name = $2 AND is_current"};
constexpr Statement kGetVersionAnyState{
    "credentials.get_version_any_state",
    "SELECT " CREDVAULT_METADATA_COLUMNS
    " FROM credentials WHERE org_id = $1 AND name = $2 AND version = $3"};
constexpr Statement kListWithDeleted{
    "credentials.list_with_deleted",
    "SELECT " CREDVAULT_METADATA_COLUMNS
    " FROM credentials "
    "WHERE org_id = $1 AND is_current "
    "AND name > $2 AND starts_with(name, $3) AND labels @> $4::jsonb "
    "ORDER BY name LIMIT $5"};
constexpr Statement kList{"credentials.list",
                          "SELECT " CREDVAULT_METADATA_COLUMNS
                          " FROM credentials "
                          "WHERE org_id = $1 AND is_current AND deleted_at IS NULL "
                          "AND name > $2 AND starts_with(name, $3) AND labels @> $4::jsonb "
                          "ORDER BY name LIMIT $5"};
constexpr Statement kCountUnerased{
    "credentials.count_unerased",
    "SELECT count(*) FROM credentials WHERE org_id = $1 AND NOT erased"};
// The org's state and that of the org key version the row names come with the envelope,
// so that a Decrypt checks both in the statement that reads it.
#define CREDVAULT_ENVELOPE_STATES                                        \
  ", (SELECT o.state FROM orgs o WHERE o.org_id = credentials.org_id), " \
  "(SELECT k.state FROM org_keys k WHERE k.org_id = credentials.org_id " \
  "AND k.version = credentials.org_key_version)"
constexpr Statement kReadCurrentEnvelope{
    "credentials.read_current_envelope",
    "SELECT " CREDVAULT_METADATA_COLUMNS ", envelope" CREDVAULT_ENVELOPE_STATES
    " FROM credentials "
    "WHERE org_id = $1 AND name = $2 AND is_current AND deleted_at IS NULL AND NOT erased"};
constexpr Statement kReadVersionEnvelope{
    "credentials.read_version_envelope",
    "SELECT " CREDVAULT_METADATA_COLUMNS ", envelope" CREDVAULT_ENVELOPE_STATES
    " FROM credentials "
    "WHERE org_id = $1 AND name = $2 AND version = $3 AND deleted_at IS NULL AND NOT erased"};
constexpr Statement kReplaceEnvelope{
    "credentials.replace_envelope",
    "SELECT credvault_reseal_envelope($1, $2, $3, $5, $4::bytea, $6, $7)"};
constexpr Statement kEnvelopeKeyVersion{
    "credentials.envelope_key_version",
    "SELECT org_key_version FROM credentials "
    "WHERE org_id = $1 AND name = $2 AND version = $3 AND NOT erased"};

constexpr Statement kLockEnvelopesNotSealedTo{
    "credentials.lock_envelopes_not_sealed_to",
    "SELECT name, version, org_key_version, envelope FROM credentials "
    "WHERE org_id = $1 AND org_key_version <> $2 AND NOT erased "
    "AND (NOT $3::boolean OR (name, version) > ($4::text COLLATE \"C\", $5::bigint)) "
    "ORDER BY name, version LIMIT $6"};
constexpr Statement kCountEnvelopesNotSealedTo{
    "credentials.count_envelopes_not_sealed_to",
    "SELECT count(*) FROM credentials WHERE org_id = $1 AND org_key_version <> $2 "
    "AND NOT erased"};

// The one-call forms (storage/migrations/0012_one_call_hot_paths.sql); their metadata
// columns come in the order of CREDVAULT_METADATA_COLUMNS.
constexpr Statement kPut{
    "credentials.put",
    "SELECT * FROM credvault_put($1, $2, $3, $4::bytea, $5, $6, $7::jsonb, $8, "
    "'epoch'::timestamptz + $9::bigint * interval '1 microsecond', $10, $11, $12::bytea, $13, "
    "$14, $15::bytea)"};
constexpr std::size_t kPutMetadataOffset = 4;
constexpr Statement kReadEnvelopeCall{"credentials.read_envelope_call",
                                      "SELECT * FROM credvault_read_envelope($1, $2, $3)"};

#undef CREDVAULT_ENVELOPE_STATES
#undef CREDVAULT_METADATA_COLUMNS

constexpr std::size_t kMaxPageSize = 1000;

absl::Status ValidateName(std::string_view name) {
  return ValidateCredentialNameSyntax("name", name);
}

absl::StatusOr<std::int32_t> Int32(const Row& row, std::size_t column) {
  CV_ASSIGN_OR_RETURN(const std::int64_t value, row.Int(column));
  return static_cast<std::int32_t>(value);
}

// The metadata columns starting at column `at`.
absl::StatusOr<CredentialMetadata> MetadataFromRow(const Row& row, std::size_t at = 0) {
  CredentialMetadata m;
  CV_ASSIGN_OR_RETURN(m.org_id, row.Text(at + 0));
  CV_ASSIGN_OR_RETURN(m.name, row.Text(at + 1));
  CV_ASSIGN_OR_RETURN(m.version, row.Int(at + 2));
  CV_ASSIGN_OR_RETURN(m.org_key_version, Int32(row, at + 3));
  CV_ASSIGN_OR_RETURN(m.writer_key_version, Int32(row, at + 4));
  CV_ASSIGN_OR_RETURN(const std::string labels, row.Text(at + 5));
  CV_ASSIGN_OR_RETURN(m.labels, LabelsFromColumn(labels));
  CV_ASSIGN_OR_RETURN(m.created_at, row.Micros(at + 6));
  CV_ASSIGN_OR_RETURN(m.created_by, row.Text(at + 7));
  CV_ASSIGN_OR_RETURN(m.expires_at, row.OptionalMicros(at + 8));
  CV_ASSIGN_OR_RETURN(m.deleted_at, row.OptionalMicros(at + 9));
  CV_ASSIGN_OR_RETURN(m.erased, row.Bool(at + 10));
  CV_ASSIGN_OR_RETURN(m.current, row.Bool(at + 11));
  CV_ASSIGN_OR_RETURN(m.max_versions, Int32(row, at + 12));
  CV_ASSIGN_OR_RETURN(m.current_version, row.Int(at + 13));
  CV_ASSIGN_OR_RETURN(m.live_version_count, row.Int(at + 14));
  return m;
}

absl::StatusOr<PutOutcome> PutOutcomeNamed(std::string_view name) {
  static constexpr std::pair<std::string_view, PutOutcome> kOutcomes[] = {
      {"ok", PutOutcome::kDone},
      {"replay", PutOutcome::kReplay},
      {"idempotency_key_reused", PutOutcome::kIdempotencyKeyReused},
      {"org_not_found", PutOutcome::kOrgNotFound},
      {"org_destroyed", PutOutcome::kOrgDestroyed},
      {"precondition_failed", PutOutcome::kPreconditionFailed},
      {"version_moved", PutOutcome::kVersionMoved},
      {"key_changed", PutOutcome::kKeyChanged},
  };
  for (const auto& [text, outcome] : kOutcomes) {
    if (text == name) return outcome;
  }
  return absl::InternalError("credentials.put: unknown outcome");
}

// The one row of `statement`, or nullopt when it returns none.
absl::StatusOr<std::optional<Row>> FindOne(Transaction& tx, const Statement& statement,
                                           absl::Span<const SqlParam> params) {
  absl::StatusOr<Row> row = tx.ExecuteOne(statement, params);
  if (absl::IsNotFound(row.status())) return std::nullopt;
  if (!row.ok()) return row.status();
  return *std::move(row);
}

// The metadata, envelope and states of kReadCurrentEnvelope and its siblings.
absl::StatusOr<EnvelopeRecord> EnvelopeFromRow(const Row& row) {
  EnvelopeRecord record;
  CV_ASSIGN_OR_RETURN(record.metadata, MetadataFromRow(row));
  CV_ASSIGN_OR_RETURN(record.envelope, row.Bytes(kMetadataColumnCount));
  CV_ASSIGN_OR_RETURN(record.org_state, row.Text(kMetadataColumnCount + 1));
  if (!row.IsNull(kMetadataColumnCount + 2)) {
    CV_ASSIGN_OR_RETURN(record.org_key_state, row.Text(kMetadataColumnCount + 2));
  }
  return record;
}

absl::Status NotFound(std::string_view what) {
  return absl::NotFoundError(std::string(what) + ": credential not found");
}

}  // namespace

absl::StatusOr<PreparedPut> CredentialStore::PreparePut(
    Transaction& tx, std::string_view name,
    std::optional<std::int64_t> expected_live_version) const {
  CV_RETURN_IF_ERROR(ValidateName(name));
  if (expected_live_version.has_value() && *expected_live_version < 0) {
    return absl::InvalidArgumentError("expected_version: must not be negative");
  }
  const SqlParam org = SqlParam::Text(tx.org_id());
  const SqlParam name_param = SqlParam::Text(name);
  CV_RETURN_IF_ERROR(tx.Execute(kLockName, {org, name_param}).status());
  CV_ASSIGN_OR_RETURN(const std::optional<Row> row, FindOne(tx, kPlanPut, {org, name_param}));
  PreparedPut prepared;
  if (!row.has_value()) {
    prepared.outcome = PrepareOutcome::kOrgNotFound;
    return prepared;
  }
  CV_ASSIGN_OR_RETURN(const std::string org_state, row->Text(0));
  if (org_state != "ACTIVE") {
    prepared.outcome = PrepareOutcome::kOrgDestroyed;
    return prepared;
  }
  prepared.plan = PutPlan{std::string(name), 1, std::nullopt};
  if (!row->IsNull(1)) {
    CV_ASSIGN_OR_RETURN(const std::int64_t current, row->Int(1));
    CV_ASSIGN_OR_RETURN(const bool deleted, row->Bool(2));
    prepared.plan.version = current + 1;
    if (!deleted) prepared.plan.replaced_live_version = current;
  }
  prepared.live_version = prepared.plan.replaced_live_version.value_or(0);
  if (expected_live_version.has_value() && *expected_live_version != prepared.live_version) {
    prepared.outcome =
        *expected_live_version == 0 ? PrepareOutcome::kNameTaken : PrepareOutcome::kVersionMismatch;
  }
  return prepared;
}

absl::StatusOr<PutResult> CredentialStore::InsertVersion(
    Transaction& tx, const PutPlan& plan, const NewCredentialVersion& version) const {
  CV_RETURN_IF_ERROR(ValidateName(plan.name));
  CV_RETURN_IF_ERROR(ValidateLabels(version.labels));
  CV_RETURN_IF_ERROR(ValidateText("created_by", version.created_by, kMaxAuditFieldBytes));
  CV_RETURN_IF_ERROR(ValidateText("request_id", version.request_id, kMaxAuditFieldBytes, true));
  if (version.envelope.empty()) return absl::InvalidArgumentError("envelope: must not be empty");
  if (version.max_versions.has_value() && *version.max_versions < 0) {
    return absl::InvalidArgumentError("max_versions: must not be negative");
  }
  if (version.idempotency_key.has_value() && version.request_digest.size() != 32) {
    return absl::InvalidArgumentError("request_digest: must be 32 bytes");
  }
  CV_ASSIGN_OR_RETURN(
      const Row row,
      tx.ExecuteOne(
          kPutVersion,
          {SqlParam::Text(tx.org_id()), SqlParam::Text(plan.name), SqlParam::Int(plan.version),
           SqlParam::Bytes(version.envelope), SqlParam::Int(version.org_key_version),
           SqlParam::Int(version.writer_key_version), SqlParam::Text(LabelsToJson(version.labels)),
           SqlParam::Text(version.created_by),
           version.expires_at.has_value() ? SqlParam::Micros(*version.expires_at)
                                          : SqlParam::Null(),
           version.max_versions.has_value() ? SqlParam::Int(*version.max_versions)
                                            : SqlParam::Null(),
           version.idempotency_key.has_value() ? SqlParam::Text(*version.idempotency_key)
                                               : SqlParam::Null(),
           version.idempotency_key.has_value() ? SqlParam::Bytes(version.request_digest)
                                               : SqlParam::Null(),
           SqlParam::Text(version.request_id)}));
  PutResult result;
  CV_ASSIGN_OR_RETURN(const std::int64_t erased, row.Int(0));
  CV_ASSIGN_OR_RETURN(const std::int64_t seq, row.Int(1));
  result.erased_version_count = static_cast<std::size_t>(erased);
  result.audit_seq = static_cast<std::uint64_t>(seq);
  return result;
}

absl::StatusOr<DeleteResult> CredentialStore::Delete(Transaction& tx,
                                                     const DeleteRequest& request) const {
  CV_RETURN_IF_ERROR(ValidateName(request.name));
  CV_RETURN_IF_ERROR(ValidateText("principal", request.principal, kMaxAuditFieldBytes));
  CV_RETURN_IF_ERROR(ValidateText("request_id", request.request_id, kMaxAuditFieldBytes, true));
  if (request.idempotency_key.has_value() && request.request_digest.size() != 32) {
    return absl::InvalidArgumentError("request_digest: must be 32 bytes");
  }
  CV_ASSIGN_OR_RETURN(
      const Row row,
      tx.ExecuteOne(kDelete,
                    {SqlParam::Text(tx.org_id()), SqlParam::Text(request.name),
                     SqlParam::Bool(request.mode == DeleteMode::kCryptoErase),
                     request.expected_version.has_value() ? SqlParam::Int(*request.expected_version)
                                                          : SqlParam::Null(),
                     request.idempotency_key.has_value() ? SqlParam::Text(*request.idempotency_key)
                                                         : SqlParam::Null(),
                     request.idempotency_key.has_value() ? SqlParam::Bytes(request.request_digest)
                                                         : SqlParam::Null(),
                     SqlParam::Text(request.principal), SqlParam::Text(request.request_id)}));
  DeleteResult result;
  CV_ASSIGN_OR_RETURN(const std::string outcome, row.Text(0));
  if (outcome == "ok") {
    result.outcome = DeleteOutcome::kDone;
  } else if (outcome == "not_found") {
    result.outcome = DeleteOutcome::kNotFound;
  } else if (outcome == "already_deleted") {
    result.outcome = DeleteOutcome::kAlreadyDeleted;
  } else if (outcome == "version_mismatch") {
    result.outcome = DeleteOutcome::kVersionMismatch;
  } else {
    return absl::InternalError("delete: unknown outcome from the database");
  }
  CV_ASSIGN_OR_RETURN(result.version, row.Int(1));
  CV_ASSIGN_OR_RETURN(const std::int64_t affected, row.Int(2));
  CV_ASSIGN_OR_RETURN(const std::int64_t seq, row.Int(3));
  result.affected_version_count = static_cast<std::size_t>(affected);
  result.audit_seq = static_cast<std::uint64_t>(seq);
  return result;
}

absl::StatusOr<std::optional<CredentialMetadata>> CredentialStore::FindMetadata(
    Transaction& tx, std::string_view name, std::optional<std::int64_t> version,
    bool include_deleted) const {
  CV_RETURN_IF_ERROR(ValidateName(name));
  const SqlParam org = SqlParam::Text(tx.org_id());
  const SqlParam name_param = SqlParam::Text(name);
  const Statement& by_version = include_deleted ? kGetVersionAnyState : kGetVersion;
  const Statement& current = include_deleted ? kGetCurrentAnyState : kGetCurrent;
  CV_ASSIGN_OR_RETURN(const std::optional<Row> row,
                      version.has_value()
                          ? FindOne(tx, by_version, {org, name_param, SqlParam::Int(*version)})
                          : FindOne(tx, current, {org, name_param}));
  if (!row.has_value()) return std::nullopt;
  return MetadataFromRow(*row);
}

absl::StatusOr<CredentialMetadata> CredentialStore::GetMetadata(Transaction& tx,
                                                                std::string_view name,
                                                                std::optional<std::int64_t> version,
                                                                bool include_deleted) const {
  CV_ASSIGN_OR_RETURN(std::optional<CredentialMetadata> found,
                      FindMetadata(tx, name, version, include_deleted));
  if (!found.has_value()) return NotFound("describe");
  return *std::move(found);
}

absl::StatusOr<ListPage> CredentialStore::List(Transaction& tx, const ListQuery& query) const {
  if (query.page_size == 0 || query.page_size > kMaxPageSize) {
    return absl::InvalidArgumentError("page_size: must be 1.." + std::to_string(kMaxPageSize));
  }
  CV_RETURN_IF_ERROR(ValidateNamePrefixSyntax("name_prefix", query.name_prefix));
  if (!query.page_after.empty()) {
    CV_RETURN_IF_ERROR(ValidateCredentialNameSyntax("page_token", query.page_after));
  }
  CV_RETURN_IF_ERROR(ValidateLabels(query.label_filter));
  // One extra row tells whether there is a next page.
  CV_ASSIGN_OR_RETURN(std::vector<Row> rows,
                      tx.Execute(query.include_deleted ? kListWithDeleted : kList,
                                 {SqlParam::Text(tx.org_id()), SqlParam::Text(query.page_after),
                                  SqlParam::Text(query.name_prefix),
                                  SqlParam::Text(LabelsToJson(query.label_filter)),
                                  SqlParam::Int(static_cast<std::int64_t>(query.page_size + 1))}));
  ListPage page;
  for (const Row& row : rows) {
    if (page.items.size() == query.page_size) {
      page.next_page_after = page.items.back().name;
      break;
    }
    CV_ASSIGN_OR_RETURN(CredentialMetadata item, MetadataFromRow(row));
    page.items.push_back(std::move(item));
  }
  return page;
}

absl::StatusOr<std::uint64_t> CredentialStore::CountUnerasedVersions(Transaction& tx) const {
  CV_ASSIGN_OR_RETURN(const Row row, tx.ExecuteOne(kCountUnerased, {SqlParam::Text(tx.org_id())}));
  CV_ASSIGN_OR_RETURN(const std::int64_t count, row.Int(0));
  return static_cast<std::uint64_t>(count);
}

absl::StatusOr<std::optional<EnvelopeRecord>> CredentialStore::FindEnvelope(
    Transaction& tx, std::string_view name, std::optional<std::int64_t> version) const {
  CV_RETURN_IF_ERROR(ValidateName(name));
  const SqlParam org = SqlParam::Text(tx.org_id());
  const SqlParam name_param = SqlParam::Text(name);
  CV_ASSIGN_OR_RETURN(const std::optional<Row> row,
                      version.has_value() ? FindOne(tx, kReadVersionEnvelope,
                                                    {org, name_param, SqlParam::Int(*version)})
                                          : FindOne(tx, kReadCurrentEnvelope, {org, name_param}));
  if (!row.has_value()) return std::nullopt;
  return EnvelopeFromRow(*row);
}

absl::StatusOr<std::optional<EnvelopeRecord>> CredentialStore::FindEnvelope(
    ConnectionPool& pool, std::string_view org_id, absl::Time deadline, std::string_view name,
    std::optional<std::int64_t> version) const {
  CV_RETURN_IF_ERROR(ValidateOrgId(org_id));
  CV_RETURN_IF_ERROR(ValidateName(name));
  CV_ASSIGN_OR_RETURN(const std::vector<Row> rows,
                      pool.Call(kReadEnvelopeCall,
                                {SqlParam::Text(org_id), SqlParam::Text(name),
                                 version.has_value() ? SqlParam::Int(*version) : SqlParam::Null()},
                                deadline, ConnectionPool::IfConnectionLost::kRetry));
  if (rows.empty()) return std::nullopt;
  if (rows.size() > 1) {
    return absl::InternalError("credentials.read_envelope_call: more than one row");
  }
  return EnvelopeFromRow(rows.front());
}

absl::StatusOr<EnvelopeRecord> CredentialStore::ReadEnvelope(
    Transaction& tx, std::string_view name, std::optional<std::int64_t> version) const {
  CV_ASSIGN_OR_RETURN(std::optional<EnvelopeRecord> found, FindEnvelope(tx, name, version));
  if (!found.has_value()) return NotFound("read envelope");
  return *std::move(found);
}

absl::StatusOr<EnvelopeRecord> CredentialStore::ReadEnvelope(
    ConnectionPool& pool, std::string_view org_id, absl::Time deadline, std::string_view name,
    std::optional<std::int64_t> version) const {
  CV_ASSIGN_OR_RETURN(std::optional<EnvelopeRecord> found,
                      FindEnvelope(pool, org_id, deadline, name, version));
  if (!found.has_value()) return NotFound("read envelope");
  return *std::move(found);
}

absl::StatusOr<PutCallResult> CredentialStore::Put(ConnectionPool& pool, std::string_view org_id,
                                                   absl::Time deadline, const PutCall& put) const {
  const NewCredentialVersion& content = put.content;
  CV_RETURN_IF_ERROR(ValidateOrgId(org_id));
  CV_RETURN_IF_ERROR(ValidateName(put.name));
  CV_RETURN_IF_ERROR(ValidateLabels(content.labels));
  CV_RETURN_IF_ERROR(ValidateText("created_by", content.created_by, kMaxAuditFieldBytes));
  CV_RETURN_IF_ERROR(ValidateText("request_id", content.request_id, kMaxAuditFieldBytes, true));
  if (put.version < 1) return absl::InvalidArgumentError("version: must be at least 1");
  if (put.expected_live_version.has_value() && *put.expected_live_version < 0) {
    return absl::InvalidArgumentError("expected_version: must not be negative");
  }
  if (content.envelope.empty()) return absl::InvalidArgumentError("envelope: must not be empty");
  if (put.org_public_key.empty()) {
    return absl::InvalidArgumentError("org_public_key: must not be empty");
  }
  if (content.max_versions.has_value() && *content.max_versions < 0) {
    return absl::InvalidArgumentError("max_versions: must not be negative");
  }
  if (content.idempotency_key.has_value()) {
    CV_RETURN_IF_ERROR(
        ValidateText("idempotency_key", *content.idempotency_key, kMaxIdempotencyKeyBytes));
    if (content.request_digest.size() != 32) {
      return absl::InvalidArgumentError("request_digest: must be 32 bytes");
    }
  }
  absl::StatusOr<std::vector<Row>> rows = pool.Call(
      kPut,
      {SqlParam::Text(org_id), SqlParam::Text(put.name), SqlParam::Int(put.version),
       SqlParam::Bytes(content.envelope), SqlParam::Int(content.org_key_version),
       SqlParam::Int(content.writer_key_version), SqlParam::Text(LabelsToJson(content.labels)),
       SqlParam::Text(content.created_by),
       content.expires_at.has_value() ? SqlParam::Micros(*content.expires_at) : SqlParam::Null(),
       content.max_versions.has_value() ? SqlParam::Int(*content.max_versions) : SqlParam::Null(),
       content.idempotency_key.has_value() ? SqlParam::Text(*content.idempotency_key)
                                           : SqlParam::Null(),
       content.idempotency_key.has_value() ? SqlParam::Bytes(content.request_digest)
                                           : SqlParam::Null(),
       SqlParam::Text(content.request_id),
       put.expected_live_version.has_value() ? SqlParam::Int(*put.expected_live_version)
                                             : SqlParam::Null(),
       SqlParam::Bytes(put.org_public_key)},
      deadline, ConnectionPool::IfConnectionLost::kFail);
  PutCallResult result;
  // The only unique key a Put can collide on is its idempotency key: a twin committed it
  // between this call's lookup and its insert (storage/idempotency_store.h).
  if (absl::IsAlreadyExists(rows.status())) {
    result.outcome = PutOutcome::kRaceLost;
    result.conflict = rows.status();
    return result;
  }
  if (!rows.ok()) return rows.status();
  if (rows->size() != 1) return absl::InternalError("credentials.put: expected one row");
  const Row& row = rows->front();
  CV_ASSIGN_OR_RETURN(const std::string outcome, row.Text(0));
  CV_ASSIGN_OR_RETURN(result.outcome, PutOutcomeNamed(outcome));
  if (!row.IsNull(1)) {
    CV_ASSIGN_OR_RETURN(result.version, row.Int(1));
  }
  if (!row.IsNull(2)) {
    CV_ASSIGN_OR_RETURN(const std::int64_t erased, row.Int(2));
    result.erased_version_count = static_cast<std::size_t>(erased);
  }
  if (!row.IsNull(3)) {
    CV_ASSIGN_OR_RETURN(const std::int64_t seq, row.Int(3));
    result.audit_seq = static_cast<std::uint64_t>(seq);
  }
  if (result.outcome == PutOutcome::kDone || result.outcome == PutOutcome::kReplay) {
    CV_ASSIGN_OR_RETURN(result.metadata, MetadataFromRow(row, kPutMetadataOffset));
  }
  return result;
}

absl::StatusOr<std::vector<EnvelopeToReseal>> CredentialStore::LockEnvelopesNotSealedTo(
    Transaction& tx, std::int32_t org_key_version,
    const std::optional<std::pair<std::string, std::int64_t>>& after, std::size_t limit) const {
  if (limit == 0 || limit > 10000) {
    return absl::InvalidArgumentError("re-seal batch size: must be 1..10000");
  }
  CV_ASSIGN_OR_RETURN(
      const std::vector<Row> rows,
      tx.Execute(kLockEnvelopesNotSealedTo,
                 {SqlParam::Text(tx.org_id()), SqlParam::Int(org_key_version),
                  SqlParam::Bool(after.has_value()), SqlParam::Text(after ? after->first : ""),
                  SqlParam::Int(after ? after->second : 0),
                  SqlParam::Int(static_cast<std::int64_t>(limit))}));
  std::vector<EnvelopeToReseal> out;
  out.reserve(rows.size());
  for (const Row& row : rows) {
    EnvelopeToReseal item;
    CV_ASSIGN_OR_RETURN(item.name, row.Text(0));
    CV_ASSIGN_OR_RETURN(item.version, row.Int(1));
    CV_ASSIGN_OR_RETURN(const std::int64_t key_version, row.Int(2));
    item.org_key_version = static_cast<std::int32_t>(key_version);
    CV_ASSIGN_OR_RETURN(item.envelope, row.Bytes(3));
    out.push_back(std::move(item));
  }
  return out;
}

absl::StatusOr<std::uint64_t> CredentialStore::CountEnvelopesNotSealedTo(
    Transaction& tx, std::int32_t org_key_version) const {
  CV_ASSIGN_OR_RETURN(const Row row,
                      tx.ExecuteOne(kCountEnvelopesNotSealedTo,
                                    {SqlParam::Text(tx.org_id()), SqlParam::Int(org_key_version)}));
  CV_ASSIGN_OR_RETURN(const std::int64_t count, row.Int(0));
  return static_cast<std::uint64_t>(count);
}

absl::Status CredentialStore::ReplaceEnvelope(Transaction& tx, std::string_view name,
                                              std::int64_t version,
                                              std::int32_t expected_org_key_version,
                                              const std::vector<std::uint8_t>& envelope,
                                              std::int32_t org_key_version,
                                              std::int32_t writer_key_version) const {
  CV_RETURN_IF_ERROR(ValidateName(name));
  if (envelope.empty()) return absl::InvalidArgumentError("envelope: must not be empty");
  const SqlParam org = SqlParam::Text(tx.org_id());
  const SqlParam name_param = SqlParam::Text(name);
  const SqlParam version_param = SqlParam::Int(version);
  CV_ASSIGN_OR_RETURN(
      const Row replaced,
      tx.ExecuteOne(kReplaceEnvelope,
                    {org, name_param, version_param, SqlParam::Bytes(envelope),
                     SqlParam::Int(expected_org_key_version), SqlParam::Int(org_key_version),
                     SqlParam::Int(writer_key_version)}));
  CV_ASSIGN_OR_RETURN(const bool updated, replaced.Bool(0));
  if (updated) return absl::OkStatus();
  absl::StatusOr<Row> row = tx.ExecuteOne(kEnvelopeKeyVersion, {org, name_param, version_param});
  if (absl::IsNotFound(row.status())) return NotFound("re-seal");
  if (!row.ok()) return row.status();
  return absl::AbortedError("re-seal: envelope is no longer sealed to org key version " +
                            std::to_string(expected_org_key_version));
}

}  // namespace credvault::storage

#include "storage/reseal_job_store.h"

#include <utility>

#include "common/status_macros.h"

namespace credvault::storage {
namespace {

#define CREDVAULT_JOB_COLUMNS                                                                    \
  "org_id, job_id, kind, from_version, to_version, state, items_done, items_total, "             \
  "cursor_key, cursor_version, created_by, (extract(epoch FROM started_at) * 1000000)::bigint, " \
  "(extract(epoch FROM updated_at) * 1000000)::bigint, "                                         \
  "(extract(epoch FROM ended_at) * 1000000)::bigint, last_error"

// Jobs are written only through database functions, which keep the state moving forward
// and the progress from shrinking (schema version 10).
constexpr Statement kInsert{
    "reseal_jobs.insert",
    "SELECT " CREDVAULT_JOB_COLUMNS
    " FROM credvault_create_reseal_job($1, $2, $3, $4::integer, $5::integer, $6::bigint, $7, "
    "$8, $9::bytea)"};
constexpr Statement kGet{"reseal_jobs.get", "SELECT " CREDVAULT_JOB_COLUMNS
                                            " FROM reseal_jobs WHERE org_id = $1 AND job_id = $2"};
constexpr Statement kFindByIdempotencyKey{
    "reseal_jobs.find_by_idempotency_key",
    "SELECT " CREDVAULT_JOB_COLUMNS " FROM reseal_jobs WHERE org_id = $1 AND idempotency_key = $2"};
constexpr Statement kGetOpen{"reseal_jobs.get_open",
                             "SELECT " CREDVAULT_JOB_COLUMNS
                             " FROM reseal_jobs WHERE org_id = $1 AND state IN "
                             "('PENDING', 'RUNNING')"};
constexpr Statement kLockOpen{"reseal_jobs.lock_open", "SELECT " CREDVAULT_JOB_COLUMNS
                                                       " FROM credvault_claim_reseal_job($1)"};
constexpr Statement kOrgsWithOpenJobs{
    "open_reseal_jobs.list", "SELECT org_id FROM open_reseal_jobs ORDER BY org_id LIMIT 10000"};
constexpr Statement kList{
    "reseal_jobs.list",
    "SELECT " CREDVAULT_JOB_COLUMNS
    " FROM reseal_jobs WHERE org_id = $1 AND ($2 = '' OR state = $2) "
    "AND (NOT $3::boolean OR (started_at, job_id) < ('epoch'::timestamptz + $4::bigint * "
    "interval '1 microsecond', $5::text COLLATE \"C\")) "
    "ORDER BY started_at DESC, job_id DESC LIMIT $6"};
constexpr Statement kUpdate{
    "reseal_jobs.update",
    "SELECT credvault_update_reseal_job($1, $2, $3, $4::bigint, $5::bigint, $6, $7::bigint, $8)"};

#undef CREDVAULT_JOB_COLUMNS

std::string_view KindName(ResealJobKind kind) {
  return kind == ResealJobKind::kOrgKey ? "ORG_KEY" : "ROOT_KEY";
}

std::string_view StateName(ResealJobState state) {
  switch (state) {
    case ResealJobState::kPending:
      return "PENDING";
    case ResealJobState::kRunning:
      return "RUNNING";
    case ResealJobState::kSucceeded:
      return "SUCCEEDED";
    case ResealJobState::kFailed:
      return "FAILED";
    case ResealJobState::kCancelled:
      return "CANCELLED";
  }
  return "PENDING";
}

absl::StatusOr<ResealJobState> ParseState(std::string_view state) {
  if (state == "PENDING") return ResealJobState::kPending;
  if (state == "RUNNING") return ResealJobState::kRunning;
  if (state == "SUCCEEDED") return ResealJobState::kSucceeded;
  if (state == "FAILED") return ResealJobState::kFailed;
  if (state == "CANCELLED") return ResealJobState::kCancelled;
  return absl::InternalError("reseal_jobs.state: unknown value");
}

absl::StatusOr<ResealJob> JobFromRow(const Row& row) {
  ResealJob job;
  CV_ASSIGN_OR_RETURN(job.org_id, row.Text(0));
  CV_ASSIGN_OR_RETURN(job.job_id, row.Text(1));
  CV_ASSIGN_OR_RETURN(const std::string kind, row.Text(2));
  if (kind == "ORG_KEY") {
    job.kind = ResealJobKind::kOrgKey;
  } else if (kind == "ROOT_KEY") {
    job.kind = ResealJobKind::kRootKey;
  } else {
    return absl::InternalError("reseal_jobs.kind: unknown value");
  }
  CV_ASSIGN_OR_RETURN(const std::int64_t from, row.Int(3));
  CV_ASSIGN_OR_RETURN(const std::int64_t to, row.Int(4));
  job.from_version = static_cast<std::int32_t>(from);
  job.to_version = static_cast<std::int32_t>(to);
  CV_ASSIGN_OR_RETURN(const std::string state, row.Text(5));
  CV_ASSIGN_OR_RETURN(job.state, ParseState(state));
  CV_ASSIGN_OR_RETURN(const std::int64_t done, row.Int(6));
  CV_ASSIGN_OR_RETURN(const std::int64_t total, row.Int(7));
  job.items_done = static_cast<std::uint64_t>(done);
  job.items_total = static_cast<std::uint64_t>(total);
  if (!row.IsNull(8)) {
    CV_ASSIGN_OR_RETURN(job.cursor_key, row.Text(8));
  }
  if (!row.IsNull(9)) {
    CV_ASSIGN_OR_RETURN(job.cursor_version, row.Int(9));
  }
  CV_ASSIGN_OR_RETURN(job.created_by, row.Text(10));
  CV_ASSIGN_OR_RETURN(job.started_at, row.Micros(11));
  CV_ASSIGN_OR_RETURN(job.updated_at, row.Micros(12));
  CV_ASSIGN_OR_RETURN(job.ended_at, row.OptionalMicros(13));
  CV_ASSIGN_OR_RETURN(job.last_error, row.Text(14));
  return job;
}

absl::StatusOr<std::optional<ResealJob>> OptionalJob(absl::StatusOr<std::vector<Row>> rows) {
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::nullopt;
  CV_ASSIGN_OR_RETURN(ResealJob job, JobFromRow(rows->front()));
  return job;
}

bool IsJobIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

}  // namespace

absl::StatusOr<ResealJob> ResealJobStore::Create(Transaction& tx, const NewResealJob& job) const {
  if (job.job_id.empty() || job.job_id.size() > 64) {
    return absl::InvalidArgumentError("job_id: must be 1-64 characters");
  }
  for (const char c : job.job_id) {
    if (!IsJobIdChar(c)) return absl::InvalidArgumentError("job_id: only [A-Za-z0-9_-]");
  }
  if (job.from_version < 1 || job.to_version <= job.from_version) {
    return absl::InvalidArgumentError("re-seal job: to_version must follow from_version");
  }
  if (job.idempotency_key.has_value() != job.request_hash.has_value()) {
    return absl::InvalidArgumentError("re-seal job: idempotency key and request hash go together");
  }
  CV_ASSIGN_OR_RETURN(const std::optional<ResealJob> open, GetOpen(tx));
  if (open) {
    return absl::FailedPreconditionError("re-seal job " + open->job_id + " is still " +
                                         std::string(StateName(open->state)));
  }
  CV_ASSIGN_OR_RETURN(
      const Row row,
      tx.ExecuteOne(
          kInsert,
          {SqlParam::Text(tx.org_id()), SqlParam::Text(job.job_id),
           SqlParam::Text(KindName(job.kind)), SqlParam::Int(job.from_version),
           SqlParam::Int(job.to_version), SqlParam::Int(static_cast<std::int64_t>(job.items_total)),
           SqlParam::Text(job.created_by),
           job.idempotency_key ? SqlParam::Text(*job.idempotency_key) : SqlParam::Null(),
           job.request_hash ? SqlParam::Bytes(*job.request_hash) : SqlParam::Null()}));
  return JobFromRow(row);
}

absl::StatusOr<ResealJob> ResealJobStore::Get(Transaction& tx, const std::string& job_id) const {
  absl::StatusOr<Row> row =
      tx.ExecuteOne(kGet, {SqlParam::Text(tx.org_id()), SqlParam::Text(job_id)});
  if (absl::IsNotFound(row.status())) return absl::NotFoundError("re-seal job not found");
  if (!row.ok()) return row.status();
  return JobFromRow(*row);
}

absl::StatusOr<std::optional<ResealJob>> ResealJobStore::FindByIdempotencyKey(
    Transaction& tx, const std::string& idempotency_key) const {
  return OptionalJob(tx.Execute(kFindByIdempotencyKey,
                                {SqlParam::Text(tx.org_id()), SqlParam::Text(idempotency_key)}));
}

absl::StatusOr<std::optional<ResealJob>> ResealJobStore::GetOpen(Transaction& tx) const {
  return OptionalJob(tx.Execute(kGetOpen, {SqlParam::Text(tx.org_id())}));
}

absl::StatusOr<std::optional<ResealJob>> ResealJobStore::LockOpen(Transaction& tx) const {
  return OptionalJob(tx.Execute(kLockOpen, {SqlParam::Text(tx.org_id())}));
}

absl::StatusOr<std::vector<std::string>> ResealJobStore::ListOrgsWithOpenJobs(
    Transaction& tx) const {
  CV_ASSIGN_OR_RETURN(const std::vector<Row> rows, tx.Execute(kOrgsWithOpenJobs, {}));
  std::vector<std::string> ids;
  ids.reserve(rows.size());
  for (const Row& row : rows) {
    CV_ASSIGN_OR_RETURN(std::string id, row.Text(0));
    ids.push_back(std::move(id));
  }
  return ids;
}

absl::StatusOr<ResealJobPage> ResealJobStore::List(Transaction& tx,
                                                   const ResealJobPageQuery& query) const {
  if (query.page_size == 0 || query.page_size > 500) {
    return absl::InvalidArgumentError("page_size: must be 1..500");
  }
  CV_ASSIGN_OR_RETURN(
      const std::vector<Row> rows,
      tx.Execute(kList, {SqlParam::Text(tx.org_id()),
                         SqlParam::Text(query.state ? StateName(*query.state) : ""),
                         SqlParam::Bool(query.after.has_value()),
                         SqlParam::Int(query.after ? absl::ToUnixMicros(query.after->first) : 0),
                         SqlParam::Text(query.after ? query.after->second : ""),
                         SqlParam::Int(static_cast<std::int64_t>(query.page_size) + 1)}));
  ResealJobPage page;
  for (const Row& row : rows) {
    if (page.jobs.size() == query.page_size) {
      page.more = true;
      break;
    }
    CV_ASSIGN_OR_RETURN(ResealJob job, JobFromRow(row));
    page.jobs.push_back(std::move(job));
  }
  return page;
}

absl::Status ResealJobStore::Update(Transaction& tx, const ResealJob& job) const {
  CV_ASSIGN_OR_RETURN(
      const Row row,
      tx.ExecuteOne(kUpdate, {SqlParam::Text(tx.org_id()), SqlParam::Text(job.job_id),
                              SqlParam::Text(StateName(job.state)),
                              SqlParam::Int(static_cast<std::int64_t>(job.items_done)),
                              SqlParam::Int(static_cast<std::int64_t>(job.items_total)),
                              job.cursor_key ? SqlParam::Text(*job.cursor_key) : SqlParam::Null(),
                              job.cursor_key ? SqlParam::Int(job.cursor_version) : SqlParam::Null(),
                              SqlParam::Text(job.last_error)}));
  CV_ASSIGN_OR_RETURN(const bool updated, row.Bool(0));
  if (!updated) return absl::NotFoundError("re-seal job not found");
  return absl::OkStatus();
}

}  // namespace credvault::storage

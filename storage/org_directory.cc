#include "storage/org_directory.h"

#include "common/status_macros.h"

namespace credvault::storage {
namespace {

constexpr Statement kListAfter{
    "org_directory.list_after",
    "SELECT org_id FROM org_directory WHERE org_id > $1 ORDER BY org_id LIMIT $2"};
constexpr Statement kCount{"org_directory.count", "SELECT count(*) FROM org_directory"};
constexpr Statement kCountThrough{"org_directory.count_through",
                                  "SELECT count(*) FROM org_directory WHERE org_id <= $1"};
// Each org is read under row-level security scoped to it, inside the function.
constexpr Statement kListOrgs{
    "org_directory.list_orgs",
    "SELECT org_id, state, created_micros, destroyed_micros, current_key_version "
    "FROM credvault_list_orgs($1, $2::integer)"};
constexpr std::size_t kMaxListOrgs = 1000;

absl::StatusOr<std::uint64_t> CountOf(absl::StatusOr<Row> row) {
  if (!row.ok()) return row.status();
  CV_ASSIGN_OR_RETURN(const std::int64_t count, row->Int(0));
  return static_cast<std::uint64_t>(count);
}

absl::StatusOr<OrgState> OrgStateFromText(const std::string& state) {
  if (state == "ACTIVE") return OrgState::kActive;
  if (state == "DESTROYED") return OrgState::kDestroyed;
  return absl::InternalError("org_directory.list_orgs: unknown org state");
}

}  // namespace

absl::StatusOr<std::vector<std::string>> OrgDirectory::ListAfter(Transaction& tx,
                                                                 const std::string& after,
                                                                 std::size_t limit) const {
  if (limit == 0 || limit > 10000) {
    return absl::InvalidArgumentError("org directory page size: must be 1..10000");
  }
  CV_ASSIGN_OR_RETURN(const std::vector<Row> rows,
                      tx.Execute(kListAfter, {SqlParam::Text(after),
                                              SqlParam::Int(static_cast<std::int64_t>(limit))}));
  std::vector<std::string> ids;
  ids.reserve(rows.size());
  for (const Row& row : rows) {
    CV_ASSIGN_OR_RETURN(std::string id, row.Text(0));
    ids.push_back(std::move(id));
  }
  return ids;
}

absl::StatusOr<std::uint64_t> OrgDirectory::Count(Transaction& tx) const {
  return CountOf(tx.ExecuteOne(kCount, {}));
}

absl::StatusOr<std::uint64_t> OrgDirectory::CountThrough(Transaction& tx,
                                                         const std::string& through) const {
  return CountOf(tx.ExecuteOne(kCountThrough, {SqlParam::Text(through)}));
}

absl::StatusOr<std::vector<OrgSummary>> OrgDirectory::ListOrgs(ConnectionPool& pool,
                                                               const std::string& after,
                                                               std::size_t limit,
                                                               absl::Time deadline) const {
  if (limit == 0 || limit > kMaxListOrgs) {
    return absl::InvalidArgumentError("org listing page size: must be 1..1000");
  }
  CV_ASSIGN_OR_RETURN(
      const std::vector<Row> rows,
      pool.Call(kListOrgs, {SqlParam::Text(after), SqlParam::Int(static_cast<std::int64_t>(limit))},
                deadline, ConnectionPool::IfConnectionLost::kRetry));
  std::vector<OrgSummary> orgs;
  orgs.reserve(rows.size());
  for (const Row& row : rows) {
    OrgSummary org;
    CV_ASSIGN_OR_RETURN(org.org_id, row.Text(0));
    CV_ASSIGN_OR_RETURN(const std::string state, row.Text(1));
    CV_ASSIGN_OR_RETURN(org.state, OrgStateFromText(state));
    CV_ASSIGN_OR_RETURN(org.created_at, row.Micros(2));
    CV_ASSIGN_OR_RETURN(org.destroyed_at, row.OptionalMicros(3));
    CV_ASSIGN_OR_RETURN(const std::int64_t key_version, row.Int(4));
    org.current_key_version = static_cast<std::int32_t>(key_version);
    orgs.push_back(std::move(org));
  }
  return orgs;
}

}  // namespace credvault::storage

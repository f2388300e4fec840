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

absl::StatusOr<std::uint64_t> CountOf(absl::StatusOr<Row> row) {
  if (!row.ok()) return row.status();
  CV_ASSIGN_OR_RETURN(const std::int64_t count, row->Int(0));
  return static_cast<std::uint64_t>(count);
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

}  // namespace credvault::storage

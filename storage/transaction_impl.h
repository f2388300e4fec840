#ifndef CREDVAULT_STORAGE_TRANSACTION_IMPL_H_
#define CREDVAULT_STORAGE_TRANSACTION_IMPL_H_

#include <cstddef>
#include <optional>
#include <pqxx/connection>
#include <pqxx/result>
#include <pqxx/transaction>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "storage/transaction.h"

namespace credvault::storage {

// libpq's form of `params` (NUL-terminated strings, nullptr for NULL); INVALID_ARGUMENT
// when a value holds a NUL, which libpq would silently cut there. The pointers borrow
// from `params`.
absl::StatusOr<std::vector<const char*>> ParameterValues(const Statement& statement,
                                                         absl::Span<const SqlParam> params);
// The rows of a result, in text format.
std::vector<Row> RowsOf(const pqxx::result& result);

// The libpqxx side of a Transaction. Every libpqxx exception is caught here and turned
// into a status; the first failure is remembered, so that the runner can tell whether the
// transaction is worth another attempt and whether the connection must be dropped.
class Transaction::Impl {
 public:
  Impl(pqxx::connection& connection, std::string org_id)
      : connection_(connection), org_id_(std::move(org_id)) {}

  // BEGIN, then the org setting (transaction-local, bound as a parameter).
  // Opens the transaction and sets its org; `statement_timeout`, when given, overrides the
  // session's for this transaction only.
  absl::Status Begin(std::optional<absl::Duration> statement_timeout = std::nullopt);
  absl::Status Commit();
  void Rollback() noexcept;

  absl::StatusOr<pqxx::result> Run(const Statement& statement, absl::Span<const SqlParam> params);

  const std::string& org_id() const { return org_id_; }
  bool retryable() const { return retryable_; }
  bool connection_broken() const { return connection_broken_; }

 private:
  absl::Status Fail(std::string_view what, const std::exception& e);

  pqxx::connection& connection_;
  const std::string org_id_;
  std::optional<pqxx::work> work_;
  absl::Status failure_;
  bool retryable_ = false;
  bool connection_broken_ = false;
};

}  // namespace credvault::storage

#endif  // CREDVAULT_STORAGE_TRANSACTION_IMPL_H_

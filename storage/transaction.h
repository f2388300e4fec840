#ifndef CREDVAULT_STORAGE_TRANSACTION_H_
#define CREDVAULT_STORAGE_TRANSACTION_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace credvault::storage {

// A named SQL statement with $1, $2, ... placeholders. Statements are constants; values
// are never spliced into the text. The name appears in error messages instead of the SQL.
struct Statement {
  std::string_view name;
  std::string_view sql;
};

// One statement parameter, sent out of band in PostgreSQL's text format.
class SqlParam {
 public:
  static SqlParam Null() { return SqlParam(std::nullopt); }
  static SqlParam Text(std::string_view value) { return SqlParam(std::string(value)); }
  static SqlParam Int(std::int64_t value) { return SqlParam(std::to_string(value)); }
  static SqlParam Bool(bool value) { return SqlParam(std::string(value ? "t" : "f")); }
  // bytea; use it with a `$n::bytea` placeholder.
  static SqlParam Bytes(absl::Span<const std::uint8_t> value);
  // A one-dimensional array literal, for a `$n::text[]` or `$n::bigint[]` placeholder.
  static SqlParam TextArray(absl::Span<const std::string> values);
  static SqlParam IntArray(absl::Span<const std::int64_t> values);
  // Microseconds since the Unix epoch; turn it into a timestamptz in SQL with
  // `'epoch'::timestamptz + $n::bigint * interval '1 microsecond'` (exact, unlike floats).
  static SqlParam Micros(absl::Time value) { return Int(absl::ToUnixMicros(value)); }

  const std::optional<std::string>& value() const { return value_; }

 private:
  explicit SqlParam(std::optional<std::string> value) : value_(std::move(value)) {}
  std::optional<std::string> value_;
};

// One result row, in text format. Accessors fail with INTERNAL on a type mismatch (a bug
// in a statement, not bad input) and never include the value in the message.
class Row {
 public:
  explicit Row(std::vector<std::optional<std::string>> fields) : fields_(std::move(fields)) {}

  std::size_t size() const { return fields_.size(); }
  bool IsNull(std::size_t column) const;
  absl::StatusOr<std::string> Text(std::size_t column) const;
  absl::StatusOr<std::int64_t> Int(std::size_t column) const;
  absl::StatusOr<bool> Bool(std::size_t column) const;
  // A bytea column (hex output format).
  absl::StatusOr<std::vector<std::uint8_t>> Bytes(std::size_t column) const;
  // A bigint column of microseconds since the Unix epoch, e.g.
  // `(extract(epoch FROM t) * 1000000)::bigint`.
  absl::StatusOr<absl::Time> Micros(std::size_t column) const;
  absl::StatusOr<std::optional<absl::Time>> OptionalMicros(std::size_t column) const;

 private:
  absl::StatusOr<std::string_view> NonNull(std::size_t column) const;
  std::vector<std::optional<std::string>> fields_;
};

// An open transaction, made by ConnectionPool::Run. When it is scoped to an org, the
// row-level security setting credvault.org_id holds that org for its whole life.
// Not thread-safe; it lives only for the duration of the function given to Run.
class Transaction {
 public:
  class Impl;

  explicit Transaction(Impl& impl) : impl_(impl) {}
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // The org of this transaction; empty for a transaction without an org.
  const std::string& org_id() const;

  // Runs one statement. Database errors are mapped to status codes (see pg_error.h);
  // after the first error the transaction is aborted and every later call fails the same.
  absl::StatusOr<std::vector<Row>> Execute(const Statement& statement,
                                           absl::Span<const SqlParam> params);
  // As Execute, but exactly one row is expected: NOT_FOUND for none, INTERNAL for more.
  absl::StatusOr<Row> ExecuteOne(const Statement& statement, absl::Span<const SqlParam> params);
  // As Execute, returning the number of rows affected (UPDATE / DELETE / INSERT).
  absl::StatusOr<std::size_t> ExecuteCount(const Statement& statement,
                                           absl::Span<const SqlParam> params);

 private:
  Impl& impl_;
};

}  // namespace credvault::storage

#endif  // CREDVAULT_STORAGE_TRANSACTION_H_

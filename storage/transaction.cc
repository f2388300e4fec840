#include "storage/transaction.h"

#include <cerrno>
#include <cstdlib>
#include <exception>
#include <pqxx/prepared_statement>

#include "storage/pg_error.h"
#include "storage/transaction_impl.h"

namespace credvault::storage {
namespace {

constexpr Statement kSetStatementTimeout{"transaction.set_statement_timeout",
                                         "SELECT set_config('statement_timeout', $1, true)"};
constexpr Statement kSetOrg{"transaction.set_org",
                            "SELECT set_config('credvault.org_id', $1, true)"};

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::Status ColumnError(std::size_t column, std::string_view problem) {
  return absl::InternalError("result column " + std::to_string(column) + ": " +
                             std::string(problem));
}

}  // namespace

SqlParam SqlParam::Bytes(absl::Span<const std::uint8_t> value) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text = "\\x";
  text.reserve(2 + 2 * value.size());
  for (const std::uint8_t b : value) {
    text.push_back(kHex[b >> 4]);
    text.push_back(kHex[b & 0xF]);
  }
  return SqlParam(std::move(text));
}

SqlParam SqlParam::TextArray(absl::Span<const std::string> values) {
  // Every element quoted, with `"` and `\` escaped: no element can end its quotes early.
  std::string text = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) text.push_back(',');
    text.push_back('"');
    for (const char c : values[i]) {
      if (c == '"' || c == '\\') text.push_back('\\');
      text.push_back(c);
    }
    text.push_back('"');
  }
  text.push_back('}');
  return SqlParam(std::move(text));
}

SqlParam SqlParam::IntArray(absl::Span<const std::int64_t> values) {
  std::string text = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) text.push_back(',');
    text += std::to_string(values[i]);
  }
  text.push_back('}');
  return SqlParam(std::move(text));
}

bool Row::IsNull(std::size_t column) const {
  return column >= fields_.size() || !fields_[column].has_value();
}

absl::StatusOr<std::string_view> Row::NonNull(std::size_t column) const {
  if (column >= fields_.size()) return ColumnError(column, "out of range");
  if (!fields_[column].has_value()) return ColumnError(column, "unexpected NULL");
  return std::string_view(*fields_[column]);
}

absl::StatusOr<std::string> Row::Text(std::size_t column) const {
  absl::StatusOr<std::string_view> value = NonNull(column);
  if (!value.ok()) return value.status();
  return std::string(*value);
}

absl::StatusOr<std::int64_t> Row::Int(std::size_t column) const {
  absl::StatusOr<std::string_view> value = NonNull(column);
  if (!value.ok()) return value.status();
  const std::string text(*value);
  char* end = nullptr;
  errno = 0;
  const long long parsed = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || errno != 0 || end != text.c_str() + text.size()) {
    return ColumnError(column, "not an integer");
  }
  return static_cast<std::int64_t>(parsed);
}

absl::StatusOr<bool> Row::Bool(std::size_t column) const {
  absl::StatusOr<std::string_view> value = NonNull(column);
  if (!value.ok()) return value.status();
  if (*value == "t") return true;
  if (*value == "f") return false;
  return ColumnError(column, "not a boolean");
}

absl::StatusOr<std::vector<std::uint8_t>> Row::Bytes(std::size_t column) const {
  absl::StatusOr<std::string_view> value = NonNull(column);
  if (!value.ok()) return value.status();
  const std::string_view text = *value;
  if (text.size() < 2 || text.substr(0, 2) != "\\x" || text.size() % 2 != 0) {
    return ColumnError(column, "not a bytea in hex format");
  }
  std::vector<std::uint8_t> bytes;
  bytes.reserve((text.size() - 2) / 2);
  for (std::size_t i = 2; i < text.size(); i += 2) {
    const int high = HexValue(text[i]);
    const int low = HexValue(text[i + 1]);
    if (high < 0 || low < 0) return ColumnError(column, "not a bytea in hex format");
    bytes.push_back(static_cast<std::uint8_t>(high << 4 | low));
  }
  return bytes;
}

absl::StatusOr<absl::Time> Row::Micros(std::size_t column) const {
  absl::StatusOr<std::int64_t> micros = Int(column);
  if (!micros.ok()) return micros.status();
  return absl::FromUnixMicros(*micros);
}

absl::StatusOr<std::optional<absl::Time>> Row::OptionalMicros(std::size_t column) const {
  if (column < fields_.size() && !fields_[column].has_value()) return std::nullopt;
  absl::StatusOr<absl::Time> time = Micros(column);
  if (!time.ok()) return time.status();
  return *time;
}

const std::string& Transaction::org_id() const { return impl_.org_id(); }

std::vector<Row> RowsOf(const pqxx::result& result) {
  std::vector<Row> rows;
  rows.reserve(result.size());
  for (const pqxx::row& row : result) {
    std::vector<std::optional<std::string>> fields;
    fields.reserve(row.size());
    for (const pqxx::field& field : row) {
      if (field.is_null()) {
        fields.emplace_back(std::nullopt);
      } else {
        fields.emplace_back(std::string(field.c_str(), field.size()));
      }
    }
    rows.emplace_back(std::move(fields));
  }
  return rows;
}

absl::StatusOr<std::vector<const char*>> ParameterValues(const Statement& statement,
                                                         absl::Span<const SqlParam> params) {
  // Validation keeps NUL out of every text value; this check keeps one from silently
  // truncating a value if it ever got through.
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const SqlParam& param : params) {
    if (param.value().has_value() && param.value()->find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(std::string(statement.name) +
                                        ": a parameter contains a NUL character");
    }
    values.push_back(param.value().has_value() ? param.value()->c_str() : nullptr);
  }
  return values;
}

absl::StatusOr<std::vector<Row>> Transaction::Execute(const Statement& statement,
                                                      absl::Span<const SqlParam> params) {
  absl::StatusOr<pqxx::result> result = impl_.Run(statement, params);
  if (!result.ok()) return result.status();
  return RowsOf(*result);
}

absl::StatusOr<Row> Transaction::ExecuteOne(const Statement& statement,
                                            absl::Span<const SqlParam> params) {
  absl::StatusOr<std::vector<Row>> rows = Execute(statement, params);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return absl::NotFoundError(std::string(statement.name) + ": no row");
  if (rows->size() > 1) {
    return absl::InternalError(std::string(statement.name) + ": more than one row");
  }
  return std::move(rows->front());
}

absl::StatusOr<std::size_t> Transaction::ExecuteCount(const Statement& statement,
                                                      absl::Span<const SqlParam> params) {
  absl::StatusOr<pqxx::result> result = impl_.Run(statement, params);
  if (!result.ok()) return result.status();
  return static_cast<std::size_t>(result->affected_rows());
}

absl::Status Transaction::Impl::Fail(std::string_view what, const std::exception& e) {
  PgFailure failure = ClassifyPgException(what, e);
  retryable_ = failure.retryable;
  connection_broken_ = failure.connection_broken || !connection_.is_open();
  failure_ = failure.status;
  return failure_;
}

absl::Status Transaction::Impl::Begin(std::optional<absl::Duration> statement_timeout) {
  try {
    work_.emplace(connection_);
  } catch (const std::exception& e) {
    return Fail("transaction.begin", e);
  }
  if (statement_timeout.has_value()) {
    const SqlParam timeout = SqlParam::Text(
        std::to_string(std::max<std::int64_t>(1, absl::ToInt64Milliseconds(*statement_timeout))) +
        "ms");
    if (absl::Status status = Run(kSetStatementTimeout, {&timeout, 1}).status(); !status.ok()) {
      return status;
    }
  }
  if (org_id_.empty()) return absl::OkStatus();
  const SqlParam org = SqlParam::Text(org_id_);
  return Run(kSetOrg, {&org, 1}).status();
}

absl::Status Transaction::Impl::Commit() {
  if (!failure_.ok()) return failure_;
  try {
    work_->commit();
  } catch (const std::exception& e) {
    return Fail("transaction.commit", e);
  }
  return absl::OkStatus();
}

void Transaction::Impl::Rollback() noexcept {
  if (!work_.has_value()) return;
  try {
    work_->abort();
  } catch (const std::exception&) {
    // A rollback fails only when the connection is gone, which rolls back as well.
    connection_broken_ = true;
  }
  if (!connection_.is_open()) connection_broken_ = true;
}

absl::StatusOr<pqxx::result> Transaction::Impl::Run(const Statement& statement,
                                                    absl::Span<const SqlParam> params) {
  if (!failure_.ok()) return failure_;
  if (!work_.has_value()) {
    return absl::FailedPreconditionError(std::string(statement.name) + ": transaction not started");
  }
  absl::StatusOr<std::vector<const char*>> values = ParameterValues(statement, params);
  if (!values.ok()) return values.status();
  try {
    return work_->exec_params(std::string(statement.sql),
                              pqxx::prepare::make_dynamic_params(values->begin(), values->end()));
  } catch (const std::exception& e) {
    return Fail(statement.name, e);
  }
}

}  // namespace credvault::storage

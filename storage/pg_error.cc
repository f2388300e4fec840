#include "storage/pg_error.h"

#include <pqxx/except>
#include <string>

namespace credvault::storage {
namespace {

// The first line of a server message: PostgreSQL puts row values in DETAIL lines.
std::string PrimaryLine(const char* message) {
  std::string line(message);
  if (const auto end = line.find('\n'); end != std::string::npos) line.resize(end);
  if (line.rfind("ERROR:  ", 0) == 0) line.erase(0, 8);
  return line;
}

PgFailure Failure(absl::StatusCode code, std::string_view what, std::string_view description,
                  bool retryable = false, bool broken = false) {
  return PgFailure{absl::Status(code, std::string(what) + ": " + std::string(description)),
                   retryable, broken};
}

// libpqxx 6 raises a specific class for many SQLSTATEs but then leaves sqlstate() empty,
// so the class decides first and the SQLSTATE (set for everything else) second.
std::string SqlState(const pqxx::sql_error& e) {
  if (!e.sqlstate().empty()) return e.sqlstate();
  if (dynamic_cast<const pqxx::unique_violation*>(&e) != nullptr) return "23505";
  if (dynamic_cast<const pqxx::foreign_key_violation*>(&e) != nullptr) return "23503";
  if (dynamic_cast<const pqxx::check_violation*>(&e) != nullptr) return "23514";
  if (dynamic_cast<const pqxx::not_null_violation*>(&e) != nullptr) return "23502";
  if (dynamic_cast<const pqxx::restrict_violation*>(&e) != nullptr) return "23001";
  if (dynamic_cast<const pqxx::integrity_constraint_violation*>(&e) != nullptr) return "23000";
  if (dynamic_cast<const pqxx::data_exception*>(&e) != nullptr) return "22000";
  if (dynamic_cast<const pqxx::insufficient_privilege*>(&e) != nullptr) return "42501";
  if (dynamic_cast<const pqxx::syntax_error*>(&e) != nullptr) return "42601";
  if (dynamic_cast<const pqxx::insufficient_resources*>(&e) != nullptr) return "53000";
  if (dynamic_cast<const pqxx::plpgsql_raise*>(&e) != nullptr) return "P0001";
  if (dynamic_cast<const pqxx::plpgsql_error*>(&e) != nullptr) return "P0000";
  return "XX000";
}

PgFailure FromSqlError(std::string_view what, const pqxx::sql_error& e) {
  const std::string state = SqlState(e);
  const std::string klass = state.substr(0, 2);
  // Class 22 (data exception) messages may quote the offending value; leave them out.
  const std::string detail =
      " (SQLSTATE " + state + ")" + (klass == "22" ? std::string() : ": " + PrimaryLine(e.what()));
  using C = absl::StatusCode;
  if (state == "40001" || state == "40P01") {
    return Failure(C::kAborted, what, "transaction conflict" + detail, /*retryable=*/true);
  }
  if (state == "55P03") return Failure(C::kAborted, what, "lock timeout" + detail, true);
  if (state == "23505" || state == "23P01") {
    return Failure(C::kAlreadyExists, what, "conflicting row exists" + detail);
  }
  if (state == "23503") {
    return Failure(C::kFailedPrecondition, what, "referenced row missing" + detail);
  }
  if (klass == "23") return Failure(C::kInvalidArgument, what, "constraint violated" + detail);
  if (klass == "22") return Failure(C::kInvalidArgument, what, "invalid data" + detail);
  if (state == "42501") {
    return Failure(C::kPermissionDenied, what, "database privilege missing" + detail);
  }
  if (state == "57014") return Failure(C::kDeadlineExceeded, what, "statement timeout" + detail);
  // 25006: a write reached a server in recovery (a standby, or a primary demoted by a
  // failover). The connection is dropped so that the next one finds the writable host
  // (target_session_attrs=read-write, docs/operations.md, "Database failover").
  if (state == "25006") {
    return Failure(C::kUnavailable, what, "database is read-only" + detail, true, true);
  }
  if (klass == "08" || klass == "53" || state == "57P01" || state == "57P02" || state == "57P03") {
    return Failure(C::kUnavailable, what, "database unavailable" + detail, true, true);
  }
  if (state == "P0001") return Failure(C::kFailedPrecondition, what, "refused" + detail);
  return Failure(C::kInternal, what, "database error" + detail);
}

}  // namespace

PgFailure ClassifyPgException(std::string_view what, const std::exception& e) {
  using C = absl::StatusCode;
  // Order matters: the more specific libpqxx classes derive from the general ones.
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr ||
      dynamic_cast<const pqxx::statement_completion_unknown*>(&e) != nullptr) {
    return Failure(C::kUnavailable, what, "connection lost during commit; the outcome is unknown",
                   false, true);
  }
  // Serialization failures and deadlocks (pqxx::transaction_rollback) are not sql_errors.
  if (dynamic_cast<const pqxx::transaction_rollback*>(&e) != nullptr) {
    return Failure(
        C::kAborted, what,
        "transaction conflict (serialization failure or deadlock): " + PrimaryLine(e.what()),
        /*retryable=*/true);
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return Failure(C::kUnavailable, what,
                   "database connection lost or refused: " + PrimaryLine(e.what()), true, true);
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e); sql != nullptr) {
    return FromSqlError(what, *sql);
  }
  if (dynamic_cast<const pqxx::conversion_error*>(&e) != nullptr ||
      dynamic_cast<const pqxx::range_error*>(&e) != nullptr) {
    // Conversion messages can quote the value being converted.
    return Failure(C::kInternal, what, "unexpected result shape");
  }
  return Failure(C::kInternal, what, std::string("unexpected failure: ") + e.what());
}

}  // namespace credvault::storage

#include "tests/e2e/support/writer_login.h"

#include <exception>

#include "gtest/gtest.h"

namespace credvault::e2e {

std::ostream& operator<<(std::ostream& out, const SqlAttempt& attempt) {
  if (attempt.accepted) return out << "accepted";
  return out << "refused, SQLSTATE " << attempt.sqlstate << ": " << attempt.message;
}

WriterLogin::WriterLogin(const YAML::Node& write_only_config, const Stack& stack) {
  const YAML::Node database = write_only_config["database"];
  const YAML::Node writer = database["writer"];
  role_ = writer["user"].as<std::string>();
  conninfo_ = "host=" + database["host"].as<std::string>() +
              " port=" + database["port"].as<std::string>() +
              " dbname=" + database["dbname"].as<std::string>() +
              " sslmode=" + database["sslmode"].as<std::string>() + " user=" + role_ +
              " password=" + stack.secrets.at(writer["password_env"].as<std::string>());
}

pqxx::result WriterLogin::Query(const std::string& org, const std::string& sql) const {
  pqxx::result rows;
  const SqlAttempt attempt = Run(org, sql, /*commit=*/false, &rows);
  EXPECT_TRUE(attempt.accepted) << sql << ": " << attempt;
  return rows;
}

SqlAttempt WriterLogin::Run(const std::string& org, const std::string& sql, bool commit,
                            pqxx::result* rows) const {
  SqlAttempt attempt;
  try {
    pqxx::connection connection(conninfo_);
    pqxx::work tx(connection);
    tx.exec_params("SELECT set_config('credvault.org_id', $1, true)", org);
    pqxx::result result = tx.exec(sql);
    if (rows != nullptr) *rows = result;
    if (commit) {
      tx.commit();
    } else {
      tx.abort();
    }
    attempt.accepted = true;
  } catch (const pqxx::sql_error& e) {
    attempt.sqlstate = e.sqlstate();
    // libpqxx 6.4 raises insufficient_privilege for SQLSTATE 42501 and for nothing else,
    // but leaves its sqlstate() empty.
    if (attempt.sqlstate.empty() &&
        dynamic_cast<const pqxx::insufficient_privilege*>(&e) != nullptr) {
      attempt.sqlstate = kInsufficientPrivilege;
    }
    attempt.message = e.what();
  } catch (const std::exception& e) {
    // libpqxx 6 raises some classes (serialization failures) outside sql_error.
    attempt.message = e.what();
  }
  return attempt;
}

}  // namespace credvault::e2e

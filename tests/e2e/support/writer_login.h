// The write tier's database login (credvault_writer), connected to directly with libpqxx:
// what an attacker inside the write tier holds (docs/security-model.md, compromise table),
// to run raw SQL as that role and see what the database refuses.
#ifndef CREDVAULT_TESTS_E2E_SUPPORT_WRITER_LOGIN_H_
#define CREDVAULT_TESTS_E2E_SUPPORT_WRITER_LOGIN_H_

#include <yaml-cpp/yaml.h>

#include <ostream>
#include <pqxx/pqxx>
#include <string>

#include "tests/e2e/support/e2e_support.h"

namespace credvault::e2e {

// SQLSTATE of a statement refused for lack of a privilege.
inline constexpr char kInsufficientPrivilege[] = "42501";

struct SqlAttempt {
  bool accepted = false;
  std::string sqlstate;  // empty when accepted, or when the error carried none
  std::string message;
};

std::ostream& operator<<(std::ostream& out, const SqlAttempt& attempt);

class WriterLogin {
 public:
  // The writer role exactly as `write_only_config` (a credvaultd configuration of the write
  // tier) names it, with its password from the stack's secrets.env.
  WriterLogin(const YAML::Node& write_only_config, const Stack& stack);

  const std::string& role() const { return role_; }

  // Runs `sql` in one transaction scoped to `org` (as the storage layer scopes its own),
  // then rolls it back: an attack that the database accepted changes nothing here, and
  // the caller reports it.
  SqlAttempt Attempt(const std::string& org, const std::string& sql) const {
    return Run(org, sql, /*commit=*/false, nullptr);
  }
  // As Attempt, but commits what was accepted and returns the rows.
  SqlAttempt Commit(const std::string& org, const std::string& sql,
                    pqxx::result* rows = nullptr) const {
    return Run(org, sql, /*commit=*/true, rows);
  }
  // Rows of a query that must succeed (a control); fails the test otherwise.
  pqxx::result Query(const std::string& org, const std::string& sql) const;

 private:
  SqlAttempt Run(const std::string& org, const std::string& sql, bool commit,
                 pqxx::result* rows) const;

  std::string role_;
  std::string conninfo_;
};

}  // namespace credvault::e2e

#endif  // CREDVAULT_TESTS_E2E_SUPPORT_WRITER_LOGIN_H_

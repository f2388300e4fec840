// The stack's database as its PostgreSQL superuser, with psql and pg_dump over the
// cluster's socket: what an operator (or an insider with the superuser's login) sees, with
// row-level security not applying (docs/security-model.md).
#ifndef CREDVAULT_TESTS_E2E_SUPPORT_SUPERUSER_SQL_H_
#define CREDVAULT_TESTS_E2E_SUPPORT_SUPERUSER_SQL_H_

#include <cstddef>
#include <string>
#include <vector>

#include "tests/e2e/support/e2e_support.h"

namespace credvault::e2e {

// The superuser of the stack's cluster (CREDVAULT_PG_SUPERUSER of stack.env, else postgres).
std::string Superuser(const Stack& stack);

// psql as the superuser on the stack's credvault database, quiet, without ~/.psqlrc and
// stopping at the first error, ready for more arguments (e.g. " -tAc " + ShellQuote(sql)).
std::string SuperuserPsql(const Stack& stack);

// pg_dump of the stack's credvault database as the superuser, ready for more arguments
// (options go before the database name, which comes last: " -f FILE credvault").
std::string SuperuserPgDump(const Stack& stack);

// The result of one statement, unaligned and without headers, trailing newlines and spaces
// trimmed; "" and a test failure if psql fails.
std::string SuperuserQuery(const Stack& stack, const std::string& sql);

// The rows of one query, fields split at '|'; a test failure for a failed query or a row
// that does not have `columns` fields (such a row is left out).
std::vector<std::vector<std::string>> SuperuserRows(const Stack& stack, const std::string& sql,
                                                    std::size_t columns);

// `value` as an SQL string literal.
std::string SqlQuote(const std::string& value);

}  // namespace credvault::e2e

#endif  // CREDVAULT_TESTS_E2E_SUPPORT_SUPERUSER_SQL_H_

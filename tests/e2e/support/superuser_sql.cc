#include "tests/e2e/support/superuser_sql.h"

#include <sstream>

#include "gtest/gtest.h"

namespace credvault::e2e {
namespace {

std::string ConnectionOptions(const Stack& stack) {
  return " -h " + ShellQuote(stack.env.at("CREDVAULT_PG_SOCKET_DIR")) + " -p " +
         stack.env.at("CREDVAULT_PG_PORT") + " -U " + ShellQuote(Superuser(stack));
}

}  // namespace

std::string Superuser(const Stack& stack) {
  const auto it = stack.env.find("CREDVAULT_PG_SUPERUSER");
  return it != stack.env.end() && !it->second.empty() ? it->second : std::string("postgres");
}

std::string SuperuserPsql(const Stack& stack) {
  return ShellQuote(stack.env.at("CREDVAULT_PG_BIN") + "/psql") + " -X -q -v ON_ERROR_STOP=1" +
         ConnectionOptions(stack) + " -d credvault";
}

std::string SuperuserPgDump(const Stack& stack) {
  return ShellQuote(stack.env.at("CREDVAULT_PG_BIN") + "/pg_dump") + ConnectionOptions(stack);
}

std::string SuperuserQuery(const Stack& stack, const std::string& sql) {
  const CommandResult result = RunShell(SuperuserPsql(stack) + " -tAc " + ShellQuote(sql));
  if (result.exit_code != 0) {
    ADD_FAILURE() << "psql: " << sql << "\n" << result.output;
    return "";
  }
  std::string out = result.output;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::vector<std::vector<std::string>> SuperuserRows(const Stack& stack, const std::string& sql,
                                                    std::size_t columns) {
  const CommandResult result = RunShell(SuperuserPsql(stack) + " -tA -F '|' -c " + ShellQuote(sql));
  EXPECT_EQ(result.exit_code, 0) << sql << "\n" << result.output;
  std::vector<std::vector<std::string>> rows;
  std::istringstream lines(result.output);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    std::vector<std::string> fields;
    std::size_t start = 0;
    for (std::size_t bar = line.find('|'); bar != std::string::npos; bar = line.find('|', start)) {
      fields.push_back(line.substr(start, bar - start));
      start = bar + 1;
    }
    fields.push_back(line.substr(start));
    EXPECT_EQ(fields.size(), columns) << "unexpected psql line: " << line;
    if (fields.size() == columns) rows.push_back(std::move(fields));
  }
  return rows;
}

std::string SqlQuote(const std::string& value) {
  std::string quoted = "'";
  for (const char c : value) {
    quoted += c;
    if (c == '\'') quoted += '\'';
  }
  return quoted + "'";
}

}  // namespace credvault::e2e

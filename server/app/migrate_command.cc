#include "server/app/migrate_command.h"

#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "storage/migrator.h"

namespace credvault::server {
namespace {

constexpr std::string_view kUsage = R"(usage: credvaultd migrate [flags]

Applies pending schema migrations (under an advisory lock, idempotent) and creates the
application database roles with their grants, CONNECT on the database included (so that
CONNECT may be revoked from PUBLIC).

flags:
  --database-url=URL     owner/migrator connection (libpq URL or conninfo); default: the
                         environment variable CREDVAULT_MIGRATE_DATABASE_URL. Prefer the
                         variable when the URL holds a password.
  --role-prefix=PREFIX   roles are PREFIX_writer, PREFIX_decryptor, PREFIX_admin
                         (default: credvault)
  --target-version=N     stop at schema version N instead of the newest
  --help                 show this text

Role passwords come only from the environment (a role without one is created NOLOGIN):
  CREDVAULT_DB_WRITER_PASSWORD, CREDVAULT_DB_DECRYPTOR_PASSWORD, CREDVAULT_DB_ADMIN_PASSWORD
)";

std::optional<std::string> Env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

bool ParseFlag(std::string_view arg, std::string_view flag, std::string& value) {
  if (arg.size() <= flag.size() + 3 || arg.substr(0, 2) != "--" ||
      arg.substr(2, flag.size()) != flag || arg[2 + flag.size()] != '=') {
    return false;
  }
  value = std::string(arg.substr(flag.size() + 3));
  return true;
}

int UsageError(std::string_view message) {
  std::cerr << "credvaultd migrate: " << message << "\n\n" << kUsage;
  return 2;
}

}  // namespace

int RunMigrateCommand(const std::vector<std::string_view>& args) {
  credvault::storage::MigratorOptions options;
  std::string value;
  for (const std::string_view arg : args) {
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (ParseFlag(arg, "database-url", value)) {
      options.database_url = value;
    } else if (ParseFlag(arg, "role-prefix", value)) {
      options.role_prefix = value;
    } else if (ParseFlag(arg, "target-version", value)) {
      char* end = nullptr;
      const long version = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || version < 0 || version > 1000000) {
        return UsageError("--target-version: not a schema version");
      }
      options.target_version = static_cast<int>(version);
    } else {
      return UsageError("migrate: unknown argument '" + std::string(arg) + "'");
    }
  }
  if (options.database_url.empty()) {
    options.database_url = Env("CREDVAULT_MIGRATE_DATABASE_URL").value_or("");
  }
  if (options.database_url.empty()) {
    return UsageError("migrate: --database-url or CREDVAULT_MIGRATE_DATABASE_URL is required");
  }
  options.writer_password = Env("CREDVAULT_DB_WRITER_PASSWORD");
  options.decryptor_password = Env("CREDVAULT_DB_DECRYPTOR_PASSWORD");
  options.admin_password = Env("CREDVAULT_DB_ADMIN_PASSWORD");

  const absl::StatusOr<credvault::storage::MigrationReport> report =
      credvault::storage::Migrate(options);
  if (!report.ok()) {
    std::cerr << "credvaultd migrate: " << report.status().ToString() << "\n";
    return 1;
  }
  if (const absl::Status granted =
          credvault::storage::GrantConnect(options.database_url, options.role_prefix);
      !granted.ok()) {
    std::cerr << "credvaultd migrate: " << granted.ToString() << "\n";
    return 1;
  }
  std::cout << "credvaultd migrate: schema version " << report->version_before << " -> "
            << report->version_after;
  if (report->applied.empty()) {
    std::cout << " (nothing to do)";
  } else {
    std::cout << " (applied";
    for (const int version : report->applied) std::cout << " " << version;
    std::cout << ")";
  }
  std::cout << "\n";
  return 0;
}

}  // namespace credvault::server

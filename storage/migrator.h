#ifndef CREDVAULT_STORAGE_MIGRATOR_H_
#define CREDVAULT_STORAGE_MIGRATOR_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "storage/migrations.h"

namespace credvault::storage {

// The application roles (docs/architecture.md, "The two tiers"; docs/operations.md,
// "1. Prepare the database"). Roles are cluster-wide, so their names derive
// from a configurable prefix: deployments (and tests) sharing a cluster do not collide.
struct RoleNames {
  std::string writer;
  std::string decryptor;
  std::string admin;

  // "<prefix>_writer", "<prefix>_decryptor", "<prefix>_admin".
  static RoleNames FromPrefix(const std::string& prefix);
};

struct MigratorOptions {
  // Connection of the owner role: it owns every object the migrations create and needs
  // CREATEROLE to create the application roles. It never serves requests.
  std::string database_url;
  // Lower-case letters, digits and '_', starting with a letter, at most 40 characters.
  std::string role_prefix = "credvault";
  // A role with a password gets LOGIN and that password (set again on every run, so that
  // rotating it is a re-run); a role without one is created NOLOGIN, or left as it is.
  std::optional<std::string> writer_password;
  std::optional<std::string> decryptor_password;
  std::optional<std::string> admin_password;
  // Stop at this version instead of the newest (staged rollouts, tests).
  std::optional<int> target_version;
};

struct MigrationReport {
  int version_before = 0;
  int version_after = 0;
  std::vector<int> applied;
};

// Applies the migrations that the database lacks, each in its own transaction together
// with its row in schema_migrations, under a session advisory lock so that replicas
// starting together apply each migration once. A second run does nothing. Refuses
// (FAILED_PRECONDITION) a database whose schema is newer than `migrations`, or whose
// applied migrations differ from `migrations` (checksum of the text). Creates the
// application roles if missing; refuses one that exists as superuser or BYPASSRLS.
absl::StatusOr<MigrationReport> Migrate(
    const MigratorOptions& options, absl::Span<const Migration> migrations = EmbeddedMigrations());

// Grants CONNECT on the database of `database_url` (the owner's connection) to each
// application role of `role_prefix` that lacks it, so that an install whose database
// revokes CONNECT from PUBLIC (docs/operations.md, "Prepare the database") works without a
// manual grant between the migration and the first server. The owner holds the privilege
// with grant option as the database's owner. FAILED_PRECONDITION when it cannot.
absl::Status GrantConnect(const std::string& database_url, const std::string& role_prefix);

}  // namespace credvault::storage

#endif  // CREDVAULT_STORAGE_MIGRATOR_H_

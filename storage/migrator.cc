#include "storage/migrator.h"

#include <exception>
#include <map>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>
#include <utility>

#include "storage/pg_error.h"
#include "storage/transaction.h"

namespace credvault::storage {
namespace {

// Session advisory lock held for the whole run; its key is "credvaul" in ASCII. Advisory
// locks are per database, so migrators of different databases do not wait for each other.
constexpr Statement kLock{"migrate.lock", "SELECT pg_advisory_lock($1)"};
constexpr Statement kUnlock{"migrate.unlock", "SELECT pg_advisory_unlock($1)"};
constexpr Statement kCurrentDatabase{"migrate.current_database", "SELECT current_database()"};
constexpr Statement kHasConnect{"migrate.has_connect",
                                "SELECT has_database_privilege($1, current_database(), 'CONNECT')"};
constexpr char kLockKey[] = "7165901439257113964";

constexpr Statement kCreateVersionTable{
    "migrate.create_version_table",
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, "
    "applied_at timestamptz NOT NULL DEFAULT now())"};
constexpr Statement kApplied{"migrate.applied",
                             "SELECT version, checksum FROM schema_migrations ORDER BY version"};
constexpr Statement kChecksum{"migrate.checksum",
                              "SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')"};
constexpr Statement kRecord{"migrate.record",
                            "INSERT INTO schema_migrations (version, name, checksum) "
                            "VALUES ($1, $2, encode(sha256(convert_to($3, 'UTF8')), 'hex'))"};

// An existing application role is refused (PERMISSION_DENIED) when it could step around
// what the grants below enforce: as in storage/pool.cc, superuser or BYPASSRLS, membership
// in pg_read_all_data or pg_write_all_data, or owning (directly or through a role it
// belongs to) a relation or function of the public schema.
//
// Role creation cannot take bind parameters (it is a utility statement), so the name and
// password travel as transaction-local settings and the server quotes them itself with
// format(%I / %L): no value is ever spliced into SQL on this side, and the dynamic
// statement is not logged by log_statement.
constexpr Statement kRoleSettings{"migrate.role_settings",
                                  "SELECT set_config('credvault.migrate_role', $1, true), "
                                  "set_config('credvault.migrate_password', $2, true)"};
constexpr Statement kEnsureRole{"migrate.ensure_role", R"sql(
DO $do$
DECLARE
  v_role text := current_setting('credvault.migrate_role');
  v_password text := current_setting('credvault.migrate_password');
  v_existing record;
  v_public oid := (SELECT oid FROM pg_namespace WHERE nspname = 'public');
  v_found text;
BEGIN
  SELECT oid, rolsuper, rolbypassrls INTO v_existing FROM pg_roles WHERE rolname = v_role;
  IF NOT FOUND THEN
    BEGIN
      EXECUTE format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE '
                     'NOREPLICATION NOBYPASSRLS', v_role);
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;  -- created meanwhile by the migrator of another database in this cluster
    END;
  ELSE
    -- The checks of the pool (storage/pool.cc): a role that steps around row-level
    -- security, column privileges or triggers gets no application grants.
    IF v_existing.rolsuper OR v_existing.rolbypassrls THEN
      RAISE EXCEPTION 'role % is a superuser or has BYPASSRLS; it must not serve requests',
        v_role USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT string_agg(p.rolname::text, ', ' ORDER BY p.rolname) INTO v_found FROM pg_roles p
      WHERE p.rolname IN ('pg_read_all_data', 'pg_write_all_data')
        AND pg_has_role(v_existing.oid, p.oid, 'MEMBER');
    IF v_found IS NOT NULL THEN
      RAISE EXCEPTION 'role % is a member of %, which read or write every table whatever the '
        'grants; it must not serve requests', v_role, v_found
        USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT 'relation ' || min(c.relname::text) INTO v_found FROM pg_class c
      WHERE c.relnamespace = v_public AND pg_has_role(v_existing.oid, c.relowner, 'MEMBER');
    IF v_found IS NULL THEN
      SELECT 'function ' || min(f.proname::text) INTO v_found FROM pg_proc f
        WHERE f.pronamespace = v_public AND pg_has_role(v_existing.oid, f.proowner, 'MEMBER');
    END IF;
    IF v_found IS NOT NULL THEN
      RAISE EXCEPTION 'role % owns (or is a member of the owner of) %; owners bypass grants '
        'and can disable triggers, so it must not serve requests', v_role, v_found
        USING ERRCODE = 'insufficient_privilege';
    END IF;
  END IF;
  IF v_password <> '' THEN
    EXECUTE format('ALTER ROLE %I LOGIN PASSWORD %L', v_role, v_password);
  END IF;
END
$do$)sql"};

absl::Status ValidatePrefix(const std::string& prefix) {
  if (prefix.empty() || prefix.size() > 40 || !(prefix[0] >= 'a' && prefix[0] <= 'z')) {
    return absl::InvalidArgumentError(
        "role_prefix: 1..40 characters, starting with a lower-case letter");
  }
  for (const char c : prefix) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return absl::InvalidArgumentError(
          "role_prefix: only lower-case letters, digits and '_' are allowed");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateMigrations(absl::Span<const Migration> migrations) {
  for (std::size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1) {
      return absl::InvalidArgumentError("migrations must be numbered 1, 2, 3, ... in order");
    }
  }
  return absl::OkStatus();
}

// Replaces {{writer}}, {{decryptor}} and {{admin}} with quoted role names; any other
// placeholder is a mistake in a migration.
absl::StatusOr<std::string> Render(const Migration& migration,
                                   const std::map<std::string, std::string>& quoted) {
  std::string out;
  std::string_view rest = migration.sql;
  while (true) {
    const std::size_t open = rest.find("{{");
    if (open == std::string_view::npos) break;
    const std::size_t close = rest.find("}}", open);
    const auto it = close == std::string_view::npos
                        ? quoted.end()
                        : quoted.find(std::string(rest.substr(open + 2, close - open - 2)));
    if (it == quoted.end()) {
      return absl::InvalidArgumentError("migration " + std::string(migration.name) +
                                        ": unknown placeholder");
    }
    out.append(rest.substr(0, open));
    out.append(it->second);
    rest.remove_prefix(close + 2);
  }
  out.append(rest);
  return out;
}

absl::Status EnsureRole(pqxx::connection& connection, const std::string& role,
                        const std::optional<std::string>& password) {
  if (password.has_value() && (password->empty() || password->find('\0') != std::string::npos)) {
    return absl::InvalidArgumentError("password of role " + role +
                                      ": must be non-empty and without NUL");
  }
  try {
    pqxx::work tx(connection);
    tx.exec_params(std::string(kRoleSettings.sql), role, password.value_or(std::string()));
    tx.exec(std::string(kEnsureRole.sql));
    tx.commit();
  } catch (const std::exception& e) {
    return ClassifyPgException(std::string(kEnsureRole.name) + " " + role, e).status;
  }
  return absl::OkStatus();
}

class Run {
 public:
  Run(const MigratorOptions& options, absl::Span<const Migration> migrations)
      : options_(options), migrations_(migrations) {}

  absl::StatusOr<MigrationReport> Execute(pqxx::connection& connection) {
    MigrationReport report;
    std::map<int, std::string> applied;
    try {
      pqxx::nontransaction session(connection);
      session.exec_params(std::string(kCreateVersionTable.sql));
      for (const pqxx::row& row : session.exec_params(std::string(kApplied.sql))) {
        applied[row[0].as<int>()] = row[1].as<std::string>();
      }
      if (!applied.empty()) report.version_before = applied.rbegin()->first;
      report.version_after = report.version_before;
      const int known = static_cast<int>(migrations_.size());
      if (report.version_before > known) {
        return absl::FailedPreconditionError("database schema is at version " +
                                             std::to_string(report.version_before) +
                                             ", newer than the newest this binary knows (" +
                                             std::to_string(known) + "); refusing to touch it");
      }
      for (const auto& [version, checksum] : applied) {
        const Migration& m = migrations_[version - 1];
        const pqxx::row expected =
            session.exec_params1(std::string(kChecksum.sql), std::string(m.sql));
        if (expected[0].as<std::string>() != checksum) {
          return absl::FailedPreconditionError("migration " + std::string(m.name) +
                                               " differs from the one applied to the database");
        }
      }
    } catch (const std::exception& e) {
      return ClassifyPgException("migrate.inspect", e).status;
    }

    const RoleNames roles = RoleNames::FromPrefix(options_.role_prefix);
    if (absl::Status s = EnsureRole(connection, roles.writer, options_.writer_password); !s.ok()) {
      return s;
    }
    if (absl::Status s = EnsureRole(connection, roles.decryptor, options_.decryptor_password);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = EnsureRole(connection, roles.admin, options_.admin_password); !s.ok()) {
      return s;
    }
    const std::map<std::string, std::string> quoted = {
        {"writer", connection.quote_name(roles.writer)},
        {"decryptor", connection.quote_name(roles.decryptor)},
        {"admin", connection.quote_name(roles.admin)},
    };

    const int target = options_.target_version.value_or(static_cast<int>(migrations_.size()));
    for (const Migration& m : migrations_) {
      if (m.version > target || applied.count(m.version) != 0) continue;
      absl::StatusOr<std::string> sql = Render(m, quoted);
      if (!sql.ok()) return sql.status();
      try {
        pqxx::work tx(connection);
        tx.exec(*sql);
        tx.exec_params(std::string(kRecord.sql), m.version, std::string(m.name),
                       std::string(m.sql));
        tx.commit();
      } catch (const std::exception& e) {
        return ClassifyPgException("migration " + std::string(m.name), e).status;
      }
      report.applied.push_back(m.version);
      report.version_after = m.version;
    }
    return report;
  }

 private:
  const MigratorOptions& options_;
  absl::Span<const Migration> migrations_;
};

}  // namespace

RoleNames RoleNames::FromPrefix(const std::string& prefix) {
  return RoleNames{prefix + "_writer", prefix + "_decryptor", prefix + "_admin"};
}

absl::StatusOr<MigrationReport> Migrate(const MigratorOptions& options,
                                        absl::Span<const Migration> migrations) {
  if (options.database_url.empty()) {
    return absl::InvalidArgumentError("database_url: must not be empty");
  }
  if (absl::Status s = ValidatePrefix(options.role_prefix); !s.ok()) return s;
  if (absl::Status s = ValidateMigrations(migrations); !s.ok()) return s;
  if (options.target_version.has_value() && *options.target_version < 0) {
    return absl::InvalidArgumentError("target_version: must not be negative");
  }

  std::unique_ptr<pqxx::connection> connection;
  try {
    connection = std::make_unique<pqxx::connection>(options.database_url);
    pqxx::nontransaction session(*connection);
    // Waits while another replica migrates; the lock goes with the session if we die.
    session.exec_params(std::string(kLock.sql), kLockKey);
  } catch (const std::exception& e) {
    return ClassifyPgException("migrate.connect", e).status;
  }
  absl::StatusOr<MigrationReport> report = Run(options, migrations).Execute(*connection);
  try {
    pqxx::nontransaction session(*connection);
    session.exec_params(std::string(kUnlock.sql), kLockKey);
  } catch (const std::exception&) {
    // Closing the connection below releases the lock as well.
  }
  return report;
}

absl::Status GrantConnect(const std::string& database_url, const std::string& role_prefix) {
  const RoleNames roles = RoleNames::FromPrefix(role_prefix);
  try {
    pqxx::connection connection(database_url);
    pqxx::work tx(connection);
    const std::string database = tx.exec1(std::string(kCurrentDatabase.sql))[0].as<std::string>();
    for (const std::string& role : {roles.writer, roles.decryptor, roles.admin}) {
      if (!tx.exec_params1(std::string(kHasConnect.sql), role)[0].as<bool>()) {
        // GRANT takes no parameters; both names are quoted identifiers.
        tx.exec("GRANT CONNECT ON DATABASE " + tx.quote_name(database) + " TO " +
                tx.quote_name(role));
      }
    }
    tx.commit();
  } catch (const std::exception& e) {
    // libpq's messages name roles and the database, never a password.
    return absl::FailedPreconditionError(std::string("granting CONNECT on the database: ") +
                                         e.what());
  }
  return absl::OkStatus();
}

}  // namespace credvault::storage

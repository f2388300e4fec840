#include "storage/migrator.h"

#include <algorithm>
#include <pqxx/pqxx>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/storage/test_database.h"

namespace credvault::storage {
namespace {

using ::credvault::storage::testing::AppRole;
using ::credvault::storage::testing::TestDatabase;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Every embedded migration version from `first` to the newest, in order.
std::vector<int> AllVersionsFrom(int first) {
  std::vector<int> versions;
  for (const Migration& migration : EmbeddedMigrations()) {
    if (migration.version >= first) versions.push_back(migration.version);
  }
  return versions;
}

// "" when equal, else the first differing line of each (schema dumps are long).
std::string FirstDifference(const std::string& actual, const std::string& expected) {
  std::istringstream a(actual), e(expected);
  std::string line_a, line_e;
  for (int line = 1;; ++line) {
    const bool more_a = static_cast<bool>(std::getline(a, line_a));
    const bool more_e = static_cast<bool>(std::getline(e, line_e));
    if (!more_a && !more_e) return "";
    if (more_a != more_e || line_a != line_e) {
      return "line " + std::to_string(line) + ": got '" + (more_a ? line_a : "<end>") +
             "', expected '" + (more_e ? line_e : "<end>") + "'";
    }
  }
}

TEST(MigratorTest, FreshDatabaseGetsEveryMigrationAndASecondRunDoesNothing) {
  std::unique_ptr<TestDatabase> db = TestDatabase::Create(/*migrate_to=*/0);
  ASSERT_NE(db, nullptr);
  const absl::StatusOr<MigrationReport> first = Migrate(db->MigratorOptionsFor());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->version_before, 0);
  EXPECT_EQ(first->version_after, static_cast<int>(EmbeddedMigrations().size()));
  EXPECT_EQ(first->applied, AllVersionsFrom(1));

  const std::string schema = db->SchemaDump();
  const absl::StatusOr<MigrationReport> second = Migrate(db->MigratorOptionsFor());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_THAT(second->applied, IsEmpty());
  EXPECT_EQ(second->version_before, second->version_after);
  EXPECT_EQ(FirstDifference(db->SchemaDump(), schema), "");
}

TEST(MigratorTest, FreshRerunAndUpgradedDatabasesEndWithTheSameSchema) {
  std::unique_ptr<TestDatabase> fresh = TestDatabase::Create();
  std::unique_ptr<TestDatabase> rerun = TestDatabase::Create();
  std::unique_ptr<TestDatabase> upgraded = TestDatabase::Create(/*migrate_to=*/1);
  ASSERT_NE(fresh, nullptr);
  ASSERT_NE(rerun, nullptr);
  ASSERT_NE(upgraded, nullptr);
  ASSERT_TRUE(Migrate(rerun->MigratorOptionsFor()).ok());

  const std::string at_version_one = upgraded->SchemaDump();
  EXPECT_EQ(at_version_one.find("audit_events"), std::string::npos);
  const absl::StatusOr<MigrationReport> upgrade = Migrate(upgraded->MigratorOptionsFor());
  ASSERT_TRUE(upgrade.ok()) << upgrade.status();
  EXPECT_EQ(upgrade->version_before, 1);
  EXPECT_EQ(upgrade->applied, AllVersionsFrom(2));

  const std::string expected = fresh->SchemaDump();
  // Tables, policies and grants are all part of the comparison.
  for (const char* part : {"CREATE TABLE public.audit_events", "CREATE POLICY org_isolation",
                           "GRANT SELECT(public_key) ON TABLE public.org_keys TO PREFIX_writer"}) {
    EXPECT_NE(expected.find(part), std::string::npos) << part;
  }
  EXPECT_EQ(FirstDifference(rerun->SchemaDump(), expected), "");
  EXPECT_EQ(FirstDifference(upgraded->SchemaDump(), expected), "");
}

TEST(MigratorTest, RefusesASchemaNewerThanItKnows) {
  std::unique_ptr<TestDatabase> db = TestDatabase::Create();
  ASSERT_NE(db, nullptr);
  db->SuperuserExec(
      "INSERT INTO schema_migrations (version, name, checksum) VALUES (99, '0099_future', 'x')");
  const std::string before = db->SchemaDump();
  const absl::StatusOr<MigrationReport> report = Migrate(db->MigratorOptionsFor());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(report.status().message(), HasSubstr("newer"));
  EXPECT_EQ(FirstDifference(db->SchemaDump(), before), "");
}

TEST(MigratorTest, RefusesWhenAnAppliedMigrationWasChanged) {
  std::unique_ptr<TestDatabase> db = TestDatabase::Create(/*migrate_to=*/1);
  ASSERT_NE(db, nullptr);
  const Migration edited[] = {
      {1, "0001_initial", "CREATE TABLE something_else (id integer);"},
      EmbeddedMigrations()[1],
  };
  const absl::StatusOr<MigrationReport> report = Migrate(db->MigratorOptionsFor(), edited);
  EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(report.status().message(), HasSubstr("0001_initial"));
}

TEST(MigratorTest, ConcurrentMigratorsApplyEachMigrationOnce) {
  std::unique_ptr<TestDatabase> db = TestDatabase::Create(/*migrate_to=*/0);
  ASSERT_NE(db, nullptr);
  constexpr int kReplicas = 4;
  std::vector<absl::StatusOr<MigrationReport>> reports(kReplicas, absl::UnknownError("not run"));
  std::vector<std::thread> replicas;
  for (int i = 0; i < kReplicas; ++i) {
    replicas.emplace_back([&, i] { reports[i] = Migrate(db->MigratorOptionsFor()); });
  }
  for (std::thread& t : replicas) t.join();
  std::vector<int> applied;
  for (const auto& report : reports) {
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(report->version_after, static_cast<int>(EmbeddedMigrations().size()));
    applied.insert(applied.end(), report->applied.begin(), report->applied.end());
  }
  std::sort(applied.begin(), applied.end());
  EXPECT_EQ(applied, AllVersionsFrom(1));
}

TEST(MigratorTest, RolesAreCreatedWithoutBypassAndOwnNothing) {
  std::unique_ptr<TestDatabase> db = TestDatabase::Create();
  ASSERT_NE(db, nullptr);
  pqxx::connection connection(db->SuperuserConninfo());
  pqxx::nontransaction tx(connection);
  const pqxx::result roles = tx.exec_params(
      "SELECT count(*) FROM pg_roles WHERE rolname LIKE $1 || '\\_%' AND rolcanlogin "
      "AND NOT rolsuper AND NOT rolbypassrls AND NOT rolcreaterole AND NOT rolcreatedb",
      db->role_prefix());
  EXPECT_EQ(roles[0][0].as<int>(), 3);
  const pqxx::result owned = tx.exec_params(
      "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
      "WHERE r.rolname LIKE $1 || '\\_%' AND r.rolname <> $2",
      db->role_prefix(), db->owner());
  EXPECT_EQ(owned[0][0].as<int>(), 0);
  // The directories list org ids and nothing else, for work that visits every org; they
  // are kept by triggers and never readable by the write role.
  const pqxx::result unforced = tx.exec(
      "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'org_id' "
      "WHERE n.nspname = 'public' AND c.relkind = 'r' "
      "AND c.relname NOT IN ('org_directory', 'open_reseal_jobs', 'audit_chain_directory') "
      "AND NOT (c.relrowsecurity AND c.relforcerowsecurity)");
  EXPECT_EQ(unforced[0][0].as<int>(), 0) << "a tenant table without forced row-level security";
}

TEST(MigratorTest, RefusesAnExistingRoleThatBypassesRowLevelSecurity) {
  std::unique_ptr<TestDatabase> db = TestDatabase::Create(/*migrate_to=*/0);
  ASSERT_NE(db, nullptr);
  db->SuperuserExec("CREATE ROLE " + db->role_prefix() + "_writer BYPASSRLS");
  const absl::StatusOr<MigrationReport> report = Migrate(db->MigratorOptionsFor());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kPermissionDenied) << report.status();
  EXPECT_THAT(report.status().message(), HasSubstr("BYPASSRLS"));
}

TEST(MigratorTest, RefusesAnExistingRoleThatReadsOrWritesEverything) {
  for (const char* predefined : {"pg_read_all_data", "pg_write_all_data"}) {
    std::unique_ptr<TestDatabase> db = TestDatabase::Create(/*migrate_to=*/0);
    ASSERT_NE(db, nullptr);
    // Through a group role: inherited membership counts too.
    const std::string group = db->role_prefix() + "_group";
    db->SuperuserExec("CREATE ROLE " + group + "; GRANT " + predefined + " TO " + group +
                      "; CREATE ROLE " + db->role_prefix() + "_decryptor IN ROLE " + group);
    const absl::StatusOr<MigrationReport> report = Migrate(db->MigratorOptionsFor());
    db->SuperuserExec("DROP ROLE " + group);
    EXPECT_EQ(report.status().code(), absl::StatusCode::kPermissionDenied) << report.status();
    EXPECT_THAT(report.status().message(),
                HasSubstr("role " + db->role_prefix() + "_decryptor is a member of " + predefined));
  }
}

TEST(MigratorTest, RefusesAnExistingRoleThatOwnsSchemaObjects) {
  const struct {
    std::string setup;  // {role} is the application role, {owner} the migrating role
    std::string expected;
  } cases[] = {
      {"CREATE ROLE {role}; CREATE TABLE stray (id integer); ALTER TABLE stray OWNER TO {role}",
       "owns (or is a member of the owner of) relation stray"},
      {"CREATE ROLE {role}; CREATE FUNCTION stray_fn() RETURNS integer LANGUAGE sql AS "
       "'SELECT 1'; ALTER FUNCTION stray_fn() OWNER TO {role}",
       "owns (or is a member of the owner of) function stray_fn"},
      // A member of the migrating role can become it, and it owns schema_migrations.
      {"CREATE ROLE {role} IN ROLE {owner}",
       "owns (or is a member of the owner of) relation schema_migrations"},
  };
  for (const auto& c : cases) {
    std::unique_ptr<TestDatabase> db = TestDatabase::Create(/*migrate_to=*/0);
    ASSERT_NE(db, nullptr);
    const std::string role = db->role_prefix() + "_admin";
    std::string setup = c.setup;
    for (const auto& [from, to] : {std::pair<std::string, std::string>{"{role}", role},
                                   std::pair<std::string, std::string>{"{owner}", db->owner()}}) {
      for (std::size_t at; (at = setup.find(from)) != std::string::npos;) {
        setup.replace(at, from.size(), to);
      }
    }
    db->SuperuserExec(setup);
    const absl::StatusOr<MigrationReport> report = Migrate(db->MigratorOptionsFor());
    EXPECT_EQ(report.status().code(), absl::StatusCode::kPermissionDenied) << report.status();
    EXPECT_THAT(report.status().message(), HasSubstr("role " + role + " " + c.expected));
    // Refused before any migration (and so any grant) was applied.
    pqxx::connection connection(db->SuperuserConninfo());
    pqxx::nontransaction tx(connection);
    EXPECT_EQ(tx.exec("SELECT count(*) FROM schema_migrations")[0][0].as<int>(), 0);
  }
}

TEST(MigratorTest, AcceptsAnExistingPlainRole) {
  std::unique_ptr<TestDatabase> db = TestDatabase::Create(/*migrate_to=*/0);
  ASSERT_NE(db, nullptr);
  db->SuperuserExec("CREATE ROLE " + db->role_prefix() + "_writer");
  const absl::StatusOr<MigrationReport> report = Migrate(db->MigratorOptionsFor());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->version_after, static_cast<int>(EmbeddedMigrations().size()));
  std::unique_ptr<ConnectionPool> pool = db->Pool(AppRole::kWriter, 1);
  ASSERT_NE(pool, nullptr);
  const absl::Status status = pool->RunWithoutOrg([](Transaction&) { return absl::OkStatus(); });
  EXPECT_TRUE(status.ok()) << status;
}

TEST(MigratorTest, RejectsBadOptions) {
  MigratorOptions options;
  EXPECT_EQ(Migrate(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.database_url = "host=/nonexistent";
  options.role_prefix = "x\"; DROP ROLE postgres; --";
  EXPECT_EQ(Migrate(options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace credvault::storage

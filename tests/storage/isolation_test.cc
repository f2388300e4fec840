// Tenant isolation and privileges, checked at the database layer: connected as each
// application role, with raw SQL that "forgets" its WHERE org_id.
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/audit_log.h"
#include "storage/credential_store.h"
#include "storage/idempotency_store.h"
#include "storage/pool.h"
#include "tests/storage/test_database.h"

namespace credvault::storage {
namespace {

using ::credvault::storage::testing::AppRole;
using ::credvault::storage::testing::AppRoleName;
using ::credvault::storage::testing::SeedOrg;
using ::credvault::storage::testing::TestDatabase;
using ::testing::HasSubstr;

constexpr char kOrgA[] = "org-a";
constexpr char kOrgB[] = "org-b";
const AppRole kAppRoles[] = {AppRole::kWriter, AppRole::kDecryptor, AppRole::kAdmin};
const char* const kTenantTables[] = {
    "orgs",        "org_keys",     "credentials",      "idempotency_keys",
    "audit_heads", "audit_events", "audit_checkpoints"};

// Whether `role` may read `table` at all (idempotency keys belong to the write tier; the
// admin role sees when they were made, to expire them).
bool MayRead(AppRole role, std::string_view table) {
  return table != "idempotency_keys" || role != AppRole::kDecryptor;
}

// Retention: the admin role deletes credential versions and idempotency keys.
bool MayDelete(AppRole role, std::string_view table) {
  return role == AppRole::kAdmin && (table == "credentials" || table == "idempotency_keys");
}

class IsolationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    db_ = TestDatabase::Create().release();
    ASSERT_NE(db_, nullptr);
    std::unique_ptr<ConnectionPool> writer = db_->Pool(AppRole::kWriter);
    for (const char* org : {kOrgA, kOrgB}) {
      SeedOrg(*db_, org);
      const absl::Status put = writer->Run(org, [&](Transaction& tx) -> absl::Status {
        CredentialStore store;
        for (const char* name : {"crm/token", "dialler/key"}) {
          absl::StatusOr<PutPlan> plan = store.PreparePut(tx, name, std::nullopt);
          if (!plan.ok()) return plan.status();
          NewCredentialVersion v;
          v.envelope = {1, 2, 3};
          v.org_key_version = 1;
          v.writer_key_version = 1;
          v.fingerprint = std::vector<std::uint8_t>(32, 7);
          v.fingerprint_key_version = 1;
          v.created_by = "svc";
          if (absl::Status s = store.InsertVersion(tx, *plan, v); !s.ok()) return s;
        }
        const absl::Status recorded = IdempotencyStore().Record(
            tx, "idem-1", std::vector<std::uint8_t>(32, 1), "crm/token", 1);
        if (!recorded.ok()) return recorded;
        AuditLog log;
        absl::StatusOr<AuditEvent> event =
            log.Append(tx, {"svc", "credential.put", "crm/token", "ok", "r1", ""});
        if (!event.ok()) return event.status();
        return log.AddCheckpoint(tx, AuditCheckpointKind::kPeriodic, event->seq, event->hash,
                                 std::nullopt, std::nullopt);
      });
      ASSERT_TRUE(put.ok()) << put;
    }
  }
  static void TearDownTestSuite() {
    delete db_;
    db_ = nullptr;
  }

  // A transaction as `role` with the org setting made the way the storage layer makes it.
  static std::unique_ptr<pqxx::connection> Connect(AppRole role) {
    return std::make_unique<pqxx::connection>(db_->RoleConninfo(role));
  }
  static void SetOrg(pqxx::work& tx, const std::string& org) {
    tx.exec_params("SELECT set_config('credvault.org_id', $1, true)", org);
  }
  static long CountAsSuperuser(const std::string& sql) {
    pqxx::connection connection(db_->SuperuserConninfo());
    pqxx::work tx(connection);
    return tx.exec(sql)[0][0].as<long>();
  }

  static TestDatabase* db_;
};

TestDatabase* IsolationTest::db_ = nullptr;

TEST_F(IsolationTest, SelectWithoutWhereSeesOnlyTheOrgOfTheTransaction) {
  for (const AppRole role : kAppRoles) {
    for (const char* table : kTenantTables) {
      SCOPED_TRACE(std::string(AppRoleName(role)) + " " + table);
      auto connection = Connect(role);
      pqxx::work tx(*connection);
      SetOrg(tx, kOrgA);
      if (!MayRead(role, table)) {
        EXPECT_THROW(tx.exec(std::string("SELECT org_id FROM ") + table),
                     pqxx::insufficient_privilege);
        continue;
      }
      const pqxx::result rows = tx.exec(std::string("SELECT org_id FROM ") + table);
      EXPECT_GT(rows.size(), 0u);
      for (const pqxx::row& row : rows) EXPECT_EQ(row[0].as<std::string>(), kOrgA);
    }
  }
}

TEST_F(IsolationTest, NoOrgSettingSeesNothing) {
  for (const AppRole role : kAppRoles) {
    for (const char* table : kTenantTables) {
      SCOPED_TRACE(std::string(AppRoleName(role)) + " " + table);
      if (!MayRead(role, table)) continue;
      auto connection = Connect(role);
      pqxx::work tx(*connection);
      EXPECT_EQ(tx.exec(std::string("SELECT count(org_id) FROM ") + table)[0][0].as<long>(), 0);
    }
  }
}

TEST_F(IsolationTest, UpdateAndDeleteWithoutWhereTouchNoOtherOrg) {
  const long b_live_before = CountAsSuperuser(
      "SELECT count(*) FROM credentials WHERE org_id = 'org-b' AND "
      "deleted_at IS NULL AND envelope IS NOT NULL");
  ASSERT_EQ(b_live_before, 2);
  struct Case {
    AppRole role;
    const char* sql;
  };
  // Statements each role is allowed to run by its grants: they must reach org A only.
  const Case updates[] = {
      {AppRole::kWriter, "UPDATE credentials SET deleted_at = now()"},
      {AppRole::kDecryptor, "UPDATE credentials SET envelope = '\\xdead'::bytea"},
      {AppRole::kAdmin, "UPDATE orgs SET state = 'DESTROYED', destroyed_at = now()"},
      {AppRole::kAdmin,
       "UPDATE credentials SET envelope = NULL, fingerprint = NULL, erased = true, "
       "deleted_at = now()"},
      {AppRole::kWriter, "UPDATE audit_heads SET seq = seq"},
  };
  for (const Case& c : updates) {
    SCOPED_TRACE(c.sql);
    auto connection = Connect(c.role);
    pqxx::work tx(*connection);
    SetOrg(tx, kOrgA);
    const pqxx::result result = tx.exec(c.sql);
    EXPECT_GT(result.affected_rows(), 0u);
    tx.abort();  // keep org A intact for the other tests
  }
  for (const AppRole role : kAppRoles) {
    for (const char* table : kTenantTables) {
      SCOPED_TRACE(std::string(AppRoleName(role)) + " DELETE " + table);
      auto connection = Connect(role);
      pqxx::work tx(*connection);
      SetOrg(tx, kOrgA);
      if (MayDelete(role, table)) {
        // Allowed by the grants, and limited to org A by RLS.
        const pqxx::result deleted =
            tx.exec(std::string("DELETE FROM ") + table + " RETURNING org_id");
        EXPECT_GT(deleted.size(), 0u);
        for (const pqxx::row& row : deleted) EXPECT_EQ(row[0].as<std::string>(), kOrgA);
        tx.abort();
        continue;
      }
      // Nothing else may be deleted; were it allowed, RLS would limit it to org A.
      EXPECT_THROW(tx.exec(std::string("DELETE FROM ") + table), pqxx::insufficient_privilege);
    }
  }
  EXPECT_EQ(CountAsSuperuser("SELECT count(*) FROM credentials WHERE org_id = 'org-b' AND "
                             "deleted_at IS NULL AND envelope IS NOT NULL"),
            b_live_before);
  EXPECT_EQ(CountAsSuperuser("SELECT count(*) FROM orgs WHERE state = 'ACTIVE'"), 2);
}

TEST_F(IsolationTest, InsertingARowOfAnotherOrgIsRefused) {
  struct Case {
    AppRole role;
    const char* sql;
  };
  const Case inserts[] = {
      {AppRole::kWriter, "INSERT INTO orgs (org_id, state) VALUES ('org-b', 'ACTIVE')"},
      {AppRole::kWriter, "INSERT INTO orgs (org_id, state) VALUES ('org-c', 'ACTIVE')"},
      {AppRole::kWriter,
       "INSERT INTO credentials (org_id, name, version, envelope, org_key_version, "
       "writer_key_version, fingerprint, fingerprint_key_version, created_by, is_current) "
       "VALUES ('org-b', 'x', 9, '\\x01', 1, 1, '\\x02', 1, 'svc', false)"},
      {AppRole::kWriter,
       "INSERT INTO idempotency_keys VALUES ('org-b', 'k', "
       "'\\x0000000000000000000000000000000000000000000000000000000000000000', 'x', 1)"},
      {AppRole::kDecryptor,
       "INSERT INTO audit_heads VALUES ('org-c', 0, "
       "'\\x0000000000000000000000000000000000000000000000000000000000000000')"},
      {AppRole::kAdmin,
       "INSERT INTO audit_events VALUES ('org-b', 99, now(), 'p', 'a', 't', 'r', 'q', 'd', "
       "'\\x0000000000000000000000000000000000000000000000000000000000000000', "
       "'\\x0000000000000000000000000000000000000000000000000000000000000000')"},
  };
  for (const Case& c : inserts) {
    SCOPED_TRACE(c.sql);
    auto connection = Connect(c.role);
    pqxx::work tx(*connection);
    SetOrg(tx, kOrgA);
    try {
      tx.exec(c.sql);
      ADD_FAILURE() << "insert was accepted";
    } catch (const pqxx::insufficient_privilege& e) {
      EXPECT_THAT(e.what(), HasSubstr("row-level security"));
    }
  }
}

TEST_F(IsolationTest, WriteRoleCannotReadEnvelopesOrSealedPrivateKeys) {
  const char* const denied[] = {
      "SELECT envelope FROM credentials",
      "SELECT * FROM credentials",
      "SELECT count(*) FROM credentials WHERE envelope IS NOT NULL",
      "SELECT sealed_private_key FROM org_keys",
      "SELECT sealed_private_key FROM root_keys",
      "UPDATE credentials SET fingerprint = envelope",  // copying it out needs SELECT too
  };
  for (const AppRole role : {AppRole::kWriter, AppRole::kAdmin}) {
    for (const char* sql : denied) {
      SCOPED_TRACE(std::string(AppRoleName(role)) + ": " + sql);
      auto connection = Connect(role);
      pqxx::work tx(*connection);
      SetOrg(tx, kOrgA);
      try {
        tx.exec(sql);
        ADD_FAILURE() << "statement was accepted";
      } catch (const pqxx::insufficient_privilege& e) {
        EXPECT_THAT(e.what(), HasSubstr("permission denied"));
      }
    }
  }
  // Through the storage API the same refusal is PERMISSION_DENIED, without row values.
  std::unique_ptr<ConnectionPool> writer = db_->Pool(AppRole::kWriter);
  const absl::Status read = writer->Run(kOrgA, [](Transaction& tx) {
    return CredentialStore().ReadEnvelope(tx, "crm/token", std::nullopt).status();
  });
  EXPECT_EQ(read.code(), absl::StatusCode::kPermissionDenied) << read;
  EXPECT_THAT(read.message(), HasSubstr("credentials.read_current_envelope"));
  // The decrypt role reads it.
  std::unique_ptr<ConnectionPool> decryptor = db_->Pool(AppRole::kDecryptor);
  const absl::Status decrypted = decryptor->Run(kOrgA, [](Transaction& tx) {
    return CredentialStore().ReadEnvelope(tx, "crm/token", std::nullopt).status();
  });
  EXPECT_TRUE(decrypted.ok()) << decrypted;
}

TEST_F(IsolationTest, AuditEventsCannotBeUpdatedOrDeletedByAnyRoleOrTheOwner) {
  const char* const changes[] = {
      "UPDATE audit_events SET principal = 'someone else'",
      "DELETE FROM audit_events",
      "TRUNCATE audit_events",
      "UPDATE audit_checkpoints SET seq = seq",
      "DELETE FROM audit_checkpoints",
  };
  std::vector<std::string> conninfos;
  for (const AppRole role : kAppRoles) conninfos.push_back(db_->RoleConninfo(role));
  conninfos.push_back(db_->OwnerConninfo());
  for (const std::string& conninfo : conninfos) {
    for (const char* sql : changes) {
      for (const bool claim_purge : {false, true}) {
        SCOPED_TRACE(conninfo.substr(conninfo.find("user=")) + ": " + sql);
        pqxx::connection connection(conninfo);
        pqxx::work tx(connection);
        SetOrg(tx, kOrgA);
        // The purge flag alone must not open the log to anyone.
        if (claim_purge) tx.exec("SELECT set_config('credvault.audit_purge', 'on', true)");
        EXPECT_THROW(tx.exec(sql), pqxx::insufficient_privilege);
      }
    }
  }
  EXPECT_EQ(CountAsSuperuser("SELECT count(*) FROM audit_events"), 2);
}

TEST_F(IsolationTest, OnlyTheAdminRoleMayPurgeAndOnlyItsOrg) {
  for (const AppRole role : {AppRole::kWriter, AppRole::kDecryptor}) {
    auto connection = Connect(role);
    pqxx::work tx(*connection);
    SetOrg(tx, kOrgA);
    EXPECT_THROW(tx.exec("SELECT audit_purge_before(now() + interval '1 day')"),
                 pqxx::insufficient_privilege);
  }
  // Admin purge inside a rolled-back transaction: it removes org A's events only.
  auto connection = Connect(AppRole::kAdmin);
  pqxx::work tx(*connection);
  SetOrg(tx, kOrgA);
  EXPECT_EQ(tx.exec("SELECT audit_purge_before(now() + interval '1 day')")[0][0].as<long>(), 1);
  tx.exec("SELECT set_config('credvault.org_id', 'org-b', true)");
  EXPECT_EQ(tx.exec("SELECT count(*) FROM audit_events")[0][0].as<long>(), 1);
  tx.abort();
}

TEST_F(IsolationTest, OnlyTheAdminRoleReadsTheAuditChainDirectoryAndNoRoleWritesIt) {
  for (const AppRole role : kAppRoles) {
    SCOPED_TRACE(AppRoleName(role));
    for (const char* sql : {"INSERT INTO audit_chain_directory (org_id) VALUES ('org-z')",
                            "DELETE FROM audit_chain_directory",
                            "UPDATE audit_chain_directory SET org_id = org_id"}) {
      auto connection = Connect(role);
      pqxx::work tx(*connection);
      EXPECT_THROW(tx.exec(sql), pqxx::insufficient_privilege) << sql;
    }
    auto connection = Connect(role);
    pqxx::work tx(*connection);
    if (role != AppRole::kAdmin) {
      EXPECT_THROW(tx.exec("SELECT org_id FROM audit_chain_directory"),
                   pqxx::insufficient_privilege);
      continue;
    }
    // Filled by the first event of each chain, whatever role appended it.
    EXPECT_EQ(tx.exec("SELECT count(*) FROM audit_chain_directory "
                      "WHERE org_id IN ('org-a', 'org-b')")[0][0]
                  .as<long>(),
              2);
  }
}

TEST_F(IsolationTest, OrgIdIsValidatedBeforeItReachesTheDatabase) {
  std::unique_ptr<ConnectionPool> writer = db_->Pool(AppRole::kWriter);
  int calls = 0;
  for (const char* org : {"", "org-a' OR '1'='1", "org-a;--", "ørg", "-leading"}) {
    const absl::Status status = writer->Run(org, [&](Transaction&) {
      ++calls;
      return absl::OkStatus();
    });
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << org;
  }
  EXPECT_EQ(calls, 0);
}

TEST_F(IsolationTest, PoolRefusesRolesThatBypassRowLevelSecurity) {
  PoolOptions options;
  options.connection_string = db_->SuperuserConninfo();
  absl::StatusOr<std::unique_ptr<ConnectionPool>> pool = ConnectionPool::Create(options);
  ASSERT_TRUE(pool.ok());
  const absl::Status status = (*pool)->Run(kOrgA, [](Transaction&) { return absl::OkStatus(); });
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(status.message(), HasSubstr("BYPASSRLS"));
}

}  // namespace
}  // namespace credvault::storage

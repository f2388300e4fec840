// Tenant isolation and privileges, checked at the database layer: connected as each
// application role, with raw SQL that "forgets" its WHERE org_id.
#include <cstdio>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/audit_log.h"
#include "storage/credential_store.h"
#include "storage/org_store.h"
#include "storage/pool.h"
#include "storage/reseal_job_store.h"
#include "storage/retention_store.h"
#include "tests/storage/test_database.h"

namespace credvault::storage {
namespace {

using ::credvault::storage::testing::AppRole;
using ::credvault::storage::testing::AppRoleName;
using ::credvault::storage::testing::SeedOrg;
using ::credvault::storage::testing::TestDatabase;
using ::credvault::storage::testing::TestOrgKey;
using ::credvault::storage::testing::TestResigner;
using ::testing::HasSubstr;

constexpr char kOrgA[] = "org-a";
constexpr char kOrgB[] = "org-b";
const AppRole kAppRoles[] = {AppRole::kWriter, AppRole::kDecryptor, AppRole::kAdmin};
const char* const kTenantTables[] = {
    "orgs",        "org_keys",     "credentials",      "idempotency_keys",
    "audit_heads", "audit_events", "audit_checkpoints"};

constexpr char kZeroHash[] =
    "'\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea";

bool IsAuditTable(std::string_view table) {
  return table == "audit_heads" || table == "audit_events" || table == "audit_checkpoints";
}

// Whether `role` may read `table` at all (idempotency keys belong to the write tier; the
// admin role sees when they were made, to expire them; the untrusted write tier has no
// use for the audit log, which holds other callers' actions).
bool MayRead(AppRole role, std::string_view table) {
  if (role == AppRole::kWriter) return !IsAuditTable(table);
  return table != "idempotency_keys" || role != AppRole::kDecryptor;
}

// A new version of `name`, put as the write tier puts it: `envelope` stands in for the
// ciphertext (the database never reads it), and `idempotency_key` is recorded when given.
absl::Status InsertVersion(Transaction& tx, const CredentialStore& store, const std::string& name,
                           const std::string& request_id,
                           const std::optional<std::string>& idempotency_key = std::nullopt,
                           std::vector<std::uint8_t> envelope = {1, 2, 3}) {
  absl::StatusOr<PreparedPut> prepared = store.PreparePut(tx, name, std::nullopt);
  if (!prepared.ok()) return prepared.status();
  if (prepared->outcome != PrepareOutcome::kPrepared) {
    return absl::FailedPreconditionError("not prepared");
  }
  NewCredentialVersion v;
  v.envelope = std::move(envelope);
  v.org_key_version = 1;
  v.writer_key_version = 1;
  v.created_by = "svc";
  v.request_id = request_id;
  if (idempotency_key) {
    v.idempotency_key = *idempotency_key;
    v.request_digest = std::vector<std::uint8_t>(32, 1);
  }
  return store.InsertVersion(tx, prepared->plan, v).status();
}

class IsolationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    db_ = TestDatabase::Create().release();
    ASSERT_NE(db_, nullptr);
    std::unique_ptr<ConnectionPool> writer = db_->Pool(AppRole::kWriter);
    std::unique_ptr<ConnectionPool> admin = db_->Pool(AppRole::kAdmin);
    for (const char* org : {kOrgA, kOrgB}) {
      SeedOrg(*db_, org);
      // Two puts (each with its credential.put event), one with an idempotency key.
      const absl::Status put = writer->Run(org, [&](Transaction& tx) -> absl::Status {
        CredentialStore store;
        for (const char* name : {"crm/token", "dialler/key"}) {
          const std::optional<std::string> key = std::string_view(name) == "crm/token"
                                                     ? std::optional<std::string>("idem-1")
                                                     : std::nullopt;
          if (absl::Status s = InsertVersion(tx, store, name, "r0", key); !s.ok()) return s;
        }
        return absl::OkStatus();
      });
      ASSERT_TRUE(put.ok()) << put;
      // An admin event and a checkpoint at it.
      const absl::Status appended = admin->Run(org, [&](Transaction& tx) -> absl::Status {
        AuditLog log;
        absl::StatusOr<AuditEvent> event =
            log.Append(tx, {"admin", "org.describe", "", "ok", "r1", ""});
        if (!event.ok()) return event.status();
        return log.AddCheckpoint(tx, AuditCheckpointKind::kPeriodic, event->seq, event->hash,
                                 std::nullopt, std::nullopt);
      });
      ASSERT_TRUE(appended.ok()) << appended;
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
  // Runs `sql` as `role` in org A's scope and expects the database to refuse the
  // privilege: libpqxx raises insufficient_privilege for SQLSTATE 42501 only. The
  // transaction is rolled back either way.
  static void ExpectPrivilegeRefused(AppRole role, const std::string& sql) {
    SCOPED_TRACE(std::string(AppRoleName(role)) + ": " + sql);
    auto connection = Connect(role);
    pqxx::work tx(*connection);
    SetOrg(tx, kOrgA);
    try {
      tx.exec(sql);
      ADD_FAILURE() << "statement was accepted";
    } catch (const pqxx::insufficient_privilege& e) {
      EXPECT_THAT(e.what(), HasSubstr("permission denied"));
    } catch (const pqxx::sql_error& e) {
      ADD_FAILURE() << "refused for another reason: SQLSTATE " << e.sqlstate();
    }
  }
  // Everything a role could change in the tenant tables, as the superuser sees it.
  static std::string TenantStateDigest() {
    pqxx::connection connection(db_->SuperuserConninfo());
    pqxx::work tx(connection);
    std::string digest;
    for (const char* table : kTenantTables) {
      digest += tx.exec(std::string("SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY "
                                    "t::text), '')) FROM ") +
                        table + " AS t")[0][0]
                    .as<std::string>();
    }
    return digest;
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

// No role deletes tenant rows itself (retention goes through functions, see
// NoRoleWritesCredentialsIdempotencyKeysOrResealJobsDirectly): a DELETE that "forgets" its
// WHERE is refused outright, and org B keeps everything.
TEST_F(IsolationTest, DeleteWithoutWhereIsRefusedForEveryRole) {
  const long b_live_before = CountAsSuperuser(
      "SELECT count(*) FROM credentials WHERE org_id = 'org-b' AND "
      "deleted_at IS NULL AND envelope IS NOT NULL");
  ASSERT_EQ(b_live_before, 2);
  const long active_orgs_before =
      CountAsSuperuser("SELECT count(*) FROM orgs WHERE state = 'ACTIVE'");
  for (const AppRole role : kAppRoles) {
    for (const char* table : kTenantTables) {
      SCOPED_TRACE(std::string(AppRoleName(role)) + " DELETE " + table);
      auto connection = Connect(role);
      pqxx::work tx(*connection);
      SetOrg(tx, kOrgA);
      EXPECT_THROW(tx.exec(std::string("DELETE FROM ") + table), pqxx::insufficient_privilege);
    }
  }
  EXPECT_EQ(CountAsSuperuser("SELECT count(*) FROM credentials WHERE org_id = 'org-b' AND "
                             "deleted_at IS NULL AND envelope IS NOT NULL"),
            b_live_before);
  EXPECT_EQ(CountAsSuperuser("SELECT count(*) FROM orgs WHERE state = 'ACTIVE'"),
            active_orgs_before);
}

// Org key records go through credvault_store_org_key, which keeps the state machine
// (storage/migrations/0009_org_key_signatures.sql): no role, the key authority's included,
// inserts, updates or deletes orgs or org keys itself.
TEST_F(IsolationTest, NoRoleWritesOrgsOrOrgKeysDirectly) {
  const std::string zero = kZeroHash;
  const std::string signature = "decode(repeat('ab', 64), 'hex')";
  const std::vector<std::string> refused = {
      "INSERT INTO orgs (org_id, state) VALUES ('org-a2', 'ACTIVE')",
      "INSERT INTO orgs (org_id, state) VALUES ('org-b2', 'ACTIVE')",
      "UPDATE orgs SET state = 'DESTROYED', destroyed_at = now()",
      "DELETE FROM orgs",
      "INSERT INTO org_keys (org_id, version, public_key, sealed_private_key, "
      "root_key_version, state, directory_key_version, signature) "
      "VALUES ('org-a', 9, " +
          zero + ", '\\x01', 1, 'RETIRED', 1, " + signature + ")",
      "INSERT INTO org_keys (org_id, version, public_key, sealed_private_key, "
      "root_key_version, state, directory_key_version, signature) "
      "VALUES ('org-b', 9, " +
          zero + ", '\\x01', 1, 'RETIRED', 1, " + signature + ")",
      "UPDATE org_keys SET state = state",
      "UPDATE org_keys SET public_key = " + zero,
      "UPDATE org_keys SET signature = " + signature,
      "UPDATE org_keys SET retired_at = now(), destroyed_at = now()",
      "DELETE FROM org_keys",
  };
  const std::string before = TenantStateDigest();
  for (const AppRole role : kAppRoles) {
    for (const std::string& sql : refused) ExpectPrivilegeRefused(role, sql);
  }
  EXPECT_EQ(TenantStateDigest(), before);
}

// The write tier is untrusted (docs/security-model.md): with its own database role, raw
// SQL cannot roll a credential back, revive it, swap its envelope, plant an org or an org
// key, forge or rewind the audit log, or read the log.
TEST_F(IsolationTest, WriteRoleIsRefusedEveryDirectWrite) {
  const std::string before = TenantStateDigest();
  const std::string zero = kZeroHash;
  const std::vector<std::string> refused = {
      // Credentials: roll back, revive, swap, erase, forge, remove.
      "UPDATE credentials SET is_current = true",
      "UPDATE credentials SET is_current = (version = 1) WHERE name = 'crm/token'",
      "UPDATE credentials SET deleted_at = NULL",
      "UPDATE credentials SET envelope = '\\xdead'::bytea",
      "UPDATE credentials SET org_key_version = 1, writer_key_version = 1",
      "UPDATE credentials SET erased = true",
      "DELETE FROM credentials",
      "INSERT INTO credentials (org_id, name, version, envelope, org_key_version, "
      "writer_key_version, created_by, is_current) "
      "VALUES ('org-a', 'crm/token', 9, '\\x01', 1, 1, 'svc', true)",
      // Orgs and org keys: only the key authority and the admin path make them.
      "INSERT INTO orgs (org_id, state) VALUES ('org-planted', 'ACTIVE')",
      "UPDATE orgs SET state = state",
      "INSERT INTO org_keys (org_id, version, public_key, sealed_private_key, "
      "root_key_version, writer_key_version, authenticator, state) "
      "VALUES ('org-a', 2, " +
          zero + ", '\\x01', 1, 1, " + zero + ", 'ACTIVE')",
      "UPDATE org_keys SET state = 'RETIRED'",
      "DELETE FROM org_keys",
      // Idempotency keys are recorded by the put and delete functions.
      "INSERT INTO idempotency_keys VALUES ('org-a', 'k', " + zero + ", 'crm/token', 1)",
      "DELETE FROM idempotency_keys",
      // The audit log: no forged event or checkpoint, no rewound head, no reading.
      "INSERT INTO audit_events (org_id, seq, event_time, principal, action, target, result, "
      "request_id, details, prev_hash, hash) VALUES ('org-a', 99, now(), 'p', 'a', 't', 'r', "
      "'q', 'd', " +
          zero + ", " + zero + ")",
      "INSERT INTO audit_checkpoints (org_id, seq, head_hash) VALUES ('org-a', 1, " + zero + ")",
      "UPDATE audit_heads SET seq = 0, hash = " + zero,
      "INSERT INTO audit_heads VALUES ('org-c', 0, " + zero + ")",
      "SELECT * FROM audit_events",
      "SELECT seq, hash FROM audit_events",
      "SELECT seq, hash FROM audit_heads",
      "SELECT * FROM audit_checkpoints",
      // Nor by calling the functions that are not its own.
      "SELECT * FROM credvault_audit_append('org-a', now(), 'p', 'credential.put', 't', 'ok', "
      "'r', '')",
      "SELECT * FROM credvault_audit_link('org-a', now(), 'p', 'credential.put', 't', 'ok', "
      "'r', '')",
      "SELECT credvault_audit_add_checkpoint('org-a', 'periodic', 1, " + zero +
          ", NULL, NULL, now())",
      "SELECT credvault_reseal_envelope('org-a', 'crm/token', 1, 1, '\\x01', 1, 1)",
      // Nor the key authority's: org key records and orgs.
      "SELECT credvault_create_org('org-planted')",
      "SELECT credvault_store_org_key('org-a', 2, " + zero + ", '\\x01', 1, 'ACTIVE', 1, " +
          "decode(repeat('ab', 64), 'hex'))",
      "SELECT credvault_store_org_key('org-a', 1, decode(repeat('33', 32), 'hex'), NULL, 1, "
      "'RETIRED', 1, decode(repeat('ab', 64), 'hex'))",
      "SELECT credvault_mark_org_destroyed('org-a')",
      "SELECT credvault_lock_org('org-a')",
  };
  for (const std::string& sql : refused) ExpectPrivilegeRefused(AppRole::kWriter, sql);
  EXPECT_EQ(TenantStateDigest(), before);

  // Through the storage API the refusals are PERMISSION_DENIED.
  std::unique_ptr<ConnectionPool> writer = db_->Pool(AppRole::kWriter);
  AuditLog log;
  const absl::Status appended = writer->Run(kOrgA, [&](Transaction& tx) {
    return log.Append(tx, {"svc", "credential.put", "crm/token", "ok", "r", ""}).status();
  });
  EXPECT_EQ(appended.code(), absl::StatusCode::kPermissionDenied) << appended;
  const absl::Status listed =
      writer->Run(kOrgA, [&](Transaction& tx) { return log.List(tx, 0, 10).status(); });
  EXPECT_EQ(listed.code(), absl::StatusCode::kPermissionDenied) << listed;
  const absl::Status created = writer->Run(
      "org-planted", [](Transaction& tx) { return OrgStore().CreateOrg(tx, TestOrgKey(1, 0x33)); });
  EXPECT_EQ(created.code(), absl::StatusCode::kPermissionDenied) << created;
  const absl::Status stored = writer->Run(
      kOrgA, [](Transaction& tx) { return OrgStore().StoreKey(tx, TestOrgKey(2, 0x66)); });
  EXPECT_EQ(stored.code(), absl::StatusCode::kPermissionDenied) << stored;
  const absl::Status destroyed = writer->Run(
      kOrgA, [](Transaction& tx) { return OrgStore().MarkDestroyed(tx, TestResigner()); });
  EXPECT_EQ(destroyed.code(), absl::StatusCode::kPermissionDenied) << destroyed;
  EXPECT_EQ(TenantStateDigest(), before);
}

TEST_F(IsolationTest, NoRoleWritesTheAuditTablesDirectly) {
  const std::string zero = kZeroHash;
  const std::vector<std::string> refused = {
      "INSERT INTO audit_events (org_id, seq, event_time, principal, action, target, result, "
      "request_id, details, prev_hash, hash) VALUES ('org-a', 99, now(), 'p', 'a', 't', 'r', "
      "'q', 'd', " +
          zero + ", " + zero + ")",
      "UPDATE audit_events SET details = details",
      "INSERT INTO audit_checkpoints (org_id, seq, head_hash) VALUES ('org-a', 1, " + zero + ")",
      "UPDATE audit_checkpoints SET head_hash = " + zero,
      "INSERT INTO audit_heads VALUES ('org-c', 0, " + zero + ")",
      "UPDATE audit_heads SET seq = 0, hash = " + zero,
      "DELETE FROM audit_heads",
      // The internal linking function is the owner's alone.
      "SELECT * FROM credvault_audit_link('org-a', now(), 'p', 'a', 't', 'ok', 'r', '')",
  };
  const std::string before = TenantStateDigest();
  for (const AppRole role : kAppRoles) {
    for (const std::string& sql : refused) ExpectPrivilegeRefused(role, sql);
  }
  // Checkpoints are the admin path's.
  ExpectPrivilegeRefused(AppRole::kDecryptor,
                         "SELECT credvault_audit_add_checkpoint('org-a', "
                         "'periodic', 1, " +
                             zero + ", NULL, NULL, now())");
  EXPECT_EQ(TenantStateDigest(), before);
}

// credvault_put_version re-checks what the write tier's PreparePut decided: a caller that
// skips it (raw SQL with the write role's own grants) still cannot overwrite a version,
// skip ahead, or claim an org key that is not the ACTIVE one.
TEST_F(IsolationTest, PutFunctionRefusesAnythingButTheNextVersionUnderTheActiveOrgKey) {
  constexpr char kRotated[] = "org-rotated";
  SeedOrg(*db_, kRotated);
  std::unique_ptr<ConnectionPool> admin = db_->Pool(AppRole::kAdmin);
  // Key 2 becomes ACTIVE, key 1 RETIRING.
  const absl::Status rotated = admin->Run(kRotated, [](Transaction& tx) {
    return OrgStore().RotateOrgKey(tx, TestOrgKey(2, 0x01), TestResigner());
  });
  ASSERT_TRUE(rotated.ok()) << rotated;
  const auto put = [&](const std::string& org, const std::string& name, int version,
                       int org_key_version) {
    return "SELECT erased_count, audit_seq FROM credvault_put_version('" + org + "', '" + name +
           "', " + std::to_string(version) + ", '\\x0102'::bytea, " +
           std::to_string(org_key_version) +
           ", 1, '{}'::jsonb, 'svc', NULL, NULL, NULL, NULL, 'r-raw')";
  };
  struct Case {
    std::string sql;
    const char* why;
  };
  const std::string before = TenantStateDigest();
  const Case refused[] = {
      {put(kOrgA, "crm/token", 1, 1), "not the next version"},  // overwrite version 1
      {put(kOrgA, "crm/token", 5, 1), "not the next version"},  // skip ahead
      {put(kOrgA, "crm/token", 0, 1), "not the next version"},
      {put(kOrgA, "brand-new", 2, 1), "not the next version"},
      {put(kOrgA, "crm/token", 2, 2), "not sealed to the active org key"},  // no such key
      {put(kRotated, "x", 1, 1), "not sealed to the active org key"},       // RETIRING key
  };
  for (const Case& c : refused) {
    SCOPED_TRACE(c.sql);
    auto connection = Connect(AppRole::kWriter);
    pqxx::work tx(*connection);
    // Scoped to org A; the function scopes itself to the org it is given, and row-level
    // security hides every other org from the scope it sets.
    SetOrg(tx, kOrgA);
    try {
      tx.exec(c.sql);
      ADD_FAILURE() << "put was accepted";
    } catch (const std::exception& e) {
      // A stale org key version is a serialization failure (the caller retries with the
      // new key), which libpqxx 6 does not derive from sql_error.
      EXPECT_THAT(e.what(), HasSubstr(c.why));
    }
  }
  EXPECT_EQ(TenantStateDigest(), before);

  // The next version under the ACTIVE key is accepted (rolled back to keep the fixture).
  const std::vector<std::pair<std::string, int>> active_keys = {{kOrgA, 1}, {kRotated, 2}};
  for (const auto& [org, key] : active_keys) {
    SCOPED_TRACE(org);
    auto connection = Connect(AppRole::kWriter);
    pqxx::work tx(*connection);
    const std::string name = org == kOrgA ? "crm/token" : "x";
    const int version = org == kOrgA ? 2 : 1;
    const pqxx::result row = tx.exec(put(org, name, version, key));
    ASSERT_EQ(row.size(), 1u);
    EXPECT_EQ(row[0][0].as<long>(), 0);
    EXPECT_GT(row[0][1].as<long>(), 0);
    tx.abort();
  }
}

// The database cannot check key directory signatures, but credvault_store_org_key keeps
// the state machine whatever signature it is given: a caller with the key authority's own
// database role and raw SQL still cannot skip or reuse a version, revive a retired key, swap
// a public key, keep a destroyed key's private half, store an unsigned record, or give a
// destroyed org a new key.
TEST_F(IsolationTest, StoreOrgKeyFunctionKeepsTheStateMachine) {
  constexpr char kKeys[] = "org-key-states";
  constexpr char kGone[] = "org-key-gone";
  SeedOrg(*db_, kKeys);
  SeedOrg(*db_, kGone);
  std::unique_ptr<ConnectionPool> admin = db_->Pool(AppRole::kAdmin);
  std::unique_ptr<ConnectionPool> decryptor = db_->Pool(AppRole::kDecryptor);
  // kKeys: key 1 RETIRED (its sealed half still there), key 2 ACTIVE. kGone: destroyed.
  const absl::Status rotated = admin->Run(kKeys, [](Transaction& tx) {
    return OrgStore().RotateOrgKey(tx, TestOrgKey(2, 0x60), TestResigner());
  });
  ASSERT_TRUE(rotated.ok()) << rotated;
  const absl::Status retired = decryptor->Run(kKeys, [](Transaction& tx) {
    return OrgStore().RetireRetiringKeys(tx, TestResigner()).status();
  });
  ASSERT_TRUE(retired.ok()) << retired;
  const absl::Status gone = admin->Run(
      kGone, [](Transaction& tx) { return OrgStore().MarkDestroyed(tx, TestResigner()); });
  ASSERT_TRUE(gone.ok()) << gone;

  const std::string signature = "decode(repeat('ab', 64), 'hex')";
  const std::string sealed = "decode(repeat('44', 80), 'hex')";
  const auto hex = [](std::uint8_t fill, int size) {
    char byte[3];
    std::snprintf(byte, sizeof(byte), "%02x", fill);
    return "decode(repeat('" + std::string(byte) + "', " + std::to_string(size) + "), 'hex')";
  };
  const auto store = [&](const std::string& org, int version, const std::string& public_key,
                         const std::string& sealed_half, const char* state,
                         const std::string& directory_version, const std::string& sig) {
    return "SELECT credvault_store_org_key('" + org + "', " + std::to_string(version) + ", " +
           public_key + ", " + sealed_half + ", 1, '" + state + "', " + directory_version + ", " +
           sig + ")";
  };
  struct Case {
    std::string sql;
    const char* why;
  };
  const Case refused[] = {
      // A new version that is not the next one (3 is), nor a reused one.
      {store(kKeys, 4, hex(0x70, 32), sealed, "ACTIVE", "1", signature), "next version"},
      {store(kKeys, 9, hex(0x70, 32), sealed, "ACTIVE", "1", signature), "next version"},
      // The next version, but not born ACTIVE and sealed.
      {store(kKeys, 3, hex(0x70, 32), sealed, "RETIRED", "1", signature), "next version"},
      {store(kKeys, 3, hex(0x70, 32), "NULL", "ACTIVE", "1", signature), "next version"},
      // A state moving backwards: RETIRED -> ACTIVE or RETIRING, ACTIVE stays ACTIVE at most.
      {store(kKeys, 1, hex(0x33, 32), "NULL", "ACTIVE", "1", signature), "move back"},
      {store(kKeys, 1, hex(0x33, 32), "NULL", "RETIRING", "1", signature), "move back"},
      // A changed public key, in the same state or a later one.
      {store(kKeys, 2, hex(0xEE, 32), "NULL", "ACTIVE", "1", signature), "public key"},
      {store(kKeys, 1, hex(0xEE, 32), "NULL", "RETIRED", "1", signature), "public key"},
      // Unsigned records.
      {store(kKeys, 2, hex(0x60, 32), "NULL", "RETIRING", "NULL", "NULL"), "must be signed"},
      {store(kKeys, 2, hex(0x60, 32), "NULL", "RETIRING", "1", "NULL"), "must be signed"},
      {store(kKeys, 3, hex(0x70, 32), sealed, "ACTIVE", "NULL", "NULL"), "must be signed"},
      // A new key for a destroyed org, and a destroyed key revived.
      {store(kGone, 2, hex(0x70, 32), sealed, "ACTIVE", "1", signature), "not active"},
      {store(kGone, 1, hex(0x33, 32), sealed, "ACTIVE", "1", signature), "move back"},
  };
  const std::string before = TenantStateDigest();
  for (const AppRole role : {AppRole::kDecryptor, AppRole::kAdmin}) {
    for (const Case& c : refused) {
      SCOPED_TRACE(std::string(AppRoleName(role)) + ": " + c.sql);
      auto connection = Connect(role);
      pqxx::work tx(*connection);
      SetOrg(tx, kKeys);
      try {
        tx.exec(c.sql);
        ADD_FAILURE() << "record was accepted";
      } catch (const pqxx::insufficient_privilege& e) {
        ADD_FAILURE() << "refused by privilege, not by the function: " << e.what();
      } catch (const pqxx::sql_error& e) {
        EXPECT_THAT(e.what(), HasSubstr(c.why));
      }
    }
  }
  EXPECT_EQ(TenantStateDigest(), before);

  // A DESTROYED key never keeps its sealed half, even when the caller passes one.
  for (const AppRole role : {AppRole::kDecryptor, AppRole::kAdmin}) {
    SCOPED_TRACE(AppRoleName(role));
    auto connection = Connect(role);
    pqxx::work tx(*connection);
    SetOrg(tx, kKeys);
    tx.exec(store(kKeys, 1, hex(0x33, 32), sealed, "DESTROYED", "1", signature));
    EXPECT_EQ(
        tx.exec("SELECT state FROM org_keys WHERE org_id = 'org-key-states' AND version = 1")[0][0]
            .as<std::string>(),
        "DESTROYED");
    tx.abort();
  }
  EXPECT_EQ(CountAsSuperuser("SELECT count(*) FROM org_keys WHERE org_id = 'org-key-states' "
                             "AND version = 1 AND sealed_private_key IS NOT NULL"),
            1);
  {
    auto connection = Connect(AppRole::kDecryptor);
    pqxx::work tx(*connection);
    SetOrg(tx, kKeys);
    tx.exec(store(kKeys, 1, hex(0x33, 32), sealed, "DESTROYED", "1", signature));
    EXPECT_TRUE(tx.exec("SELECT sealed_private_key IS NULL FROM org_keys "
                        "WHERE org_id = 'org-key-states' AND version = 1")[0][0]
                    .as<bool>());
    // Once destroyed, it cannot be given a sealed half again.
    EXPECT_THROW(tx.exec(store(kKeys, 1, hex(0x33, 32), sealed, "RETIRED", "1", signature)),
                 pqxx::sql_error);
    tx.abort();
  }

  // Positive control, as each role: the rotation the key authority makes (ACTIVE key 2
  // RETIRING, new key 3 ACTIVE, key 1 DESTROYED) goes through.
  for (const AppRole role : {AppRole::kDecryptor, AppRole::kAdmin}) {
    SCOPED_TRACE(AppRoleName(role));
    auto connection = Connect(role);
    pqxx::work tx(*connection);
    SetOrg(tx, kKeys);
    tx.exec(store(kKeys, 2, hex(0x60, 32), "NULL", "RETIRING", "1", signature));
    tx.exec(store(kKeys, 3, hex(0x70, 32), sealed, "ACTIVE", "1", signature));
    tx.exec(store(kKeys, 1, hex(0x33, 32), "NULL", "DESTROYED", "1", signature));
    const pqxx::result rows = tx.exec(
        "SELECT version, state FROM org_keys WHERE org_id = 'org-key-states' ORDER BY version");
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[0][1].as<std::string>(), "DESTROYED");
    EXPECT_EQ(rows[1][1].as<std::string>(), "RETIRING");
    EXPECT_EQ(rows[2][1].as<std::string>(), "ACTIVE");
    tx.abort();
  }
  EXPECT_EQ(TenantStateDigest(), before);
}

// The database links every event itself (format 2) and records the role that appended it:
// the events of the write role's puts, deletes and refusals name the write role, those of
// the decrypt and admin paths theirs, and the one chain they make verifies.
TEST_F(IsolationTest, EventsNameTheRoleThatAppendedThemAndTheChainVerifies) {
  constexpr char kOrg[] = "org-chain";
  SeedOrg(*db_, kOrg);
  std::unique_ptr<ConnectionPool> writer = db_->Pool(AppRole::kWriter);
  std::unique_ptr<ConnectionPool> decryptor = db_->Pool(AppRole::kDecryptor);
  std::unique_ptr<ConnectionPool> admin = db_->Pool(AppRole::kAdmin);
  CredentialStore store;
  AuditLog log;
  const auto put = [&](std::uint8_t byte) {
    return writer->Run(kOrg, [&](Transaction& tx) -> absl::Status {
      return InsertVersion(tx, store, "chained", "put-" + std::to_string(byte), std::nullopt,
                           {byte});
    });
  };
  const auto append = [&](ConnectionPool& pool, const std::string& action) {
    return pool.Run(kOrg, [&](Transaction& tx) {
      return log.Append(tx, {"caller", action, "chained", "ok", "r", ""}).status();
    });
  };
  ASSERT_TRUE(put(1).ok());
  ASSERT_TRUE(append(*decryptor, "credential.get").ok());
  ASSERT_TRUE(put(2).ok());
  ASSERT_TRUE(writer
                  ->Run(kOrg,
                        [&](Transaction& tx) {
                          return log
                              .AppendDenial(tx,
                                            {"intruder", "access.denied", "CredentialService/Put",
                                             "permission_denied", "r-denied", ""})
                              .status();
                        })
                  .ok());
  ASSERT_TRUE(append(*admin, "org.describe").ok());
  absl::StatusOr<DeleteResult> deleted = absl::UnknownError("not run");
  ASSERT_TRUE(writer
                  ->Run(kOrg,
                        [&](Transaction& tx) {
                          deleted = store.Delete(tx, DeleteRequest{"chained",
                                                                   DeleteMode::kCryptoErase,
                                                                   std::nullopt,
                                                                   std::nullopt,
                                                                   {},
                                                                   "svc",
                                                                   "r-erase"});
                          return deleted.status();
                        })
                  .ok());
  ASSERT_EQ(deleted->outcome, DeleteOutcome::kDone);

  struct Expected {
    const char* action;
    AppRole role;
  };
  const Expected expected[] = {
      {"credential.put", AppRole::kWriter}, {"credential.get", AppRole::kDecryptor},
      {"credential.put", AppRole::kWriter}, {"access.denied", AppRole::kWriter},
      {"org.describe", AppRole::kAdmin},    {"credential.erase", AppRole::kWriter},
  };
  const auto verify = [&](std::vector<AuditEvent>* events) {
    absl::StatusOr<AuditVerification> verification = absl::UnknownError("not run");
    const absl::Status status = decryptor->Run(kOrg, [&](Transaction& tx) -> absl::Status {
      if (events != nullptr) {
        absl::StatusOr<std::vector<AuditEvent>> listed = log.List(tx, 0, 100);
        if (!listed.ok()) return listed.status();
        *events = *std::move(listed);
      }
      verification = log.Verify(tx);
      return verification.status();
    });
    EXPECT_TRUE(status.ok()) << status;
    return verification.ok() ? *verification : AuditVerification{};
  };
  std::vector<AuditEvent> events;
  const AuditVerification verified = verify(&events);
  ASSERT_EQ(events.size(), std::size(expected));
  for (std::size_t i = 0; i < events.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(events[i].seq, i + 1);
    EXPECT_EQ(events[i].action, expected[i].action);
    EXPECT_EQ(events[i].chain_format, crypto::AuditChainFormat::kV2);
    EXPECT_EQ(events[i].appended_by, db_->RoleName(expected[i].role));
    if (i > 0) {
      EXPECT_EQ(events[i].prev_hash, events[i - 1].hash);
    }
  }
  EXPECT_EQ(events.back().seq, deleted->audit_seq);
  EXPECT_TRUE(verified.ok) << verified.problem;
  EXPECT_EQ(verified.events_checked, events.size());

  // The appending role is part of what the hash covers: claiming that the decrypt role
  // made a put breaks the chain at that event.
  db_->SuperuserExec(
      "SET session_replication_role = replica; UPDATE audit_events SET "
      "appended_by = '" +
      db_->RoleName(AppRole::kDecryptor) + "' WHERE org_id = 'org-chain' AND seq = 3");
  const AuditVerification tampered = verify(nullptr);
  EXPECT_FALSE(tampered.ok);
  EXPECT_EQ(tampered.broken_seq, 3u);
  EXPECT_EQ(tampered.kind, AuditBreak::kHashMismatch);
}

TEST_F(IsolationTest, WriteRoleCannotReadEnvelopesOrSealedPrivateKeys) {
  const char* const denied[] = {
      "SELECT envelope FROM credentials",
      "SELECT * FROM credentials",
      "SELECT count(*) FROM credentials WHERE envelope IS NOT NULL",
      "SELECT sealed_private_key FROM org_keys",
      "SELECT sealed_private_key FROM root_keys",
      "UPDATE credentials SET envelope = envelope",  // copying it around needs SELECT too
  };
  for (const AppRole role : {AppRole::kWriter, AppRole::kAdmin}) {
    for (const char* sql : denied) ExpectPrivilegeRefused(role, sql);
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
  const long events_before = CountAsSuperuser("SELECT count(*) FROM audit_events");
  ASSERT_GT(events_before, 0);
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
  EXPECT_EQ(CountAsSuperuser("SELECT count(*) FROM audit_events"), events_before);
}

// Retention and re-seal jobs go through functions too (schema version 10): no role, the
// admin and decrypt roles included, writes credentials, idempotency keys or re-seal jobs
// itself, nor locks their rows (FOR UPDATE needs UPDATE). The same work through the store
// API still succeeds.
TEST_F(IsolationTest, NoRoleWritesCredentialsIdempotencyKeysOrResealJobsDirectly) {
  const std::string zero = kZeroHash;
  const std::vector<std::string> refused = {
      "UPDATE credentials SET envelope = NULL, erased = true, deleted_at = now()",
      "UPDATE credentials SET deleted_at = NULL",
      "UPDATE credentials SET is_current = true",
      "DELETE FROM credentials WHERE NOT is_current",
      "INSERT INTO credentials (org_id, name, version, envelope, org_key_version, "
      "writer_key_version, created_by, is_current) "
      "VALUES ('org-a', 'crm/token', 9, '\\x01', 1, 1, 'svc', false)",
      "SELECT name FROM credentials FOR UPDATE",
      "INSERT INTO idempotency_keys VALUES ('org-a', 'k', " + zero + ", 'crm/token', 1)",
      "UPDATE idempotency_keys SET created_at = now()",
      "DELETE FROM idempotency_keys WHERE created_at < now()",
      "INSERT INTO reseal_jobs (org_id, job_id, kind, from_version, to_version, state, "
      "created_by) VALUES ('org-a', 'planted', 'ORG_KEY', 1, 2, 'PENDING', 'svc')",
      "UPDATE reseal_jobs SET state = 'PENDING', ended_at = NULL",
      "DELETE FROM reseal_jobs",
      "SELECT job_id FROM reseal_jobs FOR UPDATE SKIP LOCKED",
  };
  const std::string before = TenantStateDigest();
  const long jobs_before = CountAsSuperuser("SELECT count(*) FROM reseal_jobs");
  for (const AppRole role : kAppRoles) {
    for (const std::string& sql : refused) ExpectPrivilegeRefused(role, sql);
  }
  // Retention is the admin role's; re-seal jobs the decrypt and admin roles'.
  for (const AppRole role : {AppRole::kWriter, AppRole::kDecryptor}) {
    ExpectPrivilegeRefused(role,
                           "SELECT * FROM credvault_purge_credential_versions('org-a', "
                           "now() + interval '1 day', 100, '', 0)");
    ExpectPrivilegeRefused(
        role, "SELECT credvault_purge_idempotency_keys('org-a', now() + interval '1 day', 100)");
  }
  ExpectPrivilegeRefused(AppRole::kWriter,
                         "SELECT * FROM credvault_create_reseal_job('org-a', 'planted', "
                         "'ORG_KEY', 1, 2, 0, 'svc', NULL, NULL)");
  ExpectPrivilegeRefused(AppRole::kWriter, "SELECT * FROM credvault_claim_reseal_job('org-a')");
  ExpectPrivilegeRefused(AppRole::kWriter,
                         "SELECT credvault_update_reseal_job('org-a', 'planted', 'FAILED', 0, 0, "
                         "NULL, NULL, '')");
  EXPECT_EQ(TenantStateDigest(), before);
  EXPECT_EQ(CountAsSuperuser("SELECT count(*) FROM reseal_jobs"), jobs_before);

  // Positive control, in an org of its own: retention through the store API erases and
  // deletes a soft-deleted credential's old version and expires its idempotency key.
  const std::string org = "org-retained";
  SeedOrg(*db_, org);
  std::unique_ptr<ConnectionPool> writer = db_->Pool(AppRole::kWriter);
  std::unique_ptr<ConnectionPool> admin = db_->Pool(AppRole::kAdmin);
  std::unique_ptr<ConnectionPool> decryptor = db_->Pool(AppRole::kDecryptor);
  const absl::Status put = writer->Run(org, [&](Transaction& tx) -> absl::Status {
    CredentialStore store;
    for (int i = 0; i < 2; ++i) {
      if (absl::Status s = InsertVersion(tx, store, "crm/token", "r0", "idem-" + std::to_string(i));
          !s.ok()) {
        return s;
      }
    }
    return store
        .Delete(
            tx,
            DeleteRequest{
                "crm/token", DeleteMode::kSoftDelete, std::nullopt, std::nullopt, {}, "svc", "r1"})
        .status();
  });
  ASSERT_TRUE(put.ok()) << put;
  const absl::Time far_future = absl::Now() + absl::Hours(24 * 365);
  absl::StatusOr<CredentialPurgeBatch> purged = absl::UnknownError("not run");
  absl::StatusOr<std::size_t> expired = absl::UnknownError("not run");
  const absl::Status retention = admin->Run(org, [&](Transaction& tx) -> absl::Status {
    purged = RetentionStore().PurgeCredentialVersions(tx, far_future, 100);
    if (!purged.ok()) return purged.status();
    expired = RetentionStore().PurgeIdempotencyKeys(tx, far_future, 100);
    return expired.status();
  });
  ASSERT_TRUE(retention.ok()) << retention;
  EXPECT_EQ(purged->examined, 2u);
  EXPECT_EQ(purged->erased, 2u);
  EXPECT_EQ(purged->deleted, 1u);  // the newest stays as a tombstone
  EXPECT_EQ(*expired, 2u);
  EXPECT_EQ(CountAsSuperuser("SELECT count(*) FROM credentials WHERE org_id = 'org-retained' "
                             "AND erased AND envelope IS NULL AND version = 2"),
            1);
  EXPECT_EQ(CountAsSuperuser("SELECT count(*) FROM credentials WHERE org_id = 'org-retained'"), 1);

  // And re-seal jobs: the admin role creates one, the decrypt role claims and runs it.
  const ResealJobStore jobs;
  const absl::Status created = admin->Run(org, [&](Transaction& tx) {
    NewResealJob job;
    job.job_id = "job-1";
    job.from_version = 1;
    job.to_version = 2;
    job.created_by = "admin";
    return jobs.Create(tx, job).status();
  });
  ASSERT_TRUE(created.ok()) << created;
  const absl::Status ran = decryptor->Run(org, [&](Transaction& tx) -> absl::Status {
    absl::StatusOr<std::optional<ResealJob>> claimed = jobs.LockOpen(tx);
    if (!claimed.ok()) return claimed.status();
    if (!claimed->has_value()) return absl::NotFoundError("no job to claim");
    ResealJob job = **claimed;
    job.state = ResealJobState::kSucceeded;
    job.items_done = 1;
    return jobs.Update(tx, job);
  });
  ASSERT_TRUE(ran.ok()) << ran;
  EXPECT_EQ(CountAsSuperuser("SELECT count(*) FROM reseal_jobs WHERE org_id = 'org-retained' "
                             "AND state = 'SUCCEEDED' AND items_done = 1 AND ended_at IS NOT NULL"),
            1);
}

// The functions keep their invariants whatever their caller passes: a job's state only
// moves forward and a finished job is final, its progress never shrinks, an org key job
// needs an active org, and retention never erases a version that is not deleted.
TEST_F(IsolationTest, FunctionsRefuseWhatTheirStatementsNeverMeant) {
  const std::string org = "org-jobs";
  SeedOrg(*db_, org);
  std::unique_ptr<ConnectionPool> admin = db_->Pool(AppRole::kAdmin);
  std::unique_ptr<ConnectionPool> decryptor = db_->Pool(AppRole::kDecryptor);
  const ResealJobStore jobs;
  absl::StatusOr<ResealJob> created = absl::UnknownError("not run");
  ASSERT_TRUE(admin
                  ->Run(org,
                        [&](Transaction& tx) {
                          NewResealJob job;
                          job.job_id = "job-1";
                          job.from_version = 1;
                          job.to_version = 2;
                          job.items_total = 5;
                          job.created_by = "admin";
                          created = jobs.Create(tx, job);
                          return created.status();
                        })
                  .ok());
  ResealJob running = *created;
  running.state = ResealJobState::kRunning;
  running.items_done = 3;
  const auto update = [&](ConnectionPool& pool, const ResealJob& job) {
    return pool.Run(org, [&](Transaction& tx) { return jobs.Update(tx, job); });
  };
  ASSERT_TRUE(update(*decryptor, running).ok());

  ResealJob back = running;
  back.state = ResealJobState::kPending;
  const absl::Status backwards = update(*decryptor, back);
  EXPECT_EQ(backwards.code(), absl::StatusCode::kFailedPrecondition) << backwards;
  EXPECT_THAT(backwards.message(), HasSubstr("may not move back"));
  ResealJob shrunk = running;
  shrunk.items_done = 2;
  const absl::Status lost = update(*admin, shrunk);
  EXPECT_EQ(lost.code(), absl::StatusCode::kFailedPrecondition) << lost;
  EXPECT_THAT(lost.message(), HasSubstr("may not lose progress"));

  ResealJob cancelled = running;
  cancelled.state = ResealJobState::kCancelled;
  ASSERT_TRUE(update(*admin, cancelled).ok());
  for (const ResealJobState state : {ResealJobState::kRunning, ResealJobState::kSucceeded}) {
    ResealJob revived = cancelled;
    revived.state = state;
    const absl::Status final_state = update(*decryptor, revived);
    EXPECT_EQ(final_state.code(), absl::StatusCode::kFailedPrecondition) << final_state;
    EXPECT_THAT(final_state.message(), HasSubstr("is finished"));
  }
  EXPECT_EQ(CountAsSuperuser("SELECT count(*) FROM reseal_jobs WHERE org_id = 'org-jobs' "
                             "AND state = 'CANCELLED' AND items_done = 3"),
            1);

  // Raw calls with the functions' own grants: no job for an org that does not exist, and
  // no live version erased even with a cutoff far in the future.
  {
    auto connection = Connect(AppRole::kDecryptor);
    pqxx::work tx(*connection);
    EXPECT_THROW(tx.exec("SELECT * FROM credvault_create_reseal_job('org-missing', 'job-1', "
                         "'ORG_KEY', 1, 2, 0, 'svc', NULL, NULL)"),
                 pqxx::sql_error);
  }
  const long a_live =
      CountAsSuperuser("SELECT count(*) FROM credentials WHERE org_id = 'org-a' AND NOT erased");
  ASSERT_GT(a_live, 0);
  {
    auto connection = Connect(AppRole::kAdmin);
    pqxx::work tx(*connection);
    const pqxx::result batch = tx.exec(
        "SELECT examined_count, erased_count, deleted_count FROM "
        "credvault_purge_credential_versions('org-a', '2100-01-01', 10000, '', 0)");
    EXPECT_EQ(batch[0][0].as<long>(), 0);
    EXPECT_EQ(batch[0][1].as<long>(), 0);
    EXPECT_EQ(batch[0][2].as<long>(), 0);
    tx.commit();
  }
  EXPECT_EQ(
      CountAsSuperuser("SELECT count(*) FROM credentials WHERE org_id = 'org-a' AND NOT erased"),
      a_live);
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
  const long a_events =
      CountAsSuperuser("SELECT count(*) FROM audit_events WHERE org_id = 'org-a'");
  const long b_events =
      CountAsSuperuser("SELECT count(*) FROM audit_events WHERE org_id = 'org-b'");
  ASSERT_GT(a_events, 0);
  ASSERT_GT(b_events, 0);
  auto connection = Connect(AppRole::kAdmin);
  pqxx::work tx(*connection);
  SetOrg(tx, kOrgA);
  EXPECT_EQ(tx.exec("SELECT audit_purge_before(now() + interval '1 day')")[0][0].as<long>(),
            a_events);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM audit_events")[0][0].as<long>(), 0);
  tx.exec("SELECT set_config('credvault.org_id', 'org-b', true)");
  EXPECT_EQ(tx.exec("SELECT count(*) FROM audit_events")[0][0].as<long>(), b_events);
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

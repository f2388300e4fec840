#include "tests/storage/test_database.h"

#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <random>
#include <sstream>

#include "gtest/gtest.h"
#include "storage/org_store.h"
#include "storage/root_key_store.h"

namespace credvault::storage::testing {
namespace {

std::string RequireEnv(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    std::cerr << "FATAL: environment variable " << name
              << " is not set. These tests need a real PostgreSQL: run scripts/test.sh, or\n"
              << "  scripts/pg-throwaway.sh start /tmp/pg && source /tmp/pg/env\n";
    std::abort();
  }
  return value;
}

std::string RandomHex(std::size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device device;
  std::string out;
  for (std::size_t i = 0; i < bytes; ++i) {
    const unsigned value = device() & 0xFF;
    out.push_back(kHex[value >> 4]);
    out.push_back(kHex[value & 0xF]);
  }
  return out;
}

void ReplaceAll(std::string& text, const std::string& from, const std::string& to) {
  for (std::size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size()) {
    text.replace(at, from.size(), to);
  }
}

std::string RunCommand(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed: " + command);
  std::array<char, 4096> buffer;
  std::size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    output.append(buffer.data(), n);
  if (::pclose(pipe) != 0) throw std::runtime_error("command failed: " + command);
  return output;
}

}  // namespace

const ClusterEnv& ClusterEnv::Get() {
  static const ClusterEnv env{RequireEnv("CREDVAULT_PG_HOST"),
                              RequireEnv("CREDVAULT_PG_SOCKET_DIR"),
                              RequireEnv("CREDVAULT_PG_PORT"), RequireEnv("CREDVAULT_PG_SUPERUSER"),
                              RequireEnv("CREDVAULT_PG_BIN")};
  return env;
}

namespace {
std::string MaintenanceConninfo() {
  const ClusterEnv& env = ClusterEnv::Get();
  return "host=" + env.socket_dir + " port=" + env.port + " user=" + env.superuser +
         " dbname=postgres";
}
}  // namespace

std::string_view AppRoleName(AppRole role) {
  switch (role) {
    case AppRole::kWriter:
      return "writer";
    case AppRole::kDecryptor:
      return "decryptor";
    case AppRole::kAdmin:
      return "admin";
  }
  return "unknown";
}

std::string UniqueSuffix() {
  static std::atomic<int> counter{0};
  return "p" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + RandomHex(3);
}

std::unique_ptr<TestDatabase> TestDatabase::Create(std::optional<int> migrate_to) {
  std::unique_ptr<TestDatabase> db(new TestDatabase());
  const std::string suffix = UniqueSuffix();
  db->name_ = "cvt_" + suffix;
  db->owner_ = "cvt_" + suffix + "_owner";
  db->prefix_ = "cvt_" + suffix;
  db->writer_password_ = RandomHex(16);
  db->decryptor_password_ = RandomHex(16);
  db->admin_password_ = RandomHex(16);
  {
    pqxx::connection admin(MaintenanceConninfo());
    pqxx::nontransaction tx(admin);
    // Identifiers built from UniqueSuffix() only: [a-z0-9_].
    tx.exec("CREATE ROLE " + db->owner_ + " LOGIN CREATEROLE NOSUPERUSER NOBYPASSRLS");
    tx.exec("CREATE DATABASE " + db->name_ + " OWNER " + db->owner_);
  }
  if (!migrate_to.has_value() || *migrate_to > 0) {
    MigratorOptions options = db->MigratorOptionsFor();
    options.target_version = migrate_to;
    const absl::StatusOr<MigrationReport> report = Migrate(options);
    if (!report.ok()) {
      ADD_FAILURE() << "migration failed: " << report.status();
      return nullptr;
    }
  }
  return db;
}

TestDatabase::~TestDatabase() {
  try {
    pqxx::connection admin(MaintenanceConninfo());
    pqxx::nontransaction tx(admin);
    tx.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    for (const AppRole role : {AppRole::kWriter, AppRole::kDecryptor, AppRole::kAdmin}) {
      tx.exec("DROP ROLE IF EXISTS " + RoleName(role));
    }
    tx.exec("DROP ROLE IF EXISTS " + owner_);
  } catch (const std::exception& e) {
    std::cerr << "warning: could not drop test database " << name_ << ": " << e.what() << "\n";
  }
}

std::string TestDatabase::RoleName(AppRole role) const {
  return prefix_ + "_" + std::string(AppRoleName(role));
}

std::string TestDatabase::SuperuserConninfo() const {
  const ClusterEnv& env = ClusterEnv::Get();
  return "host=" + env.socket_dir + " port=" + env.port + " user=" + env.superuser +
         " dbname=" + name_;
}

std::string TestDatabase::OwnerConninfo() const {
  const ClusterEnv& env = ClusterEnv::Get();
  return "host=" + env.socket_dir + " port=" + env.port + " user=" + owner_ + " dbname=" + name_;
}

std::string TestDatabase::RoleConninfo(AppRole role) const {
  const ClusterEnv& env = ClusterEnv::Get();
  const std::string& password = role == AppRole::kWriter      ? writer_password_
                                : role == AppRole::kDecryptor ? decryptor_password_
                                                              : admin_password_;
  return "host=" + env.host + " port=" + env.port + " user=" + RoleName(role) +
         " password=" + password + " dbname=" + name_ + " connect_timeout=5";
}

MigratorOptions TestDatabase::MigratorOptionsFor() const {
  MigratorOptions options;
  options.database_url = OwnerConninfo();
  options.role_prefix = prefix_;
  options.writer_password = writer_password_;
  options.decryptor_password = decryptor_password_;
  options.admin_password = admin_password_;
  return options;
}

std::unique_ptr<ConnectionPool> TestDatabase::Pool(AppRole role, std::size_t max_size) const {
  PoolOptions options;
  options.connection_string = RoleConninfo(role);
  options.max_size = max_size;
  absl::StatusOr<std::unique_ptr<ConnectionPool>> pool = ConnectionPool::Create(options);
  EXPECT_TRUE(pool.ok()) << pool.status();
  return pool.ok() ? std::move(*pool) : nullptr;
}

void TestDatabase::SuperuserExec(const std::string& sql) const {
  pqxx::connection connection(SuperuserConninfo());
  pqxx::nontransaction tx(connection);
  tx.exec(sql);
}

std::string TestDatabase::SchemaDump() const {
  const ClusterEnv& env = ClusterEnv::Get();
  std::string dump = RunCommand(env.bin_dir + "/pg_dump --schema-only -h " + env.socket_dir +
                                " -p " + env.port + " -U " + env.superuser + " " + name_);
  // pg_dump fences its output with a random \restrict key; it is not schema.
  std::istringstream lines(dump);
  std::string normalized;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("\\restrict ", 0) == 0 || line.rfind("\\unrestrict ", 0) == 0) continue;
    normalized += line + "\n";
  }
  ReplaceAll(normalized, owner_, "OWNER_ROLE");
  ReplaceAll(normalized, prefix_ + "_", "PREFIX_");
  return normalized;
}

NewOrgKey TestOrgKey(std::int32_t version, std::uint8_t fill, std::int32_t root_key_version) {
  NewOrgKey key;
  key.version = version;
  key.public_key = std::vector<std::uint8_t>(32, fill);
  key.sealed_private_key = std::vector<std::uint8_t>(80, static_cast<std::uint8_t>(fill + 0x11));
  key.root_key_version = root_key_version;
  key.state = OrgKeyState::kActive;
  key.directory_key_version = 1;
  key.signature = TestOrgKeySignature(OrgKeyState::kActive);
  return key;
}

std::vector<std::uint8_t> TestOrgKeySignature(OrgKeyState state) {
  return std::vector<std::uint8_t>(64, static_cast<std::uint8_t>(0xA0 + static_cast<int>(state)));
}

OrgKeyResigner TestResigner() {
  return [](const OrgKey& key, OrgKeyState new_state) -> absl::StatusOr<NewOrgKey> {
    NewOrgKey resigned;
    resigned.version = key.version;
    resigned.public_key = key.public_key;
    resigned.root_key_version = key.root_key_version;
    resigned.state = new_state;
    resigned.directory_key_version = 1;
    resigned.signature = TestOrgKeySignature(new_state);
    return resigned;
  };
}

void SeedOrg(const TestDatabase& db, const std::string& org_id) {
  std::unique_ptr<ConnectionPool> decryptor = db.Pool(AppRole::kDecryptor, 1);
  std::unique_ptr<ConnectionPool> admin = db.Pool(AppRole::kAdmin, 1);
  ASSERT_NE(decryptor, nullptr);
  ASSERT_NE(admin, nullptr);
  ASSERT_TRUE(decryptor
                  ->RunWithoutOrg([](Transaction& tx) -> absl::Status {
                    absl::StatusOr<std::vector<RootKey>> keys = RootKeyStore().List(tx);
                    if (!keys.ok() || !keys->empty()) return keys.status();
                    return RootKeyStore().Rotate(
                        tx, NewRootKey{1, std::vector<std::uint8_t>(32, 0x11),
                                       std::vector<std::uint8_t>(48, 0x22), "test-seal-key"});
                  })
                  .ok());
  // The write role may not create orgs or plant org key records (it is untrusted; see
  // storage/migrations/0009_org_key_signatures.sql): the key authority does.
  const absl::Status created = admin->Run(
      org_id, [](Transaction& tx) { return OrgStore().CreateOrg(tx, TestOrgKey(1, 0x33)); });
  ASSERT_TRUE(created.ok()) << created;
}

}  // namespace credvault::storage::testing

#ifndef CREDVAULT_TESTS_STORAGE_TEST_DATABASE_H_
#define CREDVAULT_TESTS_STORAGE_TEST_DATABASE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/migrator.h"
#include "storage/org_store.h"
#include "storage/pool.h"

namespace credvault::storage::testing {

// The throwaway cluster started by scripts/test.sh (or scripts/pg-throwaway.sh): read from
// CREDVAULT_PG_* variables. A missing variable aborts the test binary with a clear message;
// these tests never skip silently.
struct ClusterEnv {
  std::string host;        // loopback address (TCP, SCRAM)
  std::string socket_dir;  // local socket (trust)
  std::string port;
  std::string superuser;
  std::string bin_dir;

  static const ClusterEnv& Get();
};

enum class AppRole { kWriter, kDecryptor, kAdmin };
std::string_view AppRoleName(AppRole role);

// A uniquely named database with its own owner role and application-role prefix, so that
// test binaries running in parallel on one cluster never meet. Dropped on destruction.
class TestDatabase {
 public:
  // Creates the database and its owner role; `migrate_to` = nullopt migrates fully,
  // 0 leaves the database empty.
  static std::unique_ptr<TestDatabase> Create(std::optional<int> migrate_to = std::nullopt);
  ~TestDatabase();

  const std::string& name() const { return name_; }
  const std::string& owner() const { return owner_; }
  const std::string& role_prefix() const { return prefix_; }
  std::string RoleName(AppRole role) const;

  // Socket connection as the superuser / the owner (trust authentication).
  std::string SuperuserConninfo() const;
  std::string OwnerConninfo() const;
  // TCP connection as an application role with its SCRAM password.
  std::string RoleConninfo(AppRole role) const;

  MigratorOptions MigratorOptionsFor() const;
  std::unique_ptr<ConnectionPool> Pool(AppRole role, std::size_t max_size = 4) const;

  // Runs SQL as the superuser (test setup and tampering only). Throws on error.
  void SuperuserExec(const std::string& sql) const;
  std::string SchemaDump() const;  // pg_dump --schema-only, role names normalized

 private:
  TestDatabase() = default;
  std::string name_;
  std::string owner_;
  std::string prefix_;
  std::string writer_password_;
  std::string decryptor_password_;
  std::string admin_password_;
};

// A fresh identifier fragment unique across processes ("p<pid>_<n>_<random>").
std::string UniqueSuffix();

// An org key record as the key authority would store it: public key `fill` x 32, sealed
// private half `fill + 0x11` x 80 (so key 1 made with 0x33 is the one SeedOrg makes), ACTIVE,
// directory key version 1. The database cannot verify key directory signatures (it holds no
// pins; the write tier verifies before sealing, crypto/org_key.h), so storage tests sign with
// fixed bytes of the right size: TestOrgKeySignature(OrgKeyState::kActive).
NewOrgKey TestOrgKey(std::int32_t version, std::uint8_t fill, std::int32_t root_key_version = 1);

// The fixed 64-byte "signature" of a test record in `state`; one per state, so a test can
// tell which signing stored a record.
std::vector<std::uint8_t> TestOrgKeySignature(OrgKeyState state);

// An OrgKeyResigner for storage tests: the stored record in the new state with
// TestOrgKeySignature(new_state) and no sealed half (the stored one is kept; a DESTROYED
// record loses it). It checks nothing, which is the key authority's job (ResignOrgKeyRecord).
OrgKeyResigner TestResigner();

// Seeds a root key (version 1) and org `org_id` with org key version 1, through the pools
// of the decrypt and admin roles, as the service does.
void SeedOrg(const TestDatabase& db, const std::string& org_id);

}  // namespace credvault::storage::testing

#endif  // CREDVAULT_TESTS_STORAGE_TEST_DATABASE_H_

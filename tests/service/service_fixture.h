#ifndef CREDVAULT_TESTS_SERVICE_SERVICE_FIXTURE_H_
#define CREDVAULT_TESTS_SERVICE_SERVICE_FIXTURE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <pqxx/result>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "server/base/call_context.h"
#include "server/base/reloadable.h"
#include "server/config/config.h"
#include "server/keys/decrypt_tier_keys.h"
#include "server/keys/org_key_cache.h"
#include "server/keys/write_tier_keys.h"
#include "server/service/access_handler.h"
#include "server/service/audit_handler.h"
#include "server/service/credential_handler.h"
#include "server/service/key_authority_handler.h"
#include "server/service/key_rotation_handler.h"
#include "server/service/local_key_authority.h"
#include "server/service/org_handler.h"
#include "storage/pool.h"
#include "tests/storage/test_database.h"

namespace credvault::server::testing {

// Both tiers of one process, built in-process against a throwaway database migrated like a
// real one (tests/storage/test_database.h): each tier's pool logs in with its own
// application role, the decrypt tier unwraps a root key made as `credvaultd init-root-key`
// makes one, and the write tier pins that root key and the key directory key, as
// docs/architecture.md ("The two tiers") describes. No gRPC, no listener: calls go straight
// to the handlers of server/service with a CallContext, as server/api would make them after
// authorising the caller.
class ServiceStack {
 public:
  // A fresh database and fresh keys. Aborts the test binary when the test cluster is
  // missing (CREDVAULT_PG_* variables), as the storage tests do.
  static std::unique_ptr<ServiceStack> Create();
  ~ServiceStack();

  ServiceStack(const ServiceStack&) = delete;
  ServiceStack& operator=(const ServiceStack&) = delete;

  // A call by `principal`, with a fresh request id and a deadline 30 s away.
  static CallContext Call(const std::string& principal);

  // The handlers, each on the database role of the tier that serves it.
  const CredentialHandler& credentials() const { return *credentials_; }
  const AccessHandler& access() const { return *access_; }
  const LocalKeyAuthority& key_authority() const { return *key_authority_; }
  const KeyAuthorityHandler& key_authority_service() const { return *key_authority_service_; }
  const OrgHandler& orgs() const { return *orgs_; }
  const AuditHandler& audit() const { return *audit_; }
  const KeyRotationHandler& key_rotation() const { return *key_rotation_; }

  // Creates `org_id` as AdminService.CreateOrg does (an org.create event opens its chain).
  absl::Status CreateOrg(const std::string& org_id) const;
  // Puts `secret` under `name` as a writer would; returns the new version.
  absl::StatusOr<std::uint64_t> Put(const std::string& org_id, const std::string& name,
                                    const std::string& secret) const;

  // Everything a request could have written, read as the superuser (row-level security
  // does not hide other orgs): row counts and contents of every tenant and key table and
  // every audit chain's head. Equal fingerprints: nothing was written in between.
  std::string DatabaseFingerprint() const;
  // The number of events of `action` in `org_id`'s audit chain.
  std::int64_t AuditEventCount(const std::string& org_id, const std::string& action) const;
  // The newest event of `org_id`'s chain as "<action> <principal> <target> <result>"; empty
  // when the org has no chain.
  std::string LatestAuditEvent(const std::string& org_id) const;
  // The seq of `org_id`'s audit chain head (0: no chain).
  std::int64_t AuditHeadSeq(const std::string& org_id) const;

  const storage::testing::TestDatabase& database() const { return *db_; }
  storage::ConnectionPool& writer_pool() const { return *writer_pool_; }
  storage::ConnectionPool& decryptor_pool() const { return *decryptor_pool_; }
  storage::ConnectionPool& admin_pool() const { return *admin_pool_; }
  const DecryptTierKeys& decrypt_keys() const { return *decrypt_keys_; }
  const WriteTierKeys& write_keys() const { return *write_keys_->Get(); }

 private:
  struct Inspector;

  ServiceStack() = default;
  // Runs `sql` with `params` ($1, $2, ...) as the superuser, in a session kept open.
  pqxx::result Inspect(const std::string& sql, const std::vector<std::string>& params) const;
  std::string QueryOne(const std::string& sql) const;

  std::string key_dir_;
  std::unique_ptr<storage::testing::TestDatabase> db_;
  KeysConfig keys_config_;
  std::unique_ptr<storage::ConnectionPool> writer_pool_;
  std::unique_ptr<storage::ConnectionPool> decryptor_pool_;
  std::unique_ptr<storage::ConnectionPool> admin_pool_;
  std::optional<DecryptTierKeys> decrypt_keys_;
  std::optional<Reloadable<WriteTierKeys>> write_keys_;
  std::unique_ptr<OrgKeyCache> org_key_cache_;
  std::unique_ptr<LocalKeyAuthority> key_authority_;
  std::unique_ptr<KeyAuthorityHandler> key_authority_service_;
  std::unique_ptr<CredentialHandler> credentials_;
  std::unique_ptr<AccessHandler> access_;
  std::unique_ptr<OrgHandler> orgs_;
  std::unique_ptr<AuditHandler> audit_;
  std::unique_ptr<KeyRotationHandler> key_rotation_;
  mutable std::unique_ptr<Inspector> inspector_;
};

// The principals the service tests call as; their names are only recorded (authorisation
// is server/api's, tested in authorization_matrix_test.cc).
inline constexpr char kWriterPrincipal[] = "spiffe://credvault.test/backend";
inline constexpr char kDecryptorPrincipal[] = "spiffe://credvault.test/worker";
inline constexpr char kAdminPrincipal[] = "spiffe://credvault.test/admin";

}  // namespace credvault::server::testing

#endif  // CREDVAULT_TESTS_SERVICE_SERVICE_FIXTURE_H_

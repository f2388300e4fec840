#include "tests/service/service_fixture.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <utility>

#include "absl/time/clock.h"
#include "crypto/key_buffer.h"
#include "crypto/root_key.h"
#include "crypto/secret_view.h"
#include "gtest/gtest.h"
#include "server/keys/key_loading.h"
#include "storage/root_key_store.h"

namespace credvault::server::testing {
namespace {

using ::credvault::storage::testing::AppRole;
using ::credvault::storage::testing::TestDatabase;
using ::credvault::storage::testing::UniqueSuffix;

// The limit every handler is built with: the default of `limits.max_secret_size`.
constexpr std::size_t kMaxSecretSize = 64 * 1024;

// Set-up cannot go on without its value: the failure is reported and the binary stops.
template <typename T>
T ValueOrDie(absl::StatusOr<T> value, const char* what) {
  if (!value.ok()) {
    ADD_FAILURE() << what << ": " << value.status();
    std::abort();
  }
  return *std::move(value);
}

void OkOrDie(const absl::Status& status, const char* what) {
  if (!status.ok()) {
    ADD_FAILURE() << what << ": " << status;
    std::abort();
  }
}

// A fresh owner-only file of 32 random bytes, as the key files of a deployment are.
std::string NewKeyFile(const std::string& dir, const std::string& name) {
  const crypto::KeyBuffer key = ValueOrDie(crypto::KeyBuffer::Generate(32), "key generation");
  const auto bytes = key.RevealSecret();
  const std::string path = dir + "/" + name;
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  }
  chmod(path.c_str(), 0600);
  return path;
}

}  // namespace

std::unique_ptr<ServiceStack> ServiceStack::Create() {
  std::unique_ptr<ServiceStack> stack(new ServiceStack());
  stack->db_ = TestDatabase::Create();

  std::string dir = "/tmp/credvault-service-keys.XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed";
    std::abort();
  }
  stack->key_dir_ = dir;
  KeysConfig& keys = stack->keys_config_;
  keys.writer_keys = WriterKeysConfig{1, {{1, NewKeyFile(dir, "writer-1.key")}}};
  keys.key_directory_signing_keys =
      KeyDirectoryKeysConfig{1, {{1, NewKeyFile(dir, "key-directory-1.key")}}};
  SealKeyConfig seal_key;
  seal_key.provider = SealKeyBackend::kFile;
  seal_key.file = NewKeyFile(dir, "seal.key");
  keys.seal_key = seal_key;
  keys.audit_signing_key_file = NewKeyFile(dir, "audit-signing.key");

  stack->writer_pool_ = stack->db_->Pool(AppRole::kWriter, 2);
  stack->decryptor_pool_ = stack->db_->Pool(AppRole::kDecryptor, 2);
  stack->admin_pool_ = stack->db_->Pool(AppRole::kAdmin, 2);

  // Root key 1, made and stored as `credvaultd init-root-key` does.
  const std::unique_ptr<crypto::SealKeyProvider> seal =
      ValueOrDie(OpenSealKey(keys), "opening the seal key");
  const crypto::SealedRootKey root =
      ValueOrDie(crypto::GenerateRootKey(1, *seal), "making root key 1");
  OkOrDie(stack->decryptor_pool_->RunWithoutOrg([&](storage::Transaction& tx) {
    return storage::RootKeyStore().Rotate(
        tx, storage::NewRootKey{1,
                                {root.public_key.begin(), root.public_key.end()},
                                root.wrapped_private_key,
                                root.seal_key_id});
  }),
          "storing root key 1");

  // The decrypt tier: unwrapped root keys, its org key cache (as served: 5 minutes), the key
  // authority and the handlers on the decrypt and admin roles.
  stack->decrypt_keys_.emplace(ValueOrDie(LoadDecryptTierKeys(keys, *stack->decryptor_pool_),
                                          "loading the decrypt tier's keys"));
  stack->org_key_cache_ = std::make_unique<OrgKeyCache>(absl::Minutes(5), 1000);
  LocalKeyAuthorityOptions authority_options;
  authority_options.max_secret_size = kMaxSecretSize;
  stack->key_authority_ = std::make_unique<LocalKeyAuthority>(
      *stack->decryptor_pool_, *stack->decrypt_keys_, *stack->org_key_cache_, authority_options);
  stack->key_authority_service_ =
      std::make_unique<KeyAuthorityHandler>(*stack->key_authority_, kMaxSecretSize);
  AccessHandlerOptions access_options;
  access_options.max_secret_size = kMaxSecretSize;
  stack->access_ = std::make_unique<AccessHandler>(*stack->decryptor_pool_, *stack->decrypt_keys_,
                                                   *stack->org_key_cache_, access_options);
  stack->orgs_ = std::make_unique<OrgHandler>(*stack->admin_pool_, *stack->decrypt_keys_,
                                              *stack->org_key_cache_);
  stack->audit_ = std::make_unique<AuditHandler>(*stack->admin_pool_, *stack->decrypt_keys_);
  stack->key_rotation_ = std::make_unique<KeyRotationHandler>(
      *stack->admin_pool_, *stack->decryptor_pool_, *stack->decrypt_keys_, *stack->org_key_cache_);

  // The write tier: the writer key, and pins of the root key and the key directory key.
  stack->write_keys_.emplace(WriteTierKeys{
      ValueOrDie(LoadWriterKeys(keys), "loading the writer keys"),
      ValueOrDie(crypto::RootKeyPins::New({{1, crypto::RootKeyFingerprint(root.public_key)}}),
                 "pinning root key 1"),
      crypto::KeyDirectoryPins::Of(
          ValueOrDie(LoadKeyDirectorySigners(keys), "loading the key directory keys").back())});
  CredentialHandlerOptions credential_options;
  credential_options.max_secret_size = kMaxSecretSize;
  stack->credentials_ = std::make_unique<CredentialHandler>(
      *stack->writer_pool_, *stack->write_keys_, stack->key_authority_.get(), credential_options);
  return stack;
}

ServiceStack::~ServiceStack() {
  // Handlers first, then the pools they use and the inspecting session, then the database.
  inspector_.reset();
  key_rotation_.reset();
  audit_.reset();
  orgs_.reset();
  access_.reset();
  credentials_.reset();
  key_authority_service_.reset();
  key_authority_.reset();
  writer_pool_.reset();
  decryptor_pool_.reset();
  admin_pool_.reset();
  db_.reset();
  std::error_code ignored;
  std::filesystem::remove_all(key_dir_, ignored);
}

CallContext ServiceStack::Call(const std::string& principal) {
  return CallContext{principal, "req-" + UniqueSuffix(), absl::Now() + absl::Seconds(30)};
}

absl::Status ServiceStack::CreateOrg(const std::string& org_id) const {
  CreateOrgParams params;
  params.org_id = org_id;
  return orgs_->CreateOrg(Call(kAdminPrincipal), params).status();
}

absl::StatusOr<std::uint64_t> ServiceStack::Put(const std::string& org_id, const std::string& name,
                                                const std::string& secret) const {
  PutCredentialParams params;
  params.org_id = org_id;
  params.name = name;
  params.secret = crypto::SecretView::Borrow(secret);
  absl::StatusOr<PutCredentialResult> put = credentials_->Put(Call(kWriterPrincipal), params);
  if (!put.ok()) return put.status();
  return put->credential.version;
}

// One superuser session for every look at the database: the tests look before and after
// each of hundreds of calls, and a connection per look would dominate their time.
struct ServiceStack::Inspector {
  explicit Inspector(const std::string& conninfo) : connection(conninfo) {}
  pqxx::connection connection;
};

pqxx::result ServiceStack::Inspect(const std::string& sql,
                                   const std::vector<std::string>& params) const {
  if (inspector_ == nullptr) inspector_ = std::make_unique<Inspector>(db_->SuperuserConninfo());
  // Autocommit reads: each sees everything committed before it.
  pqxx::nontransaction tx(inspector_->connection);
  return tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params));
}

std::string ServiceStack::QueryOne(const std::string& sql) const {
  const pqxx::result rows = Inspect(sql, {});
  return rows.at(0)[0].is_null() ? std::string() : rows[0][0].as<std::string>();
}

std::string ServiceStack::DatabaseFingerprint() const {
  // Each table as the md5 of its rows in a fixed order; the audit heads in full.
  const auto table = [](const std::string& name, const std::string& order) {
    return "(SELECT '" + name + "=' || count(*) || ':' || md5(coalesce(string_agg(t::text, ',' " +
           "ORDER BY " + order + "), '')) FROM " + name + " t)";
  };
  return QueryOne(
      "SELECT concat_ws(' | ', " + table("orgs", "t::text") + ", " + table("org_keys", "t::text") +
      ", " + table("root_keys", "t::text") + ", " + table("credentials", "t::text") + ", " +
      table("idempotency_keys", "t::text") + ", " + table("reseal_jobs", "t::text") + ", " +
      table("compare_attempts", "t::text") + ", " + table("audit_events", "t.org_id, t.seq") +
      ", " + table("audit_heads", "t.org_id") + ", " + table("audit_checkpoints", "t::text") + ")");
}

std::int64_t ServiceStack::AuditEventCount(const std::string& org_id,
                                           const std::string& action) const {
  return Inspect("SELECT count(*) FROM audit_events WHERE org_id = $1 AND action = $2",
                 {org_id, action})
      .at(0)[0]
      .as<std::int64_t>();
}

std::string ServiceStack::LatestAuditEvent(const std::string& org_id) const {
  const pqxx::result rows = Inspect(
      "SELECT action || ' ' || principal || ' ' || target || ' ' || result FROM audit_events "
      "WHERE org_id = $1 ORDER BY seq DESC LIMIT 1",
      {org_id});
  return rows.empty() ? std::string() : rows[0][0].as<std::string>();
}

std::int64_t ServiceStack::AuditHeadSeq(const std::string& org_id) const {
  const pqxx::result rows = Inspect("SELECT seq FROM audit_heads WHERE org_id = $1", {org_id});
  return rows.empty() ? 0 : rows[0][0].as<std::int64_t>();
}

}  // namespace credvault::server::testing

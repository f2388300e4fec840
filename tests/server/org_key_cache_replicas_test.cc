// Decrypt replicas with separate org key caches on one PostgreSQL, as a scaled-out decrypt
// tier runs: a key version or an org destroyed through another replica is neither used
// from nor kept in a replica's cache, though the cache's TTL has not run out.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "crypto/key_buffer.h"
#include "crypto/root_key.h"
#include "crypto/secret_view.h"
#include "gtest/gtest.h"
#include "server/base/error_reason.h"
#include "server/config/config.h"
#include "server/keys/key_loading.h"
#include "server/keys/org_key_cache.h"
#include "server/keys/org_key_records.h"
#include "server/service/access_handler.h"
#include "server/service/credential_handler.h"
#include "server/service/local_key_authority.h"
#include "storage/org_store.h"
#include "storage/root_key_store.h"
#include "tests/storage/test_database.h"

namespace credvault::server {
namespace {

using ::credvault::storage::testing::AppRole;
using ::credvault::storage::testing::TestDatabase;
using ::credvault::storage::testing::UniqueSuffix;

template <typename T>
T ValueOrDie(absl::StatusOr<T> value) {
  if (!value.ok()) {
    ADD_FAILURE() << value.status();
    std::abort();
  }
  return *std::move(value);
}

// A fresh owner-only key file of 32 random bytes.
std::string NewKeyFile(const std::string& dir, const std::string& name) {
  const crypto::KeyBuffer key = ValueOrDie(crypto::KeyBuffer::Generate(32));
  const auto bytes = key.RevealSecret();
  const std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary) << std::string(bytes.begin(), bytes.end());
  chmod(path.c_str(), 0600);
  return path;
}

// One decrypt replica: its own pool, keys and org key cache (5 minutes, as served).
struct Replica {
  Replica(const TestDatabase& db, const KeysConfig& config)
      : pool(db.Pool(AppRole::kDecryptor, 2)),
        keys(ValueOrDie(LoadDecryptTierKeys(config, *pool))),
        authority(*pool, keys, cache, {}),
        access(*pool, keys, cache, {}) {}

  std::unique_ptr<storage::ConnectionPool> pool;
  DecryptTierKeys keys;
  OrgKeyCache cache{absl::Minutes(5), 100};
  LocalKeyAuthority authority;
  AccessHandler access;
};

class OrgKeyCacheReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = TestDatabase::Create();
    std::string dir = "/tmp/credvault-replicas.XXXXXX";
    ASSERT_NE(mkdtemp(dir.data()), nullptr);
    keys_.writer_keys = WriterKeysConfig{1, {{1, NewKeyFile(dir, "writer-1.key")}}};
    keys_.key_directory_signing_keys =
        KeyDirectoryKeysConfig{1, {{1, NewKeyFile(dir, "key-directory-1.key")}}};
    SealKeyConfig seal_key;
    seal_key.provider = SealKeyBackend::kFile;
    seal_key.file = NewKeyFile(dir, "seal.key");
    keys_.seal_key = seal_key;

    // Root key 1, as `credvaultd init-root-key` stores it.
    const std::unique_ptr<crypto::SealKeyProvider> seal = ValueOrDie(OpenSealKey(keys_));
    const crypto::SealedRootKey root = ValueOrDie(crypto::GenerateRootKey(1, *seal));
    const std::unique_ptr<storage::ConnectionPool> pool = db_->Pool(AppRole::kDecryptor, 1);
    ASSERT_TRUE(pool->RunWithoutOrg([&](storage::Transaction& tx) {
                      return storage::RootKeyStore().Rotate(
                          tx, storage::NewRootKey{1,
                                                  {root.public_key.begin(), root.public_key.end()},
                                                  root.wrapped_private_key,
                                                  root.seal_key_id});
                    })
                    .ok());
    write_keys_.emplace(WriteTierKeys{
        ValueOrDie(LoadWriterKeys(keys_)),
        ValueOrDie(crypto::RootKeyPins::New({{1, crypto::RootKeyFingerprint(root.public_key)}})),
        crypto::KeyDirectoryPins::Of(ValueOrDie(LoadKeyDirectorySigners(keys_)).back())});

    a_ = std::make_unique<Replica>(*db_, keys_);
    b_ = std::make_unique<Replica>(*db_, keys_);
    writer_pool_ = db_->Pool(AppRole::kWriter, 1);
    admin_pool_ = db_->Pool(AppRole::kAdmin, 1);
    // The write tier provisions orgs through replica A.
    writer_ = std::make_unique<CredentialHandler>(*writer_pool_, *write_keys_, &a_->authority,
                                                  CredentialHandlerOptions{});
  }

  void PutSecret(const std::string& name, const std::string& secret) {
    PutCredentialParams put;
    put.org_id = org_;
    put.name = name;
    put.secret = crypto::SecretView::Borrow(secret);
    const absl::Status put_status = writer_->Put(Call("backend"), put).status();
    ASSERT_TRUE(put_status.ok()) << put_status;
  }

  static CallContext Call(const std::string& principal) {
    return CallContext{principal, "req-" + UniqueSuffix(), absl::Now() + absl::Seconds(30)};
  }

  absl::StatusOr<DecryptCredentialResult> Decrypt(Replica& replica, const std::string& name) {
    return replica.access.Decrypt(
        Call("worker"),
        DecryptCredentialParams{
            .org_id = org_, .name = name, .version = std::nullopt, .purpose = "replica test"});
  }

  absl::StatusOr<CompareCredentialResult> Compare(Replica& replica, const std::string& name,
                                                  const std::string& candidate) {
    return replica.authority.Compare(
        Call("backend"),
        CompareCredentialParams{.org_id = org_,
                                .name = name,
                                .version = std::nullopt,
                                .candidate = crypto::SecretView::Borrow(candidate)});
  }

  // The plaintext a Decrypt released.
  static std::string Plaintext(const DecryptCredentialResult& result) {
    const auto bytes = result.secret.RevealSecret();
    return std::string(bytes.begin(), bytes.end());
  }

  std::unique_ptr<TestDatabase> db_;
  KeysConfig keys_;
  std::optional<Reloadable<WriteTierKeys>> write_keys_;
  std::unique_ptr<Replica> a_;
  std::unique_ptr<Replica> b_;
  std::unique_ptr<storage::ConnectionPool> writer_pool_;
  std::unique_ptr<storage::ConnectionPool> admin_pool_;
  std::unique_ptr<CredentialHandler> writer_;
  const std::string org_ = "acme";  // each test has a database of its own
};

TEST_F(OrgKeyCacheReplicasTest, DestroyedOrgIsRefusedAndLeavesTheOtherReplicasCache) {
  PutSecret("crm-token", "replica-secret-1");
  // Replica B decrypts and compares, so its cache holds the org's key.
  const absl::StatusOr<DecryptCredentialResult> before = Decrypt(*b_, "crm-token");
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(Plaintext(*before), "replica-secret-1");
  ASSERT_TRUE(b_->cache.Holds(org_, 1));
  // A second read takes the common path, which remembers the credential's data key.
  ASSERT_TRUE(Decrypt(*b_, "crm-token").ok());
  ASSERT_EQ(b_->cache.data_keys().size(), 1u);

  // Destroyed through the admin role as DestroyOrg does, not through replica B.
  const absl::Status destroyed = admin_pool_->Run(org_, [&](storage::Transaction& tx) {
    return storage::OrgStore().MarkDestroyed(tx, ResignerFor(a_->keys));
  });
  ASSERT_TRUE(destroyed.ok()) << destroyed;

  const absl::StatusOr<DecryptCredentialResult> after = Decrypt(*b_, "crm-token");
  EXPECT_EQ(after.status().code(), absl::StatusCode::kFailedPrecondition) << after.status();
  EXPECT_EQ(ReasonOf(after.status()), ErrorReason::kOrgDestroyed);
  EXPECT_FALSE(b_->cache.Holds(org_, 1)) << "replica B still holds the destroyed org's key";
  EXPECT_EQ(b_->cache.data_keys().size(), 0u) << "replica B still holds its data keys";
}

TEST_F(OrgKeyCacheReplicasTest, CompareRefusesADestroyedOrgAndEvictsItsKey) {
  PutSecret("crm-token", "replica-secret-2");
  const absl::StatusOr<CompareCredentialResult> before =
      Compare(*b_, "crm-token", "replica-secret-2");
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_TRUE(before->match);
  ASSERT_TRUE(b_->cache.Holds(org_, 1));

  ASSERT_TRUE(admin_pool_
                  ->Run(org_,
                        [&](storage::Transaction& tx) {
                          return storage::OrgStore().MarkDestroyed(tx, ResignerFor(a_->keys));
                        })
                  .ok());

  const absl::StatusOr<CompareCredentialResult> after =
      Compare(*b_, "crm-token", "replica-secret-2");
  EXPECT_EQ(after.status().code(), absl::StatusCode::kFailedPrecondition) << after.status();
  EXPECT_FALSE(b_->cache.Holds(org_, 1));
}

// A key version marked DESTROYED while an envelope still names it (what a restored or
// planted envelope row meets; DestroyOrgKeyVersion itself waits until no stored version
// uses the key): the replica that cached the key must not open the envelope with it.
TEST_F(OrgKeyCacheReplicasTest, DestroyedKeyVersionIsNotUsedFromTheCache) {
  PutSecret("crm-token", "replica-secret-3");
  ASSERT_TRUE(Decrypt(*b_, "crm-token").ok());
  ASSERT_TRUE(Compare(*a_, "crm-token", "replica-secret-3").ok());
  ASSERT_TRUE(b_->cache.Holds(org_, 1));
  ASSERT_TRUE(a_->cache.Holds(org_, 1));

  db_->SuperuserExec(
      "UPDATE org_keys SET state = 'DESTROYED', sealed_private_key = NULL, "
      "destroyed_at = now(), retired_at = now() WHERE org_id = '" +
      org_ + "' AND version = 1");

  const absl::StatusOr<DecryptCredentialResult> decrypted = Decrypt(*b_, "crm-token");
  EXPECT_EQ(decrypted.status().code(), absl::StatusCode::kFailedPrecondition) << decrypted.status();
  EXPECT_FALSE(b_->cache.Holds(org_, 1));

  const absl::StatusOr<CompareCredentialResult> compared =
      Compare(*a_, "crm-token", "replica-secret-3");
  EXPECT_EQ(compared.status().code(), absl::StatusCode::kFailedPrecondition) << compared.status();
  EXPECT_FALSE(a_->cache.Holds(org_, 1));
}

}  // namespace
}  // namespace credvault::server

// Seal keys as the decrypt tier opens them from its configuration (key files and a real
// SoftHSM2 token), and seal key rotation against a real PostgreSQL: root keys wrapped by an
// old seal key are re-wrapped by RewrapRootKeys (what `credvaultd rewrap-root-keys` runs),
// after which the decrypt tier starts with the new seal key alone.
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "crypto/key_buffer.h"
#include "crypto/key_file_seal_key_provider.h"
#include "crypto/root_key.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/app/seal_key_commands.h"
#include "server/config/config.h"
#include "server/keys/key_loading.h"
#include "storage/root_key_store.h"
#include "tests/crypto/softhsm_test_util.h"
#include "tests/storage/test_database.h"

namespace credvault::server {
namespace {

using ::credvault::storage::testing::AppRole;
using ::credvault::storage::testing::TestDatabase;
using ::credvault::testing::SoftHsm;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kToken[] = "credvault-server";
constexpr char kPin[] = "server-pin-2718";
constexpr char kSoPin[] = "server-so-pin-3141";
constexpr char kWrongPin[] = "not-the-pin-1618";

template <typename T>
T ValueOrDie(absl::StatusOr<T> value) {
  if (!value.ok()) {
    ADD_FAILURE() << value.status();
    std::abort();
  }
  return *std::move(value);
}

std::string Message(const absl::Status& status) { return std::string(status.message()); }

// Files of one test binary: key files (owner-only, as ReadKeyFile demands) and PIN files.
class Files {
 public:
  Files() {
    std::string pattern = SoftHsm::Get().dir() + "/files.XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    dir_ = pattern;
  }
  std::string Write(const std::string& name, const std::string& contents) const {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << contents;
    chmod(path.c_str(), 0600);
    return path;
  }
  // A fresh random 32-byte key file.
  std::string NewKeyFile(const std::string& name) const {
    const crypto::KeyBuffer key = ValueOrDie(crypto::KeyBuffer::Generate(32));
    const auto bytes = key.RevealSecret();
    return Write(name, std::string(bytes.begin(), bytes.end()));
  }

 private:
  std::string dir_;
};

const Files& TestFiles() {
  static const Files* const files = new Files();
  return *files;
}

SealKeyConfig FileSealKey(const std::string& path) {
  SealKeyConfig config;
  config.provider = SealKeyBackend::kFile;
  config.file = path;
  return config;
}

SealKeyConfig Pkcs11SealKey(const std::string& key_label, const std::string& pin_file = "",
                            const std::string& pin = kPin) {
  SealKeyConfig config;
  config.provider = SealKeyBackend::kPkcs11;
  Pkcs11Config pkcs11;
  pkcs11.module = SoftHsm::ModulePath();
  pkcs11.token_label = kToken;
  pkcs11.key_label = key_label;
  if (pin_file.empty()) {
    pkcs11.pin_env = "CREDVAULT_TEST_PKCS11_PIN";
    pkcs11.pin = ConfigSecret(pin);  // what LoadConfig reads from pin_env
  } else {
    pkcs11.pin_file = pin_file;
  }
  config.pkcs11 = std::move(pkcs11);
  return config;
}

KeysConfig DecryptKeys(SealKeyConfig seal_key, std::vector<SealKeyConfig> previous = {}) {
  KeysConfig keys;
  keys.writer_keys = WriterKeysConfig{1, {{1, TestFiles().NewKeyFile("writer-1.key")}}};
  keys.key_directory_signing_keys =
      KeyDirectoryKeysConfig{1, {{1, TestFiles().NewKeyFile("key-directory-1.key")}}};
  keys.seal_key = std::move(seal_key);
  keys.previous_seal_keys = std::move(previous);
  return keys;
}

class SealKeyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    SoftHsm& hsm = SoftHsm::Get();
    hsm.InitToken(kToken, kSoPin, kPin);
    hsm.GenerateAesKey(kToken, kPin, "seal-a");
    hsm.GenerateAesKey(kToken, kPin, "seal-b");
  }
};

// --- Opening seal keys from the configuration ---------------------------------------------

TEST_F(SealKeyTest, OpensAPkcs11SealKeyWithThePinFromEnvOrFile) {
  const auto from_env = ValueOrDie(OpenSealKey(DecryptKeys(Pkcs11SealKey("seal-a"))));
  EXPECT_THAT(from_env->KeyId(), StartsWith("pkcs11:credvault-server/seal-a:"));
  const std::string pin_file = TestFiles().Write("pin", std::string(kPin) + "\n");
  const auto from_file = ValueOrDie(OpenSealKey(DecryptKeys(Pkcs11SealKey("seal-a", pin_file))));
  EXPECT_EQ(from_file->KeyId(), from_env->KeyId());

  const crypto::SealedRootKey sealed = ValueOrDie(crypto::GenerateRootKey(1, *from_env));
  EXPECT_TRUE(crypto::UnsealRootKey(sealed, *from_file).ok());
}

TEST_F(SealKeyTest, Pkcs11ErrorsNameTheConfigurationKeyAndNeverThePin) {
  const auto error = [](const SealKeyConfig& config) {
    return OpenSealKey(DecryptKeys(config)).status();
  };
  SealKeyConfig missing_module = Pkcs11SealKey("seal-a");
  missing_module.pkcs11->module = "/nonexistent/libnothing.so";
  EXPECT_THAT(Message(error(missing_module)), StartsWith("keys.seal_key.pkcs11.module: "));

  SealKeyConfig missing_token = Pkcs11SealKey("seal-a");
  missing_token.pkcs11->token_label = "elsewhere";
  EXPECT_EQ(error(missing_token).code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(error(missing_token)), StartsWith("keys.seal_key.pkcs11.token_label: "));

  const absl::Status missing_key = error(Pkcs11SealKey("no-such-key"));
  EXPECT_EQ(missing_key.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(missing_key), StartsWith("keys.seal_key.pkcs11.key_label: "));

  const absl::Status wrong_env_pin = error(Pkcs11SealKey("seal-a", "", kWrongPin));
  EXPECT_EQ(wrong_env_pin.code(), absl::StatusCode::kPermissionDenied) << wrong_env_pin;
  EXPECT_THAT(Message(wrong_env_pin),
              StartsWith("keys.seal_key.pkcs11.pin_env (CREDVAULT_TEST_PKCS11_PIN): "));
  EXPECT_THAT(Message(wrong_env_pin), Not(HasSubstr(kWrongPin)));
  EXPECT_THAT(Message(wrong_env_pin), Not(HasSubstr(kPin)));

  const std::string wrong_pin_file = TestFiles().Write("wrong-pin", kWrongPin);
  const absl::Status wrong_file_pin = error(Pkcs11SealKey("seal-a", wrong_pin_file));
  EXPECT_EQ(wrong_file_pin.code(), absl::StatusCode::kPermissionDenied) << wrong_file_pin;
  EXPECT_THAT(Message(wrong_file_pin),
              StartsWith("keys.seal_key.pkcs11.pin_file (" + wrong_pin_file + "): "));
  EXPECT_THAT(Message(wrong_file_pin), Not(HasSubstr(kWrongPin)));

  const absl::Status no_pin_file = error(Pkcs11SealKey("seal-a", "/nonexistent/pin"));
  EXPECT_EQ(no_pin_file.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(no_pin_file), StartsWith("keys.seal_key.pkcs11.pin_file"));

  // The same rules, and names, for a previous seal key.
  const absl::Status previous =
      OpenPreviousSealKeys(DecryptKeys(Pkcs11SealKey("seal-a"),
                                       {Pkcs11SealKey("seal-b"), Pkcs11SealKey("no-such-key")}))
          .status();
  EXPECT_THAT(Message(previous), StartsWith("keys.previous_seal_keys[1].pkcs11.key_label: "));
  const absl::Status previous_file =
      OpenPreviousSealKeys(DecryptKeys(Pkcs11SealKey("seal-a"), {FileSealKey("/nonexistent")}))
          .status();
  EXPECT_THAT(Message(previous_file), StartsWith("keys.previous_seal_keys[0].file: "));
}

// --- Rotation against PostgreSQL --------------------------------------------------------------

// Root keys 1..count made and stored as the service does, wrapped by `seal_key`.
std::vector<crypto::SealedRootKey> StoreRootKeys(const TestDatabase& db,
                                                 const crypto::SealKeyProvider& seal_key,
                                                 int count) {
  std::vector<crypto::SealedRootKey> made;
  const std::unique_ptr<storage::ConnectionPool> pool = db.Pool(AppRole::kDecryptor, 1);
  for (int version = 1; version <= count; ++version) {
    made.push_back(ValueOrDie(crypto::GenerateRootKey(version, seal_key)));
    const crypto::SealedRootKey& key = made.back();
    const absl::Status stored = pool->RunWithoutOrg([&](storage::Transaction& tx) {
      return storage::RootKeyStore().Rotate(
          tx, storage::NewRootKey{static_cast<std::int32_t>(key.version),
                                  {key.public_key.begin(), key.public_key.end()},
                                  key.wrapped_private_key,
                                  key.seal_key_id});
    });
    EXPECT_TRUE(stored.ok()) << stored;
  }
  return made;
}

std::vector<std::string> StoredSealKeyIds(const TestDatabase& db) {
  const std::unique_ptr<storage::ConnectionPool> pool = db.Pool(AppRole::kDecryptor, 1);
  std::vector<std::string> ids;
  EXPECT_TRUE(pool->RunWithoutOrg([&](storage::Transaction& tx) -> absl::Status {
                    const storage::RootKeyStore store;
                    absl::StatusOr<std::vector<storage::RootKey>> roots = store.List(tx);
                    if (!roots.ok()) return roots.status();
                    for (const storage::RootKey& root : *roots) {
                      absl::StatusOr<storage::SealedRootKey> sealed =
                          store.GetSealed(tx, root.version);
                      if (!sealed.ok()) return sealed.status();
                      ids.push_back(sealed->seal_key_id);
                    }
                    return absl::OkStatus();
                  })
                  .ok());
  return ids;
}

// Loads the decrypt tier's keys with `keys` and checks every stored root key unwrapped to
// the pair that was made.
void ExpectDecryptTierLoads(const TestDatabase& db, const KeysConfig& keys,
                            const std::vector<crypto::SealedRootKey>& made) {
  const std::unique_ptr<storage::ConnectionPool> pool = db.Pool(AppRole::kDecryptor, 1);
  const absl::StatusOr<DecryptTierKeys> loaded = LoadDecryptTierKeys(keys, *pool);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ(loaded->roots.size(), made.size());
  for (const crypto::SealedRootKey& key : made) {
    const absl::StatusOr<const crypto::RootPrivateKey*> root = loaded->Root(key.version);
    ASSERT_TRUE(root.ok()) << root.status();
    EXPECT_EQ((*root)->public_key(), key.public_key);
    EXPECT_EQ(ValueOrDie(crypto::DeriveX25519PublicKey((*root)->private_key())), key.public_key);
  }
}

TEST_F(SealKeyTest, RotatesFromOneKeyFileToAnother) {
  const auto db = TestDatabase::Create();
  ASSERT_NE(db, nullptr);
  const SealKeyConfig old_key = FileSealKey(TestFiles().NewKeyFile("old-seal.key"));
  const SealKeyConfig new_key = FileSealKey(TestFiles().NewKeyFile("new-seal.key"));
  const auto old_provider = ValueOrDie(OpenSealKeyProvider(old_key, "old"));
  const auto new_provider = ValueOrDie(OpenSealKeyProvider(new_key, "new"));
  const std::vector<crypto::SealedRootKey> made = StoreRootKeys(*db, *old_provider, 3);

  // Only the new seal key configured: start-up says which seal key is missing.
  {
    const std::unique_ptr<storage::ConnectionPool> pool = db->Pool(AppRole::kDecryptor, 1);
    const absl::Status refused = LoadDecryptTierKeys(DecryptKeys(new_key), *pool).status();
    EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
    EXPECT_THAT(Message(refused), HasSubstr(old_provider->KeyId()));
    EXPECT_THAT(Message(refused), HasSubstr("keys.previous_seal_keys"));
  }
  // During the rotation the decrypt tier runs with both.
  ExpectDecryptTierLoads(*db, DecryptKeys(new_key, {old_key}), made);

  const std::unique_ptr<storage::ConnectionPool> pool = db->Pool(AppRole::kDecryptor, 1);
  const RewrapReport report =
      ValueOrDie(RewrapRootKeys(*pool, *new_provider, {old_provider.get()}));
  EXPECT_EQ(report.seal_key_id, new_provider->KeyId());
  ASSERT_EQ(report.rewrapped.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(report.rewrapped[i].version, i + 1);
    EXPECT_EQ(report.rewrapped[i].old_seal_key_id, old_provider->KeyId());
  }
  EXPECT_TRUE(report.unchanged.empty());
  EXPECT_THAT(StoredSealKeyIds(*db), ::testing::Each(new_provider->KeyId()));

  // Afterwards the new seal key alone is enough, and the old one opens nothing.
  ExpectDecryptTierLoads(*db, DecryptKeys(new_key), made);
  {
    const std::unique_ptr<storage::ConnectionPool> old_pool = db->Pool(AppRole::kDecryptor, 1);
    EXPECT_FALSE(LoadDecryptTierKeys(DecryptKeys(old_key), *old_pool).ok());
  }

  // Running it again changes nothing.
  const RewrapReport again = ValueOrDie(RewrapRootKeys(*pool, *new_provider, {old_provider.get()}));
  EXPECT_TRUE(again.rewrapped.empty());
  EXPECT_EQ(again.unchanged, (std::vector<std::uint32_t>{1, 2, 3}));
}

TEST_F(SealKeyTest, RotatesFromAKeyFileIntoTheToken) {
  const auto db = TestDatabase::Create();
  ASSERT_NE(db, nullptr);
  const SealKeyConfig old_key = FileSealKey(TestFiles().NewKeyFile("file-to-hsm.key"));
  const SealKeyConfig new_key = Pkcs11SealKey("seal-b");
  const auto old_provider = ValueOrDie(OpenSealKeyProvider(old_key, "old"));
  const auto new_provider = ValueOrDie(OpenSealKeyProvider(new_key, "new"));
  const std::vector<crypto::SealedRootKey> made = StoreRootKeys(*db, *old_provider, 2);

  const std::unique_ptr<storage::ConnectionPool> pool = db->Pool(AppRole::kDecryptor, 1);
  const RewrapReport report =
      ValueOrDie(RewrapRootKeys(*pool, *new_provider, {old_provider.get()}));
  EXPECT_EQ(report.rewrapped.size(), 2u);
  EXPECT_THAT(StoredSealKeyIds(*db),
              ::testing::Each(StartsWith("pkcs11:credvault-server/seal-b:")));
  ExpectDecryptTierLoads(*db, DecryptKeys(new_key), made);
}

TEST_F(SealKeyTest, NothingChangesWhenAnyRootKeyCannotBeRewrapped) {
  const auto db = TestDatabase::Create();
  ASSERT_NE(db, nullptr);
  const auto old_provider =
      ValueOrDie(OpenSealKeyProvider(FileSealKey(TestFiles().NewKeyFile("a.key")), "old"));
  const auto new_provider =
      ValueOrDie(OpenSealKeyProvider(FileSealKey(TestFiles().NewKeyFile("b.key")), "new"));
  StoreRootKeys(*db, *old_provider, 3);
  const std::unique_ptr<storage::ConnectionPool> pool = db->Pool(AppRole::kDecryptor, 1);

  // The old seal key not configured: refused, naming the key.
  const absl::Status unknown = RewrapRootKeys(*pool, *new_provider, {}).status();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kFailedPrecondition) << unknown;
  EXPECT_THAT(Message(unknown), HasSubstr(old_provider->KeyId()));
  EXPECT_THAT(StoredSealKeyIds(*db), ::testing::Each(old_provider->KeyId()));

  // One tampered record stops the whole run, including the versions before it.
  db->SuperuserExec(
      "UPDATE root_keys SET sealed_private_key = "
      "overlay(sealed_private_key placing '\\xff'::bytea from 20 for 1) WHERE version = 3");
  const absl::Status tampered = RewrapRootKeys(*pool, *new_provider, {old_provider.get()}).status();
  EXPECT_EQ(tampered.code(), absl::StatusCode::kDataLoss) << tampered;
  EXPECT_THAT(StoredSealKeyIds(*db), ::testing::Each(old_provider->KeyId()));
}

TEST_F(SealKeyTest, OnlyTheDecryptRoleRewrapsAndOnlyTheWrapping) {
  const auto db = TestDatabase::Create();
  ASSERT_NE(db, nullptr);
  const auto old_provider =
      ValueOrDie(OpenSealKeyProvider(FileSealKey(TestFiles().NewKeyFile("c.key")), "old"));
  const std::vector<crypto::SealedRootKey> made = StoreRootKeys(*db, *old_provider, 1);
  const std::vector<std::uint8_t> bytes(60, 0x42);
  for (const AppRole role : {AppRole::kWriter, AppRole::kAdmin}) {
    const std::unique_ptr<storage::ConnectionPool> pool = db->Pool(role, 1);
    const absl::Status denied = pool->RunWithoutOrg([&](storage::Transaction& tx) {
      return storage::RootKeyStore().Rewrap(tx, 1, made[0].seal_key_id, bytes, "other");
    });
    EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied) << denied;
  }
  // The decrypt role may change the wrapping but not the public half.
  const std::unique_ptr<storage::ConnectionPool> pool = db->Pool(AppRole::kDecryptor, 1);
  const absl::Status public_half = pool->RunWithoutOrg([&](storage::Transaction& tx) {
    return tx
        .Execute({"test.overwrite_public_key",
                  "UPDATE root_keys SET public_key = $1::bytea WHERE version = 1"},
                 {storage::SqlParam::Bytes(std::vector<std::uint8_t>(32, 0x01))})
        .status();
  });
  EXPECT_EQ(public_half.code(), absl::StatusCode::kPermissionDenied) << public_half;
  // A re-wrap against a stale expectation is refused rather than overwriting.
  const absl::Status stale = pool->RunWithoutOrg([&](storage::Transaction& tx) {
    return storage::RootKeyStore().Rewrap(tx, 1, "keyfile:0000000000000000", bytes, "other");
  });
  EXPECT_EQ(stale.code(), absl::StatusCode::kAborted) << stale;
  const absl::Status missing = pool->RunWithoutOrg([&](storage::Transaction& tx) {
    return storage::RootKeyStore().Rewrap(tx, 9, made[0].seal_key_id, bytes, "other");
  });
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound) << missing;
  EXPECT_THAT(StoredSealKeyIds(*db), ::testing::Each(old_provider->KeyId()));
}

}  // namespace
}  // namespace credvault::server

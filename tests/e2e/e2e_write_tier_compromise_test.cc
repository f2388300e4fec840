// The write tier attacked from inside (docs/security-model.md, compromise table): the
// attacker runs in a write-only credvaultd's place, with its configuration, its writer key
// and its database login (credvault_writer, connected to directly with libpqxx). Each test
// plays one attack against the real stack and shows it refused or detected, next to a
// control that shows the same login or caller can do what it should, so that a broken
// setup cannot make a refusal pass.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/message_differencer.h>
#include <sodium.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdint>
#include <functional>
#include <iostream>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "crypto/canonical_encoding.h"
#include "crypto/key_buffer.h"
#include "crypto/key_directory.h"
#include "crypto/org_key.h"
#include "crypto/sealed_box.h"
#include "crypto/writer_key_ring.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/support/e2e_support.h"
#include "tests/e2e/support/superuser_sql.h"
#include "tests/e2e/support/writer_login.h"

namespace credvault::e2e {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

[[maybe_unused]] ::testing::Environment* const kStack =
    ::testing::AddGlobalTestEnvironment(new StackEnvironment("write-tier"));

constexpr char kRaiseException[] = "P0001";

const Stack& TheStack() {
  const Stack* stack = CurrentStack();
  if (stack == nullptr) {
    std::cerr << "no stack\n";
    std::abort();
  }
  return *stack;
}

// The rows of a result as text ("NULL" for NULL), to compare two reads.
std::vector<std::vector<std::string>> Table(const pqxx::result& rows) {
  std::vector<std::vector<std::string>> table;
  for (const auto& row : rows) {
    std::vector<std::string>& line = table.emplace_back();
    for (const auto& field : row) line.push_back(field.is_null() ? "NULL" : field.c_str());
  }
  return table;
}

// Expects the database to refuse `sql` for lack of a privilege (SQLSTATE 42501) with a
// message that names `object` ("table audit_events", "function credvault_audit_append").
void ExpectPrivilegeRefused(const WriterLogin& login, const std::string& org,
                            const std::string& sql, const std::string& object) {
  const SqlAttempt attempt = login.Attempt(org, sql);
  EXPECT_FALSE(attempt.accepted) << sql;
  EXPECT_EQ(attempt.sqlstate, kInsufficientPrivilege) << sql << ": " << attempt;
  EXPECT_THAT(attempt.message, HasSubstr("permission denied for " + object)) << sql;
}

// ---------------------------------------------------------------------------------------
// The fixture: the stack's credvaultd runs both tiers (the trusted key authority included);
// next to it runs a write-only credvaultd from the same configuration cut down to the write
// tier, which is what the attacker holds.

class WriteTierCompromiseTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const Stack* stack = CurrentStack();
    if (stack == nullptr) return;
    decryptor_role_ = new std::string(
        YAML::LoadFile(stack->config)["database"]["decryptor"]["user"].as<std::string>());
    const std::string config_yaml = WriteOnlyConfig(/*key_authority=*/std::nullopt);
    const YAML::Node config = YAML::Load(config_yaml);
    login_ = new WriterLogin(config, *stack);
    // The writer key the write tier holds: the current version's key file.
    const YAML::Node writer_keys = config["keys"]["writer_keys"];
    const std::string key_file =
        writer_keys["files"][writer_keys["current"].as<std::string>()].as<std::string>();
    std::string key_bytes = ReadFileOrEmpty(key_file);
    absl::StatusOr<crypto::KeyBuffer> key = crypto::KeyBuffer::CopyFrom(absl::MakeConstSpan(
        reinterpret_cast<const std::uint8_t*>(key_bytes.data()), key_bytes.size()));
    sodium_memzero(key_bytes.data(), key_bytes.size());
    if (!key.ok()) {
      std::cerr << "writer key: " << key.status() << "\n";
      return;
    }
    writer_key_ = new crypto::KeyBuffer(std::move(*key));

    write_only_ = new WriteOnlyCredvaultd;
    start_error_ =
        new std::string(StartWriteOnlyCredvaultd("write-tier", config_yaml, *write_only_));
  }

  static void TearDownTestSuite() {
    if (write_only_ != nullptr) {
      if (write_only_->process != nullptr) {
        write_only_->process->Signal(SIGTERM);
        write_only_->process->Wait(std::chrono::seconds(15));
      }
      delete write_only_;
      write_only_ = nullptr;
    }
    delete writer_key_;
    writer_key_ = nullptr;
    delete login_;
    login_ = nullptr;
    delete decryptor_role_;
    decryptor_role_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(CurrentStack(), nullptr);
    ASSERT_NE(login_, nullptr);
    ASSERT_NE(writer_key_, nullptr);
    ASSERT_NE(write_only_, nullptr);
    ASSERT_NE(start_error_, nullptr);
    ASSERT_EQ(*start_error_, "");
    ASSERT_TRUE(write_only_->process->running()) << write_only_->Log();
  }

  // The compromised write tier's API, and the trusted stack's.
  static std::unique_ptr<Clients> WriteOnly(const Caller& caller) {
    return std::make_unique<Clients>(TlsChannel(TheStack(), write_only_->address, caller));
  }
  static std::unique_ptr<Clients> FullWrite(const Caller& caller) {
    return std::make_unique<Clients>(TlsChannel(TheStack(), TheStack().write_addr, caller));
  }
  static std::unique_ptr<Clients> Decrypting(const Caller& caller) {
    return std::make_unique<Clients>(TlsChannel(TheStack(), TheStack().decrypt_addr, caller));
  }

  // An org made by the key authority: a first Put through the full stack provisions it.
  static void Provision(const std::string& org) {
    auto backend = FullWrite(Caller::Cert("backend"));
    const Outcome put = Put(*backend, PutRequest(org, "seed", "seed value"));
    ASSERT_TRUE(put.ok()) << put;
  }

  static bool VerifyChain(const std::string& org, v1::VerifyAuditLogResponse* verified) {
    auto admin = Decrypting(Caller::Cert("admin"));
    v1::VerifyAuditLogRequest request;
    request.set_org_id(org);
    const Outcome outcome =
        Call(*admin->admin, &v1::AdminService::Stub::VerifyAuditLog, request, verified);
    EXPECT_TRUE(outcome.ok()) << outcome;
    return outcome.ok() && verified->ok();
  }

  static WriterLogin* login_;
  static crypto::KeyBuffer* writer_key_;
  static WriteOnlyCredvaultd* write_only_;
  static std::string* start_error_;  // "" once the write-only credvaultd is ready
  static std::string* decryptor_role_;
};

WriterLogin* WriteTierCompromiseTest::login_ = nullptr;
crypto::KeyBuffer* WriteTierCompromiseTest::writer_key_ = nullptr;
WriteOnlyCredvaultd* WriteTierCompromiseTest::write_only_ = nullptr;
std::string* WriteTierCompromiseTest::start_error_ = nullptr;
std::string* WriteTierCompromiseTest::decryptor_role_ = nullptr;

// ---------------------------------------------------------------------------------------
// 1. Plant an org whose key the attacker made.

TEST_F(WriteTierCompromiseTest, CannotPlantAnOrgOrOrgKey) {
  const WriterLogin& login = *login_;
  const std::string planted = "wt-planted-" + RandomHex(4);
  const std::string fake_key = "'\\x" + HexLower(std::string(32, '\x11')) + "'::bytea";
  ExpectPrivilegeRefused(
      login, planted,
      "INSERT INTO orgs (org_id, state) VALUES (" + SqlQuote(planted) + ", 'ACTIVE')",
      "table orgs");
  ExpectPrivilegeRefused(
      login, planted,
      "INSERT INTO org_keys (org_id, version, public_key, sealed_private_key, root_key_version, "
      "writer_key_version, authenticator, state) VALUES (" +
          SqlQuote(planted) + ", 1, " + fake_key + ", '\\x00'::bytea, 1, 1, " + fake_key +
          ", 'ACTIVE')",
      "table org_keys");
  // An org key for an org that exists, next to the key authority's.
  const std::string org = "wt-plant-target";
  Provision(org);
  ExpectPrivilegeRefused(
      login, org,
      "INSERT INTO org_keys (org_id, version, public_key, sealed_private_key, root_key_version, "
      "writer_key_version, authenticator, state) VALUES (" +
          SqlQuote(org) + ", 2, " + fake_key + ", '\\x00'::bytea, 1, 1, " + fake_key +
          ", 'RETIRED')",
      "table org_keys");

  // Nothing of the planted org exists; the key authority's org has its one key, and the
  // same login reads both tables (the control).
  const auto count = [&](const std::string& scope, const std::string& table) {
    const pqxx::result rows =
        login.Query(scope, "SELECT count(*) FROM " + table + " WHERE org_id = " + SqlQuote(scope));
    return rows.empty() ? -1L : rows[0][0].as<long>();
  };
  EXPECT_EQ(count(planted, "orgs"), 0);
  EXPECT_EQ(count(planted, "org_keys"), 0);
  EXPECT_EQ(count(org, "orgs"), 1);
  EXPECT_EQ(count(org, "org_keys"), 1);
  const pqxx::result key =
      login.Query(org, "SELECT version, state FROM org_keys WHERE org_id = " + SqlQuote(org));
  ASSERT_EQ(key.size(), 1u);
  EXPECT_EQ(key[0][0].as<int>(), 1);
  EXPECT_EQ(key[0][1].as<std::string>(), "ACTIVE");

  // A first Put through the compromised write tier makes no key pair itself: it asks a key
  // authority, if its configuration names one, or is refused.
  const std::string fresh = "wt-first-put-" + RandomHex(4);
  auto writer = WriteOnly(Caller::Cert("backend"));
  const Outcome first_put = Put(*writer, PutRequest(fresh, "first", "s3cr3t"));
  if (first_put.ok()) {
    EXPECT_EQ(count(fresh, "orgs"), 1);
    EXPECT_EQ(count(fresh, "org_keys"), 1);
  } else {
    EXPECT_EQ(first_put.code, grpc::StatusCode::NOT_FOUND) << first_put;
    EXPECT_EQ(first_put.reason, "ERROR_REASON_ORG_NOT_FOUND");
    EXPECT_THAT(first_put.message, HasSubstr(fresh));
    EXPECT_EQ(count(fresh, "orgs"), 0);
    EXPECT_EQ(count(fresh, "org_keys"), 0);
  }

  // Every org key that exists was made by the key authority's database role, never by the
  // write role: the database records the appending role in each event.
  ASSERT_NE(decryptor_role_, nullptr);
  auto admin = Decrypting(Caller::Cert("admin"));
  int provisions = 0;
  std::vector<std::string> provisioned = {org};
  if (first_put.ok()) provisioned.push_back(fresh);
  for (const std::string& scope : provisioned) {
    for (const v1::AuditEvent& event : AuditEvents(*admin, scope)) {
      if (event.action() != "org.provision") continue;
      ++provisions;
      EXPECT_EQ(event.appended_by(), *decryptor_role_) << scope;
      EXPECT_NE(event.appended_by(), login.role()) << scope;
    }
  }
  EXPECT_EQ(provisions, static_cast<int>(provisioned.size())) << "one org.provision per org";
}

// ---------------------------------------------------------------------------------------
// 2. Redirect future secrets to a key of the attacker's, or swap a stored envelope.

TEST_F(WriteTierCompromiseTest, CannotRedirectFutureSecretsOrSwapEnvelopes) {
  const WriterLogin& login = *login_;
  const std::string org = "wt-redirect";
  Provision(org);
  auto writer = WriteOnly(Caller::Cert("backend"));
  ASSERT_TRUE(Put(*writer, PutRequest(org, "victim", "before the attack")).ok());
  const std::string key_sql =
      "SELECT version, encode(public_key, 'hex'), state, encode(authenticator, 'hex') "
      "FROM org_keys ORDER BY version";
  const auto keys_before = Table(login.Query(org, key_sql));
  ASSERT_EQ(keys_before.size(), 1u);

  const std::string attacker_key = "'\\x" + HexLower(std::string(32, '\x42')) + "'::bytea";
  ExpectPrivilegeRefused(login, org, "UPDATE org_keys SET public_key = " + attacker_key,
                         "table org_keys");
  ExpectPrivilegeRefused(login, org,
                         "UPDATE org_keys SET public_key = " + attacker_key +
                             ", authenticator = " + attacker_key + " WHERE version = 1",
                         "table org_keys");
  ExpectPrivilegeRefused(login, org, "UPDATE org_keys SET state = 'RETIRED'", "table org_keys");
  ExpectPrivilegeRefused(login, org, "DELETE FROM org_keys", "table org_keys");
  ExpectPrivilegeRefused(login, org, "UPDATE credentials SET envelope = '\\x00'::bytea",
                         "table credentials");
  ExpectPrivilegeRefused(login, org,
                         "UPDATE credentials SET envelope = NULL, erased = true, "
                         "deleted_at = now() WHERE name = 'victim'",
                         "table credentials");
  // The decrypt tier's re-seal function replaces envelopes: not the write role's.
  ExpectPrivilegeRefused(login, org,
                         "SELECT credvault_reseal_envelope(" + SqlQuote(org) +
                             ", 'victim', 1, 1, '\\x00'::bytea, 1, 1)",
                         "function credvault_reseal_envelope");

  // Unchanged, and secrets put afterwards still go to the key authority's key: the full
  // stack decrypts them (the control: the same write tier still puts).
  EXPECT_EQ(Table(login.Query(org, key_sql)), keys_before);
  ASSERT_TRUE(Put(*writer, PutRequest(org, "after", "put after the attack")).ok());
  auto worker = Decrypting(Caller::Cert("worker"));
  std::string secret;
  ASSERT_TRUE(Decrypt(*worker, org, "after", &secret).ok());
  EXPECT_EQ(secret, "put after the attack");
  ASSERT_TRUE(Decrypt(*worker, org, "victim", &secret).ok());
  EXPECT_EQ(secret, "before the attack");
}

// The same attack with more than the write role: the writer key together with the
// database's owner, who can write org_keys directly. It plants a record for a key pair of
// its own in the org's ACTIVE row, vouched for the old way (a writer authenticator), or
// signed with a key directory key of its own. The write tier seals to neither: only a
// record signed by a pinned key directory key, which only the key authority holds, counts.
template <typename T>
T ValueOrDie(absl::StatusOr<T> value) {
  if (!value.ok()) {
    std::cerr << value.status() << "\n";
    std::abort();
  }
  return *std::move(value);
}

TEST_F(WriteTierCompromiseTest, WriterKeyAndOwnerAccessCannotRedirectNewSecrets) {
  const std::string org = "wt-redirect-owner";
  Provision(org);
  auto writer = WriteOnly(Caller::Cert("backend"));
  ASSERT_TRUE(Put(*writer, PutRequest(org, "before", "put before the attack")).ok());

  const Stack& stack = TheStack();
  const auto superuser = [&](const std::string& query) {
    return SuperuserQuery(stack, "SET credvault.org_id = " + SqlQuote(org) + "; " + query);
  };
  const std::string row_before = superuser(
      "SELECT encode(public_key, 'hex') || '/' || encode(signature, 'hex') FROM org_keys "
      "WHERE org_id = " +
      SqlQuote(org) + " AND state = 'ACTIVE'");
  ASSERT_FALSE(row_before.empty());

  // The attacker's own key pair and key directory key.
  const crypto::X25519KeyPair attacker = ValueOrDie(crypto::GenerateX25519KeyPair());
  const crypto::KeyDirectorySigner attacker_directory = ValueOrDie(
      crypto::KeyDirectorySigner::FromSeed(1, ValueOrDie(crypto::KeyBuffer::Generate(32))));
  const std::string attacker_public =
      "'\\x" + HexLower(std::string(attacker.public_key.begin(), attacker.public_key.end())) +
      "'::bytea";

  // 1. The old way: a writer authenticator over the attacker's record, no signature.
  crypto::CanonicalEncoder legacy("credvault.org-key.v1");
  legacy.AddString(org);
  legacy.AddU32(1);
  legacy.AddFixed(attacker.public_key);
  legacy.AddU32(1);
  const crypto::WriterKeyRing ring = ValueOrDie(crypto::WriterKeyRing::New(1, [&] {
    std::vector<std::pair<std::uint32_t, crypto::KeyBuffer>> keys;
    keys.emplace_back(1, ValueOrDie(crypto::KeyBuffer::CopyFrom(writer_key_->RevealSecret())));
    return keys;
  }()));
  const crypto::WriterTag tag = crypto::AuthenticateWithCurrentKey(ring, {legacy.bytes()});
  // Even the owner cannot store it: a record without a signature must be one that existed
  // before records were signed (a check constraint), and only those are ever signed.
  const std::string plant_unsigned =
      "UPDATE org_keys SET public_key = " + attacker_public +
      ", writer_key_version = 1, authenticator = '\\x" +
      HexLower(std::string(tag.mac.begin(), tag.mac.end())) +
      "'::bytea, directory_key_version = NULL, signature = NULL WHERE org_id = " + SqlQuote(org) +
      " AND state = 'ACTIVE'";
  const CommandResult planted =
      RunShell(SuperuserPsql(stack) + " -tAc " + ShellQuote(plant_unsigned));
  EXPECT_NE(planted.exit_code, 0);
  EXPECT_THAT(planted.output, HasSubstr("check constraint")) << planted.output;
  superuser("UPDATE org_keys SET public_key = " + attacker_public +
            " WHERE org_id = " + SqlQuote(org) + " AND state = 'ACTIVE'");
  Outcome refused = Put(*writer, PutRequest(org, "after-1", "must not be sealed"));
  EXPECT_EQ(refused.code, grpc::StatusCode::DATA_LOSS) << refused;
  EXPECT_EQ(refused.reason, "ERROR_REASON_INTEGRITY_FAILURE") << refused;

  // 2. Signed over exactly the documented message (docs/crypto.md), but with the
  // attacker's own key directory key.
  const std::string root_version =
      superuser("SELECT root_key_version FROM org_keys WHERE org_id = " + SqlQuote(org) +
                " AND state = 'ACTIVE'");
  crypto::CanonicalEncoder message("credvault.org-key.v2");
  message.AddString(org);
  message.AddU32(1);
  message.AddFixed(attacker.public_key);
  message.AddU32(static_cast<std::uint32_t>(std::stoul(root_version)));
  message.AddString("ACTIVE");
  message.AddU32(1);
  const crypto::KeyDirectorySignature forged = attacker_directory.Sign(message);
  superuser("UPDATE org_keys SET directory_key_version = 1, signature = '\\x" +
            HexLower(std::string(forged.begin(), forged.end())) +
            "'::bytea WHERE org_id = " + SqlQuote(org) + " AND state = 'ACTIVE'");
  refused = Put(*writer, PutRequest(org, "after-2", "must not be sealed"));
  EXPECT_EQ(refused.code, grpc::StatusCode::DATA_LOSS) << refused;
  EXPECT_EQ(refused.reason, "ERROR_REASON_INTEGRITY_FAILURE") << refused;

  // Nothing was sealed to the attacker's key; the record put back, the org works again.
  EXPECT_EQ(superuser("SELECT count(*) FROM credentials WHERE org_id = " + SqlQuote(org) +
                      " AND name LIKE 'after-%'"),
            "0");
  const std::string restore_key = row_before.substr(0, row_before.find('/'));
  const std::string restore_signature = row_before.substr(row_before.find('/') + 1);
  superuser("UPDATE org_keys SET public_key = '\\x" + restore_key +
            "'::bytea, writer_key_version = NULL, authenticator = NULL, signature = '\\x" +
            restore_signature + "'::bytea WHERE org_id = " + SqlQuote(org) +
            " AND state = 'ACTIVE'");
  ASSERT_TRUE(Put(*writer, PutRequest(org, "after-3", "put after the repair")).ok());
  auto worker = Decrypting(Caller::Cert("worker"));
  std::string secret;
  ASSERT_TRUE(Decrypt(*worker, org, "after-3", &secret).ok());
  EXPECT_EQ(secret, "put after the repair");
}

// ---------------------------------------------------------------------------------------
// 3. An offline oracle: something readable that lets the attacker test guesses of a stored
// secret with the writer key or without a key.

// Every hash of `secret` the attacker can compute, keyed with the writer key or not,
// including the fingerprint that earlier schemas stored (keyed BLAKE2b over the canonical
// context and the secret).
std::vector<std::string> GuessDigests(const crypto::KeyBuffer& writer_key, const std::string& org,
                                      const std::string& name, const std::string& secret) {
  const auto* data = reinterpret_cast<const unsigned char*>(secret.data());
  const absl::Span<const std::uint8_t> key = writer_key.RevealSecret();
  std::vector<std::string> digests;
  const auto add = [&](const unsigned char* bytes, std::size_t size) {
    digests.emplace_back(reinterpret_cast<const char*>(bytes), size);
  };
  for (const std::size_t size : {std::size_t{32}, std::size_t{64}}) {
    unsigned char out[64];
    crypto_generichash(out, size, data, secret.size(), nullptr, 0);
    add(out, size);
    crypto_generichash(out, size, data, secret.size(), key.data(), key.size());
    add(out, size);
  }
  unsigned char sha256[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(sha256, data, secret.size());
  add(sha256, sizeof(sha256));
  unsigned char sha512[crypto_hash_sha512_BYTES];
  crypto_hash_sha512(sha512, data, secret.size());
  add(sha512, sizeof(sha512));
  unsigned char hmac256[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state hmac256_state;
  crypto_auth_hmacsha256_init(&hmac256_state, key.data(), key.size());
  crypto_auth_hmacsha256_update(&hmac256_state, data, secret.size());
  crypto_auth_hmacsha256_final(&hmac256_state, hmac256);
  add(hmac256, sizeof(hmac256));
  unsigned char hmac512[crypto_auth_hmacsha512_BYTES];
  crypto_auth_hmacsha512_state hmac512_state;
  crypto_auth_hmacsha512_init(&hmac512_state, key.data(), key.size());
  crypto_auth_hmacsha512_update(&hmac512_state, data, secret.size());
  crypto_auth_hmacsha512_final(&hmac512_state, hmac512);
  add(hmac512, sizeof(hmac512));
  add(hmac512, crypto_auth_hmacsha512256_BYTES);  // HMAC-SHA-512/256 is its prefix
  // The old fingerprint: BLAKE2b-256 keyed with the writer key over
  // str("credvault.fingerprint.v1") || str(org) || str(name) || secret.
  const auto str = [](const std::string& value) {
    const auto size = static_cast<std::uint32_t>(value.size());
    std::string encoded = {static_cast<char>(size >> 24), static_cast<char>(size >> 16),
                           static_cast<char>(size >> 8), static_cast<char>(size)};
    return encoded + value;
  };
  const std::string context = str("credvault.fingerprint.v1") + str(org) + str(name);
  crypto_generichash_state state;
  crypto_generichash_init(&state, key.data(), key.size(), 32);
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(context.data()),
                            context.size());
  crypto_generichash_update(&state, data, secret.size());
  unsigned char fingerprint[32];
  crypto_generichash_final(&state, fingerprint, sizeof(fingerprint));
  add(fingerprint, sizeof(fingerprint));
  return digests;
}

// Whether `text` holds the secret or one of `digests`, raw, in hex or in base64.
bool Reveals(const std::string& text, const std::string& secret,
             const std::vector<std::string>& digests) {
  std::string lower = text;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (text.find(secret) != std::string::npos) return true;
  for (const std::string& digest : digests) {
    if (text.find(digest) != std::string::npos) return true;
    if (lower.find(HexLower(digest)) != std::string::npos) return true;
    for (const std::string& needle : Base64Needles(digest)) {
      if (needle.size() >= 16 && text.find(needle) != std::string::npos) return true;
    }
  }
  return false;
}

// Bytes fields reachable from `message`.
void BytesFields(const google::protobuf::Descriptor* message,
                 std::set<const google::protobuf::Descriptor*>& seen,
                 std::vector<std::string>& found) {
  if (!seen.insert(message).second) return;
  for (int i = 0; i < message->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = message->field(i);
    if (field->type() == google::protobuf::FieldDescriptor::TYPE_BYTES) {
      found.push_back(field->full_name());
    }
    if (field->message_type() != nullptr) BytesFields(field->message_type(), seen, found);
  }
}

std::vector<std::string> BytesFieldsOf(const google::protobuf::Descriptor* message) {
  std::set<const google::protobuf::Descriptor*> seen;
  std::vector<std::string> found;
  BytesFields(message, seen, found);
  return found;
}

TEST_F(WriteTierCompromiseTest, NothingReadableTestsGuessesOffline) {
  const WriterLogin& login = *login_;
  const std::string org = "wt-oracle";
  const std::string name = "oracle/password";
  const std::string secret = "hunter2";
  Provision(org);
  auto writer = WriteOnly(Caller::Cert("backend"));
  v1::PutCredentialRequest put = PutRequest(org, name, secret);
  put.set_idempotency_key("idem-first");
  (*put.mutable_labels())["kind"] = "password";
  ASSERT_TRUE(Put(*writer, put).ok());
  // The same request with another secret and idempotency key: the stored digest must not
  // tell the two apart.
  put.set_secret("correct horse battery staple");
  put.set_idempotency_key("idem-other");
  v1::PutCredentialResponse second;
  ASSERT_TRUE(Put(*writer, put, &second).ok());
  EXPECT_EQ(second.credential().version(), 2u);

  const std::vector<std::string> digests = GuessDigests(*writer_key_, org, name, secret);
  ASSERT_EQ(digests.size(), 10u);
  // The matcher finds each digest in every rendering it looks for (so "not found" below
  // means something).
  for (const std::string& digest : digests) {
    EXPECT_TRUE(Reveals("x" + HexLower(digest) + "x", secret, digests));
    EXPECT_TRUE(Reveals(HexUpper(digest), secret, digests));
  }

  // Every bytea column of the schema that the write role can read: the public halves of
  // keys, the writer authenticators over them, and the idempotency digests. No envelope,
  // no sealed private half, no audit hash.
  const pqxx::result bytea_columns = login.Query(
      org,
      "SELECT c.relname || '.' || a.attname FROM pg_attribute a "
      "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'p', 'f') AND a.attnum > 0 "
      "AND NOT a.attisdropped AND a.atttypid = 'bytea'::regtype "
      "AND has_column_privilege(c.oid, a.attnum, 'SELECT') ORDER BY 1");
  std::set<std::string> readable_bytea;
  for (const auto& row : bytea_columns) readable_bytea.insert(row[0].as<std::string>());
  EXPECT_EQ(readable_bytea, (std::set<std::string>{"idempotency_keys.request_hash",
                                                   "org_keys.authenticator", "org_keys.public_key",
                                                   "org_keys.signature", "root_keys.public_key"}));
  // The query sees columns the role may not read too (so the set above is not empty for
  // lack of rows).
  const pqxx::result all_bytea =
      login.Query(org,
                  "SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                  "WHERE c.relname IN ('credentials', 'org_keys') AND a.attname IN ('envelope', "
                  "'sealed_private_key') AND a.atttypid = 'bytea'::regtype");
  EXPECT_EQ(all_bytea[0][0].as<long>(), 2);
  ExpectPrivilegeRefused(login, org, "SELECT * FROM credentials", "table credentials");
  ExpectPrivilegeRefused(login, org, "SELECT envelope FROM credentials", "table credentials");
  ExpectPrivilegeRefused(login, org, "SELECT * FROM org_keys", "table org_keys");
  ExpectPrivilegeRefused(login, org, "SELECT sealed_private_key FROM org_keys", "table org_keys");

  // Every value of every column it can read in the tables the write path touches, as text
  // (bytea in hex): none holds the secret or anything the attacker could compare a guess
  // with.
  int values_read = 0;
  int hunter_rows = 0;
  for (const std::string table :
       {"credentials", "idempotency_keys", "orgs", "org_keys", "root_keys"}) {
    SCOPED_TRACE(table);
    const pqxx::result columns = login.Query(
        org,
        "SELECT a.attname, a.atttypid = 'bytea'::regtype FROM pg_attribute a "
        "WHERE a.attrelid = " +
            SqlQuote("public." + table) +
            "::regclass AND a.attnum > 0 AND NOT a.attisdropped "
            "AND has_column_privilege(a.attrelid, a.attnum, 'SELECT') ORDER BY a.attnum");
    ASSERT_FALSE(columns.empty()) << "the write role reads some of " << table;
    std::string select;
    for (const auto& column : columns) {
      const std::string column_name = column[0].as<std::string>();
      if (!select.empty()) select += ", ";
      select += column[1].as<bool>() ? "encode(\"" + column_name + "\", 'hex')"
                                     : "\"" + column_name + "\"::text";
    }
    const pqxx::result rows = login.Query(org, "SELECT " + select + " FROM " + table);
    EXPECT_FALSE(rows.empty()) << "rows of " << org << " in " << table;
    for (const auto& row : rows) {
      std::string line;
      for (const auto& field : row) {
        if (field.is_null()) continue;
        const std::string value = field.as<std::string>();
        ++values_read;
        EXPECT_FALSE(Reveals(value, secret, digests)) << table << " column " << field.name();
        line += value + "|";
      }
      if (line.find(name) != std::string::npos) ++hunter_rows;
    }
  }
  EXPECT_GT(values_read, 20);
  EXPECT_GE(hunter_rows, 4) << "two credential versions and two idempotency keys";

  // The idempotency digests of the two puts are equal: the secret is not an input.
  const pqxx::result request_hashes =
      login.Query(org,
                  "SELECT idempotency_key, encode(request_hash, 'hex') FROM idempotency_keys "
                  "WHERE credential_name = " +
                      SqlQuote(name) + " ORDER BY idempotency_key");
  ASSERT_EQ(request_hashes.size(), 2u);
  EXPECT_EQ(request_hashes[0][1].as<std::string>(), request_hashes[1][1].as<std::string>());
  EXPECT_EQ(request_hashes[0][1].as<std::string>().size(), 64u);

  // The API the write tier serves returns no bytes field at all from Put, Describe, List
  // or Delete (the same walk finds the secret of a Decrypt response)...
  for (const google::protobuf::Descriptor* response :
       {v1::PutCredentialResponse::descriptor(), v1::DescribeCredentialResponse::descriptor(),
        v1::ListCredentialsResponse::descriptor(), v1::DeleteCredentialResponse::descriptor(),
        v1::CompareCredentialResponse::descriptor()}) {
    EXPECT_THAT(BytesFieldsOf(response), IsEmpty()) << response->full_name();
  }
  EXPECT_THAT(BytesFieldsOf(v1::DecryptCredentialResponse::descriptor()),
              Contains("credvault.v1.DecryptCredentialResponse.secret"));
  // ... and its answers carry neither the secret nor a digest of it.
  v1::DescribeCredentialRequest describe;
  describe.set_org_id(org);
  describe.set_name(name);
  describe.set_version(1);
  v1::DescribeCredentialResponse described;
  ASSERT_TRUE(Call(*writer->credentials, &v1::CredentialService::Stub::DescribeCredential, describe,
                   &described)
                  .ok());
  EXPECT_EQ(described.credential().version(), 1u);
  EXPECT_FALSE(Reveals(described.SerializeAsString(), secret, digests));
  EXPECT_FALSE(Reveals(described.DebugString(), secret, digests));
  v1::ListCredentialsRequest list;
  list.set_org_id(org);
  list.set_include_deleted(true);
  v1::ListCredentialsResponse listed;
  ASSERT_TRUE(
      Call(*writer->credentials, &v1::CredentialService::Stub::ListCredentials, list, &listed)
          .ok());
  EXPECT_GE(listed.credentials_size(), 2);
  EXPECT_FALSE(Reveals(listed.SerializeAsString(), secret, digests));
  EXPECT_FALSE(Reveals(listed.DebugString(), secret, digests));

  // The stored secret is there for the decrypt tier (the control).
  auto worker = Decrypting(Caller::Cert("worker"));
  std::string decrypted;
  ASSERT_TRUE(Decrypt(*worker, org, name, &decrypted, 1).ok());
  EXPECT_EQ(decrypted, secret);
}

// ---------------------------------------------------------------------------------------
// 4. Roll back, revive or overwrite stored versions.

TEST_F(WriteTierCompromiseTest, CannotRollBackReviveOrOverwrite) {
  const WriterLogin& login = *login_;
  const std::string org = "wt-rollback";
  Provision(org);
  auto writer = WriteOnly(Caller::Cert("backend"));
  for (const std::string value : {"first", "second", "third"}) {
    ASSERT_TRUE(Put(*writer, PutRequest(org, "rotating", value)).ok());
  }
  ASSERT_TRUE(Put(*writer, PutRequest(org, "retired", "gone")).ok());
  v1::DeleteCredentialRequest deletion;
  deletion.set_org_id(org);
  deletion.set_name("retired");
  deletion.set_mode(v1::DELETION_MODE_SOFT);
  v1::DeleteCredentialResponse deleted;
  ASSERT_TRUE(
      Call(*writer->credentials, &v1::CredentialService::Stub::DeleteCredential, deletion, &deleted)
          .ok());

  const auto snapshot = [&] {
    std::vector<v1::CredentialMetadata> described;
    for (const std::string name : {"rotating", "retired"}) {
      v1::CredentialMetadata metadata;
      const Outcome outcome = Describe(*writer, org, name, &metadata, {}, /*show_deleted=*/true);
      EXPECT_TRUE(outcome.ok()) << name << ": " << outcome;
      described.push_back(metadata);
    }
    return described;
  };
  const std::vector<v1::CredentialMetadata> before = snapshot();
  ASSERT_EQ(before[0].version(), 3u);
  const std::string rows_sql =
      "SELECT name, version, is_current, deleted_at, erased FROM credentials ORDER BY 1, 2";
  const auto rows_before = Table(login.Query(org, rows_sql));
  ASSERT_EQ(rows_before.size(), 5u);

  ExpectPrivilegeRefused(
      login, org, "UPDATE credentials SET is_current = (version = 1) WHERE name = 'rotating'",
      "table credentials");
  ExpectPrivilegeRefused(login, org, "UPDATE credentials SET deleted_at = NULL",
                         "table credentials");
  ExpectPrivilegeRefused(login, org,
                         "UPDATE credentials SET envelope = '\\x00'::bytea WHERE version = 3",
                         "table credentials");
  ExpectPrivilegeRefused(login, org, "DELETE FROM credentials WHERE version > 1",
                         "table credentials");
  ExpectPrivilegeRefused(login, org,
                         "INSERT INTO credentials (org_id, name, version, envelope, "
                         "org_key_version, writer_key_version, labels, created_by, is_current, "
                         "max_versions) VALUES (" +
                             SqlQuote(org) +
                             ", 'rotating', 4, '\\x00'::bytea, 1, 1, '{}', 'x', true, 0)",
                         "table credentials");

  // The put function lets versions only grow by one: an old version (an overwrite) and a
  // skipped one are refused, whatever the envelope.
  const auto put_version = [&](std::int64_t version) {
    return "SELECT * FROM credvault_put_version(" + SqlQuote(org) + ", 'rotating', " +
           std::to_string(version) +
           ", '\\x01'::bytea, 1, 1, '{}'::jsonb, 'spiffe://credvault.test/backend', NULL, NULL, "
           "NULL, NULL, 'forged-request')";
  };
  for (const std::int64_t version : {1, 2, 3, 5, 0}) {
    SCOPED_TRACE(version);
    const SqlAttempt attempt = login.Attempt(org, put_version(version));
    EXPECT_FALSE(attempt.accepted);
    EXPECT_EQ(attempt.sqlstate, kRaiseException) << attempt;
    EXPECT_THAT(attempt.message, HasSubstr("is not the next version of the credential (4)"));
  }
  // The next version is accepted by the same function and login (rolled back here).
  const SqlAttempt next = login.Attempt(org, put_version(4));
  EXPECT_TRUE(next.accepted) << next;

  EXPECT_EQ(Table(login.Query(org, rows_sql)), rows_before);
  const std::vector<v1::CredentialMetadata> after = snapshot();
  ASSERT_EQ(after.size(), before.size());
  for (std::size_t i = 0; i < before.size(); ++i) {
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(before[i], after[i]))
        << before[i].DebugString() << "\nbecame\n"
        << after[i].DebugString();
  }
  auto worker = Decrypting(Caller::Cert("worker"));
  std::string secret;
  ASSERT_TRUE(Decrypt(*worker, org, "rotating", &secret).ok());
  EXPECT_EQ(secret, "third");
  EXPECT_EQ(Decrypt(*worker, org, "retired").code, grpc::StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------
// 5. Forge, rewind or read the audit log.

TEST_F(WriteTierCompromiseTest, CannotForgeRewindOrReadTheAuditLog) {
  const WriterLogin& login = *login_;
  const std::string org = "wt-audit";
  Provision(org);
  auto writer = WriteOnly(Caller::Cert("backend"));
  ASSERT_TRUE(Put(*writer, PutRequest(org, "audited", "value")).ok());
  auto admin = Decrypting(Caller::Cert("admin"));
  const std::vector<v1::AuditEvent> before = AuditEvents(*admin, org);
  ASSERT_FALSE(before.empty());
  const auto count_action = [](const std::vector<v1::AuditEvent>& events,
                               const std::string& action) {
    return std::count_if(events.begin(), events.end(),
                         [&](const v1::AuditEvent& event) { return event.action() == action; });
  };
  const auto decrypts_before = count_action(before, "credential.decrypt");

  const std::string hash = "'\\x" + HexLower(std::string(32, '\x07')) + "'::bytea";
  ExpectPrivilegeRefused(
      login, org,
      "INSERT INTO audit_events (org_id, seq, event_time, principal, action, target, result, "
      "request_id, details, prev_hash, hash, chain_format, appended_by) VALUES (" +
          SqlQuote(org) + ", " + std::to_string(before.size() + 1) +
          ", now(), 'spiffe://credvault.test/worker', 'credential.decrypt', 'audited', 'ok', "
          "'forged', 'forged purpose', " +
          hash + ", " + hash + ", 2, " + SqlQuote(*decryptor_role_) + ")",
      "table audit_events");
  ExpectPrivilegeRefused(login, org,
                         "INSERT INTO audit_checkpoints (org_id, seq, head_hash, created_at) "
                         "VALUES (" +
                             SqlQuote(org) + ", 1, " + hash + ", now())",
                         "table audit_checkpoints");
  ExpectPrivilegeRefused(login, org, "UPDATE audit_heads SET seq = 0, hash = " + hash,
                         "table audit_heads");
  ExpectPrivilegeRefused(login, org, "DELETE FROM audit_events", "table audit_events");
  ExpectPrivilegeRefused(login, org, "SELECT * FROM audit_events", "table audit_events");
  ExpectPrivilegeRefused(login, org, "SELECT * FROM audit_heads", "table audit_heads");
  ExpectPrivilegeRefused(login, org, "SELECT * FROM audit_checkpoints", "table audit_checkpoints");
  const std::string forged_fields = SqlQuote(org) +
                                    ", now(), 'spiffe://credvault.test/worker', "
                                    "'credential.decrypt', 'audited', 'ok', 'forged', 'purpose'";
  ExpectPrivilegeRefused(login, org, "SELECT credvault_audit_append(" + forged_fields + ")",
                         "function credvault_audit_append");
  ExpectPrivilegeRefused(login, org, "SELECT credvault_audit_link(" + forged_fields + ")",
                         "function credvault_audit_link");
  ExpectPrivilegeRefused(login, org,
                         "SELECT credvault_audit_add_checkpoint(" + SqlQuote(org) +
                             ", 'periodic', 1, " + hash + ", NULL, NULL, now())",
                         "function credvault_audit_add_checkpoint");

  // What the write role may append by itself is a refusal, recorded as one and under its
  // own role: a "decrypt" passed in becomes the target of an access.denied event.
  pqxx::result appended;
  const SqlAttempt denial = login.Commit(
      org,
      "SELECT credvault_audit_append_denial(" + SqlQuote(org) +
          ", 'spiffe://credvault.test/worker', 'credential.decrypt', 'ok', 'forged-request', "
          "'purpose: forged')",
      &appended);
  ASSERT_TRUE(denial.accepted) << denial;
  ASSERT_EQ(appended.size(), 1u);
  ASSERT_FALSE(appended[0][0].is_null());
  const auto forged_seq = appended[0][0].as<std::uint64_t>();
  EXPECT_EQ(forged_seq, before.size() + 1);
  // For an org that does not exist it appends nothing.
  pqxx::result nothing;
  const std::string never = "wt-never-" + RandomHex(4);
  ASSERT_TRUE(login
                  .Commit(never,
                          "SELECT credvault_audit_append_denial(" + SqlQuote(never) +
                              ", 'p', 'DescribeCredential', 'PERMISSION_DENIED', 'r', '')",
                          &nothing)
                  .accepted);
  ASSERT_EQ(nothing.size(), 1u);
  EXPECT_TRUE(nothing[0][0].is_null());

  const std::vector<v1::AuditEvent> after = AuditEvents(*admin, org);
  ASSERT_EQ(after.size(), before.size() + 1);
  const v1::AuditEvent& forged = after.back();
  EXPECT_EQ(forged.sequence(), forged_seq);
  EXPECT_EQ(forged.action(), "access.denied");
  EXPECT_EQ(forged.target(), "credential.decrypt");
  EXPECT_EQ(forged.appended_by(), login.role());
  EXPECT_EQ(forged.chain_format(), 2u);
  EXPECT_EQ(count_action(after, "credential.decrypt"), decrypts_before);
  // The write path's own events name the write role too; the earlier events are unchanged.
  for (std::size_t i = 0; i < before.size(); ++i) {
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(before[i], after[i])) << i;
  }
  const auto put_event = std::find_if(after.begin(), after.end(), [](const v1::AuditEvent& event) {
    return event.action() == "credential.put" && event.target() == "audited";
  });
  ASSERT_NE(put_event, after.end());
  EXPECT_EQ(put_event->appended_by(), login.role());

  // The chain still verifies over every event, the one the write role appended included.
  v1::VerifyAuditLogResponse verified;
  EXPECT_TRUE(VerifyChain(org, &verified)) << verified.failure_detail();
  EXPECT_EQ(verified.events_checked(), after.size());
}

// ---------------------------------------------------------------------------------------
// 6. Denials of callers without a grant for the org: no trace in its chain, and no hint
// whether it exists.

TEST_F(WriteTierCompromiseTest, DenialsWithoutAGrantLeaveNoEventAndRevealNoOrg) {
  const std::string org = "wt-denials";
  const std::string never = "wt-absent";
  Provision(org);
  auto admin = Decrypting(Caller::Cert("admin"));
  const std::size_t events_before = AuditEvents(*admin, org).size();
  ASSERT_GT(events_before, 0u);

  struct Stranger {
    std::string cert;
    std::string principal;
  };
  // outsider has no grant at all; dnsclient has writer and decryptor in org-a only.
  const std::vector<Stranger> strangers = {{"outsider", "spiffe://credvault.test/outsider"},
                                           {"dnsclient", "dns:dns-client.credvault.test"}};
  int probes = 0;
  for (const Stranger& stranger : strangers) {
    SCOPED_TRACE(stranger.cert);
    auto write = WriteOnly(Caller::Cert(stranger.cert));
    auto decrypt = Decrypting(Caller::Cert(stranger.cert));
    const std::vector<std::pair<std::string, std::function<Outcome(const std::string&)>>> calls = {
        {"PutCredential",
         [&](const std::string& target) { return Put(*write, PutRequest(target, "seed", "x")); }},
        {"DescribeCredential",
         [&](const std::string& target) { return Describe(*write, target, "seed"); }},
        {"ListCredentials",
         [&](const std::string& target) {
           v1::ListCredentialsRequest request;
           request.set_org_id(target);
           v1::ListCredentialsResponse response;
           return Call(*write->credentials, &v1::CredentialService::Stub::ListCredentials, request,
                       &response);
         }},
        {"DeleteCredential",
         [&](const std::string& target) {
           v1::DeleteCredentialRequest request;
           request.set_org_id(target);
           request.set_name("seed");
           request.set_mode(v1::DELETION_MODE_ERASE);
           v1::DeleteCredentialResponse response;
           return Call(*write->credentials, &v1::CredentialService::Stub::DeleteCredential, request,
                       &response);
         }},
        {"CompareCredential",
         [&](const std::string& target) {
           v1::CompareCredentialRequest request;
           request.set_org_id(target);
           request.set_name("seed");
           request.set_candidate("seed value");
           v1::CompareCredentialResponse response;
           return Call(*write->credentials, &v1::CredentialService::Stub::CompareCredential,
                       request, &response);
         }},
        {"DecryptCredential",
         [&](const std::string& target) { return Decrypt(*decrypt, target, "seed"); }},
    };
    for (const auto& [rpc, call] : calls) {
      SCOPED_TRACE(rpc);
      const Outcome existing = call(org);
      const Outcome absent = call(never);
      ++probes;
      EXPECT_EQ(existing.code, grpc::StatusCode::PERMISSION_DENIED) << existing;
      EXPECT_THAT(existing.message, HasSubstr(stranger.principal));
      EXPECT_THAT(existing.message, HasSubstr(org));
      EXPECT_EQ(absent.code, existing.code) << absent;
      EXPECT_EQ(absent.reason, existing.reason);
      std::string absent_as_existing = absent.message;
      const std::size_t at = absent_as_existing.find(never);
      ASSERT_NE(at, std::string::npos) << absent.message;
      absent_as_existing.replace(at, never.size(), org);
      EXPECT_EQ(absent_as_existing, existing.message);
    }
  }
  EXPECT_EQ(probes, 12);
  EXPECT_EQ(AuditEvents(*admin, org).size(), events_before)
      << "a caller without a grant for the org added to its chain";

  // The control: a caller that holds a grant for the org (writer) and is refused a decrypt
  // is recorded in the org's chain, under its principal.
  auto backend = Decrypting(Caller::Cert("backend"));
  const Outcome member = Decrypt(*backend, org, "seed");
  EXPECT_EQ(member.code, grpc::StatusCode::PERMISSION_DENIED) << member;
  const std::vector<v1::AuditEvent> after = AuditEvents(*admin, org);
  ASSERT_EQ(after.size(), events_before + 1);
  EXPECT_EQ(after.back().action(), "access.denied");
  EXPECT_EQ(after.back().principal(), "spiffe://credvault.test/backend");
  v1::VerifyAuditLogResponse verified;
  EXPECT_TRUE(VerifyChain(org, &verified)) << verified.failure_detail();
  // The data is untouched by the strangers' erase and put.
  auto worker = Decrypting(Caller::Cert("worker"));
  std::string secret;
  ASSERT_TRUE(Decrypt(*worker, org, "seed", &secret).ok());
  EXPECT_EQ(secret, "seed value");
}

}  // namespace
}  // namespace credvault::e2e

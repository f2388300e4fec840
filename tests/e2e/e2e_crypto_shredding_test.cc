// Crypto-shredding (AdminService.DestroyOrg) against a real credvaultd. After an org is
// destroyed, not even the strongest insider can recover one of its secrets: someone who
// holds every key file of the deployment (the seal key included, so every root key unwraps)
// and a full copy of the database taken after the destruction and before retention purges
// anything. The very same recovery procedure, applied to an org that was not destroyed,
// recovers every one of its secrets, so the negative result means something. Also checked:
// the signed erasure receipt, and what the API answers about the destroyed org afterwards.
#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/types/span.h"
#include "crypto/audit_chain.h"
#include "crypto/audit_signer.h"
#include "crypto/key_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/support/audit_reader.h"
#include "tests/e2e/support/database_copy.h"
#include "tests/e2e/support/e2e_support.h"
#include "tests/e2e/support/insider_recovery.h"
#include "tests/e2e/support/leaks.h"
#include "tests/e2e/support/org_admin.h"
#include "tests/e2e/support/superuser_sql.h"

namespace credvault::e2e {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::google::protobuf::util::TimeUtil;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

[[maybe_unused]] ::testing::Environment* const kStack =
    ::testing::AddGlobalTestEnvironment(new StackEnvironment("shred"));

absl::Span<const std::uint8_t> AsBytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// ---------------------------------------------------------------------------------------
// The scenario, played once for every test of the suite.

struct Scenario {
  bool ready = false;
  std::string org_a, org_b;
  Secrets a_secrets;               // every version put into A
  std::set<std::string> a_erased;  // versions of A erased before the destruction
  Secrets b_secrets;
  std::vector<std::uint32_t> a_key_versions;  // every key version of A before destruction
  std::vector<OrgKeyRow> a_keys_before;       // A's key rows just before destruction
  std::string second_job_id;                  // the re-seal job left running
  std::string reason;
  std::int64_t destroy_called_micros = 0, destroy_returned_micros = 0;
  v1::DestroyOrgResponse destroyed;
  std::vector<v1::AuditEvent> events_at_destroy;
  std::vector<v1::AuditCheckpoint> checkpoints_at_destroy;
  std::vector<v1::AuditSigningKey> signing_keys;
  std::string dump;
  DatabaseCopy from_dump, from_queries;
};

std::int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Re-seal jobs of the scenario end within this.
constexpr auto kJobDeadline = std::chrono::seconds(90);

class CryptoShreddingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scenario_ = new Scenario;
    Play(*scenario_);
  }
  static void TearDownTestSuite() {
    delete scenario_;
    scenario_ = nullptr;
  }
  void SetUp() override {
    stack_ = CurrentStack();
    ASSERT_NE(stack_, nullptr);
    ASSERT_TRUE(scenario_ != nullptr && scenario_->ready)
        << "the scenario did not complete; see the failures reported before the first test";
  }

  // Puts `secret` into ORG/NAME and records it under the version it got.
  static void PutSecret(Clients& writer, const std::string& org, const std::string& name,
                        const std::string& secret, Secrets& into) {
    v1::PutCredentialRequest request = PutRequest(org, name, secret);
    (*request.mutable_labels())["purpose"] = "shred-test";
    v1::PutCredentialResponse response;
    const Outcome outcome = Put(writer, request, &response);
    ASSERT_TRUE(outcome.ok()) << "Put " << org << "/" << name << ": " << outcome;
    into[At(name, response.credential().version())] = secret;
  }

  static std::string Marker(const std::string& tag) {
    return "SHRED-MARKER-" + tag + "-" + RandomHex(16);
  }

  static void Play(Scenario& s) {
    const Stack* stack = CurrentStack();
    ASSERT_NE(stack, nullptr);
    Clients writer(TlsChannel(*stack, stack->write_addr, Caller::Cert("backend")));
    Clients decryptor(TlsChannel(*stack, stack->decrypt_addr, Caller::Cert("worker")));
    Clients admin(TlsChannel(*stack, stack->decrypt_addr, Caller::Cert("admin")));
    s.org_a = "shred-a-" + RandomHex(4);
    s.org_b = "shred-b-" + RandomHex(4);

    // Org A under key version 1: two credentials, one with two versions, plus one that is
    // soft-deleted and one that is erased before the destruction.
    ASSERT_NO_FATAL_FAILURE(PutSecret(writer, s.org_a, "crm/token", Marker("A1"), s.a_secrets));
    ASSERT_NO_FATAL_FAILURE(PutSecret(writer, s.org_a, "crm/token", Marker("A2"), s.a_secrets));
    ASSERT_NO_FATAL_FAILURE(PutSecret(writer, s.org_a, "dialler/key", Marker("A3"), s.a_secrets));
    ASSERT_NO_FATAL_FAILURE(PutSecret(writer, s.org_a, "old/webhook", Marker("A4"), s.a_secrets));
    ASSERT_NO_FATAL_FAILURE(PutSecret(writer, s.org_a, "gone/secret", Marker("A5"), s.a_secrets));
    for (const auto& [name, mode] : {std::pair{"old/webhook", v1::DELETION_MODE_SOFT},
                                     std::pair{"gone/secret", v1::DELETION_MODE_ERASE}}) {
      v1::DeleteCredentialRequest request;
      request.set_org_id(s.org_a);
      request.set_name(name);
      request.set_mode(mode);
      v1::DeleteCredentialResponse response;
      const Outcome outcome = Call(
          *writer.credentials, &v1::CredentialService::Stub::DeleteCredential, request, &response);
      ASSERT_TRUE(outcome.ok()) << "Delete " << name << ": " << outcome;
    }
    s.a_erased.insert(At("gone/secret", 1));

    // Rotation to key version 2, waiting for its re-seal job to finish.
    v1::RotateOrgKeyRequest rotate;
    rotate.set_org_id(s.org_a);
    v1::RotateOrgKeyResponse rotated;
    Outcome outcome = Call(*admin.admin, &v1::AdminService::Stub::RotateOrgKey, rotate, &rotated);
    ASSERT_TRUE(outcome.ok()) << "RotateOrgKey " << s.org_a << ": " << outcome;
    ASSERT_EQ(rotated.org().current_key_version(), 2u);
    const v1::ResealJob first_job =
        WaitForResealJob(admin, s.org_a, rotated.reseal_job().job_id(), kJobDeadline);
    ASSERT_EQ(first_job.state(), v1::RESEAL_JOB_STATE_SUCCEEDED) << first_job.DebugString();

    // More versions under key version 2, then a second rotation whose re-seal job is not
    // waited for: the destruction may find it pending, running or finished.
    ASSERT_NO_FATAL_FAILURE(PutSecret(writer, s.org_a, "crm/token", Marker("A6"), s.a_secrets));
    ASSERT_NO_FATAL_FAILURE(PutSecret(writer, s.org_a, "hook/secret", Marker("A7"), s.a_secrets));
    rotate.set_idempotency_key("shred-second-rotation");
    outcome = Call(*admin.admin, &v1::AdminService::Stub::RotateOrgKey, rotate, &rotated);
    ASSERT_TRUE(outcome.ok()) << "second RotateOrgKey " << s.org_a << ": " << outcome;
    ASSERT_EQ(rotated.org().current_key_version(), 3u);
    s.second_job_id = rotated.reseal_job().job_id();
    ASSERT_NO_FATAL_FAILURE(PutSecret(writer, s.org_a, "hook/secret", Marker("A8"), s.a_secrets));

    // Control org B: several credentials and versions, and a rotation of its own.
    ASSERT_NO_FATAL_FAILURE(PutSecret(writer, s.org_b, "crm/token", Marker("B1"), s.b_secrets));
    ASSERT_NO_FATAL_FAILURE(PutSecret(writer, s.org_b, "crm/token", Marker("B2"), s.b_secrets));
    ASSERT_NO_FATAL_FAILURE(PutSecret(writer, s.org_b, "dialler/key", Marker("B3"), s.b_secrets));
    v1::RotateOrgKeyRequest rotate_b;
    rotate_b.set_org_id(s.org_b);
    outcome = Call(*admin.admin, &v1::AdminService::Stub::RotateOrgKey, rotate_b, &rotated);
    ASSERT_TRUE(outcome.ok()) << "RotateOrgKey " << s.org_b << ": " << outcome;
    ASSERT_NO_FATAL_FAILURE(PutSecret(writer, s.org_b, "hook/secret", Marker("B4"), s.b_secrets));
    // B's job finishes before any copy is taken, so nothing writes to B's rows meanwhile.
    const v1::ResealJob b_job =
        WaitForResealJob(admin, s.org_b, rotated.reseal_job().job_id(), kJobDeadline);
    ASSERT_EQ(b_job.state(), v1::RESEAL_JOB_STATE_SUCCEEDED) << b_job.DebugString();

    // Every live secret decrypts before the destruction: the markers really are stored.
    for (const auto& [org, secrets] :
         {std::pair{s.org_a, s.a_secrets}, std::pair{s.org_b, s.b_secrets}}) {
      for (const auto& [at, secret] : secrets) {
        const std::string name = at.substr(0, at.rfind('@'));
        if (name == "old/webhook" || name == "gone/secret") continue;  // deleted
        std::string plaintext;
        const Outcome decrypted =
            Decrypt(decryptor, org, name, &plaintext, std::stoull(at.substr(at.rfind('@') + 1)),
                    "shredding test, before destruction");
        ASSERT_TRUE(decrypted.ok()) << org << " " << at << ": " << decrypted;
        ASSERT_EQ(plaintext, secret) << org << " " << at;
      }
    }

    v1::DescribeOrgRequest describe;
    describe.set_org_id(s.org_a);
    v1::DescribeOrgResponse described;
    ASSERT_TRUE(
        Call(*admin.admin, &v1::AdminService::Stub::DescribeOrg, describe, &described).ok());
    for (const v1::OrgKeyVersion& key : described.org().key_versions()) {
      s.a_key_versions.push_back(key.version());
    }
    ASSERT_EQ(s.a_key_versions, (std::vector<std::uint32_t>{1, 2, 3}));
    for (const OrgKeyRow& row : ReadOrgKeys(*stack)) {
      if (row.org_id == s.org_a) s.a_keys_before.push_back(row);
    }
    ASSERT_EQ(s.a_keys_before.size(), 3u);

    // The destruction.
    s.reason = "customer offboarding, shred test " + RandomHex(4);
    v1::DestroyOrgRequest destroy;
    destroy.set_org_id(s.org_a);
    destroy.set_confirm_org_id(s.org_a);
    destroy.set_reason(s.reason);
    s.destroy_called_micros = NowMicros();
    outcome = Call(*admin.admin, &v1::AdminService::Stub::DestroyOrg, destroy, &s.destroyed);
    s.destroy_returned_micros = NowMicros();
    ASSERT_TRUE(outcome.ok()) << "DestroyOrg " << s.org_a << ": " << outcome;

    // The audit log as it stands right after the destruction, with its checkpoints and
    // signing keys from an export.
    s.events_at_destroy = AuditEvents(admin, s.org_a);
    AuditExport exported = ExportAudit(admin, s.org_a);
    ASSERT_TRUE(exported.status.ok()) << "ExportAuditLog: " << exported.status.error_message();
    s.checkpoints_at_destroy = std::move(exported.checkpoints);
    s.signing_keys = std::move(exported.signing_keys);

    // The database copy, after the destruction and before any retention purge: a full
    // pg_dump by the superuser, and the key and credential tables read directly.
    const std::string dump_path = stack->dir + "/after-destroy.sql";
    const CommandResult dump =
        RunShell(SuperuserPgDump(*stack) + " -f " + ShellQuote(dump_path) + " credvault");
    ASSERT_EQ(dump.exit_code, 0) << dump.output;
    s.dump = ReadFileOrEmpty(dump_path);
    ASSERT_THAT(s.dump, HasSubstr("CREATE TABLE public.credentials")) << "not a full dump";
    s.from_queries = ReadDatabaseCopy(*stack);
    s.from_dump = ParseDatabaseDump(s.dump);
    s.ready = true;
  }

  static Scenario* scenario_;
  const Stack* stack_ = nullptr;
};

Scenario* CryptoShreddingTest::scenario_ = nullptr;

crypto::ErasureReceiptFields FieldsOf(const v1::ErasureReceipt& receipt) {
  crypto::ErasureReceiptFields fields;
  fields.org_id = receipt.org_id();
  fields.destroyed_key_versions.assign(receipt.destroyed_key_versions().begin(),
                                       receipt.destroyed_key_versions().end());
  fields.destroy_time_unix_micros = TimeUtil::TimestampToMicroseconds(receipt.destroy_time());
  fields.erased_credential_version_count = receipt.erased_credential_version_count();
  fields.audit_sequence = receipt.audit_sequence();
  if (receipt.audit_chain_head().size() == fields.audit_chain_head.size()) {
    std::copy(receipt.audit_chain_head().begin(), receipt.audit_chain_head().end(),
              fields.audit_chain_head.begin());
  }
  return fields;
}

// The audit signing public key, from the key file the insider holds (pinned out of band).
crypto::AuditSigningPublicKey PinnedAuditKey(const Stack& stack) {
  absl::StatusOr<crypto::KeyBuffer> seed =
      crypto::ReadKeyFile(stack.dir + "/keys/audit-signing.key", crypto::kAuditSigningSeedSize);
  EXPECT_TRUE(seed.ok()) << seed.status();
  if (!seed.ok()) return {};
  absl::StatusOr<crypto::AuditSigner> signer = crypto::AuditSigner::FromSeed(*seed);
  EXPECT_TRUE(signer.ok()) << signer.status();
  return signer.ok() ? signer->public_key() : crypto::AuditSigningPublicKey{};
}

TEST_F(CryptoShreddingTest, ReceiptNamesEveryKeyVersionAndTheChainHeadAndIsSigned) {
  const Scenario& s = *scenario_;
  const v1::ErasureReceipt& receipt = s.destroyed.receipt();
  EXPECT_FALSE(s.destroyed.already_destroyed());
  EXPECT_EQ(receipt.org_id(), s.org_a);
  EXPECT_THAT(receipt.destroyed_key_versions(), ElementsAreArray(s.a_key_versions))
      << "every key version of the org, the one of the unfinished rotation included";
  const std::int64_t destroy_time = TimeUtil::TimestampToMicroseconds(receipt.destroy_time());
  EXPECT_GE(destroy_time, s.destroy_called_micros - 5'000'000);
  EXPECT_LE(destroy_time, s.destroy_returned_micros + 5'000'000);
  // Every version of A not erased before was erased by the destruction.
  EXPECT_EQ(receipt.erased_credential_version_count(), s.a_secrets.size() - s.a_erased.size());

  // The receipt's sequence and chain head are those of the org.destroy event, the head of
  // the chain at the destruction.
  ASSERT_FALSE(s.events_at_destroy.empty());
  const v1::AuditEvent& last = s.events_at_destroy.back();
  EXPECT_EQ(last.action(), "org.destroy");
  EXPECT_EQ(last.sequence(), receipt.audit_sequence());
  EXPECT_EQ(last.hash(), receipt.audit_chain_head());
  EXPECT_EQ(receipt.audit_chain_head().size(), 32u);
  EXPECT_EQ(last.result(), "ok");
  EXPECT_EQ(last.principal(), "spiffe://credvault.test/admin");
  EXPECT_THAT(last.details(), HasSubstr(s.reason));
  // The event itself states what the receipt states, so an export proves the erasure.
  EXPECT_THAT(last.details(), HasSubstr("destroyed_key_versions=" +
                                        absl::StrJoin(receipt.destroyed_key_versions(), ",") +
                                        "; erased_credential_versions=" +
                                        std::to_string(receipt.erased_credential_version_count())));

  // Signed by the audit signing key: the key the insider's key file holds, the key the
  // export names, and a signature that covers every field.
  const crypto::AuditSigningPublicKey pinned = PinnedAuditKey(*stack_);
  const std::string pinned_id = crypto::AuditSigningKeyId(pinned);
  ASSERT_EQ(receipt.signature().size(), crypto::kAuditSignatureSize) << "the receipt is unsigned";
  EXPECT_EQ(receipt.signing_key_id(), pinned_id);
  ASSERT_EQ(s.signing_keys.size(), 1u);
  EXPECT_EQ(s.signing_keys[0].key_id(), pinned_id);
  EXPECT_EQ(s.signing_keys[0].public_key(), std::string(pinned.begin(), pinned.end()));
  const crypto::ErasureReceiptFields fields = FieldsOf(receipt);
  EXPECT_TRUE(crypto::VerifyErasureReceiptSignature(pinned, fields, AsBytes(receipt.signature())));
  // The verification can fail: a receipt that leaves out a key version, names another org
  // or another chain head does not verify.
  crypto::ErasureReceiptFields fewer = fields;
  fewer.destroyed_key_versions.pop_back();
  EXPECT_FALSE(crypto::VerifyErasureReceiptSignature(pinned, fewer, AsBytes(receipt.signature())));
  crypto::ErasureReceiptFields other_org = fields;
  other_org.org_id = s.org_b;
  EXPECT_FALSE(
      crypto::VerifyErasureReceiptSignature(pinned, other_org, AsBytes(receipt.signature())));
  crypto::ErasureReceiptFields other_head = fields;
  other_head.audit_chain_head[0] ^= 1;
  EXPECT_FALSE(
      crypto::VerifyErasureReceiptSignature(pinned, other_head, AsBytes(receipt.signature())));

  // The audit log keeps the destruction under a stored checkpoint signed at the org.destroy
  // event, so the history up to it cannot be rewritten.
  const auto checkpoint = std::find_if(
      s.checkpoints_at_destroy.begin(), s.checkpoints_at_destroy.end(),
      [&](const v1::AuditCheckpoint& c) { return c.sequence() == receipt.audit_sequence(); });
  ASSERT_NE(checkpoint, s.checkpoints_at_destroy.end()) << "no checkpoint at the org.destroy event";
  EXPECT_EQ(checkpoint->chain_head_hash(), receipt.audit_chain_head());
  EXPECT_EQ(checkpoint->signing_key_id(), pinned_id);
  EXPECT_EQ(checkpoint->kind(), v1::AUDIT_CHECKPOINT_KIND_ERASURE)
      << v1::AuditCheckpointKind_Name(checkpoint->kind());
  EXPECT_LE(TimeUtil::TimestampToMicroseconds(checkpoint->time()), s.destroy_returned_micros);
  crypto::AuditHash head{};
  std::copy(receipt.audit_chain_head().begin(), receipt.audit_chain_head().end(), head.begin());
  EXPECT_TRUE(crypto::VerifyCheckpointSignature(
      pinned, s.org_a, checkpoint->sequence(), head,
      TimeUtil::TimestampToMicroseconds(checkpoint->time()), AsBytes(checkpoint->signature())));
}

TEST_F(CryptoShreddingTest, DatabaseCopyHoldsNoPrivateKeyOrSecretOfTheDestroyedOrg) {
  const Scenario& s = *scenario_;
  // The dump and the superuser's direct reads are the same data, so the recovery below
  // may work from either.
  EXPECT_TRUE(s.from_dump == s.from_queries) << "the dump and the direct reads disagree";
  for (const DatabaseCopy* copy : {&s.from_dump, &s.from_queries}) {
    SCOPED_TRACE(copy == &s.from_dump ? "pg_dump" : "superuser queries");
    const auto org = std::find_if(copy->orgs.begin(), copy->orgs.end(),
                                  [&](const OrgRow& row) { return row.org_id == s.org_a; });
    ASSERT_NE(org, copy->orgs.end()) << "the org row is kept";
    EXPECT_EQ(org->state, "DESTROYED");
    EXPECT_TRUE(org->has_destroyed_at);

    // Every key version of A: DESTROYED, its sealed private half NULL.
    const std::vector<OrgKeyRow> keys = copy->OrgKeysOf(s.org_a);
    ASSERT_EQ(keys.size(), s.a_key_versions.size());
    for (const OrgKeyRow& key : keys) {
      EXPECT_EQ(key.state, "DESTROYED") << key;
      EXPECT_FALSE(key.sealed_private_key.has_value()) << key;
    }

    // The credential rows of A: purged by retention, or still there (operations.md: names,
    // labels and envelopes that nothing can open remain until then). Whatever is there
    // belongs to versions that were put.
    const std::vector<CredentialRow> rows = copy->CredentialsOf(s.org_a);
    std::cerr << "[ shred ] " << rows.size() << " credential rows of the destroyed org remain ("
              << std::count_if(rows.begin(), rows.end(),
                               [](const CredentialRow& row) { return row.envelope.has_value(); })
              << " with an envelope)\n";
    for (const CredentialRow& row : rows) {
      EXPECT_EQ(s.a_secrets.count(At(row.name, row.version)), 1u) << At(row.name, row.version);
      EXPECT_EQ(row.erased, !row.envelope.has_value()) << At(row.name, row.version);
    }
    // B is untouched: its keys are sealed, its envelopes all there.
    for (const OrgKeyRow& key : copy->OrgKeysOf(s.org_b)) {
      EXPECT_TRUE(key.sealed_private_key.has_value()) << key;
    }
    EXPECT_EQ(copy->CredentialsOf(s.org_b).size(), s.b_secrets.size());
  }

  // Nowhere in the dump, in any column of any table: no secret of either org in clear, hex
  // or base64, and none of the sealed private halves A's key rows held before destruction.
  EXPECT_THAT(s.dump, HasSubstr(s.org_a)) << "the dump holds the destroyed org's rows";
  for (const Secrets* secrets : {&s.a_secrets, &s.b_secrets}) {
    for (const auto& [at, secret] : *secrets) {
      EXPECT_THAT(Leaks(s.dump, secret), IsEmpty()) << at << " in the database dump";
    }
  }
  for (const OrgKeyRow& key : s.a_keys_before) {
    ASSERT_TRUE(key.sealed_private_key.has_value()) << key;
    EXPECT_EQ(s.dump.find(HexOf(*key.sealed_private_key)), std::string::npos)
        << "the sealed private half of " << key << " before destruction is still in the dump";
  }
  // The search finds sealed private halves where they are: those of B.
  for (const OrgKeyRow& key : s.from_queries.OrgKeysOf(s.org_b)) {
    ASSERT_TRUE(key.sealed_private_key.has_value()) << key;
    EXPECT_NE(s.dump.find(HexOf(*key.sealed_private_key)), std::string::npos) << key;
  }
}

TEST_F(CryptoShreddingTest, EveryKeyAndTheCopyRecoverNothingOfTheDestroyedOrg) {
  const Scenario& s = *scenario_;
  const std::string keys_dir = stack_->dir + "/keys";
  for (const DatabaseCopy* copy : {&s.from_dump, &s.from_queries}) {
    SCOPED_TRACE(copy == &s.from_dump ? "pg_dump" : "superuser queries");

    // Control: the procedure recovers every secret of the org that was not destroyed,
    // with every root key unwrapped by the seal key found among the key files.
    const Recovery b = Recover(*copy, keys_dir, s.org_b);
    EXPECT_THAT(b.problems, IsEmpty());
    EXPECT_EQ(b.root_keys_unwrapped.size(), copy->root_keys.size()) << "every root key unwraps";
    EXPECT_FALSE(b.root_keys_unwrapped.empty());
    EXPECT_TRUE(b.org_keys_unsealed.count(At(s.org_b, 1)) == 1 &&
                b.org_keys_unsealed.count(At(s.org_b, 2)) == 1)
        << "both key versions of the control org unseal";
    EXPECT_EQ(b.envelopes, s.b_secrets.size());
    EXPECT_EQ(b.recovered, s.b_secrets) << "the recovery procedure does not work";

    // The destroyed org: no key of it unseals, and nothing of it opens, neither with the
    // key version each envelope names nor with any other private key there is.
    const Recovery a = Recover(*copy, keys_dir, s.org_a);
    for (const std::string& key : a.org_keys_unsealed) {
      EXPECT_NE(key.rfind(s.org_a + "@", 0), 0u) << "a key of the destroyed org unsealed: " << key;
    }
    EXPECT_THAT(a.recovered, IsEmpty()) << "secrets of the destroyed org were recovered";
    EXPECT_THAT(a.data_keys_opened, IsEmpty());
    EXPECT_THAT(a.problems, IsEmpty());
    EXPECT_EQ(a.root_keys_unwrapped, b.root_keys_unwrapped);
    EXPECT_EQ(a.org_keys_unsealed, b.org_keys_unsealed) << "the same keys were at hand";
    std::cerr << "[ shred ] destroyed org: " << a.envelopes << " envelopes tried against "
              << a.org_keys_unsealed.size() << " org keys and " << a.root_keys_unwrapped.size()
              << " root keys; nothing opened\n";

    // The same envelopes of A, with A's key rows as they were before the destruction (what
    // an older backup holds, see the receipt's scope): everything not erased opens. So the
    // envelopes left behind are the real ones and only the destroyed keys stand between
    // them and their secrets.
    ASSERT_GT(a.envelopes, 0u) << "the copy holds no envelope of the destroyed org to try";
    {
      DatabaseCopy older = *copy;
      std::erase_if(older.org_keys, [&](const OrgKeyRow& row) { return row.org_id == s.org_a; });
      older.org_keys.insert(older.org_keys.end(), s.a_keys_before.begin(), s.a_keys_before.end());
      const Recovery before = Recover(older, keys_dir, s.org_a);
      EXPECT_THAT(before.problems, IsEmpty());
      Secrets expected;
      for (const CredentialRow& row : copy->CredentialsOf(s.org_a)) {
        if (row.envelope)
          expected[At(row.name, row.version)] = s.a_secrets.at(At(row.name, row.version));
      }
      EXPECT_EQ(before.recovered, expected);
    }
  }
}

TEST_F(CryptoShreddingTest, ApiRefusesTheDestroyedOrgAndStillServesOthers) {
  const Scenario& s = *scenario_;
  Clients writer(TlsChannel(*stack_, stack_->write_addr, Caller::Cert("backend")));
  Clients decryptor(TlsChannel(*stack_, stack_->decrypt_addr, Caller::Cert("worker")));
  Clients admin(TlsChannel(*stack_, stack_->decrypt_addr, Caller::Cert("admin")));

  // Decrypt of every version of A, and of the current one: FAILED_PRECONDITION,
  // ORG_DESTROYED, no secret.
  for (const auto& [at, secret] : s.a_secrets) {
    const std::string name = at.substr(0, at.rfind('@'));
    std::string plaintext = "untouched";
    const Outcome outcome = Decrypt(decryptor, s.org_a, name, &plaintext,
                                    std::stoull(at.substr(at.rfind('@') + 1)), "after destruction");
    EXPECT_EQ(outcome.code, grpc::StatusCode::FAILED_PRECONDITION) << at << ": " << outcome;
    EXPECT_EQ(outcome.reason, "ERROR_REASON_ORG_DESTROYED") << at;
    EXPECT_TRUE(plaintext.empty()) << at;
  }
  Outcome outcome = Decrypt(decryptor, s.org_a, "crm/token");
  EXPECT_EQ(outcome.code, grpc::StatusCode::FAILED_PRECONDITION) << outcome;
  EXPECT_EQ(outcome.reason, "ERROR_REASON_ORG_DESTROYED");

  // Put is refused, to an existing name and a new one alike.
  for (const std::string name : {"crm/token", "brand/new"}) {
    outcome = Put(writer, PutRequest(s.org_a, name, Marker("refused")));
    EXPECT_EQ(outcome.code, grpc::StatusCode::FAILED_PRECONDITION) << name << ": " << outcome;
    EXPECT_EQ(outcome.reason, "ERROR_REASON_ORG_DESTROYED") << name;
  }

  // Destroying again returns the same receipt, flagged as already destroyed.
  v1::DestroyOrgRequest destroy;
  destroy.set_org_id(s.org_a);
  destroy.set_confirm_org_id(s.org_a);
  destroy.set_reason("retry of the shred test");
  v1::DestroyOrgResponse again;
  outcome = Call(*admin.admin, &v1::AdminService::Stub::DestroyOrg, destroy, &again);
  ASSERT_TRUE(outcome.ok()) << outcome;
  EXPECT_TRUE(again.already_destroyed());
  EXPECT_TRUE(MessageDifferencer::Equals(again.receipt(), s.destroyed.receipt()))
      << "first:\n"
      << s.destroyed.receipt().DebugString() << "again:\n"
      << again.receipt().DebugString();

  // DescribeOrg: DESTROYED, every key version DESTROYED, and the receipt.
  v1::DescribeOrgRequest describe;
  describe.set_org_id(s.org_a);
  v1::DescribeOrgResponse described;
  outcome = Call(*admin.admin, &v1::AdminService::Stub::DescribeOrg, describe, &described);
  ASSERT_TRUE(outcome.ok()) << outcome;
  EXPECT_EQ(described.org().state(), v1::ORG_STATE_DESTROYED);
  EXPECT_EQ(described.org().current_key_version(), 0u);
  EXPECT_TRUE(described.org().has_destroy_time());
  ASSERT_EQ(described.org().key_versions_size(), static_cast<int>(s.a_key_versions.size()));
  for (const v1::OrgKeyVersion& key : described.org().key_versions()) {
    EXPECT_EQ(key.state(), v1::ORG_KEY_STATE_DESTROYED) << "key version " << key.version();
  }
  EXPECT_TRUE(MessageDifferencer::Equals(described.org().erasure_receipt(), s.destroyed.receipt()))
      << described.org().erasure_receipt().DebugString();

  // The re-seal job left running was stopped by the destruction, unless it had finished.
  v1::ResealJob job;
  outcome = GetResealJob(admin, s.org_a, s.second_job_id, &job);
  EXPECT_TRUE(outcome.ok()) << "GetResealJob " << s.org_a << " " << s.second_job_id << ": "
                            << outcome;
  EXPECT_TRUE(job.state() == v1::RESEAL_JOB_STATE_CANCELLED ||
              job.state() == v1::RESEAL_JOB_STATE_SUCCEEDED)
      << job.DebugString();
  v1::RotateOrgKeyRequest rotate;
  rotate.set_org_id(s.org_a);
  v1::RotateOrgKeyResponse rotated;
  outcome = Call(*admin.admin, &v1::AdminService::Stub::RotateOrgKey, rotate, &rotated);
  EXPECT_EQ(outcome.code, grpc::StatusCode::FAILED_PRECONDITION) << outcome;

  // The audit chain of the destroyed org still verifies.
  EXPECT_TRUE(AuditVerifies(admin, s.org_a));

  // B works as before: every secret decrypts, a new one can be put.
  for (const auto& [at, secret] : s.b_secrets) {
    std::string plaintext;
    outcome =
        Decrypt(decryptor, s.org_b, at.substr(0, at.rfind('@')), &plaintext,
                std::stoull(at.substr(at.rfind('@') + 1)), "after the other org's destruction");
    ASSERT_TRUE(outcome.ok()) << at << ": " << outcome;
    EXPECT_EQ(plaintext, secret) << at;
  }
  const std::string fresh = Marker("B-after");
  ASSERT_TRUE(Put(writer, PutRequest(s.org_b, "after/destroy", fresh)).ok());
  std::string plaintext;
  ASSERT_TRUE(Decrypt(decryptor, s.org_b, "after/destroy", &plaintext).ok());
  EXPECT_EQ(plaintext, fresh);
}

}  // namespace
}  // namespace credvault::e2e

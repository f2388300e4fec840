// Round trips and refusals for the building blocks under the envelope.
#include <sodium.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "crypto/audit_chain.h"
#include "crypto/audit_signer.h"
#include "crypto/internal/aead.h"
#include "crypto/key_buffer.h"
#include "crypto/key_file.h"
#include "crypto/key_file_seal_key_provider.h"
#include "crypto/org_key.h"
#include "crypto/root_key.h"
#include "crypto/sealed_box.h"
#include "crypto/secret_bytes.h"
#include "crypto/sodium_init.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/crypto/crypto_test_util.h"

namespace credvault::crypto {
namespace {

using ::credvault::crypto::testing::FilledKey;
using ::credvault::crypto::testing::MakeHierarchy;
using ::credvault::crypto::testing::RingWith;
using ::credvault::crypto::testing::ValueOrDie;
using ::testing::HasSubstr;

constexpr std::size_t kSecretSizes[] = {1, 256, 4096, 65536};

std::vector<std::uint8_t> Pattern(std::size_t size, std::uint8_t salt = 0) {
  std::vector<std::uint8_t> out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::uint8_t>(i * 31 + salt);
  return out;
}

std::vector<std::uint8_t> Bytes(absl::Span<const std::uint8_t> span) {
  return {span.begin(), span.end()};
}

// --- KeyBuffer and SecretBytes ----------------------------------------------------------

static_assert(!std::is_copy_constructible_v<KeyBuffer>);
static_assert(!std::is_copy_assignable_v<KeyBuffer>);
static_assert(std::is_nothrow_move_constructible_v<KeyBuffer>);
static_assert(!std::is_copy_constructible_v<SecretBytes>);
static_assert(!std::is_copy_assignable_v<SecretBytes>);
static_assert(!std::is_constructible_v<SecretView, KeyBuffer&&>);
static_assert(!std::is_constructible_v<SecretView, absl::Span<const std::uint8_t>>);

struct WipeRecord {
  int calls = 0;
  std::size_t size = 0;
  bool all_zero = true;
};
WipeRecord wipe_record;

void RecordWipe(absl::Span<const std::uint8_t> bytes) {
  ++wipe_record.calls;
  wipe_record.size = bytes.size();
  for (std::uint8_t b : bytes) wipe_record.all_zero &= (b == 0);
}

TEST(KeyBufferTest, IsWipedWhenDestroyed) {
  wipe_record = {};
  KeyBuffer::SetWipeObserverForTesting(&RecordWipe);
  {
    KeyBuffer key = FilledKey(0xA0, 48);
    ASSERT_EQ(key.RevealSecret()[0], 0xA0);
  }
  KeyBuffer::SetWipeObserverForTesting(nullptr);
  EXPECT_EQ(wipe_record.calls, 1);
  EXPECT_EQ(wipe_record.size, 48u);
  EXPECT_TRUE(wipe_record.all_zero);
}

TEST(KeyBufferTest, MovedFromBufferIsNotWipedTwice) {
  wipe_record = {};
  KeyBuffer::SetWipeObserverForTesting(&RecordWipe);
  {
    KeyBuffer first = FilledKey(0x01);
    KeyBuffer second = std::move(first);
    EXPECT_EQ(second.RevealSecret()[31], 0x01 + 31);
  }
  KeyBuffer::SetWipeObserverForTesting(nullptr);
  EXPECT_EQ(wipe_record.calls, 1);
  EXPECT_TRUE(wipe_record.all_zero);
}

TEST(KeyBufferTest, GenerateGivesDistinctRandomKeys) {
  const KeyBuffer a = ValueOrDie(KeyBuffer::Generate(32));
  const KeyBuffer b = ValueOrDie(KeyBuffer::Generate(32));
  EXPECT_NE(Bytes(a.RevealSecret()), Bytes(b.RevealSecret()));
}

TEST(KeyBufferTest, RefusesAbsurdSizes) {
  EXPECT_EQ(KeyBuffer::Allocate(0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(KeyBuffer::Allocate(1 << 20).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SecretBytesTest, TruncateKeepsPrefix) {
  SecretBytes bytes = SecretBytes::CopyFrom(std::string_view("abcdef"));
  bytes.Truncate(3);
  EXPECT_EQ(Bytes(bytes.RevealSecret()),
            Bytes(SecretBytes::CopyFrom(std::string_view("abc")).RevealSecret()));
  const SecretBytes clone = bytes.Clone();
  EXPECT_EQ(Bytes(clone.RevealSecret()), Bytes(bytes.RevealSecret()));
}

// --- AEAD ------------------------------------------------------------------------------

class AeadRoundTripTest : public ::testing::TestWithParam<std::size_t> {};

TEST_P(AeadRoundTripTest, RoundTripsAndBindsAssociatedData) {
  const KeyBuffer key = ValueOrDie(KeyBuffer::Generate(kAeadKeySize));
  const SecretBytes plaintext = SecretBytes::CopyFrom(Pattern(GetParam()));
  const std::vector<std::uint8_t> ad = {1, 2, 3};
  const AeadCiphertext sealed = ValueOrDie(AeadEncrypt(key, plaintext, AssociatedData(ad)));
  EXPECT_EQ(sealed.ciphertext.size(), GetParam() + kAeadTagSize);

  const SecretBytes opened =
      ValueOrDie(AeadDecrypt(key, sealed.nonce, sealed.ciphertext, AssociatedData(ad)));
  EXPECT_EQ(Bytes(opened.RevealSecret()), Bytes(plaintext.RevealSecret()));

  const std::vector<std::uint8_t> other_ad = {1, 2, 4};
  EXPECT_EQ(
      AeadDecrypt(key, sealed.nonce, sealed.ciphertext, AssociatedData(other_ad)).status().code(),
      absl::StatusCode::kDataLoss);
  const KeyBuffer other_key = ValueOrDie(KeyBuffer::Generate(kAeadKeySize));
  EXPECT_EQ(
      AeadDecrypt(other_key, sealed.nonce, sealed.ciphertext, AssociatedData(ad)).status().code(),
      absl::StatusCode::kDataLoss);
  AeadNonce other_nonce = sealed.nonce;
  other_nonce[0] ^= 1;
  EXPECT_EQ(AeadDecrypt(key, other_nonce, sealed.ciphertext, AssociatedData(ad)).status().code(),
            absl::StatusCode::kDataLoss);
}

INSTANTIATE_TEST_SUITE_P(SecretSizes, AeadRoundTripTest, ::testing::ValuesIn(kSecretSizes));

TEST(AeadTest, FreshNonceEveryCall) {
  const KeyBuffer key = ValueOrDie(KeyBuffer::Generate(kAeadKeySize));
  const SecretBytes plaintext = SecretBytes::CopyFrom(std::string_view("same"));
  const std::vector<std::uint8_t> ad;
  const AeadCiphertext a = ValueOrDie(AeadEncrypt(key, plaintext, AssociatedData(ad)));
  const AeadCiphertext b = ValueOrDie(AeadEncrypt(key, plaintext, AssociatedData(ad)));
  EXPECT_NE(a.nonce, b.nonce);
  EXPECT_NE(a.ciphertext, b.ciphertext);
}

TEST(AeadTest, RefusesWrongKeySizeAndShortCiphertext) {
  const KeyBuffer short_key = ValueOrDie(KeyBuffer::Generate(16));
  const SecretBytes plaintext = SecretBytes::CopyFrom(std::string_view("x"));
  const std::vector<std::uint8_t> ad;
  EXPECT_EQ(AeadEncrypt(short_key, plaintext, AssociatedData(ad)).status().code(),
            absl::StatusCode::kInvalidArgument);
  const KeyBuffer key = ValueOrDie(KeyBuffer::Generate(kAeadKeySize));
  const std::vector<std::uint8_t> too_short(kAeadTagSize - 1);
  EXPECT_EQ(AeadDecrypt(key, AeadNonce{}, too_short, AssociatedData(ad)).status().code(),
            absl::StatusCode::kDataLoss);
}

// --- Sealed boxes ----------------------------------------------------------------------

class SealedBoxRoundTripTest : public ::testing::TestWithParam<std::size_t> {};

TEST_P(SealedBoxRoundTripTest, RoundTripsOnlyForItsRecipient) {
  const X25519KeyPair recipient = ValueOrDie(GenerateX25519KeyPair());
  const X25519KeyPair other = ValueOrDie(GenerateX25519KeyPair());
  const SecretBytes message = SecretBytes::CopyFrom(Pattern(GetParam(), 7));
  const std::vector<std::uint8_t> sealed = ValueOrDie(SealTo(recipient.public_key, message));
  EXPECT_EQ(sealed.size(), GetParam() + kSealedBoxOverhead);

  const SecretBytes opened =
      ValueOrDie(OpenSealed(sealed, recipient.public_key, recipient.private_key));
  EXPECT_EQ(Bytes(opened.RevealSecret()), Bytes(message.RevealSecret()));
  EXPECT_EQ(OpenSealed(sealed, other.public_key, other.private_key).status().code(),
            absl::StatusCode::kDataLoss);
  std::vector<std::uint8_t> tampered = sealed;
  tampered.back() ^= 0x80;
  EXPECT_EQ(OpenSealed(tampered, recipient.public_key, recipient.private_key).status().code(),
            absl::StatusCode::kDataLoss);
}

INSTANTIATE_TEST_SUITE_P(SecretSizes, SealedBoxRoundTripTest, ::testing::ValuesIn(kSecretSizes));

TEST(SealedBoxTest, DerivedPublicKeyMatchesGenerated) {
  const X25519KeyPair pair = ValueOrDie(GenerateX25519KeyPair());
  EXPECT_EQ(ValueOrDie(DeriveX25519PublicKey(pair.private_key)), pair.public_key);
}

// --- Writer keys -----------------------------------------------------------------------

TEST(WriterKeyRingTest, RefusesBadConfigurations) {
  std::vector<std::pair<std::uint32_t, KeyBuffer>> none;
  EXPECT_EQ(WriterKeyRing::New(1, std::move(none)).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<std::pair<std::uint32_t, KeyBuffer>> short_key;
  short_key.emplace_back(1, FilledKey(1, 16));
  EXPECT_EQ(WriterKeyRing::New(1, std::move(short_key)).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<std::pair<std::uint32_t, KeyBuffer>> twice;
  twice.emplace_back(1, FilledKey(1));
  twice.emplace_back(1, FilledKey(2));
  EXPECT_EQ(WriterKeyRing::New(1, std::move(twice)).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<std::pair<std::uint32_t, KeyBuffer>> zero;
  zero.emplace_back(0, FilledKey(1));
  EXPECT_EQ(WriterKeyRing::New(0, std::move(zero)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(WriterKeyRingTest, OlderVersionsStillVerify) {
  const WriterKeyRing old_ring = RingWith(1, {1});
  const WriterKeyRing new_ring = RingWith(2, {1, 2});
  const std::vector<std::uint8_t> message = Pattern(100);
  const WriterTag old_tag = AuthenticateWithCurrentKey(old_ring, {message});
  EXPECT_EQ(old_tag.key_version, 1u);
  EXPECT_TRUE(VerifyWriterTag(new_ring, {message}, old_tag, "record").ok());
  const WriterTag new_tag = AuthenticateWithCurrentKey(new_ring, {message});
  EXPECT_EQ(new_tag.key_version, 2u);
  const absl::Status unknown = VerifyWriterTag(old_ring, {message}, new_tag, "record");
  EXPECT_EQ(unknown.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(unknown.message(), HasSubstr("unknown writer key version 2"));
}

TEST(WriterKeyRingTest, PartsAreHashedAsOneMessage) {
  const WriterKeyRing ring = RingWith(1, {1});
  const std::vector<std::uint8_t> whole = Pattern(64);
  const absl::Span<const std::uint8_t> span(whole);
  const WriterTag tag = AuthenticateWithCurrentKey(ring, {span.subspan(0, 10), span.subspan(10)});
  EXPECT_TRUE(VerifyWriterTag(ring, {span}, tag, "record").ok());
  std::vector<std::uint8_t> changed = whole;
  changed[63] ^= 1;
  EXPECT_EQ(VerifyWriterTag(ring, {changed}, tag, "record").code(), absl::StatusCode::kDataLoss);
}

// --- Audit chain -----------------------------------------------------------------------

AuditEventFields SampleEvent(std::uint64_t sequence) {
  return AuditEventFields{"org-a",
                          sequence,
                          1700000000000000 + static_cast<std::int64_t>(sequence),
                          "spiffe://example/backend",
                          "credential.put",
                          "crm/token",
                          "ok",
                          "req-1",
                          ""};
}

TEST(AuditChainTest, EveryFieldChangesTheHash) {
  const AuditHash genesis = AuditChainGenesis("org-a");
  EXPECT_NE(genesis, AuditChainGenesis("org-b"));
  const AuditEventFields base = SampleEvent(1);
  const AuditHash hash = AuditChainStep(genesis, base);
  EXPECT_EQ(hash, AuditChainStep(genesis, base));

  std::set<AuditHash> seen = {hash};
  // Each field changed on its own; and a byte moved between adjacent fields, which
  // changes the encoding (length prefixes).
  const std::vector<std::function<void(AuditEventFields&)>> changes = {
      [](AuditEventFields& e) { e.org_id = "org-b"; },
      [](AuditEventFields& e) { e.sequence = 2; },
      [](AuditEventFields& e) { e.time_unix_micros += 1; },
      [](AuditEventFields& e) { e.principal = "other"; },
      [](AuditEventFields& e) { e.action = "credential.delete"; },
      [](AuditEventFields& e) { e.target = "crm/other"; },
      [](AuditEventFields& e) { e.result = "denied"; },
      [](AuditEventFields& e) { e.request_id = "req-2"; },
      [](AuditEventFields& e) { e.details = "purpose"; },
      [](AuditEventFields& e) {
        e.action = "credential.pu";
        e.target = "tcrm/token";
      },
  };
  for (std::size_t i = 0; i < changes.size(); ++i) {
    AuditEventFields e = base;
    changes[i](e);
    EXPECT_TRUE(seen.insert(AuditChainStep(genesis, e)).second) << "change " << i;
  }
  AuditHash other_previous = genesis;
  other_previous[0] ^= 1;
  EXPECT_NE(AuditChainStep(other_previous, base), hash);
}

AuditEventFields SampleEventV2(std::uint64_t sequence) {
  AuditEventFields e = SampleEvent(sequence);
  e.appended_by = "credvault_writer";
  e.format = AuditChainFormat::kV2;
  return e;
}

TEST(AuditChainTest, FormatsAreDistinctAndOnlyFormat2CommitsToTheAppendingRole) {
  const AuditHash genesis_v1 = AuditChainGenesis("org-a", AuditChainFormat::kV1);
  const AuditHash genesis_v2 = AuditChainGenesis("org-a", AuditChainFormat::kV2);
  EXPECT_EQ(AuditChainGenesis("org-a"), genesis_v1);
  EXPECT_NE(genesis_v1, genesis_v2);
  EXPECT_NE(genesis_v2, AuditChainGenesis("org-b", AuditChainFormat::kV2));

  // The same fields hash differently under each format.
  const AuditEventFields v2 = SampleEventV2(1);
  AuditEventFields v1 = v2;
  v1.format = AuditChainFormat::kV1;
  EXPECT_NE(AuditChainStep(genesis_v2, v2), AuditChainStep(genesis_v2, v1));

  // Format 1 ignores appended_by; format 2 commits to it.
  AuditEventFields v1_other_role = v1;
  v1_other_role.appended_by = "credvault_admin";
  EXPECT_EQ(AuditChainStep(genesis_v1, v1_other_role), AuditChainStep(genesis_v1, v1));
  v1_other_role.appended_by.clear();
  EXPECT_EQ(AuditChainStep(genesis_v1, v1_other_role), AuditChainStep(genesis_v1, v1));
  AuditEventFields v2_other_role = v2;
  v2_other_role.appended_by = "credvault_admin";
  EXPECT_NE(AuditChainStep(genesis_v2, v2_other_role), AuditChainStep(genesis_v2, v2));
}

TEST(AuditChainTest, EveryFieldChangesTheFormat2Hash) {
  const AuditHash genesis = AuditChainGenesis("org-a", AuditChainFormat::kV2);
  const AuditEventFields base = SampleEventV2(1);
  const AuditHash hash = AuditChainStep(genesis, base);
  EXPECT_EQ(hash, AuditChainStep(genesis, base));
  std::set<AuditHash> seen = {hash};
  const auto expect_new = [&](void (*edit)(AuditEventFields&)) {
    AuditEventFields e = base;
    edit(e);
    EXPECT_TRUE(seen.insert(AuditChainStep(genesis, e)).second);
  };
  expect_new([](AuditEventFields& e) { e.org_id = "org-b"; });
  expect_new([](AuditEventFields& e) { e.sequence = 2; });
  expect_new([](AuditEventFields& e) { e.time_unix_micros += 1; });
  expect_new([](AuditEventFields& e) { e.principal = "other"; });
  expect_new([](AuditEventFields& e) { e.action = "credential.delete"; });
  expect_new([](AuditEventFields& e) { e.target = "crm/other"; });
  expect_new([](AuditEventFields& e) { e.result = "denied"; });
  expect_new([](AuditEventFields& e) { e.request_id = "req-2"; });
  expect_new([](AuditEventFields& e) { e.details = "purpose"; });
  expect_new([](AuditEventFields& e) { e.appended_by = "credvault_admin"; });
  // A byte moved from details to appended_by (the two last fields): length prefixes.
  expect_new([](AuditEventFields& e) {
    e.details = "x";
    e.appended_by = "credvault_write";
  });
  AuditHash other_previous = genesis;
  other_previous[0] ^= 1;
  EXPECT_NE(AuditChainStep(other_previous, base), hash);
}

TEST(AuditChainTest, UnknownFormatIsNotHashed) {
  const AuditChainFormat unknown = static_cast<AuditChainFormat>(3);
  EXPECT_FALSE(IsKnownAuditChainFormat(unknown));
  EXPECT_FALSE(IsKnownAuditChainFormat(static_cast<AuditChainFormat>(0)));
  EXPECT_TRUE(IsKnownAuditChainFormat(AuditChainFormat::kV1));
  EXPECT_TRUE(IsKnownAuditChainFormat(AuditChainFormat::kV2));
  AuditEventFields e = SampleEventV2(1);
  e.format = unknown;
  EXPECT_EQ(AuditChainStep(AuditChainGenesis("org-a"), e), AuditHash{});
  EXPECT_EQ(AuditChainGenesis("org-a", unknown), AuditHash{});
}

// --- Audit signing -----------------------------------------------------------------

TEST(AuditSignerTest, SignsCheckpointsAndReceiptsVerifiably) {
  const KeyBuffer seed = FilledKey(0x42);
  const AuditSigner signer = ValueOrDie(AuditSigner::FromSeed(seed));
  const AuditSigner again = ValueOrDie(AuditSigner::FromSeed(seed));
  EXPECT_EQ(signer.public_key(), again.public_key());
  EXPECT_EQ(signer.key_id().size(), 32u);
  EXPECT_EQ(signer.key_id(), AuditSigningKeyId(signer.public_key()));

  const AuditHash head = AuditChainGenesis("org-a");
  const AuditSignature signature = signer.SignCheckpoint("org-a", 7, head, 1700000000000000);
  EXPECT_EQ(signature, again.SignCheckpoint("org-a", 7, head, 1700000000000000));
  EXPECT_TRUE(VerifyCheckpointSignature(signer.public_key(), "org-a", 7, head, 1700000000000000,
                                        signature));
  EXPECT_FALSE(VerifyCheckpointSignature(signer.public_key(), "org-b", 7, head, 1700000000000000,
                                         signature));
  EXPECT_FALSE(VerifyCheckpointSignature(signer.public_key(), "org-a", 8, head, 1700000000000000,
                                         signature));
  EXPECT_FALSE(VerifyCheckpointSignature(signer.public_key(), "org-a", 7, head, 1700000000000001,
                                         signature));
  AuditHash other_head = head;
  other_head[0] ^= 1;
  EXPECT_FALSE(VerifyCheckpointSignature(signer.public_key(), "org-a", 7, other_head,
                                         1700000000000000, signature));

  ErasureReceiptFields receipt{"org-a", {1, 2}, 1700000000000000, 3, 9, head};
  const AuditSignature receipt_signature = signer.SignErasureReceipt(receipt);
  EXPECT_TRUE(VerifyErasureReceiptSignature(signer.public_key(), receipt, receipt_signature));
  receipt.destroyed_key_versions = {1};
  EXPECT_FALSE(VerifyErasureReceiptSignature(signer.public_key(), receipt, receipt_signature));
  // A checkpoint signature is not a receipt signature, whatever the fields.
  EXPECT_FALSE(VerifyErasureReceiptSignature(signer.public_key(), receipt, signature));

  const AuditSigner stranger = ValueOrDie(AuditSigner::FromSeed(FilledKey(0x43)));
  EXPECT_FALSE(VerifyCheckpointSignature(stranger.public_key(), "org-a", 7, head, 1700000000000000,
                                         signature));
  EXPECT_EQ(AuditSigner::FromSeed(FilledKey(1, 16)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// --- Key files and the key-file seal key provider --------------------------------------

class KeyFileTest : public ::testing::Test {
 protected:
  std::string WriteFile(const std::string& name, const std::string& content, mode_t mode) {
    const std::string path = ::testing::TempDir() + "/credvault_keyfile_" + name;
    std::remove(path.c_str());
    std::ofstream(path, std::ios::binary) << content;
    ::chmod(path.c_str(), mode);
    return path;
  }
};

TEST_F(KeyFileTest, ReadsRawAndHexKeys) {
  const std::string raw(32, '\x5a');
  const KeyBuffer from_raw = ValueOrDie(ReadKeyFile(WriteFile("raw", raw, 0600), 32));
  EXPECT_EQ(from_raw.RevealSecret()[0], 0x5a);
  const std::string hex = std::string(64, 'a') + "\n";
  const KeyBuffer from_hex = ValueOrDie(ReadKeyFile(WriteFile("hex", hex, 0640), 32));
  EXPECT_EQ(from_hex.RevealSecret()[31], 0xaa);
}

TEST_F(KeyFileTest, RefusesBadFilesWithoutShowingContent) {
  const absl::Status world_readable =
      ReadKeyFile(WriteFile("world", std::string(32, 'k'), 0644), 32).status();
  EXPECT_EQ(world_readable.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(world_readable.message(), HasSubstr("readable by others"));

  const std::string marker = "SECRETMARKERSECRETMARKER0123456789";
  const absl::Status wrong_size = ReadKeyFile(WriteFile("size", marker, 0600), 32).status();
  EXPECT_EQ(wrong_size.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong_size.message(), ::testing::Not(HasSubstr("SECRETMARKER")));

  const absl::Status bad_hex =
      ReadKeyFile(WriteFile("badhex", std::string(63, 'a') + "z", 0600), 32).status();
  EXPECT_EQ(bad_hex.code(), absl::StatusCode::kInvalidArgument);

  EXPECT_EQ(ReadKeyFile(::testing::TempDir() + "/credvault_no_such_key", 32).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadKeyFile(::testing::TempDir(), 32).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(KeyFileTest, SealKeyProviderWrapsAndUnwrapsWithBinding) {
  const std::string path = WriteFile("seal", std::string(64, '3'), 0600);
  const auto provider = ValueOrDie(KeyFileSealKeyProvider::Open(path));
  const auto other = ValueOrDie(KeyFileSealKeyProvider::FromKey(FilledKey(9)));
  EXPECT_THAT(provider->KeyId(), ::testing::StartsWith("keyfile:"));
  EXPECT_NE(provider->KeyId(), other->KeyId());

  const SecretBytes key = SecretBytes::CopyFrom(Pattern(32));
  const std::vector<std::uint8_t> ad = {'r', '1'};
  const std::vector<std::uint8_t> wrapped = ValueOrDie(provider->Wrap(key, AssociatedData(ad)));
  EXPECT_EQ(Bytes(ValueOrDie(provider->Unwrap(wrapped, AssociatedData(ad))).RevealSecret()),
            Bytes(key.RevealSecret()));
  const std::vector<std::uint8_t> other_ad = {'r', '2'};
  EXPECT_EQ(provider->Unwrap(wrapped, AssociatedData(other_ad)).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(other->Unwrap(wrapped, AssociatedData(ad)).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(
      provider->Unwrap(absl::MakeSpan(wrapped).subspan(0, 10), AssociatedData(ad)).status().code(),
      absl::StatusCode::kDataLoss);
}

// --- Root keys and org keys ------------------------------------------------------------

TEST(RootKeyTest, UnsealsOnlyWithItsSealKeyAndRecord) {
  const auto seal_key = ValueOrDie(KeyFileSealKeyProvider::FromKey(FilledKey(1)));
  const auto other_seal_key = ValueOrDie(KeyFileSealKeyProvider::FromKey(FilledKey(2)));
  const SealedRootKey sealed = ValueOrDie(GenerateRootKey(3, *seal_key));
  EXPECT_EQ(sealed.seal_key_id, seal_key->KeyId());
  const RootPrivateKey root = ValueOrDie(UnsealRootKey(sealed, *seal_key));
  EXPECT_EQ(root.version(), 3u);
  EXPECT_EQ(ValueOrDie(DeriveX25519PublicKey(root.private_key())), sealed.public_key);

  EXPECT_EQ(UnsealRootKey(sealed, *other_seal_key).status().code(), absl::StatusCode::kDataLoss);
  SealedRootKey relabelled = sealed;
  relabelled.version = 4;
  EXPECT_EQ(UnsealRootKey(relabelled, *seal_key).status().code(), absl::StatusCode::kDataLoss);
  SealedRootKey substituted = sealed;
  substituted.public_key = ValueOrDie(GenerateX25519KeyPair()).public_key;
  EXPECT_EQ(UnsealRootKey(substituted, *seal_key).status().code(), absl::StatusCode::kDataLoss);
}

TEST(RootKeyPinsTest, PinsByKeyOrFingerprint) {
  const X25519PublicKey key = ValueOrDie(GenerateX25519KeyPair()).public_key;
  const X25519PublicKey other = ValueOrDie(GenerateX25519KeyPair()).public_key;
  char hex[65];
  sodium_bin2hex(hex, sizeof(hex), key.data(), key.size());

  const RootKeyPins by_key = ValueOrDie(RootKeyPins::New({{1, hex}}));
  EXPECT_TRUE(by_key.Pin(1, key).ok());
  const RootKeyPins by_fingerprint = ValueOrDie(RootKeyPins::New({{1, RootKeyFingerprint(key)}}));
  EXPECT_TRUE(by_fingerprint.Pin(1, key).ok());
  EXPECT_EQ(by_fingerprint.Pin(1, other).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(by_fingerprint.Pin(2, key).status().code(), absl::StatusCode::kFailedPrecondition);

  EXPECT_EQ(RootKeyPins::New({}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RootKeyPins::New({{1, "cvroot1:abcd"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RootKeyPins::New({{1, "not a key"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RootKeyPins::New({{0, hex}}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      ValueOrDie(RootKeyPins::New({{1, hex}, {5, RootKeyFingerprint(other)}})).latest_version(),
      5u);
}

TEST(OrgKeyTest, RecordVerifiesAndUnseals) {
  testing::Hierarchy h = MakeHierarchy("org-a", 2);
  EXPECT_EQ(h.org_record.org_id, "org-a");
  EXPECT_EQ(h.org_record.key_version, 2u);
  EXPECT_EQ(h.org_public.key_version(), 2u);
  EXPECT_EQ(h.org_private.public_key(), h.org_record.public_key);
  EXPECT_EQ(ValueOrDie(DeriveX25519PublicKey(h.org_private.private_key())),
            h.org_record.public_key);
}

TEST(OrgKeyTest, SubstitutedPublicKeyIsRejected) {
  testing::Hierarchy h = MakeHierarchy("org-a");
  OrgKeyRecord forged = h.org_record;
  forged.public_key = ValueOrDie(GenerateX25519KeyPair()).public_key;
  EXPECT_EQ(VerifyOrgKeyRecordForSealing(forged, h.directory_pins, h.pins).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(UnsealOrgPrivateKey(forged, h.root, h.directory_pins).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(OrgKeyTest, RecordMovedToAnotherOrgOrVersionIsRejected) {
  testing::Hierarchy h = MakeHierarchy("org-a");
  OrgKeyRecord moved = h.org_record;
  moved.org_id = "org-b";
  EXPECT_EQ(VerifyOrgKeySignature(moved, h.directory_pins).code(), absl::StatusCode::kDataLoss);
  OrgKeyRecord bumped = h.org_record;
  bumped.key_version = 2;
  EXPECT_EQ(VerifyOrgKeySignature(bumped, h.directory_pins).code(), absl::StatusCode::kDataLoss);
  OrgKeyRecord other_root = h.org_record;
  other_root.root_key_version = 2;
  EXPECT_EQ(VerifyOrgKeySignature(other_root, h.directory_pins).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_TRUE(VerifyOrgKeySignature(h.org_record, h.directory_pins).ok());
}

TEST(OrgKeyTest, RecordSignedByAnotherDirectoryKeyIsRejected) {
  testing::Hierarchy h = MakeHierarchy("org-a");
  const KeyDirectoryPins others = KeyDirectoryPins::Of(testing::NewDirectorySigner());
  EXPECT_EQ(VerifyOrgKeySignature(h.org_record, others).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(UnsealOrgPrivateKey(h.org_record, h.root, others).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(OrgKeyTest, TamperedSealedPrivateHalfIsRejected) {
  testing::Hierarchy h = MakeHierarchy("org-a");
  OrgKeyRecord tampered = h.org_record;
  tampered.sealed_private_key[10] ^= 1;
  EXPECT_EQ(UnsealOrgPrivateKey(tampered, h.root, h.directory_pins).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(OrgKeyTest, UnsealWithAnotherRootVersionIsFailedPrecondition) {
  testing::Hierarchy h = MakeHierarchy("org-a");
  const SealedRootKey second = ValueOrDie(GenerateRootKey(2, *h.seal_key));
  const RootPrivateKey root2 = ValueOrDie(UnsealRootKey(second, *h.seal_key));
  EXPECT_EQ(UnsealOrgPrivateKey(h.org_record, root2, h.directory_pins).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// Randomness comes from libsodium's kernel-seeded generator (crypto/sodium_init.cc). A
// child forked without exec must never repeat the parent's stream: libsodium stops it.
TEST(SodiumInitTest, UsesLibsodiumsOwnGeneratorAndNeverRepeatsItInAForkedChild) {
  EnsureSodiumInitialized();
  EXPECT_STREQ(randombytes_implementation_name(), "internal");
  unsigned char parent[32];
  randombytes_buf(parent, sizeof(parent));
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    unsigned char drawn[32];
    randombytes_buf(drawn, sizeof(drawn));
    _exit(write(fds[1], drawn, sizeof(drawn)) == sizeof(drawn) ? 0 : 1);
  }
  close(fds[1]);
  unsigned char in_child[32];
  const ssize_t got = read(fds[0], in_child, sizeof(in_child));
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  unsigned char next_in_parent[32];
  randombytes_buf(next_in_parent, sizeof(next_in_parent));
  if (got == static_cast<ssize_t>(sizeof(in_child))) {
    EXPECT_NE(std::memcmp(in_child, next_in_parent, sizeof(in_child)), 0)
        << "the child drew the parent's next bytes";
  } else {
    EXPECT_TRUE(WIFSIGNALED(status)) << "the child neither drew bytes nor was stopped";
  }
  EXPECT_NE(std::memcmp(parent, next_in_parent, sizeof(parent)), 0);
}

}  // namespace
}  // namespace credvault::crypto

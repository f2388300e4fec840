// Known-answer tests: with fixed keys and a fixed randomness source, every stored format
// produces exactly the checked-in bytes, and checked-in bytes still open. A change to the
// envelope, org key record or audit chain encoding fails here instead of
// silently producing data older versions cannot read.
//
// This binary replaces libsodium's randomness with a deterministic generator before
// libsodium initialises, so it has its own main().
#include <sodium.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/audit_chain.h"
#include "crypto/envelope.h"
#include "crypto/key_directory.h"
#include "crypto/key_file_seal_key_provider.h"
#include "crypto/org_key.h"
#include "crypto/root_key.h"
#include "gtest/gtest.h"
#include "tests/crypto/crypto_test_util.h"

namespace credvault::crypto {
namespace {

using ::credvault::crypto::testing::FilledKey;
using ::credvault::crypto::testing::RingWith;
using ::credvault::crypto::testing::ValueOrDie;

// --- a deterministic randombytes implementation, for this binary only ------------------

std::uint64_t random_calls = 0;

void DeterministicBuf(void* const buf, const size_t size) {
  unsigned char seed[randombytes_SEEDBYTES] = {0};
  std::memcpy(seed, "credvault known-answer seed", 27);
  for (int i = 0; i < 8; ++i) seed[24 + i] ^= static_cast<unsigned char>(random_calls >> (8 * i));
  ++random_calls;
  randombytes_buf_deterministic(buf, size, seed);
}

uint32_t DeterministicRandom() {
  uint32_t value;
  DeterministicBuf(&value, sizeof(value));
  return value;
}

const char* DeterministicName() { return "credvault-known-answer"; }

randombytes_implementation deterministic_randombytes = {
    DeterministicName, DeterministicRandom, nullptr, nullptr, DeterministicBuf, nullptr};

std::string Hex(absl::Span<const std::uint8_t> bytes) {
  std::string out(2 * bytes.size() + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes.data(), bytes.size());
  out.pop_back();
  return out;
}

std::vector<std::uint8_t> Unhex(const std::string& hex) {
  std::vector<std::uint8_t> out(hex.size() / 2);
  std::size_t decoded = 0;
  if (sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &decoded, nullptr) !=
      0) {
    ADD_FAILURE() << "bad hex in test data";
  }
  out.resize(decoded);
  return out;
}

template <std::size_t N>
std::array<std::uint8_t, N> UnhexArray(const std::string& hex) {
  const std::vector<std::uint8_t> bytes = Unhex(hex);
  std::array<std::uint8_t, N> out{};
  EXPECT_EQ(bytes.size(), N);
  std::memcpy(out.data(), bytes.data(), std::min(N, bytes.size()));
  return out;
}

// --- checked-in answers ------------------------------------------------------------------

constexpr char kSecret[] = "kat: sk_live_0123456789abcdef";
constexpr char kOrgId[] = "acme-corp";
constexpr char kName[] = "crm/salesforce/refresh-token";
constexpr std::uint64_t kCredentialVersion = 42;

const std::string kRootPublicKey =
    "e07e1b6d5f6b131b239ddae9f66d4ce14f64fd6824c3e2a339ab935ab011d332";
const std::string kWrappedRootPrivateKey =
    "01454a39e1a44719ce4a1686fcd5e018d7dd34a88d9476c1f3de040650b0c8d0"
    "6c599a0821afdc6e205b7a4885be5e6e0edb46c3b27a4f793c121bf67d448a55"
    "ed18625609c875b040";
const std::string kOrgPublicKey =
    "ea974073ab8c2e29b099ffe0f58fba9a9effb287d942541d53aa2a76d9bba605";
const std::string kSealedOrgPrivateKey =
    "9e18a3d88f6061fb701dd244a3ec6eec05cc4ba1ef1115883caf04470359307c"
    "ebfef301fd9725a2bad836d1b259c30f617b38bf44c94d83432c921bad56a510"
    "f7f784fc16670088774b4bba77aaf6af";
const std::string kOrgRecordSignature =
    "6d8590b6e9f62613d7411d159bfbce1ec01269eb269199d3a120dbb39786c2da"
    "1bd0fe8c08ce13d7cb88ef7dc6b3c78c1431d0f8745e74a91ec22a0fb757d90b";
const std::string kEnvelope =
    "010000000100000001a9f2847e5d67ed706dfee7bdb7f278e83a0818f526653a"
    "e4c89ddf007244653b8a57ee160f8f9bf6b56d5e0a3de71a00f7bbc5b894848e"
    "346e81f51aea5c76cc0b75324e11885d33f4e4072f030cdf15af767b9771a880"
    "350ec995ca0195ecf76483c9b26e21646e0000002d17d818081ffa6b0c073fd4"
    "672f4e3326726632ad349cf83278fa70762258971c8456e6144e34235adc5e9e"
    "6e61bdde97ece02381015fc1b75af2180367f380d530c47e639be6b439c34a54"
    "ee60";
const std::string kRootFingerprint =
    "cvroot1:c35961fd4e15edf7d04d89bdd647a29bfb4671d1bea036cce280b4e5"
    "e30c20f9";
const std::string kAuditGenesis =
    "b2d0da7c85f119b21e5c63e29d8d347d5d1cc78e0e56336d2266ba0b9b2984d4";
const std::string kAuditHash1 = "cf43ee7775e0532402a27355b396485ca58f39fdafe740d2cf2705df6c7b5c88";
const std::string kAuditHash2 = "3d49a809c91a1001566e0a57b509f36f724c53e04d9f217dafaf5cbe7e4bcda4";

// Audit chain format 2, listed in crypto/audit_chain.h and docs/crypto.md for the SQL
// implementation to compare against (computed there by PostgreSQL's sha256()).
constexpr char kAuditV2OrgId[] = "acme";
const std::string kAuditV2Genesis =
    "4ddcbe461a908fba0b515cb7f4a9c8048ea2958878166fe81acc5f964c3e3428";
const std::string kAuditV2Hash1 =
    "3e5b6d7ba5c5580be94dffd6e8bbb83d7a680c6c98519b247299d4029e3d91b7";
const std::string kAuditV2Hash2 =
    "6102cf270a0aabb8b4c02ebda616893e87d826010db5930e8f567387a6d2256e";

// The hierarchy of the known answers: seal key, writer key and key directory seed are fixed
// bytes; everything else follows from the deterministic randomness (Ed25519 signatures are
// deterministic).
struct KnownHierarchy {
  std::unique_ptr<KeyFileSealKeyProvider> seal_key =
      ValueOrDie(KeyFileSealKeyProvider::FromKey(FilledKey(0xC0)));
  WriterKeyRing writer_keys = RingWith(1, {1});
  KeyDirectorySigner directory_signer =
      ValueOrDie(KeyDirectorySigner::FromSeed(1, FilledKey(0xD0)));
  KeyDirectoryPins directory_pins = KeyDirectoryPins::Of(directory_signer);
};

TEST(KnownAnswerTest, BuildProducesTheCheckedInBytes) {
  KnownHierarchy k;
  const SealedRootKey root = ValueOrDie(GenerateRootKey(1, *k.seal_key));
  EXPECT_EQ(Hex(root.public_key), kRootPublicKey);
  EXPECT_EQ(Hex(root.wrapped_private_key), kWrappedRootPrivateKey);
  EXPECT_EQ(RootKeyFingerprint(root.public_key), kRootFingerprint);

  const RootKeyPins pins = ValueOrDie(RootKeyPins::New({{1, Hex(root.public_key)}}));
  const OrgKeyRecord record = ValueOrDie(
      CreateOrgKey(kOrgId, 1, ValueOrDie(pins.Pin(1, root.public_key)), k.directory_signer));
  EXPECT_EQ(Hex(record.public_key), kOrgPublicKey);
  EXPECT_EQ(Hex(record.sealed_private_key), kSealedOrgPrivateKey);
  EXPECT_EQ(record.directory_key_version, 1u);
  EXPECT_EQ(Hex(record.signature), kOrgRecordSignature);

  const VerifiedOrgPublicKey org_public =
      ValueOrDie(VerifyOrgKeyRecordForSealing(record, k.directory_pins, pins));
  const SecretBytes secret = SecretBytes::CopyFrom(std::string_view(kSecret));
  const std::vector<std::uint8_t> envelope = ValueOrDie(
      BuildEnvelope({kOrgId, kName, kCredentialVersion}, org_public, k.writer_keys, secret));
  EXPECT_EQ(Hex(envelope), kEnvelope);
}

TEST(KnownAnswerTest, CheckedInBytesOpen) {
  KnownHierarchy k;
  const SealedRootKey sealed_root{1, UnhexArray<32>(kRootPublicKey), Unhex(kWrappedRootPrivateKey),
                                  k.seal_key->KeyId()};
  const RootPrivateKey root = ValueOrDie(UnsealRootKey(sealed_root, *k.seal_key));
  const OrgKeyRecord record{kOrgId,
                            1,
                            UnhexArray<32>(kOrgPublicKey),
                            1,
                            OrgKeyState::kActive,
                            Unhex(kSealedOrgPrivateKey),
                            1,
                            UnhexArray<64>(kOrgRecordSignature)};
  const OrgPrivateKey org_private = ValueOrDie(UnsealOrgPrivateKey(record, root, k.directory_pins));
  const std::vector<std::uint8_t> envelope = Unhex(kEnvelope);
  const ParsedEnvelope parsed = ValueOrDie(ParseEnvelope(envelope));
  const SecretBytes opened = ValueOrDie(
      OpenEnvelope(parsed, {kOrgId, kName, kCredentialVersion}, org_private, k.writer_keys));
  EXPECT_EQ(std::string(opened.RevealSecret().begin(), opened.RevealSecret().end()), kSecret);
}

TEST(KnownAnswerTest, AuditChain) {
  const AuditHash genesis = AuditChainGenesis(kOrgId);
  EXPECT_EQ(Hex(genesis), kAuditGenesis);
  const AuditHash first =
      AuditChainStep(genesis, {kOrgId, 1, 1767225600000000, "spiffe://acme/backend",
                               "credential.put", kName, "ok", "req-0001", ""});
  EXPECT_EQ(Hex(first), kAuditHash1);
  const AuditHash second = AuditChainStep(
      first, {kOrgId, 2, 1767225601000000, "spiffe://acme/worker", "credential.decrypt", kName,
              "ok", "req-0002", "purpose=sync contacts"});
  EXPECT_EQ(Hex(second), kAuditHash2);
}

// Format 2 written out byte by byte, apart from CanonicalEncoder, as the SQL side
// builds it: str(s) = u32 big-endian byte length || bytes; u64 big-endian.
class ManualEncoding {
 public:
  ManualEncoding& Str(std::string_view s) {
    U32(static_cast<std::uint32_t>(s.size()));
    bytes_.insert(bytes_.end(), s.begin(), s.end());
    return *this;
  }
  ManualEncoding& Raw(const AuditHash& hash) {
    bytes_.insert(bytes_.end(), hash.begin(), hash.end());
    return *this;
  }
  ManualEncoding& U64(std::uint64_t x) {
    for (int i = 7; i >= 0; --i) bytes_.push_back(static_cast<std::uint8_t>(x >> (8 * i)));
    return *this;
  }
  AuditHash Sha256() const {
    AuditHash out;
    crypto_hash_sha256(out.data(), bytes_.data(), bytes_.size());
    return out;
  }

 private:
  void U32(std::uint32_t x) {
    for (int i = 3; i >= 0; --i) bytes_.push_back(static_cast<std::uint8_t>(x >> (8 * i)));
  }
  std::vector<std::uint8_t> bytes_;
};

AuditHash ManualHashV2(const AuditHash& previous, const AuditEventFields& e) {
  return ManualEncoding()
      .Str("credvault.audit.event.v2")
      .Raw(previous)
      .Str(e.org_id)
      .U64(e.sequence)
      .U64(static_cast<std::uint64_t>(e.time_unix_micros))
      .Str(e.principal)
      .Str(e.action)
      .Str(e.target)
      .Str(e.result)
      .Str(e.request_id)
      .Str(e.details)
      .Str(e.appended_by)
      .Sha256();
}

TEST(KnownAnswerTest, AuditChainFormat2) {
  const AuditHash genesis = AuditChainGenesis(kAuditV2OrgId, AuditChainFormat::kV2);
  EXPECT_EQ(genesis,
            ManualEncoding().Str("credvault.audit.genesis.v2").Str(kAuditV2OrgId).Sha256());
  EXPECT_EQ(Hex(genesis), kAuditV2Genesis);

  AuditEventFields first{kAuditV2OrgId,
                         1,
                         1767225600000000,
                         "spiffe://acme/backend",
                         "credential.put",
                         "crm/salesforce",
                         "ok",
                         "req-0001",
                         ""};
  first.appended_by = "credvault_writer";
  first.format = AuditChainFormat::kV2;
  const AuditHash hash1 = AuditChainStep(genesis, first);
  EXPECT_EQ(hash1, ManualHashV2(genesis, first));
  EXPECT_EQ(Hex(hash1), kAuditV2Hash1);

  // A negative time (two's complement) and a non-ASCII detail (lengths are in bytes).
  AuditEventFields second{
      kAuditV2OrgId,    2,    -1,         "spiffe://acme/worker",    "credential.decrypt",
      "crm/salesforce", "ok", "req-0002", "purpose=sync caf\xc3\xa9"};
  second.appended_by = "credvault_decryptor";
  second.format = AuditChainFormat::kV2;
  ASSERT_EQ(second.details.size(), 18u);
  const AuditHash hash2 = AuditChainStep(hash1, second);
  EXPECT_EQ(hash2, ManualHashV2(hash1, second));
  EXPECT_EQ(Hex(hash2), kAuditV2Hash2);
}

TEST(KnownAnswerTest, AuditChainFormat1IsUnchangedByTheNewFields) {
  // The format 1 answers above, now with an appended_by that format 1 must ignore.
  AuditEventFields first{
      kOrgId,     1, 1767225600000000, "spiffe://acme/backend", "credential.put", kName, "ok",
      "req-0001", ""};
  first.appended_by = "credvault_writer";
  first.format = AuditChainFormat::kV1;
  EXPECT_EQ(Hex(AuditChainGenesis(kOrgId, AuditChainFormat::kV1)), kAuditGenesis);
  EXPECT_EQ(Hex(AuditChainStep(AuditChainGenesis(kOrgId), first)), kAuditHash1);
}

}  // namespace
}  // namespace credvault::crypto

int main(int argc, char** argv) {
  // Must precede sodium_init(), which every credvault entry point triggers.
  if (randombytes_set_implementation(&credvault::crypto::deterministic_randombytes) != 0) {
    return 1;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}

// The key directory signing key and the org key records it signs: who can make a record
// the write tier will seal to (only the key authority), and what the write tier, holding the
// writer key and database access, cannot make it accept.
#include "crypto/key_directory.h"

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "crypto/canonical_encoding.h"
#include "crypto/envelope.h"
#include "crypto/internal/writer_key_access.h"
#include "crypto/org_key.h"
#include "crypto/root_key.h"
#include "crypto/sealed_box.h"
#include "crypto/writer_key_ring.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/crypto/crypto_test_util.h"

namespace credvault::crypto {
namespace {

using ::credvault::crypto::testing::FilledKey;
using ::credvault::crypto::testing::Hierarchy;
using ::credvault::crypto::testing::MakeHierarchy;
using ::credvault::crypto::testing::NewDirectorySigner;
using ::credvault::crypto::testing::RingWith;
using ::credvault::crypto::testing::ValueOrDie;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr OrgKeyState kAllStates[] = {OrgKeyState::kActive, OrgKeyState::kRetiring,
                                      OrgKeyState::kRetired, OrgKeyState::kDestroyed};

static_assert(!std::is_copy_constructible_v<KeyDirectorySigner>);
static_assert(!std::is_copy_assignable_v<KeyDirectorySigner>);
static_assert(std::is_nothrow_move_constructible_v<KeyDirectorySigner>);

// The signed message as docs/crypto.md writes it down, built here independently of
// crypto/org_key.cc.
std::vector<std::uint8_t> DocumentedMessage(const OrgKeyRecord& record,
                                            std::string_view state_name) {
  CanonicalEncoder encoder("credvault.org-key.v2");
  encoder.AddString(record.org_id);
  encoder.AddU32(record.key_version);
  encoder.AddFixed(record.public_key);
  encoder.AddU32(record.root_key_version);
  encoder.AddString(state_name);
  encoder.AddU32(record.directory_key_version);
  return {encoder.bytes().begin(), encoder.bytes().end()};
}

// --- KeyDirectorySigner, pins and pin parsing ------------------------------------------------

TEST(KeyDirectorySignerTest, FromSeedIsDeterministicAndChecksItsInput) {
  const KeyDirectorySigner a = ValueOrDie(KeyDirectorySigner::FromSeed(3, FilledKey(0x40)));
  const KeyDirectorySigner again = ValueOrDie(KeyDirectorySigner::FromSeed(3, FilledKey(0x40)));
  const KeyDirectorySigner other = ValueOrDie(KeyDirectorySigner::FromSeed(3, FilledKey(0x41)));
  EXPECT_EQ(a.version(), 3u);
  EXPECT_EQ(a.public_key(), again.public_key());
  EXPECT_NE(a.public_key(), other.public_key());
  // The public half is libsodium's for that seed.
  KeyDirectoryPublicKey expected;
  std::vector<std::uint8_t> secret(crypto_sign_SECRETKEYBYTES);
  crypto_sign_seed_keypair(expected.data(), secret.data(), FilledKey(0x40).RevealSecret().data());
  EXPECT_EQ(a.public_key(), expected);

  EXPECT_EQ(KeyDirectorySigner::FromSeed(0, FilledKey(0x40)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(KeyDirectorySigner::FromSeed(1, FilledKey(0x40, 31)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(KeyDirectorySigner::FromSeed(1, FilledKey(0x40, 64)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(KeyDirectoryPinsTest, AddFindAndConflicts) {
  const KeyDirectorySigner signer = NewDirectorySigner(1);
  const KeyDirectorySigner other = NewDirectorySigner(1);
  KeyDirectoryPins pins;
  EXPECT_TRUE(pins.empty());
  EXPECT_EQ(pins.Find(1), nullptr);
  ASSERT_TRUE(pins.Add(1, signer.public_key()).ok());
  EXPECT_FALSE(pins.empty());
  ASSERT_NE(pins.Find(1), nullptr);
  EXPECT_EQ(*pins.Find(1), signer.public_key());
  EXPECT_EQ(pins.Find(2), nullptr);

  EXPECT_TRUE(pins.Add(1, signer.public_key()).ok());
  EXPECT_EQ(pins.Add(1, other.public_key()).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(*pins.Find(1), signer.public_key());  // the conflicting add changed nothing
  EXPECT_TRUE(pins.Add(2, other.public_key()).ok());
  EXPECT_EQ(*pins.Find(2), other.public_key());

  EXPECT_EQ(pins.Add(0, signer.public_key()).code(), absl::StatusCode::kInvalidArgument);
  const KeyDirectoryPublicKey zero{};  // a small-order point: no signature could verify
  EXPECT_EQ(pins.Add(5, zero).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pins.Find(5), nullptr);

  const KeyDirectoryPins own = KeyDirectoryPins::Of(NewDirectorySigner(7));
  EXPECT_FALSE(own.empty());
  EXPECT_EQ(own.Find(1), nullptr);
  ASSERT_NE(own.Find(7), nullptr);
}

TEST(KeyDirectoryPinsTest, OfPinsTheSignersOwnKey) {
  const KeyDirectorySigner signer = NewDirectorySigner(4);
  const KeyDirectoryPins pins = KeyDirectoryPins::Of(signer);
  ASSERT_NE(pins.Find(4), nullptr);
  EXPECT_EQ(*pins.Find(4), signer.public_key());
}

TEST(KeyDirectoryPublicKeyTest, ParsesHexAndBase64) {
  const KeyDirectoryPublicKey key = NewDirectorySigner().public_key();
  const std::string hex = KeyDirectoryPublicKeyHex(key);
  ASSERT_EQ(hex.size(), 64u);
  EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(ValueOrDie(ParseKeyDirectoryPublicKey(hex)), key);
  std::string upper = hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(ValueOrDie(ParseKeyDirectoryPublicKey(upper)), key);

  char base64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
  sodium_bin2base64(base64, sizeof(base64), key.data(), key.size(), sodium_base64_VARIANT_ORIGINAL);
  ASSERT_EQ(std::string(base64).size(), 44u);
  EXPECT_EQ(ValueOrDie(ParseKeyDirectoryPublicKey(base64)), key);
}

TEST(KeyDirectoryPublicKeyTest, RefusesAnythingElseWithoutEchoingIt) {
  const std::string hex = KeyDirectoryPublicKeyHex(NewDirectorySigner().public_key());
  char base64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
  const KeyDirectoryPublicKey key = ValueOrDie(ParseKeyDirectoryPublicKey(hex));
  sodium_bin2base64(base64, sizeof(base64), key.data(), key.size(), sodium_base64_VARIANT_ORIGINAL);
  const std::string padded(base64);
  const std::vector<std::string> bad = {
      "",
      hex.substr(0, 62),                         // 31 bytes
      hex + "00",                                // 33 bytes
      hex.substr(0, 63) + "g",                   // not hex
      hex.substr(0, 62) + " " + hex.substr(63),  // a space inside
      padded.substr(0, 43),                      // unpadded base64
      padded.substr(0, 42) + "!=",               // not base64
      "ed25519:" + hex,                          // prefixed
  };
  for (const std::string& text : bad) {
    const absl::StatusOr<KeyDirectoryPublicKey> parsed = ParseKeyDirectoryPublicKey(text);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << text;
    if (text.size() > 8) {
      EXPECT_THAT(std::string(parsed.status().message()), Not(HasSubstr(text.substr(0, 8))));
    }
  }
}

// --- Signing and verifying org key records ----------------------------------------------------

TEST(OrgKeySignatureTest, RoundTripOverTheDocumentedMessage) {
  const Hierarchy h = MakeHierarchy("org-a", 2);
  const OrgKeyRecord& record = h.org_record;
  EXPECT_EQ(record.state, OrgKeyState::kActive);
  EXPECT_EQ(record.directory_key_version, h.directory_signer.version());
  EXPECT_EQ(record.root_key_version, 1u);
  EXPECT_TRUE(VerifyOrgKeySignature(record, h.directory_pins).ok());

  // A plain Ed25519 signature over the message docs/crypto.md describes, by the signer.
  const std::vector<std::uint8_t> message = DocumentedMessage(record, "ACTIVE");
  EXPECT_EQ(crypto_sign_verify_detached(record.signature.data(), message.data(), message.size(),
                                        h.directory_signer.public_key().data()),
            0);
  // Two records of the same org and version differ in their key pair and so their signature.
  const OrgKeyRecord second = ValueOrDie(CreateOrgKey(
      "org-a", 2, ValueOrDie(h.pins.Pin(1, h.sealed_root.public_key)), h.directory_signer));
  EXPECT_NE(second.public_key, record.public_key);
  EXPECT_NE(second.signature, record.signature);
  EXPECT_TRUE(VerifyOrgKeySignature(second, h.directory_pins).ok());
}

TEST(OrgKeySignatureTest, StateNamesRoundTrip) {
  for (const OrgKeyState state : kAllStates) {
    EXPECT_EQ(ValueOrDie(ParseOrgKeyState(OrgKeyStateName(state))), state);
  }
  EXPECT_EQ(OrgKeyStateName(OrgKeyState::kActive), "ACTIVE");
  EXPECT_EQ(OrgKeyStateName(OrgKeyState::kRetiring), "RETIRING");
  EXPECT_EQ(OrgKeyStateName(OrgKeyState::kRetired), "RETIRED");
  EXPECT_EQ(OrgKeyStateName(OrgKeyState::kDestroyed), "DESTROYED");
  for (const char* bad : {"", "active", "Active", "ACTIVE ", "DELETED"}) {
    EXPECT_EQ(ParseOrgKeyState(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(OrgKeySignatureTest, EverySignedFieldChangeIsRejected) {
  Hierarchy h = MakeHierarchy("org-a");
  // Version 2 pinned to the same public key: a record relabelled to it fails only because
  // the directory key version is part of what is signed.
  ASSERT_TRUE(h.directory_pins.Add(2, h.directory_signer.public_key()).ok());
  ASSERT_TRUE(VerifyOrgKeySignature(h.org_record, h.directory_pins).ok());

  const std::vector<std::pair<std::string, std::function<void(OrgKeyRecord&)>>> changes = {
      {"org id", [](OrgKeyRecord& r) { r.org_id = "org-b"; }},
      {"org id prefix", [](OrgKeyRecord& r) { r.org_id = "org-"; }},
      {"key version", [](OrgKeyRecord& r) { r.key_version = 2; }},
      {"public key", [](OrgKeyRecord& r) { r.public_key[31] ^= 0x80; }},
      {"root key version", [](OrgKeyRecord& r) { r.root_key_version = 2; }},
      {"state RETIRING", [](OrgKeyRecord& r) { r.state = OrgKeyState::kRetiring; }},
      {"state RETIRED", [](OrgKeyRecord& r) { r.state = OrgKeyState::kRetired; }},
      {"state DESTROYED", [](OrgKeyRecord& r) { r.state = OrgKeyState::kDestroyed; }},
      {"directory key version", [](OrgKeyRecord& r) { r.directory_key_version = 2; }},
      {"signature", [](OrgKeyRecord& r) { r.signature[0] ^= 0x01; }},
      {"signature end", [](OrgKeyRecord& r) { r.signature[63] ^= 0x40; }},
  };
  for (const auto& [what, change] : changes) {
    OrgKeyRecord changed = h.org_record;
    change(changed);
    EXPECT_EQ(VerifyOrgKeySignature(changed, h.directory_pins).code(), absl::StatusCode::kDataLoss)
        << what;
    EXPECT_EQ(VerifyOrgKeyRecordForSealing(changed, h.directory_pins, h.pins).status().code(),
              absl::StatusCode::kDataLoss)
        << what;
  }
  // Every bit of the public key is covered, not just one byte of it.
  for (std::size_t i = 0; i < h.org_record.public_key.size(); ++i) {
    OrgKeyRecord changed = h.org_record;
    changed.public_key[i] ^= 0x01;
    EXPECT_EQ(VerifyOrgKeySignature(changed, h.directory_pins).code(), absl::StatusCode::kDataLoss)
        << "public key byte " << i;
  }
}

TEST(OrgKeySignatureTest, RecordSignedByAnotherSignerIsRejected) {
  const Hierarchy h = MakeHierarchy("org-a");
  // Someone's own directory key, with the version the write tier pins.
  const KeyDirectorySigner intruder = NewDirectorySigner(h.directory_signer.version());
  const OrgKeyRecord intruders = ValueOrDie(
      CreateOrgKey("org-a", 1, ValueOrDie(h.pins.Pin(1, h.sealed_root.public_key)), intruder));
  EXPECT_TRUE(VerifyOrgKeySignature(intruders, KeyDirectoryPins::Of(intruder)).ok());
  EXPECT_EQ(VerifyOrgKeySignature(intruders, h.directory_pins).code(), absl::StatusCode::kDataLoss);
  // The legitimate record does not verify under the intruder's key either.
  EXPECT_EQ(VerifyOrgKeySignature(h.org_record, KeyDirectoryPins::Of(intruder)).code(),
            absl::StatusCode::kDataLoss);

  // The old scheme: a writer-key MAC over the record where the signature goes.
  OrgKeyRecord maced = h.org_record;
  const std::vector<std::uint8_t> message = DocumentedMessage(maced, "ACTIVE");
  const WriterTag tag = AuthenticateWithCurrentKey(h.writer_keys, {message});
  std::copy(tag.mac.begin(), tag.mac.end(), maced.signature.begin());
  std::copy(tag.mac.begin(), tag.mac.end(), maced.signature.begin() + tag.mac.size());
  EXPECT_EQ(VerifyOrgKeySignature(maced, h.directory_pins).code(), absl::StatusCode::kDataLoss);
}

TEST(OrgKeySignatureTest, UnpinnedDirectoryVersionIsRejected) {
  const Hierarchy h = MakeHierarchy("org-a");
  const KeyDirectorySigner rotated = NewDirectorySigner(2);
  const OrgKeyRecord record = ValueOrDie(
      CreateOrgKey("org-a", 1, ValueOrDie(h.pins.Pin(1, h.sealed_root.public_key)), rotated));
  EXPECT_EQ(record.directory_key_version, 2u);
  const absl::Status status = VerifyOrgKeySignature(record, h.directory_pins);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("not pinned"));
  EXPECT_EQ(VerifyOrgKeySignature(h.org_record, KeyDirectoryPins()).code(),
            absl::StatusCode::kDataLoss);

  // Once version 2 is pinned as well, both generations verify.
  KeyDirectoryPins both = h.directory_pins;
  ASSERT_TRUE(both.Add(2, rotated.public_key()).ok());
  EXPECT_TRUE(VerifyOrgKeySignature(record, both).ok());
  EXPECT_TRUE(VerifyOrgKeySignature(h.org_record, both).ok());
}

// --- Sealing checks -----------------------------------------------------------------------------

TEST(OrgKeySealingTest, ActiveRecordWithPinnedRootVerifies) {
  const Hierarchy h = MakeHierarchy("org-a", 3);
  const VerifiedOrgPublicKey verified =
      ValueOrDie(VerifyOrgKeyRecordForSealing(h.org_record, h.directory_pins, h.pins));
  EXPECT_EQ(verified.org_id(), "org-a");
  EXPECT_EQ(verified.key_version(), 3u);
  EXPECT_EQ(verified.public_key(), h.org_record.public_key);
}

TEST(OrgKeySealingTest, StateOtherThanActiveIsRefused) {
  const Hierarchy h = MakeHierarchy("org-a");
  for (const OrgKeyState state :
       {OrgKeyState::kRetiring, OrgKeyState::kRetired, OrgKeyState::kDestroyed}) {
    const OrgKeyRecord record =
        ValueOrDie(ResignOrgKeyRecord(h.org_record, state, h.directory_signer));
    ASSERT_TRUE(VerifyOrgKeySignature(record, h.directory_pins).ok());
    EXPECT_EQ(VerifyOrgKeyRecordForSealing(record, h.directory_pins, h.pins).status().code(),
              absl::StatusCode::kFailedPrecondition)
        << OrgKeyStateName(state);
  }
}

TEST(OrgKeySealingTest, UnpinnedRootVersionIsRefused) {
  const Hierarchy h = MakeHierarchy("org-a");
  // A configuration that pins only root key version 2.
  const SealedRootKey root2 = ValueOrDie(GenerateRootKey(2, *h.seal_key));
  const RootKeyPins only2 =
      ValueOrDie(RootKeyPins::New({{2, RootKeyFingerprint(root2.public_key)}}));
  EXPECT_EQ(VerifyOrgKeyRecordForSealing(h.org_record, h.directory_pins, only2).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // Pinned again alongside version 2, it verifies.
  const RootKeyPins both =
      ValueOrDie(RootKeyPins::New({{1, RootKeyFingerprint(h.sealed_root.public_key)},
                                   {2, RootKeyFingerprint(root2.public_key)}}));
  EXPECT_TRUE(VerifyOrgKeyRecordForSealing(h.org_record, h.directory_pins, both).ok());
}

// --- Key authority: state transitions ------------------------------------------------------------

TEST(ResignOrgKeyRecordTest, AllowsExactlyTheLifecycleTransitions) {
  const Hierarchy h = MakeHierarchy("org-a");
  auto in_state = [&](OrgKeyState state) {
    if (state == OrgKeyState::kActive) return h.org_record;
    return ValueOrDie(ResignOrgKeyRecord(h.org_record, state, h.directory_signer));
  };
  auto allowed = [](OrgKeyState from, OrgKeyState to) {
    using S = OrgKeyState;
    return (from == S::kActive && to == S::kRetiring) ||
           (from == S::kActive && to == S::kRetired) ||
           (from == S::kRetiring && to == S::kRetired) || to == S::kDestroyed;
  };
  int allowed_count = 0;
  for (const OrgKeyState from : kAllStates) {
    const OrgKeyRecord before = in_state(from);
    ASSERT_EQ(before.state, from);
    for (const OrgKeyState to : kAllStates) {
      const std::string what =
          std::string(OrgKeyStateName(from)) + " -> " + std::string(OrgKeyStateName(to));
      const absl::StatusOr<OrgKeyRecord> after = ResignOrgKeyRecord(before, to, h.directory_signer);
      if (!allowed(from, to)) {
        EXPECT_EQ(after.status().code(), absl::StatusCode::kFailedPrecondition) << what;
        continue;
      }
      ++allowed_count;
      ASSERT_TRUE(after.ok()) << what << ": " << after.status();
      EXPECT_EQ(after->state, to) << what;
      EXPECT_TRUE(VerifyOrgKeySignature(*after, h.directory_pins).ok()) << what;
      EXPECT_EQ(after->org_id, before.org_id);
      EXPECT_EQ(after->key_version, before.key_version);
      EXPECT_EQ(after->public_key, before.public_key);
      EXPECT_EQ(after->root_key_version, before.root_key_version);
      if (to == OrgKeyState::kDestroyed) {
        EXPECT_TRUE(after->sealed_private_key.empty()) << what;
      } else {
        EXPECT_EQ(after->sealed_private_key, h.org_record.sealed_private_key) << what;
      }
    }
  }
  EXPECT_EQ(allowed_count, 7);  // A->RG, A->RD, RG->RD and four ->DESTROYED
}

TEST(ResignOrgKeyRecordTest, NeverResignsAnEditedRecord) {
  const Hierarchy h = MakeHierarchy("org-a");
  OrgKeyRecord edited = h.org_record;
  edited.public_key = ValueOrDie(GenerateX25519KeyPair()).public_key;
  EXPECT_EQ(ResignOrgKeyRecord(edited, OrgKeyState::kRetired, h.directory_signer).status().code(),
            absl::StatusCode::kDataLoss);
  // A RETIRED record edited back to ACTIVE is not accepted as ACTIVE either.
  OrgKeyRecord revived =
      ValueOrDie(ResignOrgKeyRecord(h.org_record, OrgKeyState::kRetired, h.directory_signer));
  revived.state = OrgKeyState::kActive;
  EXPECT_EQ(ResignOrgKeyRecord(revived, OrgKeyState::kRetiring, h.directory_signer).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(VerifyOrgKeyRecordForSealing(revived, h.directory_pins, h.pins).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(ResignOrgKeyRecordTest, RecordOfAnEarlierDirectoryKeyNeedsItsPin) {
  const Hierarchy h = MakeHierarchy("org-a");
  const KeyDirectorySigner next = NewDirectorySigner(2);
  // The new signer alone cannot vouch for what the old one signed.
  EXPECT_EQ(ResignOrgKeyRecord(h.org_record, OrgKeyState::kRetired, next).status().code(),
            absl::StatusCode::kDataLoss);
  KeyDirectoryPins both = h.directory_pins;
  ASSERT_TRUE(both.Add(2, next.public_key()).ok());
  const OrgKeyRecord retired =
      ValueOrDie(ResignOrgKeyRecord(h.org_record, OrgKeyState::kRetired, both, next));
  EXPECT_EQ(retired.directory_key_version, 2u);
  EXPECT_TRUE(VerifyOrgKeySignature(retired, both).ok());
  EXPECT_EQ(VerifyOrgKeySignature(retired, h.directory_pins).code(), absl::StatusCode::kDataLoss);
}

// --- Decrypt tier: unsealing ------------------------------------------------------------------

TEST(UnsealOrgPrivateKeyTest, RefusesADestroyedRecordEvenWithItsSealedHalfPutBack) {
  const Hierarchy h = MakeHierarchy("org-a");
  OrgKeyRecord destroyed =
      ValueOrDie(ResignOrgKeyRecord(h.org_record, OrgKeyState::kDestroyed, h.directory_signer));
  EXPECT_EQ(UnsealOrgPrivateKey(destroyed, h.root, h.directory_pins).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // The sealed half is not signed; restoring it from a backup does not revive the key.
  destroyed.sealed_private_key = h.org_record.sealed_private_key;
  EXPECT_EQ(UnsealOrgPrivateKey(destroyed, h.root, h.directory_pins).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // Retired keys still open what was sealed to them.
  const OrgKeyRecord retired =
      ValueOrDie(ResignOrgKeyRecord(h.org_record, OrgKeyState::kRetired, h.directory_signer));
  EXPECT_TRUE(UnsealOrgPrivateKey(retired, h.root, h.directory_pins).ok());
}

TEST(UnsealOrgPrivateKeyTest, RefusesAForgedRecord) {
  const Hierarchy h = MakeHierarchy("org-a");
  // A key pair of the forger's own, properly sealed to the (public) root key.
  const X25519KeyPair own = ValueOrDie(GenerateX25519KeyPair());
  OrgKeyRecord forged = h.org_record;
  forged.public_key = own.public_key;
  forged.sealed_private_key = ValueOrDie(SealTo(h.sealed_root.public_key, own.private_key));
  EXPECT_EQ(UnsealOrgPrivateKey(forged, h.root, h.directory_pins).status().code(),
            absl::StatusCode::kDataLoss);
  const KeyDirectorySigner intruder = NewDirectorySigner(1);
  forged.signature = intruder.Sign([&] {
    CanonicalEncoder encoder("credvault.org-key.v2");
    encoder.AddString(forged.org_id);
    encoder.AddU32(forged.key_version);
    encoder.AddFixed(forged.public_key);
    encoder.AddU32(forged.root_key_version);
    encoder.AddString("ACTIVE");
    encoder.AddU32(forged.directory_key_version);
    return encoder;
  }());
  ASSERT_TRUE(VerifyOrgKeySignature(forged, KeyDirectoryPins::Of(intruder)).ok());
  EXPECT_EQ(UnsealOrgPrivateKey(forged, h.root, h.directory_pins).status().code(),
            absl::StatusCode::kDataLoss);
}

// --- The verified-record cache ----------------------------------------------------------------

struct Variants {
  std::vector<std::pair<std::string, OrgKeyRecord>> records;
};

Variants RecordVariants(const Hierarchy& h) {
  Variants v;
  v.records.emplace_back("valid", h.org_record);
  OrgKeyRecord forged = h.org_record;
  forged.public_key = ValueOrDie(GenerateX25519KeyPair()).public_key;
  v.records.emplace_back("substituted public key", forged);
  OrgKeyRecord bad_signature = h.org_record;
  bad_signature.signature[17] ^= 0x04;
  v.records.emplace_back("bad signature", bad_signature);
  v.records.emplace_back("retired", ValueOrDie(ResignOrgKeyRecord(
                                        h.org_record, OrgKeyState::kRetired, h.directory_signer)));
  OrgKeyRecord unpinned_directory = h.org_record;
  unpinned_directory.directory_key_version = 9;
  v.records.emplace_back("unpinned directory version", unpinned_directory);
  v.records.emplace_back(
      "other version",
      ValueOrDie(CreateOrgKey("org-a", 2, ValueOrDie(h.pins.Pin(1, h.sealed_root.public_key)),
                              h.directory_signer)));
  return v;
}

TEST(VerifiedOrgKeyCacheTest, GivesTheSameAnswersAsUncachedVerification) {
  const Hierarchy h = MakeHierarchy("org-a");
  const SealedRootKey root2 = ValueOrDie(GenerateRootKey(2, *h.seal_key));
  const RootKeyPins only2 =
      ValueOrDie(RootKeyPins::New({{2, RootKeyFingerprint(root2.public_key)}}));
  const Variants variants = RecordVariants(h);
  VerifiedOrgKeyCache cache;
  int successes = 0;
  for (int round = 0; round < 2; ++round) {  // the second round is answered from the cache
    for (const RootKeyPins* roots : {&h.pins, &only2}) {
      for (const auto& [what, record] : variants.records) {
        const absl::StatusOr<VerifiedOrgPublicKey> uncached =
            VerifyOrgKeyRecordForSealing(record, h.directory_pins, *roots);
        const absl::StatusOr<VerifiedOrgPublicKey> cached =
            cache.Verify(record, h.directory_pins, *roots);
        EXPECT_EQ(cached.status(), uncached.status()) << what << " round " << round;
        if (cached.ok() && uncached.ok()) {
          ++successes;
          EXPECT_EQ(cached->org_id(), uncached->org_id());
          EXPECT_EQ(cached->key_version(), uncached->key_version());
          EXPECT_EQ(cached->public_key(), uncached->public_key());
        }
      }
    }
  }
  EXPECT_EQ(successes, 4);  // "valid" and "other version" with root 1 pinned, both rounds
  EXPECT_EQ(cache.size(), 2u);
}

TEST(VerifiedOrgKeyCacheTest, DoesNotCacheAFailureOrLetAHitSkipTheCheapChecks) {
  const Hierarchy h = MakeHierarchy("org-a");
  VerifiedOrgKeyCache cache;
  ASSERT_TRUE(cache.Verify(h.org_record, h.directory_pins, h.pins).ok());
  ASSERT_EQ(cache.size(), 1u);

  // Same org and version, different signature: still refused, however often asked.
  OrgKeyRecord forged = h.org_record;
  forged.signature[5] ^= 0x01;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(cache.Verify(forged, h.directory_pins, h.pins).status().code(),
              absl::StatusCode::kDataLoss);
  }
  // Same signature, another public key.
  OrgKeyRecord substituted = h.org_record;
  substituted.public_key[0] ^= 0x01;
  EXPECT_EQ(cache.Verify(substituted, h.directory_pins, h.pins).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(cache.size(), 1u);

  // A cached record under pins of another key with the same version is verified afresh.
  const KeyDirectoryPins others = KeyDirectoryPins::Of(NewDirectorySigner(1));
  EXPECT_EQ(cache.Verify(h.org_record, others, h.pins).status().code(),
            absl::StatusCode::kDataLoss);
  // The root pin is checked on a hit too.
  const SealedRootKey root2 = ValueOrDie(GenerateRootKey(2, *h.seal_key));
  const RootKeyPins only2 =
      ValueOrDie(RootKeyPins::New({{2, RootKeyFingerprint(root2.public_key)}}));
  EXPECT_EQ(cache.Verify(h.org_record, h.directory_pins, only2).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(cache.Verify(h.org_record, h.directory_pins, h.pins).ok());
}

TEST(VerifiedOrgKeyCacheTest, StaysWithinItsCapacity) {
  const Hierarchy h = MakeHierarchy("org-a");
  const PinnedRootPublicKey pinned = ValueOrDie(h.pins.Pin(1, h.sealed_root.public_key));
  VerifiedOrgKeyCache cache(3);
  std::vector<OrgKeyRecord> records;
  for (std::uint32_t version = 1; version <= 5; ++version) {
    records.push_back(ValueOrDie(CreateOrgKey("org-a", version, pinned, h.directory_signer)));
    ASSERT_TRUE(cache.Verify(records.back(), h.directory_pins, h.pins).ok());
    EXPECT_EQ(cache.size(), std::min<std::size_t>(version, 3));
  }
  // Evicted or not, every record still verifies.
  for (const OrgKeyRecord& record : records) {
    EXPECT_TRUE(cache.Verify(record, h.directory_pins, h.pins).ok());
  }
  EXPECT_EQ(cache.size(), 3u);
}

TEST(VerifiedOrgKeyCacheTest, ConcurrentCallersGetConsistentAnswers) {
  const Hierarchy h = MakeHierarchy("org-a");
  const Variants variants = RecordVariants(h);
  VerifiedOrgKeyCache cache(2);  // small, so threads also evict concurrently
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        for (const auto& [what, record] : variants.records) {
          const bool expected = VerifyOrgKeyRecordForSealing(record, h.directory_pins, h.pins).ok();
          if (cache.Verify(record, h.directory_pins, h.pins).ok() != expected) ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
  EXPECT_LE(cache.size(), 2u);
}

// --- The write tier as an attacker ------------------------------------------------------------

// Everything a compromised write tier has: the writer keys, the pins of its configuration,
// read and write access to org key records. It has no KeyDirectorySigner.
TEST(WriteTierAttackerTest, CannotMakeARecordForItsOwnKeyPassSealingChecks) {
  const Hierarchy h = MakeHierarchy("org-a");
  const WriterKeyRing& writer_keys = h.writer_keys;
  const KeyDirectoryPins& pins = h.directory_pins;
  const RootKeyPins& roots = h.pins;
  VerifiedOrgKeyCache cache;
  ASSERT_TRUE(cache.Verify(h.org_record, pins, roots).ok());  // a warm cache, as in a server

  const X25519KeyPair own = ValueOrDie(GenerateX25519KeyPair());
  OrgKeyRecord base = h.org_record;
  base.public_key = own.public_key;
  base.sealed_private_key = ValueOrDie(SealTo(h.sealed_root.public_key, own.private_key));

  std::vector<std::pair<std::string, OrgKeyRecord>> attempts;
  attempts.emplace_back("legitimate signature kept", base);
  {
    OrgKeyRecord r = base;
    r.signature.fill(0);
    attempts.emplace_back("zero signature", r);
  }
  {
    OrgKeyRecord r = base;
    const std::vector<std::uint8_t> message = DocumentedMessage(r, "ACTIVE");
    const WriterTag tag = AuthenticateWithCurrentKey(writer_keys, {message});
    std::copy(tag.mac.begin(), tag.mac.end(), r.signature.begin());
    attempts.emplace_back("writer MAC as signature", r);
  }
  {
    // An Ed25519 key derived from the writer key: the write tier could make this one.
    const KeyDirectorySigner derived = ValueOrDie(
        KeyDirectorySigner::FromSeed(1, internal::WriterKeyAccess::CurrentKey(writer_keys)));
    OrgKeyRecord r = base;
    r.signature = derived.Sign([&] {
      CanonicalEncoder encoder("credvault.org-key.v2");
      encoder.AddString(r.org_id);
      encoder.AddU32(r.key_version);
      encoder.AddFixed(r.public_key);
      encoder.AddU32(r.root_key_version);
      encoder.AddString("ACTIVE");
      encoder.AddU32(r.directory_key_version);
      return encoder;
    }());
    attempts.emplace_back("signed with a key derived from the writer key", r);
  }
  for (const std::uint32_t version : {1u, 2u, 99u}) {
    const KeyDirectorySigner own_signer = NewDirectorySigner(version);
    OrgKeyRecord r = ValueOrDie(
        CreateOrgKey("org-a", 1, ValueOrDie(roots.Pin(1, h.sealed_root.public_key)), own_signer));
    attempts.emplace_back("own directory key v" + std::to_string(version), r);
  }
  {
    // A legitimately signed record moved from another org.
    OrgKeyRecord r = ValueOrDie(CreateOrgKey(
        "org-b", 1, ValueOrDie(roots.Pin(1, h.sealed_root.public_key)), h.directory_signer));
    r.org_id = "org-a";
    attempts.emplace_back("record of org-b relabelled", r);
  }
  {
    // A retired key brought back to ACTIVE.
    OrgKeyRecord r =
        ValueOrDie(ResignOrgKeyRecord(h.org_record, OrgKeyState::kRetired, h.directory_signer));
    r.state = OrgKeyState::kActive;
    attempts.emplace_back("retired record set ACTIVE", r);
  }

  for (const auto& [what, record] : attempts) {
    EXPECT_FALSE(VerifyOrgKeyRecordForSealing(record, pins, roots).ok()) << what;
    EXPECT_FALSE(cache.Verify(record, pins, roots).ok()) << what;
  }

  // A record that does verify but names another org cannot be used for this org's secrets.
  const OrgKeyRecord other_org = ValueOrDie(CreateOrgKey(
      "org-b", 1, ValueOrDie(roots.Pin(1, h.sealed_root.public_key)), h.directory_signer));
  const VerifiedOrgPublicKey other =
      ValueOrDie(VerifyOrgKeyRecordForSealing(other_org, pins, roots));
  const SecretBytes secret = SecretBytes::CopyFrom(std::string_view("s3cr3t"));
  EXPECT_EQ(BuildEnvelope({"org-a", "crm/token", 1}, other, writer_keys, secret).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Records made before signing carry only a writer authenticator: the key authority signs
// one only if that authenticator verifies, and the result then verifies like any record.
TEST(LegacyOrgKeyRecordTest, SignedOnlyWhenItsWriterAuthenticatorVerifies) {
  const Hierarchy h = MakeHierarchy("org-a");
  OrgKeyRecord legacy = h.org_record;
  legacy.directory_key_version = 0;
  legacy.signature = {};
  CanonicalEncoder message("credvault.org-key.v1");
  message.AddString(legacy.org_id);
  message.AddU32(legacy.key_version);
  message.AddFixed(legacy.public_key);
  message.AddU32(legacy.root_key_version);
  const WriterTag tag = AuthenticateWithCurrentKey(h.writer_keys, {message.bytes()});

  const OrgKeyRecord adopted =
      ValueOrDie(SignLegacyOrgKeyRecord(legacy, tag, h.writer_keys, h.directory_signer));
  EXPECT_TRUE(VerifyOrgKeySignature(adopted, h.directory_pins).ok());
  EXPECT_TRUE(VerifyOrgKeyRecordForSealing(adopted, h.directory_pins, h.pins).ok());

  // Another public key under the same authenticator, or another writer key: refused.
  OrgKeyRecord swapped = legacy;
  swapped.public_key[0] ^= 1;
  EXPECT_EQ(SignLegacyOrgKeyRecord(swapped, tag, h.writer_keys, h.directory_signer).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(SignLegacyOrgKeyRecord(legacy, tag, RingWith(1, {1}, 0x77), h.directory_signer)
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace credvault::crypto

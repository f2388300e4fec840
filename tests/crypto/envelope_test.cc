// The envelope: round trips, and every way a stored envelope can be damaged or moved.
#include "crypto/envelope.h"

#include <sodium.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#include "crypto/internal/writer_key_access.h"
#include "crypto/sealed_box.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/crypto/crypto_test_util.h"

// Allocation tracking for "oversized fields are refused before any allocation of that
// size": every operator new in this test binary records the largest request while armed.
namespace {
std::atomic<bool> tracking_allocations{false};
std::atomic<std::size_t> largest_allocation{0};
}  // namespace

void* operator new(std::size_t size) {
  if (tracking_allocations.load(std::memory_order_relaxed)) {
    std::size_t seen = largest_allocation.load(std::memory_order_relaxed);
    while (size > seen && !largest_allocation.compare_exchange_weak(seen, size)) {
    }
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
// The replacement new above allocates with malloc, so free is the matching release; GCC
// cannot see that pairing through the replaced operators and warns.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace credvault::crypto {
namespace {

using ::credvault::crypto::testing::Hierarchy;
using ::credvault::crypto::testing::MakeHierarchy;
using ::credvault::crypto::testing::ReauthenticateEnvelope;
using ::credvault::crypto::testing::RingWith;
using ::credvault::crypto::testing::ValueOrDie;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::size_t kSecretSizes[] = {1, 256, 4096, 65536};
constexpr std::size_t kLengthOffset = 113;
constexpr std::size_t kSealedDekOffset = 9;

static_assert(!std::is_default_constructible_v<VerifiedOrgPublicKey>);
static_assert(
    !std::is_constructible_v<VerifiedOrgPublicKey, std::string, std::uint32_t, X25519PublicKey>);
static_assert(!std::is_default_constructible_v<OrgPrivateKey>);

const std::string kMarker = "MARKER-7f3a9c-never-in-a-message";

SecretBytes SecretOfSize(std::size_t size) {
  std::string text;
  while (text.size() < size) text += kMarker;
  text.resize(size);
  return SecretBytes::CopyFrom(std::string_view(text));
}

std::vector<std::uint8_t> Bytes(absl::Span<const std::uint8_t> span) {
  return {span.begin(), span.end()};
}

class EnvelopeTest : public ::testing::Test {
 protected:
  EnvelopeTest() : h_(MakeHierarchy("org-a")) {}

  std::vector<std::uint8_t> Build(const CredentialBinding& binding, const SecretBytes& secret) {
    return ValueOrDie(BuildEnvelope(binding, h_.org_public, h_.writer_keys, secret));
  }

  absl::StatusOr<SecretBytes> Open(absl::Span<const std::uint8_t> envelope,
                                   const CredentialBinding& binding) {
    absl::StatusOr<ParsedEnvelope> parsed = ParseEnvelope(envelope);
    if (!parsed.ok()) return parsed.status();
    return OpenEnvelope(*parsed, binding, h_.org_private, h_.writer_keys);
  }

  Hierarchy h_;
};

class EnvelopeRoundTripTest : public EnvelopeTest,
                              public ::testing::WithParamInterface<std::size_t> {};

TEST_P(EnvelopeRoundTripTest, RoundTrips) {
  const SecretBytes secret = SecretOfSize(GetParam());
  const CredentialBinding binding{"org-a", "crm/salesforce/token", 7};
  const std::vector<std::uint8_t> envelope = Build(binding, secret);
  EXPECT_EQ(envelope.size(), kEnvelopeOverhead + GetParam());
  EXPECT_EQ(envelope[0], kEnvelopeFormatV1);

  const ParsedEnvelope parsed = ValueOrDie(ParseEnvelope(envelope));
  EXPECT_EQ(parsed.org_key_version, 1u);
  EXPECT_EQ(parsed.writer_key_version, 1u);
  const SecretBytes opened = ValueOrDie(Open(envelope, binding));
  EXPECT_EQ(Bytes(opened.RevealSecret()), Bytes(secret.RevealSecret()));
}

TEST_P(EnvelopeRoundTripTest, PlaintextNeverAppearsInTheEnvelope) {
  const SecretBytes secret = SecretOfSize(std::max<std::size_t>(GetParam(), kMarker.size()));
  const std::vector<std::uint8_t> envelope = Build({"org-a", "n", 1}, secret);
  const std::string as_text(envelope.begin(), envelope.end());
  EXPECT_EQ(as_text.find(kMarker.substr(0, 12)), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(SecretSizes, EnvelopeRoundTripTest, ::testing::ValuesIn(kSecretSizes));

TEST_F(EnvelopeTest, EverySingleByteFlipIsRejected) {
  for (const std::size_t size : {std::size_t{1}, std::size_t{256}}) {
    const CredentialBinding binding{"org-a", "crm/token", 3};
    const std::vector<std::uint8_t> envelope = Build(binding, SecretOfSize(size));
    for (std::size_t i = 0; i < envelope.size(); ++i) {
      for (const std::uint8_t mask : {std::uint8_t{0x01}, std::uint8_t{0x80}, std::uint8_t{0xff}}) {
        std::vector<std::uint8_t> damaged = envelope;
        damaged[i] ^= mask;
        const absl::StatusOr<SecretBytes> opened = Open(damaged, binding);
        ASSERT_FALSE(opened.ok()) << "flip at byte " << i << " mask " << int{mask};
        EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss) << "byte " << i;
      }
    }
  }
}

TEST_F(EnvelopeTest, TruncationAtEveryLengthIsRejected) {
  const CredentialBinding binding{"org-a", "crm/token", 3};
  const std::vector<std::uint8_t> envelope = Build(binding, SecretOfSize(256));
  for (std::size_t length = 0; length < envelope.size(); ++length) {
    const absl::Span<const std::uint8_t> truncated(envelope.data(), length);
    const absl::StatusOr<SecretBytes> opened = Open(truncated, binding);
    ASSERT_FALSE(opened.ok()) << "length " << length;
    EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss);
  }
}

TEST_F(EnvelopeTest, TrailingBytesAreRejected) {
  const CredentialBinding binding{"org-a", "crm/token", 3};
  std::vector<std::uint8_t> envelope = Build(binding, SecretOfSize(16));
  envelope.push_back(0);
  EXPECT_EQ(Open(envelope, binding).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(EnvelopeTest, OversizedLengthIsRejectedBeforeAllocating) {
  const CredentialBinding binding{"org-a", "crm/token", 3};
  const std::vector<std::uint8_t> envelope = Build(binding, SecretOfSize(16));

  // A header that claims a 4 GiB ciphertext inside a short buffer.
  std::vector<std::uint8_t> lying = envelope;
  lying[kLengthOffset] = 0xff;
  lying[kLengthOffset + 1] = 0xff;
  lying[kLengthOffset + 2] = 0xff;
  lying[kLengthOffset + 3] = 0xf0;
  // A buffer really as large as its 2 MiB claim, beyond the format's hard limit.
  const std::size_t big = 2 * 1024 * 1024;
  std::vector<std::uint8_t> huge(kEnvelopeOverhead - 16 + big, 0);
  std::memcpy(huge.data(), envelope.data(), kLengthOffset);
  const std::uint32_t declared = static_cast<std::uint32_t>(big);
  for (int i = 0; i < 4; ++i)
    huge[kLengthOffset + i] = static_cast<std::uint8_t>(declared >> (24 - 8 * i));
  // Just over the default 64 KiB limit.
  const std::size_t over = kDefaultMaxSecretSize + 1;
  std::vector<std::uint8_t> over_limit(kEnvelopeOverhead + over, 0);
  std::memcpy(over_limit.data(), envelope.data(), kLengthOffset);
  const std::uint32_t over_declared = static_cast<std::uint32_t>(over + 16);
  for (int i = 0; i < 4; ++i)
    over_limit[kLengthOffset + i] = static_cast<std::uint8_t>(over_declared >> (24 - 8 * i));

  largest_allocation = 0;
  tracking_allocations = true;
  const absl::StatusCode lying_code = Open(lying, binding).status().code();
  const absl::StatusCode huge_code = Open(huge, binding).status().code();
  const absl::StatusCode over_code = Open(over_limit, binding).status().code();
  tracking_allocations = false;

  EXPECT_EQ(lying_code, absl::StatusCode::kDataLoss);
  EXPECT_EQ(huge_code, absl::StatusCode::kDataLoss);
  EXPECT_EQ(over_code, absl::StatusCode::kDataLoss);
  EXPECT_LT(largest_allocation.load(), std::size_t{4096});

  // The same 64 KiB + 1 envelope parses when the configured limit allows it.
  EXPECT_TRUE(ParseEnvelope(over_limit, 2 * kDefaultMaxSecretSize).ok());
}

TEST_F(EnvelopeTest, BuildRefusesEmptyAndOversizedSecrets) {
  const CredentialBinding binding{"org-a", "crm/token", 1};
  const SecretBytes empty;
  EXPECT_EQ(BuildEnvelope(binding, h_.org_public, h_.writer_keys, empty).status().code(),
            absl::StatusCode::kInvalidArgument);
  const SecretBytes oversized = SecretOfSize(kDefaultMaxSecretSize + 1);
  const SecretBytes hundred = SecretOfSize(100);
  const absl::Status too_big =
      BuildEnvelope(binding, h_.org_public, h_.writer_keys, oversized).status();
  EXPECT_EQ(too_big.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(too_big.message(), HasSubstr("65537"));
  EXPECT_THAT(too_big.message(), Not(HasSubstr(kMarker.substr(0, 10))));
  EXPECT_EQ(BuildEnvelope(binding, h_.org_public, h_.writer_keys, hundred, 99).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(EnvelopeTest, BuildRefusesKeyOfAnotherOrgAndBadBindings) {
  const SecretBytes secret = SecretOfSize(10);
  EXPECT_EQ(BuildEnvelope({"org-b", "n", 1}, h_.org_public, h_.writer_keys, secret).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildEnvelope({"org-a", "", 1}, h_.org_public, h_.writer_keys, secret).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildEnvelope({"org-a", "n", 0}, h_.org_public, h_.writer_keys, secret).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(EnvelopeTest, OpeningUnderAnotherBindingIsRejected) {
  const CredentialBinding binding{"org-a", "crm/token", 3};
  const std::vector<std::uint8_t> envelope = Build(binding, SecretOfSize(32));
  EXPECT_EQ(Open(envelope, {"org-a", "crm/other", 3}).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Open(envelope, {"org-a", "crm/token", 4}).status().code(), absl::StatusCode::kDataLoss);

  // Another org, with that org's own (valid) keys and the same writer key.
  Hierarchy other = MakeHierarchy("org-b");
  const ParsedEnvelope parsed = ValueOrDie(ParseEnvelope(envelope));
  EXPECT_EQ(OpenEnvelope(parsed, {"org-b", "crm/token", 3}, other.org_private, h_.writer_keys)
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
}

TEST_F(EnvelopeTest, AnotherOrgKeyVersionIsRejected) {
  const CredentialBinding binding{"org-a", "crm/token", 3};
  std::vector<std::uint8_t> envelope = Build(binding, SecretOfSize(32));
  envelope[4] = 2;  // org key version 1 -> 2 in the header
  EXPECT_EQ(Open(envelope, binding).status().code(), absl::StatusCode::kDataLoss);

  // Even re-authenticated by a writer-key holder, the AEAD binding refuses it.
  Hierarchy v2 = MakeHierarchy("org-a", 2);
  std::vector<std::uint8_t> relabelled = Build(binding, SecretOfSize(32));
  relabelled[4] = 2;
  ReauthenticateEnvelope(relabelled, binding,
                         internal::WriterKeyAccess::CurrentKey(h_.writer_keys));
  const ParsedEnvelope parsed = ValueOrDie(ParseEnvelope(relabelled));
  EXPECT_EQ(OpenEnvelope(parsed, binding, v2.org_private, h_.writer_keys).status().code(),
            absl::StatusCode::kDataLoss);
  // Handing the wrong key version to OpenEnvelope is the caller's mistake.
  EXPECT_EQ(OpenEnvelope(parsed, binding, h_.org_private, h_.writer_keys).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(EnvelopeTest, ReauthenticatedEnvelopeUnderAnotherBindingStillFailsTheAead) {
  // A forger with the writer key relabels an envelope to another name: the authenticator now
  // verifies, but the associated data does not.
  const CredentialBinding original{"org-a", "crm/token", 3};
  const CredentialBinding moved{"org-a", "crm/other", 3};
  std::vector<std::uint8_t> envelope = Build(original, SecretOfSize(32));
  ReauthenticateEnvelope(envelope, moved, internal::WriterKeyAccess::CurrentKey(h_.writer_keys));
  const absl::Status status = Open(envelope, moved).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("ciphertext"));
}

TEST_F(EnvelopeTest, SealedDekMovedBetweenEnvelopesIsRejected) {
  const CredentialBinding binding_a{"org-a", "a", 1};
  const CredentialBinding binding_b{"org-a", "b", 1};
  const std::vector<std::uint8_t> a = Build(binding_a, SecretOfSize(32));
  std::vector<std::uint8_t> b = Build(binding_b, SecretOfSize(32));
  std::memcpy(b.data() + kSealedDekOffset, a.data() + kSealedDekOffset, kSealedDekSize);
  EXPECT_EQ(Open(b, binding_b).status().code(), absl::StatusCode::kDataLoss);
  // And with a recomputed authenticator the DEK opens but does not decrypt b's ciphertext.
  ReauthenticateEnvelope(b, binding_b, internal::WriterKeyAccess::CurrentKey(h_.writer_keys));
  const absl::Status status = Open(b, binding_b).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("ciphertext"));
}

TEST_F(EnvelopeTest, AnotherWriterKeyIsRejected) {
  const CredentialBinding binding{"org-a", "crm/token", 3};
  const SecretBytes secret = SecretOfSize(32);
  const WriterKeyRing foreign = RingWith(1, {1}, 0x99);
  const std::vector<std::uint8_t> envelope =
      ValueOrDie(BuildEnvelope(binding, h_.org_public, foreign, secret));
  const absl::Status status = Open(envelope, binding).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("integrity"));

  // An envelope naming a writer key version that is not configured.
  const WriterKeyRing newer = RingWith(2, {1, 2});
  const std::vector<std::uint8_t> from_newer =
      ValueOrDie(BuildEnvelope(binding, h_.org_public, newer, secret));
  EXPECT_THAT(Open(from_newer, binding).status().message(),
              HasSubstr("unknown writer key version 2"));
  // After rotation, the ring that knows both versions opens both.
  const ParsedEnvelope parsed = ValueOrDie(ParseEnvelope(from_newer));
  EXPECT_TRUE(OpenEnvelope(parsed, binding, h_.org_private, newer).ok());
  const std::vector<std::uint8_t> from_older = Build(binding, SecretOfSize(8));
  const ParsedEnvelope parsed_old = ValueOrDie(ParseEnvelope(from_older));
  EXPECT_TRUE(OpenEnvelope(parsed_old, binding, h_.org_private, newer).ok());
}

TEST_F(EnvelopeTest, OrgKeyOfAnotherOrgIsACallerError) {
  Hierarchy other = MakeHierarchy("org-b");
  const CredentialBinding binding{"org-a", "crm/token", 3};
  const std::vector<std::uint8_t> envelope = Build(binding, SecretOfSize(8));
  const ParsedEnvelope parsed = ValueOrDie(ParseEnvelope(envelope));
  EXPECT_EQ(OpenEnvelope(parsed, binding, other.org_private, h_.writer_keys).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(EnvelopeTest, NoErrorMessageContainsTheSecret) {
  const CredentialBinding binding{"org-a", "crm/token", 3};
  const std::vector<std::uint8_t> envelope = Build(binding, SecretOfSize(200));
  for (std::size_t i = 0; i < envelope.size(); i += 7) {
    std::vector<std::uint8_t> damaged = envelope;
    damaged[i] ^= 0x20;
    const absl::Status status = Open(damaged, binding).status();
    EXPECT_THAT(std::string(status.message()), Not(HasSubstr(kMarker.substr(0, 8))));
  }
}

}  // namespace
}  // namespace credvault::crypto

namespace credvault::crypto {
namespace {

using ::credvault::crypto::testing::Hierarchy;
using ::credvault::crypto::testing::MakeHierarchy;
using ::credvault::crypto::testing::ReauthenticateEnvelope;
using ::credvault::crypto::testing::RingWith;
using ::credvault::crypto::testing::ValueOrDie;

std::string AsString(const SecretBytes& bytes) {
  const absl::Span<const std::uint8_t> view = bytes.RevealSecret();
  return std::string(view.begin(), view.end());
}

// Org key rotation: version 2 of the same org, sealed to the same root.
struct Rotated {
  OrgKeyRecord record;
  OrgPrivateKey private_key;
  VerifiedOrgPublicKey public_key;
};

Rotated RotateOrgKey(const Hierarchy& h) {
  const PinnedRootPublicKey pinned = ValueOrDie(h.pins.Pin(1, h.sealed_root.public_key));
  OrgKeyRecord record =
      ValueOrDie(CreateOrgKey(h.org_record.org_id, 2, pinned, h.directory_signer));
  OrgPrivateKey private_key = ValueOrDie(UnsealOrgPrivateKey(record, h.root, h.directory_pins));
  VerifiedOrgPublicKey public_key =
      ValueOrDie(VerifyOrgKeyRecordForSealing(record, h.directory_pins, h.pins));
  return Rotated{std::move(record), std::move(private_key), std::move(public_key)};
}

TEST(ResealEnvelopeTest, MovesTheSecretToTheNewOrgKeyAndTheCurrentWriterKey) {
  const Hierarchy h = MakeHierarchy("org-a");
  const CredentialBinding binding{"org-a", "crm/token", 3};
  const SecretBytes secret = SecretBytes::CopyFrom(std::string_view("s3cr3t-value"));
  const std::vector<std::uint8_t> old_envelope =
      ValueOrDie(BuildEnvelope(binding, h.org_public, h.writer_keys, secret));
  // The writer key was rotated too: version 2 is current, version 1 still verifies.
  const WriterKeyRing rotated_ring = RingWith(2, {1, 2});
  const Rotated v2 = RotateOrgKey(h);

  const std::vector<std::uint8_t> resealed =
      ValueOrDie(ResealEnvelope(ValueOrDie(ParseEnvelope(old_envelope)), binding, h.org_private,
                                v2.public_key, rotated_ring));
  const ParsedEnvelope parsed = ValueOrDie(ParseEnvelope(resealed));
  EXPECT_EQ(parsed.org_key_version, 2u);
  EXPECT_EQ(parsed.writer_key_version, 2u);
  const SecretBytes opened =
      ValueOrDie(OpenEnvelope(parsed, binding, v2.private_key, rotated_ring));
  EXPECT_EQ(AsString(opened), "s3cr3t-value");
  // The old key no longer opens it, and the old envelope is not what was stored.
  EXPECT_EQ(OpenEnvelope(parsed, binding, h.org_private, rotated_ring).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_NE(resealed, old_envelope);
}

TEST(ResealEnvelopeTest, RefusesAnEnvelopeThatFailsItsChecks) {
  const Hierarchy h = MakeHierarchy("org-a");
  const CredentialBinding binding{"org-a", "crm/token", 3};
  const SecretBytes secret = SecretBytes::CopyFrom(std::string_view("s3cr3t-value"));
  std::vector<std::uint8_t> envelope =
      ValueOrDie(BuildEnvelope(binding, h.org_public, h.writer_keys, secret));
  const Rotated v2 = RotateOrgKey(h);
  envelope[150 % envelope.size()] ^= 0x01;
  const absl::StatusOr<std::vector<std::uint8_t>> tampered = ResealEnvelope(
      ValueOrDie(ParseEnvelope(envelope)), binding, h.org_private, v2.public_key, h.writer_keys);
  EXPECT_EQ(tampered.status().code(), absl::StatusCode::kDataLoss);
  // Moved to another name: the binding does not match.
  envelope = ValueOrDie(BuildEnvelope(binding, h.org_public, h.writer_keys, secret));
  const absl::StatusOr<std::vector<std::uint8_t>> moved =
      ResealEnvelope(ValueOrDie(ParseEnvelope(envelope)), {"org-a", "crm/other", 3}, h.org_private,
                     v2.public_key, h.writer_keys);
  EXPECT_EQ(moved.status().code(), absl::StatusCode::kDataLoss);
  // A new key of another org.
  const Hierarchy other = MakeHierarchy("org-b");
  const absl::StatusOr<std::vector<std::uint8_t>> elsewhere = ResealEnvelope(
      ValueOrDie(ParseEnvelope(envelope)), binding, h.org_private, other.org_public, h.writer_keys);
  EXPECT_EQ(elsewhere.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ResealOrgKeyRecordTest, KeepsTheKeyPairAndSealsItToTheNewRoot) {
  const Hierarchy h = MakeHierarchy("org-a");
  const CredentialBinding binding{"org-a", "crm/token", 1};
  const SecretBytes secret = SecretBytes::CopyFrom(std::string_view("s3cr3t-value"));
  const std::vector<std::uint8_t> envelope =
      ValueOrDie(BuildEnvelope(binding, h.org_public, h.writer_keys, secret));

  const SealedRootKey sealed_root2 = ValueOrDie(GenerateRootKey(2, *h.seal_key));
  const RootPrivateKey root2 = ValueOrDie(UnsealRootKey(sealed_root2, *h.seal_key));
  const RootKeyPins pins2 =
      ValueOrDie(RootKeyPins::New({{2, RootKeyFingerprint(sealed_root2.public_key)}}));
  const PinnedRootPublicKey pinned2 = ValueOrDie(pins2.Pin(2, sealed_root2.public_key));

  const OrgKeyRecord moved = ValueOrDie(
      ResealOrgKeyRecord(h.org_record, h.root, pinned2, h.directory_pins, h.directory_signer));
  EXPECT_EQ(moved.root_key_version, 2u);
  EXPECT_EQ(moved.key_version, h.org_record.key_version);
  EXPECT_EQ(moved.public_key, h.org_record.public_key);
  EXPECT_NE(moved.sealed_private_key, h.org_record.sealed_private_key);
  EXPECT_EQ(moved.state, h.org_record.state);
  EXPECT_EQ(moved.directory_key_version, h.directory_signer.version());
  EXPECT_TRUE(VerifyOrgKeySignature(moved, h.directory_pins).ok());
  // Only the new root opens it, and the data keys sealed to the pair still open.
  EXPECT_EQ(UnsealOrgPrivateKey(moved, h.root, h.directory_pins).status().code(),
            absl::StatusCode::kFailedPrecondition);
  const OrgPrivateKey unsealed = ValueOrDie(UnsealOrgPrivateKey(moved, root2, h.directory_pins));
  EXPECT_EQ(AsString(ValueOrDie(OpenEnvelope(ValueOrDie(ParseEnvelope(envelope)), binding, unsealed,
                                             h.writer_keys))),
            "s3cr3t-value");

  // A record whose signature fails is not re-sealed (a database writer cannot get a key of
  // their own sealed to the new root and signed).
  OrgKeyRecord forged = h.org_record;
  forged.public_key[0] ^= 0x01;
  EXPECT_EQ(ResealOrgKeyRecord(forged, h.root, pinned2, h.directory_pins, h.directory_signer)
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
  // The state is kept: a RETIRED record stays RETIRED, freshly signed.
  const OrgKeyRecord retired =
      ValueOrDie(ResignOrgKeyRecord(h.org_record, OrgKeyState::kRetired, h.directory_signer));
  const OrgKeyRecord retired_moved = ValueOrDie(
      ResealOrgKeyRecord(retired, h.root, pinned2, h.directory_pins, h.directory_signer));
  EXPECT_EQ(retired_moved.state, OrgKeyState::kRetired);
  EXPECT_TRUE(VerifyOrgKeySignature(retired_moved, h.directory_pins).ok());
}

}  // namespace
}  // namespace credvault::crypto

// The decrypt tier's memory of unsealed data keys: it answers only for the exact sealed
// bytes and org key pair it unsealed, it never lets an envelope skip its integrity checks,
// it is bounded in size and age, and it forgets an org's keys when told to.
#include "crypto/data_key_cache.h"

#include <cstdint>
#include <string>
#include <vector>

#include "crypto/envelope.h"
#include "crypto/internal/writer_key_access.h"
#include "crypto/sealed_box.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/crypto/crypto_test_util.h"

namespace credvault::crypto {
namespace {

using ::credvault::crypto::testing::Hierarchy;
using ::credvault::crypto::testing::MakeHierarchy;
using ::credvault::crypto::testing::ReauthenticateEnvelope;
using ::credvault::crypto::testing::ValueOrDie;

constexpr std::size_t kSealedDekOffset = 9;

std::vector<std::uint8_t> Bytes(absl::Span<const std::uint8_t> span) {
  return {span.begin(), span.end()};
}

class DataKeyCacheTest : public ::testing::Test {
 protected:
  DataKeyCacheTest() : h_(MakeHierarchy("org-a")), other_(MakeHierarchy("org-b")) {}

  std::unique_ptr<DataKeyCache> MakeCache(std::size_t capacity) {
    return std::make_unique<DataKeyCache>(
        DataKeyCache::Options{.capacity = capacity, .max_age = absl::Minutes(5)},
        [this] { return now_; });
  }

  std::vector<std::uint8_t> Envelope(const Hierarchy& h, const CredentialBinding& binding,
                                     std::string_view secret) {
    const SecretBytes plaintext = SecretBytes::CopyFrom(secret);
    return ValueOrDie(BuildEnvelope(binding, h.org_public, h.writer_keys, plaintext));
  }

  absl::StatusOr<std::string> Open(DataKeyCache& cache, const Hierarchy& h,
                                   const std::vector<std::uint8_t>& envelope,
                                   const CredentialBinding& binding) {
    absl::StatusOr<ParsedEnvelope> parsed = ParseEnvelope(envelope);
    if (!parsed.ok()) return parsed.status();
    absl::StatusOr<SecretBytes> opened =
        OpenEnvelope(*parsed, binding, h.org_private, h.writer_keys, cache);
    if (!opened.ok()) return opened.status();
    const absl::Span<const std::uint8_t> bytes = opened->RevealSecret();
    return std::string(bytes.begin(), bytes.end());
  }

  static absl::Span<const std::uint8_t> SealedDek(const std::vector<std::uint8_t>& envelope) {
    return absl::MakeConstSpan(envelope).subspan(kSealedDekOffset, kSealedDekSize);
  }

  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
  Hierarchy h_;
  Hierarchy other_;
};

TEST_F(DataKeyCacheTest, ASecondOpenOfTheSameEnvelopeIsAnsweredFromMemory) {
  std::unique_ptr<DataKeyCache> cache = MakeCache(8);
  const CredentialBinding binding{"org-a", "crm/token", 1};
  const std::vector<std::uint8_t> envelope = Envelope(h_, binding, "s3cret-value");
  EXPECT_EQ(Open(*cache, h_, envelope, binding).value(), "s3cret-value");
  EXPECT_EQ(cache->misses(), 1u);
  EXPECT_EQ(Open(*cache, h_, envelope, binding).value(), "s3cret-value");
  EXPECT_EQ(cache->hits(), 1u);
  EXPECT_EQ(cache->size(), 1u);
  // The remembered key is the one that was sealed.
  const SecretBytes direct = ValueOrDie(
      OpenSealed(SealedDek(envelope), h_.org_private.public_key(), h_.org_private.private_key()));
  EXPECT_EQ(Bytes(ValueOrDie(cache->Open(SealedDek(envelope), h_.org_private)).RevealSecret()),
            Bytes(direct.RevealSecret()));
}

// A remembered data key opens nothing by itself: an envelope whose ciphertext, binding or
// authenticator was changed around the same sealed key is still refused.
TEST_F(DataKeyCacheTest, ARememberedKeyNeverSkipsTheEnvelopesChecks) {
  std::unique_ptr<DataKeyCache> cache = MakeCache(8);
  const CredentialBinding binding{"org-a", "crm/token", 3};
  const std::vector<std::uint8_t> envelope = Envelope(h_, binding, "s3cret-value");
  ASSERT_TRUE(Open(*cache, h_, envelope, binding).ok());
  ASSERT_EQ(cache->size(), 1u);

  std::vector<std::uint8_t> flipped_ciphertext = envelope;
  flipped_ciphertext[flipped_ciphertext.size() - 40] ^= 0x01;
  EXPECT_EQ(Open(*cache, h_, flipped_ciphertext, binding).status().code(),
            absl::StatusCode::kDataLoss);
  std::vector<std::uint8_t> flipped_authenticator = envelope;
  flipped_authenticator.back() ^= 0x01;
  EXPECT_EQ(Open(*cache, h_, flipped_authenticator, binding).status().code(),
            absl::StatusCode::kDataLoss);
  for (const CredentialBinding& moved :
       {CredentialBinding{"org-a", "crm/other", 3}, CredentialBinding{"org-a", "crm/token", 2}}) {
    EXPECT_EQ(Open(*cache, h_, envelope, moved).status().code(), absl::StatusCode::kDataLoss);
  }
}

// The lookup includes the org key pair: another org's key, or a new key pair under the same
// org id and version (an org purged and made again), finds nothing and cannot open the box.
TEST_F(DataKeyCacheTest, AnotherKeyPairFindsNothing) {
  std::unique_ptr<DataKeyCache> cache = MakeCache(8);
  const CredentialBinding binding{"org-a", "crm/token", 1};
  const std::vector<std::uint8_t> envelope = Envelope(h_, binding, "s3cret-value");
  ASSERT_TRUE(Open(*cache, h_, envelope, binding).ok());
  const Hierarchy reborn = MakeHierarchy("org-a");
  EXPECT_EQ(cache->Open(SealedDek(envelope), reborn.org_private).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(cache->Open(SealedDek(envelope), other_.org_private).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(cache->hits(), 0u);
  EXPECT_EQ(cache->size(), 1u) << "a box that does not open is not remembered";
}

TEST_F(DataKeyCacheTest, BoundedInSizeOldestFirstAndInAge) {
  std::unique_ptr<DataKeyCache> cache = MakeCache(2);
  std::vector<std::vector<std::uint8_t>> envelopes;
  for (std::uint64_t version = 1; version <= 3; ++version) {
    const CredentialBinding binding{"org-a", "crm/token", version};
    envelopes.push_back(Envelope(h_, binding, "v" + std::to_string(version)));
    ASSERT_TRUE(Open(*cache, h_, envelopes.back(), binding).ok());
  }
  EXPECT_EQ(cache->size(), 2u);
  // The first was replaced: it is unsealed again, correctly.
  EXPECT_EQ(Open(*cache, h_, envelopes[0], {"org-a", "crm/token", 1}).value(), "v1");
  EXPECT_EQ(cache->hits(), 0u);
  EXPECT_EQ(Open(*cache, h_, envelopes[0], {"org-a", "crm/token", 1}).value(), "v1");
  EXPECT_EQ(cache->hits(), 1u);

  now_ += absl::Minutes(5);
  EXPECT_EQ(Open(*cache, h_, envelopes[0], {"org-a", "crm/token", 1}).value(), "v1");
  EXPECT_EQ(cache->hits(), 1u) << "an entry as old as max_age is unsealed again";
}

// More entries than one page of guarded memory holds (128): each is remembered in its own
// slot and read back whole.
TEST_F(DataKeyCacheTest, EntriesSpanPagesOfGuardedMemory) {
  std::unique_ptr<DataKeyCache> cache = MakeCache(130);
  std::vector<std::vector<std::uint8_t>> envelopes;
  for (std::uint64_t version = 1; version <= 130; ++version) {
    const CredentialBinding binding{"org-a", "crm/token", version};
    envelopes.push_back(Envelope(h_, binding, "v" + std::to_string(version)));
    ASSERT_TRUE(Open(*cache, h_, envelopes.back(), binding).ok());
  }
  for (std::uint64_t version = 1; version <= 130; ++version) {
    EXPECT_EQ(Open(*cache, h_, envelopes[version - 1], {"org-a", "crm/token", version}).value(),
              "v" + std::to_string(version));
  }
  EXPECT_EQ(cache->hits(), 130u);
}

TEST_F(DataKeyCacheTest, DroppingAnOrgOrAKeyVersionForgetsOnlyThose) {
  std::unique_ptr<DataKeyCache> cache = MakeCache(8);
  const CredentialBinding a{"org-a", "crm/token", 1};
  const CredentialBinding b{"org-b", "crm/token", 1};
  const std::vector<std::uint8_t> in_a = Envelope(h_, a, "a-secret");
  const std::vector<std::uint8_t> in_b = Envelope(other_, b, "b-secret");
  ASSERT_TRUE(Open(*cache, h_, in_a, a).ok());
  ASSERT_TRUE(Open(*cache, other_, in_b, b).ok());
  ASSERT_EQ(cache->size(), 2u);

  cache->DropOrgVersionsExcept("org-a", {1});
  EXPECT_EQ(cache->size(), 2u) << "version 1 is kept";
  cache->DropOrgVersionsExcept("org-a", {2});
  EXPECT_EQ(cache->size(), 1u);
  ASSERT_TRUE(Open(*cache, other_, in_b, b).ok());
  EXPECT_EQ(cache->hits(), 1u) << "org-b's key stays";
  cache->DropOrg("org-b");
  EXPECT_EQ(cache->size(), 0u);
  ASSERT_TRUE(Open(*cache, other_, in_b, b).ok());
  EXPECT_EQ(cache->hits(), 1u);
}

TEST_F(DataKeyCacheTest, CapacityZeroRemembersNothing) {
  std::unique_ptr<DataKeyCache> cache = MakeCache(0);
  const CredentialBinding binding{"org-a", "crm/token", 1};
  const std::vector<std::uint8_t> envelope = Envelope(h_, binding, "s3cret-value");
  EXPECT_EQ(Open(*cache, h_, envelope, binding).value(), "s3cret-value");
  EXPECT_EQ(Open(*cache, h_, envelope, binding).value(), "s3cret-value");
  EXPECT_EQ(cache->size(), 0u);
  EXPECT_EQ(cache->hits(), 0u);
  EXPECT_EQ(cache->misses(), 2u);
}

}  // namespace
}  // namespace credvault::crypto

// Pkcs11SealKeyProvider against a real SoftHSM2 token in a private directory.
#include "crypto/pkcs11_seal_key_provider.h"

#include <p11-kit/pkcs11.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "crypto/key_file_seal_key_provider.h"
#include "crypto/root_key.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/crypto/crypto_test_util.h"
#include "tests/crypto/softhsm_test_util.h"

namespace credvault::crypto {
namespace {

using ::credvault::crypto::testing::FilledKey;
using ::credvault::crypto::testing::ValueOrDie;
using ::credvault::testing::SoftHsm;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kToken[] = "credvault-a";
constexpr char kOtherToken[] = "credvault-b";
constexpr char kPin[] = "user-pin-4711";
constexpr char kSoPin[] = "so-pin-0815";
constexpr char kWrongPin[] = "wrong-pin-9999";

std::vector<std::uint8_t> Bytes(absl::Span<const std::uint8_t> span) {
  return {span.begin(), span.end()};
}

Pkcs11KeyLocation Location(const std::string& key_label, const std::string& token = kToken) {
  return Pkcs11KeyLocation{SoftHsm::ModulePath(), token, key_label};
}

SecretView Pin(const char* pin = kPin) { return SecretView::Borrow(std::string_view(pin)); }

std::unique_ptr<Pkcs11SealKeyProvider> OpenOrDie(const std::string& key_label,
                                                 const std::string& token = kToken) {
  return ValueOrDie(Pkcs11SealKeyProvider::Open(Location(key_label, token), Pin()));
}

class Pkcs11SealKeyProviderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    SoftHsm& hsm = SoftHsm::Get();
    hsm.InitToken(kToken, kSoPin, kPin);
    hsm.InitToken(kOtherToken, kSoPin, kPin);
    hsm.GenerateAesKey(kToken, kPin, "seal-1");
    hsm.GenerateAesKey(kToken, kPin, "seal-2");
    hsm.GenerateAesKey(kToken, kPin, "aes-128", {.bytes = 16});
    hsm.GenerateAesKey(kToken, kPin, "readable", {.sensitive = false, .extractable = true});
    hsm.GenerateAesKey(kToken, kPin, "exportable", {.sensitive = true, .extractable = true});
    hsm.GenerateAesKey(kToken, kPin, "fixed-later", {.sensitive = true, .extractable = true});
    hsm.GenerateAesKey(kToken, kPin, "not-sensitive", {.sensitive = false, .extractable = false});
    hsm.GenerateAesKey(kToken, kPin, "twice");
    hsm.GenerateAesKey(kToken, kPin, "twice");
    hsm.GenerateAesKey(kOtherToken, kPin, "seal-1");
  }
};

TEST_F(Pkcs11SealKeyProviderTest, WrapsAndUnwraps) {
  const auto provider = OpenOrDie("seal-1");
  const SecretBytes key = SecretBytes::Random(32);
  const std::vector<std::uint8_t> ad = {'r', '1'};
  const std::vector<std::uint8_t> wrapped = ValueOrDie(provider->Wrap(key, AssociatedData(ad)));
  ASSERT_EQ(wrapped.size(), 1 + 12 + 32 + 16);
  EXPECT_EQ(wrapped[0], 0x02);
  EXPECT_EQ(Bytes(ValueOrDie(provider->Unwrap(wrapped, AssociatedData(ad))).RevealSecret()),
            Bytes(key.RevealSecret()));

  // A fresh nonce per wrap: the same input never wraps to the same bytes.
  const std::vector<std::uint8_t> again = ValueOrDie(provider->Wrap(key, AssociatedData(ad)));
  EXPECT_NE(again, wrapped);
  EXPECT_NE(std::vector<std::uint8_t>(again.begin() + 1, again.begin() + 13),
            std::vector<std::uint8_t>(wrapped.begin() + 1, wrapped.begin() + 13));

  // Empty associated data and other sizes work too.
  const SecretBytes longer = SecretBytes::Random(100);
  const std::vector<std::uint8_t> wrapped_longer =
      ValueOrDie(provider->Wrap(longer, AssociatedData({})));
  EXPECT_EQ(Bytes(ValueOrDie(provider->Unwrap(wrapped_longer, AssociatedData({}))).RevealSecret()),
            Bytes(longer.RevealSecret()));
}

TEST_F(Pkcs11SealKeyProviderTest, WrongAssociatedDataIsDataLoss) {
  const auto provider = OpenOrDie("seal-1");
  const SecretBytes key = SecretBytes::Random(32);
  const std::vector<std::uint8_t> ad = {'r', '1'};
  const std::vector<std::uint8_t> wrapped = ValueOrDie(provider->Wrap(key, AssociatedData(ad)));
  const std::vector<std::uint8_t> other_ad = {'r', '2'};
  const absl::Status status = provider->Unwrap(wrapped, AssociatedData(other_ad)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_EQ(provider->Unwrap(wrapped, AssociatedData({})).status().code(),
            absl::StatusCode::kDataLoss);
  // The provider still works after a failed unwrap (its session was not left half-used).
  EXPECT_TRUE(provider->Unwrap(wrapped, AssociatedData(ad)).ok());
}

TEST_F(Pkcs11SealKeyProviderTest, EveryTamperedByteIsDataLoss) {
  const auto provider = OpenOrDie("seal-1");
  const SecretBytes key = SecretBytes::Random(32);
  const std::vector<std::uint8_t> ad = {'r', '1'};
  const std::vector<std::uint8_t> wrapped = ValueOrDie(provider->Wrap(key, AssociatedData(ad)));
  for (std::size_t i = 0; i < wrapped.size(); ++i) {
    std::vector<std::uint8_t> tampered = wrapped;
    tampered[i] ^= 0x01;
    const absl::StatusOr<SecretBytes> result = provider->Unwrap(tampered, AssociatedData(ad));
    EXPECT_EQ(result.status().code(), absl::StatusCode::kDataLoss) << "byte " << i;
  }
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{28}, wrapped.size() - 1}) {
    EXPECT_EQ(provider->Unwrap(absl::MakeSpan(wrapped).subspan(0, size), AssociatedData(ad))
                  .status()
                  .code(),
              absl::StatusCode::kDataLoss)
        << "truncated to " << size;
  }
  std::vector<std::uint8_t> longer = wrapped;
  longer.push_back(0);
  EXPECT_EQ(provider->Unwrap(longer, AssociatedData(ad)).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST_F(Pkcs11SealKeyProviderTest, OtherKeyIsDataLoss) {
  const auto provider = OpenOrDie("seal-1");
  const auto other = OpenOrDie("seal-2");
  const auto same_label_other_token = OpenOrDie("seal-1", kOtherToken);
  const SecretBytes key = SecretBytes::Random(32);
  const std::vector<std::uint8_t> ad = {'r', '1'};
  const std::vector<std::uint8_t> wrapped = ValueOrDie(provider->Wrap(key, AssociatedData(ad)));
  EXPECT_EQ(other->Unwrap(wrapped, AssociatedData(ad)).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(same_label_other_token->Unwrap(wrapped, AssociatedData(ad)).status().code(),
            absl::StatusCode::kDataLoss);

  // A key file provider's wrapping is refused, and the other way round.
  const auto file = ValueOrDie(KeyFileSealKeyProvider::FromKey(FilledKey(7)));
  const std::vector<std::uint8_t> file_wrapped = ValueOrDie(file->Wrap(key, AssociatedData(ad)));
  EXPECT_EQ(provider->Unwrap(file_wrapped, AssociatedData(ad)).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(file->Unwrap(wrapped, AssociatedData(ad)).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(Pkcs11SealKeyProviderTest, KeyIdIsStableAndNamesTheKey) {
  const std::string id = OpenOrDie("seal-1")->KeyId();
  EXPECT_THAT(id, StartsWith("pkcs11:credvault-a/seal-1:"));
  EXPECT_EQ(id.size(), std::string("pkcs11:credvault-a/seal-1:").size() + 16);
  EXPECT_EQ(OpenOrDie("seal-1")->KeyId(), id);  // stable across opens
  EXPECT_NE(OpenOrDie("seal-2")->KeyId(), id);
  EXPECT_NE(OpenOrDie("seal-1", kOtherToken)->KeyId(), id);
  const auto file = ValueOrDie(KeyFileSealKeyProvider::FromKey(FilledKey(7)));
  EXPECT_THAT(file->KeyId(), Not(StartsWith("pkcs11:")));

  // A different key behind the same label is a different seal key.
  SoftHsm& hsm = SoftHsm::Get();
  hsm.GenerateAesKey(kOtherToken, kPin, "replaced");
  const std::string before = OpenOrDie("replaced", kOtherToken)->KeyId();
  hsm.DestroyKeys(kOtherToken, kPin, "replaced");
  hsm.GenerateAesKey(kOtherToken, kPin, "replaced");
  const std::string after = OpenOrDie("replaced", kOtherToken)->KeyId();
  EXPECT_NE(before, after);
  EXPECT_EQ(before.substr(0, before.size() - 16), after.substr(0, after.size() - 16));
}

TEST_F(Pkcs11SealKeyProviderTest, KeyNeverLeavesTheToken) {
  // Opening and using the provider does not change that.
  const auto provider = OpenOrDie("seal-1");
  const SecretBytes key = SecretBytes::Random(32);
  ASSERT_TRUE(provider->Wrap(key, AssociatedData({})).ok());
  const SoftHsm::KeyFacts facts = SoftHsm::Get().InspectKey(kToken, kPin, "seal-1");
  EXPECT_EQ(facts.read_value_rv, CKR_ATTRIBUTE_SENSITIVE);
  EXPECT_TRUE(facts.sensitive);
  EXPECT_FALSE(facts.extractable);
}

TEST_F(Pkcs11SealKeyProviderTest, GenerateKeyMakesANonExtractableSealKey) {
  const Pkcs11KeyLocation location = Location("generated", kOtherToken);
  ASSERT_TRUE(Pkcs11SealKeyProvider::GenerateKey(location, Pin()).ok());
  const SoftHsm::KeyFacts facts = SoftHsm::Get().InspectKey(kOtherToken, kPin, "generated");
  EXPECT_EQ(facts.read_value_rv, CKR_ATTRIBUTE_SENSITIVE);
  EXPECT_TRUE(facts.sensitive);
  EXPECT_FALSE(facts.extractable);
  EXPECT_TRUE(facts.token_object);
  EXPECT_EQ(facts.value_len, 32u);

  const auto provider = ValueOrDie(Pkcs11SealKeyProvider::Open(location, Pin()));
  const SecretBytes key = SecretBytes::Random(32);
  const std::vector<std::uint8_t> wrapped = ValueOrDie(provider->Wrap(key, AssociatedData({})));
  EXPECT_EQ(Bytes(ValueOrDie(provider->Unwrap(wrapped, AssociatedData({}))).RevealSecret()),
            Bytes(key.RevealSecret()));

  const absl::Status again = Pkcs11SealKeyProvider::GenerateKey(location, Pin());
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists) << again;
  EXPECT_THAT(std::string(again.message()), StartsWith("key_label: "));
}

TEST_F(Pkcs11SealKeyProviderTest, RootKeyRoundTripsThroughTheToken) {
  const auto provider = OpenOrDie("seal-1");
  const SealedRootKey sealed = ValueOrDie(GenerateRootKey(3, *provider));
  EXPECT_EQ(sealed.seal_key_id, provider->KeyId());
  const RootPrivateKey root = ValueOrDie(UnsealRootKey(sealed, *provider));
  EXPECT_EQ(root.version(), 3u);
  EXPECT_EQ(ValueOrDie(DeriveX25519PublicKey(root.private_key())), sealed.public_key);

  SealedRootKey relabelled = sealed;
  relabelled.version = 4;
  EXPECT_EQ(UnsealRootKey(relabelled, *provider).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(UnsealRootKey(sealed, *OpenOrDie("seal-2")).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST_F(Pkcs11SealKeyProviderTest, RootKeyRewrapsFromAKeyFileIntoTheToken) {
  const auto file = ValueOrDie(KeyFileSealKeyProvider::FromKey(FilledKey(7)));
  const auto token = OpenOrDie("seal-1");
  const SealedRootKey sealed = ValueOrDie(GenerateRootKey(1, *file));
  const SealedRootKey rewrapped = ValueOrDie(RewrapRootKey(sealed, *file, *token));
  EXPECT_EQ(rewrapped.version, 1u);
  EXPECT_EQ(rewrapped.public_key, sealed.public_key);
  EXPECT_EQ(rewrapped.seal_key_id, token->KeyId());
  EXPECT_EQ(ValueOrDie(UnsealRootKey(rewrapped, *token)).public_key(), sealed.public_key);
  EXPECT_EQ(UnsealRootKey(rewrapped, *file).status().code(), absl::StatusCode::kDataLoss);
  // The wrong source key is refused before anything is wrapped.
  EXPECT_EQ(RewrapRootKey(sealed, *token, *file).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(Pkcs11SealKeyProviderTest, MissingModuleIsNamed) {
  Pkcs11KeyLocation location = Location("seal-1");
  location.module_path = "/nonexistent/libpkcs11-nothing.so";
  const absl::Status status = Pkcs11SealKeyProvider::Open(location, Pin()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(std::string(status.message()), StartsWith("module: "));
  EXPECT_THAT(std::string(status.message()), HasSubstr("/nonexistent/libpkcs11-nothing.so"));
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr(kPin)));
}

TEST_F(Pkcs11SealKeyProviderTest, LibraryThatIsNotAModuleIsNamed) {
  Pkcs11KeyLocation location = Location("seal-1");
  location.module_path = "libz.so.1";
  const absl::Status status = Pkcs11SealKeyProvider::Open(location, Pin()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(std::string(status.message()), StartsWith("module: "));
  EXPECT_THAT(std::string(status.message()), HasSubstr("not a PKCS#11 library"));
}

TEST_F(Pkcs11SealKeyProviderTest, MissingTokenIsNamed) {
  const absl::Status status =
      Pkcs11SealKeyProvider::Open(Location("seal-1", "no-such-token"), Pin()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_THAT(std::string(status.message()), StartsWith("token_label: "));
  EXPECT_THAT(std::string(status.message()), HasSubstr("\"no-such-token\""));
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("\"credvault-a\""));  // what is there instead
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr(kPin)));
}

TEST_F(Pkcs11SealKeyProviderTest, WrongPinIsNamedAndNotShown) {
  const absl::Status status =
      Pkcs11SealKeyProvider::Open(Location("seal-1"), Pin(kWrongPin)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
  EXPECT_THAT(std::string(status.message()), StartsWith("pin: "));
  EXPECT_THAT(std::string(status.message()), HasSubstr("CKR_PIN_INCORRECT"));
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr(kWrongPin)));
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr(kPin)));

  const absl::Status empty =
      Pkcs11SealKeyProvider::Open(Location("seal-1"), SecretView::Borrow(std::string_view()))
          .status();
  EXPECT_THAT(std::string(empty.message()), StartsWith("pin: "));
}

TEST_F(Pkcs11SealKeyProviderTest, MissingKeyIsNamed) {
  const absl::Status status = Pkcs11SealKeyProvider::Open(Location("no-such-key"), Pin()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_THAT(std::string(status.message()), StartsWith("key_label: "));
  EXPECT_THAT(std::string(status.message()), HasSubstr("\"no-such-key\""));
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr(kPin)));
}

TEST_F(Pkcs11SealKeyProviderTest, UnsuitableKeysAreRefused) {
  for (const char* label : {"aes-128", "readable", "twice"}) {
    const absl::Status status = Pkcs11SealKeyProvider::Open(Location(label), Pin()).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << label << ": " << status;
    EXPECT_THAT(std::string(status.message()), StartsWith("key_label: ")) << label;
  }
}

TEST_F(Pkcs11SealKeyProviderTest, KeysThatCouldLeaveTheTokenAreRefused) {
  const struct {
    const char* label;
    const char* attribute;
  } cases[] = {
      // Sensitive, so its value cannot be read, but the token would still export it.
      {"exportable", "is extractable (CKA_EXTRACTABLE true)"},
      {"not-sensitive", "is not sensitive (CKA_SENSITIVE false)"},
      {"readable", "is not sensitive (CKA_SENSITIVE false)"},
  };
  for (const auto& c : cases) {
    const absl::Status status = Pkcs11SealKeyProvider::Open(Location(c.label), Pin()).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << c.label << ": " << status;
    const std::string message(status.message());
    EXPECT_THAT(message, StartsWith("key_label: ")) << c.label;
    EXPECT_THAT(message, HasSubstr("\"" + std::string(c.label) + "\" in token \"" + kToken + "\" " +
                                   c.attribute));
    // How to fix it.
    EXPECT_THAT(message, HasSubstr("sensitive=true and extractable=false")) << c.label;
    EXPECT_THAT(message, Not(HasSubstr(kPin)));
  }
  // The token itself confirms that the refused key is exportable and the accepted one not.
  EXPECT_TRUE(SoftHsm::Get().InspectKey(kToken, kPin, "exportable").extractable);
  EXPECT_FALSE(SoftHsm::Get().InspectKey(kToken, kPin, "seal-1").extractable);
  EXPECT_TRUE(Pkcs11SealKeyProvider::Open(Location("seal-1"), Pin()).ok());
}

TEST_F(Pkcs11SealKeyProviderTest, AKeyMadeUnextractableInPlaceIsAccepted) {
  const absl::Status before = Pkcs11SealKeyProvider::Open(Location("fixed-later"), Pin()).status();
  EXPECT_THAT(std::string(before.message()), HasSubstr("CKA_EXTRACTABLE true")) << before;
  SoftHsm::Get().MakeUnextractable(kToken, kPin, "fixed-later");
  const auto provider = OpenOrDie("fixed-later");
  const SecretBytes key = SecretBytes::Random(32);
  const std::vector<std::uint8_t> wrapped = ValueOrDie(provider->Wrap(key, AssociatedData({})));
  EXPECT_EQ(Bytes(ValueOrDie(provider->Unwrap(wrapped, AssociatedData({}))).RevealSecret()),
            Bytes(key.RevealSecret()));
}

TEST_F(Pkcs11SealKeyProviderTest, ProvidersShareTheModule) {
  auto first = OpenOrDie("seal-1");
  const auto second = OpenOrDie("seal-2");
  const SecretBytes key = SecretBytes::Random(32);
  const std::vector<std::uint8_t> wrapped = ValueOrDie(second->Wrap(key, AssociatedData({})));
  // Closing one provider neither finalises the module nor logs the token out under the
  // other.
  first.reset();
  EXPECT_EQ(Bytes(ValueOrDie(second->Unwrap(wrapped, AssociatedData({}))).RevealSecret()),
            Bytes(key.RevealSecret()));
  EXPECT_TRUE(second->Wrap(key, AssociatedData({})).ok());
}

TEST_F(Pkcs11SealKeyProviderTest, ConcurrentWrapsFromManyThreads) {
  const auto provider = OpenOrDie("seal-1");
  constexpr int kThreads = 8;
  constexpr int kRounds = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        const SecretBytes key = SecretBytes::Random(32);
        const std::vector<std::uint8_t> ad = {static_cast<std::uint8_t>(t),
                                              static_cast<std::uint8_t>(i)};
        absl::StatusOr<std::vector<std::uint8_t>> wrapped = provider->Wrap(key, AssociatedData(ad));
        if (!wrapped.ok()) {
          ++failures;
          continue;
        }
        absl::StatusOr<SecretBytes> unwrapped = provider->Unwrap(*wrapped, AssociatedData(ad));
        if (!unwrapped.ok() || Bytes(unwrapped->RevealSecret()) != Bytes(key.RevealSecret())) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace credvault::crypto

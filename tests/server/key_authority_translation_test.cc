// The translations of DecryptCredential and of the internal KeyAuthorityService: what a
// write-only process sends (RemoteKeyAuthority) is what the key authority reads back, and a
// decrypted secret reaches the response whole.

#include "server/api/key_authority_translation.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "credvault/v1/credential_access_service.pb.h"
#include "credvault/v1/key_authority.pb.h"
#include "crypto/secret_bytes.h"
#include "crypto/secret_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/api/decrypt_translation.h"
#include "server/api/secret_fields.h"

namespace credvault::server {
namespace {

namespace v1 = ::credvault::v1;
using ::testing::ElementsAre;

std::string Text(crypto::SecretView view) {
  const auto bytes = view.RevealSecret();
  return std::string(bytes.begin(), bytes.end());
}

TEST(KeyAuthorityTranslationTest, ProvisionOrgRoundTripsWithThePinsInOrder) {
  const ProvisionOrgParams sent{.org_id = "acme",
                                .pinned_root_key_versions = {3, 1, 2},
                                .request_id = "req-1",
                                .principal = "spiffe://credvault.test/backend"};
  const v1::ProvisionOrgRequest request = ToApi(sent);
  EXPECT_THAT(request.pinned_root_key_versions(), ElementsAre(3u, 1u, 2u));
  const ProvisionOrgParams read = FromApi(request);
  EXPECT_EQ(read.org_id, "acme");
  EXPECT_THAT(read.pinned_root_key_versions, ElementsAre(3u, 1u, 2u));
  EXPECT_EQ(read.request_id, "req-1");
  EXPECT_EQ(read.principal, "spiffe://credvault.test/backend");
}

TEST(KeyAuthorityTranslationTest, CompareRoundTripsAndKeepsAnUnsetVersionUnset) {
  const std::string candidate("guess\0with a NUL", 16);
  for (const std::optional<std::uint64_t> version :
       {std::optional<std::uint64_t>(), std::optional<std::uint64_t>(7)}) {
    SCOPED_TRACE(version.has_value() ? "version 7" : "no version");
    v1::KeyAuthorityCompareRequest request;
    ToApi(KeyAuthorityCompareParams{.org_id = "acme",
                                    .name = "crm/token",
                                    .version = version,
                                    .candidate = crypto::SecretView::Borrow(candidate),
                                    .principal = "cn:backend",
                                    .request_id = "req-2"},
          &request);
    EXPECT_EQ(request.has_version(), version.has_value());
    const KeyAuthorityCompareParams read = FromApi(request);
    EXPECT_EQ(read.org_id, "acme");
    EXPECT_EQ(read.name, "crm/token");
    EXPECT_EQ(read.version, version);
    EXPECT_EQ(Text(read.candidate), candidate);
    EXPECT_EQ(read.principal, "cn:backend");
    EXPECT_EQ(read.request_id, "req-2");
    // The candidate is borrowed from the message, not copied out of it.
    EXPECT_EQ(static_cast<const void*>(read.candidate.RevealSecret().data()),
              static_cast<const void*>(request.candidate().data()));
    WipeSecretFields(&request);
    EXPECT_TRUE(request.candidate().empty());
  }
  v1::CompareCredentialResponse response;
  response.set_match(true);
  response.set_version(4);
  const CompareCredentialResult result = FromApi(response);
  EXPECT_TRUE(result.match);
  EXPECT_EQ(result.version, 4u);
}

TEST(DecryptTranslationTest, RequestAndResponseCarryEveryField) {
  v1::DecryptCredentialRequest request;
  request.set_org_id("acme");
  request.set_name("crm/token");
  request.set_purpose("sync contacts for job 8812");
  EXPECT_FALSE(FromApi(request).version.has_value());
  request.set_version(0);  // set, though invalid: the handler refuses it, not the translation
  const DecryptCredentialParams params = FromApi(request);
  EXPECT_EQ(params.org_id, "acme");
  EXPECT_EQ(params.name, "crm/token");
  EXPECT_EQ(params.version, std::optional<std::uint64_t>(0));
  EXPECT_EQ(params.purpose, "sync contacts for job 8812");

  DecryptCredentialResult result;
  result.secret = crypto::SecretBytes::CopyFrom(std::string_view("s3cr\0t", 6));
  result.credential.org_id = "acme";
  result.credential.name = "crm/token";
  result.credential.version = 2;
  result.credential.create_time = absl::FromUnixSeconds(1700000000);
  result.audit_sequence = 42;
  const v1::DecryptCredentialResponse response = ToApi(result);
  EXPECT_EQ(response.secret(), std::string("s3cr\0t", 6));
  EXPECT_EQ(response.credential().name(), "crm/token");
  EXPECT_EQ(response.credential().version(), 2u);
  EXPECT_EQ(response.credential().create_time().seconds(), 1700000000);
  EXPECT_EQ(response.audit_sequence(), 42u);
  // The result keeps its own copy, which it wipes when it dies.
  EXPECT_EQ(Text(result.secret), std::string("s3cr\0t", 6));
}

}  // namespace
}  // namespace credvault::server

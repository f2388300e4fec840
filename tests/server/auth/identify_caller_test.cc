// IdentifyCaller over a gRPC AuthContext and client metadata.
#include "server/auth/identify_caller.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/auth/auth_test_util.h"
#include "tests/server/auth/service_account_test_util.h"

namespace credvault::server {
namespace {

using ::credvault::server::testing::Jwks;
using ::credvault::server::testing::MakeCertificate;
using ::credvault::server::testing::ServiceAccountClaims;
using ::credvault::server::testing::TempDir;
using ::credvault::server::testing::TestSigningKey;
using ::credvault::server::testing::WriteAll;
using ::testing::HasSubstr;
using ::testing::Not;

// An AuthContext with a fixed set of properties, as a TLS peer's would have.
class FakeAuthContext final : public grpc::AuthContext {
 public:
  explicit FakeAuthContext(std::multimap<std::string, std::string> properties)
      : properties_(std::move(properties)) {}

  bool IsPeerAuthenticated() const override { return !properties_.empty(); }
  std::vector<grpc::string_ref> GetPeerIdentity() const override { return {}; }
  std::string GetPeerIdentityPropertyName() const override { return ""; }
  std::vector<grpc::string_ref> FindPropertyValues(const std::string& name) const override {
    std::vector<grpc::string_ref> values;
    const auto [first, last] = properties_.equal_range(name);
    for (auto it = first; it != last; ++it) values.emplace_back(it->second);
    return values;
  }
  grpc::AuthPropertyIterator begin() const override { return EmptyIterator(); }
  grpc::AuthPropertyIterator end() const override { return EmptyIterator(); }
  void AddProperty(const std::string& key, const grpc::string_ref& value) override {
    properties_.emplace(key, std::string(value.data(), value.size()));
  }
  bool SetPeerIdentityPropertyName(const std::string&) override { return false; }

 private:
  struct EmptyIterator : grpc::AuthPropertyIterator {};

  std::multimap<std::string, std::string> properties_;
};

const std::string kToken = "ci-worker-token-0123456789abcdef0123456789";

Policy TestPolicy() {
  absl::StatusOr<Policy> policy = Policy::Parse(
      absl::StrCat("principals:\n  - token_name: ci-worker\n    token_hash: \"",
                   HashBearerToken(kToken), "\"\n    roles: [decryptor]\n    orgs: [org-a]\n"),
      "policy.yaml");
  EXPECT_TRUE(policy.ok()) << policy.status();
  return *std::move(policy);
}

using Metadata = std::multimap<grpc::string_ref, grpc::string_ref>;

class IdentifyCallerTest : public ::testing::Test {
 protected:
  const Policy policy_ = TestPolicy();
  TempDir dir_;
};

TEST_F(IdentifyCallerTest, CertificateIsPreferredOverToken) {
  const std::string pem = MakeCertificate(dir_, "/CN=x", "URI:spiffe://example.org/backend");
  const FakeAuthContext context({{"transport_security_type", "ssl"}, {"x509_pem_cert", pem}});
  const std::string header = "Bearer " + kToken;
  const Metadata metadata{{"authorization", header}};
  const absl::StatusOr<Principal> principal = IdentifyCaller(&context, metadata, policy_);
  ASSERT_TRUE(principal.ok()) << principal.status();
  EXPECT_EQ(principal->id, "spiffe://example.org/backend");
  EXPECT_EQ(principal->source, PrincipalSource::kCertificate);
}

TEST_F(IdentifyCallerTest, CertificateWithoutIdentityIsRefused) {
  const std::string pem = MakeCertificate(dir_, "/O=nobody", "");
  const FakeAuthContext context({{"x509_pem_cert", pem}});
  EXPECT_EQ(IdentifyCaller(&context, {}, policy_).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(IdentifyCallerTest, BearerTokenWithoutCertificate) {
  const FakeAuthContext plaintext({});
  const std::string header = "Bearer " + kToken;
  const Metadata metadata{{"user-agent", "grpc-c++"}, {"authorization", header}};
  for (const grpc::AuthContext* context : {static_cast<const grpc::AuthContext*>(&plaintext),
                                           static_cast<const grpc::AuthContext*>(nullptr)}) {
    const absl::StatusOr<Principal> principal = IdentifyCaller(context, metadata, policy_);
    ASSERT_TRUE(principal.ok()) << principal.status();
    EXPECT_EQ(principal->id, "token:ci-worker");
    EXPECT_EQ(principal->source, PrincipalSource::kToken);
  }
}

TEST_F(IdentifyCallerTest, ServiceAccountTokensAreRoutedToTheVerifier) {
  const TestSigningKey key("ES256", "cluster-1");
  WriteAll(dir_.File("jwks.json"), Jwks({&key}));
  KubernetesAuthConfig config;
  config.issuer = "https://kubernetes.default.svc.cluster.local";
  config.jwks_file = dir_.File("jwks.json");
  absl::StatusOr<std::unique_ptr<ServiceAccountTokenVerifier>> verifier =
      ServiceAccountTokenVerifier::Create(config);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  const std::string jwt =
      key.Sign(ServiceAccountClaims(config.issuer, "credvault", "jobs", "worker"));
  const std::string jwt_header = "Bearer " + jwt;
  const std::string static_header = "Bearer " + kToken;
  const FakeAuthContext plaintext({});

  // Without auth.kubernetes a JWT is just an unknown bearer token.
  EXPECT_THAT(
      IdentifyCaller(&plaintext, {{"authorization", jwt_header}}, policy_).status().message(),
      HasSubstr("unknown bearer token"));

  Policy policy = TestPolicy();
  policy.set_service_account_tokens(std::move(*verifier));
  absl::StatusOr<Principal> principal =
      IdentifyCaller(&plaintext, {{"authorization", jwt_header}}, policy);
  ASSERT_TRUE(principal.ok()) << principal.status();
  EXPECT_EQ(principal->id, "k8s:jobs/worker");
  EXPECT_EQ(principal->source, PrincipalSource::kServiceAccount);
  // Static tokens still work beside it.
  principal = IdentifyCaller(&plaintext, {{"authorization", static_header}}, policy);
  ASSERT_TRUE(principal.ok()) << principal.status();
  EXPECT_EQ(principal->id, "token:ci-worker");
  // A refused JWT says why, without the token.
  const std::string wrong_audience =
      "Bearer " + key.Sign(ServiceAccountClaims(config.issuer, "other", "jobs", "worker"));
  const absl::Status refused =
      IdentifyCaller(&plaintext, {{"authorization", wrong_audience}}, policy).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(refused.message(), HasSubstr("wrong audience"));
  EXPECT_THAT(refused.message(), Not(HasSubstr(wrong_audience.substr(7, 20))));
}

TEST_F(IdentifyCallerTest, CertificatesCannotClaimServiceAccountNames) {
  const std::string pem = MakeCertificate(dir_, "/CN=x", "URI:k8s:jobs/worker");
  const FakeAuthContext context({{"x509_pem_cert", pem}});
  const absl::Status refused = IdentifyCaller(&context, {}, policy_).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(refused.message(), HasSubstr("reserved"));
}

TEST_F(IdentifyCallerTest, MissingMalformedRepeatedAndUnknownCredentials) {
  const FakeAuthContext plaintext({});
  const auto refusal = [&](const Metadata& metadata) {
    return IdentifyCaller(&plaintext, metadata, policy_).status();
  };
  absl::Status status = refusal({});
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(status.message(), "no client certificate or bearer token");

  const std::string basic = "Basic " + kToken;
  status = refusal({{"authorization", basic}});
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(status.message()), HasSubstr("malformed authorization header"));
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr(kToken)));

  const std::string good = "Bearer " + kToken;
  status = refusal({{"authorization", good}, {"authorization", good}});
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(status.message(), "more than one authorization header");

  const std::string unknown = "Bearer " + kToken + "-revoked";
  status = refusal({{"authorization", unknown}});
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(status.message(), "unknown bearer token");
}

}  // namespace
}  // namespace credvault::server

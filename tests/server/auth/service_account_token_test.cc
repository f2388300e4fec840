// ServiceAccountTokenVerifier against tokens minted with keys made at test time.
#include "server/auth/service_account_token.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/auth/auth_test_util.h"
#include "tests/server/auth/service_account_test_util.h"

namespace credvault::server {
namespace {

using ::credvault::server::testing::Base64Url;
using ::credvault::server::testing::Jwks;
using ::credvault::server::testing::ServiceAccountClaims;
using ::credvault::server::testing::TempDir;
using ::credvault::server::testing::TestSigningKey;
using ::credvault::server::testing::WriteAll;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kIssuer[] = "https://kubernetes.default.svc.cluster.local";

std::vector<std::string> Parts(const std::string& token) { return absl::StrSplit(token, '.'); }

class ServiceAccountTokenTest : public ::testing::Test {
 protected:
  ServiceAccountTokenTest() : rsa_("RS256", "rsa-1"), ec_("ES256", "ec-1") {
    WriteAll(dir_.File("jwks.json"), Jwks({&rsa_, &ec_}));
    config_.issuer = kIssuer;
    config_.jwks_file = dir_.File("jwks.json");
    absl::StatusOr<std::unique_ptr<ServiceAccountTokenVerifier>> verifier =
        ServiceAccountTokenVerifier::Create(config_);
    if (!verifier.ok()) ADD_FAILURE() << verifier.status();
    verifier_ = *std::move(verifier);
  }

  nlohmann::json Claims() const {
    return ServiceAccountClaims(kIssuer, "credvault", "jobs", "worker");
  }

  // The refusal message of `token`, or "accepted".
  std::string Refusal(const std::string& token) const {
    const absl::StatusOr<Principal> principal = verifier_->Verify(token);
    if (principal.ok()) return "accepted";
    EXPECT_EQ(principal.status().code(), absl::StatusCode::kUnauthenticated);
    for (const std::string& part : Parts(token)) {
      if (part.size() >= 8) {
        EXPECT_THAT(principal.status().message(), Not(HasSubstr(part)));
      }
    }
    return std::string(principal.status().message());
  }

  TempDir dir_;
  TestSigningKey rsa_;
  TestSigningKey ec_;
  KubernetesAuthConfig config_;
  std::unique_ptr<ServiceAccountTokenVerifier> verifier_;
};

TEST_F(ServiceAccountTokenTest, ValidTokensNameTheServiceAccount) {
  for (const TestSigningKey* key : {&rsa_, &ec_}) {
    const absl::StatusOr<Principal> principal = verifier_->Verify(key->Sign(Claims()));
    ASSERT_TRUE(principal.ok()) << key->kid() << ": " << principal.status();
    EXPECT_EQ(principal->id, "k8s:jobs/worker");
    EXPECT_EQ(principal->source, PrincipalSource::kServiceAccount);
  }
  nlohmann::json claims = ServiceAccountClaims(kIssuer, "credvault", "payments-prod", "api.v2");
  claims["aud"] = "credvault";  // a single audience may be a plain string
  const absl::StatusOr<Principal> principal = verifier_->Verify(rsa_.Sign(claims));
  ASSERT_TRUE(principal.ok()) << principal.status();
  EXPECT_EQ(principal->id, "k8s:payments-prod/api.v2");
}

TEST_F(ServiceAccountTokenTest, TimeClaimsAreCheckedWithSkew) {
  nlohmann::json claims = Claims();
  const std::int64_t now = claims["iat"].get<std::int64_t>();
  claims["exp"] = now - 3600;
  EXPECT_THAT(Refusal(rsa_.Sign(claims)), HasSubstr("expired"));
  claims["iat"] = now - 7200;
  claims["nbf"] = now - 7200;
  claims["exp"] = now - 30;  // within the default 60 s of skew
  EXPECT_EQ(Refusal(rsa_.Sign(claims)), "accepted");
  claims.erase("exp");
  EXPECT_THAT(Refusal(rsa_.Sign(claims)), HasSubstr("no exp"));

  claims = Claims();
  claims["nbf"] = now + 3600;
  EXPECT_THAT(Refusal(rsa_.Sign(claims)), HasSubstr("not yet valid"));
  claims = Claims();
  claims["iat"] = now + 3600;
  EXPECT_THAT(Refusal(rsa_.Sign(claims)), HasSubstr("issued in the future"));
  claims = Claims();
  claims["exp"] = "tomorrow";
  EXPECT_THAT(Refusal(rsa_.Sign(claims)), HasSubstr("exp is not a number"));

  // The clock is the verifier's: the same token, later, is expired.
  const std::string token = rsa_.Sign(Claims());
  EXPECT_TRUE(verifier_->VerifyAt(token, absl::Now()).ok());
  EXPECT_FALSE(verifier_->VerifyAt(token, absl::Now() + absl::Hours(2)).ok());
}

TEST_F(ServiceAccountTokenTest, IssuerAndAudienceMustMatch) {
  EXPECT_THAT(Refusal(rsa_.Sign(ServiceAccountClaims(kIssuer, "vault", "jobs", "worker"))),
              HasSubstr("wrong audience"));
  nlohmann::json claims = Claims();
  claims["aud"] = nlohmann::json::array({"api", "credvault-x"});
  EXPECT_THAT(Refusal(rsa_.Sign(claims)), HasSubstr("wrong audience"));
  claims.erase("aud");
  EXPECT_THAT(Refusal(rsa_.Sign(claims)), HasSubstr("wrong audience"));
  EXPECT_THAT(Refusal(rsa_.Sign(
                  ServiceAccountClaims("https://other.cluster", "credvault", "jobs", "worker"))),
              HasSubstr("wrong issuer"));
}

TEST_F(ServiceAccountTokenTest, UnsignedAndSymmetricTokensAreRefused) {
  const std::string payload = Base64Url(Claims().dump());
  const std::string none_header = Base64Url(R"({"alg":"none","kid":"rsa-1"})");
  EXPECT_THAT(Refusal(none_header + "." + payload + "."), HasSubstr("alg none"));
  EXPECT_THAT(Refusal(none_header + "." + payload + ".c2ln"), HasSubstr("alg none"));

  // Key confusion: HS256 keyed with what the verifier holds publicly.
  for (const std::string& secret :
       {rsa_.PublicJwk().dump(), rsa_.PublicJwk()["n"].get<std::string>()}) {
    const std::string signing_input = Base64Url(R"({"alg":"HS256","kid":"rsa-1"})") + "." + payload;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_length = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac,
         &mac_length);
    const std::string token =
        signing_input + "." + Base64Url(std::string(reinterpret_cast<char*>(mac), mac_length));
    EXPECT_THAT(Refusal(token), HasSubstr("symmetric"));
  }
}

TEST_F(ServiceAccountTokenTest, KeysAreChosenByKidAndMustFitTheAlgorithm) {
  const TestSigningKey stranger("RS256", "rsa-2");
  EXPECT_THAT(Refusal(stranger.Sign(Claims())), HasSubstr("unknown key id"));
  // Same kid as a trusted key, but not its private half.
  const TestSigningKey impostor("RS256", "rsa-1");
  EXPECT_THAT(Refusal(impostor.Sign(Claims())), HasSubstr("bad signature"));
  // Two keys in the set: a token must say which.
  EXPECT_THAT(Refusal(rsa_.Sign(Claims(), /*with_kid=*/false)), HasSubstr("no key id"));

  // An ES256 header naming the RSA key.
  const std::vector<std::string> ec_token = Parts(ec_.Sign(Claims()));
  const std::string forged =
      Base64Url(R"({"alg":"ES256","kid":"rsa-1"})") + "." + ec_token[1] + "." + ec_token[2];
  EXPECT_THAT(Refusal(forged), HasSubstr("does not fit the key"));
  // RS384 against a key published for RS256 only.
  const std::vector<std::string> rsa_token = Parts(rsa_.Sign(Claims()));
  EXPECT_THAT(Refusal(Base64Url(R"({"alg":"RS384","kid":"rsa-1"})") + "." + rsa_token[1] + "." +
                      rsa_token[2]),
              HasSubstr("does not fit the key"));
}

TEST_F(ServiceAccountTokenTest, TamperedPayloadIsRefused) {
  const std::vector<std::string> parts = Parts(rsa_.Sign(Claims()));
  nlohmann::json claims = Claims();
  claims["kubernetes.io"]["namespace"] = "kube-system";
  EXPECT_THAT(Refusal(parts[0] + "." + Base64Url(claims.dump()) + "." + parts[2]),
              HasSubstr("bad signature"));
}

TEST_F(ServiceAccountTokenTest, RequiresTheKubernetesClaims) {
  nlohmann::json claims = Claims();
  claims.erase("kubernetes.io");
  EXPECT_THAT(Refusal(rsa_.Sign(claims)), HasSubstr("kubernetes.io"));
  claims = Claims();
  claims["kubernetes.io"]["namespace"] = "Jobs/../x";
  EXPECT_THAT(Refusal(rsa_.Sign(claims)), HasSubstr("not a valid name"));
  claims = Claims();
  claims["kubernetes.io"]["serviceaccount"] = "worker";
  EXPECT_THAT(Refusal(rsa_.Sign(claims)), HasSubstr("not a valid name"));
}

TEST_F(ServiceAccountTokenTest, ReloadSwitchesKeysAndKeepsTheLastGoodSet) {
  const TestSigningKey next("RS256", "rsa-2");
  const std::string old_token = rsa_.Sign(Claims());
  const std::string new_token = next.Sign(Claims());
  EXPECT_EQ(Refusal(old_token), "accepted");
  EXPECT_THAT(Refusal(new_token), HasSubstr("unknown key id"));

  WriteAll(config_.jwks_file, Jwks({&next}));
  ASSERT_TRUE(verifier_->Reload().ok());
  EXPECT_THAT(Refusal(old_token), HasSubstr("unknown key id"));
  EXPECT_EQ(Refusal(new_token), "accepted");

  for (const std::string& broken :
       {std::string("{\"keys\": ["), std::string("{\"keys\": []}"), std::string("[]"), Jwks({}),
        std::string("{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\"}]}")}) {
    WriteAll(config_.jwks_file, broken);
    EXPECT_FALSE(verifier_->Reload().ok()) << broken;
    EXPECT_EQ(Refusal(new_token), "accepted") << broken;
  }
  std::remove(config_.jwks_file.c_str());
  EXPECT_EQ(verifier_->Reload().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Refusal(new_token), "accepted");
}

TEST_F(ServiceAccountTokenTest, BackgroundRefreshPicksUpANewKeySet) {
  KubernetesAuthConfig config = config_;
  config.refresh_interval = absl::Milliseconds(50);
  std::atomic<int> failures{0};
  absl::StatusOr<std::unique_ptr<ServiceAccountTokenVerifier>> verifier =
      ServiceAccountTokenVerifier::Create(config, [&](const absl::Status&) { ++failures; });
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  const TestSigningKey next("ES256", "ec-2");
  WriteAll(config.jwks_file, "not json");
  for (int i = 0; i < 200 && failures == 0; ++i) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_GT(failures.load(), 0);
  EXPECT_TRUE((*verifier)->Verify(rsa_.Sign(Claims())).ok());  // still the last good set
  WriteAll(config.jwks_file, Jwks({&next}));
  bool switched = false;
  for (int i = 0; i < 200 && !switched; ++i) {
    switched = (*verifier)->Verify(next.Sign(Claims())).ok();
    if (!switched) absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(switched);
}

TEST_F(ServiceAccountTokenTest, CreateRefusesUnusableKeySets) {
  KubernetesAuthConfig config = config_;
  config.jwks_file = dir_.File("missing.json");
  EXPECT_EQ(ServiceAccountTokenVerifier::Create(config).status().code(),
            absl::StatusCode::kNotFound);
  nlohmann::json with_private = nlohmann::json::parse(Jwks({&rsa_}));
  with_private["keys"][0]["d"] = "AQAB";
  WriteAll(dir_.File("private.json"), with_private.dump());
  config.jwks_file = dir_.File("private.json");
  const absl::Status status = ServiceAccountTokenVerifier::Create(config).status();
  EXPECT_THAT(status.message(), HasSubstr("private key"));
  config.jwks_file.clear();
  EXPECT_FALSE(ServiceAccountTokenVerifier::Create(config).ok());
}

TEST_F(ServiceAccountTokenTest, MalformedTokensNeverCrash) {
  const std::string valid = rsa_.Sign(Claims());
  for (const std::string& token :
       {std::string(""), std::string("."), std::string(".."), std::string("..."),
        std::string("a.b.c"), std::string("e30.e30.e30"), std::string("e30.e30."),
        Base64Url(R"({"alg":"RS256"})") + "..",
        Base64Url(R"({"alg":"RS256","kid":"rsa-1"})") + ".!!.x",
        Base64Url("[]") + "." + Base64Url("{}") + ".", Base64Url(R"({"alg":7})") + ".e30.e30",
        std::string(10000, 'a'), valid + ".", valid.substr(0, valid.size() / 2)}) {
    EXPECT_NE(Refusal(token), "accepted") << token;
  }
  std::mt19937 random(12345);
  for (int i = 0; i < 500; ++i) {
    std::string token = valid;
    const int edits = 1 + static_cast<int>(random() % 3);
    for (int e = 0; e < edits; ++e) {
      token[random() % token.size()] = static_cast<char>(random() % 256);
    }
    const absl::StatusOr<Principal> principal = verifier_->Verify(token);
    if (principal.ok()) {
      EXPECT_EQ(principal->id, "k8s:jobs/worker");  // only harmless edits
    }
  }
}

TEST(LooksLikeJwtTest, TellsJwtsFromStaticTokens) {
  const TestSigningKey key("ES256", "k");
  EXPECT_TRUE(LooksLikeJwt(key.Sign(ServiceAccountClaims(kIssuer, "credvault", "a", "b"))));
  EXPECT_TRUE(LooksLikeJwt(Base64Url(R"({"alg":"none"})") + ".e30."));
  EXPECT_FALSE(LooksLikeJwt("q8VtV0Vb6q3a2n+0b0mKk2yX1vZ0H4o6cGq3h3J1o2E="));
  EXPECT_FALSE(LooksLikeJwt("0123456789abcdef0123456789abcdef"));
  EXPECT_FALSE(LooksLikeJwt("abc.def.ghi"));
  EXPECT_FALSE(LooksLikeJwt(Base64Url(R"({"typ":"JWT"})") + ".e30.e30"));
}

TEST(ServiceAccountPrincipalIdTest, FollowsKubernetesNames) {
  for (const char* id : {"k8s:jobs/worker", "k8s:a/b", "k8s:kube-system/api.v2-x", "k8s:0/0"}) {
    EXPECT_TRUE(ValidateServiceAccountPrincipalId(id).ok()) << id;
  }
  for (const char* id : {"k8s:", "k8s:jobs", "k8s:/worker", "k8s:jobs/", "k8s:Jobs/worker",
                         "k8s:jobs/worker/x", "k8s:-jobs/worker", "k8s:jobs/.worker",
                         "k8s:jobs/wor..ker", "k8s:jo.bs/worker", "token:jobs/worker"}) {
    EXPECT_FALSE(ValidateServiceAccountPrincipalId(id).ok()) << id;
  }
  EXPECT_FALSE(ValidateServiceAccountPrincipalId("k8s:" + std::string(64, 'a') + "/w").ok());
  EXPECT_TRUE(ValidateServiceAccountPrincipalId("k8s:" + std::string(63, 'a') + "/w").ok());
}

}  // namespace
}  // namespace credvault::server

// Kubernetes workload identity: a worker without a client certificate decrypts with its
// projected ServiceAccount token (audience credvault), verified by credvaultd offline
// against the cluster's key set (auth.kubernetes.jwks_file), and is turned away with an
// expired token, a token for another audience, or one from a key the cluster never had.
#include <signal.h>

#include <ctime>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/support/e2e_support.h"
#include "tests/server/auth/service_account_test_util.h"

namespace credvault::e2e {
namespace {

using ::credvault::server::testing::Jwks;
using ::credvault::server::testing::ServiceAccountClaims;
using ::credvault::server::testing::TestSigningKey;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kIssuer[] = "https://kubernetes.default.svc.cluster.local";
constexpr char kOrg[] = "wi-org";

// The test's cluster: its service account signing key.
const TestSigningKey& ClusterKey() {
  static const TestSigningKey* key = new TestSigningKey("RS256", "e2e-cluster-key");
  return *key;
}

// The dev stack, then auth.kubernetes with the cluster's key set in the stack directory
// (known only once the stack exists), picked up by a credvaultd started with it.
class WorkloadIdentityStack : public StackEnvironment {
 public:
  WorkloadIdentityStack() : StackEnvironment("workload-identity") {}
  void SetUp() override {
    StackEnvironment::SetUp();
    const Stack* stack = CurrentStack();
    ASSERT_NE(stack, nullptr);
    const std::string jwks = stack->dir + "/jwks.json";
    WriteFileOrDie(jwks, Jwks({&ClusterKey()}));
    WriteFileOrDie(stack->config, ReadFileOrEmpty(stack->config) +
                                      "\nauth:\n  kubernetes:\n    issuer: \"" + kIssuer +
                                      "\"\n    jwks_file: \"" + jwks + "\"\n");
    const pid_t previous = stack->pid;
    ASSERT_EQ(StartCredvaultd(), "");
    ASSERT_TRUE(StopCredvaultd(previous, SIGTERM));
  }
};

[[maybe_unused]] ::testing::Environment* const kStack =
    ::testing::AddGlobalTestEnvironment(new WorkloadIdentityStack());

const Stack& TheStack() {
  const Stack* stack = CurrentStack();
  if (stack == nullptr) {
    std::cerr << "no stack\n";
    std::abort();
  }
  return *stack;
}

Clients DecryptClients(const std::string& token) {
  return Clients(TlsChannel(TheStack(), TheStack().decrypt_addr, Caller::Token(token)));
}

class WorkloadIdentityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Clients backend(TlsChannel(TheStack(), TheStack().write_addr, Caller::Cert("backend")));
    ASSERT_TRUE(Put(backend, PutRequest(kOrg, "crm-token", "s3cret-for-jobs")).ok());
    ASSERT_TRUE(Put(backend, PutRequest("wi-other", "crm-token", "not-for-jobs")).ok());
    ASSERT_EQ(AddPolicyPrincipal({"id: \"k8s:jobs/worker\"", "roles: [decryptor]",
                                  std::string("orgs: [") + kOrg + "]"}),
              "");
  }

  static nlohmann::json Claims(const std::string& audience = "credvault",
                               const std::string& name = "worker") {
    return ServiceAccountClaims(kIssuer, audience, "jobs", name);
  }
};

TEST_F(WorkloadIdentityTest, ServiceAccountTokenDecryptsWithoutAClientCertificate) {
  const std::string token = ClusterKey().Sign(Claims());
  Clients worker = DecryptClients(token);
  std::string secret;
  const Outcome outcome = Decrypt(worker, kOrg, "crm-token", &secret);
  ASSERT_TRUE(outcome.ok()) << outcome;
  EXPECT_EQ(secret, "s3cret-for-jobs");
  // Only the orgs the policy names.
  EXPECT_EQ(Decrypt(worker, "wi-other", "crm-token").code, grpc::StatusCode::PERMISSION_DENIED);
  // The audit log and the server log name the service account, never the token.
  EXPECT_GT(CountInLog("k8s:jobs/worker"), 0);
  EXPECT_EQ(CountInLog(token.substr(token.rfind('.') + 1, 40)), 0);
  EXPECT_EQ(CountInLog(token.substr(0, 40)), 0);
}

TEST_F(WorkloadIdentityTest, ExpiredWrongAudienceAndForeignTokensAreRefused) {
  nlohmann::json expired = Claims();
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  expired["iat"] = now - 7200;
  expired["nbf"] = now - 7200;
  expired["exp"] = now - 3600;
  const TestSigningKey foreign("RS256", "e2e-cluster-key");  // same kid, another key
  const struct {
    std::string what;
    std::string token;
    std::string why;
  } cases[] = {
      {"expired", ClusterKey().Sign(expired), "expired"},
      {"wrong audience", ClusterKey().Sign(Claims("vault")), "wrong audience"},
      {"foreign key", foreign.Sign(Claims()), "bad signature"},
  };
  for (const auto& refused : cases) {
    Clients worker = DecryptClients(refused.token);
    const Outcome outcome = Decrypt(worker, kOrg, "crm-token");
    EXPECT_EQ(outcome.code, grpc::StatusCode::UNAUTHENTICATED) << refused.what << ": " << outcome;
    EXPECT_THAT(outcome.message, HasSubstr(refused.why)) << refused.what;
    EXPECT_THAT(outcome.message, Not(HasSubstr(refused.token.substr(0, 30)))) << refused.what;
  }
  // A valid token of a service account the policy does not name: authenticated, denied.
  Clients stranger = DecryptClients(ClusterKey().Sign(Claims("credvault", "other")));
  EXPECT_EQ(Decrypt(stranger, kOrg, "crm-token").code, grpc::StatusCode::PERMISSION_DENIED);
}

}  // namespace
}  // namespace credvault::e2e

// The access policy: strict parsing, default deny, role and org scoping, token lookup.
#include "server/auth/policy.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace credvault::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kTokenA = "token-a-0123456789abcdef0123456789abcdef";
const std::string kTokenB = "token-b-0123456789abcdef0123456789abcdef";
const std::string kTokenC = "token-c-0123456789abcdef0123456789abcdef";

std::string BasePolicy() {
  return absl::StrCat(R"(
principals:
  - id: "spiffe://example.org/backend"
    roles: [writer]
    orgs: ["*"]
  - id: "dns:ops.example.org"
    roles: [admin, auditor]
    orgs: ["*"]
  - id: "cn:auditor-a"
    roles: [auditor]
    orgs: [org-a]
  - token_name: first
    token_hash: ")",
                      HashBearerToken(kTokenA), R"("
    roles: [decryptor]
    orgs: [org-a, org-b]
  - token_name: ci-worker
    token_hash: ")",
                      HashBearerToken(kTokenB), R"("
    roles: [decryptor, writer]
    orgs: [org-c]
  - token_name: last
    token_hash: ")",
                      HashBearerToken(kTokenC), R"("
    roles: [auditor]
    orgs: ["*"]
)");
}

Policy MustParse(const std::string& yaml) {
  absl::StatusOr<Policy> policy = Policy::Parse(yaml, "policy.yaml");
  EXPECT_TRUE(policy.ok()) << policy.status();
  return policy.ok() ? *std::move(policy) : Policy();
}

Principal Cert(const std::string& id) {
  return {.id = id, .source = PrincipalSource::kCertificate};
}
Principal Token(const std::string& name) {
  return {.id = "token:" + name, .source = PrincipalSource::kToken};
}

::testing::AssertionResult IsInvalid(const std::string& yaml, const std::string& expected) {
  const absl::StatusOr<Policy> policy = Policy::Parse(yaml, "policy.yaml");
  if (policy.ok()) return ::testing::AssertionFailure() << "parsed";
  if (policy.status().code() != absl::StatusCode::kInvalidArgument ||
      std::string(policy.status().message()).find(expected) == std::string::npos) {
    return ::testing::AssertionFailure()
           << "expected \"" << expected << "\", got " << policy.status();
  }
  return ::testing::AssertionSuccess();
}

TEST(PolicyTest, ParsingErrorsNameTheKey) {
  EXPECT_TRUE(IsInvalid("principal: []\n", "principal: unknown key; known keys: principals"));
  EXPECT_TRUE(IsInvalid("{}\n", "principals: required"));
  EXPECT_TRUE(
      IsInvalid("principals:\n  - id: a\n    roles: [writer]\n    orgs: [x]\n    org: [y]\n",
                "principals[0].org: unknown key; known keys: id, token_name, token_hash, "
                "roles, orgs"));
  EXPECT_TRUE(
      IsInvalid("principals:\n  - id: a\n    roles: [reader]\n    orgs: [x]\n",
                "principals[0].roles[0]: must be one of: writer, decryptor, admin, auditor"));
  EXPECT_TRUE(
      IsInvalid("principals:\n  - id: a\n    orgs: [x]\n", "principals[0].roles: required"));
  EXPECT_TRUE(
      IsInvalid("principals:\n  - id: a\n    roles: [writer]\n", "principals[0].orgs: required"));
  EXPECT_TRUE(IsInvalid("principals:\n  - id: a\n    roles: [writer]\n    orgs: [Org-A]\n",
                        "principals[0].orgs[0]: must be \"*\" or an org id"));
  EXPECT_TRUE(IsInvalid("principals:\n  - id: a\n    roles: [writer]\n    orgs: [\"*\", org-a]\n",
                        "principals[0].orgs: \"*\" already covers every org"));
  EXPECT_TRUE(IsInvalid("principals:\n  - id: a\n    roles: [writer, writer]\n    orgs: [x]\n",
                        "principals[0].roles[1]: duplicate entry writer"));
  EXPECT_TRUE(IsInvalid("principals:\n  - roles: [writer]\n    orgs: [x]\n",
                        "principals[0]: set id (certificate identity), or token_name and "
                        "token_hash"));
  EXPECT_TRUE(
      IsInvalid(absl::StrCat("principals:\n  - id: a\n    token_name: t\n    token_hash: \"",
                             HashBearerToken(kTokenA),
                             "\"\n    roles: [writer]\n    "
                             "orgs: [x]\n"),
                "principals[0]: set either id (certificate identity) or token_name"));
  EXPECT_TRUE(IsInvalid("principals:\n  - token_name: t\n    roles: [writer]\n    orgs: [x]\n",
                        "principals[0].token_hash: required with token_name"));
  EXPECT_TRUE(
      IsInvalid("principals:\n  - token_name: t\n    token_hash: \"sha1:00\"\n    roles: "
                "[writer]\n    orgs: [x]\n",
                "principals[0].token_hash: must be \"blake2b256:\" and 64 hex digits"));
  EXPECT_TRUE(
      IsInvalid("principals:\n  - id: \"token:ci-worker\"\n    roles: [writer]\n    orgs: [x]\n",
                "principals[0].id: \"token:\" ids are reserved"));
  EXPECT_TRUE(IsInvalid("principals:\n  - id: \"a\\nb\"\n    roles: [writer]\n    orgs: [x]\n",
                        "principals[0].id: principal ids are printable ASCII"));
  EXPECT_TRUE(IsInvalid("principals: {id: a}\n", "principals: expected a list"));
}

TEST(PolicyTest, DuplicatesAreRejected) {
  EXPECT_TRUE(
      IsInvalid(BasePolicy() + "  - id: \"cn:auditor-a\"\n    roles: [writer]\n    orgs: [x]\n",
                "principals[6].id: duplicate principal cn:auditor-a"));
  EXPECT_TRUE(IsInvalid(absl::StrCat(BasePolicy(), "  - token_name: first\n    token_hash: \"",
                                     HashBearerToken("another-token-0123456789abcdef0123456"),
                                     "\"\n    roles: [writer]\n    orgs: [x]\n"),
                        "principals[6].token_name: duplicate token name first"));
  const std::string same_token =
      absl::StrCat(BasePolicy(), "  - token_name: again\n    token_hash: \"",
                   HashBearerToken(kTokenB), "\"\n    roles: [writer]\n    orgs: [x]\n");
  EXPECT_TRUE(IsInvalid(same_token, "principals[6].token_hash: same token as principals[4]"));
}

TEST(PolicyTest, DefaultDeny) {
  const Policy empty;
  EXPECT_EQ(empty.Authorize(Cert("spiffe://example.org/backend"), Role::kWriter, "org-a").code(),
            absl::StatusCode::kPermissionDenied);
  const Policy policy = MustParse(BasePolicy());
  EXPECT_EQ(policy.principal_count(), 6u);
  const absl::Status denied =
      policy.Authorize(Cert("spiffe://example.org/unknown"), Role::kWriter, "org-a");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.message(),
            "principal spiffe://example.org/unknown may not act as writer for org org-a");
}

TEST(PolicyTest, RolesAndOrgsAreScoped) {
  const Policy policy = MustParse(BasePolicy());
  // Wildcard scope.
  EXPECT_TRUE(policy.Authorize(Cert("spiffe://example.org/backend"), Role::kWriter, "org-a").ok());
  EXPECT_TRUE(policy.Authorize(Cert("spiffe://example.org/backend"), Role::kWriter, "zz9").ok());
  EXPECT_FALSE(
      policy.Authorize(Cert("spiffe://example.org/backend"), Role::kDecryptor, "org-a").ok());
  // Listed orgs only.
  EXPECT_TRUE(policy.Authorize(Token("first"), Role::kDecryptor, "org-a").ok());
  EXPECT_TRUE(policy.Authorize(Token("first"), Role::kDecryptor, "org-b").ok());
  const absl::Status other_org = policy.Authorize(Token("first"), Role::kDecryptor, "org-c");
  EXPECT_EQ(other_org.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(other_org.message(), "principal token:first may not act as decryptor for org org-c");
  EXPECT_FALSE(policy.Authorize(Token("first"), Role::kWriter, "org-a").ok());
  EXPECT_TRUE(policy.Authorize(Token("ci-worker"), Role::kWriter, "org-c").ok());
  EXPECT_TRUE(policy.Authorize(Cert("cn:auditor-a"), Role::kAuditor, "org-a").ok());
  EXPECT_FALSE(policy.Authorize(Cert("cn:auditor-a"), Role::kAuditor, "org-b").ok());
  // The same message whatever the reason, so a denial tells nothing about the policy.
  EXPECT_EQ(policy.Authorize(Token("nobody"), Role::kDecryptor, "org-c").message(),
            "principal token:nobody may not act as decryptor for org org-c");
  // A malformed org id is denied and not repeated.
  const absl::Status malformed =
      policy.Authorize(Cert("spiffe://example.org/backend"), Role::kWriter, "Org\nforged log line");
  EXPECT_EQ(malformed.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(malformed.message()), Not(HasSubstr("forged")));
}

TEST(PolicyTest, CertificateAndTokenPrincipalsNeverMatchEachOther) {
  const Policy policy = MustParse(BasePolicy());
  // A certificate principal with a token-like id gets nothing of the token's grants...
  EXPECT_FALSE(policy.Authorize(Cert("token:first"), Role::kDecryptor, "org-a").ok());
  // ...and a token principal nothing of a certificate's.
  EXPECT_FALSE(policy
                   .Authorize({.id = "cn:auditor-a", .source = PrincipalSource::kToken},
                              Role::kAuditor, "org-a")
                   .ok());
}

TEST(PolicyTest, ServiceAccountPrincipalsMatchOnlyServiceAccountTokens) {
  const Policy policy = MustParse(R"(principals:
  - id: "k8s:jobs/worker"
    roles: [decryptor]
    orgs: [org-a]
)");
  const Principal service_account{.id = "k8s:jobs/worker",
                                  .source = PrincipalSource::kServiceAccount};
  EXPECT_TRUE(policy.Authorize(service_account, Role::kDecryptor, "org-a").ok());
  EXPECT_FALSE(policy.Authorize(service_account, Role::kDecryptor, "org-b").ok());
  EXPECT_FALSE(policy.Authorize(service_account, Role::kWriter, "org-a").ok());
  // The same name from a certificate or a token gets nothing.
  EXPECT_FALSE(policy.Authorize(Cert("k8s:jobs/worker"), Role::kDecryptor, "org-a").ok());
  EXPECT_FALSE(policy
                   .Authorize({.id = "k8s:jobs/worker", .source = PrincipalSource::kToken},
                              Role::kDecryptor, "org-a")
                   .ok());
  // And a service account gets nothing of a certificate's grants.
  const Policy certificates = MustParse(BasePolicy());
  EXPECT_FALSE(certificates
                   .Authorize({.id = "spiffe://example.org/backend",
                               .source = PrincipalSource::kServiceAccount},
                              Role::kWriter, "org-a")
                   .ok());
  EXPECT_EQ(policy.principal_count(), 1u);
}

TEST(PolicyTest, ServiceAccountIdsMustBeKubernetesNames) {
  for (const char* id : {"k8s:Jobs/worker", "k8s:jobs", "k8s:jobs/worker/x", "k8s:/worker"}) {
    EXPECT_TRUE(IsInvalid(
        absl::StrCat("principals:\n  - id: \"", id, "\"\n    roles: [writer]\n    orgs: [org-a]\n"),
        "principals[0].id"))
        << id;
  }
  EXPECT_TRUE(IsInvalid(R"(principals:
  - id: "k8s:jobs/worker"
    roles: [writer]
    orgs: [org-a]
  - id: "k8s:jobs/worker"
    roles: [decryptor]
    orgs: [org-a]
)",
                        "duplicate principal k8s:jobs/worker"));
}

TEST(PolicyTest, AllOrgsScope) {
  const Policy policy = MustParse(BasePolicy());
  EXPECT_TRUE(policy.AuthorizeAllOrgs(Cert("dns:ops.example.org"), Role::kAdmin).ok());
  EXPECT_TRUE(policy.AuthorizeAllOrgs(Token("last"), Role::kAuditor).ok());
  const absl::Status listed_only = policy.AuthorizeAllOrgs(Cert("cn:auditor-a"), Role::kAuditor);
  EXPECT_EQ(listed_only.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(listed_only.message(), "principal cn:auditor-a may not act as auditor for every org");
  EXPECT_FALSE(policy.AuthorizeAllOrgs(Cert("dns:ops.example.org"), Role::kWriter).ok());
}

TEST(PolicyTest, HasAnyGrantForAnyRoleInTheOrgOrEveryOrg) {
  const Policy policy = MustParse(BasePolicy());
  // Any role counts, whether or not it is the one a call needs.
  EXPECT_TRUE(policy.HasAnyGrantFor(Token("first"), "org-a"));
  EXPECT_TRUE(policy.HasAnyGrantFor(Token("first"), "org-b"));
  EXPECT_TRUE(policy.HasAnyGrantFor(Token("ci-worker"), "org-c"));
  EXPECT_TRUE(policy.HasAnyGrantFor(Cert("cn:auditor-a"), "org-a"));
  // "*" covers every org, including ones nobody has named.
  EXPECT_TRUE(policy.HasAnyGrantFor(Cert("spiffe://example.org/backend"), "zz9"));
  EXPECT_TRUE(policy.HasAnyGrantFor(Token("last"), "org-q"));
  // Orgs outside a listed scope, unknown principals, the empty policy.
  EXPECT_FALSE(policy.HasAnyGrantFor(Token("first"), "org-c"));
  EXPECT_FALSE(policy.HasAnyGrantFor(Cert("cn:auditor-a"), "org-b"));
  EXPECT_FALSE(policy.HasAnyGrantFor(Cert("spiffe://example.org/unknown"), "org-a"));
  EXPECT_FALSE(Policy().HasAnyGrantFor(Cert("spiffe://example.org/backend"), "org-a"));
  // The source is part of the identity, as for Authorize.
  EXPECT_FALSE(policy.HasAnyGrantFor(Cert("token:first"), "org-a"));
  EXPECT_FALSE(
      policy.HasAnyGrantFor({.id = "cn:auditor-a", .source = PrincipalSource::kToken}, "org-a"));
  // A malformed org id is nobody's, not even under "*".
  EXPECT_FALSE(policy.HasAnyGrantFor(Cert("spiffe://example.org/backend"), "Org\nforged"));
  EXPECT_FALSE(policy.HasAnyGrantFor(Cert("spiffe://example.org/backend"), ""));
}

TEST(PolicyTest, BearerTokensAreFoundWhereverTheyAre) {
  const Policy policy = MustParse(BasePolicy());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {kTokenA, "token:first"}, {kTokenB, "token:ci-worker"}, {kTokenC, "token:last"}};
  for (const auto& [token, id] : cases) {
    const absl::StatusOr<Principal> principal = policy.AuthenticateBearerToken(token);
    ASSERT_TRUE(principal.ok()) << id << ": " << principal.status();
    EXPECT_EQ(principal->id, id);
    EXPECT_EQ(principal->source, PrincipalSource::kToken);
  }
}

TEST(PolicyTest, UnknownBearerTokenIsRefusedWithoutEchoingIt) {
  const Policy policy = MustParse(BasePolicy());
  for (const std::string& token :
       {std::string("unknown-token-0123456789abcdef0123456789"),
        kTokenA.substr(0, kTokenA.size() - 1), kTokenA + "x", std::string()}) {
    const absl::StatusOr<Principal> principal = policy.AuthenticateBearerToken(token);
    ASSERT_FALSE(principal.ok());
    EXPECT_EQ(principal.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(principal.status().message(), "unknown bearer token");
  }
  EXPECT_FALSE(Policy().AuthenticateBearerToken(kTokenA).ok());
}

TEST(PolicyTest, ReferenceDocumentsEveryKey) {
  const std::string reference = Policy::RenderReference();
  for (const char* key :
       {"principals  (", "principals[].id  (", "principals[].token_name  (",
        "principals[].token_hash  (", "principals[].roles  (", "principals[].orgs  ("}) {
    EXPECT_THAT(reference, HasSubstr(key));
  }
  EXPECT_EQ(Policy::DescribeSchema().size(), 6u);
}

}  // namespace
}  // namespace credvault::server

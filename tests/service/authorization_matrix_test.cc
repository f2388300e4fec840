// Every RPC x every kind of grant, through the authorisation every call passes
// (CallRunner::AuthorizeCall with the method's entry in server/api/method_policy.h) and a
// policy built in-process, against the real database: a principal holding exactly one grant
// is let through or refused with PERMISSION_DENIED as docs/architecture.md ("The two
// tiers") says; a refusal of a caller the org trusts appends one access.denied event to that
// org's chain, and a refusal of a stranger touches no table (docs/security-model.md,
// "Denials without a grant"). No listener, no TLS: authentication is tested in tests/e2e.
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "credvault/v1/admin_service.pb.h"
#include "credvault/v1/credential_access_service.pb.h"
#include "credvault/v1/key_authority.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "gtest/gtest.h"
#include "server/api/call_runner.h"
#include "server/api/method_policy.h"
#include "server/api/requested_org.h"
#include "server/auth/policy.h"
#include "server/auth/principal.h"
#include "server/auth/role.h"
#include "server/telemetry/metrics.h"
#include "server/telemetry/security_log.h"
#include "tests/service/service_fixture.h"

namespace credvault::server::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kOrg[] = "org-a";
constexpr char kOtherOrg[] = "org-b";
constexpr char kMissingOrg[] = "no-such-org";

// Who may call each RPC, written down independently of the table it checks: a role added to
// or dropped from method_policy.h fails this test.
struct Expected {
  std::set<Role> roles;
  OrgRule org_rule;
};
const std::map<std::string, Expected>& ExpectedPolicies() {
  static const auto* const kExpected = new std::map<std::string, Expected>{
      {"PutCredential", {{Role::kWriter}, OrgRule::kOrgField}},
      {"DeleteCredential", {{Role::kWriter}, OrgRule::kOrgField}},
      {"DescribeCredential", {{Role::kWriter}, OrgRule::kOrgField}},
      {"ListCredentials", {{Role::kWriter}, OrgRule::kOrgField}},
      {"CompareCredential", {{Role::kWriter}, OrgRule::kOrgField}},
      {"DecryptCredential", {{Role::kDecryptor}, OrgRule::kOrgField}},
      {"KeyAuthority.ProvisionOrg", {{Role::kKeyAuthorityClient}, OrgRule::kOrgField}},
      {"KeyAuthority.CompareCredential", {{Role::kKeyAuthorityClient}, OrgRule::kOrgField}},
      {"CreateOrg", {{Role::kAdmin}, OrgRule::kOrgField}},
      {"DescribeOrg", {{Role::kAdmin, Role::kAuditor}, OrgRule::kOrgField}},
      {"ListOrgs", {{Role::kAdmin, Role::kAuditor}, OrgRule::kAllOrgs}},
      {"RotateOrgKey", {{Role::kAdmin}, OrgRule::kOrgField}},
      {"DestroyOrg", {{Role::kAdmin}, OrgRule::kOrgField}},
      {"DestroyOrgKeyVersion", {{Role::kAdmin}, OrgRule::kOrgField}},
      {"RotateRootKey", {{Role::kAdmin}, OrgRule::kAllOrgs}},
      {"GetResealJob", {{Role::kAdmin, Role::kAuditor}, OrgRule::kOrgFieldOrSystem}},
      {"ListResealJobs", {{Role::kAdmin, Role::kAuditor}, OrgRule::kOrgFieldOrSystem}},
      {"ListAuditEvents", {{Role::kAdmin, Role::kAuditor}, OrgRule::kOrgFieldOrSystem}},
      {"VerifyAuditLog", {{Role::kAdmin, Role::kAuditor}, OrgRule::kOrgFieldOrSystem}},
      {"ExportAuditLog", {{Role::kAdmin, Role::kAuditor}, OrgRule::kOrgFieldOrSystem}},
  };
  return *kExpected;
}

const Role kEveryRole[] = {Role::kWriter, Role::kDecryptor, Role::kAdmin, Role::kAuditor,
                           Role::kKeyAuthorityClient};

// One principal holding exactly one grant: a role for org-a, a role for every org ("*"),
// nothing, or every role for org-b only.
struct Grant {
  std::string principal;
  std::optional<Role> role;  // nullopt: no role for org-a (nothing, or org-b only)
  bool every_org = false;
};

std::vector<Grant> EveryGrant() {
  std::vector<Grant> grants;
  for (const Role role : kEveryRole) {
    grants.push_back({absl::StrCat("cn:", std::string(RoleName(role))), role, false});
    grants.push_back({absl::StrCat("cn:", std::string(RoleName(role)), "-everywhere"), role, true});
  }
  grants.push_back({"cn:nobody", std::nullopt, false});
  grants.push_back({"cn:other-org-only", std::nullopt, false});
  return grants;
}

std::string PolicyYaml() {
  std::string yaml = "principals:\n";
  for (const Role role : kEveryRole) {
    absl::StrAppend(&yaml, "  - id: \"cn:", std::string(RoleName(role)), "\"\n    roles: [",
                    std::string(RoleName(role)), "]\n    orgs: [", kOrg, "]\n");
    absl::StrAppend(&yaml, "  - id: \"cn:", std::string(RoleName(role)),
                    "-everywhere\"\n    roles: [", std::string(RoleName(role)),
                    "]\n    orgs: [\"*\"]\n");
  }
  // cn:nobody is not listed: default deny.
  absl::StrAppend(&yaml,
                  "  - id: \"cn:other-org-only\"\n    roles: [writer, decryptor, admin, auditor, "
                  "key_authority_client]\n    orgs: [",
                  kOtherOrg, "]\n");
  return yaml;
}

// The request message of `policy`'s RPC, as the service's descriptor names it, with its org
// field set to `org_id` (none for a method that spans orgs).
std::unique_ptr<google::protobuf::Message> RequestNaming(const MethodPolicy& policy,
                                                         const std::string& org_id) {
  const std::string method_name =
      absl::StrReplaceAll(std::string(policy.full_method), {{"/", "."}});
  const google::protobuf::MethodDescriptor* method =
      google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(method_name);
  if (method == nullptr) return nullptr;
  const google::protobuf::Message* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(method->input_type());
  if (prototype == nullptr) return nullptr;
  std::unique_ptr<google::protobuf::Message> request(prototype->New());
  if (!policy.org_field.empty()) {
    const google::protobuf::FieldDescriptor* field =
        method->input_type()->FindFieldByName(std::string(policy.org_field));
    if (field == nullptr) return nullptr;
    request->GetReflection()->SetString(request.get(), field, org_id);
  }
  return request;
}

class AuthorizationMatrixTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // The generated pool knows a .proto file only once its code is linked, and nothing else
    // in this test refers to the messages of the key authority, CredentialAccessService or
    // AdminService.
    ASSERT_NE(credvault::v1::ProvisionOrgRequest::descriptor(), nullptr);
    ASSERT_NE(credvault::v1::DecryptCredentialRequest::descriptor(), nullptr);
    ASSERT_NE(credvault::v1::CreateOrgRequest::descriptor(), nullptr);
    stack_ = ServiceStack::Create();
    ASSERT_TRUE(stack_->CreateOrg(kOrg).ok());
    ASSERT_TRUE(stack_->CreateOrg(kOtherOrg).ok());
  }
  static void TearDownTestSuite() { stack_.reset(); }

  void SetUp() override {
    absl::StatusOr<Policy> policy = Policy::Parse(PolicyYaml(), "policy.yaml");
    ASSERT_TRUE(policy.ok()) << policy.status();
    policy_ = *std::move(policy);
  }

  // The refusals of each tier are recorded through that tier's own database role
  // (server/app/tier_runners.cc): the write tier's for CredentialService.
  const DenialAuditor& AuditorFor(const MethodPolicy& method) const {
    return absl::StartsWith(std::string(method.full_method), "credvault.v1.CredentialService/")
               ? write_denials_
               : decrypt_denials_;
  }

  absl::Status Authorize(const MethodPolicy& method, const Grant& grant, const RequestedOrg& org) {
    const Principal principal{.id = grant.principal, .source = PrincipalSource::kCertificate};
    return CallRunner::AuthorizeCall(policy_, principal, method.roles, org, method.name,
                                     "req-" + storage::testing::UniqueSuffix(), AuditorFor(method),
                                     &metrics_);
  }

  static std::unique_ptr<ServiceStack> stack_;
  Policy policy_;
  Metrics metrics_;
  SecurityLog security_log_;
  const DenialAuditor write_denials_{&stack_->writer_pool(), &security_log_};
  const DenialAuditor decrypt_denials_{&stack_->decryptor_pool(), &security_log_};
};

std::unique_ptr<ServiceStack> AuthorizationMatrixTest::stack_;

TEST_F(AuthorizationMatrixTest, TableNamesEveryRpcWithTheRolesOfItsTier) {
  std::set<std::string> seen;
  for (const MethodPolicy& method : MethodPolicies()) {
    SCOPED_TRACE(method.name);
    seen.insert(std::string(method.name));
    const auto expected = ExpectedPolicies().find(std::string(method.name));
    ASSERT_NE(expected, ExpectedPolicies().end()) << "an RPC this test does not know";
    EXPECT_EQ(std::set<Role>(method.roles.begin(), method.roles.end()), expected->second.roles);
    EXPECT_EQ(method.org_rule, expected->second.org_rule);
    // The request type really has the org field the table names.
    const std::unique_ptr<google::protobuf::Message> request = RequestNaming(method, kOrg);
    ASSERT_NE(request, nullptr) << method.full_method << " has no request with "
                                << method.org_field;
    const absl::StatusOr<RequestedOrg> org = RequestedOrgOf(method, *request);
    ASSERT_TRUE(org.ok()) << org.status();
    EXPECT_EQ(org->names_org(), method.org_rule != OrgRule::kAllOrgs);
    if (org->names_org()) {
      EXPECT_EQ(org->org_id(), kOrg);
    }
  }
  EXPECT_EQ(seen.size(), ExpectedPolicies().size()) << "an RPC is missing from the table";
}

TEST_F(AuthorizationMatrixTest, EveryGrantIsAllowedOrRefusedAsTheTableSays) {
  for (const MethodPolicy& method : MethodPolicies()) {
    const auto expected = ExpectedPolicies().find(std::string(method.name));
    ASSERT_NE(expected, ExpectedPolicies().end()) << method.name;
    // The orgs a call of this RPC can name: org-a, and `_system` (every org) where allowed.
    std::vector<std::string> org_ids;
    if (method.org_rule != OrgRule::kAllOrgs) org_ids.push_back(kOrg);
    if (method.org_rule != OrgRule::kOrgField) org_ids.push_back("_system");

    for (const std::string& org_id : org_ids) {
      const std::unique_ptr<google::protobuf::Message> request = RequestNaming(method, org_id);
      ASSERT_NE(request, nullptr) << method.name;
      const absl::StatusOr<RequestedOrg> org = RequestedOrgOf(method, *request);
      ASSERT_TRUE(org.ok()) << org.status();
      for (const Grant& grant : EveryGrant()) {
        SCOPED_TRACE(absl::StrCat(std::string(method.name), " naming ",
                                  org->names_org() ? org_id : "every org", " by ",
                                  grant.principal));
        const bool role_fits = grant.role && expected->second.roles.count(*grant.role) > 0;
        const bool scope_fits = grant.role && (grant.every_org || org->names_org());
        const bool trusted_by_org = grant.role.has_value() && org->names_org();

        const std::string fingerprint = stack_->DatabaseFingerprint();
        const std::int64_t denied_before = stack_->AuditEventCount(kOrg, "access.denied");
        const absl::Status status = Authorize(method, grant, *org);

        if (role_fits && scope_fits) {
          EXPECT_TRUE(status.ok()) << status;
          EXPECT_EQ(stack_->DatabaseFingerprint(), fingerprint) << "authorising wrote";
          continue;
        }
        EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
        EXPECT_THAT(std::string(status.message()),
                    StartsWith("principal " + grant.principal + " may not act"));
        if (trusted_by_org) {
          // Accountable in the org's own chain: exactly one access.denied event, naming the
          // caller, the RPC and the refusal.
          EXPECT_EQ(stack_->AuditEventCount(kOrg, "access.denied"), denied_before + 1);
          EXPECT_EQ(stack_->LatestAuditEvent(kOrg),
                    absl::StrCat("access.denied ", grant.principal, " ", std::string(method.name),
                                 " permission_denied"));
        } else {
          EXPECT_EQ(stack_->DatabaseFingerprint(), fingerprint)
              << "a refusal of a stranger, or of a call naming no org, touched the database";
        }
      }
    }
  }
}

// A stranger cannot tell an org that exists from one that does not: the same code and the
// same message but for the id, and no event anywhere. A caller holding a role for every org
// leaves no chain behind for an org that does not exist either.
TEST_F(AuthorizationMatrixTest, RefusalsRevealNoOrgAndMakeNoChain) {
  for (const MethodPolicy& method : MethodPolicies()) {
    if (method.org_rule == OrgRule::kAllOrgs) continue;
    const std::unique_ptr<google::protobuf::Message> existing = RequestNaming(method, kOrg);
    const std::unique_ptr<google::protobuf::Message> missing = RequestNaming(method, kMissingOrg);
    ASSERT_NE(existing, nullptr);
    ASSERT_NE(missing, nullptr);
    const absl::StatusOr<RequestedOrg> existing_org = RequestedOrgOf(method, *existing);
    const absl::StatusOr<RequestedOrg> missing_org = RequestedOrgOf(method, *missing);
    ASSERT_TRUE(existing_org.ok() && missing_org.ok());
    for (const Grant& grant : EveryGrant()) {
      SCOPED_TRACE(absl::StrCat(std::string(method.name), " by ", grant.principal));
      const std::string fingerprint = stack_->DatabaseFingerprint();
      const absl::Status on_missing = Authorize(method, grant, *missing_org);
      EXPECT_EQ(stack_->DatabaseFingerprint(), fingerprint) << "a chain for a missing org";
      if (!grant.every_org) {
        // Nobody but the "*" grants holds anything for the missing org.
        EXPECT_EQ(on_missing.code(), absl::StatusCode::kPermissionDenied) << on_missing;
      }
      if (grant.role.has_value()) continue;  // org-a trusts it: its refusal is audited there
      const absl::Status on_existing = Authorize(method, grant, *existing_org);
      EXPECT_EQ(on_existing.code(), on_missing.code());
      EXPECT_THAT(std::string(on_existing.message()), HasSubstr(grant.principal));
      EXPECT_THAT(std::string(on_existing.message()), HasSubstr(kOrg));
      EXPECT_EQ(absl::StrReplaceAll(on_existing.message(), {{kOrg, "<org>"}}),
                absl::StrReplaceAll(on_missing.message(), {{kMissingOrg, "<org>"}}));
      EXPECT_EQ(stack_->DatabaseFingerprint(), fingerprint);
    }
  }
}

// A malformed org id is bad input, refused as such before any grant is looked at, for every
// caller (the same answer whoever asks), and recorded nowhere.
TEST_F(AuthorizationMatrixTest, MalformedOrgIdIsInvalidArgumentForEveryone) {
  for (const MethodPolicy& method : MethodPolicies()) {
    if (method.org_rule == OrgRule::kAllOrgs) continue;
    const std::unique_ptr<google::protobuf::Message> request = RequestNaming(method, "Org A");
    ASSERT_NE(request, nullptr);
    const absl::StatusOr<RequestedOrg> org = RequestedOrgOf(method, *request);
    ASSERT_TRUE(org.ok()) << org.status();
    for (const Grant& grant : EveryGrant()) {
      SCOPED_TRACE(absl::StrCat(std::string(method.name), " by ", grant.principal));
      const std::string fingerprint = stack_->DatabaseFingerprint();
      const absl::Status status = Authorize(method, grant, *org);
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
      EXPECT_THAT(std::string(status.message()), StartsWith("org_id:"));
      EXPECT_THAT(std::string(status.message()), ::testing::Not(HasSubstr("Org A")));
      EXPECT_EQ(stack_->DatabaseFingerprint(), fingerprint);
    }
  }
}

}  // namespace
}  // namespace credvault::server::testing

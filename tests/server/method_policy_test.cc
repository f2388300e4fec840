// The method policy table (server/api/method_policy.h) against the API contract: every
// method of every credvault.v1 service has exactly one entry, every entry names a real
// method and a real org field, and the role lists that guard secrets and keys are pinned,
// so that an edit to the table that widens them fails here first.
#include "server/api/method_policy.h"

#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "credvault/v1/admin_service.pb.h"
#include "credvault/v1/credential_service.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "gtest/gtest.h"
#include "server/api/call_runner.h"

#ifndef CREDVAULT_PROTO_DESCRIPTOR_SET
#error "CREDVAULT_PROTO_DESCRIPTOR_SET must name the descriptor set built by proto/"
#endif

namespace credvault::server {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::DescriptorPool;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::FileDescriptorProto;
using ::google::protobuf::FileDescriptorSet;
using ::google::protobuf::MethodDescriptor;
using ::google::protobuf::ServiceDescriptor;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr char kPackage[] = "credvault.v1";

// The API as proto/ builds it, every file of it, whether or not this binary links its
// generated code: a service added to proto/ shows up here without a change to this test.
class ContractPool {
 public:
  ContractPool() {
    FileDescriptorSet set;
    std::ifstream in(CREDVAULT_PROTO_DESCRIPTOR_SET, std::ios::binary);
    EXPECT_TRUE(in.good()) << "cannot open " << CREDVAULT_PROTO_DESCRIPTOR_SET;
    EXPECT_TRUE(set.ParseFromIstream(&in)) << "cannot parse " << CREDVAULT_PROTO_DESCRIPTOR_SET;
    for (const FileDescriptorProto& file : set.file()) {
      EXPECT_NE(pool_.BuildFile(file), nullptr) << file.name();
      if (file.package() == kPackage) files_.push_back(file.name());
    }
  }

  // "credvault.v1.Service/Method" -> the method, for every service of the package.
  std::map<std::string, const MethodDescriptor*> Methods() const {
    std::map<std::string, const MethodDescriptor*> methods;
    for (const std::string& name : files_) {
      const google::protobuf::FileDescriptor* file = pool_.FindFileByName(name);
      if (file == nullptr) continue;
      for (int s = 0; s < file->service_count(); ++s) {
        const ServiceDescriptor* service = file->service(s);
        for (int m = 0; m < service->method_count(); ++m) {
          methods[service->full_name() + "/" + service->method(m)->name()] = service->method(m);
        }
      }
    }
    return methods;
  }

 private:
  DescriptorPool pool_;
  std::vector<std::string> files_;
};

const MethodPolicy& Entry(std::string_view name) {
  absl::StatusOr<const MethodPolicy*> policy = LookUpMethodPolicy(name);
  EXPECT_TRUE(policy.ok()) << policy.status();
  static const MethodPolicy kNone{"", "", {}, OrgRule::kAllOrgs, ""};
  return policy.ok() ? **policy : kNone;
}

TEST(MethodPolicyTest, EveryMethodOfEveryServiceHasExactlyOneEntry) {
  const ContractPool contract;
  const std::map<std::string, const MethodDescriptor*> methods = contract.Methods();
  // The four services of docs/architecture.md, so that an empty walk cannot pass.
  std::set<std::string> services;
  for (const auto& [full_method, method] : methods) services.insert(method->service()->name());
  EXPECT_THAT(services, ElementsAre("AdminService", "CredentialAccessService", "CredentialService",
                                    "KeyAuthorityService"));

  std::map<std::string, int> entries;
  for (const MethodPolicy& policy : MethodPolicies()) ++entries[std::string(policy.full_method)];
  for (const auto& [full_method, method] : methods) {
    EXPECT_EQ(entries[full_method], 1) << full_method << " must have exactly one entry";
  }
  for (const MethodPolicy& policy : MethodPolicies()) {
    EXPECT_TRUE(methods.contains(std::string(policy.full_method)))
        << policy.name << " names " << policy.full_method << ", which no service has";
  }
}

TEST(MethodPolicyTest, NamesAreUniqueAndEndWithTheMethodTheyName) {
  std::map<std::string_view, int> names;
  for (const MethodPolicy& policy : MethodPolicies()) {
    ++names[policy.name];
    const std::string_view method = policy.full_method.substr(policy.full_method.find('/') + 1);
    EXPECT_TRUE(policy.name.ends_with(method)) << policy.name << " vs " << method;
    EXPECT_EQ(&Entry(policy.name), &policy);
  }
  for (const auto& [name, count] : names) EXPECT_EQ(count, 1) << name;
}

TEST(MethodPolicyTest, EveryEntryNamesRolesAndAnOrgFieldThatIsAString) {
  const ContractPool contract;
  const std::map<std::string, const MethodDescriptor*> methods = contract.Methods();
  for (const MethodPolicy& policy : MethodPolicies()) {
    EXPECT_FALSE(policy.roles.empty()) << policy.name << " could be called by nobody";
    const auto method = methods.find(std::string(policy.full_method));
    if (method == methods.end()) continue;  // Reported above.
    const Descriptor* request = method->second->input_type();
    if (policy.org_rule == OrgRule::kAllOrgs) {
      EXPECT_THAT(policy.org_field, IsEmpty()) << policy.name;
      continue;
    }
    const FieldDescriptor* field = request->FindFieldByName(std::string(policy.org_field));
    ASSERT_NE(field, nullptr) << policy.name << ": " << request->full_name() << " has no field "
                              << policy.org_field;
    EXPECT_EQ(field->type(), FieldDescriptor::TYPE_STRING) << policy.name;
    EXPECT_FALSE(field->is_repeated()) << policy.name;
  }
}

TEST(MethodPolicyTest, SecretAndKeyMethodsKeepTheirRoles) {
  EXPECT_THAT(Entry("DecryptCredential").roles, ElementsAre(Role::kDecryptor));
  EXPECT_THAT(Entry("PutCredential").roles, ElementsAre(Role::kWriter));
  EXPECT_THAT(Entry("DeleteCredential").roles, ElementsAre(Role::kWriter));
  EXPECT_THAT(Entry("CompareCredential").roles, ElementsAre(Role::kWriter));
  for (const std::string_view admin_only :
       {"CreateOrg", "RotateOrgKey", "DestroyOrg", "DestroyOrgKeyVersion", "RotateRootKey"}) {
    EXPECT_THAT(Entry(admin_only).roles, ElementsAre(Role::kAdmin)) << admin_only;
  }
  EXPECT_THAT(Entry("KeyAuthority.ProvisionOrg").roles, ElementsAre(Role::kKeyAuthorityClient));
  EXPECT_THAT(Entry("KeyAuthority.CompareCredential").roles,
              ElementsAre(Role::kKeyAuthorityClient));
}

// The decryptor role reads secrets; nothing else may accept it, and it may not be
// accepted anywhere a secret is written.
TEST(MethodPolicyTest, OnlyDecryptCredentialAcceptsTheDecryptorRole) {
  for (const MethodPolicy& policy : MethodPolicies()) {
    if (policy.name == "DecryptCredential") continue;
    for (const Role role : policy.roles) {
      EXPECT_NE(role, Role::kDecryptor) << policy.name;
    }
  }
}

TEST(MethodPolicyTest, OnlyListOrgsAndRotateRootKeySpanOrgsWhateverTheRequestSays) {
  std::vector<std::string_view> all_orgs;
  for (const MethodPolicy& policy : MethodPolicies()) {
    if (policy.org_rule == OrgRule::kAllOrgs) all_orgs.push_back(policy.name);
  }
  EXPECT_THAT(all_orgs, ElementsAre("ListOrgs", "RotateRootKey"));
  EXPECT_EQ(Entry("DecryptCredential").org_rule, OrgRule::kOrgField);
  EXPECT_EQ(Entry("DestroyOrg").org_rule, OrgRule::kOrgField);
}

TEST(MethodPolicyTest, AMethodMissingFromTheTableIsRefused) {
  const absl::StatusOr<const MethodPolicy*> missing = LookUpMethodPolicy("NoSuchMethod");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInternal);
  credvault::v1::PutCredentialRequest request;
  request.set_org_id("org-a");
  EXPECT_EQ(CallRunner::RequestedOrgFor("NoSuchMethod", request).status().code(),
            absl::StatusCode::kInternal);
}

TEST(MethodPolicyTest, TheRequestedOrgComesFromTheFieldTheTableNames) {
  credvault::v1::PutCredentialRequest put;
  put.set_org_id("org-a");
  absl::StatusOr<RequestedOrg> org = CallRunner::RequestedOrgFor("PutCredential", put);
  ASSERT_TRUE(org.ok()) << org.status();
  EXPECT_TRUE(org->names_valid_org());
  EXPECT_EQ(org->org_id(), "org-a");

  put.set_org_id("Not An Org");
  org = CallRunner::RequestedOrgFor("PutCredential", put);
  ASSERT_TRUE(org.ok()) << org.status();
  EXPECT_TRUE(org->names_org());
  EXPECT_FALSE(org->names_valid_org());
  EXPECT_EQ(org->validity().code(), absl::StatusCode::kInvalidArgument);

  // `_system` is an org to the credential methods (and malformed there), every org to the
  // audit ones.
  put.set_org_id("_system");
  org = CallRunner::RequestedOrgFor("PutCredential", put);
  ASSERT_TRUE(org.ok()) << org.status();
  EXPECT_EQ(org->validity().code(), absl::StatusCode::kInvalidArgument);
  credvault::v1::ListAuditEventsRequest audit;
  audit.set_org_id("_system");
  org = CallRunner::RequestedOrgFor("ListAuditEvents", audit);
  ASSERT_TRUE(org.ok()) << org.status();
  EXPECT_FALSE(org->names_org());
  audit.set_org_id("org-b");
  org = CallRunner::RequestedOrgFor("ListAuditEvents", audit);
  ASSERT_TRUE(org.ok()) << org.status();
  EXPECT_EQ(org->org_id(), "org-b");

  credvault::v1::ListOrgsRequest list;
  org = CallRunner::RequestedOrgFor("ListOrgs", list);
  ASSERT_TRUE(org.ok()) << org.status();
  EXPECT_FALSE(org->names_org());
}

TEST(MethodPolicyTest, ARequestWithoutTheOrgFieldIsRefused) {
  // A table entry paired with the wrong request type (ListOrgsRequest has no org_id).
  credvault::v1::ListOrgsRequest wrong;
  EXPECT_EQ(CallRunner::RequestedOrgFor("DestroyOrg", wrong).status().code(),
            absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace credvault::server

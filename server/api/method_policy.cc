#include "server/api/method_policy.h"

#include <optional>
#include <string>
#include <utility>

#include "google/protobuf/descriptor.h"
#include "server/service/api_validation.h"

namespace credvault::server {
namespace {

// The whole authorisation surface of the server, in one place to review. A change to a
// role list here changes who may call the method; tests/server/method_policy_test.cc
// checks the table against the .proto services and pins the security-critical entries.
const std::vector<MethodPolicy>& Table() {
  // Two lines an entry, kept by hand so that the table reads as one.
  // clang-format off
  static const auto* const kTable = new std::vector<MethodPolicy>{
      // CredentialService: the write tier.
      {"PutCredential", "credvault.v1.CredentialService/PutCredential",
       {Role::kWriter}, OrgRule::kOrgField, "org_id"},
      {"DeleteCredential", "credvault.v1.CredentialService/DeleteCredential",
       {Role::kWriter}, OrgRule::kOrgField, "org_id"},
      {"DescribeCredential", "credvault.v1.CredentialService/DescribeCredential",
       {Role::kWriter}, OrgRule::kOrgField, "org_id"},
      {"ListCredentials", "credvault.v1.CredentialService/ListCredentials",
       {Role::kWriter}, OrgRule::kOrgField, "org_id"},
      {"CompareCredential", "credvault.v1.CredentialService/CompareCredential",
       {Role::kWriter}, OrgRule::kOrgField, "org_id"},

      // CredentialAccessService: the decrypt tier.
      {"DecryptCredential", "credvault.v1.CredentialAccessService/DecryptCredential",
       {Role::kDecryptor}, OrgRule::kOrgField, "org_id"},

      // KeyAuthorityService: the decrypt tier, for write tiers of other processes.
      {"KeyAuthority.ProvisionOrg", "credvault.v1.KeyAuthorityService/ProvisionOrg",
       {Role::kKeyAuthorityClient}, OrgRule::kOrgField, "org_id"},
      {"KeyAuthority.CompareCredential", "credvault.v1.KeyAuthorityService/CompareCredential",
       {Role::kKeyAuthorityClient}, OrgRule::kOrgField, "org_id"},

      // AdminService: operators on the decrypt or admin listener.
      {"CreateOrg", "credvault.v1.AdminService/CreateOrg",
       {Role::kAdmin}, OrgRule::kOrgField, "org_id"},
      {"DescribeOrg", "credvault.v1.AdminService/DescribeOrg",
       {Role::kAdmin, Role::kAuditor}, OrgRule::kOrgField, "org_id"},
      {"ListOrgs", "credvault.v1.AdminService/ListOrgs",
       {Role::kAdmin, Role::kAuditor}, OrgRule::kAllOrgs, ""},
      {"RotateOrgKey", "credvault.v1.AdminService/RotateOrgKey",
       {Role::kAdmin}, OrgRule::kOrgField, "org_id"},
      {"DestroyOrg", "credvault.v1.AdminService/DestroyOrg",
       {Role::kAdmin}, OrgRule::kOrgField, "org_id"},
      {"DestroyOrgKeyVersion", "credvault.v1.AdminService/DestroyOrgKeyVersion",
       {Role::kAdmin}, OrgRule::kOrgField, "org_id"},
      {"RotateRootKey", "credvault.v1.AdminService/RotateRootKey",
       {Role::kAdmin}, OrgRule::kAllOrgs, ""},
      {"GetResealJob", "credvault.v1.AdminService/GetResealJob",
       {Role::kAdmin, Role::kAuditor}, OrgRule::kOrgFieldOrSystem, "org_id"},
      {"ListResealJobs", "credvault.v1.AdminService/ListResealJobs",
       {Role::kAdmin, Role::kAuditor}, OrgRule::kOrgFieldOrSystem, "org_id"},
      {"ListAuditEvents", "credvault.v1.AdminService/ListAuditEvents",
       {Role::kAuditor, Role::kAdmin}, OrgRule::kOrgFieldOrSystem, "org_id"},
      {"VerifyAuditLog", "credvault.v1.AdminService/VerifyAuditLog",
       {Role::kAuditor, Role::kAdmin}, OrgRule::kOrgFieldOrSystem, "org_id"},
      {"ExportAuditLog", "credvault.v1.AdminService/ExportAuditLog",
       {Role::kAuditor, Role::kAdmin}, OrgRule::kOrgFieldOrSystem, "org_id"},
  };
  // clang-format on
  return *kTable;
}

}  // namespace

absl::Span<const MethodPolicy> MethodPolicies() { return Table(); }

absl::StatusOr<const MethodPolicy*> LookUpMethodPolicy(std::string_view name) {
  for (const MethodPolicy& policy : Table()) {
    if (policy.name == name) return &policy;
  }
  return absl::InternalError("no authorisation policy for method " + std::string(name));
}

absl::StatusOr<RequestedOrg> RequestedOrgOf(const MethodPolicy& policy,
                                            const google::protobuf::Message& request) {
  if (policy.org_rule == OrgRule::kAllOrgs) return RequestedOrg::AllOrgs();
  const google::protobuf::Descriptor* descriptor = request.GetDescriptor();
  const google::protobuf::FieldDescriptor* field =
      descriptor->FindFieldByName(std::string(policy.org_field));
  if (field == nullptr || field->is_repeated() ||
      field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_STRING) {
    return absl::InternalError("method " + std::string(policy.name) + ": " +
                               descriptor->full_name() + " has no string field " +
                               std::string(policy.org_field));
  }
  std::string org_id = request.GetReflection()->GetString(request, field);
  if (policy.org_rule == OrgRule::kOrgFieldOrSystem) {
    std::optional<std::string> scope = OrgScope(org_id);
    if (!scope) return RequestedOrg::AllOrgs();
  }
  return RequestedOrg::Named(std::move(org_id));
}

}  // namespace credvault::server

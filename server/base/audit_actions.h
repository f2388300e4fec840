#ifndef CREDVAULT_SERVER_BASE_AUDIT_ACTIONS_H_
#define CREDVAULT_SERVER_BASE_AUDIT_ACTIONS_H_

// The `action` of every audit event, in one place: exports, ListAuditEvents filters and
// operators' queries match on these exact strings (docs/operations.md), so they never
// change. Here in server/base so that the jobs, which may not include server/service, name
// them too.
namespace credvault::server::audit_action {

// AdminService.CreateOrg made an org and its org key version 1 (details: OrgCreateDetails).
inline constexpr char kOrgCreate[] = "org.create";
// The key authority made an org on its first Put (the write tier asked for it;
// docs/architecture.md).
inline constexpr char kOrgProvision[] = "org.provision";
// AdminService.DestroyOrg crypto-shredded an org (details: OrgDestroyDetails, read back to
// rebuild the erasure receipt of a retried DestroyOrg or a DescribeOrg).
inline constexpr char kOrgDestroy[] = "org.destroy";
// AdminService.RotateOrgKey made a new org key version and its re-seal job.
inline constexpr char kOrgKeyRotate[] = "org.key_rotate";
// AdminService.DestroyOrgKeyVersion destroyed the private half of a retired org key.
inline constexpr char kOrgKeyDestroy[] = "org.key_destroy";
// AdminService.RotateRootKey made a new root key and its re-seal job (in `_system`).
inline constexpr char kRootKeyRotate[] = "root.key_rotate";
// The re-seal worker finished an org key job (in the org's chain).
inline constexpr char kOrgKeyReseal[] = "org.key_reseal";
// The re-seal worker finished a root key job (in `_system`).
inline constexpr char kRootKeyReseal[] = "root.key_reseal";
// A retention sweep transaction removed something (docs/data-handling.md).
inline constexpr char kRetentionPurge[] = "retention.purge";
// CredentialAccessService.DecryptCredential answered or refused, in the org's chain.
inline constexpr char kCredentialDecrypt[] = "credential.decrypt";
// KeyAuthority.CompareCredential answered or refused, in the org's chain.
inline constexpr char kCredentialCompare[] = "credential.compare";
// A request refused by the policy, in the org's chain when the caller has some role for it
// (docs/data-handling.md).
inline constexpr char kAccessDenied[] = "access.denied";
// Written by the database functions that put, delete and erase credentials
// (storage/migrations), never by C++ code; named here so readers of the log find them.
inline constexpr char kCredentialPut[] = "credential.put";
inline constexpr char kCredentialDelete[] = "credential.delete";
inline constexpr char kCredentialErase[] = "credential.erase";

}  // namespace credvault::server::audit_action

#endif  // CREDVAULT_SERVER_BASE_AUDIT_ACTIONS_H_

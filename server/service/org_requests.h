#ifndef CREDVAULT_SERVER_SERVICE_ORG_REQUESTS_H_
#define CREDVAULT_SERVER_SERVICE_ORG_REQUESTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "crypto/audit_signer.h"
#include "server/service/org_snapshot.h"
#include "storage/org_directory.h"
#include "storage/org_store.h"

// What the org lifecycle RPCs of AdminService ask and answer. The fields carry the raw
// values of the request: OrgHandler checks them.
namespace credvault::server {

// What an org crypto-shredded by DestroyOrg proves about its erasure, signed by the audit
// signing key when the deployment has one (docs/security-model.md).
struct ErasureReceipt {
  crypto::ErasureReceiptFields fields;
  // Over `fields`; nullopt when no audit signing key is configured.
  std::optional<crypto::AuditSignature> signature;
  // The key that made `signature`; empty without one.
  std::string signing_key_id;
};

// An org as the org RPCs report it: the org and every version of its key.
struct OrgDescription {
  OrgSnapshot snapshot;
  // Only DescribeOrg of a destroyed org tells it.
  std::optional<ErasureReceipt> erasure_receipt;
};

struct CreateOrgParams {
  std::string org_id;
  // Empty: a retry is not told from a second request.
  std::string idempotency_key;
};

struct CreateOrgResult {
  OrgDescription org;
  // The org was made by an earlier CreateOrg under the same idempotency key.
  bool idempotent_replay = false;
};

struct DescribeOrgParams {
  std::string org_id;
};

struct DescribeOrgResult {
  OrgDescription org;
};

struct ListOrgsParams {
  // 0: the default page size.
  std::int32_t page_size = 0;
  std::string page_token;
  // nullopt: every state.
  std::optional<storage::OrgState> state;
};

struct ListOrgsResult {
  // In byte order of org id.
  std::vector<storage::OrgSummary> orgs;
  // Empty when there are no more orgs.
  std::string next_page_token;
};

struct DestroyOrgParams {
  std::string org_id;
  // Must repeat org_id.
  std::string confirm_org_id;
  std::string reason;
};

struct DestroyOrgResult {
  ErasureReceipt receipt;
  // The org was destroyed by an earlier call; `receipt` is the one that call returned.
  bool already_destroyed = false;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SERVICE_ORG_REQUESTS_H_

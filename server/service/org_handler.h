#ifndef CREDVAULT_SERVER_SERVICE_ORG_HANDLER_H_
#define CREDVAULT_SERVER_SERVICE_ORG_HANDLER_H_

#include <functional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "credvault/v1/admin_service.pb.h"
#include "crypto/audit_signer.h"
#include "server/base/call_context.h"
#include "server/keys/decrypt_tier_keys.h"
#include "server/keys/org_key_cache.h"
#include "server/service/org_snapshot.h"
#include "storage/audit_log.h"
#include "storage/credential_store.h"
#include "storage/org_directory.h"
#include "storage/org_store.h"
#include "storage/pool.h"
#include "storage/reseal_job_store.h"

namespace credvault::server {

// The org lifecycle RPCs of AdminService, free of gRPC: create, describe, list and destroy
// (crypto-shred) orgs. Runs on the decrypt tier, whose unwrapped root keys make the root
// public keys it seals new org keys to trustworthy without a pin.
class OrgHandler {
 public:
  using Clock = std::function<absl::Time()>;

  OrgHandler(storage::ConnectionPool& admin_pool, const DecryptTierKeys& keys,
             OrgKeyCache& org_keys, storage::AuditLog::AppendObserver on_audit_append = {},
             Clock clock = &absl::Now);

  absl::StatusOr<credvault::v1::CreateOrgResponse> CreateOrg(
      const CallContext& call, const credvault::v1::CreateOrgRequest& request) const;
  absl::StatusOr<credvault::v1::DescribeOrgResponse> DescribeOrg(
      const CallContext& call, const credvault::v1::DescribeOrgRequest& request) const;
  // Every org (the caller holds the `*` scope), from the org directory.
  absl::StatusOr<credvault::v1::ListOrgsResponse> ListOrgs(
      const CallContext& call, const credvault::v1::ListOrgsRequest& request) const;
  absl::StatusOr<credvault::v1::DestroyOrgResponse> DestroyOrg(
      const CallContext& call, const credvault::v1::DestroyOrgRequest& request) const;

 private:
  // The erasure receipt of a destroyed org, rebuilt from its org.destroy audit event (and
  // re-signed: Ed25519 is deterministic, so it is the receipt DestroyOrg returned).
  absl::StatusOr<credvault::v1::ErasureReceipt> RebuildReceipt(storage::Transaction& tx,
                                                               const OrgSnapshot& org) const;
  void FillReceipt(const crypto::ErasureReceiptFields& fields,
                   credvault::v1::ErasureReceipt& receipt) const;

  storage::ConnectionPool& pool_;
  const DecryptTierKeys& keys_;
  OrgKeyCache& org_keys_;
  const Clock clock_;
  const storage::OrgStore orgs_{};
  const storage::CredentialStore credentials_{};
  const storage::ResealJobStore jobs_{};
  const storage::OrgDirectory directory_{};
  const storage::AuditLog audit_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SERVICE_ORG_HANDLER_H_

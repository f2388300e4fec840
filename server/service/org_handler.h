#ifndef CREDVAULT_SERVER_SERVICE_ORG_HANDLER_H_
#define CREDVAULT_SERVER_SERVICE_ORG_HANDLER_H_

#include <functional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "crypto/audit_signer.h"
#include "server/base/call_context.h"
#include "server/keys/decrypt_tier_keys.h"
#include "server/keys/org_key_cache.h"
#include "server/service/org_requests.h"
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

  absl::StatusOr<CreateOrgResult> CreateOrg(const CallContext& call,
                                            const CreateOrgParams& params) const;
  absl::StatusOr<DescribeOrgResult> DescribeOrg(const CallContext& call,
                                                const DescribeOrgParams& params) const;
  // Every org (the caller holds the `*` scope), from the org directory.
  absl::StatusOr<ListOrgsResult> ListOrgs(const CallContext& call,
                                          const ListOrgsParams& params) const;
  absl::StatusOr<DestroyOrgResult> DestroyOrg(const CallContext& call,
                                              const DestroyOrgParams& params) const;

 private:
  // The erasure receipt of a destroyed org, rebuilt from its org.destroy audit event (and
  // re-signed: Ed25519 is deterministic, so it is the receipt DestroyOrg returned).
  absl::StatusOr<ErasureReceipt> RebuildReceipt(storage::Transaction& tx,
                                                const OrgSnapshot& org) const;
  // `fields` with the audit signing key's signature over them, when there is that key.
  ErasureReceipt SignedReceipt(crypto::ErasureReceiptFields fields) const;

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

#ifndef CREDVAULT_SERVER_SERVICE_ADMIN_HANDLER_H_
#define CREDVAULT_SERVER_SERVICE_ADMIN_HANDLER_H_

#include <functional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "credvault/v1/admin_service.pb.h"
#include "server/base/call_context.h"
#include "server/keys/decrypt_tier_keys.h"
#include "server/keys/org_key_cache.h"
#include "storage/audit_log.h"
#include "storage/credential_store.h"
#include "storage/org_directory.h"
#include "storage/org_store.h"
#include "storage/pool.h"
#include "storage/reseal_job_store.h"
#include "storage/root_key_store.h"
#include "storage/validation.h"

namespace credvault::server {

// AdminService logic, free of gRPC: org lifecycle and the audit log. Runs on the decrypt
// tier, whose unwrapped root keys make the root public keys it seals new org keys to
// trustworthy without a pin.
class AdminHandler {
 public:
  using Clock = std::function<absl::Time()>;

  // `decryptor_pool` makes root keys (only the decrypt role may); `on_job_created` is told
  // of every new re-seal job (to wake the worker) and may be empty.
  AdminHandler(storage::ConnectionPool& admin_pool, storage::ConnectionPool& decryptor_pool,
               const DecryptTierKeys& keys, OrgKeyCache& org_keys,
               std::function<void()> on_job_created = {},
               storage::AuditLog::AppendObserver on_audit_append = {}, Clock clock = &absl::Now);

  absl::StatusOr<credvault::v1::CreateOrgResponse> CreateOrg(
      const CallContext& call, const credvault::v1::CreateOrgRequest& request) const;
  absl::StatusOr<credvault::v1::DescribeOrgResponse> DescribeOrg(
      const CallContext& call, const credvault::v1::DescribeOrgRequest& request) const;
  // Every org (the caller holds the `*` scope), from the org directory.
  absl::StatusOr<credvault::v1::ListOrgsResponse> ListOrgs(
      const CallContext& call, const credvault::v1::ListOrgsRequest& request) const;
  absl::StatusOr<credvault::v1::RotateOrgKeyResponse> RotateOrgKey(
      const CallContext& call, const credvault::v1::RotateOrgKeyRequest& request) const;
  absl::StatusOr<credvault::v1::DestroyOrgResponse> DestroyOrg(
      const CallContext& call, const credvault::v1::DestroyOrgRequest& request) const;
  absl::StatusOr<credvault::v1::DestroyOrgKeyVersionResponse> DestroyOrgKeyVersion(
      const CallContext& call, const credvault::v1::DestroyOrgKeyVersionRequest& request) const;
  absl::StatusOr<credvault::v1::RotateRootKeyResponse> RotateRootKey(
      const CallContext& call, const credvault::v1::RotateRootKeyRequest& request) const;
  absl::StatusOr<credvault::v1::GetResealJobResponse> GetResealJob(
      const CallContext& call, const credvault::v1::GetResealJobRequest& request) const;
  absl::StatusOr<credvault::v1::ListResealJobsResponse> ListResealJobs(
      const CallContext& call, const credvault::v1::ListResealJobsRequest& request) const;
  absl::StatusOr<credvault::v1::ListAuditEventsResponse> ListAuditEvents(
      const CallContext& call, const credvault::v1::ListAuditEventsRequest& request) const;
  absl::StatusOr<credvault::v1::VerifyAuditLogResponse> VerifyAuditLog(
      const CallContext& call, const credvault::v1::VerifyAuditLogRequest& request) const;
  // One chunk of an org's export; `after_sequence` is the last sequence already sent.
  absl::StatusOr<credvault::v1::ExportAuditLogResponse> ExportAuditLogChunk(
      const CallContext& call, const credvault::v1::ExportAuditLogRequest& request,
      std::uint64_t after_sequence, bool& done) const;

 private:
  // A new org key pair sealed to the ACTIVE root key.
  absl::StatusOr<crypto::OrgKeyRecord> NewOrgKey(storage::Transaction& tx,
                                                 const std::string& org_id,
                                                 std::uint32_t version) const;
  absl::StatusOr<credvault::v1::OrgInfo> LoadOrgInfo(storage::Transaction& tx) const;
  // The erasure receipt of a destroyed org, rebuilt from its org.destroy audit event (and
  // re-signed: Ed25519 is deterministic, so it is the receipt DestroyOrg returned).
  absl::StatusOr<credvault::v1::ErasureReceipt> RebuildReceipt(
      storage::Transaction& tx, const credvault::v1::OrgInfo& org) const;
  void FillReceipt(const crypto::ErasureReceiptFields& fields,
                   credvault::v1::ErasureReceipt& receipt) const;
  void AddSigningKey(credvault::v1::ExportAuditLogResponse& response) const;

  // NOT_FOUND unless the org of `tx` exists (or is `_system`).
  absl::Status CheckOrgExists(storage::Transaction& tx) const;

  storage::ConnectionPool& pool_;
  storage::ConnectionPool& decryptor_pool_;
  const DecryptTierKeys& keys_;
  const std::function<void()> on_job_created_;
  OrgKeyCache& org_keys_;
  const Clock clock_;
  const storage::OrgStore orgs_{};
  const storage::CredentialStore credentials_{};
  const storage::RootKeyStore root_keys_{};
  const storage::ResealJobStore jobs_{};
  const storage::OrgDirectory directory_{};
  const storage::AuditLog audit_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SERVICE_ADMIN_HANDLER_H_

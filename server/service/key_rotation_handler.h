#ifndef CREDVAULT_SERVER_SERVICE_KEY_ROTATION_HANDLER_H_
#define CREDVAULT_SERVER_SERVICE_KEY_ROTATION_HANDLER_H_

#include <functional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/base/call_context.h"
#include "server/keys/decrypt_tier_keys.h"
#include "server/keys/org_key_cache.h"
#include "server/service/key_rotation_requests.h"
#include "storage/audit_log.h"
#include "storage/credential_store.h"
#include "storage/org_directory.h"
#include "storage/org_store.h"
#include "storage/pool.h"
#include "storage/reseal_job_store.h"
#include "storage/root_key_store.h"

namespace credvault::server {

// The key rotation RPCs of AdminService, free of gRPC: rotate an org key or the root key
// (each starts a re-seal job), destroy a retired org key version, and report re-seal jobs
// (docs/operations.md). Runs on the decrypt tier, which alone can make org and root keys.
class KeyRotationHandler {
 public:
  using Clock = std::function<absl::Time()>;

  // `decryptor_pool` makes root keys (only the decrypt role may); `on_job_created` is told
  // of every new re-seal job (to wake the worker) and may be empty.
  KeyRotationHandler(storage::ConnectionPool& admin_pool, storage::ConnectionPool& decryptor_pool,
                     const DecryptTierKeys& keys, OrgKeyCache& org_keys,
                     std::function<void()> on_job_created = {},
                     storage::AuditLog::AppendObserver on_audit_append = {},
                     Clock clock = &absl::Now);

  absl::StatusOr<RotateOrgKeyResult> RotateOrgKey(const CallContext& call,
                                                  const RotateOrgKeyParams& params) const;
  absl::StatusOr<DestroyOrgKeyVersionResult> DestroyOrgKeyVersion(
      const CallContext& call, const DestroyOrgKeyVersionParams& params) const;
  absl::StatusOr<RotateRootKeyResult> RotateRootKey(const CallContext& call,
                                                    const RotateRootKeyParams& params) const;
  absl::StatusOr<GetResealJobResult> GetResealJob(const CallContext& call,
                                                  const GetResealJobParams& params) const;
  absl::StatusOr<ListResealJobsResult> ListResealJobs(const CallContext& call,
                                                      const ListResealJobsParams& params) const;

 private:
  // NOT_FOUND unless the org of `tx` exists (or is `_system`, where root key jobs live).
  absl::Status CheckOrgExists(storage::Transaction& tx) const;

  storage::ConnectionPool& pool_;
  storage::ConnectionPool& decryptor_pool_;
  const DecryptTierKeys& keys_;
  OrgKeyCache& org_keys_;
  const std::function<void()> on_job_created_;
  const Clock clock_;
  const storage::OrgStore orgs_{};
  const storage::CredentialStore credentials_{};
  const storage::RootKeyStore root_keys_{};
  const storage::ResealJobStore jobs_{};
  const storage::OrgDirectory directory_{};
  const storage::AuditLog audit_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SERVICE_KEY_ROTATION_HANDLER_H_

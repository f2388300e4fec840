#ifndef CREDVAULT_SERVER_SERVICE_ACCESS_HANDLER_H_
#define CREDVAULT_SERVER_SERVICE_ACCESS_HANDLER_H_

#include <cstddef>
#include <functional>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/base/call_context.h"
#include "server/keys/decrypt_tier_keys.h"
#include "server/keys/org_key_cache.h"
#include "server/service/decrypt_requests.h"
#include "storage/audit_group_commit.h"
#include "storage/audit_log.h"
#include "storage/credential_store.h"
#include "storage/org_store.h"
#include "storage/pool.h"

namespace credvault::server {

struct AccessHandlerOptions {
  std::size_t max_secret_size = 64 * 1024;
  absl::Duration soft_delete_retention = absl::Hours(24 * 30);
  storage::AuditLog::AppendObserver on_audit_append;
};

// The privileged decrypt path (CredentialAccessService), free of gRPC. Every attempt that
// reaches a credential is audited with its purpose, and the plaintext is released only
// after the transaction holding its audit event has committed (fail closed: no durable
// audit event, no secret).
class AccessHandler {
 public:
  using Clock = std::function<absl::Time()>;

  AccessHandler(storage::ConnectionPool& decryptor_pool, const DecryptTierKeys& keys,
                OrgKeyCache& org_keys, AccessHandlerOptions options, Clock clock = &absl::Now);

  absl::StatusOr<DecryptCredentialResult> Decrypt(const CallContext& call,
                                                  const DecryptCredentialParams& params) const;

 private:
  // The common case, without a transaction of its own: the envelope (with its org's and
  // key's states) in one call, the key from the cache, the audit event group-committed.
  // nullopt when the request needs the full path (a miss, a refusal to audit, a key not
  // cached, an envelope that does not open), which then starts over.
  std::optional<absl::StatusOr<DecryptCredentialResult>> DecryptCommonCase(
      const CallContext& call, const DecryptCredentialParams& params) const;

  storage::ConnectionPool& pool_;
  const DecryptTierKeys& keys_;
  OrgKeyCache& org_keys_;
  const AccessHandlerOptions options_;
  const Clock clock_;
  const storage::CredentialStore credentials_{};
  const storage::OrgStore orgs_{};
  const storage::AuditLog audit_;
  // The audit events of the common case, committed with those of concurrent Decrypts.
  mutable storage::AuditGroupCommit group_commit_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SERVICE_ACCESS_HANDLER_H_

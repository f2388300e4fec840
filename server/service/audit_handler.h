#ifndef CREDVAULT_SERVER_SERVICE_AUDIT_HANDLER_H_
#define CREDVAULT_SERVER_SERVICE_AUDIT_HANDLER_H_

#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/base/call_context.h"
#include "server/keys/decrypt_tier_keys.h"
#include "server/service/audit_requests.h"
#include "storage/audit_log.h"
#include "storage/org_store.h"
#include "storage/pool.h"

namespace credvault::server {

// The audit log RPCs of AdminService, free of gRPC: list, verify and export an org's
// chain, with signed checkpoints covering what is exported (docs/security-model.md).
class AuditHandler {
 public:
  using Clock = std::function<absl::Time()>;

  // Appends nothing: it reads chains and signs checkpoints of what it exports.
  AuditHandler(storage::ConnectionPool& admin_pool, const DecryptTierKeys& keys,
               Clock clock = &absl::Now);

  absl::StatusOr<ListAuditEventsResult> ListAuditEvents(const CallContext& call,
                                                        const ListAuditEventsParams& params) const;
  absl::StatusOr<VerifyAuditLogResult> VerifyAuditLog(const CallContext& call,
                                                      const VerifyAuditLogParams& params) const;
  // One chunk of an org's export; `after_sequence` is the last sequence already sent (0
  // before the first chunk).
  absl::StatusOr<ExportAuditLogResult> ExportAuditLogChunk(const CallContext& call,
                                                           const ExportAuditLogParams& params,
                                                           std::uint64_t after_sequence) const;

 private:
  storage::ConnectionPool& pool_;
  const DecryptTierKeys& keys_;
  const Clock clock_;
  const storage::OrgStore orgs_{};
  const storage::AuditLog audit_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SERVICE_AUDIT_HANDLER_H_

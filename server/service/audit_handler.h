#ifndef CREDVAULT_SERVER_SERVICE_AUDIT_HANDLER_H_
#define CREDVAULT_SERVER_SERVICE_AUDIT_HANDLER_H_

#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "credvault/v1/admin_service.pb.h"
#include "server/base/call_context.h"
#include "server/keys/decrypt_tier_keys.h"
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

  absl::StatusOr<credvault::v1::ListAuditEventsResponse> ListAuditEvents(
      const CallContext& call, const credvault::v1::ListAuditEventsRequest& request) const;
  absl::StatusOr<credvault::v1::VerifyAuditLogResponse> VerifyAuditLog(
      const CallContext& call, const credvault::v1::VerifyAuditLogRequest& request) const;
  // One chunk of an org's export; `after_sequence` is the last sequence already sent.
  absl::StatusOr<credvault::v1::ExportAuditLogResponse> ExportAuditLogChunk(
      const CallContext& call, const credvault::v1::ExportAuditLogRequest& request,
      std::uint64_t after_sequence, bool& done) const;

 private:
  void AddSigningKey(credvault::v1::ExportAuditLogResponse& response) const;

  storage::ConnectionPool& pool_;
  const DecryptTierKeys& keys_;
  const Clock clock_;
  const storage::OrgStore orgs_{};
  const storage::AuditLog audit_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SERVICE_AUDIT_HANDLER_H_

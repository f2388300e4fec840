#include "server/service/admin_audit_event.h"

#include <utility>

namespace credvault::server {

storage::NewAuditEvent AdminAuditEvent(const CallContext& call, std::string action,
                                       std::string details) {
  return storage::NewAuditEvent{call.principal, std::move(action), "",
                                "ok",           call.request_id,   std::move(details)};
}

}  // namespace credvault::server

#ifndef CREDVAULT_SERVER_SERVICE_ADMIN_AUDIT_EVENT_H_
#define CREDVAULT_SERVER_SERVICE_ADMIN_AUDIT_EVENT_H_

#include <string>

#include "server/base/call_context.h"
#include "storage/audit_log.h"

namespace credvault::server {

// The event an admin call appends to the org's chain: by the caller, no target, "ok".
storage::NewAuditEvent AdminAuditEvent(const CallContext& call, std::string action,
                                       std::string details);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SERVICE_ADMIN_AUDIT_EVENT_H_

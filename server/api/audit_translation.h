#ifndef CREDVAULT_SERVER_API_AUDIT_TRANSLATION_H_
#define CREDVAULT_SERVER_API_AUDIT_TRANSLATION_H_

#include "credvault/v1/admin_service.pb.h"
#include "server/service/audit_requests.h"

// The audit log RPCs of AdminService between the API's messages and AuditHandler's terms.
// Pure functions: every value is carried over as it is, the handler judges it.
namespace credvault::server {

ListAuditEventsParams FromApi(const credvault::v1::ListAuditEventsRequest& request);
credvault::v1::ListAuditEventsResponse ToApi(const ListAuditEventsResult& result);

VerifyAuditLogParams FromApi(const credvault::v1::VerifyAuditLogRequest& request);
credvault::v1::VerifyAuditLogResponse ToApi(const VerifyAuditLogResult& result);

ExportAuditLogParams FromApi(const credvault::v1::ExportAuditLogRequest& request);
// One message of the stream. The offline verifiers check the signatures over exactly these
// fields (crypto/audit_export_verifier.h), so the document must not change shape.
credvault::v1::ExportAuditLogResponse ToApi(const ExportAuditLogResult& result);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_API_AUDIT_TRANSLATION_H_

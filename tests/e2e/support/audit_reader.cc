#include "tests/e2e/support/audit_reader.h"

#include <memory>

namespace credvault::e2e {

std::vector<v1::AuditEvent> AuditEventsWithAction(Clients& admin, const std::string& org,
                                                  const std::string& action) {
  std::vector<v1::AuditEvent> events;
  v1::ListAuditEventsRequest request;
  request.set_org_id(org);
  request.set_page_size(500);
  request.set_action(action);
  for (int page = 0; page < 100; ++page) {
    v1::ListAuditEventsResponse response;
    const Outcome outcome =
        Call(*admin.admin, &v1::AdminService::Stub::ListAuditEvents, request, &response, 60);
    if (!outcome.ok()) {
      ADD_FAILURE() << "ListAuditEvents " << org << " " << action << ": " << outcome;
      break;
    }
    events.insert(events.end(), response.events().begin(), response.events().end());
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  return events;
}

::testing::AssertionResult AuditVerifies(Clients& admin, const std::string& org) {
  v1::VerifyAuditLogRequest request;
  request.set_org_id(org);
  v1::VerifyAuditLogResponse response;
  const Outcome outcome =
      Call(*admin.admin, &v1::AdminService::Stub::VerifyAuditLog, request, &response, 120);
  if (!outcome.ok()) {
    return ::testing::AssertionFailure() << "VerifyAuditLog " << org << ": " << outcome;
  }
  if (!response.ok() || response.events_checked() == 0) {
    return ::testing::AssertionFailure()
           << "audit chain of " << org
           << " does not verify: " << v1::AuditVerificationFailure_Name(response.failure_reason())
           << " at " << response.first_broken_sequence() << ": " << response.failure_detail()
           << " (" << response.events_checked() << " events checked)";
  }
  return ::testing::AssertionSuccess();
}

AuditExport ExportAudit(Clients& admin, const std::string& org) {
  AuditExport exported;
  v1::ExportAuditLogRequest request;
  request.set_org_id(org);
  std::unique_ptr<grpc::ClientContext> context = Context(30);
  std::unique_ptr<grpc::ClientReader<v1::ExportAuditLogResponse>> reader =
      admin.admin->ExportAuditLog(context.get(), request);
  v1::ExportAuditLogResponse chunk;
  while (reader->Read(&chunk)) {
    exported.checkpoints.insert(exported.checkpoints.end(), chunk.checkpoints().begin(),
                                chunk.checkpoints().end());
    exported.signing_keys.insert(exported.signing_keys.end(), chunk.signing_keys().begin(),
                                 chunk.signing_keys().end());
  }
  exported.status = reader->Finish();
  return exported;
}

}  // namespace credvault::e2e

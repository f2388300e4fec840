// Reading an org's audit log through AdminService (admin_service.proto): events by action,
// verification of the hash chain, and the checkpoints and signing keys of an export
// (docs/security-model.md, audit log).
#ifndef CREDVAULT_TESTS_E2E_SUPPORT_AUDIT_READER_H_
#define CREDVAULT_TESTS_E2E_SUPPORT_AUDIT_READER_H_

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/e2e/support/e2e_support.h"

namespace credvault::e2e {

// The audit events of an org with this action (all pages); a test failure if a page fails.
std::vector<v1::AuditEvent> AuditEventsWithAction(Clients& admin, const std::string& org,
                                                  const std::string& action);

// Success if VerifyAuditLog of the org answers, finds its chain intact and checked at least
// one event; else why not.
::testing::AssertionResult AuditVerifies(Clients& admin, const std::string& org);

// What an ExportAuditLog stream carries besides the events, and how it ended.
struct AuditExport {
  std::vector<v1::AuditCheckpoint> checkpoints;
  std::vector<v1::AuditSigningKey> signing_keys;
  grpc::Status status;
};

// Reads the whole export of an org.
AuditExport ExportAudit(Clients& admin, const std::string& org);

}  // namespace credvault::e2e

#endif  // CREDVAULT_TESTS_E2E_SUPPORT_AUDIT_READER_H_

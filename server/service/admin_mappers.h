#ifndef CREDVAULT_SERVER_SERVICE_ADMIN_MAPPERS_H_
#define CREDVAULT_SERVER_SERVICE_ADMIN_MAPPERS_H_

#include <optional>
#include <string>

#include "credvault/v1/admin_service.pb.h"
#include "server/base/call_context.h"
#include "server/service/org_snapshot.h"
#include "storage/audit_log.h"
#include "storage/org_directory.h"
#include "storage/reseal_job_store.h"

// What AdminService returns, made from what storage holds (and the few API filters made
// into storage terms). Pure functions: no database, no keys.
namespace credvault::server {

credvault::v1::OrgInfo ToApi(const OrgSnapshot& snapshot);
void ToApi(const storage::OrgSummary& org, credvault::v1::OrgSummary& out);
void ToApi(const storage::ResealJob& job, credvault::v1::ResealJob& out);
void ToApi(const storage::AuditEvent& event, credvault::v1::AuditEvent& out);
void ToApi(const std::string& org_id, const storage::AuditCheckpoint& checkpoint,
           credvault::v1::AuditCheckpoint& out);
credvault::v1::AuditVerificationFailure ToApi(storage::AuditBreak kind);

// The state a list filter asks for; nullopt for "any" (UNSPECIFIED) and unknown values.
std::optional<storage::OrgState> ToStorage(credvault::v1::OrgState state);
std::optional<storage::ResealJobState> ToStorage(credvault::v1::ResealJobState state);

// The event an admin call appends to the org's chain: by the caller, no target, "ok".
storage::NewAuditEvent AdminAuditEvent(const CallContext& call, std::string action,
                                       std::string details);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SERVICE_ADMIN_MAPPERS_H_

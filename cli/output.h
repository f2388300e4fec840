#ifndef CREDVAULT_CLI_OUTPUT_H_
#define CREDVAULT_CLI_OUTPUT_H_

// What credvaultctl prints. Human output uses the proto field names as keys, so that it
// and --json share one vocabulary; every string that came from the server is escaped
// before it reaches a terminal, because the server is not trusted to send clean text.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cli/offline_audit_verify.h"
#include "credvault/v1/admin_service.pb.h"
#include "credvault/v1/audit.pb.h"
#include "credvault/v1/common.pb.h"
#include "credvault/v1/credential_service.pb.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/status.h"

namespace credvault::cli {

namespace v1 = ::credvault::v1;

// One line of proto3 JSON with the proto field names and with fields at their default
// value included (so `"match": false` is printed rather than left out).
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message);

// Replaces control characters and DEL with \xNN so that text from the server cannot move
// the cursor, clear the screen or forge lines of output.
std::string EscapeForTerminal(absl::string_view text);

// "credvaultctl: PERMISSION_DENIED (7): <message>", plus " [credvault-error-reason: X]"
// when the server sent a reason. No trailing newline.
std::string FormatRpcError(const grpc::Status& status, absl::string_view reason);

// Aligned "key: value" lines.
std::string FormatCredentialMetadata(const v1::CredentialMetadata& metadata);
std::string FormatPutResponse(const v1::PutCredentialResponse& response);
std::string FormatDeleteResponse(const v1::DeleteCredentialResponse& response);
std::string FormatCompareResponse(const v1::CompareCredentialResponse& response);
std::string FormatOrgInfo(const v1::OrgInfo& org);
std::string FormatErasureReceipt(const v1::ErasureReceipt& receipt);
std::string FormatResealJob(const v1::ResealJob& job);
std::string FormatRotateOrgKeyResponse(const v1::RotateOrgKeyResponse& response);
std::string FormatRotateRootKeyResponse(const v1::RotateRootKeyResponse& response);
std::string FormatVerifyAuditLogResponse(const v1::VerifyAuditLogResponse& response);

// The verdict of `audit verify --file`: the fields of VerifyAuditLogResponse, plus org_id,
// how the export is anchored, and how much of it signatures cover. failure_reason is the
// AuditVerificationFailure value, or UNSIGNED (AUDIT_VERIFICATION_FAILURE_UNSIGNED in
// JSON), which the v1 enum lacks. JSON uses strings for 64-bit integers, as proto3 JSON does.
std::string FormatOfflineAuditVerification(const OfflineAuditVerification& verification);
absl::StatusOr<std::string> OfflineAuditVerificationJson(
    const OfflineAuditVerification& verification);

// Tables with a header row; a final "next_page_token: T" line when another page follows.
std::string FormatCredentialList(const v1::ListCredentialsResponse& response);
std::string FormatResealJobList(const v1::ListResealJobsResponse& response);
std::string FormatOrgList(const v1::ListOrgsResponse& response);
std::string FormatAuditEventList(const v1::ListAuditEventsResponse& response);

}  // namespace credvault::cli

#endif  // CREDVAULT_CLI_OUTPUT_H_

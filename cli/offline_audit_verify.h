#ifndef CREDVAULT_CLI_OFFLINE_AUDIT_VERIFY_H_
#define CREDVAULT_CLI_OFFLINE_AUDIT_VERIFY_H_

// `credvaultctl audit verify --file EXPORT --public-key KEY`: an audit export checked
// against pinned public keys with no server and no database, so that a tenant need not
// trust the server it is auditing. The checks are crypto::VerifyAuditExport's; this adds
// the file: a damaged or truncated file is a failed verification too, named by line.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "cli/audit_export_file.h"
#include "credvault/v1/audit.pb.h"
#include "crypto/audit_export_verifier.h"
#include "crypto/audit_signer.h"

namespace credvault::cli {

struct OfflineAuditVerification {
  std::string org_id;
  // The verdict; when the file itself is damaged before any earlier failure,
  // first_broken_sequence is where the damage starts (the sequence after the last event
  // read, when the damaged line names none) and the detail gives the line.
  crypto::AuditExportVerification result;
  std::optional<v1::AuditCheckpoint> anchor_checkpoint;
  std::optional<v1::AuditCheckpoint> latest_checkpoint;
  std::vector<std::string> pinned_key_ids;
};

// The verdict on an export already read. INVALID_ARGUMENT if no key is given.
absl::StatusOr<OfflineAuditVerification> VerifyAuditExportFile(
    const AuditExportFile& file, absl::Span<const crypto::AuditSigningPublicKey> pinned_keys);

// Reads the export and the public key files, then verifies. An error means nothing was
// verified (a file that cannot be read, is not an audit export, or holds no public key);
// a broken export is a result with ok = false.
absl::StatusOr<OfflineAuditVerification> VerifyAuditExportOffline(
    const std::string& export_path, const std::vector<std::string>& public_key_paths);

}  // namespace credvault::cli

#endif  // CREDVAULT_CLI_OFFLINE_AUDIT_VERIFY_H_

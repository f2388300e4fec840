#ifndef CREDVAULT_CLI_AUDIT_EXPORT_FILE_H_
#define CREDVAULT_CLI_AUDIT_EXPORT_FILE_H_

// Reading the file `credvaultctl audit export` writes (format credvault.audit_export.v1,
// JSON lines, described in `credvaultctl --help`):
//   {"format":"credvault.audit_export.v1","org_id":"ORG"}          first line
//   {"signing_key":AuditSigningKey} | {"checkpoint":AuditCheckpoint} | {"event":AuditEvent}
//   {"end":{"events":N,"checkpoints":N,"signing_keys":N}}           last line
// Reading checks the form only; whether the content is genuine is for
// crypto::VerifyAuditExport. A line that cannot be taken is not an error but a defect of
// the export, reported with its line number, because a damaged export is exactly what a
// verifier is there to report.

#include <cstddef>
#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "credvault/v1/audit.pb.h"
#include "crypto/audit_export_verifier.h"

namespace credvault::cli {

namespace v1 = ::credvault::v1;

inline constexpr char kAuditExportFormat[] = "credvault.audit_export.v1";

// The first line that could not be taken (nothing after it is read), or the missing or
// wrong end record of a truncated file.
struct AuditExportDefect {
  std::size_t line = 0;  // 1-based
  // The sequence of the event or checkpoint on that line, when it could be read.
  std::optional<std::uint64_t> sequence;
  crypto::AuditExportFailure reason = crypto::AuditExportFailure::kMalformedEvent;
  std::string detail;
};

struct AuditExportFile {
  // org_id from the format line; events and checkpoints in the order of the file.
  crypto::AuditExport contents;
  // The checkpoints as exported, index for index with contents.checkpoints (for display).
  std::vector<v1::AuditCheckpoint> checkpoint_messages;
  // As exported: a verifier trusts only keys pinned out of band.
  std::vector<v1::AuditSigningKey> signing_keys;
  std::optional<AuditExportDefect> defect;
};

// FAILED_PRECONDITION when the input is not an audit export of a format this tool reads
// (first line); I/O errors as their errno code. Anything after the first line is taken
// as far as it can be and the rest reported as the defect.
absl::StatusOr<AuditExportFile> ParseAuditExport(std::istream& in);

// ParseAuditExport on the file at `path`; errors name the path.
absl::StatusOr<AuditExportFile> ReadAuditExportFile(const std::string& path);

}  // namespace credvault::cli

#endif  // CREDVAULT_CLI_AUDIT_EXPORT_FILE_H_

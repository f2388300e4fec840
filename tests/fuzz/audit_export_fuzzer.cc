// The offline audit export verifier (`credvaultctl audit verify --file`): the export file
// reader (cli/audit_export_file.h) and crypto::VerifyAuditExport behind it, on arbitrary
// file contents. The pinned key is fixed (tests/fuzz/fuzz_keys.h), so the seeds written by
// make_fuzz_seeds verify and the fuzzer mutates from exports that pass every check.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "cli/audit_export_file.h"
#include "cli/offline_audit_verify.h"
#include "crypto/audit_export_verifier.h"
#include "tests/fuzz/fuzz_keys.h"

namespace {

using ::credvault::crypto::AuditExportFailure;

const credvault::crypto::AuditSigningPublicKey* pinned = nullptr;

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  pinned =
      new credvault::crypto::AuditSigningPublicKey(credvault::fuzz::FuzzAuditSigner().public_key());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  absl::StatusOr<credvault::cli::AuditExportFile> file = credvault::cli::ParseAuditExport(in);
  if (!file.ok()) return 0;
  Check(!file->contents.org_id.empty());
  Check(file->checkpoint_messages.size() == file->contents.checkpoints.size());

  absl::StatusOr<credvault::cli::OfflineAuditVerification> verdict =
      credvault::cli::VerifyAuditExportFile(*file, absl::MakeConstSpan(pinned, 1));
  Check(verdict.ok());  // A key is pinned: every export gets a verdict.
  const credvault::crypto::AuditExportVerification& result = verdict->result;
  Check(result.ok == (result.failure == AuditExportFailure::kNone));
  Check(result.events_signed <= result.events_checked);
  Check(result.events_checked <= file->contents.events.size());
  if (file->defect.has_value()) Check(!result.ok);
  if (result.ok) {
    // A verified export is complete and anchored, and signed through its last event.
    Check(result.events_checked == file->contents.events.size());
    Check(result.events_signed == result.events_checked);
  }
  if (result.ok && result.events_checked > 0) {
    Check(result.signatures_verified >= 1);
    Check(result.latest_checkpoint.has_value());
    Check(*result.latest_checkpoint < file->contents.checkpoints.size());
  }
  if (result.anchor_checkpoint.has_value()) {
    Check(*result.anchor_checkpoint < file->contents.checkpoints.size());
  }
  return 0;
}

#include "cli/offline_audit_verify.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "cli/audit_public_key.h"

namespace credvault::cli {

absl::StatusOr<OfflineAuditVerification> VerifyAuditExportFile(
    const AuditExportFile& file, absl::Span<const crypto::AuditSigningPublicKey> pinned_keys) {
  absl::StatusOr<crypto::AuditExportVerification> result =
      crypto::VerifyAuditExport(file.contents, pinned_keys);
  if (!result.ok()) return result.status();
  OfflineAuditVerification out;
  out.org_id = file.contents.org_id;
  out.result = *std::move(result);
  for (const crypto::AuditSigningPublicKey& key : pinned_keys) {
    out.pinned_key_ids.push_back(crypto::AuditSigningKeyId(key));
  }

  if (file.defect.has_value()) {
    const AuditExportDefect& defect = *file.defect;
    const std::vector<crypto::ExportedAuditEvent>& events = file.contents.events;
    const std::uint64_t at =
        defect.sequence.value_or(events.empty() ? 0 : events.back().fields.sequence + 1);
    // What was read is verified as far as it goes; a failure there comes first. An
    // unsigned tail does not: the defect (often a cut-off end, checkpoint and all) explains
    // it, and signed_through_sequence still shows how far signatures reach.
    crypto::AuditExportVerification& r = out.result;
    const bool earlier_failure =
        !r.ok && r.failure != crypto::AuditExportFailure::kUnsigned && r.first_broken_sequence < at;
    if (!earlier_failure) {
      r.ok = false;
      r.failure = defect.reason;
      r.first_broken_sequence = at;
      r.failure_detail = absl::StrCat("line ", defect.line, ": ", defect.detail);
    }
  }

  const crypto::AuditExportVerification& r = out.result;
  if (r.anchor_checkpoint.has_value()) {
    out.anchor_checkpoint = file.checkpoint_messages[*r.anchor_checkpoint];
  }
  if (r.latest_checkpoint.has_value()) {
    out.latest_checkpoint = file.checkpoint_messages[*r.latest_checkpoint];
  }
  return out;
}

absl::StatusOr<OfflineAuditVerification> VerifyAuditExportOffline(
    const std::string& export_path, const std::vector<std::string>& public_key_paths) {
  std::vector<crypto::AuditSigningPublicKey> keys;
  for (const std::string& path : public_key_paths) {
    absl::StatusOr<crypto::AuditSigningPublicKey> key = ReadAuditPublicKeyFile(path);
    if (!key.ok()) return key.status();
    keys.push_back(*key);
  }
  absl::StatusOr<AuditExportFile> file = ReadAuditExportFile(export_path);
  if (!file.ok()) return file.status();
  return VerifyAuditExportFile(*file, keys);
}

}  // namespace credvault::cli

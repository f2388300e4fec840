#ifndef CREDVAULT_CRYPTO_AUDIT_EXPORT_VERIFIER_H_
#define CREDVAULT_CRYPTO_AUDIT_EXPORT_VERIFIER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "crypto/audit_chain.h"
#include "crypto/audit_signer.h"

namespace credvault::crypto {

// Offline verification of an org's audit export (AdminService.ExportAuditLog) against
// audit signing public keys pinned in advance. Pure computation: it trusts nothing in the
// export, reads no file and talks to no server, so anyone holding an export and the public
// key reaches the same verdict as the server would, without trusting the server.
//
// Checked, in order of sequence, stopping at the first failure:
//   * every event belongs to the export's org, carries 32-byte hashes, a sequence >= 1 and
//     a chain format this code knows; a format 1 event carries no appended_by (format 1
//     does not commit to it), and no format 1 event follows a format 2 one (a chain is
//     upgraded once, never back);
//   * sequences are gapless and ascending from the first event;
//   * the first event links to its anchor, and the export has one: genesis(org) of the
//     event's own chain format for sequence 1; for a later start, a checkpoint at the
//     sequence before it that is signed by a pinned key (the purge checkpoint a retained
//     chain continues from). Every checkpoint there must hold the first event's prev_hash.
//     Without a signed anchor nothing shows what came before the first event: its
//     predecessors may have been deleted, and the export fails as kUnanchored;
//   * each prev_hash equals the previous event's hash, and each hash equals the hash
//     recomputed from the event's fields by its chain format (audit_chain.h);
//   * each checkpoint is for the export's org, and, when it carries a signature, is signed
//     by a pinned key (looked up by signing_key_id) over its exact fields;
//   * each checkpoint at an exported sequence equals the recomputed chain head there;
//   * a checkpoint signed by a pinned key covers the last event: otherwise the events after
//     the last signed checkpoint link into the chain but nothing vouches that the server
//     wrote them (anyone can extend an unkeyed chain), and the export fails as kUnsigned.
// Checkpoints outside the exported range are checked for their signature only. An
// unsigned checkpoint (one written without a signing key) is allowed but vouches for
// nothing: it can neither cover events nor anchor an export.

// Why an export failed. Values 1-7 are those of credvault.v1.AuditVerificationFailure.
enum class AuditExportFailure {
  kNone = 0,
  kSequenceGap = 1,
  kAnchorMismatch = 2,
  kPrevHashMismatch = 3,
  kHashMismatch = 4,
  kCheckpointSignatureInvalid = 5,
  kCheckpointMismatch = 6,
  kMalformedEvent = 7,
  // The events from first_broken_sequence on link into the chain, but no checkpoint signed
  // by a pinned key covers them. The v1 API has no counterpart yet.
  kUnsigned = 8,
  // The export does not start at sequence 1, and no checkpoint signed by a pinned key at
  // the sequence before its first event vouches for the hash that event links to: the
  // events before it may have been deleted. The v1 API has no counterpart yet.
  kUnanchored = 9,
};

// The name of the v1 enum value without its AUDIT_VERIFICATION_FAILURE_ prefix
// ("HASH_MISMATCH"); "UNSIGNED" for kUnsigned, "UNANCHORED" for kUnanchored,
// "UNSPECIFIED" for kNone.
std::string_view AuditExportFailureName(AuditExportFailure failure);

// An event as exported. The hashes are kept as the bytes found, so that a wrong length is
// reported as a malformed event rather than lost in a conversion.
struct ExportedAuditEvent {
  AuditEventFields fields;
  std::vector<std::uint8_t> prev_hash;
  std::vector<std::uint8_t> hash;
};

// A checkpoint as exported. Unsigned when both signature and signing_key_id are empty.
struct ExportedAuditCheckpoint {
  std::string org_id;
  std::uint64_t sequence = 0;
  std::vector<std::uint8_t> chain_head_hash;
  std::int64_t time_unix_micros = 0;
  std::vector<std::uint8_t> signature;
  std::string signing_key_id;
};

struct AuditExport {
  std::string org_id;
  std::vector<ExportedAuditEvent> events;            // in the order of the export
  std::vector<ExportedAuditCheckpoint> checkpoints;  // in any order
};

struct AuditExportVerification {
  bool ok = true;
  // When !ok: the first sequence that does not verify (for a checkpoint, its sequence;
  // for an event out of place, the sequence expected there) and why.
  AuditExportFailure failure = AuditExportFailure::kNone;
  std::uint64_t first_broken_sequence = 0;
  std::string failure_detail;

  // The events that passed every check of their own, in sequence order.
  std::uint64_t events_checked = 0;
  std::uint64_t start_sequence = 0;  // 0 if none
  std::uint64_t end_sequence = 0;    // 0 if none

  // The highest sequence at which a checkpoint signed by a pinned key matched the
  // recomputed chain (0 if none), and how many of the checked events it vouches for.
  std::uint64_t signed_through_sequence = 0;
  std::uint64_t events_signed = 0;
  // Checkpoints whose signature verified under a pinned key.
  std::uint64_t signatures_verified = 0;

  // Indexes into AuditExport::checkpoints: the signed checkpoint the first event links to
  // (when the export does not start at sequence 1), and the newest signed checkpoint that
  // matched the chain.
  std::optional<std::size_t> anchor_checkpoint;
  std::optional<std::size_t> latest_checkpoint;
};

// INVALID_ARGUMENT if no key is pinned; otherwise the verdict, whatever the export holds.
absl::StatusOr<AuditExportVerification> VerifyAuditExport(
    const AuditExport& exported, absl::Span<const AuditSigningPublicKey> pinned_keys);

}  // namespace credvault::crypto

#endif  // CREDVAULT_CRYPTO_AUDIT_EXPORT_VERIFIER_H_

#ifndef CREDVAULT_SERVER_SERVICE_AUDIT_REQUESTS_H_
#define CREDVAULT_SERVER_SERVICE_AUDIT_REQUESTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "crypto/audit_chain.h"
#include "crypto/audit_signer.h"
#include "storage/audit_log.h"

// What the audit log RPCs of AdminService ask and answer (docs/security-model.md). The
// fields carry the raw values of the request: AuditHandler checks them.
namespace credvault::server {

struct ListAuditEventsParams {
  // An org id or `_system`.
  std::string org_id;
  // 0: the default page size.
  std::int32_t page_size = 0;
  std::string page_token;
  std::optional<std::uint64_t> start_sequence;
  std::optional<std::uint64_t> end_sequence;
  std::optional<absl::Time> start_time;
  // Exclusive.
  std::optional<absl::Time> end_time;
  // Empty: any action.
  std::string action;
};

struct ListAuditEventsResult {
  // In ascending order of sequence.
  std::vector<storage::AuditEvent> events;
  // Empty when there are no more events.
  std::string next_page_token;
};

struct VerifyAuditLogParams {
  // An org id or `_system`.
  std::string org_id;
};

struct VerifyAuditLogResult {
  // The org whose chain was verified; its checkpoints name it.
  std::string org_id;
  bool ok = false;
  // When !ok: the first event (or checkpoint) that failed, what failed and why.
  std::uint64_t first_broken_sequence = 0;
  storage::AuditBreak failure_reason = storage::AuditBreak::kNone;
  std::string failure_detail;
  std::uint64_t events_checked = 0;
  // The range walked; 0 when the chain is empty.
  std::uint64_t start_sequence = 0;
  std::uint64_t end_sequence = 0;
  // The newest checkpoint stored for the chain, if any.
  std::optional<storage::AuditCheckpoint> latest_checkpoint;
};

struct ExportAuditLogParams {
  // An org id or `_system`.
  std::string org_id;
  std::optional<std::uint64_t> start_sequence;
  std::optional<std::uint64_t> end_sequence;
};

// The public half of a key that signs checkpoints, for an offline verifier to compare with
// the key it pinned.
struct AuditSigningKey {
  std::string key_id;
  crypto::AuditSigningPublicKey public_key{};
};

// A checkpoint signed for an export at the head of what it exported, so that every exported
// event is covered by a signature. It is sent, not stored.
struct ExportCheckpoint {
  std::uint64_t seq = 0;
  crypto::AuditHash head_hash{};
  // What was signed, to the microsecond.
  absl::Time created_at;
  crypto::AuditSignature signature{};
  std::string signing_key_id;
};

// One message of an export stream.
struct ExportAuditLogResult {
  // The org whose chain is exported; its checkpoints name it.
  std::string org_id;
  // In ascending order of sequence.
  std::vector<storage::AuditEvent> events;
  // In the first message only: the stored checkpoints, in ascending order of sequence.
  std::vector<storage::AuditCheckpoint> checkpoints;
  // In the last message, when no stored signed checkpoint stands at the export's head.
  std::optional<ExportCheckpoint> export_checkpoint;
  // In the first message only.
  std::vector<AuditSigningKey> signing_keys;
  // No message follows this one.
  bool done = false;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SERVICE_AUDIT_REQUESTS_H_

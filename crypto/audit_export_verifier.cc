#include "crypto/audit_export_verifier.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace credvault::crypto {
namespace {

enum class SignatureState { kUnsigned, kValid, kRejected };

struct Failure {
  AuditExportFailure reason = AuditExportFailure::kNone;
  std::uint64_t sequence = 0;
  std::string detail;
};

// "event 5 is" or "events 5-9 are".
std::string EventsAre(std::uint64_t first, std::uint64_t last) {
  if (first == last) return absl::StrCat("event ", first, " is");
  return absl::StrCat("events ", first, "-", last, " are");
}

std::optional<AuditHash> AsHash(const std::vector<std::uint8_t>& bytes) {
  if (bytes.size() != kAuditHashSize) return std::nullopt;
  AuditHash hash;
  std::copy(bytes.begin(), bytes.end(), hash.begin());
  return hash;
}

class Verifier {
 public:
  Verifier(const AuditExport& exported, absl::Span<const AuditSigningPublicKey> pinned_keys)
      : exported_(exported) {
    for (const AuditSigningPublicKey& key : pinned_keys) keys_[AuditSigningKeyId(key)] = key;
  }

  AuditExportVerification Run() {
    std::optional<Failure> checkpoint_failure = CheckCheckpoints();
    std::optional<Failure> walk_failure = WalkEvents();
    // The lower sequence is the first bad one. On a tie the event's own failure comes first:
    // a checkpoint follows the event at its sequence.
    std::optional<Failure> failure = walk_failure;
    if (checkpoint_failure.has_value() &&
        (!failure.has_value() || checkpoint_failure->sequence < failure->sequence)) {
      failure = checkpoint_failure;
    }
    if (!failure.has_value()) failure = CheckCoverage();
    if (result_.events_checked > 0 && result_.signed_through_sequence >= result_.start_sequence) {
      result_.events_signed = std::min(result_.signed_through_sequence, result_.end_sequence) -
                              result_.start_sequence + 1;
    }
    if (failure.has_value()) {
      result_.ok = false;
      result_.failure = failure->reason;
      result_.first_broken_sequence = failure->sequence;
      result_.failure_detail = std::move(failure->detail);
    }
    return std::move(result_);
  }

 private:
  // Signature and org of every checkpoint, wherever it stands. Returns the failure with
  // the lowest sequence; rejected checkpoints are left out of the later checks.
  std::optional<Failure> CheckCheckpoints() {
    std::optional<Failure> first;
    const auto fail = [&first](AuditExportFailure reason, std::uint64_t sequence,
                               std::string detail) {
      if (!first.has_value() || sequence < first->sequence) {
        first = Failure{reason, sequence, std::move(detail)};
      }
    };
    state_.assign(exported_.checkpoints.size(), SignatureState::kRejected);
    for (std::size_t i = 0; i < exported_.checkpoints.size(); ++i) {
      const ExportedAuditCheckpoint& c = exported_.checkpoints[i];
      const std::string at = absl::StrCat("checkpoint at ", c.sequence);
      if (c.org_id != exported_.org_id) {
        fail(AuditExportFailure::kCheckpointMismatch, c.sequence,
             absl::StrCat(at, " is for org \"", c.org_id, "\", not \"", exported_.org_id, "\""));
        continue;
      }
      const std::optional<AuditHash> head = AsHash(c.chain_head_hash);
      if (!head.has_value()) {
        fail(AuditExportFailure::kMalformedEvent, c.sequence,
             absl::StrCat(at, " has a chain head of ", c.chain_head_hash.size(), " bytes, not ",
                          kAuditHashSize));
        continue;
      }
      if (c.signature.empty() && c.signing_key_id.empty()) {
        state_[i] = SignatureState::kUnsigned;
      } else if (const auto key = keys_.find(c.signing_key_id); key == keys_.end()) {
        fail(AuditExportFailure::kCheckpointSignatureInvalid, c.sequence,
             absl::StrCat(at, " is signed by key id \"", c.signing_key_id,
                          "\", which is not a pinned public key"));
        continue;
      } else if (!VerifyCheckpointSignature(key->second, c.org_id, c.sequence, *head,
                                            c.time_unix_micros, c.signature)) {
        fail(AuditExportFailure::kCheckpointSignatureInvalid, c.sequence,
             absl::StrCat("the signature of the ", at, " does not verify under pinned key ",
                          c.signing_key_id));
        continue;
      } else {
        state_[i] = SignatureState::kValid;
        ++result_.signatures_verified;
      }
      by_sequence_.emplace(c.sequence, i);
    }
    return first;
  }

  // The hash chain, event by event, and the checkpoints at the sequences it reaches.
  std::optional<Failure> WalkEvents() {
    const std::vector<ExportedAuditEvent>& events = exported_.events;
    if (events.empty()) return std::nullopt;
    std::set<std::uint64_t> present;
    for (const ExportedAuditEvent& e : events) present.insert(e.fields.sequence);

    AuditHash running{};
    std::uint64_t expected = events.front().fields.sequence;
    for (std::size_t i = 0; i < events.size(); ++i) {
      const ExportedAuditEvent& e = events[i];
      const std::uint64_t seq = e.fields.sequence;
      const std::string at = absl::StrCat("event ", seq);
      if (e.fields.org_id != exported_.org_id) {
        return Failure{AuditExportFailure::kMalformedEvent, seq,
                       absl::StrCat(at, " is for org \"", e.fields.org_id, "\", not \"",
                                    exported_.org_id, "\"")};
      }
      if (seq == 0) {
        return Failure{AuditExportFailure::kMalformedEvent, 0,
                       "an event has sequence 0; sequences start at 1"};
      }
      const std::optional<AuditHash> prev_hash = AsHash(e.prev_hash);
      const std::optional<AuditHash> hash = AsHash(e.hash);
      if (!prev_hash.has_value() || !hash.has_value()) {
        return Failure{AuditExportFailure::kMalformedEvent, seq,
                       absl::StrCat(at, " has a hash that is not ", kAuditHashSize, " bytes")};
      }
      if (std::optional<Failure> format =
              CheckFormat(e.fields, i == 0 ? nullptr : &events[i - 1].fields)) {
        return format;
      }
      if (seq != expected) return OutOfPlace(seq, expected, present);

      if (i == 0) {
        if (std::optional<Failure> anchor = CheckAnchor(e.fields, *prev_hash)) return anchor;
        running = *prev_hash;
      } else if (*prev_hash != running) {
        return Failure{
            AuditExportFailure::kPrevHashMismatch, seq,
            absl::StrCat("the prev_hash of ", at, " is not the hash of event ", seq - 1)};
      }
      const AuditHash computed = AuditChainStep(running, e.fields);
      if (computed != *hash) {
        return Failure{AuditExportFailure::kHashMismatch, seq,
                       absl::StrCat(at, " does not match its hash: its fields were changed")};
      }
      const auto [begin, end] = by_sequence_.equal_range(seq);
      for (auto it = begin; it != end; ++it) {
        const ExportedAuditCheckpoint& c = exported_.checkpoints[it->second];
        if (*AsHash(c.chain_head_hash) != computed) {
          return Failure{AuditExportFailure::kCheckpointMismatch, seq,
                         absl::StrCat("the chain head of the checkpoint at ", seq,
                                      " differs from the hash recomputed from the events")};
        }
        if (state_[it->second] == SignatureState::kValid) {
          result_.signed_through_sequence = seq;
          result_.latest_checkpoint = it->second;
        }
      }
      if (result_.events_checked == 0) result_.start_sequence = seq;
      result_.end_sequence = seq;
      ++result_.events_checked;
      running = computed;
      expected = seq + 1;
    }
    return std::nullopt;
  }

  // A chain format this code hashes, appended_by only where the format commits to it, and
  // no return to format 1 after format 2: the database computes format 2 itself, so a
  // format 1 event after it was written by something that should not append at all.
  static std::optional<Failure> CheckFormat(const AuditEventFields& event,
                                            const AuditEventFields* previous) {
    const std::uint64_t seq = event.sequence;
    if (!IsKnownAuditChainFormat(event.format)) {
      return Failure{AuditExportFailure::kMalformedEvent, seq,
                     absl::StrCat("event ", seq, " has chain format ",
                                  static_cast<std::uint32_t>(event.format),
                                  ", which this verifier does not know")};
    }
    if (event.format == AuditChainFormat::kV1 && !event.appended_by.empty()) {
      return Failure{AuditExportFailure::kMalformedEvent, seq,
                     absl::StrCat("event ", seq,
                                  " is of chain format 1, which does not commit to appended_by, "
                                  "yet carries one")};
    }
    if (previous != nullptr && previous->format == AuditChainFormat::kV2 &&
        event.format == AuditChainFormat::kV1) {
      return Failure{AuditExportFailure::kMalformedEvent, seq,
                     absl::StrCat("event ", seq, " is of chain format 1 but follows event ",
                                  previous->sequence, " of chain format 2")};
    }
    return std::nullopt;
  }

  // The first event's link: genesis of its own chain format for sequence 1; for a later
  // start, a checkpoint signed by a pinned key at the sequence before it. Every checkpoint
  // there must hold the first event's prev_hash; an unsigned one alone anchors nothing,
  // since anyone who deletes the oldest events can write one.
  std::optional<Failure> CheckAnchor(const AuditEventFields& first, const AuditHash& prev_hash) {
    const std::uint64_t seq = first.sequence;
    if (seq == 1) {
      if (prev_hash != AuditChainGenesis(exported_.org_id, first.format)) {
        return Failure{AuditExportFailure::kAnchorMismatch, seq,
                       absl::StrCat("event 1 does not link to the chain format ",
                                    static_cast<std::uint32_t>(first.format), " genesis of org \"",
                                    exported_.org_id, "\"")};
      }
      return std::nullopt;
    }
    bool unsigned_present = false;
    const auto [begin, end] = by_sequence_.equal_range(seq - 1);
    for (auto it = begin; it != end; ++it) {
      if (*AsHash(exported_.checkpoints[it->second].chain_head_hash) != prev_hash) {
        return Failure{AuditExportFailure::kAnchorMismatch, seq,
                       absl::StrCat("event ", seq, " does not link to the checkpoint at ", seq - 1,
                                    " that the export starts from")};
      }
      if (state_[it->second] == SignatureState::kValid) {
        result_.anchor_checkpoint = it->second;
      } else {
        unsigned_present = true;
      }
    }
    if (result_.anchor_checkpoint.has_value()) return std::nullopt;
    return Failure{
        AuditExportFailure::kUnanchored, seq,
        absl::StrCat("the export starts at event ", seq, ", and ",
                     unsigned_present
                         ? absl::StrCat("the checkpoint at ", seq - 1, " it links to is unsigned")
                         : absl::StrCat("no checkpoint at ", seq - 1, " anchors it"),
                     ": nothing signed by a pinned key shows what came before it, so earlier "
                     "events may have been deleted")};
  }

  // An event whose sequence is not the next one: a gap if the expected event is nowhere in
  // the export, else events were reordered or repeated.
  static Failure OutOfPlace(std::uint64_t seq, std::uint64_t expected,
                            const std::set<std::uint64_t>& present) {
    if (seq > expected && present.count(expected) == 0) {
      return Failure{AuditExportFailure::kSequenceGap, expected,
                     absl::StrCat("event ", expected, " is missing: event ", seq, " follows event ",
                                  expected - 1)};
    }
    if (seq < expected) {
      return Failure{AuditExportFailure::kPrevHashMismatch, seq,
                     absl::StrCat("event ", seq, " appears again after event ", expected - 1,
                                  ": events were repeated or reordered")};
    }
    return Failure{AuditExportFailure::kPrevHashMismatch, expected,
                   absl::StrCat("event ", seq, " stands where event ", expected,
                                " belongs: events were reordered")};
  }

  // Every exported event must be vouched for by a signature; an empty export needs a
  // signed checkpoint of the head.
  std::optional<Failure> CheckCoverage() const {
    if (result_.events_checked == 0) {
      if (result_.signatures_verified > 0) return std::nullopt;
      return Failure{AuditExportFailure::kUnsigned, 0,
                     "the export holds no event and no checkpoint signed by a pinned key"};
    }
    if (result_.signed_through_sequence >= result_.end_sequence) return std::nullopt;
    if (result_.signed_through_sequence == 0) {
      return Failure{AuditExportFailure::kUnsigned, result_.start_sequence,
                     absl::StrCat("no checkpoint signed by a pinned key covers the export: ",
                                  EventsAre(result_.start_sequence, result_.end_sequence),
                                  " hash-linked but unsigned")};
    }
    return Failure{
        AuditExportFailure::kUnsigned, result_.signed_through_sequence + 1,
        absl::StrCat(EventsAre(result_.signed_through_sequence + 1, result_.end_sequence),
                     " hash-linked but unsigned: signed checkpoints cover the export "
                     "up to event ",
                     result_.signed_through_sequence)};
  }

  const AuditExport& exported_;
  std::map<std::string, AuditSigningPublicKey> keys_;
  std::vector<SignatureState> state_;
  // Checkpoints not rejected, by sequence.
  std::multimap<std::uint64_t, std::size_t> by_sequence_;
  AuditExportVerification result_;
};

}  // namespace

std::string_view AuditExportFailureName(AuditExportFailure failure) {
  switch (failure) {
    case AuditExportFailure::kNone:
      return "UNSPECIFIED";
    case AuditExportFailure::kSequenceGap:
      return "SEQUENCE_GAP";
    case AuditExportFailure::kAnchorMismatch:
      return "ANCHOR_MISMATCH";
    case AuditExportFailure::kPrevHashMismatch:
      return "PREV_HASH_MISMATCH";
    case AuditExportFailure::kHashMismatch:
      return "HASH_MISMATCH";
    case AuditExportFailure::kCheckpointSignatureInvalid:
      return "CHECKPOINT_SIGNATURE_INVALID";
    case AuditExportFailure::kCheckpointMismatch:
      return "CHECKPOINT_MISMATCH";
    case AuditExportFailure::kMalformedEvent:
      return "MALFORMED_EVENT";
    case AuditExportFailure::kUnsigned:
      return "UNSIGNED";
    case AuditExportFailure::kUnanchored:
      return "UNANCHORED";
  }
  return "UNSPECIFIED";
}

absl::StatusOr<AuditExportVerification> VerifyAuditExport(
    const AuditExport& exported, absl::Span<const AuditSigningPublicKey> pinned_keys) {
  if (pinned_keys.empty()) {
    return absl::InvalidArgumentError("at least one audit signing public key must be pinned");
  }
  return Verifier(exported, pinned_keys).Run();
}

}  // namespace credvault::crypto

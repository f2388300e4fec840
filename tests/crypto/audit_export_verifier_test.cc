// Offline verification of audit exports: chains built with the real hash chain and signed
// with a real AuditSigner, verified intact, then tampered with one way at a time.

#include "crypto/audit_export_verifier.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "crypto/audit_chain.h"
#include "crypto/audit_signer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/crypto/crypto_test_util.h"

namespace credvault::crypto {
namespace {

using ::credvault::crypto::testing::FilledKey;
using ::credvault::crypto::testing::ValueOrDie;
using ::testing::HasSubstr;

constexpr char kOrg[] = "org-a";
constexpr std::int64_t kStart = 1700000000000000;

std::vector<std::uint8_t> Bytes(const AuditHash& hash) { return {hash.begin(), hash.end()}; }

// An org's chain and checkpoints as the server would export them.
class ChainBuilder {
 public:
  explicit ChainBuilder(const AuditSigner& signer, std::string org = kOrg)
      : signer_(signer), org_(std::move(org)), running_(AuditChainGenesis(org_)) {}

  // Appends events up to `last`, as the server's AuditLog does.
  ChainBuilder& EventsThrough(std::uint64_t last) {
    while (next_ <= last) {
      AuditEventFields fields{org_,
                              next_,
                              kStart + static_cast<std::int64_t>(next_),
                              "spiffe://credvault.test/backend",
                              "credential.put",
                              "db/password@" + std::to_string(next_),
                              "ok",
                              "req-" + std::to_string(next_),
                              ""};
      const AuditHash hash = AuditChainStep(running_, fields);
      ExportedAuditEvent event{fields, Bytes(running_), Bytes(hash)};
      all_events_.push_back(event);
      heads_.push_back(hash);
      running_ = hash;
      ++next_;
    }
    return *this;
  }

  ChainBuilder& Signed(std::uint64_t seq) { return Checkpoint(seq, &signer_); }
  ChainBuilder& Unsigned(std::uint64_t seq) { return Checkpoint(seq, nullptr); }
  ChainBuilder& SignedBy(std::uint64_t seq, const AuditSigner& other) {
    return Checkpoint(seq, &other);
  }

  // The export of events first..last (what survives a purge of the events before `first`).
  AuditExport Export(std::uint64_t first = 1) const {
    AuditExport exported{org_, {}, checkpoints_};
    for (const ExportedAuditEvent& e : all_events_) {
      if (e.fields.sequence >= first) exported.events.push_back(e);
    }
    return exported;
  }

  AuditHash Head(std::uint64_t seq) const {
    return seq == 0 ? AuditChainGenesis(org_) : heads_.at(seq - 1);
  }

 private:
  ChainBuilder& Checkpoint(std::uint64_t seq, const AuditSigner* signer) {
    const AuditHash head = Head(seq);
    ExportedAuditCheckpoint c{org_, seq, Bytes(head), kStart + 500000, {}, ""};
    if (signer != nullptr) {
      const AuditSignature signature = signer->SignCheckpoint(org_, seq, head, c.time_unix_micros);
      c.signature.assign(signature.begin(), signature.end());
      c.signing_key_id = signer->key_id();
    }
    checkpoints_.push_back(std::move(c));
    return *this;
  }

  const AuditSigner& signer_;
  std::string org_;
  AuditHash running_;
  std::uint64_t next_ = 1;
  std::vector<ExportedAuditEvent> all_events_;
  std::vector<AuditHash> heads_;
  std::vector<ExportedAuditCheckpoint> checkpoints_;
};

class AuditExportVerifierTest : public ::testing::Test {
 protected:
  AuditExportVerification Verify(const AuditExport& exported) const {
    return Verify(exported, {signer_.public_key()});
  }
  static AuditExportVerification Verify(const AuditExport& exported,
                                        const std::vector<AuditSigningPublicKey>& keys) {
    return ValueOrDie(VerifyAuditExport(exported, keys));
  }

  // Six events, a periodic checkpoint at 3 and the export's checkpoint at 6.
  AuditExport Intact() const {
    return ChainBuilder(signer_).EventsThrough(6).Signed(3).Signed(6).Export();
  }

  const AuditSigner signer_ = ValueOrDie(AuditSigner::FromSeed(FilledKey(0x42)));
  const AuditSigner stranger_ = ValueOrDie(AuditSigner::FromSeed(FilledKey(0x43)));
};

void ExpectBroken(const AuditExportVerification& v, std::uint64_t seq, AuditExportFailure reason) {
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_broken_sequence, seq) << v.failure_detail;
  EXPECT_EQ(AuditExportFailureName(v.failure), AuditExportFailureName(reason)) << v.failure_detail;
  EXPECT_FALSE(v.failure_detail.empty());
}

TEST_F(AuditExportVerifierTest, IntactExportVerifiesAndIsFullyCovered) {
  const AuditExport exported = Intact();
  const AuditExportVerification v = Verify(exported);
  ASSERT_TRUE(v.ok) << v.failure_detail;
  EXPECT_EQ(v.failure, AuditExportFailure::kNone);
  EXPECT_EQ(v.events_checked, 6u);
  EXPECT_EQ(v.start_sequence, 1u);
  EXPECT_EQ(v.end_sequence, 6u);
  EXPECT_EQ(v.signed_through_sequence, 6u);
  EXPECT_EQ(v.events_signed, 6u);
  EXPECT_EQ(v.signatures_verified, 2u);
  ASSERT_TRUE(v.latest_checkpoint.has_value());
  EXPECT_EQ(exported.checkpoints[*v.latest_checkpoint].sequence, 6u);
  EXPECT_FALSE(v.anchor_checkpoint.has_value());
}

TEST_F(AuditExportVerifierTest, NeedsAPinnedKey) {
  EXPECT_EQ(VerifyAuditExport(Intact(), {}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(AuditExportVerifierTest, EditedFieldOfAMiddleEventIsAHashMismatch) {
  for (const auto& edit : std::vector<void (*)(AuditEventFields&)>{
           [](AuditEventFields& f) { f.principal = "spiffe://credvault.test/someone-else"; },
           [](AuditEventFields& f) { f.action = "credential.delete"; },
           [](AuditEventFields& f) { f.target = "other"; },
           [](AuditEventFields& f) { f.result = "permission_denied"; },
           [](AuditEventFields& f) { f.request_id = "req-x"; },
           [](AuditEventFields& f) { f.details = "purpose"; },
           [](AuditEventFields& f) { f.time_unix_micros += 1; },
       }) {
    AuditExport exported = Intact();
    edit(exported.events[3].fields);
    ExpectBroken(Verify(exported), 4, AuditExportFailure::kHashMismatch);
  }
}

TEST_F(AuditExportVerifierTest, EditedEventWithRecomputedHashBreaksTheNextLink) {
  AuditExport exported = Intact();
  ExportedAuditEvent& e = exported.events[3];
  e.fields.details = "rewritten";
  AuditHash previous;
  std::copy(e.prev_hash.begin(), e.prev_hash.end(), previous.begin());
  e.hash = Bytes(AuditChainStep(previous, e.fields));
  ExpectBroken(Verify(exported), 5, AuditExportFailure::kPrevHashMismatch);
}

TEST_F(AuditExportVerifierTest, DeletedEventIsASequenceGap) {
  AuditExport exported = Intact();
  exported.events.erase(exported.events.begin() + 2);
  const AuditExportVerification v = Verify(exported);
  ExpectBroken(v, 3, AuditExportFailure::kSequenceGap);
  EXPECT_EQ(v.events_checked, 2u);
  EXPECT_EQ(v.end_sequence, 2u);
}

TEST_F(AuditExportVerifierTest, DeletedLastEventLeavesTheTailUnsigned) {
  // The export's own checkpoint at 6 then stands beyond the events: nothing covers 4-5.
  AuditExport exported = Intact();
  exported.events.pop_back();
  const AuditExportVerification v = Verify(exported);
  ExpectBroken(v, 4, AuditExportFailure::kUnsigned);
  EXPECT_EQ(v.signed_through_sequence, 3u);
  EXPECT_EQ(v.events_signed, 3u);
}

TEST_F(AuditExportVerifierTest, InsertedEventIsCaught) {
  // Forged with the next sequence and a correct link, the rest renumbered and rehashed:
  // the chain is consistent again, but the signed head at 6 no longer matches.
  const ChainBuilder builder =
      std::move(ChainBuilder(signer_).EventsThrough(6).Signed(3).Signed(6));
  AuditExport exported = builder.Export();
  std::vector<ExportedAuditEvent> events(exported.events.begin(), exported.events.begin() + 4);
  AuditHash running = builder.Head(4);
  for (std::size_t i = 4; i <= exported.events.size(); ++i) {
    AuditEventFields fields =
        i == 4 ? AuditEventFields{kOrg, 5,    kStart + 5,   "forger",          "credential.decrypt",
                                  "db", "ok", "req-forged", "looks legitimate"}
               : exported.events[i - 1].fields;
    fields.sequence = i + 1;
    const AuditHash hash = AuditChainStep(running, fields);
    events.push_back({fields, Bytes(running), Bytes(hash)});
    running = hash;
  }
  exported.events = events;
  ExpectBroken(Verify(exported), 6, AuditExportFailure::kCheckpointMismatch);

  // A second event under an existing sequence number.
  AuditExport duplicated = Intact();
  duplicated.events.insert(duplicated.events.begin() + 3, duplicated.events[2]);
  ExpectBroken(Verify(duplicated), 3, AuditExportFailure::kPrevHashMismatch);
}

TEST_F(AuditExportVerifierTest, ReorderedEventsAreAPrevHashMismatch) {
  AuditExport exported = Intact();
  std::swap(exported.events[1], exported.events[2]);
  const AuditExportVerification v = Verify(exported);
  ExpectBroken(v, 2, AuditExportFailure::kPrevHashMismatch);
  EXPECT_THAT(v.failure_detail, HasSubstr("reordered"));
}

TEST_F(AuditExportVerifierTest, ChangedCheckpointHeadFailsItsSignature) {
  AuditExport exported = Intact();
  exported.checkpoints[0].chain_head_hash[0] ^= 1;
  ExpectBroken(Verify(exported), 3, AuditExportFailure::kCheckpointSignatureInvalid);
}

TEST_F(AuditExportVerifierTest, ResignedCheckpointWithAnotherHeadIsAMismatch) {
  // Signed by the pinned key over a head that is not the chain's (as a rewritten chain
  // would show against a checkpoint signed before the rewrite).
  AuditExport exported = Intact();
  ExportedAuditCheckpoint& c = exported.checkpoints[0];
  AuditHash other{};
  other[0] = 7;
  c.chain_head_hash = Bytes(other);
  const AuditSignature signature = signer_.SignCheckpoint(kOrg, 3, other, c.time_unix_micros);
  c.signature.assign(signature.begin(), signature.end());
  ExpectBroken(Verify(exported), 3, AuditExportFailure::kCheckpointMismatch);
}

TEST_F(AuditExportVerifierTest, CheckpointSignedByAnotherKeyIsInvalid) {
  const AuditExport exported =
      ChainBuilder(signer_).EventsThrough(6).SignedBy(3, stranger_).Signed(6).Export();
  const AuditExportVerification v = Verify(exported);
  ExpectBroken(v, 3, AuditExportFailure::kCheckpointSignatureInvalid);
  EXPECT_THAT(v.failure_detail, HasSubstr(stranger_.key_id()));
  EXPECT_THAT(v.failure_detail, HasSubstr("not a pinned public key"));

  // A signature by another key passed off under the pinned key's id.
  AuditExport relabelled = exported;
  relabelled.checkpoints[0].signing_key_id = signer_.key_id();
  ExpectBroken(Verify(relabelled), 3, AuditExportFailure::kCheckpointSignatureInvalid);
}

TEST_F(AuditExportVerifierTest, WrongPinnedKeyRejectsTheFirstSignedCheckpoint) {
  ExpectBroken(Verify(Intact(), {stranger_.public_key()}), 3,
               AuditExportFailure::kCheckpointSignatureInvalid);
  // Both keys pinned (a rotation): fine.
  EXPECT_TRUE(Verify(Intact(), {stranger_.public_key(), signer_.public_key()}).ok);
  const AuditExport rotated =
      ChainBuilder(signer_).EventsThrough(6).SignedBy(3, stranger_).Signed(6).Export();
  EXPECT_TRUE(Verify(rotated, {stranger_.public_key(), signer_.public_key()}).ok);
}

TEST_F(AuditExportVerifierTest, ExportWithoutSignedCheckpointFails) {
  const AuditExportVerification v =
      Verify(ChainBuilder(signer_).EventsThrough(4).Unsigned(2).Export());
  ExpectBroken(v, 1, AuditExportFailure::kUnsigned);
  EXPECT_EQ(v.events_checked, 4u);
  EXPECT_EQ(v.events_signed, 0u);
  EXPECT_THAT(v.failure_detail, HasSubstr("1-4"));
  ExpectBroken(Verify(ChainBuilder(signer_).EventsThrough(4).Export()), 1,
               AuditExportFailure::kUnsigned);
}

TEST_F(AuditExportVerifierTest, UnsignedTailIsNamed) {
  const AuditExportVerification v =
      Verify(ChainBuilder(signer_).EventsThrough(6).Signed(4).Export());
  ExpectBroken(v, 5, AuditExportFailure::kUnsigned);
  EXPECT_EQ(v.signed_through_sequence, 4u);
  EXPECT_EQ(v.events_signed, 4u);
  EXPECT_EQ(v.events_checked, 6u);
}

TEST_F(AuditExportVerifierTest, PurgedChainVerifiesFromItsCheckpoint) {
  // Events 1-3 purged: the unsigned purge checkpoint at 3 is the anchor.
  const ChainBuilder builder =
      std::move(ChainBuilder(signer_).EventsThrough(7).Unsigned(3).Signed(7));
  const AuditExport exported = builder.Export(4);
  const AuditExportVerification v = Verify(exported);
  ASSERT_TRUE(v.ok) << v.failure_detail;
  EXPECT_EQ(v.start_sequence, 4u);
  EXPECT_EQ(v.events_signed, 4u);
  ASSERT_TRUE(v.anchor_checkpoint.has_value());
  EXPECT_EQ(exported.checkpoints[*v.anchor_checkpoint].sequence, 3u);

  AuditExport wrong_anchor = exported;
  wrong_anchor.checkpoints[0].chain_head_hash[5] ^= 1;
  ExpectBroken(Verify(wrong_anchor), 4, AuditExportFailure::kAnchorMismatch);

  // Without a checkpoint just before it, the first event is the start of a partial range
  // (an export with a start sequence): it verifies as such, and says where it starts. No
  // signature commits to where an export starts, so this is all an export can tell.
  AuditExport dropped = exported;
  dropped.events.erase(dropped.events.begin());
  const AuditExportVerification partial = Verify(dropped);
  EXPECT_TRUE(partial.ok) << partial.failure_detail;
  EXPECT_EQ(partial.start_sequence, 5u);
  EXPECT_FALSE(partial.anchor_checkpoint.has_value());
}

TEST_F(AuditExportVerifierTest, FirstEventMustLinkToGenesis) {
  AuditExport exported = Intact();
  exported.events[0].prev_hash[0] ^= 1;
  ExpectBroken(Verify(exported), 1, AuditExportFailure::kAnchorMismatch);

  // Another org's chain relabelled as this org's: every event names the other org.
  AuditExport transplanted = ChainBuilder(signer_, "org-b").EventsThrough(3).Signed(3).Export();
  transplanted.org_id = kOrg;
  ExpectBroken(Verify(transplanted), 1, AuditExportFailure::kMalformedEvent);
}

TEST_F(AuditExportVerifierTest, MalformedEventsAndCheckpoints) {
  AuditExport short_hash = Intact();
  short_hash.events[2].hash.pop_back();
  ExpectBroken(Verify(short_hash), 3, AuditExportFailure::kMalformedEvent);

  AuditExport other_org = Intact();
  other_org.checkpoints[0].org_id = "org-b";
  ExpectBroken(Verify(other_org), 3, AuditExportFailure::kCheckpointMismatch);

  AuditExport short_head = Intact();
  short_head.checkpoints[1].chain_head_hash.resize(16);
  ExpectBroken(Verify(short_head), 6, AuditExportFailure::kMalformedEvent);
}

TEST_F(AuditExportVerifierTest, TheLowestBrokenSequenceIsReported) {
  // A bad checkpoint at 3 comes before an edit at 5...
  AuditExport exported = Intact();
  exported.checkpoints[0].signature[0] ^= 1;
  exported.events[4].fields.target = "edited";
  ExpectBroken(Verify(exported), 3, AuditExportFailure::kCheckpointSignatureInvalid);
  // ...and an edit at 2 before it.
  exported.events[1].fields.target = "edited";
  ExpectBroken(Verify(exported), 2, AuditExportFailure::kHashMismatch);
}

TEST_F(AuditExportVerifierTest, EmptyExportNeedsASignedHead) {
  AuditExport empty = ChainBuilder(signer_).EventsThrough(2).Signed(2).Export(3);
  EXPECT_TRUE(Verify(empty).ok);
  empty.checkpoints.clear();
  ExpectBroken(Verify(empty), 0, AuditExportFailure::kUnsigned);
}

}  // namespace
}  // namespace credvault::crypto

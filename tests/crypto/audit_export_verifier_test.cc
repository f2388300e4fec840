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

  // The chain format (and appending role) of the events appended from here on; format 1
  // by default, as before the database computed the chain.
  ChainBuilder& Format(AuditChainFormat format, std::string appended_by = "") {
    format_ = format;
    appended_by_ = std::move(appended_by);
    return *this;
  }

  // Appends events up to `last`, as the server's AuditLog does.
  ChainBuilder& EventsThrough(std::uint64_t last) {
    if (next_ == 1) running_ = AuditChainGenesis(org_, format_);
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
      fields.appended_by = appended_by_;
      fields.format = format_;
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
    return seq == 0 ? AuditChainGenesis(org_, format_) : heads_.at(seq - 1);
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
  AuditChainFormat format_ = AuditChainFormat::kV1;
  std::string appended_by_;
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

TEST_F(AuditExportVerifierTest, PurgedChainVerifiesFromItsSignedCheckpoint) {
  // Events 1-3 purged: the signed purge checkpoint at 3 is the anchor.
  const ChainBuilder builder =
      std::move(ChainBuilder(signer_).EventsThrough(7).Signed(3).Signed(7));
  const AuditExport exported = builder.Export(4);
  const AuditExportVerification v = Verify(exported);
  ASSERT_TRUE(v.ok) << v.failure_detail;
  EXPECT_EQ(v.start_sequence, 4u);
  EXPECT_EQ(v.events_checked, 4u);
  EXPECT_EQ(v.events_signed, 4u);
  ASSERT_TRUE(v.anchor_checkpoint.has_value());
  EXPECT_EQ(exported.checkpoints[*v.anchor_checkpoint].sequence, 3u);

  // The anchor's head edited: its signature no longer verifies.
  AuditExport edited_anchor = exported;
  edited_anchor.checkpoints[0].chain_head_hash[5] ^= 1;
  ExpectBroken(Verify(edited_anchor), 3, AuditExportFailure::kCheckpointSignatureInvalid);

  // Signed by the pinned key over another head (a chain rewritten after it was signed).
  AuditExport wrong_anchor = exported;
  ExportedAuditCheckpoint& c = wrong_anchor.checkpoints[0];
  AuditHash other{};
  other[0] = 7;
  c.chain_head_hash = Bytes(other);
  const AuditSignature signature = signer_.SignCheckpoint(kOrg, 3, other, c.time_unix_micros);
  c.signature.assign(signature.begin(), signature.end());
  ExpectBroken(Verify(wrong_anchor), 4, AuditExportFailure::kAnchorMismatch);

  // A second, unsigned checkpoint at 3 that disagrees with the signed one.
  AuditExport contradicted = exported;
  ExportedAuditCheckpoint contradiction = contradicted.checkpoints[0];
  contradiction.signature.clear();
  contradiction.signing_key_id.clear();
  contradiction.chain_head_hash = Bytes(other);
  contradicted.checkpoints.push_back(contradiction);
  ExpectBroken(Verify(contradicted), 4, AuditExportFailure::kAnchorMismatch);
}

TEST_F(AuditExportVerifierTest, DeletedOldestEventsAreUnanchored) {
  // Events 1-2 of an intact export deleted. Every remaining event links, and the signed
  // checkpoints at 3 and 6 still match: only the missing anchor shows the deletion.
  AuditExport exported = Intact();
  exported.events.erase(exported.events.begin(), exported.events.begin() + 2);
  const AuditExportVerification v = Verify(exported);
  ExpectBroken(v, 3, AuditExportFailure::kUnanchored);
  EXPECT_EQ(AuditExportFailureName(v.failure), "UNANCHORED");
  EXPECT_THAT(v.failure_detail, HasSubstr("no checkpoint at 2"));
  EXPECT_THAT(v.failure_detail, HasSubstr("deleted"));
  EXPECT_EQ(v.events_checked, 0u);
  EXPECT_FALSE(v.anchor_checkpoint.has_value());

  // Only event 1 deleted: the same.
  AuditExport first_gone = Intact();
  first_gone.events.erase(first_gone.events.begin());
  ExpectBroken(Verify(first_gone), 2, AuditExportFailure::kUnanchored);
}

TEST_F(AuditExportVerifierTest, UnsignedCheckpointAnchorsNothing) {
  // A purge that left an unsigned checkpoint: the retained events link to it, and a
  // signed checkpoint covers them, but nothing signed vouches for the anchor.
  const ChainBuilder builder =
      std::move(ChainBuilder(signer_).EventsThrough(7).Unsigned(3).Signed(7));
  const AuditExportVerification purged = Verify(builder.Export(4));
  ExpectBroken(purged, 4, AuditExportFailure::kUnanchored);
  EXPECT_THAT(purged.failure_detail, HasSubstr("checkpoint at 3 it links to is unsigned"));

  // The oldest events deleted and an unsigned checkpoint forged where they end: anyone can
  // write one, since it needs only the hash the first remaining event links to.
  AuditExport forged = Intact();
  forged.events.erase(forged.events.begin(), forged.events.begin() + 2);
  forged.checkpoints.push_back({kOrg, 2, forged.events.front().prev_hash, kStart + 600000, {}, ""});
  ExpectBroken(Verify(forged), 3, AuditExportFailure::kUnanchored);

  // The unsigned purge checkpoint dropped as well.
  AuditExport dropped = builder.Export(4);
  dropped.checkpoints.erase(dropped.checkpoints.begin());
  ExpectBroken(Verify(dropped), 4, AuditExportFailure::kUnanchored);

  // A checkpoint passed off as signed, by a key that is not pinned: refused for that.
  AuditExport stranger_signed =
      ChainBuilder(signer_).EventsThrough(7).SignedBy(3, stranger_).Signed(7).Export(4);
  ExpectBroken(Verify(stranger_signed), 3, AuditExportFailure::kCheckpointSignatureInvalid);
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

TEST_F(AuditExportVerifierTest, Format2ChainVerifiesFromItsOwnGenesis) {
  const ChainBuilder builder = std::move(ChainBuilder(signer_)
                                             .Format(AuditChainFormat::kV2, "credvault_writer")
                                             .EventsThrough(5)
                                             .Signed(5));
  const AuditExport exported = builder.Export();
  EXPECT_EQ(exported.events[0].prev_hash, Bytes(AuditChainGenesis(kOrg, AuditChainFormat::kV2)));
  const AuditExportVerification v = Verify(exported);
  ASSERT_TRUE(v.ok) << v.failure_detail;
  EXPECT_EQ(v.events_signed, 5u);

  // Linked to the format 1 genesis instead (and rehashed to match): not this org's anchor.
  AuditExport wrong_genesis = exported;
  ExportedAuditEvent& first = wrong_genesis.events[0];
  first.prev_hash = Bytes(AuditChainGenesis(kOrg, AuditChainFormat::kV1));
  first.hash = Bytes(AuditChainStep(AuditChainGenesis(kOrg, AuditChainFormat::kV1), first.fields));
  ExpectBroken(Verify(wrong_genesis), 1, AuditExportFailure::kAnchorMismatch);

  // The appending role is hashed: another role named is an edit.
  AuditExport other_role = exported;
  other_role.events[2].fields.appended_by = "credvault_admin";
  ExpectBroken(Verify(other_role), 3, AuditExportFailure::kHashMismatch);
  AuditExport no_role = exported;
  no_role.events[2].fields.appended_by.clear();
  ExpectBroken(Verify(no_role), 3, AuditExportFailure::kHashMismatch);

  // Relabelled as format 1 (whose hash ignores the role): a return to format 1 is refused.
  AuditExport relabelled = exported;
  relabelled.events[4].fields.format = AuditChainFormat::kV1;
  relabelled.events[4].fields.appended_by.clear();
  ExpectBroken(Verify(relabelled), 5, AuditExportFailure::kMalformedEvent);
  relabelled.events[3].fields.format = AuditChainFormat::kV1;
  relabelled.events[3].fields.appended_by.clear();
  ExpectBroken(Verify(relabelled), 4, AuditExportFailure::kMalformedEvent);
}

TEST_F(AuditExportVerifierTest, UpgradedChainHoldsFormat1ThenFormat2) {
  const AuditExport exported = ChainBuilder(signer_)
                                   .EventsThrough(3)
                                   .Signed(3)
                                   .Format(AuditChainFormat::kV2, "credvault_writer")
                                   .EventsThrough(6)
                                   .Signed(6)
                                   .Export();
  EXPECT_EQ(exported.events[0].prev_hash, Bytes(AuditChainGenesis(kOrg)));
  const AuditExportVerification v = Verify(exported);
  ASSERT_TRUE(v.ok) << v.failure_detail;
  EXPECT_EQ(v.events_checked, 6u);
  EXPECT_EQ(v.events_signed, 6u);

  // Purged through the last format 1 event: the format 2 events verify from the signed
  // checkpoint at 3, whatever format it vouches for.
  const AuditExport purged = ChainBuilder(signer_)
                                 .EventsThrough(3)
                                 .Signed(3)
                                 .Format(AuditChainFormat::kV2, "credvault_writer")
                                 .EventsThrough(6)
                                 .Signed(6)
                                 .Export(4);
  const AuditExportVerification from_checkpoint = Verify(purged);
  ASSERT_TRUE(from_checkpoint.ok) << from_checkpoint.failure_detail;
  EXPECT_EQ(from_checkpoint.start_sequence, 4u);

  // Each edit is caught by the format of its event.
  AuditExport edited_v1 = exported;
  edited_v1.events[1].fields.details = "edited";
  ExpectBroken(Verify(edited_v1), 2, AuditExportFailure::kHashMismatch);
  AuditExport edited_v2 = exported;
  edited_v2.events[4].fields.details = "edited";
  ExpectBroken(Verify(edited_v2), 5, AuditExportFailure::kHashMismatch);

  // The first format 2 event relabelled as format 1, its role removed: the format is
  // hashed too (another function and domain), so the hash no longer matches.
  AuditExport relabelled = exported;
  relabelled.events[3].fields.format = AuditChainFormat::kV1;
  relabelled.events[3].fields.appended_by.clear();
  ExpectBroken(Verify(relabelled), 4, AuditExportFailure::kHashMismatch);
}

TEST_F(AuditExportVerifierTest, ChainFormatsAreCheckedStrictly) {
  // Format 1 after format 2, with correct hashes and a signed head: whatever appended it
  // bypassed the database's own chain computation.
  const AuditExport downgraded = ChainBuilder(signer_)
                                     .Format(AuditChainFormat::kV2, "credvault_writer")
                                     .EventsThrough(3)
                                     .Format(AuditChainFormat::kV1)
                                     .EventsThrough(5)
                                     .Signed(5)
                                     .Export();
  const AuditExportVerification v = Verify(downgraded);
  ExpectBroken(v, 4, AuditExportFailure::kMalformedEvent);
  EXPECT_THAT(v.failure_detail, HasSubstr("follows event 3 of chain format 2"));

  // An appended_by on a format 1 event, whose hash does not commit to it.
  AuditExport unbacked_role = Intact();
  unbacked_role.events[2].fields.appended_by = "credvault_writer";
  const AuditExportVerification role = Verify(unbacked_role);
  ExpectBroken(role, 3, AuditExportFailure::kMalformedEvent);
  EXPECT_THAT(role.failure_detail, HasSubstr("does not commit to appended_by"));

  // A format this verifier does not know.
  for (const std::uint32_t unknown : {0u, 3u}) {
    AuditExport exported = Intact();
    exported.events[1].fields.format = static_cast<AuditChainFormat>(unknown);
    const AuditExportVerification u = Verify(exported);
    ExpectBroken(u, 2, AuditExportFailure::kMalformedEvent);
    EXPECT_THAT(u.failure_detail, HasSubstr("chain format " + std::to_string(unknown)));
  }
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

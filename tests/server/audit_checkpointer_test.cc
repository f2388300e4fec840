// Periodic signed checkpoints against a real PostgreSQL: which chains get one, that the
// signatures verify and pin the stored chain, and leadership between replicas.
#include "server/jobs/audit_checkpointer.h"

#include <memory>
#include <string>
#include <vector>

#include "crypto/audit_signer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/audit_log.h"
#include "storage/leader_lock.h"
#include "storage/pool.h"
#include "tests/server/leader_job_fixture.h"
#include "tests/storage/test_database.h"

namespace credvault::server {
namespace {

using ::credvault::server::testing::CapturedLog;
using ::credvault::server::testing::LeaderJobTest;
using ::credvault::server::testing::MetricValue;
using ::credvault::storage::testing::SeedOrg;

double AnomalyCount(Metrics& metrics, const std::string& kind) {
  return MetricValue(metrics, "credvault_audit_anomalies_total", {"kind", kind});
}

class AuditCheckpointerTest : public LeaderJobTest {
 protected:
  std::unique_ptr<AuditCheckpointer> NewCheckpointer() {
    std::unique_ptr<storage::LeaderLock> lock = NewLock(storage::kAuditCheckpointLeaderLockKey);
    if (lock == nullptr) return nullptr;
    return std::make_unique<AuditCheckpointer>(*admin_, std::move(lock), absl::Hours(1), *signer_,
                                               &metrics_);
  }

  // The decrypt and admin roles append directly; the write role only through its put and
  // delete functions.
  void Append(const std::string& org, int count) { AppendEvents(*admin_, org, count); }

  bool SignatureVerifies(const std::string& org, const storage::AuditCheckpoint& c) const {
    if (!c.signature || !c.signing_key_id || *c.signing_key_id != signer_->key_id()) return false;
    return crypto::VerifyCheckpointSignature(signer_->public_key(), org, c.seq, c.head_hash,
                                             absl::ToUnixMicros(c.created_at), *c.signature);
  }

  // acme with three events under a signed checkpoint and two more after it: the ground
  // the tampering tests stand on. Returns the checkpointer that signed it.
  std::unique_ptr<AuditCheckpointer> AcmeSignedAtThreeOfFive() {
    SeedOrg(*db_, "acme");
    Append("acme", 3);
    std::unique_ptr<AuditCheckpointer> checkpointer = NewCheckpointer();
    if (checkpointer == nullptr) return nullptr;
    const absl::StatusOr<CheckpointRoundReport> round = checkpointer->RunOnce();
    EXPECT_TRUE(round.ok()) << round.status();
    Append("acme", 2);
    return checkpointer;
  }
};

TEST_F(AuditCheckpointerTest, SignsTheHeadOfEveryChainThatGrew) {
  SeedOrg(*db_, "acme");
  SeedOrg(*db_, "quiet");  // an org without events gets no checkpoint
  Append("acme", 3);
  Append("ghost-org", 2);  // a chain with no org row, from a denied request
  std::unique_ptr<AuditCheckpointer> checkpointer = NewCheckpointer();
  ASSERT_NE(checkpointer, nullptr);

  absl::StatusOr<CheckpointRoundReport> round = checkpointer->RunOnce();
  ASSERT_TRUE(round.ok()) << round.status();
  EXPECT_TRUE(round->leader);
  EXPECT_EQ(round->signed_checkpoints, 2u);
  EXPECT_EQ(round->failures, 0u);
  EXPECT_GE(round->chains_visited, 3u);
  for (const std::string org : {"acme", "ghost-org"}) {
    const std::vector<storage::AuditCheckpoint> checkpoints = Checkpoints(org);
    ASSERT_EQ(checkpoints.size(), 1u) << org;
    const storage::AuditHead head = Head(org);
    EXPECT_EQ(checkpoints[0].seq, head.seq) << org;
    EXPECT_EQ(checkpoints[0].head_hash, head.hash) << org;
    EXPECT_EQ(checkpoints[0].kind, storage::AuditCheckpointKind::kPeriodic) << org;
    EXPECT_TRUE(SignatureVerifies(org, checkpoints[0])) << org;
  }
  EXPECT_TRUE(Checkpoints("quiet").empty());

  // Nothing new: nothing signed. The same signature cannot be moved to another org.
  round = checkpointer->RunOnce();
  ASSERT_TRUE(round.ok()) << round.status();
  EXPECT_EQ(round->signed_checkpoints, 0u);
  EXPECT_FALSE(SignatureVerifies("quiet", Checkpoints("acme")[0]));

  // Only the chain that grew gets a new checkpoint, at its new head.
  Append("acme", 2);
  round = checkpointer->RunOnce();
  ASSERT_TRUE(round.ok()) << round.status();
  EXPECT_EQ(round->signed_checkpoints, 1u);
  const std::vector<storage::AuditCheckpoint> acme = Checkpoints("acme");
  ASSERT_EQ(acme.size(), 2u);
  EXPECT_EQ(acme[1].seq, 5u);
  EXPECT_TRUE(SignatureVerifies("acme", acme[1]));
  EXPECT_EQ(Checkpoints("ghost-org").size(), 1u);

  EXPECT_EQ(MetricValue(metrics_, "credvault_audit_checkpoints_signed_total"), 3);
  EXPECT_EQ(MetricValue(metrics_, "credvault_audit_checkpoint_rounds_total", {"result", "ok"}), 3);
}

TEST_F(AuditCheckpointerTest, DroppingSignedEventsBreaksVerification) {
  SeedOrg(*db_, "acme");
  Append("acme", 4);
  std::unique_ptr<AuditCheckpointer> checkpointer = NewCheckpointer();
  ASSERT_NE(checkpointer, nullptr);
  ASSERT_TRUE(checkpointer->RunOnce().ok());

  // Someone with database write access removes the newest event and rewinds the head.
  db_->SuperuserExec("ALTER TABLE audit_events DISABLE TRIGGER USER");
  db_->SuperuserExec("DELETE FROM audit_events WHERE org_id = 'acme' AND seq = 4");
  db_->SuperuserExec(
      "UPDATE audit_heads SET seq = 3, hash = (SELECT hash FROM audit_events "
      "WHERE org_id = 'acme' AND seq = 3) WHERE org_id = 'acme'");
  db_->SuperuserExec("ALTER TABLE audit_events ENABLE TRIGGER USER");

  const storage::AuditVerification verification = Verify("acme");
  EXPECT_FALSE(verification.ok);
  EXPECT_EQ(verification.broken_seq, 4u);
  EXPECT_EQ(verification.kind, storage::AuditBreak::kSequenceGap);
}

// Someone with database write access plants an unsigned checkpoint far beyond the head
// and rewinds the head row. Neither stops the real head from being signed; both are
// reported.
TEST_F(AuditCheckpointerTest, PlantedCheckpointIsReportedAndTheRealHeadSigned) {
  std::unique_ptr<AuditCheckpointer> checkpointer = AcmeSignedAtThreeOfFive();
  ASSERT_NE(checkpointer, nullptr);
  db_->SuperuserExec(
      "INSERT INTO audit_checkpoints (org_id, seq, head_hash, kind) "
      "VALUES ('acme', 100, '\\x" +
      std::string(64, 'c') + "', 'periodic')");
  db_->SuperuserExec(
      "UPDATE audit_heads SET seq = 2, hash = (SELECT hash FROM audit_events "
      "WHERE org_id = 'acme' AND seq = 2) WHERE org_id = 'acme'");

  CapturedLog log;
  absl::StatusOr<CheckpointRoundReport> round = checkpointer->RunOnce();
  ASSERT_TRUE(round.ok()) << round.status();
  EXPECT_EQ(round->signed_checkpoints, 1u);
  EXPECT_EQ(round->failures, 0u);
  std::vector<storage::AuditCheckpoint> checkpoints = Checkpoints("acme");
  ASSERT_EQ(checkpoints.size(), 3u);
  EXPECT_EQ(checkpoints[1].seq, 5u);
  EXPECT_TRUE(SignatureVerifies("acme", checkpoints[1]));
  EXPECT_EQ(AnomalyCount(metrics_, "checkpoint_beyond_head"), 1);
  EXPECT_EQ(AnomalyCount(metrics_, "head_mismatch"), 1);
  EXPECT_EQ(AnomalyCount(metrics_, "chain_broken"), 0);
  const std::string logged = log.text();
  EXPECT_THAT(logged, ::testing::HasSubstr("audit chain anomaly"));
  EXPECT_THAT(logged, ::testing::HasSubstr("\"org_id\":\"acme\""));
  EXPECT_THAT(logged, ::testing::HasSubstr("\"kind\":\"checkpoint_beyond_head\""));
  EXPECT_THAT(logged, ::testing::HasSubstr("\"kind\":\"head_mismatch\""));

  // Appends link to the last event despite the rewound head (and repair it); the
  // signer goes on at the new head and still reports the planted checkpoint.
  Append("acme", 1);
  EXPECT_EQ(Head("acme").seq, 6u);
  round = checkpointer->RunOnce();
  ASSERT_TRUE(round.ok()) << round.status();
  EXPECT_EQ(round->signed_checkpoints, 1u);
  checkpoints = Checkpoints("acme");
  ASSERT_EQ(checkpoints.size(), 4u);
  EXPECT_EQ(checkpoints[2].seq, 6u);
  EXPECT_TRUE(SignatureVerifies("acme", checkpoints[2]));
  EXPECT_EQ(AnomalyCount(metrics_, "checkpoint_beyond_head"), 2);
  EXPECT_EQ(AnomalyCount(metrics_, "head_mismatch"), 1);
}

// An event after the last signed checkpoint is edited: the chain is not signed.
TEST_F(AuditCheckpointerTest, TamperedChainIsReportedNotSigned) {
  std::unique_ptr<AuditCheckpointer> checkpointer = AcmeSignedAtThreeOfFive();
  ASSERT_NE(checkpointer, nullptr);
  db_->SuperuserExec(
      "SET session_replication_role = replica; UPDATE audit_events SET principal = 'mallory' "
      "WHERE org_id = 'acme' AND seq = 4");

  CapturedLog log;
  absl::StatusOr<CheckpointRoundReport> round = checkpointer->RunOnce();
  ASSERT_TRUE(round.ok()) << round.status();
  EXPECT_EQ(round->signed_checkpoints, 0u);
  ASSERT_EQ(Checkpoints("acme").size(), 1u);
  EXPECT_EQ(AnomalyCount(metrics_, "chain_broken"), 1);
  EXPECT_THAT(log.text(), ::testing::HasSubstr("\"kind\":\"chain_broken\""));

  // A checkpoint claiming this key without a valid signature is no anchor either.
  db_->SuperuserExec(
      "SET session_replication_role = replica; UPDATE audit_checkpoints SET signature = "
      "'\\x" +
      std::string(128, '0') + "' WHERE org_id = 'acme' AND seq = 3");
  round = checkpointer->RunOnce();
  ASSERT_TRUE(round.ok()) << round.status();
  EXPECT_EQ(round->signed_checkpoints, 0u);
  EXPECT_EQ(AnomalyCount(metrics_, "checkpoint_signature_invalid"), 1);
  EXPECT_EQ(AnomalyCount(metrics_, "chain_broken"), 2);
}

TEST_F(AuditCheckpointerTest, OnlyOneReplicaSignsAtATime) {
  SeedOrg(*db_, "acme");
  Append("acme", 1);
  std::unique_ptr<AuditCheckpointer> leader = NewCheckpointer();
  std::unique_ptr<AuditCheckpointer> standby = NewCheckpointer();
  ASSERT_NE(leader, nullptr);
  ASSERT_NE(standby, nullptr);
  ASSERT_TRUE(leader->RunOnce().ok());
  Append("acme", 1);
  absl::StatusOr<CheckpointRoundReport> round = standby->RunOnce();
  ASSERT_TRUE(round.ok()) << round.status();
  EXPECT_FALSE(round->leader);
  EXPECT_EQ(Checkpoints("acme").size(), 1u);
  EXPECT_EQ(MetricValue(metrics_, "credvault_audit_checkpoint_rounds_total", {"result", "standby"}),
            1);

  // The leader stepping down (Stop, as on shutdown) hands over at once.
  leader->Stop();
  round = standby->RunOnce();
  ASSERT_TRUE(round.ok()) << round.status();
  EXPECT_TRUE(round->leader);
  EXPECT_EQ(round->signed_checkpoints, 1u);
  EXPECT_EQ(Checkpoints("acme").size(), 2u);
}

}  // namespace
}  // namespace credvault::server

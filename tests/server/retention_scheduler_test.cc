// The retention sweep against a real PostgreSQL: what one sweep purges and leaves, the
// audit record and the metrics it produces, and leadership between replicas.
#include "server/jobs/retention_scheduler.h"

#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "crypto/audit_signer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/audit_log.h"
#include "storage/credential_store.h"
#include "storage/idempotency_store.h"
#include "storage/leader_lock.h"
#include "storage/pool.h"
#include "tests/server/leader_job_fixture.h"
#include "tests/storage/test_database.h"

namespace credvault::server {
namespace {

using ::credvault::server::testing::LeaderJobTest;
using ::credvault::server::testing::MetricValue;
using ::credvault::storage::testing::AppRole;
using ::credvault::storage::testing::SeedOrg;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::StartsWith;

class RetentionSchedulerTest : public LeaderJobTest {
 protected:
  void SetUp() override {
    LeaderJobTest::SetUp();
    if (HasFatalFailure()) return;
    writer_ = db_->Pool(AppRole::kWriter);
    decryptor_ = db_->Pool(AppRole::kDecryptor);
  }

  std::unique_ptr<storage::LeaderLock> NewLock() const {
    return LeaderJobTest::NewLock(storage::kRetentionLeaderLockKey);
  }
  // A scheduler as serve makes it, with a clock stopped at `now`.
  std::unique_ptr<RetentionScheduler> NewScheduler(absl::Time now, std::size_t batch_size) {
    RetentionOptions options;  // the documented defaults: 720h, 9600h, 24h
    options.batch_size = batch_size;
    return std::make_unique<RetentionScheduler>(*admin_, NewLock(), options, &*signer_, &metrics_,
                                                [now] { return now; });
  }

  // A new version of `name` as the write role makes it, with `idempotency_key` recorded
  // when given (only the put and delete functions record keys).
  void Put(const std::string& org, const std::string& name,
           const std::optional<std::string>& idempotency_key = std::nullopt) {
    const absl::Status status = writer_->Run(org, [&](storage::Transaction& tx) -> absl::Status {
      const storage::CredentialStore store;
      absl::StatusOr<storage::PreparedPut> prepared = store.PreparePut(tx, name, std::nullopt);
      if (!prepared.ok()) return prepared.status();
      if (prepared->outcome != storage::PrepareOutcome::kPrepared) {
        return absl::FailedPreconditionError("not prepared");
      }
      storage::NewCredentialVersion v;
      v.envelope = {1, 2, 3};
      v.org_key_version = 1;
      v.writer_key_version = 1;
      v.created_by = "svc";
      if (idempotency_key) {
        v.idempotency_key = *idempotency_key;
        v.request_digest = std::vector<std::uint8_t>(32, 1);
      }
      return store.InsertVersion(tx, prepared->plan, v).status();
    });
    ASSERT_TRUE(status.ok()) << status;
  }
  void SoftDelete(const std::string& org, const std::string& name) {
    const absl::Status status = writer_->Run(org, [&](storage::Transaction& tx) {
      storage::DeleteRequest deletion;
      deletion.name = name;
      deletion.principal = "svc";
      return storage::CredentialStore().Delete(tx, deletion).status();
    });
    ASSERT_TRUE(status.ok()) << status;
  }
  // A put of "idempotent/<key>" with `key`: the one way a key gets recorded.
  void RecordKey(const std::string& org, const std::string& key) {
    Put(org, "idempotent/" + key, key);
  }
  long Count(const std::string& sql) const {
    pqxx::connection connection(db_->SuperuserConninfo());
    pqxx::work tx(connection);
    return tx.exec(sql)[0][0].as<long>();
  }

  // acme: a credential soft-deleted 40 days ago (3 versions), a live one, an idempotency
  // key 2 days old and a fresh one, 5 audit events 500 days old and a recent one. other:
  // only recent things. Plus the `_system` chain and the chain of an org id that only a
  // denied request named, both with old events. `now` is the real time after the setup.
  absl::Time Populate() {
    SeedOrg(*db_, "acme");
    SeedOrg(*db_, "other");
    // Old events first: the puts and deletes below append theirs at the database's time.
    const absl::Time long_ago = absl::Now() - absl::Hours(24 * 500);
    AppendEvents(*decryptor_, "acme", 5, long_ago);
    for (int i = 0; i < 3; ++i) Put("acme", "old/deleted");
    SoftDelete("acme", "old/deleted");
    Put("acme", "live/key");
    RecordKey("acme", "old-key");
    RecordKey("acme", "fresh-key");
    Put("other", "recent/deleted");
    SoftDelete("other", "recent/deleted");
    RecordKey("other", "key");
    db_->SuperuserExec(
        "UPDATE credentials SET deleted_at = now() - interval '40 days' "
        "WHERE org_id = 'acme' AND name = 'old/deleted'");
    db_->SuperuserExec(
        "UPDATE idempotency_keys SET created_at = now() - interval '2 days' "
        "WHERE idempotency_key = 'old-key'");
    AppendEvents(*decryptor_, "acme", 1, absl::Now());
    AppendEvents(*decryptor_, "other", 2, absl::Now());
    AppendEvents(*decryptor_, "ghost-org", 2, long_ago);
    AppendEvents(*decryptor_, "_system", 1, long_ago);
    // Microseconds, as the database keeps times.
    return absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()));
  }

  std::unique_ptr<storage::ConnectionPool> writer_;
  std::unique_ptr<storage::ConnectionPool> decryptor_;
};

TEST_F(RetentionSchedulerTest, OneSweepPurgesWhatIsPastItsWindowAndRecordsIt) {
  const absl::Time now = Populate();
  std::unique_ptr<RetentionScheduler> scheduler = NewScheduler(now, /*batch_size=*/2);

  const absl::StatusOr<SweepReport> report = scheduler->SweepOnce();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->leader);
  EXPECT_FALSE(report->stopped);
  EXPECT_EQ(report->failures, 0u);
  EXPECT_EQ(report->chains_visited, 4u);  // acme, other, ghost-org, _system
  EXPECT_EQ(report->chains_purged, 3u);
  EXPECT_EQ(report->purged.credential_versions, 2u);   // versions 1 and 2
  EXPECT_EQ(report->purged.credential_envelopes, 3u);  // and version 3, now a tombstone
  EXPECT_EQ(report->purged.idempotency_keys, 1u);
  EXPECT_EQ(report->purged.audit_events, 8u);  // 5 + 2 + 1

  // acme: the tombstone, the live credential and the two credentials put with
  // idempotency keys stay; the fresh key stays.
  EXPECT_EQ(Count("SELECT count(*) FROM credentials WHERE org_id = 'acme'"), 4);
  EXPECT_EQ(Count("SELECT count(*) FROM credentials WHERE org_id = 'acme' AND name = "
                  "'old/deleted' AND version = 3 AND erased AND is_current"),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM credentials WHERE org_id = 'acme' AND name = "
                  "'live/key' AND NOT erased AND deleted_at IS NULL"),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM idempotency_keys WHERE org_id = 'acme'"), 1);

  // Batches of 2 took three transactions in acme, each recorded with what it purged.
  const std::vector<storage::AuditEvent> all_acme = Events("acme");
  ASSERT_FALSE(all_acme.empty());
  EXPECT_EQ(all_acme[0].seq, 6u) << "the five old events are gone, nothing newer";
  std::vector<storage::AuditEvent> acme = {all_acme[0]};
  for (const storage::AuditEvent& e : all_acme) {
    if (e.action == "retention.purge") acme.push_back(e);
  }
  ASSERT_EQ(acme.size(), 4u);  // the first kept event and three retention.purge events
  EXPECT_EQ(acme[0].action, "credential.put");
  std::vector<std::string> details;
  for (std::size_t i = 1; i < acme.size(); ++i) {
    EXPECT_EQ(acme[i].action, "retention.purge");
    EXPECT_EQ(acme[i].principal, "credvaultd:retention");
    EXPECT_EQ(acme[i].result, "ok");
    EXPECT_THAT(acme[i].request_id, StartsWith("retention-"));
    EXPECT_EQ(acme[i].time, now);
    details.push_back(acme[i].details);
  }
  EXPECT_THAT(details,
              ElementsAre("credential_versions=2 credential_envelopes=2 idempotency_keys=1 "
                          "audit_events=2",
                          "credential_versions=0 credential_envelopes=1 idempotency_keys=0 "
                          "audit_events=2",
                          "credential_versions=0 credential_envelopes=0 idempotency_keys=0 "
                          "audit_events=1"));
  // The chain still verifies from the last purge checkpoint, which is signed; those of the
  // earlier batches covered only purged events and went with them.
  const storage::AuditVerification verified = Verify("acme");
  EXPECT_TRUE(verified.ok) << verified.problem;
  EXPECT_EQ(verified.first_seq, 6u);
  const std::vector<storage::AuditCheckpoint> checkpoints = Checkpoints("acme");
  ASSERT_THAT(checkpoints, ElementsAre(Field(&storage::AuditCheckpoint::seq, 5u)));
  for (const storage::AuditCheckpoint& c : checkpoints) {
    ASSERT_TRUE(c.signature.has_value());
    EXPECT_EQ(c.signing_key_id, signer_->key_id());
    EXPECT_EQ(c.created_at, now);
    EXPECT_TRUE(crypto::VerifyCheckpointSignature(signer_->public_key(), "acme", c.seq, c.head_hash,
                                                  absl::ToUnixMicros(now), *c.signature));
  }

  // Chains without an org: every event went, and the purge record keeps the chain whole.
  for (const char* chain : {"ghost-org", "_system"}) {
    SCOPED_TRACE(chain);
    const std::vector<storage::AuditEvent> events = Events(chain);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].action, "retention.purge");
    const storage::AuditVerification v = Verify(chain);
    EXPECT_TRUE(v.ok) << v.problem;
  }
  // other: nothing was due, so nothing changed and nothing was recorded.
  EXPECT_EQ(Events("other").size(), 5u);  // put, delete, put with a key, and 2 appended
  EXPECT_EQ(Count("SELECT count(*) FROM credentials WHERE org_id = 'other' AND NOT erased"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM idempotency_keys WHERE org_id = 'other'"), 1);

  // Metrics: counts by kind, one successful sweep at `now`, and leadership.
  EXPECT_EQ(
      MetricValue(metrics_, "credvault_retention_purged_total", {"kind", "credential_versions"}),
      2);
  EXPECT_EQ(
      MetricValue(metrics_, "credvault_retention_purged_total", {"kind", "credential_envelopes"}),
      3);
  EXPECT_EQ(MetricValue(metrics_, "credvault_retention_purged_total", {"kind", "idempotency_keys"}),
            1);
  EXPECT_EQ(MetricValue(metrics_, "credvault_retention_purged_total", {"kind", "audit_events"}), 8);
  EXPECT_EQ(MetricValue(metrics_, "credvault_retention_sweeps_total", {"result", "ok"}), 1);
  EXPECT_EQ(MetricValue(metrics_, "credvault_retention_sweeps_total", {"result", "failed"}), 0);
  EXPECT_EQ(MetricValue(metrics_, "credvault_retention_sweep_duration_seconds"), 1);
  EXPECT_EQ(MetricValue(metrics_, "credvault_retention_last_success_timestamp_seconds"),
            absl::ToDoubleSeconds(now - absl::UnixEpoch()));
  EXPECT_EQ(MetricValue(metrics_, "credvault_retention_leader"), 1);

  // A second sweep at the same time finds nothing more to do and records nothing.
  const absl::StatusOr<SweepReport> again = scheduler->SweepOnce();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->chains_purged, 0u);
  EXPECT_TRUE(again->purged.empty());
  EXPECT_EQ(Events("acme").size(), all_acme.size());
  EXPECT_EQ(MetricValue(metrics_, "credvault_retention_sweeps_total", {"result", "ok"}), 2);

  scheduler->Stop();
  EXPECT_EQ(MetricValue(metrics_, "credvault_retention_leader"), 0);
}

TEST_F(RetentionSchedulerTest, AReplicaWithoutTheLeaderLockDoesNothing) {
  const absl::Time now = Populate();
  std::unique_ptr<storage::LeaderLock> other_replica = NewLock();
  ASSERT_NE(other_replica, nullptr);
  ASSERT_TRUE(other_replica->Acquire().value_or(false));
  std::unique_ptr<RetentionScheduler> scheduler = NewScheduler(now, 500);

  absl::StatusOr<SweepReport> report = scheduler->SweepOnce();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->leader);
  EXPECT_EQ(report->chains_visited, 0u);
  // 5 old events, 7 from the puts and the delete, 1 recent.
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE org_id = 'acme'"), 13);
  EXPECT_EQ(Count("SELECT count(*) FROM credentials WHERE org_id = 'acme'"), 6);
  EXPECT_EQ(MetricValue(metrics_, "credvault_retention_sweeps_total", {"result", "standby"}), 1);
  EXPECT_EQ(MetricValue(metrics_, "credvault_retention_sweeps_total", {"result", "ok"}), 0);
  EXPECT_EQ(MetricValue(metrics_, "credvault_retention_leader"), 0);
  EXPECT_EQ(MetricValue(metrics_, "credvault_retention_last_success_timestamp_seconds"), 0);

  // Once the other replica lets go, this one takes over.
  other_replica->Release();
  report = scheduler->SweepOnce();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->leader);
  EXPECT_EQ(report->purged.audit_events, 8u);
  EXPECT_EQ(MetricValue(metrics_, "credvault_retention_leader"), 1);
}

TEST_F(RetentionSchedulerTest, StopEndsTheBackgroundThreadAndHandsLeadershipOver) {
  const absl::Time now = Populate();
  std::unique_ptr<RetentionScheduler> scheduler = NewScheduler(now, 500);
  scheduler->Start();  // sweeps at once, then would wait a whole interval (1h)
  // Waits for the first sweep to finish; the test fails by timeout if it never does.
  while (MetricValue(metrics_, "credvault_retention_sweeps_total", {"result", "ok"}) < 1) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  scheduler->Stop();  // must not wait out the interval
  EXPECT_EQ(MetricValue(metrics_, "credvault_retention_leader"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE org_id = 'ghost-org' "
                  "AND action = 'retention.purge'"),
            1);
  std::unique_ptr<storage::LeaderLock> next = NewLock();
  ASSERT_NE(next, nullptr);
  EXPECT_TRUE(next->Acquire().value_or(false));
}

}  // namespace
}  // namespace credvault::server

#include "storage/audit_log.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/pool.h"
#include "tests/storage/test_database.h"

extern char** environ;

namespace credvault::storage {
namespace {

using ::credvault::storage::testing::AppRole;
using ::credvault::storage::testing::TestDatabase;
using ::testing::HasSubstr;

constexpr char kWorkerFlag[] = "--append-worker";

NewAuditEvent Event(int i) {
  return NewAuditEvent{"spiffe://acme/worker",           "credential.decrypt",
                       "crm/token-" + std::to_string(i), "ok",
                       "req-" + std::to_string(i),       "purpose: sync contacts"};
}

// Appends `count` events to `org` over a pool of exactly one connection.
absl::Status AppendMany(const std::string& conninfo, const std::string& org, int count) {
  PoolOptions options;
  options.connection_string = conninfo;
  options.max_size = 1;
  absl::StatusOr<std::unique_ptr<ConnectionPool>> pool = ConnectionPool::Create(options);
  if (!pool.ok()) return pool.status();
  AuditLog log;
  for (int i = 0; i < count; ++i) {
    const absl::Status status =
        (*pool)->Run(org, [&](Transaction& tx) { return log.Append(tx, Event(i)).status(); });
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

// The worker processes are this binary run again with kWorkerFlag.
pid_t SpawnWorker(const std::string& conninfo, const std::string& org, int count) {
  char self[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return -1;
  self[n] = '\0';
  std::string flag = kWorkerFlag, info = conninfo, org_arg = org, count_arg = std::to_string(count);
  char* argv[] = {self, flag.data(), info.data(), org_arg.data(), count_arg.data(), nullptr};
  pid_t pid;
  if (::posix_spawn(&pid, self, nullptr, nullptr, argv, environ) != 0) return -1;
  return pid;
}

class AuditLogTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    db_ = TestDatabase::Create().release();
    ASSERT_NE(db_, nullptr);
  }
  static void TearDownTestSuite() {
    delete db_;
    db_ = nullptr;
  }
  void SetUp() override { pool_ = db_->Pool(AppRole::kAdmin); }

  void AppendN(const std::string& org, int count) {
    for (int i = 0; i < count; ++i) {
      const absl::Status status =
          pool_->Run(org, [&](Transaction& tx) { return log_.Append(tx, Event(i)).status(); });
      ASSERT_TRUE(status.ok()) << status;
    }
  }
  AuditVerification Verify(const std::string& org, AuditVerifyOptions options = {}) {
    AuditVerification result;
    const absl::Status status = pool_->Run(org, [&](Transaction& tx) -> absl::Status {
      absl::StatusOr<AuditVerification> v = log_.Verify(tx, options);
      if (!v.ok()) return v.status();
      result = *v;
      return absl::OkStatus();
    });
    EXPECT_TRUE(status.ok()) << status;
    return result;
  }
  // Tampering happens as the superuser with triggers off (session_replication_role).
  void Tamper(const std::string& sql) {
    db_->SuperuserExec("SET session_replication_role = replica; " + sql);
  }

  static TestDatabase* db_;
  AuditLog log_;
  std::unique_ptr<ConnectionPool> pool_;
};

TestDatabase* AuditLogTest::db_ = nullptr;

TEST_F(AuditLogTest, AppendChainsEventsAndListReturnsThem) {
  AppendN("list-org", 3);
  std::vector<AuditEvent> events;
  ASSERT_TRUE(pool_
                  ->Run("list-org",
                        [&](Transaction& tx) -> absl::Status {
                          absl::StatusOr<std::vector<AuditEvent>> listed = log_.List(tx, 0, 10);
                          if (!listed.ok()) return listed.status();
                          events = *listed;
                          return absl::OkStatus();
                        })
                  .ok());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].prev_hash,
            crypto::AuditChainGenesis("list-org", crypto::AuditChainFormat::kV2));
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].seq, i + 1);
    // Linked by the database, which records the role that appended the event.
    EXPECT_EQ(events[i].chain_format, crypto::AuditChainFormat::kV2);
    EXPECT_EQ(events[i].appended_by, db_->RoleName(AppRole::kAdmin));
    EXPECT_EQ(events[i].org_id, "list-org");
    EXPECT_EQ(events[i].target, "crm/token-" + std::to_string(i));
    if (i > 0) {
      EXPECT_EQ(events[i].prev_hash, events[i - 1].hash);
    }
  }
  const AuditVerification v = Verify("list-org");
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.events_checked, 3u);
}

TEST_F(AuditLogTest, ConcurrentAppendersFromThreadsAndProcessesMakeOneGaplessChain) {
  const std::string org = "busy-org";
  constexpr int kThreads = 8;
  constexpr int kProcesses = 2;
  constexpr int kPerWriter = 25;
  // The decrypt tier appends its own events (the write role's come with its puts).
  const std::string conninfo = db_->RoleConninfo(AppRole::kDecryptor);
  std::vector<pid_t> workers;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t pid = SpawnWorker(conninfo, org, kPerWriter);
    ASSERT_GT(pid, 0);
    workers.push_back(pid);
  }
  std::vector<absl::Status> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] { results[t] = AppendMany(conninfo, org, kPerWriter); });
  }
  for (std::thread& t : threads) t.join();
  for (const absl::Status& s : results) EXPECT_TRUE(s.ok()) << s;
  for (const pid_t pid : workers) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "worker process failed";
  }
  const AuditVerification v = Verify(org);
  EXPECT_TRUE(v.ok) << v.problem << " at " << v.broken_seq;
  EXPECT_EQ(v.first_seq, 1u);
  EXPECT_EQ(v.last_seq, static_cast<std::uint64_t>((kThreads + kProcesses) * kPerWriter));
  EXPECT_EQ(v.events_checked, v.last_seq);
}

struct TamperCase {
  const char* name;
  const char* sql;  // %ORG% is replaced by the org of the case
  std::uint64_t broken_seq;
  AuditBreak kind;
};

class AuditTamperTest : public AuditLogTest, public ::testing::WithParamInterface<TamperCase> {};

TEST_P(AuditTamperTest, VerifierReportsTheFirstBrokenLink) {
  const TamperCase& c = GetParam();
  const std::string org = std::string("tamper-") + c.name;
  AppendN(org, 10);
  ASSERT_TRUE(Verify(org).ok);
  std::string sql = c.sql;
  for (std::size_t at; (at = sql.find("%ORG%")) != std::string::npos;) sql.replace(at, 5, org);
  Tamper(sql);
  const AuditVerification v = Verify(org);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.broken_seq, c.broken_seq) << v.problem;
  EXPECT_EQ(v.kind, c.kind) << v.problem;
}

INSTANTIATE_TEST_SUITE_P(
    Tampering, AuditTamperTest,
    ::testing::Values(
        TamperCase{"edit",
                   "UPDATE audit_events SET principal = 'mallory' "
                   "WHERE org_id = '%ORG%' AND seq = 4",
                   4, AuditBreak::kHashMismatch},
        TamperCase{"edit-time",
                   "UPDATE audit_events SET event_time = event_time + "
                   "interval '1 microsecond' WHERE org_id = '%ORG%' AND seq = 7",
                   7, AuditBreak::kHashMismatch},
        // The appending role is hashed: an event cannot be passed off as another role's.
        TamperCase{"edit-appended-by",
                   "UPDATE audit_events SET appended_by = 'someone_else' "
                   "WHERE org_id = '%ORG%' AND seq = 6",
                   6, AuditBreak::kHashMismatch},
        TamperCase{"delete-middle", "DELETE FROM audit_events WHERE org_id = '%ORG%' AND seq = 5",
                   5, AuditBreak::kSequenceGap},
        TamperCase{"delete-first", "DELETE FROM audit_events WHERE org_id = '%ORG%' AND seq = 1", 1,
                   AuditBreak::kSequenceGap},
        TamperCase{"delete-last", "DELETE FROM audit_events WHERE org_id = '%ORG%' AND seq = 10",
                   10, AuditBreak::kSequenceGap},
        // Insert after 3: later events move up one; the forged row copies event 3's hash
        // as its predecessor link, but its own hash cannot match.
        TamperCase{"insert",
                   "UPDATE audit_events SET seq = seq + 100 WHERE org_id = '%ORG%' AND seq > 3; "
                   "UPDATE audit_events SET seq = seq - 99 WHERE org_id = '%ORG%' AND seq > 100; "
                   "INSERT INTO audit_events SELECT org_id, 4, event_time, 'mallory', action, "
                   "target, result, request_id, details, hash, hash, chain_format, appended_by "
                   "FROM audit_events "
                   "WHERE org_id = '%ORG%' AND seq = 3",
                   4, AuditBreak::kHashMismatch},
        TamperCase{"append-forged",
                   "INSERT INTO audit_events SELECT org_id, 11, event_time, "
                   "principal, action, target, result, request_id, details, "
                   "hash, hash, chain_format, appended_by FROM audit_events "
                   "WHERE org_id = '%ORG%' AND seq = 10",
                   // Walked like any event (appends link to the last event, not to the
                   // head row): it links to event 10, but its hash is event 10's.
                   11, AuditBreak::kHashMismatch},
        TamperCase{
            "reorder",
            "UPDATE audit_events SET seq = CASE seq WHEN 6 THEN 1006 ELSE 1005 END "
            "WHERE org_id = '%ORG%' AND seq IN (5, 6); "
            "UPDATE audit_events SET seq = seq - 1000 + CASE seq WHEN 1006 THEN -1 ELSE 1 END "
            "WHERE org_id = '%ORG%' AND seq > 1000",
            5, AuditBreak::kPrevHashMismatch}),
    [](const ::testing::TestParamInfo<TamperCase>& param_info) {
      std::string name = param_info.param.name;
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

TEST_F(AuditLogTest, PurgeLeavesACheckpointAndTheRestStillVerifies) {
  const std::string org = "purge-org";
  AppendN(org, 5);
  const absl::Time cutoff = absl::Now();
  absl::SleepFor(absl::Milliseconds(5));
  AppendN(org, 3);
  std::uint64_t purged = 0;
  ASSERT_TRUE(pool_
                  ->Run(org,
                        [&](Transaction& tx) -> absl::Status {
                          absl::StatusOr<std::uint64_t> n = log_.PurgeBefore(tx, cutoff);
                          if (!n.ok()) return n.status();
                          purged = *n;
                          return absl::OkStatus();
                        })
                  .ok());
  EXPECT_EQ(purged, 5u);
  AuditVerification v = Verify(org);
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.first_seq, 6u);
  EXPECT_EQ(v.last_seq, 8u);
  AppendN(org, 1);
  AuditVerifyOptions from_latest;
  from_latest.from_latest_checkpoint = true;
  v = Verify(org, from_latest);
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.events_checked, 4u);

  // Editing the checkpoint is caught at the first event after it.
  Tamper("UPDATE audit_checkpoints SET head_hash = '\\x" + std::string(64, '0') +
         "' WHERE org_id = '" + org + "'");
  v = Verify(org);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.broken_seq, 6u);
}

TEST_F(AuditLogTest, CheckpointsMustMatchTheChain) {
  const std::string org = "checkpoint-org";
  AppendN(org, 4);
  AuditHead head;
  ASSERT_TRUE(pool_
                  ->Run(org,
                        [&](Transaction& tx) -> absl::Status {
                          absl::StatusOr<AuditHead> h = log_.Head(tx);
                          if (!h.ok()) return h.status();
                          head = *h;
                          return absl::OkStatus();
                        })
                  .ok());
  EXPECT_EQ(head.seq, 4u);
  crypto::AuditHash wrong = head.hash;
  wrong[0] ^= 1;
  EXPECT_EQ(pool_
                ->Run(org,
                      [&](Transaction& tx) {
                        return log_.AddCheckpoint(tx, AuditCheckpointKind::kPeriodic, 4, wrong,
                                                  std::nullopt, std::nullopt);
                      })
                .code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(pool_
                  ->Run(org,
                        [&](Transaction& tx) {
                          return log_.AddCheckpoint(tx, AuditCheckpointKind::kPeriodic, 4,
                                                    head.hash, std::vector<std::uint8_t>{1, 2, 3},
                                                    "sig-key-1");
                        })
                  .ok());
  std::vector<AuditCheckpoint> checkpoints;
  ASSERT_TRUE(pool_
                  ->Run(org,
                        [&](Transaction& tx) -> absl::Status {
                          absl::StatusOr<std::vector<AuditCheckpoint>> c = log_.ListCheckpoints(tx);
                          if (!c.ok()) return c.status();
                          checkpoints = *c;
                          return absl::OkStatus();
                        })
                  .ok());
  ASSERT_EQ(checkpoints.size(), 1u);
  EXPECT_EQ(checkpoints[0].signing_key_id, "sig-key-1");
  EXPECT_EQ(checkpoints[0].kind, AuditCheckpointKind::kPeriodic);
  EXPECT_TRUE(Verify(org).ok);
  EXPECT_EQ(pool_
                ->Run(org,
                      [&](Transaction& tx) {
                        return log_.AddCheckpoint(tx, AuditCheckpointKind::kUnknown, 5, head.hash,
                                                  std::nullopt, std::nullopt);
                      })
                .code(),
            absl::StatusCode::kInvalidArgument);
}

AuditHead HeadOf(ConnectionPool& pool, const AuditLog& log, const std::string& org) {
  AuditHead head;
  const absl::Status status = pool.Run(org, [&](Transaction& tx) -> absl::Status {
    absl::StatusOr<AuditHead> h = log.Head(tx);
    if (!h.ok()) return h.status();
    head = *h;
    return absl::OkStatus();
  });
  EXPECT_TRUE(status.ok()) << status;
  return head;
}

// Someone with database write access rewinds the head row. Appends link to the last
// stored event (storage/migrations/0008), so they go on and repair the row; until then
// verification names the head, not the intact events.
TEST_F(AuditLogTest, RewoundHeadIsReportedAndAppendsGoOn) {
  const std::string org = "rewound-org";
  AppendN(org, 5);
  Tamper("UPDATE audit_heads SET seq = 3, hash = (SELECT hash FROM audit_events WHERE org_id = '" +
         org + "' AND seq = 3) WHERE org_id = '" + org + "'");
  AuditVerification v = Verify(org);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.kind, AuditBreak::kHeadMismatch) << v.problem;
  EXPECT_EQ(v.broken_seq, 4u);
  EXPECT_EQ(v.events_checked, 5u);

  // A head with the right seq but another hash is caught too.
  Tamper("UPDATE audit_heads SET seq = 5, hash = (SELECT hash FROM audit_events WHERE org_id = '" +
         org + "' AND seq = 2) WHERE org_id = '" + org + "'");
  v = Verify(org);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.kind, AuditBreak::kHeadMismatch) << v.problem;
  EXPECT_EQ(v.broken_seq, 5u);

  AppendN(org, 1);
  const AuditHead head = HeadOf(*pool_, log_, org);
  EXPECT_EQ(head.seq, 6u);
  v = Verify(org);
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.last_seq, 6u);
  EXPECT_EQ(v.verified_head.seq, 6u);
  EXPECT_EQ(v.verified_head.hash, head.hash);
}

// An unsigned checkpoint beyond the last event vouches for nothing; a signed one there
// still means the events it covers were dropped.
TEST_F(AuditLogTest, CheckpointBeyondTheLastEvent) {
  const std::string org = "beyond-org";
  AppendN(org, 3);
  Tamper("INSERT INTO audit_checkpoints (org_id, seq, head_hash, kind) VALUES ('" + org +
         "', 50, '\\x" + std::string(64, 'a') + "', 'periodic')");
  AuditVerification v = Verify(org);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.kind, AuditBreak::kCheckpointBeyondHead) << v.problem;
  EXPECT_EQ(v.broken_seq, 50u);
  EXPECT_EQ(v.events_checked, 3u);

  Tamper(
      "UPDATE audit_checkpoints SET signature = '\\x01', signing_key_id = 'k' "
      "WHERE org_id = '" +
      org + "' AND seq = 50");
  v = Verify(org);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.kind, AuditBreak::kSequenceGap) << v.problem;
  EXPECT_EQ(v.broken_seq, 4u);
}

// From an anchor the caller trusts, only the events after it are walked and stored
// checkpoints are neither trusted nor compared.
TEST_F(AuditLogTest, VerifiesFromAGivenAnchor) {
  const std::string org = "anchor-org";
  AppendN(org, 3);
  const AuditHead at_three = HeadOf(*pool_, log_, org);
  AppendN(org, 2);
  Tamper("INSERT INTO audit_checkpoints (org_id, seq, head_hash, kind) VALUES ('" + org +
         "', 4, '\\x" + std::string(64, 'b') + "', 'periodic')");
  EXPECT_EQ(Verify(org).kind, AuditBreak::kCheckpointMismatch);

  AuditVerifyOptions options;
  options.anchor = at_three;
  AuditVerification v = Verify(org, options);
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.first_seq, 4u);
  EXPECT_EQ(v.events_checked, 2u);
  EXPECT_EQ(v.verified_head.seq, 5u);

  AuditHead wrong = at_three;
  wrong.hash[0] ^= 1;
  options.anchor = wrong;
  v = Verify(org, options);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.kind, AuditBreak::kAnchorMismatch);
  EXPECT_EQ(v.broken_seq, 4u);

  // Nothing after the anchor: nothing walked, and the anchor is where it verified to.
  const AuditHead at_five = HeadOf(*pool_, log_, org);
  options.anchor = at_five;
  v = Verify(org, options);
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.events_checked, 0u);
  EXPECT_EQ(v.verified_head.hash, at_five.hash);
}

TEST_F(AuditLogTest, EventFieldsAreValidated) {
  NewAuditEvent event = Event(0);
  event.details = std::string("secret\0hidden", 13);
  const absl::Status status =
      pool_->Run("validate-org", [&](Transaction& tx) { return log_.Append(tx, event).status(); });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("audit.details"));
  EXPECT_THAT(status.message(), ::testing::Not(HasSubstr("hidden")));
}

}  // namespace
}  // namespace credvault::storage

int main(int argc, char** argv) {
  if (argc == 5 && std::string(argv[1]) == credvault::storage::kWorkerFlag) {
    const absl::Status status =
        credvault::storage::AppendMany(argv[2], argv[3], std::atoi(argv[4]));
    if (!status.ok()) std::cerr << "append worker: " << status << "\n";
    return status.ok() ? 0 : 1;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}

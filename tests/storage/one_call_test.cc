// The one-call hot paths (storage/migrations/0012_one_call_hot_paths.sql): the whole Put
// in one statement, the envelope read in one statement, and group-committed audit events.
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/audit_group_commit.h"
#include "storage/audit_log.h"
#include "storage/credential_store.h"
#include "storage/pool.h"
#include "tests/storage/test_database.h"

namespace credvault::storage {
namespace {

using ::credvault::storage::testing::AppRole;
using ::credvault::storage::testing::SeedOrg;
using ::credvault::storage::testing::TestDatabase;
using ::testing::HasSubstr;

constexpr char kOrg[] = "one-call";
constexpr char kOtherOrg[] = "one-call-other";

absl::Time Soon() { return absl::Now() + absl::Seconds(30); }

// The public key of the org key SeedOrg makes.
std::vector<std::uint8_t> SeededOrgPublicKey() { return std::vector<std::uint8_t>(32, 0x33); }

PutCall NewPut(const std::string& name, std::int64_t version) {
  PutCall put;
  put.name = name;
  put.version = version;
  put.content.envelope = {1, 2, 3, static_cast<std::uint8_t>(version)};
  put.content.org_key_version = 1;
  put.content.writer_key_version = 1;
  put.content.labels = {{"env", "prod"}};
  put.content.created_by = "spiffe://acme/backend";
  put.content.request_id = "req-" + name;
  put.org_public_key = SeededOrgPublicKey();
  return put;
}

class OneCallTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    db_ = TestDatabase::Create().release();
    ASSERT_NE(db_, nullptr);
    SeedOrg(*db_, kOrg);
    SeedOrg(*db_, kOtherOrg);
  }
  static void TearDownTestSuite() {
    delete db_;
    db_ = nullptr;
  }
  void SetUp() override {
    writer_ = db_->Pool(AppRole::kWriter);
    decryptor_ = db_->Pool(AppRole::kDecryptor);
  }

  absl::StatusOr<PutCallResult> Put(const PutCall& put, const std::string& org = kOrg) {
    return store_.Put(*writer_, org, Soon(), put);
  }
  static long Count(const std::string& sql) {
    pqxx::connection su(db_->SuperuserConninfo());
    pqxx::work tx(su);
    return tx.exec(sql)[0][0].as<long>();
  }
  // Every event of `org` links to the one before it (the database's own chain).
  static void ExpectChainLinked(const std::string& org) {
    pqxx::connection su(db_->SuperuserConninfo());
    pqxx::work tx(su);
    const pqxx::result broken = tx.exec_params(
        "SELECT e.seq FROM audit_events e JOIN audit_events p "
        "ON p.org_id = e.org_id AND p.seq = e.seq - 1 "
        "WHERE e.org_id = $1 AND e.prev_hash <> p.hash",
        org);
    EXPECT_EQ(broken.size(), 0u) << "events whose prev_hash is not the previous hash";
    const pqxx::row gaps = tx.exec_params1(
        "SELECT count(*), coalesce(max(seq) - min(seq) + 1, 0) FROM audit_events "
        "WHERE org_id = $1",
        org);
    EXPECT_EQ(gaps[0].as<long>(), gaps[1].as<long>()) << "the chain of " << org << " has gaps";
  }

  static TestDatabase* db_;
  CredentialStore store_;
  std::unique_ptr<ConnectionPool> writer_;
  std::unique_ptr<ConnectionPool> decryptor_;
};

TestDatabase* OneCallTest::db_ = nullptr;

TEST_F(OneCallTest, PutWritesAuditsAndReturnsTheMetadataInOneCall) {
  const long events_before = Count("SELECT count(*) FROM audit_events WHERE org_id = 'one-call'");
  absl::StatusOr<PutCallResult> first = Put(NewPut("svc/first", 1));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->outcome, PutOutcome::kDone);
  EXPECT_EQ(first->version, 1);
  EXPECT_GT(first->audit_seq, 0u);
  ASSERT_TRUE(first->metadata.has_value());
  EXPECT_EQ(first->metadata->name, "svc/first");
  EXPECT_EQ(first->metadata->version, 1);
  EXPECT_TRUE(first->metadata->current);
  EXPECT_EQ(first->metadata->labels, (Labels{{"env", "prod"}}));
  EXPECT_EQ(first->metadata->live_version_count, 1);

  absl::StatusOr<PutCallResult> second = Put(NewPut("svc/first", 2));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->outcome, PutOutcome::kDone);
  EXPECT_EQ(second->metadata->current_version, 2);
  EXPECT_EQ(second->metadata->live_version_count, 2);
  EXPECT_EQ(Count("SELECT count(*) FROM credentials WHERE org_id = 'one-call' "
                  "AND name = 'svc/first' AND is_current"),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE org_id = 'one-call'"),
            events_before + 2);
  ExpectChainLinked(kOrg);
}

TEST_F(OneCallTest, WrongGuessesWriteNothingAndSayWhatIsTrue) {
  ASSERT_EQ(Put(NewPut("svc/guess", 1))->outcome, PutOutcome::kDone);
  const long rows = Count("SELECT count(*) FROM credentials");
  const long events = Count("SELECT count(*) FROM audit_events");

  absl::StatusOr<PutCallResult> stale = Put(NewPut("svc/guess", 1));
  ASSERT_TRUE(stale.ok()) << stale.status();
  EXPECT_EQ(stale->outcome, PutOutcome::kVersionMoved);
  EXPECT_EQ(stale->version, 2);
  absl::StatusOr<PutCallResult> ahead = Put(NewPut("svc/guess", 7));
  ASSERT_TRUE(ahead.ok());
  EXPECT_EQ(ahead->outcome, PutOutcome::kVersionMoved);
  EXPECT_EQ(ahead->version, 2);

  PutCall wrong_key = NewPut("svc/guess", 2);
  wrong_key.content.org_key_version = 2;  // not the active key (version 1)
  absl::StatusOr<PutCallResult> key = Put(wrong_key);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->outcome, PutOutcome::kKeyChanged);
  EXPECT_EQ(key->version, 1);
  // The right version, but sealed to another public key than the one stored for it.
  PutCall other_public = NewPut("svc/guess", 2);
  other_public.org_public_key.assign(32, 0x44);
  EXPECT_EQ(Put(other_public)->outcome, PutOutcome::kKeyChanged);

  PutCall exists = NewPut("svc/guess", 2);
  exists.expected_live_version = 0;
  EXPECT_EQ(Put(exists)->outcome, PutOutcome::kPreconditionFailed);
  EXPECT_EQ(Put(exists)->version, 1);
  PutCall mismatch = NewPut("svc/guess", 2);
  mismatch.expected_live_version = 5;
  EXPECT_EQ(Put(mismatch)->outcome, PutOutcome::kPreconditionFailed);

  EXPECT_EQ(Put(NewPut("svc/guess", 1), "no-such-org")->outcome, PutOutcome::kOrgNotFound);
  EXPECT_EQ(Count("SELECT count(*) FROM credentials"), rows);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events"), events);
}

TEST_F(OneCallTest, IdempotencyKeyReplaysTheSameRequestAndRefusesAnother) {
  PutCall put = NewPut("svc/idempotent", 1);
  put.content.idempotency_key = "PutCredential:k1";
  put.content.request_digest.assign(32, 0xab);
  absl::StatusOr<PutCallResult> first = Put(put);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->outcome, PutOutcome::kDone);
  // The retry guesses the same version, which has moved on by the first Put itself.
  absl::StatusOr<PutCallResult> retry = Put(put);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->outcome, PutOutcome::kReplay);
  EXPECT_EQ(retry->version, 1);
  ASSERT_TRUE(retry->metadata.has_value());
  EXPECT_EQ(retry->metadata->version, 1);
  put.content.request_digest.assign(32, 0xcd);
  put.version = 2;
  EXPECT_EQ(Put(put)->outcome, PutOutcome::kIdempotencyKeyReused);
  EXPECT_EQ(Count("SELECT count(*) FROM credentials WHERE name = 'svc/idempotent'"), 1);
}

// A twin that committed the same idempotency key after this Put looked it up: the Put
// writes nothing and says it lost the race (its caller runs again and finds the twin's).
TEST_F(OneCallTest, PutThatLosesTheIdempotencyKeyRaceSaysSo) {
  pqxx::connection twin(db_->SuperuserConninfo());
  pqxx::work twin_tx(twin);
  twin_tx.exec_params(
      "INSERT INTO idempotency_keys (org_id, idempotency_key, request_hash, credential_name, "
      "result_version) VALUES ($1, 'PutCredential:raced', decode(repeat('ef', 32), 'hex'), "
      "'svc/twin', 1)",
      std::string(kOrg));
  PutCall put = NewPut("svc/race-loser", 1);
  put.content.idempotency_key = "PutCredential:raced";
  put.content.request_digest.assign(32, 0xab);
  absl::StatusOr<PutCallResult> result = absl::UnknownError("not run");
  std::thread loser([&] { result = Put(put); });
  // The Put waits on the twin's uncommitted key; the twin commits only then.
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (Count("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
               "AND query LIKE '%credvault_put(%'") == 0 &&
         absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  twin_tx.commit();
  loser.join();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->outcome, PutOutcome::kRaceLost);
  EXPECT_EQ(result->conflict.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_FALSE(result->metadata.has_value());
  EXPECT_EQ(Count("SELECT count(*) FROM credentials WHERE name = 'svc/race-loser'"), 0);
}

TEST_F(OneCallTest, DestroyedOrgTakesNoPut) {
  const std::string org = "one-call-destroyed";
  SeedOrg(*db_, org);
  db_->SuperuserExec(
      "UPDATE orgs SET state = 'DESTROYED', destroyed_at = now() "
      "WHERE org_id = '" +
      org + "'");
  absl::StatusOr<PutCallResult> put = Put(NewPut("svc/x", 1), org);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->outcome, PutOutcome::kOrgDestroyed);
  EXPECT_EQ(Count("SELECT count(*) FROM credentials WHERE org_id = '" + org + "'"), 0);
}

TEST_F(OneCallTest, ConcurrentPutsOfOneNameMakeEveryVersionOnce) {
  constexpr int kThreads = 8;
  constexpr int kPutsEach = 10;
  std::vector<std::thread> threads;
  std::atomic<int> done{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      std::int64_t guess = 1;
      for (int i = 0; i < kPutsEach;) {
        absl::StatusOr<PutCallResult> result = Put(NewPut("svc/contended", guess));
        ASSERT_TRUE(result.ok()) << result.status();
        if (result->outcome == PutOutcome::kDone) {
          ++i;
          guess = result->version + 1;
          done.fetch_add(1);
        } else {
          ASSERT_EQ(result->outcome, PutOutcome::kVersionMoved);
          guess = result->version;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(done.load(), kThreads * kPutsEach);
  EXPECT_EQ(Count("SELECT count(DISTINCT version) FROM credentials WHERE name = 'svc/contended'"),
            kThreads * kPutsEach);
  EXPECT_EQ(Count("SELECT max(version) FROM credentials WHERE name = 'svc/contended'"),
            kThreads * kPutsEach);
  ExpectChainLinked(kOrg);
}

TEST_F(OneCallTest, ReadEnvelopeInOneCallSeesOnlyItsOrgAndLiveVersions) {
  ASSERT_EQ(Put(NewPut("svc/read", 1))->outcome, PutOutcome::kDone);
  ASSERT_EQ(Put(NewPut("svc/read", 2))->outcome, PutOutcome::kDone);
  absl::StatusOr<EnvelopeRecord> current =
      store_.ReadEnvelope(*decryptor_, kOrg, Soon(), "svc/read", std::nullopt);
  ASSERT_TRUE(current.ok()) << current.status();
  EXPECT_EQ(current->metadata.version, 2);
  EXPECT_EQ(current->envelope, (std::vector<std::uint8_t>{1, 2, 3, 2}));
  EXPECT_EQ(current->org_state, "ACTIVE");
  EXPECT_EQ(current->org_key_state, "ACTIVE");
  absl::StatusOr<EnvelopeRecord> first =
      store_.ReadEnvelope(*decryptor_, kOrg, Soon(), "svc/read", 1);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->envelope, (std::vector<std::uint8_t>{1, 2, 3, 1}));
  // Another org's name space: nothing there, even though the name exists in kOrg.
  EXPECT_EQ(
      store_.ReadEnvelope(*decryptor_, kOtherOrg, Soon(), "svc/read", std::nullopt).status().code(),
      absl::StatusCode::kNotFound);
  // A near deadline takes the bounded path and reads the same.
  absl::StatusOr<EnvelopeRecord> bounded = store_.ReadEnvelope(
      *decryptor_, kOrg, absl::Now() + absl::Milliseconds(1500), "svc/read", std::nullopt);
  ASSERT_TRUE(bounded.ok()) << bounded.status();
  EXPECT_EQ(bounded->metadata.version, 2);
}

// Plays an attacker holding the write role: none of the new functions gives it a read of
// an envelope or an audit event of its own making, and its Put cannot pick a key.
TEST_F(OneCallTest, WriteRoleCannotReadEnvelopesOrAppendAuditEventsThroughTheNewFunctions) {
  ASSERT_EQ(Put(NewPut("svc/target", 1))->outcome, PutOutcome::kDone);
  EXPECT_EQ(store_.ReadEnvelope(*writer_, kOrg, Soon(), "svc/target", std::nullopt).status().code(),
            absl::StatusCode::kPermissionDenied);
  AuditGroupCommit forged(*writer_, {});
  const absl::StatusOr<std::uint64_t> appended =
      forged.Append(kOrg,
                    NewAuditEvent{"spiffe://acme/worker", "credential.decrypt", "svc/target", "ok",
                                  "forged", "purpose: cover"},
                    Soon());
  EXPECT_EQ(appended.status().code(), absl::StatusCode::kPermissionDenied) << appended.status();

  pqxx::connection writer(db_->RoleConninfo(AppRole::kWriter));
  pqxx::nontransaction tx(writer);
  // The Put function seals nothing itself and takes no key but the active one.
  const pqxx::row refused = tx.exec1(
      "SELECT outcome, version FROM credvault_put('one-call', 'svc/target', 2, '\\x01'::bytea, "
      "99, 1, '{}'::jsonb, 'spiffe://acme/backend', NULL, NULL, NULL, NULL, 'r', NULL, "
      "'\\x01'::bytea)");
  EXPECT_EQ(refused[0].as<std::string>(), "key_changed");
  EXPECT_EQ(Count("SELECT count(*) FROM credentials WHERE name = 'svc/target'"), 1);
}

TEST_F(OneCallTest, GroupCommitChainsConcurrentEventsOfManyOrgs) {
  AuditGroupCommit group(*decryptor_, {.max_batch = 8, .max_in_flight = 2});
  constexpr int kThreads = 12;
  constexpr int kEach = 15;
  std::vector<std::thread> threads;
  absl::Mutex mutex;
  std::set<std::pair<std::string, std::uint64_t>> seen;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string org = t % 2 == 0 ? kOrg : kOtherOrg;
      for (int i = 0; i < kEach; ++i) {
        const absl::StatusOr<std::uint64_t> seq = group.Append(
            org,
            NewAuditEvent{"spiffe://acme/worker", "credential.decrypt", "svc/x", "ok",
                          "req-" + std::to_string(t) + "-" + std::to_string(i), "purpose: test"},
            Soon());
        ASSERT_TRUE(seq.ok()) << seq.status();
        absl::MutexLock lock(&mutex);
        EXPECT_TRUE(seen.insert({org, *seq}).second) << "seq " << *seq << " handed out twice";
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kThreads * kEach));
  // Each seq it returned is the event with that request id.
  for (const auto& [org, seq] : seen) {
    EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE org_id = '" + org +
                    "' AND seq = " + std::to_string(seq) +
                    " AND action = 'credential.decrypt' AND request_id LIKE 'req-%'"),
              1);
  }
  ExpectChainLinked(kOrg);
  ExpectChainLinked(kOtherOrg);
  // Fewer commits than events: at least some batches held more than one event.
  EXPECT_LT(Count("SELECT count(DISTINCT xmin::text) FROM audit_events "
                  "WHERE request_id LIKE 'req-%'"),
            kThreads * kEach);
}

TEST_F(OneCallTest, GroupCommitRefusesBadEventsWithoutFailingTheOthers) {
  AuditGroupCommit group(*decryptor_, {});
  const absl::StatusOr<std::uint64_t> bad =
      group.Append(kOrg, NewAuditEvent{"", "credential.decrypt", "svc/x", "ok", "r", ""}, Soon());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  const absl::StatusOr<std::uint64_t> bad_org =
      group.Append("", NewAuditEvent{"p", "credential.decrypt", "svc/x", "ok", "r", ""}, Soon());
  EXPECT_EQ(bad_org.status().code(), absl::StatusCode::kInvalidArgument);
  // Array quoting survives the trip: the stored fields are exactly the given ones.
  const std::string awkward = "purpose: a \"quoted\", {braced} back\\slash; NULL";
  const absl::StatusOr<std::uint64_t> good = group.Append(
      kOrg, NewAuditEvent{"p", "credential.decrypt", "svc/x", "ok", "r-awkward", awkward}, Soon());
  ASSERT_TRUE(good.ok()) << good.status();
  pqxx::connection su(db_->SuperuserConninfo());
  pqxx::work tx(su);
  const pqxx::row stored =
      tx.exec_params1("SELECT details FROM audit_events WHERE org_id = $1 AND seq = $2",
                      std::string(kOrg), static_cast<long>(*good));
  EXPECT_EQ(stored[0].as<std::string>(), awkward);
}

TEST(SqlParamArrayTest, QuotesEveryElement) {
  const std::vector<std::string> values = {"plain", "with \"quotes\"", "back\\slash",
                                           "a,b",   "{braces}",        ""};
  EXPECT_EQ(SqlParam::TextArray(values).value(),
            "{\"plain\",\"with \\\"quotes\\\"\",\"back\\\\slash\",\"a,b\",\"{braces}\",\"\"}");
  EXPECT_EQ(SqlParam::IntArray(std::vector<std::int64_t>{1, -2, 3}).value(), "{1,-2,3}");
}

}  // namespace
}  // namespace credvault::storage

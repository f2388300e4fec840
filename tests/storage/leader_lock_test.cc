#include "storage/leader_lock.h"

#include <pqxx/pqxx>
#include <string>

#include "gtest/gtest.h"
#include "tests/storage/test_database.h"

namespace credvault::storage {
namespace {

using ::credvault::storage::testing::AppRole;
using ::credvault::storage::testing::TestDatabase;

class LeaderLockTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    db_ = TestDatabase::Create().release();
    ASSERT_NE(db_, nullptr);
  }
  static void TearDownTestSuite() {
    delete db_;
    db_ = nullptr;
  }

  static std::unique_ptr<LeaderLock> NewLock() {
    absl::StatusOr<std::unique_ptr<LeaderLock>> lock = LeaderLock::Create(
        {db_->RoleConninfo(AppRole::kAdmin), kRetentionLeaderLockKey, absl::Seconds(5)});
    EXPECT_TRUE(lock.ok()) << lock.status();
    return lock.ok() ? *std::move(lock) : nullptr;
  }
  static bool Acquire(LeaderLock& lock) {
    const absl::StatusOr<bool> held = lock.Acquire();
    EXPECT_TRUE(held.ok()) << held.status();
    return held.ok() && *held;
  }
  // Ends the sessions holding the lock as the database would for a crashed or cut-off
  // replica, and waits until they are gone.
  static long TerminateHolders() {
    pqxx::connection connection(db_->SuperuserConninfo());
    pqxx::work tx(connection);
    const pqxx::result result = tx.exec_params(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000)) FROM pg_locks "
        "WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND classid = ($1::bigint >> 32)::oid AND objid = ($1::bigint & 4294967295)::oid",
        kRetentionLeaderLockKey);
    tx.commit();
    return result[0][0].as<long>();
  }

  static TestDatabase* db_;
};

TestDatabase* LeaderLockTest::db_ = nullptr;

TEST_F(LeaderLockTest, OneHolderAtATimeAndReleaseHandsItOver) {
  std::unique_ptr<LeaderLock> a = NewLock();
  std::unique_ptr<LeaderLock> b = NewLock();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_FALSE(a->held());
  EXPECT_TRUE(Acquire(*a));
  EXPECT_TRUE(a->held());
  EXPECT_FALSE(Acquire(*b));
  EXPECT_FALSE(b->held());
  EXPECT_TRUE(Acquire(*a));  // confirming does not take it twice
  EXPECT_FALSE(Acquire(*b));

  a->Release();
  EXPECT_FALSE(a->held());
  EXPECT_TRUE(Acquire(*b));
  EXPECT_FALSE(Acquire(*a));
  b.reset();  // destruction releases too
  EXPECT_TRUE(Acquire(*a));
  a->Release();
  a->Release();  // idempotent
}

TEST_F(LeaderLockTest, LostConnectionIsLostLeadership) {
  std::unique_ptr<LeaderLock> a = NewLock();
  std::unique_ptr<LeaderLock> b = NewLock();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(Acquire(*a));
  ASSERT_FALSE(Acquire(*b));

  ASSERT_EQ(TerminateHolders(), 1);
  EXPECT_TRUE(Acquire(*b));
  // `a` finds its session gone, reconnects, and sees that `b` leads now.
  EXPECT_FALSE(Acquire(*a));
  EXPECT_FALSE(a->held());

  // And back: once `b`'s session ends, `a` takes over on its new session.
  ASSERT_EQ(TerminateHolders(), 1);
  EXPECT_TRUE(Acquire(*a));
  EXPECT_FALSE(Acquire(*b));
}

TEST_F(LeaderLockTest, UnreachableDatabaseIsUnavailableAndNotLeading) {
  absl::StatusOr<std::unique_ptr<LeaderLock>> lock = LeaderLock::Create(
      {"host=127.0.0.1 port=1 dbname=x user=x connect_timeout=2", kRetentionLeaderLockKey});
  ASSERT_TRUE(lock.ok()) << lock.status();
  const absl::StatusOr<bool> held = (*lock)->Acquire();
  EXPECT_EQ(held.status().code(), absl::StatusCode::kUnavailable) << held.status();
  EXPECT_FALSE((*lock)->held());
}

TEST_F(LeaderLockTest, OptionsAreChecked) {
  EXPECT_EQ(LeaderLock::Create({"", kRetentionLeaderLockKey}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      LeaderLock::Create({"host=x", kRetentionLeaderLockKey, absl::ZeroDuration()}).status().code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace credvault::storage

// The loop of the leader-locked periodic jobs against a real PostgreSQL: paging covers
// every chain once and in order, only the holder of the leader lock runs, leadership lost
// mid-pass ends the pass, and Stop() ends a wait or a pass at once.
#include "server/jobs/leader_loop.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/leader_lock.h"
#include "storage/pool.h"
#include "tests/server/leader_job_fixture.h"

namespace credvault::server {
namespace {

using ::credvault::server::testing::CapturedLog;
using ::credvault::server::testing::LeaderJobTest;
using ::testing::HasSubstr;

// "cvtestlk" in ASCII: a key of its own, so that the loop is shown not to depend on the
// keys of the real jobs.
constexpr std::int64_t kTestLockKey = 7167043836084251755;

// More orgs than two pages, so that the pass crosses page boundaries.
constexpr int kOrgs = 2 * static_cast<int>(LeaderLoop::kChainPage) + 50;
// Audit chains that are not orgs (e.g. `_system`), interleaved with the org ids.
constexpr int kOtherChains = 30;

std::string OrgId(int i) { return absl::StrCat("org-", 1000 + i); }
std::string ChainId(int i) { return absl::StrCat("org-", 1000 + 3 * i, "-chain"); }

class LeaderLoopTest : public LeaderJobTest {
 protected:
  // Fills the directories the loop pages through, without the orgs' keys or events: the
  // loop reads ids only.
  void SeedChains() {
    db_->SuperuserExec(absl::StrCat(
        "INSERT INTO org_directory (org_id) SELECT 'org-' || (1000 + i) FROM generate_series(0, ",
        kOrgs - 1, ") AS i"));
    db_->SuperuserExec(absl::StrCat(
        "INSERT INTO audit_chain_directory (org_id) SELECT 'org-' || (1000 + 3 * i) || '-chain' "
        "FROM generate_series(0, ",
        kOtherChains - 1, ") AS i"));
    // A chain of an org is listed once.
    db_->SuperuserExec("INSERT INTO audit_chain_directory (org_id) VALUES ('org-1007')");
  }

  // Every chain in byte order (the directories' collation is "C").
  static std::vector<std::string> AllChains() {
    std::vector<std::string> all;
    for (int i = 0; i < kOrgs; ++i) all.push_back(OrgId(i));
    for (int i = 0; i < kOtherChains; ++i) all.push_back(ChainId(i));
    std::sort(all.begin(), all.end());
    return all;
  }

  std::unique_ptr<LeaderLoop> NewLoop(absl::Duration interval = absl::Hours(1)) const {
    std::unique_ptr<storage::LeaderLock> lock = NewLock(kTestLockKey);
    if (lock == nullptr) return nullptr;
    return std::make_unique<LeaderLoop>(
        *admin_, std::move(lock),
        LeaderLoopOptions{interval, "test round failed", "lost the test leader lock"});
  }
};

TEST_F(LeaderLoopTest, PagingVisitsEveryChainOnceInOrder) {
  SeedChains();
  std::unique_ptr<LeaderLoop> loop = NewLoop();
  ASSERT_NE(loop, nullptr);
  absl::StatusOr<bool> leading = loop->Lead();
  ASSERT_TRUE(leading.ok()) << leading.status();
  ASSERT_TRUE(*leading);

  std::vector<std::string> visited;
  int orgs = 0;
  const ChainPass pass =
      loop->VisitChains([&](const storage::RetentionTarget& chain) -> absl::StatusOr<ChainVisit> {
        visited.push_back(chain.org_id);
        if (chain.is_org) ++orgs;
        return ChainVisit::kFinished;
      });
  EXPECT_TRUE(pass.failed.ok()) << pass.failed;
  EXPECT_FALSE(pass.stopped);
  EXPECT_FALSE(pass.lost_leadership);
  EXPECT_EQ(pass.failures, 0u);
  EXPECT_EQ(visited, AllChains());
  EXPECT_EQ(pass.visited, visited.size());
  EXPECT_EQ(orgs, kOrgs);
}

TEST_F(LeaderLoopTest, FailedStepsAreCountedAndThePassGoesOn) {
  SeedChains();
  std::unique_ptr<LeaderLoop> loop = NewLoop();
  ASSERT_NE(loop, nullptr);
  ASSERT_TRUE(loop->Lead().value_or(false));
  std::uint64_t failing = 0;
  const ChainPass pass =
      loop->VisitChains([&](const storage::RetentionTarget& chain) -> absl::StatusOr<ChainVisit> {
        if (chain.is_org) return ChainVisit::kFinished;
        ++failing;
        return absl::UnavailableError("lock timeout");
      });
  EXPECT_TRUE(pass.failed.ok()) << pass.failed;
  EXPECT_EQ(failing, static_cast<std::uint64_t>(kOtherChains));
  EXPECT_EQ(pass.failures, failing);
  EXPECT_EQ(pass.visited, AllChains().size());
}

TEST_F(LeaderLoopTest, AStepThatStopsEndsThePass) {
  SeedChains();
  std::unique_ptr<LeaderLoop> loop = NewLoop();
  ASSERT_NE(loop, nullptr);
  ASSERT_TRUE(loop->Lead().value_or(false));
  const ChainPass pass =
      loop->VisitChains([&](const storage::RetentionTarget&) -> absl::StatusOr<ChainVisit> {
        return ChainVisit::kStopped;
      });
  EXPECT_TRUE(pass.stopped);
  EXPECT_TRUE(pass.failed.ok()) << pass.failed;
  EXPECT_EQ(pass.visited, 1u);
}

TEST_F(LeaderLoopTest, OnlyTheLeaderRunsUntilItStops) {
  SeedChains();
  std::unique_ptr<LeaderLoop> first = NewLoop(absl::Milliseconds(20));
  std::unique_ptr<LeaderLoop> second = NewLoop(absl::Milliseconds(20));
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(first->Lead().value_or(false));

  // Each round does what the jobs do: a pass only while this replica leads.
  std::atomic<int> first_passes = 0, second_passes = 0, second_rounds = 0;
  const auto round = [](LeaderLoop& loop, std::atomic<int>& passes) {
    return [&loop, &passes]() -> absl::Status {
      absl::StatusOr<bool> leading = loop.Lead();
      if (!leading.ok()) return leading.status();
      if (!*leading) return absl::OkStatus();
      const ChainPass pass =
          loop.VisitChains([](const storage::RetentionTarget&) -> absl::StatusOr<ChainVisit> {
            return ChainVisit::kFinished;
          });
      if (pass.failed.ok() && !pass.stopped) ++passes;
      return pass.failed;
    };
  };
  first->Start(round(*first, first_passes));
  second->Start([&, inner = round(*second, second_passes)] {
    ++second_rounds;
    return inner();
  });
  const auto wait_for = [](const std::atomic<int>& value, int at_least) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (value.load() < at_least && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return value.load() >= at_least;
  };
  ASSERT_TRUE(wait_for(first_passes, 3));
  ASSERT_TRUE(wait_for(second_rounds, 3));
  EXPECT_EQ(second_passes.load(), 0);

  // Stepping down (as on shutdown) hands over at once, not when a session times out.
  first->Stop();
  const int first_total = first_passes.load();
  EXPECT_TRUE(wait_for(second_passes, 2));
  second->Stop();
  EXPECT_EQ(first_passes.load(), first_total);
}

TEST_F(LeaderLoopTest, LosingTheLockMidPassEndsItAfterThePage) {
  SeedChains();
  std::unique_ptr<LeaderLoop> leader = NewLoop();
  std::unique_ptr<LeaderLoop> other = NewLoop();
  ASSERT_NE(leader, nullptr);
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(leader->Lead().value_or(false));

  bool took_over = false;
  const ChainPass pass =
      leader->VisitChains([&](const storage::RetentionTarget&) -> absl::StatusOr<ChainVisit> {
        if (!took_over) {
          // The leader is cut off from the database, and another replica takes over.
          db_->SuperuserExec(
              "SELECT pg_terminate_backend(pid, 10000) FROM pg_locks WHERE locktype = 'advisory' "
              "AND granted AND database = (SELECT oid FROM pg_database WHERE datname = "
              "current_database())");
          took_over = other->Lead().value_or(false);
        }
        return ChainVisit::kFinished;
      });
  ASSERT_TRUE(took_over);
  EXPECT_TRUE(pass.lost_leadership);
  EXPECT_EQ(pass.failed.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(pass.failed.message(), "lost the test leader lock");
  EXPECT_EQ(pass.visited, LeaderLoop::kChainPage);
  EXPECT_FALSE(leader->Lead().value_or(true));
}

TEST_F(LeaderLoopTest, StopEndsTheWaitBetweenRoundsAtOnce) {
  std::unique_ptr<LeaderLoop> loop = NewLoop(absl::Hours(1));
  ASSERT_NE(loop, nullptr);
  std::atomic<int> rounds = 0;
  absl::Notification first_round;
  loop->Start([&]() -> absl::Status {
    if (++rounds == 1) first_round.Notify();
    return absl::OkStatus();
  });
  ASSERT_TRUE(first_round.WaitForNotificationWithTimeout(absl::Seconds(30)));
  const absl::Time before = absl::Now();
  loop->Stop();
  EXPECT_LT(absl::Now() - before, absl::Seconds(5));
  EXPECT_EQ(rounds.load(), 1);
  EXPECT_TRUE(loop->stopping());
}

TEST_F(LeaderLoopTest, StopEndsAPassBeforeTheNextChain) {
  SeedChains();
  std::unique_ptr<LeaderLoop> loop = NewLoop(absl::Hours(1));
  ASSERT_NE(loop, nullptr);
  constexpr std::uint64_t kBeforeStop = 5;
  absl::Mutex mutex;
  ChainPass seen;
  absl::Notification in_pass;
  loop->Start([&]() -> absl::Status {
    if (!loop->Lead().value_or(false)) return absl::UnavailableError("not leading");
    std::uint64_t steps = 0;
    const ChainPass pass =
        loop->VisitChains([&](const storage::RetentionTarget&) -> absl::StatusOr<ChainVisit> {
          if (++steps == kBeforeStop) {
            in_pass.Notify();
            // The step in flight finishes; the pass ends before the next one.
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
            while (!loop->stopping() && std::chrono::steady_clock::now() < deadline) {
              std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
          }
          return ChainVisit::kFinished;
        });
    absl::MutexLock lock(&mutex);
    seen = pass;
    return absl::OkStatus();
  });
  ASSERT_TRUE(in_pass.WaitForNotificationWithTimeout(absl::Seconds(30)));
  const absl::Time before = absl::Now();
  loop->Stop();
  EXPECT_LT(absl::Now() - before, absl::Seconds(5));
  absl::MutexLock lock(&mutex);
  EXPECT_TRUE(seen.stopped);
  EXPECT_TRUE(seen.failed.ok()) << seen.failed;
  EXPECT_EQ(seen.visited, kBeforeStop);
}

TEST_F(LeaderLoopTest, AFailedRoundIsLoggedAndTheNextOneRuns) {
  CapturedLog log;
  std::unique_ptr<LeaderLoop> loop = NewLoop(absl::Milliseconds(10));
  ASSERT_NE(loop, nullptr);
  std::atomic<int> rounds = 0;
  absl::Notification second_round;
  loop->Start([&]() -> absl::Status {
    if (++rounds == 2) second_round.Notify();
    return absl::UnavailableError("database unreachable");
  });
  ASSERT_TRUE(second_round.WaitForNotificationWithTimeout(absl::Seconds(30)));
  loop->Stop();
  EXPECT_THAT(log.text(), HasSubstr("test round failed"));
  EXPECT_THAT(log.text(), HasSubstr("database unreachable"));
  // Nothing runs once Stop() returned, and the loop does not start again.
  const int total = rounds.load();
  loop->Start([&]() -> absl::Status {
    ++rounds;
    return absl::OkStatus();
  });
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(rounds.load(), total);
}

}  // namespace
}  // namespace credvault::server

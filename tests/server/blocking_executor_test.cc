// The blocking executor's admission control and per-org fairness (server/api/blocking_executor.h):
// round robin across keys, the per-key and queue limits, bounded memory and the drain on
// shutdown. Order is made deterministic by gating the workers on notifications, never by
// sleeping.
#include "server/api/blocking_executor.h"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace credvault::server {
namespace {

using ::testing::ElementsAre;
using Admission = BlockingExecutor::Admission;

// The order in which tasks ran, by label.
class RunOrder {
 public:
  std::function<void()> Task(std::string label) {
    return [this, label = std::move(label)] {
      absl::MutexLock lock(&mutex_);
      labels_.push_back(label);
    };
  }
  std::vector<std::string> labels() const {
    absl::MutexLock lock(&mutex_);
    return labels_;
  }

 private:
  mutable absl::Mutex mutex_;
  std::vector<std::string> labels_ ABSL_GUARDED_BY(mutex_);
};

// Occupies one worker until released; `running` is notified once the worker has it.
struct Gate {
  absl::Notification running;
  absl::Notification release;
  std::function<void()> Task() {
    return [this] {
      running.Notify();
      release.WaitForNotification();
    };
  }
};

TEST(BlockingExecutorTest, QuietKeyIsServedBeforeTheHotBacklog) {
  BlockingExecutor executor(1, {.max_queued = 1000, .max_per_key = 1000});
  Gate gate;
  ASSERT_EQ(executor.Submit("hot", gate.Task()), Admission::kAccepted);
  gate.running.WaitForNotification();
  RunOrder order;
  constexpr int kHotBacklog = 200;
  for (int i = 0; i < kHotBacklog; ++i) {
    ASSERT_EQ(executor.Submit("hot", order.Task("hot")), Admission::kAccepted);
  }
  ASSERT_EQ(executor.Submit("quiet", order.Task("quiet")), Admission::kAccepted);
  EXPECT_EQ(executor.queued(), static_cast<std::size_t>(kHotBacklog + 1));
  gate.release.Notify();
  executor.AwaitIdle();

  const std::vector<std::string> labels = order.labels();
  ASSERT_EQ(labels.size(), static_cast<std::size_t>(kHotBacklog + 1));
  const auto quiet = std::find(labels.begin(), labels.end(), "quiet");
  ASSERT_NE(quiet, labels.end());
  // Submitted after the whole backlog, it waits for at most one hot task (a FIFO would run
  // it last).
  EXPECT_LE(quiet - labels.begin(), 1);
}

TEST(BlockingExecutorTest, KeysWithWorkAreServedInTurn) {
  BlockingExecutor executor(1, {.max_queued = 100, .max_per_key = 100});
  Gate gate;
  ASSERT_EQ(executor.Submit("gate", gate.Task()), Admission::kAccepted);
  gate.running.WaitForNotification();
  RunOrder order;
  for (const char* key : {"a", "b", "c"}) {
    for (int i = 1; i <= 3; ++i) {
      ASSERT_EQ(executor.Submit(key, order.Task(absl::StrCat(key, i))), Admission::kAccepted);
    }
  }
  ASSERT_EQ(executor.Submit(order.Task("cross-org")), true);
  gate.release.Notify();
  executor.AwaitIdle();
  EXPECT_THAT(order.labels(),
              ElementsAre("a1", "b1", "c1", "cross-org", "a2", "b2", "c2", "a3", "b3", "c3"));
}

TEST(BlockingExecutorTest, KeyOverItsLimitIsRefusedWhileOthersAreAdmitted) {
  BlockingExecutor executor(1, {.max_queued = 100, .max_per_key = 3});
  Gate gate;
  std::atomic<int> ran{0};
  const auto count = [&ran] { ran.fetch_add(1); };
  ASSERT_EQ(executor.Submit("hot", gate.Task()), Admission::kAccepted);
  gate.running.WaitForNotification();
  // The running task counts: two more fill the key's three.
  EXPECT_EQ(executor.Submit("hot", count), Admission::kAccepted);
  EXPECT_EQ(executor.Submit("hot", count), Admission::kAccepted);
  EXPECT_EQ(executor.Submit("hot", count), Admission::kKeyLimit);
  EXPECT_EQ(executor.Submit("quiet", count), Admission::kAccepted);
  EXPECT_EQ(executor.Submit(BlockingExecutor::kCrossOrgKey, count), Admission::kAccepted);
  gate.release.Notify();
  executor.AwaitIdle();
  EXPECT_EQ(ran.load(), 4);  // the refused task never ran
  // Finished tasks free the key's share.
  EXPECT_EQ(executor.Submit("hot", count), Admission::kAccepted);
  executor.AwaitIdle();
  EXPECT_EQ(ran.load(), 5);
}

TEST(BlockingExecutorTest, RunningTasksCountAgainstTheKeyLimit) {
  BlockingExecutor executor(2, {.max_queued = 100, .max_per_key = 1});
  Gate gate;
  ASSERT_EQ(executor.Submit("hot", gate.Task()), Admission::kAccepted);
  gate.running.WaitForNotification();
  // Nothing is queued and a worker is idle, but the key's one request is running.
  EXPECT_EQ(executor.queued(), 0u);
  EXPECT_EQ(executor.Submit("hot", [] {}), Admission::kKeyLimit);
  gate.release.Notify();
  executor.AwaitIdle();
}

TEST(BlockingExecutorTest, FullQueueRefusesEveryKey) {
  BlockingExecutor executor(1, {.max_queued = 2, .max_per_key = 100});
  Gate gate;
  std::atomic<int> ran{0};
  const auto count = [&ran] { ran.fetch_add(1); };
  ASSERT_EQ(executor.Submit("a", gate.Task()), Admission::kAccepted);
  gate.running.WaitForNotification();
  // The running task is not queued: two fit.
  EXPECT_EQ(executor.Submit("a", count), Admission::kAccepted);
  EXPECT_EQ(executor.Submit("b", count), Admission::kAccepted);
  EXPECT_EQ(executor.Submit("c", count), Admission::kQueueFull);
  EXPECT_EQ(executor.Submit("a", count), Admission::kQueueFull);
  EXPECT_FALSE(executor.Submit(count));
  EXPECT_EQ(executor.keys(), 2u);  // the refused key "c" holds no entry
  gate.release.Notify();
  executor.AwaitIdle();
  EXPECT_EQ(ran.load(), 2);
  EXPECT_EQ(executor.queued(), 0u);
}

TEST(BlockingExecutorTest, KeysHoldEntriesOnlyWhileTheyHaveWork) {
  BlockingExecutor executor(4, {.max_queued = 100000, .max_per_key = 100});
  Gate gates[4];
  for (Gate& gate : gates) {
    ASSERT_EQ(executor.Submit("gates", gate.Task()), Admission::kAccepted);
  }
  for (Gate& gate : gates) gate.running.WaitForNotification();
  std::atomic<int> ran{0};
  constexpr int kKeys = 1000;
  for (int key = 0; key < kKeys; ++key) {
    for (int i = 0; i < 3; ++i) {
      ASSERT_EQ(executor.Submit(absl::StrCat("org-", key), [&ran] { ran.fetch_add(1); }),
                Admission::kAccepted);
    }
  }
  EXPECT_EQ(executor.keys(), static_cast<std::size_t>(kKeys + 1));
  for (Gate& gate : gates) gate.release.Notify();
  executor.AwaitIdle();
  EXPECT_EQ(ran.load(), 3 * kKeys);
  EXPECT_EQ(executor.keys(), 0u);
  EXPECT_EQ(executor.queued(), 0u);
}

TEST(BlockingExecutorTest, ShutdownRunsWhatIsQueuedAndRefusesMore) {
  auto executor = std::make_unique<BlockingExecutor>(1, BlockingExecutor::Limits{100, 100});
  Gate gate;
  std::atomic<int> ran{0};
  ASSERT_EQ(executor->Submit("a", gate.Task()), Admission::kAccepted);
  gate.running.WaitForNotification();
  constexpr int kQueued = 50;
  for (int i = 0; i < kQueued; ++i) {
    ASSERT_EQ(executor->Submit(i % 2 == 0 ? "a" : "b", [&ran] { ran.fetch_add(1); }),
              Admission::kAccepted);
  }
  std::thread stopper([&executor] { executor->Shutdown(); });
  // Shutdown has begun once submissions are refused; everything is still queued then.
  std::atomic<int> probes_ran{0};
  int probes_accepted = 0;
  while (executor->Submit("c", [&probes_ran] { probes_ran.fetch_add(1); }) ==
         Admission::kAccepted) {
    ++probes_accepted;
    std::this_thread::yield();
  }
  EXPECT_EQ(ran.load(), 0);
  gate.release.Notify();
  stopper.join();
  EXPECT_EQ(ran.load(), kQueued);
  EXPECT_EQ(probes_ran.load(), probes_accepted);
  EXPECT_EQ(executor->keys(), 0u);
  executor.reset();
}

TEST(BlockingExecutorTest, AdmissionNames) {
  EXPECT_EQ(BlockingExecutor::AdmissionName(Admission::kQueueFull), "queue_full");
  EXPECT_EQ(BlockingExecutor::AdmissionName(Admission::kKeyLimit), "org_limit");
  EXPECT_EQ(BlockingExecutor::AdmissionName(Admission::kStopping), "stopping");
}

}  // namespace
}  // namespace credvault::server

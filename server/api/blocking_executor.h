#ifndef CREDVAULT_SERVER_API_BLOCKING_EXECUTOR_H_
#define CREDVAULT_SERVER_API_BLOCKING_EXECUTOR_H_

#include <atomic>
#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/node_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace credvault::server {

// A fixed set of worker threads for the blocking part of a request (database round trips,
// public-key crypto), so gRPC's callback threads never block.
//
// Admission control and fairness (docs/architecture.md, "Admission control and per-org
// fairness"). Every task carries a key, the org its request names. Tasks wait in one queue
// per key, and the workers take one task from each key that has work in turn (round
// robin), so a key with a long backlog delays another key's task by at most one task per
// busy key, not by its whole backlog. Submit refuses at once, instead of queueing work
// that would miss its deadline anyway, when
//  - the key already has `max_per_key` tasks queued or running, or
//  - `max_queued` tasks of all keys are waiting for a worker.
// Memory is bounded: a key has an entry only while it has a task queued or running.
class BlockingExecutor {
 public:
  struct Limits {
    // Tasks waiting for a worker, over all keys.
    std::size_t max_queued = 4096;
    // Tasks of one key queued or running.
    std::size_t max_per_key = 512;
  };

  enum class Admission { kAccepted, kQueueFull, kKeyLimit, kStopping };

  // The key of requests that name no org (administration across orgs). Org ids are
  // lower-case identifiers, so it is no org's key.
  static constexpr std::string_view kCrossOrgKey = "*";

  // The word for a refusal in metrics and logs: "queue_full", "org_limit", "stopping";
  // "accepted" for kAccepted.
  static std::string_view AdmissionName(Admission admission);

  BlockingExecutor(std::size_t threads, Limits limits);
  ~BlockingExecutor();  // Shutdown()
  BlockingExecutor(const BlockingExecutor&) = delete;
  BlockingExecutor& operator=(const BlockingExecutor&) = delete;

  // Refuses new tasks (kStopping), runs every queued one, then joins the workers. Once.
  void Shutdown();

  // Queues `task` under `key`, or says why not (the task is then dropped unrun).
  Admission Submit(std::string_view key, std::function<void()> task);
  // Under kCrossOrgKey; false when refused.
  bool Submit(std::function<void()> task);

  const Limits& limits() const { return limits_; }
  // Tasks waiting for a worker, all keys.
  std::size_t queued() const;
  // Keys holding an entry (with a task queued or running).
  std::size_t keys() const;
  // Blocks until no task is queued or running.
  void AwaitIdle();

 private:
  struct KeyState {
    std::deque<std::function<void()>> queued;
    std::size_t in_flight = 0;  // queued + running
  };
  using KeyMap = absl::node_hash_map<std::string, KeyState>;
  using KeyEntry = KeyMap::value_type;  // nodes do not move: the ring points at them

  void Work();
  // Counts one finished task of `entry`; drops the entry when it has none left.
  void Finish(KeyEntry* entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const Limits limits_;
  mutable absl::Mutex mutex_;
  // One idle worker is woken per task (a condition on the mutex would make every unlock
  // evaluate the waiters' conditions).
  absl::CondVar work_available_;
  absl::CondVar idle_;
  KeyMap keys_ ABSL_GUARDED_BY(mutex_);
  // The keys with a queued task, each once, in the order the workers serve them.
  std::deque<KeyEntry*> ring_ ABSL_GUARDED_BY(mutex_);
  std::size_t queued_total_ ABSL_GUARDED_BY(mutex_) = 0;
  std::size_t in_flight_total_ ABSL_GUARDED_BY(mutex_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  // queued_total_, readable without the lock (for the queue metric of every request).
  std::atomic<std::size_t> queued_{0};
  std::vector<std::thread> threads_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_API_BLOCKING_EXECUTOR_H_

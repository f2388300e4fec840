#ifndef CREDVAULT_SERVER_BLOCKING_EXECUTOR_H_
#define CREDVAULT_SERVER_BLOCKING_EXECUTOR_H_

#include <atomic>
#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace credvault::server {

// A fixed set of worker threads for the blocking part of a request (database round trips,
// public-key crypto), so gRPC's callback threads never block. The queue is bounded: when
// it is full, Submit refuses and the caller answers RESOURCE_EXHAUSTED at once instead of
// queueing work that would miss its deadline anyway.
class BlockingExecutor {
 public:
  BlockingExecutor(std::size_t threads, std::size_t max_queued);
  ~BlockingExecutor();  // runs what is queued, then joins
  BlockingExecutor(const BlockingExecutor&) = delete;
  BlockingExecutor& operator=(const BlockingExecutor&) = delete;

  // False when the queue is full or the executor is shutting down.
  bool Submit(std::function<void()> task);

  std::size_t queued() const;

 private:
  void Work();

  const std::size_t max_queued_;
  absl::Mutex mutex_;
  // One idle worker is woken per task (a condition on the mutex would make every unlock
  // evaluate the waiters' conditions).
  absl::CondVar work_available_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mutex_);
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  // queue_.size(), readable without the lock (for the queue metric of every request).
  std::atomic<std::size_t> queued_{0};
  std::vector<std::thread> threads_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_BLOCKING_EXECUTOR_H_

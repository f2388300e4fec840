#include "server/blocking_executor.h"

#include <utility>

namespace credvault::server {

BlockingExecutor::BlockingExecutor(std::size_t threads, std::size_t max_queued)
    : max_queued_(max_queued) {
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

BlockingExecutor::~BlockingExecutor() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  work_available_.SignalAll();
  for (std::thread& thread : threads_) thread.join();
}

bool BlockingExecutor::Submit(std::function<void()> task) {
  absl::MutexLock lock(&mutex_);
  if (stopping_ || queue_.size() >= max_queued_) return false;
  queue_.push_back(std::move(task));
  queued_.store(queue_.size(), std::memory_order_relaxed);
  work_available_.Signal();
  return true;
}

std::size_t BlockingExecutor::queued() const { return queued_.load(std::memory_order_relaxed); }

void BlockingExecutor::Work() {
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mutex_);
      while (!stopping_ && queue_.empty()) work_available_.Wait(&mutex_);
      if (queue_.empty()) return;  // stopping and drained
      task = std::move(queue_.front());
      queue_.pop_front();
      queued_.store(queue_.size(), std::memory_order_relaxed);
    }
    task();
  }
}

}  // namespace credvault::server

#include "server/api/blocking_executor.h"

#include <utility>

#include "absl/strings/string_view.h"

namespace credvault::server {

std::string_view BlockingExecutor::AdmissionName(Admission admission) {
  switch (admission) {
    case Admission::kAccepted:
      return "accepted";
    case Admission::kQueueFull:
      return "queue_full";
    case Admission::kKeyLimit:
      return "org_limit";
    case Admission::kStopping:
      return "stopping";
  }
  return "unknown";
}

BlockingExecutor::BlockingExecutor(std::size_t threads, Limits limits) : limits_(limits) {
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

BlockingExecutor::~BlockingExecutor() { Shutdown(); }

void BlockingExecutor::Shutdown() {
  {
    absl::MutexLock lock(&mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  work_available_.SignalAll();
  for (std::thread& thread : threads_) thread.join();
}

BlockingExecutor::Admission BlockingExecutor::Submit(std::string_view key,
                                                     std::function<void()> task) {
  absl::MutexLock lock(&mutex_);
  if (stopping_) return Admission::kStopping;
  // (Abseil's string_view here is its own type, not std::string_view.)
  KeyMap::iterator it = keys_.find(absl::string_view(key.data(), key.size()));
  // The key's own limit first: a key over it is told so even when the queue is also full.
  if (it != keys_.end() && it->second.in_flight >= limits_.max_per_key) {
    return Admission::kKeyLimit;
  }
  if (queued_total_ >= limits_.max_queued) return Admission::kQueueFull;
  if (it == keys_.end()) it = keys_.emplace(std::string(key), KeyState{}).first;
  KeyState& state = it->second;
  if (state.queued.empty()) ring_.push_back(&*it);
  state.queued.push_back(std::move(task));
  ++state.in_flight;
  ++in_flight_total_;
  queued_.store(++queued_total_, std::memory_order_relaxed);
  work_available_.Signal();
  return Admission::kAccepted;
}

bool BlockingExecutor::Submit(std::function<void()> task) {
  return Submit(kCrossOrgKey, std::move(task)) == Admission::kAccepted;
}

std::size_t BlockingExecutor::queued() const { return queued_.load(std::memory_order_relaxed); }

std::size_t BlockingExecutor::keys() const {
  absl::MutexLock lock(&mutex_);
  return keys_.size();
}

void BlockingExecutor::AwaitIdle() {
  absl::MutexLock lock(&mutex_);
  while (in_flight_total_ > 0) idle_.Wait(&mutex_);
}

void BlockingExecutor::Finish(KeyEntry* entry) {
  if (--entry->second.in_flight == 0) keys_.erase(keys_.find(entry->first));
  if (--in_flight_total_ == 0) idle_.SignalAll();
}

void BlockingExecutor::Work() {
  KeyEntry* finished = nullptr;  // the key of the task this worker just ran
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mutex_);
      if (finished != nullptr) Finish(finished);
      while (!stopping_ && ring_.empty()) work_available_.Wait(&mutex_);
      if (ring_.empty()) return;  // stopping and drained
      KeyEntry* const entry = ring_.front();
      ring_.pop_front();
      KeyState& state = entry->second;
      task = std::move(state.queued.front());
      state.queued.pop_front();
      // Back of the line: every other key with work gets a task before this one's next.
      if (!state.queued.empty()) ring_.push_back(entry);
      queued_.store(--queued_total_, std::memory_order_relaxed);
      finished = entry;
    }
    task();
    // `task` and what it holds are released here, outside the lock.
  }
}

}  // namespace credvault::server

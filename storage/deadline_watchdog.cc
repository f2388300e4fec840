#include "storage/deadline_watchdog.h"

#include <sys/socket.h>

#include <algorithm>
#include <utility>

namespace credvault::storage {

DeadlineWatchdog::DeadlineWatchdog() : thread_([this] { Run(); }) {}

DeadlineWatchdog::~DeadlineWatchdog() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
    changed_.Signal();
  }
  thread_.join();
}

DeadlineWatchdog::Watch::Watch(Watch&& other) noexcept
    : watchdog_(std::exchange(other.watchdog_, nullptr)), id_(other.id_), fired_(other.fired_) {}

DeadlineWatchdog::Watch::~Watch() { Release(); }

bool DeadlineWatchdog::Watch::Release() {
  if (watchdog_ != nullptr) fired_ = std::exchange(watchdog_, nullptr)->Stop(id_);
  return fired_;
}

DeadlineWatchdog::Watch DeadlineWatchdog::Start(int socket, absl::Time deadline) {
  if (deadline == absl::InfiniteFuture() || socket < 0) return Watch(nullptr, 0);
  absl::MutexLock lock(&mutex_);
  const std::uint64_t id = next_id_++;
  watched_.emplace(id, Entry{socket, deadline});
  if (deadline < wake_at_) changed_.Signal();
  return Watch(this, id);
}

bool DeadlineWatchdog::Stop(std::uint64_t id) {
  absl::MutexLock lock(&mutex_);
  const auto it = watched_.find(id);
  if (it == watched_.end()) return false;
  const bool fired = it->second.fired;
  watched_.erase(it);
  return fired;
}

void DeadlineWatchdog::Run() {
  absl::MutexLock lock(&mutex_);
  while (!stopping_) {
    const absl::Time now = absl::Now();
    absl::Time next = absl::InfiniteFuture();
    for (auto& [id, entry] : watched_) {
      if (entry.fired) continue;
      if (entry.deadline <= now) {
        // Under the lock: the owner cannot have released (and reused) the socket yet.
        ::shutdown(entry.socket, SHUT_RDWR);
        entry.fired = true;
      } else {
        next = std::min(next, entry.deadline);
      }
    }
    wake_at_ = next;
    if (next == absl::InfiniteFuture()) {
      changed_.Wait(&mutex_);
    } else {
      changed_.WaitWithDeadline(&mutex_, next);
    }
  }
}

}  // namespace credvault::storage

#ifndef CREDVAULT_STORAGE_DEADLINE_WATCHDOG_H_
#define CREDVAULT_STORAGE_DEADLINE_WATCHDOG_H_

#include <cstdint>
#include <map>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace credvault::storage {

// Ends database round trips that outlive their caller's deadline. libpq waits for a reply
// without a time limit, and PostgreSQL's statement_timeout cannot fire for a query that
// never reached it or whose reply never comes back (a stalled network path, a silent
// partition): without this, a request would hold its worker and its connection until TCP
// gives up, and might commit long after its caller left. When a watched deadline passes,
// the watchdog shuts the connection's socket down; libpq then fails at once, the pool
// drops the connection, and the caller learns that the outcome is unknown.
// docs/architecture.md, "Deadlines".
class DeadlineWatchdog {
 public:
  DeadlineWatchdog();
  ~DeadlineWatchdog();  // joins its thread
  DeadlineWatchdog(const DeadlineWatchdog&) = delete;
  DeadlineWatchdog& operator=(const DeadlineWatchdog&) = delete;

  // Watches `socket` until the Watch is destroyed; destroying it guarantees the socket is
  // no longer touched, so the connection may then be reused or closed.
  class [[nodiscard]] Watch {
   public:
    Watch(Watch&& other) noexcept;
    Watch& operator=(Watch&&) = delete;
    Watch(const Watch&) = delete;
    ~Watch();
    // Whether the deadline passed and the socket was shut down. Final once the Watch is
    // destroyed; read it before that through Release().
    bool Release();

   private:
    friend class DeadlineWatchdog;
    Watch(DeadlineWatchdog* watchdog, std::uint64_t id) : watchdog_(watchdog), id_(id) {}
    DeadlineWatchdog* watchdog_;  // null once released
    std::uint64_t id_;
    bool fired_ = false;
  };

  // `deadline` infinite: nothing is watched.
  Watch Start(int socket, absl::Time deadline);

 private:
  struct Entry {
    int socket;
    absl::Time deadline;
    bool fired = false;
  };
  bool Stop(std::uint64_t id);  // whether it had fired
  void Run();

  absl::Mutex mutex_;
  absl::CondVar changed_;
  // The round trips in flight (at most one per pooled connection), by id.
  std::map<std::uint64_t, Entry> watched_ ABSL_GUARDED_BY(mutex_);
  std::uint64_t next_id_ ABSL_GUARDED_BY(mutex_) = 1;
  // When the thread will next look: a new deadline before it wakes the thread, a later one
  // does not (the common case: deadlines arrive in about the order they expire).
  absl::Time wake_at_ ABSL_GUARDED_BY(mutex_) = absl::InfiniteFuture();
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread thread_;
};

}  // namespace credvault::storage

#endif  // CREDVAULT_STORAGE_DEADLINE_WATCHDOG_H_

#ifndef CREDVAULT_SERVER_JOBS_LEADER_LOOP_H_
#define CREDVAULT_SERVER_JOBS_LEADER_LOOP_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "storage/leader_lock.h"
#include "storage/pool.h"
#include "storage/retention_store.h"

namespace credvault::server {

// How the step of one chain ended, when it did not fail.
enum class ChainVisit {
  kFinished,
  kStopped,  // the step saw Stop() and cut its chain short; the pass ends here
};

// What one pass over every chain did.
struct ChainPass {
  bool stopped = false;          // Stop() cut the pass short
  bool lost_leadership = false;  // the leader lock was lost (or could not be checked) mid-pass
  std::uint64_t visited = 0;
  std::uint64_t failures = 0;  // chains whose step failed; the next round retries them
  // Why the pass ended early: listing the chains failed or the leadership was lost.
  absl::Status failed;
};

struct LeaderLoopOptions {
  // Between the end of one round and the start of the next.
  absl::Duration interval = absl::Hours(1);
  // Logged with the error when a round fails, e.g. "retention sweep failed".
  std::string round_failed_log;
  // The ABORTED message of a pass that lost the leader lock after a page.
  std::string lost_leadership_message;
};

// The loop shared by the periodic jobs that one replica at a time runs over every org and
// every other audit chain (the retention sweep, the audit checkpoints): a round now and
// then every `interval` after the previous one ends, on a thread of its own, under a
// session advisory lock (storage::LeaderLock, one key per job). The lock only keeps
// replicas from doing the same work at once: a step must still be safe to run twice,
// since a holder learns that it was cut off only at its next Acquire
// (docs/architecture.md, docs/operations.md).
//
// The job writes its round from Lead() and VisitChains(), and keeps its own metrics and
// log lines; the loop keeps the thread, the schedule, the lock and the paging.
class LeaderLoop {
 public:
  using Round = std::function<absl::Status()>;
  // One chain. Not OK: counted as a failure (the step logs it) and the pass goes on.
  using VisitStep = std::function<absl::StatusOr<ChainVisit>(const storage::RetentionTarget&)>;

  // Chains listed per read of the directories; leadership is re-checked after each page.
  static constexpr std::size_t kChainPage = 100;

  // `pool` (admin database role) must outlive this object.
  LeaderLoop(storage::ConnectionPool& pool, std::unique_ptr<storage::LeaderLock> leader,
             LeaderLoopOptions options);
  ~LeaderLoop();  // Stop()
  LeaderLoop(const LeaderLoop&) = delete;
  LeaderLoop& operator=(const LeaderLoop&) = delete;

  // Runs `round` now and then every interval after the previous one ends, on a thread of
  // its own, logging the rounds that fail. At most once; not after Stop().
  void Start(Round round);
  // Returns once the thread has ended, then gives up leadership at once (instead of when
  // the session times out). Idempotent.
  void Stop();
  // Whether Stop() was called; steps check it between transactions.
  bool stopping() const { return stop_.HasBeenNotified(); }

  // Confirms or takes the leader lock: false while another replica holds it; UNAVAILABLE
  // when it cannot be checked.
  absl::StatusOr<bool> Lead();

  // Runs `step` on every chain in org id order, a page at a time, until the last page,
  // Stop(), a failed listing or lost leadership. One chain's failure does not hold up
  // the others.
  ChainPass VisitChains(const VisitStep& step);

 private:
  storage::ConnectionPool& pool_;
  const std::unique_ptr<storage::LeaderLock> leader_;
  const LeaderLoopOptions options_;
  const storage::RetentionStore chains_{};
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_JOBS_LEADER_LOOP_H_

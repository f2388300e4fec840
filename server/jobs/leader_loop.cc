#include "server/jobs/leader_loop.h"

#include <utility>
#include <vector>

#include "common/status_macros.h"
#include "server/telemetry/json_log.h"

namespace credvault::server {

LeaderLoop::LeaderLoop(storage::ConnectionPool& pool, std::unique_ptr<storage::LeaderLock> leader,
                       LeaderLoopOptions options)
    : pool_(pool), leader_(std::move(leader)), options_(std::move(options)) {}

LeaderLoop::~LeaderLoop() { Stop(); }

void LeaderLoop::Start(Round round) {
  if (thread_.joinable() || stop_.HasBeenNotified()) return;
  thread_ = std::thread([this, round = std::move(round)] {
    do {
      if (const absl::Status status = round(); !status.ok()) {
        LogError(options_.round_failed_log, {{"error", status.ToString()}});
      }
    } while (!stop_.WaitForNotificationWithTimeout(options_.interval));
  });
}

void LeaderLoop::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
  leader_->Release();
}

absl::StatusOr<bool> LeaderLoop::Lead() { return leader_->Acquire(); }

ChainPass LeaderLoop::VisitChains(const VisitStep& step) {
  ChainPass pass;
  std::string after;
  while (!pass.stopped && pass.failed.ok()) {
    std::vector<storage::RetentionTarget> page;
    pass.failed = pool_.RunWithoutOrg([&](storage::Transaction& tx) -> absl::Status {
      CV_ASSIGN_OR_RETURN(page, chains_.ListTargets(tx, after, kChainPage));
      return absl::OkStatus();
    });
    if (!pass.failed.ok()) break;
    for (const storage::RetentionTarget& chain : page) {
      if (stop_.HasBeenNotified()) {
        pass.stopped = true;
        break;
      }
      ++pass.visited;
      const absl::StatusOr<ChainVisit> visit = step(chain);
      if (!visit.ok()) {
        // One chain's failure (e.g. a lock timeout) must not hold up the others; the next
        // round retries it.
        ++pass.failures;
      } else if (*visit == ChainVisit::kStopped) {
        pass.stopped = true;
        break;
      }
    }
    if (pass.stopped || page.size() < kChainPage) break;
    after = page.back().org_id;
    // Another replica may have taken over if this one was cut off from the database.
    const absl::StatusOr<bool> still = leader_->Acquire();
    if (!still.ok() || !*still) {
      pass.lost_leadership = true;
      pass.failed =
          still.ok() ? absl::AbortedError(options_.lost_leadership_message) : still.status();
    }
  }
  return pass;
}

}  // namespace credvault::server

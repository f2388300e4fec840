#include "storage/audit_group_commit.h"

#include <algorithm>
#include <utility>

#include "common/status_macros.h"
#include "storage/validation.h"

namespace credvault::storage {
namespace {

constexpr Statement kAppendBatch{
    "audit.append_batch",
    "SELECT idx, org_id, seq FROM credvault_audit_append_batch($1::text[], $2::bigint[], "
    "$3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])"};

}  // namespace

AuditGroupCommit::AuditGroupCommit(ConnectionPool& pool, Options options, Clock clock,
                                   AuditLog::AppendObserver on_append)
    : pool_(pool),
      options_{std::clamp<std::size_t>(options.max_batch, 1, 1024),
               std::max<std::size_t>(options.max_in_flight, 1)},
      clock_(std::move(clock)),
      on_append_(std::move(on_append)) {}

absl::StatusOr<std::uint64_t> AuditGroupCommit::Append(std::string_view org_id,
                                                       const NewAuditEvent& event,
                                                       absl::Time deadline) {
  CV_RETURN_IF_ERROR(ValidateOrgId(org_id));
  CV_RETURN_IF_ERROR(ValidateNewAuditEvent(event));
  const absl::Time started = absl::Now();
  Pending mine;
  mine.org_id = std::string(org_id);
  mine.event = &event;
  mine.time = clock_();
  mine.deadline = deadline;
  mine.seq = absl::UnknownError("audit event not committed");

  mutex_.Lock();
  queue_.push_back(&mine);
  absl::Time wait_until = deadline;
  while (true) {
    // Each waiter sleeps on its own condition variable and is woken only when its batch
    // is done or it may flush, so no unlock wakes waiters that have nothing to do.
    bool timed_out = false;
    while (!mine.done && !timed_out &&
           !(!queue_.empty() && queue_.front() == &mine && in_flight_ < options_.max_in_flight)) {
      timed_out = mine.wake.WaitWithDeadline(&mutex_, wait_until);
    }
    if (mine.done) break;
    if (timed_out) {
      // Still queued: leave, the event unwritten. Once a batch has taken the event, its
      // caller must wait for the batch (which holds it), and the batch's own round trip
      // is bounded by the latest deadline among its events (storage/deadline_watchdog.h).
      const auto queued = std::find(queue_.begin(), queue_.end(), &mine);
      if (queued != queue_.end()) {
        const bool was_first = queued == queue_.begin();
        queue_.erase(queued);
        if (was_first && !queue_.empty()) queue_.front()->wake.Signal();
        mutex_.Unlock();
        return absl::DeadlineExceededError(
            "audit: the deadline passed while the event waited for its group commit");
      }
      wait_until = absl::InfiniteFuture();  // in a batch: wait for it
      continue;
    }
    // First in the queue with a flush slot free: flush whatever is queued, its own event
    // first; those whose events leave with it are woken when the batch is done.
    std::vector<Pending*> batch;
    while (!queue_.empty() && batch.size() < options_.max_batch) {
      batch.push_back(queue_.front());
      queue_.pop_front();
    }
    ++in_flight_;
    // The next in line may flush too while this batch commits.
    if (!queue_.empty() && in_flight_ < options_.max_in_flight) queue_.front()->wake.Signal();
    mutex_.Unlock();
    Flush(batch);
    mutex_.Lock();
    --in_flight_;
    for (Pending* pending : batch) {
      pending->done = true;
      if (pending != &mine) pending->wake.Signal();
    }
    if (!queue_.empty()) queue_.front()->wake.Signal();
  }
  mutex_.Unlock();
  if (mine.seq.ok() && on_append_) on_append_(absl::Now() - started);
  return std::move(mine.seq);
}

void AuditGroupCommit::Flush(const std::vector<Pending*>& batch) {
  const absl::Status status = CommitBatch(batch);
  if (status.ok()) return;
  if (batch.size() > 1 && absl::IsInvalidArgument(status)) {
    // The database refused some event of the batch: the others should not fail with it.
    for (Pending* pending : batch) {
      if (const absl::Status alone = CommitBatch({pending}); !alone.ok()) pending->seq = alone;
    }
    return;
  }
  for (Pending* pending : batch) pending->seq = status;
}

absl::Status AuditGroupCommit::CommitBatch(const std::vector<Pending*>& batch) {
  std::vector<Pending*> ordered = batch;
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const Pending* a, const Pending* b) { return a->org_id < b->org_id; });
  std::vector<std::string> orgs, principals, actions, targets, results, request_ids, details;
  std::vector<std::int64_t> micros;
  absl::Time deadline = absl::InfinitePast();
  for (const Pending* pending : ordered) {
    orgs.push_back(pending->org_id);
    micros.push_back(absl::ToUnixMicros(pending->time));
    principals.push_back(pending->event->principal);
    actions.push_back(pending->event->action);
    targets.push_back(pending->event->target);
    results.push_back(pending->event->result);
    request_ids.push_back(pending->event->request_id);
    details.push_back(pending->event->details);
    deadline = std::max(deadline, pending->deadline);
  }
  CV_ASSIGN_OR_RETURN(const std::vector<Row> rows,
                      pool_.Call(kAppendBatch,
                                 {SqlParam::TextArray(orgs), SqlParam::IntArray(micros),
                                  SqlParam::TextArray(principals), SqlParam::TextArray(actions),
                                  SqlParam::TextArray(targets), SqlParam::TextArray(results),
                                  SqlParam::TextArray(request_ids), SqlParam::TextArray(details)},
                                 deadline, ConnectionPool::IfConnectionLost::kFail));
  if (rows.size() != ordered.size()) {
    return absl::InternalError("audit.append_batch: one row per event expected");
  }
  for (const Row& row : rows) {
    CV_ASSIGN_OR_RETURN(const std::int64_t index, row.Int(0));
    CV_ASSIGN_OR_RETURN(const std::int64_t seq, row.Int(2));
    if (index < 1 || static_cast<std::size_t>(index) > ordered.size() || seq < 1) {
      return absl::InternalError("audit.append_batch: unexpected row");
    }
    ordered[static_cast<std::size_t>(index - 1)]->seq = static_cast<std::uint64_t>(seq);
  }
  return absl::OkStatus();
}

}  // namespace credvault::storage

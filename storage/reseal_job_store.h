#ifndef CREDVAULT_STORAGE_RESEAL_JOB_STORE_H_
#define CREDVAULT_STORAGE_RESEAL_JOB_STORE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/transaction.h"

namespace credvault::storage {

enum class ResealJobKind { kOrgKey, kRootKey };
enum class ResealJobState { kPending, kRunning, kSucceeded, kFailed, kCancelled };

// A re-seal job: moves what is sealed to key version from_version onto to_version in
// resumable batches. Org key jobs belong to their org; root key jobs to kSystemOrgId.
struct ResealJob {
  std::string org_id;
  std::string job_id;
  ResealJobKind kind = ResealJobKind::kOrgKey;
  std::int32_t from_version = 0;
  std::int32_t to_version = 0;
  ResealJobState state = ResealJobState::kPending;
  std::uint64_t items_done = 0;
  std::uint64_t items_total = 0;
  // Everything up to here is done: (name, version) for org key jobs, (org id, 0) for root
  // key jobs; nullopt before the first batch.
  std::optional<std::string> cursor_key;
  std::int64_t cursor_version = 0;
  std::string created_by;
  absl::Time started_at;
  absl::Time updated_at;
  std::optional<absl::Time> ended_at;
  std::string last_error;

  bool finished() const {
    return state == ResealJobState::kSucceeded || state == ResealJobState::kFailed ||
           state == ResealJobState::kCancelled;
  }
};

struct NewResealJob {
  std::string job_id;  // 1-64 characters from [A-Za-z0-9_-]
  ResealJobKind kind = ResealJobKind::kOrgKey;
  std::int32_t from_version = 0;
  std::int32_t to_version = 0;
  std::uint64_t items_total = 0;
  std::string created_by;
  // The rotation request that made the job; both or neither.
  std::optional<std::string> idempotency_key;
  std::optional<std::vector<std::uint8_t>> request_hash;  // 32 bytes
};

struct ResealJobPageQuery {
  std::optional<ResealJobState> state;  // nullopt: any state
  std::size_t page_size = 50;           // 1..500
  // Keyset: jobs strictly after (started_at, job_id) in newest-first order; nullopt: start.
  std::optional<std::pair<absl::Time, std::string>> after;
};

struct ResealJobPage {
  std::vector<ResealJob> jobs;
  bool more = false;
};

// Re-seal jobs of the org of the transaction. Stateless.
class ResealJobStore {
 public:
  // FAILED_PRECONDITION if the org already has an unfinished job.
  absl::StatusOr<ResealJob> Create(Transaction& tx, const NewResealJob& job) const;

  // NOT_FOUND if there is no such job.
  absl::StatusOr<ResealJob> Get(Transaction& tx, const std::string& job_id) const;

  // The job made by the rotation request with this idempotency key, if any.
  absl::StatusOr<std::optional<ResealJob>> FindByIdempotencyKey(
      Transaction& tx, const std::string& idempotency_key) const;

  // The org's unfinished job, if any.
  absl::StatusOr<std::optional<ResealJob>> GetOpen(Transaction& tx) const;

  // The org's unfinished job, locked for the transaction; nullopt when there is none or
  // another worker holds it (SKIP LOCKED), so two workers never run the same batch.
  absl::StatusOr<std::optional<ResealJob>> LockOpen(Transaction& tx) const;

  // Every org (or kSystemOrgId) with an unfinished job; needs no org in the transaction.
  absl::StatusOr<std::vector<std::string>> ListOrgsWithOpenJobs(Transaction& tx) const;

  // Newest first.
  absl::StatusOr<ResealJobPage> List(Transaction& tx, const ResealJobPageQuery& query) const;

  // Stores the job's progress fields (state, items, cursor, last_error) and stamps
  // updated_at, and ended_at when the state is final.
  absl::Status Update(Transaction& tx, const ResealJob& job) const;
};

}  // namespace credvault::storage

#endif  // CREDVAULT_STORAGE_RESEAL_JOB_STORE_H_

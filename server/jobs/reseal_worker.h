#ifndef CREDVAULT_SERVER_JOBS_RESEAL_WORKER_H_
#define CREDVAULT_SERVER_JOBS_RESEAL_WORKER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/keys/decrypt_tier_keys.h"
#include "server/keys/org_key_cache.h"
#include "storage/audit_log.h"
#include "storage/credential_store.h"
#include "storage/org_directory.h"
#include "storage/org_store.h"
#include "storage/pool.h"
#include "storage/reseal_job_store.h"
#include "storage/root_key_store.h"

namespace credvault::server {

struct ResealWorkerOptions {
  // Credential versions (org key jobs) or orgs (root key jobs) per transaction.
  std::size_t batch_size = 200;
  // How often to look for jobs made by other replicas.
  absl::Duration poll_interval = absl::Seconds(5);
  // Whether the write tiers pin root key `version`. A root key job moves no org key to a
  // root that is not pinned yet: the write tier seals only to org keys whose root it pins
  // (docs/operations.md, "Root key"). Empty: nothing to wait for.
  std::function<bool(std::uint32_t)> root_pinned;
};

// Runs re-seal jobs on the decrypt tier. Every batch is one transaction that locks the job
// row (SKIP LOCKED, so replicas share the work without running the same batch), moves up to
// batch_size items and records the job's progress with them: a process killed at any
// point loses at most the batch in flight, which the next run redoes from the recorded
// cursor. Items are selected by the key version they are still sealed to, so redoing a
// batch never moves anything twice.
//
// Unlike the retention sweep and the audit checkpoints it is no LeaderLoop job: every
// replica runs it, and the row locks share the batches out instead of a leader lock.
//
// Org key job: re-seals each credential version's DEK from the RETIRING org key to the
// job's (ACTIVE) version; at the end the RETIRING key becomes RETIRED. Root key job:
// re-seals every org private key to the new root key, one org per step; at the end the old
// root key becomes RETIRED.
class ResealWorker {
 public:
  using Clock = std::function<absl::Time()>;

  ResealWorker(storage::ConnectionPool& decryptor_pool, const DecryptTierKeys& keys,
               OrgKeyCache& org_keys, ResealWorkerOptions options,
               storage::AuditLog::AppendObserver on_audit_append = {}, Clock clock = &absl::Now);

  // Advances every open job by one batch. Returns how many jobs are still open.
  absl::StatusOr<std::size_t> RunOnce();

  // Runs jobs until Stop(); wakes every poll_interval, or at once after Wake().
  void Run();
  void Wake();
  void Stop();

 private:
  // One batch of the open job of `org_id`; returns whether it is still open.
  absl::StatusOr<bool> RunOrgKeyBatch(const std::string& org_id);
  absl::StatusOr<bool> RunRootKeyBatch();
  // Re-seals the org keys of one org that are not sealed to `job.to_version` yet.
  absl::Status ResealOrgKeys(const std::string& org_id, std::uint32_t to_root_version);
  // Records a failure that stops the job for good (integrity, missing keys).
  absl::Status FailJob(const std::string& org_id, const std::string& job_id,
                       const absl::Status& cause);

  storage::ConnectionPool& pool_;
  const DecryptTierKeys& keys_;
  OrgKeyCache& org_keys_;
  const ResealWorkerOptions options_;
  const Clock clock_;
  const storage::AuditLog audit_;
  const storage::ResealJobStore jobs_{};
  const storage::CredentialStore credentials_{};
  const storage::OrgStore orgs_{};
  const storage::RootKeyStore root_keys_{};
  const storage::OrgDirectory directory_{};

  absl::Mutex mutex_;
  bool wake_ ABSL_GUARDED_BY(mutex_) = false;
  bool stop_ ABSL_GUARDED_BY(mutex_) = false;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_JOBS_RESEAL_WORKER_H_

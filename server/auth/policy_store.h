#ifndef CREDVAULT_SERVER_AUTH_POLICY_STORE_H_
#define CREDVAULT_SERVER_AUTH_POLICY_STORE_H_

#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/auth/policy.h"

namespace credvault::server {

// The current access policy, replaceable while requests run. A request takes one
// Snapshot() and authorises everything it does against it, so a reload in the middle of a
// request never mixes two policies; the old policy lives until its last reader drops it.
// Thread-safe.
class PolicyStore {
 public:
  // Loads `path`; the server refuses to start on any error. `service_account_tokens`
  // (null: Kubernetes ServiceAccount tokens are not accepted) is attached to every policy
  // the store loads.
  static absl::StatusOr<std::unique_ptr<PolicyStore>> Open(
      const std::string& path,
      std::shared_ptr<const ServiceAccountTokenVerifier> service_account_tokens = nullptr);

  // A store with a fixed policy and no file (tests, tools); Reload is FAILED_PRECONDITION.
  static std::unique_ptr<PolicyStore> WithPolicy(Policy policy);

  PolicyStore(const PolicyStore&) = delete;
  PolicyStore& operator=(const PolicyStore&) = delete;

  std::shared_ptr<const Policy> Snapshot() const;

  // Re-reads the file. On success the new policy replaces the old one atomically; on any
  // error the old policy stays in force and the error (naming the key) is returned for
  // the log. Meant for a SIGHUP-handling thread, never the signal handler itself (it
  // allocates and does I/O).
  absl::Status Reload();

  const std::string& path() const { return path_; }

 private:
  PolicyStore(std::string path, std::shared_ptr<const Policy> policy,
              std::shared_ptr<const ServiceAccountTokenVerifier> service_account_tokens)
      : path_(std::move(path)),
        service_account_tokens_(std::move(service_account_tokens)),
        current_(std::move(policy)) {}

  const std::string path_;  // empty for WithPolicy
  const std::shared_ptr<const ServiceAccountTokenVerifier> service_account_tokens_;
  // Serialises reloads so that the file read last is the one that wins.
  std::mutex reload_mu_;
  // Held only to copy or swap the pointer (never during file I/O), so readers on every
  // request wait at most for a reference count update. A plain std::mutex rather than
  // absl::Mutex or std::atomic<std::shared_ptr>: ThreadSanitizer understands it without an
  // instrumented Abseil, and libstdc++'s atomic shared_ptr uses a lock bit it cannot see.
  mutable std::mutex mu_;
  std::shared_ptr<const Policy> current_;  // guarded by mu_; never null
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_AUTH_POLICY_STORE_H_

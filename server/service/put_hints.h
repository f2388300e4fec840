#ifndef CREDVAULT_SERVER_SERVICE_PUT_HINTS_H_
#define CREDVAULT_SERVER_SERVICE_PUT_HINTS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "crypto/org_key.h"
#include "server/keys/write_tier_keys.h"

namespace credvault::server {

// What the write tier last learned about orgs and credentials, so that a Put can seal its
// envelope before it asks the database anything: each org's active key (as verified under
// the write tier's pins) and each credential's next version. Guesses only: the database
// checks both under the credential's lock (storage::CredentialStore::Put), so a stale or
// wrong hint costs one more call, never a wrong write (docs/architecture.md,
// "Performance"). Thread-safe.
class PutHints {
 public:
  // At most `max_bytes` of org ids and names are remembered (the hints are forgotten all
  // at once beyond it: a miss costs one call more, and memory stays bounded whatever the
  // names).
  explicit PutHints(std::size_t max_bytes = 4 * 1024 * 1024) : max_bytes_(max_bytes) {}

  PutHints(const PutHints&) = delete;
  PutHints& operator=(const PutHints&) = delete;

  // The active key of `org_id` verified under exactly `keys` (a key verified under pins
  // since replaced is not returned), if known.
  std::optional<crypto::VerifiedOrgPublicKey> ActiveKey(
      const std::string& org_id, const std::shared_ptr<const WriteTierKeys>& keys) const;
  void SetActiveKey(const crypto::VerifiedOrgPublicKey& key,
                    const std::shared_ptr<const WriteTierKeys>& keys);
  // Forgets the org's key (rotated, destroyed or gone).
  void ForgetActiveKey(const std::string& org_id);

  // The next version of the credential as last seen; 1 when unknown.
  std::int64_t NextVersion(const std::string& org_id, const std::string& name) const;
  void SetNextVersion(const std::string& org_id, const std::string& name, std::int64_t next);

 private:
  struct KeyHint {
    crypto::VerifiedOrgPublicKey key;
    std::weak_ptr<const WriteTierKeys> verified_under;
  };

  const std::size_t max_bytes_;
  mutable absl::Mutex mutex_;
  std::size_t bytes_ ABSL_GUARDED_BY(mutex_) = 0;
  absl::flat_hash_map<std::string, KeyHint> keys_ ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_map<std::pair<std::string, std::string>, std::int64_t> next_versions_
      ABSL_GUARDED_BY(mutex_);
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SERVICE_PUT_HINTS_H_

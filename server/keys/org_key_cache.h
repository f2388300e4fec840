#ifndef CREDVAULT_SERVER_KEYS_ORG_KEY_CACHE_H_
#define CREDVAULT_SERVER_KEYS_ORG_KEY_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "crypto/data_key_cache.h"
#include "crypto/org_key.h"

namespace credvault::server {

// Unsealed org private keys on the decrypt tier, kept briefly so that a burst of decrypts
// for one org pays for crypto_box_seal_open once. Keys live in guarded memory
// (KeyBuffer) and are wiped when evicted. Entries expire after `ttl`; the cache holds at
// most `max_entries` (the oldest is evicted first). An org's entries can be dropped at
// once, e.g. when the org is destroyed. Thread-safe.
class OrgKeyCache {
 public:
  using Clock = std::function<absl::Time()>;
  using Loader = std::function<absl::StatusOr<crypto::OrgPrivateKey>()>;

  OrgKeyCache(absl::Duration ttl, std::size_t max_entries, Clock clock = &absl::Now,
              crypto::DataKeyCache::Options data_keys = {});

  // The cached key of (org_id, version), or the result of `load` (cached when OK).
  absl::StatusOr<std::shared_ptr<const crypto::OrgPrivateKey>> GetOrLoad(const std::string& org_id,
                                                                         std::uint32_t version,
                                                                         const Loader& load);

  // The cached, unexpired key of (org_id, version), or null: never loads.
  std::shared_ptr<const crypto::OrgPrivateKey> Find(const std::string& org_id,
                                                    std::uint32_t version) const;

  // The data keys unsealed with these org keys (crypto/data_key_cache.h). Dropping an org's
  // keys, or some of its versions, drops their data keys with them.
  crypto::DataKeyCache& data_keys() { return *data_keys_; }

  void DropOrg(const std::string& org_id);
  // Drops every cached key of `org_id` whose version is not in `usable_versions`.
  void DropOrgVersionsExcept(const std::string& org_id,
                             const std::set<std::uint32_t>& usable_versions);
  // Whether key (org_id, version) is cached, expired or not.
  bool Holds(const std::string& org_id, std::uint32_t version) const;
  std::size_t size() const;

 private:
  struct Entry {
    std::shared_ptr<const crypto::OrgPrivateKey> key;
    absl::Time loaded_at;
  };
  using Key = std::pair<std::string, std::uint32_t>;

  void EvictLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const absl::Duration ttl_;
  const std::size_t max_entries_;
  const Clock clock_;
  mutable absl::Mutex mutex_;
  std::map<Key, Entry> entries_ ABSL_GUARDED_BY(mutex_);
  const std::unique_ptr<crypto::DataKeyCache> data_keys_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_KEYS_ORG_KEY_CACHE_H_

#include "server/keys/org_key_cache.h"

#include <algorithm>

namespace credvault::server {

OrgKeyCache::OrgKeyCache(absl::Duration ttl, std::size_t max_entries, Clock clock,
                         crypto::DataKeyCache::Options data_keys)
    : ttl_(ttl),
      max_entries_(std::max<std::size_t>(1, max_entries)),
      clock_(std::move(clock)),
      data_keys_(std::make_unique<crypto::DataKeyCache>(data_keys, clock_)) {}

absl::StatusOr<std::shared_ptr<const crypto::OrgPrivateKey>> OrgKeyCache::GetOrLoad(
    const std::string& org_id, std::uint32_t version, const Loader& load) {
  const Key key{org_id, version};
  {
    absl::MutexLock lock(&mutex_);
    const auto it = entries_.find(key);
    if (it != entries_.end() && clock_() - it->second.loaded_at < ttl_) return it->second.key;
  }
  // Loaded outside the lock: unsealing is slow and two concurrent loads of one key are
  // harmless (the second simply replaces the first).
  absl::StatusOr<crypto::OrgPrivateKey> loaded = load();
  if (!loaded.ok()) return loaded.status();
  auto shared = std::make_shared<const crypto::OrgPrivateKey>(*std::move(loaded));
  absl::MutexLock lock(&mutex_);
  const absl::Time now = clock_();
  entries_[key] = Entry{shared, now};
  EvictLocked(now);
  return shared;
}

void OrgKeyCache::EvictLocked(absl::Time now) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = (now - it->second.loaded_at >= ttl_) ? entries_.erase(it) : std::next(it);
  }
  while (entries_.size() > max_entries_) {
    auto oldest = std::min_element(
        entries_.begin(), entries_.end(),
        [](const auto& a, const auto& b) { return a.second.loaded_at < b.second.loaded_at; });
    entries_.erase(oldest);
  }
}

void OrgKeyCache::DropOrg(const std::string& org_id) {
  {
    absl::MutexLock lock(&mutex_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      it = it->first.first == org_id ? entries_.erase(it) : std::next(it);
    }
  }
  data_keys_->DropOrg(org_id);
}

void OrgKeyCache::DropOrgVersionsExcept(const std::string& org_id,
                                        const std::set<std::uint32_t>& usable_versions) {
  {
    absl::MutexLock lock(&mutex_);
    for (auto it = entries_.lower_bound(Key{org_id, 0});
         it != entries_.end() && it->first.first == org_id;) {
      it = usable_versions.contains(it->first.second) ? std::next(it) : entries_.erase(it);
    }
  }
  data_keys_->DropOrgVersionsExcept(org_id, usable_versions);
}

std::shared_ptr<const crypto::OrgPrivateKey> OrgKeyCache::Find(const std::string& org_id,
                                                               std::uint32_t version) const {
  absl::MutexLock lock(&mutex_);
  const auto it = entries_.find(Key{org_id, version});
  if (it == entries_.end() || clock_() - it->second.loaded_at >= ttl_) return nullptr;
  return it->second.key;
}

bool OrgKeyCache::Holds(const std::string& org_id, std::uint32_t version) const {
  absl::MutexLock lock(&mutex_);
  return entries_.contains(Key{org_id, version});
}

std::size_t OrgKeyCache::size() const {
  absl::MutexLock lock(&mutex_);
  return entries_.size();
}

}  // namespace credvault::server

#include "server/service/put_hints.h"

namespace credvault::server {
namespace {

bool SameSnapshot(const std::weak_ptr<const WriteTierKeys>& a,
                  const std::shared_ptr<const WriteTierKeys>& b) {
  return !a.owner_before(b) && !b.owner_before(a);
}

}  // namespace

std::optional<crypto::VerifiedOrgPublicKey> PutHints::ActiveKey(
    const std::string& org_id, const std::shared_ptr<const WriteTierKeys>& keys) const {
  absl::MutexLock lock(&mutex_);
  const auto it = keys_.find(org_id);
  if (it == keys_.end() || !SameSnapshot(it->second.verified_under, keys)) return std::nullopt;
  return it->second.key;
}

void PutHints::SetActiveKey(const crypto::VerifiedOrgPublicKey& key,
                            const std::shared_ptr<const WriteTierKeys>& keys) {
  absl::MutexLock lock(&mutex_);
  const std::size_t added = key.org_id().size() + sizeof(KeyHint);
  if (bytes_ + added > max_bytes_) {
    keys_.clear();
    next_versions_.clear();
    bytes_ = 0;
  }
  if (keys_.insert_or_assign(key.org_id(), KeyHint{key, keys}).second) bytes_ += added;
}

void PutHints::ForgetActiveKey(const std::string& org_id) {
  absl::MutexLock lock(&mutex_);
  keys_.erase(org_id);
}

std::int64_t PutHints::NextVersion(const std::string& org_id, const std::string& name) const {
  absl::MutexLock lock(&mutex_);
  const auto it = next_versions_.find(std::make_pair(org_id, name));
  return it == next_versions_.end() ? 1 : it->second;
}

void PutHints::SetNextVersion(const std::string& org_id, const std::string& name,
                              std::int64_t next) {
  absl::MutexLock lock(&mutex_);
  // Starting over is cheap (a miss costs one call more), so no eviction order is kept.
  const std::size_t added = org_id.size() + name.size() + 2 * sizeof(std::string) + 16;
  if (bytes_ + added > max_bytes_) {
    keys_.clear();
    next_versions_.clear();
    bytes_ = 0;
  }
  if (next_versions_.insert_or_assign(std::make_pair(org_id, name), next).second) {
    bytes_ += added;
  }
}

}  // namespace credvault::server

#include "crypto/data_key_cache.h"

#include <cstring>
#include <utility>

#include "crypto/sealed_box.h"

namespace credvault::crypto {
namespace {

// The envelope's data keys (crypto/envelope.h, kDekSize); an unsealed box of any other size
// is answered but not remembered.
constexpr std::size_t kDataKeySize = 32;
// A page is the largest KeyBuffer.
constexpr std::size_t kSlotsPerPage = 128;
constexpr std::size_t kPageSize = kSlotsPerPage * kDataKeySize;

// The lookup key: the org, its key version and public half (an org id and version can come
// back with a new key pair after the org was purged and made again) and the sealed bytes.
std::string LookupKey(absl::Span<const std::uint8_t> sealed_dek, const OrgPrivateKey& org_key) {
  std::string key = org_key.org_id();
  key.push_back('\0');
  const std::uint32_t version = org_key.key_version();
  key.append(reinterpret_cast<const char*>(&version), sizeof(version));
  key.append(reinterpret_cast<const char*>(org_key.public_key().data()),
             org_key.public_key().size());
  key.append(reinterpret_cast<const char*>(sealed_dek.data()), sealed_dek.size());
  return key;
}

}  // namespace

DataKeyCache::DataKeyCache(Options options, Clock clock)
    : options_(options),
      clock_(std::move(clock)),
      slot_owners_(options.capacity),
      pages_((options.capacity + kSlotsPerPage - 1) / kSlotsPerPage) {}

absl::StatusOr<SecretBytes> DataKeyCache::Open(absl::Span<const std::uint8_t> sealed_dek,
                                               const OrgPrivateKey& org_key) {
  if (options_.capacity == 0) {
    {
      absl::MutexLock lock(&mutex_);
      ++misses_;
    }
    return OpenSealed(sealed_dek, org_key.public_key(), org_key.private_key());
  }
  std::string key = LookupKey(sealed_dek, org_key);
  const absl::Time now = clock_();
  {
    absl::MutexLock lock(&mutex_);
    const auto it = entries_.find(key);
    if (it != entries_.end()) {
      if (now - it->second.added < options_.max_age) {
        ++hits_;
        return SecretBytes::CopyFrom(SlotLocked(it->second.slot));
      }
      EraseLocked(it);
    }
    ++misses_;
  }
  // Unsealed outside the lock: concurrent misses of one key both unseal, and the second
  // insert finds the first.
  absl::StatusOr<SecretBytes> data_key =
      OpenSealed(sealed_dek, org_key.public_key(), org_key.private_key());
  if (!data_key.ok() || data_key->size() != kDataKeySize) return data_key;
  absl::MutexLock lock(&mutex_);
  if (entries_.contains(key)) return data_key;
  const std::size_t slot = next_slot_;
  if (!slot_owners_[slot].empty()) EraseLocked(entries_.find(slot_owners_[slot]));
  const absl::Span<std::uint8_t> bytes = SlotLocked(slot);
  if (bytes.empty()) return data_key;
  next_slot_ = (next_slot_ + 1) % options_.capacity;
  std::memcpy(bytes.data(), data_key->RevealSecret().data(), kDataKeySize);
  slot_owners_[slot] = key;
  entries_.emplace(std::move(key), Entry{slot, now, org_key.org_id(), org_key.key_version()});
  return data_key;
}

void DataKeyCache::DropOrg(std::string_view org_id) {
  DropWhere([org_id](const Entry& entry) { return entry.org_id == org_id; });
}

void DataKeyCache::DropOrgVersionsExcept(std::string_view org_id,
                                         const std::set<std::uint32_t>& kept_versions) {
  DropWhere([org_id, &kept_versions](const Entry& entry) {
    return entry.org_id == org_id && !kept_versions.contains(entry.key_version);
  });
}

std::size_t DataKeyCache::size() const {
  absl::MutexLock lock(&mutex_);
  return entries_.size();
}

std::uint64_t DataKeyCache::hits() const {
  absl::MutexLock lock(&mutex_);
  return hits_;
}

std::uint64_t DataKeyCache::misses() const {
  absl::MutexLock lock(&mutex_);
  return misses_;
}

void DataKeyCache::DropWhere(const std::function<bool(const Entry&)>& drop) {
  absl::MutexLock lock(&mutex_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    // flat_hash_map::erase(it) returns void: step first.
    const auto current = it++;
    if (drop(current->second)) EraseLocked(current);
  }
}

absl::Span<std::uint8_t> DataKeyCache::SlotLocked(std::size_t slot) {
  std::optional<KeyBuffer>& page = pages_[slot / kSlotsPerPage];
  if (!page.has_value()) {
    absl::StatusOr<KeyBuffer> allocated = KeyBuffer::Allocate(kPageSize);
    if (!allocated.ok()) return {};
    page = *std::move(allocated);
  }
  return page->RevealMutableSecret().subspan((slot % kSlotsPerPage) * kDataKeySize, kDataKeySize);
}

void DataKeyCache::EraseLocked(absl::flat_hash_map<std::string, Entry>::iterator it) {
  if (it == entries_.end()) return;
  const std::size_t slot = it->second.slot;
  const absl::Span<std::uint8_t> bytes = SlotLocked(slot);
  WipeBytes(bytes.data(), bytes.size());
  slot_owners_[slot].clear();
  entries_.erase(it);
}

}  // namespace credvault::crypto

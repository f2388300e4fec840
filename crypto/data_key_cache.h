#ifndef CREDVAULT_CRYPTO_DATA_KEY_CACHE_H_
#define CREDVAULT_CRYPTO_DATA_KEY_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "crypto/key_buffer.h"
#include "crypto/org_key.h"
#include "crypto/secret_bytes.h"

namespace credvault::crypto {

// The data keys the decrypt tier unsealed recently, by the exact sealed bytes and the org
// key pair that opened them, so that reading a credential again skips the X25519 of
// crypto_box_seal_open (docs/security-model.md, "Data key cache"). It adds no power to
// whoever reads this process's memory: the org private keys that open every data key are
// held beside it (server/keys/org_key_cache.h). All entries share one block of guarded
// memory (KeyBuffer pages), wiped where an entry is dropped, evicted or replaced.
//
// A remembered answer is as good as a fresh one: unsealing is a function of the sealed
// bytes and the key pair, and both are part of the lookup. The envelope's writer
// authenticator is checked and its ciphertext authenticated on every read regardless
// (crypto/envelope.h). Bounded in size and age; an org's entries (or one key version's) can
// be dropped at once, as its keys are destroyed. Thread-safe.
class DataKeyCache {
 public:
  using Clock = std::function<absl::Time()>;

  struct Options {
    // 0: remember nothing (every Open unseals).
    std::size_t capacity = 4096;
    absl::Duration max_age = absl::Minutes(5);
  };

  explicit DataKeyCache(Options options, Clock clock = &absl::Now);

  DataKeyCache(const DataKeyCache&) = delete;
  DataKeyCache& operator=(const DataKeyCache&) = delete;

  // The data key in `sealed_dek`, sealed to `org_key`: remembered, or unsealed and then
  // remembered (unless guarded memory for it cannot be had). Errors as OpenSealed (DATA_LOSS
  // for a box that does not open).
  absl::StatusOr<SecretBytes> Open(absl::Span<const std::uint8_t> sealed_dek,
                                   const OrgPrivateKey& org_key);

  // Forgets, and wipes, every data key of `org_id`, or those of its key versions not in
  // `kept_versions`.
  void DropOrg(std::string_view org_id);
  void DropOrgVersionsExcept(std::string_view org_id, const std::set<std::uint32_t>& kept_versions);

  std::size_t size() const;
  // Opens answered from memory, and opens that unsealed (counting those of capacity 0).
  std::uint64_t hits() const;
  std::uint64_t misses() const;

 private:
  struct Entry {
    std::size_t slot = 0;
    absl::Time added;
    std::string org_id;
    std::uint32_t key_version = 0;
  };

  // Forgets, and wipes, the entries `drop` selects.
  void DropWhere(const std::function<bool(const Entry&)>& drop);
  // The bytes of `slot`, or an empty span when its page cannot be allocated.
  absl::Span<std::uint8_t> SlotLocked(std::size_t slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Forgets the entry at `it`, wiping its slot.
  void EraseLocked(absl::flat_hash_map<std::string, Entry>::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const Options options_;
  const Clock clock_;
  mutable absl::Mutex mutex_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mutex_);
  // The lookup key of the entry in each slot, empty when free. Slots are handed out round
  // the ring, so a full cache replaces its oldest entry.
  std::vector<std::string> slot_owners_ ABSL_GUARDED_BY(mutex_);
  std::size_t next_slot_ ABSL_GUARDED_BY(mutex_) = 0;
  std::uint64_t hits_ ABSL_GUARDED_BY(mutex_) = 0;
  std::uint64_t misses_ ABSL_GUARDED_BY(mutex_) = 0;
  // The slots, kSlotsPerPage to a page of guarded memory, each page allocated when a slot
  // of it is first used.
  std::vector<std::optional<KeyBuffer>> pages_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace credvault::crypto

#endif  // CREDVAULT_CRYPTO_DATA_KEY_CACHE_H_

#ifndef CREDVAULT_SERVER_KEYS_LATE_ROOT_KEYS_H_
#define CREDVAULT_SERVER_KEYS_LATE_ROOT_KEYS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "crypto/root_key.h"
#include "crypto/seal_key_provider.h"
#include "storage/pool.h"

namespace credvault::server {

// Root private keys that appear after start-up: made by a root rotation in this process, or
// by one on another replica and unwrapped on first use. Keys are never removed, so the
// pointers handed out stay valid for the life of the process. Thread-safe.
class LateRootKeys {
 public:
  // Unwraps root key `version` from the database with the seal key.
  using Loader = std::function<absl::StatusOr<crypto::RootPrivateKey>(std::uint32_t version)>;

  void SetLoader(Loader loader);
  void Add(crypto::RootPrivateKey key);

  // The key of `version`, loaded on first use; FAILED_PRECONDITION when there is no
  // loader, or the loader's error.
  absl::StatusOr<const crypto::RootPrivateKey*> GetOrLoad(std::uint32_t version);

 private:
  absl::Mutex mutex_;
  Loader loader_ ABSL_GUARDED_BY(mutex_);
  std::map<std::uint32_t, std::unique_ptr<const crypto::RootPrivateKey>> keys_
      ABSL_GUARDED_BY(mutex_);
};

// A loader that reads root key `version` through the decrypt role and unwraps it with
// `seal_key`. Both must outlive the loader.
LateRootKeys::Loader DatabaseRootKeyLoader(storage::ConnectionPool& decryptor_pool,
                                           const crypto::SealKeyProvider& seal_key);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_KEYS_LATE_ROOT_KEYS_H_

#include "server/keys/late_root_keys.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "common/status_macros.h"
#include "storage/root_key_store.h"

namespace credvault::server {

void LateRootKeys::SetLoader(Loader loader) {
  absl::MutexLock lock(&mutex_);
  loader_ = std::move(loader);
}

void LateRootKeys::Add(crypto::RootPrivateKey key) {
  const std::uint32_t version = key.version();
  auto owned = std::make_unique<const crypto::RootPrivateKey>(std::move(key));
  absl::MutexLock lock(&mutex_);
  keys_.try_emplace(version, std::move(owned));
}

absl::StatusOr<const crypto::RootPrivateKey*> LateRootKeys::GetOrLoad(std::uint32_t version) {
  // Loading holds the lock: it is rare (once per new root version) and must not race with
  // itself into two unwraps.
  absl::MutexLock lock(&mutex_);
  if (const auto it = keys_.find(version); it != keys_.end()) return it->second.get();
  if (!loader_) {
    return absl::FailedPreconditionError("root key version " + std::to_string(version) +
                                         " is not loaded on this decrypt tier");
  }
  absl::StatusOr<crypto::RootPrivateKey> loaded = loader_(version);
  if (!loaded.ok()) return loaded.status();
  if (loaded->version() != version) {
    return absl::DataLossError("root key version " + std::to_string(version) +
                               " unwrapped as another version");
  }
  auto owned = std::make_unique<const crypto::RootPrivateKey>(*std::move(loaded));
  const crypto::RootPrivateKey* key = owned.get();
  keys_.emplace(version, std::move(owned));
  return key;
}

LateRootKeys::Loader DatabaseRootKeyLoader(storage::ConnectionPool& decryptor_pool,
                                           const crypto::SealKeyProvider& seal_key) {
  return [&decryptor_pool,
          &seal_key](std::uint32_t version) -> absl::StatusOr<crypto::RootPrivateKey> {
    const storage::RootKeyStore root_keys;
    crypto::SealedRootKey sealed;
    CV_RETURN_IF_ERROR(decryptor_pool.RunWithoutOrg([&](storage::Transaction& tx) -> absl::Status {
      CV_ASSIGN_OR_RETURN(const std::vector<storage::RootKey> roots, root_keys.List(tx));
      const auto found = std::find_if(roots.begin(), roots.end(), [&](const storage::RootKey& r) {
        return static_cast<std::uint32_t>(r.version) == version;
      });
      if (found == roots.end()) {
        return absl::FailedPreconditionError("root key version " + std::to_string(version) +
                                             " does not exist");
      }
      if (found->public_key.size() != sealed.public_key.size()) {
        return absl::DataLossError("root key version " + std::to_string(version) +
                                   " has a malformed public key");
      }
      CV_ASSIGN_OR_RETURN(const storage::SealedRootKey stored,
                          root_keys.GetSealed(tx, found->version));
      sealed.version = version;
      std::copy(found->public_key.begin(), found->public_key.end(), sealed.public_key.begin());
      sealed.wrapped_private_key = stored.sealed_private_key;
      sealed.seal_key_id = stored.seal_key_id;
      return absl::OkStatus();
    }));
    return crypto::UnsealRootKey(sealed, seal_key);
  };
}

}  // namespace credvault::server

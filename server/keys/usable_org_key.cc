#include "server/keys/usable_org_key.h"

#include <set>
#include <string>
#include <vector>

#include "common/status_macros.h"
#include "server/base/error_reason.h"
#include "server/keys/org_key_records.h"
#include "storage/org_store.h"

namespace credvault::server {

absl::StatusOr<std::shared_ptr<const crypto::OrgPrivateKey>> UsableOrgPrivateKey(
    storage::Transaction& tx, std::uint32_t version, const DecryptTierKeys& keys,
    OrgKeyCache& cache) {
  // One indexed read of the org's few key rows, in the transaction that uses the key: a
  // destruction committed before it is seen, and the key is not used.
  CV_ASSIGN_OR_RETURN(const std::vector<storage::OrgKey> stored,
                      storage::OrgStore().ListOrgKeys(tx));
  std::set<std::uint32_t> usable;
  const storage::OrgKey* wanted = nullptr;
  for (const storage::OrgKey& key : stored) {
    const auto key_version = static_cast<std::uint32_t>(key.version);
    if (key.state != storage::OrgKeyState::kDestroyed) usable.insert(key_version);
    if (key_version == version) wanted = &key;
  }
  cache.DropOrgVersionsExcept(tx.org_id(), usable);
  if (wanted == nullptr) {
    return WithReason(absl::DataLossError("envelope names org key version " +
                                          std::to_string(version) + ", which does not exist"),
                      ErrorReason::kIntegrityFailure);
  }
  if (wanted->state == storage::OrgKeyState::kDestroyed) {
    return absl::FailedPreconditionError("org key version " + std::to_string(version) +
                                         " was destroyed");
  }
  return cache.GetOrLoad(tx.org_id(), version,
                         [&] { return LoadOrgPrivateKey(tx, version, keys); });
}

absl::StatusOr<std::shared_ptr<const crypto::OrgPrivateKey>> UsableOrgPrivateKey(
    storage::Transaction& tx, std::uint32_t version, std::string_view state,
    const DecryptTierKeys& keys, OrgKeyCache& cache) {
  if (state.empty()) {
    return WithReason(absl::DataLossError("envelope names org key version " +
                                          std::to_string(version) + ", which does not exist"),
                      ErrorReason::kIntegrityFailure);
  }
  if (state == "DESTROYED") {
    cache.DropOrg(tx.org_id());
    return absl::FailedPreconditionError("org key version " + std::to_string(version) +
                                         " was destroyed");
  }
  return cache.GetOrLoad(tx.org_id(), version,
                         [&] { return LoadOrgPrivateKey(tx, version, keys); });
}

}  // namespace credvault::server

#ifndef CREDVAULT_SERVER_KEYS_USABLE_ORG_KEY_H_
#define CREDVAULT_SERVER_KEYS_USABLE_ORG_KEY_H_

#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "crypto/org_key.h"
#include "server/keys/decrypt_tier_keys.h"
#include "server/keys/org_key_cache.h"
#include "storage/transaction.h"

namespace credvault::server {

// The private half of org key `version` of the org of `tx`, for the decrypt path: from
// `cache`, or unsealed by LoadOrgPrivateKey and cached. Every call first reads the org's key
// versions in `tx`, because another decrypt replica (or an operator on another one) may
// have destroyed the version since this replica cached it, and the cache alone would keep
// serving it until its TTL. Cached keys of the org that are DESTROYED or no longer listed
// are evicted on the way, whichever version was asked for.
//  - FAILED_PRECONDITION when `version` was destroyed (as LoadOrgPrivateKey reports it);
//  - DATA_LOSS (reason INTEGRITY_FAILURE) when `version` does not exist.
absl::StatusOr<std::shared_ptr<const crypto::OrgPrivateKey>> UsableOrgPrivateKey(
    storage::Transaction& tx, std::uint32_t version, const DecryptTierKeys& keys,
    OrgKeyCache& cache);

// As above, when the transaction has already read the state of key `version` (`state`:
// "ACTIVE", "RETIRING", "RETIRED", "DESTROYED", or empty when the version does not exist),
// as the Decrypt path does with the envelope: no further read. A destroyed version drops
// every cached key of the org.
absl::StatusOr<std::shared_ptr<const crypto::OrgPrivateKey>> UsableOrgPrivateKey(
    storage::Transaction& tx, std::uint32_t version, std::string_view state,
    const DecryptTierKeys& keys, OrgKeyCache& cache);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_KEYS_USABLE_ORG_KEY_H_

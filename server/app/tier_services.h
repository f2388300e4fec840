#ifndef CREDVAULT_SERVER_APP_TIER_SERVICES_H_
#define CREDVAULT_SERVER_APP_TIER_SERVICES_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/api/grpc_services.h"
#include "server/api/remote_key_authority.h"
#include "server/app/database_pools.h"
#include "server/app/reseal_worker_thread.h"
#include "server/app/tier_keys.h"
#include "server/app/tier_runners.h"
#include "server/config/config.h"
#include "server/keys/org_key_cache.h"
#include "server/service/access_handler.h"
#include "server/service/credential_handler.h"
#include "server/service/key_authority_handler.h"
#include "server/service/local_key_authority.h"
#include "storage/audit_log.h"

namespace credvault::server {

// The credential services of the tiers a process runs (the admin service aside), with
// what they are made of. Members are destroyed in reverse order: the key authority service
// first, then the re-seal worker (stopped and joined), then the handlers and the org key
// cache that the worker shares with them.
struct TierServices {
  TierServices() = default;
  TierServices(const TierServices&) = delete;
  TierServices& operator=(const TierServices&) = delete;

  // Org private keys unsealed on demand: for up to 5 minutes, at most 10,000 orgs
  // (docs/architecture.md, "Key hierarchy").
  OrgKeyCache org_key_cache{absl::Minutes(5), 10000};
  std::unique_ptr<LocalKeyAuthority> key_authority;  // decrypt tier
  std::unique_ptr<CredentialHandler> credential_handler;
  std::unique_ptr<AccessHandler> access_handler;
  std::unique_ptr<CredentialServiceImpl> credential_service;       // write tier
  std::unique_ptr<CredentialAccessServiceImpl> access_service;     // decrypt tier
  ResealWorkerThread reseal_worker;                                // decrypt tier
  std::unique_ptr<RemoteKeyAuthority> remote_key_authority;        // split write tier
  std::unique_ptr<KeyAuthorityHandler> key_authority_handler;      // decrypt tier
  std::unique_ptr<KeyAuthorityServiceImpl> key_authority_service;  // decrypt tier
};

// Builds the services of the tiers `config` runs into `services` and starts the re-seal
// worker of the decrypt tier. A failure is reported (ReportFailure) as "key_authority" or
// "keys.root_key_pins".
absl::Status BuildTierServices(const Config& config, const DatabasePools& pools,
                               const TierKeys& keys, TierRunners& runners,
                               const storage::AuditLog::AppendObserver& on_audit_append,
                               TierServices& services);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_APP_TIER_SERVICES_H_

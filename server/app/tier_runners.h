#ifndef CREDVAULT_SERVER_APP_TIER_RUNNERS_H_
#define CREDVAULT_SERVER_APP_TIER_RUNNERS_H_

#include "server/api/blocking_executor.h"
#include "server/api/call_runner.h"
#include "server/app/database_pools.h"
#include "server/auth/policy_store.h"
#include "server/config/config.h"
#include "server/telemetry/metrics.h"

namespace credvault::server {

// How each tier runs its calls: a blocking executor sized for its database role, the
// recorder of its refused requests, and the call runner that puts them together with the
// policy. Both tiers have one, used or not; the decrypt tier's also runs the admin and key
// authority services.
class TierRunners {
 public:
  // `policy`, `pools` and `metrics` must outlive this object.
  TierRunners(const Config& config, const PolicyStore& policy, const DatabasePools& pools,
              Metrics& metrics);
  TierRunners(const TierRunners&) = delete;
  TierRunners& operator=(const TierRunners&) = delete;

  CallRunner& write() { return write_runner_; }
  CallRunner& decrypt() { return decrypt_runner_; }

 private:
  BlockingExecutor write_executor_;
  BlockingExecutor decrypt_executor_;
  const DenialAuditor write_denials_;
  const DenialAuditor decrypt_denials_;
  CallRunner write_runner_;
  CallRunner decrypt_runner_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_APP_TIER_RUNNERS_H_

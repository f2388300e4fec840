#include "server/app/tier_runners.h"

#include <algorithm>
#include <cstddef>
#include <optional>

namespace credvault::server {
namespace {

std::size_t Connections(const std::optional<DatabaseRoleConfig>& role) {
  return role ? static_cast<std::size_t>(role->pool_size) : 0;
}

// Each tier admits limits.max_queued_requests waiting and limits.max_requests_per_org of
// one org (docs/architecture.md, "Admission control and per-org fairness").
BlockingExecutor::Limits Admission(const Config& config) {
  return BlockingExecutor::Limits{.max_queued = config.limits.max_queued_requests,
                                  .max_per_key = config.limits.max_requests_per_org};
}

}  // namespace

// Blocking threads per tier (docs/architecture.md, "Performance"). A write request holds a
// writer connection for all of its blocking work, so threads beyond the writer pool would
// only wait for a connection, each wait a sleep and a wake-up. A Decrypt holds its
// connection only for the read, then waits for its group commit: twice its connections
// keep the audit batches full.
TierRunners::TierRunners(const Config& config, const PolicyStore& policy,
                         const DatabasePools& pools, Metrics& metrics)
    : write_executor_(std::clamp<std::size_t>(Connections(config.database.writer), 2, 128),
                      Admission(config)),
      decrypt_executor_(std::clamp<std::size_t>(2 * (Connections(config.database.decryptor) +
                                                     Connections(config.database.admin)),
                                                2, 128),
                        Admission(config)),
      write_denials_(pools.writer.get()),
      decrypt_denials_(pools.decryptor.get()),
      write_runner_(policy, write_executor_, "write", &metrics, write_denials_),
      decrypt_runner_(policy, decrypt_executor_, "decrypt", &metrics, decrypt_denials_) {}

}  // namespace credvault::server

#ifndef CREDVAULT_SERVER_APP_DATABASE_POOLS_H_
#define CREDVAULT_SERVER_APP_DATABASE_POOLS_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/config/config.h"
#include "storage/pool.h"

namespace credvault::server {

// A connection pool of one database role, sized and bounded as the configuration says.
absl::StatusOr<std::unique_ptr<storage::ConnectionPool>> OpenPool(const Config& config,
                                                                  const DatabaseRoleConfig& role);

// The database roles of the tiers a process runs (docs/architecture.md, "The two tiers"):
// null where the process does not run the tier, or the configuration has no admin role.
struct DatabasePools {
  std::unique_ptr<storage::ConnectionPool> writer;
  std::unique_ptr<storage::ConnectionPool> decryptor;
  std::unique_ptr<storage::ConnectionPool> admin;
};

// Opens the pools of the tiers `config` runs into `pools`, writer first. A failure is
// reported (ReportFailure) under the role's configuration key, e.g. "database.writer".
absl::Status OpenDatabasePools(const Config& config, DatabasePools& pools);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_APP_DATABASE_POOLS_H_

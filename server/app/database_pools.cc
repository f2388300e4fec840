#include "server/app/database_pools.h"

#include <string>
#include <utility>

#include "server/app/startup_failure.h"
#include "server/config/libpq_conninfo.h"

namespace credvault::server {

absl::StatusOr<std::unique_ptr<storage::ConnectionPool>> OpenPool(const Config& config,
                                                                  const DatabaseRoleConfig& role) {
  storage::PoolOptions options;
  options.connection_string =
      std::string(LibpqConnectionString(config.database, role).RevealSecret());
  options.max_size = static_cast<std::size_t>(role.pool_size);
  options.acquire_timeout = config.database.acquire_timeout;
  options.statement_timeout = config.database.statement_timeout;
  return storage::ConnectionPool::Create(std::move(options));
}

absl::Status OpenDatabasePools(const Config& config, DatabasePools& pools) {
  if (config.RunsTier(Tier::kWrite)) {
    absl::StatusOr<std::unique_ptr<storage::ConnectionPool>> pool =
        OpenPool(config, *config.database.writer);
    if (!pool.ok()) return ReportFailure(pool.status(), "database.writer");
    pools.writer = *std::move(pool);
  }
  if (config.RunsTier(Tier::kDecrypt)) {
    absl::StatusOr<std::unique_ptr<storage::ConnectionPool>> pool =
        OpenPool(config, *config.database.decryptor);
    if (!pool.ok()) return ReportFailure(pool.status(), "database.decryptor");
    pools.decryptor = *std::move(pool);
    if (config.database.admin) {
      absl::StatusOr<std::unique_ptr<storage::ConnectionPool>> admin =
          OpenPool(config, *config.database.admin);
      if (!admin.ok()) return ReportFailure(admin.status(), "database.admin");
      pools.admin = *std::move(admin);
    }
  }
  return absl::OkStatus();
}

}  // namespace credvault::server

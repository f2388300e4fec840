#ifndef CREDVAULT_SERVER_APP_SERVE_LISTENERS_H_
#define CREDVAULT_SERVER_APP_SERVE_LISTENERS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "server/api/grpc_listener.h"
#include "server/api/health_listener.h"
#include "server/app/database_pools.h"
#include "server/config/config.h"
#include "server/telemetry/metrics.h"

namespace credvault::server {

// The services a process serves; null where it does not run them.
struct ServedServices {
  grpc::Service* credential = nullptr;     // write listener
  grpc::Service* access = nullptr;         // decrypt listener
  grpc::Service* key_authority = nullptr;  // decrypt listener
  grpc::Service* admin = nullptr;          // admin listener, else the decrypt listener
};

// The listeners of a serving process and the health status that every one of them reports
// (docs/operations.md, "Health checks and probes"). Destroyed in reverse order: the
// health status first, the TLS listeners last.
class ServeListeners {
 public:
  ServeListeners() = default;
  ServeListeners(const ServeListeners&) = delete;
  ServeListeners& operator=(const ServeListeners&) = delete;

  // Starts the write, decrypt and admin listeners of the tiers `config` runs, each logged
  // as "listening". A failure is reported (ReportFailure) as "listeners".
  absl::Status StartTierListeners(const Config& config, const ServedServices& services,
                                  Metrics& metrics);
  // Health: each service name follows the database role it uses, on every listener. The
  // health listener (listeners.health) starts last, so that its "" means every other
  // listener is up. A failure is reported as "listeners".
  absl::Status StartHealth(const Config& config, const ServedServices& services,
                           const DatabasePools& pools);
  // --ready-file: {"listeners": {name: port, ...}, "metrics": port}.
  void WriteReadyFile(const std::string& path, const Config& config, const Metrics& metrics) const;

  // Every health service answers NOT_SERVING, for shutdown.pre_stop_delay the listeners
  // still serve, then they drain the calls in flight for up to shutdown.drain_timeout; the
  // health listener closes last.
  void Drain(const Config& config);

 private:
  std::vector<RunningListener> listeners_;
  std::unique_ptr<HealthListener> health_listener_;  // outlives `serving_`, which reports to it
  std::unique_ptr<ServingStatus> serving_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_APP_SERVE_LISTENERS_H_

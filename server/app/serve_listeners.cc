#include "server/app/serve_listeners.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <utility>

#include "common/status_macros.h"
#include "credvault/v1/admin_service.grpc.pb.h"
#include "credvault/v1/credential_access_service.grpc.pb.h"
#include "credvault/v1/credential_service.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "server/app/startup_failure.h"
#include "server/telemetry/json_log.h"

namespace credvault::server {
namespace {

// How often the health service checks that each database role still connects.
constexpr absl::Duration kDatabaseCheckInterval = absl::Seconds(2);

}  // namespace

absl::Status ServeListeners::StartTierListeners(const Config& config,
                                                const ServedServices& services, Metrics& metrics) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  const auto start = [&](const std::string& name, const std::optional<ListenerConfig>& listener,
                         std::vector<grpc::Service*> served) -> absl::Status {
    if (!listener || served.empty()) return absl::OkStatus();
    CV_ASSIGN_OR_RETURN(RunningListener running,
                        StartListener(name, *listener, served, config, &metrics));
    LogInfo("listening", {{"listener", name},
                          {"address", listener->address},
                          {"port", std::to_string(running.port)},
                          {"tls", listener->plaintext ? "off" : "on"}});
    listeners_.push_back(std::move(running));
    return absl::OkStatus();
  };
  absl::Status started = absl::OkStatus();
  if (config.RunsTier(Tier::kWrite)) {
    started.Update(start("write", config.listeners.write, {services.credential}));
  }
  if (config.RunsTier(Tier::kDecrypt)) {
    std::vector<grpc::Service*> decrypt_services = {services.access, services.key_authority};
    if (services.admin && !config.listeners.admin) decrypt_services.push_back(services.admin);
    started.Update(start("decrypt", config.listeners.decrypt, decrypt_services));
    if (services.admin && config.listeners.admin) {
      started.Update(start("admin", config.listeners.admin, {services.admin}));
    }
  }
  if (!started.ok()) return ReportFailure(started, "listeners");
  return absl::OkStatus();
}

absl::Status ServeListeners::StartHealth(const Config& config, const ServedServices& services,
                                         const DatabasePools& pools) {
  std::vector<HealthDependency> dependencies;
  if (services.credential) {
    dependencies.push_back(DatabaseDependency(
        credvault::v1::CredentialService::service_full_name(), "database.writer", *pools.writer,
        static_cast<std::size_t>(config.database.writer->pool_size)));
  }
  if (services.access) {
    dependencies.push_back(DatabaseDependency(
        credvault::v1::CredentialAccessService::service_full_name(), "database.decryptor",
        *pools.decryptor, static_cast<std::size_t>(config.database.decryptor->pool_size)));
  }
  if (services.admin) {
    dependencies.push_back(DatabaseDependency(
        credvault::v1::AdminService::service_full_name(), "database.admin", *pools.admin,
        static_cast<std::size_t>(config.database.admin->pool_size)));
  }
  serving_ = std::make_unique<ServingStatus>(std::move(dependencies), kDatabaseCheckInterval);
  for (RunningListener& listener : listeners_) {
    if (auto* health = listener.server->GetHealthCheckService()) serving_->Attach(health);
  }
  serving_->Start();
  if (config.listeners.health) {
    absl::StatusOr<std::unique_ptr<HealthListener>> health =
        HealthListener::Start(config.listeners.health->address);
    if (!health.ok()) return ReportFailure(health.status(), "listeners");
    health_listener_ = *std::move(health);
    serving_->Attach(health_listener_->health());
    LogInfo("listening", {{"listener", "health"},
                          {"address", config.listeners.health->address},
                          {"port", std::to_string(health_listener_->port())},
                          {"tls", "off"}});
  }
  return absl::OkStatus();
}

void ServeListeners::WriteReadyFile(const std::string& path, const Config& config,
                                    const Metrics& metrics) const {
  nlohmann::json ready;
  for (const RunningListener& listener : listeners_)
    ready["listeners"][listener.name] = listener.port;
  if (health_listener_) ready["listeners"]["health"] = health_listener_->port();
  if (config.metrics) ready["metrics"] = metrics.port();
  std::ofstream(path) << ready.dump() << "\n";
}

void ServeListeners::Drain(const Config& config) {
  // Every health service answers NOT_SERVING from here on. The health listener keeps
  // answering so while the other listeners drain, and closes last.
  if (serving_) serving_->Drain();
  // Kubernetes sends SIGTERM while endpoints and load balancers may still route new
  // connections here; serving on for shutdown.pre_stop_delay (readiness already
  // NOT_SERVING) lets them catch up instead of being refused.
  if (config.shutdown.pre_stop_delay > absl::ZeroDuration()) {
    const absl::Duration delay = config.shutdown.pre_stop_delay;
    LogInfo("pre-stop delay: serving while health reports NOT_SERVING",
            {{"delay_ms", std::to_string(absl::ToInt64Milliseconds(delay))}});
    absl::SleepFor(delay);
  }
  LogInfo("draining",
          {{"timeout_s", std::to_string(absl::ToInt64Seconds(config.shutdown.drain_timeout))}});
  const auto deadline =
      std::chrono::system_clock::now() + absl::ToChronoSeconds(config.shutdown.drain_timeout);
  for (RunningListener& listener : listeners_) listener.server->Shutdown(deadline);
  for (RunningListener& listener : listeners_) listener.server->Wait();
  if (health_listener_) health_listener_->Shutdown();
}

}  // namespace credvault::server

#include "server/api/health_listener.h"

#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>

#include <utility>

#include "server/api/grpc_listener.h"
#include "server/telemetry/json_log.h"
#include "storage/transaction.h"

namespace credvault::server {
namespace {

constexpr storage::Statement kPing{"health.ping", "SELECT 1"};

// A health request holds a service name; nothing larger has a reason to arrive.
constexpr int kMaxRequestBytes = 4096;
// Probes make one call at a time; a Watch stream or two is the most a client needs.
constexpr int kMaxStreamsPerConnection = 8;

// Drops the server builder plugins registered for the whole process (server reflection),
// so that the health listener describes nothing.
class WithoutPlugins final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments* /*args*/) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->clear();
  }
};

}  // namespace

HealthDependency DatabaseDependency(std::string service_name, std::string what,
                                    storage::ConnectionPool& pool, std::size_t pool_size) {
  return HealthDependency{std::move(service_name), std::move(what),
                          [&pool, pool_size]() -> std::optional<absl::Status> {
                            const storage::PoolStats stats = pool.Stats();
                            if (stats.open >= pool_size && stats.idle == 0) return std::nullopt;
                            return pool.RunWithoutOrg([](storage::Transaction& tx) {
                              return tx.Execute(kPing, {}).status();
                            });
                          }};
}

ServingStatus::ServingStatus(std::vector<HealthDependency> dependencies, absl::Duration interval)
    : dependencies_(std::move(dependencies)),
      interval_(interval),
      serving_(dependencies_.size(), false) {}

ServingStatus::~ServingStatus() {
  Drain();
  if (thread_.joinable()) thread_.join();
}

void ServingStatus::ApplyLocked(grpc::HealthCheckServiceInterface& health) {
  bool ready = true;
  for (std::size_t i = 0; i < dependencies_.size(); ++i) {
    health.SetServingStatus(dependencies_[i].service_name, serving_[i]);
    ready = ready && serving_[i];
  }
  health.SetServingStatus(kReadinessServiceName, ready);
}

void ServingStatus::Attach(grpc::HealthCheckServiceInterface* health) {
  absl::MutexLock lock(&mu_);
  if (draining_) {
    health->Shutdown();
    return;
  }
  attached_.push_back(health);
  ApplyLocked(*health);
}

void ServingStatus::Start() {
  absl::MutexLock lock(&mu_);
  if (draining_ || thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void ServingStatus::Drain() {
  absl::MutexLock lock(&mu_);
  if (draining_) return;
  draining_ = true;
  for (grpc::HealthCheckServiceInterface* health : attached_) health->Shutdown();
}

void ServingStatus::Run() {
  while (true) {
    for (std::size_t i = 0; i < dependencies_.size(); ++i) {
      {
        absl::MutexLock lock(&mu_);
        if (draining_) return;
      }
      // Checked without the lock: a check may wait seconds for the database.
      const std::optional<absl::Status> answer = dependencies_[i].check();
      if (!answer.has_value()) continue;
      absl::MutexLock lock(&mu_);
      if (draining_) return;
      if (serving_[i] == answer->ok()) continue;
      serving_[i] = answer->ok();
      if (answer->ok()) {
        LogInfo("health: serving", {{"service", dependencies_[i].service_name},
                                    {"dependency", dependencies_[i].what}});
      } else {
        LogWarning("health: not serving; the dependency does not answer",
                   {{"service", dependencies_[i].service_name},
                    {"dependency", dependencies_[i].what},
                    {"error", answer->ToString()}});
      }
      for (grpc::HealthCheckServiceInterface* health : attached_) ApplyLocked(*health);
    }
    absl::MutexLock lock(&mu_);
    if (mu_.AwaitWithTimeout(absl::Condition(&draining_), interval_)) return;
  }
}

absl::StatusOr<std::unique_ptr<HealthListener>> HealthListener::Start(const std::string& address) {
  grpc::EnableDefaultHealthCheckService(true);
  std::unique_ptr<HealthListener> listener(new HealthListener());
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &listener->port_);
  builder.SetOption(std::make_unique<WithoutPlugins>());
  builder.RegisterCallbackGenericService(&listener->unimplemented_);
  builder.SetMaxReceiveMessageSize(kMaxRequestBytes);
  // Probes come from the kubelet, but the port is reachable by whatever reaches the pod:
  // the same limits on handshakes, idle connections and memory as the other listeners,
  // and fewer streams (a probe needs one).
  ApplyHostileClientLimits(builder);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, kMaxStreamsPerConnection);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  listener->server_ = builder.BuildAndStart();
  if (listener->server_ == nullptr || listener->port_ == 0) {
    return absl::UnavailableError("listeners.health: cannot listen on " + address);
  }
  if (listener->server_->GetHealthCheckService() == nullptr) {
    return absl::InternalError("listeners.health: the gRPC health service did not start");
  }
  return listener;
}

HealthListener::~HealthListener() { Shutdown(); }

void HealthListener::Shutdown() {
  if (server_ == nullptr) return;
  server_->Shutdown(std::chrono::system_clock::now());
  server_->Wait();
}

}  // namespace credvault::server

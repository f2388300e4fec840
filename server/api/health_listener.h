#ifndef CREDVAULT_SERVER_API_HEALTH_LISTENER_H_
#define CREDVAULT_SERVER_API_HEALTH_LISTENER_H_

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/pool.h"

namespace credvault::server {

// The grpc.health.v1.Health service names credvaultd reports, on every listener:
//   ""           the process: SERVING while it runs, NOT_SERVING while it drains after
//                SIGTERM. The health listener starts after every other one, so there it
//                also means that every listener is up. For liveness and startup probes:
//                a database outage does not fail it, as restarting would not help.
//   "readiness"  as "", and also NOT_SERVING while any database role the process uses
//                cannot connect (or has not been checked yet). For readiness probes.
//   each credvault service the process runs ("credvault.v1.CredentialService", ...):
//                as "", and also NOT_SERVING while its own database role cannot connect.
inline constexpr char kReadinessServiceName[] = "readiness";

// A health service name whose status follows something the service needs.
struct HealthDependency {
  std::string service_name;  // e.g. "credvault.v1.CredentialService"
  std::string what;          // named in logs, e.g. "database.writer"
  // OK: the dependency answers; an error: it does not (logged on a change); nullopt: this
  // round tells nothing and the status stays. May block for a few seconds.
  std::function<std::optional<absl::Status>()> check;
};

// A dependency on one database role: it answers when a trivial transaction of its pool
// commits. When every connection of the pool (`pool_size`) is leased the round tells
// nothing: requests are using the database, and waiting for a free connection would
// measure load, not reachability, and could turn a busy pod unready.
HealthDependency DatabaseDependency(std::string service_name, std::string what,
                                    storage::ConnectionPool& pool, std::size_t pool_size);

// Keeps the status that every attached health service reports (those of the TLS listeners
// and of the health listener alike) in step with the dependencies, which are checked one
// after the other every `interval` on a thread of its own. Thread-safe.
class ServingStatus {
 public:
  ServingStatus(std::vector<HealthDependency> dependencies, absl::Duration interval);
  ~ServingStatus();  // Drain()s and waits for a check in progress
  ServingStatus(const ServingStatus&) = delete;
  ServingStatus& operator=(const ServingStatus&) = delete;

  // Reports through `health` from now on, starting from what is known (a dependency not
  // checked yet is NOT_SERVING). `health` must outlive this object or Drain().
  void Attach(grpc::HealthCheckServiceInterface* health);
  // Starts the checks; the first round runs at once.
  void Start();
  // Every name NOT_SERVING on every attached service, for good; no check starts after.
  void Drain();

 private:
  void Run();
  void ApplyLocked(grpc::HealthCheckServiceInterface& health) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::vector<HealthDependency> dependencies_;
  const absl::Duration interval_;
  absl::Mutex mu_;
  std::vector<bool> serving_ ABSL_GUARDED_BY(mu_);
  std::vector<grpc::HealthCheckServiceInterface*> attached_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// The optional plaintext listener for probes that cannot speak TLS (listeners.health): a
// gRPC server with grpc.health.v1.Health and nothing else. It has no credvault service, no
// reflection and no interceptor that reads call metadata; every other method answers
// UNIMPLEMENTED. Requests are capped at a few kilobytes, since anyone who can reach the
// port may call it.
class HealthListener {
 public:
  // Binds `address` (host:port; port 0 picks one) and starts serving. Turns on gRPC's
  // default health service for the process, as every credvaultd listener uses it. The
  // port is not shared with another socket (no SO_REUSEPORT), so a clash fails here.
  static absl::StatusOr<std::unique_ptr<HealthListener>> Start(const std::string& address);
  ~HealthListener();
  HealthListener(const HealthListener&) = delete;
  HealthListener& operator=(const HealthListener&) = delete;

  int port() const { return port_; }
  grpc::HealthCheckServiceInterface* health() const { return server_->GetHealthCheckService(); }
  // Stops at once: a probe then fails to connect, as it should for a process about to exit.
  void Shutdown();

 private:
  HealthListener() = default;

  // Answers UNIMPLEMENTED to every method but the health service's. gRPC also needs a
  // service of the callback kind to poll the server for calls; declared before server_,
  // which must go first.
  grpc::CallbackGenericService unimplemented_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_API_HEALTH_LISTENER_H_

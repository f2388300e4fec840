#ifndef CREDVAULT_SERVER_API_GRPC_LISTENER_H_
#define CREDVAULT_SERVER_API_GRPC_LISTENER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/api/tls_reloader.h"
#include "server/config/config.h"
#include "server/telemetry/metrics.h"

namespace credvault::server {

// One gRPC listener of credvaultd (write, decrypt, admin or key authority): its address,
// TLS material and the limits every listener applies to what a client may send.
struct RunningListener {
  std::string name;
  int port = 0;
  // Follows the TLS files (tls_reloader.h); null for a plaintext listener. Declared
  // before `server`, whose TLS handshakes call into it, so that it is destroyed after.
  std::shared_ptr<TlsCertificateReloader> tls_reloader;
  std::unique_ptr<grpc::Server> server;
};

// Applies to `builder` the limits every credvaultd listener puts on what one client may hold
// open or make the server buffer: handshake time, header size, streams per connection, ping
// rate, idle connections and the memory of gRPC's buffers (tests/e2e/
// e2e_hostile_input_test.cc plays the clients these limits are for).
void ApplyHostileClientLimits(grpc::ServerBuilder& builder);

// Starts listener `name` serving `services` (not owned; they outlive the server). A TLS
// listener re-reads its certificate, key and client CA every tls.reload_interval and
// reports their expiry to `metrics` (may be null; else it outlives the listener).
// Connections are asked to reconnect after listeners.max_connection_age.
absl::StatusOr<RunningListener> StartListener(const std::string& name,
                                              const ListenerConfig& listener,
                                              const std::vector<grpc::Service*>& services,
                                              const Config& config, Metrics* metrics);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_API_GRPC_LISTENER_H_

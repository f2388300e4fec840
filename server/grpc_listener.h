#ifndef CREDVAULT_SERVER_GRPC_LISTENER_H_
#define CREDVAULT_SERVER_GRPC_LISTENER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/config/config.h"

namespace credvault::server {

// One gRPC listener of credvaultd (write, decrypt, admin or key authority): its address,
// TLS material and the limits every listener applies to what a client may send.
struct RunningListener {
  std::string name;
  int port = 0;
  std::unique_ptr<grpc::Server> server;
};

// Applies to `builder` the limits every credvaultd listener puts on what one client may hold
// open or make the server buffer: handshake time, header size, streams per connection, ping
// rate, idle connections and the memory of gRPC's buffers (tests/e2e/
// e2e_hostile_input_test.cc plays the clients these limits are for).
void ApplyHostileClientLimits(grpc::ServerBuilder& builder);

// Starts listener `name` serving `services` (not owned; they outlive the server).
absl::StatusOr<RunningListener> StartListener(const std::string& name,
                                              const ListenerConfig& listener,
                                              const std::vector<grpc::Service*>& services,
                                              const Config& config);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_GRPC_LISTENER_H_

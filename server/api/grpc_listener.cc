#include "server/api/grpc_listener.h"

#include <grpcpp/resource_quota.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "common/status_macros.h"

namespace credvault::server {
namespace {

// A client that connects and then sends nothing, or half a TLS ClientHello, holds a socket
// and a handshake until this passes (gRPC's own default is two minutes). Ten seconds is
// far more than a TLS handshake takes even on a loaded machine.
constexpr int kServerHandshakeTimeoutMs = 10'000;
// Request headers of a call: method, authority, deadline, a bearer token of a few hundred
// bytes and a few of our own. A header block over this is refused (RESOURCE_EXHAUSTED)
// without reaching a handler.
constexpr int kMaxMetadataBytes = 16 * 1024;
// Each open stream is a call the server holds (a unary call waits for its message); without
// a cap one connection could open millions. Clients queue calls beyond it on their side, so
// a busy client (e.g. a write tier calling the key authority) only waits.
constexpr int kMaxConcurrentStreamsPerConnection = 128;
// Keepalive pings from clients are welcome, also between calls, but no more often than
// this: a client that pings faster is sent GOAWAY after gRPC's default two strikes.
constexpr int kMinClientPingIntervalMs = 10'000;
// A connection without a call for this long is closed (GOAWAY): that bounds how long an
// idle or slow-loris client holds its socket and buffers. Clients reconnect on their next
// call.
constexpr int kMaxConnectionIdleMs = 2 * 60 * 1000;
// What gRPC may allocate for the buffers of every listener together. Past it, gRPC shrinks
// its read buffers and closes the connections it can reclaim, instead of growing credvaultd
// without bound; a normal load uses a small fraction of it.
constexpr std::size_t kListenerMemoryQuotaBytes = 256u * 1024 * 1024;

// One quota for every listener of the process.
grpc::ResourceQuota& ListenerMemoryQuota() {
  static grpc::ResourceQuota* const quota = [] {
    auto* created = new grpc::ResourceQuota("credvaultd-listeners");
    created->Resize(kListenerMemoryQuotaBytes);
    return created;
  }();
  return *quota;
}

int Milliseconds(absl::Duration duration) {
  return static_cast<int>(std::clamp<std::int64_t>(absl::ToInt64Milliseconds(duration), 0,
                                                   std::numeric_limits<int>::max()));
}

}  // namespace

void ApplyHostileClientLimits(grpc::ServerBuilder& builder) {
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, kServerHandshakeTimeoutMs);
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, kMaxMetadataBytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreamsPerConnection);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             kMinClientPingIntervalMs);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, kMaxConnectionIdleMs);
  builder.SetResourceQuota(ListenerMemoryQuota());
}

absl::StatusOr<RunningListener> StartListener(const std::string& name,
                                              const ListenerConfig& listener,
                                              const std::vector<grpc::Service*>& services,
                                              const Config& config, Metrics* metrics) {
  std::shared_ptr<TlsCertificateReloader> tls_reloader;
  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (listener.plaintext) {
    credentials = grpc::InsecureServerCredentials();
  } else {
    CV_ASSIGN_OR_RETURN(tls_reloader, TlsCertificateReloader::Start(name, *listener.tls, metrics));
    credentials = tls_reloader->ServerCredentials();
  }
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listener.address, credentials, &port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.limits.max_request_bytes));
  ApplyHostileClientLimits(builder);
  // Behind a Kubernetes Service a client keeps its connections to the replicas that were
  // there when it connected; asking it to reconnect now and then spreads it over replicas
  // added since. Calls in flight on an old connection get as long as a shutdown gives them.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                             Milliseconds(config.listeners.max_connection_age));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                             Milliseconds(config.shutdown.drain_timeout));
  for (grpc::Service* service : services) builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError("listeners." + name + ": cannot listen on " + listener.address);
  }
  return RunningListener{name, port, std::move(tls_reloader), std::move(server)};
}

}  // namespace credvault::server

#include "server/grpc_listener.h"

#include <grpcpp/resource_quota.h>

#include <cstddef>
#include <fstream>
#include <iterator>

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

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ListenerCredentials(
    const ListenerConfig& listener) {
  if (listener.plaintext) return grpc::InsecureServerCredentials();
  const TlsConfig& tls = *listener.tls;
  const auto read = [](const std::string& path,
                       const std::string& key) -> absl::StatusOr<std::string> {
    std::ifstream in(path, std::ios::binary);
    if (!in) return absl::NotFoundError(key + ": cannot read " + path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  grpc::SslServerCredentialsOptions options;
  CV_ASSIGN_OR_RETURN(const std::string cert, read(tls.cert_file, "tls.cert_file"));
  CV_ASSIGN_OR_RETURN(const std::string key, read(tls.key_file, "tls.key_file"));
  options.pem_key_cert_pairs.push_back({key, cert});
  if (!tls.client_ca_file.empty()) {
    CV_ASSIGN_OR_RETURN(options.pem_root_certs, read(tls.client_ca_file, "tls.client_ca_file"));
    options.client_certificate_request =
        tls.require_client_cert ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
  } else {
    options.client_certificate_request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  }
  return grpc::SslServerCredentials(options);
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
                                              const Config& config) {
  CV_ASSIGN_OR_RETURN(const std::shared_ptr<grpc::ServerCredentials> credentials,
                      ListenerCredentials(listener));
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listener.address, credentials, &port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.limits.max_request_bytes));
  ApplyHostileClientLimits(builder);
  for (grpc::Service* service : services) builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError("listeners." + name + ": cannot listen on " + listener.address);
  }
  return RunningListener{name, port, std::move(server)};
}

}  // namespace credvault::server

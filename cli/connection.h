#ifndef CREDVAULT_CLI_CONNECTION_H_
#define CREDVAULT_CLI_CONNECTION_H_

// How credvaultctl reaches a credvault listener: transport security, the bearer token and
// the per-call deadline.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cli/secret_input.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"

namespace credvault::cli {

struct ConnectionOptions {
  // gRPC target: "host:port", "[v6]:port", or "dns:///", "ipv4:", "ipv6:" URIs.
  std::string target;
  // TLS: PEM roots to trust (empty: the system roots), and for mutual TLS a client
  // certificate chain and its private key (both or neither).
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // Overrides the name checked against the server certificate (and sent as SNI).
  std::string server_name;
  // No TLS at all; refused unless `target` is a loopback address.
  bool plaintext = false;
  // A file holding the bearer token; the token may also come from the environment
  // (see BearerTokenSource).
  std::string token_file;
  // Deadline of each RPC.
  absl::Duration timeout = absl::Seconds(10);
};

// True if every address `target` names is on the loopback interface: 127.0.0.0/8, ::1 or
// "localhost". Used to refuse plaintext anywhere a network could observe it.
bool IsLoopbackTarget(absl::string_view target);

// Checks option combinations before anything is read or dialled: plaintext only to
// loopback and never mixed with TLS files, cert and key files together.
absl::Status ValidateConnectionOptions(const ConnectionOptions& options);

// Reads a bearer token from a file: surrounding whitespace (a trailing newline) is
// dropped, and the rest must be 1-4096 visible ASCII characters (0x21-0x7E), which is what
// an HTTP/2 header value can carry. Errors never quote the token.
absl::StatusOr<SecretInput> ReadTokenFile(const std::string& path);

// Checks a token taken from the environment by the same rules.
absl::StatusOr<SecretInput> CheckToken(absl::string_view token);

// A channel plus what every call on it needs.
class Connection {
 public:
  // Loads TLS material and builds the channel; dials lazily on the first call. `token`
  // may be empty (mutual TLS alone, or a server that rejects the call).
  static absl::StatusOr<Connection> Open(const ConnectionOptions& options, SecretInput token);

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

  // Applies the deadline and the `authorization: Bearer <token>` metadata.
  void Prepare(grpc::ClientContext* context) const;

 private:
  Connection(std::shared_ptr<grpc::Channel> channel, SecretInput token, absl::Duration timeout)
      : channel_(std::move(channel)), token_(std::move(token)), timeout_(timeout) {}

  std::shared_ptr<grpc::Channel> channel_;
  SecretInput token_;
  absl::Duration timeout_;
};

// The service config of every credvaultctl channel: UNAVAILABLE (nothing committed, per
// common.proto) is retried by gRPC with backoff, up to 3 attempts. That is safe for
// mutations only because credvaultctl always sends an idempotency key.
absl::string_view RetryServiceConfig();

}  // namespace credvault::cli

#endif  // CREDVAULT_CLI_CONNECTION_H_

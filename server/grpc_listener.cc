#include "server/grpc_listener.h"

#include <fstream>
#include <iterator>

#include "common/status_macros.h"

namespace credvault::server {
namespace {

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
  for (grpc::Service* service : services) builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError("listeners." + name + ": cannot listen on " + listener.address);
  }
  return RunningListener{name, port, std::move(server)};
}

}  // namespace credvault::server

#include "cli/connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <chrono>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "crypto/secret_bytes.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace credvault::cli {
namespace {

constexpr std::size_t kMaxTokenBytes = 4096;
// PEM files larger than this are not certificates or keys.
constexpr std::size_t kMaxPemBytes = 1 << 20;

bool IsLoopbackHost(absl::string_view host) {
  if (absl::EqualsIgnoreCase(host, "localhost")) {
    return true;
  }
  const std::string text(host);
  in_addr v4;
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

// "host:port", "[v6]:port", "v4", "[v6]" or a bare IPv6 address -> host.
absl::string_view HostOf(absl::string_view address) {
  if (absl::StartsWith(address, "[")) {
    const std::size_t close = address.find(']');
    if (close == absl::string_view::npos) return {};
    return address.substr(1, close - 1);
  }
  const std::size_t first_colon = address.find(':');
  if (first_colon == absl::string_view::npos) return address;
  // More than one colon without brackets: a bare IPv6 address with no port.
  if (address.find(':', first_colon + 1) != absl::string_view::npos) return address;
  return address.substr(0, first_colon);
}

bool AllLoopback(absl::string_view list) {
  if (list.empty()) return false;
  for (absl::string_view address : absl::StrSplit(list, ',')) {
    if (!IsLoopbackHost(HostOf(address))) return false;
  }
  return true;
}

absl::StatusOr<std::string> ReadPemFile(const std::string& path, absl::string_view flag) {
  absl::StatusOr<SecretInput> contents = ReadSecretFromFile(path, kMaxPemBytes);
  if (!contents.ok()) {
    return absl::Status(contents.status().code(),
                        absl::StrCat(flag, ": ", contents.status().message()));
  }
  return std::string(contents->RevealSecret());
}

}  // namespace

bool IsLoopbackTarget(absl::string_view target) {
  const absl::string_view t = target;
  if (absl::StartsWith(t, "ipv4:") || absl::StartsWith(t, "ipv6:")) {
    return AllLoopback(target.substr(5));
  }
  absl::string_view rest = target;
  if (absl::StartsWith(t, "dns:")) {
    rest = target.substr(4);
    // "dns://authority/host:port": the authority names the DNS server, not the target.
    if (absl::StartsWith(rest, "//")) {
      const std::size_t slash = rest.find('/', 2);
      if (slash == absl::string_view::npos) return false;
      rest = rest.substr(slash + 1);
    }
  } else if (absl::StrContains(t, "://") || absl::StartsWith(t, "unix:") ||
             absl::StartsWith(t, "unix-abstract:") || absl::StartsWith(t, "vsock:")) {
    return false;
  }
  // One name: a list is only meaningful with the ipv4:/ipv6: schemes.
  if (rest.find(',') != absl::string_view::npos) return false;
  return IsLoopbackHost(HostOf(rest));
}

absl::Status ValidateConnectionOptions(const ConnectionOptions& options) {
  if (options.target.empty()) return absl::InvalidArgumentError("the server address is empty");
  if (options.plaintext) {
    if (!IsLoopbackTarget(options.target)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--plaintext is allowed only for loopback addresses (127.0.0.0/8, ::1, "
                       "localhost), not \"",
                       options.target, "\"; use TLS (--ca-file)"));
    }
    if (!options.ca_file.empty() || !options.cert_file.empty() || !options.key_file.empty() ||
        !options.server_name.empty()) {
      return absl::InvalidArgumentError(
          "--plaintext cannot be combined with --ca-file, --cert-file, --key-file or "
          "--server-name");
    }
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError(
        "--cert-file and --key-file must be given together (mutual TLS)");
  }
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--timeout: must be positive");
  }
  return absl::OkStatus();
}

absl::StatusOr<SecretInput> CheckToken(absl::string_view token) {
  absl::string_view trimmed = token;
  while (!trimmed.empty() && absl::ascii_isspace(static_cast<unsigned char>(trimmed.front()))) {
    trimmed.remove_prefix(1);
  }
  while (!trimmed.empty() && absl::ascii_isspace(static_cast<unsigned char>(trimmed.back()))) {
    trimmed.remove_suffix(1);
  }
  if (trimmed.empty() || trimmed.size() > kMaxTokenBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the bearer token must be 1-", kMaxTokenBytes, " characters"));
  }
  for (char c : trimmed) {
    if (c < 0x21 || c > 0x7E) {
      return absl::InvalidArgumentError(
          "the bearer token may contain only visible ASCII characters (0x21-0x7E)");
    }
  }
  return SecretInput(std::string(trimmed));
}

absl::StatusOr<SecretInput> ReadTokenFile(const std::string& path) {
  absl::StatusOr<SecretInput> contents = ReadSecretFromFile(path, kMaxTokenBytes + 64);
  if (!contents.ok()) {
    return absl::Status(contents.status().code(),
                        absl::StrCat("--token-file: ", contents.status().message()));
  }
  absl::StatusOr<SecretInput> token = CheckToken(contents->RevealSecret());
  if (!token.ok()) {
    return absl::Status(token.status().code(),
                        absl::StrCat("--token-file: ", path, ": ", token.status().message()));
  }
  return token;
}

absl::string_view RetryServiceConfig() {
  return R"json({
  "methodConfig": [{
    "name": [
      {"service": "credvault.v1.CredentialService"},
      {"service": "credvault.v1.CredentialAccessService"},
      {"service": "credvault.v1.AdminService"}
    ],
    "retryPolicy": {
      "maxAttempts": 3,
      "initialBackoff": "0.2s",
      "maxBackoff": "2s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }
  }]
})json";
}

absl::StatusOr<Connection> Connection::Open(const ConnectionOptions& options, SecretInput token) {
  if (absl::Status status = ValidateConnectionOptions(options); !status.ok()) return status;
  grpc::ChannelArguments arguments;
  arguments.SetServiceConfigJSON(std::string(RetryServiceConfig()));
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.plaintext) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    if (!options.ca_file.empty()) {
      absl::StatusOr<std::string> roots = ReadPemFile(options.ca_file, "--ca-file");
      if (!roots.ok()) return roots.status();
      ssl.pem_root_certs = *std::move(roots);
    }
    if (!options.cert_file.empty()) {
      absl::StatusOr<std::string> chain = ReadPemFile(options.cert_file, "--cert-file");
      if (!chain.ok()) return chain.status();
      ssl.pem_cert_chain = *std::move(chain);
      absl::StatusOr<std::string> key = ReadPemFile(options.key_file, "--key-file");
      if (!key.ok()) return key.status();
      ssl.pem_private_key = *std::move(key);
    }
    credentials = grpc::SslCredentials(ssl);
    // gRPC keeps its own copy; ours of the private key goes now.
    crypto::WipeString(&ssl.pem_private_key);
    if (!options.server_name.empty()) arguments.SetSslTargetNameOverride(options.server_name);
  }
  return Connection(grpc::CreateCustomChannel(options.target, credentials, arguments),
                    std::move(token), options.timeout);
}

void Connection::Prepare(grpc::ClientContext* context) const {
  context->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout_));
  if (token_.size() == 0) return;
  std::string value = absl::StrCat("Bearer ", token_.RevealSecret());
  context->AddMetadata("authorization", value);
  crypto::WipeString(&value);
}

}  // namespace credvault::cli

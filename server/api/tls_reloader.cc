#include "server/api/tls_reloader.h"

#include <grpc/grpc.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <climits>
#include <ctime>
#include <fstream>
#include <iterator>
#include <utility>
#include <vector>

#include "common/openssl_handles.h"
#include "common/status_macros.h"
#include "server/telemetry/json_log.h"

namespace credvault::server {
namespace {

using Certificates = std::vector<OpenSslPtr<X509>>;

absl::StatusOr<std::string> ReadText(const std::string& path, std::string_view key) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(std::string(key) + ": cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The key file straight into wiped memory, NUL-terminated.
absl::StatusOr<crypto::SecretBytes> ReadSecret(const std::string& path, std::string_view key) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return absl::NotFoundError(std::string(key) + ": cannot read " + path);
  const std::streamoff size = in.tellg();
  if (size <= 0 || size > 1024 * 1024) {
    return absl::InvalidArgumentError(std::string(key) + ": " + path +
                                      " is empty or too large for a private key");
  }
  crypto::SecretBytes bytes(static_cast<std::size_t>(size) + 1);
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(bytes.RevealMutableSecret().data()), size)) {
    return absl::NotFoundError(std::string(key) + ": cannot read " + path);
  }
  return bytes;
}

// Every certificate of a PEM bundle; an error if there is none or a block does not parse.
absl::StatusOr<Certificates> ParseCertificates(std::string_view pem, std::string_view key,
                                               const std::string& path) {
  const auto malformed = [&] {
    return absl::InvalidArgumentError(std::string(key) + ": " + path +
                                      " is not a PEM certificate bundle");
  };
  if (pem.empty() || pem.size() > INT_MAX) return malformed();
  OpenSslPtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return absl::ResourceExhaustedError("out of memory");
  Certificates certificates;
  while (true) {
    OpenSslPtr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (cert == nullptr) break;
    certificates.push_back(std::move(cert));
  }
  // The loop ends at the end of the input (no further PEM block) or at a block that does
  // not parse; only the first is a bundle.
  const unsigned long reason = ERR_peek_last_error();
  const bool clean_end =
      ERR_GET_LIB(reason) == ERR_LIB_PEM && ERR_GET_REASON(reason) == PEM_R_NO_START_LINE;
  if (certificates.empty() || !clean_end) return malformed();
  return certificates;
}

absl::StatusOr<absl::Time> NotAfter(const X509* cert) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) {
    return absl::InvalidArgumentError("certificate has an unreadable notAfter");
  }
  return absl::FromTimeT(timegm(&tm));
}

std::string SerialHex(const X509* cert) {
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert);
  BIGNUM* number = ASN1_INTEGER_to_BN(serial, nullptr);
  if (number == nullptr) return "";
  OpenSslPtr<char> hex(BN_bn2hex(number));
  BN_free(number);
  return hex == nullptr ? "" : std::string(hex.get());
}

std::string Rfc3339(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", time, absl::UTCTimeZone());
}

void Sha256(std::initializer_list<absl::Span<const std::uint8_t>> parts,
            std::array<std::uint8_t, 32>& out) {
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  EVP_DigestInit_ex(context, EVP_sha256(), nullptr);
  for (const auto& part : parts) {
    // Length-prefixed, so that moving bytes between files changes the digest.
    const std::uint64_t size = part.size();
    EVP_DigestUpdate(context, &size, sizeof(size));
    EVP_DigestUpdate(context, part.data(), part.size());
  }
  unsigned int length = 0;
  EVP_DigestFinal_ex(context, out.data(), &length);
  EVP_MD_CTX_free(context);
}

absl::Span<const std::uint8_t> Bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// grpc::ServerCredentials over the C core's SSL server credentials with a
// certificate-config fetcher, which the C++ API of gRPC 1.51 does not offer. Adding a port
// is what grpc::SslServerCredentials does too (grpc_server_add_http2_port), so connections
// and their auth context are exactly those of SslServerCredentials.
class FetchingServerCredentials final : public grpc::ServerCredentials {
 public:
  FetchingServerCredentials(grpc_server_credentials* credentials,
                            std::shared_ptr<TlsCertificateReloader> reloader)
      : credentials_(credentials), reloader_(std::move(reloader)) {}
  ~FetchingServerCredentials() override { grpc_server_credentials_release(credentials_); }

  // credvaultd authenticates in its handlers (server/auth/identify_caller.h).
  void SetAuthMetadataProcessor(const std::shared_ptr<grpc::AuthMetadataProcessor>&) override {}

 private:
  int AddPortToServer(const std::string& address, grpc_server* server) override {
    return grpc_server_add_http2_port(server, address.c_str(), credentials_);
  }

  grpc_server_credentials* const credentials_;
  const std::shared_ptr<TlsCertificateReloader> reloader_;
};

}  // namespace

namespace {

// The three files' bytes, before any check.
struct TlsFiles {
  std::string certificate_chain;
  crypto::SecretBytes private_key;  // NUL-terminated
  std::string client_ca;
  std::array<std::uint8_t, 32> digest{};
};

absl::StatusOr<TlsFiles> ReadTlsFiles(const TlsConfig& tls) {
  TlsFiles files;
  CV_ASSIGN_OR_RETURN(files.certificate_chain, ReadText(tls.cert_file, "tls.cert_file"));
  CV_ASSIGN_OR_RETURN(files.private_key, ReadSecret(tls.key_file, "tls.key_file"));
  if (!tls.client_ca_file.empty()) {
    CV_ASSIGN_OR_RETURN(files.client_ca, ReadText(tls.client_ca_file, "tls.client_ca_file"));
  }
  Sha256({Bytes(files.certificate_chain), files.private_key.RevealSecret(), Bytes(files.client_ca)},
         files.digest);
  return files;
}

absl::StatusOr<TlsMaterial> CheckTlsFiles(TlsFiles files, const TlsConfig& tls) {
  const ClearOpenSslErrorsOnExit clear_errors;
  TlsMaterial material;
  CV_ASSIGN_OR_RETURN(const Certificates chain,
                      ParseCertificates(files.certificate_chain, "tls.cert_file", tls.cert_file));
  ERR_clear_error();
  const absl::Span<const std::uint8_t> key_bytes = files.private_key.RevealSecret();
  OpenSslPtr<BIO> key_bio(
      BIO_new_mem_buf(key_bytes.data(), static_cast<int>(key_bytes.size() - 1)));
  if (key_bio == nullptr) return absl::ResourceExhaustedError("out of memory");
  const OpenSslPtr<EVP_PKEY> key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError("tls.key_file: " + tls.key_file +
                                      " is not an unencrypted PEM private key");
  }
  if (X509_check_private_key(chain.front().get(), key.get()) != 1) {
    return absl::InvalidArgumentError("tls.key_file: " + tls.key_file +
                                      " is not the key of the certificate in " + tls.cert_file);
  }
  CV_ASSIGN_OR_RETURN(material.server_not_after, NotAfter(chain.front().get()));
  material.server_serial = SerialHex(chain.front().get());
  if (!tls.client_ca_file.empty()) {
    ERR_clear_error();
    CV_ASSIGN_OR_RETURN(
        const Certificates authorities,
        ParseCertificates(files.client_ca, "tls.client_ca_file", tls.client_ca_file));
    for (const auto& authority : authorities) {
      CV_ASSIGN_OR_RETURN(const absl::Time not_after, NotAfter(authority.get()));
      if (!material.client_ca_not_after || not_after < *material.client_ca_not_after) {
        material.client_ca_not_after = not_after;
      }
    }
  }
  material.certificate_chain = std::move(files.certificate_chain);
  material.private_key = std::move(files.private_key);
  material.client_ca = std::move(files.client_ca);
  material.digest = files.digest;
  return material;
}

}  // namespace

absl::StatusOr<TlsMaterial> LoadTlsMaterial(const TlsConfig& tls) {
  CV_ASSIGN_OR_RETURN(TlsFiles files, ReadTlsFiles(tls));
  return CheckTlsFiles(std::move(files), tls);
}

absl::StatusOr<std::shared_ptr<TlsCertificateReloader>> TlsCertificateReloader::Start(
    std::string listener, const TlsConfig& tls, Metrics* metrics) {
  CV_ASSIGN_OR_RETURN(TlsMaterial initial, LoadTlsMaterial(tls));
  std::shared_ptr<TlsCertificateReloader> reloader(
      new TlsCertificateReloader(std::move(listener), tls, metrics, std::move(initial)));
  TlsCertificateReloader* const raw = reloader.get();
  raw->watcher_ = std::thread([raw] {
    while (!raw->stop_.WaitForNotificationWithTimeout(raw->tls_.reload_interval)) {
      raw->CheckFiles();
    }
  });
  return reloader;
}

TlsCertificateReloader::TlsCertificateReloader(std::string listener, const TlsConfig& tls,
                                               Metrics* metrics, TlsMaterial initial)
    : listener_(std::move(listener)), tls_(tls), metrics_(metrics) {
  absl::MutexLock lock(&mutex_);
  last_seen_digest_ = initial.digest;
  Use(std::move(initial));
}

TlsCertificateReloader::~TlsCertificateReloader() {
  stop_.Notify();
  if (watcher_.joinable()) watcher_.join();
}

void TlsCertificateReloader::Use(TlsMaterial material) {
  in_use_ = std::move(material);
  ++generation_;
  if (metrics_ != nullptr) {
    metrics_->SetTlsCertificateExpiry(listener_, "server", in_use_.server_not_after);
    if (in_use_.client_ca_not_after) {
      metrics_->SetTlsCertificateExpiry(listener_, "client_ca", *in_use_.client_ca_not_after);
    }
  }
}

bool TlsCertificateReloader::CheckFiles() {
  // Only the watcher thread (or a test) calls this, and only it touches last_seen_digest_.
  absl::StatusOr<TlsFiles> files = ReadTlsFiles(tls_);
  std::optional<absl::StatusOr<TlsMaterial>> material;
  if (files.ok()) {
    // The same bytes as last time: accepted or warned about already.
    if (last_seen_digest_ == files->digest) return false;
    last_seen_digest_ = files->digest;
    material = CheckTlsFiles(*std::move(files), tls_);
  } else {
    // A file missing or unreadable (e.g. between two renames): warn when it first is.
    if (!last_seen_digest_) return false;
    last_seen_digest_.reset();
    material = files.status();
  }
  absl::MutexLock lock(&mutex_);
  if (!material->ok()) {
    LogWarning("tls certificate reload refused; the previous certificate stays in use",
               {{"listener", listener_},
                {"error", std::string(material->status().message())},
                {"not_after", Rfc3339(in_use_.server_not_after)}});
    return false;
  }
  if ((*material)->digest == in_use_.digest) return false;  // back to the set in use
  const std::string not_after = Rfc3339((*material)->server_not_after);
  const std::string serial = (*material)->server_serial;
  const std::string client_ca_not_after =
      (*material)->client_ca_not_after ? Rfc3339(*(*material)->client_ca_not_after) : "none";
  Use(**std::move(material));
  LogInfo("tls certificate reloaded", {{"listener", listener_},
                                       {"not_after", not_after},
                                       {"serial", serial},
                                       {"client_ca_not_after", client_ca_not_after}});
  return true;
}

absl::Time TlsCertificateReloader::ServerNotAfter() const {
  absl::MutexLock lock(&mutex_);
  return in_use_.server_not_after;
}

grpc_ssl_certificate_config_reload_status TlsCertificateReloader::FetchConfig(
    void* self, grpc_ssl_server_certificate_config** config) {
  auto* reloader = static_cast<TlsCertificateReloader*>(self);
  absl::MutexLock lock(&reloader->mutex_);
  if (reloader->fetched_generation_ == reloader->generation_) {
    return GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_UNCHANGED;
  }
  const TlsMaterial& material = reloader->in_use_;
  grpc_ssl_pem_key_cert_pair pair{
      reinterpret_cast<const char*>(material.private_key.RevealSecret().data()),
      material.certificate_chain.c_str()};
  // gRPC copies the strings.
  *config = grpc_ssl_server_certificate_config_create(
      material.client_ca.empty() ? nullptr : material.client_ca.c_str(), &pair, 1);
  reloader->fetched_generation_ = reloader->generation_;
  return GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_NEW;
}

std::shared_ptr<grpc::ServerCredentials> TlsCertificateReloader::ServerCredentials() {
  grpc_ssl_client_certificate_request_type request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  if (!tls_.client_ca_file.empty()) {
    request = tls_.require_client_cert ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                       : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  grpc_ssl_server_credentials_options* options =
      grpc_ssl_server_credentials_create_options_using_config_fetcher(request, &FetchConfig, this);
  // Takes (and frees) the options.
  grpc_server_credentials* credentials = grpc_ssl_server_credentials_create_with_options(options);
  return std::make_shared<FetchingServerCredentials>(credentials, shared_from_this());
}

}  // namespace credvault::server

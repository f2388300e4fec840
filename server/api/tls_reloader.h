#ifndef CREDVAULT_SERVER_API_TLS_RELOADER_H_
#define CREDVAULT_SERVER_API_TLS_RELOADER_H_

#include <grpc/grpc_security.h>
#include <grpcpp/security/server_credentials.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "crypto/secret_bytes.h"
#include "server/config/config.h"
#include "server/telemetry/metrics.h"

namespace credvault::server {

// The TLS files of one listener, read and checked: the certificate chain and CA bundle
// parse, and the private key is the one of the leaf certificate.
struct TlsMaterial {
  std::string certificate_chain;    // PEM, leaf first
  crypto::SecretBytes private_key;  // PEM, followed by one NUL (gRPC takes C strings)
  std::string client_ca;            // PEM bundle; empty: client certificates not requested
  absl::Time server_not_after;      // of the leaf
  std::string server_serial;        // of the leaf, hex, for the log
  std::optional<absl::Time> client_ca_not_after;  // the first CA of the bundle to expire
  // SHA-256 of the three files' bytes: tells a changed set from the one in use.
  std::array<std::uint8_t, 32> digest{};
};

// Reads `tls`'s files and checks them (TlsMaterial). The error names the file and what is
// wrong with it, never its content.
absl::StatusOr<TlsMaterial> LoadTlsMaterial(const TlsConfig& tls);

// Serves one listener's TLS certificate, key and client CA from their files and follows
// the files as they change (a renewed Kubernetes Secret, cert-manager, an operator's
// rename), without a restart and without touching open connections.
//
// A thread re-reads the files every tls.reload_interval. A changed set that passes
// LoadTlsMaterial becomes the one every new TLS handshake uses (gRPC asks ServerCredentials'
// certificate-config fetcher before each handshake; docs/operations.md, "TLS and
// identities"); connections already made keep the session they negotiated. A set that
// does not pass is refused with a warning in the log and the previous one stays in use.
// Each reload updates credvault_tls_certificate_expiry_timestamp_seconds.
//
// Why not gRPC's FileWatcherCertificateProvider: in gRPC 1.51 it hands whatever bytes the
// files hold to new handshakes, so a half-written or mismatched pair, or a file missing
// for a moment, makes every new connection fail until the files are fixed.
class TlsCertificateReloader : public std::enable_shared_from_this<TlsCertificateReloader> {
 public:
  // Loads the files once (an error here stops the start) and starts the watcher thread.
  // `metrics` may be null; else it must outlive the reloader.
  static absl::StatusOr<std::shared_ptr<TlsCertificateReloader>> Start(std::string listener,
                                                                       const TlsConfig& tls,
                                                                       Metrics* metrics);
  ~TlsCertificateReloader();
  TlsCertificateReloader(const TlsCertificateReloader&) = delete;
  TlsCertificateReloader& operator=(const TlsCertificateReloader&) = delete;

  // SSL server credentials that take every accepted set for new handshakes. For exactly
  // one listening port (gRPC fetches the first set when the port is added). They keep the
  // reloader alive.
  std::shared_ptr<grpc::ServerCredentials> ServerCredentials();

  // Re-reads the files now; the watcher thread calls it every reload_interval. Whether a
  // new set was accepted.
  bool CheckFiles();

  // The notAfter of the leaf certificate in use.
  absl::Time ServerNotAfter() const;

 private:
  TlsCertificateReloader(std::string listener, const TlsConfig& tls, Metrics* metrics,
                         TlsMaterial initial);
  void Use(TlsMaterial material) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  static grpc_ssl_certificate_config_reload_status FetchConfig(
      void* self, grpc_ssl_server_certificate_config** config);

  const std::string listener_;
  const TlsConfig tls_;
  Metrics* const metrics_;
  mutable absl::Mutex mutex_;
  TlsMaterial in_use_ ABSL_GUARDED_BY(mutex_);
  // Bumped for each accepted set; gRPC has been handed `fetched_generation_`.
  std::uint64_t generation_ ABSL_GUARDED_BY(mutex_) = 1;
  std::uint64_t fetched_generation_ ABSL_GUARDED_BY(mutex_) = 0;
  // The bytes last read, accepted or not, so that one bad set is warned about once. Only
  // CheckFiles (one thread) uses it.
  std::optional<std::array<std::uint8_t, 32>> last_seen_digest_;
  absl::Notification stop_;
  std::thread watcher_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_API_TLS_RELOADER_H_

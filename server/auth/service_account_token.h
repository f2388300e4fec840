#ifndef CREDVAULT_SERVER_AUTH_SERVICE_ACCOUNT_TOKEN_H_
#define CREDVAULT_SERVER_AUTH_SERVICE_ACCOUNT_TOKEN_H_

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/auth/kubernetes_auth_config.h"
#include "server/auth/principal.h"

namespace credvault::server {

// Kubernetes projected ServiceAccount tokens as bearer credentials. A pod mounts a token
// whose audience is credvault (a projected volume with `audience: credvault`) and sends it
// as "authorization: Bearer <jwt>"; the token is verified offline, against the key set
// (JWKS) the cluster publishes at /openid/v1/jwks, with no call to the API server per
// request. The caller becomes principal "k8s:NAMESPACE/SERVICEACCOUNT"
// (PrincipalSource::kServiceAccount), which only `id: "k8s:..."` policy entries match.
//
// A token is accepted when all of these hold:
//   * it is a compact JWS whose header names an asymmetric algorithm (RS256/384/512,
//     PS256/384/512, ES256/384/512); "none" and the HMAC algorithms are refused outright,
//     since a verifier holding only public keys must never treat one as a shared secret;
//   * its kid names a key of the set (a token without kid is tried against a set of exactly
//     one key), that key's type and curve fit the algorithm, and its own alg, when it has
//     one, is the token's;
//   * the signature verifies; iss equals the configured issuer; aud is, or contains, the
//     configured audience;
//   * exp is present and not past, nbf and iat (when present) are not in the future, each
//     with max_clock_skew of leeway;
//   * the claims carry "kubernetes.io": {"namespace": N, "serviceaccount": {"name": S}}
//     with N a DNS label and S a DNS subdomain, as Kubernetes names them.
// Refusals are UNAUTHENTICATED "service account token: <why>"; no message contains token
// bytes or claim values.
//
// The key set is re-read every refresh_interval (a file, or an https URL); a read that
// fails or yields no usable key keeps the previous keys, and the failure goes to the
// callback for the log. Thread-safe.
class ServiceAccountTokenVerifier {
 public:
  using RefreshFailureCallback = std::function<void(const absl::Status&)>;

  // Reads the key set once (an error here stops the server from starting) and, with a
  // callback, starts the refresh thread. Without one (tests) keys change only by Reload.
  static absl::StatusOr<std::unique_ptr<ServiceAccountTokenVerifier>> Create(
      const KubernetesAuthConfig& config, RefreshFailureCallback on_refresh_failure = nullptr);

  ~ServiceAccountTokenVerifier();
  ServiceAccountTokenVerifier(const ServiceAccountTokenVerifier&) = delete;
  ServiceAccountTokenVerifier& operator=(const ServiceAccountTokenVerifier&) = delete;

  absl::StatusOr<Principal> Verify(std::string_view token) const {
    return VerifyAt(token, absl::Now());
  }
  // As Verify, with the clock given (tests).
  absl::StatusOr<Principal> VerifyAt(std::string_view token, absl::Time now) const;

  // Re-reads the key set now. On failure the previous keys stay in force.
  absl::Status Reload();

 private:
  struct KeySet;

  explicit ServiceAccountTokenVerifier(KubernetesAuthConfig config);
  absl::StatusOr<std::shared_ptr<const KeySet>> ReadKeySet() const;
  void RefreshLoop(RefreshFailureCallback on_refresh_failure);

  const KubernetesAuthConfig config_;
  std::mutex reload_mu_;  // serialises reloads
  mutable std::mutex mu_;
  std::shared_ptr<const KeySet> keys_;  // guarded by mu_; never null after Create

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by stop_mu_
  std::thread refresher_;
};

// Whether an "authorization: Bearer" value is shaped like a JWT (three dot-separated
// base64url parts, the first a JSON object with an "alg" member) rather than a static
// bearer token (random bytes in base64 or hex, which never contain dots).
bool LooksLikeJwt(std::string_view token);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_AUTH_SERVICE_ACCOUNT_TOKEN_H_

#ifndef CREDVAULT_SERVER_AUTH_KUBERNETES_AUTH_CONFIG_H_
#define CREDVAULT_SERVER_AUTH_KUBERNETES_AUTH_CONFIG_H_

#include <string>

#include "absl/time/time.h"

namespace credvault::server {

// Kubernetes ServiceAccount tokens as bearer credentials (server/auth/service_account_token.h):
// projected tokens, verified offline against the cluster's JWKS.
struct KubernetesAuthConfig {
  std::string issuer;  // the cluster's service account issuer (the token's iss)
  std::string audience = "credvault";
  std::string jwks_file;        // exactly one of jwks_file and jwks_url
  std::string jwks_url;         // https only
  std::string jwks_ca_file;     // CA bundle for jwks_url; empty: the system's
  std::string jwks_token_file;  // bearer token sent to jwks_url (the API server wants one)
  absl::Duration refresh_interval = absl::Minutes(5);
  absl::Duration max_clock_skew = absl::Seconds(60);
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_AUTH_KUBERNETES_AUTH_CONFIG_H_

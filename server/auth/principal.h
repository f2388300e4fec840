#ifndef CREDVAULT_SERVER_AUTH_PRINCIPAL_H_
#define CREDVAULT_SERVER_AUTH_PRINCIPAL_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace credvault::server {

enum class PrincipalSource { kCertificate, kToken, kServiceAccount };

// An authenticated caller. The id is what the policy, the audit log and error messages
// name:
//   certificate: the first URI SAN verbatim ("spiffe://example.org/ns/prod/sa/backend"),
//                else "dns:<first DNS SAN>", else "cn:<subject CN>";
//   token:       "token:<token_name from the policy>";
//   service account: "k8s:<namespace>/<name>" from a verified Kubernetes ServiceAccount
//                token (service_account_token.h).
// The source is part of the identity: a certificate principal only ever matches `id:`
// policy entries other than "k8s:" ones, a token principal only `token_name:` entries and
// a service account principal only `id: "k8s:..."` entries, so no certificate can claim a
// token's or a service account's grants by carrying a look-alike name, nor the other way
// round.
struct Principal {
  std::string id;
  PrincipalSource source = PrincipalSource::kCertificate;

  friend bool operator==(const Principal&, const Principal&) = default;
};

// Principal ids are 1-1024 characters of printable ASCII (0x20-0x7E) without leading or
// trailing spaces: they are logged and written to the audit log verbatim, so they must not
// be able to forge log lines or hide text. INVALID_ARGUMENT says why, without the id.
absl::Status ValidatePrincipalId(std::string_view id);

inline constexpr std::string_view kServiceAccountPrincipalPrefix = "k8s:";

// "k8s:NAMESPACE/SERVICEACCOUNT" with NAMESPACE a DNS label (RFC 1123, at most 63
// characters of [a-z0-9-], alphanumeric at both ends) and SERVICEACCOUNT a DNS subdomain
// (at most 253 characters, dot-separated labels). INVALID_ARGUMENT says which rule.
absl::Status ValidateServiceAccountPrincipalId(std::string_view id);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_AUTH_PRINCIPAL_H_

#ifndef CREDVAULT_SERVER_AUTH_CERTIFICATE_IDENTITY_H_
#define CREDVAULT_SERVER_AUTH_CERTIFICATE_IDENTITY_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "server/auth/principal.h"

namespace credvault::server {

// The principal named by a client certificate, given as PEM (what gRPC exposes as the
// "x509_pem_cert" property of a verified TLS peer; this function does not verify the
// chain, the TLS handshake did). In order of preference:
//   1. the first URI SAN, verbatim (a SPIFFE id such as spiffe://example.org/ns/prod/sa/x);
//   2. the first DNS SAN, as "dns:<name>";
//   3. the subject common name, as "cn:<name>".
// UNAUTHENTICATED, naming the problem but not the certificate's content, when the PEM does
// not parse, when the certificate carries none of these, when the chosen name is not a
// valid principal id (control characters, embedded NUL, non-ASCII), when the subject has
// several CNs (ambiguous), or when a URI SAN uses a scheme that principal ids reserve
// ("dns:", "cn:", "token:"), which would let a certificate pose as another principal.
absl::StatusOr<Principal> PrincipalFromCertificatePem(std::string_view pem);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_AUTH_CERTIFICATE_IDENTITY_H_

#ifndef CREDVAULT_SERVER_AUTH_IDENTIFY_CALLER_H_
#define CREDVAULT_SERVER_AUTH_IDENTIFY_CALLER_H_

#include <grpcpp/security/auth_context.h>
#include <grpcpp/support/string_ref.h>

#include <map>

#include "absl/status/statusor.h"
#include "server/auth/policy.h"
#include "server/auth/principal.h"

namespace credvault::server {

// Who is calling, from a gRPC call's transport and metadata
// (ServerContext::auth_context().get() and ServerContext::client_metadata()):
//   * a client certificate (the "x509_pem_cert" property of the TLS peer) wins when
//     present: see PrincipalFromCertificatePem;
//   * otherwise exactly one "authorization: Bearer <token>" header: a JWT, when the policy
//     has a ServiceAccountTokenVerifier, is verified as a Kubernetes ServiceAccount token;
//     any other token is looked up in `policy`.
// UNAUTHENTICATED: "no client certificate or bearer token", a certificate without a usable
// identity, a malformed or repeated authorization header, or "unknown bearer token". No
// message contains token bytes.
//
// The certificate is trusted as the TLS handshake left it, so every TLS listener must
// verify client certificates it accepts (GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY,
// or ..._REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY with require_client_cert), never
// a ..._BUT_DONT_VERIFY mode.
absl::StatusOr<Principal> IdentifyCaller(
    const grpc::AuthContext* auth_context,
    const std::multimap<grpc::string_ref, grpc::string_ref>& client_metadata, const Policy& policy);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_AUTH_IDENTIFY_CALLER_H_

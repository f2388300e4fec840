#include "server/auth/identify_caller.h"

#include <grpc/grpc_security_constants.h>

#include <iterator>
#include <string_view>
#include <vector>

#include "server/auth/bearer_token.h"
#include "server/auth/certificate_identity.h"

namespace credvault::server {
namespace {

std::string_view View(grpc::string_ref ref) { return std::string_view(ref.data(), ref.size()); }

}  // namespace

absl::StatusOr<Principal> IdentifyCaller(
    const grpc::AuthContext* auth_context,
    const std::multimap<grpc::string_ref, grpc::string_ref>& client_metadata,
    const Policy& policy) {
  if (auth_context != nullptr) {
    const std::vector<grpc::string_ref> certificates =
        auth_context->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
    if (!certificates.empty()) return PrincipalFromCertificatePem(View(certificates.front()));
  }
  const auto [first, last] = client_metadata.equal_range("authorization");
  if (first == last) {
    return absl::UnauthenticatedError("no client certificate or bearer token");
  }
  if (std::next(first) != last) {
    return absl::UnauthenticatedError("more than one authorization header");
  }
  const absl::StatusOr<std::string_view> token = BearerTokenFromAuthorization(View(first->second));
  if (!token.ok()) return token.status();
  return policy.AuthenticateBearerToken(*token);
}

}  // namespace credvault::server

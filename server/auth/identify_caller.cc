#include "server/auth/identify_caller.h"

#include <grpc/grpc_security_constants.h>

#include <iterator>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "server/auth/bearer_token.h"
#include "server/auth/certificate_identity.h"
#include "server/auth/service_account_token.h"

namespace credvault::server {
namespace {

std::string_view View(grpc::string_ref ref) { return std::string_view(ref.data(), ref.size()); }

// Parsing a certificate costs far more than the rest of a request's crypto, and a client
// presents the same one on every call of a connection, so principals are remembered by
// the exact certificate bytes. Only certificates the TLS handshake already verified reach
// here, and a parse is a pure function of the bytes, so a remembered answer is as good as
// a fresh one. Bounded: when full it starts over.
class CertificatePrincipalCache {
 public:
  absl::StatusOr<Principal> Get(std::string_view pem) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto it = principals_.find(pem);
      if (it != principals_.end()) return it->second;
    }
    absl::StatusOr<Principal> principal = PrincipalFromCertificatePem(pem);
    if (!principal.ok()) return principal;
    std::lock_guard<std::mutex> lock(mutex_);
    if (principals_.size() >= kMaxEntries) principals_.clear();
    principals_.emplace(std::string(pem), *principal);
    return principal;
  }

 private:
  static constexpr std::size_t kMaxEntries = 4096;
  std::mutex mutex_;
  std::map<std::string, Principal, std::less<>> principals_;
};

CertificatePrincipalCache& Cache() {
  static auto* cache = new CertificatePrincipalCache();
  return *cache;
}

}  // namespace

absl::StatusOr<Principal> IdentifyCaller(
    const grpc::AuthContext* auth_context,
    const std::multimap<grpc::string_ref, grpc::string_ref>& client_metadata,
    const Policy& policy) {
  if (auth_context != nullptr) {
    const std::vector<grpc::string_ref> certificates =
        auth_context->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
    if (!certificates.empty()) return Cache().Get(View(certificates.front()));
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
  // A static token is random base64 or hex, never three dot-separated parts with a JSON
  // header, so the shape alone says which kind was sent.
  const ServiceAccountTokenVerifier* service_accounts = policy.service_account_tokens();
  if (service_accounts != nullptr && LooksLikeJwt(*token)) return service_accounts->Verify(*token);
  return policy.AuthenticateBearerToken(*token);
}

}  // namespace credvault::server

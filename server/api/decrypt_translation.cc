#include "server/api/decrypt_translation.h"

#include <cstdint>
#include <optional>

#include "absl/types/span.h"
#include "server/api/credential_translation.h"

namespace credvault::server {

namespace v1 = ::credvault::v1;

DecryptCredentialParams FromApi(const v1::DecryptCredentialRequest& request) {
  return DecryptCredentialParams{
      .org_id = request.org_id(),
      .name = request.name(),
      .version =
          request.has_version() ? std::optional<std::uint64_t>(request.version()) : std::nullopt,
      .purpose = request.purpose(),
  };
}

v1::DecryptCredentialResponse ToApi(const DecryptCredentialResult& result) {
  v1::DecryptCredentialResponse response;
  const absl::Span<const std::uint8_t> secret = result.secret.RevealSecret();
  response.set_secret(secret.data(), secret.size());
  *response.mutable_credential() = ToApi(result.credential);
  response.set_audit_sequence(result.audit_sequence);
  return response;
}

}  // namespace credvault::server

#ifndef CREDVAULT_SERVER_SERVICE_DECRYPT_REQUESTS_H_
#define CREDVAULT_SERVER_SERVICE_DECRYPT_REQUESTS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "crypto/secret_bytes.h"
#include "server/service/credential_metadata.h"

namespace credvault::server {

// CredentialAccessService.DecryptCredential as the decrypt tier takes and answers it. The
// fields carry the raw values of the request: AccessHandler validates them
// (api_validation.h).
struct DecryptCredentialParams {
  std::string org_id;
  std::string name;
  // Unset: the current version.
  std::optional<std::uint64_t> version;
  // Why the caller needs the secret, recorded verbatim in the audit event.
  std::string purpose;
};

// Made only once the credential.decrypt event is durable (docs/security-model.md).
struct DecryptCredentialResult {
  // The plaintext; wiped when the result dies. Moves only.
  crypto::SecretBytes secret;
  // The decrypted version.
  CredentialMetadata credential;
  // The credential.decrypt event of this call, in the org's audit chain.
  std::uint64_t audit_sequence = 0;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SERVICE_DECRYPT_REQUESTS_H_

#ifndef CREDVAULT_SERVER_SERVICE_CREDENTIAL_COMPARISON_H_
#define CREDVAULT_SERVER_SERVICE_CREDENTIAL_COMPARISON_H_

#include <cstdint>
#include <optional>
#include <string>

#include "crypto/secret_view.h"

namespace credvault::server {

// CompareCredential, as the write tier asks it and as the key authority answers it: is
// `candidate` the stored secret of `name` (at `version`, or the current one)?
struct CompareCredentialParams {
  std::string org_id;
  std::string name;
  // Unset: the current version.
  std::optional<std::uint64_t> version;
  // Borrowed from the request that carried it, whose owner wipes it once the call is over.
  crypto::SecretView candidate;
};

struct CompareCredentialResult {
  bool match = false;
  // The version compared against.
  std::uint64_t version = 0;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SERVICE_CREDENTIAL_COMPARISON_H_

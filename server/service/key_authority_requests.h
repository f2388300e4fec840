#ifndef CREDVAULT_SERVER_SERVICE_KEY_AUTHORITY_REQUESTS_H_
#define CREDVAULT_SERVER_SERVICE_KEY_AUTHORITY_REQUESTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "crypto/secret_view.h"

namespace credvault::server {

// The internal KeyAuthorityService as the decrypt tier takes it from a write tier of
// another process. Each request names the original caller (`principal`, `request_id`),
// whom the write tier, granted key_authority_client, is believed to act for
// (docs/security-model.md). The fields carry the raw values of the request:
// KeyAuthorityHandler validates them. A Compare is answered with a CompareCredentialResult
// (credential_comparison.h).

struct ProvisionOrgParams {
  std::string org_id;
  // The root key versions the asking write tier pins, in the order given.
  std::vector<std::uint32_t> pinned_root_key_versions;
  std::string request_id;
  std::string principal;
};

// Empty: success means the org exists.
struct ProvisionOrgResult {};

struct KeyAuthorityCompareParams {
  std::string org_id;
  std::string name;
  // Unset: the current version.
  std::optional<std::uint64_t> version;
  // Borrowed from the request that carried it, whose owner wipes it once the call is over.
  crypto::SecretView candidate;
  std::string principal;
  std::string request_id;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SERVICE_KEY_AUTHORITY_REQUESTS_H_

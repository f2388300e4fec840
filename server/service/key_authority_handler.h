#ifndef CREDVAULT_SERVER_SERVICE_KEY_AUTHORITY_HANDLER_H_
#define CREDVAULT_SERVER_SERVICE_KEY_AUTHORITY_HANDLER_H_

#include <cstddef>

#include "absl/status/statusor.h"
#include "server/base/call_context.h"
#include "server/service/credential_comparison.h"
#include "server/service/key_authority.h"
#include "server/service/key_authority_requests.h"

namespace credvault::server {

// The decrypt tier's internal KeyAuthorityService, free of gRPC: validates every field,
// then answers through the process's own key authority on behalf of the principal and
// request id that the write tier names. The caller (`call`) is a write tier that the
// policy grants key_authority_client for the org; that grant is why the principal it
// states is believed (docs/security-model.md).
class KeyAuthorityHandler {
 public:
  KeyAuthorityHandler(const KeyAuthority& authority, std::size_t max_secret_size)
      : authority_(authority), max_secret_size_(max_secret_size) {}

  absl::StatusOr<ProvisionOrgResult> ProvisionOrg(const CallContext& call,
                                                  const ProvisionOrgParams& params) const;
  absl::StatusOr<CompareCredentialResult> Compare(const CallContext& call,
                                                  const KeyAuthorityCompareParams& params) const;

 private:
  const KeyAuthority& authority_;
  const std::size_t max_secret_size_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SERVICE_KEY_AUTHORITY_HANDLER_H_

#ifndef CREDVAULT_SERVER_SERVICE_KEY_AUTHORITY_H_
#define CREDVAULT_SERVER_SERVICE_KEY_AUTHORITY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/base/call_context.h"
#include "server/service/credential_comparison.h"

namespace credvault::server {

// What the write tier asks of the key authority, the tier that holds the root private
// keys (docs/security-model.md): the write tier never makes an org key pair and never
// sees anything derived from a stored secret, so provisioning and comparisons are
// answered here.
class KeyAuthority {
 public:
  virtual ~KeyAuthority() = default;

  // Makes `org_id` with org key version 1 if it does not exist yet (audited as
  // org.provision), sealed to a root key among `pinned_root_versions` (the asking write
  // tier's pins; see MakeOrgKey); OK when it exists already, whatever its state. An
  // existing org's active key record made before records were signed is signed (once its
  // writer authenticator verifies).
  virtual absl::Status ProvisionOrg(
      const CallContext& call, const std::string& org_id,
      const std::vector<std::uint32_t>& pinned_root_versions) const = 0;

  // CompareCredential: decrypts the stored version and compares it with the candidate in
  // constant time; rate limited per (principal, org, name) across replicas; audited as
  // credential.compare whether answered or refused.
  virtual absl::StatusOr<CompareCredentialResult> Compare(
      const CallContext& call, const CompareCredentialParams& params) const = 0;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SERVICE_KEY_AUTHORITY_H_

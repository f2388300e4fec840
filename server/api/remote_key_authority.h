#ifndef CREDVAULT_SERVER_API_REMOTE_KEY_AUTHORITY_H_
#define CREDVAULT_SERVER_API_REMOTE_KEY_AUTHORITY_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "credvault/v1/key_authority.grpc.pb.h"
#include "server/config/config.h"
#include "server/config/config_secret.h"
#include "server/service/key_authority.h"

namespace credvault::server {

// The key authority of a write-only process (split mode): the decrypt tier's internal
// KeyAuthorityService, reached over TLS and authenticated with this process's client
// certificate or bearer token, whose policy entry holds key_authority_client. What goes
// back is public: nothing, or whether a candidate matched. The original caller's
// principal and request id travel with each call, for the audit event and the rate limit.
//
// Errors: the key authority's own answers (NOT_FOUND, FAILED_PRECONDITION,
// RESOURCE_EXHAUSTED, DATA_LOSS, ...) pass through with their error reason. A key
// authority that cannot be reached, refuses this process's identity or does not serve the
// service is UNAVAILABLE, with a message saying which; the caller's deadline is kept
// (DEADLINE_EXCEEDED).
class RemoteKeyAuthority final : public KeyAuthority {
 public:
  // Longest wait for one call when the caller set no deadline.
  static constexpr absl::Duration kDefaultTimeout = absl::Seconds(30);

  // Reads the files `config` names (CA, client certificate and key, or token file) and
  // builds the channel. Connecting is lazy: a key authority that is down does not stop
  // the write tier from starting.
  static absl::StatusOr<std::unique_ptr<RemoteKeyAuthority>> Create(
      const KeyAuthorityConfig& config);

  // Over `channel` (tests); `bearer_token` empty: none sent.
  RemoteKeyAuthority(std::shared_ptr<grpc::Channel> channel, std::string address,
                     ConfigSecret bearer_token);

  absl::Status ProvisionOrg(const CallContext& call, const std::string& org_id,
                            const std::vector<std::uint32_t>& pinned_root_versions) const override;
  absl::StatusOr<CompareCredentialResult> Compare(
      const CallContext& call, const CompareCredentialParams& params) const override;

 private:
  std::unique_ptr<grpc::ClientContext> NewContext(const CallContext& call) const;
  absl::Status FromGrpc(std::string_view method, const grpc::Status& status,
                        const grpc::ClientContext& context) const;

  const std::string address_;
  const ConfigSecret bearer_token_;
  const std::unique_ptr<credvault::v1::KeyAuthorityService::Stub> stub_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_API_REMOTE_KEY_AUTHORITY_H_

#include "server/api/key_authority_translation.h"

#include <cstdint>
#include <optional>

#include "absl/types/span.h"
#include "crypto/secret_view.h"

namespace credvault::server {

namespace v1 = ::credvault::v1;

ProvisionOrgParams FromApi(const v1::ProvisionOrgRequest& request) {
  return ProvisionOrgParams{
      .org_id = request.org_id(),
      .pinned_root_key_versions = {request.pinned_root_key_versions().begin(),
                                   request.pinned_root_key_versions().end()},
      .request_id = request.request_id(),
      .principal = request.principal(),
  };
}

v1::ProvisionOrgResponse ToApi(const ProvisionOrgResult&) { return v1::ProvisionOrgResponse(); }

v1::ProvisionOrgRequest ToApi(const ProvisionOrgParams& params) {
  v1::ProvisionOrgRequest request;
  request.set_org_id(params.org_id);
  for (const std::uint32_t version : params.pinned_root_key_versions) {
    request.add_pinned_root_key_versions(version);
  }
  request.set_request_id(params.request_id);
  request.set_principal(params.principal);
  return request;
}

KeyAuthorityCompareParams FromApi(const v1::KeyAuthorityCompareRequest& request) {
  return KeyAuthorityCompareParams{
      .org_id = request.org_id(),
      .name = request.name(),
      .version =
          request.has_version() ? std::optional<std::uint64_t>(request.version()) : std::nullopt,
      .candidate = crypto::SecretView::Borrow(request.candidate()),
      .principal = request.principal(),
      .request_id = request.request_id(),
  };
}

void ToApi(const KeyAuthorityCompareParams& params, v1::KeyAuthorityCompareRequest* request) {
  request->set_org_id(params.org_id);
  request->set_name(params.name);
  if (params.version.has_value()) {
    request->set_version(*params.version);
  } else {
    request->clear_version();
  }
  const absl::Span<const std::uint8_t> candidate = params.candidate.RevealSecret();
  request->set_candidate(candidate.data(), candidate.size());
  request->set_principal(params.principal);
  request->set_request_id(params.request_id);
}

CompareCredentialResult FromApi(const v1::CompareCredentialResponse& response) {
  return CompareCredentialResult{.match = response.match(), .version = response.version()};
}

}  // namespace credvault::server

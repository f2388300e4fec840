#include "server/api/remote_key_authority.h"

#include <algorithm>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "crypto/secret_bytes.h"
#include "server/api/api_error_reason.h"
#include "server/api/key_authority_translation.h"
#include "server/api/secret_fields.h"
#include "server/auth/bearer_token.h"
#include "server/base/error_reason.h"
#include "server/base/read_file.h"

namespace credvault::server {
namespace {

namespace v1 = ::credvault::v1;

// A token file holds the token and at most one trailing newline.
absl::StatusOr<ConfigSecret> ReadTokenFile(const std::string& path) {
  absl::StatusOr<std::string> read = ReadSmallFile(path, "key_authority.bearer_token_file", 8192);
  if (!read.ok()) return read.status();
  ConfigSecret token(*std::move(read));
  std::string_view value = token.RevealSecret();
  if (!value.empty() && value.back() == '\n') value.remove_suffix(1);
  if (!value.empty() && value.back() == '\r') value.remove_suffix(1);
  ConfigSecret trimmed{std::string(value)};
  return trimmed;
}

// The same rule as `credvaultd hash-token`: a token the server would refuse is better
// reported at start than on every first Put.
absl::Status CheckToken(std::string_view key, std::string_view token) {
  const bool visible =
      std::all_of(token.begin(), token.end(), [](char c) { return c > 0x20 && c < 0x7F; });
  if (token.size() < kMinBearerTokenLength || token.size() > kMaxBearerTokenLength || !visible) {
    return absl::InvalidArgumentError(
        std::string(key) + ": not a usable bearer token (32-4096 visible ASCII characters)");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<RemoteKeyAuthority>> RemoteKeyAuthority::Create(
    const KeyAuthorityConfig& config) {
  if (!config.tls.has_value()) {
    return absl::InvalidArgumentError("key_authority.tls: required");
  }
  grpc::SslCredentialsOptions tls;
  CV_ASSIGN_OR_RETURN(tls.pem_root_certs,
                      ReadSmallFile(config.tls->ca_file, "key_authority.tls.ca_file"));
  if (!config.tls->cert_file.empty()) {
    CV_ASSIGN_OR_RETURN(tls.pem_cert_chain,
                        ReadSmallFile(config.tls->cert_file, "key_authority.tls.cert_file"));
    CV_ASSIGN_OR_RETURN(tls.pem_private_key,
                        ReadSmallFile(config.tls->key_file, "key_authority.tls.key_file"));
  }
  // gRPC keeps its own copy of the private key; ours goes once the credentials exist.
  const absl::Cleanup wipe_key = [&tls] {
    crypto::WipeBytes(tls.pem_private_key.data(), tls.pem_private_key.size());
  };
  ConfigSecret token;
  if (!config.bearer_token_env.empty()) {
    token = config.bearer_token;
    CV_RETURN_IF_ERROR(CheckToken("key_authority.bearer_token_env", token.RevealSecret()));
  } else if (!config.bearer_token_file.empty()) {
    CV_ASSIGN_OR_RETURN(token, ReadTokenFile(config.bearer_token_file));
    CV_RETURN_IF_ERROR(CheckToken("key_authority.bearer_token_file", token.RevealSecret()));
  }
  grpc::ChannelArguments arguments;
  if (!config.server_name.empty()) {
    arguments.SetSslTargetNameOverride(config.server_name);
  }
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(config.address, grpc::SslCredentials(tls), arguments);
  return std::make_unique<RemoteKeyAuthority>(std::move(channel), config.address, std::move(token));
}

RemoteKeyAuthority::RemoteKeyAuthority(std::shared_ptr<grpc::Channel> channel, std::string address,
                                       ConfigSecret bearer_token)
    : address_(std::move(address)),
      bearer_token_(std::move(bearer_token)),
      stub_(v1::KeyAuthorityService::NewStub(channel)) {}

std::unique_ptr<grpc::ClientContext> RemoteKeyAuthority::NewContext(const CallContext& call) const {
  auto context = std::make_unique<grpc::ClientContext>();
  // The caller's deadline bounds the whole call, this hop included.
  const absl::Time deadline = std::min(call.deadline, absl::Now() + kDefaultTimeout);
  context->set_deadline(absl::ToChronoTime(deadline));
  // The same request id in both tiers' logs.
  if (!call.request_id.empty()) context->AddMetadata("x-request-id", call.request_id);
  if (!bearer_token_.empty()) {
    std::string header = "Bearer ";
    header.append(bearer_token_.RevealSecret());
    context->AddMetadata("authorization", header);
    crypto::WipeBytes(header.data(), header.size());
  }
  return context;
}

absl::Status RemoteKeyAuthority::FromGrpc(std::string_view method, const grpc::Status& status,
                                          const grpc::ClientContext& context) const {
  if (status.ok()) return absl::OkStatus();
  const std::string where = "key authority " + address_ + " (" + std::string(method) + ")";
  const auto code = static_cast<absl::StatusCode>(static_cast<int>(status.error_code()));
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return absl::UnavailableError(
          absl::StrCat(where, " is unavailable: ", status.error_message()));
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
      // A deployment problem of this process, not of its caller's rights.
      return absl::UnavailableError(absl::StrCat(
          where, " refused this write tier's identity (", absl::StatusCodeToString(code),
          "): the decrypt tier's policy must grant it key_authority_client for the org"));
    case grpc::StatusCode::UNIMPLEMENTED:
      return absl::UnavailableError(absl::StrCat(
          where,
          " does not serve credvault.v1.KeyAuthorityService: key_authority.address must "
          "name a decrypt listener"));
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNKNOWN:
      return absl::InternalError(absl::StrCat(where, ": ", status.error_message()));
    default:
      break;
  }
  // The key authority's own answer, with its reason, as if this process had given it.
  absl::Status passed(code, status.error_message());
  const auto& trailers = context.GetServerTrailingMetadata();
  if (const auto it = trailers.find("credvault-error-reason"); it != trailers.end()) {
    v1::ErrorReason reason = v1::ERROR_REASON_UNSPECIFIED;
    if (v1::ErrorReason_Parse(std::string(it->second.data(), it->second.size()), &reason)) {
      passed = WithReason(std::move(passed), FromApi(reason));
    }
  }
  return passed;
}

absl::Status RemoteKeyAuthority::ProvisionOrg(
    const CallContext& call, const std::string& org_id,
    const std::vector<std::uint32_t>& pinned_root_versions) const {
  const v1::ProvisionOrgRequest request = ToApi(ProvisionOrgParams{
      .org_id = org_id,
      .pinned_root_key_versions = pinned_root_versions,
      .request_id = call.request_id,
      .principal = call.principal,
  });
  v1::ProvisionOrgResponse response;
  const std::unique_ptr<grpc::ClientContext> context = NewContext(call);
  const grpc::Status status = stub_->ProvisionOrg(context.get(), request, &response);
  return FromGrpc("ProvisionOrg", status, *context);
}

absl::StatusOr<CompareCredentialResult> RemoteKeyAuthority::Compare(
    const CallContext& call, const CompareCredentialParams& params) const {
  v1::KeyAuthorityCompareRequest remote;
  // Our copy of the candidate is wiped whatever the outcome; it is never logged.
  const absl::Cleanup wipe_candidate = [&remote] { WipeSecretFields(&remote); };
  ToApi(
      KeyAuthorityCompareParams{
          .org_id = params.org_id,
          .name = params.name,
          .version = params.version,
          .candidate = params.candidate,
          .principal = call.principal,
          .request_id = call.request_id,
      },
      &remote);
  v1::CompareCredentialResponse response;
  const std::unique_ptr<grpc::ClientContext> context = NewContext(call);
  const grpc::Status status = stub_->CompareCredential(context.get(), remote, &response);
  CV_RETURN_IF_ERROR(FromGrpc("CompareCredential", status, *context));
  return FromApi(response);
}

}  // namespace credvault::server

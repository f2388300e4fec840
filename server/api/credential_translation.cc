#include "server/api/credential_translation.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "crypto/secret_view.h"
#include "server/api/timestamp_translation.h"
#include "server/service/api_validation.h"

namespace credvault::server {
namespace {

namespace v1 = ::credvault::v1;

std::map<std::string, std::string> SortedMap(
    const google::protobuf::Map<std::string, std::string>& map) {
  return {map.begin(), map.end()};
}

v1::CredentialState ToApi(CredentialState state) {
  switch (state) {
    case CredentialState::kActive:
      return v1::CREDENTIAL_STATE_ACTIVE;
    case CredentialState::kSoftDeleted:
      return v1::CREDENTIAL_STATE_SOFT_DELETED;
    case CredentialState::kErased:
      return v1::CREDENTIAL_STATE_ERASED;
  }
  return v1::CREDENTIAL_STATE_UNSPECIFIED;
}

}  // namespace

v1::CredentialMetadata ToApi(const CredentialMetadata& metadata) {
  v1::CredentialMetadata out;
  out.set_org_id(metadata.org_id);
  out.set_name(metadata.name);
  out.set_version(metadata.version);
  out.set_current_version(metadata.current_version);
  for (const auto& [key, value] : metadata.labels) (*out.mutable_labels())[key] = value;
  SetTimestamp(metadata.create_time, *out.mutable_create_time());
  SetTimestamp(metadata.update_time, *out.mutable_update_time());
  if (metadata.expire_time) SetTimestamp(*metadata.expire_time, *out.mutable_expire_time());
  out.set_created_by(metadata.created_by);
  out.set_max_versions(metadata.max_versions);
  out.set_live_version_count(metadata.live_version_count);
  out.set_state(ToApi(metadata.state));
  if (metadata.purge_time) SetTimestamp(*metadata.purge_time, *out.mutable_purge_time());
  if (metadata.delete_time) SetTimestamp(*metadata.delete_time, *out.mutable_delete_time());
  out.set_org_key_version(metadata.org_key_version);
  return out;
}

PutCredentialParams FromApi(const v1::PutCredentialRequest& request) {
  std::optional<std::uint64_t> expected_version;
  std::optional<bool> must_not_exist;
  switch (request.precondition_case()) {
    case v1::PutCredentialRequest::kExpectedVersion:
      expected_version = request.expected_version();
      break;
    case v1::PutCredentialRequest::kMustNotExist:
      must_not_exist = request.must_not_exist();
      break;
    case v1::PutCredentialRequest::PRECONDITION_NOT_SET:
      break;
  }
  std::optional<absl::Time> expire_time;
  std::optional<absl::Duration> ttl;
  switch (request.expiration_case()) {
    case v1::PutCredentialRequest::kExpireTime:
      // At full precision: the handler truncates what it stores, but tells requests apart
      // by every digit they carried (its idempotency digest).
      expire_time = absl::FromUnixSeconds(request.expire_time().seconds()) +
                    absl::Nanoseconds(request.expire_time().nanos());
      break;
    case v1::PutCredentialRequest::kTtl:
      ttl = absl::Seconds(request.ttl().seconds()) + absl::Nanoseconds(request.ttl().nanos());
      break;
    case v1::PutCredentialRequest::EXPIRATION_NOT_SET:
      break;
  }
  return PutCredentialParams{
      .org_id = request.org_id(),
      .name = request.name(),
      .secret = crypto::SecretView::Borrow(request.secret()),
      .labels = SortedMap(request.labels()),
      .expected_version = expected_version,
      .must_not_exist = must_not_exist,
      .idempotency_key = request.idempotency_key(),
      .expire_time = expire_time,
      .ttl = ttl,
      .max_versions = request.has_max_versions()
                          ? std::optional<std::uint32_t>(request.max_versions())
                          : std::nullopt,
  };
}

v1::PutCredentialResponse ToApi(const PutCredentialResult& result) {
  v1::PutCredentialResponse response;
  *response.mutable_credential() = ToApi(result.credential);
  response.set_idempotent_replay(result.idempotent_replay);
  return response;
}

absl::StatusOr<DeleteCredentialParams> FromApi(const v1::DeleteCredentialRequest& request) {
  DeleteCredentialParams params;
  params.org_id = request.org_id();
  params.name = request.name();
  switch (request.mode()) {
    case v1::DELETION_MODE_UNSPECIFIED:
      break;
    case v1::DELETION_MODE_SOFT:
      params.mode = storage::DeleteMode::kSoftDelete;
      break;
    case v1::DELETION_MODE_ERASE:
      params.mode = storage::DeleteMode::kCryptoErase;
      break;
    default:
      return InvalidField("mode", "unknown deletion mode");
  }
  if (request.has_expected_version()) params.expected_version = request.expected_version();
  params.idempotency_key = request.idempotency_key();
  return params;
}

v1::DeleteCredentialResponse ToApi(const DeleteCredentialResult& result) {
  v1::DeleteCredentialResponse response;
  *response.mutable_credential() = ToApi(result.credential);
  response.set_affected_version_count(result.affected_version_count);
  response.set_idempotent_replay(result.idempotent_replay);
  return response;
}

DescribeCredentialParams FromApi(const v1::DescribeCredentialRequest& request) {
  DescribeCredentialParams params;
  params.org_id = request.org_id();
  params.name = request.name();
  if (request.has_version()) params.version = request.version();
  params.show_deleted = request.show_deleted();
  return params;
}

v1::DescribeCredentialResponse ToApi(const DescribeCredentialResult& result) {
  v1::DescribeCredentialResponse response;
  *response.mutable_credential() = ToApi(result.credential);
  return response;
}

ListCredentialsParams FromApi(const v1::ListCredentialsRequest& request) {
  ListCredentialsParams params;
  params.org_id = request.org_id();
  params.page_size = request.page_size();
  params.page_token = request.page_token();
  params.name_prefix = request.name_prefix();
  params.label_selector = SortedMap(request.label_selector());
  params.include_deleted = request.include_deleted();
  return params;
}

v1::ListCredentialsResponse ToApi(const ListCredentialsResult& result) {
  v1::ListCredentialsResponse response;
  response.mutable_credentials()->Reserve(static_cast<int>(result.credentials.size()));
  for (const CredentialMetadata& credential : result.credentials) {
    *response.add_credentials() = ToApi(credential);
  }
  response.set_next_page_token(result.next_page_token);
  return response;
}

CompareCredentialParams FromApi(const v1::CompareCredentialRequest& request) {
  return CompareCredentialParams{
      .org_id = request.org_id(),
      .name = request.name(),
      .version =
          request.has_version() ? std::optional<std::uint64_t>(request.version()) : std::nullopt,
      .candidate = crypto::SecretView::Borrow(request.candidate()),
  };
}

v1::CompareCredentialResponse ToApi(const CompareCredentialResult& result) {
  v1::CompareCredentialResponse response;
  response.set_match(result.match);
  response.set_version(result.version);
  return response;
}

}  // namespace credvault::server

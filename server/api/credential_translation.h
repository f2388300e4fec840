#ifndef CREDVAULT_SERVER_API_CREDENTIAL_TRANSLATION_H_
#define CREDVAULT_SERVER_API_CREDENTIAL_TRANSLATION_H_

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "credvault/v1/common.pb.h"
#include "credvault/v1/credential_service.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "server/service/credential_comparison.h"
#include "server/service/credential_metadata.h"
#include "server/service/credential_requests.h"

namespace credvault::server {

// CredentialService's messages to and from the domain types of server/service. A
// translation refuses only what the domain type cannot hold (an unknown enum value); every
// other rule is the handler's (server/service/api_validation.h).

credvault::v1::CredentialMetadata ToApi(const CredentialMetadata& metadata);

// The secret is borrowed from `request`, which must outlive the params.
PutCredentialParams FromApi(const credvault::v1::PutCredentialRequest& request);
credvault::v1::PutCredentialResponse ToApi(const PutCredentialResult& result);

// INVALID_ARGUMENT "mode: ..." for a deletion mode this server does not know.
absl::StatusOr<DeleteCredentialParams> FromApi(
    const credvault::v1::DeleteCredentialRequest& request);
credvault::v1::DeleteCredentialResponse ToApi(const DeleteCredentialResult& result);

DescribeCredentialParams FromApi(const credvault::v1::DescribeCredentialRequest& request);
credvault::v1::DescribeCredentialResponse ToApi(const DescribeCredentialResult& result);

ListCredentialsParams FromApi(const credvault::v1::ListCredentialsRequest& request);
credvault::v1::ListCredentialsResponse ToApi(const ListCredentialsResult& result);

// The candidate is borrowed from `request`, which must outlive the params.
CompareCredentialParams FromApi(const credvault::v1::CompareCredentialRequest& request);
credvault::v1::CompareCredentialResponse ToApi(const CompareCredentialResult& result);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_API_CREDENTIAL_TRANSLATION_H_

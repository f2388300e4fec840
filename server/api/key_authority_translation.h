#ifndef CREDVAULT_SERVER_API_KEY_AUTHORITY_TRANSLATION_H_
#define CREDVAULT_SERVER_API_KEY_AUTHORITY_TRANSLATION_H_

#include "credvault/v1/credential_service.pb.h"
#include "credvault/v1/key_authority.pb.h"
#include "server/service/credential_comparison.h"
#include "server/service/key_authority_requests.h"

namespace credvault::server {

// The internal KeyAuthorityService's messages to and from the domain types of
// server/service, for both of its ends: the decrypt tier serving it (FromApi of a
// request, ToApi of a result) and a write-only process asking it (RemoteKeyAuthority:
// ToApi of the params, FromApi of the response). Every value is carried over as it is;
// KeyAuthorityHandler judges it. A Compare is answered as CredentialService's is: its
// response is made by ToApi(const CompareCredentialResult&) in credential_translation.h.

ProvisionOrgParams FromApi(const credvault::v1::ProvisionOrgRequest& request);
credvault::v1::ProvisionOrgResponse ToApi(const ProvisionOrgResult& result);
credvault::v1::ProvisionOrgRequest ToApi(const ProvisionOrgParams& params);

// The candidate is borrowed from `request`, which must outlive the params.
KeyAuthorityCompareParams FromApi(const credvault::v1::KeyAuthorityCompareRequest& request);
// Copies the candidate into `request`, whose owner wipes it (WipeSecretFields in
// secret_fields.h) once the call is over.
void ToApi(const KeyAuthorityCompareParams& params,
           credvault::v1::KeyAuthorityCompareRequest* request);
CompareCredentialResult FromApi(const credvault::v1::CompareCredentialResponse& response);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_API_KEY_AUTHORITY_TRANSLATION_H_

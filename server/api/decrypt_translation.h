#ifndef CREDVAULT_SERVER_API_DECRYPT_TRANSLATION_H_
#define CREDVAULT_SERVER_API_DECRYPT_TRANSLATION_H_

#include "credvault/v1/credential_access_service.pb.h"
#include "server/service/decrypt_requests.h"

namespace credvault::server {

// CredentialAccessService's messages to and from AccessHandler's terms. Every value is
// carried over as it is; the handler judges it (server/service/api_validation.h).

DecryptCredentialParams FromApi(const credvault::v1::DecryptCredentialRequest& request);

// The response's secret field is the only copy of the plaintext made here; `result` keeps
// and wipes its own. Return the response by value all the way into the message that
// server/api's SecretWipingAllocator owns: protobuf moves a message between two heap
// messages by swapping, so no other copy is left behind (secret_fields.h).
credvault::v1::DecryptCredentialResponse ToApi(const DecryptCredentialResult& result);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_API_DECRYPT_TRANSLATION_H_

#include "server/api/secret_fields.h"

#include "crypto/secret_bytes.h"

namespace credvault::server {

void WipeSecretFields(credvault::v1::PutCredentialRequest* request) {
  crypto::WipeString(request->mutable_secret());
}

void WipeSecretFields(credvault::v1::CompareCredentialRequest* request) {
  crypto::WipeString(request->mutable_candidate());
}

void WipeSecretFields(credvault::v1::KeyAuthorityCompareRequest* request) {
  crypto::WipeString(request->mutable_candidate());
}

void WipeSecretFields(credvault::v1::DecryptCredentialResponse* response) {
  crypto::WipeString(response->mutable_secret());
}

}  // namespace credvault::server

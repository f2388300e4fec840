#include "server/api/secret_fields.h"

#include <sodium.h>

namespace credvault::server {

void WipeString(std::string* bytes) {
  // Growing to the capacity never reallocates, and makes the spare bytes part of the value
  // so that they may be written.
  bytes->resize(bytes->capacity());
  sodium_memzero(bytes->data(), bytes->size());
  bytes->clear();
}

void WipeSecretFields(credvault::v1::PutCredentialRequest* request) {
  WipeString(request->mutable_secret());
}

void WipeSecretFields(credvault::v1::CompareCredentialRequest* request) {
  WipeString(request->mutable_candidate());
}

void WipeSecretFields(credvault::v1::KeyAuthorityCompareRequest* request) {
  WipeString(request->mutable_candidate());
}

void WipeSecretFields(credvault::v1::DecryptCredentialResponse* response) {
  WipeString(response->mutable_secret());
}

}  // namespace credvault::server

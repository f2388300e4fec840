#ifndef CREDVAULT_SERVER_API_SECRET_FIELDS_H_
#define CREDVAULT_SERVER_API_SECRET_FIELDS_H_

#include <grpcpp/support/message_allocator.h>

#include <functional>
#include <string>
#include <utility>

#include "credvault/v1/credential_access_service.pb.h"
#include "credvault/v1/credential_service.pb.h"
#include "credvault/v1/key_authority.pb.h"

namespace credvault::server {

// Wipes (crypto::WipeString) the fields of the API's messages that carry a plaintext:
// PutCredentialRequest.secret, CompareCredentialRequest.candidate and
// DecryptCredentialResponse.secret. The overload for any other message does nothing, so that a
// request and response pair can be wiped alike.
void WipeSecretFields(credvault::v1::PutCredentialRequest* request);
void WipeSecretFields(credvault::v1::CompareCredentialRequest* request);
void WipeSecretFields(credvault::v1::KeyAuthorityCompareRequest* request);
void WipeSecretFields(credvault::v1::DecryptCredentialResponse* response);
inline void WipeSecretFields(google::protobuf::Message*) {}

// The messages of one callback unary method, allocated by us instead of by gRPC so that
// their plaintext fields are wiped when gRPC releases them. gRPC releases a method's
// messages once the call is over (after the reactor's OnDone, so after the response was
// serialized and sent), including calls refused before the handler ran and requests that
// failed to parse; the handler keeps seeing a const request, as the generated API gives it.
// What gRPC's own byte buffers held (the serialized request and response) is not ours to
// wipe (docs/security-model.md, "Hardening checks").
template <typename Request, typename Response>
class SecretWipingAllocator final : public grpc::MessageAllocator<Request, Response> {
 public:
  // Told about each pair of messages after it was wiped and before it is freed (tests).
  using AfterWipe = std::function<void(const Request&, const Response&)>;

  explicit SecretWipingAllocator(AfterWipe after_wipe = nullptr)
      : after_wipe_(std::move(after_wipe)) {}

  grpc::MessageHolder<Request, Response>* AllocateMessages() override {
    return new Holder(after_wipe_);
  }

 private:
  class Holder final : public grpc::MessageHolder<Request, Response> {
   public:
    explicit Holder(const AfterWipe& after_wipe) : after_wipe_(after_wipe) {
      this->set_request(&request_);
      this->set_response(&response_);
    }

    void Release() override {
      WipeSecretFields(&request_);
      WipeSecretFields(&response_);
      if (after_wipe_) after_wipe_(request_, response_);
      delete this;
    }

   private:
    const AfterWipe& after_wipe_;  // the allocator's, which outlives the server
    Request request_;
    Response response_;
  };

  const AfterWipe after_wipe_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_API_SECRET_FIELDS_H_

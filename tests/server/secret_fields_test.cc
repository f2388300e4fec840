// Plaintext fields of the API's messages are wiped in place: crypto::WipeString and
// WipeSecretFields on their own, then SecretWipingAllocator under a real in-process gRPC
// server, where the bytes are checked through pointers taken while the handler ran, after
// gRPC has released the call's messages and before they are freed.
#include "server/api/secret_fields.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "credvault/v1/credential_access_service.grpc.pb.h"
#include "credvault/v1/credential_service.grpc.pb.h"
#include "crypto/secret_bytes.h"
#include "gtest/gtest.h"

namespace credvault::server {
namespace {

namespace v1 = ::credvault::v1;

// A buffer seen through a pointer taken before wiping: whether every byte is zero.
bool AllZero(const char* data, std::size_t size) {
  return std::all_of(data, data + size, [](char c) { return c == '\0'; });
}

TEST(WipeStringTest, ZeroesTheBufferInPlaceAndEmptiesTheString) {
  std::string secret(200, 's');  // longer than any small-string buffer
  const char* const buffer = secret.data();
  const std::size_t capacity = secret.capacity();
  ASSERT_FALSE(AllZero(buffer, secret.size()));

  crypto::WipeString(&secret);

  EXPECT_TRUE(secret.empty());
  EXPECT_EQ(secret.data(), buffer) << "the buffer must be wiped where it is, not replaced";
  EXPECT_TRUE(AllZero(buffer, capacity));
}

TEST(WipeStringTest, ZeroesWhatAShorterValueLeftInTheSpareCapacity) {
  std::string secret(300, 'p');
  secret.assign("short");  // keeps the buffer, whose tail still holds the longer value
  const char* const buffer = secret.data();
  const std::size_t capacity = secret.capacity();
  ASSERT_GE(capacity, 300u);
  ASSERT_EQ(buffer[100], 'p');

  crypto::WipeString(&secret);

  EXPECT_EQ(secret.data(), buffer);
  EXPECT_TRUE(AllZero(buffer, capacity));
}

TEST(WipeStringTest, WipesASmallStringToo) {
  std::string secret = "pin";
  crypto::WipeString(&secret);
  EXPECT_TRUE(secret.empty());
  EXPECT_TRUE(AllZero(secret.data(), secret.capacity()));
}

TEST(WipeSecretFieldsTest, WipesOnlyThePlaintextFieldOfEachMessage) {
  const std::string plaintext(120, 'k');

  v1::PutCredentialRequest put;
  put.set_org_id("acme");
  put.set_secret(plaintext);
  const char* const put_buffer = put.secret().data();
  const std::size_t put_capacity = put.secret().capacity();
  WipeSecretFields(&put);
  EXPECT_TRUE(put.secret().empty());
  EXPECT_TRUE(AllZero(put_buffer, put_capacity));
  EXPECT_EQ(put.org_id(), "acme");

  v1::CompareCredentialRequest compare;
  compare.set_name("crm-token");
  compare.set_candidate(plaintext);
  const char* const compare_buffer = compare.candidate().data();
  const std::size_t compare_capacity = compare.candidate().capacity();
  WipeSecretFields(&compare);
  EXPECT_TRUE(compare.candidate().empty());
  EXPECT_TRUE(AllZero(compare_buffer, compare_capacity));
  EXPECT_EQ(compare.name(), "crm-token");

  v1::KeyAuthorityCompareRequest forwarded;
  forwarded.set_name("crm-token");
  forwarded.set_candidate(plaintext);
  const char* const forwarded_buffer = forwarded.candidate().data();
  const std::size_t forwarded_capacity = forwarded.candidate().capacity();
  WipeSecretFields(&forwarded);
  EXPECT_TRUE(forwarded.candidate().empty());
  EXPECT_TRUE(AllZero(forwarded_buffer, forwarded_capacity));
  EXPECT_EQ(forwarded.name(), "crm-token");

  v1::DecryptCredentialResponse decrypt;
  decrypt.set_audit_sequence(7);
  decrypt.set_secret(plaintext);
  const char* const decrypt_buffer = decrypt.secret().data();
  const std::size_t decrypt_capacity = decrypt.secret().capacity();
  WipeSecretFields(&decrypt);
  EXPECT_TRUE(decrypt.secret().empty());
  EXPECT_TRUE(AllZero(decrypt_buffer, decrypt_capacity));
  EXPECT_EQ(decrypt.audit_sequence(), 7u);
}

// --- Under a gRPC server ------------------------------------------------------------------

// Where a plaintext lived during a call, and what was found there once gRPC released the
// call's messages.
class Observed {
 public:
  void SawBuffer(const std::string& field) {
    absl::MutexLock lock(&mutex_);
    buffer_ = field.data();
    capacity_ = field.capacity();
  }
  void Released(const std::string& field) {
    absl::MutexLock lock(&mutex_);
    released_ = true;
    field_empty_ = field.empty();
    buffer_zero_ = buffer_ != nullptr && AllZero(buffer_, capacity_);
  }
  // Waits for the release; whether the field was empty and its old buffer all zeros.
  bool WipedOnRelease() {
    absl::MutexLock lock(&mutex_);
    const auto released = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return released_; };
    if (!mutex_.AwaitWithTimeout(absl::Condition(&released), absl::Seconds(10))) {
      ADD_FAILURE() << "gRPC never released the call's messages";
      return false;
    }
    return field_empty_ && buffer_zero_;
  }

 private:
  absl::Mutex mutex_;
  const char* buffer_ ABSL_GUARDED_BY(mutex_) = nullptr;
  std::size_t capacity_ ABSL_GUARDED_BY(mutex_) = 0;
  bool released_ ABSL_GUARDED_BY(mutex_) = false;
  bool field_empty_ ABSL_GUARDED_BY(mutex_) = false;
  bool buffer_zero_ ABSL_GUARDED_BY(mutex_) = false;
};

const std::string& Plaintext() {
  static const std::string* const plaintext = new std::string(4096, 'z');
  return *plaintext;
}

// Services wired as server/api/grpc_services.h wires the real ones, with handlers that only
// note where the plaintext is.
class FakeCredentialService final : public v1::CredentialService::CallbackService {
 public:
  explicit FakeCredentialService(Observed& observed)
      : observed_(observed),
        put_messages_(
            [this](const v1::PutCredentialRequest& request, const v1::PutCredentialResponse&) {
              observed_.Released(request.secret());
            }) {
    SetMessageAllocatorFor_PutCredential(&put_messages_);
  }

  grpc::ServerUnaryReactor* PutCredential(grpc::CallbackServerContext* context,
                                          const v1::PutCredentialRequest* request,
                                          v1::PutCredentialResponse* response) override {
    observed_.SawBuffer(request->secret());
    response->mutable_credential()->set_version(request->secret() == Plaintext() ? 1 : 0);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  Observed& observed_;
  SecretWipingAllocator<v1::PutCredentialRequest, v1::PutCredentialResponse> put_messages_;
};

class FakeAccessService final : public v1::CredentialAccessService::CallbackService {
 public:
  explicit FakeAccessService(Observed& observed)
      : observed_(observed),
        decrypt_messages_([this](const v1::DecryptCredentialRequest&,
                                 const v1::DecryptCredentialResponse& response) {
          observed_.Released(response.secret());
        }) {
    SetMessageAllocatorFor_DecryptCredential(&decrypt_messages_);
  }

  grpc::ServerUnaryReactor* DecryptCredential(grpc::CallbackServerContext* context,
                                              const v1::DecryptCredentialRequest*,
                                              v1::DecryptCredentialResponse* response) override {
    response->set_secret(Plaintext());
    observed_.SawBuffer(response->secret());
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  Observed& observed_;
  SecretWipingAllocator<v1::DecryptCredentialRequest, v1::DecryptCredentialResponse>
      decrypt_messages_;
};

class SecretWipingAllocatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&credentials_);
    builder.RegisterService(&access_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port_),
                                   grpc::InsecureChannelCredentials());
  }
  void TearDown() override { server_->Shutdown(); }

  std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return context;
  }

  Observed put_observed_;
  Observed decrypt_observed_;
  FakeCredentialService credentials_{put_observed_};
  FakeAccessService access_{decrypt_observed_};
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(SecretWipingAllocatorTest, RequestSecretIsWipedAfterTheHandlerSawItWhole) {
  auto stub = v1::CredentialService::NewStub(channel_);
  v1::PutCredentialRequest request;
  request.set_secret(Plaintext());
  v1::PutCredentialResponse response;
  const grpc::Status status = stub->PutCredential(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.credential().version(), 1u) << "the handler did not see the whole secret";
  EXPECT_TRUE(put_observed_.WipedOnRelease());
}

TEST_F(SecretWipingAllocatorTest, ResponseSecretIsWipedOnlyAfterItWasSent) {
  auto stub = v1::CredentialAccessService::NewStub(channel_);
  v1::DecryptCredentialResponse response;
  const grpc::Status status =
      stub->DecryptCredential(Context().get(), v1::DecryptCredentialRequest(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.secret(), Plaintext()) << "wiped before gRPC serialized the response";
  EXPECT_TRUE(decrypt_observed_.WipedOnRelease());
}

}  // namespace
}  // namespace credvault::server

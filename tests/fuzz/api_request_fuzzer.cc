// The v1 API's field validation (server/service/api_validation.h, server/service/page_token.h) on
// request messages parsed from arbitrary bytes, in the order the handlers run it before they touch
// the database: CredentialHandler::Put and ::List (server/service/credential_handler.cc) and
// AccessHandler::Decrypt (server/service/access_handler.cc). The first byte picks the message;
// the rest is its wire encoding.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "credvault/v1/credential_access_service.pb.h"
#include "credvault/v1/credential_service.pb.h"
#include "google/protobuf/stubs/logging.h"
#include "server/service/api_validation.h"
#include "server/service/page_token.h"
#include "tests/fuzz/fuzz_keys.h"

namespace {

namespace v1 = ::credvault::v1;
using ::credvault::server::DecodePageToken;
using ::credvault::server::kMaxLabels;
using ::credvault::server::kMaxPageSize;
using ::credvault::server::kMaxPurposeLength;
using ::credvault::server::NormalizePageSize;
using ::credvault::server::PageQuery;
using ::credvault::server::ValidateCredentialName;
using ::credvault::server::ValidateIdempotencyKey;
using ::credvault::server::ValidateLabels;
using ::credvault::server::ValidateNamePrefix;
using ::credvault::server::ValidateOrgId;
using ::credvault::server::ValidatePurpose;
using ::credvault::server::ValidateSecretSize;

// CredentialHandler's default (server/service/credential_handler.h).
constexpr std::size_t kMaxSecretSize = 64 * 1024;

const credvault::crypto::WriterKeyRing* keys = nullptr;

// A label map as the handlers take it (server/api/credential_translation.cc).
std::map<std::string, std::string> Labels(
    const google::protobuf::Map<std::string, std::string>& labels) {
  return {labels.begin(), labels.end()};
}

void Check(bool condition) {
  if (!condition) std::abort();
}

// A validation failure is a client error.
void CheckRefusal(const absl::Status& status) {
  Check(status.code() == absl::StatusCode::kInvalidArgument ||
        status.code() == absl::StatusCode::kResourceExhausted);
}

absl::Status ValidatePut(const v1::PutCredentialRequest& request) {
  if (absl::Status s = ValidateOrgId("org_id", request.org_id()); !s.ok()) return s;
  if (absl::Status s = ValidateCredentialName("name", request.name()); !s.ok()) return s;
  if (absl::Status s = ValidateSecretSize("secret", request.secret().size(), kMaxSecretSize);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateLabels("labels", Labels(request.labels())); !s.ok()) return s;
  return ValidateIdempotencyKey("idempotency_key", request.idempotency_key());
}

absl::Status ValidateDecrypt(const v1::DecryptCredentialRequest& request) {
  if (absl::Status s = ValidateOrgId("org_id", request.org_id()); !s.ok()) return s;
  if (absl::Status s = ValidateCredentialName("name", request.name()); !s.ok()) return s;
  if (request.has_version() && request.version() == 0) {
    return absl::InvalidArgumentError("version: must be at least 1");
  }
  return ValidatePurpose("purpose", request.purpose());
}

absl::Status ValidateList(const v1::ListCredentialsRequest& request) {
  if (absl::Status s = ValidateOrgId("org_id", request.org_id()); !s.ok()) return s;
  if (absl::Status s = ValidateNamePrefix("name_prefix", request.name_prefix()); !s.ok()) {
    return s;
  }
  const std::map<std::string, std::string> label_selector = Labels(request.label_selector());
  if (absl::Status s = ValidateLabels("label_selector", label_selector); !s.ok()) return s;
  int page_size = 0;
  if (absl::Status s = NormalizePageSize("page_size", request.page_size(), page_size); !s.ok()) {
    return s;
  }
  Check(page_size >= 1 && page_size <= kMaxPageSize);
  PageQuery query("ListCredentials");
  query.Add(request.org_id())
      .Add(request.name_prefix())
      .Add(label_selector)
      .Add(std::uint64_t{request.include_deleted()});
  if (request.page_token().empty()) return absl::OkStatus();
  return DecodePageToken(*keys, query, "page_token", request.page_token()).status();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  keys = new credvault::crypto::WriterKeyRing(credvault::fuzz::FuzzWriterKeys());
  // Invalid UTF-8 in a string field makes the parser log an error per input.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t kind = data[0] % 3;
  const void* wire = data + 1;
  const int wire_size = static_cast<int>(size - 1);
  switch (kind) {
    case 0: {
      v1::PutCredentialRequest request;
      if (!request.ParseFromArray(wire, wire_size)) return 0;
      absl::Status status = ValidatePut(request);
      // The verdict depends on the secret's size only: the same request with other secret
      // bytes gets the same status, so no message can carry any of the secret.
      for (char& c : *request.mutable_secret()) c = static_cast<char>(~c);
      Check(ValidatePut(request) == status);
      if (!status.ok()) {
        CheckRefusal(status);
      } else {
        Check(!request.secret().empty() && request.secret().size() <= kMaxSecretSize);
        Check(static_cast<std::size_t>(request.labels().size()) <= kMaxLabels);
      }
      break;
    }
    case 1: {
      v1::DecryptCredentialRequest request;
      if (!request.ParseFromArray(wire, wire_size)) return 0;
      absl::Status status = ValidateDecrypt(request);
      if (!status.ok()) {
        CheckRefusal(status);
      } else {
        Check(!request.purpose().empty() && request.purpose().size() <= kMaxPurposeLength);
      }
      break;
    }
    default: {
      v1::ListCredentialsRequest request;
      if (!request.ParseFromArray(wire, wire_size)) return 0;
      absl::Status status = ValidateList(request);
      if (!status.ok()) CheckRefusal(status);
      break;
    }
  }
  return 0;
}

// Every input rule of the API, RPC by RPC, straight at the handlers of server/service
// against the real database roles: each bad input is refused with its exact code, the
// message names the field ("<field>: <why>", server/service/api_validation.h), and the
// database is left exactly as it was. The rules are those of proto/credvault/v1/*.proto
// and server/service/api_validation.{h,cc}, plus each handler's own checks.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/api/credential_translation.h"
#include "server/api/decrypt_translation.h"
#include "server/api/key_authority_translation.h"
#include "server/api/key_rotation_translation.h"
#include "server/api/org_translation.h"
#include "server/base/error_reason.h"
#include "tests/service/service_fixture.h"

namespace credvault::server::testing {
namespace {

namespace v1 = ::credvault::v1;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kOrg[] = "bad-input";
constexpr char kOtherOrg[] = "other-org";
constexpr char kGoneOrg[] = "gone-org";
constexpr std::size_t kMaxSecret = 64 * 1024;
// 10000-01-01T00:00:00Z: one second after the latest expiry the API accepts.
constexpr std::int64_t kYear10000 = 253402300800;

struct Case {
  std::string what;
  std::function<absl::Status()> call;
  absl::StatusCode code;
  // The message starts with "<field>:"; empty for refusals about state, not a field.
  std::string field;
  // Checked when set: the API error reason the status carries.
  ErrorReason reason = ErrorReason::kUnspecified;
  // Checked when set: the message contains this.
  std::string mentions = "";
};

// `handler.method(call, request)` by `principal`, its status only.
template <typename Handler, typename Method, typename Request>
std::function<absl::Status()> Calling(const Handler& handler, Method method, Request request,
                                      const std::string& principal) {
  return [&handler, method, request = std::move(request), principal] {
    return (handler.*method)(ServiceStack::Call(principal), request).status();
  };
}

// As Calling, but `request` is the API's message, translated first as server/api does
// (defined below).
template <typename Handler, typename Method, typename Request>
std::function<absl::Status()> CallingViaApi(const Handler& handler, Method method, Request request,
                                            const std::string& principal);

class BadInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    stack_ = ServiceStack::Create();
    ServiceStack& stack = *stack_;
    ASSERT_TRUE(stack.CreateOrg(kOrg).ok());
    ASSERT_TRUE(stack.CreateOrg(kOtherOrg).ok());
    ASSERT_TRUE(stack.CreateOrg(kGoneOrg).ok());

    // "kept" at version 2 with a label; "idem" made under an idempotency key; "removed"
    // soft-deleted under another.
    v1::PutCredentialRequest kept = BasePut();
    kept.set_secret("the one");
    (*kept.mutable_labels())["env"] = "prod";
    ASSERT_TRUE(stack.credentials().Put(ServiceStack::Call(kWriterPrincipal), FromApi(kept)).ok());
    ASSERT_TRUE(stack.Put(kOrg, "kept", "the two").ok());
    v1::PutCredentialRequest idem = BasePut();
    idem.set_name("idem");
    idem.set_idempotency_key("put-key-1");
    ASSERT_TRUE(stack.credentials().Put(ServiceStack::Call(kWriterPrincipal), FromApi(idem)).ok());
    ASSERT_TRUE(stack.Put(kOrg, "removed", "soon gone").ok());
    v1::DeleteCredentialRequest remove;
    remove.set_org_id(kOrg);
    remove.set_name("removed");
    remove.set_idempotency_key("delete-key-1");
    const absl::StatusOr<DeleteCredentialParams> removal = FromApi(remove);
    ASSERT_TRUE(removal.ok()) << removal.status();
    ASSERT_TRUE(stack.credentials().Delete(ServiceStack::Call(kWriterPrincipal), *removal).ok());

    ASSERT_TRUE(stack.Put(kOtherOrg, "a", "x").ok());
    ASSERT_TRUE(stack.Put(kOtherOrg, "b", "y").ok());

    ASSERT_TRUE(stack.Put(kGoneOrg, "kept", "shredded").ok());
    const DestroyOrgParams destroy{
        .org_id = kGoneOrg, .confirm_org_id = kGoneOrg, .reason = "service test"};
    ASSERT_TRUE(stack.orgs().DestroyOrg(ServiceStack::Call(kAdminPrincipal), destroy).ok());
  }

  static void TearDownTestSuite() { stack_.reset(); }

  static v1::PutCredentialRequest BasePut() {
    v1::PutCredentialRequest request;
    request.set_org_id(kOrg);
    request.set_name("kept");
    request.set_secret("value");
    return request;
  }

  // Runs every case: its code, field and reason, and nothing written by it.
  static void ExpectRefused(const std::vector<Case>& cases) {
    const std::string before = stack_->DatabaseFingerprint();
    for (const Case& c : cases) {
      SCOPED_TRACE(c.what);
      const absl::Status status = c.call();
      EXPECT_EQ(status.code(), c.code) << status;
      if (!c.field.empty()) {
        EXPECT_THAT(std::string(status.message()), StartsWith(c.field + ":")) << status;
      }
      if (c.reason != ErrorReason::kUnspecified) {
        EXPECT_EQ(ReasonOf(status), c.reason) << status;
      }
      if (!c.mentions.empty()) {
        EXPECT_THAT(std::string(status.message()), HasSubstr(c.mentions)) << status;
      }
      EXPECT_EQ(stack_->DatabaseFingerprint(), before) << "the refused call wrote to the database";
    }
  }

  // The cases every RPC that takes an org id shares (ValidateOrgId).
  static std::vector<Case> OrgIdCases(
      const std::function<std::function<absl::Status()>(const std::string&)>& with_org,
      ErrorReason reason = ErrorReason::kInvalidField) {
    const absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;
    return {
        {"empty org id", with_org(""), kInvalid, "org_id", reason},
        {"upper-case org id", with_org("Org"), kInvalid, "org_id", reason},
        {"65-character org id", with_org(std::string(65, 'o')), kInvalid, "org_id", reason},
        {"org id starting with -", with_org("-org"), kInvalid, "org_id", reason},
        {"org id starting with .", with_org(".org"), kInvalid, "org_id", reason},
        {"org id with /", with_org("org/x"), kInvalid, "org_id", reason},
        {"org id with a space", with_org("org x"), kInvalid, "org_id", reason},
        {"the reserved _system", with_org("_system"), kInvalid, "org_id", reason},
    };
  }

  // The cases of every credential name field (ValidateCredentialName).
  static std::vector<Case> NameCases(
      const std::function<std::function<absl::Status()>(const std::string&)>& with_name,
      ErrorReason reason = ErrorReason::kInvalidField) {
    const absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;
    return {
        {"empty name", with_name(""), kInvalid, "name", reason},
        {"201-character name", with_name(std::string(201, 'n')), kInvalid, "name", reason},
        {"name starting with .", with_name(".hidden"), kInvalid, "name", reason},
        {"name starting with /", with_name("/abs"), kInvalid, "name", reason},
        {"name with a space", with_name("a b"), kInvalid, "name", reason},
        {"non-ASCII name", with_name("caf\xc3\xa9"), kInvalid, "name", reason},
        {"name with //", with_name("a//b"), kInvalid, "name", reason},
        {"name ending with /", with_name("a/"), kInvalid, "name", reason},
        {"name with a . segment", with_name("a/./b"), kInvalid, "name", reason},
        {"name with a .. segment", with_name("a/../b"), kInvalid, "name", reason},
        {"name ending with a .. segment", with_name("a/.."), kInvalid, "name", reason},
    };
  }

  static void Append(std::vector<Case>& to, std::vector<Case> more) {
    for (Case& c : more) to.push_back(std::move(c));
  }

  static std::unique_ptr<ServiceStack> stack_;
};

std::unique_ptr<ServiceStack> BadInputTest::stack_;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;
constexpr ErrorReason kInvalidField = ErrorReason::kInvalidField;

TEST_F(BadInputTest, PutCredential) {
  const CredentialHandler& handler = stack_->credentials();
  const auto put = [&](v1::PutCredentialRequest request) {
    return CallingViaApi(handler, &CredentialHandler::Put, std::move(request), kWriterPrincipal);
  };
  const auto with = [&](const std::function<void(v1::PutCredentialRequest&)>& edit) {
    v1::PutCredentialRequest request = BasePut();
    edit(request);
    return put(std::move(request));
  };
  std::vector<Case> cases = OrgIdCases(
      [&](const std::string& org) { return with([org](auto& r) { r.set_org_id(org); }); });
  Append(cases, NameCases([&](const std::string& name) {
           return with([name](auto& r) { r.set_name(name); });
         }));
  std::map<std::string, std::string> many;
  for (int i = 0; i < 33; ++i) many["k" + std::to_string(i)] = "v";
  Append(
      cases,
      {
          {"empty secret", with([](auto& r) { r.set_secret(""); }), kInvalid, "secret",
           kInvalidField},
          {"oversized secret",
           with([](auto& r) { r.set_secret(std::string(kMaxSecret + 1, 'x')); }),
           absl::StatusCode::kResourceExhausted, "secret", ErrorReason::kSecretTooLarge},
          {"33 labels",
           with([&many](auto& r) { r.mutable_labels()->insert(many.begin(), many.end()); }),
           kInvalid, "labels", kInvalidField},
          {"upper-case label key", with([](auto& r) { (*r.mutable_labels())["Bad"] = "v"; }),
           kInvalid, "labels key", kInvalidField},
          {"empty label key", with([](auto& r) { (*r.mutable_labels())[""] = "v"; }), kInvalid,
           "labels key", kInvalidField},
          {"64-character label key",
           with([](auto& r) { (*r.mutable_labels())[std::string(64, 'k')] = "v"; }), kInvalid,
           "labels key", kInvalidField},
          {"label key starting with -", with([](auto& r) { (*r.mutable_labels())["-k"] = "v"; }),
           kInvalid, "labels key", kInvalidField},
          {"257-byte label value",
           with([](auto& r) { (*r.mutable_labels())["k"] = std::string(257, 'v'); }), kInvalid,
           "labels[k]", kInvalidField},
          {"label value that is not UTF-8",
           with([](auto& r) { (*r.mutable_labels())["k"] = "\xff\xfe"; }), kInvalid, "labels[k]",
           kInvalidField},
          {"label value with a newline",
           with([](auto& r) { (*r.mutable_labels())["k"] = "line\nbreak"; }), kInvalid, "labels[k]",
           kInvalidField},
          {"label value with DEL", with([](auto& r) { (*r.mutable_labels())["k"] = "a\x7f"; }),
           kInvalid, "labels[k]", kInvalidField},
          {"label value with a C1 control",
           with([](auto& r) { (*r.mutable_labels())["k"] = "a\xc2\x85"; }), kInvalid, "labels[k]",
           kInvalidField},
          {"129-character idempotency key",
           with([](auto& r) { r.set_idempotency_key(std::string(129, 'i')); }), kInvalid,
           "idempotency_key", kInvalidField},
          {"idempotency key with a space",
           with([](auto& r) { r.set_idempotency_key("has space"); }), kInvalid, "idempotency_key",
           kInvalidField},
          {"idempotency key with /", with([](auto& r) { r.set_idempotency_key("a/b"); }), kInvalid,
           "idempotency_key", kInvalidField},
          {"expected_version 0", with([](auto& r) { r.set_expected_version(0); }), kInvalid,
           "expected_version", kInvalidField},
          {"must_not_exist false", with([](auto& r) { r.set_must_not_exist(false); }), kInvalid,
           "must_not_exist", kInvalidField},
          {"expire_time in the past", with([](auto& r) {
             r.mutable_expire_time()->set_seconds(absl::ToUnixSeconds(absl::Now()) - 60);
           }),
           kInvalid, "expire_time", kInvalidField},
          {"expire_time after 9999-12-31",
           with([](auto& r) { r.mutable_expire_time()->set_seconds(kYear10000); }), kInvalid,
           "expire_time", kInvalidField},
          {"ttl under 1s", with([](auto& r) { r.mutable_ttl()->set_nanos(500000000); }), kInvalid,
           "ttl", kInvalidField},
          {"ttl of 0", with([](auto& r) { r.mutable_ttl()->set_seconds(0); }), kInvalid, "ttl",
           kInvalidField},
          {"ttl ending after 9999-12-31",
           with([](auto& r) { r.mutable_ttl()->set_seconds(kYear10000); }), kInvalid, "ttl",
           kInvalidField},
          {"max_versions 101", with([](auto& r) { r.set_max_versions(101); }), kInvalid,
           "max_versions", kInvalidField},
          // Check-and-set: refused by the database function, which writes nothing.
          {"stale expected_version", with([](auto& r) { r.set_expected_version(1); }),
           absl::StatusCode::kAborted, "expected_version", ErrorReason::kVersionMismatch,
           "current version is 2"},
          {"expected_version of a version to come",
           with([](auto& r) { r.set_expected_version(3); }), absl::StatusCode::kAborted,
           "expected_version", ErrorReason::kVersionMismatch},
          {"must_not_exist on a live credential", with([](auto& r) { r.set_must_not_exist(true); }),
           absl::StatusCode::kAlreadyExists, "must_not_exist", ErrorReason::kCredentialExists},
          {"idempotency key reused for another request", with([](auto& r) {
             r.set_name("idem");
             r.set_idempotency_key("put-key-1");
             (*r.mutable_labels())["changed"] = "yes";
           }),
           absl::StatusCode::kFailedPrecondition, "idempotency_key",
           ErrorReason::kIdempotencyKeyReused},
          {"destroyed org", with([](auto& r) { r.set_org_id(kGoneOrg); }),
           absl::StatusCode::kFailedPrecondition, "", ErrorReason::kOrgDestroyed,
           "org gone-org is destroyed"},
      });
  ExpectRefused(cases);
}

TEST_F(BadInputTest, DeleteCredential) {
  const CredentialHandler& handler = stack_->credentials();
  const auto with = [&](const std::function<void(v1::DeleteCredentialRequest&)>& edit) {
    v1::DeleteCredentialRequest request;
    request.set_org_id(kOrg);
    request.set_name("kept");
    edit(request);
    return CallingViaApi(handler, &CredentialHandler::Delete, std::move(request), kWriterPrincipal);
  };
  std::vector<Case> cases = OrgIdCases(
      [&](const std::string& org) { return with([org](auto& r) { r.set_org_id(org); }); });
  Append(cases, NameCases([&](const std::string& name) {
           return with([name](auto& r) { r.set_name(name); });
         }));
  Append(cases,
         {
             {"idempotency key with a space",
              with([](auto& r) { r.set_idempotency_key("has space"); }), kInvalid,
              "idempotency_key", kInvalidField},
             {"129-character idempotency key",
              with([](auto& r) { r.set_idempotency_key(std::string(129, 'i')); }), kInvalid,
              "idempotency_key", kInvalidField},
             {"unknown deletion mode",
              with([](auto& r) { r.set_mode(static_cast<v1::DeletionMode>(99)); }), kInvalid,
              "mode", kInvalidField},
             {"expected_version 0", with([](auto& r) { r.set_expected_version(0); }), kInvalid,
              "expected_version", kInvalidField},
             {"stale expected_version", with([](auto& r) { r.set_expected_version(1); }),
              absl::StatusCode::kAborted, "expected_version", ErrorReason::kVersionMismatch,
              "the current version is 2"},
             {"unknown name", with([](auto& r) { r.set_name("nope"); }),
              absl::StatusCode::kNotFound, "", ErrorReason::kCredentialNotFound},
             {"already deleted", with([](auto& r) { r.set_name("removed"); }),
              absl::StatusCode::kNotFound, "", ErrorReason::kCredentialNotFound, "already deleted"},
             {"idempotency key reused for another request", with([](auto& r) {
                r.set_idempotency_key("delete-key-1");
                r.set_mode(v1::DELETION_MODE_ERASE);
              }),
              absl::StatusCode::kFailedPrecondition, "idempotency_key",
              ErrorReason::kIdempotencyKeyReused},
             {"unknown org", with([](auto& r) { r.set_org_id("no-such-org"); }),
              absl::StatusCode::kNotFound, "", ErrorReason::kOrgNotFound,
              "org no-such-org does not exist"},
             {"destroyed org", with([](auto& r) { r.set_org_id(kGoneOrg); }),
              absl::StatusCode::kFailedPrecondition, "", ErrorReason::kOrgDestroyed},
         });
  ExpectRefused(cases);
}

TEST_F(BadInputTest, DescribeCredential) {
  const CredentialHandler& handler = stack_->credentials();
  const auto with = [&](const std::function<void(v1::DescribeCredentialRequest&)>& edit) {
    v1::DescribeCredentialRequest request;
    request.set_org_id(kOrg);
    request.set_name("kept");
    edit(request);
    return CallingViaApi(handler, &CredentialHandler::Describe, std::move(request),
                         kWriterPrincipal);
  };
  std::vector<Case> cases = OrgIdCases(
      [&](const std::string& org) { return with([org](auto& r) { r.set_org_id(org); }); });
  Append(cases, NameCases([&](const std::string& name) {
           return with([name](auto& r) { r.set_name(name); });
         }));
  Append(cases, {
                    {"version 0", with([](auto& r) { r.set_version(0); }), kInvalid, "version",
                     kInvalidField},
                    {"unknown name", with([](auto& r) { r.set_name("nope"); }),
                     absl::StatusCode::kNotFound, "", ErrorReason::kCredentialNotFound},
                    {"unknown version", with([](auto& r) { r.set_version(9); }),
                     absl::StatusCode::kNotFound, "", ErrorReason::kCredentialNotFound},
                    {"deleted credential without show_deleted",
                     with([](auto& r) { r.set_name("removed"); }), absl::StatusCode::kNotFound, "",
                     ErrorReason::kCredentialNotFound},
                    {"unknown org", with([](auto& r) { r.set_org_id("no-such-org"); }),
                     absl::StatusCode::kNotFound, "", ErrorReason::kOrgNotFound,
                     "org no-such-org does not exist"},
                    {"destroyed org", with([](auto& r) { r.set_org_id(kGoneOrg); }),
                     absl::StatusCode::kFailedPrecondition, "", ErrorReason::kOrgDestroyed},
                });
  ExpectRefused(cases);
}

TEST_F(BadInputTest, ListCredentials) {
  const CredentialHandler& handler = stack_->credentials();
  const auto with = [&](const std::function<void(v1::ListCredentialsRequest&)>& edit) {
    v1::ListCredentialsRequest request;
    request.set_org_id(kOrg);
    edit(request);
    return CallingViaApi(handler, &CredentialHandler::List, std::move(request), kWriterPrincipal);
  };
  // A genuine token of the first page of another org, and of this org unfiltered.
  const auto token_of = [&](const std::string& org) {
    v1::ListCredentialsRequest first;
    first.set_org_id(org);
    first.set_page_size(1);
    absl::StatusOr<ListCredentialsResult> page =
        handler.List(ServiceStack::Call(kWriterPrincipal), FromApi(first));
    EXPECT_TRUE(page.ok()) << page.status();
    EXPECT_FALSE(page->next_page_token.empty());
    return page->next_page_token;
  };
  const std::string other_org_token = token_of(kOtherOrg);
  const std::string unfiltered_token = token_of(kOrg);
  std::string altered = unfiltered_token;
  altered[altered.size() / 2] = altered[altered.size() / 2] == 'A' ? 'B' : 'A';
  std::map<std::string, std::string> many;
  for (int i = 0; i < 33; ++i) many["k" + std::to_string(i)] = "v";
  const ErrorReason kBadToken = ErrorReason::kInvalidPageToken;

  std::vector<Case> cases = OrgIdCases(
      [&](const std::string& org) { return with([org](auto& r) { r.set_org_id(org); }); });
  Append(
      cases,
      {
          {"name_prefix starting with /", with([](auto& r) { r.set_name_prefix("/x"); }), kInvalid,
           "name_prefix", kInvalidField},
          {"name_prefix with //", with([](auto& r) { r.set_name_prefix("a//"); }), kInvalid,
           "name_prefix", kInvalidField},
          {"name_prefix with a space", with([](auto& r) { r.set_name_prefix("a b"); }), kInvalid,
           "name_prefix", kInvalidField},
          {"201-character name_prefix",
           with([](auto& r) { r.set_name_prefix(std::string(201, 'n')); }), kInvalid, "name_prefix",
           kInvalidField},
          {"upper-case label_selector key",
           with([](auto& r) { (*r.mutable_label_selector())["Env"] = "prod"; }), kInvalid,
           "label_selector key", kInvalidField},
          {"label_selector value with a newline",
           with([](auto& r) { (*r.mutable_label_selector())["env"] = "a\nb"; }), kInvalid,
           "label_selector[env]", kInvalidField},
          {"33 labels in label_selector",
           with([&many](auto& r) { r.mutable_label_selector()->insert(many.begin(), many.end()); }),
           kInvalid, "label_selector", kInvalidField},
          {"negative page_size", with([](auto& r) { r.set_page_size(-1); }), kInvalid, "page_size",
           kInvalidField},
          {"page_token that is not base64",
           with([](auto& r) { r.set_page_token("!!not base64!!"); }), kInvalid, "page_token",
           kBadToken},
          {"page_token too short", with([](auto& r) { r.set_page_token("AAAA"); }), kInvalid,
           "page_token", kBadToken},
          {"page_token of another org", with([&](auto& r) { r.set_page_token(other_org_token); }),
           kInvalid, "page_token", kBadToken},
          {"page_token of another name_prefix", with([&](auto& r) {
             r.set_page_token(unfiltered_token);
             r.set_name_prefix("k");
           }),
           kInvalid, "page_token", kBadToken},
          {"page_token of another label_selector", with([&](auto& r) {
             r.set_page_token(unfiltered_token);
             (*r.mutable_label_selector())["env"] = "prod";
           }),
           kInvalid, "page_token", kBadToken},
          {"page_token of another include_deleted", with([&](auto& r) {
             r.set_page_token(unfiltered_token);
             r.set_include_deleted(true);
           }),
           kInvalid, "page_token", kBadToken},
          {"altered page_token", with([&](auto& r) { r.set_page_token(altered); }), kInvalid,
           "page_token", kBadToken},
          {"unknown org", with([](auto& r) { r.set_org_id("no-such-org"); }),
           absl::StatusCode::kNotFound, "", ErrorReason::kOrgNotFound,
           "org no-such-org does not exist"},
          {"destroyed org", with([](auto& r) { r.set_org_id(kGoneOrg); }),
           absl::StatusCode::kFailedPrecondition, "", ErrorReason::kOrgDestroyed},
      });
  ExpectRefused(cases);
}

TEST_F(BadInputTest, CompareCredential) {
  const CredentialHandler& handler = stack_->credentials();
  const auto with = [&](const std::function<void(v1::CompareCredentialRequest&)>& edit) {
    v1::CompareCredentialRequest request;
    request.set_org_id(kOrg);
    request.set_name("kept");
    request.set_candidate("guess");
    edit(request);
    return CallingViaApi(handler, &CredentialHandler::Compare, std::move(request),
                         kWriterPrincipal);
  };
  std::vector<Case> cases = OrgIdCases(
      [&](const std::string& org) { return with([org](auto& r) { r.set_org_id(org); }); });
  Append(cases, NameCases([&](const std::string& name) {
           return with([name](auto& r) { r.set_name(name); });
         }));
  Append(cases,
         {
             {"version 0", with([](auto& r) { r.set_version(0); }), kInvalid, "version",
              kInvalidField},
             {"empty candidate", with([](auto& r) { r.set_candidate(""); }), kInvalid, "candidate",
              kInvalidField},
             {"oversized candidate",
              with([](auto& r) { r.set_candidate(std::string(kMaxSecret + 1, 'c')); }),
              absl::StatusCode::kResourceExhausted, "candidate", ErrorReason::kSecretTooLarge},
         });
  ExpectRefused(cases);
}

TEST_F(BadInputTest, DecryptCredential) {
  const AccessHandler& handler = stack_->access();
  const auto with = [&](const std::function<void(v1::DecryptCredentialRequest&)>& edit) {
    v1::DecryptCredentialRequest request;
    request.set_org_id(kOrg);
    request.set_name("kept");
    request.set_purpose("service test");
    edit(request);
    return CallingViaApi(handler, &AccessHandler::Decrypt, std::move(request), kDecryptorPrincipal);
  };
  std::vector<Case> cases = OrgIdCases(
      [&](const std::string& org) { return with([org](auto& r) { r.set_org_id(org); }); });
  Append(cases, NameCases([&](const std::string& name) {
           return with([name](auto& r) { r.set_name(name); });
         }));
  Append(cases,
         {
             {"version 0", with([](auto& r) { r.set_version(0); }), kInvalid, "version",
              kInvalidField},
             {"empty purpose", with([](auto& r) { r.set_purpose(""); }), kInvalid, "purpose",
              kInvalidField},
             {"257-character purpose", with([](auto& r) { r.set_purpose(std::string(257, 'p')); }),
              kInvalid, "purpose", kInvalidField},
             {"purpose with a newline", with([](auto& r) { r.set_purpose("why\nforged: line"); }),
              kInvalid, "purpose", kInvalidField},
             {"purpose with a tab", with([](auto& r) { r.set_purpose("why\tnot"); }), kInvalid,
              "purpose", kInvalidField},
             {"purpose with DEL", with([](auto& r) { r.set_purpose("why\x7f"); }), kInvalid,
              "purpose", kInvalidField},
             {"non-ASCII purpose", with([](auto& r) { r.set_purpose("caf\xc3\xa9"); }), kInvalid,
              "purpose", kInvalidField},
             {"purpose with a leading space", with([](auto& r) { r.set_purpose(" why"); }),
              kInvalid, "purpose", kInvalidField},
             {"purpose with a trailing space", with([](auto& r) { r.set_purpose("why "); }),
              kInvalid, "purpose", kInvalidField},
             // No org, no chain: nothing to audit.
             {"unknown org", with([](auto& r) { r.set_org_id("no-such-org"); }),
              absl::StatusCode::kNotFound, "", ErrorReason::kOrgNotFound,
              "org no-such-org does not exist"},
         });
  ExpectRefused(cases);
}

TEST_F(BadInputTest, KeyAuthorityProvisionOrg) {
  const KeyAuthorityHandler& handler = stack_->key_authority_service();
  const auto with = [&](const std::function<void(v1::ProvisionOrgRequest&)>& edit) {
    v1::ProvisionOrgRequest request;
    request.set_org_id("to-provision");
    request.add_pinned_root_key_versions(1);
    request.set_principal(kWriterPrincipal);
    request.set_request_id("req-1");
    edit(request);
    return CallingViaApi(handler, &KeyAuthorityHandler::ProvisionOrg, std::move(request),
                         "spiffe://credvault.test/write-tier");
  };
  // This internal service's refusals carry no API error reason.
  std::vector<Case> cases = OrgIdCases(
      [&](const std::string& org) { return with([org](auto& r) { r.set_org_id(org); }); },
      ErrorReason::kUnspecified);
  Append(
      cases,
      {
          {"no pinned root key version", with([](auto& r) { r.clear_pinned_root_key_versions(); }),
           kInvalid, "pinned_root_key_versions"},
          {"65 pinned root key versions", with([](auto& r) {
             for (std::uint32_t v = 2; v <= 65; ++v) r.add_pinned_root_key_versions(v);
           }),
           kInvalid, "pinned_root_key_versions"},
          {"pinned root key version 0", with([](auto& r) { r.add_pinned_root_key_versions(0); }),
           kInvalid, "pinned_root_key_versions"},
          {"a pinned version twice", with([](auto& r) { r.add_pinned_root_key_versions(1); }),
           kInvalid, "pinned_root_key_versions"},
          {"empty request_id", with([](auto& r) { r.set_request_id(""); }), kInvalid, "request_id"},
          {"65-character request_id", with([](auto& r) { r.set_request_id(std::string(65, 'r')); }),
           kInvalid, "request_id"},
          {"request_id with a space", with([](auto& r) { r.set_request_id("req 1"); }), kInvalid,
           "request_id"},
          {"empty principal", with([](auto& r) { r.set_principal(""); }), kInvalid, "principal"},
          {"1025-byte principal", with([](auto& r) { r.set_principal(std::string(1025, 'p')); }),
           kInvalid, "principal"},
          {"principal with a newline", with([](auto& r) { r.set_principal("cn:a\ncn:b"); }),
           kInvalid, "principal"},
          {"principal with DEL", with([](auto& r) { r.set_principal("cn:a\x7f"); }), kInvalid,
           "principal"},
      });
  ExpectRefused(cases);
}

TEST_F(BadInputTest, KeyAuthorityCompareCredential) {
  const KeyAuthorityHandler& handler = stack_->key_authority_service();
  const auto with = [&](const std::function<void(v1::KeyAuthorityCompareRequest&)>& edit) {
    v1::KeyAuthorityCompareRequest request;
    request.set_org_id(kOrg);
    request.set_name("kept");
    request.set_candidate("guess");
    request.set_principal(kWriterPrincipal);
    request.set_request_id("req-1");
    edit(request);
    return CallingViaApi(handler, &KeyAuthorityHandler::Compare, std::move(request),
                         "spiffe://credvault.test/write-tier");
  };
  std::vector<Case> cases = OrgIdCases(
      [&](const std::string& org) { return with([org](auto& r) { r.set_org_id(org); }); },
      ErrorReason::kUnspecified);
  Append(cases,
         NameCases(
             [&](const std::string& name) { return with([name](auto& r) { r.set_name(name); }); },
             ErrorReason::kUnspecified));
  Append(
      cases,
      {
          {"version 0", with([](auto& r) { r.set_version(0); }), kInvalid, "version"},
          {"empty candidate", with([](auto& r) { r.set_candidate(""); }), kInvalid, "candidate"},
          {"oversized candidate",
           with([](auto& r) { r.set_candidate(std::string(kMaxSecret + 1, 'c')); }),
           absl::StatusCode::kResourceExhausted, "candidate"},
          {"empty principal", with([](auto& r) { r.set_principal(""); }), kInvalid, "principal"},
          {"principal with a newline", with([](auto& r) { r.set_principal("cn:a\ncn:b"); }),
           kInvalid, "principal"},
          {"empty request_id", with([](auto& r) { r.set_request_id(""); }), kInvalid, "request_id"},
          {"request_id with /", with([](auto& r) { r.set_request_id("a/b"); }), kInvalid,
           "request_id"},
      });
  ExpectRefused(cases);
}

// The params of the API's `request` as server/api makes them: either the params, or the
// refusal of what they cannot hold (an enum value unknown to the domain).
template <typename Params>
absl::StatusOr<Params> Translated(Params params) {
  return params;
}
template <typename Params>
absl::StatusOr<Params> Translated(absl::StatusOr<Params> params) {
  return params;
}

// As Calling, but `request` is the API's message, translated first as server/api does.
template <typename Handler, typename Method, typename Request>
std::function<absl::Status()> CallingViaApi(const Handler& handler, Method method, Request request,
                                            const std::string& principal) {
  return [&handler, method, request = std::move(request), principal]() -> absl::Status {
    const auto params = Translated(FromApi(request));
    if (!params.ok()) return params.status();
    return (handler.*method)(ServiceStack::Call(principal), *params).status();
  };
}

TEST_F(BadInputTest, CreateOrg) {
  const OrgHandler& handler = stack_->orgs();
  const auto with = [&](const std::function<void(v1::CreateOrgRequest&)>& edit) {
    v1::CreateOrgRequest request;
    request.set_org_id("new-org");
    edit(request);
    return CallingViaApi(handler, &OrgHandler::CreateOrg, std::move(request), kAdminPrincipal);
  };
  std::vector<Case> cases = OrgIdCases(
      [&](const std::string& org) { return with([org](auto& r) { r.set_org_id(org); }); });
  Append(cases,
         {
             {"idempotency key with a space",
              with([](auto& r) { r.set_idempotency_key("has space"); }), kInvalid,
              "idempotency_key", kInvalidField},
             {"existing org", with([](auto& r) { r.set_org_id(kOrg); }),
              absl::StatusCode::kAlreadyExists, "", ErrorReason::kOrgExists,
              "org bad-input already exists"},
             {"existing org under an idempotency key it was not made with", with([](auto& r) {
                r.set_org_id(kOrg);
                r.set_idempotency_key("never-used");
              }),
              absl::StatusCode::kAlreadyExists, "", ErrorReason::kOrgExists},
             {"destroyed org", with([](auto& r) { r.set_org_id(kGoneOrg); }),
              absl::StatusCode::kAlreadyExists, "", ErrorReason::kOrgExists},
         });
  ExpectRefused(cases);
}

TEST_F(BadInputTest, DescribeOrg) {
  const OrgHandler& handler = stack_->orgs();
  const auto with_org = [&](const std::string& org) {
    v1::DescribeOrgRequest request;
    request.set_org_id(org);
    return CallingViaApi(handler, &OrgHandler::DescribeOrg, std::move(request), kAdminPrincipal);
  };
  std::vector<Case> cases = OrgIdCases(with_org);
  Append(cases, {{"unknown org", with_org("no-such-org"), absl::StatusCode::kNotFound, "",
                  ErrorReason::kOrgNotFound, "org no-such-org does not exist"}});
  ExpectRefused(cases);
}

TEST_F(BadInputTest, ListOrgs) {
  const OrgHandler& handler = stack_->orgs();
  const auto with = [&](const std::function<void(v1::ListOrgsRequest&)>& edit) {
    v1::ListOrgsRequest request;
    edit(request);
    return CallingViaApi(handler, &OrgHandler::ListOrgs, std::move(request), kAdminPrincipal);
  };
  ListOrgsParams first;
  first.page_size = 1;
  const absl::StatusOr<ListOrgsResult> page =
      handler.ListOrgs(ServiceStack::Call(kAdminPrincipal), first);
  ASSERT_TRUE(page.ok()) << page.status();
  const std::string token = page->next_page_token;
  ASSERT_FALSE(token.empty());
  const ErrorReason kBadToken = ErrorReason::kInvalidPageToken;
  ExpectRefused({
      {"negative page_size", with([](auto& r) { r.set_page_size(-1); }), kInvalid, "page_size",
       kInvalidField},
      {"unknown state", with([](auto& r) { r.set_state(static_cast<v1::OrgState>(99)); }), kInvalid,
       "state", kInvalidField},
      {"page_token that is not base64", with([](auto& r) { r.set_page_token("!!"); }), kInvalid,
       "page_token", kBadToken},
      {"page_token of another state filter", with([&](auto& r) {
         r.set_page_token(token);
         r.set_state(v1::ORG_STATE_ACTIVE);
       }),
       kInvalid, "page_token", kBadToken},
  });
}

TEST_F(BadInputTest, DestroyOrg) {
  const OrgHandler& handler = stack_->orgs();
  const auto with = [&](const std::function<void(v1::DestroyOrgRequest&)>& edit) {
    v1::DestroyOrgRequest request;
    request.set_org_id(kOrg);
    request.set_confirm_org_id(kOrg);
    request.set_reason("service test");
    edit(request);
    return CallingViaApi(handler, &OrgHandler::DestroyOrg, std::move(request), kAdminPrincipal);
  };
  std::vector<Case> cases = OrgIdCases([&](const std::string& org) {
    return with([org](auto& r) {
      r.set_org_id(org);
      r.set_confirm_org_id(org);
    });
  });
  Append(
      cases,
      {
          {"confirm_org_id missing", with([](auto& r) { r.clear_confirm_org_id(); }), kInvalid,
           "confirm_org_id", kInvalidField},
          {"confirm_org_id of another org", with([](auto& r) { r.set_confirm_org_id(kOtherOrg); }),
           kInvalid, "confirm_org_id", kInvalidField},
          {"empty reason", with([](auto& r) { r.set_reason(""); }), kInvalid, "reason",
           kInvalidField},
          {"reason with a newline", with([](auto& r) { r.set_reason("a\nb"); }), kInvalid, "reason",
           kInvalidField},
          {"reason with a leading space", with([](auto& r) { r.set_reason(" a"); }), kInvalid,
           "reason", kInvalidField},
          {"257-character reason", with([](auto& r) { r.set_reason(std::string(257, 'r')); }),
           kInvalid, "reason", kInvalidField},
          {"unknown org", with([](auto& r) {
             r.set_org_id("no-such-org");
             r.set_confirm_org_id("no-such-org");
           }),
           absl::StatusCode::kNotFound, "", ErrorReason::kOrgNotFound,
           "org no-such-org does not exist"},
      });
  ExpectRefused(cases);
}

TEST_F(BadInputTest, RotateOrgKey) {
  const KeyRotationHandler& handler = stack_->key_rotation();
  const auto with = [&](const std::function<void(v1::RotateOrgKeyRequest&)>& edit) {
    v1::RotateOrgKeyRequest request;
    request.set_org_id(kOrg);
    edit(request);
    return CallingViaApi(handler, &KeyRotationHandler::RotateOrgKey, std::move(request),
                         kAdminPrincipal);
  };
  std::vector<Case> cases = OrgIdCases(
      [&](const std::string& org) { return with([org](auto& r) { r.set_org_id(org); }); });
  Append(cases, {
                    {"idempotency key with a space",
                     with([](auto& r) { r.set_idempotency_key("has space"); }), kInvalid,
                     "idempotency_key", kInvalidField},
                    {"129-character idempotency key",
                     with([](auto& r) { r.set_idempotency_key(std::string(129, 'i')); }), kInvalid,
                     "idempotency_key", kInvalidField},
                    {"unknown org", with([](auto& r) { r.set_org_id("no-such-org"); }),
                     absl::StatusCode::kNotFound, "", ErrorReason::kOrgNotFound},
                    {"destroyed org", with([](auto& r) { r.set_org_id(kGoneOrg); }),
                     absl::StatusCode::kFailedPrecondition, "", ErrorReason::kOrgDestroyed},
                });
  ExpectRefused(cases);
}

TEST_F(BadInputTest, DestroyOrgKeyVersion) {
  const KeyRotationHandler& handler = stack_->key_rotation();
  const auto with = [&](const std::function<void(v1::DestroyOrgKeyVersionRequest&)>& edit) {
    v1::DestroyOrgKeyVersionRequest request;
    request.set_org_id(kOrg);
    request.set_key_version(1);
    request.set_reason("service test");
    edit(request);
    return CallingViaApi(handler, &KeyRotationHandler::DestroyOrgKeyVersion, std::move(request),
                         kAdminPrincipal);
  };
  std::vector<Case> cases = OrgIdCases(
      [&](const std::string& org) { return with([org](auto& r) { r.set_org_id(org); }); });
  Append(
      cases,
      {
          {"key_version 0", with([](auto& r) { r.set_key_version(0); }), kInvalid, "key_version",
           kInvalidField},
          {"key_version above 2^31-1", with([](auto& r) { r.set_key_version(0x80000000u); }),
           kInvalid, "key_version", kInvalidField},
          {"empty reason", with([](auto& r) { r.set_reason(""); }), kInvalid, "reason",
           kInvalidField},
          {"reason with a trailing space", with([](auto& r) { r.set_reason("a "); }), kInvalid,
           "reason", kInvalidField},
          // The active key cannot be destroyed, and a version that never existed is not found.
          {"the active key version", with([](auto&) {}), absl::StatusCode::kFailedPrecondition, ""},
          {"a version that does not exist", with([](auto& r) { r.set_key_version(7); }),
           absl::StatusCode::kNotFound, ""},
          {"unknown org", with([](auto& r) { r.set_org_id("no-such-org"); }),
           absl::StatusCode::kNotFound, "", ErrorReason::kOrgNotFound},
          {"destroyed org", with([](auto& r) { r.set_org_id(kGoneOrg); }),
           absl::StatusCode::kFailedPrecondition, "", ErrorReason::kOrgDestroyed},
      });
  ExpectRefused(cases);
}

TEST_F(BadInputTest, RotateRootKey) {
  const KeyRotationHandler& handler = stack_->key_rotation();
  const auto with_key = [&](const std::string& key) {
    v1::RotateRootKeyRequest request;
    request.set_idempotency_key(key);
    return CallingViaApi(handler, &KeyRotationHandler::RotateRootKey, std::move(request),
                         kAdminPrincipal);
  };
  ExpectRefused({
      {"idempotency key with a space", with_key("has space"), kInvalid, "idempotency_key",
       kInvalidField},
      {"129-character idempotency key", with_key(std::string(129, 'i')), kInvalid,
       "idempotency_key", kInvalidField},
  });
}

// The audit and re-seal job RPCs also take `_system`, the chain of root key events.
std::vector<Case> SystemOrgIdCases(
    const std::function<std::function<absl::Status()>(const std::string&)>& with_org) {
  return {
      {"empty org id", with_org(""), kInvalid, "org_id", kInvalidField},
      {"upper-case org id", with_org("Org"), kInvalid, "org_id", kInvalidField},
      {"65-character org id", with_org(std::string(65, 'o')), kInvalid, "org_id", kInvalidField},
      {"_system misspelt", with_org("_System"), kInvalid, "org_id", kInvalidField},
      {"org id starting with _", with_org("_sys"), kInvalid, "org_id", kInvalidField},
  };
}

TEST_F(BadInputTest, GetResealJob) {
  const KeyRotationHandler& handler = stack_->key_rotation();
  const auto with = [&](const std::function<void(v1::GetResealJobRequest&)>& edit) {
    v1::GetResealJobRequest request;
    request.set_org_id(kOrg);
    request.set_job_id("rj-0123456789abcdef0123");
    edit(request);
    return CallingViaApi(handler, &KeyRotationHandler::GetResealJob, std::move(request),
                         kAdminPrincipal);
  };
  std::vector<Case> cases = SystemOrgIdCases(
      [&](const std::string& org) { return with([org](auto& r) { r.set_org_id(org); }); });
  Append(cases,
         {
             {"empty job_id", with([](auto& r) { r.set_job_id(""); }), kInvalid, "job_id",
              kInvalidField},
             {"65-character job_id", with([](auto& r) { r.set_job_id(std::string(65, 'j')); }),
              kInvalid, "job_id", kInvalidField},
             {"job_id with /", with([](auto& r) { r.set_job_id("rj/1"); }), kInvalid, "job_id",
              kInvalidField},
             {"unknown job", with([](auto&) {}), absl::StatusCode::kNotFound, "",
              ErrorReason::kJobNotFound},
             {"unknown job of _system", with([](auto& r) { r.set_org_id("_system"); }),
              absl::StatusCode::kNotFound, "", ErrorReason::kJobNotFound},
             {"unknown org", with([](auto& r) { r.set_org_id("no-such-org"); }),
              absl::StatusCode::kNotFound, "", ErrorReason::kOrgNotFound},
         });
  ExpectRefused(cases);
}

TEST_F(BadInputTest, ListResealJobs) {
  const KeyRotationHandler& handler = stack_->key_rotation();
  const auto with = [&](const std::function<void(v1::ListResealJobsRequest&)>& edit) {
    v1::ListResealJobsRequest request;
    request.set_org_id(kOrg);
    edit(request);
    return CallingViaApi(handler, &KeyRotationHandler::ListResealJobs, std::move(request),
                         kAdminPrincipal);
  };
  std::vector<Case> cases = SystemOrgIdCases(
      [&](const std::string& org) { return with([org](auto& r) { r.set_org_id(org); }); });
  Append(cases, {
                    {"negative page_size", with([](auto& r) { r.set_page_size(-1); }), kInvalid,
                     "page_size", kInvalidField},
                    {"unknown state",
                     with([](auto& r) { r.set_state(static_cast<v1::ResealJobState>(99)); }),
                     kInvalid, "state", kInvalidField},
                    {"page_token that is not base64", with([](auto& r) { r.set_page_token("!!"); }),
                     kInvalid, "page_token", ErrorReason::kInvalidPageToken},
                });
  ExpectRefused(cases);
}

TEST_F(BadInputTest, ListAuditEvents) {
  const AuditHandler& handler = stack_->audit();
  const auto with = [&](const std::function<void(ListAuditEventsParams&)>& edit) {
    ListAuditEventsParams params;
    params.org_id = kOrg;
    edit(params);
    return Calling(handler, &AuditHandler::ListAuditEvents, std::move(params), kAdminPrincipal);
  };
  ListAuditEventsParams first;
  first.org_id = kOrg;
  first.page_size = 1;
  const absl::StatusOr<ListAuditEventsResult> page =
      handler.ListAuditEvents(ServiceStack::Call(kAdminPrincipal), first);
  ASSERT_TRUE(page.ok()) << page.status();
  const std::string token = page->next_page_token;
  ASSERT_FALSE(token.empty());
  const ErrorReason kBadToken = ErrorReason::kInvalidPageToken;
  std::vector<Case> cases = SystemOrgIdCases(
      [&](const std::string& org) { return with([org](auto& p) { p.org_id = org; }); });
  Append(cases, {
                    {"negative page_size", with([](auto& p) { p.page_size = -1; }), kInvalid,
                     "page_size", kInvalidField},
                    {"start_sequence 0", with([](auto& p) { p.start_sequence = 0; }), kInvalid,
                     "start_sequence", kInvalidField},
                    {"end_sequence before start_sequence", with([](auto& p) {
                       p.start_sequence = 5;
                       p.end_sequence = 4;
                     }),
                     kInvalid, "end_sequence", kInvalidField},
                    {"end_time not after start_time", with([](auto& p) {
                       p.start_time = absl::FromUnixSeconds(1000);
                       p.end_time = absl::FromUnixSeconds(1000);
                     }),
                     kInvalid, "end_time", kInvalidField},
                    {"65-character action", with([](auto& p) { p.action = std::string(65, 'a'); }),
                     kInvalid, "action", kInvalidField},
                    {"upper-case action", with([](auto& p) { p.action = "Credential.put"; }),
                     kInvalid, "action", kInvalidField},
                    {"action with a space", with([](auto& p) { p.action = "credential put"; }),
                     kInvalid, "action", kInvalidField},
                    {"page_token that is not base64", with([](auto& p) { p.page_token = "!!"; }),
                     kInvalid, "page_token", kBadToken},
                    {"page_token of another action filter", with([&](auto& p) {
                       p.page_token = token;
                       p.action = "credential.put";
                     }),
                     kInvalid, "page_token", kBadToken},
                    {"page_token of another org", with([&](auto& p) {
                       p.page_token = token;
                       p.org_id = kOtherOrg;
                     }),
                     kInvalid, "page_token", kBadToken},
                });
  ExpectRefused(cases);
}

TEST_F(BadInputTest, VerifyAuditLog) {
  const AuditHandler& handler = stack_->audit();
  ExpectRefused(SystemOrgIdCases([&](const std::string& org) {
    return Calling(handler, &AuditHandler::VerifyAuditLog, VerifyAuditLogParams{.org_id = org},
                   kAdminPrincipal);
  }));
}

TEST_F(BadInputTest, ExportAuditLog) {
  const AuditHandler& handler = stack_->audit();
  const auto with = [&](const std::function<void(ExportAuditLogParams&)>& edit) {
    ExportAuditLogParams params;
    params.org_id = kOrg;
    edit(params);
    return [&handler, params]() -> absl::Status {
      return handler
          .ExportAuditLogChunk(ServiceStack::Call(kAdminPrincipal), params, /*after_sequence=*/0)
          .status();
    };
  };
  std::vector<Case> cases = SystemOrgIdCases(
      [&](const std::string& org) { return with([org](auto& p) { p.org_id = org; }); });
  Append(cases, {
                    {"start_sequence 0", with([](auto& p) { p.start_sequence = 0; }), kInvalid,
                     "start_sequence", kInvalidField},
                    {"end_sequence before start_sequence", with([](auto& p) {
                       p.start_sequence = 5;
                       p.end_sequence = 4;
                     }),
                     kInvalid, "end_sequence", kInvalidField},
                });
  ExpectRefused(cases);
}

// The refusals above are about the inputs: the same requests, made good, succeed (so a
// handler that refused everything would fail here).
TEST_F(BadInputTest, GoodInputsAreServed) {
  const CallContext writer = ServiceStack::Call(kWriterPrincipal);
  v1::DescribeCredentialRequest describe;
  describe.set_org_id(kOrg);
  describe.set_name("kept");
  const absl::StatusOr<DescribeCredentialResult> described =
      stack_->credentials().Describe(writer, FromApi(describe));
  ASSERT_TRUE(described.ok()) << described.status();
  EXPECT_EQ(described->credential.version, 2u);

  v1::DecryptCredentialRequest decrypt;
  decrypt.set_org_id(kOrg);
  decrypt.set_name("kept");
  decrypt.set_purpose("service test");
  decrypt.set_version(1);
  const absl::StatusOr<DecryptCredentialResult> decrypted =
      stack_->access().Decrypt(ServiceStack::Call(kDecryptorPrincipal), FromApi(decrypt));
  ASSERT_TRUE(decrypted.ok()) << decrypted.status();
  EXPECT_EQ(ToApi(*decrypted).secret(), "the one");

  const CallContext write_tier = ServiceStack::Call("spiffe://credvault.test/write-tier");
  v1::KeyAuthorityCompareRequest compare;
  compare.set_org_id(kOrg);
  compare.set_name("kept");
  compare.set_candidate("the two");
  compare.set_principal(kWriterPrincipal);
  compare.set_request_id("req-1");
  const absl::StatusOr<CompareCredentialResult> compared =
      stack_->key_authority_service().Compare(write_tier, FromApi(compare));
  ASSERT_TRUE(compared.ok()) << compared.status();
  EXPECT_TRUE(compared->match);
  EXPECT_EQ(compared->version, 2u);
  v1::ProvisionOrgRequest provision;
  provision.set_org_id(kOrg);
  provision.add_pinned_root_key_versions(1);
  provision.set_principal(kWriterPrincipal);
  provision.set_request_id("req-2");
  const absl::StatusOr<ProvisionOrgResult> provisioned =
      stack_->key_authority_service().ProvisionOrg(write_tier, FromApi(provision));
  EXPECT_TRUE(provisioned.ok()) << provisioned.status();

  v1::ListCredentialsRequest list;
  list.set_org_id(kOrg);
  list.set_name_prefix("k");
  list.set_page_size(600);  // above 500: clamped, not refused
  const absl::StatusOr<ListCredentialsResult> listed =
      stack_->credentials().List(writer, FromApi(list));
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->credentials.size(), 1u);
  EXPECT_EQ(listed->credentials[0].name, "kept");

  ListAuditEventsParams audit;
  audit.org_id = "_system";
  EXPECT_TRUE(stack_->audit().ListAuditEvents(ServiceStack::Call(kAdminPrincipal), audit).ok());

  v1::PutCredentialRequest put = BasePut();
  put.set_name("edge/of.the_rules-1");
  put.set_secret(std::string(kMaxSecret, 's'));
  put.set_idempotency_key(std::string(128, 'k'));
  put.set_max_versions(100);
  put.mutable_ttl()->set_seconds(1);
  for (int i = 0; i < 32; ++i) (*put.mutable_labels())["k" + std::to_string(i)] = "v";
  const std::string before = stack_->DatabaseFingerprint();
  const absl::StatusOr<PutCredentialResult> stored =
      stack_->credentials().Put(writer, FromApi(put));
  EXPECT_TRUE(stored.ok()) << stored.status();
  // The fingerprint that the refusals leave unchanged does see a write.
  EXPECT_NE(stack_->DatabaseFingerprint(), before);
}

// A failed check-and-set answers what is true now, for Put and Delete alike.
TEST_F(BadInputTest, CheckAndSetConflictNamesTheFieldAndTheCurrentVersion) {
  v1::PutCredentialRequest stale = BasePut();
  stale.set_expected_version(1);
  const absl::Status put =
      stack_->credentials().Put(ServiceStack::Call(kWriterPrincipal), FromApi(stale)).status();
  EXPECT_EQ(put.code(), absl::StatusCode::kAborted) << put;
  EXPECT_EQ(put.message(), "expected_version: expected version 1, current version is 2");
  v1::DeleteCredentialRequest remove;
  remove.set_org_id(kOrg);
  remove.set_name("kept");
  remove.set_expected_version(1);
  const absl::StatusOr<DeleteCredentialParams> removal = FromApi(remove);
  ASSERT_TRUE(removal.ok()) << removal.status();
  const absl::Status removed =
      stack_->credentials().Delete(ServiceStack::Call(kWriterPrincipal), *removal).status();
  EXPECT_EQ(removed.code(), absl::StatusCode::kAborted) << removed;
  EXPECT_EQ(removed.message(), "expected_version: the current version is 2");
}

}  // namespace
}  // namespace credvault::server::testing

// Every RPC of CredentialService, CredentialAccessService and AdminService against a real
// credvaultd over TLS: happy paths and main refusals, once with client certificates and once
// with bearer tokens; then bad input, which must change nothing.
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/support/e2e_support.h"

namespace credvault::e2e {
namespace {

using ::google::protobuf::util::TimeUtil;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

[[maybe_unused]] ::testing::Environment* const kStack =
    ::testing::AddGlobalTestEnvironment(new StackEnvironment("api"));

enum class Auth { kCertificate, kToken };

void PrintTo(Auth auth, std::ostream* out) {
  *out << (auth == Auth::kCertificate ? "client certificate" : "bearer token");
}

std::string AuthName(const ::testing::TestParamInfo<Auth>& info) {
  return info.param == Auth::kCertificate ? "ClientCertificate" : "BearerToken";
}

class ApiTest : public ::testing::TestWithParam<Auth> {
 protected:
  void SetUp() override {
    stack_ = CurrentStack();
    ASSERT_NE(stack_, nullptr);
    writer_ = std::make_unique<Clients>(TlsChannel(*stack_, stack_->write_addr, Who("backend")));
    decryptor_ =
        std::make_unique<Clients>(TlsChannel(*stack_, stack_->decrypt_addr, Who("worker")));
    admin_ = std::make_unique<Clients>(TlsChannel(*stack_, stack_->decrypt_addr, Who("admin")));
  }

  Caller Who(const std::string& name) const {
    return GetParam() == Auth::kCertificate ? Caller::Cert(name)
                                            : Caller::Token(stack_->Token(name));
  }
  std::string PrincipalOf(const std::string& name) const {
    return GetParam() == Auth::kCertificate ? "spiffe://credvault.test/" + name : "token:" + name;
  }
  // An org of this test and this way of authenticating.
  std::string Org(const std::string& base) const {
    return base + (GetParam() == Auth::kCertificate ? "-cert" : "-token");
  }

  const Stack* stack_ = nullptr;
  std::unique_ptr<Clients> writer_, decryptor_, admin_;
};

INSTANTIATE_TEST_SUITE_P(Auth, ApiTest, ::testing::Values(Auth::kCertificate, Auth::kToken),
                         AuthName);

TEST_P(ApiTest, PutCreatesReplacesAndChecksVersions) {
  const std::string org = Org("put");
  const std::string name = "crm/salesforce/oauth";
  v1::PutCredentialRequest create = PutRequest(org, name, "secret-one");
  create.set_must_not_exist(true);
  (*create.mutable_labels())["env"] = "prod";
  v1::PutCredentialResponse created;
  ASSERT_TRUE(Put(*writer_, create, &created).ok());
  const v1::CredentialMetadata& first = created.credential();
  EXPECT_EQ(first.org_id(), org);
  EXPECT_EQ(first.name(), name);
  EXPECT_EQ(first.version(), 1u);
  EXPECT_EQ(first.current_version(), 1u);
  EXPECT_EQ(first.state(), v1::CREDENTIAL_STATE_ACTIVE);
  EXPECT_EQ(first.created_by(), PrincipalOf("backend"));
  EXPECT_EQ(first.org_key_version(), 1u);
  EXPECT_EQ(first.labels().at("env"), "prod");
  EXPECT_TRUE(first.has_create_time());
  EXPECT_FALSE(first.has_expire_time());
  EXPECT_FALSE(created.idempotent_replay());

  // must_not_exist on a live credential.
  const Outcome exists = Put(*writer_, create);
  EXPECT_EQ(exists.code, grpc::StatusCode::ALREADY_EXISTS) << exists;
  EXPECT_EQ(exists.reason, "ERROR_REASON_CREDENTIAL_EXISTS");

  // Unconditional replace: labels are replaced, not merged.
  v1::PutCredentialResponse replaced;
  ASSERT_TRUE(Put(*writer_, PutRequest(org, name, "secret-two"), &replaced).ok());
  EXPECT_EQ(replaced.credential().version(), 2u);
  EXPECT_TRUE(replaced.credential().labels().empty());

  // Check-and-set.
  v1::PutCredentialRequest cas = PutRequest(org, name, "secret-three");
  cas.set_expected_version(2);
  v1::PutCredentialResponse swapped;
  ASSERT_TRUE(Put(*writer_, cas, &swapped).ok());
  EXPECT_EQ(swapped.credential().version(), 3u);
  const Outcome stale = Put(*writer_, cas);
  EXPECT_EQ(stale.code, grpc::StatusCode::ABORTED) << stale;
  EXPECT_EQ(stale.reason, "ERROR_REASON_VERSION_MISMATCH");
  v1::PutCredentialRequest cas_missing = PutRequest(org, "never-written", "x");
  cas_missing.set_expected_version(1);
  const Outcome missing = Put(*writer_, cas_missing);
  EXPECT_EQ(missing.code, grpc::StatusCode::ABORTED) << missing;

  // The versions as stored.
  v1::CredentialMetadata current;
  ASSERT_TRUE(Describe(*writer_, org, name, &current).ok());
  EXPECT_EQ(current.version(), 3u);
  EXPECT_EQ(current.current_version(), 3u);
  EXPECT_EQ(current.live_version_count(), 3u);
  v1::CredentialMetadata old;
  ASSERT_TRUE(Describe(*writer_, org, name, &old, 1).ok());
  EXPECT_EQ(old.version(), 1u);
  EXPECT_EQ(old.current_version(), 3u);
  EXPECT_EQ(old.labels().at("env"), "prod");
  EXPECT_EQ(Describe(*writer_, org, name, nullptr, 99).code, grpc::StatusCode::NOT_FOUND);
  std::string secret;
  ASSERT_TRUE(Decrypt(*decryptor_, org, name, &secret).ok());
  EXPECT_EQ(secret, "secret-three");
  ASSERT_TRUE(Decrypt(*decryptor_, org, name, &secret, 1).ok());
  EXPECT_EQ(secret, "secret-one");
}

TEST_P(ApiTest, IdempotentPutReplaysTheFirstResult) {
  const std::string org = Org("idem");
  v1::PutCredentialRequest request = PutRequest(org, "webhook", "alpha");
  request.set_idempotency_key("put-0001:" + Org("k"));
  v1::PutCredentialResponse first, second;
  ASSERT_TRUE(Put(*writer_, request, &first).ok());
  EXPECT_FALSE(first.idempotent_replay());
  const Outcome replay = Put(*writer_, request, &second);
  ASSERT_TRUE(replay.ok()) << replay;
  EXPECT_TRUE(second.idempotent_replay());
  EXPECT_EQ(second.credential().version(), first.credential().version());
  EXPECT_EQ(second.credential().create_time(), first.credential().create_time());
  v1::CredentialMetadata stored;
  ASSERT_TRUE(Describe(*writer_, org, "webhook", &stored).ok());
  EXPECT_EQ(stored.current_version(), 1u) << "a replay must not make a second version";

  // Same key, different body. The digest that recognises a retry leaves the secret out
  // (nothing the write tier stores is computed from a secret), so another secret with
  // otherwise equal fields is answered as a retry and makes no version; other fields are
  // told apart.
  v1::PutCredentialRequest other_secret = request;
  other_secret.set_secret("beta");
  v1::PutCredentialResponse replayed;
  ASSERT_TRUE(Put(*writer_, other_secret, &replayed).ok());
  EXPECT_TRUE(replayed.idempotent_replay());
  EXPECT_EQ(replayed.credential().version(), first.credential().version());
  v1::PutCredentialRequest other_labels = request;
  (*other_labels.mutable_labels())["team"] = "x";
  const Outcome reused = Put(*writer_, other_labels);
  EXPECT_EQ(reused.code, grpc::StatusCode::FAILED_PRECONDITION) << reused;
  EXPECT_EQ(reused.reason, "ERROR_REASON_IDEMPOTENCY_KEY_REUSED");
  EXPECT_THAT(reused.message, StartsWith("idempotency_key:"));
  ASSERT_TRUE(Describe(*writer_, org, "webhook", &stored).ok());
  EXPECT_EQ(stored.current_version(), 1u);
  std::string secret;
  ASSERT_TRUE(Decrypt(*decryptor_, org, "webhook", &secret).ok());
  EXPECT_EQ(secret, "alpha");

  // Deletes replay too.
  v1::DeleteCredentialRequest remove;
  remove.set_org_id(org);
  remove.set_name("webhook");
  remove.set_idempotency_key("delete-0001");
  v1::DeleteCredentialResponse removed, removed_again;
  ASSERT_TRUE(
      Call(*writer_->credentials, &v1::CredentialService::Stub::DeleteCredential, remove, &removed)
          .ok());
  EXPECT_FALSE(removed.idempotent_replay());
  const Outcome delete_replay =
      Call(*writer_->credentials, &v1::CredentialService::Stub::DeleteCredential, remove,
           &removed_again);
  ASSERT_TRUE(delete_replay.ok()) << delete_replay;
  EXPECT_TRUE(removed_again.idempotent_replay());
}

TEST_P(ApiTest, MaxVersionsErasesOldVersions) {
  const std::string org = Org("maxv");
  v1::PutCredentialRequest request = PutRequest(org, "dialler/key", "v1-secret");
  request.set_max_versions(2);
  ASSERT_TRUE(Put(*writer_, request).ok());
  ASSERT_TRUE(Put(*writer_, PutRequest(org, "dialler/key", "v2-secret")).ok());
  v1::PutCredentialResponse third;
  ASSERT_TRUE(Put(*writer_, PutRequest(org, "dialler/key", "v3-secret"), &third).ok());
  EXPECT_EQ(third.credential().version(), 3u);
  EXPECT_EQ(third.credential().max_versions(), 2u) << "max_versions is kept when unset";
  EXPECT_EQ(third.credential().live_version_count(), 2u);

  v1::CredentialMetadata oldest;
  const Outcome hidden = Describe(*writer_, org, "dialler/key", &oldest, 1);
  EXPECT_EQ(hidden.code, grpc::StatusCode::NOT_FOUND) << hidden;
  ASSERT_TRUE(Describe(*writer_, org, "dialler/key", &oldest, 1, /*show_deleted=*/true).ok());
  EXPECT_EQ(oldest.state(), v1::CREDENTIAL_STATE_ERASED);
  v1::CredentialMetadata second;
  ASSERT_TRUE(Describe(*writer_, org, "dialler/key", &second, 2).ok());
  EXPECT_EQ(second.state(), v1::CREDENTIAL_STATE_ACTIVE);

  EXPECT_EQ(Decrypt(*decryptor_, org, "dialler/key", nullptr, 1).code, grpc::StatusCode::NOT_FOUND);
  std::string secret;
  ASSERT_TRUE(Decrypt(*decryptor_, org, "dialler/key", &secret, 2).ok());
  EXPECT_EQ(secret, "v2-secret");
}

TEST_P(ApiTest, ExpiredCredentialIsNotDecrypted) {
  const std::string org = Org("ttl");
  v1::PutCredentialRequest request = PutRequest(org, "short-lived", "ephemeral");
  request.mutable_ttl()->set_seconds(1);
  v1::PutCredentialResponse put;
  ASSERT_TRUE(Put(*writer_, request, &put).ok());
  ASSERT_TRUE(put.credential().has_expire_time());
  const auto expires = std::chrono::system_clock::time_point(
      std::chrono::microseconds(TimeUtil::TimestampToMicroseconds(put.credential().expire_time())));
  const auto created = std::chrono::system_clock::time_point(
      std::chrono::microseconds(TimeUtil::TimestampToMicroseconds(put.credential().create_time())));
  EXPECT_NEAR(std::chrono::duration<double>(expires - created).count(), 1.0, 0.5);
  if (std::chrono::system_clock::now() + std::chrono::milliseconds(300) < expires) {
    const Outcome fresh = Decrypt(*decryptor_, org, "short-lived");
    EXPECT_TRUE(fresh.ok()) << fresh;
  }
  std::this_thread::sleep_until(expires + std::chrono::milliseconds(100));
  const Outcome expired = Decrypt(*decryptor_, org, "short-lived");
  EXPECT_EQ(expired.code, grpc::StatusCode::FAILED_PRECONDITION) << expired;
  EXPECT_EQ(expired.reason, "ERROR_REASON_CREDENTIAL_EXPIRED");
  // Nothing is deleted, and an expired version can still be compared.
  v1::CredentialMetadata stored;
  ASSERT_TRUE(Describe(*writer_, org, "short-lived", &stored).ok());
  EXPECT_EQ(stored.state(), v1::CREDENTIAL_STATE_ACTIVE);
  v1::CompareCredentialRequest compare;
  compare.set_org_id(org);
  compare.set_name("short-lived");
  compare.set_candidate("ephemeral");
  v1::CompareCredentialResponse compared;
  ASSERT_TRUE(Call(*writer_->credentials, &v1::CredentialService::Stub::CompareCredential, compare,
                   &compared)
                  .ok());
  EXPECT_TRUE(compared.match());

  // An absolute expiry works the same way.
  v1::PutCredentialRequest absolute = PutRequest(org, "absolute", "x");
  *absolute.mutable_expire_time() = TimeUtil::GetCurrentTime() + TimeUtil::SecondsToDuration(3600);
  v1::PutCredentialResponse absolute_put;
  ASSERT_TRUE(Put(*writer_, absolute, &absolute_put).ok());
  EXPECT_EQ(absolute_put.credential().expire_time().seconds(), absolute.expire_time().seconds());
  EXPECT_TRUE(Decrypt(*decryptor_, org, "absolute").ok());
}

TEST_P(ApiTest, DeleteSoftThenErase) {
  const std::string org = Org("delete");
  ASSERT_TRUE(Put(*writer_, PutRequest(org, "gone", "one")).ok());
  ASSERT_TRUE(Put(*writer_, PutRequest(org, "gone", "two")).ok());
  v1::DeleteCredentialRequest request;
  request.set_org_id(org);
  request.set_name("gone");
  request.set_expected_version(1);
  v1::DeleteCredentialResponse refused;
  const Outcome stale = Call(*writer_->credentials, &v1::CredentialService::Stub::DeleteCredential,
                             request, &refused);
  EXPECT_EQ(stale.code, grpc::StatusCode::ABORTED) << stale;
  EXPECT_THAT(stale.message, HasSubstr("expected_version"));

  request.set_expected_version(2);
  v1::DeleteCredentialResponse soft;
  const Outcome deleted =
      Call(*writer_->credentials, &v1::CredentialService::Stub::DeleteCredential, request, &soft);
  ASSERT_TRUE(deleted.ok()) << deleted;
  EXPECT_EQ(soft.credential().state(), v1::CREDENTIAL_STATE_SOFT_DELETED);
  EXPECT_EQ(soft.affected_version_count(), 2u);
  EXPECT_TRUE(soft.credential().has_delete_time());
  EXPECT_TRUE(soft.credential().has_purge_time());

  const Outcome hidden = Describe(*writer_, org, "gone");
  EXPECT_EQ(hidden.code, grpc::StatusCode::NOT_FOUND) << hidden;
  EXPECT_EQ(hidden.reason, "ERROR_REASON_CREDENTIAL_NOT_FOUND");
  v1::CredentialMetadata shown;
  ASSERT_TRUE(Describe(*writer_, org, "gone", &shown, {}, /*show_deleted=*/true).ok());
  EXPECT_EQ(shown.state(), v1::CREDENTIAL_STATE_SOFT_DELETED);
  EXPECT_THAT(ListNames(*writer_, org), ::testing::IsEmpty());
  EXPECT_THAT(ListNames(*writer_, org, /*include_deleted=*/true), ElementsAre("gone"));
  EXPECT_EQ(Decrypt(*decryptor_, org, "gone").code, grpc::StatusCode::NOT_FOUND);

  request.clear_expected_version();
  v1::DeleteCredentialResponse response;
  const Outcome again = Call(*writer_->credentials, &v1::CredentialService::Stub::DeleteCredential,
                             request, &response);
  EXPECT_EQ(again.code, grpc::StatusCode::NOT_FOUND) << again;

  request.set_mode(v1::DELETION_MODE_ERASE);
  const Outcome erased = Call(*writer_->credentials, &v1::CredentialService::Stub::DeleteCredential,
                              request, &response);
  ASSERT_TRUE(erased.ok()) << erased;
  EXPECT_EQ(response.credential().state(), v1::CREDENTIAL_STATE_ERASED);
  ASSERT_TRUE(Describe(*writer_, org, "gone", &shown, 1, /*show_deleted=*/true).ok());
  EXPECT_EQ(shown.state(), v1::CREDENTIAL_STATE_ERASED);
  const Outcome erased_again = Call(
      *writer_->credentials, &v1::CredentialService::Stub::DeleteCredential, request, &response);
  EXPECT_EQ(erased_again.code, grpc::StatusCode::NOT_FOUND) << erased_again;
  EXPECT_EQ(Decrypt(*decryptor_, org, "gone", nullptr, 2).code, grpc::StatusCode::NOT_FOUND);

  request.set_name("never-existed");
  EXPECT_EQ(Call(*writer_->credentials, &v1::CredentialService::Stub::DeleteCredential, request,
                 &response)
                .code,
            grpc::StatusCode::NOT_FOUND);

  // A later Put starts a new version; numbers continue.
  v1::PutCredentialResponse reborn;
  ASSERT_TRUE(Put(*writer_, PutRequest(org, "gone", "three"), &reborn).ok());
  EXPECT_EQ(reborn.credential().version(), 3u);
  std::string secret;
  ASSERT_TRUE(Decrypt(*decryptor_, org, "gone", &secret).ok());
  EXPECT_EQ(secret, "three");
}

TEST_P(ApiTest, ListPagesAndBindsTokensToTheQuery) {
  const std::string org = Org("list");
  const std::vector<std::string> names = {"svc/a", "svc/b", "svc/c", "svc/d", "svc/e"};
  // Written out of order: the listing sorts by name.
  for (const std::string name : {"svc/d", "svc/a", "svc/e", "svc/c", "svc/b", "other/x"}) {
    v1::PutCredentialRequest request = PutRequest(org, name, "value of " + name);
    if (name == "svc/b" || name == "svc/d") {
      (*request.mutable_labels())["team"] = "payments";
    }
    ASSERT_TRUE(Put(*writer_, request).ok()) << name;
  }
  v1::ListCredentialsRequest request;
  request.set_org_id(org);
  request.set_name_prefix("svc/");
  request.set_page_size(2);
  std::vector<std::string> listed;
  std::vector<int> page_sizes;
  std::string first_token;
  for (int page = 0; page < 10; ++page) {
    v1::ListCredentialsResponse response;
    const Outcome outcome = Call(*writer_->credentials,
                                 &v1::CredentialService::Stub::ListCredentials, request, &response);
    ASSERT_TRUE(outcome.ok()) << outcome;
    page_sizes.push_back(response.credentials_size());
    for (const auto& credential : response.credentials()) {
      listed.push_back(credential.name());
      EXPECT_EQ(credential.state(), v1::CREDENTIAL_STATE_ACTIVE);
      EXPECT_EQ(credential.org_id(), org);
    }
    if (first_token.empty()) first_token = response.next_page_token();
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  EXPECT_EQ(listed, names);
  EXPECT_THAT(page_sizes, ElementsAre(2, 2, 1));
  ASSERT_FALSE(first_token.empty());

  v1::ListCredentialsResponse response;
  const auto list = [&](const v1::ListCredentialsRequest& r) {
    return Call(*writer_->credentials, &v1::CredentialService::Stub::ListCredentials, r, &response);
  };
  v1::ListCredentialsRequest bad = request;
  bad.set_page_token("not-a-page-token");
  Outcome outcome = list(bad);
  EXPECT_EQ(outcome.code, grpc::StatusCode::INVALID_ARGUMENT) << outcome;
  EXPECT_THAT(outcome.message, StartsWith("page_token:"));
  EXPECT_EQ(outcome.reason, "ERROR_REASON_INVALID_PAGE_TOKEN");

  bad = request;
  bad.set_page_token(first_token);
  bad.set_name_prefix("other/");
  outcome = list(bad);
  EXPECT_EQ(outcome.code, grpc::StatusCode::INVALID_ARGUMENT) << "other filter: " << outcome;
  EXPECT_THAT(outcome.message, StartsWith("page_token:"));

  bad = request;
  bad.set_page_token(first_token);
  bad.set_org_id(Org("put"));
  outcome = list(bad);
  EXPECT_EQ(outcome.code, grpc::StatusCode::INVALID_ARGUMENT) << "other org: " << outcome;

  bad = request;
  bad.set_page_token(first_token);
  bad.set_include_deleted(true);
  EXPECT_EQ(list(bad).code, grpc::StatusCode::INVALID_ARGUMENT) << "include_deleted changed";

  bad = request;
  std::string altered = first_token;
  altered[altered.size() / 2] = altered[altered.size() / 2] == 'A' ? 'B' : 'A';
  bad.set_page_token(altered);
  EXPECT_EQ(list(bad).code, grpc::StatusCode::INVALID_ARGUMENT) << "altered token";

  // The same token with a different page size is fine.
  v1::ListCredentialsRequest resized = request;
  resized.set_page_token(first_token);
  resized.set_page_size(10);
  outcome = list(resized);
  ASSERT_TRUE(outcome.ok()) << outcome;
  EXPECT_EQ(response.credentials_size(), 3);
  EXPECT_EQ(response.credentials(0).name(), "svc/c");

  // Label selector.
  v1::ListCredentialsRequest labelled;
  labelled.set_org_id(org);
  (*labelled.mutable_label_selector())["team"] = "payments";
  ASSERT_TRUE(list(labelled).ok());
  std::vector<std::string> selected;
  for (const auto& credential : response.credentials()) selected.push_back(credential.name());
  EXPECT_THAT(selected, ElementsAre("svc/b", "svc/d"));
}

TEST_P(ApiTest, CompareTellsMatchWithoutRevealing) {
  const std::string org = Org("compare");
  ASSERT_TRUE(Put(*writer_, PutRequest(org, "api-key", "hunter2")).ok());
  ASSERT_TRUE(Put(*writer_, PutRequest(org, "api-key", "correct horse")).ok());
  const auto compare = [&](const std::string& candidate, std::optional<std::uint64_t> version,
                           v1::CompareCredentialResponse* response) {
    v1::CompareCredentialRequest request;
    request.set_org_id(org);
    request.set_name("api-key");
    request.set_candidate(candidate);
    if (version) request.set_version(*version);
    return Call(*writer_->credentials, &v1::CredentialService::Stub::CompareCredential, request,
                response);
  };
  v1::CompareCredentialResponse response;
  ASSERT_TRUE(compare("correct horse", {}, &response).ok());
  EXPECT_TRUE(response.match());
  EXPECT_EQ(response.version(), 2u);
  ASSERT_TRUE(compare("hunter2", {}, &response).ok());
  EXPECT_FALSE(response.match());
  ASSERT_TRUE(compare("hunter2", 1, &response).ok());
  EXPECT_TRUE(response.match());
  EXPECT_EQ(response.version(), 1u);
  ASSERT_TRUE(compare("correct horse ", {}, &response).ok());
  EXPECT_FALSE(response.match());
  EXPECT_EQ(compare("hunter2", 7, &response).code, grpc::StatusCode::NOT_FOUND);
  const Outcome empty = compare("", {}, &response);
  EXPECT_EQ(empty.code, grpc::StatusCode::INVALID_ARGUMENT) << empty;
  EXPECT_THAT(empty.message, StartsWith("candidate:"));

  // Every valid compare is audited, with its outcome but not the candidate: four answers
  // and the refused version 7; the invalid request is not.
  std::vector<std::string> results;
  for (const v1::AuditEvent& event : AuditEvents(*admin_, org)) {
    if (event.action() != "credential.compare") continue;
    results.push_back(event.result());
    EXPECT_EQ(event.principal(), PrincipalOf("backend"));
    EXPECT_THAT(event.details(), ::testing::Not(HasSubstr("hunter2")));
    EXPECT_THAT(event.details(), ::testing::Not(HasSubstr("correct horse")));
  }
  EXPECT_THAT(results, ElementsAre("ok", "ok", "ok", "ok", "not_found"));
}

TEST_P(ApiTest, DecryptNeedsAPurposeAndSelectsVersions) {
  const std::string org = Org("decrypt");
  ASSERT_TRUE(Put(*writer_, PutRequest(org, "token", "first")).ok());
  ASSERT_TRUE(Put(*writer_, PutRequest(org, "token", std::string("sec\0ond", 7))).ok());

  const Outcome no_purpose = Decrypt(*decryptor_, org, "token", nullptr, {}, "");
  EXPECT_EQ(no_purpose.code, grpc::StatusCode::INVALID_ARGUMENT) << no_purpose;
  EXPECT_THAT(no_purpose.message, StartsWith("purpose:"));
  EXPECT_EQ(no_purpose.reason, "ERROR_REASON_INVALID_FIELD");

  v1::DecryptCredentialRequest request;
  request.set_org_id(org);
  request.set_name("token");
  request.set_purpose("sync CRM contacts");
  v1::DecryptCredentialResponse current;
  ASSERT_TRUE(Call(*decryptor_->access, &v1::CredentialAccessService::Stub::DecryptCredential,
                   request, &current)
                  .ok());
  EXPECT_EQ(current.secret(), std::string("sec\0ond", 7));
  EXPECT_EQ(current.credential().version(), 2u);
  EXPECT_GT(current.audit_sequence(), 0u);
  request.set_version(1);
  v1::DecryptCredentialResponse first;
  ASSERT_TRUE(Call(*decryptor_->access, &v1::CredentialAccessService::Stub::DecryptCredential,
                   request, &first)
                  .ok());
  EXPECT_EQ(first.secret(), "first");
  EXPECT_EQ(first.credential().version(), 1u);
  request.set_version(3);
  EXPECT_EQ(Call(*decryptor_->access, &v1::CredentialAccessService::Stub::DecryptCredential,
                 request, &first)
                .code,
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Decrypt(*decryptor_, "no-such-org-" + Org("d"), "token").code,
            grpc::StatusCode::NOT_FOUND);

  // The decrypt is in the audit log, with its purpose, at the sequence it was given.
  bool found = false;
  for (const v1::AuditEvent& event : AuditEvents(*admin_, org)) {
    if (event.sequence() != current.audit_sequence()) continue;
    found = true;
    EXPECT_EQ(event.action(), "credential.decrypt");
    EXPECT_EQ(event.target(), "token");
    EXPECT_EQ(event.result(), "ok");
    EXPECT_EQ(event.principal(), PrincipalOf("worker"));
    EXPECT_THAT(event.details(), HasSubstr("sync CRM contacts"));
  }
  EXPECT_TRUE(found);
}

TEST_P(ApiTest, OrgLifecycleRotationAndDestruction) {
  const std::string org = Org("lifecycle");
  v1::CreateOrgRequest create;
  create.set_org_id(org);
  v1::CreateOrgResponse created;
  ASSERT_TRUE(Call(*admin_->admin, &v1::AdminService::Stub::CreateOrg, create, &created).ok());
  EXPECT_EQ(created.org().org_id(), org);
  EXPECT_EQ(created.org().state(), v1::ORG_STATE_ACTIVE);
  EXPECT_EQ(created.org().current_key_version(), 1u);
  ASSERT_EQ(created.org().key_versions_size(), 1);
  EXPECT_EQ(created.org().key_versions(0).state(), v1::ORG_KEY_STATE_ACTIVE);
  EXPECT_EQ(created.org().key_versions(0).public_key().size(), 32u);
  const Outcome twice = Call(*admin_->admin, &v1::AdminService::Stub::CreateOrg, create, &created);
  EXPECT_EQ(twice.code, grpc::StatusCode::ALREADY_EXISTS) << twice;
  EXPECT_EQ(twice.reason, "ERROR_REASON_ORG_EXISTS");

  v1::DescribeOrgRequest describe;
  describe.set_org_id(org);
  v1::DescribeOrgResponse described;
  ASSERT_TRUE(
      Call(*admin_->admin, &v1::AdminService::Stub::DescribeOrg, describe, &described).ok());
  EXPECT_EQ(described.org().state(), v1::ORG_STATE_ACTIVE);
  EXPECT_EQ(described.org().key_versions(0).public_key(),
            created.org().key_versions(0).public_key());
  v1::DescribeOrgRequest unknown;
  unknown.set_org_id("no-such-org");
  const Outcome missing =
      Call(*admin_->admin, &v1::AdminService::Stub::DescribeOrg, unknown, &described);
  EXPECT_EQ(missing.code, grpc::StatusCode::NOT_FOUND) << missing;
  EXPECT_EQ(missing.reason, "ERROR_REASON_ORG_NOT_FOUND");

  // Rotation: new writes use the new key version, old ones still decrypt.
  v1::PutCredentialResponse old_put;
  ASSERT_TRUE(Put(*writer_, PutRequest(org, "before-rotation", "old secret"), &old_put).ok());
  EXPECT_EQ(old_put.credential().org_key_version(), 1u);
  v1::RotateOrgKeyRequest rotate;
  rotate.set_org_id(org);
  v1::RotateOrgKeyResponse rotated;
  const Outcome rotation =
      Call(*admin_->admin, &v1::AdminService::Stub::RotateOrgKey, rotate, &rotated);
  ASSERT_TRUE(rotation.ok()) << rotation;
  EXPECT_EQ(rotated.org().current_key_version(), 2u);
  ASSERT_EQ(rotated.org().key_versions_size(), 2);
  EXPECT_NE(rotated.org().key_versions(0).state(), v1::ORG_KEY_STATE_ACTIVE);
  EXPECT_EQ(rotated.org().key_versions(1).state(), v1::ORG_KEY_STATE_ACTIVE);
  EXPECT_NE(rotated.org().key_versions(1).public_key(), rotated.org().key_versions(0).public_key());
  v1::PutCredentialResponse new_put;
  ASSERT_TRUE(Put(*writer_, PutRequest(org, "after-rotation", "new secret"), &new_put).ok());
  EXPECT_EQ(new_put.credential().org_key_version(), 2u);
  std::string secret;
  ASSERT_TRUE(Decrypt(*decryptor_, org, "before-rotation", &secret).ok());
  EXPECT_EQ(secret, "old secret");
  ASSERT_TRUE(Decrypt(*decryptor_, org, "after-rotation", &secret).ok());
  EXPECT_EQ(secret, "new secret");

  // Destruction: the confirmation must match, and a reason is required.
  v1::DestroyOrgRequest destroy;
  destroy.set_org_id(org);
  destroy.set_confirm_org_id(org + "x");
  destroy.set_reason("customer left");
  v1::DestroyOrgResponse destroyed;
  Outcome outcome = Call(*admin_->admin, &v1::AdminService::Stub::DestroyOrg, destroy, &destroyed);
  EXPECT_EQ(outcome.code, grpc::StatusCode::INVALID_ARGUMENT) << outcome;
  EXPECT_THAT(outcome.message, StartsWith("confirm_org_id:"));
  destroy.set_confirm_org_id(org);
  destroy.set_reason("");
  outcome = Call(*admin_->admin, &v1::AdminService::Stub::DestroyOrg, destroy, &destroyed);
  EXPECT_EQ(outcome.code, grpc::StatusCode::INVALID_ARGUMENT) << outcome;
  EXPECT_THAT(outcome.message, StartsWith("reason:"));
  ASSERT_TRUE(Decrypt(*decryptor_, org, "before-rotation").ok()) << "refusals destroy nothing";

  destroy.set_reason("customer left");
  outcome = Call(*admin_->admin, &v1::AdminService::Stub::DestroyOrg, destroy, &destroyed);
  ASSERT_TRUE(outcome.ok()) << outcome;
  const v1::ErasureReceipt& receipt = destroyed.receipt();
  EXPECT_FALSE(destroyed.already_destroyed());
  EXPECT_EQ(receipt.org_id(), org);
  EXPECT_THAT(receipt.destroyed_key_versions(), ElementsAre(1u, 2u));
  EXPECT_TRUE(receipt.has_destroy_time());
  EXPECT_EQ(receipt.audit_chain_head().size(), 32u);
  const std::vector<v1::AuditEvent> events = AuditEvents(*admin_, org);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().action(), "org.destroy");
  EXPECT_EQ(events.back().sequence(), receipt.audit_sequence());
  EXPECT_EQ(events.back().hash(), receipt.audit_chain_head());
  EXPECT_THAT(events.back().details(), HasSubstr("customer left"));

  outcome = Decrypt(*decryptor_, org, "before-rotation");
  EXPECT_EQ(outcome.code, grpc::StatusCode::FAILED_PRECONDITION) << outcome;
  EXPECT_EQ(outcome.reason, "ERROR_REASON_ORG_DESTROYED");
  outcome = Put(*writer_, PutRequest(org, "after-destroy", "x"));
  EXPECT_EQ(outcome.code, grpc::StatusCode::FAILED_PRECONDITION) << outcome;
  EXPECT_EQ(outcome.reason, "ERROR_REASON_ORG_DESTROYED");
  EXPECT_EQ(Describe(*writer_, org, "before-rotation").code, grpc::StatusCode::FAILED_PRECONDITION);
  outcome = Call(*admin_->admin, &v1::AdminService::Stub::RotateOrgKey, rotate, &rotated);
  EXPECT_EQ(outcome.code, grpc::StatusCode::FAILED_PRECONDITION) << outcome;
  ASSERT_TRUE(
      Call(*admin_->admin, &v1::AdminService::Stub::DescribeOrg, describe, &described).ok());
  EXPECT_EQ(described.org().state(), v1::ORG_STATE_DESTROYED);
  EXPECT_TRUE(described.org().has_destroy_time());
  ASSERT_EQ(described.org().key_versions_size(), 2) << "versions 1 and 2 (rotated)";
  for (const v1::OrgKeyVersion& key : described.org().key_versions()) {
    EXPECT_EQ(key.state(), v1::ORG_KEY_STATE_DESTROYED) << "key version " << key.version();
  }

  // Destroying again is idempotent; the id is never reused.
  v1::DestroyOrgResponse again;
  ASSERT_TRUE(Call(*admin_->admin, &v1::AdminService::Stub::DestroyOrg, destroy, &again).ok());
  EXPECT_TRUE(again.already_destroyed());
  EXPECT_THAT(again.receipt().destroyed_key_versions(), ElementsAre(1u, 2u));
  EXPECT_EQ(Call(*admin_->admin, &v1::AdminService::Stub::CreateOrg, create, &created).code,
            grpc::StatusCode::ALREADY_EXISTS);
  // The audit log stays readable and intact.
  v1::VerifyAuditLogRequest verify;
  verify.set_org_id(org);
  v1::VerifyAuditLogResponse verified;
  ASSERT_TRUE(
      Call(*admin_->admin, &v1::AdminService::Stub::VerifyAuditLog, verify, &verified).ok());
  EXPECT_TRUE(verified.ok()) << verified.failure_detail();
}

// What the API promises about a destroyed org beyond the lifecycle above: a signed receipt,
// stored and returned again by a retried DestroyOrg and by DescribeOrg
// (admin_service.proto, DestroyOrg and ErasureReceipt).
TEST_P(ApiTest, ErasureReceiptIsSignedAndKept) {
  const std::string org = Org("receipt");
  ASSERT_TRUE(Put(*writer_, PutRequest(org, "doomed", "x")).ok());
  v1::DestroyOrgRequest destroy;
  destroy.set_org_id(org);
  destroy.set_confirm_org_id(org);
  destroy.set_reason("test the receipt");
  v1::DestroyOrgResponse first;
  ASSERT_TRUE(Call(*admin_->admin, &v1::AdminService::Stub::DestroyOrg, destroy, &first).ok());
  EXPECT_EQ(first.receipt().signature().size(), 64u) << "the receipt is not signed";
  EXPECT_FALSE(first.receipt().signing_key_id().empty());
  EXPECT_EQ(first.receipt().erased_credential_version_count(), 1u);

  v1::DestroyOrgResponse again;
  ASSERT_TRUE(Call(*admin_->admin, &v1::AdminService::Stub::DestroyOrg, destroy, &again).ok());
  EXPECT_TRUE(again.already_destroyed());
  EXPECT_EQ(again.receipt().audit_sequence(), first.receipt().audit_sequence())
      << "a retried DestroyOrg must return the stored receipt";
  EXPECT_EQ(again.receipt().audit_chain_head(), first.receipt().audit_chain_head());

  v1::DescribeOrgRequest describe;
  describe.set_org_id(org);
  v1::DescribeOrgResponse described;
  ASSERT_TRUE(
      Call(*admin_->admin, &v1::AdminService::Stub::DescribeOrg, describe, &described).ok());
  EXPECT_EQ(described.org().current_key_version(), 0u);
  EXPECT_TRUE(described.org().has_erasure_receipt()) << "DescribeOrg omits the erasure receipt";
  EXPECT_EQ(described.org().erasure_receipt().audit_sequence(), first.receipt().audit_sequence());
  ASSERT_GT(described.org().key_versions_size(), 0);
  for (const v1::OrgKeyVersion& key : described.org().key_versions()) {
    EXPECT_EQ(key.state(), v1::ORG_KEY_STATE_DESTROYED);
    EXPECT_TRUE(key.has_destroy_time()) << "key version " << key.version();
    EXPECT_EQ(key.root_key_version(), 0u) << "key version " << key.version();
  }
}

TEST_P(ApiTest, AuditLogPagesVerifiesAndExports) {
  const std::string org = Org("audit");
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(Put(*writer_, PutRequest(org, "cred-" + std::to_string(i), "s")).ok());
  }
  ASSERT_TRUE(Decrypt(*decryptor_, org, "cred-0").ok());

  v1::ListAuditEventsRequest request;
  request.set_org_id(org);
  request.set_page_size(2);
  std::vector<v1::AuditEvent> events;
  int pages = 0;
  for (; pages < 20; ++pages) {
    v1::ListAuditEventsResponse response;
    const Outcome outcome =
        Call(*admin_->admin, &v1::AdminService::Stub::ListAuditEvents, request, &response);
    ASSERT_TRUE(outcome.ok()) << outcome;
    EXPECT_LE(response.events_size(), 2);
    events.insert(events.end(), response.events().begin(), response.events().end());
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  ASSERT_EQ(events.size(), 7u) << "org.provision, 5 puts, 1 decrypt";
  EXPECT_GE(pages, 3);
  EXPECT_EQ(events.front().action(), "org.provision");
  EXPECT_EQ(events.back().action(), "credential.decrypt");
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].sequence(), i + 1);
    EXPECT_EQ(events[i].org_id(), org);
    EXPECT_EQ(events[i].hash().size(), 32u);
    if (i > 0) {
      EXPECT_EQ(events[i].prev_hash(), events[i - 1].hash()) << "event " << i + 1;
    }
  }
  EXPECT_EQ(events[1].action(), "credential.put");
  EXPECT_EQ(events[1].target(), "cred-0");
  EXPECT_EQ(events[1].principal(), PrincipalOf("backend"));

  v1::ListAuditEventsRequest bad = request;
  bad.set_page_token("bm90IGEgdG9rZW4");
  v1::ListAuditEventsResponse ignored;
  const Outcome bad_token =
      Call(*admin_->admin, &v1::AdminService::Stub::ListAuditEvents, bad, &ignored);
  EXPECT_EQ(bad_token.code, grpc::StatusCode::INVALID_ARGUMENT) << bad_token;
  EXPECT_THAT(bad_token.message, StartsWith("page_token:"));

  v1::VerifyAuditLogRequest verify;
  verify.set_org_id(org);
  v1::VerifyAuditLogResponse verified;
  ASSERT_TRUE(
      Call(*admin_->admin, &v1::AdminService::Stub::VerifyAuditLog, verify, &verified).ok());
  EXPECT_TRUE(verified.ok()) << verified.failure_detail();
  EXPECT_EQ(verified.events_checked(), events.size());
  EXPECT_EQ(verified.end_sequence(), events.size());

  // The export streams the same events in order.
  v1::ExportAuditLogRequest export_request;
  export_request.set_org_id(org);
  std::unique_ptr<grpc::ClientContext> context = Context();
  std::unique_ptr<grpc::ClientReader<v1::ExportAuditLogResponse>> reader =
      admin_->admin->ExportAuditLog(context.get(), export_request);
  v1::ExportAuditLogResponse chunk;
  std::vector<v1::AuditEvent> exported;
  while (reader->Read(&chunk)) {
    exported.insert(exported.end(), chunk.events().begin(), chunk.events().end());
  }
  const grpc::Status finished = reader->Finish();
  ASSERT_TRUE(finished.ok()) << finished.error_message();
  ASSERT_EQ(exported.size(), events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(exported[i].sequence(), events[i].sequence());
    EXPECT_EQ(exported[i].hash(), events[i].hash());
    EXPECT_EQ(exported[i].action(), events[i].action());
  }

  // A narrowed range.
  export_request.set_start_sequence(2);
  export_request.set_end_sequence(4);
  context = Context();
  reader = admin_->admin->ExportAuditLog(context.get(), export_request);
  std::vector<std::uint64_t> sequences;
  while (reader->Read(&chunk)) {
    for (const auto& event : chunk.events()) sequences.push_back(event.sequence());
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_THAT(sequences, ElementsAre(2u, 3u, 4u));
}

// An export carries what an offline verifier needs (admin_service.proto, ExportAuditLog):
// a signed checkpoint at the sequence of its last event and the signing key.
TEST_P(ApiTest, ExportIsCoveredByASignedCheckpoint) {
  const std::string org = Org("export");
  ASSERT_TRUE(Put(*writer_, PutRequest(org, "one", "1")).ok());
  ASSERT_TRUE(Put(*writer_, PutRequest(org, "two", "2")).ok());
  v1::ExportAuditLogRequest request;
  request.set_org_id(org);
  std::unique_ptr<grpc::ClientContext> context = Context();
  auto reader = admin_->admin->ExportAuditLog(context.get(), request);
  v1::ExportAuditLogResponse chunk;
  std::uint64_t last = 0;
  std::vector<v1::AuditCheckpoint> checkpoints;
  std::vector<v1::AuditSigningKey> keys;
  while (reader->Read(&chunk)) {
    for (const auto& event : chunk.events()) last = event.sequence();
    checkpoints.insert(checkpoints.end(), chunk.checkpoints().begin(), chunk.checkpoints().end());
    keys.insert(keys.end(), chunk.signing_keys().begin(), chunk.signing_keys().end());
  }
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(last, 3u) << "org.provision and two puts";
  const auto at_last =
      std::find_if(checkpoints.begin(), checkpoints.end(),
                   [&](const v1::AuditCheckpoint& c) { return c.sequence() == last; });
  ASSERT_NE(at_last, checkpoints.end()) << "no checkpoint at the last exported sequence";
  EXPECT_EQ(at_last->signature().size(), 64u);
  EXPECT_TRUE(std::any_of(keys.begin(), keys.end(), [&](const v1::AuditSigningKey& key) {
    return key.key_id() == at_last->signing_key_id() && key.public_key().size() == 32;
  })) << "the export does not carry the signing key";
}

// The compare rate limit (limits.compare_per_minute, 60 by default) is per principal: a
// burst from one principal is refused once its budget is spent, another principal is not
// affected. dnsclient is used by no other test of this binary, so its budget is whole.
TEST(CompareRateLimitTest, BurstFromOnePrincipalIsRefused) {
  const Stack* stack = CurrentStack();
  ASSERT_NE(stack, nullptr);
  Clients scoped(TlsChannel(*stack, stack->write_addr, Caller::Cert("dnsclient")));
  Clients backend(TlsChannel(*stack, stack->write_addr, Caller::Cert("backend")));
  const Outcome seeded = Put(scoped, PutRequest("org-a", "rate/limited", "guess me"));
  ASSERT_TRUE(seeded.ok()) << seeded;
  v1::CompareCredentialRequest request;
  request.set_org_id("org-a");
  request.set_name("rate/limited");
  request.set_candidate("wrong guess");
  const auto started = std::chrono::steady_clock::now();
  int accepted = 0;
  Outcome refused;
  for (int i = 0; i < 200; ++i) {
    v1::CompareCredentialResponse response;
    const Outcome outcome = Call(
        *scoped.credentials, &v1::CredentialService::Stub::CompareCredential, request, &response);
    if (outcome.ok()) {
      ++accepted;
      continue;
    }
    refused = outcome;
    break;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  // 200 calls outrun a refill of one a second unless each takes over 0.7 s.
  if (refused.ok() || refused.code == grpc::StatusCode::UNKNOWN) {
    FAIL() << accepted << " compares in " << seconds << " s, none refused";
  }
  EXPECT_EQ(refused.code, grpc::StatusCode::RESOURCE_EXHAUSTED) << refused;
  EXPECT_EQ(refused.reason, "ERROR_REASON_RATE_LIMITED");
  // 60 up front, plus what refills (one a second) while the burst runs.
  EXPECT_GE(accepted, 60);
  EXPECT_LE(accepted, 60 + static_cast<int>(seconds) + 2);

  // Answered and refused compares are both on record.
  Clients admin(TlsChannel(*stack, stack->decrypt_addr, Caller::Cert("admin")));
  int answered = 0;
  int refused_events = 0;
  for (const v1::AuditEvent& event : AuditEvents(admin, "org-a")) {
    if (event.action() != "credential.compare" || event.target() != "rate/limited") continue;
    if (event.result() == "ok") ++answered;
    if (event.result() == "resource_exhausted") ++refused_events;
  }
  EXPECT_EQ(answered, accepted);
  EXPECT_EQ(refused_events, 1);

  ASSERT_TRUE(Put(backend, PutRequest("rate-other", "k", "v")).ok());
  v1::CompareCredentialRequest other = request;
  other.set_org_id("rate-other");
  other.set_name("k");
  v1::CompareCredentialResponse response;
  const Outcome unaffected =
      Call(*backend.credentials, &v1::CredentialService::Stub::CompareCredential, other, &response);
  EXPECT_TRUE(unaffected.ok()) << unaffected;

  // A compare against a credential that is not there is refused, and recorded too.
  v1::CompareCredentialRequest missing = other;
  missing.set_name("not-there");
  EXPECT_EQ(Call(*backend.credentials, &v1::CredentialService::Stub::CompareCredential, missing,
                 &response)
                .code,
            grpc::StatusCode::NOT_FOUND);
  const std::vector<v1::AuditEvent> other_events = AuditEvents(admin, "rate-other");
  EXPECT_EQ(std::count_if(other_events.begin(), other_events.end(),
                          [](const v1::AuditEvent& event) {
                            return event.action() == "credential.compare" &&
                                   event.target() == "not-there" && event.result() == "not_found";
                          }),
            1);
}

// Every input rule of every RPC is tested against the handlers in tests/service
// (bad_input_test.cc); here, only that a refusal reaches a client over gRPC intact: the
// code, the message naming the field, and the reason in the status details.
TEST(BadInputTest, RefusalTravelsWithItsCodeFieldAndReason) {
  const Stack* stack = CurrentStack();
  ASSERT_NE(stack, nullptr);
  Clients writer(TlsChannel(*stack, stack->write_addr, Caller::Cert("backend")));
  v1::PutCredentialRequest request = PutRequest("bad-input-wire", "kept", "one");
  request.set_name("");
  const Outcome put = Put(writer, request);
  EXPECT_EQ(put.code, grpc::StatusCode::INVALID_ARGUMENT) << put;
  EXPECT_THAT(put.message, ::testing::StartsWith("name:")) << put;
  EXPECT_EQ(put.reason, "ERROR_REASON_INVALID_FIELD") << put;
}

}  // namespace
}  // namespace credvault::e2e

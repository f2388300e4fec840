// AdminService.CreateOrg with an idempotency key against a real credvaultd: it replays
// only a CreateOrg that it served with that key, never an org made otherwise.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/support/e2e_support.h"

namespace credvault::e2e {
namespace {

using ::testing::EndsWith;

[[maybe_unused]] ::testing::Environment* const kStack =
    ::testing::AddGlobalTestEnvironment(new StackEnvironment("create-org"));

class CreateOrgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = CurrentStack();
    ASSERT_NE(stack_, nullptr);
    writer_ =
        std::make_unique<Clients>(TlsChannel(*stack_, stack_->write_addr, Caller::Cert("backend")));
    admin_ =
        std::make_unique<Clients>(TlsChannel(*stack_, stack_->decrypt_addr, Caller::Cert("admin")));
  }

  Outcome Create(const std::string& org, const std::string& key, v1::CreateOrgResponse* out) {
    v1::CreateOrgRequest request;
    request.set_org_id(org);
    request.set_idempotency_key(key);
    return Call(*admin_->admin, &v1::AdminService::Stub::CreateOrg, request, out);
  }

  const Stack* stack_ = nullptr;
  std::unique_ptr<Clients> writer_, admin_;
};

TEST_F(CreateOrgTest, ReplaysOnlyTheCreateOrgItServed) {
  // The same key twice: the second call is the replay of the first.
  v1::CreateOrgResponse first;
  Outcome outcome = Create("replayed", "create-replayed-1", &first);
  ASSERT_TRUE(outcome.ok()) << outcome;
  EXPECT_FALSE(first.idempotent_replay());
  v1::CreateOrgResponse second;
  outcome = Create("replayed", "create-replayed-1", &second);
  ASSERT_TRUE(outcome.ok()) << outcome;
  EXPECT_TRUE(second.idempotent_replay());
  EXPECT_EQ(second.org().key_versions(0).public_key(), first.org().key_versions(0).public_key());
  // The key is in the event that made the org.
  bool recorded = false;
  for (const v1::AuditEvent& event : AuditEvents(*admin_, "replayed")) {
    if (event.action() == "org.create") {
      recorded = true;
      EXPECT_THAT(event.details(), EndsWith("idempotency_key=create-replayed-1"));
    }
  }
  EXPECT_TRUE(recorded);

  // Another key for the same org is another request: the org already exists.
  v1::CreateOrgResponse ignored;
  outcome = Create("replayed", "create-replayed-2", &ignored);
  EXPECT_EQ(outcome.code, grpc::StatusCode::ALREADY_EXISTS) << outcome;
  EXPECT_EQ(outcome.reason, "ERROR_REASON_ORG_EXISTS");

  // An org provisioned by a first Put was made by no CreateOrg: any key is refused.
  ASSERT_TRUE(Put(*writer_, PutRequest("provisioned", "db/password", "hunter2")).ok());
  outcome = Create("provisioned", "create-provisioned-1", &ignored);
  EXPECT_EQ(outcome.code, grpc::StatusCode::ALREADY_EXISTS) << outcome;
  EXPECT_EQ(outcome.reason, "ERROR_REASON_ORG_EXISTS");
  EXPECT_FALSE(ignored.idempotent_replay());
}

}  // namespace
}  // namespace credvault::e2e

// AdminService.ListOrgs against a real credvaultd: every org, ACTIVE and DESTROYED, paged in
// order of org id, filtered by state, for admins and auditors whose scope is every org.
#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/support/e2e_support.h"

namespace credvault::e2e {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;
using ::testing::Not;

[[maybe_unused]] ::testing::Environment* const kStack =
    ::testing::AddGlobalTestEnvironment(new StackEnvironment("org-listing"));

// Created out of byte order; one of them is destroyed by the suite.
const std::vector<std::string> kOrgs = {"list-d", "list-a", "list-e", "list-c", "list-b"};
constexpr char kDestroyed[] = "list-c";
constexpr char kProvisionedByPut[] = "list-f";

class OrgListingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const Stack* stack = CurrentStack();
    ASSERT_NE(stack, nullptr);
    Clients admin(TlsChannel(*stack, stack->decrypt_addr, Caller::Cert("admin")));
    Clients writer(TlsChannel(*stack, stack->write_addr, Caller::Cert("backend")));
    for (const std::string& org : kOrgs) {
      v1::CreateOrgRequest request;
      request.set_org_id(org);
      v1::CreateOrgResponse response;
      const Outcome created =
          Call(*admin.admin, &v1::AdminService::Stub::CreateOrg, request, &response);
      ASSERT_TRUE(created.ok()) << org << ": " << created;
    }
    // An org made by a first Put is listed like any other.
    const Outcome put = Put(writer, PutRequest(kProvisionedByPut, "db/password", "hunter2"));
    ASSERT_TRUE(put.ok()) << put;
    v1::DestroyOrgRequest destroy;
    destroy.set_org_id(kDestroyed);
    destroy.set_confirm_org_id(kDestroyed);
    destroy.set_reason("org listing test");
    v1::DestroyOrgResponse destroyed;
    const Outcome outcome =
        Call(*admin.admin, &v1::AdminService::Stub::DestroyOrg, destroy, &destroyed);
    ASSERT_TRUE(outcome.ok()) << outcome;
  }

  void SetUp() override {
    stack_ = CurrentStack();
    ASSERT_NE(stack_, nullptr);
  }

  std::unique_ptr<Clients> As(const std::string& cert) {
    return std::make_unique<Clients>(TlsChannel(*stack_, stack_->decrypt_addr, Caller::Cert(cert)));
  }

  // Every page of a listing, each page's orgs in the order received; fails the test on an
  // error or a listing that does not end.
  std::vector<std::vector<v1::OrgSummary>> Pages(Clients& clients, v1::ListOrgsRequest request) {
    std::vector<std::vector<v1::OrgSummary>> pages;
    for (int i = 0; i < 50; ++i) {
      v1::ListOrgsResponse response;
      const Outcome outcome =
          Call(*clients.admin, &v1::AdminService::Stub::ListOrgs, request, &response);
      EXPECT_TRUE(outcome.ok()) << outcome;
      if (!outcome.ok()) return pages;
      pages.emplace_back(response.orgs().begin(), response.orgs().end());
      if (response.next_page_token().empty()) return pages;
      request.set_page_token(response.next_page_token());
    }
    ADD_FAILURE() << "the listing did not end after 50 pages";
    return pages;
  }

  static std::vector<std::string> Ids(const std::vector<std::vector<v1::OrgSummary>>& pages) {
    std::vector<std::string> ids;
    for (const auto& page : pages) {
      for (const v1::OrgSummary& org : page) ids.push_back(org.org_id());
    }
    return ids;
  }

  const Stack* stack_ = nullptr;
};

TEST_F(OrgListingTest, PagesThroughEveryOrgInOrderOfId) {
  std::unique_ptr<Clients> admin = As("admin");
  v1::ListOrgsRequest request;
  request.set_page_size(2);
  const std::vector<std::vector<v1::OrgSummary>> pages = Pages(*admin, request);
  // Other orgs of the stack (none are expected) would only add ids; ours are in order.
  std::vector<std::string> ours;
  for (const std::string& id : Ids(pages)) {
    if (id.rfind("list-", 0) == 0) ours.push_back(id);
  }
  EXPECT_THAT(ours, ElementsAre("list-a", "list-b", "list-c", "list-d", "list-e", "list-f"));
  std::vector<std::string> sorted = Ids(pages);
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(Ids(pages), sorted);
  ASSERT_GE(pages.size(), 3u);
  for (const auto& page : pages) EXPECT_LE(page.size(), 2u);
  EXPECT_EQ(pages[0].size(), 2u);

  std::map<std::string, v1::OrgSummary> by_id;
  for (const auto& page : pages) {
    for (const v1::OrgSummary& org : page) by_id[org.org_id()] = org;
  }
  for (const char* id : {"list-a", "list-b", "list-d", "list-e", "list-f"}) {
    SCOPED_TRACE(id);
    const v1::OrgSummary& org = by_id[id];
    EXPECT_EQ(org.state(), v1::ORG_STATE_ACTIVE);
    EXPECT_EQ(org.current_key_version(), 1u);
    EXPECT_TRUE(org.has_create_time());
    EXPECT_FALSE(org.has_destroy_time());
  }
  const v1::OrgSummary& destroyed = by_id[kDestroyed];
  EXPECT_EQ(destroyed.state(), v1::ORG_STATE_DESTROYED);
  EXPECT_EQ(destroyed.current_key_version(), 0u);
  EXPECT_TRUE(destroyed.has_destroy_time());
  EXPECT_GE(destroyed.destroy_time().seconds(), destroyed.create_time().seconds());

  // What the listing says agrees with DescribeOrg.
  v1::DescribeOrgRequest describe;
  describe.set_org_id("list-b");
  v1::DescribeOrgResponse described;
  ASSERT_TRUE(Call(*admin->admin, &v1::AdminService::Stub::DescribeOrg, describe, &described).ok());
  EXPECT_EQ(described.org().create_time().seconds(), by_id["list-b"].create_time().seconds());
  EXPECT_EQ(described.org().create_time().nanos(), by_id["list-b"].create_time().nanos());
}

TEST_F(OrgListingTest, FiltersByState) {
  std::unique_ptr<Clients> admin = As("admin");
  v1::ListOrgsRequest request;
  request.set_page_size(2);
  request.set_state(v1::ORG_STATE_DESTROYED);
  const std::vector<std::vector<v1::OrgSummary>> destroyed = Pages(*admin, request);
  EXPECT_THAT(Ids(destroyed), ElementsAre(kDestroyed));
  for (const auto& page : destroyed) {
    for (const v1::OrgSummary& org : page) EXPECT_EQ(org.state(), v1::ORG_STATE_DESTROYED);
  }

  request.set_state(v1::ORG_STATE_ACTIVE);
  const std::vector<std::vector<v1::OrgSummary>> active = Pages(*admin, request);
  const std::vector<std::string> active_ids = Ids(active);
  EXPECT_THAT(active_ids, Not(::testing::Contains(kDestroyed)));
  for (const char* id : {"list-a", "list-b", "list-d", "list-e", "list-f"}) {
    EXPECT_THAT(active_ids, ::testing::Contains(id));
  }
  for (const auto& page : active) EXPECT_LE(page.size(), 2u);
}

TEST_F(OrgListingTest, AuditorsMayListAndSeeWhatAdminsSee) {
  v1::ListOrgsRequest request;
  request.set_page_size(500);
  const std::vector<std::string> as_admin = Ids(Pages(*As("admin"), request));
  const std::vector<std::string> as_auditor = Ids(Pages(*As("auditor"), request));
  EXPECT_THAT(as_auditor, Not(IsEmpty()));
  EXPECT_THAT(as_auditor, ElementsAreArray(as_admin));
}

TEST_F(OrgListingTest, WritersAndDecryptorsAreRefused) {
  for (const char* cert : {"backend", "worker"}) {
    SCOPED_TRACE(cert);
    std::unique_ptr<Clients> caller = As(cert);
    v1::ListOrgsResponse response;
    const Outcome outcome =
        Call(*caller->admin, &v1::AdminService::Stub::ListOrgs, v1::ListOrgsRequest(), &response);
    EXPECT_EQ(outcome.code, grpc::StatusCode::PERMISSION_DENIED) << outcome;
    EXPECT_EQ(response.orgs_size(), 0);
  }
}

TEST_F(OrgListingTest, AnAdminOfSomeOrgsOnlyIsRefused) {
  ASSERT_EQ(AddPolicyPrincipal({"id: \"spiffe://credvault.test/outsider\"",
                                "roles: [admin, auditor]", "orgs: [\"list-a\"]"}),
            "");
  std::unique_ptr<Clients> scoped = As("outsider");
  // The grant works for its org...
  v1::DescribeOrgRequest describe;
  describe.set_org_id("list-a");
  v1::DescribeOrgResponse described;
  const Outcome own =
      Call(*scoped->admin, &v1::AdminService::Stub::DescribeOrg, describe, &described);
  EXPECT_TRUE(own.ok()) << own;
  // ...but the listing spans every org.
  v1::ListOrgsResponse response;
  const Outcome outcome =
      Call(*scoped->admin, &v1::AdminService::Stub::ListOrgs, v1::ListOrgsRequest(), &response);
  EXPECT_EQ(outcome.code, grpc::StatusCode::PERMISSION_DENIED) << outcome;
  EXPECT_EQ(response.orgs_size(), 0);
}

TEST_F(OrgListingTest, RefusesBadPageTokensAndArguments) {
  std::unique_ptr<Clients> admin = As("admin");
  v1::ListOrgsRequest request;
  request.set_page_size(1);
  v1::ListOrgsResponse first;
  ASSERT_TRUE(Call(*admin->admin, &v1::AdminService::Stub::ListOrgs, request, &first).ok());
  ASSERT_FALSE(first.next_page_token().empty());

  // Made up.
  v1::ListOrgsRequest forged = request;
  forged.set_page_token("bm90LWEtdG9rZW4");
  v1::ListOrgsResponse response;
  Outcome outcome = Call(*admin->admin, &v1::AdminService::Stub::ListOrgs, forged, &response);
  EXPECT_EQ(outcome.code, grpc::StatusCode::INVALID_ARGUMENT) << outcome;
  EXPECT_EQ(outcome.reason, "ERROR_REASON_INVALID_PAGE_TOKEN");

  // A real token, altered.
  v1::ListOrgsRequest altered = request;
  std::string token = first.next_page_token();
  token[token.size() / 2] = token[token.size() / 2] == 'A' ? 'B' : 'A';
  altered.set_page_token(token);
  outcome = Call(*admin->admin, &v1::AdminService::Stub::ListOrgs, altered, &response);
  EXPECT_EQ(outcome.code, grpc::StatusCode::INVALID_ARGUMENT) << outcome;

  // A real token of another query (another state filter).
  v1::ListOrgsRequest other_query = request;
  other_query.set_state(v1::ORG_STATE_ACTIVE);
  other_query.set_page_token(first.next_page_token());
  outcome = Call(*admin->admin, &v1::AdminService::Stub::ListOrgs, other_query, &response);
  EXPECT_EQ(outcome.code, grpc::StatusCode::INVALID_ARGUMENT) << outcome;
  EXPECT_EQ(outcome.reason, "ERROR_REASON_INVALID_PAGE_TOKEN");

  // The token itself continues the same query.
  v1::ListOrgsRequest next = request;
  next.set_page_token(first.next_page_token());
  outcome = Call(*admin->admin, &v1::AdminService::Stub::ListOrgs, next, &response);
  EXPECT_TRUE(outcome.ok()) << outcome;

  v1::ListOrgsRequest negative;
  negative.set_page_size(-1);
  outcome = Call(*admin->admin, &v1::AdminService::Stub::ListOrgs, negative, &response);
  EXPECT_EQ(outcome.code, grpc::StatusCode::INVALID_ARGUMENT) << outcome;

  v1::ListOrgsRequest bad_state;
  bad_state.set_state(static_cast<v1::OrgState>(42));
  outcome = Call(*admin->admin, &v1::AdminService::Stub::ListOrgs, bad_state, &response);
  EXPECT_EQ(outcome.code, grpc::StatusCode::INVALID_ARGUMENT) << outcome;
}

}  // namespace
}  // namespace credvault::e2e

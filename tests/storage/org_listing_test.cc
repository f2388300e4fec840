// The org listing (storage/migrations/0013_list_orgs.sql, OrgDirectory::ListOrgs): keyset
// pages over every org in byte order, each org read under row-level security scoped to it,
// for the admin role only.

#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/org_directory.h"
#include "storage/org_store.h"
#include "storage/pool.h"
#include "tests/storage/test_database.h"

namespace credvault::storage {
namespace {

using ::credvault::storage::testing::AppRole;
using ::credvault::storage::testing::SeedOrg;
using ::credvault::storage::testing::TestDatabase;
using ::credvault::storage::testing::TestOrgKey;
using ::credvault::storage::testing::TestResigner;
using ::testing::ElementsAre;

// Created in an order other than byte order, so that the listing's order is its own.
const std::vector<std::string> kOrgs = {"org-d", "org-a", "org-e", "org-c", "org-b"};
constexpr char kRotated[] = "org-b";
constexpr char kDestroyed[] = "org-c";

std::vector<std::string> Ids(const std::vector<OrgSummary>& orgs) {
  std::vector<std::string> ids;
  for (const OrgSummary& org : orgs) ids.push_back(org.org_id);
  return ids;
}

// The whole suite lists every org of its database, so it has one of its own.
class OrgListingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    db_ = TestDatabase::Create().release();
    ASSERT_NE(db_, nullptr);
    before_seeding_ = absl::Now() - absl::Seconds(5);
    for (const std::string& org : kOrgs) SeedOrg(*db_, org);
    std::unique_ptr<ConnectionPool> admin = db_->Pool(AppRole::kAdmin, 1);
    ASSERT_TRUE(admin
                    ->Run(kRotated,
                          [](Transaction& tx) {
                            return OrgStore().RotateOrgKey(tx, TestOrgKey(2, 0x44), TestResigner());
                          })
                    .ok());
    ASSERT_TRUE(
        admin
            ->Run(kDestroyed,
                  [](Transaction& tx) { return OrgStore().MarkDestroyed(tx, TestResigner()); })
            .ok());
  }
  static void TearDownTestSuite() {
    delete db_;
    db_ = nullptr;
  }
  void SetUp() override { admin_ = db_->Pool(AppRole::kAdmin); }

  absl::StatusOr<std::vector<OrgSummary>> List(const std::string& after, std::size_t limit) {
    return OrgDirectory().ListOrgs(*admin_, after, limit, absl::Now() + absl::Seconds(30));
  }

  static TestDatabase* db_;
  static absl::Time before_seeding_;
  std::unique_ptr<ConnectionPool> admin_;
};

TestDatabase* OrgListingTest::db_ = nullptr;
absl::Time OrgListingTest::before_seeding_;

TEST_F(OrgListingTest, PagesThroughEveryOrgInByteOrder) {
  absl::StatusOr<std::vector<OrgSummary>> first = List("", 2);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT(Ids(*first), ElementsAre("org-a", "org-b"));
  absl::StatusOr<std::vector<OrgSummary>> second = List(first->back().org_id, 2);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_THAT(Ids(*second), ElementsAre("org-c", "org-d"));
  absl::StatusOr<std::vector<OrgSummary>> last = List(second->back().org_id, 2);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_THAT(Ids(*last), ElementsAre("org-e"));
  absl::StatusOr<std::vector<OrgSummary>> beyond = List(last->back().org_id, 2);
  ASSERT_TRUE(beyond.ok()) << beyond.status();
  EXPECT_TRUE(beyond->empty());

  absl::StatusOr<std::vector<OrgSummary>> all = List("", 1000);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(Ids(*all), ElementsAre("org-a", "org-b", "org-c", "org-d", "org-e"));
  // A cursor between two ids starts at the next one.
  absl::StatusOr<std::vector<OrgSummary>> between = List("org-bb", 1);
  ASSERT_TRUE(between.ok()) << between.status();
  EXPECT_THAT(Ids(*between), ElementsAre("org-c"));
}

TEST_F(OrgListingTest, ShowsEachOrgsStateTimesAndActiveKeyVersion) {
  absl::StatusOr<std::vector<OrgSummary>> all = List("", 10);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), kOrgs.size());
  for (const OrgSummary& org : *all) {
    SCOPED_TRACE(org.org_id);
    EXPECT_GE(org.created_at, before_seeding_);
    EXPECT_LE(org.created_at, absl::Now());
    if (org.org_id == kDestroyed) {
      EXPECT_EQ(org.state, OrgState::kDestroyed);
      ASSERT_TRUE(org.destroyed_at.has_value());
      EXPECT_GE(*org.destroyed_at, org.created_at);
      EXPECT_EQ(org.current_key_version, 0);
    } else {
      EXPECT_EQ(org.state, OrgState::kActive);
      EXPECT_FALSE(org.destroyed_at.has_value());
      EXPECT_EQ(org.current_key_version, org.org_id == kRotated ? 2 : 1);
    }
  }
}

TEST_F(OrgListingTest, LeavesTheCallersOrgScopeAsItWas) {
  constexpr Statement kListInside{"test.list_orgs_inside",
                                  "SELECT count(*) FROM credvault_list_orgs('', 10)"};
  constexpr Statement kScope{"test.scope", "SELECT current_setting('credvault.org_id', true)"};
  constexpr Statement kVisibleOrgs{"test.visible_orgs", "SELECT org_id FROM orgs"};
  const absl::Status status = admin_->Run("org-a", [&](Transaction& tx) -> absl::Status {
    absl::StatusOr<Row> count = tx.ExecuteOne(kListInside, {});
    if (!count.ok()) return count.status();
    EXPECT_EQ(count->Int(0).value_or(-1), static_cast<std::int64_t>(kOrgs.size()));
    absl::StatusOr<Row> scope = tx.ExecuteOne(kScope, {});
    if (!scope.ok()) return scope.status();
    EXPECT_EQ(scope->Text(0).value_or(""), "org-a");
    // Row-level security still shows this transaction its own org only.
    absl::StatusOr<std::vector<Row>> visible = tx.Execute(kVisibleOrgs, {});
    if (!visible.ok()) return visible.status();
    EXPECT_EQ(visible->size(), 1u);
    return absl::OkStatus();
  });
  EXPECT_TRUE(status.ok()) << status;
}

TEST_F(OrgListingTest, OnlyTheAdminRoleMayList) {
  for (const AppRole role : {AppRole::kWriter, AppRole::kDecryptor}) {
    SCOPED_TRACE(std::string(testing::AppRoleName(role)));
    std::unique_ptr<ConnectionPool> pool = db_->Pool(role, 1);
    const absl::StatusOr<std::vector<OrgSummary>> listed =
        OrgDirectory().ListOrgs(*pool, "", 10, absl::Now() + absl::Seconds(30));
    EXPECT_EQ(listed.status().code(), absl::StatusCode::kPermissionDenied) << listed.status();
  }
}

TEST_F(OrgListingTest, RefusesPageSizesOutOfBounds) {
  EXPECT_EQ(List("", 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(List("", 1001).status().code(), absl::StatusCode::kInvalidArgument);
  // The function checks its bounds itself too.
  constexpr Statement kTooMany{"test.list_orgs_too_many",
                               "SELECT count(*) FROM credvault_list_orgs('', 5000)"};
  const absl::Status status = admin_->RunWithoutOrg(
      [&](Transaction& tx) -> absl::Status { return tx.ExecuteOne(kTooMany, {}).status(); });
  EXPECT_FALSE(status.ok());
}

}  // namespace
}  // namespace credvault::storage

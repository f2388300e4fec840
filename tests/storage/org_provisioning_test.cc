// What the key authority asks of storage to provision an org on a first Put
// (OrgStore::FindOrg, FindActiveOrgKey and TryCreateOrg): a missing org or key is an empty
// answer, and an org that a concurrent transaction made first is an outcome, not an error,
// so that no caller has to read a status code to tell them apart.

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
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

// What a transaction spoiled by a refused insert returns, so that it is rolled back.
absl::Status Spoiled() { return absl::AbortedError("rolled back on purpose"); }

class OrgProvisioningTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    db_ = TestDatabase::Create().release();
    ASSERT_NE(db_, nullptr);
    SeedOrg(*db_, kSeeded);  // also the root key every org key below is sealed to
  }
  static void TearDownTestSuite() {
    delete db_;
    db_ = nullptr;
  }
  // The key authority's role.
  void SetUp() override { decryptor_ = db_->Pool(AppRole::kDecryptor, 2); }

  // FindOrg and FindActiveOrgKey of `org_id`, in one transaction.
  void Find(const std::string& org_id, std::optional<Org>& org, std::optional<OrgKey>& key) {
    const absl::Status status = decryptor_->Run(org_id, [&](Transaction& tx) -> absl::Status {
      absl::StatusOr<std::optional<Org>> found_org = OrgStore().FindOrg(tx);
      if (!found_org.ok()) return found_org.status();
      org = *found_org;
      absl::StatusOr<std::optional<OrgKey>> found_key = OrgStore().FindActiveOrgKey(tx);
      if (!found_key.ok()) return found_key.status();
      key = *found_key;
      return absl::OkStatus();
    });
    ASSERT_TRUE(status.ok()) << status;
  }

  // TryCreateOrg of `org_id` in a transaction of its own, rolled back unless it created.
  absl::StatusOr<CreateOrgOutcome> TryCreate(const std::string& org_id) {
    absl::StatusOr<CreateOrgOutcome> outcome = absl::UnknownError("not run");
    const absl::Status status = decryptor_->Run(org_id, [&](Transaction& tx) -> absl::Status {
      outcome = OrgStore().TryCreateOrg(tx, TestOrgKey(1, 0x33));
      if (!outcome.ok()) return outcome.status();
      return *outcome == CreateOrgOutcome::kCreated ? absl::OkStatus() : Spoiled();
    });
    if (outcome.ok() && *outcome == CreateOrgOutcome::kOrgExists) return outcome;
    if (!status.ok()) return status;
    return outcome;
  }

  static constexpr char kSeeded[] = "seeded-org";
  static TestDatabase* db_;
  std::unique_ptr<ConnectionPool> decryptor_;
};

TestDatabase* OrgProvisioningTest::db_ = nullptr;

TEST_F(OrgProvisioningTest, MissingOrgAndKeyAreEmptyAnswers) {
  std::optional<Org> org;
  std::optional<OrgKey> key;
  Find("never-made", org, key);
  EXPECT_FALSE(org.has_value());
  EXPECT_FALSE(key.has_value());

  Find(kSeeded, org, key);
  ASSERT_TRUE(org.has_value());
  EXPECT_EQ(org->org_id, kSeeded);
  EXPECT_EQ(org->state, OrgState::kActive);
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->version, 1);

  // A destroyed org is found, without an active key.
  SeedOrg(*db_, "destroyed-org");
  ASSERT_TRUE(
      db_->Pool(AppRole::kAdmin, 1)
          ->Run("destroyed-org",
                [](Transaction& tx) { return OrgStore().MarkDestroyed(tx, TestResigner()); })
          .ok());
  Find("destroyed-org", org, key);
  ASSERT_TRUE(org.has_value());
  EXPECT_EQ(org->state, OrgState::kDestroyed);
  EXPECT_FALSE(key.has_value());

  // The Get variants keep answering NOT_FOUND.
  const absl::Status missing =
      decryptor_->Run("never-made", [](Transaction& tx) { return OrgStore().GetOrg(tx).status(); });
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound) << missing;
}

TEST_F(OrgProvisioningTest, AnOrgThatExistsIsAnOutcome) {
  const absl::StatusOr<CreateOrgOutcome> first = TryCreate("made-once");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, CreateOrgOutcome::kCreated);
  std::optional<Org> org;
  std::optional<OrgKey> key;
  Find("made-once", org, key);
  ASSERT_TRUE(org.has_value());
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->version, 1);

  const absl::StatusOr<CreateOrgOutcome> again = TryCreate("made-once");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, CreateOrgOutcome::kOrgExists);

  // CreateOrg, for callers to whom an existing org is an error, still says ALREADY_EXISTS.
  const absl::Status created = decryptor_->Run(
      "made-once", [](Transaction& tx) { return OrgStore().CreateOrg(tx, TestOrgKey(1, 0x33)); });
  EXPECT_EQ(created.code(), absl::StatusCode::kAlreadyExists) << created;

  // Bad input stays an error, not an outcome.
  const absl::Status invalid = decryptor_->Run("made-never", [](Transaction& tx) {
    return OrgStore().TryCreateOrg(tx, TestOrgKey(2, 0x33)).status();
  });
  EXPECT_EQ(invalid.code(), absl::StatusCode::kInvalidArgument) << invalid;
  Find("made-never", org, key);
  EXPECT_FALSE(org.has_value());
}

// Two first Puts into one new org: the second insert waits for the first transaction and,
// once it commits, is told that the org exists.
TEST_F(OrgProvisioningTest, TheLoserOfARaceIsToldTheOrgExists) {
  const std::string org_id = "raced-org";
  absl::Notification inserted;
  absl::StatusOr<CreateOrgOutcome> winner = absl::UnknownError("not run");
  std::thread first([&] {
    const absl::Status status = decryptor_->Run(org_id, [&](Transaction& tx) -> absl::Status {
      winner = OrgStore().TryCreateOrg(tx, TestOrgKey(1, 0x33));
      if (!inserted.HasBeenNotified()) inserted.Notify();
      // Long enough for the second insert to wait on this one's row.
      absl::SleepFor(absl::Milliseconds(300));
      return winner.status();
    });
    EXPECT_TRUE(status.ok()) << status;
  });
  inserted.WaitForNotification();
  const absl::StatusOr<CreateOrgOutcome> loser = TryCreate(org_id);
  first.join();
  ASSERT_TRUE(winner.ok()) << winner.status();
  EXPECT_EQ(*winner, CreateOrgOutcome::kCreated);
  ASSERT_TRUE(loser.ok()) << loser.status();
  EXPECT_EQ(*loser, CreateOrgOutcome::kOrgExists);
}

}  // namespace
}  // namespace credvault::storage

#include "storage/reseal_job_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "storage/credential_store.h"
#include "storage/org_directory.h"
#include "storage/org_store.h"
#include "storage/pool.h"
#include "storage/root_key_store.h"
#include "storage/validation.h"
#include "tests/storage/test_database.h"

namespace credvault::storage {
namespace {

using ::credvault::storage::testing::AppRole;
using ::credvault::storage::testing::SeedOrg;
using ::credvault::storage::testing::TestDatabase;
using ::credvault::storage::testing::TestOrgKey;
using ::credvault::storage::testing::TestOrgKeySignature;
using ::credvault::storage::testing::TestResigner;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

NewResealJob Job(std::string id, std::int32_t from, std::int32_t to) {
  NewResealJob job;
  job.job_id = std::move(id);
  job.kind = ResealJobKind::kOrgKey;
  job.from_version = from;
  job.to_version = to;
  job.items_total = 3;
  job.created_by = "spiffe://test/admin";
  return job;
}

class ResealJobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = TestDatabase::Create();
    ASSERT_NE(db_, nullptr);
    SeedOrg(*db_, "acme");
    SeedOrg(*db_, "beta");
    admin_ = db_->Pool(AppRole::kAdmin);
    decryptor_ = db_->Pool(AppRole::kDecryptor);
    writer_ = db_->Pool(AppRole::kWriter);
  }

  template <typename Fn>
  absl::Status In(ConnectionPool& pool, const std::string& org, Fn fn) {
    return pool.Run(org, [&](Transaction& tx) -> absl::Status { return fn(tx); });
  }

  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<ConnectionPool> admin_, decryptor_, writer_;
  const ResealJobStore jobs_{};
  const OrgStore orgs_{};
  const CredentialStore credentials_{};
  const OrgDirectory directory_{};
};

TEST_F(ResealJobStoreTest, OneOpenJobPerOrgAndOpenJobsAreListedAcrossOrgs) {
  ASSERT_TRUE(In(*admin_, "acme", [&](Transaction& tx) -> absl::Status {
                return jobs_.Create(tx, Job("job-1", 1, 2)).status();
              }).ok());
  const absl::Status second = In(*admin_, "acme", [&](Transaction& tx) -> absl::Status {
    return jobs_.Create(tx, Job("job-2", 2, 3)).status();
  });
  EXPECT_EQ(second.code(), absl::StatusCode::kFailedPrecondition) << second;
  EXPECT_THAT(second.message(), HasSubstr("job-1"));
  // Another org is not blocked by acme's job.
  ASSERT_TRUE(In(*admin_, "beta", [&](Transaction& tx) -> absl::Status {
                return jobs_.Create(tx, Job("job-1", 1, 2)).status();
              }).ok());

  std::vector<std::string> open;
  ASSERT_TRUE(decryptor_
                  ->RunWithoutOrg([&](Transaction& tx) -> absl::Status {
                    absl::StatusOr<std::vector<std::string>> ids = jobs_.ListOrgsWithOpenJobs(tx);
                    if (ids.ok()) open = *ids;
                    return ids.status();
                  })
                  .ok());
  EXPECT_THAT(open, ElementsAre("acme", "beta"));

  // Finishing a job takes its org off the list (trigger), and frees the org for another.
  ASSERT_TRUE(In(*decryptor_, "acme", [&](Transaction& tx) -> absl::Status {
                absl::StatusOr<std::optional<ResealJob>> job = jobs_.LockOpen(tx);
                if (!job.ok()) return job.status();
                if (!*job) return absl::NotFoundError("no open job");
                ResealJob done = **job;
                done.state = ResealJobState::kSucceeded;
                done.items_done = 3;
                return jobs_.Update(tx, done);
              }).ok());
  ASSERT_TRUE(decryptor_
                  ->RunWithoutOrg([&](Transaction& tx) -> absl::Status {
                    absl::StatusOr<std::vector<std::string>> ids = jobs_.ListOrgsWithOpenJobs(tx);
                    if (ids.ok()) open = *ids;
                    return ids.status();
                  })
                  .ok());
  EXPECT_THAT(open, ElementsAre("beta"));
  ResealJob stored;
  ASSERT_TRUE(In(*admin_, "acme", [&](Transaction& tx) -> absl::Status {
                absl::StatusOr<ResealJob> job = jobs_.Get(tx, "job-1");
                if (job.ok()) stored = *job;
                return job.status();
              }).ok());
  EXPECT_EQ(stored.state, ResealJobState::kSucceeded);
  EXPECT_EQ(stored.items_done, 3u);
  EXPECT_TRUE(stored.ended_at.has_value());
  EXPECT_TRUE(In(*admin_, "acme", [&](Transaction& tx) -> absl::Status {
                return jobs_.Create(tx, Job("job-2", 2, 3)).status();
              }).ok());
}

TEST_F(ResealJobStoreTest, JobsAreTenantScopedAndFoundByIdempotencyKey) {
  NewResealJob job = Job("job-1", 1, 2);
  job.idempotency_key = "rotate-7";
  job.request_hash = std::vector<std::uint8_t>(32, 0x01);
  ASSERT_TRUE(In(*admin_, "acme", [&](Transaction& tx) -> absl::Status {
                return jobs_.Create(tx, job).status();
              }).ok());
  std::optional<ResealJob> found, elsewhere;
  ASSERT_TRUE(In(*admin_, "acme", [&](Transaction& tx) -> absl::Status {
                absl::StatusOr<std::optional<ResealJob>> r =
                    jobs_.FindByIdempotencyKey(tx, "rotate-7");
                if (r.ok()) found = *r;
                return r.status();
              }).ok());
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->job_id, "job-1");
  // Another org's transaction sees neither the job nor its key.
  ASSERT_TRUE(In(*admin_, "beta", [&](Transaction& tx) -> absl::Status {
                absl::StatusOr<std::optional<ResealJob>> r =
                    jobs_.FindByIdempotencyKey(tx, "rotate-7");
                if (r.ok()) elsewhere = *r;
                EXPECT_EQ(jobs_.Get(tx, "job-1").status().code(), absl::StatusCode::kNotFound);
                return r.status();
              }).ok());
  EXPECT_FALSE(elsewhere.has_value());
}

TEST_F(ResealJobStoreTest, ListIsNewestFirstWithKeysetPaging) {
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(In(*admin_, "acme", [&](Transaction& tx) -> absl::Status {
                  absl::StatusOr<ResealJob> made =
                      jobs_.Create(tx, Job("job-" + std::to_string(i), i, i + 1));
                  if (!made.ok()) return made.status();
                  ResealJob done = *made;
                  done.state = ResealJobState::kSucceeded;
                  return jobs_.Update(tx, done);
                }).ok());
  }
  std::vector<std::string> seen;
  ResealJobPageQuery query;
  query.page_size = 2;
  for (int page = 0; page < 5; ++page) {
    ResealJobPage result;
    ASSERT_TRUE(In(*admin_, "acme", [&](Transaction& tx) -> absl::Status {
                  absl::StatusOr<ResealJobPage> r = jobs_.List(tx, query);
                  if (r.ok()) result = *r;
                  return r.status();
                }).ok());
    for (const ResealJob& job : result.jobs) seen.push_back(job.job_id);
    if (!result.more) break;
    query.after.emplace(result.jobs.back().started_at, result.jobs.back().job_id);
  }
  EXPECT_THAT(seen, ElementsAre("job-5", "job-4", "job-3", "job-2", "job-1"));
  query = {};
  query.state = ResealJobState::kRunning;
  ResealJobPage running;
  ASSERT_TRUE(In(*admin_, "acme", [&](Transaction& tx) -> absl::Status {
                absl::StatusOr<ResealJobPage> r = jobs_.List(tx, query);
                if (r.ok()) running = *r;
                return r.status();
              }).ok());
  EXPECT_TRUE(running.jobs.empty());
}

TEST_F(ResealJobStoreTest, DirectoryListsEveryOrgToDecryptAndAdminButNotWriter) {
  for (ConnectionPool* pool : {decryptor_.get(), admin_.get()}) {
    std::vector<std::string> ids;
    std::uint64_t count = 0, through = 0;
    ASSERT_TRUE(pool->RunWithoutOrg([&](Transaction& tx) -> absl::Status {
                      absl::StatusOr<std::vector<std::string>> r = directory_.ListAfter(tx, "", 10);
                      if (!r.ok()) return r.status();
                      ids = *r;
                      absl::StatusOr<std::uint64_t> n = directory_.Count(tx);
                      if (!n.ok()) return n.status();
                      count = *n;
                      absl::StatusOr<std::uint64_t> t = directory_.CountThrough(tx, "acme");
                      if (!t.ok()) return t.status();
                      through = *t;
                      return absl::OkStatus();
                    })
                    .ok());
    EXPECT_THAT(ids, ElementsAre("acme", "beta"));
    EXPECT_EQ(count, 2u);
    EXPECT_EQ(through, 1u);
  }
  const absl::Status denied = writer_->RunWithoutOrg(
      [&](Transaction& tx) -> absl::Status { return directory_.ListAfter(tx, "", 10).status(); });
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied) << denied;
}

TEST_F(ResealJobStoreTest, OrgKeysResealAndRetireOnlyWhenStillSealedAsExpected) {
  // Root key 2 and a rotated org key: version 1 RETIRING, version 2 ACTIVE.
  ASSERT_TRUE(decryptor_
                  ->RunWithoutOrg([&](Transaction& tx) -> absl::Status {
                    return RootKeyStore().Rotate(
                        tx, NewRootKey{2, std::vector<std::uint8_t>(32, 0x66),
                                       std::vector<std::uint8_t>(48, 0x77), "test-seal-key"});
                  })
                  .ok());
  ASSERT_TRUE(In(*admin_, "acme", [&](Transaction& tx) -> absl::Status {
                return orgs_.RotateOrgKey(tx, TestOrgKey(2, 0x90), TestResigner());
              }).ok());
  std::vector<SealedOrgKey> stale;
  ASSERT_TRUE(In(*decryptor_, "acme", [&](Transaction& tx) -> absl::Status {
                absl::StatusOr<std::vector<SealedOrgKey>> r = orgs_.LockKeysNotSealedToRoot(tx, 2);
                if (r.ok()) stale = *r;
                return r.status();
              }).ok());
  ASSERT_EQ(stale.size(), 2u);
  EXPECT_EQ(stale[0].key.version, 1);
  EXPECT_EQ(stale[0].sealed_private_key, std::vector<std::uint8_t>(80, 0x44));

  // Key 1 re-sealed to root 2 by the key authority, in the state it is in, signed again.
  NewOrgKey moved = TestOrgKey(1, 0x33, 2);
  moved.sealed_private_key = std::vector<std::uint8_t>(80, 0xAB);
  moved.state = OrgKeyState::kRetiring;
  moved.signature = std::vector<std::uint8_t>(64, 0xCD);
  // Expected root 2 is wrong: nothing changes.
  const absl::Status aborted = In(*decryptor_, "acme", [&](Transaction& tx) -> absl::Status {
    return orgs_.ReplaceSealedPrivateKey(tx, 2, moved);
  });
  EXPECT_EQ(aborted.code(), absl::StatusCode::kAborted) << aborted;
  // A different public key than stored is refused too (by credvault_store_org_key): a
  // re-seal never swaps the key pair.
  NewOrgKey swapped = moved;
  swapped.public_key = std::vector<std::uint8_t>(32, 0xEE);
  const absl::Status swap_refused = In(*decryptor_, "acme", [&](Transaction& tx) -> absl::Status {
    return orgs_.ReplaceSealedPrivateKey(tx, 1, swapped);
  });
  EXPECT_EQ(swap_refused.code(), absl::StatusCode::kFailedPrecondition) << swap_refused;
  ASSERT_TRUE(In(*decryptor_, "acme", [&](Transaction& tx) -> absl::Status {
                return orgs_.ReplaceSealedPrivateKey(tx, 1, moved);
              }).ok());
  ASSERT_TRUE(In(*decryptor_, "acme", [&](Transaction& tx) -> absl::Status {
                absl::StatusOr<std::vector<SealedOrgKey>> r = orgs_.LockKeysNotSealedToRoot(tx, 2);
                if (r.ok()) stale = *r;
                return r.status();
              }).ok());
  ASSERT_EQ(stale.size(), 1u);
  EXPECT_EQ(stale[0].key.version, 2);

  // Retiring, then destroying the retired private half.
  std::vector<std::int32_t> retired;
  ASSERT_TRUE(In(*decryptor_, "acme", [&](Transaction& tx) -> absl::Status {
                absl::StatusOr<std::vector<std::int32_t>> r =
                    orgs_.RetireRetiringKeys(tx, TestResigner());
                if (r.ok()) retired = *r;
                return r.status();
              }).ok());
  EXPECT_THAT(retired, ElementsAre(1));
  std::vector<OrgKey> keys;
  ASSERT_TRUE(In(*decryptor_, "acme", [&](Transaction& tx) -> absl::Status {
                absl::StatusOr<std::vector<OrgKey>> r = orgs_.ListOrgKeys(tx);
                if (r.ok()) keys = *r;
                return r.status();
              }).ok());
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].state, OrgKeyState::kRetired);
  EXPECT_EQ(keys[0].root_key_version, 2);
  EXPECT_EQ(keys[0].signature, TestOrgKeySignature(OrgKeyState::kRetired));
  EXPECT_EQ(keys[1].state, OrgKeyState::kActive);
  EXPECT_EQ(keys[1].signature, TestOrgKeySignature(OrgKeyState::kActive));
  const absl::Status active = In(*admin_, "acme", [&](Transaction& tx) -> absl::Status {
    return orgs_.DestroyRetiredKey(tx, 2, TestResigner()).status();
  });
  EXPECT_EQ(active.code(), absl::StatusCode::kFailedPrecondition) << active;
  bool destroyed = false, again = true;
  ASSERT_TRUE(In(*admin_, "acme", [&](Transaction& tx) -> absl::Status {
                absl::StatusOr<bool> r = orgs_.DestroyRetiredKey(tx, 1, TestResigner());
                if (r.ok()) destroyed = *r;
                absl::StatusOr<bool> r2 = orgs_.DestroyRetiredKey(tx, 1, TestResigner());
                if (r2.ok()) again = *r2;
                return r2.status();
              }).ok());
  EXPECT_TRUE(destroyed);
  EXPECT_FALSE(again);
  EXPECT_EQ(
      In(*decryptor_, "acme",
         [&](Transaction& tx) -> absl::Status { return orgs_.GetSealedPrivateKey(tx, 1).status(); })
          .code(),
      absl::StatusCode::kFailedPrecondition);
}

TEST_F(ResealJobStoreTest, RetiredKeyStillSealingACredentialIsNotDestroyed) {
  ASSERT_TRUE(In(*writer_, "acme", [&](Transaction& tx) -> absl::Status {
                absl::StatusOr<PreparedPut> prepared =
                    credentials_.PreparePut(tx, "crm/token", std::nullopt);
                if (!prepared.ok()) return prepared.status();
                if (prepared->outcome != PrepareOutcome::kPrepared) {
                  return absl::FailedPreconditionError("not prepared");
                }
                NewCredentialVersion v;
                v.envelope = std::vector<std::uint8_t>(200, 0x01);
                v.org_key_version = 1;
                v.writer_key_version = 1;
                v.created_by = "test";
                return credentials_.InsertVersion(tx, prepared->plan, v).status();
              }).ok());
  ASSERT_TRUE(In(*admin_, "acme", [&](Transaction& tx) -> absl::Status {
                return orgs_.RotateOrgKey(tx, TestOrgKey(2, 0x90), TestResigner());
              }).ok());
  std::uint64_t to_move = 0;
  std::vector<EnvelopeToReseal> batch;
  const absl::Status locked = In(*decryptor_, "acme", [&](Transaction& tx) -> absl::Status {
    absl::StatusOr<std::uint64_t> n = credentials_.CountEnvelopesNotSealedTo(tx, 2);
    if (!n.ok()) return n.status();
    to_move = *n;
    absl::StatusOr<std::vector<EnvelopeToReseal>> b =
        credentials_.LockEnvelopesNotSealedTo(tx, 2, std::nullopt, 10);
    if (b.ok()) batch = *b;
    if (!b.ok()) return b.status();
    return orgs_.RetireRetiringKeys(tx, TestResigner()).status();
  });
  ASSERT_TRUE(locked.ok()) << locked;
  EXPECT_EQ(to_move, 1u);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].name, "crm/token");
  EXPECT_EQ(batch[0].org_key_version, 1);
  const absl::Status in_use = In(*admin_, "acme", [&](Transaction& tx) -> absl::Status {
    return orgs_.DestroyRetiredKey(tx, 1, TestResigner()).status();
  });
  EXPECT_EQ(in_use.code(), absl::StatusCode::kFailedPrecondition) << in_use;
  EXPECT_THAT(in_use.message(), HasSubstr("still has credential versions"));
  // After the cursor, nothing is left.
  ASSERT_TRUE(In(*decryptor_, "acme", [&](Transaction& tx) -> absl::Status {
                absl::StatusOr<std::vector<EnvelopeToReseal>> b =
                    credentials_.LockEnvelopesNotSealedTo(
                        tx, 2, std::make_pair(std::string("crm/token"), std::int64_t{1}), 10);
                if (b.ok()) batch = *b;
                return b.status();
              }).ok());
  EXPECT_TRUE(batch.empty());
}

}  // namespace
}  // namespace credvault::storage

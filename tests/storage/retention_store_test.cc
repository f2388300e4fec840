#include "storage/retention_store.h"

#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "crypto/audit_signer.h"
#include "crypto/key_buffer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/audit_log.h"
#include "storage/credential_store.h"
#include "storage/idempotency_store.h"
#include "storage/migrator.h"
#include "storage/org_store.h"
#include "storage/pool.h"
#include "tests/storage/test_database.h"

namespace credvault::storage {
namespace {

using ::credvault::storage::testing::AppRole;
using ::credvault::storage::testing::SeedOrg;
using ::credvault::storage::testing::TestDatabase;
using ::credvault::storage::testing::TestResigner;
using ::testing::ElementsAre;
using ::testing::Field;

constexpr std::size_t kBatch = 100;
// Later than anything the tests write: every deletion is before it.
const absl::Time kFarFuture = absl::FromUnixSeconds(4102444800);  // 2100-01-01

NewCredentialVersion Version(std::uint8_t marker) {
  NewCredentialVersion v;
  v.envelope = {marker, marker, marker};
  v.org_key_version = 1;
  v.writer_key_version = 1;
  v.created_by = "svc";
  return v;
}

// Each test works in orgs of its own, so the tests share one database.
class RetentionStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    db_ = TestDatabase::Create().release();
    ASSERT_NE(db_, nullptr);
  }
  static void TearDownTestSuite() {
    delete db_;
    db_ = nullptr;
  }
  void SetUp() override {
    writer_ = db_->Pool(AppRole::kWriter);
    decryptor_ = db_->Pool(AppRole::kDecryptor);
    admin_ = db_->Pool(AppRole::kAdmin);
  }

  // Puts a version as the write tier does (the put erases beyond max_versions itself), with
  // an idempotency key if one is given.
  std::int64_t Put(const std::string& org, const std::string& name, std::uint8_t marker,
                   std::optional<std::int32_t> max_versions = std::nullopt,
                   std::optional<std::string> idempotency_key = std::nullopt) {
    std::int64_t version = 0;
    const absl::Status status = writer_->Run(org, [&](Transaction& tx) -> absl::Status {
      absl::StatusOr<PreparedPut> prepared = credentials_.PreparePut(tx, name, std::nullopt);
      if (!prepared.ok()) return prepared.status();
      if (prepared->outcome != PrepareOutcome::kPrepared) {
        return absl::FailedPreconditionError("not prepared");
      }
      NewCredentialVersion v = Version(marker);
      v.max_versions = max_versions;
      v.idempotency_key = idempotency_key;
      if (idempotency_key.has_value()) v.request_digest = std::vector<std::uint8_t>(32, 1);
      if (absl::Status s = credentials_.InsertVersion(tx, prepared->plan, v).status(); !s.ok())
        return s;
      version = prepared->plan.version;
      return absl::OkStatus();
    });
    EXPECT_TRUE(status.ok()) << status;
    return version;
  }
  void SoftDelete(const std::string& org, const std::string& name) {
    absl::StatusOr<DeleteResult> deleted = absl::UnknownError("not run");
    const absl::Status status = writer_->Run(org, [&](Transaction& tx) {
      deleted = credentials_.Delete(
          tx,
          DeleteRequest{
              name, DeleteMode::kSoftDelete, std::nullopt, std::nullopt, {}, "svc", "r-delete"});
      return deleted.status();
    });
    ASSERT_TRUE(status.ok()) << status;
    ASSERT_EQ(deleted->outcome, DeleteOutcome::kDone);
  }
  absl::StatusOr<CredentialMetadata> Describe(const std::string& org, const std::string& name,
                                              std::optional<std::int64_t> version = {}) {
    absl::StatusOr<CredentialMetadata> result = absl::UnknownError("not run");
    const absl::Status status = writer_->Run(org, [&](Transaction& tx) {
      result = credentials_.GetMetadata(tx, name, version, /*include_deleted=*/true);
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    return result;
  }
  absl::StatusOr<CredentialPurgeBatch> PurgeCredentials(
      const std::string& org, absl::Time cutoff, std::size_t limit = kBatch,
      const std::optional<CredentialCursor>& after = std::nullopt) {
    absl::StatusOr<CredentialPurgeBatch> result = absl::UnknownError("not run");
    const absl::Status status = admin_->Run(org, [&](Transaction& tx) {
      result = store_.PurgeCredentialVersions(tx, cutoff, limit, after);
      return result.status();
    });
    if (!status.ok()) return status;
    return result;
  }
  absl::StatusOr<AuditPurgeBatch> PurgeAudit(const std::string& org, absl::Time cutoff,
                                             std::size_t max_events,
                                             const CheckpointSigner& sign = {}) {
    absl::StatusOr<AuditPurgeBatch> result = absl::UnknownError("not run");
    const absl::Status status = admin_->Run(org, [&](Transaction& tx) {
      result = store_.PurgeAuditEvents(tx, cutoff, max_events, sign);
      return result.status();
    });
    if (!status.ok()) return status;
    return result;
  }
  // Appends `count` events to `org`'s chain, one minute apart from `first`.
  std::vector<AuditEvent> AppendEvents(ConnectionPool& pool, const std::string& org,
                                       absl::Time first, int count) {
    std::vector<AuditEvent> events;
    for (int i = 0; i < count; ++i) {
      const AuditLog log([t = first + absl::Minutes(i)] { return t; });
      const absl::Status status = pool.Run(org, [&](Transaction& tx) -> absl::Status {
        absl::StatusOr<AuditEvent> event =
            log.Append(tx, {"svc", "credential.put", "name", "ok", "r" + std::to_string(i), ""});
        if (!event.ok()) return event.status();
        events.push_back(*event);
        return absl::OkStatus();
      });
      EXPECT_TRUE(status.ok()) << status;
    }
    return events;
  }
  AuditVerification Verify(const std::string& org) {
    AuditVerification result;
    const absl::Status status = admin_->Run(org, [&](Transaction& tx) -> absl::Status {
      absl::StatusOr<AuditVerification> v = AuditLog().Verify(tx);
      if (!v.ok()) return v.status();
      result = *v;
      return absl::OkStatus();
    });
    EXPECT_TRUE(status.ok()) << status;
    return result;
  }
  std::vector<AuditCheckpoint> Checkpoints(const std::string& org) {
    std::vector<AuditCheckpoint> result;
    const absl::Status status = admin_->Run(org, [&](Transaction& tx) -> absl::Status {
      absl::StatusOr<std::vector<AuditCheckpoint>> c = AuditLog().ListCheckpoints(tx);
      if (!c.ok()) return c.status();
      result = *c;
      return absl::OkStatus();
    });
    EXPECT_TRUE(status.ok()) << status;
    return result;
  }
  static long Count(const std::string& sql) {
    pqxx::connection connection(db_->SuperuserConninfo());
    pqxx::work tx(connection);
    return tx.exec(sql)[0][0].as<long>();
  }

  static TestDatabase* db_;
  const CredentialStore credentials_{};
  const RetentionStore store_{};
  std::unique_ptr<ConnectionPool> writer_;
  std::unique_ptr<ConnectionPool> decryptor_;
  std::unique_ptr<ConnectionPool> admin_;
};

TestDatabase* RetentionStoreTest::db_ = nullptr;

TEST_F(RetentionStoreTest, SoftDeletedVersionsGoAfterTheCutoffAndTheNewestStaysAsATombstone) {
  SeedOrg(*db_, "soft-org");
  for (std::uint8_t i = 1; i <= 3; ++i) Put("soft-org", "crm/token", i);
  SoftDelete("soft-org", "crm/token");
  const absl::StatusOr<CredentialMetadata> deleted = Describe("soft-org", "crm/token");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  ASSERT_TRUE(deleted->deleted_at.has_value());

  // Deleted exactly at the cutoff is not before it: nothing happens.
  absl::StatusOr<CredentialPurgeBatch> batch = PurgeCredentials("soft-org", *deleted->deleted_at);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->examined, 0u);
  EXPECT_EQ(Count("SELECT count(*) FROM credentials WHERE org_id = 'soft-org' AND NOT erased"), 3);

  batch = PurgeCredentials("soft-org", *deleted->deleted_at + absl::Microseconds(1));
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->examined, 3u);
  EXPECT_EQ(batch->erased, 3u);
  EXPECT_EQ(batch->deleted, 2u);
  EXPECT_FALSE(batch->resume_after.has_value());
  EXPECT_EQ(Count("SELECT count(*) FROM credentials WHERE org_id = 'soft-org'"), 1);
  const absl::StatusOr<CredentialMetadata> tombstone = Describe("soft-org", "crm/token");
  ASSERT_TRUE(tombstone.ok()) << tombstone.status();
  EXPECT_EQ(tombstone->version, 3);
  EXPECT_TRUE(tombstone->erased);
  EXPECT_EQ(Describe("soft-org", "crm/token", 1).status().code(), absl::StatusCode::kNotFound);

  // The tombstone is done with: a later sweep finds nothing, and the next Put continues the
  // version numbers instead of starting again at 1.
  batch = PurgeCredentials("soft-org", kFarFuture);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->examined, 0u);
  EXPECT_EQ(Put("soft-org", "crm/token", 9), 4);
}

TEST_F(RetentionStoreTest, ErasedOldVersionsGoButLiveVersionsNeverDo) {
  SeedOrg(*db_, "versions-org");
  for (std::uint8_t i = 1; i <= 4; ++i) Put("versions-org", "dialler/key", i, /*max_versions=*/2);
  Put("versions-org", "live/only", 7);
  ASSERT_EQ(Count("SELECT count(*) FROM credentials WHERE org_id = 'versions-org' AND erased"), 2);

  const absl::StatusOr<CredentialPurgeBatch> batch = PurgeCredentials("versions-org", kFarFuture);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->examined, 2u);
  EXPECT_EQ(batch->erased, 0u);  // erased at Put already
  EXPECT_EQ(batch->deleted, 2u);

  // Versions 3 and 4 (the current one) and the other credential are untouched and decrypt.
  for (const auto& [name, version] : std::vector<std::pair<std::string, std::int64_t>>{
           {"dialler/key", 3}, {"dialler/key", 4}, {"live/only", 1}}) {
    SCOPED_TRACE(name + "@" + std::to_string(version));
    const absl::Status read = decryptor_->Run("versions-org", [&](Transaction& tx) {
      return credentials_.ReadEnvelope(tx, name, version).status();
    });
    EXPECT_TRUE(read.ok()) << read;
  }
  EXPECT_EQ(Count("SELECT count(*) FROM credentials WHERE org_id = 'versions-org'"), 3);
}

TEST_F(RetentionStoreTest, LargeBacklogsGoInBoundedBatches) {
  SeedOrg(*db_, "batch-org");
  for (int n = 0; n < 5; ++n) {
    const std::string name = "svc-" + std::to_string(n);
    Put("batch-org", name, 1);
    Put("batch-org", name, 2);
    SoftDelete("batch-org", name);
  }
  std::optional<CredentialCursor> cursor;
  std::size_t examined = 0, erased = 0, deleted = 0;
  int batches = 0;
  do {
    const absl::StatusOr<CredentialPurgeBatch> batch =
        PurgeCredentials("batch-org", kFarFuture, /*limit=*/3, cursor);
    ASSERT_TRUE(batch.ok()) << batch.status();
    EXPECT_LE(batch->examined, 3u);
    examined += batch->examined;
    erased += batch->erased;
    deleted += batch->deleted;
    cursor = batch->resume_after;
    ASSERT_LT(++batches, 10);
  } while (cursor.has_value());
  EXPECT_EQ(batches, 4);  // 10 versions: 3 + 3 + 3 + 1
  EXPECT_EQ(examined, 10u);
  EXPECT_EQ(erased, 10u);
  EXPECT_EQ(deleted, 5u);  // the older version of each; the newest stay as tombstones
  EXPECT_EQ(Count("SELECT count(*) FROM credentials WHERE org_id = 'batch-org' AND NOT erased"), 0);
}

TEST_F(RetentionStoreTest, EveryVersionOfADestroyedOrgGoesWhateverTheCutoff) {
  SeedOrg(*db_, "doomed-org");
  SeedOrg(*db_, "bystander-org");
  Put("doomed-org", "a", 1);
  Put("doomed-org", "a", 2);
  Put("doomed-org", "b", 3);
  SoftDelete("doomed-org", "b");
  Put("bystander-org", "a", 4);
  const absl::Status destroyed = admin_->Run(
      "doomed-org", [](Transaction& tx) { return OrgStore().MarkDestroyed(tx, TestResigner()); });
  ASSERT_TRUE(destroyed.ok()) << destroyed;

  const absl::StatusOr<CredentialPurgeBatch> batch =
      PurgeCredentials("doomed-org", absl::UnixEpoch());
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->examined, 3u);
  EXPECT_EQ(batch->erased, 3u);
  EXPECT_EQ(batch->deleted, 3u);
  EXPECT_EQ(Count("SELECT count(*) FROM credentials WHERE org_id = 'doomed-org'"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM credentials WHERE org_id = 'bystander-org' "
                  "AND NOT erased"),
            1);
  // The bystander, an active org, keeps its live version even with the latest cutoff.
  const absl::StatusOr<CredentialPurgeBatch> bystander =
      PurgeCredentials("bystander-org", kFarFuture);
  ASSERT_TRUE(bystander.ok()) << bystander.status();
  EXPECT_EQ(bystander->examined, 0u);
}

TEST_F(RetentionStoreTest, IdempotencyKeysOlderThanTheCutoffExpireInBatches) {
  SeedOrg(*db_, "idem-org");
  SeedOrg(*db_, "idem-other");
  for (const char* org : {"idem-org", "idem-other"}) {
    for (const char* key : {"old-1", "old-2", "old-3", "new-1"}) {
      ASSERT_EQ(Put(org, std::string("name-") + key, 1, std::nullopt, key), 1);
    }
  }
  db_->SuperuserExec(
      "UPDATE idempotency_keys SET created_at = now() - interval '2 days' "
      "WHERE idempotency_key LIKE 'old-%'");
  const absl::Time cutoff = absl::Now() - absl::Hours(24);

  std::vector<std::size_t> batches;
  for (int i = 0; i < 3; ++i) {
    const absl::Status status = admin_->Run("idem-org", [&](Transaction& tx) -> absl::Status {
      absl::StatusOr<std::size_t> deleted = store_.PurgeIdempotencyKeys(tx, cutoff, 2);
      if (!deleted.ok()) return deleted.status();
      batches.push_back(*deleted);
      return absl::OkStatus();
    });
    ASSERT_TRUE(status.ok()) << status;
  }
  EXPECT_THAT(batches, ElementsAre(2u, 1u, 0u));
  EXPECT_EQ(Count("SELECT count(*) FROM idempotency_keys WHERE org_id = 'idem-org'"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM idempotency_keys WHERE org_id = 'idem-other'"), 4);
  // The retry of a recent Put still finds its record.
  const absl::Status lookup = writer_->Run("idem-org", [](Transaction& tx) -> absl::Status {
    absl::StatusOr<std::optional<IdempotencyRecord>> record =
        IdempotencyStore().Lookup(tx, "new-1");
    if (!record.ok()) return record.status();
    return record->has_value() ? absl::OkStatus() : absl::NotFoundError("new-1 is gone");
  });
  EXPECT_TRUE(lookup.ok()) << lookup;
}

TEST_F(RetentionStoreTest, AuditPurgeGoesInBatchesAndLeavesAVerifiableChain) {
  const absl::Time t0 = absl::FromUnixSeconds(1600000000);
  // Events 1..6 at t0 + 0..5 min, 7..10 at t0 + 6..9 min; the cutoff falls between.
  AppendEvents(*decryptor_, "audit-org", t0, 10);
  AppendEvents(*admin_, "audit-other", t0, 4);
  const absl::Time cutoff = t0 + absl::Minutes(5) + absl::Seconds(30);

  absl::StatusOr<AuditPurgeBatch> batch = PurgeAudit("audit-org", cutoff, 4);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->deleted, 4u);
  EXPECT_EQ(batch->checkpoint_seq, 4u);
  EXPECT_TRUE(batch->more);
  batch = PurgeAudit("audit-org", cutoff, 4);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->deleted, 2u);
  EXPECT_EQ(batch->checkpoint_seq, 6u);
  EXPECT_FALSE(batch->more);
  batch = PurgeAudit("audit-org", cutoff, 4);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->deleted, 0u);
  EXPECT_EQ(batch->checkpoint_seq, 0u);

  // The checkpoint of the first batch vouched only for purged events: it went too.
  EXPECT_THAT(Checkpoints("audit-org"), ElementsAre(Field(&AuditCheckpoint::seq, 6u)));
  const AuditVerification verified = Verify("audit-org");
  EXPECT_TRUE(verified.ok) << verified.problem;
  EXPECT_EQ(verified.first_seq, 7u);
  EXPECT_EQ(verified.last_seq, 10u);
  // The other org's chain is whole.
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE org_id = 'audit-other'"), 4);
  const AuditVerification other = Verify("audit-other");
  EXPECT_TRUE(other.ok) << other.problem;
  EXPECT_EQ(other.first_seq, 1u);
}

TEST_F(RetentionStoreTest, PurgeCheckpointIsSignedUnlessOneIsAlreadyThere) {
  const absl::Time t0 = absl::FromUnixSeconds(1600000000);
  const std::vector<AuditEvent> events = AppendEvents(*decryptor_, "signed-org", t0, 6);
  ASSERT_EQ(events.size(), 6u);
  absl::StatusOr<crypto::KeyBuffer> seed =
      crypto::KeyBuffer::CopyFrom(std::vector<std::uint8_t>(32, 0x5A));
  ASSERT_TRUE(seed.ok());
  absl::StatusOr<crypto::AuditSigner> signer = crypto::AuditSigner::FromSeed(*seed);
  ASSERT_TRUE(signer.ok()) << signer.status();
  const absl::Time signed_at = absl::FromUnixMicros(1700000000123456);
  const CheckpointSigner sign = [&](std::string_view org, std::uint64_t seq,
                                    const crypto::AuditHash& head) {
    const crypto::AuditSignature signature =
        signer->SignCheckpoint(org, seq, head, absl::ToUnixMicros(signed_at));
    return CheckpointSignature{std::vector<std::uint8_t>(signature.begin(), signature.end()),
                               signer->key_id(), signed_at};
  };

  absl::StatusOr<AuditPurgeBatch> batch = PurgeAudit("signed-org", t0 + absl::Minutes(2), 10, sign);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->deleted, 2u);
  std::vector<AuditCheckpoint> checkpoints = Checkpoints("signed-org");
  ASSERT_EQ(checkpoints.size(), 1u);
  EXPECT_EQ(checkpoints[0].seq, 2u);
  EXPECT_EQ(checkpoints[0].kind, AuditCheckpointKind::kPurge);
  EXPECT_EQ(checkpoints[0].created_at, signed_at);
  ASSERT_TRUE(checkpoints[0].signature.has_value());
  EXPECT_EQ(checkpoints[0].signing_key_id, signer->key_id());
  EXPECT_TRUE(crypto::VerifyCheckpointSignature(signer->public_key(), "signed-org", 2,
                                                events[1].hash, absl::ToUnixMicros(signed_at),
                                                *checkpoints[0].signature));

  // An unsigned checkpoint already at the purge point (e.g. from an export) is kept.
  const absl::Status added = admin_->Run("signed-org", [&](Transaction& tx) {
    return AuditLog().AddCheckpoint(tx, AuditCheckpointKind::kPeriodic, 4, events[3].hash,
                                    std::nullopt, std::nullopt);
  });
  ASSERT_TRUE(added.ok()) << added;
  batch = PurgeAudit("signed-org", t0 + absl::Minutes(4), 10, sign);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->deleted, 2u);
  checkpoints = Checkpoints("signed-org");
  ASSERT_EQ(checkpoints.size(), 1u);
  EXPECT_EQ(checkpoints[0].seq, 4u);
  EXPECT_FALSE(checkpoints[0].signature.has_value());
  const AuditVerification verified = Verify("signed-org");
  EXPECT_TRUE(verified.ok) << verified.problem;
  EXPECT_EQ(verified.first_seq, 5u);
}

TEST_F(RetentionStoreTest, TargetsAreEveryOrgAndEveryOtherAuditChain) {
  SeedOrg(*db_, "zz-target-org");
  // A chain of an org id that only a denied request named, and the deployment's own chain.
  AppendEvents(*decryptor_, "zz-target-ghost", absl::Now(), 1);
  AppendEvents(*decryptor_, "_system", absl::Now(), 1);
  Put("zz-target-org", "a", 1);  // its credential.put event starts the org's chain

  std::vector<RetentionTarget> all;
  std::string after;
  for (int pages = 0;; ++pages) {
    ASSERT_LT(pages, 1000);
    std::vector<RetentionTarget> page;
    const absl::Status status = admin_->RunWithoutOrg([&](Transaction& tx) -> absl::Status {
      absl::StatusOr<std::vector<RetentionTarget>> listed = store_.ListTargets(tx, after, 2);
      if (!listed.ok()) return listed.status();
      page = *listed;
      return absl::OkStatus();
    });
    ASSERT_TRUE(status.ok()) << status;
    ASSERT_LE(page.size(), 2u);
    all.insert(all.end(), page.begin(), page.end());
    if (page.size() < 2) break;
    after = page.back().org_id;
  }
  const auto find = [&](const std::string& id) -> const RetentionTarget* {
    for (const RetentionTarget& t : all) {
      if (t.org_id == id) return &t;
    }
    return nullptr;
  };
  for (std::size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1].org_id, all[i].org_id);
  ASSERT_NE(find("zz-target-org"), nullptr);
  EXPECT_TRUE(find("zz-target-org")->is_org);  // listed once although in both directories
  ASSERT_NE(find("zz-target-ghost"), nullptr);
  EXPECT_FALSE(find("zz-target-ghost")->is_org);
  ASSERT_NE(find("_system"), nullptr);
  EXPECT_FALSE(find("_system")->is_org);
}

TEST_F(RetentionStoreTest, OnlyTheAdminRolePurges) {
  SeedOrg(*db_, "roles-org");
  Put("roles-org", "a", 1);
  SoftDelete("roles-org", "a");
  AppendEvents(*decryptor_, "roles-org", absl::FromUnixSeconds(1600000000), 2);
  const long events = Count("SELECT count(*) FROM audit_events WHERE org_id = 'roles-org'");
  ASSERT_EQ(events, 4);  // the put, the delete and the two appended
  for (ConnectionPool* pool : {writer_.get(), decryptor_.get()}) {
    const absl::Status credentials = pool->Run("roles-org", [&](Transaction& tx) {
      return store_.PurgeCredentialVersions(tx, kFarFuture, kBatch).status();
    });
    EXPECT_EQ(credentials.code(), absl::StatusCode::kPermissionDenied) << credentials;
    const absl::Status audit = pool->Run("roles-org", [&](Transaction& tx) {
      return store_.PurgeAuditEvents(tx, kFarFuture, kBatch).status();
    });
    EXPECT_EQ(audit.code(), absl::StatusCode::kPermissionDenied) << audit;
  }
  const absl::Status idempotency = decryptor_->Run("roles-org", [&](Transaction& tx) {
    return store_.PurgeIdempotencyKeys(tx, kFarFuture, kBatch).status();
  });
  EXPECT_EQ(idempotency.code(), absl::StatusCode::kPermissionDenied) << idempotency;
  EXPECT_EQ(Count("SELECT count(*) FROM credentials WHERE org_id = 'roles-org'"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE org_id = 'roles-org'"), events);
}

TEST_F(RetentionStoreTest, BatchSizesAndCutoffsAreChecked) {
  const absl::Status zero = admin_->Run("limits-org", [&](Transaction& tx) {
    return store_.PurgeIdempotencyKeys(tx, absl::Now(), 0).status();
  });
  EXPECT_EQ(zero.code(), absl::StatusCode::kInvalidArgument) << zero;
  const absl::Status infinite = admin_->Run("limits-org", [&](Transaction& tx) {
    return store_.PurgeAuditEvents(tx, absl::InfiniteFuture(), kBatch).status();
  });
  EXPECT_EQ(infinite.code(), absl::StatusCode::kInvalidArgument) << infinite;
}

// Chains that existed before the migration that made the audit chain directory are in it.
TEST(RetentionMigrationTest, ExistingAuditChainsAreListed) {
  std::unique_ptr<TestDatabase> db = TestDatabase::Create(/*migrate_to=*/4);
  ASSERT_NE(db, nullptr);
  // A chain of the schema of the time (the service linked events itself then; only its
  // existence matters here).
  db->SuperuserExec(
      "INSERT INTO audit_heads (org_id, seq, hash) VALUES ('before-upgrade', 1, "
      "decode(repeat('11', 32), 'hex'));"
      "INSERT INTO audit_events (org_id, seq, event_time, principal, action, target, result, "
      "request_id, details, prev_hash, hash) VALUES ('before-upgrade', 1, now(), 'svc', "
      "'access.denied', '', 'permission_denied', 'r', '', decode(repeat('00', 32), 'hex'), "
      "decode(repeat('11', 32), 'hex'))");
  const absl::StatusOr<MigrationReport> migrated = Migrate(db->MigratorOptionsFor());
  ASSERT_TRUE(migrated.ok()) << migrated.status();
  std::unique_ptr<ConnectionPool> admin = db->Pool(AppRole::kAdmin);
  std::vector<RetentionTarget> targets;
  const absl::Status listed = admin->RunWithoutOrg([&](Transaction& tx) -> absl::Status {
    absl::StatusOr<std::vector<RetentionTarget>> t = RetentionStore().ListTargets(tx, "", 10);
    if (!t.ok()) return t.status();
    targets = *t;
    return absl::OkStatus();
  });
  ASSERT_TRUE(listed.ok()) << listed;
  ASSERT_EQ(targets.size(), 1u);
  EXPECT_EQ(targets[0].org_id, "before-upgrade");
  EXPECT_FALSE(targets[0].is_org);
}

}  // namespace
}  // namespace credvault::storage

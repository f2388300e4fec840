#include "storage/credential_store.h"

#include <algorithm>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/audit_log.h"
#include "storage/idempotency_store.h"
#include "storage/org_store.h"
#include "storage/pool.h"
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
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kOrg[] = "acme";

NewCredentialVersion Version(std::vector<std::uint8_t> envelope, Labels labels = {}) {
  NewCredentialVersion v;
  v.envelope = std::move(envelope);
  v.org_key_version = 1;
  v.writer_key_version = 1;
  v.labels = std::move(labels);
  v.created_by = "spiffe://acme/backend";
  return v;
}

class CredentialStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    db_ = TestDatabase::Create().release();
    ASSERT_NE(db_, nullptr);
    SeedOrg(*db_, kOrg);
  }
  static void TearDownTestSuite() {
    delete db_;
    db_ = nullptr;
  }
  void SetUp() override {
    writer_ = db_->Pool(AppRole::kWriter);
    decryptor_ = db_->Pool(AppRole::kDecryptor);
  }

  // What PreparePut decides, in a transaction of its own that writes nothing.
  absl::StatusOr<PreparedPut> Prepare(const std::string& name,
                                      std::optional<std::int64_t> expected) {
    absl::StatusOr<PreparedPut> result = absl::UnknownError("not run");
    const absl::Status status = writer_->Run(org_, [&](Transaction& tx) {
      result = store_.PreparePut(tx, name, expected);
      return result.status();
    });
    if (!status.ok()) return status;
    return result;
  }
  // A whole Put; an outcome of PreparePut other than kPrepared is an error here.
  absl::StatusOr<PutPlan> Put(const std::string& name, std::optional<std::int64_t> expected,
                              NewCredentialVersion version) {
    absl::StatusOr<PutPlan> result = absl::UnknownError("not run");
    const absl::Status status = writer_->Run(org_, [&](Transaction& tx) -> absl::Status {
      absl::StatusOr<PreparedPut> prepared = store_.PreparePut(tx, name, expected);
      if (!prepared.ok()) return prepared.status();
      if (prepared->outcome != PrepareOutcome::kPrepared) {
        result = absl::FailedPreconditionError("not prepared: outcome " +
                                               std::to_string(static_cast<int>(prepared->outcome)));
        return absl::OkStatus();
      }
      result = prepared->plan;
      return store_.InsertVersion(tx, prepared->plan, version).status();
    });
    if (!status.ok()) return status;
    return result;
  }
  absl::StatusOr<DeleteResult> Delete(const std::string& name, DeleteMode mode,
                                      std::optional<std::int64_t> expected_version = {}) {
    DeleteRequest request;
    request.name = name;
    request.mode = mode;
    request.expected_version = expected_version;
    request.principal = "spiffe://acme/backend";
    request.request_id = "req-delete";
    return Delete(request);
  }
  absl::StatusOr<DeleteResult> Delete(const DeleteRequest& request) {
    absl::StatusOr<DeleteResult> result = absl::UnknownError("not run");
    const absl::Status status = writer_->Run(org_, [&](Transaction& tx) {
      result = store_.Delete(tx, request);
      return result.status();
    });
    if (!status.ok()) return status;
    return result;
  }
  // The events of the org, read by the decrypt role (the write role cannot read the log).
  std::vector<AuditEvent> AuditEvents() {
    std::vector<AuditEvent> events;
    const absl::Status status = decryptor_->Run(org_, [&](Transaction& tx) -> absl::Status {
      std::uint64_t after = 0;
      while (true) {
        absl::StatusOr<std::vector<AuditEvent>> page = AuditLog().List(tx, after, 1000);
        if (!page.ok()) return page.status();
        if (page->empty()) return absl::OkStatus();
        after = page->back().seq;
        events.insert(events.end(), page->begin(), page->end());
      }
    });
    EXPECT_TRUE(status.ok()) << status;
    return events;
  }
  static long CountAsSuperuser(const std::string& sql) {
    pqxx::connection su(db_->SuperuserConninfo());
    pqxx::work tx(su);
    return tx.exec(sql)[0][0].as<long>();
  }
  absl::StatusOr<CredentialMetadata> Describe(const std::string& name,
                                              std::optional<std::int64_t> version = {}) {
    absl::StatusOr<CredentialMetadata> result = absl::UnknownError("not run");
    const absl::Status status = writer_->Run(org_, [&](Transaction& tx) {
      result = store_.GetMetadata(tx, name, version);
      return result.status();
    });
    if (!status.ok()) return status;
    return result;
  }
  absl::StatusOr<ListPage> List(const ListQuery& query) {
    absl::StatusOr<ListPage> result = absl::UnknownError("not run");
    const absl::Status status = writer_->Run(org_, [&](Transaction& tx) {
      result = store_.List(tx, query);
      return result.status();
    });
    if (!status.ok()) return status;
    return result;
  }
  absl::StatusOr<EnvelopeRecord> ReadEnvelope(const std::string& name,
                                              std::optional<std::int64_t> version = {}) {
    absl::StatusOr<EnvelopeRecord> result = absl::UnknownError("not run");
    const absl::Status status = decryptor_->Run(org_, [&](Transaction& tx) {
      result = store_.ReadEnvelope(tx, name, version);
      return result.status();
    });
    if (!status.ok()) return status;
    return result;
  }

  static TestDatabase* db_;
  // The org the helpers act in.
  std::string org_ = kOrg;
  CredentialStore store_;
  std::unique_ptr<ConnectionPool> writer_;
  std::unique_ptr<ConnectionPool> decryptor_;
};

TestDatabase* CredentialStoreTest::db_ = nullptr;

TEST_F(CredentialStoreTest, PutCreatesVersionsAndDescribeReturnsTheCurrentOne) {
  const absl::Time expiry = absl::FromUnixMicros(1893456000123456);
  NewCredentialVersion first = Version({1, 2, 3}, {{"env", "prod"}});
  first.expires_at = expiry;
  absl::StatusOr<PutPlan> v1 = Put("crm/oauth", std::nullopt, first);
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ(v1->version, 1);
  EXPECT_FALSE(v1->replaced_live_version.has_value());
  absl::StatusOr<PutPlan> v2 = Put("crm/oauth", std::nullopt, Version({4, 5}));
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ(v2->version, 2);
  EXPECT_EQ(v2->replaced_live_version, 1);

  absl::StatusOr<CredentialMetadata> current = Describe("crm/oauth");
  ASSERT_TRUE(current.ok()) << current.status();
  EXPECT_EQ(current->version, 2);
  EXPECT_TRUE(current->current);
  EXPECT_EQ(current->org_id, kOrg);
  EXPECT_EQ(current->created_by, "spiffe://acme/backend");
  EXPECT_FALSE(current->expires_at.has_value());
  absl::StatusOr<CredentialMetadata> old = Describe("crm/oauth", 1);
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_FALSE(old->current);
  EXPECT_EQ(old->expires_at, expiry);
  EXPECT_EQ(old->labels, (Labels{{"env", "prod"}}));
  EXPECT_EQ(Describe("missing").status().code(), absl::StatusCode::kNotFound);

  absl::StatusOr<EnvelopeRecord> envelope = ReadEnvelope("crm/oauth");
  ASSERT_TRUE(envelope.ok()) << envelope.status();
  EXPECT_THAT(envelope->envelope, ElementsAre(4, 5));
  envelope = ReadEnvelope("crm/oauth", 1);
  ASSERT_TRUE(envelope.ok()) << envelope.status();
  EXPECT_THAT(envelope->envelope, ElementsAre(1, 2, 3));
}

TEST_F(CredentialStoreTest, CheckAndSetRejectsStaleVersions) {
  ASSERT_TRUE(Put("cas", 0, Version({1})).ok());
  const auto expect_refused = [&](const std::string& name, std::int64_t expected,
                                  PrepareOutcome outcome, std::int64_t live_version) {
    SCOPED_TRACE(name + " expecting version " + std::to_string(expected));
    absl::StatusOr<PreparedPut> prepared = Prepare(name, expected);
    ASSERT_TRUE(prepared.ok()) << prepared.status();
    EXPECT_EQ(prepared->outcome, outcome);
    EXPECT_EQ(prepared->live_version, live_version);
  };
  expect_refused("cas", 0, PrepareOutcome::kNameTaken, 1);
  expect_refused("cas", 5, PrepareOutcome::kVersionMismatch, 1);
  absl::StatusOr<PutPlan> v2 = Put("cas", 1, Version({2}));
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ(v2->version, 2);
  EXPECT_EQ(v2->replaced_live_version, 1);
  expect_refused("cas", 1, PrepareOutcome::kVersionMismatch, 2);
  expect_refused("never", 1, PrepareOutcome::kVersionMismatch, 0);
  // A refused Put wrote nothing: version 2 is still the live one.
  absl::StatusOr<PreparedPut> next = Prepare("cas", 2);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->outcome, PrepareOutcome::kPrepared);
  EXPECT_EQ(next->plan.version, 3);
}

TEST_F(CredentialStoreTest, FindsSayNothingIsThereWithoutAnError) {
  ASSERT_TRUE(Put("findable", std::nullopt, Version({1})).ok());
  std::optional<CredentialMetadata> missing_metadata, found_metadata;
  ASSERT_TRUE(writer_
                  ->Run(org_,
                        [&](Transaction& tx) -> absl::Status {
                          absl::StatusOr<std::optional<CredentialMetadata>> missing =
                              store_.FindMetadata(tx, "never-put", std::nullopt);
                          if (!missing.ok()) return missing.status();
                          missing_metadata = *missing;
                          absl::StatusOr<std::optional<CredentialMetadata>> found =
                              store_.FindMetadata(tx, "findable", 1);
                          if (!found.ok()) return found.status();
                          found_metadata = *found;
                          return absl::OkStatus();
                        })
                  .ok());
  EXPECT_FALSE(missing_metadata.has_value());
  ASSERT_TRUE(found_metadata.has_value());
  EXPECT_EQ(found_metadata->name, "findable");
  std::optional<EnvelopeRecord> missing_envelope, found_envelope;
  ASSERT_TRUE(decryptor_
                  ->Run(org_,
                        [&](Transaction& tx) -> absl::Status {
                          absl::StatusOr<std::optional<EnvelopeRecord>> missing =
                              store_.FindEnvelope(tx, "findable", 2);
                          if (!missing.ok()) return missing.status();
                          missing_envelope = *missing;
                          absl::StatusOr<std::optional<EnvelopeRecord>> found =
                              store_.FindEnvelope(tx, "findable", std::nullopt);
                          if (!found.ok()) return found.status();
                          found_envelope = *found;
                          return absl::OkStatus();
                        })
                  .ok());
  EXPECT_FALSE(missing_envelope.has_value());
  ASSERT_TRUE(found_envelope.has_value());
  EXPECT_EQ(found_envelope->metadata.version, 1);
  // Invalid input stays an error, not an empty answer.
  EXPECT_EQ(
      writer_
          ->Run(org_,
                [&](Transaction& tx) { return store_.FindMetadata(tx, "", std::nullopt).status(); })
          .code(),
      absl::StatusCode::kInvalidArgument);
}

TEST_F(CredentialStoreTest, ConcurrentUnconditionalPutsGetDistinctVersions) {
  constexpr int kWriters = 6;
  std::vector<std::thread> threads;
  std::vector<absl::StatusOr<PutPlan>> results(kWriters, absl::UnknownError("not run"));
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&, i] { results[i] = Put("race", std::nullopt, Version({1})); });
  }
  for (std::thread& t : threads) t.join();
  std::vector<std::int64_t> versions;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    versions.push_back(r->version);
  }
  std::sort(versions.begin(), versions.end());
  EXPECT_THAT(versions, ElementsAre(1, 2, 3, 4, 5, 6));
}

TEST_F(CredentialStoreTest, SoftDeleteHidesAndAPutStartsAgainAfterIt) {
  ASSERT_TRUE(Put("to-delete", std::nullopt, Version({1})).ok());
  absl::StatusOr<DeleteResult> deleted = Delete("to-delete", DeleteMode::kSoftDelete);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->outcome, DeleteOutcome::kDone);
  EXPECT_EQ(deleted->version, 1);
  EXPECT_EQ(deleted->affected_version_count, 1u);
  EXPECT_GT(deleted->audit_seq, 0u);
  EXPECT_EQ(Describe("to-delete").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadEnvelope("to-delete").status().code(), absl::StatusCode::kNotFound);
  // A second delete changes nothing and appends nothing.
  absl::StatusOr<DeleteResult> again_deleted = Delete("to-delete", DeleteMode::kSoftDelete);
  ASSERT_TRUE(again_deleted.ok()) << again_deleted.status();
  EXPECT_EQ(again_deleted->outcome, DeleteOutcome::kAlreadyDeleted);
  EXPECT_EQ(again_deleted->audit_seq, 0u);
  absl::StatusOr<DeleteResult> missing = Delete("never-put", DeleteMode::kSoftDelete);
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(missing->outcome, DeleteOutcome::kNotFound);
  // Deleted counts as absent for check-and-set; versions keep counting.
  absl::StatusOr<PutPlan> again = Put("to-delete", 0, Version({2}));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->version, 2);
}

TEST_F(CredentialStoreTest, DeleteOfAnotherVersionThanExpectedChangesNothing) {
  ASSERT_TRUE(Put("guarded", std::nullopt, Version({1})).ok());
  ASSERT_TRUE(Put("guarded", std::nullopt, Version({2})).ok());
  const std::size_t events_before = AuditEvents().size();
  absl::StatusOr<DeleteResult> stale = Delete("guarded", DeleteMode::kCryptoErase, 1);
  ASSERT_TRUE(stale.ok()) << stale.status();
  EXPECT_EQ(stale->outcome, DeleteOutcome::kVersionMismatch);
  EXPECT_EQ(stale->version, 2);
  EXPECT_EQ(stale->affected_version_count, 0u);
  EXPECT_TRUE(ReadEnvelope("guarded", 1).ok());
  EXPECT_TRUE(ReadEnvelope("guarded", 2).ok());
  EXPECT_EQ(AuditEvents().size(), events_before);
  absl::StatusOr<DeleteResult> current = Delete("guarded", DeleteMode::kSoftDelete, 2);
  ASSERT_TRUE(current.ok()) << current.status();
  EXPECT_EQ(current->outcome, DeleteOutcome::kDone);
  EXPECT_EQ(current->affected_version_count, 2u);
}

TEST_F(CredentialStoreTest, CryptoEraseDropsEveryEnvelope) {
  ASSERT_TRUE(Put("erase-me", std::nullopt, Version({1})).ok());
  ASSERT_TRUE(Put("erase-me", std::nullopt, Version({2})).ok());
  absl::StatusOr<DeleteResult> erased = Delete("erase-me", DeleteMode::kCryptoErase);
  ASSERT_TRUE(erased.ok()) << erased.status();
  EXPECT_EQ(erased->outcome, DeleteOutcome::kDone);
  EXPECT_EQ(erased->affected_version_count, 2u);
  EXPECT_EQ(ReadEnvelope("erase-me", 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(CountAsSuperuser("SELECT count(*) FROM credentials WHERE name = 'erase-me' AND "
                             "(envelope IS NOT NULL OR NOT erased OR deleted_at IS NULL)"),
            0);
  // Nothing is left to erase.
  absl::StatusOr<DeleteResult> again = Delete("erase-me", DeleteMode::kCryptoErase);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->outcome, DeleteOutcome::kNotFound);
}

TEST_F(CredentialStoreTest, PutErasesTheVersionsBeyondMaxVersions) {
  NewCredentialVersion limited = Version({1});
  limited.max_versions = 2;
  ASSERT_TRUE(Put("limited", std::nullopt, limited).ok());
  absl::StatusOr<PutResult> result = absl::UnknownError("not run");
  const auto put_inheriting_the_limit = [&](std::uint8_t byte) {
    return writer_->Run(kOrg, [&](Transaction& tx) -> absl::Status {
      absl::StatusOr<PreparedPut> prepared = store_.PreparePut(tx, "limited", std::nullopt);
      if (!prepared.ok()) return prepared.status();
      result = store_.InsertVersion(tx, prepared->plan, Version({byte}));
      return result.status();
    });
  };
  ASSERT_TRUE(put_inheriting_the_limit(2).ok());
  EXPECT_EQ(result->erased_version_count, 0u);
  ASSERT_TRUE(put_inheriting_the_limit(3).ok());
  EXPECT_EQ(result->erased_version_count, 1u);
  EXPECT_EQ(ReadEnvelope("limited", 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(ReadEnvelope("limited", 2).ok());
  absl::StatusOr<CredentialMetadata> current = Describe("limited");
  ASSERT_TRUE(current.ok()) << current.status();
  EXPECT_EQ(current->max_versions, 2);
  EXPECT_EQ(current->live_version_count, 2);
  const std::vector<AuditEvent> events = AuditEvents();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().seq, result->audit_seq);
  EXPECT_EQ(events.back().action, "credential.put");
  EXPECT_EQ(events.back().target, "limited");
  EXPECT_THAT(events.back().details, HasSubstr("1 old versions crypto-erased"));
}

TEST_F(CredentialStoreTest, PutsAndDeletesAppendTheirOwnAuditEvents) {
  NewCredentialVersion version = Version({1});
  version.request_id = "req-put-audited";
  absl::StatusOr<PutResult> put = absl::UnknownError("not run");
  ASSERT_TRUE(writer_
                  ->Run(kOrg,
                        [&](Transaction& tx) -> absl::Status {
                          absl::StatusOr<PreparedPut> prepared =
                              store_.PreparePut(tx, "audited", 0);
                          if (!prepared.ok()) return prepared.status();
                          put = store_.InsertVersion(tx, prepared->plan, version);
                          return put.status();
                        })
                  .ok());
  ASSERT_TRUE(put.ok()) << put.status();
  absl::StatusOr<DeleteResult> deleted = Delete("audited", DeleteMode::kSoftDelete);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->audit_seq, put->audit_seq + 1);

  const std::vector<AuditEvent> events = AuditEvents();
  ASSERT_GE(events.size(), 2u);
  const AuditEvent& put_event = events[events.size() - 2];
  const AuditEvent& delete_event = events.back();
  EXPECT_EQ(put_event.seq, put->audit_seq);
  EXPECT_EQ(put_event.action, "credential.put");
  EXPECT_EQ(put_event.target, "audited");
  EXPECT_EQ(put_event.principal, "spiffe://acme/backend");
  EXPECT_EQ(put_event.request_id, "req-put-audited");
  EXPECT_EQ(put_event.details, "version 1");
  EXPECT_EQ(delete_event.seq, deleted->audit_seq);
  EXPECT_EQ(delete_event.action, "credential.delete");
  EXPECT_EQ(delete_event.request_id, "req-delete");
  for (const AuditEvent* e : {&put_event, &delete_event}) {
    EXPECT_EQ(e->chain_format, crypto::AuditChainFormat::kV2);
    EXPECT_EQ(e->appended_by, db_->RoleName(AppRole::kWriter));
  }
}

TEST_F(CredentialStoreTest, ReplaceEnvelopeIsCheckAndSetOnTheOrgKeyVersion) {
  // An org of its own: after the rotation below, puts must be sealed to org key 2.
  org_ = "reseal-org";
  SeedOrg(*db_, org_);
  ASSERT_TRUE(Put("reseal", std::nullopt, Version({1})).ok());
  // Org key 2 to re-seal to (rotation by the admin role).
  std::unique_ptr<ConnectionPool> admin = db_->Pool(AppRole::kAdmin);
  ASSERT_TRUE(admin
                  ->Run(org_,
                        [](Transaction& tx) {
                          return OrgStore().RotateOrgKey(tx, TestOrgKey(2, 0x01), TestResigner());
                        })
                  .ok());
  const auto reseal = [&](std::int32_t expected) {
    return decryptor_->Run(org_, [&](Transaction& tx) {
      return store_.ReplaceEnvelope(tx, "reseal", 1, expected, {9, 9}, 2, 1);
    });
  };
  ASSERT_TRUE(reseal(1).ok());
  EXPECT_EQ(reseal(1).code(), absl::StatusCode::kAborted);
  absl::StatusOr<EnvelopeRecord> record = ReadEnvelope("reseal");
  ASSERT_TRUE(record.ok());
  EXPECT_THAT(record->envelope, ElementsAre(9, 9));
  EXPECT_EQ(record->metadata.org_key_version, 2);
}

TEST_F(CredentialStoreTest, NamesAtTheEdgesOfTheRuleAndHostileLabelsRoundTripVerbatim) {
  const std::vector<std::string> names = {
      "a",
      "0.9_-/Z.z",
      "team/db/.hidden/..x/x..",
      std::string(kMaxCredentialNameLength, 'n'),
  };
  const Labels labels = {
      {"quote", "'\"; DROP TABLE credentials; --"},
      {"json", "{\"json\": true}}{"},
      {"emoji", "值'); -- 🔑"},
      {"escape", "\\u0000 \\x00 E'\\x00' || chr(0)"},
      {"empty", ""},
  };
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(Put(name, 0, Version({7}, labels)).ok());
    absl::StatusOr<CredentialMetadata> got = Describe(name);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->name, name);
    EXPECT_EQ(got->labels, labels);
  }
  ListQuery query;
  query.label_filter = {{"emoji", "值'); -- 🔑"}};
  query.page_size = 1000;
  absl::StatusOr<ListPage> page = List(query);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->items.size(), names.size());
}

// Storage holds names to the API's rule (storage/validation.h), so a name the API would
// refuse cannot be written, read or listed through this layer either; the refusal names
// the field and never echoes the value.
TEST_F(CredentialStoreTest, NamesOutsideTheRuleAreRefusedEverywhere) {
  const std::vector<std::string> names = {
      "",
      "'; DROP TABLE credentials; --",
      "multi/byte/ключ",
      "tab\there",
      std::string("nul\0inside", 10),
      "/leading",
      "trailing/",
      "double//slash",
      "a/../b",
      "a/./b",
      std::string(kMaxCredentialNameLength + 1, 'n'),
  };
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    absl::StatusOr<PutPlan> put = Put(name, std::nullopt, Version({1}));
    EXPECT_EQ(put.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(put.status().message()), StartsWith("name: "));
    if (name.size() > 3) {
      EXPECT_THAT(put.status().message(), Not(HasSubstr(name)));
    }
    EXPECT_EQ(Describe(name).status().code(), absl::StatusCode::kInvalidArgument);
  }
  ListQuery query;
  query.page_size = 10;
  query.name_prefix = "x//";
  EXPECT_EQ(List(query).status().code(), absl::StatusCode::kInvalidArgument);
  query.name_prefix = "";
  query.page_after = "../x";
  EXPECT_EQ(List(query).status().code(), absl::StatusCode::kInvalidArgument);
}

// The API's label rule, held by storage too: the failure names the label, never the value.
TEST_F(CredentialStoreTest, LabelsOutsideTheRuleAreRefusedWithAClearError) {
  const struct {
    Labels labels;
    std::string message;
  } cases[] = {
      {{{"k", std::string("nul\0inside", 10)}}, "labels[k]: value must not contain control"},
      {{{"k", "bad\xff\xfeutf8"}}, "labels[k]: value must be valid UTF-8"},
      {{{"k", "\xed\xa0\x80surrogate"}}, "labels[k]: value must be valid UTF-8"},
      {{{"k", std::string(kMaxLabelValueBytes + 1, 'v')}}, "labels[k]: value must be at most"},
      {{{"Upper", "v"}}, "labels key: must start with [a-z0-9]"},
      {{{"emoji🔑", "v"}}, "labels key: may contain only [a-z0-9._-]"},
      {{{std::string(kMaxLabelKeyLength + 1, 'k'), "v"}}, "labels key: must be at most"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.message);
    absl::StatusOr<PutPlan> put = Put("ok-name", std::nullopt, Version({1}, c.labels));
    EXPECT_EQ(put.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(put.status().message()), StartsWith(c.message));
    EXPECT_THAT(put.status().message(), Not(HasSubstr("inside")));
  }
}

TEST_F(CredentialStoreTest, ListPagesByNameWithPrefixAndLabelFilter) {
  for (const char* name : {"list/a", "list/b", "list/c", "list/d", "list/e", "other/x"}) {
    const Labels labels =
        std::string(name) == "list/c" ? Labels{{"team", "blue"}} : Labels{{"team", "red"}};
    ASSERT_TRUE(Put(name, 0, Version({1}, labels)).ok());
  }
  absl::StatusOr<DeleteResult> deleted = Delete("list/d", DeleteMode::kSoftDelete);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  ASSERT_EQ(deleted->outcome, DeleteOutcome::kDone);
  ListQuery query;
  query.name_prefix = "list/";
  query.page_size = 2;
  std::vector<std::string> seen;
  int pages = 0;
  while (true) {
    absl::StatusOr<ListPage> page = List(query);
    ASSERT_TRUE(page.ok()) << page.status();
    ++pages;
    for (const CredentialMetadata& m : page->items) seen.push_back(m.name);
    if (!page->next_page_after.has_value()) break;
    query.page_after = *page->next_page_after;
  }
  EXPECT_THAT(seen, ElementsAre("list/a", "list/b", "list/c", "list/e"));
  EXPECT_EQ(pages, 2);

  ListQuery blue;
  blue.name_prefix = "list/";
  blue.label_filter = {{"team", "blue"}};
  absl::StatusOr<ListPage> page = List(blue);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].name, "list/c");

  ListQuery underscore;  // a prefix is not a LIKE pattern, where "_" would match the "/"
  underscore.name_prefix = "list_";
  page = List(underscore);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_TRUE(page->items.empty());
}

TEST_F(CredentialStoreTest, IdempotencyKeysAreRecordedByPutAndDeleteAndUnique) {
  IdempotencyStore idempotency;
  const std::vector<std::uint8_t> put_digest(32, 0xAB);
  NewCredentialVersion keyed = Version({1});
  keyed.idempotency_key = "key-1";
  keyed.request_digest = put_digest;
  ASSERT_TRUE(Put("idem/put", std::nullopt, keyed).ok());
  ASSERT_TRUE(Put("idem/put", std::nullopt, Version({2})).ok());
  DeleteRequest keyed_delete;
  keyed_delete.name = "idem/put";
  keyed_delete.mode = DeleteMode::kSoftDelete;
  keyed_delete.idempotency_key = "key-2";
  keyed_delete.request_digest = std::vector<std::uint8_t>(32, 0xCD);
  keyed_delete.principal = "spiffe://acme/backend";
  ASSERT_TRUE(Delete(keyed_delete).ok());

  const auto lookup = [&](const std::string& key) {
    absl::StatusOr<std::optional<IdempotencyRecord>> found = absl::UnknownError("not run");
    EXPECT_TRUE(writer_
                    ->Run(kOrg,
                          [&](Transaction& tx) {
                            found = idempotency.Lookup(tx, key);
                            return found.status();
                          })
                    .ok());
    return found.ok() ? *found : std::nullopt;
  };
  std::optional<IdempotencyRecord> found = lookup("key-1");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->request_hash, put_digest);
  EXPECT_EQ(found->credential_name, "idem/put");
  EXPECT_EQ(found->result_version, 1);
  found = lookup("key-2");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->request_hash, std::vector<std::uint8_t>(32, 0xCD));
  EXPECT_EQ(found->result_version, 2);
  EXPECT_FALSE(lookup("key-3").has_value());

  // A twin with a used key fails as a whole: no version, no event.
  const std::size_t events_before = AuditEvents().size();
  EXPECT_EQ(Put("idem/other", std::nullopt, keyed).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Describe("idem/other").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(AuditEvents().size(), events_before);
  // A digest that is not 32 bytes is refused before it reaches the database.
  keyed.idempotency_key = "key-4";
  keyed.request_digest = std::vector<std::uint8_t>(31, 1);
  EXPECT_EQ(Put("idem/other", std::nullopt, keyed).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(CredentialStoreTest, PutsIntoMissingOrDestroyedOrgsAreRefused) {
  const auto prepare_in = [&](const std::string& org) -> absl::StatusOr<PreparedPut> {
    absl::StatusOr<PreparedPut> prepared = absl::UnknownError("not run");
    const absl::Status status = writer_->Run(org, [&](Transaction& tx) {
      prepared = store_.PreparePut(tx, "x", std::nullopt);
      return prepared.status();
    });
    if (!status.ok()) return status;
    return prepared;
  };
  absl::StatusOr<PreparedPut> missing = prepare_in("no-such-org");
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(missing->outcome, PrepareOutcome::kOrgNotFound);
  SeedOrg(*db_, "doomed");
  std::unique_ptr<ConnectionPool> admin = db_->Pool(AppRole::kAdmin);
  ASSERT_TRUE(
      admin
          ->Run("doomed",
                [](Transaction& tx) { return OrgStore().MarkDestroyed(tx, TestResigner()); })
          .ok());
  absl::StatusOr<PreparedPut> destroyed = prepare_in("doomed");
  ASSERT_TRUE(destroyed.ok()) << destroyed.status();
  EXPECT_EQ(destroyed->outcome, PrepareOutcome::kOrgDestroyed);
  absl::StatusOr<std::vector<OrgKey>> keys = absl::UnknownError("not run");
  ASSERT_TRUE(admin
                  ->Run("doomed",
                        [&](Transaction& tx) {
                          keys = OrgStore().ListOrgKeys(tx);
                          return keys.status();
                        })
                  .ok());
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].state, OrgKeyState::kDestroyed);
  // Stored as the resigner signed it in its new state.
  EXPECT_EQ((*keys)[0].signature, TestOrgKeySignature(OrgKeyState::kDestroyed));
  EXPECT_EQ(
      decryptor_
          ->Run("doomed",
                [](Transaction& tx) { return OrgStore().GetSealedPrivateKey(tx, 1).status(); })
          .code(),
      absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace credvault::storage

// The audit log RPCs between the API's messages and AuditHandler's terms
// (server/api/audit_translation.h). An export is checked offline against its signatures
// (crypto/audit_export_verifier.h), so its messages are pinned here field by field, as
// bytes.
#include "server/api/audit_translation.h"

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "credvault/v1/admin_service.pb.h"
#include "gtest/gtest.h"

namespace credvault::server {
namespace {

namespace v1 = ::credvault::v1;

// 2026-01-02T03:04:05.123456Z.
const absl::Time kTime = absl::FromUnixMicros(1767323045123456);

template <typename Bytes>
std::string AsString(const Bytes& bytes) {
  return std::string(bytes.begin(), bytes.end());
}

crypto::AuditHash Hash(std::uint8_t fill) {
  crypto::AuditHash hash;
  hash.fill(fill);
  return hash;
}

storage::AuditEvent Event(std::uint64_t seq, crypto::AuditChainFormat format) {
  storage::AuditEvent event;
  event.org_id = "acme";
  event.seq = seq;
  event.time = kTime;
  event.principal = "spiffe://acme/admin";
  event.action = "credential.put";
  event.target = "db/password";
  event.result = "ok";
  event.request_id = "req-1";
  event.details = "version=2";
  event.prev_hash = Hash(static_cast<std::uint8_t>(seq - 1));
  event.hash = Hash(static_cast<std::uint8_t>(seq));
  event.chain_format = format;
  event.appended_by = "credvault_decrypt";
  return event;
}

void SetTime(v1::AuditEvent& event) {
  event.mutable_time()->set_seconds(1767323045);
  event.mutable_time()->set_nanos(123456000);
}

v1::AuditEvent ExpectedEvent(std::uint64_t seq, bool names_appender) {
  v1::AuditEvent event;
  event.set_org_id("acme");
  event.set_sequence(seq);
  SetTime(event);
  event.set_principal("spiffe://acme/admin");
  event.set_action("credential.put");
  event.set_target("db/password");
  event.set_result("ok");
  event.set_request_id("req-1");
  event.set_details("version=2");
  event.set_prev_hash(AsString(Hash(static_cast<std::uint8_t>(seq - 1))));
  event.set_chain_format(names_appender ? 2 : 1);
  if (names_appender) event.set_appended_by("credvault_decrypt");
  event.set_hash(AsString(Hash(static_cast<std::uint8_t>(seq))));
  return event;
}

TEST(AuditTranslationTest, ExportMessageIsTheDocumentTheOfflineVerifierReads) {
  storage::AuditCheckpoint stored;
  stored.seq = 1;
  stored.kind = storage::AuditCheckpointKind::kPeriodic;
  stored.head_hash = Hash(1);
  stored.created_at = kTime;
  stored.signature = std::vector<std::uint8_t>(64, 0x51);
  stored.signing_key_id = "key-1";
  storage::AuditCheckpoint unsigned_purge;
  unsigned_purge.seq = 0;
  unsigned_purge.kind = storage::AuditCheckpointKind::kPurge;
  unsigned_purge.head_hash = Hash(0);
  unsigned_purge.created_at = absl::UnixEpoch();

  ExportAuditLogResult chunk;
  chunk.org_id = "acme";
  chunk.events = {Event(1, crypto::AuditChainFormat::kV1), Event(2, crypto::AuditChainFormat::kV2)};
  chunk.checkpoints = {unsigned_purge, stored};
  ExportCheckpoint head;
  head.seq = 2;
  head.head_hash = Hash(2);
  head.created_at = kTime;
  head.signature.fill(0x77);
  head.signing_key_id = "key-1";
  chunk.export_checkpoint = head;
  AuditSigningKey key;
  key.key_id = "key-1";
  key.public_key.fill(0x33);
  chunk.signing_keys = {key};
  chunk.done = true;

  v1::ExportAuditLogResponse expected;
  *expected.add_events() = ExpectedEvent(1, /*names_appender=*/false);
  *expected.add_events() = ExpectedEvent(2, /*names_appender=*/true);
  v1::AuditCheckpoint* purge = expected.add_checkpoints();
  purge->set_org_id("acme");
  purge->set_sequence(0);
  purge->set_chain_head_hash(AsString(Hash(0)));
  purge->mutable_time()->set_seconds(0);
  purge->set_kind(v1::AUDIT_CHECKPOINT_KIND_PURGE);
  v1::AuditCheckpoint* periodic = expected.add_checkpoints();
  periodic->set_org_id("acme");
  periodic->set_sequence(1);
  periodic->set_chain_head_hash(AsString(Hash(1)));
  periodic->mutable_time()->set_seconds(1767323045);
  periodic->mutable_time()->set_nanos(123456000);
  periodic->set_signature(std::string(64, '\x51'));
  periodic->set_signing_key_id("key-1");
  periodic->set_kind(v1::AUDIT_CHECKPOINT_KIND_PERIODIC);
  v1::AuditCheckpoint* exported = expected.add_checkpoints();
  exported->set_org_id("acme");
  exported->set_sequence(2);
  exported->set_chain_head_hash(AsString(Hash(2)));
  exported->mutable_time()->set_seconds(1767323045);
  exported->mutable_time()->set_nanos(123456000);
  exported->set_signature(std::string(64, '\x77'));
  exported->set_signing_key_id("key-1");
  exported->set_kind(v1::AUDIT_CHECKPOINT_KIND_EXPORT);
  v1::AuditSigningKey* signing_key = expected.add_signing_keys();
  signing_key->set_key_id("key-1");
  signing_key->set_public_key(std::string(32, '\x33'));

  const v1::ExportAuditLogResponse message = ToApi(chunk);
  EXPECT_EQ(message.SerializeAsString(), expected.SerializeAsString())
      << message.DebugString() << "\nexpected\n"
      << expected.DebugString();
}

TEST(AuditTranslationTest, LaterExportMessagesCarryEventsOnly) {
  ExportAuditLogResult chunk;
  chunk.org_id = "acme";
  chunk.events = {Event(501, crypto::AuditChainFormat::kV2)};
  v1::ExportAuditLogResponse expected;
  *expected.add_events() = ExpectedEvent(501, /*names_appender=*/true);
  EXPECT_EQ(ToApi(chunk).SerializeAsString(), expected.SerializeAsString());
}

TEST(AuditTranslationTest, ExportRequestKeepsWhichBoundsWereSet) {
  v1::ExportAuditLogRequest request;
  request.set_org_id("acme");
  request.set_start_sequence(0);
  const ExportAuditLogParams params = FromApi(request);
  EXPECT_EQ(params.org_id, "acme");
  EXPECT_EQ(params.start_sequence, std::optional<std::uint64_t>(0));
  EXPECT_EQ(params.end_sequence, std::nullopt);
}

TEST(AuditTranslationTest, ListRequestKeepsWhichFiltersWereSet) {
  v1::ListAuditEventsRequest unset;
  unset.set_org_id("_system");
  const ListAuditEventsParams none = FromApi(unset);
  EXPECT_EQ(none.org_id, "_system");
  EXPECT_EQ(none.page_size, 0);
  EXPECT_EQ(none.start_sequence, std::nullopt);
  EXPECT_EQ(none.end_sequence, std::nullopt);
  EXPECT_EQ(none.start_time, std::nullopt);
  EXPECT_EQ(none.end_time, std::nullopt);

  v1::ListAuditEventsRequest request;
  request.set_org_id("acme");
  request.set_page_size(-1);
  request.set_page_token("token");
  request.set_start_sequence(0);
  request.set_end_sequence(9);
  request.mutable_start_time();  // set, at the epoch
  request.mutable_end_time()->set_seconds(1000);
  request.mutable_end_time()->set_nanos(1999);  // finer than a microsecond: truncated
  request.set_action("credential.put");
  const ListAuditEventsParams params = FromApi(request);
  EXPECT_EQ(params.page_size, -1);
  EXPECT_EQ(params.page_token, "token");
  EXPECT_EQ(params.start_sequence, std::optional<std::uint64_t>(0));
  EXPECT_EQ(params.end_sequence, std::optional<std::uint64_t>(9));
  EXPECT_EQ(params.start_time, absl::UnixEpoch());
  EXPECT_EQ(params.end_time, absl::FromUnixSeconds(1000) + absl::Microseconds(1));
  EXPECT_EQ(params.action, "credential.put");
}

TEST(AuditTranslationTest, ListResponseKeepsOrderAndToken) {
  ListAuditEventsResult result;
  result.events = {Event(3, crypto::AuditChainFormat::kV2),
                   Event(4, crypto::AuditChainFormat::kV2)};
  result.next_page_token = "next";
  v1::ListAuditEventsResponse expected;
  *expected.add_events() = ExpectedEvent(3, /*names_appender=*/true);
  *expected.add_events() = ExpectedEvent(4, /*names_appender=*/true);
  expected.set_next_page_token("next");
  EXPECT_EQ(ToApi(result).SerializeAsString(), expected.SerializeAsString());
}

TEST(AuditTranslationTest, VerifyResponseNamesTheFailureAndTheLatestCheckpoint) {
  VerifyAuditLogResult ok;
  ok.org_id = "acme";
  ok.ok = true;
  ok.events_checked = 2;
  ok.start_sequence = 1;
  ok.end_sequence = 2;
  v1::VerifyAuditLogResponse expected_ok;
  expected_ok.set_ok(true);
  expected_ok.set_events_checked(2);
  expected_ok.set_start_sequence(1);
  expected_ok.set_end_sequence(2);
  EXPECT_EQ(ToApi(ok).SerializeAsString(), expected_ok.SerializeAsString());

  VerifyAuditLogResult broken;
  broken.org_id = "acme";
  broken.first_broken_sequence = 7;
  broken.failure_reason = storage::AuditBreak::kPrevHashMismatch;
  broken.failure_detail = "event 7 does not link to event 6";
  storage::AuditCheckpoint latest;
  latest.seq = 5;
  latest.kind = storage::AuditCheckpointKind::kErasure;
  latest.head_hash = Hash(5);
  latest.created_at = kTime;
  broken.latest_checkpoint = latest;
  const v1::VerifyAuditLogResponse response = ToApi(broken);
  EXPECT_FALSE(response.ok());
  EXPECT_EQ(response.first_broken_sequence(), 7u);
  EXPECT_EQ(response.failure_reason(), v1::AUDIT_VERIFICATION_FAILURE_PREV_HASH_MISMATCH);
  EXPECT_EQ(response.failure_detail(), "event 7 does not link to event 6");
  EXPECT_FALSE(response.has_anchor_checkpoint());
  ASSERT_TRUE(response.has_latest_checkpoint());
  EXPECT_EQ(response.latest_checkpoint().org_id(), "acme");
  EXPECT_EQ(response.latest_checkpoint().sequence(), 5u);
  EXPECT_EQ(response.latest_checkpoint().kind(), v1::AUDIT_CHECKPOINT_KIND_ERASURE);
  EXPECT_TRUE(response.latest_checkpoint().signature().empty());
}

}  // namespace
}  // namespace credvault::server

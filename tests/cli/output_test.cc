#include "cli/output.h"

#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace credvault::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

v1::CredentialMetadata SampleMetadata() {
  v1::CredentialMetadata m;
  m.set_org_id("acme");
  m.set_name("crm/salesforce");
  m.set_version(3);
  m.set_current_version(3);
  (*m.mutable_labels())["team"] = "crm";
  (*m.mutable_labels())["env"] = "prod";
  m.set_state(v1::CREDENTIAL_STATE_ACTIVE);
  m.mutable_create_time()->set_seconds(1896091200);
  m.mutable_update_time()->set_seconds(1896091200);
  m.mutable_update_time()->set_nanos(123456000);
  m.set_created_by("spiffe://acme/billing");
  m.set_org_key_version(2);
  m.set_max_versions(0);
  m.set_live_version_count(3);
  return m;
}

TEST(FormatCredentialMetadataTest, AlignedKeyValueLines) {
  EXPECT_EQ(FormatCredentialMetadata(SampleMetadata()),
            "org_id:             acme\n"
            "name:               crm/salesforce\n"
            "version:            3\n"
            "current_version:    3\n"
            "state:              ACTIVE\n"
            "labels:             env=prod, team=crm\n"
            "created_by:         spiffe://acme/billing\n"
            "create_time:        2030-01-31T12:00:00Z\n"
            "update_time:        2030-01-31T12:00:00.123456Z\n"
            "expire_time:        never\n"
            "delete_time:        -\n"
            "purge_time:         -\n"
            "org_key_version:    2\n"
            "max_versions:       0 (unlimited)\n"
            "live_version_count: 3\n");
}

TEST(FormatCredentialMetadataTest, EscapesControlCharactersFromTheServer) {
  v1::CredentialMetadata m = SampleMetadata();
  m.set_created_by("evil\x1b[2J\nforged: line");
  const std::string text = FormatCredentialMetadata(m);
  EXPECT_THAT(text, HasSubstr("created_by:         evil\\x1b[2J\\x0aforged: line\n"));
  EXPECT_THAT(text, Not(HasSubstr("\x1b")));
}

TEST(ToJsonTest, UsesProtoFieldNamesAndPrintsDefaults) {
  const std::string json = *ToJson(SampleMetadata());
  EXPECT_THAT(json, HasSubstr("\"org_id\":\"acme\""));
  EXPECT_THAT(json, HasSubstr("\"current_version\":\"3\""));  // uint64 as string (proto3 JSON).
  EXPECT_THAT(json, HasSubstr("\"state\":\"CREDENTIAL_STATE_ACTIVE\""));
  EXPECT_THAT(json, HasSubstr("\"update_time\":\"2030-01-31T12:00:00.123456Z\""));
  EXPECT_THAT(json, HasSubstr("\"max_versions\":0"));  // Default values are printed.
  EXPECT_THAT(json, Not(HasSubstr("orgId")));
  EXPECT_THAT(json, Not(HasSubstr("\n")));

  // It round-trips.
  v1::CredentialMetadata parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, SampleMetadata()));

  v1::CompareCredentialResponse no_match;
  no_match.set_version(2);
  EXPECT_THAT(*ToJson(no_match), HasSubstr("\"match\":false"));
}

TEST(FormatCredentialListTest, TableWithNextPageToken) {
  v1::ListCredentialsResponse response;
  *response.add_credentials() = SampleMetadata();
  v1::CredentialMetadata& second = *response.add_credentials();
  second.set_name("db");
  second.set_version(12);
  second.set_state(v1::CREDENTIAL_STATE_SOFT_DELETED);
  second.mutable_expire_time()->set_seconds(0);
  response.set_next_page_token("tok");
  EXPECT_EQ(FormatCredentialList(response),
            "NAME            VERSION  STATE         UPDATED                      "
            "EXPIRES               LABELS\n"
            "crm/salesforce  3        ACTIVE        2030-01-31T12:00:00.123456Z  "
            "never                 env=prod, team=crm\n"
            "db              12       SOFT_DELETED  -                            "
            "1970-01-01T00:00:00Z  -\n"
            "next_page_token: tok\n");
  response.clear_next_page_token();
  EXPECT_THAT(FormatCredentialList(response), Not(HasSubstr("next_page_token")));

  const std::string json = *ToJson(response);
  EXPECT_THAT(json, HasSubstr("\"credentials\":[{"));
  EXPECT_THAT(json, HasSubstr("\"name\":\"db\""));
  EXPECT_THAT(json, HasSubstr("\"next_page_token\":\"\""));
}

TEST(FormatRpcErrorTest, CodeNameNumberMessageAndReason) {
  EXPECT_EQ(FormatRpcError(grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                                        "principal spiffe://x may not act for org acme"),
                           ""),
            "credvaultctl: PERMISSION_DENIED (7): principal spiffe://x may not act for org acme");
  EXPECT_EQ(FormatRpcError(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "org destroyed"),
                           "ERROR_REASON_ORG_DESTROYED"),
            "credvaultctl: FAILED_PRECONDITION (9): org destroyed "
            "[credvault-error-reason: ERROR_REASON_ORG_DESTROYED]");
  EXPECT_EQ(FormatRpcError(grpc::Status(grpc::StatusCode::INTERNAL, "a\nb"), ""),
            "credvaultctl: INTERNAL (13): a\\x0ab");
  EXPECT_EQ(FormatRpcError(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, ""), ""),
            "credvaultctl: UNIMPLEMENTED (12): this listener does not serve that method (is "
            "--addr the right listener?)");
}

TEST(FormatOtherResponsesTest, CompareVerifyAndOrg) {
  v1::CompareCredentialResponse compare;
  compare.set_match(true);
  compare.set_version(4);
  EXPECT_EQ(FormatCompareResponse(compare), "match (version 4)\n");
  compare.set_match(false);
  EXPECT_THAT(FormatCompareResponse(compare), StartsWith("no match"));

  v1::VerifyAuditLogResponse verify;
  verify.set_ok(false);
  verify.set_first_broken_sequence(17);
  verify.set_failure_reason(v1::AUDIT_VERIFICATION_FAILURE_HASH_MISMATCH);
  const std::string text = FormatVerifyAuditLogResponse(verify);
  EXPECT_THAT(text, HasSubstr("ok:                    false\n"));
  EXPECT_THAT(text, HasSubstr("first_broken_sequence: 17\n"));
  EXPECT_THAT(text, HasSubstr("failure_reason:        HASH_MISMATCH\n"));

  v1::OrgInfo org;
  org.set_org_id("acme");
  org.set_state(v1::ORG_STATE_ACTIVE);
  org.set_current_key_version(2);
  v1::OrgKeyVersion& key = *org.add_key_versions();
  key.set_version(2);
  key.set_state(v1::ORG_KEY_STATE_ACTIVE);
  key.set_public_key(std::string(2, '\x10'));
  const std::string org_text = FormatOrgInfo(org);
  EXPECT_THAT(org_text, HasSubstr("state:               ACTIVE\n"));
  EXPECT_THAT(org_text, HasSubstr("KEY_VERSION  STATE"));
  EXPECT_THAT(org_text, HasSubstr("1010"));
  EXPECT_THAT(org_text, Not(HasSubstr("erasure_receipt")));
}

}  // namespace
}  // namespace credvault::cli

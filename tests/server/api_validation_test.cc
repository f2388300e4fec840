#include "server/service/api_validation.h"

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/base/error_reason.h"
#include "storage/validation.h"

namespace credvault::server {
namespace {

// The message, code and reason of an API field refusal.
void ExpectInvalidField(const absl::Status& status, const std::string& message) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_EQ(status.message(), message);
  EXPECT_EQ(ReasonOf(status), ErrorReason::kInvalidField);
}

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);
const absl::Time kLatest =
    absl::FromCivil(absl::CivilSecond(9999, 12, 31, 23, 59, 59), absl::UTCTimeZone());

TEST(ApiValidationTest, PutPreconditionRulesKeepTheirMessages) {
  EXPECT_TRUE(ValidateExpectedVersion("expected_version", 1).ok());
  ExpectInvalidField(ValidateExpectedVersion("expected_version", 0),
                     "expected_version: must be at least 1 (use must_not_exist for none)");
  EXPECT_TRUE(ValidateMustNotExist("must_not_exist", true).ok());
  ExpectInvalidField(ValidateMustNotExist("must_not_exist", false),
                     "must_not_exist: if set, must be true");
  EXPECT_TRUE(ValidateVersion("version", 7).ok());
  ExpectInvalidField(ValidateVersion("version", 0), "version: must be at least 1");
}

TEST(ApiValidationTest, ExpirationMustBeInTheFutureAndBeforeYear10000) {
  EXPECT_TRUE(ValidateExpireTime("expire_time", kNow + absl::Seconds(1), kNow).ok());
  EXPECT_TRUE(ValidateExpireTime("expire_time", kLatest, kNow).ok());
  ExpectInvalidField(ValidateExpireTime("expire_time", kNow, kNow),
                     "expire_time: must be in the future");
  ExpectInvalidField(ValidateExpireTime("expire_time", kLatest + absl::Seconds(1), kNow),
                     "expire_time: must not be after 9999-12-31");
  EXPECT_TRUE(ValidateTtl("ttl", absl::Seconds(1), kNow).ok());
  ExpectInvalidField(ValidateTtl("ttl", absl::Milliseconds(999), kNow), "ttl: must be at least 1s");
  ExpectInvalidField(ValidateTtl("ttl", (kLatest - kNow) + absl::Seconds(1), kNow),
                     "ttl: ends after 9999-12-31");
}

TEST(ApiValidationTest, MaxVersionsIsUnlimitedOrAtMostOneHundred) {
  EXPECT_TRUE(ValidateMaxVersions("max_versions", 0).ok());
  EXPECT_TRUE(ValidateMaxVersions("max_versions", 100).ok());
  ExpectInvalidField(ValidateMaxVersions("max_versions", 101),
                     "max_versions: must be 0 (unlimited) or 1-100");
}

// The org id rule is storage's; the API adds its reason and nothing else.
TEST(ApiValidationTest, OrgIdRuleIsTheStorageRuleWithTheApiReason) {
  for (const std::string& org_id :
       std::vector<std::string>{"acme", "a", "org-1.eu_west", std::string(64, 'a'), "",
                                std::string(65, 'a'), "Acme", "-acme", "acme!", "_system", "ørg"}) {
    SCOPED_TRACE(org_id);
    const absl::Status api = ValidateOrgId("org_id", org_id);
    const absl::Status stored = storage::ValidateOrgIdSyntax("org_id", org_id);
    EXPECT_EQ(api.code(), stored.code());
    EXPECT_EQ(api.message(), stored.message());
    if (!api.ok()) {
      EXPECT_EQ(ReasonOf(api), ErrorReason::kInvalidField);
    }
  }
  ExpectInvalidField(ValidateOrgId("org_id", std::string(65, 'a')),
                     "org_id: must be at most 64 characters");
  ExpectInvalidField(ValidateOrgId("org_id", "Acme"), "org_id: must start with [a-z0-9]");
  ExpectInvalidField(ValidateOrgId("org_id", "acme!"), "org_id: may contain only [a-z0-9._-]");
  // A transaction may also be scoped to the reserved org; a request names it only where
  // ValidateOrgIdOrSystem allows.
  EXPECT_TRUE(storage::ValidateOrgId(storage::kSystemOrgId).ok());
  EXPECT_FALSE(storage::ValidateOrgId("Acme").ok());
  EXPECT_TRUE(ValidateOrgIdOrSystem("org_id", storage::kSystemOrgId).ok());
}

TEST(ApiValidationTest, LabelCountLimitIsOneForStorageAndTheApi) {
  std::map<std::string, std::string> labels;
  for (std::size_t i = 0; i < kMaxLabels; ++i) labels["k" + std::to_string(i)] = "v";
  EXPECT_TRUE(ValidateLabels("labels", labels).ok());
  EXPECT_TRUE(storage::ValidateLabelCount("labels", labels.size()).ok());
  labels["one-more"] = "v";
  ExpectInvalidField(ValidateLabels("labels", labels), "labels: at most 32 labels");
  EXPECT_FALSE(storage::ValidateLabelCount("labels", labels.size()).ok());
}

TEST(ApiValidationTest, LabelKeysAndValuesKeepTheirMessages) {
  std::map<std::string, std::string> labels;
  labels["Team"] = "x";
  ExpectInvalidField(ValidateLabels("labels", labels), "labels key: must start with [a-z0-9]");
  labels.clear();
  labels[std::string(64, 'k')] = "x";
  ExpectInvalidField(ValidateLabels("labels", labels), "labels key: must be at most 63 characters");
  labels.clear();
  labels["team"] = std::string(257, 'v');
  ExpectInvalidField(ValidateLabels("labels", labels),
                     "labels[team]: value must be at most 256 bytes");
  labels["team"] = "bad\xff";
  ExpectInvalidField(ValidateLabels("labels", labels), "labels[team]: value must be valid UTF-8");
  labels["team"] = "tab\there";
  ExpectInvalidField(ValidateLabels("labels", labels),
                     "labels[team]: value must not contain control characters");
}

TEST(ApiValidationTest, StorageTextRuleRefusesNulAndBrokenUtf8) {
  EXPECT_TRUE(storage::ValidateText("name", "multi/byte/ключ/🔑", 64).ok());
  EXPECT_EQ(storage::ValidateText("name", std::string("a\0b", 3), 64).message(),
            "name: must not contain NUL characters");
  EXPECT_EQ(storage::ValidateText("name", "\xed\xa0\x80", 64).message(),
            "name: is not valid UTF-8");
  EXPECT_EQ(storage::ValidateText("name", "\xc0\x80", 64).message(), "name: is not valid UTF-8");
  EXPECT_EQ(storage::ValidateText("name", "", 64).message(), "name: must not be empty");
  EXPECT_TRUE(storage::ValidateText("name", "", 64, /*allow_empty=*/true).ok());
  EXPECT_EQ(storage::ValidateText("name", "abcd", 3).message(), "name: longer than 3 bytes");
}

}  // namespace
}  // namespace credvault::server

#include "server/base/audit_details.h"

#include <string>

#include "crypto/random_id.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace credvault::server {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;

// The texts below are those that stored chains hold: Format must keep writing them.
TEST(OrgCreateDetailsTest, FormatsTheStoredText) {
  EXPECT_EQ((OrgCreateDetails{3, ""}).Format(), "org key version 1, root key version 3");
  EXPECT_EQ((OrgCreateDetails{2, "create-1"}).Format(),
            "org key version 1, root key version 2, idempotency_key=create-1");
}

TEST(OrgCreateDetailsTest, ParsesWhatFormatWrote) {
  const OrgCreateDetails keyed =
      OrgCreateDetails::Parse("org key version 1, root key version 7, idempotency_key=a.b:c-1");
  EXPECT_EQ(keyed.root_key_version, 7u);
  EXPECT_EQ(keyed.idempotency_key, "a.b:c-1");
  const OrgCreateDetails unkeyed = OrgCreateDetails::Parse("org key version 1, root key version 4");
  EXPECT_EQ(unkeyed.root_key_version, 4u);
  EXPECT_THAT(unkeyed.idempotency_key, IsEmpty());
  EXPECT_THAT(OrgCreateDetails::Parse("something else").idempotency_key, IsEmpty());
}

TEST(OrgDestroyDetailsTest, FormatsTheStoredText) {
  const OrgDestroyDetails details{"customer left", {1, 2, 3}, 42};
  EXPECT_EQ(details.Format(),
            "reason: customer left; every org private key destroyed; "
            "destroyed_key_versions=1,2,3; erased_credential_versions=42");
}

TEST(OrgDestroyDetailsTest, ParsesWhatFormatWrote) {
  const OrgDestroyDetails written{"gdpr; erased_credential_versions=9 requested", {4, 5}, 17};
  const OrgDestroyDetails parsed = OrgDestroyDetails::Parse(written.Format());
  EXPECT_EQ(parsed.reason, written.reason);
  EXPECT_THAT(parsed.destroyed_key_versions, ElementsAre(4u, 5u));
  EXPECT_EQ(parsed.erased_credential_versions, 17u);
}

TEST(OrgDestroyDetailsTest, ParsesEventsWrittenBeforeTheKeyVersionsWereListed) {
  const OrgDestroyDetails parsed = OrgDestroyDetails::Parse(
      "reason: done; every org private key destroyed; erased_credential_versions=8");
  EXPECT_EQ(parsed.reason, "done");
  EXPECT_THAT(parsed.destroyed_key_versions, IsEmpty());
  EXPECT_EQ(parsed.erased_credential_versions, 8u);
  EXPECT_EQ(OrgDestroyDetails::Parse("no fields").erased_credential_versions, 0u);
}

TEST(RandomHexIdTest, IsThePrefixAndFreshHex) {
  const std::string first = crypto::RandomHexId("rj-", 10);
  const std::string second = crypto::RandomHexId("rj-", 10);
  EXPECT_THAT(first, MatchesRegex("rj-[0-9a-f]{20}"));
  EXPECT_THAT(second, MatchesRegex("rj-[0-9a-f]{20}"));
  EXPECT_NE(first, second);
}

}  // namespace
}  // namespace credvault::server

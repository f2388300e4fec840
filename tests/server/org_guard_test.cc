#include "server/service/org_guard.h"

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/base/error_reason.h"

namespace credvault::server {
namespace {

// Clients and tests match these exact codes, reasons and messages (docs/api.md).
TEST(OrgGuardTest, AMissingOrgIsNotFound) {
  const absl::Status status = OrgNotFoundError("acme");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "org acme does not exist");
  EXPECT_EQ(ReasonOf(status), ErrorReason::kOrgNotFound);
}

TEST(OrgGuardTest, ADestroyedOrgIsAFailedPrecondition) {
  const absl::Status status = OrgDestroyedError("acme");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(), "org acme is destroyed");
  EXPECT_EQ(ReasonOf(status), ErrorReason::kOrgDestroyed);
  EXPECT_EQ(OrgDestroyedError("acme", "its secrets are gone").message(),
            "org acme is destroyed; its secrets are gone");
}

TEST(OrgGuardTest, OnlyADestroyedOrgIsRefused) {
  storage::Org org;
  org.org_id = "acme";
  org.created_at = absl::FromUnixSeconds(1);
  EXPECT_TRUE(CheckNotDestroyed(org).ok());
  org.state = storage::OrgState::kDestroyed;
  org.destroyed_at = absl::FromUnixSeconds(2);
  const absl::Status refused = CheckNotDestroyed(org);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.message(), "org acme is destroyed");
  EXPECT_EQ(ReasonOf(refused), ErrorReason::kOrgDestroyed);
}

}  // namespace
}  // namespace credvault::server

#include "server/service/put_hints.h"

#include <string>

#include "gtest/gtest.h"

namespace credvault::server {
namespace {

TEST(PutHintsTest, RemembersTheNextVersionPerOrgAndName) {
  PutHints hints;
  EXPECT_EQ(hints.NextVersion("acme", "db/password"), 1);
  hints.SetNextVersion("acme", "db/password", 7);
  EXPECT_EQ(hints.NextVersion("acme", "db/password"), 7);
  EXPECT_EQ(hints.NextVersion("other", "db/password"), 1);
  EXPECT_EQ(hints.NextVersion("acme", "db/passwor"), 1);
  hints.SetNextVersion("acme", "db/password", 9);
  EXPECT_EQ(hints.NextVersion("acme", "db/password"), 9);
}

TEST(PutHintsTest, MemoryStaysBoundedWhateverTheNames) {
  PutHints hints(/*max_bytes=*/64 * 1024);
  const std::string long_name(512, 'n');
  for (int i = 0; i < 10000; ++i) {
    hints.SetNextVersion("org-" + std::to_string(i), long_name, i + 2);
  }
  // The newest hint survives a reset; far older ones were dropped with it.
  EXPECT_EQ(hints.NextVersion("org-9999", long_name), 10001);
  EXPECT_EQ(hints.NextVersion("org-0", long_name), 1);
}

}  // namespace
}  // namespace credvault::server

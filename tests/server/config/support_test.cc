// The small value types under the configuration: addresses, secrets, libpq conninfo.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/config/address.h"
#include "server/config/config.h"
#include "server/config/config_secret.h"
#include "server/config/libpq_conninfo.h"

namespace credvault::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(AddressTest, ParsesHostAndPort) {
  absl::StatusOr<HostPort> address = ParseHostPort("[::1]:7443");
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(address->host, "::1");
  EXPECT_EQ(address->port, 7443);
  address = ParseHostPort("localhost:0");
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(address->host, "localhost");
  EXPECT_EQ(address->port, 0);
  EXPECT_FALSE(ParseHostPort(":7443").ok());
  EXPECT_FALSE(ParseHostPort("[::1]:").ok());
  EXPECT_FALSE(ParseHostPort("host:123456").ok());
  EXPECT_FALSE(ParseHostPort("host:+80").ok());
}

TEST(AddressTest, Loopback) {
  for (const char* host : {"localhost", "LOCALHOST", "127.0.0.1", "127.255.255.254", "::1",
                           "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1"}) {
    EXPECT_TRUE(IsLoopbackHost(host)) << host;
  }
  for (const char* host : {"0.0.0.0", "::", "128.0.0.1", "10.0.0.1", "::ffff:10.0.0.1",
                           "localhost.example.org", "127.0.0.1.nip.io", ""}) {
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  }
}

TEST(ConfigSecretTest, CopiesMovesAndCompares) {
  ConfigSecret a("correct horse battery staple, long enough for the heap");
  ConfigSecret b = a;
  EXPECT_TRUE(a == b);
  ConfigSecret c = std::move(b);
  EXPECT_TRUE(c == a);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move): moved-from is wiped and empty
  c = ConfigSecret("short");
  EXPECT_EQ(c.RevealSecret(), "short");
  EXPECT_FALSE(c == a);
}

TEST(LibpqConnInfoTest, QuotesEveryValue) {
  DatabaseConfig database;
  database.host = "db.internal";
  database.sslmode = SslMode::kVerifyFull;
  DatabaseRoleConfig role{.user = "credvault_writer",
                          .password_env = "X",
                          .pool_size = 1,
                          .password = ConfigSecret("it's a \\ pass word host=evil")};
  const ConfigSecret conninfo = LibpqConnectionString(database, role);
  EXPECT_EQ(conninfo.RevealSecret(),
            "host='db.internal' port='5432' dbname='credvault' user='credvault_writer' "
            "password='it\\'s a \\\\ pass word host=evil' sslmode='verify-full' "
            "connect_timeout='5' application_name='credvaultd' keepalives='1' "
            "keepalives_idle='5' keepalives_interval='2' keepalives_count='3' "
            "tcp_user_timeout='15000'");
}

TEST(LibpqConnInfoTest, SeveralHostsConnectOnlyToOneThatAcceptsWrites) {
  DatabaseConfig database;
  database.host = "db-a.internal,db-b.internal";
  database.port = "5432,6432";
  DatabaseRoleConfig role{
      .user = "credvault_writer", .password_env = "X", .pool_size = 1, .password = {}};
  EXPECT_EQ(LibpqConnectionString(database, role).RevealSecret(),
            "host='db-a.internal,db-b.internal' port='5432,6432' dbname='credvault' "
            "user='credvault_writer' sslmode='verify-full' connect_timeout='5' "
            "application_name='credvaultd' keepalives='1' keepalives_idle='5' "
            "keepalives_interval='2' keepalives_count='3' tcp_user_timeout='15000' "
            "target_session_attrs='read-write'");
  database.host = "db-a.internal";
  database.port = "5432";
  EXPECT_THAT(LibpqConnectionString(database, role).RevealSecret(),
              Not(HasSubstr("target_session_attrs")));
}

TEST(LibpqConnInfoTest, ListSizeCountsEntries) {
  EXPECT_EQ(LibpqListSize(""), 1u);
  EXPECT_EQ(LibpqListSize("5432"), 1u);
  EXPECT_EQ(LibpqListSize("a,b"), 2u);
  EXPECT_EQ(LibpqListSize("/tmp/a,,b"), 3u);
}

}  // namespace
}  // namespace credvault::server

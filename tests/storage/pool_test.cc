// The pool against its own throwaway cluster, which it stops and restarts.
#include "storage/pool.h"

#include <sys/stat.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <pqxx/pqxx>
#include <sstream>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace credvault::storage {
namespace {

using ::testing::HasSubstr;

constexpr Statement kSelectOne{"test.select_one", "SELECT 1"};
constexpr Statement kSleep{"test.sleep", "SELECT pg_sleep($1)"};
constexpr Statement kLockRow{"test.lock_row", "UPDATE counters SET n = n + 1 WHERE id = $1"};
constexpr Statement kReadOnly{"test.read_only",
                              "SELECT set_config('transaction_read_only', 'on', true)"};

int Shell(const std::string& command) { return std::system(command.c_str()); }

// A private cluster: scripts/pg-throwaway.sh starts it; pg_ctl stops and restarts it on
// the same port, so that connection strings stay valid.
class PrivateCluster {
 public:
  PrivateCluster() {
    const char* base = std::getenv("CREDVAULT_TEST_WORKDIR");
    std::string templ = std::string(base != nullptr ? base : "/tmp") + "/pool-test.XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) std::abort();
    dir_ = templ;
    ::chmod(dir_.c_str(), 0755);  // the postgres user must reach its data below
    if (Shell(std::string(CREDVAULT_PG_THROWAWAY_SCRIPT) + " start " + dir_ + "/pg") != 0) {
      std::cerr << "FATAL: could not start a private PostgreSQL with "
                << CREDVAULT_PG_THROWAWAY_SCRIPT << "\n";
      std::abort();
    }
    std::ifstream env(dir_ + "/pg/env");
    std::string line;
    while (std::getline(env, line)) {
      const auto take = [&](const char* key, std::string& out) {
        const std::string prefix = std::string("export ") + key + "=";
        if (line.rfind(prefix, 0) == 0) out = line.substr(prefix.size());
      };
      take("CREDVAULT_PG_SOCKET_DIR", socket_dir_);
      take("CREDVAULT_PG_PORT", port_);
      take("CREDVAULT_PG_BIN", bin_);
    }
    pqxx::connection su("host=" + socket_dir_ + " port=" + port_ +
                        " user=postgres dbname=postgres");
    pqxx::nontransaction tx(su);
    tx.exec("CREATE ROLE pool_user LOGIN");
    tx.exec("CREATE TABLE counters (id integer PRIMARY KEY, n integer NOT NULL)");
    tx.exec("INSERT INTO counters VALUES (1, 0), (2, 0)");
    tx.exec("GRANT SELECT, UPDATE ON counters TO pool_user");
  }
  ~PrivateCluster() {
    Shell(std::string(CREDVAULT_PG_THROWAWAY_SCRIPT) + " stop " + dir_ + "/pg");
    Shell("rm -rf " + dir_);
  }

  std::string Conninfo(const std::string& user = "pool_user") const {
    return "host=" + socket_dir_ + " port=" + port_ + " user=" + user + " dbname=postgres " +
           "connect_timeout=2";
  }
  void SuperuserExec(const std::string& sql) const {
    pqxx::connection su("host=" + socket_dir_ + " port=" + port_ +
                        " user=postgres dbname=postgres");
    pqxx::nontransaction tx(su);
    tx.exec(sql);
  }
  void Stop() const { ASSERT_EQ(PgCtl("-m fast -w stop"), 0); }
  void Start() const {
    ASSERT_EQ(PgCtl("-w -t 30 -l " + dir_ + "/pg/server.log -o \"-p " + port_ + " -k " +
                    socket_dir_ + " -c listen_addresses=127.0.0.1 -c max_connections=200\" start"),
              0);
  }

 private:
  int PgCtl(const std::string& args) const {
    const std::string as_postgres = ::getuid() == 0 ? "runuser -u postgres -- " : "";
    return Shell(as_postgres + bin_ + "/pg_ctl -D " + dir_ + "/pg/data " + args + " >/dev/null");
  }
  std::string dir_, socket_dir_, port_, bin_;
};

class PoolTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { cluster_ = new PrivateCluster(); }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  std::unique_ptr<ConnectionPool> MakePool(PoolOptions options) {
    options.connection_string = cluster_->Conninfo();
    absl::StatusOr<std::unique_ptr<ConnectionPool>> pool = ConnectionPool::Create(options);
    EXPECT_TRUE(pool.ok()) << pool.status();
    return std::move(*pool);
  }
  static absl::Status SelectOne(ConnectionPool& pool) {
    return pool.RunWithoutOrg([](Transaction& tx) { return tx.Execute(kSelectOne, {}).status(); });
  }

  static PrivateCluster* cluster_;
};

PrivateCluster* PoolTest::cluster_ = nullptr;

TEST_F(PoolTest, ExhaustionFailsWithUnavailableAfterTheAcquireTimeout) {
  std::unique_ptr<ConnectionPool> pool = MakePool(
      {.connection_string = "", .max_size = 1, .acquire_timeout = absl::Milliseconds(200)});
  absl::Notification holding, release;
  std::thread holder([&] {
    EXPECT_TRUE(pool->RunWithoutOrg([&](Transaction&) {
                      holding.Notify();
                      release.WaitForNotification();
                      return absl::OkStatus();
                    })
                    .ok());
  });
  holding.WaitForNotification();
  const absl::Time start = absl::Now();
  const absl::Status status = SelectOne(*pool);
  const absl::Duration waited = absl::Now() - start;
  release.Notify();
  holder.join();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(status.message(), HasSubstr("exhausted"));
  EXPECT_GE(waited, absl::Milliseconds(190));
  EXPECT_LT(waited, absl::Seconds(2));
  EXPECT_TRUE(SelectOne(*pool).ok());
  EXPECT_EQ(pool->Stats().open, 1u);
}

TEST_F(PoolTest, StatementTimeoutIsDeadlineExceeded) {
  std::unique_ptr<ConnectionPool> pool =
      MakePool({.connection_string = "", .statement_timeout = absl::Milliseconds(100)});
  const absl::Status status = pool->RunWithoutOrg(
      [](Transaction& tx) { return tx.Execute(kSleep, {SqlParam::Text("5")}).status(); });
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_TRUE(SelectOne(*pool).ok());  // the connection is still good
}

TEST_F(PoolTest, CallerDeadlineBoundsStatementsAndWaiting) {
  std::unique_ptr<ConnectionPool> pool =
      MakePool({.connection_string = "", .max_size = 1, .statement_timeout = absl::Seconds(30)});
  const absl::Time start = absl::Now();
  const absl::Status slow =
      pool->Run("org-a", start + absl::Milliseconds(300),
                [](Transaction& tx) { return tx.Execute(kSleep, {SqlParam::Text("5")}).status(); });
  EXPECT_EQ(slow.code(), absl::StatusCode::kDeadlineExceeded) << slow;
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  // The timeout was local to that transaction: the next one may run longer statements.
  EXPECT_TRUE(pool->Run("org-a",
                        [](Transaction& tx) {
                          return tx.Execute(kSleep, {SqlParam::Text("0.5")}).status();
                        })
                  .ok());
  EXPECT_EQ(pool->Run("org-a", absl::Now() - absl::Seconds(1),
                      [](Transaction&) { return absl::OkStatus(); })
                .code(),
            absl::StatusCode::kDeadlineExceeded);
}

// A write that reaches a server that accepts no writes (a standby, or a primary demoted
// during a failover) must read as "try again", not as a server bug: the pool reconnects
// and libpq's target_session_attrs=read-write finds the writable host.
TEST_F(PoolTest, WriteRefusedAsReadOnlyIsUnavailable) {
  std::unique_ptr<ConnectionPool> pool = MakePool({.connection_string = "", .max_size = 1});
  const absl::Status status = pool->RunWithoutOrg([](Transaction& tx) -> absl::Status {
    if (absl::Status s = tx.Execute(kReadOnly, {}).status(); !s.ok()) return s;
    return tx.Execute(kLockRow, {SqlParam::Int(1)}).status();
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(status.message(), HasSubstr("25006"));
  EXPECT_TRUE(SelectOne(*pool).ok());
}

// A statement that outlives its caller's deadline while the database keeps quiet (here:
// a deadline too far for the pool to set a statement timeout, and a statement slower than
// it) is cut at the deadline instead of holding the caller until the database answers.
TEST_F(PoolTest, ARoundTripPastTheCallersDeadlineIsCut) {
  std::unique_ptr<ConnectionPool> pool =
      MakePool({.connection_string = "", .max_size = 1, .statement_timeout = absl::Seconds(4)});
  const absl::Time start = absl::Now();
  const absl::StatusOr<std::vector<Row>> rows =
      pool->Call(kSleep, {SqlParam::Text("3")}, start + absl::Milliseconds(1500),
                 ConnectionPool::IfConnectionLost::kFail);
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(rows.status().code(), absl::StatusCode::kDeadlineExceeded) << rows.status();
  EXPECT_THAT(rows.status().message(), HasSubstr("unknown"));
  EXPECT_LT(took, absl::Milliseconds(2500));
  EXPECT_TRUE(SelectOne(*pool).ok());  // on a new connection
}

TEST_F(PoolTest, DeadlocksAreRetried) {
  std::unique_ptr<ConnectionPool> pool = MakePool({.connection_string = "", .max_size = 2});
  std::atomic<int> attempts{0};
  std::atomic<int> first_locks{0};
  const auto cross = [&](int first, int second) {
    return pool->RunWithoutOrg([&, first, second](Transaction& tx) -> absl::Status {
      ++attempts;
      absl::Status s = tx.Execute(kLockRow, {SqlParam::Int(first)}).status();
      if (!s.ok()) return s;
      // Both transactions hold their first row before either asks for its second one.
      if (++first_locks <= 2) {
        while (first_locks.load() < 2) absl::SleepFor(absl::Milliseconds(1));
      }
      return tx.Execute(kLockRow, {SqlParam::Int(second)}).status();
    });
  };
  absl::Status a, b;
  std::thread ta([&] { a = cross(1, 2); });
  std::thread tb([&] { b = cross(2, 1); });
  ta.join();
  tb.join();
  EXPECT_TRUE(a.ok()) << a;
  EXPECT_TRUE(b.ok()) << b;
  EXPECT_GE(attempts.load(), 3);  // one of them lost the deadlock and ran again
}

TEST_F(PoolTest, UnavailableWhileTheServerIsDownAndReconnectsAfterARestart) {
  std::unique_ptr<ConnectionPool> pool = MakePool({.connection_string = "", .max_size = 3});
  // Fill the pool with idle connections that the restart will break.
  absl::Notification go;
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&] {
      EXPECT_TRUE(pool->RunWithoutOrg([&](Transaction& tx) {
                        go.WaitForNotificationWithTimeout(absl::Milliseconds(300));
                        return tx.Execute(kSelectOne, {}).status();
                      })
                      .ok());
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_EQ(pool->Stats().idle, 3u);

  cluster_->Stop();
  const absl::Status down = SelectOne(*pool);
  EXPECT_EQ(down.code(), absl::StatusCode::kUnavailable) << down;
  EXPECT_EQ(pool->Stats().open, 0u) << "broken connections must be discarded";

  cluster_->Start();
  const absl::Status up = SelectOne(*pool);
  EXPECT_TRUE(up.ok()) << up;

  // A restart while connections sit idle: the next call still succeeds.
  cluster_->Stop();
  cluster_->Start();
  EXPECT_TRUE(SelectOne(*pool).ok());
  EXPECT_TRUE(SelectOne(*pool).ok());
}

TEST_F(PoolTest, RolesThatStepAroundPrivilegesAreRefused) {
  cluster_->SuperuserExec(
      "CREATE ROLE pool_reads_all LOGIN; GRANT pg_read_all_data TO pool_reads_all;"
      "CREATE ROLE pool_writes_all LOGIN; GRANT pg_write_all_data TO pool_writes_all;"
      // Membership through a group role counts as much as a direct grant.
      "CREATE ROLE pool_readers NOLOGIN; GRANT pg_read_all_data TO pool_readers;"
      "CREATE ROLE pool_reads_via_group LOGIN IN ROLE pool_readers;"
      "CREATE ROLE pool_table_owner LOGIN;"
      "CREATE TABLE pool_owned (id integer); ALTER TABLE pool_owned OWNER TO pool_table_owner;"
      // A member of an owner can act as it (SET ROLE), even without inheriting.
      "CREATE ROLE pool_owner_member LOGIN NOINHERIT IN ROLE pool_table_owner;"
      "CREATE ROLE pool_function_owner LOGIN;"
      "CREATE FUNCTION pool_owned_function() RETURNS integer LANGUAGE sql AS 'SELECT 1';"
      "ALTER FUNCTION pool_owned_function() OWNER TO pool_function_owner;"
      "CREATE ROLE pool_bypass LOGIN BYPASSRLS;"
      // Ordinary grants, even broad ones, are what application roles are meant to have.
      "CREATE ROLE pool_plain LOGIN; GRANT SELECT, UPDATE ON counters TO pool_plain;");
  const struct {
    std::string role;
    std::string reason;
  } refused[] = {
      {"pool_reads_all", "member of pg_read_all_data"},
      {"pool_writes_all", "member of pg_write_all_data"},
      {"pool_reads_via_group", "member of pg_read_all_data"},
      {"pool_table_owner", "relation pool_owned"},
      {"pool_owner_member", "relation pool_owned"},
      {"pool_function_owner", "function pool_owned_function"},
      {"pool_bypass", "BYPASSRLS"},
  };
  for (const auto& r : refused) {
    absl::StatusOr<std::unique_ptr<ConnectionPool>> pool =
        ConnectionPool::Create({.connection_string = cluster_->Conninfo(r.role)});
    ASSERT_TRUE(pool.ok()) << pool.status();
    const absl::Status status = SelectOne(**pool);
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << r.role << ": " << status;
    EXPECT_THAT(status.message(), HasSubstr("database role " + r.role + " must not serve"));
    EXPECT_THAT(status.message(), HasSubstr(r.reason)) << r.role;
    EXPECT_EQ((*pool)->Stats().open, 0u) << r.role << ": a refused connection must not be kept";
  }

  for (const char* role : {"pool_plain", "pool_user"}) {
    absl::StatusOr<std::unique_ptr<ConnectionPool>> pool =
        ConnectionPool::Create({.connection_string = cluster_->Conninfo(role)});
    ASSERT_TRUE(pool.ok()) << pool.status();
    const absl::Status status = (*pool)->RunWithoutOrg(
        [](Transaction& tx) { return tx.Execute(kLockRow, {SqlParam::Int(2)}).status(); });
    EXPECT_TRUE(status.ok()) << role << ": " << status;
  }
}

TEST_F(PoolTest, InvalidOptionsAreRejected) {
  EXPECT_EQ(ConnectionPool::Create({}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ConnectionPool::Create({.connection_string = "x", .max_size = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace credvault::storage

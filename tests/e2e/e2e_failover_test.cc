// Failover to a synchronous standby under load: the stack's PostgreSQL gets a streaming
// standby that every commit waits for (synchronous_commit=on, synchronous_standby_names
// naming it), credvaultd is configured with both hosts, and while Puts and Decrypts run the
// primary's processes are killed and the standby promoted. credvaultd must carry on by
// itself, without a restart, and nothing it acknowledged may be lost
// (tests/e2e/fault_load.h lists the invariants; docs/operations.md, "Database failover").
#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/support/e2e_support.h"
#include "tests/e2e/support/fault_load.h"
#include "yaml-cpp/yaml.h"

namespace credvault::e2e {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::IsEmpty;

// How long after the promotion the service may take to serve again: the pools must drop
// their connections to the dead primary and libpq must find the promoted host, whose
// first connections are accepted once it has left recovery.
constexpr seconds kRecoveryBound{30};

[[maybe_unused]] ::testing::Environment* const kStack =
    ::testing::AddGlobalTestEnvironment(new StackEnvironment("failover"));

// psql as the superuser over the cluster's socket; its output, or "psql failed: ...".
std::string Psql(const Stack& stack, const std::string& socket_dir, const std::string& port,
                 const std::string& sql) {
  const CommandResult result = RunShell(
      "runuser -u postgres -- " + ShellQuote(stack.env.at("CREDVAULT_PG_BIN") + "/psql") + " -h " +
      ShellQuote(socket_dir) + " -p " + ShellQuote(port) +
      " -U postgres -d credvault -qAtX -v ON_ERROR_STOP=1 -c " + ShellQuote(sql) + " 2>&1");
  if (result.exit_code != 0) return "psql failed: " + result.output;
  std::string output = result.output;
  while (!output.empty() && output.back() == '\n') output.pop_back();
  return output;
}

// The processes whose parent is `parent`.
std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> children;
  std::error_code error;  // an unreadable /proc finds no children
  for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = ReadFileOrEmpty(entry.path().string() + "/stat");
    // Field 4 (after "pid (comm) state") is the parent's pid; comm may hold spaces.
    const std::size_t comm_end = stat.rfind(')');
    if (comm_end == std::string::npos) continue;
    pid_t ppid = 0;
    char state = 0;
    if (std::sscanf(stat.c_str() + comm_end + 1, " %c %d", &state, &ppid) == 2 && ppid == parent) {
      children.push_back(static_cast<pid_t>(std::atoi(name.c_str())));
    }
  }
  return children;
}

// As when the primary's machine dies: SIGKILL to the postmaster and each of its children
// (backends, WAL sender, checkpointer...) at once, so none of them acknowledges anything
// afterwards or shuts down cleanly. The number of processes killed.
int KillCluster(const std::string& data_dir) {
  const std::string pid_file = ReadFileOrEmpty(data_dir + "/postmaster.pid");
  const pid_t postmaster = static_cast<pid_t>(std::atoi(pid_file.c_str()));
  if (postmaster <= 0) return 0;
  const std::vector<pid_t> children = ChildrenOf(postmaster);
  int killed = ::kill(postmaster, SIGKILL) == 0 ? 1 : 0;
  for (const pid_t child : children) killed += ::kill(child, SIGKILL) == 0 ? 1 : 0;
  return killed;
}

TEST(FailoverTest, PromotedSynchronousStandbyTakesOverUnderLoadWithNothingLost) {
  const Stack* stack = CurrentStack();
  ASSERT_NE(stack, nullptr);
  const std::string primary_dir = stack->dir + "/pg";
  const std::string standby_dir = stack->dir + "/pg-standby";
  const std::string primary_port = stack->env.at("CREDVAULT_PG_PORT");
  const std::string primary_socket = stack->env.at("CREDVAULT_PG_SOCKET_DIR");

  // 1. A synchronous standby of the stack's cluster.
  const CommandResult standby =
      RunShell(PgThrowawayScript() + " standby " + ShellQuote(primary_dir) + " " +
               ShellQuote(standby_dir) + " 2>&1");
  struct StopStandby {
    std::string dir;
    ~StopStandby() { RunShell(PgThrowawayScript() + " stop " + ShellQuote(dir)); }
  } stop_standby{standby_dir};
  ASSERT_EQ(standby.exit_code, 0) << standby.output;
  const std::string standby_port = ExportedValue(standby_dir + "/env", "CREDVAULT_PG_PORT");
  const std::string standby_socket = ExportedValue(standby_dir + "/env", "CREDVAULT_PG_SOCKET_DIR");
  ASSERT_FALSE(standby_port.empty());
  // The premise: an acknowledged commit is on the standby.
  EXPECT_EQ(Psql(*stack, primary_socket, primary_port,
                 "SELECT current_setting('synchronous_commit'), sync_state "
                 "FROM pg_stat_replication"),
            "on|sync");
  EXPECT_EQ(Psql(*stack, standby_socket, standby_port, "SELECT pg_is_in_recovery()"), "t");

  // 2. credvaultd with both hosts, restarted once to read them.
  YAML::Node config = YAML::LoadFile(stack->config);
  config["database"]["host"] = "127.0.0.1,127.0.0.1";
  config["database"]["port"] = primary_port + "," + standby_port;
  YAML::Emitter out;
  out << config;
  WriteFileOrDie(stack->config, std::string(out.c_str()) + "\n");
  ASSERT_EQ(RestartCredvaultdInPlace(SIGTERM), "");
  const pid_t credvaultd = CurrentStack()->pid;
  // Its pools are connected to the primary: the standby refuses writes.
  EXPECT_THAT(Psql(*stack, primary_socket, primary_port,
                   "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = "
                   "'credvaultd'"),
              "t");

  // 3. Load, then the primary dies and the standby is promoted.
  FaultLoadOptions options;
  options.org_prefix = "failover";
  FaultLoad load(*CurrentStack(), options);
  ASSERT_TRUE(load.WaitForProgress(seconds(60), 20, 20).has_value())
      << "the load did not get going: " << load.counts();
  const FaultLoadCounts before = load.counts();

  const int killed = KillCluster(primary_dir + "/data");
  ASSERT_GT(killed, 1) << "the primary's postmaster and children were not found";
  const auto primary_killed = std::chrono::steady_clock::now();
  // What an operator's (or a failover manager's) detection takes, at the least. Answers
  // already on their way when the primary died arrive within the first second; after
  // that, with no primary, nothing can be acknowledged.
  std::this_thread::sleep_for(seconds(1));
  const FaultLoadCounts primary_gone = load.counts();
  std::this_thread::sleep_for(seconds(1));
  const FaultLoadCounts during = load.counts();
  const CommandResult promoted = RunShell(
      "runuser -u postgres -- " + ShellQuote(stack->env.at("CREDVAULT_PG_BIN") + "/pg_ctl") +
      " -D " + ShellQuote(standby_dir + "/data") + " -w -t 60 promote 2>&1");
  ASSERT_EQ(promoted.exit_code, 0) << promoted.output;
  const auto promotion_done = std::chrono::steady_clock::now();
  EXPECT_EQ(Psql(*stack, standby_socket, standby_port, "SELECT pg_is_in_recovery()"), "f");

  const auto recovered = load.WaitForProgress(kRecoveryBound, 10, 10);
  ASSERT_TRUE(recovered.has_value()) << "no recovery within " << kRecoveryBound.count()
                                     << " s of the promotion: " << load.counts() << "\n"
                                     << CurrentStack()->Log();
  const auto serving = std::chrono::steady_clock::now();
  std::cerr << "[ failover ] killed " << killed << " processes of the primary; promoted "
            << std::chrono::duration_cast<milliseconds>(promotion_done - primary_killed).count()
            << " ms later; serving again (10 Puts and 10 Decrypts acknowledged) "
            << std::chrono::duration_cast<milliseconds>(serving - promotion_done).count()
            << " ms after the promotion (bound " << kRecoveryBound.count() << " s)\n";
  EXPECT_EQ(CurrentStack()->pid, credvaultd) << "credvaultd must carry on without a restart";
  EXPECT_FALSE(ProcessGone(credvaultd));
  // While there was no primary nothing was acknowledged (a Decrypt writes its audit
  // event first): the standby was never written to before its promotion.
  EXPECT_EQ(during.puts_acked, primary_gone.puts_acked) << during;
  EXPECT_EQ(during.decrypts_acked, primary_gone.decrypts_acked) << during;
  EXPECT_EQ(Psql(*stack, standby_socket, standby_port,
                 "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = "
                 "'credvaultd'"),
            "t");

  // 4. Nothing acknowledged lost: every check runs against the promoted standby.
  load.Stop();
  const std::vector<std::string> failures = load.CheckInvariants();
  const FaultLoadCounts counts = load.counts();
  std::cerr << "[ failover ] " << counts << ", lost " << failures.size() << "\n";
  EXPECT_THAT(failures, IsEmpty());
  EXPECT_EQ(counts.unexpected, 0u) << counts;
  EXPECT_GT(counts.puts_acked, before.puts_acked);
  EXPECT_GT(counts.decrypts_acked, before.decrypts_acked);
  EXPECT_GT(during.failures_by_code.count("UNAVAILABLE") +
                during.failures_by_code.count("DEADLINE_EXCEEDED"),
            0u)
      << "the outage was not seen: " << during;
}

}  // namespace
}  // namespace credvault::e2e

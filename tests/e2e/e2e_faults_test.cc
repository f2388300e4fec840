// Faults under load: Puts with idempotency keys and Decrypts keep running while credvaultd
// or its database fails; afterwards nothing acknowledged may be lost
// (tests/e2e/fault_load.h lists the invariants), and the service must have recovered by
// itself within a stated bound. Each test prints what the load counted.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/support/e2e_support.h"
#include "tests/e2e/support/fault_load.h"

namespace credvault::e2e {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::IsEmpty;

// How long the service may take to serve again once the fault is over: a restarted
// credvaultd must connect its pools and load its keys; a restarted PostgreSQL must recover
// and the pools must notice their connections are gone.
constexpr seconds kRecoveryBound{30};

[[maybe_unused]] ::testing::Environment* const kStack =
    ::testing::AddGlobalTestEnvironment(new StackEnvironment("faults"));

class FaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = CurrentStack();
    ASSERT_NE(stack_, nullptr);
  }

  FaultLoadOptions Options(const std::string& prefix) const {
    FaultLoadOptions options;
    options.org_prefix = prefix;
    return options;
  }

  // Starts the load and waits until it runs well.
  std::unique_ptr<FaultLoad> StartLoad(const std::string& prefix) {
    auto load = std::make_unique<FaultLoad>(*stack_, Options(prefix));
    const auto warm = load->WaitForProgress(seconds(60), 20, 20);
    EXPECT_TRUE(warm.has_value()) << "the load did not get going: " << load->counts();
    return load;
  }

  void Finish(FaultLoad& load, const std::string& fault) {
    const std::vector<std::string> failures = load.CheckInvariants();
    const FaultLoadCounts counts = load.counts();
    std::cerr << "[ fault ] " << fault << ": " << counts << ", lost " << failures.size() << "\n";
    EXPECT_THAT(failures, IsEmpty());
    EXPECT_EQ(counts.unexpected, 0u) << counts;
    EXPECT_GT(counts.puts_acked, 0u);
    EXPECT_GT(counts.decrypts_acked, 0u);
  }

  void ExpectRecovery(FaultLoad& load, const std::string& fault,
                      std::chrono::steady_clock::time_point fault_over) {
    const auto recovered = load.WaitForProgress(kRecoveryBound, 10, 10);
    ASSERT_TRUE(recovered.has_value())
        << fault << ": no recovery within " << kRecoveryBound.count() << " s: " << load.counts();
    std::cerr << "[ fault ] " << fault << ": serving again "
              << std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() -
                                                          fault_over)
                     .count()
              << " ms after the fault ended (bound " << kRecoveryBound.count() << " s)\n";
  }

  const Stack* stack_ = nullptr;
};

TEST_F(FaultsTest, SigkillOfCredvaultdMidLoadThenRestartLosesNothing) {
  auto load = StartLoad("kill");
  for (int round = 0; round < 2; ++round) {
    const std::string restarted = RestartCredvaultdInPlace(SIGKILL);
    ASSERT_EQ(restarted, "");
    ExpectRecovery(*load, "SIGKILL and restart " + std::to_string(round + 1),
                   std::chrono::steady_clock::now());
  }
  Finish(*load, "SIGKILL of credvaultd (twice)");
}

TEST_F(FaultsTest, PostgresImmediateStopMidLoadLosesNothingAndRecoversWithoutRestart) {
  auto load = StartLoad("pgstop");
  const pid_t credvaultd = stack_->pid;
  ASSERT_EQ(StopPostgres(*stack_, "immediate"), "");
  struct Restart {
    const Stack& stack;
    ~Restart() { StartPostgres(stack); }  // also when an assertion below fails
  } restart_anyway{*stack_};
  std::this_thread::sleep_for(seconds(3));
  const FaultLoadCounts during = load->counts();
  ASSERT_EQ(StartPostgres(*stack_), "");
  ExpectRecovery(*load, "PostgreSQL immediate stop", std::chrono::steady_clock::now());
  EXPECT_EQ(CurrentStack()->pid, credvaultd) << "credvaultd must recover without a restart";
  EXPECT_FALSE(ProcessGone(credvaultd));
  EXPECT_GT(during.failures_by_code.count("UNAVAILABLE") +
                during.failures_by_code.count("DEADLINE_EXCEEDED"),
            0u)
      << "the outage was not seen: " << during;
  Finish(*load, "PostgreSQL stopped in immediate mode for 3 s");
}

TEST_F(FaultsTest, SigtermUnderLoadDrainsCleanly) {
  auto load = StartLoad("term");
  const pid_t old = stack_->pid;
  const auto stopping = std::chrono::steady_clock::now();
  const std::string restarted = RestartCredvaultdInPlace(SIGTERM);
  ASSERT_EQ(restarted, "");
  std::cerr << "[ fault ] SIGTERM: credvaultd " << old << " drained and a new one served after "
            << std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - stopping)
                   .count()
            << " ms\n";
  ExpectRecovery(*load, "SIGTERM and restart", std::chrono::steady_clock::now());
  Finish(*load, "SIGTERM of credvaultd under load");
}

// A client's "<unix ms> <code>" lines (tests/python/long_lived_client.py and
// tests/node/long_lived_client.mjs print them): the time of its first OK after `after_ms`.
std::optional<long long> FirstOkAfter(const std::string& lines, long long after_ms) {
  std::istringstream in(lines);
  long long ms = 0;
  std::string code;
  while (in >> ms >> code) {
    if (ms > after_ms && code == "OK") return ms;
  }
  return std::nullopt;
}

long long NowMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// gRPC C-core clients (C++, Python) reconnect only while a call waits for the channel: a
// call that fails fast while the channel is in TRANSIENT_FAILURE drives nothing, so a
// client that retries such calls in a loop never reconnects (its attempts advance only
// on gRPC's backup poller, one step every 5 s, and time out). With wait_for_ready, as
// docs/api.md asks, long-lived clients in C++, Python and Node.js all resume within
// seconds of a restart on the same address.
TEST_F(FaultsTest, LongLivedClientsInThreeLanguagesResumeAfterARestartInPlace) {
  const std::string source = CREDVAULT_SOURCE_DIR;
  Clients writer(TlsChannel(*stack_, stack_->write_addr, Caller::Cert("backend")));
  ASSERT_TRUE(Put(writer, PutRequest("reconnect", "reconnect/probe", "probe secret")).ok());

  const std::string work = stack_->dir + "/reconnect";
  const std::string stubs = work + "/python";
  const CommandResult generated =
      RunShell("mkdir -p " + ShellQuote(stubs) + " && protoc -I " + ShellQuote(source + "/proto") +
               " --python_out=" + ShellQuote(stubs) + " --grpc_out=" + ShellQuote(stubs) +
               " --plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin " +
               ShellQuote(source + "/proto") + "/credvault/v1/*.proto 2>&1");
  ASSERT_EQ(generated.exit_code, 0) << generated.output;
  const CommandResult node_deps = RunShell(ShellQuote(source + "/scripts/node-deps.sh") + " 2>&1");
  ASSERT_EQ(node_deps.exit_code, 0) << node_deps.output;

  const std::string stop_file = work + "/stop";
  const std::vector<std::string> environment = {"PATH=/usr/local/bin:/usr/bin:/bin",
                                                "HOME=" + work};
  auto python = ChildProcess::Start(
      {"/usr/bin/python3", source + "/tests/python/long_lived_client.py", stubs, stack_->write_addr,
       stack_->pki, "reconnect", "reconnect/probe", stop_file},
      environment, work + "/python.out", work + "/python.err");
  const CommandResult node_path = RunShell("command -v node");
  auto node = ChildProcess::Start({node_path.output.substr(0, node_path.output.find('\n')),
                                   source + "/tests/node/long_lived_client.mjs", stack_->write_addr,
                                   stack_->pki, "reconnect", "reconnect/probe", stop_file},
                                  environment, work + "/node.out", work + "/node.err");
  ASSERT_NE(python, nullptr);
  ASSERT_NE(node, nullptr);
  // The C++ client: one channel for the whole test, like the others.
  std::mutex mutex;
  std::string cpp_lines;
  std::atomic<bool> stop{false};
  std::thread cpp([&] {
    auto channel = TlsChannel(*stack_, stack_->write_addr, Caller::Cert("backend"));
    v1::CredentialService::Stub stub(channel);
    v1::DescribeCredentialRequest request;
    request.set_org_id("reconnect");
    request.set_name("reconnect/probe");
    while (!stop) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + seconds(2));
      context.set_wait_for_ready(true);
      v1::DescribeCredentialResponse response;
      const grpc::Status status = stub.DescribeCredential(&context, request, &response);
      {
        std::lock_guard<std::mutex> lock(mutex);
        cpp_lines += std::to_string(NowMs()) + " " +
                     (status.ok() ? "OK" : CodeName(status.error_code())) + "\n";
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
  });
  struct StopClients {
    std::function<void()> stop;
    ~StopClients() { stop(); }
  } stop_clients{[&] {
    WriteFileOrDie(stop_file, "");
    stop = true;
    if (cpp.joinable()) cpp.join();
    python->Wait(seconds(10));
    node->Wait(seconds(10));
  }};
  const auto outputs = [&] {
    std::lock_guard<std::mutex> lock(mutex);
    return std::vector<std::pair<std::string, std::string>>{
        {"C++", cpp_lines},
        {"Python", ReadFileOrEmpty(work + "/python.out")},
        {"Node.js", ReadFileOrEmpty(work + "/node.out")}};
  };
  const auto all_ok_after = [&](long long after_ms) {
    for (const auto& [language, lines] : outputs()) {
      if (!FirstOkAfter(lines, after_ms)) return false;
    }
    return true;
  };
  ASSERT_TRUE(WaitFor([&] { return all_ok_after(0); }, seconds(60)))
      << "the clients did not start; python: " << ReadFileOrEmpty(work + "/python.err")
      << "\nnode: " << ReadFileOrEmpty(work + "/node.err");

  for (int round = 1; round <= 2; ++round) {
    ASSERT_EQ(RestartCredvaultdInPlace(SIGKILL), "");
    const long long restarted_ms = NowMs();
    const bool resumed = WaitFor([&] { return all_ok_after(restarted_ms); }, seconds(20));
    for (const auto& [language, lines] : outputs()) {
      const std::optional<long long> first_ok = FirstOkAfter(lines, restarted_ms);
      std::cerr << "[ fault ] restart " << round << ": long-lived " << language << " client "
                << (first_ok ? "resumed " + std::to_string(*first_ok - restarted_ms) +
                                   " ms after credvaultd was ready again"
                             : std::string("did not resume"))
                << "\n";
    }
    ASSERT_TRUE(resumed) << "python: " << ReadFileOrEmpty(work + "/python.err")
                         << "\nnode: " << ReadFileOrEmpty(work + "/node.err");
  }
}

}  // namespace
}  // namespace credvault::e2e

// The database slow or unreachable under load. credvaultd reaches PostgreSQL through a TCP
// proxy of the test's own (tests/e2e/tcp_fault_proxy.h), which adds latency, stalls (holds
// every byte but keeps the sockets open) and resets every connection, one phase at a time,
// while FaultLoad (tests/e2e/fault_load.h) keeps Putting and Decrypting. Throughout:
//  - every call ends by its deadline (plus a little slack) with OK, UNAVAILABLE or
//    DEADLINE_EXCEEDED, never another code;
//  - no request keeps running in credvaultd long after its caller's deadline passed
//    (config's database.statement_timeout: "Each request is further bounded by its gRPC
//    deadline");
//  - the executor queues and the pools stay bounded, and memory stays flat;
//  - the service serves again within a stated bound once the proxy heals, without a restart;
//  - nothing acknowledged is lost.
// Each phase prints what it counted.
#include <signal.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/support/e2e_support.h"
#include "tests/e2e/support/fault_load.h"
#include "tests/e2e/support/tcp_fault_proxy.h"

namespace credvault::e2e {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::IsEmpty;

// The deadline of the probe's calls, and how far past it a call may end: the client's own
// timer, a thread wake-up and the status coming back.
constexpr milliseconds kProbeDeadline{2000};
constexpr milliseconds kDeadlineSlack{500};
// The load's calls have 3 s deadlines (FaultLoadOptions). A request still running in
// credvaultd 5 s after it arrived (the histogram bucket above 3 s) outlived its caller.
constexpr double kOverrunSeconds = 5;
// How long the service may take to serve again once the proxy heals: the pools must
// notice their connections are gone and open new ones.
constexpr seconds kRecoveryBound{20};
// Executor queue bound: the load and the probe have at most a dozen calls outstanding, so
// even counting the tasks of callers that already gave up the queue stays far below this
// if the server drops work for departed callers; a queue that grows with the fault's length
// crosses it.
constexpr double kQueueBound = 200;
// RSS growth allowed over the whole test (a Debug build; allocator slack, gRPC buffers).
const long kRssGrowthBoundKiB = SanitizerRssSlackKiB() + 64 * 1024;
// Pool sizes of the development stack (scripts/dev-stack.sh).
const std::map<std::string, double> kPoolSizes = {{"writer", 8}, {"decryptor", 8}, {"admin", 2}};

std::unique_ptr<TcpFaultProxy>& Proxy() {
  static auto* proxy = new std::unique_ptr<TcpFaultProxy>();
  return *proxy;
}

// The stack, and the proxy to its PostgreSQL after the stack is down: credvaultd must not
// lose its database before it has stopped.
class DatabaseFaultsEnvironment : public StackEnvironment {
 public:
  DatabaseFaultsEnvironment() : StackEnvironment("dbfaults") {}
  void TearDown() override {
    StackEnvironment::TearDown();
    Proxy().reset();
  }
};

// Before the stack starts: its credvaultd inherits the limit (memory is bounded below).
[[maybe_unused]] const bool kSmallQuarantine = LimitSanitizerQuarantine();
[[maybe_unused]] ::testing::Environment* const kStack =
    ::testing::AddGlobalTestEnvironment(new DatabaseFaultsEnvironment());

// ---------------------------------------------------------------------------------------
// The metrics page.

// The sum of the samples of `name` whose labels contain every one of `labels` (e.g.
// "executor=\"write\""); nullopt if there is none.
std::optional<double> Sample(const std::string& page, const std::string& name,
                             const std::vector<std::string>& labels = {}) {
  std::istringstream lines(page);
  std::string line;
  std::optional<double> sum;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.compare(0, name.size(), name) != 0) continue;
    const std::size_t after = name.size();
    if (after < line.size() && line[after] != '{' && line[after] != ' ') continue;
    const std::size_t space = line.rfind(' ');
    const std::string label_text = line.substr(after, space - after);
    if (!std::all_of(labels.begin(), labels.end(), [&](const std::string& label) {
          return label_text.find(label) != std::string::npos;
        })) {
      continue;
    }
    sum = sum.value_or(0) + std::stod(line.substr(space + 1));
  }
  return sum;
}

std::string MetricsPage() {
  const std::string response = HttpGet(CurrentStack()->metrics_addr, "/metrics");
  const std::size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

// Requests that ran in credvaultd longer than kOverrunSeconds so far, by method: the
// histogram's count less its bucket at kOverrunSeconds (whatever way "le" spells it).
std::map<std::string, double> RequestsOverrunning(const std::string& page) {
  const std::string bucket = "credvault_request_duration_seconds_bucket{";
  const std::string count = "credvault_request_duration_seconds_count{";
  std::map<std::string, double> overruns;
  std::istringstream lines(page);
  std::string line;
  while (std::getline(lines, line)) {
    const bool is_bucket = line.compare(0, bucket.size(), bucket) == 0;
    const bool is_count = line.compare(0, count.size(), count) == 0;
    const std::size_t method = line.find("method=\"");
    const std::size_t space = line.rfind(' ');
    if ((!is_bucket && !is_count) || method == std::string::npos || space == std::string::npos) {
      continue;
    }
    const std::string name = line.substr(method + 8, line.find('"', method + 8) - (method + 8));
    const double value = std::stod(line.substr(space + 1));
    if (is_count) {
      overruns[name] += value;
      continue;
    }
    const std::size_t le = line.find("le=\"");
    if (le == std::string::npos) continue;
    const std::string bound = line.substr(le + 4, line.find('"', le + 4) - (le + 4));
    if (bound != "+Inf" && std::stod(bound) == kOverrunSeconds) overruns[name] -= value;
  }
  return overruns;
}

// Scrapes the metrics page every 250 ms and keeps the highest queue and pool figures.
class MetricsWatcher {
 public:
  struct Peaks {
    std::map<std::string, double> queued;  // by executor
    std::map<std::string, double> open;    // by pool role
    int scrapes = 0, failed_scrapes = 0;
  };

  MetricsWatcher() : thread_([this] { Watch(); }) {}
  ~MetricsWatcher() {
    stop_ = true;
    thread_.join();
  }
  MetricsWatcher(const MetricsWatcher&) = delete;
  MetricsWatcher& operator=(const MetricsWatcher&) = delete;

  // The peaks since the last call.
  Peaks TakePeaks() {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::exchange(peaks_, Peaks{});
  }

 private:
  void Watch() {
    while (!stop_) {
      const std::string page = MetricsPage();
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ++peaks_.scrapes;
        if (page.empty()) {
          ++peaks_.failed_scrapes;
        } else {
          for (const std::string executor : {"write", "decrypt"}) {
            const double queued =
                Sample(page, "credvault_executor_queued_tasks", {"executor=\"" + executor + "\""})
                    .value_or(0);
            peaks_.queued[executor] = std::max(peaks_.queued[executor], queued);
          }
          for (const auto& [role, size] : kPoolSizes) {
            const double open = Sample(page, "credvault_db_pool_connections",
                                       {"role=\"" + role + "\"", "state=\"open\""})
                                    .value_or(0);
            peaks_.open[role] = std::max(peaks_.open[role], open);
          }
        }
      }
      std::this_thread::sleep_for(milliseconds(250));
    }
  }

  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  Peaks peaks_;  // guarded by mutex_
  std::thread thread_;
};

std::ostream& operator<<(std::ostream& out, const MetricsWatcher::Peaks& peaks) {
  out << "peak queued tasks:";
  for (const auto& [executor, n] : peaks.queued) out << " " << executor << "=" << n;
  out << "; peak open connections:";
  for (const auto& [role, n] : peaks.open) out << " " << role << "=" << n;
  return out << " (" << peaks.scrapes << " scrapes, " << peaks.failed_scrapes << " failed)";
}

// ---------------------------------------------------------------------------------------
// The probe: calls of its own with a short deadline, each timed.

struct ProbeCall {
  std::string method;
  grpc::StatusCode code;
  milliseconds elapsed;
};

class Probe {
 public:
  struct Summary {
    int calls = 0;
    int failed = 0;
    std::map<std::string, int> by_code;  // "Describe OK", ...
    milliseconds slowest{0};
    std::vector<std::string> bad;  // past the deadline, or an unexpected code
  };

  Probe(const Stack& stack, std::string org, std::string name)
      : writer_(TlsChannel(stack, stack.write_addr, Caller::Cert("backend"))),
        worker_(TlsChannel(stack, stack.decrypt_addr, Caller::Cert("worker"))),
        org_(std::move(org)),
        name_(std::move(name)),
        thread_([this] { Run(); }) {}
  ~Probe() {
    stop_ = true;
    thread_.join();
  }
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;

  // What the probe saw since the last call.
  Summary TakeSummary() {
    std::lock_guard<std::mutex> lock(mutex_);
    Summary summary;
    for (const ProbeCall& call : calls_) {
      ++summary.calls;
      if (call.code != grpc::StatusCode::OK) ++summary.failed;
      ++summary.by_code[call.method + " " + CodeName(call.code)];
      summary.slowest = std::max(summary.slowest, call.elapsed);
      const bool allowed_code = call.code == grpc::StatusCode::OK ||
                                call.code == grpc::StatusCode::UNAVAILABLE ||
                                call.code == grpc::StatusCode::DEADLINE_EXCEEDED;
      if (!allowed_code || call.elapsed > kProbeDeadline + kDeadlineSlack) {
        summary.bad.push_back(call.method + " " + CodeName(call.code) + " after " +
                              std::to_string(call.elapsed.count()) + " ms");
      }
    }
    calls_.clear();
    return summary;
  }

 private:
  template <typename Invoke>
  void Timed(const std::string& method, Invoke invoke) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kProbeDeadline);
    context.set_wait_for_ready(true);
    const auto started = Clock::now();
    const grpc::Status status = invoke(&context);
    const auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
    std::lock_guard<std::mutex> lock(mutex_);
    calls_.push_back(ProbeCall{method, status.error_code(), elapsed});
  }

  void Run() {
    for (int round = 0; !stop_; ++round) {
      Timed("Describe", [&](grpc::ClientContext* context) {
        v1::DescribeCredentialRequest request;
        request.set_org_id(org_);
        request.set_name(name_);
        v1::DescribeCredentialResponse response;
        return writer_.credentials->DescribeCredential(context, request, &response);
      });
      Timed("Put", [&](grpc::ClientContext* context) {
        v1::PutCredentialRequest request =
            PutRequest(org_, name_ + "-put", "probe-" + RandomHex(16));
        request.set_idempotency_key("probe-" + RandomHex(12));
        v1::PutCredentialResponse response;
        return writer_.credentials->PutCredential(context, request, &response);
      });
      Timed("Decrypt", [&](grpc::ClientContext* context) {
        v1::DecryptCredentialRequest request;
        request.set_org_id(org_);
        request.set_name(name_);
        request.set_purpose("database fault probe");
        v1::DecryptCredentialResponse response;
        return worker_.access->DecryptCredential(context, request, &response);
      });
      std::this_thread::sleep_for(milliseconds(100));
    }
  }

  Clients writer_, worker_;
  const std::string org_, name_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<ProbeCall> calls_;  // guarded by mutex_
  std::thread thread_;
};

std::ostream& operator<<(std::ostream& out, const Probe::Summary& summary) {
  out << summary.calls << " probe calls (slowest " << summary.slowest.count() << " ms):";
  for (const auto& [what, n] : summary.by_code) out << " [" << what << "]=" << n;
  return out;
}

// What the load counted during one phase: `after` less `before`.
FaultLoadCounts Delta(const FaultLoadCounts& before, const FaultLoadCounts& after) {
  FaultLoadCounts delta = after;
  delta.puts_acked -= before.puts_acked;
  delta.puts_replayed -= before.puts_replayed;
  delta.put_retries -= before.put_retries;
  delta.puts_given_up -= before.puts_given_up;
  delta.decrypts_acked -= before.decrypts_acked;
  delta.decrypt_failures -= before.decrypt_failures;
  delta.unexpected -= before.unexpected;
  for (const auto& [code, n] : before.failures_by_code) delta.failures_by_code[code] -= n;
  std::erase_if(delta.failures_by_code, [](const auto& entry) { return entry.second == 0; });
  delta.unexpected_examples.clear();
  return delta;
}

// Points the stack's configuration at the proxy, with database timeouts below the calls'
// deadlines, so that a fault shows as UNAVAILABLE or DEADLINE_EXCEEDED while the caller
// still waits (server/config/config.h, DatabaseConfig).
std::string PointDatabaseAtProxy(const Stack& stack, int proxy_port) {
  YAML::Node config;
  try {
    config = YAML::LoadFile(stack.config);
  } catch (const YAML::Exception& e) {
    return std::string("cannot read the configuration: ") + e.what();
  }
  YAML::Node database = config["database"];
  database["host"] = "127.0.0.1";
  database["port"] = proxy_port;
  // libpq's connect_timeout bounds a connection attempt that the database never answers
  // (a stall); 2 s is the least libpq honours.
  database["connect_timeout"] = "2s";
  // Below the load's 3 s deadline: a request waiting for a pooled connection fails with
  // UNAVAILABLE while its caller still listens, and the caller retries.
  database["acquire_timeout"] = "1s";
  // The server-side bound on one statement (the pool shortens it further for near
  // deadlines); the pool's idle-in-transaction timeout is 5 s above it.
  database["statement_timeout"] = "3s";
  YAML::Emitter out;
  out << config;
  WriteFileOrDie(stack.config, std::string(out.c_str()) + "\n");
  return "";
}

class DatabaseFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const Stack* stack = CurrentStack();
    ASSERT_NE(stack, nullptr);
    std::string error;
    Proxy() = TcpFaultProxy::Start(stack->env.at("CREDVAULT_PG_HOST"),
                                   std::stoi(stack->env.at("CREDVAULT_PG_PORT")), &error);
    ASSERT_NE(Proxy(), nullptr) << error;
    ASSERT_EQ(PointDatabaseAtProxy(*stack, Proxy()->port()), "");
    ASSERT_EQ(RestartCredvaultdInPlace(SIGTERM), "");
    std::cerr << "[ dbfault ] credvaultd " << CurrentStack()->pid
              << " reaches PostgreSQL through the proxy on 127.0.0.1:" << Proxy()->port() << "\n";
  }
};

TEST_F(DatabaseFaultsTest, LatencyStallAndResetsUnderLoadEndInTimeAndLoseNothing) {
  TcpFaultProxy& proxy = *Proxy();
  const Stack& stack = *CurrentStack();
  const pid_t credvaultd = stack.pid;

  // Something for the probe to Describe and Decrypt.
  {
    Clients writer(TlsChannel(stack, stack.write_addr, Caller::Cert("backend")));
    const Outcome put = Put(writer, PutRequest("dbprobe", "probe/target", "probe secret"));
    ASSERT_TRUE(put.ok()) << put;
  }
  ASSERT_GT(proxy.counts().bytes_to_upstream, 0u) << "credvaultd does not use the proxy";

  FaultLoadOptions options;
  options.org_prefix = "dbfault";
  FaultLoad load(stack, options);
  ASSERT_TRUE(load.WaitForProgress(seconds(60), 20, 20).has_value())
      << "the load did not get going: " << load.counts();
  MetricsWatcher watcher;
  Probe probe(stack, "dbprobe", "probe/target");
  std::this_thread::sleep_for(seconds(1));
  probe.TakeSummary();
  watcher.TakePeaks();
  const std::string page_before = MetricsPage();
  ASSERT_FALSE(page_before.empty()) << "no metrics page at " << stack.metrics_addr;
  const long rss_before = ResidentKiB(credvaultd);
  ASSERT_GT(rss_before, 0);

  struct Phase {
    std::string name;
    std::function<void()> inject;
    seconds duration;
    bool must_be_seen;  // the probe must see failures while it lasts
    // The probe's slowest call while it lasts must take at least this long: the fault
    // really was in the path.
    milliseconds slowest_at_least;
  };
  const std::vector<Phase> phases = {
      {"latency 200 ms per chunk each way", [&] { proxy.Delay(milliseconds(200)); }, seconds(5),
       false, milliseconds(400)},
      {"stall (bytes held, sockets open)", [&] { proxy.Stall(); }, seconds(10), true,
       kProbeDeadline},
      {"resets (RST, new connections refused)", [&] { proxy.Reset(); }, seconds(5), true,
       milliseconds(0)},
  };
  for (const Phase& phase : phases) {
    const FaultLoadCounts load_before = load.counts();
    const TcpFaultProxyCounts proxy_before = proxy.counts();
    const std::map<std::string, double> overruns_before = RequestsOverrunning(MetricsPage());
    phase.inject();
    std::this_thread::sleep_for(phase.duration);
    const Probe::Summary during = probe.TakeSummary();
    const FaultLoadCounts load_during = Delta(load_before, load.counts());
    const TcpFaultProxyCounts proxy_during = proxy.counts();
    proxy.Pass();
    const auto healed = Clock::now();
    const auto recovered = load.WaitForProgress(kRecoveryBound, 10, 10);
    const auto recovery_ms =
        std::chrono::duration_cast<milliseconds>(Clock::now() - healed).count();
    // Let the requests that were stuck in the fault finish, so that they are counted.
    std::this_thread::sleep_for(seconds(1));
    const Probe::Summary after = probe.TakeSummary();
    const MetricsWatcher::Peaks peaks = watcher.TakePeaks();
    const std::string page = MetricsPage();
    std::map<std::string, double> overruns_by_method = RequestsOverrunning(page);
    double overruns = 0;
    std::ostringstream overrun_text;
    for (auto& [method, n] : overruns_by_method) {
      const auto before = overruns_before.find(method);
      n -= before == overruns_before.end() ? 0 : before->second;
      overruns += n;
      if (n > 0) overrun_text << " " << method << "=" << n;
    }

    std::cerr << "[ dbfault ] " << phase.name << " for " << phase.duration.count() << " s:\n"
              << "[ dbfault ]   load during: " << load_during << "\n"
              << "[ dbfault ]   probe during: " << during << "\n"
              << "[ dbfault ]   probe after healing: " << after << "\n"
              << "[ dbfault ]   proxy during: connections accepted "
              << proxy_during.connections_accepted - proxy_before.connections_accepted << ", reset "
              << proxy_during.connections_reset - proxy_before.connections_reset << ", refused "
              << proxy_during.connections_refused - proxy_before.connections_refused
              << ", bytes held at the end " << proxy_during.bytes_held << "\n"
              << "[ dbfault ]   " << peaks << "\n"
              << "[ dbfault ]   requests that ran longer than " << kOverrunSeconds
              << " s in credvaultd: " << overruns << overrun_text.str() << "\n"
              << "[ dbfault ]   serving again "
              << (recovered ? std::to_string(recovery_ms) + " ms" : std::string("never"))
              << " after the proxy healed (bound " << kRecoveryBound.count() << " s)\n";

    EXPECT_TRUE(recovered.has_value()) << phase.name << ": no recovery within "
                                       << kRecoveryBound.count() << " s: " << load.counts();
    for (const Probe::Summary* summary : {&during, &after}) {
      EXPECT_GT(summary->calls, 0) << phase.name;
      EXPECT_THAT(summary->bad, IsEmpty())
          << phase.name << ": calls past " << kProbeDeadline.count() << " ms + "
          << kDeadlineSlack.count() << " ms or with another code than OK, UNAVAILABLE, "
          << "DEADLINE_EXCEEDED";
    }
    if (phase.must_be_seen) {
      EXPECT_GT(during.failed, 0) << phase.name << ": the fault was not seen: " << during;
    }
    EXPECT_GE(during.slowest, phase.slowest_at_least) << phase.name << ": " << during;
    // The service that recovered did so through the proxy.
    EXPECT_GT(proxy.counts().bytes_to_upstream, proxy_during.bytes_to_upstream)
        << phase.name << ": credvaultd does not go through the proxy";
    for (const auto& [code, n] : load_during.failures_by_code) {
      EXPECT_TRUE(code == "UNAVAILABLE" || code == "DEADLINE_EXCEEDED")
          << phase.name << ": the load saw " << n << " " << code;
    }
    EXPECT_EQ(overruns, 0) << phase.name
                           << ": requests kept running in credvaultd after their callers' "
                              "deadlines passed";
    EXPECT_EQ(peaks.failed_scrapes, 0) << phase.name;
    for (const auto& [executor, queued] : peaks.queued) {
      EXPECT_LE(queued, kQueueBound) << phase.name << ": executor " << executor;
    }
    for (const auto& [role, open] : peaks.open) {
      EXPECT_LE(open, kPoolSizes.at(role)) << phase.name << ": pool " << role;
    }
    // Drained once the database answers again.
    for (const std::string executor : {"write", "decrypt"}) {
      EXPECT_LE(Sample(page, "credvault_executor_queued_tasks", {"executor=\"" + executor + "\""})
                    .value_or(0),
                2)
          << phase.name << ": executor " << executor << " did not drain";
    }
    EXPECT_EQ(CurrentStack()->pid, credvaultd);
    EXPECT_FALSE(ProcessGone(credvaultd)) << phase.name;
  }

  const long rss_after = ResidentKiB(credvaultd);
  std::cerr << "[ dbfault ] credvaultd VmRSS " << rss_before << " KiB before the faults, "
            << rss_after << " KiB after (bound +" << kRssGrowthBoundKiB << " KiB)\n"
            << "[ dbfault ] proxy in all: " << proxy.counts() << "\n";
  EXPECT_LE(rss_after - rss_before, kRssGrowthBoundKiB);

  const std::vector<std::string> failures = load.CheckInvariants();
  const FaultLoadCounts counts = load.counts();
  std::cerr << "[ dbfault ] load in all: " << counts << ", lost " << failures.size() << "\n";
  EXPECT_THAT(failures, IsEmpty());
  EXPECT_EQ(counts.unexpected, 0u) << counts;
  EXPECT_GT(counts.puts_acked, 0u);
  EXPECT_GT(counts.decrypts_acked, 0u);
}

}  // namespace
}  // namespace credvault::e2e

// Admission control and per-org fairness against a real credvaultd (docs/architecture.md,
// "Admission control and per-org fairness"): one hot org with 20 times the client
// concurrency of three quiet orgs, all doing PutCredential on the write tier, whose workers
// a FIFO queue would hand to the hot org's backlog. The quiet orgs' latency under the hot
// load must stay within a generous factor of their latency alone; with a small
// limits.max_requests_per_org, only the hot org is refused.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/support/e2e_support.h"

namespace credvault::e2e {
namespace {

using ::testing::HasSubstr;

[[maybe_unused]] ::testing::Environment* const kStack =
    ::testing::AddGlobalTestEnvironment(new StackEnvironment("fairness"));

constexpr int kQuietClients = 2;                 // per quiet org
constexpr int kHotClients = 20 * kQuietClients;  // the hot org
const std::vector<std::string> kQuietOrgs = {"quiet-a", "quiet-b", "quiet-c"};
const std::string kHotOrg = "hot";

// What one org's clients saw.
struct OrgResult {
  std::vector<double> ok_ms;  // latency of each successful call
  int exhausted = 0;          // RESOURCE_EXHAUSTED
  int other_errors = 0;
  std::string first_exhausted;  // message and reason of the first RESOURCE_EXHAUSTED
  std::string first_error;

  double Percentile(double p) const {
    if (ok_ms.empty()) return 0;
    std::vector<double> sorted = ok_ms;
    std::sort(sorted.begin(), sorted.end());
    const std::size_t rank = static_cast<std::size_t>(std::ceil(p * sorted.size()));
    return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
  }
};

// The quiet orgs together: their latencies pooled.
OrgResult Pooled(const std::map<std::string, OrgResult>& results) {
  OrgResult pooled;
  for (const std::string& org : kQuietOrgs) {
    const OrgResult& one = results.at(org);
    pooled.ok_ms.insert(pooled.ok_ms.end(), one.ok_ms.begin(), one.ok_ms.end());
    pooled.exhausted += one.exhausted;
    pooled.other_errors += one.other_errors;
  }
  return pooled;
}

// `clients` closed-loop clients per org Put for `duration`, each to a name of its own (so
// that no two wait for one credential's lock). A refused client backs off 5 ms, as a client
// told to retry with backoff would.
std::map<std::string, OrgResult> RunLoad(const std::map<std::string, int>& clients,
                                         std::chrono::milliseconds duration) {
  const Stack& stack = *CurrentStack();
  absl::Mutex mutex;
  std::map<std::string, OrgResult> results;
  for (const auto& [org, count] : clients) results[org];
  std::vector<std::thread> threads;
  const auto end = std::chrono::steady_clock::now() + duration;
  for (const auto& [org_id, count] : clients) {
    const std::string org = org_id;
    // One channel per org, shared by its clients as a service's instances would.
    auto channel = TlsChannel(stack, stack.write_addr, Caller::Cert("backend"));
    for (int client = 0; client < count; ++client) {
      threads.emplace_back([&, org, channel, client] {
        Clients stubs(channel);
        const v1::PutCredentialRequest request =
            PutRequest(org, "fairness/client-" + std::to_string(client), "not-a-real-secret");
        OrgResult mine;
        while (std::chrono::steady_clock::now() < end) {
          const auto started = std::chrono::steady_clock::now();
          const Outcome outcome = Put(stubs, request);
          const double ms =
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                  .count();
          if (outcome.ok()) {
            mine.ok_ms.push_back(ms);
          } else if (outcome.code == grpc::StatusCode::RESOURCE_EXHAUSTED) {
            if (mine.exhausted++ == 0) {
              mine.first_exhausted = outcome.message + " [" + outcome.reason + "]";
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
          } else {
            if (mine.other_errors++ == 0)
              mine.first_error = CodeName(outcome.code) + ": " + outcome.message;
          }
        }
        absl::MutexLock lock(&mutex);
        OrgResult& total = results[org];
        total.ok_ms.insert(total.ok_ms.end(), mine.ok_ms.begin(), mine.ok_ms.end());
        total.exhausted += mine.exhausted;
        total.other_errors += mine.other_errors;
        if (total.first_exhausted.empty()) total.first_exhausted = mine.first_exhausted;
        if (total.first_error.empty()) total.first_error = mine.first_error;
      });
    }
  }
  for (std::thread& thread : threads) thread.join();
  return results;
}

void Print(const std::string& phase, const std::map<std::string, OrgResult>& results) {
  for (const auto& [org, result] : results) {
    std::printf("%-28s %-8s ok %6zu  exhausted %6d  errors %4d  p50 %7.2f ms  p99 %7.2f ms\n",
                phase.c_str(), org.c_str(), result.ok_ms.size(), result.exhausted,
                result.other_errors, result.Percentile(0.50), result.Percentile(0.99));
  }
  std::fflush(stdout);
}

std::map<std::string, int> QuietLoad() {
  std::map<std::string, int> load;
  for (const std::string& org : kQuietOrgs) load[org] = kQuietClients;
  return load;
}

std::map<std::string, int> HotAndQuietLoad() {
  std::map<std::string, int> load = QuietLoad();
  load[kHotOrg] = kHotClients;
  return load;
}

// The value of the first sample on the metrics page whose line has every one of `parts`.
double Sample(const std::string& page, const std::vector<std::string>& parts) {
  std::size_t start = 0;
  while (start < page.size()) {
    std::size_t end = page.find('\n', start);
    if (end == std::string::npos) end = page.size();
    const std::string line = page.substr(start, end - start);
    start = end + 1;
    if (line.empty() || line[0] == '#') continue;
    bool all = true;
    for (const std::string& part : parts) all &= line.find(part) != std::string::npos;
    if (all) return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return -1;
}

class FairnessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(CurrentStack(), nullptr);
    // Provision every org before measuring: an org's first Put makes its key pair.
    Clients writer(
        TlsChannel(*CurrentStack(), CurrentStack()->write_addr, Caller::Cert("backend")));
    for (const auto& [org, count] : HotAndQuietLoad()) {
      const Outcome outcome = Put(writer, PutRequest(org, "fairness/provision", "x"));
      ASSERT_TRUE(outcome.ok()) << org << ": " << outcome;
    }
  }
};

TEST_F(FairnessTest, QuietOrgsKeepTheirLatencyUnderAHotOrg) {
  // Warm-up, then each quiet org alone, then beside the hot org.
  RunLoad(HotAndQuietLoad(), std::chrono::milliseconds(500));
  const std::map<std::string, OrgResult> alone = RunLoad(QuietLoad(), std::chrono::seconds(2));
  Print("quiet orgs alone", alone);
  const std::map<std::string, OrgResult> loaded =
      RunLoad(HotAndQuietLoad(), std::chrono::seconds(3));
  Print("quiet orgs beside hot org", loaded);

  const OrgResult quiet_alone = Pooled(alone);
  const OrgResult quiet_loaded = Pooled(loaded);
  const double alone_p99 = quiet_alone.Percentile(0.99);
  const double loaded_p99 = quiet_loaded.Percentile(0.99);
  // Generous, so that a loaded two-core machine does not make it flaky: a FIFO queue makes
  // each quiet Put wait for the hot org's whole backlog.
  const double bound = 5 * alone_p99 + 20;
  const double p50_bound = 4 * quiet_alone.Percentile(0.5) + 10;
  std::printf(
      "quiet p99: alone %.2f ms, beside the hot org %.2f ms (bound %.2f ms); "
      "quiet p50 %.2f -> %.2f ms (bound %.2f ms); hot org %zu ok, p50 %.2f ms, p99 %.2f ms\n",
      alone_p99, loaded_p99, bound, quiet_alone.Percentile(0.5), quiet_loaded.Percentile(0.5),
      p50_bound, loaded.at(kHotOrg).ok_ms.size(), loaded.at(kHotOrg).Percentile(0.5),
      loaded.at(kHotOrg).Percentile(0.99));
  std::fflush(stdout);

  for (const auto* phase : {&alone, &loaded}) {
    for (const auto& [org, result] : *phase) {
      EXPECT_EQ(result.exhausted, 0) << org << ": " << result.first_exhausted;
      EXPECT_EQ(result.other_errors, 0) << org << ": " << result.first_error;
      EXPECT_GT(result.ok_ms.size(), 10u) << org;
    }
  }
  // The hot org did load the tier: its requests waited behind each other (its Puts also
  // take turns at its own audit chain), while the quiet orgs' did not wait behind them.
  EXPECT_GT(loaded.at(kHotOrg).Percentile(0.5), 2 * quiet_loaded.Percentile(0.5));
  EXPECT_LE(loaded_p99, bound);
  // The typical quiet request too, which moves less with the machine's own load than the
  // tail: a FIFO queue multiplies it by the hot org's backlog.
  EXPECT_LE(quiet_loaded.Percentile(0.5), p50_bound);
}

TEST_F(FairnessTest, OnlyTheOrgOverItsLimitIsRefused) {
  const Stack& stack = *CurrentStack();
  const std::string original = ReadFileOrEmpty(stack.config);
  ASSERT_EQ(original.find("\nlimits:"), std::string::npos) << "the stack already sets limits";
  // Four requests of one org in flight: the hot org's forty clients go over it; a quiet
  // org's two clients have at most three (a finished request is counted until its worker
  // returns, which may be after the client sent its next).
  WriteFileOrDie(stack.config, original + "limits:\n  max_requests_per_org: 4\n");
  pid_t previous = stack.pid;
  ASSERT_EQ(StartCredvaultd(), "");
  ASSERT_TRUE(StopCredvaultd(previous, SIGTERM));

  const std::map<std::string, OrgResult> results =
      RunLoad(HotAndQuietLoad(), std::chrono::seconds(2));
  Print("max_requests_per_org: 4", results);
  const std::string metrics = HttpGet(CurrentStack()->metrics_addr, "/metrics");

  // Back to the stack's own configuration for whatever runs next.
  WriteFileOrDie(stack.config, original);
  previous = CurrentStack()->pid;
  ASSERT_EQ(StartCredvaultd(), "");
  ASSERT_TRUE(StopCredvaultd(previous, SIGTERM));

  const OrgResult& hot = results.at(kHotOrg);
  EXPECT_GT(hot.exhausted, 0);
  EXPECT_THAT(hot.first_exhausted, HasSubstr("too many requests in flight on the write tier"));
  EXPECT_THAT(hot.first_exhausted, HasSubstr("limit 4"));
  EXPECT_THAT(hot.first_exhausted, HasSubstr("ERROR_REASON_RATE_LIMITED"));
  EXPECT_GT(hot.ok_ms.size(), 0u);  // refused only beyond its share
  for (const std::string& org : kQuietOrgs) {
    const OrgResult& quiet = results.at(org);
    EXPECT_EQ(quiet.exhausted, 0) << org << ": " << quiet.first_exhausted;
    EXPECT_EQ(quiet.other_errors, 0) << org << ": " << quiet.first_error;
    EXPECT_GT(quiet.ok_ms.size(), 10u) << org;
  }
  // Counted by tier and reason (labels in either order).
  const double refused = Sample(
      metrics, {"credvault_admission_refusals_total{", "tier=\"write\"", "reason=\"org_limit\""});
  EXPECT_EQ(refused, static_cast<double>(hot.exhausted)) << metrics;
}

}  // namespace
}  // namespace credvault::e2e

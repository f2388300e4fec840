// Where refused requests are recorded: callers an org trusts in its audit chain, strangers
// and unauthenticated callers only in the rate-limited security log, without a database
// access that would tell whether the org exists. Against a real PostgreSQL.
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "prometheus/metric_family.h"
#include "server/api/call_runner.h"
#include "server/auth/policy.h"
#include "server/telemetry/json_log.h"
#include "server/telemetry/metrics.h"
#include "server/telemetry/security_log.h"
#include "storage/audit_log.h"
#include "storage/pool.h"
#include "tests/storage/test_database.h"

namespace credvault::server {
namespace {

using ::credvault::storage::testing::AppRole;
using ::credvault::storage::testing::SeedOrg;
using ::credvault::storage::testing::TestDatabase;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPolicy[] = R"(
principals:
  - id: "cn:member"
    roles: [writer]
    orgs: [org-a]
  - id: "cn:stranger"
    roles: [writer, decryptor]
    orgs: [org-z]
)";

const Principal kMember{.id = "cn:member", .source = PrincipalSource::kCertificate};
const Principal kStranger{.id = "cn:stranger", .source = PrincipalSource::kCertificate};

// credvault_security_denials_total for (method, reason); 0 if the series does not exist.
double SecurityDenials(Metrics& metrics, const std::string& method, const std::string& reason) {
  for (const prometheus::MetricFamily& family : metrics.registry().Collect()) {
    if (family.name != "credvault_security_denials_total") continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      int matched = 0;
      for (const prometheus::ClientMetric::Label& label : metric.label) {
        if ((label.name == "method" && label.value == method) ||
            (label.name == "reason" && label.value == reason)) {
          ++matched;
        }
      }
      if (matched == 2) return metric.counter.value;
    }
  }
  return 0;
}

// The log lines written to `sink`, parsed.
std::vector<nlohmann::json> Lines(const std::ostringstream& sink) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(sink.str());
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

std::vector<nlohmann::json> LinesWithMessage(const std::ostringstream& sink,
                                             const std::string& message) {
  std::vector<nlohmann::json> found;
  for (nlohmann::json& line : Lines(sink)) {
    if (line.value("msg", "") == message) found.push_back(std::move(line));
  }
  return found;
}

// Captures the JSON log for the lifetime of the object.
class CapturedLog {
 public:
  CapturedLog() { JsonLog::SetSinkForTesting(&sink_); }
  ~CapturedLog() { JsonLog::SetSinkForTesting(nullptr); }
  const std::ostringstream& sink() const { return sink_; }

 private:
  std::ostringstream sink_;
};

class DenialAuditorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = TestDatabase::Create();
    SeedOrg(*db_, "org-a");
    decryptor_ = db_->Pool(AppRole::kDecryptor);
    admin_ = db_->Pool(AppRole::kAdmin);
    absl::StatusOr<Policy> policy = Policy::Parse(kPolicy, "policy.yaml");
    ASSERT_TRUE(policy.ok()) << policy.status();
    policy_ = *std::move(policy);
  }

  std::vector<storage::AuditEvent> Chain(const std::string& org) {
    std::vector<storage::AuditEvent> events;
    const absl::Status status = admin_->Run(org, [&](storage::Transaction& tx) -> absl::Status {
      absl::StatusOr<std::vector<storage::AuditEvent>> listed =
          storage::AuditLog().List(tx, 0, 1000);
      if (!listed.ok()) return listed.status();
      events = *std::move(listed);
      return absl::OkStatus();
    });
    EXPECT_TRUE(status.ok()) << status;
    return events;
  }

  std::size_t DeniedEvents(const std::string& org) {
    std::size_t count = 0;
    for (const storage::AuditEvent& event : Chain(org)) count += event.action == "access.denied";
    return count;
  }

  absl::Status Call(const DenialAuditor& auditor, const Principal& principal, Role role,
                    const std::string& org, const std::string& method,
                    const std::string& request_id) {
    return CallRunner::AuthorizeCall(policy_, principal, {role}, org, method, request_id, auditor,
                                     &metrics_);
  }

  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<storage::ConnectionPool> decryptor_;
  std::unique_ptr<storage::ConnectionPool> admin_;
  Policy policy_;
  Metrics metrics_;
  SecurityLog security_log_;
};

TEST_F(DenialAuditorTest, StrangerDenialForAnExistingOrgStaysOutOfItsChain) {
  const DenialAuditor auditor(decryptor_.get(), &security_log_);
  const std::size_t events_before = Chain("org-a").size();
  CapturedLog log;

  const absl::Status refused =
      Call(auditor, kStranger, Role::kWriter, "org-a", "PutCredential", "req-stranger-1");

  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Chain("org-a").size(), events_before);
  EXPECT_EQ(SecurityDenials(metrics_, "PutCredential", "no_grant"), 1);
  const std::vector<nlohmann::json> lines = LinesWithMessage(log.sink(), "security");
  ASSERT_EQ(lines.size(), 1u) << log.sink().str();
  EXPECT_EQ(lines[0].value("reason", ""), "no_grant");
  EXPECT_EQ(lines[0].value("method", ""), "PutCredential");
  EXPECT_EQ(lines[0].value("principal", ""), "cn:stranger");
  EXPECT_EQ(lines[0].value("request_id", ""), "req-stranger-1");
  EXPECT_EQ(lines[0].value("org_id", ""), "org-a");
  EXPECT_EQ(lines[0].value("suppressed", ""), "0");
}

TEST_F(DenialAuditorTest, DenialOfACallerTheOrgTrustsIsInItsChain) {
  const DenialAuditor auditor(decryptor_.get(), &security_log_);
  CapturedLog log;
  // A writer of org-a asking to decrypt in org-a.
  const absl::Status refused =
      Call(auditor, kMember, Role::kDecryptor, "org-a", "DecryptCredential", "req-member-1");

  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied);
  const std::vector<storage::AuditEvent> chain = Chain("org-a");
  ASSERT_FALSE(chain.empty());
  const storage::AuditEvent& last = chain.back();
  EXPECT_EQ(last.action, "access.denied");
  EXPECT_EQ(last.principal, "cn:member");
  EXPECT_EQ(last.target, "DecryptCredential");
  EXPECT_EQ(last.result, "permission_denied");
  EXPECT_EQ(last.request_id, "req-member-1");
  EXPECT_EQ(last.details, refused.message());
  EXPECT_EQ(SecurityDenials(metrics_, "DecryptCredential", "no_grant"), 0);
  EXPECT_TRUE(LinesWithMessage(log.sink(), "security").empty()) << log.sink().str();
}

TEST_F(DenialAuditorTest, StrangerDenialIsTheSameWhetherOrNotTheOrgExistsAndNeedsNoDatabase) {
  // A pool whose database is unreachable: any use of it fails and is logged as "could not
  // audit a denied request".
  absl::StatusOr<std::unique_ptr<storage::ConnectionPool>> unreachable =
      storage::ConnectionPool::Create(
          {.connection_string = "host=127.0.0.1 port=1 dbname=none user=none connect_timeout=2",
           .acquire_timeout = absl::Seconds(2),
           .max_attempts = 1});
  ASSERT_TRUE(unreachable.ok()) << unreachable.status();
  const DenialAuditor auditor(unreachable->get(), &security_log_);
  CapturedLog log;

  const absl::Status existing =
      Call(auditor, kStranger, Role::kWriter, "org-a", "PutCredential", "req-existing");
  const absl::Status missing =
      Call(auditor, kStranger, Role::kWriter, "org-missing", "PutCredential", "req-missing");

  EXPECT_EQ(existing.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(missing.code(), existing.code());
  EXPECT_EQ(absl::StrReplaceAll(missing.message(), {{"org-missing", "org-a"}}), existing.message());
  EXPECT_THAT(log.sink().str(), Not(HasSubstr("could not audit")));
  EXPECT_EQ(SecurityDenials(metrics_, "PutCredential", "no_grant"), 2);
  EXPECT_EQ(LinesWithMessage(log.sink(), "security").size(), 2u);

  // The same auditor does use the database for a caller the org trusts, so the check above
  // would have seen an access.
  EXPECT_EQ(
      Call(auditor, kMember, Role::kDecryptor, "org-a", "DecryptCredential", "req-member").code(),
      absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(log.sink().str(), HasSubstr("could not audit a denied request"));
}

TEST_F(DenialAuditorTest, UnauthenticatedCallersGoToTheSecurityLog) {
  const DenialAuditor auditor(decryptor_.get(), &security_log_);
  const std::size_t events_before = Chain("org-a").size();
  CapturedLog log;

  auditor.RecordUnauthenticated("PutCredential", "org-a", "req-anon", &metrics_);

  EXPECT_EQ(Chain("org-a").size(), events_before);
  EXPECT_EQ(SecurityDenials(metrics_, "PutCredential", "unauthenticated"), 1);
  const std::vector<nlohmann::json> lines = LinesWithMessage(log.sink(), "security");
  ASSERT_EQ(lines.size(), 1u) << log.sink().str();
  EXPECT_EQ(lines[0].value("reason", ""), "unauthenticated");
  EXPECT_EQ(lines[0].value("principal", "?"), "");
  EXPECT_EQ(lines[0].value("org_id", ""), "org-a");
}

TEST_F(DenialAuditorTest, FloodOfStrangerDenialsIsCountedButItsLogLinesAreLimited) {
  absl::Time now = absl::FromUnixSeconds(1700000000);
  SecurityLog security_log({.per_second = 20, .per_key_per_second = 5}, [&now] { return now; });
  const DenialAuditor auditor(decryptor_.get(), &security_log);
  const std::size_t events_before = DeniedEvents("org-a");
  CapturedLog log;

  for (int i = 0; i < 100; ++i) {
    Call(auditor, kStranger, Role::kWriter, "org-a", "PutCredential", "req-flood").IgnoreError();
  }
  EXPECT_EQ(SecurityDenials(metrics_, "PutCredential", "no_grant"), 100);
  EXPECT_EQ(LinesWithMessage(log.sink(), "security").size(), 5u);
  EXPECT_EQ(DeniedEvents("org-a"), events_before);

  now += absl::Seconds(1);
  Call(auditor, kStranger, Role::kWriter, "org-a", "PutCredential", "req-after").IgnoreError();
  const std::vector<nlohmann::json> lines = LinesWithMessage(log.sink(), "security");
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines.back().value("request_id", ""), "req-after");
  EXPECT_EQ(lines.back().value("suppressed", ""), "95");
}

// The limiter alone, with a fake clock.
class LogLineLimiterTest : public ::testing::Test {
 protected:
  absl::Time now_ = absl::FromUnixSeconds(1700000000);
  LogLineLimiter limiter_{{.per_second = 4, .per_key_per_second = 2}, [this] { return now_; }};
};

TEST_F(LogLineLimiterTest, LimitsEachKey) {
  EXPECT_EQ(limiter_.Admit("p"), 0u);
  EXPECT_EQ(limiter_.Admit("p"), 0u);
  EXPECT_EQ(limiter_.Admit("p"), std::nullopt);
  EXPECT_EQ(limiter_.Admit("p"), std::nullopt);
  // Another key still gets lines, and the first says what was dropped before it.
  EXPECT_EQ(limiter_.Admit("q"), 2u);
  EXPECT_EQ(limiter_.Admit("q"), 0u);
}

TEST_F(LogLineLimiterTest, LimitsTheProcessAcrossKeys) {
  for (const char* key : {"a", "b", "c", "d"}) EXPECT_EQ(limiter_.Admit(key), 0u) << key;
  EXPECT_EQ(limiter_.Admit("e"), std::nullopt);
  EXPECT_EQ(limiter_.Admit("f"), std::nullopt);
  EXPECT_EQ(limiter_.Admit("a"), std::nullopt);
  // Still within the second.
  now_ += absl::Milliseconds(999);
  EXPECT_EQ(limiter_.Admit("g"), std::nullopt);
  // A new second: lines again, the first reporting the four dropped.
  now_ += absl::Milliseconds(1);
  EXPECT_EQ(limiter_.Admit("e"), 4u);
  EXPECT_EQ(limiter_.Admit("a"), 0u);
}

TEST_F(LogLineLimiterTest, ClockSteppingBackStartsANewWindow) {
  EXPECT_EQ(limiter_.Admit("p"), 0u);
  EXPECT_EQ(limiter_.Admit("p"), 0u);
  EXPECT_EQ(limiter_.Admit("p"), std::nullopt);
  now_ -= absl::Minutes(1);
  EXPECT_EQ(limiter_.Admit("p"), 1u);
}

}  // namespace
}  // namespace credvault::server

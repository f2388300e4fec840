#include "tests/server/leader_job_fixture.h"

#include <utility>
#include <vector>

#include "crypto/key_buffer.h"
#include "prometheus/metric_family.h"
#include "server/telemetry/json_log.h"

namespace credvault::server::testing {

using ::credvault::storage::testing::AppRole;
using ::credvault::storage::testing::TestDatabase;

CapturedLog::CapturedLog() { JsonLog::SetSinkForTesting(&out_); }
CapturedLog::~CapturedLog() { JsonLog::SetSinkForTesting(nullptr); }

double MetricValue(Metrics& metrics, const std::string& family,
                   const std::pair<std::string, std::string>& label) {
  for (const prometheus::MetricFamily& f : metrics.registry().Collect()) {
    if (f.name != family) continue;
    for (const prometheus::ClientMetric& m : f.metric) {
      bool match = label.first.empty();
      for (const prometheus::ClientMetric::Label& l : m.label) {
        if (l.name == label.first && l.value == label.second) match = true;
      }
      if (!match) continue;
      switch (f.type) {
        case prometheus::MetricType::Counter:
          return m.counter.value;
        case prometheus::MetricType::Gauge:
          return m.gauge.value;
        case prometheus::MetricType::Histogram:
          return static_cast<double>(m.histogram.sample_count);
        default:
          return -1;
      }
    }
  }
  return -1;
}

void LeaderJobTest::SetUp() {
  db_ = TestDatabase::Create();
  ASSERT_NE(db_, nullptr);
  admin_ = db_->Pool(AppRole::kAdmin);
  ASSERT_NE(admin_, nullptr);
  absl::StatusOr<crypto::KeyBuffer> seed =
      crypto::KeyBuffer::CopyFrom(std::vector<std::uint8_t>(32, 0x17));
  ASSERT_TRUE(seed.ok());
  absl::StatusOr<crypto::AuditSigner> signer = crypto::AuditSigner::FromSeed(*seed);
  ASSERT_TRUE(signer.ok()) << signer.status();
  signer_.emplace(*std::move(signer));
}

std::unique_ptr<storage::LeaderLock> LeaderJobTest::NewLock(std::int64_t key) const {
  absl::StatusOr<std::unique_ptr<storage::LeaderLock>> lock =
      storage::LeaderLock::Create({db_->RoleConninfo(AppRole::kAdmin), key});
  EXPECT_TRUE(lock.ok()) << lock.status();
  return lock.ok() ? *std::move(lock) : nullptr;
}

void LeaderJobTest::AppendEvents(storage::ConnectionPool& pool, const std::string& org, int count,
                                 std::optional<absl::Time> at) const {
  const storage::AuditLog log(at ? storage::AuditLog::Clock([t = *at] { return t; })
                                 : storage::AuditLog::Clock(&absl::Now));
  for (int i = 0; i < count; ++i) {
    const absl::Status status = pool.Run(org, [&](storage::Transaction& tx) {
      return log.Append(tx, {"svc", "credential.put", "n", "ok", "r", ""}).status();
    });
    ASSERT_TRUE(status.ok()) << status;
  }
}

std::vector<storage::AuditEvent> LeaderJobTest::Events(const std::string& org) const {
  return ReadInOrg<std::vector<storage::AuditEvent>>(
      org, [](storage::Transaction& tx) { return storage::AuditLog().List(tx, 0, 1000); });
}

std::vector<storage::AuditCheckpoint> LeaderJobTest::Checkpoints(const std::string& org) const {
  return ReadInOrg<std::vector<storage::AuditCheckpoint>>(
      org, [](storage::Transaction& tx) { return storage::AuditLog().ListCheckpoints(tx); });
}

storage::AuditHead LeaderJobTest::Head(const std::string& org) const {
  return ReadInOrg<storage::AuditHead>(
      org, [](storage::Transaction& tx) { return storage::AuditLog().Head(tx); });
}

storage::AuditVerification LeaderJobTest::Verify(const std::string& org) const {
  return ReadInOrg<storage::AuditVerification>(
      org, [](storage::Transaction& tx) { return storage::AuditLog().Verify(tx); });
}

}  // namespace credvault::server::testing

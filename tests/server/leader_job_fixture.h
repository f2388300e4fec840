// What the tests of the leader-locked periodic jobs (server/jobs: the audit checkpointer,
// the retention sweep and the loop under both) share: a fresh database with its admin
// pool, an audit signing key, metrics, leader locks, and reads of the audit tables in one
// org's transaction.
#ifndef CREDVAULT_TESTS_SERVER_LEADER_JOB_FIXTURE_H_
#define CREDVAULT_TESTS_SERVER_LEADER_JOB_FIXTURE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "crypto/audit_signer.h"
#include "gtest/gtest.h"
#include "server/telemetry/metrics.h"
#include "storage/audit_log.h"
#include "storage/leader_lock.h"
#include "storage/pool.h"
#include "tests/storage/test_database.h"

namespace credvault::server::testing {

// Captures the JSON log for the life of the object.
class CapturedLog {
 public:
  CapturedLog();
  ~CapturedLog();
  CapturedLog(const CapturedLog&) = delete;
  CapturedLog& operator=(const CapturedLog&) = delete;

  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
};

// The value of the first series of `family` whose labels include `label` (name, value), or
// of its first series when `label` is empty; -1 if there is none. Histograms count samples.
double MetricValue(Metrics& metrics, const std::string& family,
                   const std::pair<std::string, std::string>& label = {});

class LeaderJobTest : public ::testing::Test {
 protected:
  void SetUp() override;

  // A leader lock on `key` over its own admin connection, as each replica holds one.
  std::unique_ptr<storage::LeaderLock> NewLock(std::int64_t key) const;

  // Appends `count` events to `org`'s chain through `pool` (a role that appends directly),
  // stamped `at` when given, else at the current time.
  void AppendEvents(storage::ConnectionPool& pool, const std::string& org, int count,
                    std::optional<absl::Time> at = std::nullopt) const;

  // Reads of `org`'s audit tables as the admin role; a failed read fails the test.
  std::vector<storage::AuditEvent> Events(const std::string& org) const;
  std::vector<storage::AuditCheckpoint> Checkpoints(const std::string& org) const;
  storage::AuditHead Head(const std::string& org) const;
  storage::AuditVerification Verify(const std::string& org) const;

  std::unique_ptr<storage::testing::TestDatabase> db_;
  std::unique_ptr<storage::ConnectionPool> admin_;
  std::optional<crypto::AuditSigner> signer_;
  Metrics metrics_;

 private:
  // Runs `read` in `org`'s transaction as the admin role and returns what it read.
  template <typename T>
  T ReadInOrg(const std::string& org,
              const std::function<absl::StatusOr<T>(storage::Transaction&)>& read) const {
    T result{};
    const absl::Status status = admin_->Run(org, [&](storage::Transaction& tx) -> absl::Status {
      absl::StatusOr<T> value = read(tx);
      if (!value.ok()) return value.status();
      result = *std::move(value);
      return absl::OkStatus();
    });
    EXPECT_TRUE(status.ok()) << org << ": " << status;
    return result;
  }
};

}  // namespace credvault::server::testing

#endif  // CREDVAULT_TESTS_SERVER_LEADER_JOB_FIXTURE_H_

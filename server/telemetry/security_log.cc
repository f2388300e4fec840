#include "server/telemetry/security_log.h"

#include <utility>

#include "server/telemetry/json_log.h"

namespace credvault::server {

LogLineLimiter::LogLineLimiter(Limits limits, Clock clock)
    : limits_(limits), clock_(std::move(clock)) {}

std::optional<std::uint64_t> LogLineLimiter::Admit(const std::string& key) {
  const absl::Time now = clock_();
  absl::MutexLock lock(&mutex_);
  // A clock that stepped back also starts a new window rather than stalling the log.
  if (now - window_start_ >= absl::Seconds(1) || now < window_start_) {
    window_start_ = now;
    window_lines_ = 0;
    window_lines_by_key_.clear();
  }
  if (window_lines_ >= limits_.per_second) {
    ++suppressed_;
    return std::nullopt;
  }
  // Looked up without inserting, so a refused key takes no memory.
  const auto it = window_lines_by_key_.find(key);
  const int key_lines = it == window_lines_by_key_.end() ? 0 : it->second;
  if (key_lines >= limits_.per_key_per_second) {
    ++suppressed_;
    return std::nullopt;
  }
  ++window_lines_;
  ++window_lines_by_key_[key];
  return std::exchange(suppressed_, 0);
}

SecurityLog::SecurityLog(LogLineLimiter::Limits limits, LogLineLimiter::Clock clock)
    : limiter_(limits, std::move(clock)) {}

SecurityLog& SecurityLog::Process() {
  static SecurityLog* const log = new SecurityLog();
  return *log;
}

void SecurityLog::Record(const SecurityDenial& denial, Metrics* metrics) {
  if (metrics != nullptr) metrics->RecordSecurityDenial(denial.method, denial.reason);
  const std::optional<std::uint64_t> suppressed = limiter_.Admit(std::string(denial.principal));
  if (!suppressed) return;
  JsonLog::Write(Severity::kWarning, "security",
                 {{"reason", std::string(denial.reason)},
                  {"method", std::string(denial.method)},
                  {"principal", std::string(denial.principal)},
                  {"request_id", std::string(denial.request_id)},
                  {"org_id", std::string(denial.org_id)},
                  {"suppressed", std::to_string(*suppressed)}});
}

}  // namespace credvault::server

#ifndef CREDVAULT_SERVER_TELEMETRY_SECURITY_LOG_H_
#define CREDVAULT_SERVER_TELEMETRY_SECURITY_LOG_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/telemetry/metrics.h"

namespace credvault::server {

// Decides which lines of a flood get written: in each one-second window at most
// `per_second` lines in all and at most `per_key_per_second` for one key (a principal).
// Lines refused are counted, so that the next line written can say how many were
// suppressed. Only keys that got a line in the current window are remembered, so memory
// stays bounded by `per_second` whatever the callers do. Thread-safe.
class LogLineLimiter {
 public:
  using Clock = std::function<absl::Time()>;
  struct Limits {
    int per_second = 20;
    int per_key_per_second = 5;
  };

  explicit LogLineLimiter(Limits limits, Clock clock = &absl::Now);

  // nullopt when the line must be dropped. Otherwise the line may be written, and the value
  // is the number of lines dropped since the previous line that was written.
  std::optional<std::uint64_t> Admit(const std::string& key);

 private:
  const Limits limits_;
  const Clock clock_;
  absl::Mutex mutex_;
  absl::Time window_start_ ABSL_GUARDED_BY(mutex_) = absl::InfinitePast();
  int window_lines_ ABSL_GUARDED_BY(mutex_) = 0;
  std::map<std::string, int> window_lines_by_key_ ABSL_GUARDED_BY(mutex_);
  std::uint64_t suppressed_ ABSL_GUARDED_BY(mutex_) = 0;
};

// A request refused before the org's audit chain would take it (docs/data-handling.md,
// "Security log"): the caller was not authenticated, or holds no grant for the org it
// named.
struct SecurityDenial {
  std::string_view reason;      // SecurityLog::kNoGrant or kUnauthenticated
  std::string_view method;      // the RPC, e.g. "CredentialService/PutCredential"
  std::string_view principal;   // empty when unauthenticated
  std::string_view request_id;  // as the rpc log line has it
  std::string_view org_id;      // as the request gave it (caller-chosen text); may be empty
};

// Where denials of strangers go instead of an org's audit chain: a rate-limited "security"
// log line and the credvault_security_denials_total counter. Neither touches the
// database, so such a denial costs the same whether or not the org exists, and strangers
// can neither grow an org's chain nor flood the log. Thread-safe.
class SecurityLog {
 public:
  static constexpr std::string_view kNoGrant = "no_grant";
  static constexpr std::string_view kUnauthenticated = "unauthenticated";

  explicit SecurityLog(LogLineLimiter::Limits limits = {},
                       LogLineLimiter::Clock clock = &absl::Now);

  // The log every tier of this process shares, so that the line limits hold per process.
  static SecurityLog& Process();

  // Counts the denial in `metrics` (when not null) every time; writes the line unless the
  // limiter drops it.
  void Record(const SecurityDenial& denial, Metrics* metrics);

 private:
  LogLineLimiter limiter_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_TELEMETRY_SECURITY_LOG_H_

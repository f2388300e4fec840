#ifndef CREDVAULT_SERVER_SERVICE_RATE_LIMITER_H_
#define CREDVAULT_SERVER_SERVICE_RATE_LIMITER_H_

#include <functional>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace credvault::server {

// A token bucket per key (a principal): `per_minute` operations a minute on average, with
// bursts up to `per_minute`. Per process: with N replicas a principal gets at most N times
// the rate, which still bounds guessing through CompareCredential. Thread-safe.
class RateLimiter {
 public:
  using Clock = std::function<absl::Time()>;

  explicit RateLimiter(double per_minute, Clock clock = &absl::Now);

  // OK and one token taken, or RESOURCE_EXHAUSTED (reason RATE_LIMITED) naming `what`.
  absl::Status Acquire(const std::string& key, const char* what);

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time updated;
  };

  const double per_minute_;
  const Clock clock_;
  absl::Mutex mutex_;
  std::map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SERVICE_RATE_LIMITER_H_

#include "server/service/rate_limiter.h"

#include <algorithm>

#include "server/base/error_reason.h"

namespace credvault::server {

RateLimiter::RateLimiter(double per_minute, Clock clock)
    : per_minute_(per_minute), clock_(std::move(clock)) {}

absl::Status RateLimiter::Acquire(const std::string& key, const char* what) {
  const absl::Time now = clock_();
  absl::MutexLock lock(&mutex_);
  auto [it, inserted] = buckets_.try_emplace(key, Bucket{per_minute_, now});
  Bucket& bucket = it->second;
  if (!inserted) {
    const double refill = absl::ToDoubleMinutes(now - bucket.updated) * per_minute_;
    bucket.tokens = std::min(per_minute_, bucket.tokens + std::max(0.0, refill));
    bucket.updated = now;
  }
  if (bucket.tokens < 1.0) {
    return WithReason(absl::ResourceExhaustedError(std::string(what) +
                                                   ": rate limit exceeded for this principal; "
                                                   "retry later"),
                      ErrorReason::kRateLimited);
  }
  bucket.tokens -= 1.0;
  return absl::OkStatus();
}

}  // namespace credvault::server

#ifndef CREDVAULT_SERVER_METRICS_H_
#define CREDVAULT_SERVER_METRICS_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace credvault::server {

// The service's Prometheus metrics. Labels are only the RPC method, the status code, the
// database role and the tier: never an org id, a credential name, a principal or anything
// derived from a secret, so the metrics page reveals nothing about tenants.
class Metrics {
 public:
  Metrics();

  // Serves /metrics on `address` (host:port) on its own HTTP listener.
  absl::Status Serve(const std::string& address);
  // The bound port after Serve (useful with port 0).
  int port() const;

  void RecordRequest(std::string_view method, std::string_view code, absl::Duration latency);
  void RecordAuditAppend(absl::Duration latency);
  void SetPoolUsage(std::string_view role, std::size_t open, std::size_t idle);
  void SetExecutorQueue(std::size_t queued);

  prometheus::Registry& registry() { return *registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Histogram& audit_append_;
  prometheus::Family<prometheus::Gauge>& pool_;
  prometheus::Gauge& executor_queue_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_METRICS_H_

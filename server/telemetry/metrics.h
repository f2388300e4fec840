#ifndef CREDVAULT_SERVER_TELEMETRY_METRICS_H_
#define CREDVAULT_SERVER_TELEMETRY_METRICS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "storage/pool.h"

namespace credvault::server {

// The service's Prometheus metrics. Labels are only the RPC method, the status code, the
// database role, the tier and fixed reason words: never an org id, a credential name, a principal
// or anything derived from a secret, so the metrics page reveals nothing about tenants.
class Metrics {
 public:
  Metrics();

  // Serves /metrics on `address` (host:port) on its own HTTP listener.
  absl::Status Serve(const std::string& address);
  // The bound port after Serve (useful with port 0).
  int port() const;

  void RecordRequest(std::string_view method, std::string_view code, absl::Duration latency);
  void RecordAuditAppend(absl::Duration latency);
  // Reports the connection counts of `pool` under `role` with every request from now on.
  // The pool must outlive this object.
  void TrackPool(std::string role, const storage::ConnectionPool* pool);
  // The queue-length gauge of the blocking executor named `executor` ("write", "decrypt"),
  // fetched once by its CallRunner so that a request only sets it.
  prometheus::Gauge& ExecutorQueue(std::string_view executor);
  // The counter of requests that admission control refused at once (blocking_executor.h)
  // on `tier` ("write", "decrypt") for `reason` ("org_limit", "queue_full", "stopping"),
  // fetched once by its CallRunner so that a refusal only increments it.
  prometheus::Counter& AdmissionRefusals(std::string_view tier, std::string_view reason);

  // The retention sweep (retention_scheduler.h). `kind` is one of kRetentionKinds;
  // `result` of a sweep is "ok", "failed" or "standby" (another replica leads).
  static constexpr std::string_view kRetentionKinds[] = {
      "credential_versions", "credential_envelopes", "idempotency_keys", "audit_events"};
  void RecordRetentionPurged(std::string_view kind, std::uint64_t count);
  void RecordRetentionSweep(std::string_view result, absl::Duration duration, absl::Time end);
  void SetRetentionLeader(bool leader);

  // A round of audit checkpoint signing (audit_checkpointer.h): `result` is "ok",
  // "failed" or "standby"; `signed_count` checkpoints were signed in it.
  void RecordAuditCheckpointRound(std::string_view result, std::uint64_t signed_count,
                                  absl::Time end);

  // Something the audit checkpointer found wrong with a chain instead of signing blindly
  // (audit_checkpointer.h, docs/operations.md); `kind` is one of kAuditAnomalyKinds.
  static constexpr std::string_view kAuditAnomalyKinds[] = {
      "chain_broken",   "checkpoint_beyond_head", "checkpoint_signature_invalid",
      "events_missing", "head_mismatch",          "unanchored"};
  void RecordAuditAnomaly(std::string_view kind);

  // A denial recorded in the security log rather than an org's audit chain
  // (security_log.h): `reason` is "no_grant" or "unauthenticated".
  void RecordSecurityDenial(std::string_view method, std::string_view reason);

  // The notAfter of a TLS certificate a listener uses (tls_reloader.h): `kind` is "server"
  // (the leaf of cert_file) or "client_ca" (the first certificate of client_ca_file to
  // expire).
  void SetTlsCertificateExpiry(std::string_view listener, std::string_view kind,
                               absl::Time not_after);

  prometheus::Registry& registry() { return *registry_; }

 private:
  void RefreshPools();

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Histogram& audit_append_;
  prometheus::Family<prometheus::Gauge>& pool_;
  prometheus::Family<prometheus::Gauge>& executor_queue_;
  prometheus::Family<prometheus::Counter>& admission_refusals_;
  prometheus::Family<prometheus::Counter>& retention_purged_;
  prometheus::Family<prometheus::Counter>& retention_sweeps_;
  prometheus::Histogram& retention_sweep_duration_;
  prometheus::Gauge& retention_last_success_;
  prometheus::Gauge& retention_leader_;
  prometheus::Family<prometheus::Counter>& checkpoint_rounds_;
  prometheus::Counter& checkpoints_signed_;
  prometheus::Gauge& checkpoint_last_success_;
  prometheus::Family<prometheus::Counter>& security_denials_;
  prometheus::Family<prometheus::Counter>& audit_anomalies_;
  prometheus::Family<prometheus::Gauge>& tls_certificate_expiry_;
  std::vector<std::pair<std::string, const storage::ConnectionPool*>> pools_;
  // When the pool gauges were last refreshed (Unix nanoseconds): at most once a second,
  // since reading a pool's counts takes its lock, which every request also takes.
  std::atomic<std::int64_t> pools_refreshed_ns_{0};
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_TELEMETRY_METRICS_H_

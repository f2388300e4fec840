#include "server/telemetry/metrics.h"

#include <exception>

#include "absl/time/clock.h"

namespace credvault::server {
namespace {

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return *buckets;
}

// A sweep takes from milliseconds (nothing to do) to hours (a first sweep over a backlog).
const prometheus::Histogram::BucketBoundaries& SweepBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200};
  return *buckets;
}

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(prometheus::BuildCounter()
                    .Name("credvault_requests_total")
                    .Help("RPCs handled, by method and gRPC status code")
                    .Register(*registry_)),
      latency_(prometheus::BuildHistogram()
                   .Name("credvault_request_duration_seconds")
                   .Help("RPC latency from arrival to response, by method")
                   .Register(*registry_)),
      audit_append_(prometheus::BuildHistogram()
                        .Name("credvault_audit_append_duration_seconds")
                        .Help("Time to append one audit event inside its transaction")
                        .Register(*registry_)
                        .Add({}, LatencyBuckets())),
      pool_(prometheus::BuildGauge()
                .Name("credvault_db_pool_connections")
                .Help("Database connections by role and state (open, idle)")
                .Register(*registry_)),
      executor_queue_(
          prometheus::BuildGauge()
              .Name("credvault_executor_queued_tasks")
              .Help("Requests waiting for a worker thread, by executor (write, decrypt)")
              .Register(*registry_)),
      admission_refusals_(prometheus::BuildCounter()
                              .Name("credvault_admission_refusals_total")
                              .Help("Requests refused at once by admission control, by tier "
                                    "(write, decrypt) and reason: org_limit (the org named "
                                    "has limits.max_requests_per_org in flight), queue_full "
                                    "(limits.max_queued_requests are waiting), stopping")
                              .Register(*registry_)),
      retention_purged_(prometheus::BuildCounter()
                            .Name("credvault_retention_purged_total")
                            .Help("Items removed by the retention sweep, by kind: credential "
                                  "versions deleted, envelopes crypto-erased, idempotency "
                                  "keys, audit events")
                            .Register(*registry_)),
      retention_sweeps_(prometheus::BuildCounter()
                            .Name("credvault_retention_sweeps_total")
                            .Help("Retention sweeps by result: ok, failed, or standby (another "
                                  "replica holds the leader lock)")
                            .Register(*registry_)),
      retention_sweep_duration_(prometheus::BuildHistogram()
                                    .Name("credvault_retention_sweep_duration_seconds")
                                    .Help("Duration of the retention sweeps this replica led")
                                    .Register(*registry_)
                                    .Add({}, SweepBuckets())),
      retention_last_success_(
          prometheus::BuildGauge()
              .Name("credvault_retention_last_success_timestamp_seconds")
              .Help("Unix time at which this replica last finished a retention sweep without "
                    "errors; 0 if it never did")
              .Register(*registry_)
              .Add({})),
      retention_leader_(prometheus::BuildGauge()
                            .Name("credvault_retention_leader")
                            .Help("1 while this replica holds the retention leader lock")
                            .Register(*registry_)
                            .Add({})),
      checkpoint_rounds_(prometheus::BuildCounter()
                             .Name("credvault_audit_checkpoint_rounds_total")
                             .Help("Rounds of audit checkpoint signing by result: ok, failed, or "
                                   "standby (another replica leads)")
                             .Register(*registry_)),
      checkpoints_signed_(prometheus::BuildCounter()
                              .Name("credvault_audit_checkpoints_signed_total")
                              .Help("Signed checkpoints of audit chain heads made by this replica")
                              .Register(*registry_)
                              .Add({})),
      checkpoint_last_success_(
          prometheus::BuildGauge()
              .Name("credvault_audit_checkpoint_last_success_timestamp_seconds")
              .Help("Unix time at which this replica last finished a checkpoint round without "
                    "errors; 0 if it never did")
              .Register(*registry_)
              .Add({})),
      security_denials_(prometheus::BuildCounter()
                            .Name("credvault_security_denials_total")
                            .Help("Requests refused to callers that are unauthenticated or hold "
                                  "no grant for the org they name, by method and reason; these "
                                  "go to the rate-limited security log, not an org's audit chain")
                            .Register(*registry_)),
      audit_anomalies_(prometheus::BuildCounter()
                           .Name("credvault_audit_anomalies_total")
                           .Help("Audit chains found damaged or tampered with by the checkpoint "
                                 "signer, by kind, once per chain and round while it lasts; the "
                                 "log names the org")
                           .Register(*registry_)),
      tls_certificate_expiry_(
          prometheus::BuildGauge()
              .Name("credvault_tls_certificate_expiry_timestamp_seconds")
              .Help("Unix time at which a TLS certificate of a listener expires (notAfter), by "
                    "listener and kind: server (the leaf of tls.cert_file) or client_ca (the "
                    "first of tls.client_ca_file to expire); follows the files as they are "
                    "reloaded")
              .Register(*registry_)) {
  // Every series exists from the start, so rates and absence alerts work before the first
  // purge.
  for (const std::string_view kind : kRetentionKinds) {
    retention_purged_.Add({{"kind", std::string(kind)}});
  }
  for (const char* result : {"ok", "failed", "standby"}) {
    retention_sweeps_.Add({{"result", result}});
    checkpoint_rounds_.Add({{"result", result}});
  }
  for (const std::string_view kind : kAuditAnomalyKinds) {
    audit_anomalies_.Add({{"kind", std::string(kind)}});
  }
}

absl::Status Metrics::Serve(const std::string& address) {
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(address, 1);
  } catch (const std::exception& error) {
    return absl::UnavailableError("metrics: cannot listen on " + address + ": " + error.what());
  }
  exposer_->RegisterCollectable(registry_);
  return absl::OkStatus();
}

int Metrics::port() const {
  if (!exposer_) return 0;
  const auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

void Metrics::RecordRequest(std::string_view method, std::string_view code,
                            absl::Duration latency) {
  requests_.Add({{"method", std::string(method)}, {"code", std::string(code)}}).Increment();
  latency_.Add({{"method", std::string(method)}}, LatencyBuckets())
      .Observe(absl::ToDoubleSeconds(latency));
  const std::int64_t now = absl::GetCurrentTimeNanos();
  std::int64_t last = pools_refreshed_ns_.load(std::memory_order_relaxed);
  if (now - last >= 1'000'000'000 &&
      pools_refreshed_ns_.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
    RefreshPools();
  }
}

void Metrics::RecordAuditAppend(absl::Duration latency) {
  audit_append_.Observe(absl::ToDoubleSeconds(latency));
}

void Metrics::TrackPool(std::string role, const storage::ConnectionPool* pool) {
  pools_.emplace_back(std::move(role), pool);
  RefreshPools();
}

void Metrics::RefreshPools() {
  for (const auto& [role, pool] : pools_) {
    const storage::PoolStats stats = pool->Stats();
    pool_.Add({{"role", role}, {"state", "open"}}).Set(static_cast<double>(stats.open));
    pool_.Add({{"role", role}, {"state", "idle"}}).Set(static_cast<double>(stats.idle));
  }
}

prometheus::Gauge& Metrics::ExecutorQueue(std::string_view executor) {
  return executor_queue_.Add({{"executor", std::string(executor)}});
}

prometheus::Counter& Metrics::AdmissionRefusals(std::string_view tier, std::string_view reason) {
  return admission_refusals_.Add({{"tier", std::string(tier)}, {"reason", std::string(reason)}});
}

void Metrics::RecordRetentionPurged(std::string_view kind, std::uint64_t count) {
  if (count == 0) return;
  retention_purged_.Add({{"kind", std::string(kind)}}).Increment(static_cast<double>(count));
}

void Metrics::RecordRetentionSweep(std::string_view result, absl::Duration duration,
                                   absl::Time end) {
  retention_sweeps_.Add({{"result", std::string(result)}}).Increment();
  if (result == "standby") return;
  retention_sweep_duration_.Observe(absl::ToDoubleSeconds(duration));
  if (result == "ok") retention_last_success_.Set(absl::ToDoubleSeconds(end - absl::UnixEpoch()));
}

void Metrics::SetRetentionLeader(bool leader) { retention_leader_.Set(leader ? 1 : 0); }

void Metrics::RecordAuditCheckpointRound(std::string_view result, std::uint64_t signed_count,
                                         absl::Time end) {
  checkpoint_rounds_.Add({{"result", std::string(result)}}).Increment();
  checkpoints_signed_.Increment(static_cast<double>(signed_count));
  if (result == "ok") checkpoint_last_success_.Set(absl::ToDoubleSeconds(end - absl::UnixEpoch()));
}

void Metrics::RecordSecurityDenial(std::string_view method, std::string_view reason) {
  security_denials_.Add({{"method", std::string(method)}, {"reason", std::string(reason)}})
      .Increment();
}

void Metrics::RecordAuditAnomaly(std::string_view kind) {
  audit_anomalies_.Add({{"kind", std::string(kind)}}).Increment();
}

void Metrics::SetTlsCertificateExpiry(std::string_view listener, std::string_view kind,
                                      absl::Time not_after) {
  tls_certificate_expiry_.Add({{"listener", std::string(listener)}, {"kind", std::string(kind)}})
      .Set(absl::ToDoubleSeconds(not_after - absl::UnixEpoch()));
}

}  // namespace credvault::server

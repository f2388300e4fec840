#include "server/api/call_runner.h"

#include <cctype>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "credvault/v1/common.pb.h"
#include "crypto/random_id.h"
#include "server/api/grpc_status.h"
#include "server/api/method_policy.h"
#include "server/auth/identify_caller.h"
#include "server/base/audit_actions.h"
#include "server/base/error_reason.h"
#include "server/base/status_name.h"
#include "server/telemetry/json_log.h"
#include "storage/audit_log.h"
#include "storage/org_store.h"

namespace credvault::server {

CallRunner::CallRunner(const PolicyStore& policy, BlockingExecutor& executor,
                       std::string_view executor_name, Metrics* metrics,
                       const DenialAuditor& denials)
    : policy_(policy),
      executor_(executor),
      metrics_(metrics),
      queue_gauge_(metrics != nullptr ? &metrics->ExecutorQueue(executor_name) : nullptr),
      tier_(executor_name),
      denials_(denials) {
  if (metrics == nullptr) return;
  using Admission = BlockingExecutor::Admission;
  for (const Admission refusal :
       {Admission::kQueueFull, Admission::kKeyLimit, Admission::kStopping}) {
    refusals_[static_cast<int>(refusal)] =
        &metrics->AdmissionRefusals(tier_, BlockingExecutor::AdmissionName(refusal));
  }
}

absl::Status CallRunner::Refused(BlockingExecutor::Admission admission) {
  using Admission = BlockingExecutor::Admission;
  if (prometheus::Counter* counter = refusals_[static_cast<int>(admission)]; counter != nullptr) {
    counter->Increment();
  }
  switch (admission) {
    case Admission::kKeyLimit:
      return WithReason(
          absl::ResourceExhaustedError(absl::StrCat(
              "this org has too many requests in flight on the ", tier_, " tier (limit ",
              executor_.limits().max_per_key, "); retry with backoff")),
          ErrorReason::kRateLimited);
    case Admission::kQueueFull:
      return WithReason(absl::ResourceExhaustedError(absl::StrCat(
                            "the ", tier_, " tier is at capacity (", executor_.limits().max_queued,
                            " requests queued); retry with backoff")),
                        ErrorReason::kRateLimited);
    case Admission::kStopping:
    case Admission::kAccepted:
      break;
  }
  return absl::UnavailableError("the server is shutting down; retry");
}

absl::Status CallRunner::Schedule(const RequestedOrg& org, std::function<void()> task) {
  // Fairness is by the org the request names (not authorised yet: an invalid id gets a key
  // of its own, which no org id can be), decided before authentication, which runs on the
  // worker because recording a denial may write to the database.
  std::string_view key = BlockingExecutor::kCrossOrgKey;
  if (org.names_org()) key = org.validity().ok() ? std::string_view(org.org_id()) : "!";
  const BlockingExecutor::Admission admission = executor_.Submit(key, std::move(task));
  if (admission == BlockingExecutor::Admission::kAccepted) return absl::OkStatus();
  return Refused(admission);
}

// A caller-supplied request id is kept when it is short and plain, so clients can
// correlate; otherwise the server makes one.
std::string CallRunner::RequestIdFor(const grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("x-request-id");
  if (it != metadata.end() && it->second.size() >= 8 && it->second.size() <= 64) {
    std::string id(it->second.data(), it->second.size());
    bool plain = true;
    for (const char c : id) {
      plain &= (std::isalnum(static_cast<unsigned char>(c)) != 0) || c == '-' || c == '_';
    }
    if (plain) return id;
  }
  return crypto::RandomHexId("", 12);
}

void DenialAuditor::RecordDenied(const Policy& policy, const Principal& principal,
                                 const RequestedOrg& org, std::string_view method,
                                 const absl::Status& refusal, const std::string& request_id,
                                 Metrics* metrics) const {
  const std::string& org_id = org.org_id();
  if (!policy.HasAnyGrantFor(principal, org_id)) {
    security_log_->Record(SecurityDenial{.reason = SecurityLog::kNoGrant,
                                         .method = method,
                                         .principal = principal.id,
                                         .request_id = request_id,
                                         .org_id = org_id},
                          metrics);
    return;
  }
  AppendToOrgChain(org, principal.id, method, refusal, request_id);
}

void DenialAuditor::RecordUnauthenticated(std::string_view method, std::string_view org_id,
                                          const std::string& request_id, Metrics* metrics) const {
  security_log_->Record(SecurityDenial{.reason = SecurityLog::kUnauthenticated,
                                       .method = method,
                                       .principal = "",
                                       .request_id = request_id,
                                       .org_id = org_id},
                        metrics);
}

void DenialAuditor::AppendToOrgChain(const RequestedOrg& org, const std::string& principal,
                                     std::string_view method, const absl::Status& refusal,
                                     const std::string& request_id) const {
  if (pool_ == nullptr || !org.names_valid_org()) return;
  const std::string& org_id = org.org_id();
  // Through the one audit function every request role may call: the database appends
  // nothing for an org that does not exist.
  const storage::AuditLog audit;
  const absl::Status status = pool_->Run(org_id, [&](storage::Transaction& tx) -> absl::Status {
    return audit
        .AppendDenial(
            tx, storage::NewAuditEvent{principal, audit_action::kAccessDenied, std::string(method),
                                       StatusCodeName(refusal.code()), request_id,
                                       std::string(refusal.message())})
        .status();
  });
  if (!status.ok()) {
    LogWarning("could not audit a denied request",
               {{"request_id", request_id}, {"org_id", org_id}, {"error", status.ToString()}});
  }
}

void CallRunner::Observe(std::string_view method, const std::string& request_id,
                         const std::string& principal, const std::string& org_id,
                         absl::Time started, const absl::Status& status) {
  const absl::Duration latency = absl::Now() - started;
  const std::string code = StatusCodeName(status.code());
  if (metrics_ != nullptr) {
    metrics_->RecordRequest(method, code, latency);
    if (queue_gauge_ != nullptr) queue_gauge_->Set(static_cast<double>(executor_.queued()));
  }
  const bool failed_badly = status.code() == absl::StatusCode::kInternal ||
                            status.code() == absl::StatusCode::kDataLoss ||
                            status.code() == absl::StatusCode::kUnknown;
  JsonLog::Write(failed_badly ? Severity::kError : Severity::kInfo, "rpc",
                 {{"method", std::string(method)},
                  {"code", code},
                  {"request_id", request_id},
                  {"principal", principal},
                  {"org_id", org_id},
                  {"ms", std::to_string(absl::ToInt64Milliseconds(latency))},
                  {"error", status.ok() ? "" : std::string(status.message())}});
}

absl::StatusOr<RequestedOrg> CallRunner::RequestedOrgFor(std::string_view method,
                                                         const google::protobuf::Message& request) {
  absl::StatusOr<const MethodPolicy*> rule = LookUpMethodPolicy(method);
  if (!rule.ok()) return rule.status();
  return RequestedOrgOf(**rule, request);
}

absl::StatusOr<CallContext> CallRunner::Admit(grpc::CallbackServerContext* context,
                                              std::string_view method, const RequestedOrg& org,
                                              const std::string& request_id) const {
  // Fails closed: a method without an entry has no roles anyone could hold.
  absl::StatusOr<const MethodPolicy*> rule = LookUpMethodPolicy(method);
  if (!rule.ok()) return rule.status();
  const std::shared_ptr<const Policy> policy = policy_.Snapshot();
  absl::StatusOr<Principal> principal =
      IdentifyCaller(context->auth_context().get(), context->client_metadata(), *policy);
  if (!principal.ok()) {
    denials_.RecordUnauthenticated(method, org.org_id(), request_id, metrics_);
    return principal.status();
  }
  if (absl::Status allowed = AuthorizeCall(*policy, *principal, (*rule)->roles, org, method,
                                           request_id, denials_, metrics_);
      !allowed.ok()) {
    return allowed;
  }
  if (context->IsCancelled()) return absl::CancelledError("the client cancelled");
  const absl::Time deadline = absl::FromChrono(context->deadline());
  if (deadline <= absl::Now()) {
    return absl::DeadlineExceededError("the deadline passed before the request ran");
  }
  return CallContext{principal->id, request_id, deadline};
}

absl::Status CallRunner::AuthorizeCall(const Policy& policy, const Principal& principal,
                                       const std::vector<Role>& roles, const RequestedOrg& org,
                                       std::string_view method, const std::string& request_id,
                                       const DenialAuditor& denials, Metrics* metrics) {
  // Bad input is reported as such, before authorisation looks at the org.
  if (!org.validity().ok()) return org.validity();
  absl::Status allowed = absl::PermissionDeniedError("no role");
  for (const Role role : roles) {
    allowed = org.names_org() ? policy.Authorize(principal, role, org.org_id())
                              : policy.AuthorizeAllOrgs(principal, role);
    if (allowed.ok()) return allowed;
  }
  if (org.names_org()) {
    denials.RecordDenied(policy, principal, org, method, allowed, request_id, metrics);
  }
  return allowed;
}

absl::Status CallRunner::AuthorizeCall(const Policy& policy, const Principal& principal,
                                       const std::vector<Role>& roles,
                                       const std::optional<std::string>& org_id,
                                       std::string_view method, const std::string& request_id,
                                       const DenialAuditor& denials, Metrics* metrics) {
  return AuthorizeCall(policy, principal, roles,
                       org_id ? RequestedOrg::Named(*org_id) : RequestedOrg::AllOrgs(), method,
                       request_id, denials, metrics);
}

void CallRunner::Dispatch(grpc::CallbackServerContext* context, grpc::ServerUnaryReactor* reactor,
                          std::string_view method, const google::protobuf::Message& request,
                          std::function<absl::Status(const CallContext&)> work) {
  const absl::Time started = absl::Now();
  const std::string request_id = RequestIdFor(*context);
  context->AddInitialMetadata("x-request-id", request_id);
  absl::StatusOr<RequestedOrg> org = RequestedOrgFor(method, request);
  auto finish = [this, context, reactor, method = std::string(method),
                 org_id = org.ok() ? org->org_id() : std::string(), started,
                 request_id](const std::string& principal, const absl::Status& status) {
    Observe(method, request_id, principal, org_id, started, status);
    reactor->Finish(ToGrpcStatus(status, context));
  };
  if (!org.ok()) return finish("", org.status());
  const absl::Status scheduled =
      Schedule(*org, [this, context, method = std::string(method), org = *org, request_id,
                      work = std::move(work), finish]() {
        absl::StatusOr<CallContext> call = Admit(context, method, org, request_id);
        if (!call.ok()) return finish("", call.status());
        finish(call->principal, work(*call));
      });
  if (!scheduled.ok()) finish("", scheduled);
}

}  // namespace credvault::server

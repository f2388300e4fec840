#ifndef CREDVAULT_SERVER_API_CALL_RUNNER_H_
#define CREDVAULT_SERVER_API_CALL_RUNNER_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "server/api/blocking_executor.h"
#include "server/auth/policy.h"
#include "server/auth/policy_store.h"
#include "server/auth/principal.h"
#include "server/auth/role.h"
#include "server/base/call_context.h"
#include "server/telemetry/metrics.h"
#include "server/telemetry/security_log.h"
#include "storage/pool.h"

namespace credvault::server {

// Records refused requests (design: "Denials of callers that hold no grant for the org go
// to a rate-limited security log, not into that org's chain, so that strangers can neither
// flood it nor learn whether the org exists"; docs/data-handling.md).
//  - A caller the policy gives some role for the named org, refused anyway (e.g. a writer
//    asking to decrypt): an `access.denied` event in that org's audit chain, through the
//    database role of the tier that refused it. Only callers the org trusts can add these.
//    Orgs that do not exist get no chain: the refusal is only logged.
//  - A caller with no grant for the org, or not authenticated: the security log only. The
//    database is not touched, so the refusal takes the same path and time whether or not
//    the org exists.
class DenialAuditor {
 public:
  // `security_log` null: the process's (SecurityLog::Process()).
  explicit DenialAuditor(storage::ConnectionPool* pool, SecurityLog* security_log = nullptr)
      : pool_(pool),
        security_log_(security_log != nullptr ? security_log : &SecurityLog::Process()) {}

  // `principal` was refused by `policy` for `org_id` with `refusal`.
  void RecordDenied(const Policy& policy, const Principal& principal, const std::string& org_id,
                    std::string_view method, const absl::Status& refusal,
                    const std::string& request_id, Metrics* metrics) const;
  // A caller that could not be authenticated; `org_id` as the request gave it, if any.
  void RecordUnauthenticated(std::string_view method, std::string_view org_id,
                             const std::string& request_id, Metrics* metrics) const;

 private:
  void AppendToOrgChain(const std::string& org_id, const std::string& principal,
                        std::string_view method, const absl::Status& refusal,
                        const std::string& request_id) const;

  storage::ConnectionPool* pool_;  // not owned; null: log only
  SecurityLog* security_log_;      // not owned
};

// Runs one unary RPC the same way for every service: request id, authentication,
// authorisation for the named org, the handler on a worker thread (never on gRPC's callback
// thread, because handlers block on the database), status mapping, log line and metrics.
class CallRunner {
 public:
  // `executor_name` ("write", "decrypt") names the tier in the executor's metrics and in
  // admission refusals.
  CallRunner(const PolicyStore& policy, BlockingExecutor& executor, std::string_view executor_name,
             Metrics* metrics, const DenialAuditor& denials);

  // `org_id` is the org the request names (validated before anything else), or nullopt for
  // requests that span orgs, which need the "*" scope. The handler runs only for an
  // authorised caller.
  template <typename Response>
  grpc::ServerUnaryReactor* Run(
      grpc::CallbackServerContext* context, std::string_view method, std::vector<Role> roles,
      std::optional<std::string> org_id, Response* response,
      std::function<absl::StatusOr<Response>(const CallContext&)> handler) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    Dispatch(context, reactor, method, std::move(roles), std::move(org_id),
             [response, handler = std::move(handler)](const CallContext& call) -> absl::Status {
               absl::StatusOr<Response> result = handler(call);
               if (!result.ok()) return result.status();
               *response = *std::move(result);
               return absl::OkStatus();
             });
    return reactor;
  }

 private:
  void Dispatch(grpc::CallbackServerContext* context, grpc::ServerUnaryReactor* reactor,
                std::string_view method, std::vector<Role> roles, std::optional<std::string> org_id,
                std::function<absl::Status(const CallContext&)> work);

 public:
  // Authenticates and authorises a call for any of `roles` (for streaming RPCs, which
  // drive their own reactor). Audits a denial that names an org.
  absl::StatusOr<CallContext> Admit(grpc::CallbackServerContext* context, std::string_view method,
                                    const std::vector<Role>& roles,
                                    const std::optional<std::string>& org_id,
                                    const std::string& request_id) const;
  // The authorisation half of Admit, for an authenticated `principal`: the org id is
  // validated first, then the principal must hold one of `roles` for it (or, without an
  // org, for every org). A refusal that names an org is recorded through `denials`.
  static absl::Status AuthorizeCall(const Policy& policy, const Principal& principal,
                                    const std::vector<Role>& roles,
                                    const std::optional<std::string>& org_id,
                                    std::string_view method, const std::string& request_id,
                                    const DenialAuditor& denials, Metrics* metrics);
  static std::string RequestIdFor(const grpc::CallbackServerContext& context);
  // Queues `task` on the tier's executor, fairly by the org the request names (nullopt:
  // a request across orgs); the refusal (see Refused) when it is not queued.
  absl::Status Schedule(const std::optional<std::string>& org_id, std::function<void()> task);
  // The status a client gets when the executor refused its request: RESOURCE_EXHAUSTED
  // with ERROR_REASON_RATE_LIMITED (over the org's limit or the tier's queue), or
  // UNAVAILABLE while the server stops. Counts the refusal.
  absl::Status Refused(BlockingExecutor::Admission admission);
  void Observe(std::string_view method, const std::string& request_id, const std::string& principal,
               const std::string& org_id, absl::Time started, const absl::Status& status);

  const PolicyStore& policy_;
  BlockingExecutor& executor_;
  Metrics* metrics_;
  prometheus::Gauge* const queue_gauge_;
  const std::string tier_;
  // Refusals by BlockingExecutor::Admission value; null without metrics.
  prometheus::Counter* refusals_[4] = {};
  const DenialAuditor& denials_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_API_CALL_RUNNER_H_

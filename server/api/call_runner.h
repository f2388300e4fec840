#ifndef CREDVAULT_SERVER_API_CALL_RUNNER_H_
#define CREDVAULT_SERVER_API_CALL_RUNNER_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "server/api/blocking_executor.h"
#include "server/api/requested_org.h"
#include "server/auth/policy.h"
#include "server/auth/policy_store.h"
#include "server/auth/principal.h"
#include "server/auth/role.h"
#include "server/base/call_context.h"
#include "server/telemetry/metrics.h"
#include "server/telemetry/security_log.h"
#include "storage/pool.h"

namespace credvault::server {

// Records refused requests. Denials of callers that hold no grant for the org go to a
// rate-limited security log, not into that org's chain, so that strangers can neither flood
// it nor learn whether the org exists (docs/data-handling.md, "Logged", "Security log").
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

  // `principal` was refused by `policy` for `org` (which names an org) with `refusal`.
  void RecordDenied(const Policy& policy, const Principal& principal, const RequestedOrg& org,
                    std::string_view method, const absl::Status& refusal,
                    const std::string& request_id, Metrics* metrics) const;
  // A caller that could not be authenticated; `org_id` as the request gave it, if any.
  void RecordUnauthenticated(std::string_view method, std::string_view org_id,
                             const std::string& request_id, Metrics* metrics) const;

 private:
  void AppendToOrgChain(const RequestedOrg& org, const std::string& principal,
                        std::string_view method, const absl::Status& refusal,
                        const std::string& request_id) const;

  storage::ConnectionPool* pool_;  // not owned; null: log only
  SecurityLog* security_log_;      // not owned
};

// Runs one unary RPC the same way for every service: request id, authentication,
// authorisation by the method's entry in the table of method_policy.h, the handler on a
// worker thread (never on gRPC's callback
// thread, because handlers block on the database), status mapping, log line and metrics.
class CallRunner {
 public:
  // `executor_name` ("write", "decrypt") names the tier in the executor's metrics and in
  // admission refusals.
  CallRunner(const PolicyStore& policy, BlockingExecutor& executor, std::string_view executor_name,
             Metrics* metrics, const DenialAuditor& denials);

  // `method` is the name of the RPC's entry in the method policy table, which gives the
  // roles that may call it and the field of `request` that names the org; a method the
  // table lacks is refused with INTERNAL. The handler runs only for an authorised caller.
  template <typename Response>
  grpc::ServerUnaryReactor* Run(
      grpc::CallbackServerContext* context, std::string_view method,
      const google::protobuf::Message& request, Response* response,
      std::function<absl::StatusOr<Response>(const CallContext&)> handler) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    Dispatch(context, reactor, method, request,
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
                std::string_view method, const google::protobuf::Message& request,
                std::function<absl::Status(const CallContext&)> work);

 public:
  // The org `request` names under `method`'s entry in the method policy table, its id
  // checked once for the whole call; INTERNAL for a method the table lacks.
  static absl::StatusOr<RequestedOrg> RequestedOrgFor(std::string_view method,
                                                      const google::protobuf::Message& request);
  // Authenticates and authorises a call for any of the roles the method policy table gives
  // `method` (for streaming RPCs, which drive their own reactor); INTERNAL, before anything
  // else, for a method the table lacks. Audits a denial that names an org.
  absl::StatusOr<CallContext> Admit(grpc::CallbackServerContext* context, std::string_view method,
                                    const RequestedOrg& org, const std::string& request_id) const;
  // The authorisation half of Admit, for an authenticated `principal`: a malformed org id
  // is refused first, as bad input, then the principal must hold one of `roles` for the
  // org (or, without an org, for every org). A refusal that names an org is recorded
  // through `denials`.
  static absl::Status AuthorizeCall(const Policy& policy, const Principal& principal,
                                    const std::vector<Role>& roles, const RequestedOrg& org,
                                    std::string_view method, const std::string& request_id,
                                    const DenialAuditor& denials, Metrics* metrics);
  // As above, for an org id not checked yet (nullopt: every org).
  static absl::Status AuthorizeCall(const Policy& policy, const Principal& principal,
                                    const std::vector<Role>& roles,
                                    const std::optional<std::string>& org_id,
                                    std::string_view method, const std::string& request_id,
                                    const DenialAuditor& denials, Metrics* metrics);
  static std::string RequestIdFor(const grpc::CallbackServerContext& context);
  // Queues `task` on the tier's executor, fairly by the org the request names (all orgs
  // share one key, malformed ids another); the refusal (see Refused) when it is not queued.
  absl::Status Schedule(const RequestedOrg& org, std::function<void()> task);
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

#include "server/api/grpc_services.h"

#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "server/api/audit_translation.h"
#include "server/api/credential_translation.h"
#include "server/api/decrypt_translation.h"
#include "server/api/grpc_status.h"
#include "server/api/key_authority_translation.h"
#include "server/api/key_rotation_translation.h"
#include "server/api/org_translation.h"

namespace credvault::server {

namespace v1 = ::credvault::v1;

grpc::ServerUnaryReactor* CredentialServiceImpl::PutCredential(
    grpc::CallbackServerContext* context, const v1::PutCredentialRequest* request,
    v1::PutCredentialResponse* response) {
  return runner_.Run<v1::PutCredentialResponse>(
      context, "PutCredential", *request, response,
      [this, request](const CallContext& call) -> absl::StatusOr<v1::PutCredentialResponse> {
        CV_ASSIGN_OR_RETURN(const PutCredentialResult result,
                            handler_.Put(call, FromApi(*request)));
        return ToApi(result);
      });
}

grpc::ServerUnaryReactor* CredentialServiceImpl::DeleteCredential(
    grpc::CallbackServerContext* context, const v1::DeleteCredentialRequest* request,
    v1::DeleteCredentialResponse* response) {
  return runner_.Run<v1::DeleteCredentialResponse>(
      context, "DeleteCredential", *request, response,
      [this, request](const CallContext& call) -> absl::StatusOr<v1::DeleteCredentialResponse> {
        CV_ASSIGN_OR_RETURN(const DeleteCredentialParams params, FromApi(*request));
        CV_ASSIGN_OR_RETURN(const DeleteCredentialResult result, handler_.Delete(call, params));
        return ToApi(result);
      });
}

grpc::ServerUnaryReactor* CredentialServiceImpl::DescribeCredential(
    grpc::CallbackServerContext* context, const v1::DescribeCredentialRequest* request,
    v1::DescribeCredentialResponse* response) {
  return runner_.Run<v1::DescribeCredentialResponse>(
      context, "DescribeCredential", *request, response,
      [this, request](const CallContext& call) -> absl::StatusOr<v1::DescribeCredentialResponse> {
        CV_ASSIGN_OR_RETURN(const DescribeCredentialResult result,
                            handler_.Describe(call, FromApi(*request)));
        return ToApi(result);
      });
}

grpc::ServerUnaryReactor* CredentialServiceImpl::ListCredentials(
    grpc::CallbackServerContext* context, const v1::ListCredentialsRequest* request,
    v1::ListCredentialsResponse* response) {
  return runner_.Run<v1::ListCredentialsResponse>(
      context, "ListCredentials", *request, response,
      [this, request](const CallContext& call) -> absl::StatusOr<v1::ListCredentialsResponse> {
        CV_ASSIGN_OR_RETURN(const ListCredentialsResult result,
                            handler_.List(call, FromApi(*request)));
        return ToApi(result);
      });
}

grpc::ServerUnaryReactor* CredentialServiceImpl::CompareCredential(
    grpc::CallbackServerContext* context, const v1::CompareCredentialRequest* request,
    v1::CompareCredentialResponse* response) {
  return runner_.Run<v1::CompareCredentialResponse>(
      context, "CompareCredential", *request, response,
      [this, request](const CallContext& call) -> absl::StatusOr<v1::CompareCredentialResponse> {
        CV_ASSIGN_OR_RETURN(const CompareCredentialResult result,
                            handler_.Compare(call, FromApi(*request)));
        return ToApi(result);
      });
}

grpc::ServerUnaryReactor* CredentialAccessServiceImpl::DecryptCredential(
    grpc::CallbackServerContext* context, const v1::DecryptCredentialRequest* request,
    v1::DecryptCredentialResponse* response) {
  return runner_.Run<v1::DecryptCredentialResponse>(
      context, "DecryptCredential", *request, response,
      [this, request](const CallContext& call) -> absl::StatusOr<v1::DecryptCredentialResponse> {
        // The plaintext is wiped with `result`; its one copy, in the response, is moved into
        // `response`, which the allocator wipes (decrypt_translation.h).
        CV_ASSIGN_OR_RETURN(const DecryptCredentialResult result,
                            handler_.Decrypt(call, FromApi(*request)));
        return ToApi(result);
      });
}

grpc::ServerUnaryReactor* KeyAuthorityServiceImpl::ProvisionOrg(
    grpc::CallbackServerContext* context, const v1::ProvisionOrgRequest* request,
    v1::ProvisionOrgResponse* response) {
  return runner_.Run<v1::ProvisionOrgResponse>(
      context, "KeyAuthority.ProvisionOrg", *request, response,
      [this, request](const CallContext& call) -> absl::StatusOr<v1::ProvisionOrgResponse> {
        CV_ASSIGN_OR_RETURN(const ProvisionOrgResult result,
                            handler_.ProvisionOrg(call, FromApi(*request)));
        return ToApi(result);
      });
}

grpc::ServerUnaryReactor* KeyAuthorityServiceImpl::CompareCredential(
    grpc::CallbackServerContext* context, const v1::KeyAuthorityCompareRequest* request,
    v1::CompareCredentialResponse* response) {
  return runner_.Run<v1::CompareCredentialResponse>(
      context, "KeyAuthority.CompareCredential", *request, response,
      [this, request](const CallContext& call) -> absl::StatusOr<v1::CompareCredentialResponse> {
        CV_ASSIGN_OR_RETURN(const CompareCredentialResult result,
                            handler_.Compare(call, FromApi(*request)));
        return ToApi(result);
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::CreateOrg(grpc::CallbackServerContext* context,
                                                      const v1::CreateOrgRequest* request,
                                                      v1::CreateOrgResponse* response) {
  return runner_.Run<v1::CreateOrgResponse>(
      context, "CreateOrg", *request, response,
      [this, request](const CallContext& call) -> absl::StatusOr<v1::CreateOrgResponse> {
        CV_ASSIGN_OR_RETURN(const CreateOrgResult result, orgs_.CreateOrg(call, FromApi(*request)));
        return ToApi(result);
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::DescribeOrg(grpc::CallbackServerContext* context,
                                                        const v1::DescribeOrgRequest* request,
                                                        v1::DescribeOrgResponse* response) {
  return runner_.Run<v1::DescribeOrgResponse>(
      context, "DescribeOrg", *request, response,
      [this, request](const CallContext& call) -> absl::StatusOr<v1::DescribeOrgResponse> {
        CV_ASSIGN_OR_RETURN(const DescribeOrgResult result,
                            orgs_.DescribeOrg(call, FromApi(*request)));
        return ToApi(result);
      });
}

// Spans every org, so the caller needs the "*" scope.
grpc::ServerUnaryReactor* AdminServiceImpl::ListOrgs(grpc::CallbackServerContext* context,
                                                     const v1::ListOrgsRequest* request,
                                                     v1::ListOrgsResponse* response) {
  return runner_.Run<v1::ListOrgsResponse>(
      context, "ListOrgs", *request, response,
      [this, request](const CallContext& call) -> absl::StatusOr<v1::ListOrgsResponse> {
        CV_ASSIGN_OR_RETURN(const ListOrgsParams params, FromApi(*request));
        CV_ASSIGN_OR_RETURN(const ListOrgsResult result, orgs_.ListOrgs(call, params));
        return ToApi(result);
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::RotateOrgKey(grpc::CallbackServerContext* context,
                                                         const v1::RotateOrgKeyRequest* request,
                                                         v1::RotateOrgKeyResponse* response) {
  return runner_.Run<v1::RotateOrgKeyResponse>(
      context, "RotateOrgKey", *request, response,
      [this, request](const CallContext& call) -> absl::StatusOr<v1::RotateOrgKeyResponse> {
        CV_ASSIGN_OR_RETURN(const RotateOrgKeyResult result,
                            key_rotation_.RotateOrgKey(call, FromApi(*request)));
        return ToApi(result);
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::DestroyOrg(grpc::CallbackServerContext* context,
                                                       const v1::DestroyOrgRequest* request,
                                                       v1::DestroyOrgResponse* response) {
  return runner_.Run<v1::DestroyOrgResponse>(
      context, "DestroyOrg", *request, response,
      [this, request](const CallContext& call) -> absl::StatusOr<v1::DestroyOrgResponse> {
        CV_ASSIGN_OR_RETURN(const DestroyOrgResult result,
                            orgs_.DestroyOrg(call, FromApi(*request)));
        return ToApi(result);
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::DestroyOrgKeyVersion(
    grpc::CallbackServerContext* context, const v1::DestroyOrgKeyVersionRequest* request,
    v1::DestroyOrgKeyVersionResponse* response) {
  return runner_.Run<v1::DestroyOrgKeyVersionResponse>(
      context, "DestroyOrgKeyVersion", *request, response,
      [this, request](const CallContext& call) -> absl::StatusOr<v1::DestroyOrgKeyVersionResponse> {
        CV_ASSIGN_OR_RETURN(const DestroyOrgKeyVersionResult result,
                            key_rotation_.DestroyOrgKeyVersion(call, FromApi(*request)));
        return ToApi(result);
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::RotateRootKey(grpc::CallbackServerContext* context,
                                                          const v1::RotateRootKeyRequest* request,
                                                          v1::RotateRootKeyResponse* response) {
  return runner_.Run<v1::RotateRootKeyResponse>(
      context, "RotateRootKey", *request, response,
      [this, request](const CallContext& call) -> absl::StatusOr<v1::RotateRootKeyResponse> {
        CV_ASSIGN_OR_RETURN(const RotateRootKeyResult result,
                            key_rotation_.RotateRootKey(call, FromApi(*request)));
        return ToApi(result);
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetResealJob(grpc::CallbackServerContext* context,
                                                         const v1::GetResealJobRequest* request,
                                                         v1::GetResealJobResponse* response) {
  return runner_.Run<v1::GetResealJobResponse>(
      context, "GetResealJob", *request, response,
      [this, request](const CallContext& call) -> absl::StatusOr<v1::GetResealJobResponse> {
        CV_ASSIGN_OR_RETURN(const GetResealJobResult result,
                            key_rotation_.GetResealJob(call, FromApi(*request)));
        return ToApi(result);
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListResealJobs(grpc::CallbackServerContext* context,
                                                           const v1::ListResealJobsRequest* request,
                                                           v1::ListResealJobsResponse* response) {
  return runner_.Run<v1::ListResealJobsResponse>(
      context, "ListResealJobs", *request, response,
      [this, request](const CallContext& call) -> absl::StatusOr<v1::ListResealJobsResponse> {
        CV_ASSIGN_OR_RETURN(const ListResealJobsParams params, FromApi(*request));
        CV_ASSIGN_OR_RETURN(const ListResealJobsResult result,
                            key_rotation_.ListResealJobs(call, params));
        return ToApi(result);
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListAuditEvents(
    grpc::CallbackServerContext* context, const v1::ListAuditEventsRequest* request,
    v1::ListAuditEventsResponse* response) {
  return runner_.Run<v1::ListAuditEventsResponse>(
      context, "ListAuditEvents", *request, response,
      [this, request](const CallContext& call) -> absl::StatusOr<v1::ListAuditEventsResponse> {
        CV_ASSIGN_OR_RETURN(const ListAuditEventsResult result,
                            audit_.ListAuditEvents(call, FromApi(*request)));
        return ToApi(result);
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::VerifyAuditLog(grpc::CallbackServerContext* context,
                                                           const v1::VerifyAuditLogRequest* request,
                                                           v1::VerifyAuditLogResponse* response) {
  return runner_.Run<v1::VerifyAuditLogResponse>(
      context, "VerifyAuditLog", *request, response,
      [this, request](const CallContext& call) -> absl::StatusOr<v1::VerifyAuditLogResponse> {
        CV_ASSIGN_OR_RETURN(const VerifyAuditLogResult result,
                            audit_.VerifyAuditLog(call, FromApi(*request)));
        return ToApi(result);
      });
}

namespace {

// Streams an org's audit log in chunks. Each chunk is read on a worker thread; the next
// read starts only when the previous write completed, so a slow reader holds at most one
// chunk in memory.
class ExportReactor final : public grpc::ServerWriteReactor<v1::ExportAuditLogResponse> {
 public:
  ExportReactor(grpc::CallbackServerContext* context, const v1::ExportAuditLogRequest* request,
                CallRunner& runner, const AuditHandler& handler)
      : context_(context),
        request_(*request),
        params_(FromApi(request_)),
        runner_(runner),
        handler_(handler),
        request_id_(CallRunner::RequestIdFor(*context)),
        started_(absl::Now()),
        org_(CallRunner::RequestedOrgFor(kMethod, request_)) {
    context_->AddInitialMetadata("x-request-id", request_id_);
    if (!org_.ok()) {
      End(org_.status());
      return;
    }
    if (absl::Status scheduled = runner_.Schedule(*org_, [this] { Begin(); }); !scheduled.ok()) {
      End(scheduled);
    }
  }

  void OnWriteDone(bool ok) override {
    if (!ok) return End(absl::CancelledError("the client went away"));
    if (done_) return End(absl::OkStatus());
    if (absl::Status scheduled = runner_.Schedule(*org_, [this] { NextChunk(); });
        !scheduled.ok()) {
      End(scheduled);
    }
  }

  void OnDone() override { delete this; }

 private:
  static constexpr std::string_view kMethod = "ExportAuditLog";

  void Begin() {
    absl::StatusOr<CallContext> call = runner_.Admit(context_, kMethod, *org_, request_id_);
    if (!call.ok()) return End(call.status());
    call_ = *call;
    NextChunk();
  }

  void NextChunk() {
    const absl::StatusOr<ExportAuditLogResult> chunk =
        handler_.ExportAuditLogChunk(call_, params_, after_);
    if (!chunk.ok()) return End(chunk.status());
    if (!chunk->events.empty()) after_ = chunk->events.back().seq;
    done_ = chunk->done;
    chunk_ = ToApi(*chunk);
    StartWrite(&chunk_);
  }

  void End(const absl::Status& status) {
    runner_.Observe(kMethod, request_id_, call_.principal, request_.org_id(), started_, status);
    Finish(ToGrpcStatus(status, context_));
  }

  grpc::CallbackServerContext* const context_;
  const v1::ExportAuditLogRequest request_;
  const ExportAuditLogParams params_;
  CallRunner& runner_;
  const AuditHandler& handler_;
  const std::string request_id_;
  const absl::Time started_;
  const absl::StatusOr<RequestedOrg> org_;
  CallContext call_;
  std::uint64_t after_ = 0;
  bool done_ = false;
  v1::ExportAuditLogResponse chunk_;
};

}  // namespace

grpc::ServerWriteReactor<v1::ExportAuditLogResponse>* AdminServiceImpl::ExportAuditLog(
    grpc::CallbackServerContext* context, const v1::ExportAuditLogRequest* request) {
  return new ExportReactor(context, request, runner_, audit_);
}

}  // namespace credvault::server

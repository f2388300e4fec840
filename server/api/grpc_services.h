#ifndef CREDVAULT_SERVER_API_GRPC_SERVICES_H_
#define CREDVAULT_SERVER_API_GRPC_SERVICES_H_

#include "credvault/v1/admin_service.grpc.pb.h"
#include "credvault/v1/credential_access_service.grpc.pb.h"
#include "credvault/v1/credential_service.grpc.pb.h"
#include "credvault/v1/key_authority.grpc.pb.h"
#include "server/api/call_runner.h"
#include "server/api/secret_fields.h"
#include "server/service/access_handler.h"
#include "server/service/audit_handler.h"
#include "server/service/credential_handler.h"
#include "server/service/key_authority_handler.h"
#include "server/service/key_rotation_handler.h"
#include "server/service/org_handler.h"

namespace credvault::server {

// The gRPC faces of the handlers, on the callback API. Each method hands its name and
// request to CallRunner, whose table (method_policy.h) gives the roles and the org field;
// no logic lives here. The methods whose messages carry a plaintext (PutCredential's
// secret, CompareCredential's candidate, DecryptCredential's secret) have their messages
// allocated by a SecretWipingAllocator, which wipes those fields when gRPC is done with
// the call.

class CredentialServiceImpl final : public credvault::v1::CredentialService::CallbackService {
 public:
  CredentialServiceImpl(CallRunner& runner, const CredentialHandler& handler)
      : runner_(runner), handler_(handler) {
    SetMessageAllocatorFor_PutCredential(&put_messages_);
    SetMessageAllocatorFor_CompareCredential(&compare_messages_);
  }

  grpc::ServerUnaryReactor* PutCredential(grpc::CallbackServerContext* context,
                                          const credvault::v1::PutCredentialRequest* request,
                                          credvault::v1::PutCredentialResponse* response) override;
  grpc::ServerUnaryReactor* DeleteCredential(
      grpc::CallbackServerContext* context, const credvault::v1::DeleteCredentialRequest* request,
      credvault::v1::DeleteCredentialResponse* response) override;
  grpc::ServerUnaryReactor* DescribeCredential(
      grpc::CallbackServerContext* context, const credvault::v1::DescribeCredentialRequest* request,
      credvault::v1::DescribeCredentialResponse* response) override;
  grpc::ServerUnaryReactor* ListCredentials(
      grpc::CallbackServerContext* context, const credvault::v1::ListCredentialsRequest* request,
      credvault::v1::ListCredentialsResponse* response) override;
  grpc::ServerUnaryReactor* CompareCredential(
      grpc::CallbackServerContext* context, const credvault::v1::CompareCredentialRequest* request,
      credvault::v1::CompareCredentialResponse* response) override;

 private:
  CallRunner& runner_;
  const CredentialHandler& handler_;
  SecretWipingAllocator<credvault::v1::PutCredentialRequest, credvault::v1::PutCredentialResponse>
      put_messages_;
  SecretWipingAllocator<credvault::v1::CompareCredentialRequest,
                        credvault::v1::CompareCredentialResponse>
      compare_messages_;
};

class CredentialAccessServiceImpl final
    : public credvault::v1::CredentialAccessService::CallbackService {
 public:
  CredentialAccessServiceImpl(CallRunner& runner, const AccessHandler& handler)
      : runner_(runner), handler_(handler) {
    SetMessageAllocatorFor_DecryptCredential(&decrypt_messages_);
  }

  grpc::ServerUnaryReactor* DecryptCredential(
      grpc::CallbackServerContext* context, const credvault::v1::DecryptCredentialRequest* request,
      credvault::v1::DecryptCredentialResponse* response) override;

 private:
  CallRunner& runner_;
  const AccessHandler& handler_;
  SecretWipingAllocator<credvault::v1::DecryptCredentialRequest,
                        credvault::v1::DecryptCredentialResponse>
      decrypt_messages_;
};

// Internal: served on the decrypt listener to write tiers of other processes, whose
// identity holds key_authority_client for the org named.
class KeyAuthorityServiceImpl final : public credvault::v1::KeyAuthorityService::CallbackService {
 public:
  KeyAuthorityServiceImpl(CallRunner& runner, const KeyAuthorityHandler& handler)
      : runner_(runner), handler_(handler) {
    SetMessageAllocatorFor_CompareCredential(&compare_messages_);
  }

  grpc::ServerUnaryReactor* ProvisionOrg(grpc::CallbackServerContext* context,
                                         const credvault::v1::ProvisionOrgRequest* request,
                                         credvault::v1::ProvisionOrgResponse* response) override;
  grpc::ServerUnaryReactor* CompareCredential(
      grpc::CallbackServerContext* context,
      const credvault::v1::KeyAuthorityCompareRequest* request,
      credvault::v1::CompareCredentialResponse* response) override;

 private:
  CallRunner& runner_;
  const KeyAuthorityHandler& handler_;
  // The candidate a write tier forwards is as secret as the one its caller sent.
  SecretWipingAllocator<credvault::v1::KeyAuthorityCompareRequest,
                        credvault::v1::CompareCredentialResponse>
      compare_messages_;
};

class AdminServiceImpl final : public credvault::v1::AdminService::CallbackService {
 public:
  AdminServiceImpl(CallRunner& runner, const OrgHandler& orgs,
                   const KeyRotationHandler& key_rotation, const AuditHandler& audit)
      : runner_(runner), orgs_(orgs), key_rotation_(key_rotation), audit_(audit) {}

  grpc::ServerUnaryReactor* CreateOrg(grpc::CallbackServerContext* context,
                                      const credvault::v1::CreateOrgRequest* request,
                                      credvault::v1::CreateOrgResponse* response) override;
  grpc::ServerUnaryReactor* DescribeOrg(grpc::CallbackServerContext* context,
                                        const credvault::v1::DescribeOrgRequest* request,
                                        credvault::v1::DescribeOrgResponse* response) override;
  grpc::ServerUnaryReactor* ListOrgs(grpc::CallbackServerContext* context,
                                     const credvault::v1::ListOrgsRequest* request,
                                     credvault::v1::ListOrgsResponse* response) override;
  grpc::ServerUnaryReactor* RotateOrgKey(grpc::CallbackServerContext* context,
                                         const credvault::v1::RotateOrgKeyRequest* request,
                                         credvault::v1::RotateOrgKeyResponse* response) override;
  grpc::ServerUnaryReactor* DestroyOrg(grpc::CallbackServerContext* context,
                                       const credvault::v1::DestroyOrgRequest* request,
                                       credvault::v1::DestroyOrgResponse* response) override;
  grpc::ServerUnaryReactor* DestroyOrgKeyVersion(
      grpc::CallbackServerContext* context,
      const credvault::v1::DestroyOrgKeyVersionRequest* request,
      credvault::v1::DestroyOrgKeyVersionResponse* response) override;
  grpc::ServerUnaryReactor* RotateRootKey(grpc::CallbackServerContext* context,
                                          const credvault::v1::RotateRootKeyRequest* request,
                                          credvault::v1::RotateRootKeyResponse* response) override;
  grpc::ServerUnaryReactor* GetResealJob(grpc::CallbackServerContext* context,
                                         const credvault::v1::GetResealJobRequest* request,
                                         credvault::v1::GetResealJobResponse* response) override;
  grpc::ServerUnaryReactor* ListResealJobs(
      grpc::CallbackServerContext* context, const credvault::v1::ListResealJobsRequest* request,
      credvault::v1::ListResealJobsResponse* response) override;
  grpc::ServerUnaryReactor* ListAuditEvents(
      grpc::CallbackServerContext* context, const credvault::v1::ListAuditEventsRequest* request,
      credvault::v1::ListAuditEventsResponse* response) override;
  grpc::ServerUnaryReactor* VerifyAuditLog(
      grpc::CallbackServerContext* context, const credvault::v1::VerifyAuditLogRequest* request,
      credvault::v1::VerifyAuditLogResponse* response) override;
  grpc::ServerWriteReactor<credvault::v1::ExportAuditLogResponse>* ExportAuditLog(
      grpc::CallbackServerContext* context,
      const credvault::v1::ExportAuditLogRequest* request) override;

 private:
  CallRunner& runner_;
  const OrgHandler& orgs_;
  const KeyRotationHandler& key_rotation_;
  const AuditHandler& audit_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_API_GRPC_SERVICES_H_

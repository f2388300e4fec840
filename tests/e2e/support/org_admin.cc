#include "tests/e2e/support/org_admin.h"

#include "gtest/gtest.h"

namespace credvault::e2e {

Outcome DescribeOrg(Clients& admin, const std::string& org, v1::OrgInfo* out) {
  v1::DescribeOrgRequest request;
  request.set_org_id(org);
  v1::DescribeOrgResponse response;
  const Outcome outcome =
      Call(*admin.admin, &v1::AdminService::Stub::DescribeOrg, request, &response);
  if (out != nullptr) *out = response.org();
  return outcome;
}

Outcome RotateOrgKey(Clients& admin, const std::string& org, const std::string& idempotency_key,
                     v1::RotateOrgKeyResponse* response) {
  v1::RotateOrgKeyRequest request;
  request.set_org_id(org);
  request.set_idempotency_key(idempotency_key);
  return Call(*admin.admin, &v1::AdminService::Stub::RotateOrgKey, request, response, 60);
}

Outcome RotateRootKey(Clients& admin, const std::string& idempotency_key,
                      v1::RotateRootKeyResponse* response) {
  v1::RotateRootKeyRequest request;
  request.set_idempotency_key(idempotency_key);
  return Call(*admin.admin, &v1::AdminService::Stub::RotateRootKey, request, response, 60);
}

Outcome DestroyOrgKeyVersion(Clients& admin, const std::string& org, std::uint32_t version,
                             const std::string& reason,
                             v1::DestroyOrgKeyVersionResponse* response) {
  v1::DestroyOrgKeyVersionRequest request;
  request.set_org_id(org);
  request.set_key_version(version);
  request.set_reason(reason);
  return Call(*admin.admin, &v1::AdminService::Stub::DestroyOrgKeyVersion, request, response);
}

Outcome GetResealJob(Clients& admin, const std::string& org, const std::string& job_id,
                     v1::ResealJob* out) {
  v1::GetResealJobRequest request;
  request.set_org_id(org);
  request.set_job_id(job_id);
  v1::GetResealJobResponse response;
  const Outcome outcome =
      Call(*admin.admin, &v1::AdminService::Stub::GetResealJob, request, &response);
  if (out != nullptr) *out = response.job();
  return outcome;
}

Outcome ListResealJobs(Clients& admin, const std::string& org, int page_size,
                       const std::string& page_token, v1::ListResealJobsResponse* response) {
  v1::ListResealJobsRequest request;
  request.set_org_id(org);
  request.set_page_size(page_size);
  request.set_page_token(page_token);
  return Call(*admin.admin, &v1::AdminService::Stub::ListResealJobs, request, response);
}

bool ResealJobEnded(const v1::ResealJob& job) {
  return job.state() == v1::RESEAL_JOB_STATE_SUCCEEDED ||
         job.state() == v1::RESEAL_JOB_STATE_FAILED ||
         job.state() == v1::RESEAL_JOB_STATE_CANCELLED;
}

std::string ResealJobText(const v1::ResealJob& job) {
  return job.org_id() + "/" + job.job_id() + " " + v1::ResealJobState_Name(job.state()) + " " +
         std::to_string(job.items_done()) + "/" + std::to_string(job.items_total()) +
         (job.last_error().empty() ? "" : " (" + job.last_error() + ")");
}

v1::ResealJob WaitForResealJob(Clients& admin, const std::string& org, const std::string& job_id,
                               std::chrono::milliseconds timeout) {
  v1::ResealJob job;
  Outcome last;
  WaitFor(
      [&] {
        v1::ResealJob seen;
        last = GetResealJob(admin, org, job_id, &seen);
        if (!last.ok()) return false;
        job = seen;
        return ResealJobEnded(job);
      },
      timeout);
  if (!last.ok()) ADD_FAILURE() << "GetResealJob " << org << "/" << job_id << ": " << last;
  return job;
}

v1::OrgKeyState KeyState(const v1::OrgInfo& org, std::uint32_t version) {
  for (const v1::OrgKeyVersion& key : org.key_versions()) {
    if (key.version() == version) return key.state();
  }
  return v1::ORG_KEY_STATE_UNSPECIFIED;
}

std::string KeyVersionsText(const v1::OrgInfo& org) {
  std::string out = org.org_id() + ":";
  for (const v1::OrgKeyVersion& key : org.key_versions()) {
    out += " v" + std::to_string(key.version()) + " " + v1::OrgKeyState_Name(key.state()) +
           " root " + std::to_string(key.root_key_version());
  }
  return out;
}

}  // namespace credvault::e2e

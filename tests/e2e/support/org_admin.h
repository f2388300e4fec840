// AdminService calls on orgs, their keys and re-seal jobs (admin_service.proto), for tests
// that rotate or destroy keys as a step of their scenario rather than as the call under test.
#ifndef CREDVAULT_TESTS_E2E_SUPPORT_ORG_ADMIN_H_
#define CREDVAULT_TESTS_E2E_SUPPORT_ORG_ADMIN_H_

#include <chrono>
#include <cstdint>
#include <string>

#include "tests/e2e/support/e2e_support.h"

namespace credvault::e2e {

// DescribeOrg; fills *out (if given) with the org on success.
Outcome DescribeOrg(Clients& admin, const std::string& org, v1::OrgInfo* out = nullptr);

// RotateOrgKey with `idempotency_key` ("" for none); a deadline of 60 s, since a rotation
// may wait for the database under load.
Outcome RotateOrgKey(Clients& admin, const std::string& org, const std::string& idempotency_key,
                     v1::RotateOrgKeyResponse* response);

Outcome RotateRootKey(Clients& admin, const std::string& idempotency_key,
                      v1::RotateRootKeyResponse* response);

Outcome DestroyOrgKeyVersion(Clients& admin, const std::string& org, std::uint32_t version,
                             const std::string& reason, v1::DestroyOrgKeyVersionResponse* response);

// GetResealJob; fills *out (if given) with the job on success.
Outcome GetResealJob(Clients& admin, const std::string& org, const std::string& job_id,
                     v1::ResealJob* out);

Outcome ListResealJobs(Clients& admin, const std::string& org, int page_size,
                       const std::string& page_token, v1::ListResealJobsResponse* response);

// Whether the job has ended: succeeded, failed or cancelled.
bool ResealJobEnded(const v1::ResealJob& job);

// "ORG/JOB STATE DONE/TOTAL (LAST ERROR)", for failure messages and progress lines.
std::string ResealJobText(const v1::ResealJob& job);

// Polls the job until it has ended or `timeout` passed; the last state seen. A test failure
// if the last poll itself failed.
v1::ResealJob WaitForResealJob(Clients& admin, const std::string& org, const std::string& job_id,
                               std::chrono::milliseconds timeout);

// The state of one key version of an org, UNSPECIFIED if it has none.
v1::OrgKeyState KeyState(const v1::OrgInfo& org, std::uint32_t version);

// "ORG: vN STATE root R ...", every key version of the org, for failure messages.
std::string KeyVersionsText(const v1::OrgInfo& org);

}  // namespace credvault::e2e

#endif  // CREDVAULT_TESTS_E2E_SUPPORT_ORG_ADMIN_H_

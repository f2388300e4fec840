#ifndef CREDVAULT_SERVER_SERVICE_KEY_ROTATION_REQUESTS_H_
#define CREDVAULT_SERVER_SERVICE_KEY_ROTATION_REQUESTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "server/service/org_requests.h"
#include "storage/reseal_job_store.h"

// What the key rotation RPCs of AdminService ask and answer (docs/operations.md). The
// fields carry the raw values of the request: KeyRotationHandler checks them.
namespace credvault::server {

struct RotateOrgKeyParams {
  std::string org_id;
  // Empty: a retry is not told from a second request.
  std::string idempotency_key;
};

struct RotateOrgKeyResult {
  OrgDescription org;
  // The job that moves the org's data keys onto the new key version.
  storage::ResealJob reseal_job;
  // The rotation was made by an earlier RotateOrgKey under the same idempotency key.
  bool idempotent_replay = false;
};

struct DestroyOrgKeyVersionParams {
  std::string org_id;
  std::uint32_t key_version = 0;
  std::string reason;
};

struct DestroyOrgKeyVersionResult {
  OrgDescription org;
  // The private half of that version was destroyed before this call.
  bool already_destroyed = false;
};

struct RotateRootKeyParams {
  // Empty: a retry is not told from a second request.
  std::string idempotency_key;
};

struct RotateRootKeyResult {
  std::uint32_t root_key_version = 0;
  std::uint32_t previous_root_key_version = 0;
  // X25519, of root_key_version.
  std::vector<std::uint8_t> root_public_key;
  // The job that re-seals every org private key to the new root key.
  storage::ResealJob reseal_job;
  // The rotation was made by an earlier RotateRootKey under the same idempotency key.
  bool idempotent_replay = false;
};

struct GetResealJobParams {
  // An org id or `_system`, where root key jobs live.
  std::string org_id;
  std::string job_id;
};

struct GetResealJobResult {
  storage::ResealJob job;
};

struct ListResealJobsParams {
  // An org id or `_system`, where root key jobs live.
  std::string org_id;
  // 0: the default page size.
  std::int32_t page_size = 0;
  std::string page_token;
  // nullopt: every state.
  std::optional<storage::ResealJobState> state;
};

struct ListResealJobsResult {
  // Newest first, as ResealJobStore lists them.
  std::vector<storage::ResealJob> jobs;
  // Empty when there are no more jobs.
  std::string next_page_token;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SERVICE_KEY_ROTATION_REQUESTS_H_

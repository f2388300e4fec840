#include "server/api/key_rotation_translation.h"

#include <cstdint>
#include <string>

#include "google/protobuf/timestamp.pb.h"
#include "server/api/org_translation.h"
#include "server/api/timestamp_translation.h"
#include "server/base/error_reason.h"

namespace credvault::server {
namespace {

namespace v1 = ::credvault::v1;

v1::ResealJobState ToApi(storage::ResealJobState state) {
  switch (state) {
    case storage::ResealJobState::kPending:
      return v1::RESEAL_JOB_STATE_PENDING;
    case storage::ResealJobState::kRunning:
      return v1::RESEAL_JOB_STATE_RUNNING;
    case storage::ResealJobState::kSucceeded:
      return v1::RESEAL_JOB_STATE_SUCCEEDED;
    case storage::ResealJobState::kFailed:
      return v1::RESEAL_JOB_STATE_FAILED;
    case storage::ResealJobState::kCancelled:
      return v1::RESEAL_JOB_STATE_CANCELLED;
  }
  return v1::RESEAL_JOB_STATE_UNSPECIFIED;
}

// The state a list filter asks for; nullopt for "any" (UNSPECIFIED). `state` is a
// ResealJobState value.
std::optional<storage::ResealJobState> ToStorage(v1::ResealJobState state) {
  switch (state) {
    case v1::RESEAL_JOB_STATE_PENDING:
      return storage::ResealJobState::kPending;
    case v1::RESEAL_JOB_STATE_RUNNING:
      return storage::ResealJobState::kRunning;
    case v1::RESEAL_JOB_STATE_SUCCEEDED:
      return storage::ResealJobState::kSucceeded;
    case v1::RESEAL_JOB_STATE_FAILED:
      return storage::ResealJobState::kFailed;
    case v1::RESEAL_JOB_STATE_CANCELLED:
      return storage::ResealJobState::kCancelled;
    default:
      return std::nullopt;
  }
}

void ToApi(const storage::ResealJob& job, v1::ResealJob& out) {
  out.set_job_id(job.job_id);
  out.set_org_id(job.org_id);
  out.set_kind(job.kind == storage::ResealJobKind::kOrgKey ? v1::RESEAL_JOB_KIND_ORG_KEY
                                                           : v1::RESEAL_JOB_KIND_ROOT_KEY);
  out.set_from_key_version(static_cast<std::uint32_t>(job.from_version));
  out.set_to_key_version(static_cast<std::uint32_t>(job.to_version));
  out.set_state(ToApi(job.state));
  out.set_items_done(job.items_done);
  out.set_items_total(job.items_total);
  SetTimestamp(job.started_at, *out.mutable_start_time());
  SetTimestamp(job.updated_at, *out.mutable_update_time());
  if (job.ended_at) SetTimestamp(*job.ended_at, *out.mutable_end_time());
  out.set_last_error(job.last_error);
}

}  // namespace

RotateOrgKeyParams FromApi(const v1::RotateOrgKeyRequest& request) {
  return RotateOrgKeyParams{.org_id = request.org_id(),
                            .idempotency_key = request.idempotency_key()};
}

v1::RotateOrgKeyResponse ToApi(const RotateOrgKeyResult& result) {
  v1::RotateOrgKeyResponse response;
  *response.mutable_org() = ToApi(result.org);
  ToApi(result.reseal_job, *response.mutable_reseal_job());
  response.set_idempotent_replay(result.idempotent_replay);
  return response;
}

DestroyOrgKeyVersionParams FromApi(const v1::DestroyOrgKeyVersionRequest& request) {
  return DestroyOrgKeyVersionParams{
      .org_id = request.org_id(), .key_version = request.key_version(), .reason = request.reason()};
}

v1::DestroyOrgKeyVersionResponse ToApi(const DestroyOrgKeyVersionResult& result) {
  v1::DestroyOrgKeyVersionResponse response;
  *response.mutable_org() = ToApi(result.org);
  response.set_already_destroyed(result.already_destroyed);
  return response;
}

RotateRootKeyParams FromApi(const v1::RotateRootKeyRequest& request) {
  return RotateRootKeyParams{.idempotency_key = request.idempotency_key()};
}

v1::RotateRootKeyResponse ToApi(const RotateRootKeyResult& result) {
  v1::RotateRootKeyResponse response;
  response.set_root_key_version(result.root_key_version);
  response.set_previous_root_key_version(result.previous_root_key_version);
  response.set_root_public_key(
      std::string(result.root_public_key.begin(), result.root_public_key.end()));
  ToApi(result.reseal_job, *response.mutable_reseal_job());
  response.set_idempotent_replay(result.idempotent_replay);
  return response;
}

GetResealJobParams FromApi(const v1::GetResealJobRequest& request) {
  return GetResealJobParams{.org_id = request.org_id(), .job_id = request.job_id()};
}

v1::GetResealJobResponse ToApi(const GetResealJobResult& result) {
  v1::GetResealJobResponse response;
  ToApi(result.job, *response.mutable_job());
  return response;
}

absl::StatusOr<ListResealJobsParams> FromApi(const v1::ListResealJobsRequest& request) {
  if (!v1::ResealJobState_IsValid(request.state())) {
    return WithReason(absl::InvalidArgumentError("state: not a ResealJobState value"),
                      ErrorReason::kInvalidField);
  }
  return ListResealJobsParams{.org_id = request.org_id(),
                              .page_size = request.page_size(),
                              .page_token = request.page_token(),
                              .state = ToStorage(request.state())};
}

v1::ListResealJobsResponse ToApi(const ListResealJobsResult& result) {
  v1::ListResealJobsResponse response;
  for (const storage::ResealJob& job : result.jobs) ToApi(job, *response.add_jobs());
  response.set_next_page_token(result.next_page_token);
  return response;
}

}  // namespace credvault::server

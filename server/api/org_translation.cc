#include "server/api/org_translation.h"

#include <cstdint>
#include <string>

#include "google/protobuf/timestamp.pb.h"
#include "server/api/timestamp_translation.h"
#include "server/base/error_reason.h"

namespace credvault::server {
namespace {

namespace v1 = ::credvault::v1;

template <typename Bytes>
std::string AsString(const Bytes& bytes) {
  return std::string(bytes.begin(), bytes.end());
}

v1::OrgState ToApi(storage::OrgState state) {
  return state == storage::OrgState::kDestroyed ? v1::ORG_STATE_DESTROYED : v1::ORG_STATE_ACTIVE;
}

v1::OrgKeyState ToApi(storage::OrgKeyState state) {
  switch (state) {
    case storage::OrgKeyState::kActive:
      return v1::ORG_KEY_STATE_ACTIVE;
    case storage::OrgKeyState::kRetiring:
      return v1::ORG_KEY_STATE_RETIRING;
    case storage::OrgKeyState::kRetired:
      return v1::ORG_KEY_STATE_RETIRED;
    case storage::OrgKeyState::kDestroyed:
      return v1::ORG_KEY_STATE_DESTROYED;
  }
  return v1::ORG_KEY_STATE_UNSPECIFIED;
}

// The state a list filter asks for; nullopt for "any" (UNSPECIFIED). `state` is an
// OrgState value.
std::optional<storage::OrgState> ToStorage(v1::OrgState state) {
  switch (state) {
    case v1::ORG_STATE_ACTIVE:
      return storage::OrgState::kActive;
    case v1::ORG_STATE_DESTROYED:
      return storage::OrgState::kDestroyed;
    default:
      return std::nullopt;
  }
}

void ToApi(const storage::OrgSummary& org, v1::OrgSummary& out) {
  out.set_org_id(org.org_id);
  out.set_state(ToApi(org.state));
  out.set_current_key_version(static_cast<std::uint32_t>(org.current_key_version));
  SetTimestamp(org.created_at, *out.mutable_create_time());
  if (org.destroyed_at) SetTimestamp(*org.destroyed_at, *out.mutable_destroy_time());
}

}  // namespace

v1::OrgInfo ToApi(const OrgDescription& description) {
  const OrgSnapshot& snapshot = description.snapshot;
  const storage::Org& org = snapshot.org;
  v1::OrgInfo info;
  info.set_org_id(org.org_id);
  info.set_state(ToApi(org.state));
  SetTimestamp(org.created_at, *info.mutable_create_time());
  if (org.destroyed_at) SetTimestamp(*org.destroyed_at, *info.mutable_destroy_time());
  for (const storage::OrgKey& key : snapshot.keys) {
    v1::OrgKeyVersion* out = info.add_key_versions();
    out->set_version(static_cast<std::uint32_t>(key.version));
    out->set_state(ToApi(key.state));
    out->set_public_key(AsString(key.public_key));
    SetTimestamp(key.created_at, *out->mutable_create_time());
    if (key.retired_at) SetTimestamp(*key.retired_at, *out->mutable_retire_time());
    if (key.state == storage::OrgKeyState::kDestroyed) {
      // Its private half is gone: it is sealed to no root key any more.
      if (key.destroyed_at) {
        SetTimestamp(*key.destroyed_at, *out->mutable_destroy_time());
      } else if (org.destroyed_at) {
        SetTimestamp(*org.destroyed_at, *out->mutable_destroy_time());
      }
    } else {
      out->set_root_key_version(static_cast<std::uint32_t>(key.root_key_version));
    }
  }
  info.set_current_key_version(snapshot.current_key_version());
  if (description.erasure_receipt) {
    *info.mutable_erasure_receipt() = ToApi(*description.erasure_receipt);
  }
  return info;
}

v1::ErasureReceipt ToApi(const ErasureReceipt& receipt) {
  const crypto::ErasureReceiptFields& fields = receipt.fields;
  v1::ErasureReceipt out;
  out.set_org_id(fields.org_id);
  for (const std::uint32_t version : fields.destroyed_key_versions) {
    out.add_destroyed_key_versions(version);
  }
  SetTimestamp(absl::FromUnixMicros(fields.destroy_time_unix_micros), *out.mutable_destroy_time());
  out.set_erased_credential_version_count(fields.erased_credential_version_count);
  out.set_audit_sequence(fields.audit_sequence);
  out.set_audit_chain_head(AsString(fields.audit_chain_head));
  if (receipt.signature) {
    out.set_signature(AsString(*receipt.signature));
    out.set_signing_key_id(receipt.signing_key_id);
  }
  return out;
}

CreateOrgParams FromApi(const v1::CreateOrgRequest& request) {
  return CreateOrgParams{.org_id = request.org_id(), .idempotency_key = request.idempotency_key()};
}

v1::CreateOrgResponse ToApi(const CreateOrgResult& result) {
  v1::CreateOrgResponse response;
  *response.mutable_org() = ToApi(result.org);
  response.set_idempotent_replay(result.idempotent_replay);
  return response;
}

DescribeOrgParams FromApi(const v1::DescribeOrgRequest& request) {
  return DescribeOrgParams{.org_id = request.org_id()};
}

v1::DescribeOrgResponse ToApi(const DescribeOrgResult& result) {
  v1::DescribeOrgResponse response;
  *response.mutable_org() = ToApi(result.org);
  return response;
}

absl::StatusOr<ListOrgsParams> FromApi(const v1::ListOrgsRequest& request) {
  if (!v1::OrgState_IsValid(request.state())) {
    return WithReason(absl::InvalidArgumentError("state: not an OrgState value"),
                      ErrorReason::kInvalidField);
  }
  return ListOrgsParams{.page_size = request.page_size(),
                        .page_token = request.page_token(),
                        .state = ToStorage(request.state())};
}

v1::ListOrgsResponse ToApi(const ListOrgsResult& result) {
  v1::ListOrgsResponse response;
  for (const storage::OrgSummary& org : result.orgs) ToApi(org, *response.add_orgs());
  response.set_next_page_token(result.next_page_token);
  return response;
}

DestroyOrgParams FromApi(const v1::DestroyOrgRequest& request) {
  return DestroyOrgParams{.org_id = request.org_id(),
                          .confirm_org_id = request.confirm_org_id(),
                          .reason = request.reason()};
}

v1::DestroyOrgResponse ToApi(const DestroyOrgResult& result) {
  v1::DestroyOrgResponse response;
  *response.mutable_receipt() = ToApi(result.receipt);
  response.set_already_destroyed(result.already_destroyed);
  return response;
}

}  // namespace credvault::server

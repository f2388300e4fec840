#include "server/service/access_handler.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "common/status_macros.h"
#include "crypto/envelope.h"
#include "server/base/audit_actions.h"
#include "server/base/error_reason.h"
#include "server/base/status_name.h"
#include "server/keys/org_key_records.h"
#include "server/keys/usable_org_key.h"
#include "server/service/api_validation.h"
#include "server/service/credential_metadata.h"
#include "server/service/org_guard.h"

namespace credvault::server {
namespace {

// The requested version as storage counts versions; unset: the current one.
std::optional<std::int64_t> StoredVersion(const std::optional<std::uint64_t>& version) {
  if (!version.has_value()) return std::nullopt;
  return static_cast<std::int64_t>(*version);
}

}  // namespace

AccessHandler::AccessHandler(storage::ConnectionPool& decryptor_pool, const DecryptTierKeys& keys,
                             OrgKeyCache& org_keys, AccessHandlerOptions options, Clock clock)
    : pool_(decryptor_pool),
      keys_(keys),
      org_keys_(org_keys),
      options_(options),
      clock_(std::move(clock)),
      audit_(clock_, options_.on_audit_append),
      group_commit_(pool_, storage::AuditGroupCommit::Options{}, clock_, options_.on_audit_append) {
}

std::optional<absl::StatusOr<DecryptCredentialResult>> AccessHandler::DecryptCommonCase(
    const CallContext& call, const DecryptCredentialParams& params) const {
  absl::StatusOr<std::optional<storage::EnvelopeRecord>> found = credentials_.FindEnvelope(
      pool_, params.org_id, call.deadline, params.name, StoredVersion(params.version));
  if (!found.ok()) return found.status();
  if (!found->has_value()) return std::nullopt;
  const std::optional<storage::EnvelopeRecord>& record = *found;
  if (record->org_state != "ACTIVE" || record->org_key_state.empty() ||
      record->org_key_state == "DESTROYED") {
    return std::nullopt;
  }
  if (record->metadata.expires_at && *record->metadata.expires_at <= clock_()) return std::nullopt;
  absl::StatusOr<crypto::ParsedEnvelope> parsed =
      crypto::ParseEnvelope(record->envelope, options_.max_secret_size);
  if (!parsed.ok() ||
      static_cast<std::int64_t>(parsed->org_key_version) != record->metadata.org_key_version) {
    return std::nullopt;
  }
  // The key's state was read with the envelope, so a destruction committed before the read
  // is seen; only a key this replica already unsealed is used here.
  const std::shared_ptr<const crypto::OrgPrivateKey> org_key =
      org_keys_.Find(params.org_id, parsed->org_key_version);
  if (org_key == nullptr) return std::nullopt;
  absl::StatusOr<crypto::SecretBytes> opened = crypto::OpenEnvelope(
      *parsed, {params.org_id, params.name, static_cast<std::uint64_t>(record->metadata.version)},
      *org_key, *keys_.writer_keys.Get(), org_keys_.data_keys());
  if (!opened.ok()) return std::nullopt;
  const absl::StatusOr<std::uint64_t> seq = group_commit_.Append(
      params.org_id,
      storage::NewAuditEvent{
          call.principal, audit_action::kCredentialDecrypt, params.name, "ok", call.request_id,
          "purpose: " + params.purpose + "; version " + std::to_string(record->metadata.version)},
      call.deadline);
  // Fail closed: without a durable event the plaintext is wiped with `opened`.
  if (!seq.ok()) return seq.status();
  return DecryptCredentialResult{
      *std::move(opened), DescribeStoredVersion(record->metadata, options_.soft_delete_retention),
      *seq};
}

absl::StatusOr<DecryptCredentialResult> AccessHandler::Decrypt(
    const CallContext& call, const DecryptCredentialParams& params) const {
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", params.org_id));
  CV_RETURN_IF_ERROR(ValidateCredentialName("name", params.name));
  if (params.version.has_value() && *params.version == 0) {
    return WithReason(absl::InvalidArgumentError("version: must be at least 1"),
                      ErrorReason::kInvalidField);
  }
  CV_RETURN_IF_ERROR(ValidatePurpose("purpose", params.purpose));
  if (std::optional<absl::StatusOr<DecryptCredentialResult>> done =
          DecryptCommonCase(call, params)) {
    return *std::move(done);
  }

  // Set only once the audit event is written; the plaintext leaves after the commit.
  std::optional<DecryptCredentialResult> decrypted;
  // A refusal that must be audited: the transaction commits its audit event, then the
  // caller gets this status.
  absl::Status refusal;
  CV_RETURN_IF_ERROR(
      pool_.Run(params.org_id, call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        decrypted.reset();
        refusal = absl::OkStatus();
        const std::string details = "purpose: " + params.purpose;
        const auto audit = [&](const std::string& result, const std::string& more) {
          return audit_.Append(
              tx, storage::NewAuditEvent{call.principal, audit_action::kCredentialDecrypt,
                                         params.name, result, call.request_id,
                                         more.empty() ? details : details + "; " + more});
        };
        const auto org_destroyed = [&]() -> absl::Status {
          // Possibly destroyed through another replica: its keys leave this one's cache now.
          org_keys_.DropOrg(params.org_id);
          refusal = OrgDestroyedError(params.org_id, "its secrets are gone");
          return audit(StatusCodeName(refusal.code()), "").status();
        };
        // The envelope first: it comes with the org's and its key's state, so a Decrypt
        // that finds its credential reads nothing else. Only a miss asks why.
        CV_ASSIGN_OR_RETURN(
            const std::optional<storage::EnvelopeRecord> record,
            credentials_.FindEnvelope(tx, params.name, StoredVersion(params.version)));
        if (!record.has_value()) {
          absl::StatusOr<storage::Org> org = LoadExistingOrg(orgs_, tx);
          if (!org.ok()) {
            if (absl::IsNotFound(org.status())) {
              org_keys_.DropOrg(params.org_id);  // purged since this replica cached its keys
            }
            return org.status();
          }
          if (org->state == storage::OrgState::kDestroyed) return org_destroyed();
          refusal = WithReason(absl::NotFoundError("read envelope: credential not found"),
                               ErrorReason::kCredentialNotFound);
          return audit(StatusCodeName(refusal.code()), "").status();
        }
        if (record->org_state == "DESTROYED") return org_destroyed();
        const std::string version_detail = "version " + std::to_string(record->metadata.version);
        if (record->metadata.expires_at && *record->metadata.expires_at <= clock_()) {
          refusal = WithReason(absl::FailedPreconditionError(
                                   "credential " + params.name + " version " +
                                   std::to_string(record->metadata.version) + " has expired"),
                               ErrorReason::kCredentialExpired);
          return audit(StatusCodeName(refusal.code()), version_detail).status();
        }
        absl::StatusOr<crypto::SecretBytes> opened = [&]() -> absl::StatusOr<crypto::SecretBytes> {
          CV_ASSIGN_OR_RETURN(const crypto::ParsedEnvelope parsed,
                              crypto::ParseEnvelope(record->envelope, options_.max_secret_size));
          // The row's key state was read with the envelope; an envelope that names another
          // version than its row (tampering) is checked against every key of the org.
          CV_ASSIGN_OR_RETURN(
              const std::shared_ptr<const crypto::OrgPrivateKey> org_key,
              static_cast<std::int64_t>(parsed.org_key_version) == record->metadata.org_key_version
                  ? UsableOrgPrivateKey(tx, parsed.org_key_version, record->org_key_state, keys_,
                                        org_keys_)
                  : UsableOrgPrivateKey(tx, parsed.org_key_version, keys_, org_keys_));
          return crypto::OpenEnvelope(
              parsed,
              {params.org_id, params.name, static_cast<std::uint64_t>(record->metadata.version)},
              *org_key, *keys_.writer_keys.Get());
        }();
        if (!opened.ok()) {
          if (opened.status().code() != absl::StatusCode::kDataLoss) return opened.status();
          refusal = WithReason(opened.status(), ErrorReason::kIntegrityFailure);
          return audit(StatusCodeName(refusal.code()), version_detail).status();
        }
        CV_ASSIGN_OR_RETURN(const storage::AuditEvent event, audit("ok", version_detail));
        decrypted = DecryptCredentialResult{
            *std::move(opened),
            DescribeStoredVersion(record->metadata, options_.soft_delete_retention), event.seq};
        return absl::OkStatus();
      }));
  CV_RETURN_IF_ERROR(refusal);
  // Committed: the audit event is durable, so the secret may leave.
  return *std::move(decrypted);
}

}  // namespace credvault::server

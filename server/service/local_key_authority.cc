#include "server/service/local_key_authority.h"

#include <optional>
#include <string>
#include <utility>

#include "common/status_macros.h"
#include "crypto/blake2b.h"
#include "crypto/envelope.h"
#include "server/base/audit_actions.h"
#include "server/base/error_reason.h"
#include "server/base/status_name.h"
#include "server/keys/org_key_records.h"
#include "server/keys/usable_org_key.h"
#include "server/service/api_validation.h"
#include "server/service/org_guard.h"

namespace credvault::server {
namespace {

constexpr storage::Statement kCompareAdmit{"compare.admit",
                                           "SELECT credvault_compare_admit($1, $2, $3, $4)"};

// Equal secrets of any length compare alike and unequal ones take the same time whatever
// byte differs: both sides are hashed first, then the digests compared in constant time.
bool CandidateMatches(crypto::SecretView a, crypto::SecretView b) {
  crypto::Blake2bHasher left;
  left.Update(a.RevealSecret());
  crypto::Blake2bHasher right;
  right.Update(b.RevealSecret());
  const crypto::Blake2b256 l = left.Finish();
  const crypto::Blake2b256 r = right.Finish();
  return crypto::ConstantTimeEquals(l, r);
}

}  // namespace

LocalKeyAuthority::LocalKeyAuthority(storage::ConnectionPool& decryptor_pool,
                                     const DecryptTierKeys& keys, OrgKeyCache& org_keys,
                                     LocalKeyAuthorityOptions options, Clock clock)
    : pool_(decryptor_pool),
      keys_(keys),
      org_keys_(org_keys),
      options_(std::move(options)),
      clock_(std::move(clock)),
      audit_(clock_, options_.on_audit_append) {}

absl::Status LocalKeyAuthority::ProvisionOrg(
    const CallContext& call, const std::string& org_id,
    const std::vector<std::uint32_t>& pinned_root_versions) const {
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", org_id));
  // Two first Puts into one new org race on its primary key: the loser's transaction is
  // spoiled by the refused insert, and run again it finds the org.
  bool made_concurrently = false;
  const auto provision = [&](storage::Transaction& tx) -> absl::Status {
    made_concurrently = false;
    CV_ASSIGN_OR_RETURN(const std::optional<storage::Org> existing, orgs_.FindOrg(tx));
    if (existing.has_value()) {
      // An org key record made before records were signed is signed now.
      if (existing->state != storage::OrgState::kActive) return absl::OkStatus();
      CV_ASSIGN_OR_RETURN(std::optional<storage::OrgKey> active, orgs_.FindActiveOrgKey(tx));
      if (!active.has_value()) return absl::OkStatus();
      return SignIfUnsigned(tx, *std::move(active), keys_).status();
    }
    CV_ASSIGN_OR_RETURN(const crypto::OrgKeyRecord record,
                        MakeOrgKey(tx, org_id, 1, keys_, pinned_root_versions));
    CV_ASSIGN_OR_RETURN(const storage::CreateOrgOutcome created,
                        orgs_.TryCreateOrg(tx, ToNewOrgKey(record)));
    if (created == storage::CreateOrgOutcome::kOrgExists) {
      made_concurrently = true;
      // Not OK, so that the spoiled transaction is rolled back; the answer only if the
      // second run loses too.
      return absl::AlreadyExistsError("org already exists");
    }
    return audit_
        .Append(tx, storage::NewAuditEvent{call.principal, audit_action::kOrgProvision, "", "ok",
                                           call.request_id,
                                           "org key version 1, root key version " +
                                               std::to_string(record.root_key_version)})
        .status();
  };
  const absl::Status status = pool_.Run(org_id, call.deadline, provision);
  if (!made_concurrently) return status;
  return pool_.Run(org_id, call.deadline, provision);
}

absl::StatusOr<CompareCredentialResult> LocalKeyAuthority::Compare(
    const CallContext& call, const CompareCredentialParams& params) const {
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", params.org_id));
  CV_RETURN_IF_ERROR(ValidateCredentialName("name", params.name));
  CompareCredentialResult result;
  absl::Status refusal;
  CV_RETURN_IF_ERROR(
      pool_.Run(params.org_id, call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        result = CompareCredentialResult{};
        refusal = absl::OkStatus();
        const auto refuse = [&](absl::Status why, const std::string& details) -> absl::Status {
          refusal = std::move(why);
          return audit_
              .Append(tx, storage::NewAuditEvent{call.principal, audit_action::kCredentialCompare,
                                                 params.name, StatusCodeName(refusal.code()),
                                                 call.request_id, details})
              .status();
        };
        // A missing org has no audit chain to record in: refused without an event.
        CV_ASSIGN_OR_RETURN(const storage::Org org, LoadExistingOrg(orgs_, tx));
        CV_ASSIGN_OR_RETURN(
            const storage::Row admitted,
            tx.ExecuteOne(kCompareAdmit, {storage::SqlParam::Text(params.org_id),
                                          storage::SqlParam::Text(call.principal),
                                          storage::SqlParam::Text(params.name),
                                          storage::SqlParam::Int(options_.compare_per_minute)}));
        CV_ASSIGN_OR_RETURN(const bool within_limit, admitted.Bool(0));
        if (!within_limit) {
          return refuse(WithReason(absl::ResourceExhaustedError(
                                       "CompareCredential: at most " +
                                       std::to_string(options_.compare_per_minute) +
                                       " comparisons per minute for this credential"),
                                   ErrorReason::kRateLimited),
                        "");
        }
        if (absl::Status destroyed = CheckNotDestroyed(org); !destroyed.ok()) {
          org_keys_.DropOrg(params.org_id);  // possibly destroyed through another replica
          return refuse(std::move(destroyed), "");
        }
        const std::optional<std::int64_t> wanted =
            params.version.has_value()
                ? std::optional<std::int64_t>(static_cast<std::int64_t>(*params.version))
                : std::nullopt;
        CV_ASSIGN_OR_RETURN(const std::optional<storage::EnvelopeRecord> record,
                            credentials_.FindEnvelope(tx, params.name, wanted));
        if (!record.has_value()) {
          return refuse(WithReason(absl::NotFoundError("read envelope: credential not found"),
                                   ErrorReason::kCredentialNotFound),
                        "");
        }
        const std::string version_detail = "version " + std::to_string(record->metadata.version);
        absl::StatusOr<crypto::SecretBytes> opened = [&]() -> absl::StatusOr<crypto::SecretBytes> {
          CV_ASSIGN_OR_RETURN(const crypto::ParsedEnvelope parsed,
                              crypto::ParseEnvelope(record->envelope, options_.max_secret_size));
          CV_ASSIGN_OR_RETURN(const std::shared_ptr<const crypto::OrgPrivateKey> org_key,
                              UsableOrgPrivateKey(tx, parsed.org_key_version, keys_, org_keys_));
          return crypto::OpenEnvelope(
              parsed,
              {params.org_id, params.name, static_cast<std::uint64_t>(record->metadata.version)},
              *org_key, *keys_.writer_keys.Get());
        }();
        if (!opened.ok()) {
          if (!absl::IsDataLoss(opened.status())) return opened.status();
          return refuse(WithReason(opened.status(), ErrorReason::kIntegrityFailure),
                        version_detail);
        }
        const bool match = CandidateMatches(params.candidate, *opened);
        CV_RETURN_IF_ERROR(
            audit_
                .Append(tx,
                        storage::NewAuditEvent{call.principal, audit_action::kCredentialCompare,
                                               params.name, "ok", call.request_id,
                                               version_detail + (match ? ", match" : ", no match")})
                .status());
        result =
            CompareCredentialResult{match, static_cast<std::uint64_t>(record->metadata.version)};
        return absl::OkStatus();
      }));
  CV_RETURN_IF_ERROR(refusal);
  return result;
}

}  // namespace credvault::server

#include "server/service/credential_handler.h"

#include <map>
#include <optional>
#include <string>

#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "crypto/canonical_encoding.h"
#include "crypto/envelope.h"
#include "crypto/org_key.h"
#include "server/base/error_reason.h"
#include "server/base/status_name.h"
#include "server/keys/org_key_records.h"
#include "server/service/api_validation.h"
#include "server/service/metadata_conversion.h"
#include "server/service/org_guard.h"
#include "server/service/page_token.h"
#include "server/telemetry/json_log.h"

namespace credvault::server {
namespace {

namespace v1 = ::credvault::v1;

// Database calls one Put may make: its guesses of the next version and of the active key
// are corrected by each call that finds them wrong.
constexpr int kMaxPutCalls = 5;

// Marks the status of a Put that found the org's active key record unsigned.
constexpr char kUnsignedOrgKeyPayload[] = "credvault.dev/unsigned-org-key";

constexpr std::string_view kIdempotencyDomain = "credvault.idempotency.v2";

crypto::SecretView SecretOf(const std::string& bytes) { return crypto::SecretView::Borrow(bytes); }

absl::Status CredentialNotFound(std::string_view what) {
  return WithReason(absl::NotFoundError(std::string(what) + ": credential not found"),
                    v1::ERROR_REASON_CREDENTIAL_NOT_FOUND);
}

// A Put whose precondition does not hold: nothing was to exist (expected 0), or another
// version than the live one (`live`, 0: none) was expected.
absl::Status PreconditionFailed(std::int64_t expected, std::int64_t live) {
  if (expected == 0) {
    return WithReason(
        absl::AlreadyExistsError("must_not_exist: credential already exists (version " +
                                 std::to_string(live) + ")"),
        v1::ERROR_REASON_CREDENTIAL_EXISTS);
  }
  return WithReason(absl::AbortedError("expected_version: expected version " +
                                       std::to_string(expected) + ", current version is " +
                                       (live == 0 ? std::string("none") : std::to_string(live))),
                    v1::ERROR_REASON_VERSION_MISMATCH);
}

absl::Status IdempotencyKeyReused() {
  return WithReason(
      absl::FailedPreconditionError("idempotency_key: was already used for a different request"),
      v1::ERROR_REASON_IDEMPOTENCY_KEY_REUSED);
}

std::map<std::string, std::string> SortedLabels(
    const google::protobuf::Map<std::string, std::string>& labels) {
  return {labels.begin(), labels.end()};
}

crypto::Blake2b256 Digest(const crypto::CanonicalEncoder& encoder) {
  crypto::Blake2bHasher hasher;
  hasher.Update(encoder.bytes());
  return hasher.Finish();
}

// The digest that tells a retried Put from a different Put under the same idempotency
// key. It covers everything in the request but the secret: anything computed from the
// secret and readable by the write tier would let a compromise of that tier test guesses
// offline (docs/security-model.md). A key reused for another secret with otherwise equal
// fields is taken for a retry and answered with the first result.
crypto::Blake2b256 PutDigest(const CallContext& call, const v1::PutCredentialRequest& request) {
  crypto::CanonicalEncoder encoder(kIdempotencyDomain);
  encoder.AddString("PutCredential");
  encoder.AddString(call.principal);
  encoder.AddString(request.org_id());
  encoder.AddString(request.name());
  const auto labels = SortedLabels(request.labels());
  encoder.AddU32(static_cast<std::uint32_t>(labels.size()));
  for (const auto& [key, value] : labels) {
    encoder.AddString(key);
    encoder.AddString(value);
  }
  encoder.AddU8(static_cast<std::uint8_t>(request.precondition_case()));
  encoder.AddU64(request.expected_version());
  encoder.AddU8(request.must_not_exist() ? 1 : 0);
  encoder.AddU8(static_cast<std::uint8_t>(request.expiration_case()));
  encoder.AddU64(static_cast<std::uint64_t>(request.expire_time().seconds()));
  encoder.AddU32(static_cast<std::uint32_t>(request.expire_time().nanos()));
  encoder.AddU64(static_cast<std::uint64_t>(request.ttl().seconds()));
  encoder.AddU32(static_cast<std::uint32_t>(request.ttl().nanos()));
  encoder.AddU8(request.has_max_versions() ? 1 : 0);
  encoder.AddU32(request.max_versions());
  return Digest(encoder);
}

crypto::Blake2b256 DeleteDigest(const CallContext& call,
                                const v1::DeleteCredentialRequest& request) {
  crypto::CanonicalEncoder encoder(kIdempotencyDomain);
  encoder.AddString("DeleteCredential");
  encoder.AddString(call.principal);
  encoder.AddString(request.org_id());
  encoder.AddString(request.name());
  encoder.AddU32(static_cast<std::uint32_t>(request.mode()));
  encoder.AddU8(request.has_expected_version() ? 1 : 0);
  encoder.AddU64(request.expected_version());
  return Digest(encoder);
}

// Looks up an idempotency key: nullopt when unused, the earlier result version when this
// is a retry of the same request, FAILED_PRECONDITION when the key served another request.
absl::StatusOr<std::optional<std::int64_t>> CheckIdempotency(const storage::IdempotencyStore& store,
                                                             storage::Transaction& tx,
                                                             const std::string& key,
                                                             const crypto::Blake2b256& digest) {
  CV_ASSIGN_OR_RETURN(const std::optional<storage::IdempotencyRecord> record,
                      store.Lookup(tx, key));
  if (!record) return std::nullopt;
  const bool same = record->request_hash.size() == digest.size() &&
                    std::equal(digest.begin(), digest.end(), record->request_hash.begin());
  if (!same) return IdempotencyKeyReused();
  return record->result_version;
}

std::string IdempotencyStorageKey(std::string_view method, const std::string& key) {
  return std::string(method) + ":" + key;
}

// The rules of each field of a Put but its optional terms (below).
absl::Status ValidatePutFields(const v1::PutCredentialRequest& request,
                               std::size_t max_secret_size) {
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", request.org_id()));
  CV_RETURN_IF_ERROR(ValidateCredentialName("name", request.name()));
  CV_RETURN_IF_ERROR(ValidateSecretSize("secret", request.secret().size(), max_secret_size));
  CV_RETURN_IF_ERROR(ValidateLabels("labels", request.labels()));
  return ValidateIdempotencyKey("idempotency_key", request.idempotency_key());
}

// The precondition as storage takes it: nullopt = none, 0 = must not exist, n = version n.
absl::StatusOr<std::optional<std::int64_t>> ExpectedLiveVersion(
    const v1::PutCredentialRequest& request) {
  switch (request.precondition_case()) {
    case v1::PutCredentialRequest::kExpectedVersion:
      CV_RETURN_IF_ERROR(ValidateExpectedVersion("expected_version", request.expected_version()));
      return static_cast<std::int64_t>(request.expected_version());
    case v1::PutCredentialRequest::kMustNotExist:
      CV_RETURN_IF_ERROR(ValidateMustNotExist("must_not_exist", request.must_not_exist()));
      return std::int64_t{0};
    case v1::PutCredentialRequest::PRECONDITION_NOT_SET:
      break;
  }
  return std::nullopt;
}

// When the new version expires, as of `now`, if ever.
absl::StatusOr<std::optional<absl::Time>> ExpiresAt(const v1::PutCredentialRequest& request,
                                                    absl::Time now) {
  switch (request.expiration_case()) {
    case v1::PutCredentialRequest::kExpireTime: {
      const absl::Time expire_time = FromTimestamp(request.expire_time());
      CV_RETURN_IF_ERROR(ValidateExpireTime("expire_time", expire_time, now));
      return expire_time;
    }
    case v1::PutCredentialRequest::kTtl: {
      const absl::Duration ttl =
          absl::Seconds(request.ttl().seconds()) + absl::Nanoseconds(request.ttl().nanos());
      CV_RETURN_IF_ERROR(ValidateTtl("ttl", ttl, now));
      return now + ttl;
    }
    case v1::PutCredentialRequest::EXPIRATION_NOT_SET:
      break;
  }
  return std::nullopt;
}

// Step 1 of a Put: the request checked and turned into what storage writes, all but the
// version guess and the envelope (sealed for that guess in step 2).
absl::StatusOr<storage::PutCall> ValidatedPutCall(const CallContext& call,
                                                  const v1::PutCredentialRequest& request,
                                                  absl::Time now, std::size_t max_secret_size) {
  CV_RETURN_IF_ERROR(ValidatePutFields(request, max_secret_size));
  storage::PutCall put;
  CV_ASSIGN_OR_RETURN(put.expected_live_version, ExpectedLiveVersion(request));
  CV_ASSIGN_OR_RETURN(put.content.expires_at, ExpiresAt(request, now));
  if (request.has_max_versions()) {
    CV_RETURN_IF_ERROR(ValidateMaxVersions("max_versions", request.max_versions()));
    put.content.max_versions = static_cast<std::int32_t>(request.max_versions());
  }
  put.name = request.name();
  put.content.labels = SortedLabels(request.labels());
  put.content.created_by = call.principal;
  put.content.request_id = call.request_id;
  if (!request.idempotency_key().empty()) {
    const crypto::Blake2b256 digest = PutDigest(call, request);
    put.content.idempotency_key = IdempotencyStorageKey("PutCredential", request.idempotency_key());
    put.content.request_digest.assign(digest.begin(), digest.end());
  }
  return put;
}

}  // namespace

CredentialHandler::CredentialHandler(storage::ConnectionPool& writer_pool,
                                     const Reloadable<WriteTierKeys>& keys,
                                     const KeyAuthority* key_authority,
                                     CredentialHandlerOptions options, Clock clock)
    : pool_(writer_pool),
      keys_(keys),
      key_authority_(key_authority),
      options_(std::move(options)),
      clock_(std::move(clock)) {}

template <typename Response>
absl::StatusOr<bool> CredentialHandler::ReplayIfRetried(storage::Transaction& tx,
                                                        const std::string& idempotency_key,
                                                        const crypto::Blake2b256& digest,
                                                        const std::string& name,
                                                        Response& response) const {
  CV_ASSIGN_OR_RETURN(const std::optional<std::int64_t> earlier,
                      CheckIdempotency(idempotency_, tx, idempotency_key, digest));
  if (!earlier) return false;
  CV_ASSIGN_OR_RETURN(const storage::CredentialMetadata stored,
                      credentials_.GetMetadata(tx, name, *earlier, true));
  *response.mutable_credential() = ToApiMetadata(stored, options_.soft_delete_retention);
  response.set_idempotent_replay(true);
  return true;
}

absl::StatusOr<crypto::VerifiedOrgPublicKey> CredentialHandler::ActiveOrgKey(
    const CallContext& call, const std::string& org_id,
    const std::shared_ptr<const WriteTierKeys>& keys) const {
  if (std::optional<crypto::VerifiedOrgPublicKey> hint = hints_.ActiveKey(org_id, keys)) {
    return *std::move(hint);
  }
  std::optional<crypto::VerifiedOrgPublicKey> verified;
  CV_RETURN_IF_ERROR(
      pool_.Run(org_id, call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        verified.reset();
        CV_RETURN_IF_ERROR(RequireActiveOrg(orgs_, tx));
        CV_ASSIGN_OR_RETURN(const storage::OrgKey key, orgs_.GetActiveOrgKey(tx));
        if (IsUnsigned(key)) {
          // Made before org key records were signed: only the key authority can sign it.
          absl::Status unsigned_key = absl::FailedPreconditionError(
              "the active key of org " + org_id + " is not signed by the key directory yet");
          unsigned_key.SetPayload(kUnsignedOrgKeyPayload, absl::Cord("1"));
          return unsigned_key;
        }
        CV_ASSIGN_OR_RETURN(const crypto::OrgKeyRecord record, ToOrgKeyRecord(key, {}));
        absl::StatusOr<crypto::VerifiedOrgPublicKey> checked =
            verified_org_keys_.Verify(record, keys->directory_pins, keys->root_pins);
        if (absl::IsDataLoss(checked.status())) {
          return WithReason(checked.status(), v1::ERROR_REASON_INTEGRITY_FAILURE);
        }
        if (!checked.ok()) return checked.status();
        verified = *std::move(checked);
        return absl::OkStatus();
      }));
  hints_.SetActiveKey(*verified, keys);
  return *std::move(verified);
}

// How one round of sealing and storing ended: with the response, or having lost the race
// of twins on their idempotency key (`race_lost` then holds the database's report).
struct CredentialHandler::PutRound {
  v1::PutCredentialResponse response;
  absl::Status race_lost;
};

absl::StatusOr<v1::PutCredentialResponse> CredentialHandler::Put(
    const CallContext& call, const v1::PutCredentialRequest& request) const {
  const std::shared_ptr<const WriteTierKeys> keys = keys_.Get();
  CV_ASSIGN_OR_RETURN(storage::PutCall put,
                      ValidatedPutCall(call, request, clock_(), options_.max_secret_size));
  absl::StatusOr<PutRound> round = SealAndStore(call, request, keys, put);
  // The write tier cannot make or sign an org key: a first Put, or the first Put since the
  // upgrade that signs org key records, asks the key authority, then runs again.
  const bool unsigned_key = round.status().GetPayload(kUnsignedOrgKeyPayload).has_value();
  if (unsigned_key || (ReasonOf(round.status()) == v1::ERROR_REASON_ORG_NOT_FOUND &&
                       options_.provision_orgs_on_first_put)) {
    if (key_authority_ == nullptr) {
      if (unsigned_key) return round.status();
      return WithReason(
          absl::NotFoundError("org " + request.org_id() +
                              " does not exist; this write-only process cannot provision it: "
                              "create it with AdminService.CreateOrg"),
          v1::ERROR_REASON_ORG_NOT_FOUND);
    }
    CV_RETURN_IF_ERROR(
        key_authority_->ProvisionOrg(call, request.org_id(), keys->root_pins.versions()));
    round = SealAndStore(call, request, keys, put);
  }
  // Two twins with one idempotency key race on its unique key: the loser runs again and
  // finds the winner's result.
  if (round.ok() && !round->race_lost.ok()) round = SealAndStore(call, request, keys, put);
  CV_RETURN_IF_ERROR(round.status());
  CV_RETURN_IF_ERROR(round->race_lost);
  return std::move(round->response);
}

absl::StatusOr<CredentialHandler::PutRound> CredentialHandler::SealAndStore(
    const CallContext& call, const v1::PutCredentialRequest& request,
    const std::shared_ptr<const WriteTierKeys>& keys, storage::PutCall& put) const {
  // One database call when the hints are right: the envelope is sealed for the guessed
  // version to the guessed key, and the database checks both under the name's lock.
  for (int call_number = 1;; ++call_number) {
    CV_RETURN_IF_ERROR(Seal(call, request, keys, put));
    const absl::Time started = absl::Now();
    CV_ASSIGN_OR_RETURN(const storage::PutCallResult result,
                        credentials_.Put(pool_, request.org_id(), call.deadline, put));
    CV_ASSIGN_OR_RETURN(std::optional<PutRound> round, Answer(request, put, result, started));
    if (round.has_value()) return *std::move(round);
    // Each wrong guess was corrected by what the database said; only writers racing on
    // the same name, or rotations in a loop, get here repeatedly.
    if (call_number >= kMaxPutCalls) {
      return absl::AbortedError(
          "the credential kept changing while this Put was sealed; retry with backoff");
    }
  }
}

absl::Status CredentialHandler::Seal(const CallContext& call,
                                     const v1::PutCredentialRequest& request,
                                     const std::shared_ptr<const WriteTierKeys>& keys,
                                     storage::PutCall& put) const {
  CV_ASSIGN_OR_RETURN(const crypto::VerifiedOrgPublicKey org_key,
                      ActiveOrgKey(call, request.org_id(), keys));
  put.version = hints_.NextVersion(request.org_id(), request.name());
  CV_ASSIGN_OR_RETURN(
      put.content.envelope,
      crypto::BuildEnvelope(
          {request.org_id(), request.name(), static_cast<std::uint64_t>(put.version)}, org_key,
          keys->writer_keys, SecretOf(request.secret()), options_.max_secret_size));
  put.content.org_key_version = static_cast<std::int32_t>(org_key.key_version());
  put.org_public_key.assign(org_key.public_key().begin(), org_key.public_key().end());
  put.content.writer_key_version = static_cast<std::int32_t>(keys->writer_keys.current_version());
  return absl::OkStatus();
}

absl::StatusOr<std::optional<CredentialHandler::PutRound>> CredentialHandler::Answer(
    const v1::PutCredentialRequest& request, const storage::PutCall& put,
    const storage::PutCallResult& result, absl::Time started) const {
  const std::string& org_id = request.org_id();
  PutRound round;
  switch (result.outcome) {
    case storage::PutOutcome::kDone:
      ObserveAuditAppend(started);
      hints_.SetNextVersion(org_id, request.name(), put.version + 1);
      *round.response.mutable_credential() =
          ToApiMetadata(*result.metadata, options_.soft_delete_retention);
      return round;
    case storage::PutOutcome::kReplay:
      round.response = ReplayedPut(result);
      return round;
    case storage::PutOutcome::kRaceLost:
      round.race_lost = result.conflict;
      return round;
    case storage::PutOutcome::kIdempotencyKeyReused:
      return IdempotencyKeyReused();
    case storage::PutOutcome::kOrgNotFound:
      hints_.ForgetActiveKey(org_id);
      return OrgNotFoundError(org_id);
    case storage::PutOutcome::kOrgDestroyed:
      hints_.ForgetActiveKey(org_id);
      return OrgDestroyedError(org_id);
    case storage::PutOutcome::kPreconditionFailed:
      return PreconditionFailed(*put.expected_live_version, result.version);
    case storage::PutOutcome::kVersionMoved:
      hints_.SetNextVersion(org_id, request.name(), result.version);
      return std::nullopt;
    case storage::PutOutcome::kKeyChanged:
      hints_.ForgetActiveKey(org_id);
      return std::nullopt;
  }
  return absl::InternalError("credentials.put: unknown outcome");
}

v1::PutCredentialResponse CredentialHandler::ReplayedPut(
    const storage::PutCallResult& result) const {
  v1::PutCredentialResponse response;
  *response.mutable_credential() = ToApiMetadata(*result.metadata, options_.soft_delete_retention);
  response.set_idempotent_replay(true);
  return response;
}

void CredentialHandler::ObserveAuditAppend(absl::Time started) const {
  // The put function appended the credential.put event in the call that began at `started`.
  if (options_.on_audit_append) options_.on_audit_append(absl::Now() - started);
}

absl::StatusOr<v1::DeleteCredentialResponse> CredentialHandler::Delete(
    const CallContext& call, const v1::DeleteCredentialRequest& request) const {
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", request.org_id()));
  CV_RETURN_IF_ERROR(ValidateCredentialName("name", request.name()));
  CV_RETURN_IF_ERROR(ValidateIdempotencyKey("idempotency_key", request.idempotency_key()));
  if (!v1::DeletionMode_IsValid(request.mode())) {
    return InvalidField("mode", "unknown deletion mode");
  }
  if (request.has_expected_version()) {
    CV_RETURN_IF_ERROR(ValidateVersion("expected_version", request.expected_version()));
  }
  const bool erase = request.mode() == v1::DELETION_MODE_ERASE;
  const std::string idempotency_key =
      IdempotencyStorageKey("DeleteCredential", request.idempotency_key());
  const std::optional<crypto::Blake2b256> digest =
      request.idempotency_key().empty()
          ? std::nullopt
          : std::optional<crypto::Blake2b256>(DeleteDigest(call, request));

  v1::DeleteCredentialResponse response;
  CV_RETURN_IF_ERROR(
      pool_.Run(request.org_id(), call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        response.Clear();
        CV_RETURN_IF_ERROR(RequireActiveOrg(orgs_, tx));
        if (digest) {
          CV_ASSIGN_OR_RETURN(const bool replayed, ReplayIfRetried(tx, idempotency_key, *digest,
                                                                   request.name(), response));
          if (replayed) return absl::OkStatus();
        }
        // Erase mode may finish what a soft delete began.
        storage::DeleteRequest deletion;
        deletion.name = request.name();
        deletion.mode =
            erase ? storage::DeleteMode::kCryptoErase : storage::DeleteMode::kSoftDelete;
        if (request.has_expected_version()) {
          deletion.expected_version = static_cast<std::int64_t>(request.expected_version());
        }
        if (digest) {
          deletion.idempotency_key = idempotency_key;
          deletion.request_digest.assign(digest->begin(), digest->end());
        }
        deletion.principal = call.principal;
        deletion.request_id = call.request_id;
        CV_ASSIGN_OR_RETURN(const storage::DeleteResult deleted, credentials_.Delete(tx, deletion));
        switch (deleted.outcome) {
          case storage::DeleteOutcome::kDone:
            break;
          case storage::DeleteOutcome::kNotFound:
            return CredentialNotFound(erase ? "erase" : "delete");
          case storage::DeleteOutcome::kAlreadyDeleted:
            return WithReason(
                absl::NotFoundError("credential " + request.name() + " is already deleted"),
                v1::ERROR_REASON_CREDENTIAL_NOT_FOUND);
          case storage::DeleteOutcome::kVersionMismatch:
            return WithReason(absl::AbortedError("expected_version: the current version is " +
                                                 std::to_string(deleted.version)),
                              v1::ERROR_REASON_VERSION_MISMATCH);
        }
        const std::size_t affected = deleted.affected_version_count;
        CV_ASSIGN_OR_RETURN(const storage::CredentialMetadata stored,
                            credentials_.GetMetadata(tx, request.name(), deleted.version, true));
        *response.mutable_credential() = ToApiMetadata(stored, options_.soft_delete_retention);
        response.set_affected_version_count(static_cast<std::uint32_t>(affected));
        return absl::OkStatus();
      }));
  return response;
}

absl::StatusOr<v1::DescribeCredentialResponse> CredentialHandler::Describe(
    const CallContext& call, const v1::DescribeCredentialRequest& request) const {
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", request.org_id()));
  CV_RETURN_IF_ERROR(ValidateCredentialName("name", request.name()));
  if (request.has_version()) CV_RETURN_IF_ERROR(ValidateVersion("version", request.version()));
  v1::DescribeCredentialResponse response;
  CV_RETURN_IF_ERROR(
      pool_.Run(request.org_id(), call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        CV_RETURN_IF_ERROR(RequireActiveOrg(orgs_, tx));
        const std::optional<std::int64_t> version =
            request.has_version() ? std::optional<std::int64_t>(request.version()) : std::nullopt;
        CV_ASSIGN_OR_RETURN(
            const std::optional<storage::CredentialMetadata> stored,
            credentials_.FindMetadata(tx, request.name(), version, request.show_deleted()));
        if (!stored.has_value()) return CredentialNotFound("describe");
        *response.mutable_credential() = ToApiMetadata(*stored, options_.soft_delete_retention);
        return absl::OkStatus();
      }));
  return response;
}

absl::StatusOr<v1::ListCredentialsResponse> CredentialHandler::List(
    const CallContext& call, const v1::ListCredentialsRequest& request) const {
  const std::shared_ptr<const WriteTierKeys> keys = keys_.Get();
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", request.org_id()));
  CV_RETURN_IF_ERROR(ValidateNamePrefix("name_prefix", request.name_prefix()));
  CV_RETURN_IF_ERROR(ValidateLabels("label_selector", request.label_selector()));
  int page_size = 0;
  CV_RETURN_IF_ERROR(NormalizePageSize("page_size", request.page_size(), page_size));
  const std::map<std::string, std::string> label_selector = SortedLabels(request.label_selector());
  PageQuery query("ListCredentials");
  query.Add(request.org_id())
      .Add(request.name_prefix())
      .Add(label_selector)
      .Add(std::uint64_t{request.include_deleted()});
  std::string after;
  if (!request.page_token().empty()) {
    CV_ASSIGN_OR_RETURN(
        after, DecodePageToken(keys->writer_keys, query, "page_token", request.page_token()));
  }
  v1::ListCredentialsResponse response;
  CV_RETURN_IF_ERROR(
      pool_.Run(request.org_id(), call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        response.Clear();
        CV_RETURN_IF_ERROR(RequireActiveOrg(orgs_, tx));
        storage::ListQuery list;
        list.name_prefix = request.name_prefix();
        list.label_filter = label_selector;
        list.page_size = static_cast<std::size_t>(page_size);
        list.page_after = after;
        list.include_deleted = request.include_deleted();
        CV_ASSIGN_OR_RETURN(const storage::ListPage page, credentials_.List(tx, list));
        for (const storage::CredentialMetadata& stored : page.items) {
          *response.add_credentials() = ToApiMetadata(stored, options_.soft_delete_retention);
        }
        if (page.next_page_after) {
          response.set_next_page_token(
              EncodePageToken(keys->writer_keys, query, *page.next_page_after));
        }
        return absl::OkStatus();
      }));
  return response;
}

absl::StatusOr<v1::CompareCredentialResponse> CredentialHandler::Compare(
    const CallContext& call, const v1::CompareCredentialRequest& request) const {
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", request.org_id()));
  CV_RETURN_IF_ERROR(ValidateCredentialName("name", request.name()));
  if (request.has_version()) CV_RETURN_IF_ERROR(ValidateVersion("version", request.version()));
  CV_RETURN_IF_ERROR(
      ValidateSecretSize("candidate", request.candidate().size(), options_.max_secret_size));
  // Only the key authority can answer: nothing the write tier holds is derived from a
  // stored secret (docs/security-model.md).
  if (key_authority_ == nullptr) {
    return absl::UnavailableError(
        "CompareCredential: this write-only process has no key authority to ask; call it on a "
        "process that runs the decrypt tier");
  }
  return key_authority_->Compare(call, request);
}

}  // namespace credvault::server

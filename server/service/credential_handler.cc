#include "server/service/credential_handler.h"

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
#include "server/service/credential_metadata.h"
#include "server/service/org_guard.h"
#include "server/service/page_token.h"
#include "server/telemetry/json_log.h"

namespace credvault::server {
namespace {

// Database calls one Put may make: its guesses of the next version and of the active key
// are corrected by each call that finds them wrong.
constexpr int kMaxPutCalls = 5;

// Marks the status of a Put that found the org's active key record unsigned.
constexpr char kUnsignedOrgKeyPayload[] = "credvault.dev/unsigned-org-key";

constexpr std::string_view kIdempotencyDomain = "credvault.idempotency.v2";

absl::Status CredentialNotFound(std::string_view what) {
  return WithReason(absl::NotFoundError(std::string(what) + ": credential not found"),
                    ErrorReason::kCredentialNotFound);
}

// A Put whose precondition does not hold: nothing was to exist (expected 0), or another
// version than the live one (`live`, 0: none) was expected.
absl::Status PreconditionFailed(std::int64_t expected, std::int64_t live) {
  if (expected == 0) {
    return WithReason(
        absl::AlreadyExistsError("must_not_exist: credential already exists (version " +
                                 std::to_string(live) + ")"),
        ErrorReason::kCredentialExists);
  }
  return WithReason(absl::AbortedError("expected_version: expected version " +
                                       std::to_string(expected) + ", current version is " +
                                       (live == 0 ? std::string("none") : std::to_string(live))),
                    ErrorReason::kVersionMismatch);
}

absl::Status IdempotencyKeyReused() {
  return WithReason(
      absl::FailedPreconditionError("idempotency_key: was already used for a different request"),
      ErrorReason::kIdempotencyKeyReused);
}

crypto::Blake2b256 Digest(const crypto::CanonicalEncoder& encoder) {
  crypto::Blake2bHasher hasher;
  hasher.Update(encoder.bytes());
  return hasher.Finish();
}

// The digests below encode which of a request's alternatives was given by the numbers
// that tag them in the v1 messages (the field numbers of the oneof members, the
// DeletionMode values), timestamps and durations as their seconds and nanoseconds:
// idempotency records outlive a restart, so a retry must hash to the bytes its first
// attempt recorded.
constexpr std::uint8_t kNoneGiven = 0;
constexpr std::uint8_t kExpectedVersionGiven = 5;
constexpr std::uint8_t kMustNotExistGiven = 6;
constexpr std::uint8_t kExpireTimeGiven = 8;
constexpr std::uint8_t kTtlGiven = 9;
constexpr std::uint32_t kNoDeletionModeGiven = 0;
constexpr std::uint32_t kSoftDeletionGiven = 1;
constexpr std::uint32_t kErasureGiven = 2;

// `time` as whole seconds since the epoch and the nanoseconds past them.
void AddTimestamp(crypto::CanonicalEncoder& encoder, absl::Time time) {
  const std::int64_t seconds = absl::ToUnixSeconds(time);
  encoder.AddU64(static_cast<std::uint64_t>(seconds));
  encoder.AddU32(
      static_cast<std::uint32_t>(absl::ToInt64Nanoseconds(time - absl::FromUnixSeconds(seconds))));
}

// `duration` as whole seconds and the nanoseconds past them, both of its sign.
void AddDuration(crypto::CanonicalEncoder& encoder, absl::Duration duration) {
  const std::int64_t seconds = absl::ToInt64Seconds(duration);
  encoder.AddU64(static_cast<std::uint64_t>(seconds));
  encoder.AddU32(
      static_cast<std::uint32_t>(absl::ToInt64Nanoseconds(duration - absl::Seconds(seconds))));
}

// The digest that tells a retried Put from a different Put under the same idempotency
// key. It covers everything in the request but the secret: anything computed from the
// secret and readable by the write tier would let a compromise of that tier test guesses
// offline (docs/security-model.md). A key reused for another secret with otherwise equal
// fields is taken for a retry and answered with the first result.
crypto::Blake2b256 PutDigest(const CallContext& call, const PutCredentialParams& params) {
  crypto::CanonicalEncoder encoder(kIdempotencyDomain);
  encoder.AddString("PutCredential");
  encoder.AddString(call.principal);
  encoder.AddString(params.org_id);
  encoder.AddString(params.name);
  encoder.AddU32(static_cast<std::uint32_t>(params.labels.size()));
  for (const auto& [key, value] : params.labels) {
    encoder.AddString(key);
    encoder.AddString(value);
  }
  if (params.expected_version.has_value()) {
    encoder.AddU8(kExpectedVersionGiven);
    encoder.AddU64(*params.expected_version);
    encoder.AddU8(0);
  } else if (params.must_not_exist.has_value()) {
    encoder.AddU8(kMustNotExistGiven);
    encoder.AddU64(0);
    encoder.AddU8(*params.must_not_exist ? 1 : 0);
  } else {
    encoder.AddU8(kNoneGiven);
    encoder.AddU64(0);
    encoder.AddU8(0);
  }
  if (params.expire_time.has_value()) {
    encoder.AddU8(kExpireTimeGiven);
    AddTimestamp(encoder, *params.expire_time);
    AddDuration(encoder, absl::ZeroDuration());
  } else if (params.ttl.has_value()) {
    encoder.AddU8(kTtlGiven);
    AddTimestamp(encoder, absl::UnixEpoch());
    AddDuration(encoder, *params.ttl);
  } else {
    encoder.AddU8(kNoneGiven);
    AddTimestamp(encoder, absl::UnixEpoch());
    AddDuration(encoder, absl::ZeroDuration());
  }
  encoder.AddU8(params.max_versions.has_value() ? 1 : 0);
  encoder.AddU32(params.max_versions.value_or(0));
  return Digest(encoder);
}

std::uint32_t DeletionModeTag(const std::optional<storage::DeleteMode>& mode) {
  if (!mode.has_value()) return kNoDeletionModeGiven;
  switch (*mode) {
    case storage::DeleteMode::kSoftDelete:
      return kSoftDeletionGiven;
    case storage::DeleteMode::kCryptoErase:
      return kErasureGiven;
  }
  return kNoDeletionModeGiven;
}

crypto::Blake2b256 DeleteDigest(const CallContext& call, const DeleteCredentialParams& params) {
  crypto::CanonicalEncoder encoder(kIdempotencyDomain);
  encoder.AddString("DeleteCredential");
  encoder.AddString(call.principal);
  encoder.AddString(params.org_id);
  encoder.AddString(params.name);
  encoder.AddU32(DeletionModeTag(params.mode));
  encoder.AddU8(params.expected_version.has_value() ? 1 : 0);
  encoder.AddU64(params.expected_version.value_or(0));
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
absl::Status ValidatePutFields(const PutCredentialParams& params, std::size_t max_secret_size) {
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", params.org_id));
  CV_RETURN_IF_ERROR(ValidateCredentialName("name", params.name));
  CV_RETURN_IF_ERROR(ValidateSecretSize("secret", params.secret.size(), max_secret_size));
  CV_RETURN_IF_ERROR(ValidateLabels("labels", params.labels));
  return ValidateIdempotencyKey("idempotency_key", params.idempotency_key);
}

// The precondition as storage takes it: nullopt = none, 0 = must not exist, n = version n.
absl::StatusOr<std::optional<std::int64_t>> ExpectedLiveVersion(const PutCredentialParams& params) {
  if (params.expected_version.has_value()) {
    CV_RETURN_IF_ERROR(ValidateExpectedVersion("expected_version", *params.expected_version));
    return static_cast<std::int64_t>(*params.expected_version);
  }
  if (params.must_not_exist.has_value()) {
    CV_RETURN_IF_ERROR(ValidateMustNotExist("must_not_exist", *params.must_not_exist));
    return std::int64_t{0};
  }
  return std::nullopt;
}

// When the new version expires, as of `now`, if ever.
absl::StatusOr<std::optional<absl::Time>> ExpiresAt(const PutCredentialParams& params,
                                                    absl::Time now) {
  if (params.expire_time.has_value()) {
    // Microseconds are what the database keeps; finer digits are truncated (common.proto).
    const absl::Time expire_time = absl::FromUnixMicros(absl::ToUnixMicros(*params.expire_time));
    CV_RETURN_IF_ERROR(ValidateExpireTime("expire_time", expire_time, now));
    return expire_time;
  }
  if (params.ttl.has_value()) {
    CV_RETURN_IF_ERROR(ValidateTtl("ttl", *params.ttl, now));
    return now + *params.ttl;
  }
  return std::nullopt;
}

// Step 1 of a Put: the request checked and turned into what storage writes, all but the
// version guess and the envelope (sealed for that guess in step 2).
absl::StatusOr<storage::PutCall> ValidatedPutCall(const CallContext& call,
                                                  const PutCredentialParams& params, absl::Time now,
                                                  std::size_t max_secret_size) {
  CV_RETURN_IF_ERROR(ValidatePutFields(params, max_secret_size));
  storage::PutCall put;
  CV_ASSIGN_OR_RETURN(put.expected_live_version, ExpectedLiveVersion(params));
  CV_ASSIGN_OR_RETURN(put.content.expires_at, ExpiresAt(params, now));
  if (params.max_versions.has_value()) {
    CV_RETURN_IF_ERROR(ValidateMaxVersions("max_versions", *params.max_versions));
    put.content.max_versions = static_cast<std::int32_t>(*params.max_versions);
  }
  put.name = params.name;
  put.content.labels = params.labels;
  put.content.created_by = call.principal;
  put.content.request_id = call.request_id;
  if (!params.idempotency_key.empty()) {
    const crypto::Blake2b256 digest = PutDigest(call, params);
    put.content.idempotency_key = IdempotencyStorageKey("PutCredential", params.idempotency_key);
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

CredentialMetadata CredentialHandler::MetadataOf(const storage::CredentialMetadata& stored) const {
  return DescribeStoredVersion(stored, options_.soft_delete_retention);
}

absl::StatusOr<bool> CredentialHandler::ReplayIfRetried(storage::Transaction& tx,
                                                        const std::string& idempotency_key,
                                                        const crypto::Blake2b256& digest,
                                                        const std::string& name,
                                                        DeleteCredentialResult& result) const {
  CV_ASSIGN_OR_RETURN(const std::optional<std::int64_t> earlier,
                      CheckIdempotency(idempotency_, tx, idempotency_key, digest));
  if (!earlier) return false;
  CV_ASSIGN_OR_RETURN(const storage::CredentialMetadata stored,
                      credentials_.GetMetadata(tx, name, *earlier, true));
  result.credential = MetadataOf(stored);
  result.idempotent_replay = true;
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
          return WithReason(checked.status(), ErrorReason::kIntegrityFailure);
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
  PutCredentialResult result;
  absl::Status race_lost;
};

absl::StatusOr<PutCredentialResult> CredentialHandler::Put(
    const CallContext& call, const PutCredentialParams& params) const {
  const std::shared_ptr<const WriteTierKeys> keys = keys_.Get();
  CV_ASSIGN_OR_RETURN(storage::PutCall put,
                      ValidatedPutCall(call, params, clock_(), options_.max_secret_size));
  absl::StatusOr<PutRound> round = SealAndStore(call, params, keys, put);
  // The write tier cannot make or sign an org key: a first Put, or the first Put since the
  // upgrade that signs org key records, asks the key authority, then runs again.
  const bool unsigned_key = round.status().GetPayload(kUnsignedOrgKeyPayload).has_value();
  if (unsigned_key || (ReasonOf(round.status()) == ErrorReason::kOrgNotFound &&
                       options_.provision_orgs_on_first_put)) {
    if (key_authority_ == nullptr) {
      if (unsigned_key) return round.status();
      return WithReason(
          absl::NotFoundError("org " + params.org_id +
                              " does not exist; this write-only process cannot provision it: "
                              "create it with AdminService.CreateOrg"),
          ErrorReason::kOrgNotFound);
    }
    CV_RETURN_IF_ERROR(
        key_authority_->ProvisionOrg(call, params.org_id, keys->root_pins.versions()));
    round = SealAndStore(call, params, keys, put);
  }
  // Two twins with one idempotency key race on its unique key: the loser runs again and
  // finds the winner's result.
  if (round.ok() && !round->race_lost.ok()) round = SealAndStore(call, params, keys, put);
  CV_RETURN_IF_ERROR(round.status());
  CV_RETURN_IF_ERROR(round->race_lost);
  return std::move(round->result);
}

absl::StatusOr<CredentialHandler::PutRound> CredentialHandler::SealAndStore(
    const CallContext& call, const PutCredentialParams& params,
    const std::shared_ptr<const WriteTierKeys>& keys, storage::PutCall& put) const {
  // One database call when the hints are right: the envelope is sealed for the guessed
  // version to the guessed key, and the database checks both under the name's lock.
  for (int call_number = 1;; ++call_number) {
    CV_RETURN_IF_ERROR(Seal(call, params, keys, put));
    const absl::Time started = absl::Now();
    CV_ASSIGN_OR_RETURN(const storage::PutCallResult result,
                        credentials_.Put(pool_, params.org_id, call.deadline, put));
    CV_ASSIGN_OR_RETURN(std::optional<PutRound> round, Answer(params, put, result, started));
    if (round.has_value()) return *std::move(round);
    // Each wrong guess was corrected by what the database said; only writers racing on
    // the same name, or rotations in a loop, get here repeatedly.
    if (call_number >= kMaxPutCalls) {
      return absl::AbortedError(
          "the credential kept changing while this Put was sealed; retry with backoff");
    }
  }
}

absl::Status CredentialHandler::Seal(const CallContext& call, const PutCredentialParams& params,
                                     const std::shared_ptr<const WriteTierKeys>& keys,
                                     storage::PutCall& put) const {
  CV_ASSIGN_OR_RETURN(const crypto::VerifiedOrgPublicKey org_key,
                      ActiveOrgKey(call, params.org_id, keys));
  put.version = hints_.NextVersion(params.org_id, params.name);
  CV_ASSIGN_OR_RETURN(
      put.content.envelope,
      crypto::BuildEnvelope({params.org_id, params.name, static_cast<std::uint64_t>(put.version)},
                            org_key, keys->writer_keys, params.secret, options_.max_secret_size));
  put.content.org_key_version = static_cast<std::int32_t>(org_key.key_version());
  put.org_public_key.assign(org_key.public_key().begin(), org_key.public_key().end());
  put.content.writer_key_version = static_cast<std::int32_t>(keys->writer_keys.current_version());
  return absl::OkStatus();
}

absl::StatusOr<std::optional<CredentialHandler::PutRound>> CredentialHandler::Answer(
    const PutCredentialParams& params, const storage::PutCall& put,
    const storage::PutCallResult& result, absl::Time started) const {
  const std::string& org_id = params.org_id;
  PutRound round;
  switch (result.outcome) {
    case storage::PutOutcome::kDone:
      ObserveAuditAppend(started);
      hints_.SetNextVersion(org_id, params.name, put.version + 1);
      round.result.credential = MetadataOf(*result.metadata);
      return round;
    case storage::PutOutcome::kReplay:
      round.result = ReplayedPut(result);
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
      hints_.SetNextVersion(org_id, params.name, result.version);
      return std::nullopt;
    case storage::PutOutcome::kKeyChanged:
      hints_.ForgetActiveKey(org_id);
      return std::nullopt;
  }
  return absl::InternalError("credentials.put: unknown outcome");
}

PutCredentialResult CredentialHandler::ReplayedPut(const storage::PutCallResult& result) const {
  PutCredentialResult replayed;
  replayed.credential = MetadataOf(*result.metadata);
  replayed.idempotent_replay = true;
  return replayed;
}

void CredentialHandler::ObserveAuditAppend(absl::Time started) const {
  // The put function appended the credential.put event in the call that began at `started`.
  if (options_.on_audit_append) options_.on_audit_append(absl::Now() - started);
}

absl::StatusOr<DeleteCredentialResult> CredentialHandler::Delete(
    const CallContext& call, const DeleteCredentialParams& params) const {
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", params.org_id));
  CV_RETURN_IF_ERROR(ValidateCredentialName("name", params.name));
  CV_RETURN_IF_ERROR(ValidateIdempotencyKey("idempotency_key", params.idempotency_key));
  if (params.expected_version.has_value()) {
    CV_RETURN_IF_ERROR(ValidateVersion("expected_version", *params.expected_version));
  }
  const bool erase = params.mode == storage::DeleteMode::kCryptoErase;
  const std::string idempotency_key =
      IdempotencyStorageKey("DeleteCredential", params.idempotency_key);
  const std::optional<crypto::Blake2b256> digest =
      params.idempotency_key.empty()
          ? std::nullopt
          : std::optional<crypto::Blake2b256>(DeleteDigest(call, params));

  DeleteCredentialResult result;
  CV_RETURN_IF_ERROR(
      pool_.Run(params.org_id, call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        result = DeleteCredentialResult{};
        CV_RETURN_IF_ERROR(RequireActiveOrg(orgs_, tx));
        if (digest) {
          CV_ASSIGN_OR_RETURN(const bool replayed,
                              ReplayIfRetried(tx, idempotency_key, *digest, params.name, result));
          if (replayed) return absl::OkStatus();
        }
        // Erase mode may finish what a soft delete began.
        storage::DeleteRequest deletion;
        deletion.name = params.name;
        deletion.mode =
            erase ? storage::DeleteMode::kCryptoErase : storage::DeleteMode::kSoftDelete;
        if (params.expected_version.has_value()) {
          deletion.expected_version = static_cast<std::int64_t>(*params.expected_version);
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
                absl::NotFoundError("credential " + params.name + " is already deleted"),
                ErrorReason::kCredentialNotFound);
          case storage::DeleteOutcome::kVersionMismatch:
            return WithReason(absl::AbortedError("expected_version: the current version is " +
                                                 std::to_string(deleted.version)),
                              ErrorReason::kVersionMismatch);
        }
        const std::size_t affected = deleted.affected_version_count;
        CV_ASSIGN_OR_RETURN(const storage::CredentialMetadata stored,
                            credentials_.GetMetadata(tx, params.name, deleted.version, true));
        result.credential = MetadataOf(stored);
        result.affected_version_count = static_cast<std::uint32_t>(affected);
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<DescribeCredentialResult> CredentialHandler::Describe(
    const CallContext& call, const DescribeCredentialParams& params) const {
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", params.org_id));
  CV_RETURN_IF_ERROR(ValidateCredentialName("name", params.name));
  if (params.version.has_value()) CV_RETURN_IF_ERROR(ValidateVersion("version", *params.version));
  DescribeCredentialResult result;
  CV_RETURN_IF_ERROR(
      pool_.Run(params.org_id, call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        CV_RETURN_IF_ERROR(RequireActiveOrg(orgs_, tx));
        const std::optional<std::int64_t> version =
            params.version.has_value() ? std::optional<std::int64_t>(*params.version)
                                       : std::nullopt;
        CV_ASSIGN_OR_RETURN(
            const std::optional<storage::CredentialMetadata> stored,
            credentials_.FindMetadata(tx, params.name, version, params.show_deleted));
        if (!stored.has_value()) return CredentialNotFound("describe");
        result.credential = MetadataOf(*stored);
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<ListCredentialsResult> CredentialHandler::List(
    const CallContext& call, const ListCredentialsParams& params) const {
  const std::shared_ptr<const WriteTierKeys> keys = keys_.Get();
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", params.org_id));
  CV_RETURN_IF_ERROR(ValidateNamePrefix("name_prefix", params.name_prefix));
  CV_RETURN_IF_ERROR(ValidateLabels("label_selector", params.label_selector));
  int page_size = 0;
  CV_RETURN_IF_ERROR(NormalizePageSize("page_size", params.page_size, page_size));
  PageQuery query("ListCredentials");
  query.Add(params.org_id)
      .Add(params.name_prefix)
      .Add(params.label_selector)
      .Add(std::uint64_t{params.include_deleted});
  std::string after;
  if (!params.page_token.empty()) {
    CV_ASSIGN_OR_RETURN(after,
                        DecodePageToken(keys->writer_keys, query, "page_token", params.page_token));
  }
  ListCredentialsResult result;
  CV_RETURN_IF_ERROR(
      pool_.Run(params.org_id, call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        result = ListCredentialsResult{};
        CV_RETURN_IF_ERROR(RequireActiveOrg(orgs_, tx));
        storage::ListQuery list;
        list.name_prefix = params.name_prefix;
        list.label_filter = params.label_selector;
        list.page_size = static_cast<std::size_t>(page_size);
        list.page_after = after;
        list.include_deleted = params.include_deleted;
        CV_ASSIGN_OR_RETURN(const storage::ListPage page, credentials_.List(tx, list));
        result.credentials.reserve(page.items.size());
        for (const storage::CredentialMetadata& stored : page.items) {
          result.credentials.push_back(MetadataOf(stored));
        }
        if (page.next_page_after) {
          result.next_page_token = EncodePageToken(keys->writer_keys, query, *page.next_page_after);
        }
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<CompareCredentialResult> CredentialHandler::Compare(
    const CallContext& call, const CompareCredentialParams& params) const {
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", params.org_id));
  CV_RETURN_IF_ERROR(ValidateCredentialName("name", params.name));
  if (params.version.has_value()) CV_RETURN_IF_ERROR(ValidateVersion("version", *params.version));
  CV_RETURN_IF_ERROR(
      ValidateSecretSize("candidate", params.candidate.size(), options_.max_secret_size));
  // Only the key authority can answer: nothing the write tier holds is derived from a
  // stored secret (docs/security-model.md).
  if (key_authority_ == nullptr) {
    return absl::UnavailableError(
        "CompareCredential: this write-only process has no key authority to ask; call it on a "
        "process that runs the decrypt tier");
  }
  return key_authority_->Compare(call, params);
}

}  // namespace credvault::server

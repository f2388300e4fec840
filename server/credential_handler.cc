#include "server/credential_handler.h"

#include <map>
#include <optional>
#include <string>

#include "common/status_macros.h"
#include "crypto/canonical_encoding.h"
#include "crypto/envelope.h"
#include "crypto/fingerprint.h"
#include "crypto/org_key.h"
#include "server/api_validation.h"
#include "server/error_reason.h"
#include "server/json_log.h"
#include "server/metadata_conversion.h"
#include "server/org_key_records.h"
#include "server/page_token.h"
#include "server/status_name.h"

namespace credvault::server {
namespace {

namespace v1 = ::credvault::v1;

constexpr std::string_view kIdempotencyDomain = "credvault.idempotency.v1";
// Far enough for any credential; the database and protobuf timestamps both reach it.
const absl::Time kLatestExpiry =
    absl::FromCivil(absl::CivilSecond(9999, 12, 31, 23, 59, 59), absl::UTCTimeZone());

crypto::SecretView SecretOf(const std::string& bytes) { return crypto::SecretView::Borrow(bytes); }

absl::Status Invalid(const std::string& message) {
  return WithReason(absl::InvalidArgumentError(message), v1::ERROR_REASON_INVALID_FIELD);
}

// Adds the API's error reason to what storage reports for a credential.
absl::Status ExplainCredentialError(absl::Status status) {
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return WithReason(std::move(status), v1::ERROR_REASON_CREDENTIAL_NOT_FOUND);
    case absl::StatusCode::kAlreadyExists:
      return WithReason(std::move(status), v1::ERROR_REASON_CREDENTIAL_EXISTS);
    case absl::StatusCode::kAborted:
      return WithReason(std::move(status), v1::ERROR_REASON_VERSION_MISMATCH);
    case absl::StatusCode::kFailedPrecondition:
      return WithReason(std::move(status), v1::ERROR_REASON_ORG_DESTROYED);
    default:
      return status;
  }
}

// Orgs are checked first in every read, so that a destroyed org answers the same way
// whatever the credential, and a missing org is told apart from a missing credential.
absl::Status CheckOrgActive(const storage::OrgStore& orgs, storage::Transaction& tx) {
  absl::StatusOr<storage::Org> org = orgs.GetOrg(tx);
  if (!org.ok()) {
    if (org.status().code() == absl::StatusCode::kNotFound) {
      return WithReason(absl::NotFoundError("org " + tx.org_id() + " does not exist"),
                        v1::ERROR_REASON_ORG_NOT_FOUND);
    }
    return org.status();
  }
  if (org->state == storage::OrgState::kDestroyed) {
    return WithReason(absl::FailedPreconditionError("org " + tx.org_id() + " is destroyed"),
                      v1::ERROR_REASON_ORG_DESTROYED);
  }
  return absl::OkStatus();
}

storage::NewAuditEvent Event(const CallContext& call, std::string action, std::string target,
                             std::string result, std::string details) {
  return storage::NewAuditEvent{call.principal,    std::move(action), std::move(target),
                                std::move(result), call.request_id,   std::move(details)};
}

std::map<std::string, std::string> SortedLabels(
    const google::protobuf::Map<std::string, std::string>& labels) {
  return {labels.begin(), labels.end()};
}

// The keyed digest that tells a retried Put from a different Put under the same
// idempotency key. Keyed, because it covers the secret.
crypto::WriterTag PutDigest(const crypto::WriterKeyRing& keys, const CallContext& call,
                            const v1::PutCredentialRequest& request) {
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
  encoder.AddU64(request.secret().size());
  const auto secret = SecretOf(request.secret()).RevealSecret();
  return crypto::AuthenticateWithCurrentKey(keys, {encoder.bytes(), secret});
}

crypto::WriterTag DeleteDigest(const crypto::WriterKeyRing& keys, const CallContext& call,
                               const v1::DeleteCredentialRequest& request) {
  crypto::CanonicalEncoder encoder(kIdempotencyDomain);
  encoder.AddString("DeleteCredential");
  encoder.AddString(call.principal);
  encoder.AddString(request.org_id());
  encoder.AddString(request.name());
  encoder.AddU32(static_cast<std::uint32_t>(request.mode()));
  encoder.AddU8(request.has_expected_version() ? 1 : 0);
  encoder.AddU64(request.expected_version());
  return crypto::AuthenticateWithCurrentKey(keys, {encoder.bytes()});
}

// Looks up an idempotency key: nullopt when unused, the earlier result version when this
// is a retry of the same request, FAILED_PRECONDITION when the key served another request.
absl::StatusOr<std::optional<std::int64_t>> CheckIdempotency(const storage::IdempotencyStore& store,
                                                             storage::Transaction& tx,
                                                             const std::string& key,
                                                             const crypto::WriterTag& digest) {
  CV_ASSIGN_OR_RETURN(const std::optional<storage::IdempotencyRecord> record,
                      store.Lookup(tx, key));
  if (!record) return std::nullopt;
  const bool same = record->request_hash.size() == digest.mac.size() &&
                    std::equal(digest.mac.begin(), digest.mac.end(), record->request_hash.begin());
  if (!same) {
    return WithReason(
        absl::FailedPreconditionError("idempotency_key: was already used for a different request"),
        v1::ERROR_REASON_IDEMPOTENCY_KEY_REUSED);
  }
  return record->result_version;
}

std::string IdempotencyStorageKey(std::string_view method, const std::string& key) {
  return std::string(method) + ":" + key;
}

}  // namespace

CredentialHandler::CredentialHandler(storage::ConnectionPool& writer_pool,
                                     const Reloadable<WriteTierKeys>& keys,
                                     RateLimiter& compare_limiter, CredentialHandlerOptions options,
                                     Clock clock)
    : pool_(writer_pool),
      keys_(keys),
      compare_limiter_(compare_limiter),
      options_(options),
      clock_(std::move(clock)),
      audit_(clock_, options_.on_audit_append) {}

template <typename Response>
absl::StatusOr<bool> CredentialHandler::ReplayIfRetried(storage::Transaction& tx,
                                                        const std::string& idempotency_key,
                                                        const crypto::WriterTag& digest,
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
    storage::Transaction& tx) const {
  const std::shared_ptr<const WriteTierKeys> keys = keys_.Get();
  CV_ASSIGN_OR_RETURN(const storage::OrgKey key, orgs_.GetActiveOrgKey(tx));
  CV_ASSIGN_OR_RETURN(const crypto::OrgKeyRecord record, ToOrgKeyRecord(key, {}));
  absl::StatusOr<crypto::VerifiedOrgPublicKey> verified =
      crypto::VerifyOrgKeyRecord(record, keys->writer_keys);
  if (!verified.ok()) {
    return WithReason(verified.status(), v1::ERROR_REASON_INTEGRITY_FAILURE);
  }
  return verified;
}

absl::Status CredentialHandler::ProvisionOrg(storage::Transaction& tx,
                                             const CallContext& call) const {
  const std::shared_ptr<const WriteTierKeys> keys = keys_.Get();
  CV_ASSIGN_OR_RETURN(const std::vector<storage::RootKey> roots, root_keys_.List(tx));
  if (roots.empty()) {
    return absl::FailedPreconditionError(
        "no root key exists yet; run `credvaultd init-root-key` on the decrypt tier");
  }
  // The ACTIVE root key when it is pinned. Right after a root rotation, until the new
  // root's pin is configured and reloaded, the newest pinned one instead: its private half
  // is kept, so the org works, and the next root rotation moves it.
  std::optional<crypto::PinnedRootPublicKey> pinned;
  absl::Status refused;
  std::vector<const storage::RootKey*> candidates;
  for (const storage::RootKey& root : roots) {
    if (root.state == storage::RootKeyState::kActive) candidates.insert(candidates.begin(), &root);
  }
  for (auto it = roots.rbegin(); it != roots.rend(); ++it) {
    if (it->state != storage::RootKeyState::kActive) candidates.push_back(&*it);
  }
  for (const storage::RootKey* root : candidates) {
    if (root->public_key.size() != crypto::kX25519KeySize) continue;
    crypto::X25519PublicKey root_public;
    std::copy(root->public_key.begin(), root->public_key.end(), root_public.begin());
    absl::StatusOr<crypto::PinnedRootPublicKey> candidate =
        keys->root_pins.Pin(static_cast<std::uint32_t>(root->version), root_public);
    if (candidate.ok()) {
      pinned.emplace(*candidate);
      if (root != candidates.front()) {
        LogWarning("the active root key is not pinned; new orgs use an older pinned root key",
                   {{"active_root_key_version", std::to_string(candidates.front()->version)},
                    {"used_root_key_version", std::to_string(root->version)}});
      }
      break;
    }
    if (refused.ok()) refused = candidate.status();
  }
  if (!pinned)
    return refused.ok() ? absl::FailedPreconditionError("no root key is pinned") : refused;
  CV_ASSIGN_OR_RETURN(const crypto::OrgKeyRecord record,
                      crypto::CreateOrgKey(tx.org_id(), 1, *pinned, keys->writer_keys));
  CV_RETURN_IF_ERROR(orgs_.CreateOrg(tx, ToNewOrgKey(record)));
  return audit_
      .Append(tx, Event(call, "org.provision", "", "ok",
                        "org key version 1, root key version " +
                            std::to_string(record.root_key_version)))
      .status();
}

absl::StatusOr<v1::PutCredentialResponse> CredentialHandler::Put(
    const CallContext& call, const v1::PutCredentialRequest& request) const {
  const std::shared_ptr<const WriteTierKeys> keys = keys_.Get();
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", request.org_id()));
  CV_RETURN_IF_ERROR(ValidateCredentialName("name", request.name()));
  CV_RETURN_IF_ERROR(
      ValidateSecretSize("secret", request.secret().size(), options_.max_secret_size));
  CV_RETURN_IF_ERROR(ValidateLabels("labels", request.labels()));
  CV_RETURN_IF_ERROR(ValidateIdempotencyKey("idempotency_key", request.idempotency_key()));

  std::optional<std::int64_t> expected_live_version;
  switch (request.precondition_case()) {
    case v1::PutCredentialRequest::kExpectedVersion:
      if (request.expected_version() == 0) {
        return Invalid("expected_version: must be at least 1 (use must_not_exist for none)");
      }
      expected_live_version = static_cast<std::int64_t>(request.expected_version());
      break;
    case v1::PutCredentialRequest::kMustNotExist:
      if (!request.must_not_exist()) return Invalid("must_not_exist: if set, must be true");
      expected_live_version = 0;
      break;
    case v1::PutCredentialRequest::PRECONDITION_NOT_SET:
      break;
  }
  const absl::Time now = clock_();
  std::optional<absl::Time> expires_at;
  switch (request.expiration_case()) {
    case v1::PutCredentialRequest::kExpireTime:
      expires_at = FromTimestamp(request.expire_time());
      if (*expires_at <= now) return Invalid("expire_time: must be in the future");
      if (*expires_at > kLatestExpiry) return Invalid("expire_time: must not be after 9999-12-31");
      break;
    case v1::PutCredentialRequest::kTtl: {
      const absl::Duration ttl =
          absl::Seconds(request.ttl().seconds()) + absl::Nanoseconds(request.ttl().nanos());
      if (ttl < absl::Seconds(1)) return Invalid("ttl: must be at least 1s");
      if (now + ttl > kLatestExpiry) return Invalid("ttl: ends after 9999-12-31");
      expires_at = now + ttl;
      break;
    }
    case v1::PutCredentialRequest::EXPIRATION_NOT_SET:
      break;
  }
  if (request.has_max_versions() && request.max_versions() > kMaxMaxVersions) {
    return Invalid("max_versions: must be 0 (unlimited) or 1-100");
  }

  const crypto::SecretView secret = SecretOf(request.secret());
  const crypto::Fingerprint fingerprint =
      crypto::ComputeFingerprint(keys->writer_keys, request.org_id(), request.name(), secret);
  const std::string idempotency_key =
      IdempotencyStorageKey("PutCredential", request.idempotency_key());
  const std::optional<crypto::WriterTag> digest =
      request.idempotency_key().empty()
          ? std::nullopt
          : std::optional<crypto::WriterTag>(PutDigest(keys->writer_keys, call, request));

  v1::PutCredentialResponse response;
  const auto put = [&](storage::Transaction& tx) -> absl::Status {
    response.Clear();
    if (digest) {
      CV_ASSIGN_OR_RETURN(const bool replayed,
                          ReplayIfRetried(tx, idempotency_key, *digest, request.name(), response));
      if (replayed) return absl::OkStatus();
    }
    absl::StatusOr<storage::PutPlan> plan =
        credentials_.PreparePut(tx, request.name(), expected_live_version);
    if (plan.status().code() == absl::StatusCode::kNotFound &&
        options_.provision_orgs_on_first_put) {
      CV_RETURN_IF_ERROR(ProvisionOrg(tx, call));
      plan = credentials_.PreparePut(tx, request.name(), expected_live_version);
    }
    if (!plan.ok()) {
      switch (plan.status().code()) {
        case absl::StatusCode::kNotFound:
          return WithReason(plan.status(), v1::ERROR_REASON_ORG_NOT_FOUND);
        case absl::StatusCode::kAborted:
          return ExplainCredentialError(
              absl::AbortedError("expected_version: " + std::string(plan.status().message())));
        case absl::StatusCode::kAlreadyExists:
          return ExplainCredentialError(
              absl::AlreadyExistsError("must_not_exist: " + std::string(plan.status().message())));
        default:
          return ExplainCredentialError(plan.status());
      }
    }
    CV_ASSIGN_OR_RETURN(const crypto::VerifiedOrgPublicKey org_key, ActiveOrgKey(tx));
    CV_ASSIGN_OR_RETURN(
        std::vector<std::uint8_t> envelope,
        crypto::BuildEnvelope(
            {request.org_id(), request.name(), static_cast<std::uint64_t>(plan->version)}, org_key,
            keys->writer_keys, secret, options_.max_secret_size));
    storage::NewCredentialVersion version;
    version.envelope = std::move(envelope);
    version.org_key_version = static_cast<std::int32_t>(org_key.key_version());
    version.writer_key_version = static_cast<std::int32_t>(keys->writer_keys.current_version());
    version.fingerprint.assign(fingerprint.mac.begin(), fingerprint.mac.end());
    version.fingerprint_key_version = static_cast<std::int32_t>(fingerprint.key_version);
    for (const auto& [key, value] : request.labels()) version.labels[key] = value;
    version.created_by = call.principal;
    version.expires_at = expires_at;
    if (request.has_max_versions()) {
      version.max_versions = static_cast<std::int32_t>(request.max_versions());
    }
    CV_RETURN_IF_ERROR(credentials_.InsertVersion(tx, *plan, version));
    CV_ASSIGN_OR_RETURN(const std::size_t erased,
                        credentials_.EraseBeyondMaxVersions(tx, request.name()));
    if (digest) {
      CV_RETURN_IF_ERROR(idempotency_.Record(
          tx, idempotency_key, std::vector<std::uint8_t>(digest->mac.begin(), digest->mac.end()),
          request.name(), plan->version));
    }
    std::string details = "version " + std::to_string(plan->version);
    if (erased > 0) details += ", " + std::to_string(erased) + " old versions crypto-erased";
    CV_RETURN_IF_ERROR(
        audit_.Append(tx, Event(call, "credential.put", request.name(), "ok", details)).status());
    CV_ASSIGN_OR_RETURN(const storage::CredentialMetadata stored,
                        credentials_.GetMetadata(tx, request.name(), plan->version, false));
    *response.mutable_credential() = ToApiMetadata(stored, options_.soft_delete_retention);
    return absl::OkStatus();
  };

  absl::Status status = pool_.Run(request.org_id(), call.deadline, put);
  // Two first Puts into a new org, or two twins with one idempotency key, race on a unique
  // key: the loser runs again and finds the winner's org or result.
  if (status.code() == absl::StatusCode::kAlreadyExists &&
      ReasonOf(status) == v1::ERROR_REASON_UNSPECIFIED) {
    status = pool_.Run(request.org_id(), call.deadline, put);
  }
  CV_RETURN_IF_ERROR(status);
  return response;
}

absl::StatusOr<v1::DeleteCredentialResponse> CredentialHandler::Delete(
    const CallContext& call, const v1::DeleteCredentialRequest& request) const {
  const std::shared_ptr<const WriteTierKeys> keys = keys_.Get();
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", request.org_id()));
  CV_RETURN_IF_ERROR(ValidateCredentialName("name", request.name()));
  CV_RETURN_IF_ERROR(ValidateIdempotencyKey("idempotency_key", request.idempotency_key()));
  if (!v1::DeletionMode_IsValid(request.mode())) return Invalid("mode: unknown deletion mode");
  if (request.has_expected_version() && request.expected_version() == 0) {
    return Invalid("expected_version: must be at least 1");
  }
  const bool erase = request.mode() == v1::DELETION_MODE_ERASE;
  const std::string idempotency_key =
      IdempotencyStorageKey("DeleteCredential", request.idempotency_key());
  const std::optional<crypto::WriterTag> digest =
      request.idempotency_key().empty()
          ? std::nullopt
          : std::optional<crypto::WriterTag>(DeleteDigest(keys->writer_keys, call, request));

  v1::DeleteCredentialResponse response;
  CV_RETURN_IF_ERROR(
      pool_.Run(request.org_id(), call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        response.Clear();
        CV_RETURN_IF_ERROR(CheckOrgActive(orgs_, tx));
        if (digest) {
          CV_ASSIGN_OR_RETURN(const bool replayed, ReplayIfRetried(tx, idempotency_key, *digest,
                                                                   request.name(), response));
          if (replayed) return absl::OkStatus();
        }
        // The newest version in any state: erase mode may finish what a soft delete began.
        absl::StatusOr<storage::CredentialMetadata> newest =
            credentials_.GetMetadata(tx, request.name(), std::nullopt, true);
        if (!newest.ok()) return ExplainCredentialError(newest.status());
        if (request.has_expected_version() &&
            static_cast<std::uint64_t>(newest->version) != request.expected_version()) {
          return WithReason(absl::AbortedError("expected_version: the current version is " +
                                               std::to_string(newest->version)),
                            v1::ERROR_REASON_VERSION_MISMATCH);
        }
        std::size_t affected = 0;
        if (erase) {
          absl::StatusOr<std::size_t> erased = credentials_.CryptoErase(tx, request.name());
          if (!erased.ok()) return ExplainCredentialError(erased.status());
          affected = *erased;
        } else {
          if (newest->deleted_at) {
            return WithReason(
                absl::NotFoundError("credential " + request.name() + " is already deleted"),
                v1::ERROR_REASON_CREDENTIAL_NOT_FOUND);
          }
          affected = static_cast<std::size_t>(newest->live_version_count);
          absl::StatusOr<std::int64_t> deleted = credentials_.SoftDelete(tx, request.name());
          if (!deleted.ok()) return ExplainCredentialError(deleted.status());
        }
        if (digest) {
          CV_RETURN_IF_ERROR(
              idempotency_.Record(tx, idempotency_key,
                                  std::vector<std::uint8_t>(digest->mac.begin(), digest->mac.end()),
                                  request.name(), newest->version));
        }
        CV_RETURN_IF_ERROR(
            audit_
                .Append(tx, Event(call, erase ? "credential.erase" : "credential.delete",
                                  request.name(), "ok", std::to_string(affected) + " versions"))
                .status());
        CV_ASSIGN_OR_RETURN(const storage::CredentialMetadata stored,
                            credentials_.GetMetadata(tx, request.name(), newest->version, true));
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
  if (request.has_version() && request.version() == 0)
    return Invalid("version: must be at least 1");
  v1::DescribeCredentialResponse response;
  CV_RETURN_IF_ERROR(
      pool_.Run(request.org_id(), call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        CV_RETURN_IF_ERROR(CheckOrgActive(orgs_, tx));
        const std::optional<std::int64_t> version =
            request.has_version() ? std::optional<std::int64_t>(request.version()) : std::nullopt;
        absl::StatusOr<storage::CredentialMetadata> stored =
            credentials_.GetMetadata(tx, request.name(), version, request.show_deleted());
        if (!stored.ok()) return ExplainCredentialError(stored.status());
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
        CV_RETURN_IF_ERROR(CheckOrgActive(orgs_, tx));
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
  const std::shared_ptr<const WriteTierKeys> keys = keys_.Get();
  CV_RETURN_IF_ERROR(ValidateOrgId("org_id", request.org_id()));
  CV_RETURN_IF_ERROR(ValidateCredentialName("name", request.name()));
  if (request.has_version() && request.version() == 0)
    return Invalid("version: must be at least 1");
  CV_RETURN_IF_ERROR(
      ValidateSecretSize("candidate", request.candidate().size(), options_.max_secret_size));
  // Refusals after validation are recorded like answers, so probing for a secret leaves
  // the same trail whether it is answered or turned away.
  const absl::Status admitted = compare_limiter_.Acquire(call.principal, "CompareCredential");
  v1::CompareCredentialResponse response;
  absl::Status refusal;
  CV_RETURN_IF_ERROR(
      pool_.Run(request.org_id(), call.deadline, [&](storage::Transaction& tx) -> absl::Status {
        response.Clear();
        refusal = absl::OkStatus();
        const auto refuse = [&](absl::Status why, const std::string& details) -> absl::Status {
          refusal = std::move(why);
          return audit_
              .Append(tx, Event(call, "credential.compare", request.name(),
                                StatusCodeName(refusal.code()), details))
              .status();
        };
        absl::Status active = CheckOrgActive(orgs_, tx);
        // A missing org has no audit chain to record in.
        if (absl::IsNotFound(active)) return admitted.ok() ? active : admitted;
        if (!active.ok() && !absl::IsFailedPrecondition(active)) return active;
        if (!admitted.ok()) return refuse(admitted, "");
        if (!active.ok()) return refuse(std::move(active), "");
        const std::optional<std::int64_t> version =
            request.has_version() ? std::optional<std::int64_t>(request.version()) : std::nullopt;
        absl::StatusOr<storage::CredentialMetadata> stored =
            credentials_.GetMetadata(tx, request.name(), version, false);
        if (!stored.ok()) {
          if (!absl::IsNotFound(stored.status())) return ExplainCredentialError(stored.status());
          return refuse(ExplainCredentialError(stored.status()), "");
        }
        const std::string version_detail = "version " + std::to_string(stored->version);
        if (!stored->fingerprint || stored->fingerprint->size() != crypto::kAuthenticatorSize) {
          return refuse(
              WithReason(absl::NotFoundError("credential " + request.name() + " " + version_detail +
                                             " has no fingerprint to compare"),
                         v1::ERROR_REASON_CREDENTIAL_NOT_FOUND),
              version_detail);
        }
        crypto::Fingerprint fingerprint;
        fingerprint.key_version = static_cast<std::uint32_t>(stored->fingerprint_key_version);
        std::copy(stored->fingerprint->begin(), stored->fingerprint->end(),
                  fingerprint.mac.begin());
        CV_ASSIGN_OR_RETURN(const bool match, crypto::FingerprintMatches(
                                                  keys->writer_keys, fingerprint, request.org_id(),
                                                  request.name(), SecretOf(request.candidate())));
        CV_RETURN_IF_ERROR(
            audit_
                .Append(tx, Event(call, "credential.compare", request.name(), "ok",
                                  version_detail + (match ? ", match" : ", no match")))
                .status());
        response.set_match(match);
        response.set_version(static_cast<std::uint64_t>(stored->version));
        response.set_fingerprint_key_version(fingerprint.key_version);
        return absl::OkStatus();
      }));
  if (!refusal.ok()) return refusal;
  return response;
}

}  // namespace credvault::server

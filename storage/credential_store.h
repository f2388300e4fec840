#ifndef CREDVAULT_STORAGE_CREDENTIAL_STORE_H_
#define CREDVAULT_STORAGE_CREDENTIAL_STORE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/pool.h"
#include "storage/transaction.h"

namespace credvault::storage {

// Label keys and values are stored verbatim (valid UTF-8, no NUL; see validation.h).
using Labels = std::map<std::string, std::string>;

// The metadata of one credential version: everything but the envelope.
struct CredentialMetadata {
  std::string org_id;
  std::string name;
  std::int64_t version = 0;
  std::int32_t org_key_version = 0;
  std::int32_t writer_key_version = 0;
  Labels labels;
  absl::Time created_at;
  std::string created_by;
  std::optional<absl::Time> expires_at;
  std::optional<absl::Time> deleted_at;
  bool erased = false;
  bool current = false;
  // The credential's retention limit (0: unlimited), its newest version number in any
  // state, and how many of its versions are live (neither deleted nor erased).
  std::int32_t max_versions = 0;
  std::int64_t current_version = 0;
  std::int64_t live_version_count = 0;
};

// Where a Put will land, decided under the credential's lock (see PreparePut).
struct PutPlan {
  std::string name;
  std::int64_t version = 0;                           // the version the Put creates
  std::optional<std::int64_t> replaced_live_version;  // the live version it replaces
};

// What PreparePut found under the credential's lock.
enum class PrepareOutcome {
  kPrepared,  // `plan` is where the Put lands
  kOrgNotFound,
  kOrgDestroyed,
  kNameTaken,        // nothing was to exist, but version `live_version` is live
  kVersionMismatch,  // another live version was expected than `live_version` (0: none)
};

struct PreparedPut {
  PrepareOutcome outcome = PrepareOutcome::kPrepared;
  PutPlan plan;                   // kPrepared only
  std::int64_t live_version = 0;  // kNameTaken and kVersionMismatch
};

struct NewCredentialVersion {
  std::vector<std::uint8_t> envelope;
  std::int32_t org_key_version = 0;
  std::int32_t writer_key_version = 0;
  Labels labels;
  std::string created_by;  // the principal, recorded in the audit event too
  std::optional<absl::Time> expires_at;
  // Versions kept when a newer one is written (0: unlimited); nullopt keeps the limit of
  // the version this one replaces.
  std::optional<std::int32_t> max_versions;
  // Set when the Put carried an idempotency key: recorded with the version it made, with
  // the digest of the request (which never covers the secret).
  std::optional<std::string> idempotency_key;
  std::vector<std::uint8_t> request_digest;
  std::string request_id;
};

struct PutResult {
  std::size_t erased_version_count = 0;  // older versions crypto-erased by max_versions
  std::uint64_t audit_seq = 0;           // the credential.put event
};

// A whole PutCredential, made in one call (CredentialStore::Put).
struct PutCall {
  std::string name;
  // The caller's guess of the version the Put creates, which the envelope is bound to.
  std::int64_t version = 0;
  // nullopt: create or replace; 0: must not exist; n: the live version must be n.
  std::optional<std::int64_t> expected_live_version;
  NewCredentialVersion content;
  // The org public key the envelope is sealed to (content.org_key_version's, as verified).
  std::vector<std::uint8_t> org_public_key;
};

enum class PutOutcome {
  kDone,
  kReplay,                // content.idempotency_key made `version` for this same request
  kIdempotencyKeyReused,  // ... for a different request
  kOrgNotFound,
  kOrgDestroyed,
  kPreconditionFailed,  // `version` is the live version (0: none)
  kVersionMoved,        // the guess was wrong: `version` is the next version
  // The envelope is not sealed to the active key, version `version` (0: none), as stored.
  kKeyChanged,
  // A concurrent Put with the same idempotency key committed first, and this one wrote
  // nothing: run again, and it finds that Put's result (kReplay).
  kRaceLost,
};

struct PutCallResult {
  PutOutcome outcome = PutOutcome::kDone;
  std::int64_t version = 0;
  std::size_t erased_version_count = 0;
  std::uint64_t audit_seq = 0;
  // kDone: the version made; kReplay: the version made before (in any state).
  std::optional<CredentialMetadata> metadata;
  // kRaceLost: the database's report of the conflict, for a caller that runs out of
  // attempts.
  absl::Status conflict;
};

enum class DeleteMode { kSoftDelete, kCryptoErase };

struct DeleteRequest {
  std::string name;
  DeleteMode mode = DeleteMode::kSoftDelete;
  std::optional<std::int64_t> expected_version;  // the newest version must be this one
  std::optional<std::string> idempotency_key;
  std::vector<std::uint8_t> request_digest;
  std::string principal;
  std::string request_id;
};

enum class DeleteOutcome {
  kDone,
  kNotFound,         // no version, or (erase) nothing left to erase
  kAlreadyDeleted,   // soft delete of a deleted credential
  kVersionMismatch,  // expected_version is not the newest version
};

struct DeleteResult {
  DeleteOutcome outcome = DeleteOutcome::kNotFound;
  std::int64_t version = 0;  // the newest version (0 when there is none)
  std::size_t affected_version_count = 0;
  std::uint64_t audit_seq = 0;  // the credential.delete / credential.erase event
};

struct ListQuery {
  std::string name_prefix;       // empty: every name
  Labels label_filter;           // every pair must be present
  std::size_t page_size = 100;   // 1..1000
  std::string page_after;        // keyset: names strictly after this one; empty: start
  bool include_deleted = false;  // also list credentials whose current version is deleted
};

struct ListPage {
  std::vector<CredentialMetadata> items;  // current, not deleted versions, ordered by name
  std::optional<std::string> next_page_after;
};

// The envelope of a credential version, for the decrypt role only.
struct EnvelopeRecord {
  CredentialMetadata metadata;
  std::vector<std::uint8_t> envelope;
  // Read in the same statement: the org's state ("ACTIVE", "DESTROYED") and the state of
  // the org key version the row names (empty when there is no such version).
  std::string org_state;
  std::string org_key_state;
};

// One envelope a re-seal job still has to move.
struct EnvelopeToReseal {
  std::string name;
  std::int64_t version = 0;
  std::int32_t org_key_version = 0;
  std::vector<std::uint8_t> envelope;
};

// Credential versions of the org of the transaction. Stateless; the methods run inside a
// transaction from ConnectionPool::Run, so that a Put, its idempotency record and its
// audit event commit together. Names and labels are held to the API's rules (validation.h,
// labels.h) and bound as parameters, never spliced into SQL.
//
// A Put is two calls, because the envelope binds the version number:
//   PreparedPut prepared = PreparePut(tx, name, expected);   // locks the name
//   ... when prepared.outcome is kPrepared, seal the envelope for prepared.plan.version ...
//   InsertVersion(tx, prepared.plan, version);
// The outcomes the request handlers act on come as values (PrepareOutcome, PutOutcome,
// DeleteOutcome, an empty optional from the Find methods), so that no caller has to read
// meaning into a status code; their error statuses are failures (invalid input, the
// database unreachable or refusing).
// The write role has no INSERT/UPDATE/DELETE on credentials: InsertVersion and Delete are
// calls of SECURITY DEFINER functions that re-check every invariant (the version is the
// next one, the envelope is sealed to the ACTIVE org key) and append the audit event
// themselves (storage/migrations/0008_function_only_access.sql).
class CredentialStore {
 public:
  // Locks the credential name for the rest of the transaction and decides the version.
  // `expected_live_version`: nullopt = create or replace; 0 = must not exist (kNameTaken
  // otherwise); n = the live version must be n (kVersionMismatch otherwise). kOrgNotFound
  // and kOrgDestroyed for an org that is missing or destroyed.
  absl::StatusOr<PreparedPut> PreparePut(Transaction& tx, std::string_view name,
                                         std::optional<std::int64_t> expected_live_version) const;

  // Write role: inserts plan.version as the current version, crypto-erases the versions
  // beyond max_versions, records the idempotency key and appends credential.put.
  absl::StatusOr<PutResult> InsertVersion(Transaction& tx, const PutPlan& plan,
                                          const NewCredentialVersion& version) const;

  // Write role: the whole Put in one statement, its own transaction: every check of
  // PreparePut and InsertVersion, the idempotency lookup, and the metadata of the result.
  // A wrong guess (version, key) or a failed check writes nothing and says what is true.
  // A broken connection is UNAVAILABLE (the Put may or may not have happened).
  absl::StatusOr<PutCallResult> Put(ConnectionPool& pool, std::string_view org_id,
                                    absl::Time deadline, const PutCall& put) const;

  // Write role: soft delete or crypto-erase of every version of a name, with its
  // idempotency record and audit event; outcomes other than kDone change nothing.
  absl::StatusOr<DeleteResult> Delete(Transaction& tx, const DeleteRequest& request) const;

  // The current live version, or a given version; nullopt if missing, or deleted unless
  // `include_deleted` (then the current version is the newest, whatever its state).
  absl::StatusOr<std::optional<CredentialMetadata>> FindMetadata(
      Transaction& tx, std::string_view name, std::optional<std::int64_t> version,
      bool include_deleted = false) const;

  // As FindMetadata, for a version that must exist: NOT_FOUND if it does not.
  absl::StatusOr<CredentialMetadata> GetMetadata(Transaction& tx, std::string_view name,
                                                 std::optional<std::int64_t> version,
                                                 bool include_deleted = false) const;

  absl::StatusOr<ListPage> List(Transaction& tx, const ListQuery& query) const;

  // How many credential versions of the org still hold an envelope (not erased).
  absl::StatusOr<std::uint64_t> CountUnerasedVersions(Transaction& tx) const;

  // Decrypt role: the envelope of the current live version, or of a given version;
  // nullopt if missing, deleted or erased.
  absl::StatusOr<std::optional<EnvelopeRecord>> FindEnvelope(
      Transaction& tx, std::string_view name, std::optional<std::int64_t> version) const;

  // As above, in one statement of its own (no transaction of the caller's).
  absl::StatusOr<std::optional<EnvelopeRecord>> FindEnvelope(
      ConnectionPool& pool, std::string_view org_id, absl::Time deadline, std::string_view name,
      std::optional<std::int64_t> version) const;

  // As FindEnvelope, for an envelope that must exist: NOT_FOUND if it does not.
  absl::StatusOr<EnvelopeRecord> ReadEnvelope(Transaction& tx, std::string_view name,
                                              std::optional<std::int64_t> version) const;
  absl::StatusOr<EnvelopeRecord> ReadEnvelope(ConnectionPool& pool, std::string_view org_id,
                                              absl::Time deadline, std::string_view name,
                                              std::optional<std::int64_t> version) const;

  // Decrypt role, re-seal: up to `limit` unerased versions whose envelope is sealed to an org
  // key version other than `org_key_version`, after (name, version) `after` in key order
  // (nullopt: from the start). Not locked (the decrypt role may not lock what it may not
  // update): ReplaceEnvelope replaces only what is still sealed to the expected version.
  absl::StatusOr<std::vector<EnvelopeToReseal>> LockEnvelopesNotSealedTo(
      Transaction& tx, std::int32_t org_key_version,
      const std::optional<std::pair<std::string, std::int64_t>>& after, std::size_t limit) const;

  // How many unerased versions are sealed to an org key version other than `org_key_version`.
  absl::StatusOr<std::uint64_t> CountEnvelopesNotSealedTo(Transaction& tx,
                                                          std::int32_t org_key_version) const;

  // Decrypt role, re-seal: replaces the envelope of one version if it is still sealed to
  // `expected_org_key_version` (ABORTED otherwise; NOT_FOUND if gone or erased).
  absl::Status ReplaceEnvelope(Transaction& tx, std::string_view name, std::int64_t version,
                               std::int32_t expected_org_key_version,
                               const std::vector<std::uint8_t>& envelope,
                               std::int32_t org_key_version, std::int32_t writer_key_version) const;
};

}  // namespace credvault::storage

#endif  // CREDVAULT_STORAGE_CREDENTIAL_STORE_H_

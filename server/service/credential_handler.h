#ifndef CREDVAULT_SERVER_SERVICE_CREDENTIAL_HANDLER_H_
#define CREDVAULT_SERVER_SERVICE_CREDENTIAL_HANDLER_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "crypto/blake2b.h"
#include "crypto/org_key.h"
#include "server/base/call_context.h"
#include "server/base/reloadable.h"
#include "server/keys/write_tier_keys.h"
#include "server/service/credential_comparison.h"
#include "server/service/credential_requests.h"
#include "server/service/key_authority.h"
#include "server/service/put_hints.h"
#include "storage/audit_log.h"
#include "storage/credential_store.h"
#include "storage/idempotency_store.h"
#include "storage/org_store.h"
#include "storage/pool.h"

namespace credvault::server {

struct CredentialHandlerOptions {
  std::size_t max_secret_size = 64 * 1024;
  bool provision_orgs_on_first_put = true;
  absl::Duration soft_delete_retention = absl::Hours(24 * 30);
  // Told how long each database call that appended an audit event took (the put and
  // delete functions append theirs); may be empty.
  storage::AuditLog::AppendObserver on_audit_append;
};

// The write tier's CredentialService logic, free of gRPC: validates, seals with public
// keys only, and stores through the write role's database functions, which audit in the
// same transaction. It holds no key that decrypts, and no
// method returns secret material.
class CredentialHandler {
 public:
  using Clock = std::function<absl::Time()>;

  CredentialHandler(storage::ConnectionPool& writer_pool, const Reloadable<WriteTierKeys>& keys,
                    const KeyAuthority* key_authority, CredentialHandlerOptions options,
                    Clock clock = &absl::Now);

  absl::StatusOr<PutCredentialResult> Put(const CallContext& call,
                                          const PutCredentialParams& params) const;
  absl::StatusOr<DeleteCredentialResult> Delete(const CallContext& call,
                                                const DeleteCredentialParams& params) const;
  absl::StatusOr<DescribeCredentialResult> Describe(const CallContext& call,
                                                    const DescribeCredentialParams& params) const;
  absl::StatusOr<ListCredentialsResult> List(const CallContext& call,
                                             const ListCredentialsParams& params) const;
  absl::StatusOr<CompareCredentialResult> Compare(const CallContext& call,
                                                  const CompareCredentialParams& params) const;

 private:
  struct PutRound;

  // A Put is: validate the request (api_validation.h), then rounds of seal and store until
  // the database takes the envelope, answers an idempotent replay, or refuses; a missing or
  // unsigned org key is provisioned by the key authority between rounds.
  //
  // Rounds of sealing for the version and key the hints guess, then storing; each wrong
  // guess is corrected from the database's answer, up to a few calls.
  absl::StatusOr<PutRound> SealAndStore(const CallContext& call, const PutCredentialParams& params,
                                        const std::shared_ptr<const WriteTierKeys>& keys,
                                        storage::PutCall& put) const;
  // Seals the secret for the guessed next version to the org's active key.
  absl::Status Seal(const CallContext& call, const PutCredentialParams& params,
                    const std::shared_ptr<const WriteTierKeys>& keys, storage::PutCall& put) const;
  // What the database's `result` means for the caller: the round's end, nullopt when the
  // hints were corrected and another call is due, or the refusal.
  absl::StatusOr<std::optional<PutRound>> Answer(const PutCredentialParams& params,
                                                 const storage::PutCall& put,
                                                 const storage::PutCallResult& result,
                                                 absl::Time started) const;
  // The answer to a retried Put: the version it made the first time.
  PutCredentialResult ReplayedPut(const storage::PutCallResult& result) const;
  // The API's description of a stored version, under this handler's retention.
  CredentialMetadata MetadataOf(const storage::CredentialMetadata& stored) const;
  // Reports how long the database call that appended the audit event took.
  void ObserveAuditAppend(absl::Time started) const;

  // The org's active key, verified under `keys`' pins: from the hints, or read (and
  // checked: NOT_FOUND / FAILED_PRECONDITION with the org's reason) and remembered.
  absl::StatusOr<crypto::VerifiedOrgPublicKey> ActiveOrgKey(
      const CallContext& call, const std::string& org_id,
      const std::shared_ptr<const WriteTierKeys>& keys) const;
  // When `idempotency_key` already recorded this very Delete, fills `result` with the
  // version it produced (marked as a replay) and returns true; FAILED_PRECONDITION when
  // the key recorded a different request.
  absl::StatusOr<bool> ReplayIfRetried(storage::Transaction& tx, const std::string& idempotency_key,
                                       const crypto::Blake2b256& digest, const std::string& name,
                                       DeleteCredentialResult& result) const;

  storage::ConnectionPool& pool_;
  const Reloadable<WriteTierKeys>& keys_;
  // The key authority of this process (both tiers in one), or null in a write-only
  // process, which can then neither provision orgs nor answer comparisons.
  const KeyAuthority* const key_authority_;
  const CredentialHandlerOptions options_;
  const Clock clock_;
  const storage::CredentialStore credentials_{};
  const storage::OrgStore orgs_{};
  const storage::IdempotencyStore idempotency_{};
  // Org key records whose signature verified, by their exact bytes: a Put pays no Ed25519
  // verification once its org's record is known.
  mutable crypto::VerifiedOrgKeyCache verified_org_keys_;
  mutable PutHints hints_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SERVICE_CREDENTIAL_HANDLER_H_

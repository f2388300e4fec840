#include "storage/org_store.h"

#include <utility>

#include "common/status_macros.h"

namespace credvault::storage {
namespace {

#define CREDVAULT_ORG_KEY_COLUMNS                                              \
  "org_id, version, public_key, root_key_version, writer_key_version, "        \
  "authenticator, state, (extract(epoch FROM created_at) * 1000000)::bigint, " \
  "(extract(epoch FROM retired_at) * 1000000)::bigint, "                       \
  "(extract(epoch FROM destroyed_at) * 1000000)::bigint"

constexpr Statement kInsertOrg{"orgs.insert",
                               "INSERT INTO orgs (org_id, state) VALUES ($1, 'ACTIVE')"};
constexpr Statement kGetOrg{
    "orgs.get",
    "SELECT org_id, state, (extract(epoch FROM created_at) * 1000000)::bigint, "
    "(extract(epoch FROM destroyed_at) * 1000000)::bigint FROM orgs WHERE org_id = $1"};
constexpr Statement kLockOrg{"orgs.lock", "SELECT state FROM orgs WHERE org_id = $1 FOR UPDATE"};
constexpr Statement kInsertOrgKey{
    "org_keys.insert",
    "INSERT INTO org_keys (org_id, version, public_key, sealed_private_key, "
    "root_key_version, writer_key_version, authenticator, state) "
    "VALUES ($1, $2, $3::bytea, $4::bytea, $5, $6, $7::bytea, 'ACTIVE')"};
constexpr Statement kRetireActiveKey{"org_keys.retire_active",
                                     "UPDATE org_keys SET state = 'RETIRING', retired_at = now() "
                                     "WHERE org_id = $1 AND state = 'ACTIVE'"};
constexpr Statement kListOrgKeys{"org_keys.list",
                                 "SELECT " CREDVAULT_ORG_KEY_COLUMNS
                                 " FROM org_keys WHERE org_id = $1 ORDER BY version"};
constexpr Statement kGetActiveOrgKey{"org_keys.get_active",
                                     "SELECT " CREDVAULT_ORG_KEY_COLUMNS
                                     " FROM org_keys WHERE org_id = $1 AND state = 'ACTIVE'"};
constexpr Statement kGetSealedPrivateKey{
    "org_keys.get_sealed_private_key",
    "SELECT sealed_private_key FROM org_keys WHERE org_id = $1 AND version = $2"};
constexpr Statement kDestroyKeys{
    "org_keys.destroy",
    "UPDATE org_keys SET state = 'DESTROYED', sealed_private_key = NULL, "
    "destroyed_at = now(), retired_at = coalesce(retired_at, now()) "
    "WHERE org_id = $1 AND state <> 'DESTROYED'"};
constexpr Statement kDestroyOrg{"orgs.destroy",
                                "UPDATE orgs SET state = 'DESTROYED', destroyed_at = now() "
                                "WHERE org_id = $1 AND state <> 'DESTROYED'"};

constexpr Statement kLockKeysNotSealedToRoot{
    "org_keys.lock_not_sealed_to_root",
    "SELECT " CREDVAULT_ORG_KEY_COLUMNS
    ", sealed_private_key FROM org_keys WHERE org_id = $1 AND root_key_version <> $2 "
    "AND state <> 'DESTROYED' ORDER BY version FOR UPDATE"};
constexpr Statement kReplaceSealedPrivateKey{
    "org_keys.replace_sealed_private_key",
    "UPDATE org_keys SET sealed_private_key = $3::bytea, root_key_version = $4, "
    "writer_key_version = $5, authenticator = $6::bytea "
    "WHERE org_id = $1 AND version = $2 AND root_key_version = $7 AND state <> 'DESTROYED' "
    "AND public_key = $8::bytea"};
constexpr Statement kRetireRetiringKeys{
    "org_keys.retire_retiring",
    "UPDATE org_keys SET state = 'RETIRED' WHERE org_id = $1 AND state = 'RETIRING' "
    "RETURNING version"};

constexpr Statement kKeyState{
    "org_keys.state",
    "SELECT state FROM org_keys WHERE org_id = $1 AND version = $2 FOR NO KEY UPDATE"};
constexpr Statement kDestroyRetiredKey{
    "org_keys.destroy_retired",
    "UPDATE org_keys SET state = 'DESTROYED', sealed_private_key = NULL, destroyed_at = now() "
    "WHERE org_id = $1 AND version = $2 AND state = 'RETIRED' AND NOT EXISTS ("
    "SELECT 1 FROM credentials c WHERE c.org_id = $1 AND c.org_key_version = $2 "
    "AND NOT c.erased)"};

#undef CREDVAULT_ORG_KEY_COLUMNS

absl::Status ValidateNewKey(const NewOrgKey& key) {
  if (key.version < 1) return absl::InvalidArgumentError("org key version: must be positive");
  if (key.public_key.size() != 32) {
    return absl::InvalidArgumentError("org public key: must be 32 bytes");
  }
  if (key.sealed_private_key.empty()) {
    return absl::InvalidArgumentError("org sealed private key: must not be empty");
  }
  if (key.authenticator.size() != 32) {
    return absl::InvalidArgumentError("org key authenticator: must be 32 bytes");
  }
  if (key.root_key_version < 1 || key.writer_key_version < 1) {
    return absl::InvalidArgumentError("org key: root and writer key versions must be positive");
  }
  return absl::OkStatus();
}

absl::StatusOr<OrgKeyState> ParseKeyState(std::string_view state) {
  if (state == "ACTIVE") return OrgKeyState::kActive;
  if (state == "RETIRING") return OrgKeyState::kRetiring;
  if (state == "RETIRED") return OrgKeyState::kRetired;
  if (state == "DESTROYED") return OrgKeyState::kDestroyed;
  return absl::InternalError("org_keys.state: unknown value");
}

absl::StatusOr<OrgKey> OrgKeyFromRow(const Row& row) {
  OrgKey key;
  CV_ASSIGN_OR_RETURN(key.org_id, row.Text(0));
  CV_ASSIGN_OR_RETURN(const std::int64_t version, row.Int(1));
  key.version = static_cast<std::int32_t>(version);
  CV_ASSIGN_OR_RETURN(key.public_key, row.Bytes(2));
  CV_ASSIGN_OR_RETURN(const std::int64_t root_version, row.Int(3));
  key.root_key_version = static_cast<std::int32_t>(root_version);
  CV_ASSIGN_OR_RETURN(const std::int64_t writer_version, row.Int(4));
  key.writer_key_version = static_cast<std::int32_t>(writer_version);
  CV_ASSIGN_OR_RETURN(key.authenticator, row.Bytes(5));
  CV_ASSIGN_OR_RETURN(const std::string state, row.Text(6));
  CV_ASSIGN_OR_RETURN(key.state, ParseKeyState(state));
  CV_ASSIGN_OR_RETURN(key.created_at, row.Micros(7));
  CV_ASSIGN_OR_RETURN(key.retired_at, row.OptionalMicros(8));
  CV_ASSIGN_OR_RETURN(key.destroyed_at, row.OptionalMicros(9));
  return key;
}

absl::Status InsertKey(Transaction& tx, const NewOrgKey& key) {
  return tx
      .Execute(
          kInsertOrgKey,
          {SqlParam::Text(tx.org_id()), SqlParam::Int(key.version), SqlParam::Bytes(key.public_key),
           SqlParam::Bytes(key.sealed_private_key), SqlParam::Int(key.root_key_version),
           SqlParam::Int(key.writer_key_version), SqlParam::Bytes(key.authenticator)})
      .status();
}

}  // namespace

absl::Status OrgStore::CreateOrg(Transaction& tx, const NewOrgKey& first_key) const {
  CV_RETURN_IF_ERROR(ValidateNewKey(first_key));
  if (first_key.version != 1) {
    return absl::InvalidArgumentError("first org key: version must be 1");
  }
  absl::Status inserted = tx.Execute(kInsertOrg, {SqlParam::Text(tx.org_id())}).status();
  if (absl::IsAlreadyExists(inserted)) return absl::AlreadyExistsError("org already exists");
  CV_RETURN_IF_ERROR(inserted);
  return InsertKey(tx, first_key);
}

absl::StatusOr<Org> OrgStore::GetOrg(Transaction& tx) const {
  absl::StatusOr<Row> row = tx.ExecuteOne(kGetOrg, {SqlParam::Text(tx.org_id())});
  if (absl::IsNotFound(row.status())) return absl::NotFoundError("org not found");
  if (!row.ok()) return row.status();
  Org org;
  CV_ASSIGN_OR_RETURN(org.org_id, row->Text(0));
  CV_ASSIGN_OR_RETURN(const std::string state, row->Text(1));
  org.state = state == "DESTROYED" ? OrgState::kDestroyed : OrgState::kActive;
  CV_ASSIGN_OR_RETURN(org.created_at, row->Micros(2));
  CV_ASSIGN_OR_RETURN(org.destroyed_at, row->OptionalMicros(3));
  return org;
}

absl::Status OrgStore::RotateOrgKey(Transaction& tx, const NewOrgKey& key) const {
  CV_RETURN_IF_ERROR(ValidateNewKey(key));
  const SqlParam org = SqlParam::Text(tx.org_id());
  // Locking the org row orders concurrent rotations and destruction.
  absl::StatusOr<Row> row = tx.ExecuteOne(kLockOrg, {org});
  if (absl::IsNotFound(row.status())) return absl::NotFoundError("org not found");
  if (!row.ok()) return row.status();
  CV_ASSIGN_OR_RETURN(const std::string state, row->Text(0));
  if (state != "ACTIVE") return absl::FailedPreconditionError("org is destroyed");
  CV_RETURN_IF_ERROR(tx.Execute(kRetireActiveKey, {org}).status());
  absl::Status inserted = InsertKey(tx, key);
  if (absl::IsAlreadyExists(inserted)) {
    return absl::AlreadyExistsError("org key version " + std::to_string(key.version) +
                                    " already exists");
  }
  return inserted;
}

absl::StatusOr<std::vector<OrgKey>> OrgStore::ListOrgKeys(Transaction& tx) const {
  CV_ASSIGN_OR_RETURN(std::vector<Row> rows,
                      tx.Execute(kListOrgKeys, {SqlParam::Text(tx.org_id())}));
  std::vector<OrgKey> keys;
  keys.reserve(rows.size());
  for (const Row& row : rows) {
    CV_ASSIGN_OR_RETURN(OrgKey key, OrgKeyFromRow(row));
    keys.push_back(std::move(key));
  }
  return keys;
}

absl::StatusOr<OrgKey> OrgStore::GetActiveOrgKey(Transaction& tx) const {
  absl::StatusOr<Row> row = tx.ExecuteOne(kGetActiveOrgKey, {SqlParam::Text(tx.org_id())});
  if (absl::IsNotFound(row.status())) return absl::NotFoundError("org has no active key");
  if (!row.ok()) return row.status();
  return OrgKeyFromRow(*row);
}

absl::StatusOr<std::vector<std::uint8_t>> OrgStore::GetSealedPrivateKey(
    Transaction& tx, std::int32_t version) const {
  absl::StatusOr<Row> row =
      tx.ExecuteOne(kGetSealedPrivateKey, {SqlParam::Text(tx.org_id()), SqlParam::Int(version)});
  if (absl::IsNotFound(row.status())) {
    return absl::NotFoundError("org key version " + std::to_string(version) + " not found");
  }
  if (!row.ok()) return row.status();
  if (row->IsNull(0)) return absl::FailedPreconditionError("org key was destroyed");
  return row->Bytes(0);
}

absl::StatusOr<std::vector<SealedOrgKey>> OrgStore::LockKeysNotSealedToRoot(
    Transaction& tx, std::int32_t root_key_version) const {
  CV_ASSIGN_OR_RETURN(const std::vector<Row> rows,
                      tx.Execute(kLockKeysNotSealedToRoot,
                                 {SqlParam::Text(tx.org_id()), SqlParam::Int(root_key_version)}));
  std::vector<SealedOrgKey> keys;
  keys.reserve(rows.size());
  for (const Row& row : rows) {
    SealedOrgKey sealed;
    CV_ASSIGN_OR_RETURN(sealed.key, OrgKeyFromRow(row));
    CV_ASSIGN_OR_RETURN(sealed.sealed_private_key, row.Bytes(10));
    keys.push_back(std::move(sealed));
  }
  return keys;
}

absl::Status OrgStore::ReplaceSealedPrivateKey(Transaction& tx,
                                               std::int32_t expected_root_key_version,
                                               const NewOrgKey& key) const {
  CV_RETURN_IF_ERROR(ValidateNewKey(key));
  CV_ASSIGN_OR_RETURN(
      const std::size_t updated,
      tx.ExecuteCount(kReplaceSealedPrivateKey,
                      {SqlParam::Text(tx.org_id()), SqlParam::Int(key.version),
                       SqlParam::Bytes(key.sealed_private_key), SqlParam::Int(key.root_key_version),
                       SqlParam::Int(key.writer_key_version), SqlParam::Bytes(key.authenticator),
                       SqlParam::Int(expected_root_key_version), SqlParam::Bytes(key.public_key)}));
  if (updated == 1) return absl::OkStatus();
  return absl::AbortedError("org key version " + std::to_string(key.version) +
                            " is no longer sealed to root key version " +
                            std::to_string(expected_root_key_version));
}

absl::StatusOr<std::vector<std::int32_t>> OrgStore::RetireRetiringKeys(Transaction& tx) const {
  CV_ASSIGN_OR_RETURN(const std::vector<Row> rows,
                      tx.Execute(kRetireRetiringKeys, {SqlParam::Text(tx.org_id())}));
  std::vector<std::int32_t> versions;
  for (const Row& row : rows) {
    CV_ASSIGN_OR_RETURN(const std::int64_t version, row.Int(0));
    versions.push_back(static_cast<std::int32_t>(version));
  }
  return versions;
}

absl::StatusOr<bool> OrgStore::DestroyRetiredKey(Transaction& tx, std::int32_t version) const {
  const SqlParam org = SqlParam::Text(tx.org_id());
  const SqlParam version_param = SqlParam::Int(version);
  absl::StatusOr<Row> row = tx.ExecuteOne(kKeyState, {org, version_param});
  if (absl::IsNotFound(row.status())) {
    return absl::NotFoundError("org key version " + std::to_string(version) + " does not exist");
  }
  if (!row.ok()) return row.status();
  CV_ASSIGN_OR_RETURN(const std::string state, row->Text(0));
  if (state == "DESTROYED") return false;
  if (state != "RETIRED") {
    return absl::FailedPreconditionError("org key version " + std::to_string(version) + " is " +
                                         state + ", not RETIRED");
  }
  CV_ASSIGN_OR_RETURN(const std::size_t destroyed,
                      tx.ExecuteCount(kDestroyRetiredKey, {org, version_param}));
  if (destroyed != 1) {
    return absl::FailedPreconditionError("org key version " + std::to_string(version) +
                                         " still has credential versions sealed to it");
  }
  return true;
}

absl::Status OrgStore::MarkDestroyed(Transaction& tx) const {
  const SqlParam org = SqlParam::Text(tx.org_id());
  absl::StatusOr<Row> row = tx.ExecuteOne(kLockOrg, {org});
  if (absl::IsNotFound(row.status())) return absl::NotFoundError("org not found");
  if (!row.ok()) return row.status();
  CV_RETURN_IF_ERROR(tx.Execute(kDestroyKeys, {org}).status());
  return tx.Execute(kDestroyOrg, {org}).status();
}

}  // namespace credvault::storage

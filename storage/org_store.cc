#include "storage/org_store.h"

#include <algorithm>
#include <string_view>
#include <utility>

#include "common/status_macros.h"

namespace credvault::storage {
namespace {

#define CREDVAULT_ORG_KEY_COLUMNS                                                            \
  "org_id, version, public_key, root_key_version, writer_key_version, "                      \
  "authenticator, state, (extract(epoch FROM created_at) * 1000000)::bigint, "               \
  "(extract(epoch FROM retired_at) * 1000000)::bigint, "                                     \
  "(extract(epoch FROM destroyed_at) * 1000000)::bigint, directory_key_version, signature, " \
  "made_before_signing"

constexpr Statement kCreateOrg{"orgs.create", "SELECT credvault_create_org($1)"};
constexpr Statement kGetOrg{
    "orgs.get",
    "SELECT org_id, state, (extract(epoch FROM created_at) * 1000000)::bigint, "
    "(extract(epoch FROM destroyed_at) * 1000000)::bigint FROM orgs WHERE org_id = $1"};
constexpr Statement kLockOrg{"orgs.lock", "SELECT credvault_lock_org($1)"};
constexpr Statement kStoreKey{
    "org_keys.store",
    "SELECT credvault_store_org_key($1, $2, $3::bytea, $4::bytea, $5, $6, $7, $8::bytea)"};
constexpr Statement kListOrgKeys{"org_keys.list",
                                 "SELECT " CREDVAULT_ORG_KEY_COLUMNS
                                 " FROM org_keys WHERE org_id = $1 ORDER BY version"};
constexpr Statement kGetActiveOrgKey{"org_keys.get_active",
                                     "SELECT " CREDVAULT_ORG_KEY_COLUMNS
                                     " FROM org_keys WHERE org_id = $1 AND state = 'ACTIVE'"};
constexpr Statement kGetSealedPrivateKey{
    "org_keys.get_sealed_private_key",
    "SELECT sealed_private_key FROM org_keys WHERE org_id = $1 AND version = $2"};
constexpr Statement kMarkOrgDestroyed{"orgs.mark_destroyed",
                                      "SELECT credvault_mark_org_destroyed($1)"};
constexpr Statement kKeysNotSealedToRoot{
    "org_keys.not_sealed_to_root",
    "SELECT " CREDVAULT_ORG_KEY_COLUMNS
    ", sealed_private_key FROM org_keys WHERE org_id = $1 AND root_key_version <> $2 "
    "AND state <> 'DESTROYED' ORDER BY version"};
constexpr Statement kRootKeyVersionOf{
    "org_keys.root_key_version_of",
    "SELECT root_key_version, state FROM org_keys WHERE org_id = $1 AND version = $2"};
constexpr Statement kKeyInUse{
    "org_keys.in_use",
    "SELECT EXISTS (SELECT 1 FROM credentials c WHERE c.org_id = $1 AND c.org_key_version = $2 "
    "AND NOT c.erased)"};

#undef CREDVAULT_ORG_KEY_COLUMNS

constexpr std::string_view kStateNames[] = {"ACTIVE", "RETIRING", "RETIRED", "DESTROYED"};

std::string_view StateName(OrgKeyState state) { return kStateNames[static_cast<int>(state)]; }

absl::Status ValidateNewKey(const NewOrgKey& key) {
  if (key.version < 1) return absl::InvalidArgumentError("org key version: must be positive");
  if (key.public_key.size() != 32) {
    return absl::InvalidArgumentError("org public key: must be 32 bytes");
  }
  if (key.signature.size() != 64 || key.directory_key_version < 1) {
    return absl::InvalidArgumentError("org key record: must be signed");
  }
  if (key.root_key_version < 1) {
    return absl::InvalidArgumentError("org key: root key version must be positive");
  }
  return absl::OkStatus();
}

absl::StatusOr<OrgKeyState> ParseKeyState(std::string_view state) {
  for (int i = 0; i < 4; ++i) {
    if (state == kStateNames[i]) return static_cast<OrgKeyState>(i);
  }
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
  if (!row.IsNull(4)) {
    CV_ASSIGN_OR_RETURN(const std::int64_t writer_version, row.Int(4));
    key.writer_key_version = static_cast<std::int32_t>(writer_version);
    CV_ASSIGN_OR_RETURN(key.authenticator, row.Bytes(5));
  }
  CV_ASSIGN_OR_RETURN(const std::string state, row.Text(6));
  CV_ASSIGN_OR_RETURN(key.state, ParseKeyState(state));
  CV_ASSIGN_OR_RETURN(key.created_at, row.Micros(7));
  CV_ASSIGN_OR_RETURN(key.retired_at, row.OptionalMicros(8));
  CV_ASSIGN_OR_RETURN(key.destroyed_at, row.OptionalMicros(9));
  if (!row.IsNull(10)) {
    CV_ASSIGN_OR_RETURN(const std::int64_t directory_version, row.Int(10));
    key.directory_key_version = static_cast<std::int32_t>(directory_version);
    CV_ASSIGN_OR_RETURN(key.signature, row.Bytes(11));
  }
  CV_ASSIGN_OR_RETURN(key.made_before_signing, row.Bool(12));
  return key;
}

absl::Status Store(Transaction& tx, const NewOrgKey& key) {
  CV_RETURN_IF_ERROR(ValidateNewKey(key));
  const bool destroyed = key.state == OrgKeyState::kDestroyed;
  return tx
      .Execute(
          kStoreKey,
          {SqlParam::Text(tx.org_id()), SqlParam::Int(key.version), SqlParam::Bytes(key.public_key),
           destroyed || key.sealed_private_key.empty() ? SqlParam::Null()
                                                       : SqlParam::Bytes(key.sealed_private_key),
           SqlParam::Int(key.root_key_version), SqlParam::Text(StateName(key.state)),
           SqlParam::Int(key.directory_key_version), SqlParam::Bytes(key.signature)})
      .status();
}

// The one row of `statement`, or nullopt when it returns none.
absl::StatusOr<std::optional<Row>> FindOne(Transaction& tx, const Statement& statement,
                                           absl::Span<const SqlParam> params) {
  CV_ASSIGN_OR_RETURN(std::vector<Row> rows, tx.Execute(statement, params));
  if (rows.empty()) return std::nullopt;
  if (rows.size() > 1) {
    return absl::InternalError(std::string(statement.name) + ": more than one row");
  }
  return std::move(rows.front());
}

absl::StatusOr<std::string> LockOrg(Transaction& tx) {
  absl::StatusOr<Row> row = tx.ExecuteOne(kLockOrg, {SqlParam::Text(tx.org_id())});
  if (!row.ok()) return row.status();
  if (row->IsNull(0)) return absl::NotFoundError("org not found");
  return row->Text(0);
}

}  // namespace

absl::Status OrgStore::CreateOrg(Transaction& tx, const NewOrgKey& first_key) const {
  CV_ASSIGN_OR_RETURN(const CreateOrgOutcome outcome, TryCreateOrg(tx, first_key));
  if (outcome == CreateOrgOutcome::kOrgExists) {
    return absl::AlreadyExistsError("org already exists");
  }
  return absl::OkStatus();
}

absl::StatusOr<CreateOrgOutcome> OrgStore::TryCreateOrg(Transaction& tx,
                                                        const NewOrgKey& first_key) const {
  CV_RETURN_IF_ERROR(ValidateNewKey(first_key));
  if (first_key.version != 1 || first_key.state != OrgKeyState::kActive ||
      first_key.sealed_private_key.empty()) {
    return absl::InvalidArgumentError("first org key: must be version 1, ACTIVE and sealed");
  }
  // A unique violation on the org's primary key: the org row is there.
  const absl::Status created = tx.Execute(kCreateOrg, {SqlParam::Text(tx.org_id())}).status();
  if (absl::IsAlreadyExists(created)) return CreateOrgOutcome::kOrgExists;
  CV_RETURN_IF_ERROR(created);
  CV_RETURN_IF_ERROR(Store(tx, first_key));
  return CreateOrgOutcome::kCreated;
}

absl::StatusOr<Org> OrgStore::GetOrg(Transaction& tx) const {
  CV_ASSIGN_OR_RETURN(std::optional<Org> org, FindOrg(tx));
  if (!org.has_value()) return absl::NotFoundError("org not found");
  return *std::move(org);
}

absl::StatusOr<std::optional<Org>> OrgStore::FindOrg(Transaction& tx) const {
  CV_ASSIGN_OR_RETURN(const std::optional<Row> row,
                      FindOne(tx, kGetOrg, {SqlParam::Text(tx.org_id())}));
  if (!row.has_value()) return std::nullopt;
  Org org;
  CV_ASSIGN_OR_RETURN(org.org_id, row->Text(0));
  CV_ASSIGN_OR_RETURN(const std::string state, row->Text(1));
  org.state = state == "DESTROYED" ? OrgState::kDestroyed : OrgState::kActive;
  CV_ASSIGN_OR_RETURN(org.created_at, row->Micros(2));
  CV_ASSIGN_OR_RETURN(org.destroyed_at, row->OptionalMicros(3));
  return org;
}

absl::Status OrgStore::StoreKey(Transaction& tx, const NewOrgKey& key) const {
  return Store(tx, key);
}

absl::Status OrgStore::RotateOrgKey(Transaction& tx, const NewOrgKey& key,
                                    const OrgKeyResigner& resign) const {
  CV_RETURN_IF_ERROR(ValidateNewKey(key));
  // Locking the org row orders concurrent rotations and destruction.
  CV_ASSIGN_OR_RETURN(const std::string state, LockOrg(tx));
  if (state != "ACTIVE") return absl::FailedPreconditionError("org is destroyed");
  CV_ASSIGN_OR_RETURN(const std::vector<OrgKey> keys, ListOrgKeys(tx));
  for (const OrgKey& existing : keys) {
    if (existing.version == key.version) {
      return absl::AlreadyExistsError("org key version " + std::to_string(key.version) +
                                      " already exists");
    }
  }
  for (const OrgKey& existing : keys) {
    if (existing.state != OrgKeyState::kActive) continue;
    CV_ASSIGN_OR_RETURN(const NewOrgKey retiring, resign(existing, OrgKeyState::kRetiring));
    CV_RETURN_IF_ERROR(Store(tx, retiring));
  }
  return Store(tx, key);
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
  CV_ASSIGN_OR_RETURN(std::optional<OrgKey> key, FindActiveOrgKey(tx));
  if (!key.has_value()) return absl::NotFoundError("org has no active key");
  return *std::move(key);
}

absl::StatusOr<std::optional<OrgKey>> OrgStore::FindActiveOrgKey(Transaction& tx) const {
  CV_ASSIGN_OR_RETURN(const std::optional<Row> row,
                      FindOne(tx, kGetActiveOrgKey, {SqlParam::Text(tx.org_id())}));
  if (!row.has_value()) return std::nullopt;
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
                      tx.Execute(kKeysNotSealedToRoot,
                                 {SqlParam::Text(tx.org_id()), SqlParam::Int(root_key_version)}));
  std::vector<SealedOrgKey> keys;
  keys.reserve(rows.size());
  for (const Row& row : rows) {
    SealedOrgKey sealed;
    CV_ASSIGN_OR_RETURN(sealed.key, OrgKeyFromRow(row));
    CV_ASSIGN_OR_RETURN(sealed.sealed_private_key, row.Bytes(13));
    keys.push_back(std::move(sealed));
  }
  return keys;
}

absl::Status OrgStore::ReplaceSealedPrivateKey(Transaction& tx,
                                               std::int32_t expected_root_key_version,
                                               const NewOrgKey& key) const {
  CV_RETURN_IF_ERROR(ValidateNewKey(key));
  if (key.sealed_private_key.empty()) {
    return absl::InvalidArgumentError("re-sealed org key: the sealed private half is missing");
  }
  absl::StatusOr<Row> row =
      tx.ExecuteOne(kRootKeyVersionOf, {SqlParam::Text(tx.org_id()), SqlParam::Int(key.version)});
  if (absl::IsNotFound(row.status())) return absl::NotFoundError("org key not found");
  if (!row.ok()) return row.status();
  CV_ASSIGN_OR_RETURN(const std::int64_t current_root, row->Int(0));
  CV_ASSIGN_OR_RETURN(const std::string state, row->Text(1));
  if (state == "DESTROYED") return absl::NotFoundError("org key was destroyed");
  if (current_root != expected_root_key_version) {
    return absl::AbortedError("org key version " + std::to_string(key.version) +
                              " is no longer sealed to root key version " +
                              std::to_string(expected_root_key_version));
  }
  return Store(tx, key);
}

absl::StatusOr<std::vector<std::int32_t>> OrgStore::RetireRetiringKeys(
    Transaction& tx, const OrgKeyResigner& resign) const {
  CV_ASSIGN_OR_RETURN(const std::vector<OrgKey> keys, ListOrgKeys(tx));
  std::vector<std::int32_t> versions;
  for (const OrgKey& key : keys) {
    if (key.state != OrgKeyState::kRetiring) continue;
    CV_ASSIGN_OR_RETURN(const NewOrgKey retired, resign(key, OrgKeyState::kRetired));
    CV_RETURN_IF_ERROR(Store(tx, retired));
    versions.push_back(key.version);
  }
  return versions;
}

absl::StatusOr<bool> OrgStore::DestroyRetiredKey(Transaction& tx, std::int32_t version,
                                                 const OrgKeyResigner& resign) const {
  CV_ASSIGN_OR_RETURN(const std::vector<OrgKey> keys, ListOrgKeys(tx));
  const auto found = std::find_if(keys.begin(), keys.end(),
                                  [&](const OrgKey& key) { return key.version == version; });
  if (found == keys.end()) {
    return absl::NotFoundError("org key version " + std::to_string(version) + " does not exist");
  }
  if (found->state == OrgKeyState::kDestroyed) return false;
  if (found->state != OrgKeyState::kRetired) {
    return absl::FailedPreconditionError("org key version " + std::to_string(version) + " is " +
                                         std::string(StateName(found->state)) + ", not RETIRED");
  }
  CV_ASSIGN_OR_RETURN(const Row in_use, tx.ExecuteOne(kKeyInUse, {SqlParam::Text(tx.org_id()),
                                                                  SqlParam::Int(version)}));
  CV_ASSIGN_OR_RETURN(const bool used, in_use.Bool(0));
  if (used) {
    return absl::FailedPreconditionError("org key version " + std::to_string(version) +
                                         " still has credential versions sealed to it");
  }
  CV_ASSIGN_OR_RETURN(const NewOrgKey destroyed, resign(*found, OrgKeyState::kDestroyed));
  CV_RETURN_IF_ERROR(Store(tx, destroyed));
  return true;
}

absl::Status OrgStore::MarkDestroyed(Transaction& tx, const OrgKeyResigner& resign) const {
  CV_RETURN_IF_ERROR(LockOrg(tx).status());
  CV_ASSIGN_OR_RETURN(const std::vector<OrgKey> keys, ListOrgKeys(tx));
  for (const OrgKey& key : keys) {
    if (key.state == OrgKeyState::kDestroyed) continue;
    CV_ASSIGN_OR_RETURN(const NewOrgKey destroyed, resign(key, OrgKeyState::kDestroyed));
    CV_RETURN_IF_ERROR(Store(tx, destroyed));
  }
  return tx.Execute(kMarkOrgDestroyed, {SqlParam::Text(tx.org_id())}).status();
}

}  // namespace credvault::storage

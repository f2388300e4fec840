#include "storage/root_key_store.h"

#include <utility>

#include "common/status_macros.h"
#include "storage/validation.h"

namespace credvault::storage {
namespace {

constexpr Statement kRetireActive{"root_keys.retire_active",
                                  "UPDATE root_keys SET state = 'RETIRING' WHERE state = 'ACTIVE'"};
constexpr Statement kRetire{
    "root_keys.retire",
    "UPDATE root_keys SET state = 'RETIRED' WHERE version = $1 AND state = 'RETIRING'"};
constexpr Statement kInsert{
    "root_keys.insert",
    "INSERT INTO root_keys (version, public_key, sealed_private_key, seal_key_id, state) "
    "VALUES ($1, $2::bytea, $3::bytea, $4, 'ACTIVE')"};
constexpr Statement kList{
    "root_keys.list",
    "SELECT version, public_key, state, (extract(epoch FROM created_at) * 1000000)::bigint "
    "FROM root_keys ORDER BY version"};
constexpr Statement kGetSealed{
    "root_keys.get_sealed",
    "SELECT sealed_private_key, seal_key_id FROM root_keys WHERE version = $1"};
constexpr Statement kRewrap{"root_keys.rewrap",
                            "UPDATE root_keys SET sealed_private_key = $3::bytea, seal_key_id = $4 "
                            "WHERE version = $1 AND seal_key_id = $2"};

absl::StatusOr<RootKeyState> ParseState(std::string_view state) {
  if (state == "ACTIVE") return RootKeyState::kActive;
  if (state == "RETIRING") return RootKeyState::kRetiring;
  if (state == "RETIRED") return RootKeyState::kRetired;
  return absl::InternalError("root_keys.state: unknown value");
}

}  // namespace

absl::StatusOr<bool> RootKeyStore::Retire(Transaction& tx, std::int32_t version) const {
  CV_ASSIGN_OR_RETURN(const std::size_t updated,
                      tx.ExecuteCount(kRetire, {SqlParam::Int(version)}));
  return updated == 1;
}

absl::Status RootKeyStore::Rotate(Transaction& tx, const NewRootKey& key) const {
  if (key.version < 1) return absl::InvalidArgumentError("root key version: must be positive");
  if (key.public_key.size() != 32) {
    return absl::InvalidArgumentError("root public key: must be 32 bytes");
  }
  if (key.sealed_private_key.empty()) {
    return absl::InvalidArgumentError("root sealed private key: must not be empty");
  }
  CV_RETURN_IF_ERROR(ValidateText("seal_key_id", key.seal_key_id, kMaxAuditFieldBytes));
  CV_RETURN_IF_ERROR(tx.Execute(kRetireActive, {}).status());
  absl::Status inserted =
      tx.Execute(kInsert,
                 {SqlParam::Int(key.version), SqlParam::Bytes(key.public_key),
                  SqlParam::Bytes(key.sealed_private_key), SqlParam::Text(key.seal_key_id)})
          .status();
  if (absl::IsAlreadyExists(inserted)) {
    return absl::AlreadyExistsError("root key version " + std::to_string(key.version) +
                                    " already exists");
  }
  return inserted;
}

absl::StatusOr<std::vector<RootKey>> RootKeyStore::List(Transaction& tx) const {
  CV_ASSIGN_OR_RETURN(std::vector<Row> rows, tx.Execute(kList, {}));
  std::vector<RootKey> keys;
  keys.reserve(rows.size());
  for (const Row& row : rows) {
    RootKey key;
    CV_ASSIGN_OR_RETURN(const std::int64_t version, row.Int(0));
    key.version = static_cast<std::int32_t>(version);
    CV_ASSIGN_OR_RETURN(key.public_key, row.Bytes(1));
    CV_ASSIGN_OR_RETURN(const std::string state, row.Text(2));
    CV_ASSIGN_OR_RETURN(key.state, ParseState(state));
    CV_ASSIGN_OR_RETURN(key.created_at, row.Micros(3));
    keys.push_back(std::move(key));
  }
  return keys;
}

absl::StatusOr<SealedRootKey> RootKeyStore::GetSealed(Transaction& tx, std::int32_t version) const {
  absl::StatusOr<Row> row = tx.ExecuteOne(kGetSealed, {SqlParam::Int(version)});
  if (absl::IsNotFound(row.status())) {
    return absl::NotFoundError("root key version " + std::to_string(version) + " not found");
  }
  if (!row.ok()) return row.status();
  SealedRootKey key;
  key.version = version;
  CV_ASSIGN_OR_RETURN(key.sealed_private_key, row->Bytes(0));
  CV_ASSIGN_OR_RETURN(key.seal_key_id, row->Text(1));
  return key;
}

absl::Status RootKeyStore::Rewrap(Transaction& tx, std::int32_t version,
                                  std::string_view expected_seal_key_id,
                                  absl::Span<const std::uint8_t> new_sealed_private_key,
                                  std::string_view new_seal_key_id) const {
  if (new_sealed_private_key.empty()) {
    return absl::InvalidArgumentError("root sealed private key: must not be empty");
  }
  CV_RETURN_IF_ERROR(ValidateText("seal_key_id", new_seal_key_id, kMaxAuditFieldBytes));
  CV_ASSIGN_OR_RETURN(
      const std::size_t updated,
      tx.ExecuteCount(kRewrap,
                      {SqlParam::Int(version), SqlParam::Text(expected_seal_key_id),
                       SqlParam::Bytes(new_sealed_private_key), SqlParam::Text(new_seal_key_id)}));
  if (updated == 1) return absl::OkStatus();
  // Tell a missing version from one that someone else re-wrapped meanwhile.
  CV_RETURN_IF_ERROR(GetSealed(tx, version).status());
  return absl::AbortedError("root key version " + std::to_string(version) +
                            " is no longer wrapped by seal key " +
                            std::string(expected_seal_key_id));
}

}  // namespace credvault::storage

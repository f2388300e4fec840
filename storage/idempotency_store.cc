#include "storage/idempotency_store.h"

#include "common/status_macros.h"
#include "storage/validation.h"

namespace credvault::storage {
namespace {

constexpr Statement kLookup{
    "idempotency_keys.lookup",
    "SELECT idempotency_key, request_hash, credential_name, result_version, "
    "(extract(epoch FROM created_at) * 1000000)::bigint "
    "FROM idempotency_keys WHERE org_id = $1 AND idempotency_key = $2"};
constexpr Statement kRecord{
    "idempotency_keys.record",
    "INSERT INTO idempotency_keys (org_id, idempotency_key, request_hash, credential_name, "
    "result_version) VALUES ($1, $2, $3::bytea, $4, $5)"};

}  // namespace

absl::StatusOr<std::optional<IdempotencyRecord>> IdempotencyStore::Lookup(
    Transaction& tx, std::string_view key) const {
  CV_RETURN_IF_ERROR(ValidateText("idempotency_key", key, kMaxIdempotencyKeyBytes));
  absl::StatusOr<Row> row =
      tx.ExecuteOne(kLookup, {SqlParam::Text(tx.org_id()), SqlParam::Text(key)});
  if (absl::IsNotFound(row.status())) return std::nullopt;
  if (!row.ok()) return row.status();
  IdempotencyRecord record;
  CV_ASSIGN_OR_RETURN(record.key, row->Text(0));
  CV_ASSIGN_OR_RETURN(record.request_hash, row->Bytes(1));
  CV_ASSIGN_OR_RETURN(record.credential_name, row->Text(2));
  CV_ASSIGN_OR_RETURN(record.result_version, row->Int(3));
  CV_ASSIGN_OR_RETURN(record.created_at, row->Micros(4));
  return record;
}

absl::Status IdempotencyStore::Record(Transaction& tx, std::string_view key,
                                      const std::vector<std::uint8_t>& request_hash,
                                      std::string_view credential_name,
                                      std::int64_t result_version) const {
  CV_RETURN_IF_ERROR(ValidateText("idempotency_key", key, kMaxIdempotencyKeyBytes));
  CV_RETURN_IF_ERROR(ValidateText("name", credential_name, kMaxCredentialNameBytes));
  if (request_hash.size() != 32) {
    return absl::InvalidArgumentError("request_hash: must be 32 bytes");
  }
  absl::Status recorded =
      tx.Execute(kRecord,
                 {SqlParam::Text(tx.org_id()), SqlParam::Text(key), SqlParam::Bytes(request_hash),
                  SqlParam::Text(credential_name), SqlParam::Int(result_version)})
          .status();
  if (absl::IsAlreadyExists(recorded)) {
    return absl::AlreadyExistsError("idempotency key already used");
  }
  return recorded;
}

}  // namespace credvault::storage

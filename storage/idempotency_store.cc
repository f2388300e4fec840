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

}  // namespace credvault::storage

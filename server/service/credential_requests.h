#ifndef CREDVAULT_SERVER_SERVICE_CREDENTIAL_REQUESTS_H_
#define CREDVAULT_SERVER_SERVICE_CREDENTIAL_REQUESTS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "crypto/secret_view.h"
#include "server/service/credential_metadata.h"
#include "storage/credential_store.h"

namespace credvault::server {

// CredentialService's Put, Delete, Describe and List as the write tier takes and answers
// them; CompareCredential's are in credential_comparison.h. The fields carry the raw
// values of the request: CredentialHandler validates them (api_validation.h).

struct PutCredentialParams {
  std::string org_id;
  std::string name;
  // Borrowed from the request that carried it, whose owner wipes it once the call is over.
  crypto::SecretView secret = crypto::SecretView::Borrow(std::string_view());
  std::map<std::string, std::string> labels;
  // The check-and-set precondition, at most one of the two; neither: write unconditionally.
  std::optional<std::uint64_t> expected_version;
  std::optional<bool> must_not_exist;
  // Empty: no key.
  std::string idempotency_key;
  // The expiry of the new version, at most one of the two; neither: it never expires.
  // expire_time keeps the precision it was given; what is stored keeps microseconds.
  std::optional<absl::Time> expire_time;
  std::optional<absl::Duration> ttl;
  // Unset: keep the credential's setting (or the default for a new one).
  std::optional<std::uint32_t> max_versions;
};

struct PutCredentialResult {
  CredentialMetadata credential;
  // The answer of a retried Put: the version it made the first time.
  bool idempotent_replay = false;
};

struct DeleteCredentialParams {
  std::string org_id;
  std::string name;
  // Unset: no mode named, which deletes softly. Kept apart from an explicit soft delete:
  // a retry must ask for exactly what its idempotency key first recorded.
  std::optional<storage::DeleteMode> mode;
  // Delete only if the current version is this one.
  std::optional<std::uint64_t> expected_version;
  // Empty: no key.
  std::string idempotency_key;
};

struct DeleteCredentialResult {
  // The current version as the deletion left it.
  CredentialMetadata credential;
  std::uint32_t affected_version_count = 0;
  // The answer of a retried Delete.
  bool idempotent_replay = false;
};

struct DescribeCredentialParams {
  std::string org_id;
  std::string name;
  // Unset: the current version.
  std::optional<std::uint64_t> version;
  bool show_deleted = false;
};

struct DescribeCredentialResult {
  CredentialMetadata credential;
};

struct ListCredentialsParams {
  std::string org_id;
  // 0: the default; above the maximum: the maximum.
  int page_size = 0;
  // Opaque; empty: the first page.
  std::string page_token;
  std::string name_prefix;
  std::map<std::string, std::string> label_selector;
  bool include_deleted = false;
};

struct ListCredentialsResult {
  std::vector<CredentialMetadata> credentials;
  // Empty: the last page.
  std::string next_page_token;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SERVICE_CREDENTIAL_REQUESTS_H_

#ifndef CREDVAULT_SERVER_SERVICE_LOCAL_KEY_AUTHORITY_H_
#define CREDVAULT_SERVER_SERVICE_LOCAL_KEY_AUTHORITY_H_

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "server/keys/decrypt_tier_keys.h"
#include "server/keys/org_key_cache.h"
#include "server/service/key_authority.h"
#include "storage/audit_log.h"
#include "storage/credential_store.h"
#include "storage/org_store.h"
#include "storage/pool.h"

namespace credvault::server {

struct LocalKeyAuthorityOptions {
  std::size_t max_secret_size = 64 * 1024;
  int compare_per_minute = 60;
  storage::AuditLog::AppendObserver on_audit_append;
};

// The key authority inside the decrypt tier, with the decrypt role's database login (the
// only application role that may create orgs besides the admin path).
class LocalKeyAuthority final : public KeyAuthority {
 public:
  using Clock = std::function<absl::Time()>;

  LocalKeyAuthority(storage::ConnectionPool& decryptor_pool, const DecryptTierKeys& keys,
                    OrgKeyCache& org_keys, LocalKeyAuthorityOptions options,
                    Clock clock = &absl::Now);

  absl::Status ProvisionOrg(const CallContext& call, const std::string& org_id,
                            const std::vector<std::uint32_t>& pinned_root_versions) const override;
  absl::StatusOr<CompareCredentialResult> Compare(
      const CallContext& call, const CompareCredentialParams& params) const override;

 private:
  storage::ConnectionPool& pool_;
  const DecryptTierKeys& keys_;
  OrgKeyCache& org_keys_;
  const LocalKeyAuthorityOptions options_;
  const Clock clock_;
  const storage::CredentialStore credentials_{};
  const storage::OrgStore orgs_{};
  const storage::AuditLog audit_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_SERVICE_LOCAL_KEY_AUTHORITY_H_

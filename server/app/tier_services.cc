#include "server/app/tier_services.h"

#include <cstdint>
#include <functional>
#include <utility>

#include "crypto/root_key.h"
#include "server/app/startup_failure.h"
#include "server/keys/late_root_keys.h"

namespace credvault::server {
namespace {

// Root key jobs wait until the write tier pins the new root: this process's own write
// tier, or the pins a decrypt-only configuration lists for its write tiers.
absl::StatusOr<std::function<bool(std::uint32_t)>> RootPinned(const Config& config,
                                                              const TierKeys& keys) {
  std::function<bool(std::uint32_t)> root_pinned;
  if (keys.write) {
    root_pinned = [&write_keys = keys.write](std::uint32_t version) {
      return write_keys->Get()->root_pins.IsPinned(version);
    };
  } else if (!config.keys.root_key_pins.empty()) {
    absl::StatusOr<crypto::RootKeyPins> pins = crypto::RootKeyPins::New(config.keys.root_key_pins);
    if (!pins.ok()) return pins.status();
    root_pinned = [pins = *std::move(pins)](std::uint32_t version) {
      return pins.IsPinned(version);
    };
  }
  return root_pinned;
}

}  // namespace

absl::Status BuildTierServices(const Config& config, const DatabasePools& pools,
                               const TierKeys& keys, TierRunners& runners,
                               const storage::AuditLog::AppendObserver& on_audit_append,
                               TierServices& services) {
  const bool write_tier = config.RunsTier(Tier::kWrite);
  const bool decrypt_tier = config.RunsTier(Tier::kDecrypt);
  if (decrypt_tier) {
    services.key_authority = std::make_unique<LocalKeyAuthority>(
        *pools.decryptor, *keys.decrypt, services.org_key_cache,
        LocalKeyAuthorityOptions{config.limits.max_secret_size, config.limits.compare_per_minute,
                                 on_audit_append});
  }
  // --- Split mode: the key authority of a write-only process is the decrypt tier's
  // KeyAuthorityService (config key_authority); a combined process uses its own, and a
  // write-only process without the section has none. The decrypt tier serves the service
  // on its decrypt listener.
  if (write_tier && !decrypt_tier && config.key_authority) {
    absl::StatusOr<std::unique_ptr<RemoteKeyAuthority>> remote =
        RemoteKeyAuthority::Create(*config.key_authority);
    if (!remote.ok()) return ReportFailure(remote.status(), "key_authority");
    services.remote_key_authority = *std::move(remote);
  }
  const KeyAuthority* const write_tier_key_authority =
      services.key_authority ? static_cast<const KeyAuthority*>(services.key_authority.get())
                             : services.remote_key_authority.get();
  if (services.key_authority) {
    services.key_authority_handler = std::make_unique<KeyAuthorityHandler>(
        *services.key_authority, config.limits.max_secret_size);
    services.key_authority_service = std::make_unique<KeyAuthorityServiceImpl>(
        runners.decrypt(), *services.key_authority_handler);
  }
  // --- End of split mode.
  if (write_tier) {
    services.credential_handler = std::make_unique<CredentialHandler>(
        *pools.writer, *keys.write, write_tier_key_authority,
        CredentialHandlerOptions{config.limits.max_secret_size, config.orgs.provision_on_first_put,
                                 config.retention.deleted_credentials, on_audit_append});
    services.credential_service =
        std::make_unique<CredentialServiceImpl>(runners.write(), *services.credential_handler);
  }
  if (decrypt_tier) {
    services.access_handler = std::make_unique<AccessHandler>(
        *pools.decryptor, *keys.decrypt, services.org_key_cache,
        AccessHandlerOptions{config.limits.max_secret_size, config.retention.deleted_credentials,
                             on_audit_append});
    services.access_service =
        std::make_unique<CredentialAccessServiceImpl>(runners.decrypt(), *services.access_handler);
    keys.decrypt->late_roots->SetLoader(
        DatabaseRootKeyLoader(*pools.decryptor, *keys.decrypt->seal_key));
    absl::StatusOr<std::function<bool(std::uint32_t)>> root_pinned = RootPinned(config, keys);
    if (!root_pinned.ok()) return ReportFailure(root_pinned.status(), "keys.root_key_pins");
    services.reseal_worker.Start(std::make_unique<ResealWorker>(
        *pools.decryptor, *keys.decrypt, services.org_key_cache,
        ResealWorkerOptions{config.reseal.batch_size, config.reseal.poll_interval,
                            *std::move(root_pinned)},
        on_audit_append));
  }
  return absl::OkStatus();
}

}  // namespace credvault::server

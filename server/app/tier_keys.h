#ifndef CREDVAULT_SERVER_APP_TIER_KEYS_H_
#define CREDVAULT_SERVER_APP_TIER_KEYS_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "server/app/database_pools.h"
#include "server/base/reloadable.h"
#include "server/config/config.h"
#include "server/config/config_flags.h"
#include "server/config/environment.h"
#include "server/keys/decrypt_tier_keys.h"
#include "server/keys/write_tier_keys.h"

namespace credvault::server {

// The keys of the tiers a process runs (docs/architecture.md, "Key hierarchy"): each is
// empty where the process does not run its tier. Handlers keep references into them, so
// they are filled in place and never move.
struct TierKeys {
  std::optional<Reloadable<WriteTierKeys>> write;
  std::optional<DecryptTierKeys> decrypt;
};

// Loads the keys of the tiers `config` runs into `keys` (the decrypt tier's unwraps its
// root keys through `pools.decryptor`). A failure is reported (ReportFailure) as "write
// tier keys" or "decrypt tier keys".
absl::Status LoadTierKeys(const Config& config, const DatabasePools& pools, TierKeys& keys);

// SIGHUP: re-reads the configuration file and swaps in its writer keys and root key pins
// (key rotation without a restart). Everything else in the file takes effect at the next
// start. A configuration or key that does not load changes nothing.
absl::Status ReloadTierKeys(const std::string& config_path, const Environment& environment,
                            const FlagOverrides& overrides, const TierKeys& keys);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_APP_TIER_KEYS_H_

#include "server/app/tier_keys.h"

#include <utility>

#include "common/status_macros.h"
#include "server/app/startup_failure.h"
#include "server/keys/key_loading.h"

namespace credvault::server {

absl::Status LoadTierKeys(const Config& config, const DatabasePools& pools, TierKeys& keys) {
  if (config.RunsTier(Tier::kWrite)) {
    absl::StatusOr<WriteTierKeys> loaded = LoadWriteTierKeys(config.keys);
    if (!loaded.ok()) return ReportFailure(loaded.status(), "write tier keys");
    keys.write.emplace(*std::move(loaded));
  }
  if (config.RunsTier(Tier::kDecrypt)) {
    absl::StatusOr<DecryptTierKeys> loaded = LoadDecryptTierKeys(config.keys, *pools.decryptor);
    if (!loaded.ok()) return ReportFailure(loaded.status(), "decrypt tier keys");
    keys.decrypt.emplace(*std::move(loaded));
  }
  return absl::OkStatus();
}

absl::Status ReloadTierKeys(const std::string& config_path, const Environment& environment,
                            const FlagOverrides& overrides, const TierKeys& keys) {
  CV_ASSIGN_OR_RETURN(const Config reread, LoadConfig(config_path, environment, overrides));
  std::optional<WriteTierKeys> next_write;
  if (keys.write) {
    CV_ASSIGN_OR_RETURN(next_write, LoadWriteTierKeys(reread.keys));
  }
  std::optional<crypto::WriterKeyRing> next_ring;
  if (keys.decrypt) {
    CV_ASSIGN_OR_RETURN(next_ring, LoadWriterKeys(reread.keys));
  }
  if (next_write) keys.write->Replace(*std::move(next_write));
  if (next_ring) keys.decrypt->writer_keys.Replace(*std::move(next_ring));
  return absl::OkStatus();
}

}  // namespace credvault::server

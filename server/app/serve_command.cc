#include "server/app/serve_command.h"

#include <signal.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "common/status_macros.h"
#include "crypto/root_key.h"
#include "server/api/grpc_services.h"
#include "server/app/command_flags.h"
#include "server/app/core_dumps.h"
#include "server/app/database_pools.h"
#include "server/app/leader_jobs.h"
#include "server/app/serve_listeners.h"
#include "server/app/startup_failure.h"
#include "server/app/tier_keys.h"
#include "server/app/tier_runners.h"
#include "server/app/tier_services.h"
#include "server/auth/policy_store.h"
#include "server/auth/service_account_token.h"
#include "server/config/config.h"
#include "server/config/config_flags.h"
#include "server/config/environment.h"
#include "server/keys/key_loading.h"
#include "server/service/audit_handler.h"
#include "server/service/key_rotation_handler.h"
#include "server/service/org_handler.h"
#include "server/telemetry/json_log.h"
#include "server/telemetry/metrics.h"
#include "storage/audit_log.h"
#include "storage/pool.h"
#include "storage/root_key_store.h"

namespace credvault::server {
namespace {

constexpr std::string_view kServeUsage = R"(usage: credvaultd serve --config=FILE [flags]

Runs the tiers named by the configuration file until SIGTERM or SIGINT, then stops
accepting calls and drains the ones in flight (shutdown.drain_timeout). SIGHUP reloads the
policy file and, from the configuration file, keys.writer_keys and keys.root_key_pins (key
rotation without a restart); a policy or key that does not load is refused and the old one
stays in force. Other configuration changes take effect at the next start.

flags:
  --config=FILE       the YAML configuration (default: $CREDVAULT_CONFIG)
  --ready-file=FILE   once every listener is up, write {"listeners": {...: port}} to FILE
                      (the health listener, when configured, under "health")
  --help              this text, the configuration reference and the flags below

)";

// Signals are taken by one thread with sigwait; every thread made from here on inherits
// the mask, so none of them is interrupted.
sigset_t BlockShutdownSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

// The policy file, with the Kubernetes ServiceAccount token verifier (auth.kubernetes)
// when configured: its key set must load now; later refreshes that fail keep the previous
// keys and are logged. A failure is reported as "auth.kubernetes" or "policy".
absl::StatusOr<std::unique_ptr<PolicyStore>> OpenPolicy(const Config& config) {
  std::shared_ptr<const ServiceAccountTokenVerifier> service_account_tokens;
  if (config.auth.kubernetes.has_value()) {
    absl::StatusOr<std::unique_ptr<ServiceAccountTokenVerifier>> verifier =
        ServiceAccountTokenVerifier::Create(*config.auth.kubernetes, [](const absl::Status& why) {
          LogError("kubernetes key set refresh failed; the previous keys stay in force",
                   {{"error", std::string(why.message())}});
        });
    if (!verifier.ok()) return ReportFailure(verifier.status(), "auth.kubernetes");
    service_account_tokens = *std::move(verifier);
  }
  absl::StatusOr<std::unique_ptr<PolicyStore>> policy =
      PolicyStore::Open(config.policy_file, service_account_tokens);
  if (!policy.ok()) return ReportFailure(policy.status(), "policy");
  return policy;
}

// Serves the metrics page when configured (metrics.address) and tracks every pool. A
// failure is reported as "metrics".
absl::Status StartMetrics(const Config& config, const DatabasePools& pools, Metrics& metrics) {
  if (config.metrics) {
    if (absl::Status served = metrics.Serve(config.metrics->address); !served.ok()) {
      return ReportFailure(served, "metrics");
    }
  }
  if (pools.writer) metrics.TrackPool("writer", pools.writer.get());
  if (pools.decryptor) metrics.TrackPool("decryptor", pools.decryptor.get());
  if (pools.admin) metrics.TrackPool("admin", pools.admin.get());
  return absl::OkStatus();
}

// AdminService and its handlers: decrypt tier, admin role. Declared after TierServices,
// whose re-seal worker the key rotations wake.
struct AdminServices {
  std::unique_ptr<OrgHandler> org_handler;
  std::unique_ptr<KeyRotationHandler> key_rotation_handler;
  std::unique_ptr<AuditHandler> audit_handler;
  std::unique_ptr<AdminServiceImpl> admin_service;
};

void BuildAdminServices(const DatabasePools& pools, const TierKeys& keys, TierServices& services,
                        TierRunners& runners,
                        const storage::AuditLog::AppendObserver& on_audit_append,
                        AdminServices& admin) {
  if (!pools.admin) return;
  admin.org_handler = std::make_unique<OrgHandler>(*pools.admin, *keys.decrypt,
                                                   services.org_key_cache, on_audit_append);
  admin.key_rotation_handler = std::make_unique<KeyRotationHandler>(
      *pools.admin, *pools.decryptor, *keys.decrypt, services.org_key_cache,
      [&services] { services.reseal_worker.Wake(); }, on_audit_append);
  admin.audit_handler = std::make_unique<AuditHandler>(*pools.admin, *keys.decrypt);
  admin.admin_service = std::make_unique<AdminServiceImpl>(
      runners.decrypt(), *admin.org_handler, *admin.key_rotation_handler, *admin.audit_handler);
}

// Serves until SIGTERM or SIGINT. SIGHUP reloads the policy file, and the writer keys and
// root key pins from the configuration file; what does not load is refused and logged,
// and the previous one stays in force.
void AwaitShutdown(const sigset_t& signals, PolicyStore& policy, const Config& config,
                   const CommandFlags& flags, const Environment& environment,
                   const TierKeys& keys) {
  while (true) {
    int signal_number = 0;
    if (sigwait(&signals, &signal_number) != 0) continue;
    if (signal_number != SIGHUP) return;
    const absl::Status reloaded = policy.Reload();
    if (reloaded.ok()) {
      LogInfo("policy reloaded", {{"file", config.policy_file}});
    } else {
      LogError("policy reload refused; the previous policy stays in force",
               {{"error", std::string(reloaded.message())}});
    }
    const absl::Status keys_reloaded =
        ReloadTierKeys(flags.config_path, environment, flags.overrides, keys);
    if (keys_reloaded.ok()) {
      LogInfo("writer keys and root key pins reloaded", {{"file", flags.config_path}});
    } else {
      LogError("key reload refused; the previous keys stay in force",
               {{"error", std::string(keys_reloaded.message())}});
    }
  }
}

}  // namespace

// Start order: policy, pools, keys, metrics, runners, services (and the re-seal worker),
// listeners, health, ready file, leader jobs. Each step reports its own failure (a log
// line and stderr) naming the part that failed; the process then exits with 2, and what
// was made goes in reverse order of its making.
int RunServeCommand(const std::vector<std::string_view>& args) {
  absl::StatusOr<CommandFlags> flags = ParseCommandFlags(args, /*accept_overrides=*/true);
  if (!flags.ok()) {
    std::cerr << "credvaultd serve: " << flags.status().message() << "\n\n" << kServeUsage;
    return 2;
  }
  if (flags->help) {
    std::cout << kServeUsage << RenderConfigFlagsReference() << "\n" << RenderConfigReference();
    return 0;
  }
  DisableCoreDumps();
  const sigset_t signals = BlockShutdownSignals();

  const ProcessEnvironment environment;
  absl::StatusOr<Config> config = LoadConfig(flags->config_path, environment, flags->overrides);
  if (!config.ok()) {
    std::cerr << "credvaultd: configuration " << flags->config_path << ":\n"
              << config.status().message() << "\n";
    return 2;
  }
  JsonLog::SetMinimumLevel(static_cast<Severity>(config->logging.level));

  const absl::StatusOr<std::unique_ptr<PolicyStore>> policy = OpenPolicy(*config);
  if (!policy.ok()) return 2;
  DatabasePools pools;
  if (!OpenDatabasePools(*config, pools).ok()) return 2;
  TierKeys keys;
  if (!LoadTierKeys(*config, pools, keys).ok()) return 2;
  Metrics metrics;
  if (!StartMetrics(*config, pools, metrics).ok()) return 2;
  TierRunners runners(*config, **policy, pools, metrics);
  const storage::AuditLog::AppendObserver on_audit_append = [&metrics](absl::Duration latency) {
    metrics.RecordAuditAppend(latency);
  };
  TierServices services;
  if (!BuildTierServices(*config, pools, keys, runners, on_audit_append, services).ok()) return 2;
  AdminServices admin;
  BuildAdminServices(pools, keys, services, runners, on_audit_append, admin);

  const ServedServices served{services.credential_service.get(), services.access_service.get(),
                              services.key_authority_service.get(), admin.admin_service.get()};
  ServeListeners listeners;
  if (!listeners.StartTierListeners(*config, served, metrics).ok()) return 2;
  if (!listeners.StartHealth(*config, served, pools).ok()) return 2;
  if (!flags->ready_file.empty()) listeners.WriteReadyFile(flags->ready_file, *config, metrics);
  LeaderJobs leader_jobs;  // stopped first on the way out
  if (!leader_jobs.Start(*config, pools, keys, metrics, on_audit_append).ok()) return 2;

  LogInfo("credvaultd serving",
          {{"tiers", std::string(config->RunsTier(Tier::kWrite) ? "write " : "") +
                         (config->RunsTier(Tier::kDecrypt) ? "decrypt" : "")}});
  AwaitShutdown(signals, **policy, *config, *flags, environment, keys);

  leader_jobs.Stop();
  listeners.Drain(*config);
  LogInfo("stopped");
  return 0;
}

}  // namespace credvault::server

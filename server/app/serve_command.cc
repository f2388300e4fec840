#include "server/app/serve_command.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "common/status_macros.h"
#include "crypto/root_key.h"
#include "nlohmann/json.hpp"
#include "server/api/blocking_executor.h"
#include "server/api/call_runner.h"
#include "server/api/grpc_listener.h"
#include "server/api/grpc_services.h"
#include "server/api/health_listener.h"
#include "server/api/remote_key_authority.h"
#include "server/auth/policy_store.h"
#include "server/base/reloadable.h"
#include "server/config/config.h"
#include "server/config/config_flags.h"
#include "server/config/environment.h"
#include "server/config/libpq_conninfo.h"
#include "server/jobs/audit_checkpointer.h"
#include "server/jobs/reseal_worker.h"
#include "server/jobs/retention_scheduler.h"
#include "server/keys/key_loading.h"
#include "server/keys/late_root_keys.h"
#include "server/keys/org_key_cache.h"
#include "server/service/access_handler.h"
#include "server/service/admin_handler.h"
#include "server/service/credential_handler.h"
#include "server/service/key_authority_handler.h"
#include "server/service/local_key_authority.h"
#include "server/service/rate_limiter.h"
#include "server/telemetry/json_log.h"
#include "server/telemetry/metrics.h"
#include "storage/leader_lock.h"
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

// How often the health service checks that each database role still connects.
constexpr absl::Duration kDatabaseCheckInterval = absl::Seconds(2);

// Secrets live in this process's memory: a core dump would write them to disk.
void DisableCoreDumps() {
  const rlimit none{0, 0};
  setrlimit(RLIMIT_CORE, &none);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

struct CommonFlags {
  std::string config_path;
  std::string ready_file;
  FlagOverrides overrides;
  bool help = false;
};

absl::StatusOr<CommonFlags> ParseFlags(const std::vector<std::string_view>& args,
                                       bool accept_overrides) {
  CommonFlags flags;
  for (const std::string_view arg : args) {
    if (arg == "--help" || arg == "-h") {
      flags.help = true;
    } else if (arg.substr(0, 9) == "--config=") {
      flags.config_path = std::string(arg.substr(9));
    } else if (arg.substr(0, 13) == "--ready-file=") {
      flags.ready_file = std::string(arg.substr(13));
    } else if (accept_overrides) {
      CV_ASSIGN_OR_RETURN(const bool known, ParseConfigFlag(arg, flags.overrides));
      if (!known) return absl::InvalidArgumentError("unknown argument '" + std::string(arg) + "'");
    } else {
      return absl::InvalidArgumentError("unknown argument '" + std::string(arg) + "'");
    }
  }
  if (flags.config_path.empty()) {
    if (const char* env = std::getenv("CREDVAULT_CONFIG"); env != nullptr) flags.config_path = env;
  }
  if (flags.config_path.empty() && !flags.help) {
    return absl::InvalidArgumentError("--config=FILE (or CREDVAULT_CONFIG) is required");
  }
  return flags;
}

absl::StatusOr<std::unique_ptr<storage::ConnectionPool>> OpenPool(const Config& config,
                                                                  const DatabaseRoleConfig& role) {
  storage::PoolOptions options;
  options.connection_string =
      std::string(LibpqConnectionString(config.database, role).RevealSecret());
  options.max_size = static_cast<std::size_t>(role.pool_size);
  options.acquire_timeout = config.database.acquire_timeout;
  options.statement_timeout = config.database.statement_timeout;
  return storage::ConnectionPool::Create(std::move(options));
}

void Report(const absl::Status& status, std::string_view what) {
  LogError(what, {{"error", status.ToString()}});
  std::cerr << "credvaultd: " << what << ": " << status.message() << "\n";
}

}  // namespace

namespace {

// SIGHUP: re-reads the configuration file and swaps in its writer keys and root key pins
// (key rotation without a restart). Everything else in the file takes effect at the next
// start. A configuration or key that does not load changes nothing.
absl::Status ReloadKeys(const std::string& config_path, const Environment& environment,
                        const FlagOverrides& overrides,
                        const std::optional<Reloadable<WriteTierKeys>>& write_keys,
                        const std::optional<DecryptTierKeys>& decrypt_keys) {
  CV_ASSIGN_OR_RETURN(const Config reread, LoadConfig(config_path, environment, overrides));
  std::optional<WriteTierKeys> next_write;
  if (write_keys) {
    CV_ASSIGN_OR_RETURN(next_write, LoadWriteTierKeys(reread.keys));
  }
  std::optional<crypto::WriterKeyRing> next_ring;
  if (decrypt_keys) {
    CV_ASSIGN_OR_RETURN(next_ring, LoadWriterKeys(reread.keys));
  }
  if (next_write) write_keys->Replace(*std::move(next_write));
  if (next_ring) decrypt_keys->writer_keys.Replace(*std::move(next_ring));
  return absl::OkStatus();
}

}  // namespace

int RunServeCommand(const std::vector<std::string_view>& args) {
  absl::StatusOr<CommonFlags> flags = ParseFlags(args, /*accept_overrides=*/true);
  if (!flags.ok()) {
    std::cerr << "credvaultd serve: " << flags.status().message() << "\n\n" << kServeUsage;
    return 2;
  }
  if (flags->help) {
    std::cout << kServeUsage << RenderConfigFlagsReference() << "\n" << RenderConfigReference();
    return 0;
  }
  DisableCoreDumps();
  // Signals are taken by one thread with sigwait; every thread made from here on inherits
  // the mask, so none of them is interrupted.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const ProcessEnvironment environment;
  absl::StatusOr<Config> config = LoadConfig(flags->config_path, environment, flags->overrides);
  if (!config.ok()) {
    std::cerr << "credvaultd: configuration " << flags->config_path << ":\n"
              << config.status().message() << "\n";
    return 2;
  }
  JsonLog::SetMinimumLevel(static_cast<Severity>(config->logging.level));

  // Kubernetes ServiceAccount tokens (auth.kubernetes): the key set must load now; later
  // refreshes that fail keep the previous keys and are logged.
  std::shared_ptr<const ServiceAccountTokenVerifier> service_account_tokens;
  if (config->auth.kubernetes.has_value()) {
    absl::StatusOr<std::unique_ptr<ServiceAccountTokenVerifier>> verifier =
        ServiceAccountTokenVerifier::Create(*config->auth.kubernetes, [](const absl::Status& why) {
          LogError("kubernetes key set refresh failed; the previous keys stay in force",
                   {{"error", std::string(why.message())}});
        });
    if (!verifier.ok()) return Report(verifier.status(), "auth.kubernetes"), 2;
    service_account_tokens = *std::move(verifier);
  }
  absl::StatusOr<std::unique_ptr<PolicyStore>> policy =
      PolicyStore::Open(config->policy_file, service_account_tokens);
  if (!policy.ok()) return Report(policy.status(), "policy"), 2;

  const bool write_tier = config->RunsTier(Tier::kWrite);
  const bool decrypt_tier = config->RunsTier(Tier::kDecrypt);
  std::unique_ptr<storage::ConnectionPool> writer_pool, decryptor_pool, admin_pool;
  if (write_tier) {
    absl::StatusOr<std::unique_ptr<storage::ConnectionPool>> pool =
        OpenPool(*config, *config->database.writer);
    if (!pool.ok()) return Report(pool.status(), "database.writer"), 2;
    writer_pool = *std::move(pool);
  }
  if (decrypt_tier) {
    absl::StatusOr<std::unique_ptr<storage::ConnectionPool>> pool =
        OpenPool(*config, *config->database.decryptor);
    if (!pool.ok()) return Report(pool.status(), "database.decryptor"), 2;
    decryptor_pool = *std::move(pool);
    if (config->database.admin) {
      absl::StatusOr<std::unique_ptr<storage::ConnectionPool>> admin =
          OpenPool(*config, *config->database.admin);
      if (!admin.ok()) return Report(admin.status(), "database.admin"), 2;
      admin_pool = *std::move(admin);
    }
  }

  std::optional<Reloadable<WriteTierKeys>> write_keys;
  if (write_tier) {
    absl::StatusOr<WriteTierKeys> keys = LoadWriteTierKeys(config->keys);
    if (!keys.ok()) return Report(keys.status(), "write tier keys"), 2;
    write_keys.emplace(*std::move(keys));
  }
  std::optional<DecryptTierKeys> decrypt_keys;
  if (decrypt_tier) {
    absl::StatusOr<DecryptTierKeys> keys = LoadDecryptTierKeys(config->keys, *decryptor_pool);
    if (!keys.ok()) return Report(keys.status(), "decrypt tier keys"), 2;
    decrypt_keys.emplace(*std::move(keys));
  }

  Metrics metrics;
  if (config->metrics) {
    if (absl::Status served = metrics.Serve(config->metrics->address); !served.ok()) {
      return Report(served, "metrics"), 2;
    }
  }
  if (writer_pool) metrics.TrackPool("writer", writer_pool.get());
  if (decryptor_pool) metrics.TrackPool("decryptor", decryptor_pool.get());
  if (admin_pool) metrics.TrackPool("admin", admin_pool.get());
  const auto connections = [](const auto& role) -> std::size_t {
    return role ? static_cast<std::size_t>(role->pool_size) : 0;
  };
  // Blocking threads per tier (docs/architecture.md, "Performance"). A write request holds
  // a writer connection for all of its blocking work, so threads beyond the writer pool
  // would only wait for a connection, each wait a sleep and a wake-up. A Decrypt holds
  // its connection only for the read, then waits for its group commit: twice its
  // connections keep the audit batches full.
  // Each tier admits limits.max_queued_requests waiting and limits.max_requests_per_org of
  // one org (docs/architecture.md, "Admission control and per-org fairness").
  const BlockingExecutor::Limits admission{.max_queued = config->limits.max_queued_requests,
                                           .max_per_key = config->limits.max_requests_per_org};
  BlockingExecutor write_executor(
      std::clamp<std::size_t>(connections(config->database.writer), 2, 128), admission);
  BlockingExecutor decrypt_executor(
      std::clamp<std::size_t>(
          2 * (connections(config->database.decryptor) + connections(config->database.admin)), 2,
          128),
      admission);
  const DenialAuditor write_denials(writer_pool.get());
  const DenialAuditor decrypt_denials(decryptor_pool.get());
  CallRunner write_runner(**policy, write_executor, "write", &metrics, write_denials);
  CallRunner decrypt_runner(**policy, decrypt_executor, "decrypt", &metrics, decrypt_denials);

  const storage::AuditLog::AppendObserver on_audit_append = [&metrics](absl::Duration latency) {
    metrics.RecordAuditAppend(latency);
  };
  OrgKeyCache org_key_cache(absl::Minutes(5), 10000);
  std::unique_ptr<LocalKeyAuthority> key_authority;
  std::unique_ptr<CredentialHandler> credential_handler;
  std::unique_ptr<AccessHandler> access_handler;
  std::unique_ptr<AdminHandler> admin_handler;
  std::unique_ptr<CredentialServiceImpl> credential_service;
  std::unique_ptr<CredentialAccessServiceImpl> access_service;
  std::unique_ptr<AdminServiceImpl> admin_service;
  // Re-seal jobs run on the decrypt tier's own thread; stopped on every way out.
  std::unique_ptr<ResealWorker> reseal_worker;
  std::thread reseal_thread;
  const absl::Cleanup stop_reseal_worker = [&reseal_worker, &reseal_thread] {
    if (reseal_worker) reseal_worker->Stop();
    if (reseal_thread.joinable()) reseal_thread.join();
  };
  if (decrypt_tier) {
    key_authority = std::make_unique<LocalKeyAuthority>(
        *decryptor_pool, *decrypt_keys, org_key_cache,
        LocalKeyAuthorityOptions{config->limits.max_secret_size, config->limits.compare_per_minute,
                                 on_audit_append});
  }
  // --- Split mode: the key authority of a write-only process is the decrypt tier's
  // KeyAuthorityService (config key_authority); a combined process uses its own, and a
  // write-only process without the section has none. The decrypt tier serves the service
  // on its decrypt listener.
  std::unique_ptr<RemoteKeyAuthority> remote_key_authority;
  if (write_tier && !decrypt_tier && config->key_authority) {
    absl::StatusOr<std::unique_ptr<RemoteKeyAuthority>> remote =
        RemoteKeyAuthority::Create(*config->key_authority);
    if (!remote.ok()) return Report(remote.status(), "key_authority"), 2;
    remote_key_authority = *std::move(remote);
  }
  const KeyAuthority* const write_tier_key_authority =
      key_authority ? static_cast<const KeyAuthority*>(key_authority.get())
                    : remote_key_authority.get();
  std::unique_ptr<KeyAuthorityHandler> key_authority_handler;
  std::unique_ptr<KeyAuthorityServiceImpl> key_authority_service;
  if (key_authority) {
    key_authority_handler =
        std::make_unique<KeyAuthorityHandler>(*key_authority, config->limits.max_secret_size);
    key_authority_service =
        std::make_unique<KeyAuthorityServiceImpl>(decrypt_runner, *key_authority_handler);
  }
  // --- End of split mode.
  if (write_tier) {
    credential_handler = std::make_unique<CredentialHandler>(
        *writer_pool, *write_keys, write_tier_key_authority,
        CredentialHandlerOptions{config->limits.max_secret_size,
                                 config->orgs.provision_on_first_put,
                                 config->retention.deleted_credentials, on_audit_append});
    credential_service = std::make_unique<CredentialServiceImpl>(write_runner, *credential_handler);
  }
  if (decrypt_tier) {
    access_handler = std::make_unique<AccessHandler>(
        *decryptor_pool, *decrypt_keys, org_key_cache,
        AccessHandlerOptions{config->limits.max_secret_size, config->retention.deleted_credentials,
                             on_audit_append});
    access_service = std::make_unique<CredentialAccessServiceImpl>(decrypt_runner, *access_handler);
    decrypt_keys->late_roots->SetLoader(
        DatabaseRootKeyLoader(*decryptor_pool, *decrypt_keys->seal_key));
    // Root key jobs wait until the write tier pins the new root: this process's own write
    // tier, or the pins a decrypt-only configuration lists for its write tiers.
    std::function<bool(std::uint32_t)> root_pinned;
    if (write_keys) {
      root_pinned = [&write_keys](std::uint32_t version) {
        return write_keys->Get()->root_pins.IsPinned(version);
      };
    } else if (!config->keys.root_key_pins.empty()) {
      absl::StatusOr<crypto::RootKeyPins> pins =
          crypto::RootKeyPins::New(config->keys.root_key_pins);
      if (!pins.ok()) return Report(pins.status(), "keys.root_key_pins"), 2;
      root_pinned = [pins = *std::move(pins)](std::uint32_t version) {
        return pins.IsPinned(version);
      };
    }
    reseal_worker = std::make_unique<ResealWorker>(
        *decryptor_pool, *decrypt_keys, org_key_cache,
        ResealWorkerOptions{config->reseal.batch_size, config->reseal.poll_interval,
                            std::move(root_pinned)},
        on_audit_append);
    reseal_thread = std::thread([&reseal_worker] { reseal_worker->Run(); });
    if (admin_pool) {
      admin_handler = std::make_unique<AdminHandler>(
          *admin_pool, *decryptor_pool, *decrypt_keys, org_key_cache,
          [&reseal_worker] { reseal_worker->Wake(); }, on_audit_append);
      admin_service = std::make_unique<AdminServiceImpl>(decrypt_runner, *admin_handler);
    }
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  std::vector<RunningListener> listeners;
  const auto start = [&](const std::string& name, const std::optional<ListenerConfig>& listener,
                         std::vector<grpc::Service*> services) -> absl::Status {
    if (!listener || services.empty()) return absl::OkStatus();
    CV_ASSIGN_OR_RETURN(RunningListener running,
                        StartListener(name, *listener, services, *config, &metrics));
    LogInfo("listening", {{"listener", name},
                          {"address", listener->address},
                          {"port", std::to_string(running.port)},
                          {"tls", listener->plaintext ? "off" : "on"}});
    listeners.push_back(std::move(running));
    return absl::OkStatus();
  };
  absl::Status started = absl::OkStatus();
  if (write_tier)
    started.Update(start("write", config->listeners.write, {credential_service.get()}));
  if (decrypt_tier) {
    std::vector<grpc::Service*> decrypt_services = {access_service.get(),
                                                    key_authority_service.get()};
    if (admin_service && !config->listeners.admin) decrypt_services.push_back(admin_service.get());
    started.Update(start("decrypt", config->listeners.decrypt, decrypt_services));
    if (admin_service && config->listeners.admin) {
      started.Update(start("admin", config->listeners.admin, {admin_service.get()}));
    }
  }
  if (!started.ok()) return Report(started, "listeners"), 2;

  // Health: each service name follows the database role it uses, on every listener. The
  // health listener starts last, so that its "" means every other listener is up.
  std::unique_ptr<HealthListener> health_listener;  // outlives `serving`, which reports to it
  std::vector<HealthDependency> dependencies;
  if (credential_service) {
    dependencies.push_back(DatabaseDependency(
        credvault::v1::CredentialService::service_full_name(), "database.writer", *writer_pool,
        static_cast<std::size_t>(config->database.writer->pool_size)));
  }
  if (access_service) {
    dependencies.push_back(DatabaseDependency(
        credvault::v1::CredentialAccessService::service_full_name(), "database.decryptor",
        *decryptor_pool, static_cast<std::size_t>(config->database.decryptor->pool_size)));
  }
  if (admin_service) {
    dependencies.push_back(DatabaseDependency(
        credvault::v1::AdminService::service_full_name(), "database.admin", *admin_pool,
        static_cast<std::size_t>(config->database.admin->pool_size)));
  }
  ServingStatus serving(std::move(dependencies), kDatabaseCheckInterval);
  for (RunningListener& listener : listeners) {
    if (auto* health = listener.server->GetHealthCheckService()) serving.Attach(health);
  }
  serving.Start();
  if (config->listeners.health) {
    absl::StatusOr<std::unique_ptr<HealthListener>> health =
        HealthListener::Start(config->listeners.health->address);
    if (!health.ok()) return Report(health.status(), "listeners"), 2;
    health_listener = *std::move(health);
    serving.Attach(health_listener->health());
    LogInfo("listening", {{"listener", "health"},
                          {"address", config->listeners.health->address},
                          {"port", std::to_string(health_listener->port())},
                          {"tls", "off"}});
  }

  if (!flags->ready_file.empty()) {
    nlohmann::json ready;
    for (const RunningListener& listener : listeners)
      ready["listeners"][listener.name] = listener.port;
    if (health_listener) ready["listeners"]["health"] = health_listener->port();
    if (config->metrics) ready["metrics"] = metrics.port();
    std::ofstream(flags->ready_file) << ready.dump() << "\n";
  }
  // The retention sweep: decrypt tier, admin role; replicas elect one sweeper with an
  // advisory lock on a connection of its own. Stopped first on the way out.
  std::unique_ptr<RetentionScheduler> retention;
  if (admin_pool && config->retention.enabled) {
    absl::StatusOr<std::unique_ptr<storage::LeaderLock>> leader = storage::LeaderLock::Create(
        {std::string(
             LibpqConnectionString(config->database, *config->database.admin).RevealSecret()),
         storage::kRetentionLeaderLockKey, config->database.statement_timeout});
    if (!leader.ok()) return Report(leader.status(), "retention"), 2;
    retention = std::make_unique<RetentionScheduler>(
        *admin_pool, *std::move(leader),
        RetentionOptions{config->retention.deleted_credentials, config->retention.audit_events,
                         config->idempotency.retention, config->retention.interval,
                         config->retention.batch_size},
        decrypt_keys->audit_signer ? &*decrypt_keys->audit_signer : nullptr, &metrics, &absl::Now,
        on_audit_append);
    retention->Start();
  }
  // Periodic signed checkpoints: like retention, decrypt tier and admin role, one replica
  // at a time under a lock of their own.
  std::unique_ptr<AuditCheckpointer> checkpointer;
  if (admin_pool && decrypt_keys->audit_signer) {
    absl::StatusOr<std::unique_ptr<storage::LeaderLock>> leader = storage::LeaderLock::Create(
        {std::string(
             LibpqConnectionString(config->database, *config->database.admin).RevealSecret()),
         storage::kAuditCheckpointLeaderLockKey, config->database.statement_timeout});
    if (!leader.ok()) return Report(leader.status(), "audit_checkpoints"), 2;
    checkpointer = std::make_unique<AuditCheckpointer>(*admin_pool, *std::move(leader),
                                                       config->audit_checkpoints.interval,
                                                       *decrypt_keys->audit_signer, &metrics);
    checkpointer->Start();
  }

  LogInfo("credvaultd serving",
          {{"tiers", std::string(write_tier ? "write " : "") + (decrypt_tier ? "decrypt" : "")}});

  while (true) {
    int signal_number = 0;
    if (sigwait(&signals, &signal_number) != 0) continue;
    if (signal_number == SIGHUP) {
      const absl::Status reloaded = (*policy)->Reload();
      if (reloaded.ok()) {
        LogInfo("policy reloaded", {{"file", config->policy_file}});
      } else {
        LogError("policy reload refused; the previous policy stays in force",
                 {{"error", std::string(reloaded.message())}});
      }
      const absl::Status keys_reloaded =
          ReloadKeys(flags->config_path, environment, flags->overrides, write_keys, decrypt_keys);
      if (keys_reloaded.ok()) {
        LogInfo("writer keys and root key pins reloaded", {{"file", flags->config_path}});
      } else {
        LogError("key reload refused; the previous keys stay in force",
                 {{"error", std::string(keys_reloaded.message())}});
      }
      continue;
    }
    break;
  }
  if (retention) retention->Stop();  // ends a sweep after its current transaction
  if (checkpointer) checkpointer->Stop();
  // Every health service answers NOT_SERVING from here on. The health listener keeps
  // answering so while the other listeners drain, and closes last.
  serving.Drain();
  // Kubernetes sends SIGTERM while endpoints and load balancers may still route new
  // connections here; serving on for shutdown.pre_stop_delay (readiness already
  // NOT_SERVING) lets them catch up instead of being refused.
  if (config->shutdown.pre_stop_delay > absl::ZeroDuration()) {
    const absl::Duration delay = config->shutdown.pre_stop_delay;
    LogInfo("pre-stop delay: serving while health reports NOT_SERVING",
            {{"delay_ms", std::to_string(absl::ToInt64Milliseconds(delay))}});
    absl::SleepFor(delay);
  }
  LogInfo("draining",
          {{"timeout_s", std::to_string(absl::ToInt64Seconds(config->shutdown.drain_timeout))}});
  const auto deadline =
      std::chrono::system_clock::now() + absl::ToChronoSeconds(config->shutdown.drain_timeout);
  for (RunningListener& listener : listeners) listener.server->Shutdown(deadline);
  for (RunningListener& listener : listeners) listener.server->Wait();
  if (health_listener) health_listener->Shutdown();
  LogInfo("stopped");
  return 0;
}

int RunInitRootKeyCommand(const std::vector<std::string_view>& args) {
  absl::StatusOr<CommonFlags> flags = ParseFlags(args, /*accept_overrides=*/false);
  if (!flags.ok() || flags->help) {
    std::cerr << "usage: credvaultd init-root-key --config=FILE\n\n"
                 "Makes root key version 1 (wrapped by the seal key) when the database has no\n"
                 "root key, then prints every root key's pin for keys.root_key_pins.\n";
    return flags.ok() ? 0 : 2;
  }
  DisableCoreDumps();
  const ProcessEnvironment environment;
  absl::StatusOr<Config> config = LoadConfig(flags->config_path, environment);
  if (!config.ok()) {
    std::cerr << "credvaultd: configuration:\n" << config.status().message() << "\n";
    return 2;
  }
  if (!config->RunsTier(Tier::kDecrypt) || !config->database.decryptor) {
    std::cerr << "credvaultd init-root-key: needs a decrypt-tier configuration\n";
    return 2;
  }
  absl::StatusOr<std::unique_ptr<storage::ConnectionPool>> pool =
      OpenPool(*config, *config->database.decryptor);
  absl::StatusOr<std::unique_ptr<crypto::SealKeyProvider>> seal_key = OpenSealKey(config->keys);
  if (!pool.ok()) return Report(pool.status(), "database.decryptor"), 1;
  if (!seal_key.ok()) return Report(seal_key.status(), "keys.seal_key"), 1;
  const storage::RootKeyStore root_keys;
  std::vector<storage::RootKey> roots;
  const absl::Status status = (*pool)->RunWithoutOrg([&](storage::Transaction& tx) -> absl::Status {
    CV_ASSIGN_OR_RETURN(roots, root_keys.List(tx));
    if (!roots.empty()) return absl::OkStatus();
    CV_ASSIGN_OR_RETURN(const crypto::SealedRootKey made, crypto::GenerateRootKey(1, **seal_key));
    storage::NewRootKey key;
    key.version = 1;
    key.public_key.assign(made.public_key.begin(), made.public_key.end());
    key.sealed_private_key = made.wrapped_private_key;
    key.seal_key_id = made.seal_key_id;
    CV_RETURN_IF_ERROR(root_keys.Rotate(tx, key));
    CV_ASSIGN_OR_RETURN(roots, root_keys.List(tx));
    return absl::OkStatus();
  });
  if (!status.ok()) return Report(status, "init-root-key"), 1;
  for (const storage::RootKey& root : roots) {
    crypto::X25519PublicKey public_key{};
    if (root.public_key.size() != public_key.size()) continue;
    std::copy(root.public_key.begin(), root.public_key.end(), public_key.begin());
    std::cout << root.version << ": " << crypto::RootKeyFingerprint(public_key) << "\n";
  }
  return 0;
}

int RunKeyDirectoryPinsCommand(const std::vector<std::string_view>& args) {
  absl::StatusOr<CommonFlags> flags = ParseFlags(args, /*accept_overrides=*/false);
  if (!flags.ok() || flags->help) {
    std::cerr << "usage: credvaultd key-directory-pins --config=FILE\n\n"
                 "Prints the public half of every key directory signing key of a decrypt-tier\n"
                 "configuration, one `version: key` line each, for keys.key_directory_pins.\n";
    return flags.ok() ? 0 : 2;
  }
  DisableCoreDumps();
  const ProcessEnvironment environment;
  absl::StatusOr<Config> config = LoadConfig(flags->config_path, environment);
  if (!config.ok()) {
    std::cerr << "credvaultd: configuration:\n" << config.status().message() << "\n";
    return 2;
  }
  absl::StatusOr<std::vector<crypto::KeyDirectorySigner>> signers =
      LoadKeyDirectorySigners(config->keys);
  if (!signers.ok()) return Report(signers.status(), "keys.key_directory_signing_keys"), 1;
  if (signers->empty()) {
    std::cerr << "credvaultd key-directory-pins: the configuration has no "
                 "keys.key_directory_signing_keys\n";
    return 2;
  }
  std::map<std::uint32_t, std::string> pins;
  for (const crypto::KeyDirectorySigner& signer : *signers) {
    pins[signer.version()] = crypto::KeyDirectoryPublicKeyHex(signer.public_key());
  }
  for (const auto& [version, pin] : pins) std::cout << version << ": " << pin << "\n";
  return 0;
}

}  // namespace credvault::server

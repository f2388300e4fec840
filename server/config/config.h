#ifndef CREDVAULT_SERVER_CONFIG_CONFIG_H_
#define CREDVAULT_SERVER_CONFIG_CONFIG_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/auth/kubernetes_auth_config.h"
#include "server/config/config_flags.h"
#include "server/config/config_secret.h"
#include "server/config/environment.h"
#include "server/schema/schema_reference.h"

namespace credvault::server {

// The configuration of one credvaultd process, as read from its YAML file, the flags that
// override some keys, and the environment variables that hold its secrets. The schema,
// with every key's meaning and default, is in config_schema.cc and printed by
// `credvaultd --help`. Member defaults here are the documented defaults.

enum class Tier { kWrite, kDecrypt };
enum class SslMode { kDisable, kAllow, kPrefer, kRequire, kVerifyCa, kVerifyFull };
enum class SealKeyBackend { kFile, kPkcs11 };
enum class LogLevel { kDebug, kInfo, kWarning, kError };

// The names used in the file ("write", "verify-full", "pkcs11", "warning").
std::string_view TierName(Tier tier);
std::string_view SslModeName(SslMode mode);
std::string_view SealKeyBackendName(SealKeyBackend backend);
std::string_view LogLevelName(LogLevel level);

struct TlsConfig {
  std::string cert_file;  // PEM chain, leaf first
  std::string key_file;   // PEM private key
  // CA bundle for client certificates; empty: client certificates are not requested.
  // When set, a presented client certificate is always verified against it.
  std::string client_ca_file;
  bool require_client_cert = true;
  // How often the files above are re-read; a changed, valid set is used for new
  // connections (server/api/tls_reloader.h).
  absl::Duration reload_interval = absl::Seconds(60);
};

struct ListenerConfig {
  std::string address;           // host:port, see address.h
  std::optional<TlsConfig> tls;  // exactly one of tls and plaintext
  bool plaintext = false;        // loopback addresses only
};

// A listener that serves grpc.health.v1.Health and nothing else, in plaintext on any
// address, for probes that cannot speak TLS (the kubelet's `grpc:` probe).
struct HealthListenerConfig {
  std::string address;  // host:port, see address.h
};

struct ListenersConfig {
  std::optional<ListenerConfig> write;         // CredentialService
  std::optional<ListenerConfig> decrypt;       // CredentialAccessService (+ AdminService)
  std::optional<ListenerConfig> admin;         // AdminService, when apart from decrypt
  std::optional<HealthListenerConfig> health;  // grpc.health.v1.Health only
  // A connection older than this is sent GOAWAY, so that clients rebalance onto new
  // replicas (its calls get max_connection_age_grace more to finish).
  absl::Duration max_connection_age = absl::Minutes(30);
};

struct MetricsConfig {
  std::string address;  // plain HTTP /metrics
};

struct DatabaseRoleConfig {
  std::string user;
  std::string password_env;  // name of the variable holding the password
  int pool_size = 16;
  // Read from `password_env` when the role is used by a tier this process runs.
  ConfigSecret password;
};

struct DatabaseConfig {
  // One host, or a comma-separated list that libpq tries in turn; an entry starting with
  // '/' (or '@', Linux's abstract namespace) is a Unix socket directory.
  std::string host = "127.0.0.1";
  // One port for every host, or a comma-separated list with one port per host, as libpq
  // takes them; ValidateDatabase (config.cc) checks the counts match.
  std::string port = "5432";
  std::string dbname = "credvault";
  // Empty ("auto" in the file): the hosts decide, see EffectiveSslMode (libpq_conninfo.h).
  std::optional<SslMode> sslmode;
  // Accept an explicit sslmode of disable, allow or prefer for a host reached over a
  // network, where an attacker on the path could strip TLS.
  bool allow_insecure_transport = false;
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration statement_timeout = absl::Seconds(10);
  absl::Duration acquire_timeout = absl::Seconds(2);
  std::optional<DatabaseRoleConfig> writer;     // write tier
  std::optional<DatabaseRoleConfig> decryptor;  // decrypt tier
  std::optional<DatabaseRoleConfig> admin;      // AdminService (decrypt tier)
};

struct WriterKeysConfig {
  std::uint32_t current = 0;                   // version that authenticates new records
  std::map<std::uint32_t, std::string> files;  // version -> key file
};

struct Pkcs11Config {
  std::string module;  // path of the PKCS#11 library
  std::string token_label;
  std::string key_label;  // label of the AES-256 key object
  std::string pin_env;    // exactly one of pin_env and pin_file
  std::string pin_file;
  ConfigSecret pin;  // read from pin_env at load; empty with pin_file
};

struct SealKeyConfig {
  SealKeyBackend provider = SealKeyBackend::kFile;
  std::string file;                    // provider file
  std::optional<Pkcs11Config> pkcs11;  // provider pkcs11
};

// The key directory signing keys (Ed25519 seeds, 32 bytes) of the key authority.
struct KeyDirectoryKeysConfig {
  std::uint32_t current = 0;                   // version that signs org key records
  std::map<std::uint32_t, std::string> files;  // version -> seed file
};

struct KeysConfig {
  std::optional<WriterKeysConfig> writer_keys;
  std::optional<KeyDirectoryKeysConfig> key_directory_signing_keys;  // decrypt tier only
  // Key directory public keys the write tier verifies org key records with, by version
  // (64 hex digits or base64). A process that also runs the decrypt tier pins its own.
  std::map<std::uint32_t, std::string> key_directory_pins;
  std::map<std::uint32_t, std::string> root_key_pins;  // version -> pin (crypto/root_key.h)
  std::optional<SealKeyConfig> seal_key;               // decrypt tier only
  // Seal keys being rotated away from (decrypt tier only): they unwrap root keys that
  // still name them, until `credvaultd rewrap-root-keys` has moved those to seal_key.
  std::vector<SealKeyConfig> previous_seal_keys;
  std::string audit_signing_key_file;  // decrypt tier only, required there
};

struct LimitsConfig {
  std::size_t max_secret_size = 65536;
  int default_page_size = 50;
  int max_page_size = 500;
  int compare_per_minute = 60;
  std::size_t max_request_bytes = 131072;
  // Admission control, per tier (docs/architecture.md, "Admission control and per-org
  // fairness"): requests waiting for a worker thread, and requests naming one org that are
  // waiting or running. Beyond either the request is refused with RESOURCE_EXHAUSTED.
  std::size_t max_queued_requests = 4096;
  std::size_t max_requests_per_org = 512;
};

struct OrgsConfig {
  bool provision_on_first_put = true;
};

struct IdempotencyConfig {
  absl::Duration retention = absl::Hours(24);
};

struct RetentionConfig {
  absl::Duration deleted_credentials = absl::Hours(720);
  absl::Duration audit_events = absl::Hours(9600);
  // The sweep that enforces the windows (decrypt tier, one replica at a time).
  bool enabled = true;
  absl::Duration interval = absl::Hours(1);
  std::size_t batch_size = 500;
};

struct AuditCheckpointsConfig {
  // Sign the head of every grown audit chain this often (decrypt tier, one replica at a
  // time, with keys.audit_signing_key_file).
  absl::Duration interval = absl::Hours(1);
};

struct ResealConfig {
  std::size_t batch_size = 200;
  absl::Duration poll_interval = absl::Seconds(5);
};

struct LoggingConfig {
  LogLevel level = LogLevel::kInfo;
};

// How a write-only process reaches the key authority (the decrypt tier's
// KeyAuthorityService) to provision orgs and answer CompareCredential (split mode).
struct KeyAuthorityTlsConfig {
  std::string ca_file;    // PEM bundle that verifies the decrypt listener's certificate
  std::string cert_file;  // client certificate chain (mutual TLS); empty: none
  std::string key_file;   // its private key; set exactly when cert_file is
};

struct KeyAuthorityConfig {
  std::string address;  // host:port of the decrypt listener
  std::optional<KeyAuthorityTlsConfig> tls;
  // Name the decrypt listener's certificate must carry, when not the address's host.
  std::string server_name;
  // Bearer token instead of a client certificate: at most one of these two.
  std::string bearer_token_env;
  std::string bearer_token_file;  // read at start, not here
  ConfigSecret bearer_token;      // read from bearer_token_env at load
};

struct AuthConfig {
  std::optional<KubernetesAuthConfig> kubernetes;
};

struct ShutdownConfig {
  absl::Duration drain_timeout = absl::Seconds(20);
  // After SIGTERM, how long to keep serving while health reports NOT_SERVING, before the
  // listeners close (load balancers stop sending new connections meanwhile).
  absl::Duration pre_stop_delay = absl::ZeroDuration();
};

struct Config {
  std::vector<Tier> tiers;
  ListenersConfig listeners;
  std::optional<MetricsConfig> metrics;
  DatabaseConfig database;
  KeysConfig keys;
  std::string policy_file;
  AuthConfig auth;
  LimitsConfig limits;
  OrgsConfig orgs;
  IdempotencyConfig idempotency;
  RetentionConfig retention;
  AuditCheckpointsConfig audit_checkpoints;
  ResealConfig reseal;
  LoggingConfig logging;
  ShutdownConfig shutdown;
  // Write-only processes (split mode) only.
  std::optional<KeyAuthorityConfig> key_authority;

  bool RunsTier(Tier tier) const;
};

// Reads and validates the configuration file at `path`, applies `flags`, and reads the
// secrets that the tiers to run need from `env`. Every problem found is reported, one per
// line, in a single INVALID_ARGUMENT naming the key (and the flag or variable) and the
// rule; an unreadable file is NOT_FOUND / PERMISSION_DENIED. Files named in the
// configuration (keys, certificates, the policy) are not opened here: the components that
// use them report their own errors.
absl::StatusOr<Config> LoadConfig(const std::string& path, const Environment& env,
                                  const FlagOverrides& flags = {});

// As LoadConfig, from YAML text; `source_name` prefixes the messages.
absl::StatusOr<Config> ParseConfig(std::string_view yaml, std::string_view source_name,
                                   const Environment& env, const FlagOverrides& flags = {});

// Every configuration key, with type, default and meaning, in file order.
std::vector<SchemaKey> DescribeConfigSchema();

// The option reference that `credvaultd --help` prints: every key, the flags and the
// environment variables.
std::string RenderConfigReference();

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_CONFIG_CONFIG_H_

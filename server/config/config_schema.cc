#include "server/config/config_schema.h"

#include <algorithm>
#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "server/config/address.h"

namespace credvault::server {
namespace {

// Enumerator names, indexed by enumerator value.
constexpr std::string_view kTierNames[] = {"write", "decrypt"};
// The file's sslmode values: libpq's, by SslMode value, then "auto" for no explicit mode.
constexpr std::string_view kSslModeChoices[] = {"disable",   "allow",       "prefer", "require",
                                                "verify-ca", "verify-full", "auto"};
constexpr std::size_t kSslModeAuto = static_cast<std::size_t>(SslMode::kVerifyFull) + 1;
constexpr std::string_view kSealKeyBackendNames[] = {"file", "pkcs11"};
constexpr std::string_view kLogLevelNames[] = {"debug", "info", "warning", "error"};

absl::Status CheckAddress(std::string_view address) { return ParseHostPort(address).status(); }

// One port, or libpq's comma-separated list of them (one per database.host entry).
absl::Status CheckPortList(std::string_view ports) {
  for (absl::string_view entry :
       absl::StrSplit(absl::string_view(ports.data(), ports.size()), ',')) {
    int port = 0;
    const bool digits_only = !entry.empty() && entry.size() <= 5 &&
                             std::all_of(entry.begin(), entry.end(), absl::ascii_isdigit);
    if (!digits_only || !absl::SimpleAtoi(entry, &port) || port < 1 || port > 65535) {
      return absl::InvalidArgumentError(
          "must be a port (1..65535) or a comma-separated list of ports, one per host");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckEnvName(std::string_view name) {
  const bool valid = !absl::ascii_isdigit(name.front()) &&
                     std::all_of(name.begin(), name.end(),
                                 [](char c) { return absl::ascii_isalnum(c) || c == '_'; });
  if (valid) return absl::OkStatus();
  return absl::InvalidArgumentError(
      "must be the name of an environment variable ([A-Za-z_][A-Za-z0-9_]*)");
}

void VisitTls(SchemaVisitor& v, TlsConfig& tls) {
  v.String("cert_file", &tls.cert_file,
           {.help = "PEM file with the server certificate chain, leaf first.", .required = true});
  v.String("key_file", &tls.key_file,
           {.help = "PEM file with the server private key. Keep it readable by the server only.",
            .required = true});
  v.String("client_ca_file", &tls.client_ca_file,
           {.help = "PEM bundle of the CAs that issue client certificates. When set, a client "
                    "certificate presented is always verified against it, and its identity "
                    "(URI SAN, else DNS SAN, else CN) becomes the caller's principal. When "
                    "unset, client certificates are not requested and callers authenticate "
                    "with bearer tokens."});
  v.Bool("require_client_cert", &tls.require_client_cert,
         {.help = "Refuse connections without a valid client certificate (mutual TLS). "
                  "Requires client_ca_file. Set to false to also accept bearer tokens."});
  v.Duration("reload_interval", &tls.reload_interval, absl::Seconds(1), absl::Hours(24),
             {.help = "How often cert_file, key_file and client_ca_file are re-read. A changed "
                      "set that is valid (the key matches the certificate) is used for new "
                      "connections; open connections are kept. An invalid one is refused with "
                      "a warning and the previous one stays in use."});
}

void VisitListener(SchemaVisitor& v, ListenerConfig& listener) {
  v.String("address", &listener.address,
           {.help = "Address to listen on. Port 0 picks a free port (tests).",
            .type = "host:port",
            .required = true,
            .check = CheckAddress});
  OptionalSection(v, "tls", &listener.tls, TlsConfig{},
                  {.help = "TLS (1.2 or later) settings. Each listener has either tls or "
                           "plaintext: true."},
                  VisitTls);
  v.Bool("plaintext", &listener.plaintext,
         {.help = "Serve without TLS, for development. Allowed only on loopback addresses "
                  "(127.0.0.0/8, ::1, localhost)."});
}

void VisitDatabaseRole(SchemaVisitor& v, DatabaseRoleConfig& role) {
  v.String("user", &role.user, {.help = "PostgreSQL role to log in as."});
  v.String("password_env", &role.password_env,
           {.help = "Name of the environment variable holding the role's password. The "
                    "password itself never appears in the file. Read at start only if a tier "
                    "this process runs uses the role.",
            .check = CheckEnvName});
  IntegerField(v, "pool_size", &role.pool_size, 1, 1024,
               {.help = "Most connections of this role open at once."});
}

DatabaseRoleConfig RoleDefaults(std::string_view role, std::string_view env, int pool_size) {
  return DatabaseRoleConfig{.user = std::string("credvault_").append(role),
                            .password_env = std::string(env),
                            .pool_size = pool_size,
                            .password = {}};
}

void VisitDatabase(SchemaVisitor& v, DatabaseConfig& db) {
  v.String("host", &db.host,
           {.help = "PostgreSQL host name, IP address or socket directory, or a comma-separated "
                    "list of them that libpq tries in turn. With more than one, connections "
                    "go to the first that accepts writes (libpq target_session_attrs="
                    "read-write), so after a failover the pools reach the promoted standby "
                    "without a restart (docs/operations.md, \"Database failover\")."});
  v.String("port", &db.port,
           {.help = "PostgreSQL port: one for every host, or a comma-separated list with one "
                    "port per host, in the order of host (e.g. \"5432,5433\").",
            .type = "port or port,port,...",
            .check = CheckPortList});
  v.String("dbname", &db.dbname, {.help = "Database name."});
  std::size_t sslmode =
      db.sslmode.has_value() ? static_cast<std::size_t>(*db.sslmode) : kSslModeAuto;
  v.Choice("sslmode", &sslmode, kSslModeChoices,
           {.help = "libpq sslmode. auto: verify-full (TLS, and the server's certificate must "
                    "match the host name; give libpq the CA with PGSSLROOTCERT) unless every "
                    "host is a loopback address or a Unix socket directory, where it is "
                    "prefer. disable, allow and prefer let an attacker on the network path "
                    "strip TLS, so they are refused for any other host unless "
                    "allow_insecure_transport is true."});
  db.sslmode = sslmode == kSslModeAuto ? std::nullopt
                                       : std::optional<SslMode>(static_cast<SslMode>(sslmode));
  v.Bool("allow_insecure_transport", &db.allow_insecure_transport,
         {.help = "Accept sslmode disable, allow or prefer for a host reached over a network "
                  "(for example a database on a private link that cannot offer TLS). Leave "
                  "false: with it, a network attacker can read and change database traffic."});
  v.Duration("connect_timeout", &db.connect_timeout, absl::Seconds(1), absl::Minutes(10),
             {.help = "Longest wait for a new database connection (libpq counts whole "
                      "seconds)."});
  v.Duration("statement_timeout", &db.statement_timeout, absl::Milliseconds(1), absl::Hours(1),
             {.help = "Upper bound on any one statement. Each request is further bounded by its "
                      "gRPC deadline."});
  v.Duration("acquire_timeout", &db.acquire_timeout, absl::Milliseconds(1), absl::Minutes(10),
             {.help = "Longest wait for a free pooled connection before a request fails with "
                      "UNAVAILABLE."});
  OptionalSection(v, "writer", &db.writer,
                  RoleDefaults("writer", "CREDVAULT_DB_WRITER_PASSWORD", 16),
                  {.help = "Database role of the write tier: inserts credentials, reads their "
                           "metadata, cannot read envelopes. Required with the write tier."},
                  VisitDatabaseRole);
  OptionalSection(v, "decryptor", &db.decryptor,
                  RoleDefaults("decryptor", "CREDVAULT_DB_DECRYPTOR_PASSWORD", 16),
                  {.help = "Database role of the decrypt tier: reads envelopes and re-seals data "
                           "keys. Required with the decrypt tier."},
                  VisitDatabaseRole);
  OptionalSection(v, "admin", &db.admin, RoleDefaults("admin", "CREDVAULT_DB_ADMIN_PASSWORD", 4),
                  {.help = "Database role of AdminService (org lifecycle, audit reading), which "
                           "runs with the decrypt tier. Required with the decrypt tier."},
                  VisitDatabaseRole);
}

void VisitPkcs11(SchemaVisitor& v, Pkcs11Config& pkcs11) {
  v.String("module", &pkcs11.module,
           {.help = "Path of the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so.",
            .required = true});
  v.String("token_label", &pkcs11.token_label,
           {.help = "Label of the token that holds the seal key.", .required = true});
  v.String(
      "key_label", &pkcs11.key_label,
      {.help = "Label of the AES-256 secret key object used as the seal key.", .required = true});
  v.String("pin_env", &pkcs11.pin_env,
           {.help = "Environment variable holding the user PIN. Exactly one of pin_env and "
                    "pin_file.",
            .check = CheckEnvName});
  v.String("pin_file", &pkcs11.pin_file,
           {.help = "File holding the user PIN (e.g. a mounted Kubernetes Secret)."});
}

void VisitSealKey(SchemaVisitor& v, SealKeyConfig& seal_key) {
  EnumField(v, "provider", &seal_key.provider, kSealKeyBackendNames,
            {.help = "Where the seal key lives: a key file, or an AES key inside a PKCS#11 "
                     "token (HSM) that never leaves it."});
  v.String("file", &seal_key.file,
           {.help = "Provider file: the 32-byte key, raw or hex, in a file others cannot read."});
  OptionalSection(v, "pkcs11", &seal_key.pkcs11, Pkcs11Config{},
                  {.help = "Provider pkcs11: the token and key to use."}, VisitPkcs11);
}

void VisitWriterKeys(SchemaVisitor& v, WriterKeysConfig& keys) {
  IntegerField(v, "current", &keys.current, 1, 4294967295,
               {.help = "Version of the writer key that authenticates new records; must be "
                        "listed in files.",
                .required = true});
  v.VersionMap("files", &keys.files,
               {.help = "Writer authentication key files (32 bytes, raw or hex) by version. "
                        "Keep older versions listed while records made with them exist.",
                .required = true});
}

void VisitKeyDirectoryKeys(SchemaVisitor& v, KeyDirectoryKeysConfig& keys) {
  IntegerField(v, "current", &keys.current, 1, 4294967295,
               {.help = "Version of the key directory key that signs org key records; must be "
                        "listed in files.",
                .required = true});
  v.VersionMap("files", &keys.files,
               {.help = "Key directory signing key files (a 32-byte Ed25519 seed, raw or hex) "
                        "by version. Keep older versions listed while records they signed "
                        "exist.",
                .required = true});
}

void VisitKeys(SchemaVisitor& v, KeysConfig& keys) {
  OptionalSection(v, "writer_keys", &keys.writer_keys, WriterKeysConfig{},
                  {.help = "Writer authentication keys. Required with either tier."},
                  VisitWriterKeys);
  OptionalSection(
      v, "key_directory_signing_keys", &keys.key_directory_signing_keys, KeyDirectoryKeysConfig{},
      {.help = "The key authority's org key record signing keys. Required with the decrypt "
               "tier; refused in a write-only process, which must not be able to vouch for "
               "an org key."},
      VisitKeyDirectoryKeys);
  v.VersionMap("key_directory_pins", &keys.key_directory_pins,
               {.help = "Key directory public keys the write tier checks org key records with, "
                        "by version: 64 hex digits or base64 (`credvaultd "
                        "key-directory-public-key` prints them). Required with a write-only "
                        "tier; a process that also runs the decrypt tier pins its own signing "
                        "keys."});
  v.VersionMap("root_key_pins", &keys.root_key_pins,
               {.help = "Root public keys the write tier may seal org keys to, by version: "
                        "the key as 64 hex digits or its fingerprint \"cvroot1:<64 hex>\". A "
                        "root key in the database that matches no pin is never used. Required "
                        "with the write tier."});
  OptionalSection(v, "seal_key", &keys.seal_key, SealKeyConfig{},
                  {.help = "The seal key, which unwraps the root private keys. Required with "
                           "the decrypt tier; refused in a write-only process, which must not be "
                           "able to decrypt anything."},
                  VisitSealKey);
  ListOfSections(
      v, "previous_seal_keys", &keys.previous_seal_keys,
      {.help = "Seal keys being rotated away from, each with the keys of seal_key. A root key "
               "is unwrapped with whichever of seal_key and these wrapped it (matched by key "
               "id); `credvaultd rewrap-root-keys` re-wraps every root key still under one of "
               "these with seal_key. Remove an entry once that has run. Decrypt tier only."},
      VisitSealKey);
  v.String("audit_signing_key_file", &keys.audit_signing_key_file,
           {.help = "Key file (a 32-byte Ed25519 seed) that signs audit checkpoints and erasure "
                    "receipts. Required with the decrypt tier; refused in a write-only process."});
}

void VisitKeyAuthority(SchemaVisitor& v, KeyAuthorityConfig& authority) {
  v.String("address", &authority.address,
           {.help = "Address of the decrypt tier's decrypt listener, which serves the internal "
                    "KeyAuthorityService (e.g. the decrypt Service of the Helm chart).",
            .type = "host:port",
            .required = true,
            .check = CheckAddress});
  OptionalSection(
      v, "tls", &authority.tls, KeyAuthorityTlsConfig{},
      {.help = "TLS to the key authority (required: it is never reached in plaintext)."},
      [&](KeyAuthorityTlsConfig& tls) {
        v.String("ca_file", &tls.ca_file,
                 {.help = "PEM bundle of the CAs that issue the decrypt listener's certificate.",
                  .required = true});
        v.String("cert_file", &tls.cert_file,
                 {.help = "PEM client certificate chain of this write tier (mutual TLS); its "
                          "identity must hold the key_authority_client role in the decrypt "
                          "tier's policy. Set with key_file, or use a bearer token instead."});
        v.String("key_file", &tls.key_file,
                 {.help = "PEM private key of cert_file. Keep it readable by the server only."});
      });
  v.String("server_name", &authority.server_name,
           {.help = "Name to verify in the decrypt listener's certificate, when it differs from "
                    "the host of address."});
  v.String("bearer_token_env", &authority.bearer_token_env,
           {.help = "Environment variable holding a bearer token whose policy entry holds the "
                    "key_authority_client role; instead of a client certificate.",
            .check = CheckEnvName});
  v.String("bearer_token_file", &authority.bearer_token_file,
           {.help = "File holding that bearer token (e.g. a mounted Kubernetes Secret); read at "
                    "start. At most one of bearer_token_env and bearer_token_file."});
}

absl::Status CheckHttpsUrl(std::string_view url) {
  if (url.substr(0, 8) == "https://" && url.size() > 8) return absl::OkStatus();
  return absl::InvalidArgumentError("must be an https:// URL");
}

void VisitKubernetesAuth(SchemaVisitor& v, KubernetesAuthConfig& kubernetes) {
  v.String("issuer", &kubernetes.issuer,
           {.help = "The cluster's service account issuer, which every token's iss claim must "
                    "equal (`kubectl get --raw /.well-known/openid-configuration`, its issuer; "
                    "often https://kubernetes.default.svc.cluster.local).",
            .required = true});
  v.String("audience", &kubernetes.audience,
           {.help = "Audience the token must name in its aud claim: the audience of the "
                    "client's projected token volume."});
  v.String("jwks_file", &kubernetes.jwks_file,
           {.help = "File holding the cluster's JSON Web Key Set (`kubectl get --raw "
                    "/openid/v1/jwks`). Set exactly one of jwks_file and jwks_url."});
  v.String("jwks_url", &kubernetes.jwks_url,
           {.help = "https URL of the JSON Web Key Set, e.g. "
                    "https://kubernetes.default.svc/openid/v1/jwks.",
            .check = CheckHttpsUrl});
  v.String("jwks_ca_file", &kubernetes.jwks_ca_file,
           {.help = "PEM bundle that verifies jwks_url's server (in a pod: "
                    "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt); default: the "
                    "system's CAs."});
  v.String("jwks_token_file", &kubernetes.jwks_token_file,
           {.help = "File holding a bearer token sent with the jwks_url request, re-read on "
                    "each fetch (in a pod: /var/run/secrets/kubernetes.io/serviceaccount/token, "
                    "which the API server's service-account-issuer-discovery role accepts)."});
  v.Duration("refresh_interval", &kubernetes.refresh_interval, absl::Seconds(1), absl::Hours(24),
             {.help = "How often the key set is re-read. A read that fails or yields no usable "
                      "key keeps the previous keys."});
  v.Duration("max_clock_skew", &kubernetes.max_clock_skew, absl::ZeroDuration(), absl::Minutes(10),
             {.help = "Leeway for exp, nbf and iat against this host's clock."});
}

void VisitLimits(SchemaVisitor& v, LimitsConfig& limits) {
  IntegerField(v, "max_secret_size", &limits.max_secret_size, 1, 1048576,
               {.help = "Largest secret accepted, in bytes; larger is RESOURCE_EXHAUSTED."});
  IntegerField(v, "default_page_size", &limits.default_page_size, 1, 500,
               {.help = "List page size when a request asks for 0; at most max_page_size."});
  IntegerField(v, "max_page_size", &limits.max_page_size, 1, 500,
               {.help = "Larger page sizes are clamped to this. At most 500, the bound the API "
                        "promises."});
  IntegerField(v, "compare_per_minute", &limits.compare_per_minute, 1, 100000,
               {.help = "CompareCredential calls allowed per principal and org per minute; "
                        "bounds online guessing of a secret."});
  IntegerField(v, "max_request_bytes", &limits.max_request_bytes, 4096, 16777216,
               {.help = "Largest gRPC request message, in bytes; must exceed max_secret_size."});
  IntegerField(v, "max_queued_requests", &limits.max_queued_requests, 1, 1000000,
               {.help = "Requests waiting for a worker thread, per tier, over all orgs. "
                        "Beyond it a request is refused at once with RESOURCE_EXHAUSTED "
                        "(reason ERROR_REASON_RATE_LIMITED) instead of queueing towards its "
                        "deadline."});
  IntegerField(v, "max_requests_per_org", &limits.max_requests_per_org, 1, 1000000,
               {.help = "Requests naming one org that are waiting or running, per tier (the "
                        "cross-org administration calls count as one more org). Beyond it "
                        "that org's requests are refused at once with RESOURCE_EXHAUSTED "
                        "(reason ERROR_REASON_RATE_LIMITED) while other orgs are served. "
                        "Queued requests are served one org at a time in turn, so a busy org "
                        "cannot hold every worker while others wait."});
}

}  // namespace

std::string_view TierName(Tier tier) { return kTierNames[static_cast<int>(tier)]; }
std::string_view SslModeName(SslMode mode) { return kSslModeChoices[static_cast<int>(mode)]; }
std::string_view SealKeyBackendName(SealKeyBackend backend) {
  return kSealKeyBackendNames[static_cast<int>(backend)];
}
std::string_view LogLevelName(LogLevel level) { return kLogLevelNames[static_cast<int>(level)]; }

void VisitConfig(SchemaVisitor& v, Config& config) {
  EnumListField(v, "tiers", &config.tiers, kTierNames,
                {.help = "Tiers this process runs: write (CredentialService), decrypt "
                         "(CredentialAccessService and AdminService), or both. Running them in "
                         "separate processes keeps the seal key away from the write tier.",
                 .required = true});
  v.Section("listeners", {.help = "gRPC listeners, one per service group.", .required = true}, [&] {
    OptionalSection(v, "write", &config.listeners.write, ListenerConfig{},
                    {.help = "Serves CredentialService. Required with the write tier."},
                    VisitListener);
    OptionalSection(v, "decrypt", &config.listeners.decrypt, ListenerConfig{},
                    {.help = "Serves CredentialAccessService, and AdminService unless "
                             "listeners.admin is set. Required with the decrypt tier."},
                    VisitListener);
    OptionalSection(v, "admin", &config.listeners.admin, ListenerConfig{},
                    {.help = "Serves AdminService apart from the decrypt listener, "
                             "so that network policy can treat operators and workers "
                             "differently. Decrypt tier only."},
                    VisitListener);
    OptionalSection(
        v, "health", &config.listeners.health, HealthListenerConfig{},
        {.help = "Serves grpc.health.v1.Health and nothing else, in plaintext, for probes that "
                 "cannot speak TLS (the Kubernetes kubelet's gRPC probe). Unlike the other "
                 "listeners it may bind any address: it serves no credvault service and no "
                 "reflection, needs and reads no caller credential (authorization metadata is "
                 "ignored), and answers nothing but serving status. Service names: \"\" is the "
                 "process, SERVING once every other listener is up and NOT_SERVING while "
                 "draining after SIGTERM (for liveness and startup probes); \"readiness\" is "
                 "also NOT_SERVING while a database role this process uses cannot connect; each "
                 "credvault service this process runs (credvault.v1.CredentialService, ...) "
                 "follows its own database role. Any tier."},
        [&](HealthListenerConfig& health) {
          v.String("address", &health.address,
                   {.help = "Address to listen on, any host (e.g. 0.0.0.0:8086), apart from "
                            "every other listener. Port 0 picks a free port (tests).",
                    .type = "host:port",
                    .required = true,
                    .check = CheckAddress});
        });
    v.Duration("max_connection_age", &config.listeners.max_connection_age, absl::Seconds(1),
               absl::Hours(24 * 365),
               {.help = "A client connection older than this is asked to reconnect (GOAWAY), so "
                        "that clients spread over replicas added since; its calls in flight "
                        "get shutdown.drain_timeout more to finish. Clients reconnect "
                        "transparently."});
  });
  OptionalSection(v, "metrics", &config.metrics, MetricsConfig{},
                  {.help = "Prometheus metrics over plain HTTP. No tenant or secret labels."},
                  [&](MetricsConfig& metrics) {
                    v.String("address", &metrics.address,
                             {.help = "Address of the /metrics endpoint.",
                              .type = "host:port",
                              .required = true,
                              .check = CheckAddress});
                  });
  DefaultedSection(v, "database", &config.database,
                   {.help = "PostgreSQL connection. Each tier logs in with its own role."},
                   [&](DatabaseConfig& db) { VisitDatabase(v, db); });
  DefaultedSection(v, "keys", &config.keys, {.help = "Key material (files, pins, providers)."},
                   [&](KeysConfig& keys) { VisitKeys(v, keys); });
  v.String(
      "policy_file", &config.policy_file,
      {.help = "Access policy (principals, roles, orgs). Re-read on SIGHUP.", .required = true});
  DefaultedSection(v, "auth", &config.auth, {.help = "Caller authentication beyond the policy."},
                   [&](AuthConfig& auth) {
                     OptionalSection(
                         v, "kubernetes", &auth.kubernetes, KubernetesAuthConfig{},
                         {.help = "Accept Kubernetes projected ServiceAccount tokens as "
                                  "\"authorization: Bearer\" credentials, verified offline "
                                  "against the cluster's key set; the caller is "
                                  "\"k8s:NAMESPACE/SERVICEACCOUNT\" in the policy."},
                         VisitKubernetesAuth);
                   });
  DefaultedSection(v, "limits", &config.limits, {.help = "Request limits."},
                   [&](LimitsConfig& limits) { VisitLimits(v, limits); });
  DefaultedSection(v, "orgs", &config.orgs, {.help = "Org provisioning."}, [&](OrgsConfig& orgs) {
    v.Bool("provision_on_first_put", &orgs.provision_on_first_put,
           {.help = "Create an org (and its key pair) on its first PutCredential. When false, "
                    "orgs are created with AdminService.CreateOrg only."});
  });
  DefaultedSection(v, "idempotency", &config.idempotency, {.help = "Idempotency keys."},
                   [&](IdempotencyConfig& idempotency) {
                     v.Duration("retention", &idempotency.retention, absl::Hours(24),
                                absl::Hours(720),
                                {.help = "How long a used idempotency key is remembered. At "
                                         "least 24h, as the API promises."});
                   });
  DefaultedSection(
      v, "retention", &config.retention, {.help = "How long deleted data is kept."},
      [&](RetentionConfig& retention) {
        v.Duration("deleted_credentials", &retention.deleted_credentials, absl::Hours(1),
                   absl::Hours(87600),
                   {.help = "Soft-deleted credential versions are crypto-erased after this, and "
                            "versions deleted or erased this long ago are purged (the newest "
                            "version of a credential stays as an erased tombstone)."});
        v.Duration("audit_events", &retention.audit_events, absl::Hours(24), absl::Hours(876000),
                   {.help = "Audit events older than this are purged, leaving a checkpoint so "
                            "the rest of the chain still verifies."});
        v.Bool("enabled", &retention.enabled,
               {.help = "Run the retention sweep, which enforces these windows and "
                        "idempotency.retention. It runs on the decrypt tier with the admin "
                        "database role, on one replica at a time (a PostgreSQL advisory lock "
                        "elects it). Turn it off only to purge by other means."});
        v.Duration("interval", &retention.interval, absl::Minutes(1), absl::Hours(24),
                   {.help = "Time between the end of one sweep and the start of the next; the "
                            "first runs at start. Data goes within about this long (plus a sweep) "
                            "after its window ends."});
        IntegerField(v, "batch_size", &retention.batch_size, 1, 10000,
                     {.help = "Most items of each kind (credential versions, idempotency keys, "
                              "audit events) purged per transaction, so that a large backlog "
                              "is worked off in short transactions."});
      });
  DefaultedSection(
      v, "audit_checkpoints", &config.audit_checkpoints,
      {.help = "Signed checkpoints of the audit chains, made with keys.audit_signing_key_file."},
      [&](AuditCheckpointsConfig& checkpoints) {
        v.Duration("interval", &checkpoints.interval, absl::Minutes(1), absl::Hours(24),
                   {.help = "How often the decrypt tier signs the head of every audit chain "
                            "that grew since its latest checkpoint (one replica at a time). "
                            "Bounds how many of the newest events someone with database write "
                            "access could drop without a signed checkpoint showing it."});
      });
  DefaultedSection(
      v, "reseal", &config.reseal,
      {.help = "Re-seal jobs (key rotation), run by the decrypt tier in the background."},
      [&](ResealConfig& reseal) {
        IntegerField(v, "batch_size", &reseal.batch_size, 1, 10000,
                     {.help = "Items moved per transaction: credential versions for an org key "
                              "job, orgs for a root key job."});
        v.Duration("poll_interval", &reseal.poll_interval, absl::Milliseconds(100), absl::Hours(1),
                   {.help = "How often to look for jobs started on other replicas (jobs started "
                            "on this one begin at once)."});
      });
  DefaultedSection(v, "logging", &config.logging,
                   {.help = "Logs are JSON lines on stderr, with request ids."},
                   [&](LoggingConfig& logging) {
                     EnumField(v, "level", &logging.level, kLogLevelNames,
                               {.help = "Least severe level written."});
                   });
  DefaultedSection(
      v, "shutdown", &config.shutdown, {.help = "Graceful shutdown."},
      [&](ShutdownConfig& shutdown) {
        v.Duration("drain_timeout", &shutdown.drain_timeout, absl::Seconds(0), absl::Minutes(10),
                   {.help = "After SIGTERM, how long in-flight calls may finish "
                            "before they are cancelled."});
        v.Duration("pre_stop_delay", &shutdown.pre_stop_delay, absl::Seconds(0), absl::Minutes(10),
                   {.help = "After SIGTERM, how long to keep serving while health reports "
                            "NOT_SERVING, before the listeners close and drain_timeout starts, "
                            "so that load balancers and Kubernetes endpoints stop sending new "
                            "connections first."});
      });
  OptionalSection(
      v, "key_authority", &config.key_authority, KeyAuthorityConfig{},
      {.help = "Split mode: the key authority (a decrypt tier) that a write-only process asks "
               "to provision orgs on their first Put and to answer CompareCredential, over the "
               "internal KeyAuthorityService. Only allowed when tiers is [write]: a process that "
               "runs the decrypt tier answers from its own. Without it a write-only process "
               "refuses first Puts for unknown orgs (NOT_FOUND) and CompareCredential "
               "(UNAVAILABLE)."},
      VisitKeyAuthority);
}

}  // namespace credvault::server

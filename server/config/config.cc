#include "server/config/config.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "crypto/key_directory.h"
#include "crypto/root_key.h"
#include "server/base/read_file.h"
#include "server/config/address.h"
#include "server/config/config_schema.h"
#include "server/config/libpq_conninfo.h"
#include "server/schema/schema_parser.h"

namespace credvault::server {
namespace {

// Room in a request for everything besides the secret: org id, name, up to 32 labels of
// up to 63 + 256 bytes, idempotency key and protobuf framing.
constexpr std::size_t kRequestOverheadBytes = 16384;

// Cross-key problems, reported like the schema's: "<source>: <key>: <why>".
class Problems {
 public:
  explicit Problems(std::string_view source) : source_(source) {}

  void Add(std::string_view key, std::string_view why) {
    lines_.push_back(absl::StrCat(source_, ": ", std::string(key), ": ", std::string(why)));
  }
  bool empty() const { return lines_.empty(); }
  absl::Status ToStatus() const {
    if (lines_.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrJoin(lines_, "\n"));
  }

 private:
  std::string source_;
  std::vector<std::string> lines_;
};

struct NamedListener {
  std::string_view name;
  const std::optional<ListenerConfig>* listener;
  bool tier_runs;
  std::string_view needs;  // why it may or must exist
};

void ValidateListener(const std::string& key, const ListenerConfig& listener, Problems& problems) {
  if (listener.tls.has_value() && listener.plaintext) {
    problems.Add(key, "set either tls or plaintext: true, not both");
  } else if (!listener.tls.has_value() && !listener.plaintext) {
    problems.Add(key, "needs a tls section, or plaintext: true on a loopback address");
  }
  if (listener.plaintext) {
    const absl::StatusOr<HostPort> address = ParseHostPort(listener.address);
    if (address.ok() && !IsLoopbackHost(address->host)) {
      problems.Add(key, absl::StrCat("plaintext is allowed only on loopback addresses, not ",
                                     listener.address));
    }
  }
  if (listener.tls.has_value() && listener.tls->require_client_cert &&
      listener.tls->client_ca_file.empty()) {
    problems.Add(absl::StrCat(key, ".tls.client_ca_file"),
                 "required when require_client_cert is true");
  }
}

void ValidateListeners(const Config& config, Problems& problems) {
  const bool write = config.RunsTier(Tier::kWrite);
  const bool decrypt = config.RunsTier(Tier::kDecrypt);
  const NamedListener listeners[] = {
      {"write", &config.listeners.write, write, "the write tier"},
      {"decrypt", &config.listeners.decrypt, decrypt, "the decrypt tier"},
      {"admin", &config.listeners.admin, decrypt, "the decrypt tier (AdminService runs with it)"},
  };
  std::vector<std::pair<std::string, std::string>> bound;  // (key, address) with a fixed port
  for (const NamedListener& named : listeners) {
    const std::string key = absl::StrCat("listeners.", std::string(named.name));
    if (!named.listener->has_value()) {
      if (named.tier_runs && named.name != "admin") {
        problems.Add(key, absl::StrCat("required with ", std::string(named.needs)));
      }
      continue;
    }
    if (!named.tier_runs) {
      problems.Add(key, absl::StrCat("only allowed with ", std::string(named.needs),
                                     ", which is not in tiers"));
      continue;
    }
    const ListenerConfig& listener = **named.listener;
    ValidateListener(key, listener, problems);
    bound.emplace_back(absl::StrCat(key, ".address"), listener.address);
  }
  // The health listener runs with any tier and needs no TLS: only its address can clash.
  if (config.listeners.health.has_value()) {
    bound.emplace_back("listeners.health.address", config.listeners.health->address);
  }
  if (config.metrics.has_value()) bound.emplace_back("metrics.address", config.metrics->address);

  for (std::size_t i = 0; i < bound.size(); ++i) {
    const absl::StatusOr<HostPort> address = ParseHostPort(bound[i].second);
    if (!address.ok() || address->port == 0) continue;  // port 0: a fresh port each time
    for (std::size_t j = 0; j < i; ++j) {
      if (bound[j].second == bound[i].second) {
        problems.Add(bound[i].first, absl::StrCat("same address as ", bound[j].first));
      }
    }
  }
}

// disable, allow and prefer fall back to (or start with) plaintext, so anyone on the path
// to a remote database could read the role's password exchange and every row, or change
// them. Only an explicit opt-out accepts that.
void ValidateDatabaseTransport(const DatabaseConfig& database, Problems& problems) {
  if (!database.sslmode.has_value() || database.allow_insecure_transport) return;
  const SslMode mode = *database.sslmode;
  if (mode != SslMode::kDisable && mode != SslMode::kAllow && mode != SslMode::kPrefer) return;
  if (IsLocalDatabaseHostList(database.host)) return;
  problems.Add("database.sslmode",
               absl::StrCat(std::string(SslModeName(mode)),
                            " lets a network attacker strip TLS, and database.host names a host "
                            "that is not loopback or a Unix socket; use verify-full (or auto), "
                            "or set database.allow_insecure_transport: true to accept the risk"));
}

void ValidateDatabase(const Config& config, Problems& problems) {
  const bool write = config.RunsTier(Tier::kWrite);
  const bool decrypt = config.RunsTier(Tier::kDecrypt);
  const struct {
    std::string_view name;
    const std::optional<DatabaseRoleConfig>* role;
    bool needed;
    std::string_view tier;
  } roles[] = {
      {"writer", &config.database.writer, write, "the write tier"},
      {"decryptor", &config.database.decryptor, decrypt, "the decrypt tier"},
      {"admin", &config.database.admin, decrypt, "the decrypt tier"},
  };
  for (const auto& role : roles) {
    const std::string key = absl::StrCat("database.", std::string(role.name));
    if (role.needed && !role.role->has_value()) {
      problems.Add(key, absl::StrCat("required with ", std::string(role.tier)));
    } else if (!role.needed && role.role->has_value()) {
      // A process holds only the database credentials of the tiers it runs.
      problems.Add(key, absl::StrCat("only allowed with ", std::string(role.tier),
                                     ", which is not in tiers"));
    }
  }
  if (config.database.connect_timeout % absl::Seconds(1) != absl::ZeroDuration()) {
    problems.Add("database.connect_timeout", "must be whole seconds (libpq counts seconds)");
  }
  // libpq pairs the i-th port with the i-th host, or uses a single port for every host, and
  // refuses any other count only when it first connects.
  const std::size_t hosts = LibpqListSize(config.database.host);
  const std::size_t ports = LibpqListSize(config.database.port);
  if (ports != 1 && ports != hosts) {
    problems.Add("database.port",
                 absl::StrCat("lists ", ports, " ports but database.host lists ", hosts,
                              " hosts; give one port for every host or one per host"));
  }
  ValidateDatabaseTransport(config.database, problems);
}

// `key` is where the section sits: keys.seal_key or keys.previous_seal_keys[i].
void ValidateSealKey(const std::string& key, const SealKeyConfig& seal_key, Problems& problems) {
  const std::string file = absl::StrCat(key, ".file");
  const std::string pkcs11 = absl::StrCat(key, ".pkcs11");
  switch (seal_key.provider) {
    case SealKeyBackend::kFile:
      if (seal_key.file.empty()) problems.Add(file, "required with provider file");
      if (seal_key.pkcs11.has_value()) problems.Add(pkcs11, "only allowed with provider pkcs11");
      break;
    case SealKeyBackend::kPkcs11:
      if (!seal_key.file.empty()) problems.Add(file, "only allowed with provider file");
      if (!seal_key.pkcs11.has_value()) {
        problems.Add(pkcs11, "required with provider pkcs11");
      } else if (seal_key.pkcs11->pin_env.empty() == seal_key.pkcs11->pin_file.empty()) {
        problems.Add(pkcs11, "set exactly one of pin_env and pin_file");
      }
      break;
  }
}

void ValidateKeys(const Config& config, Problems& problems) {
  const bool write = config.RunsTier(Tier::kWrite);
  const bool decrypt = config.RunsTier(Tier::kDecrypt);
  const KeysConfig& keys = config.keys;

  if (!keys.writer_keys.has_value()) {
    problems.Add("keys.writer_keys",
                 absl::StrCat("required with the ", write ? "write" : "decrypt", " tier"));
  } else if (keys.writer_keys->files.count(keys.writer_keys->current) == 0) {
    problems.Add("keys.writer_keys.current",
                 absl::StrCat("version ", keys.writer_keys->current,
                              " is not listed in keys.writer_keys.files"));
  }

  if (keys.key_directory_signing_keys.has_value()) {
    if (!decrypt) {
      problems.Add("keys.key_directory_signing_keys",
                   "a write-tier-only process must not hold the key directory signing keys");
    } else if (keys.key_directory_signing_keys->files.count(
                   keys.key_directory_signing_keys->current) == 0) {
      problems.Add("keys.key_directory_signing_keys.current",
                   absl::StrCat("version ", keys.key_directory_signing_keys->current,
                                " is not listed in keys.key_directory_signing_keys.files"));
    }
  } else if (decrypt) {
    problems.Add("keys.key_directory_signing_keys",
                 "required with the decrypt tier (it signs org key records)");
  }
  if (write && !decrypt && keys.key_directory_pins.empty()) {
    problems.Add("keys.key_directory_pins",
                 "required with a write-only tier (it seals only to org keys signed by a pinned "
                 "key directory key)");
  }
  for (const auto& [version, pin] : keys.key_directory_pins) {
    if (!crypto::ParseKeyDirectoryPublicKey(pin).ok()) {
      problems.Add(absl::StrCat("keys.key_directory_pins.", version),
                   "must be a key directory public key: 64 hex digits or base64 of 32 bytes");
    }
  }

  if (write && keys.root_key_pins.empty()) {
    problems.Add("keys.root_key_pins", "required with the write tier");
  }
  if (!keys.root_key_pins.empty()) {
    if (absl::Status status = crypto::RootKeyPins::New(keys.root_key_pins).status(); !status.ok()) {
      problems.Add("keys.root_key_pins", std::string(status.message()));
    }
  }

  if (keys.seal_key.has_value()) {
    if (!decrypt) {
      problems.Add("keys.seal_key", "a write-tier-only process must not hold the seal key");
    } else {
      ValidateSealKey("keys.seal_key", *keys.seal_key, problems);
    }
  } else if (decrypt) {
    problems.Add("keys.seal_key", "required with the decrypt tier");
  }
  // Erasure receipts and audit checkpoints are the tenant's proof; a decrypt tier that
  // cannot sign them would hand out unverifiable ones.
  if (!keys.audit_signing_key_file.empty()) {
    if (!decrypt) {
      problems.Add("keys.audit_signing_key_file",
                   "a write-tier-only process must not hold the audit signing key");
    }
  } else if (decrypt) {
    problems.Add("keys.audit_signing_key_file",
                 "required with the decrypt tier (it signs erasure receipts and audit "
                 "checkpoints)");
  }
  if (!keys.previous_seal_keys.empty() && !decrypt) {
    problems.Add("keys.previous_seal_keys", "a write-tier-only process must not hold seal keys");
  } else {
    for (std::size_t i = 0; i < keys.previous_seal_keys.size(); ++i) {
      ValidateSealKey(absl::StrCat("keys.previous_seal_keys[", i, "]"), keys.previous_seal_keys[i],
                      problems);
    }
  }
}

void ValidateLimits(const LimitsConfig& limits, Problems& problems) {
  if (limits.default_page_size > limits.max_page_size) {
    problems.Add("limits.default_page_size",
                 absl::StrCat("must not exceed limits.max_page_size (", limits.max_page_size, ")"));
  }
  if (limits.max_request_bytes < limits.max_secret_size + kRequestOverheadBytes) {
    problems.Add("limits.max_request_bytes",
                 absl::StrCat("must be at least limits.max_secret_size + ", kRequestOverheadBytes,
                              " (", limits.max_secret_size + kRequestOverheadBytes,
                              ") so that a request with a secret of the maximum size fits"));
  }
}

// The key authority is another process's decrypt tier: only a write-only process asks
// one, always over TLS, authenticated one way.
void ValidateKeyAuthority(const Config& config, Problems& problems) {
  if (!config.key_authority.has_value()) return;
  if (!config.RunsTier(Tier::kWrite) || config.RunsTier(Tier::kDecrypt)) {
    problems.Add("key_authority",
                 "only allowed in a process that runs the write tier without the decrypt tier "
                 "(tiers: [write]); a process with the decrypt tier is its own key authority");
    return;
  }
  const KeyAuthorityConfig& authority = *config.key_authority;
  if (!authority.tls.has_value()) {
    problems.Add("key_authority.tls", "required: the key authority is reached over TLS only");
    return;
  }
  const bool client_cert = !authority.tls->cert_file.empty();
  if (client_cert != !authority.tls->key_file.empty()) {
    problems.Add(client_cert ? "key_authority.tls.key_file" : "key_authority.tls.cert_file",
                 "set cert_file and key_file together");
  }
  const int ways = (client_cert ? 1 : 0) + (authority.bearer_token_env.empty() ? 0 : 1) +
                   (authority.bearer_token_file.empty() ? 0 : 1);
  if (ways != 1) {
    problems.Add("key_authority",
                 "set exactly one way to authenticate to the key authority: tls.cert_file and "
                 "tls.key_file, bearer_token_env or bearer_token_file");
  }
}

// The key set comes from one place; the URL-only settings need the URL.
void ValidateKubernetesAuth(const Config& config, Problems& problems) {
  if (!config.auth.kubernetes.has_value()) return;
  const KubernetesAuthConfig& kubernetes = *config.auth.kubernetes;
  if (kubernetes.jwks_file.empty() == kubernetes.jwks_url.empty()) {
    problems.Add("auth.kubernetes", "set exactly one of jwks_file and jwks_url");
  }
  if (kubernetes.jwks_url.empty() && !kubernetes.jwks_ca_file.empty()) {
    problems.Add("auth.kubernetes.jwks_ca_file", "only with jwks_url");
  }
  if (kubernetes.jwks_url.empty() && !kubernetes.jwks_token_file.empty()) {
    problems.Add("auth.kubernetes.jwks_token_file", "only with jwks_url");
  }
  if (kubernetes.audience.empty()) {
    problems.Add("auth.kubernetes.audience", "must not be empty");
  }
}

void ResolveSecret(const Environment& env, std::string_view key, const std::string& variable,
                   ConfigSecret& out, Problems& problems) {
  std::optional<ConfigSecret> value = env.Get(variable);
  if (!value.has_value()) {
    problems.Add(key, absl::StrCat("environment variable ", variable, " is not set or empty"));
    return;
  }
  out = *std::move(value);
}

// Reads only the secrets of the tiers this process runs (validation has refused sections
// of other tiers), so a process never holds credentials it has no use for.
void ResolveSecrets(const Environment& env, Config& config, Problems& problems) {
  const struct {
    std::string_view key;
    std::optional<DatabaseRoleConfig>* role;
  } roles[] = {
      {"database.writer.password_env", &config.database.writer},
      {"database.decryptor.password_env", &config.database.decryptor},
      {"database.admin.password_env", &config.database.admin},
  };
  for (const auto& role : roles) {
    if (role.role->has_value()) {
      ResolveSecret(env, role.key, (*role.role)->password_env, (*role.role)->password, problems);
    }
  }
  if (config.keys.seal_key.has_value() && config.keys.seal_key->pkcs11.has_value() &&
      !config.keys.seal_key->pkcs11->pin_env.empty()) {
    Pkcs11Config& pkcs11 = *config.keys.seal_key->pkcs11;
    ResolveSecret(env, "keys.seal_key.pkcs11.pin_env", pkcs11.pin_env, pkcs11.pin, problems);
  }
  for (std::size_t i = 0; i < config.keys.previous_seal_keys.size(); ++i) {
    SealKeyConfig& previous = config.keys.previous_seal_keys[i];
    if (previous.pkcs11.has_value() && !previous.pkcs11->pin_env.empty()) {
      ResolveSecret(env, absl::StrCat("keys.previous_seal_keys[", i, "].pkcs11.pin_env"),
                    previous.pkcs11->pin_env, previous.pkcs11->pin, problems);
    }
  }
  if (config.key_authority.has_value() && !config.key_authority->bearer_token_env.empty()) {
    ResolveSecret(env, "key_authority.bearer_token_env", config.key_authority->bearer_token_env,
                  config.key_authority->bearer_token, problems);
  }
}

}  // namespace

bool Config::RunsTier(Tier tier) const {
  return std::find(tiers.begin(), tiers.end(), tier) != tiers.end();
}

absl::StatusOr<Config> ParseConfig(std::string_view yaml, std::string_view source_name,
                                   const Environment& env, const FlagOverrides& flags) {
  Config config;
  if (absl::Status status = ParseYamlWithSchema(
          yaml, source_name, [&](SchemaVisitor& v) { VisitConfig(v, config); }, flags.values);
      !status.ok()) {
    // Cross-key rules over a partly parsed file would only add confusing follow-on errors.
    return status;
  }
  Problems problems(source_name);
  ValidateListeners(config, problems);
  ValidateDatabase(config, problems);
  ValidateKeys(config, problems);
  ValidateLimits(config.limits, problems);
  ValidateKeyAuthority(config, problems);
  ValidateKubernetesAuth(config, problems);
  if (!problems.empty()) return problems.ToStatus();
  ResolveSecrets(env, config, problems);
  if (!problems.empty()) return problems.ToStatus();
  return config;
}

absl::StatusOr<Config> LoadConfig(const std::string& path, const Environment& env,
                                  const FlagOverrides& flags) {
  absl::StatusOr<std::string> yaml = ReadSmallFile(path, "config file");
  if (!yaml.ok()) return yaml.status();
  return ParseConfig(*yaml, path, env, flags);
}

std::vector<SchemaKey> DescribeConfigSchema() {
  Config defaults;
  return DescribeSchema([&](SchemaVisitor& v) { VisitConfig(v, defaults); });
}

std::string RenderConfigReference() {
  const std::vector<SchemaKey> keys = DescribeConfigSchema();
  std::string out =
      "credvaultd reads a YAML configuration file (--config=PATH). The schema is strict: an\n"
      "unknown key, a wrong type or a value out of range stops the server with a message\n"
      "naming the key. Durations take a unit: 500ms, 5s, 10m, 24h. Secrets never go in the\n"
      "file: keys ending in _env name the environment variable that holds the secret.\n"
      "\nConfiguration keys:\n\n";
  absl::StrAppend(&out, RenderSchemaReference(keys));
  absl::StrAppend(&out, "\nFlags (each overrides one key; a flag wins over the file):\n\n",
                  RenderConfigFlagsReference());
  absl::StrAppend(&out,
                  "\nEnvironment variables read by default (rename them with the _env keys):\n\n");
  for (const SchemaKey& key : keys) {
    if (absl::EndsWith(key.path, "_env") && key.default_value.size() > 2 &&
        key.default_value.front() == '"') {
      absl::StrAppend(&out, "  ", key.default_value.substr(1, key.default_value.size() - 2), "  (",
                      key.path, ")\n");
    }
  }
  return out;
}

}  // namespace credvault::server

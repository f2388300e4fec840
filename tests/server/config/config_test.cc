// The credvaultd configuration: the example file, every validation rule, strictness,
// flags, secrets from the environment and the generated reference.
#include "server/config/config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <functional>
#include <iterator>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/config/config_flags.h"
#include "server/config/environment.h"
#include "server/config/libpq_conninfo.h"

namespace credvault::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPin[] = "cvroot1:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

// Both tiers, plaintext on loopback: the smallest configuration that uses every rule's
// happy path. Tests edit it into the case they need.
const std::string kBase = std::string(R"(
tiers: [write, decrypt]
listeners:
  write: {address: "127.0.0.1:7443", plaintext: true}
  decrypt: {address: "127.0.0.1:7444", plaintext: true}
database:
  writer: {}
  decryptor: {}
  admin: {}
keys:
  writer_keys: {current: 1, files: {1: /keys/writer-1.key}}
  root_key_pins: {1: ")") +
                          kPin + R"("}
  seal_key: {file: /keys/seal.key}
  audit_signing_key_file: /keys/audit-signing.key
  key_directory_signing_keys: {current: 1, files: {1: /keys/key-directory-1.key}}
  key_directory_pins: {1: "8f4c3d8e0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5"}
policy_file: /etc/credvault/policy.yaml
)";

constexpr char kWriterPassword[] = "writer-password-7f3e";
constexpr char kDecryptorPassword[] = "decryptor-password-91ab";
constexpr char kAdminPassword[] = "admin-password-c0de";

MapEnvironment FullEnvironment() {
  return MapEnvironment({{"CREDVAULT_DB_WRITER_PASSWORD", kWriterPassword},
                         {"CREDVAULT_DB_DECRYPTOR_PASSWORD", kDecryptorPassword},
                         {"CREDVAULT_DB_ADMIN_PASSWORD", kAdminPassword}});
}

absl::StatusOr<Config> Parse(const std::string& yaml, const FlagOverrides& flags = {}) {
  return ParseConfig(yaml, "test.yaml", FullEnvironment(), flags);
}

// kBase (or `yaml`) with `edit` applied to its YAML tree.
std::string Edit(const std::function<void(YAML::Node&)>& edit, const std::string& yaml = kBase) {
  YAML::Node root = YAML::Load(yaml);
  edit(root);
  return YAML::Dump(root);
}

// Cuts kBase's tree down to a write-tier-only process: no decrypt listener, no decrypt or
// admin database login, no seal, audit signing or key directory signing key. `keep` names
// the items ("section.key") left in place, to show that each one is refused.
void CutToWriteTier(YAML::Node& n, const std::set<std::string>& keep = {}) {
  n["tiers"] = YAML::Load("[write]");
  for (const auto& [section, key] :
       std::vector<std::pair<std::string, std::string>>{{"listeners", "decrypt"},
                                                        {"database", "decryptor"},
                                                        {"database", "admin"},
                                                        {"keys", "seal_key"},
                                                        {"keys", "audit_signing_key_file"},
                                                        {"keys", "key_directory_signing_keys"}}) {
    if (keep.count(section + "." + key) == 0) n[section].remove(key);
  }
}

// Cuts kBase's tree down to a decrypt-tier-only process.
void CutToDecryptTier(YAML::Node& n) {
  n["tiers"] = YAML::Load("[decrypt]");
  n["listeners"].remove("write");
  n["database"].remove("writer");
  n["keys"].remove("root_key_pins");
}

::testing::AssertionResult IsInvalid(const absl::StatusOr<Config>& result,
                                     const std::string& expected) {
  if (result.ok()) return ::testing::AssertionFailure() << "parsed without error";
  if (result.status().code() != absl::StatusCode::kInvalidArgument) {
    return ::testing::AssertionFailure() << "wrong code: " << result.status();
  }
  if (std::string(result.status().message()).find(expected) == std::string::npos) {
    return ::testing::AssertionFailure()
           << "message lacks \"" << expected << "\": " << result.status().message();
  }
  return ::testing::AssertionSuccess();
}

// --- The example and the base --------------------------------------------------------------

TEST(ConfigTest, ExampleFileLoads) {
  const absl::StatusOr<Config> config =
      LoadConfig(CREDVAULT_EXAMPLE_CONFIG, FullEnvironment(), FlagOverrides{});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->RunsTier(Tier::kWrite));
  EXPECT_TRUE(config->RunsTier(Tier::kDecrypt));
  ASSERT_TRUE(config->listeners.write.has_value());
  ASSERT_TRUE(config->listeners.write->tls.has_value());
  EXPECT_TRUE(config->listeners.write->tls->require_client_cert);
  ASSERT_TRUE(config->listeners.admin.has_value());
  EXPECT_TRUE(config->listeners.admin->plaintext);
  ASSERT_TRUE(config->listeners.health.has_value());
  EXPECT_EQ(config->listeners.health->address, "0.0.0.0:8086");
  ASSERT_TRUE(config->database.writer.has_value());
  EXPECT_EQ(config->database.writer->password.RevealSecret(), kWriterPassword);
  EXPECT_EQ(config->database.admin->pool_size, 4);
  ASSERT_TRUE(config->keys.seal_key.has_value());
  EXPECT_EQ(config->keys.seal_key->provider, SealKeyBackend::kFile);
  EXPECT_EQ(config->retention.audit_events, absl::Hours(9600));
}

TEST(ConfigTest, MissingFileIsNotFound) {
  const absl::StatusOr<Config> config =
      LoadConfig("/nonexistent/credvaultd.yaml", FullEnvironment(), FlagOverrides{});
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
}

TEST(ConfigTest, BaseLoadsWithDocumentedDefaults) {
  const absl::StatusOr<Config> config = Parse(kBase);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->database.host, "127.0.0.1");
  EXPECT_EQ(config->database.port, "5432");
  EXPECT_FALSE(config->database.sslmode.has_value());               // auto
  EXPECT_EQ(EffectiveSslMode(config->database), SslMode::kPrefer);  // the host is loopback
  EXPECT_FALSE(config->database.allow_insecure_transport);
  EXPECT_EQ(config->database.connect_timeout, absl::Seconds(5));
  EXPECT_EQ(config->database.writer->user, "credvault_writer");
  EXPECT_EQ(config->database.decryptor->password_env, "CREDVAULT_DB_DECRYPTOR_PASSWORD");
  EXPECT_EQ(config->database.decryptor->password.RevealSecret(), kDecryptorPassword);
  EXPECT_EQ(config->database.admin->pool_size, 4);
  EXPECT_EQ(config->limits.max_secret_size, 65536u);
  EXPECT_EQ(config->limits.max_page_size, 500);
  EXPECT_EQ(config->idempotency.retention, absl::Hours(24));
  EXPECT_EQ(config->retention.deleted_credentials, absl::Hours(720));
  EXPECT_EQ(config->logging.level, LogLevel::kInfo);
  EXPECT_EQ(config->shutdown.drain_timeout, absl::Seconds(20));
  EXPECT_TRUE(config->orgs.provision_on_first_put);
  EXPECT_FALSE(config->metrics.has_value());
  EXPECT_FALSE(config->listeners.admin.has_value());
  EXPECT_FALSE(config->listeners.health.has_value());
}

// --- Strictness ------------------------------------------------------------------------------

TEST(ConfigTest, UnknownKeysAreNamedWithTheirPathAndTheKnownKeys) {
  EXPECT_TRUE(IsInvalid(Parse(kBase + "tierz: [write]\n"),
                        "tierz: unknown key; known keys: "
                        "tiers, listeners, metrics, database"));
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) {
                          n["listeners"]["write"]["tls"]["cert_fil"] = "/x.crt";
                          n["listeners"]["write"]["plaintext"] = false;
                        })),
                        "listeners.write.tls.cert_fil: unknown key; known keys: cert_file, "
                        "key_file, client_ca_file, require_client_cert"));
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) { n["database"]["writer"]["passwd"] = "x"; })),
                        "database.writer.passwd: unknown key; known keys: user, password_env, "
                        "pool_size"));
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) {
                          n["keys"]["seal_key"]["provider"] = "pkcs11";
                          n["keys"]["seal_key"].remove("file");
                          n["keys"]["seal_key"]["pkcs11"]["slot"] = 0;
                        })),
                        "keys.seal_key.pkcs11.slot: unknown key"));
}

TEST(ConfigTest, UnknownKeyMessageCarriesTheLine) {
  EXPECT_TRUE(IsInvalid(Parse("tiers: [write]\n\nbogus: 1\n"), "test.yaml:3: bogus: unknown key"));
}

// Derived from the schema, so that it covers every key, including ones added later: a
// misspelling of any key, at its own depth, is reported with its full path.
TEST(ConfigTest, EveryMisspeltKeyIsRejected) {
  for (const SchemaKey& key : DescribeConfigSchema()) {
    const std::vector<std::string> parts = absl::StrSplit(key.path, '.');
    YAML::Node root = YAML::Load(kBase);
    YAML::Node node = root;
    std::string path;  // as the parser names it: a list of sections "name[]" becomes "name[0]"
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
      std::string part = parts[i];
      const bool list = absl::EndsWith(part, "[]");
      if (list) part.resize(part.size() - 2);
      if (list) {
        if (!node[part] || !node[part].IsSequence()) {
          node[part] = YAML::Node(YAML::NodeType::Sequence);
          node[part].push_back(YAML::Node(YAML::NodeType::Map));
        }
        node.reset(node[part][0]);
      } else {
        if (!node[part] || !node[part].IsMap()) node[part] = YAML::Node(YAML::NodeType::Map);
        node.reset(node[part]);
      }
      absl::StrAppend(&path, part, list ? "[0]" : "", ".");
    }
    node[parts.back() + "x"] = "1";
    EXPECT_TRUE(IsInvalid(Parse(YAML::Dump(root)), path + parts.back() + "x: unknown key"))
        << key.path;
  }
}

// yaml-cpp 0.7's LoadAll never returns on such input (tests/fuzz/corpus/config holds the
// inputs the fuzzer found); the loader must refuse them instead of hanging at start-up.
TEST(ConfigTest, MalformedYamlThatHangsYamlCppLoadAllIsRefused) {
  for (const std::string yaml : {",", "tiers: [write]\n,\n", "a: b\n---\nc: d\n"}) {
    const absl::StatusOr<Config> config = Parse(yaml);
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << yaml;
  }
}

TEST(ConfigTest, DuplicateKeysAreRejected) {
  EXPECT_TRUE(IsInvalid(Parse(kBase + "policy_file: /other.yaml\n"), "policy_file: duplicate key"));
}

TEST(ConfigTest, WrongTypesNameTheKey) {
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) { n["database"]["port"] = "five"; })),
                        "database.port: must be a port (1..65535) or a comma-separated list"));
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) { n["limits"]["max_page_size"] = "many"; })),
                        "limits.max_page_size: expected an integer"));
  EXPECT_TRUE(
      IsInvalid(Parse(Edit([](YAML::Node& n) { n["orgs"]["provision_on_first_put"] = "yes"; })),
                "orgs.provision_on_first_put: expected true or false"));
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) { n["tiers"] = "write"; })),
                        "tiers: expected a non-empty list"));
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) {
                          n["listeners"] = YAML::Node(YAML::NodeType::Sequence);
                          n["listeners"].push_back("write");
                        })),
                        "listeners: expected a mapping, not a list"));
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) { n["policy_file"] = YAML::Node(); })),
                        "policy_file: must not be empty"));
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) { n["logging"]["level"] = "verbose"; })),
                        "logging.level: must be one of: debug, info, warning, error"));
  EXPECT_TRUE(IsInvalid(Parse("- just\n- a list\n"), "expected a mapping at the top level"));
  EXPECT_TRUE(IsInvalid(Parse("tiers: [write\n"), "invalid YAML"));
}

TEST(ConfigTest, QuotedNumbersAreNotIntegers) {
  YAML::Node root = YAML::Load(kBase);
  root["limits"]["max_page_size"] = "500";
  YAML::Emitter out;
  out << root;
  // Emitted unquoted the value is an integer; written quoted it is a string.
  EXPECT_TRUE(Parse(out.c_str()).ok());
  EXPECT_TRUE(IsInvalid(Parse(kBase + "limits:\n  max_page_size: \"500\"\n"),
                        "limits.max_page_size: expected an integer"));
}

// --- Tiers -----------------------------------------------------------------------------------

TEST(ConfigTest, TiersMustBeKnownDistinctAndPresent) {
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) { n.remove("tiers"); })), "tiers: required"));
  EXPECT_TRUE(IsInvalid(
      Parse(Edit([](YAML::Node& n) { n["tiers"] = YAML::Node(YAML::NodeType::Sequence); })),
      "tiers: expected a non-empty list"));
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) { n["tiers"].push_back("read"); })),
                        "tiers[2]: must be one of: write, decrypt"));
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) { n["tiers"].push_back("write"); })),
                        "tiers[2]: duplicate entry write"));
}

// --- Listeners -------------------------------------------------------------------------------

TEST(ConfigTest, EachTierNeedsItsListener) {
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) { n["listeners"].remove("write"); })),
                        "listeners.write: required with the write tier"));
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) { n["listeners"].remove("decrypt"); })),
                        "listeners.decrypt: required with the decrypt tier"));
}

TEST(ConfigTest, ListenersOfTiersNotRunAreRejected) {
  const std::string write_only =
      Edit([](YAML::Node& n) { CutToWriteTier(n, {"listeners.decrypt"}); });
  EXPECT_TRUE(
      IsInvalid(Parse(write_only), "listeners.decrypt: only allowed with the decrypt tier"));
  const std::string with_admin = Edit(
      [](YAML::Node& n) {
        n["listeners"].remove("decrypt");
        n["listeners"]["admin"] = YAML::Load("{address: \"127.0.0.1:7445\", plaintext: true}");
      },
      write_only);
  EXPECT_TRUE(IsInvalid(Parse(with_admin), "listeners.admin: only allowed with the decrypt tier"));
}

TEST(ConfigTest, ListenerNeedsExactlyOneOfTlsAndPlaintext) {
  EXPECT_TRUE(
      IsInvalid(Parse(Edit([](YAML::Node& n) { n["listeners"]["write"].remove("plaintext"); })),
                "listeners.write: needs a tls section, or plaintext: true"));
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) {
                          n["listeners"]["write"]["tls"] =
                              YAML::Load("{cert_file: /c, key_file: /k, client_ca_file: /ca}");
                        })),
                        "listeners.write: set either tls or plaintext: true, not both"));
}

TEST(ConfigTest, PlaintextOnlyOnLoopback) {
  const auto with_address = [](const std::string& address) {
    return Parse(Edit([&](YAML::Node& n) { n["listeners"]["write"]["address"] = address; }));
  };
  EXPECT_TRUE(IsInvalid(with_address("0.0.0.0:7443"),
                        "listeners.write: plaintext is allowed only on loopback addresses, not "
                        "0.0.0.0:7443"));
  EXPECT_TRUE(IsInvalid(with_address("[::]:7443"), "plaintext is allowed only on loopback"));
  EXPECT_TRUE(IsInvalid(with_address("10.1.2.3:7443"), "plaintext is allowed only on loopback"));
  EXPECT_TRUE(IsInvalid(with_address("db.example.org:7443"), "plaintext is allowed only on"));
  EXPECT_TRUE(IsInvalid(with_address("[::ffff:10.0.0.1]:7443"), "plaintext is allowed only on"));
  for (const char* loopback : {"127.0.0.1:7443", "127.3.2.1:7443", "[::1]:7443", "localhost:7443",
                               "[::ffff:127.0.0.1]:0"}) {
    const absl::StatusOr<Config> config = with_address(loopback);
    EXPECT_TRUE(config.ok()) << loopback << ": " << config.status();
  }
}

TEST(ConfigTest, TlsNeedsCertificateKeyAndCaForClientCertificates) {
  const auto with_tls = [](const std::string& tls) {
    return Parse(Edit([&](YAML::Node& n) {
      n["listeners"]["write"].remove("plaintext");
      n["listeners"]["write"]["address"] = "0.0.0.0:7443";
      n["listeners"]["write"]["tls"] = YAML::Load(tls);
    }));
  };
  EXPECT_TRUE(IsInvalid(with_tls("{key_file: /k, client_ca_file: /ca}"),
                        "listeners.write.tls.cert_file: required"));
  EXPECT_TRUE(IsInvalid(with_tls("{cert_file: /c, client_ca_file: /ca}"),
                        "listeners.write.tls.key_file: required"));
  EXPECT_TRUE(IsInvalid(with_tls("{cert_file: /c, key_file: /k}"),
                        "listeners.write.tls.client_ca_file: required when require_client_cert"));
  EXPECT_TRUE(with_tls("{cert_file: /c, key_file: /k, require_client_cert: false}").ok());
  const absl::StatusOr<Config> config =
      with_tls("{cert_file: /c, key_file: /k, client_ca_file: /ca}");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listeners.write->tls->client_ca_file, "/ca");
}

TEST(ConfigTest, AddressesMustBeHostAndPort) {
  const auto with_address = [](const std::string& address) {
    return Parse(Edit([&](YAML::Node& n) { n["listeners"]["write"]["address"] = address; }));
  };
  EXPECT_TRUE(IsInvalid(with_address("127.0.0.1"), "listeners.write.address: expected host:port"));
  EXPECT_TRUE(IsInvalid(with_address("127.0.0.1:65536"), "listeners.write.address: the port"));
  EXPECT_TRUE(IsInvalid(with_address("127.0.0.1:-1"), "listeners.write.address: the port"));
  EXPECT_TRUE(IsInvalid(with_address("127.0.0.1:"), "listeners.write.address: the port"));
  EXPECT_TRUE(IsInvalid(with_address("::1:7443"), "IPv6 hosts must be in brackets"));
  EXPECT_TRUE(IsInvalid(with_address("[::1]7443"), "expected host:port"));
  EXPECT_TRUE(IsInvalid(with_address("[not-ip]:7443"), "not an IPv6 address"));
  EXPECT_TRUE(IsInvalid(with_address("bad host:1"), "not a host name"));
  EXPECT_TRUE(with_address("127.0.0.1:0").ok());
  EXPECT_TRUE(with_address("127.0.0.1:65535").ok());
}

TEST(ConfigTest, TwoListenersOnOneFixedAddressAreRejected) {
  EXPECT_TRUE(IsInvalid(
      Parse(Edit([](YAML::Node& n) { n["listeners"]["decrypt"]["address"] = "127.0.0.1:7443"; })),
      "listeners.decrypt.address: same address as listeners.write.address"));
  // Port 0 is a fresh port each time, so tests may reuse it.
  EXPECT_TRUE(Parse(Edit([](YAML::Node& n) {
                n["listeners"]["write"]["address"] = "127.0.0.1:0";
                n["listeners"]["decrypt"]["address"] = "127.0.0.1:0";
              })).ok());
}

TEST(ConfigTest, HealthListenerIsPlaintextOnAnyAddressWithEitherTier) {
  const auto with_health = [](const std::string& section, const std::string& yaml = kBase) {
    return Parse(
        Edit([&](YAML::Node& n) { n["listeners"]["health"] = YAML::Load(section); }, yaml));
  };
  // Any host, not only loopback: it serves nothing but health status.
  for (const char* address : {"0.0.0.0:8086", "[::]:8086", "10.1.2.3:8086", "127.0.0.1:0"}) {
    const absl::StatusOr<Config> config =
        with_health(std::string("{address: \"") + address + "\"}");
    ASSERT_TRUE(config.ok()) << address << ": " << config.status();
    ASSERT_TRUE(config->listeners.health.has_value());
    EXPECT_EQ(config->listeners.health->address, address);
  }
  const std::string write_only = Edit([](YAML::Node& n) { CutToWriteTier(n); });
  const std::string decrypt_only = Edit([](YAML::Node& n) { CutToDecryptTier(n); });
  EXPECT_TRUE(with_health("{address: \"0.0.0.0:8086\"}", write_only).ok());
  EXPECT_TRUE(with_health("{address: \"0.0.0.0:8086\"}", decrypt_only).ok());

  // It has an address and nothing else: no TLS to configure, no plaintext switch to flip.
  EXPECT_TRUE(IsInvalid(with_health("{}"), "listeners.health.address: required"));
  EXPECT_TRUE(IsInvalid(with_health("{address: \"0.0.0.0\"}"),
                        "listeners.health.address: expected host:port"));
  EXPECT_TRUE(IsInvalid(with_health("{address: \"0.0.0.0:8086\", plaintext: true}"),
                        "listeners.health.plaintext: unknown key; known keys: address"));
  EXPECT_TRUE(
      IsInvalid(with_health("{address: \"0.0.0.0:8086\", tls: {cert_file: /c, key_file: /k}}"),
                "listeners.health.tls: unknown key; known keys: address"));
}

TEST(ConfigTest, HealthListenerNeedsAnAddressOfItsOwn) {
  EXPECT_TRUE(IsInvalid(
      Parse(Edit([](YAML::Node& n) { n["listeners"]["health"]["address"] = "127.0.0.1:7443"; })),
      "listeners.health.address: same address as listeners.write.address"));
  EXPECT_TRUE(IsInvalid(
      Parse(Edit([](YAML::Node& n) { n["listeners"]["health"]["address"] = "127.0.0.1:7444"; })),
      "listeners.health.address: same address as listeners.decrypt.address"));
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) {
                          n["listeners"]["health"]["address"] = "0.0.0.0:9464";
                          n["metrics"]["address"] = "0.0.0.0:9464";
                        })),
                        "metrics.address: same address as listeners.health.address"));
  EXPECT_TRUE(Parse(Edit([](YAML::Node& n) {
                n["listeners"]["write"]["address"] = "127.0.0.1:0";
                n["listeners"]["health"]["address"] = "127.0.0.1:0";
              })).ok());
  // The flag is checked the same way.
  FlagOverrides flags;
  ASSERT_EQ(ParseConfigFlag("--health-address=127.0.0.1:7444", flags), absl::StatusOr<bool>(true));
  EXPECT_TRUE(IsInvalid(Parse(kBase, flags),
                        "listeners.health.address: same address as listeners.decrypt.address"));
}

// --- Durations and ranges ----------------------------------------------------------------------

TEST(ConfigTest, DurationsTakeUnits) {
  const absl::StatusOr<Config> config = Parse(Edit([](YAML::Node& n) {
    n["database"]["statement_timeout"] = "500ms";
    n["database"]["connect_timeout"] = "5s";
    n["shutdown"]["drain_timeout"] = "10m";
    n["idempotency"]["retention"] = "24h";
    n["retention"]["deleted_credentials"] = "1h30m";
  }));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->database.statement_timeout, absl::Milliseconds(500));
  EXPECT_EQ(config->database.connect_timeout, absl::Seconds(5));
  EXPECT_EQ(config->shutdown.drain_timeout, absl::Minutes(10));
  EXPECT_EQ(config->idempotency.retention, absl::Hours(24));
  EXPECT_EQ(config->retention.deleted_credentials, absl::Minutes(90));

  const auto with_timeout = [](const std::string& value) {
    return Parse(Edit([&](YAML::Node& n) { n["database"]["statement_timeout"] = value; }));
  };
  EXPECT_TRUE(IsInvalid(with_timeout("5"), "database.statement_timeout: expected a duration"));
  EXPECT_TRUE(IsInvalid(with_timeout("soon"), "database.statement_timeout: expected a duration"));
  EXPECT_TRUE(IsInvalid(with_timeout("inf"), "database.statement_timeout: expected a duration"));
  EXPECT_TRUE(
      IsInvalid(with_timeout("-1s"), "database.statement_timeout: must be between 1ms and 1h"));
  EXPECT_TRUE(
      IsInvalid(with_timeout("2h"), "database.statement_timeout: must be between 1ms and 1h"));
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) { n["idempotency"]["retention"] = "1h"; })),
                        "idempotency.retention: must be between 24h and 720h"));
  EXPECT_TRUE(
      IsInvalid(Parse(Edit([](YAML::Node& n) { n["database"]["connect_timeout"] = "1500ms"; })),
                "database.connect_timeout: must be whole seconds"));
}

TEST(ConfigTest, RetentionSweepSettings) {
  const absl::StatusOr<Config> defaults = Parse(Edit([](YAML::Node&) {}));
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_TRUE(defaults->retention.enabled);
  EXPECT_EQ(defaults->retention.interval, absl::Hours(1));
  EXPECT_EQ(defaults->retention.batch_size, 500u);

  const absl::StatusOr<Config> set = Parse(Edit([](YAML::Node& n) {
    n["retention"]["enabled"] = false;
    n["retention"]["interval"] = "15m";
    n["retention"]["batch_size"] = 2000;
  }));
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_FALSE(set->retention.enabled);
  EXPECT_EQ(set->retention.interval, absl::Minutes(15));
  EXPECT_EQ(set->retention.batch_size, 2000u);

  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) { n["retention"]["interval"] = "30s"; })),
                        "retention.interval: must be between 1m and 24h"));
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) { n["retention"]["batch_size"] = 0; })),
                        "retention.batch_size: must be between 1 and 10000"));
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) { n["retention"]["enabled"] = "yes"; })),
                        "retention.enabled: expected true or false"));
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) { n["retention"]["batch"] = 5; })),
                        "retention.batch: unknown key"));
}

TEST(ConfigTest, LimitsAreRangeChecked) {
  const auto with_limit = [](const std::string& key, const std::string& value) {
    return Parse(Edit([&](YAML::Node& n) { n["limits"][key] = YAML::Load(value); }));
  };
  EXPECT_TRUE(IsInvalid(with_limit("max_secret_size", "0"),
                        "limits.max_secret_size: must be between 1 and 1048576"));
  EXPECT_TRUE(IsInvalid(with_limit("max_secret_size", "1048577"),
                        "limits.max_secret_size: must be between 1 and 1048576"));
  EXPECT_TRUE(IsInvalid(with_limit("max_page_size", "501"),
                        "limits.max_page_size: must be between 1 and 500"));
  EXPECT_TRUE(IsInvalid(with_limit("compare_per_minute", "0"), "limits.compare_per_minute"));
  EXPECT_TRUE(IsInvalid(with_limit("max_secret_size", "99999999999999999999"),
                        "limits.max_secret_size: expected an integer"));
  EXPECT_TRUE(IsInvalid(with_limit("max_page_size", "10"),
                        "limits.default_page_size: must not exceed limits.max_page_size (10)"));
  EXPECT_TRUE(IsInvalid(with_limit("max_request_bytes", "65536"),
                        "limits.max_request_bytes: must be at least limits.max_secret_size"));
  EXPECT_TRUE(IsInvalid(with_limit("pool_size", "3"), "limits.pool_size: unknown key"));
}

// --- Database roles and secrets ----------------------------------------------------------------

TEST(ConfigTest, EachTierNeedsItsDatabaseRoles) {
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) { n["database"].remove("writer"); })),
                        "database.writer: required with the write tier"));
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) { n["database"].remove("decryptor"); })),
                        "database.decryptor: required with the decrypt tier"));
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) { n["database"].remove("admin"); })),
                        "database.admin: required with the decrypt tier"));
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) {
                          n["tiers"] = YAML::Load("[decrypt]");
                          n["listeners"].remove("write");
                        })),
                        "database.writer: only allowed with the write tier"));
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) { n["database"]["admin"]["pool_size"] = 0; })),
                        "database.admin.pool_size: must be between 1 and 1024"));
  EXPECT_TRUE(IsInvalid(
      Parse(Edit([](YAML::Node& n) { n["database"]["writer"]["password_env"] = "NOT-A-NAME"; })),
      "database.writer.password_env: must be the name of an environment"));
}

TEST(ConfigTest, MissingPasswordVariableIsNamedButNoValueIs) {
  MapEnvironment env = FullEnvironment();
  env.Set("CREDVAULT_DB_WRITER_PASSWORD", "");
  const absl::StatusOr<Config> config = ParseConfig(kBase, "test.yaml", env);
  EXPECT_TRUE(IsInvalid(config,
                        "database.writer.password_env: environment variable "
                        "CREDVAULT_DB_WRITER_PASSWORD is not set or empty"));
  EXPECT_THAT(std::string(config.status().message()), Not(HasSubstr(kDecryptorPassword)));
  EXPECT_THAT(std::string(config.status().message()), Not(HasSubstr(kAdminPassword)));

  const absl::StatusOr<Config> renamed = ParseConfig(
      Edit([](YAML::Node& n) { n["database"]["admin"]["password_env"] = "OPS_DB_PASSWORD"; }),
      "test.yaml", FullEnvironment());
  EXPECT_TRUE(IsInvalid(renamed, "environment variable OPS_DB_PASSWORD is not set"));
}

TEST(ConfigTest, OnlyTheSecretsOfTheTiersRunAreRead) {
  const std::string write_only = Edit([](YAML::Node& n) { CutToWriteTier(n); });
  const absl::StatusOr<Config> config = ParseConfig(
      write_only, "test.yaml",
      MapEnvironment(
          std::map<std::string, std::string>{{"CREDVAULT_DB_WRITER_PASSWORD", kWriterPassword}}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->RunsTier(Tier::kDecrypt));
  EXPECT_EQ(config->database.writer->password.RevealSecret(), kWriterPassword);
}

TEST(ConfigTest, ASecretInTheWrongKeyIsNotEchoed) {
  const absl::StatusOr<Config> config = Parse(Edit([](YAML::Node& n) {
    n["database"]["writer"]["password"] = "hunter2-do-not-log";
    n["database"]["writer"]["password_env"] = "hunter2-do-not-log";
  }));
  EXPECT_TRUE(IsInvalid(config, "database.writer.password: unknown key"));
  EXPECT_THAT(std::string(config.status().message()), Not(HasSubstr("hunter2")));
}

// --- Keys ------------------------------------------------------------------------------------

TEST(ConfigTest, KeysRequiredByTheTiers) {
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) { n["keys"].remove("writer_keys"); })),
                        "keys.writer_keys: required with the write tier"));
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) { n["keys"].remove("root_key_pins"); })),
                        "keys.root_key_pins: required with the write tier"));
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) { n["keys"].remove("seal_key"); })),
                        "keys.seal_key: required with the decrypt tier"));
  const std::string decrypt_only = Edit([](YAML::Node& n) { CutToDecryptTier(n); });
  EXPECT_TRUE(Parse(decrypt_only).ok());
  EXPECT_TRUE(
      IsInvalid(Parse(Edit([](YAML::Node& n) { n["keys"].remove("writer_keys"); }, decrypt_only)),
                "keys.writer_keys: required with the decrypt tier"));
}

TEST(ConfigTest, TheDecryptTierSignsWithTheAuditSigningKeyAndOnlyIt) {
  EXPECT_TRUE(
      IsInvalid(Parse(Edit([](YAML::Node& n) { n["keys"].remove("audit_signing_key_file"); })),
                "keys.audit_signing_key_file: required with the decrypt tier"));
  EXPECT_TRUE(IsInvalid(
      Parse(Edit([](YAML::Node& n) {
        CutToWriteTier(n, {"keys.audit_signing_key_file", "keys.key_directory_signing_keys"});
      })),
      "keys.audit_signing_key_file: a write-tier-only process must not hold "
      "the audit signing key"));
}

TEST(ConfigTest, OnlyTheDecryptTierHoldsTheKeyDirectorySigningKeys) {
  EXPECT_TRUE(
      IsInvalid(Parse(Edit([](YAML::Node& n) { n["keys"].remove("key_directory_signing_keys"); })),
                "keys.key_directory_signing_keys: required with the decrypt tier"));
  EXPECT_TRUE(IsInvalid(
      Parse(Edit([](YAML::Node& n) { n["keys"]["key_directory_signing_keys"]["current"] = 2; })),
      "keys.key_directory_signing_keys.current: version 2 is not listed"));
  const auto write_only = [](YAML::Node& n) {
    CutToWriteTier(n, {"keys.key_directory_signing_keys"});
  };
  // A write tier that could sign org key records could vouch for a key of its own.
  EXPECT_TRUE(IsInvalid(Parse(Edit(write_only)),
                        "keys.key_directory_signing_keys: a write-tier-only process must not "
                        "hold the key directory signing keys"));
  EXPECT_TRUE(Parse(Edit([&](YAML::Node& n) {
                write_only(n);
                n["keys"].remove("key_directory_signing_keys");
              })).ok());
  // It seals only to records signed by a pinned key, so it needs pins, and good ones.
  EXPECT_TRUE(IsInvalid(Parse(Edit([&](YAML::Node& n) {
                          write_only(n);
                          n["keys"].remove("key_directory_signing_keys");
                          n["keys"].remove("key_directory_pins");
                        })),
                        "keys.key_directory_pins: required with a write-only tier"));
  EXPECT_TRUE(IsInvalid(Parse(Edit([&](YAML::Node& n) {
                          write_only(n);
                          n["keys"].remove("key_directory_signing_keys");
                          n["keys"]["key_directory_pins"][1] = "not-a-key";
                        })),
                        "keys.key_directory_pins.1: must be a key directory public key"));
  // Both tiers in one process pin their own signing keys.
  EXPECT_TRUE(Parse(Edit([](YAML::Node& n) { n["keys"].remove("key_directory_pins"); })).ok());
}

TEST(ConfigTest, WriteOnlyProcessMustNotHoldTheSealKey) {
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) {
                          CutToWriteTier(n, {"keys.seal_key", "keys.audit_signing_key_file",
                                             "keys.key_directory_signing_keys"});
                        })),
                        "keys.seal_key: a write-tier-only process must not hold the seal key"));
}

// --- Split mode: the key authority of a write-only process -----------------------------------

// kBase cut down to the write tier, with a key_authority section of `key_authority` YAML.
std::string WriteOnlyWithKeyAuthority(const std::string& key_authority) {
  return Edit([&](YAML::Node& n) {
    CutToWriteTier(n);
    if (!key_authority.empty()) n["key_authority"] = YAML::Load(key_authority);
  });
}

constexpr char kKeyAuthorityWithCertificate[] =
    "{address: 'credvault-decrypt:7444', server_name: credvault-decrypt, "
    "tls: {ca_file: /tls/ca.pem, cert_file: /tls/write.pem, key_file: /tls/write.key}}";

TEST(ConfigTest, KeyAuthorityIsOnlyForAWriteOnlyProcess) {
  const absl::StatusOr<Config> write_only =
      Parse(WriteOnlyWithKeyAuthority(kKeyAuthorityWithCertificate));
  ASSERT_TRUE(write_only.ok()) << write_only.status();
  ASSERT_TRUE(write_only->key_authority.has_value());
  EXPECT_EQ(write_only->key_authority->address, "credvault-decrypt:7444");
  EXPECT_EQ(write_only->key_authority->server_name, "credvault-decrypt");
  ASSERT_TRUE(write_only->key_authority->tls.has_value());
  EXPECT_EQ(write_only->key_authority->tls->ca_file, "/tls/ca.pem");
  EXPECT_EQ(write_only->key_authority->tls->cert_file, "/tls/write.pem");
  EXPECT_EQ(write_only->key_authority->tls->key_file, "/tls/write.key");
  EXPECT_TRUE(write_only->key_authority->bearer_token.empty());

  // Without the section a write-only process still loads (it has no key authority).
  const absl::StatusOr<Config> without = Parse(WriteOnlyWithKeyAuthority(""));
  ASSERT_TRUE(without.ok()) << without.status();
  EXPECT_FALSE(without->key_authority.has_value());

  // A process with the decrypt tier is its own key authority.
  const std::string refused =
      "key_authority: only allowed in a process that runs the write tier without the "
      "decrypt tier";
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) {
                          n["key_authority"] = YAML::Load(kKeyAuthorityWithCertificate);
                        })),
                        refused));
  const std::string decrypt_only = Edit([](YAML::Node& n) {
    CutToDecryptTier(n);
    n["key_authority"] = YAML::Load(kKeyAuthorityWithCertificate);
  });
  EXPECT_TRUE(IsInvalid(Parse(decrypt_only), refused));
}

TEST(ConfigTest, KeyAuthorityNeedsTlsAndExactlyOneWayToAuthenticate) {
  EXPECT_TRUE(IsInvalid(
      Parse(WriteOnlyWithKeyAuthority("{address: 'decrypt:7444', bearer_token_file: /t}")),
      "key_authority.tls: required: the key authority is reached over TLS only"));
  EXPECT_TRUE(IsInvalid(Parse(WriteOnlyWithKeyAuthority(
                            "{address: 'decrypt:7444', tls: {cert_file: /c, key_file: /k}}")),
                        "key_authority.tls.ca_file"));
  EXPECT_TRUE(IsInvalid(Parse(WriteOnlyWithKeyAuthority(
                            "{address: 'decrypt:7444', tls: {ca_file: /ca, cert_file: /c}}")),
                        "key_authority.tls.key_file: set cert_file and key_file together"));
  const std::string one_way = "key_authority: set exactly one way to authenticate";
  EXPECT_TRUE(IsInvalid(
      Parse(WriteOnlyWithKeyAuthority("{address: 'decrypt:7444', tls: {ca_file: /ca}}")), one_way));
  EXPECT_TRUE(IsInvalid(
      Parse(WriteOnlyWithKeyAuthority("{address: 'decrypt:7444', bearer_token_file: /t, "
                                      "tls: {ca_file: /ca, cert_file: /c, key_file: /k}}")),
      one_way));
  EXPECT_TRUE(IsInvalid(
      Parse(WriteOnlyWithKeyAuthority("{address: 'decrypt:7444', bearer_token_file: /t, "
                                      "bearer_token_env: KA_TOKEN, tls: {ca_file: /ca}}")),
      one_way));
  EXPECT_TRUE(IsInvalid(Parse(WriteOnlyWithKeyAuthority(
                            "{address: 'no port', tls: {ca_file: /ca}, bearer_token_file: /t}")),
                        "key_authority.address"));
  const absl::StatusOr<Config> token_file = Parse(WriteOnlyWithKeyAuthority(
      "{address: 'decrypt:7444', tls: {ca_file: /ca}, bearer_token_file: /run/token}"));
  ASSERT_TRUE(token_file.ok()) << token_file.status();
  EXPECT_EQ(token_file->key_authority->bearer_token_file, "/run/token");
}

TEST(ConfigTest, KeyAuthorityTokenComesFromTheEnvironmentAndIsNotEchoed) {
  const std::string yaml = WriteOnlyWithKeyAuthority(
      "{address: 'decrypt:7444', tls: {ca_file: /ca}, bearer_token_env: KA_TOKEN}");
  constexpr char kToken[] = "key-authority-token-0123456789abcdef0123";
  const absl::StatusOr<Config> config =
      ParseConfig(yaml, "test.yaml",
                  MapEnvironment(std::map<std::string, std::string>{
                      {"CREDVAULT_DB_WRITER_PASSWORD", kWriterPassword}, {"KA_TOKEN", kToken}}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->key_authority->bearer_token.RevealSecret(), kToken);
  EXPECT_TRUE(IsInvalid(Parse(yaml),
                        "key_authority.bearer_token_env: environment variable "
                        "KA_TOKEN is not set or empty"));
  // The token belongs in the environment, never in the file.
  const absl::StatusOr<Config> in_file = Parse(WriteOnlyWithKeyAuthority(
      std::string("{address: 'decrypt:7444', tls: {ca_file: /ca}, bearer_token: ") + kToken + "}"));
  EXPECT_TRUE(IsInvalid(in_file, "key_authority.bearer_token: unknown key"));
  EXPECT_THAT(std::string(in_file.status().message()), Not(HasSubstr(kToken)));
}

TEST(ConfigTest, KeyAuthorityUnknownKeysAreRejected) {
  EXPECT_TRUE(
      IsInvalid(Parse(WriteOnlyWithKeyAuthority("{address: 'decrypt:7444', bearer_token_file: /t, "
                                                "tls: {ca_file: /ca, client_ca_file: /x}}")),
                "key_authority.tls.client_ca_file: unknown key; known keys: ca_file, "
                "cert_file, key_file"));
  EXPECT_TRUE(
      IsInvalid(Parse(WriteOnlyWithKeyAuthority("{address: 'decrypt:7444', tls: {ca_file: /ca}, "
                                                "bearer_token_file: /t, plaintext: true}")),
                "key_authority.plaintext: unknown key; known keys: address, tls, server_name, "
                "bearer_token_env, bearer_token_file"));
}

TEST(ConfigTest, WriterKeysAndPinsAreChecked) {
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) { n["keys"]["writer_keys"]["current"] = 2; })),
                        "keys.writer_keys.current: version 2 is not listed in "
                        "keys.writer_keys.files"));
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) {
                          n["keys"]["writer_keys"]["files"] = YAML::Load("{0: /k0}");
                        })),
                        "keys.writer_keys.files: versions must be integers >= 1"));
  EXPECT_TRUE(IsInvalid(
      Parse(Edit([](YAML::Node& n) { n["keys"]["writer_keys"]["files"] = YAML::Load("{1: }"); })),
      "keys.writer_keys.files.1: must not be empty"));
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) {
                          n["keys"]["root_key_pins"] = YAML::Load("{1: \"cvroot1:abcd\"}");
                        })),
                        "keys.root_key_pins: root key pin for version 1"));
  // A pin may also be the public key itself.
  EXPECT_TRUE(Parse(Edit([](YAML::Node& n) {
                n["keys"]["root_key_pins"][2] = std::string(64, 'a');
              })).ok());
}

TEST(ConfigTest, SealKeyProviders) {
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) { n["keys"]["seal_key"].remove("file"); })),
                        "keys.seal_key.file: required with provider file"));
  const auto pkcs11 = [](const std::string& section) {
    return Edit([&](YAML::Node& n) {
      n["keys"]["seal_key"] = YAML::Load("{provider: pkcs11}");
      n["keys"]["seal_key"]["pkcs11"] = YAML::Load(section);
    });
  };
  const std::string base_section =
      "{module: /usr/lib/softhsm/libsofthsm2.so, token_label: cv, key_label: seal";
  EXPECT_TRUE(IsInvalid(Parse(pkcs11(base_section + "}")),
                        "keys.seal_key.pkcs11: set exactly one of pin_env and pin_file"));
  EXPECT_TRUE(IsInvalid(Parse(pkcs11(base_section + ", pin_env: PIN, pin_file: /pin}")),
                        "keys.seal_key.pkcs11: set exactly one of pin_env and pin_file"));
  EXPECT_TRUE(IsInvalid(Parse(pkcs11("{token_label: cv, key_label: seal, pin_file: /p}")),
                        "keys.seal_key.pkcs11.module: required"));
  EXPECT_TRUE(IsInvalid(Parse(pkcs11(base_section + ", pin_env: CV_PIN}")),
                        "keys.seal_key.pkcs11.pin_env: environment variable CV_PIN is not set"));
  MapEnvironment env = FullEnvironment();
  env.Set("CV_PIN", "1234");
  const absl::StatusOr<Config> config =
      ParseConfig(pkcs11(base_section + ", pin_env: CV_PIN}"), "test.yaml", env);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->keys.seal_key->provider, SealKeyBackend::kPkcs11);
  EXPECT_EQ(config->keys.seal_key->pkcs11->pin.RevealSecret(), "1234");
  EXPECT_TRUE(Parse(pkcs11(base_section + ", pin_file: /run/secrets/pin}")).ok());
}

TEST(ConfigTest, PreviousSealKeysAreSealKeySectionsOfTheDecryptTier) {
  const std::string with_previous = Edit([](YAML::Node& n) {
    n["keys"]["previous_seal_keys"] = YAML::Load(
        "[{file: /keys/old.key}, {provider: pkcs11, pkcs11: {module: /m.so, token_label: cv, "
        "key_label: old, pin_env: OLD_PIN}}]");
  });
  MapEnvironment env = FullEnvironment();
  env.Set("OLD_PIN", "2468");
  const absl::StatusOr<Config> config = ParseConfig(with_previous, "test.yaml", env);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->keys.previous_seal_keys.size(), 2u);
  EXPECT_EQ(config->keys.previous_seal_keys[0].provider, SealKeyBackend::kFile);
  EXPECT_EQ(config->keys.previous_seal_keys[0].file, "/keys/old.key");
  EXPECT_EQ(config->keys.previous_seal_keys[1].pkcs11->pin.RevealSecret(), "2468");
  EXPECT_TRUE(Parse(kBase)->keys.previous_seal_keys.empty());

  EXPECT_TRUE(IsInvalid(Parse(with_previous),
                        "keys.previous_seal_keys[1].pkcs11.pin_env: environment variable OLD_PIN "
                        "is not set"));
  const auto previous = [](const std::string& list) {
    return Parse(Edit([&](YAML::Node& n) { n["keys"]["previous_seal_keys"] = YAML::Load(list); }));
  };
  EXPECT_TRUE(IsInvalid(previous("[{provider: file}]"),
                        "keys.previous_seal_keys[0].file: required with provider file"));
  EXPECT_TRUE(IsInvalid(previous("[{file: /k, colour: red}]"),
                        "keys.previous_seal_keys[0].colour: unknown key"));
  EXPECT_TRUE(IsInvalid(previous("{file: /k}"), "keys.previous_seal_keys: expected a list"));
  EXPECT_TRUE(
      IsInvalid(previous("[{file: /k}, {provider: pkcs11, pkcs11: {module: /m.so, token_label: cv, "
                         "key_label: old}}]"),
                "keys.previous_seal_keys[1].pkcs11: set exactly one of pin_env and pin_file"));
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) { CutToWriteTier(n); }, with_previous)),
                        "keys.previous_seal_keys: a write-tier-only process must not hold seal "
                        "keys"));
}

// --- Flags -------------------------------------------------------------------------------------

FlagOverrides Flags(std::initializer_list<std::string_view> args) {
  FlagOverrides flags;
  for (std::string_view arg : args) {
    const absl::StatusOr<bool> consumed = ParseConfigFlag(arg, flags);
    EXPECT_TRUE(consumed.ok() && *consumed) << arg;
  }
  return flags;
}

TEST(ConfigTest, FlagsOverrideKeysAndAreValidatedLikeTheFile) {
  const absl::StatusOr<Config> config = Parse(
      kBase, Flags({"--write-address=127.0.0.1:0", "--log-level=debug", "--database-port=6543",
                    "--metrics-address=127.0.0.1:9000", "--log-level=warning"}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listeners.write->address, "127.0.0.1:0");
  EXPECT_EQ(config->logging.level, LogLevel::kWarning);  // the later flag wins
  EXPECT_EQ(config->database.port, "6543");
  ASSERT_TRUE(config->metrics.has_value());
  EXPECT_EQ(config->metrics->address, "127.0.0.1:9000");
  EXPECT_FALSE(config->listeners.health.has_value());

  const absl::StatusOr<Config> with_health = Parse(kBase, Flags({"--health-address=[::]:8086"}));
  ASSERT_TRUE(with_health.ok()) << with_health.status();
  ASSERT_TRUE(with_health->listeners.health.has_value());
  EXPECT_EQ(with_health->listeners.health->address, "[::]:8086");

  EXPECT_TRUE(IsInvalid(Parse(kBase, Flags({"--database-port=http"})),
                        "--database-port (database.port): must be a port (1..65535)"));
  EXPECT_TRUE(IsInvalid(Parse(kBase, Flags({"--write-address=0.0.0.0:7443"})),
                        "listeners.write: plaintext is allowed only on loopback addresses, not "
                        "0.0.0.0:7443"));
  EXPECT_TRUE(IsInvalid(Parse(kBase, Flags({"--tiers=write,read"})),
                        "--tiers (tiers[1]): must be one of: write, decrypt"));
  EXPECT_TRUE(IsInvalid(Parse(kBase, Flags({"--tiers=write"})),
                        "keys.seal_key: a write-tier-only process must not hold the seal key"));
}

TEST(ConfigTest, FlagParsing) {
  FlagOverrides flags;
  EXPECT_EQ(ParseConfigFlag("--config=/etc/x.yaml", flags), absl::StatusOr<bool>(false));
  EXPECT_EQ(ParseConfigFlag("migrate", flags), absl::StatusOr<bool>(false));
  EXPECT_EQ(ParseConfigFlag("--write-address", flags).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseConfigFlag("--write-address=", flags).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(flags.values.empty());
}

// --- Database transport ------------------------------------------------------------------------

// `yaml` with database.host and, unless empty, database.sslmode set.
std::string WithDatabase(const std::string& host, const std::string& sslmode,
                         const std::string& yaml = kBase) {
  return Edit(
      [&](YAML::Node& n) {
        n["database"]["host"] = host;
        if (!sslmode.empty()) n["database"]["sslmode"] = sslmode;
      },
      yaml);
}

// The sslmode keyword of the writer role's libpq connection string.
std::string ConnectionSslMode(const Config& config) {
  const ConfigSecret secret = LibpqConnectionString(config.database, *config.database.writer);
  const std::string conninfo(secret.RevealSecret());
  const std::size_t start = conninfo.find("sslmode='");
  if (start == std::string::npos) return "<none>";
  const std::size_t value = start + std::string("sslmode='").size();
  return conninfo.substr(value, conninfo.find('\'', value) - value);
}

TEST(ConfigTest, DatabaseTlsDefaultsToVerifyFullUnlessEveryHostIsLocal) {
  const struct {
    std::string host;
    std::string expected;
  } cases[] = {
      {"db.internal", "verify-full"},
      {"10.0.0.5", "verify-full"},
      {"127.0.0.1", "prefer"},
      {"localhost", "prefer"},
      {"::1", "prefer"},
      {"/var/run/postgresql", "prefer"},
      {"127.0.0.1,/tmp/pg,::1", "prefer"},
      // Every host of a multi-host list counts: libpq moves on to the next one when a
      // host fails, which an attacker can arrange.
      {"127.0.0.1,db.internal", "verify-full"},
      {"/tmp/pg,10.0.0.5", "verify-full"},
  };
  for (const auto& c : cases) {
    for (const std::string& sslmode : {std::string(), std::string("auto")}) {
      const absl::StatusOr<Config> config = Parse(WithDatabase(c.host, sslmode));
      ASSERT_TRUE(config.ok()) << c.host << ": " << config.status();
      EXPECT_FALSE(config->database.sslmode.has_value()) << c.host;
      EXPECT_EQ(ConnectionSslMode(*config), c.expected) << c.host << " sslmode " << sslmode;
    }
  }
  // A flag that moves the database to a remote host moves the default with it.
  const absl::StatusOr<Config> flagged = Parse(kBase, Flags({"--database-host=db.internal"}));
  ASSERT_TRUE(flagged.ok()) << flagged.status();
  EXPECT_EQ(ConnectionSslMode(*flagged), "verify-full");
}

// --- Database hosts and ports ---------------------------------------------------------------

// `yaml` with database.host and database.port set; the port as written (an integer stays one).
std::string WithHostsAndPorts(const std::string& hosts, const YAML::Node& ports) {
  return Edit([&](YAML::Node& n) {
    n["database"]["host"] = hosts;
    n["database"]["port"] = ports;
  });
}

// The value of `keyword` in the writer role's libpq connection string, or "<none>".
std::string ConnectionKeyword(const Config& config, const std::string& keyword) {
  const ConfigSecret secret = LibpqConnectionString(config.database, *config.database.writer);
  const std::string conninfo = " " + std::string(secret.RevealSecret());
  const std::size_t start = conninfo.find(" " + keyword + "='");
  if (start == std::string::npos) return "<none>";
  const std::size_t value = start + keyword.size() + 3;
  return conninfo.substr(value, conninfo.find('\'', value) - value);
}

TEST(ConfigTest, DatabasePortIsOneForEveryHostOrOnePerHost) {
  const struct {
    std::string hosts;
    YAML::Node port;
    std::string expected_port;
    std::string expected_session_attrs;
  } cases[] = {
      // An integer, as before lists were allowed, still works.
      {"127.0.0.1", YAML::Node(6543), "6543", "<none>"},
      {"127.0.0.1", YAML::Node("6543"), "6543", "<none>"},
      // With more than one host, only a host that accepts writes will do.
      {"127.0.0.1,127.0.0.2", YAML::Node(5432), "5432", "read-write"},
      {"127.0.0.1,127.0.0.2", YAML::Node("5432,5433"), "5432,5433", "read-write"},
      {"/tmp/a,/tmp/b,127.0.0.1", YAML::Node("1,65535,5432"), "1,65535,5432", "read-write"},
  };
  for (const auto& c : cases) {
    const absl::StatusOr<Config> config = Parse(WithHostsAndPorts(c.hosts, c.port));
    ASSERT_TRUE(config.ok()) << c.hosts << ": " << config.status();
    EXPECT_EQ(config->database.port, c.expected_port);
    EXPECT_EQ(ConnectionKeyword(*config, "host"), c.hosts);
    EXPECT_EQ(ConnectionKeyword(*config, "port"), c.expected_port) << c.hosts;
    EXPECT_EQ(ConnectionKeyword(*config, "target_session_attrs"), c.expected_session_attrs)
        << c.hosts;
  }
  // The flags take lists too.
  const absl::StatusOr<Config> flagged =
      Parse(kBase, Flags({"--database-host=127.0.0.1,::1", "--database-port=5432,5433"}));
  ASSERT_TRUE(flagged.ok()) << flagged.status();
  EXPECT_EQ(ConnectionKeyword(*flagged, "port"), "5432,5433");
  EXPECT_EQ(ConnectionKeyword(*flagged, "target_session_attrs"), "read-write");
}

TEST(ConfigTest, DatabasePortListsMustMatchTheHosts) {
  EXPECT_TRUE(IsInvalid(Parse(WithHostsAndPorts("127.0.0.1,127.0.0.2", YAML::Node("1,2,3"))),
                        "database.port: lists 3 ports but database.host lists 2 hosts"));
  EXPECT_TRUE(IsInvalid(Parse(WithHostsAndPorts("127.0.0.1", YAML::Node("5432,5433"))),
                        "database.port: lists 2 ports but database.host lists 1 hosts"));
  EXPECT_TRUE(IsInvalid(Parse(kBase, Flags({"--database-port=5432,5433"})),
                        "database.port: lists 2 ports but database.host lists 1 hosts"));
  for (const char* bad : {"0", "65536", "5432,", ",5432", "5432,,5433", "+5432", " 5432",
                          "5432 ,5433", "54a2", "000005432", "-1"}) {
    EXPECT_TRUE(IsInvalid(Parse(WithHostsAndPorts("127.0.0.1,127.0.0.2", YAML::Node(bad))),
                          "database.port: must be a port (1..65535) or a comma-separated list "
                          "of ports, one per host"))
        << bad;
  }
  EXPECT_TRUE(IsInvalid(Parse(Edit([](YAML::Node& n) {
                          n["database"]["port"] = YAML::Node(YAML::NodeType::Sequence);
                          n["database"]["port"].push_back(5432);
                        })),
                        "database.port: expected a string, not a list"));
}

TEST(ConfigTest, ExplicitSslModesAreKept) {
  for (const char* mode : {"require", "verify-ca", "verify-full"}) {
    for (const char* host : {"db.internal", "127.0.0.1"}) {
      const absl::StatusOr<Config> config = Parse(WithDatabase(host, mode));
      ASSERT_TRUE(config.ok()) << host << " " << mode << ": " << config.status();
      EXPECT_EQ(ConnectionSslMode(*config), mode) << host;
    }
  }
  for (const char* mode : {"disable", "allow", "prefer"}) {
    const absl::StatusOr<Config> config = Parse(WithDatabase("/var/run/postgresql", mode));
    ASSERT_TRUE(config.ok()) << mode << ": " << config.status();
    EXPECT_EQ(ConnectionSslMode(*config), mode);
  }
  EXPECT_TRUE(IsInvalid(Parse(WithDatabase("db.internal", "verify_full")),
                        "database.sslmode: must be one of: disable, allow, prefer, require, "
                        "verify-ca, verify-full, auto"));
}

TEST(ConfigTest, PlaintextCapableSslModesAreRefusedForRemoteHostsUnlessOptedOut) {
  for (const char* mode : {"disable", "allow", "prefer"}) {
    for (const char* host : {"db.internal", "127.0.0.1,db.internal", "/tmp/pg,192.0.2.7"}) {
      EXPECT_TRUE(
          IsInvalid(Parse(WithDatabase(host, mode)),
                    absl::StrCat("database.sslmode: ", mode, " lets a network attacker strip TLS")))
          << host;
      const std::string opted_out =
          Edit([](YAML::Node& n) { n["database"]["allow_insecure_transport"] = true; },
               WithDatabase(host, mode));
      const absl::StatusOr<Config> config = Parse(opted_out);
      ASSERT_TRUE(config.ok()) << host << " " << mode << ": " << config.status();
      EXPECT_TRUE(config->database.allow_insecure_transport);
      EXPECT_EQ(ConnectionSslMode(*config), mode);
    }
  }
  // The flag that points a loopback configuration at a remote host is checked too.
  EXPECT_TRUE(
      IsInvalid(Parse(WithDatabase("127.0.0.1", "prefer"), Flags({"--database-host=db.internal"})),
                "database.allow_insecure_transport: true"));
  // The opt-out is an ordinary key of the strict schema.
  EXPECT_TRUE(IsInvalid(
      Parse(Edit([](YAML::Node& n) { n["database"]["allow_insecure_transports"] = true; })),
      "database.allow_insecure_transports: unknown key"));
  EXPECT_TRUE(IsInvalid(
      Parse(Edit([](YAML::Node& n) { n["database"]["allow_insecure_transport"] = "sometimes"; })),
      "database.allow_insecure_transport"));
}

// --- The reference -----------------------------------------------------------------------------

TEST(ConfigTest, ReferenceDocumentsEveryKeyFlagAndVariable) {
  const std::string reference = RenderConfigReference();
  const std::vector<SchemaKey> keys = DescribeConfigSchema();
  ASSERT_GT(keys.size(), 60u);
  std::set<std::string> paths;
  for (const SchemaKey& key : keys) {
    paths.insert(key.path);
    EXPECT_THAT(reference, HasSubstr(key.path + "  (")) << key.path;
    EXPECT_FALSE(key.help.empty()) << key.path;
  }
  // Spot checks that the schema holds what the file format promises.
  for (const char* path :
       {"tiers", "listeners.admin.tls.client_ca_file", "listeners.health.address",
        "metrics.address", "database.decryptor.password_env", "keys.seal_key.pkcs11.pin_file",
        "keys.writer_keys.files", "limits.max_request_bytes", "retention.audit_events",
        "shutdown.drain_timeout", "database.allow_insecure_transport"}) {
    EXPECT_TRUE(paths.count(path)) << path;
  }
  for (const std::string& flag : ConfigFlagNames()) {
    EXPECT_THAT(reference, HasSubstr("--" + flag + "=")) << flag;
  }
  for (const char* variable : {"CREDVAULT_DB_WRITER_PASSWORD", "CREDVAULT_DB_DECRYPTOR_PASSWORD",
                               "CREDVAULT_DB_ADMIN_PASSWORD"}) {
    EXPECT_THAT(reference, HasSubstr(variable));
  }
  EXPECT_THAT(reference, HasSubstr("database.port  (port or port,port,..., default \"5432\")"));
  EXPECT_THAT(reference, HasSubstr("verify-full, auto, default auto)"));
  EXPECT_THAT(reference, HasSubstr("database.allow_insecure_transport  (bool, default false)"));
  // What a probe may ask the health listener for.
  EXPECT_THAT(reference, HasSubstr("\"readiness\""));
  EXPECT_THAT(reference, HasSubstr("idempotency.retention  (duration 24h..720h, default 24h)"));
}

// The example is the documentation operators copy: it mentions every key.
TEST(ConfigTest, ExampleMentionsEveryKey) {
  std::ifstream file(CREDVAULT_EXAMPLE_CONFIG);
  const std::string example((std::istreambuf_iterator<char>(file)),
                            std::istreambuf_iterator<char>());
  for (const SchemaKey& key : DescribeConfigSchema()) {
    const std::string leaf = key.path.substr(key.path.rfind('.') + 1);
    EXPECT_NE(example.find(leaf + ":"), std::string::npos) << key.path;
  }
}

}  // namespace
}  // namespace credvault::server

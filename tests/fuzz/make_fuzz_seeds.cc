// Writes the seed corpora of the fuzz targets: `make_fuzz_seeds DIR` fills DIR/<target>/
// (tests/fuzz/corpus/ in the repository) with small valid inputs and edge cases. The
// valid envelopes, exports and tokens are made with the fixed keys of fuzz_keys.h, which
// the targets hold too, and with deterministic randomness, so the output is the same on
// every run. Regression inputs (regression-*) are never overwritten.

#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/audit_export_file.h"
#include "cli/output.h"
#include "credvault/v1/audit.pb.h"
#include "credvault/v1/credential_access_service.pb.h"
#include "credvault/v1/credential_service.pb.h"
#include "crypto/audit_chain.h"
#include "crypto/envelope.h"
#include "google/protobuf/util/time_util.h"
#include "server/auth/bearer_token.h"
#include "server/service/page_token.h"
#include "tests/fuzz/fuzz_keys.h"

namespace credvault::fuzz {
namespace {

std::string out_dir;

void Write(const std::string& target, const std::string& name, std::string_view bytes) {
  const std::string dir = absl::StrCat(out_dir, "/", target);
  mkdir(dir.c_str(), 0755);
  const std::string path = absl::StrCat(dir, "/", name);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::exit(1);
  }
}

std::string Str(absl::Span<const std::uint8_t> bytes) { return {bytes.begin(), bytes.end()}; }

void EnvelopeSeeds(const FuzzOrgKeys& keys) {
  const crypto::CredentialBinding binding{kFuzzOrg, kFuzzCredentialName, kFuzzCredentialVersion};
  for (std::size_t size : {1, 16, 300}) {
    const crypto::SecretBytes secret = crypto::SecretBytes::CopyFrom(std::string(size, 's'));
    const std::vector<std::uint8_t> envelope =
        OrDie(crypto::BuildEnvelope(binding, keys.org_public, keys.writer_keys, secret), "build");
    Write("envelope", absl::StrCat("valid-", size), Str(envelope));
    if (size == 16) {
      Write("envelope", "truncated", Str(envelope).substr(0, envelope.size() - 1));
      std::string flipped = Str(envelope);
      flipped[120] = static_cast<char>(flipped[120] ^ 1);  // in the ciphertext
      Write("envelope", "bad-authenticator", flipped);
      std::string huge_length = Str(envelope);
      huge_length[113] = '\x7f';  // L, the ciphertext length
      Write("envelope", "huge-length", huge_length);
    }
  }
  Write("envelope", "empty", "");
}

// An export as `credvaultctl audit export` writes it: events of chain `format` from
// sequence 1, with a checkpoint signed by the fuzz audit key at `signed_at` (0: none).
std::string AuditExport(std::uint64_t events, crypto::AuditChainFormat format,
                        std::uint64_t signed_at) {
  using google::protobuf::util::TimeUtil;
  const crypto::AuditSigner signer = FuzzAuditSigner();
  std::string out = absl::StrCat("{\"format\":\"", cli::kAuditExportFormat, "\",\"org_id\":\"",
                                 kFuzzOrg, "\"}\n");
  v1::AuditSigningKey key;
  key.set_key_id(signer.key_id());
  key.set_public_key(Str(signer.public_key()));
  absl::StrAppend(&out, "{\"signing_key\":", OrDie(cli::ToJson(key), "json"), "}\n");
  crypto::AuditHash running = crypto::AuditChainGenesis(kFuzzOrg, format);
  std::uint64_t checkpoints = 0;
  for (std::uint64_t seq = 1; seq <= events; ++seq) {
    crypto::AuditEventFields f{kFuzzOrg,
                               seq,
                               1735689600000000 + static_cast<std::int64_t>(seq) * 1000001,
                               "spiffe://credvault.test/backend",
                               seq % 2 == 0 ? "credential.decrypt" : "credential.put",
                               kFuzzCredentialName,
                               "ok",
                               absl::StrCat("req-", seq),
                               seq % 2 == 0 ? "purpose=sync" : ""};
    if (format == crypto::AuditChainFormat::kV2) f.appended_by = "credvault_writer";
    f.format = format;
    const crypto::AuditHash hash = crypto::AuditChainStep(running, f);
    v1::AuditEvent e;
    e.set_org_id(f.org_id);
    e.set_sequence(seq);
    *e.mutable_time() = TimeUtil::MicrosecondsToTimestamp(f.time_unix_micros);
    e.set_principal(f.principal);
    e.set_action(f.action);
    e.set_target(f.target);
    e.set_result(f.result);
    e.set_request_id(f.request_id);
    e.set_details(f.details);
    e.set_prev_hash(Str(running));
    e.set_hash(Str(hash));
    if (format == crypto::AuditChainFormat::kV2) {
      e.set_appended_by(f.appended_by);
      e.set_chain_format(static_cast<std::uint32_t>(format));
    }
    absl::StrAppend(&out, "{\"event\":", OrDie(cli::ToJson(e), "json"), "}\n");
    running = hash;
    if (seq == signed_at) {
      const std::int64_t micros = 1735689600000000 + 999000000;
      v1::AuditCheckpoint c;
      c.set_org_id(kFuzzOrg);
      c.set_sequence(seq);
      c.set_chain_head_hash(Str(hash));
      *c.mutable_time() = TimeUtil::MicrosecondsToTimestamp(micros);
      const crypto::AuditSignature signature = signer.SignCheckpoint(kFuzzOrg, seq, hash, micros);
      c.set_signature(Str(signature));
      c.set_signing_key_id(signer.key_id());
      c.set_kind(v1::AUDIT_CHECKPOINT_KIND_EXPORT);
      absl::StrAppend(&out, "{\"checkpoint\":", OrDie(cli::ToJson(c), "json"), "}\n");
      ++checkpoints;
    }
  }
  absl::StrAppend(&out, "{\"end\":{\"events\":", events, ",\"checkpoints\":", checkpoints,
                  ",\"signing_keys\":1}}\n");
  return out;
}

void AuditExportSeeds() {
  Write("audit_export", "valid-v1", AuditExport(3, crypto::AuditChainFormat::kV1, 3));
  Write("audit_export", "valid-v2", AuditExport(3, crypto::AuditChainFormat::kV2, 3));
  Write("audit_export", "unsigned-tail", AuditExport(3, crypto::AuditChainFormat::kV1, 2));
  const std::string valid = AuditExport(2, crypto::AuditChainFormat::kV1, 2);
  Write("audit_export", "truncated", valid.substr(0, valid.size() - 20));
  Write("audit_export", "header-only",
        absl::StrCat("{\"format\":\"", cli::kAuditExportFormat, "\",\"org_id\":\"", kFuzzOrg,
                     "\"}\n{\"end\":{\"events\":0,\"checkpoints\":0,\"signing_keys\":0}}\n"));
  Write("audit_export", "not-an-export", "{\"format\":\"something-else\"}\n");
}

void PageTokenSeeds(const crypto::WriterKeyRing& keys) {
  server::PageQuery query("ListCredentials");
  query.Add(kFuzzOrg)
      .Add(std::string_view())
      .Add(std::map<std::string, std::string>())
      .Add(std::uint64_t{0});
  Write("page_token", "valid-name", server::EncodePageToken(keys, query, kFuzzCredentialName));
  Write("page_token", "valid-empty", server::EncodePageToken(keys, query, ""));
  Write("page_token", "valid-long", server::EncodePageToken(keys, query, std::string(1024, 'n')));
  Write("page_token", "not-base64", "!!!!");
  Write("page_token", "empty", "");
}

template <typename Message>
std::string Request(char kind, const Message& message) {
  return std::string(1, kind) + message.SerializeAsString();
}

void ApiRequestSeeds(const crypto::WriterKeyRing& keys) {
  v1::PutCredentialRequest put;
  put.set_org_id(kFuzzOrg);
  put.set_name(kFuzzCredentialName);
  put.set_secret("not-a-real-secret");
  (*put.mutable_labels())["env"] = "prod";
  put.set_idempotency_key("req-1:retry");
  put.set_must_not_exist(true);
  Write("api_request", "put-valid", Request('\0', put));
  put.set_name("app/../db");
  Write("api_request", "put-bad-name", Request('\0', put));

  v1::DecryptCredentialRequest decrypt;
  decrypt.set_org_id(kFuzzOrg);
  decrypt.set_name(kFuzzCredentialName);
  decrypt.set_version(1);
  decrypt.set_purpose("nightly sync");
  Write("api_request", "decrypt-valid", Request('\1', decrypt));
  decrypt.set_version(0);
  Write("api_request", "decrypt-version-zero", Request('\1', decrypt));

  v1::ListCredentialsRequest list;
  list.set_org_id(kFuzzOrg);
  list.set_page_size(10);
  server::PageQuery query("ListCredentials");
  query.Add(kFuzzOrg)
      .Add(std::string_view())
      .Add(std::map<std::string, std::string>())
      .Add(std::uint64_t{0});
  list.set_page_token(server::EncodePageToken(keys, query, kFuzzCredentialName));
  Write("api_request", "list-valid-token", Request('\2', list));
  list.set_page_token("");
  list.set_name_prefix("app/");
  (*list.mutable_label_selector())["env"] = "prod";
  list.set_page_size(-1);
  Write("api_request", "list-negative-page-size", Request('\2', list));
}

constexpr char kMinimalConfig[] = R"(tiers: [write, decrypt]
listeners:
  write: {address: "127.0.0.1:7443", plaintext: true}
  decrypt: {address: "127.0.0.1:7444", plaintext: true}
database:
  writer: {}
  decryptor: {}
  admin: {}
keys:
  writer_keys: {current: 1, files: {1: /keys/writer-1.key}}
  root_key_pins: {1: "cvroot1:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"}
  seal_key: {file: /keys/seal.key}
  audit_signing_key_file: /keys/audit-signing.key
  key_directory_signing_keys: {current: 1, files: {1: /keys/key-directory-1.key}}
  key_directory_pins: {1: "8f4c3d8e0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5"}
policy_file: /etc/credvault/policy.yaml
)";

void ConfigSeeds() {
  Write("config", "minimal-both-tiers", kMinimalConfig);
  std::ifstream example(CREDVAULT_EXAMPLE_CONFIG, std::ios::binary);
  std::stringstream text;
  text << example.rdbuf();
  Write("config", "example", text.str());
  Write("config", "unknown-key", "tiers: [write]\nlisteners: {}\nsurprise: 1\n");
  Write("config", "anchors", "a: &x [write]\ntiers: *x\nlisteners: {write: *x}\n");
  Write("config", "empty", "");
}

void PolicySeeds() {
  Write("policy", "valid",
        absl::StrCat("principals:\n"
                     "  - id: \"spiffe://example.org/ns/prod/sa/backend\"\n"
                     "    roles: [writer]\n"
                     "    orgs: [\"*\"]\n"
                     "  - token_name: ci-worker\n"
                     "    token_hash: \"",
                     server::HashBearerToken("fuzz-token"),
                     "\"\n"
                     "    roles: [decryptor, auditor]\n"
                     "    orgs: [org-a, org-b]\n"));
  Write("policy", "unknown-key", "principals:\n  - idd: x\n");
  Write("policy", "bad-role", "principals:\n  - id: a\n    roles: [root]\n    orgs: [org-a]\n");
  Write("policy", "empty", "");
}

void SecretInputSeeds() {
  // First byte: 0x80 set for a terminal line, the low bits the size limit.
  Write("secret_input", "file-exact-limit", std::string("\x08") + "12345678");
  Write("secret_input", "file-over-limit", std::string("\x04") + "12345");
  Write("secret_input", "file-binary", std::string("\x7f") + std::string("a\0b\r\n\xff", 6));
  Write("secret_input", "line-crlf", std::string("\x90") + "secret\r\nmore");
  Write("secret_input", "line-empty", std::string("\x90") + "\n");
  Write("secret_input", "empty", std::string("\x10"));
}

}  // namespace
}  // namespace credvault::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  credvault::fuzz::out_dir = argv[1];
  mkdir(argv[1], 0755);
  credvault::fuzz::DeterministicRandom::Install();
  const credvault::fuzz::FuzzOrgKeys keys = credvault::fuzz::MakeFuzzOrgKeys();
  credvault::fuzz::EnvelopeSeeds(keys);
  credvault::fuzz::AuditExportSeeds();
  credvault::fuzz::PageTokenSeeds(keys.writer_keys);
  credvault::fuzz::ApiRequestSeeds(keys.writer_keys);
  credvault::fuzz::ConfigSeeds();
  credvault::fuzz::PolicySeeds();
  credvault::fuzz::SecretInputSeeds();
  return 0;
}

#include "cli/command_line.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cli/exit_codes.h"
#include "cli/flag_values.h"

namespace credvault::cli {
namespace {

constexpr char kDescription[] =
    "credvaultctl operates a credvault server: credentials (put, delete, describe, list,\n"
    "compare), the audited decrypt path, orgs and keys, re-seal jobs and the audit log.\n"
    "Secrets are read from stdin or --secret-file, never from the command line.";

std::string Footer() {
  return absl::StrCat(
      "ADDRESSES:\n"
      "  --addr always wins. Without it, credential commands (put, delete, describe, list,\n"
      "  compare) use $CREDVAULT_ADDR, else ",
      kDefaultWriteAddress,
      " (write listener); decrypt uses\n"
      "  $CREDVAULT_DECRYPT_ADDR, else ",
      kDefaultDecryptAddress,
      "; org, root, reseal and audit commands use\n"
      "  $CREDVAULT_ADMIN_ADDR, else $CREDVAULT_DECRYPT_ADDR, else ",
      kDefaultDecryptAddress,
      ".\n\n"
      "ENVIRONMENT (used when the matching flag is absent):\n"
      "  CREDVAULT_CA_FILE, CREDVAULT_CERT_FILE, CREDVAULT_KEY_FILE, CREDVAULT_SERVER_NAME\n"
      "      TLS settings (ignored with --plaintext)\n"
      "  CREDVAULT_TOKEN_FILE  file holding the bearer token\n"
      "  CREDVAULT_TOKEN       the bearer token itself (when no token file is given)\n"
      "  The token is sent as `authorization: Bearer <token>`; there is no flag for its value.\n\n"
      "RETRIES:\n"
      "  UNAVAILABLE is retried (3 attempts) with the same request. Mutations always carry an\n"
      "  idempotency key (a random one unless --idempotency-key is given), so a retry never\n"
      "  applies a change twice; after an unknown outcome the key to reuse is printed.\n\n"
      "AUDIT EXPORT FORMAT (audit export --output FILE): JSON lines, one object per line:\n"
      "  {\"format\":\"credvault.audit_export.v1\",\"org_id\":...}   first line\n"
      "  {\"signing_key\":AuditSigningKey} | {\"checkpoint\":AuditCheckpoint} | "
      "{\"event\":AuditEvent}\n"
      "  {\"end\":{\"events\":N,\"checkpoints\":N,\"signing_keys\":N}}  last line (complete "
      "export)\n"
      "  Messages use the proto3 JSON mapping with proto field names (bytes as base64,\n"
      "  64-bit integers as strings). Events are in sequence order; each checkpoint follows\n"
      "  the event at its sequence. The file is created 0600 and must not exist.\n\n"
      "OFFLINE AUDIT VERIFICATION (audit verify --file EXPORT --public-key KEY):\n"
      "  Checks an export with no server: every hash recomputed from its event's fields, the\n"
      "  prev_hash links, gapless sequences from genesis (or the purge checkpoint), each\n"
      "  checkpoint's signature under a pinned key and its head against the chain, and that a\n"
      "  signed checkpoint covers the last event. A failure names the first bad sequence and\n"
      "  the reason (exit 1); an unreadable file or key, or a file that is not an export,\n"
      "  exits 3. KEY is the audit signing public key, obtained out of band: 64 hex digits,\n"
      "  its base64, or an AuditSigningKey JSON object; repeat --public-key to pin several.\n\n",
      ExitCodeTable());
}

// Raw flag values; one subcommand runs per invocation, so they are shared between them.
struct Flags {
  std::string addr, ca_file, cert_file, key_file, server_name, token_file, timeout = "10s";
  bool plaintext = false, json = false, verbose = false;

  std::string org, name, job, secret_file, output_file, prefix, page_token, idempotency_key,
      purpose, reason, confirm, expires_at, ttl, action, org_state;
  std::vector<std::string> labels, public_key_files;
  std::string export_file;
  std::uint64_t expected_version = 0, version = 0, key_version = 0, after_seq = 0, start_seq = 0,
                end_seq = 0;
  std::uint32_t max_versions = 0;
  std::int32_t page_size = 0;
  bool must_not_exist = false, erase = false, include_deleted = false, all = false;
};

enum class Listener { kWrite, kDecrypt, kAdmin };

// Adds the ORG positional that every command but `root rotate` takes.
void AddOrg(CLI::App* command, Flags* flags) {
  command->add_option("org", flags->org, "org id")->required();
}

CLI::Option* AddVersion(CLI::App* command, std::uint64_t* target, const std::string& name,
                        const std::string& help) {
  return command->add_option(name, *target, help)->check(CLI::PositiveNumber);
}

CLI::Option* AddLabels(CLI::App* command, Flags* flags, const std::string& help) {
  // One value per occurrence: a vector option would otherwise swallow the positionals
  // that follow it.
  return command->add_option("--label", flags->labels, help)
      ->allow_extra_args(false)
      ->type_name("KEY=VALUE");
}

void AddPaging(CLI::App* command, Flags* flags) {
  command->add_option("--page-size", flags->page_size, "items per page (server default 50)")
      ->check(CLI::Range(1, 500));
  command->add_option("--page-token", flags->page_token, "continue from this page token");
  command->add_flag("--all", flags->all, "follow next_page_token until the last page");
}

CLI::Option* AddIdempotencyKey(CLI::App* command, Flags* flags) {
  return command->add_option("--idempotency-key", flags->idempotency_key,
                             "reuse a key to retry safely (default: a random key)");
}

// Rule of common.proto: 1-128 characters from [A-Za-z0-9._:-].
absl::Status CheckIdempotencyKey(const std::string& key) {
  if (key.empty() || key.size() > 128) {
    return absl::InvalidArgumentError("--idempotency-key: must be 1-128 characters");
  }
  for (char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError("--idempotency-key: may contain only [A-Za-z0-9._:-]");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> IdempotencyKey(const CLI::Option* option, const Flags& flags,
                                           const Environment& env) {
  if (option->count() == 0) return env.new_idempotency_key();
  if (absl::Status status = CheckIdempotencyKey(flags.idempotency_key); !status.ok()) {
    return status;
  }
  return flags.idempotency_key;
}

std::optional<std::string> EnvValue(const Environment& env, absl::string_view name) {
  std::optional<std::string> value = env.get_env(name);
  if (value.has_value() && value->empty()) return std::nullopt;
  return value;
}

std::string ResolveTarget(const Flags& flags, bool addr_given, Listener listener,
                          const Environment& env) {
  if (addr_given) return flags.addr;
  std::optional<std::string> value;
  switch (listener) {
    case Listener::kWrite:
      value = EnvValue(env, "CREDVAULT_ADDR");
      return value.value_or(kDefaultWriteAddress);
    case Listener::kAdmin:
      value = EnvValue(env, "CREDVAULT_ADMIN_ADDR");
      if (value.has_value()) return *value;
      [[fallthrough]];
    case Listener::kDecrypt:
      value = EnvValue(env, "CREDVAULT_DECRYPT_ADDR");
      return value.value_or(kDefaultDecryptAddress);
  }
  return kDefaultWriteAddress;
}

// The per-command half of parsing: turns flags into the request. Errors are usage errors.
class Builder {
 public:
  Builder(const Flags& flags, const Environment& env) : flags_(flags), env_(env) {}

  absl::StatusOr<Command> Put(const CLI::Option* expected_version, const CLI::Option* max_versions,
                              const CLI::Option* key) {
    PutCommand c;
    c.secret_file = flags_.secret_file;
    v1::PutCredentialRequest& r = c.request;
    r.set_org_id(flags_.org);
    r.set_name(flags_.name);
    if (absl::Status s = ParseLabels(flags_.labels, "--label", r.mutable_labels()); !s.ok()) {
      return s;
    }
    if (expected_version->count() > 0) r.set_expected_version(flags_.expected_version);
    if (flags_.must_not_exist) r.set_must_not_exist(true);
    absl::StatusOr<std::string> idempotency_key = IdempotencyKey(key, flags_, env_);
    if (!idempotency_key.ok()) return idempotency_key.status();
    r.set_idempotency_key(*idempotency_key);
    if (!flags_.expires_at.empty()) {
      absl::StatusOr<google::protobuf::Timestamp> time =
          ParseRfc3339(flags_.expires_at, "--expires-at");
      if (!time.ok()) return time.status();
      *r.mutable_expire_time() = *time;
    }
    if (!flags_.ttl.empty()) {
      absl::StatusOr<google::protobuf::Duration> ttl = ParseTtl(flags_.ttl);
      if (!ttl.ok()) return ttl.status();
      *r.mutable_ttl() = *ttl;
    }
    if (max_versions->count() > 0) r.set_max_versions(flags_.max_versions);
    return c;
  }

  absl::StatusOr<Command> Delete(const CLI::Option* expected_version, const CLI::Option* key) {
    DeleteCommand c;
    c.request.set_org_id(flags_.org);
    c.request.set_name(flags_.name);
    c.request.set_mode(flags_.erase ? v1::DELETION_MODE_ERASE : v1::DELETION_MODE_SOFT);
    if (expected_version->count() > 0) c.request.set_expected_version(flags_.expected_version);
    absl::StatusOr<std::string> idempotency_key = IdempotencyKey(key, flags_, env_);
    if (!idempotency_key.ok()) return idempotency_key.status();
    c.request.set_idempotency_key(*idempotency_key);
    return c;
  }

  absl::StatusOr<Command> Describe(const CLI::Option* version) {
    DescribeCommand c;
    c.request.set_org_id(flags_.org);
    c.request.set_name(flags_.name);
    if (version->count() > 0) c.request.set_version(flags_.version);
    c.request.set_show_deleted(flags_.include_deleted);
    return c;
  }

  absl::StatusOr<Command> List() {
    ListCommand c;
    c.all = flags_.all;
    c.request.set_org_id(flags_.org);
    c.request.set_page_size(flags_.page_size);
    c.request.set_page_token(flags_.page_token);
    c.request.set_name_prefix(flags_.prefix);
    c.request.set_include_deleted(flags_.include_deleted);
    if (absl::Status s = ParseLabels(flags_.labels, "--label", c.request.mutable_label_selector());
        !s.ok()) {
      return s;
    }
    return c;
  }

  absl::StatusOr<Command> Compare(const CLI::Option* version) {
    CompareCommand c;
    c.candidate_file = flags_.secret_file;
    c.request.set_org_id(flags_.org);
    c.request.set_name(flags_.name);
    if (version->count() > 0) c.request.set_version(flags_.version);
    return c;
  }

  absl::StatusOr<Command> Decrypt(const CLI::Option* version) {
    DecryptCommand c;
    c.output_file = flags_.output_file;
    c.request.set_org_id(flags_.org);
    c.request.set_name(flags_.name);
    if (version->count() > 0) c.request.set_version(flags_.version);
    c.request.set_purpose(flags_.purpose);
    return c;
  }

  absl::StatusOr<Command> OrgCreate(const CLI::Option* key) {
    OrgCreateCommand c;
    c.request.set_org_id(flags_.org);
    absl::StatusOr<std::string> idempotency_key = IdempotencyKey(key, flags_, env_);
    if (!idempotency_key.ok()) return idempotency_key.status();
    c.request.set_idempotency_key(*idempotency_key);
    return c;
  }

  absl::StatusOr<Command> OrgDescribe() {
    OrgDescribeCommand c;
    c.request.set_org_id(flags_.org);
    return c;
  }

  absl::StatusOr<Command> OrgList() {
    OrgListCommand c;
    c.all = flags_.all;
    c.request.set_page_size(flags_.page_size);
    c.request.set_page_token(flags_.page_token);
    if (flags_.org_state == "active") {
      c.request.set_state(v1::ORG_STATE_ACTIVE);
    } else if (flags_.org_state == "destroyed") {
      c.request.set_state(v1::ORG_STATE_DESTROYED);
    } else if (!flags_.org_state.empty()) {
      return absl::InvalidArgumentError("--state: must be active or destroyed");
    }
    return c;
  }

  absl::StatusOr<Command> OrgRotate(const CLI::Option* key) {
    OrgRotateCommand c;
    c.request.set_org_id(flags_.org);
    absl::StatusOr<std::string> idempotency_key = IdempotencyKey(key, flags_, env_);
    if (!idempotency_key.ok()) return idempotency_key.status();
    c.request.set_idempotency_key(*idempotency_key);
    return c;
  }

  absl::StatusOr<Command> OrgDestroy() {
    // The server checks this too; failing here saves a round trip on an irreversible call
    // and keeps a typo from ever reaching it.
    if (flags_.confirm != flags_.org) {
      return absl::InvalidArgumentError(
          absl::StrCat("--confirm: must repeat the org id exactly (\"", flags_.org, "\")"));
    }
    OrgDestroyCommand c;
    c.request.set_org_id(flags_.org);
    c.request.set_confirm_org_id(flags_.confirm);
    c.request.set_reason(flags_.reason);
    return c;
  }

  absl::StatusOr<Command> OrgDestroyKey() {
    if (flags_.key_version == 0 || flags_.key_version > std::numeric_limits<std::uint32_t>::max()) {
      return absl::InvalidArgumentError("VERSION: must be a key version between 1 and 4294967295");
    }
    OrgDestroyKeyCommand c;
    c.request.set_org_id(flags_.org);
    c.request.set_key_version(static_cast<std::uint32_t>(flags_.key_version));
    c.request.set_reason(flags_.reason);
    return c;
  }

  absl::StatusOr<Command> RootRotate(const CLI::Option* key) {
    RootRotateCommand c;
    absl::StatusOr<std::string> idempotency_key = IdempotencyKey(key, flags_, env_);
    if (!idempotency_key.ok()) return idempotency_key.status();
    c.request.set_idempotency_key(*idempotency_key);
    return c;
  }

  absl::StatusOr<Command> Reseal() {
    if (!flags_.job.empty()) {
      if (flags_.all || flags_.page_size != 0 || !flags_.page_token.empty()) {
        return absl::InvalidArgumentError(
            "--all, --page-size and --page-token apply only when no JOB is given");
      }
      ResealGetCommand c;
      c.request.set_org_id(flags_.org);
      c.request.set_job_id(flags_.job);
      return c;
    }
    ResealListCommand c;
    c.all = flags_.all;
    c.request.set_org_id(flags_.org);
    c.request.set_page_size(flags_.page_size);
    c.request.set_page_token(flags_.page_token);
    return c;
  }

  absl::StatusOr<Command> AuditList(const CLI::Option* after_seq) {
    AuditListCommand c;
    c.all = flags_.all;
    c.request.set_org_id(flags_.org);
    c.request.set_page_size(flags_.page_size);
    c.request.set_page_token(flags_.page_token);
    c.request.set_action(flags_.action);
    if (after_seq->count() > 0) {
      if (flags_.after_seq == std::numeric_limits<std::uint64_t>::max()) {
        return absl::InvalidArgumentError("--after-seq: no sequence follows this one");
      }
      c.request.set_start_sequence(flags_.after_seq + 1);
    }
    return c;
  }

  absl::StatusOr<Command> AuditVerify(const CLI::Option* end_seq, const CLI::Option* file) {
    if (file->count() > 0) {
      if (!flags_.org.empty()) {
        return absl::InvalidArgumentError(
            "ORG and --file exclude each other: ORG asks the server, --file verifies an "
            "export offline");
      }
      if (end_seq->count() > 0) {
        return absl::InvalidArgumentError("--end-seq applies only to ORG, on the server");
      }
      if (flags_.public_key_files.empty()) {
        return absl::InvalidArgumentError(
            "--file needs --public-key KEY: the audit signing public key, pinned out of band");
      }
      return AuditVerifyExportCommand{flags_.export_file, flags_.public_key_files};
    }
    if (!flags_.public_key_files.empty()) {
      return absl::InvalidArgumentError("--public-key applies only with --file");
    }
    if (flags_.org.empty()) {
      return absl::InvalidArgumentError(
          "audit verify needs ORG (on the server) or --file EXPORT --public-key KEY (offline)");
    }
    AuditVerifyCommand c;
    c.request.set_org_id(flags_.org);
    if (end_seq->count() > 0) c.request.set_end_sequence(flags_.end_seq);
    return c;
  }

  absl::StatusOr<Command> AuditExport(const CLI::Option* start_seq, const CLI::Option* end_seq) {
    AuditExportCommand c;
    c.output_file = flags_.output_file;
    c.request.set_org_id(flags_.org);
    if (start_seq->count() > 0) c.request.set_start_sequence(flags_.start_seq);
    if (end_seq->count() > 0) c.request.set_end_sequence(flags_.end_seq);
    return c;
  }

 private:
  const Flags& flags_;
  const Environment& env_;
};

int UsageError(const Environment& env, absl::string_view message) {
  *env.err << "credvaultctl: " << message << "\nRun with --help for more information.\n";
  return kExitUsage;
}

// One leaf command: the subcommand CLI11 parses it into, the listener it talks to, and how
// its flags become the command (with the options whose presence matters).
struct CommandSpec {
  CLI::App* subcommand;
  Listener listener;
  std::function<absl::StatusOr<Command>(Builder&)> build;
};
using CommandTable = std::vector<CommandSpec>;

// The options that say how to connect; flags absent here fall back to the environment.
struct ConnectionFlags {
  CLI::Option* addr;
  CLI::Option* ca_file;
  CLI::Option* cert_file;
  CLI::Option* key_file;
  CLI::Option* server_name;
  CLI::Option* token_file;
};

ConnectionFlags AddGlobalOptions(CLI::App& app, Flags& f) {
  ConnectionFlags connection;
  connection.addr = app.add_option("--addr", f.addr, "server address host:port (see ADDRESSES)");
  connection.ca_file =
      app.add_option("--ca-file", f.ca_file, "PEM roots to trust (default: system roots)");
  connection.cert_file =
      app.add_option("--cert-file", f.cert_file, "PEM client certificate chain (mutual TLS)");
  connection.key_file = app.add_option("--key-file", f.key_file, "PEM client private key");
  connection.server_name =
      app.add_option("--server-name", f.server_name, "name to verify in the server certificate");
  connection.token_file = app.add_option("--token-file", f.token_file,
                                         "file holding the bearer token (never the token)");
  app.add_flag("--plaintext", f.plaintext, "no TLS; allowed only for loopback addresses");
  app.add_option("--timeout", f.timeout, "deadline of each RPC, e.g. 10s, 2m")->default_str("10s");
  app.add_flag("--json", f.json, "print responses as JSON (proto field names)");
  app.add_flag("-v,--verbose", f.verbose, "decrypt: print the metadata to stderr");
  return connection;
}

// Credential commands (write listener).
void AddCredentialCommands(CLI::App& app, Flags& f, CommandTable& table) {
  CLI::App* put = app.add_subcommand(
      "put", "store a secret (read from stdin or --secret-file) as a new version");
  AddOrg(put, &f);
  put->add_option("name", f.name, "credential name")->required();
  put->add_option("--secret-file", f.secret_file, "read the secret from this file, not stdin");
  AddLabels(put, &f, "label of the new version (repeatable)");
  CLI::Option* put_expected = AddVersion(put, &f.expected_version, "--expected-version",
                                         "write only if the current version is N");
  CLI::Option* must_not_exist =
      put->add_flag("--must-not-exist", f.must_not_exist, "write only if no active version");
  put_expected->excludes(must_not_exist);
  CLI::Option* put_key = AddIdempotencyKey(put, &f);
  CLI::Option* expires_at =
      put->add_option("--expires-at", f.expires_at, "expiry, RFC 3339 (2030-01-31T12:00:00Z)");
  CLI::Option* ttl = put->add_option("--ttl", f.ttl, "expiry relative to the write, e.g. 24h, 30d");
  expires_at->excludes(ttl);
  CLI::Option* max_versions =
      put->add_option("--max-versions", f.max_versions, "keep at most N versions (0: unlimited)")
          ->check(CLI::Range(0, 100));
  table.push_back({put, Listener::kWrite,
                   [=](Builder& b) { return b.Put(put_expected, max_versions, put_key); }});

  CLI::App* del = app.add_subcommand("delete", "delete every version of a credential");
  AddOrg(del, &f);
  del->add_option("name", f.name, "credential name")->required();
  del->add_flag("--erase", f.erase, "crypto-erase now instead of soft delete");
  CLI::Option* del_expected = AddVersion(del, &f.expected_version, "--expected-version",
                                         "delete only if the current version is N");
  CLI::Option* del_key = AddIdempotencyKey(del, &f);
  table.push_back(
      {del, Listener::kWrite, [=](Builder& b) { return b.Delete(del_expected, del_key); }});

  CLI::App* describe = app.add_subcommand("describe", "show a credential version's metadata");
  AddOrg(describe, &f);
  describe->add_option("name", f.name, "credential name")->required();
  CLI::Option* describe_version =
      AddVersion(describe, &f.version, "--version", "version (default: current)");
  describe->add_flag("--include-deleted", f.include_deleted, "describe deleted versions too");
  table.push_back(
      {describe, Listener::kWrite, [=](Builder& b) { return b.Describe(describe_version); }});

  CLI::App* list = app.add_subcommand("list", "list credentials (current versions)");
  AddOrg(list, &f);
  list->add_option("--prefix", f.prefix, "only names starting with this prefix");
  AddLabels(list, &f, "only credentials with this label (repeatable; all must match)");
  list->add_flag("--include-deleted", f.include_deleted, "list deleted credentials too");
  AddPaging(list, &f);
  table.push_back({list, Listener::kWrite, [](Builder& b) { return b.List(); }});

  CLI::App* compare = app.add_subcommand(
      "compare", "tell whether a candidate (stdin or --secret-file) equals the stored secret");
  AddOrg(compare, &f);
  compare->add_option("name", f.name, "credential name")->required();
  compare->add_option("--secret-file", f.secret_file, "read the candidate from this file");
  CLI::Option* compare_version =
      AddVersion(compare, &f.version, "--version", "version (default: current)");
  table.push_back(
      {compare, Listener::kWrite, [=](Builder& b) { return b.Compare(compare_version); }});
}

// Decrypt listener.
void AddDecryptCommand(CLI::App& app, Flags& f, CommandTable& table) {
  CLI::App* decrypt = app.add_subcommand(
      "decrypt", "write a secret to stdout (raw bytes) or --output FILE; audited");
  AddOrg(decrypt, &f);
  decrypt->add_option("name", f.name, "credential name")->required();
  decrypt->add_option("--purpose", f.purpose, "why the secret is needed (audited)")->required();
  CLI::Option* decrypt_version =
      AddVersion(decrypt, &f.version, "--version", "version (default: current)");
  decrypt->add_option("--output", f.output_file, "write to this new file (mode 0600)");
  table.push_back(
      {decrypt, Listener::kDecrypt, [=](Builder& b) { return b.Decrypt(decrypt_version); }});
}

// Admin commands: org lifecycle and keys.
void AddOrgCommands(CLI::App& app, Flags& f, CommandTable& table) {
  CLI::App* org = app.add_subcommand("org", "org lifecycle and keys");
  org->require_subcommand(1, 1);
  CLI::App* org_create = org->add_subcommand("create", "provision an org");
  AddOrg(org_create, &f);
  CLI::Option* org_create_key = AddIdempotencyKey(org_create, &f);
  table.push_back(
      {org_create, Listener::kAdmin, [=](Builder& b) { return b.OrgCreate(org_create_key); }});

  CLI::App* org_describe = org->add_subcommand("describe", "show an org and its key versions");
  AddOrg(org_describe, &f);
  table.push_back({org_describe, Listener::kAdmin, [](Builder& b) { return b.OrgDescribe(); }});

  CLI::App* org_list =
      org->add_subcommand("list", "list every org (needs the `*` org scope), in order of org id");
  org_list->add_option("--state", f.org_state, "only orgs in this state (default: every state)")
      ->check(CLI::IsMember({"active", "destroyed"}));
  AddPaging(org_list, &f);
  table.push_back({org_list, Listener::kAdmin, [](Builder& b) { return b.OrgList(); }});

  CLI::App* org_rotate = org->add_subcommand("rotate", "rotate the org key, start a re-seal job");
  AddOrg(org_rotate, &f);
  CLI::Option* org_rotate_key = AddIdempotencyKey(org_rotate, &f);
  table.push_back(
      {org_rotate, Listener::kAdmin, [=](Builder& b) { return b.OrgRotate(org_rotate_key); }});

  CLI::App* org_destroy =
      org->add_subcommand("destroy", "crypto-shred an org (irreversible); prints the receipt");
  AddOrg(org_destroy, &f);
  org_destroy->add_option("--confirm", f.confirm, "the org id again")->required();
  org_destroy->add_option("--reason", f.reason, "why (audited)")->required();
  table.push_back({org_destroy, Listener::kAdmin, [](Builder& b) { return b.OrgDestroy(); }});

  CLI::App* org_destroy_key = org->add_subcommand(
      "destroy-key", "destroy the private half of a RETIRED org key version (irreversible)");
  AddOrg(org_destroy_key, &f);
  org_destroy_key->add_option("version", f.key_version, "the RETIRED key version")->required();
  org_destroy_key->add_option("--reason", f.reason, "why (audited)")->required();
  table.push_back(
      {org_destroy_key, Listener::kAdmin, [](Builder& b) { return b.OrgDestroyKey(); }});
}

// Admin commands: the root key.
void AddRootCommands(CLI::App& app, Flags& f, CommandTable& table) {
  CLI::App* root = app.add_subcommand("root", "root key");
  root->require_subcommand(1, 1);
  CLI::App* root_rotate = root->add_subcommand("rotate", "rotate the root key pair");
  CLI::Option* root_rotate_key = AddIdempotencyKey(root_rotate, &f);
  table.push_back(
      {root_rotate, Listener::kAdmin, [=](Builder& b) { return b.RootRotate(root_rotate_key); }});
}

// Admin commands: re-seal jobs.
void AddResealCommands(CLI::App& app, Flags& f, CommandTable& table) {
  CLI::App* reseal = app.add_subcommand("reseal", "re-seal jobs");
  reseal->require_subcommand(1, 1);
  CLI::App* reseal_status = reseal->add_subcommand(
      "status", "show job JOB, or list the org's jobs newest first (ORG `_system`: root jobs)");
  AddOrg(reseal_status, &f);
  reseal_status->add_option("job", f.job, "job id");
  AddPaging(reseal_status, &f);
  table.push_back({reseal_status, Listener::kAdmin, [](Builder& b) { return b.Reseal(); }});
}

// Admin commands: the audit log (and its offline verification, which dials nothing).
void AddAuditCommands(CLI::App& app, Flags& f, CommandTable& table) {
  CLI::App* audit = app.add_subcommand("audit", "the audit log");
  audit->require_subcommand(1, 1);
  CLI::App* audit_list = audit->add_subcommand("list", "list audit events in sequence order");
  AddOrg(audit_list, &f);
  CLI::Option* after_seq =
      audit_list->add_option("--after-seq", f.after_seq, "only events after sequence N");
  audit_list->add_option("--action", f.action, "only this action, e.g. credential.decrypt");
  AddPaging(audit_list, &f);
  table.push_back(
      {audit_list, Listener::kAdmin, [=](Builder& b) { return b.AuditList(after_seq); }});

  CLI::App* audit_verify = audit->add_subcommand(
      "verify",
      "verify the hash chain: of ORG on the server, or of an export offline (--file, see OFFLINE "
      "AUDIT VERIFICATION)");
  audit_verify->add_option("org", f.org, "org id (verification on the server)");
  CLI::Option* verify_end = AddVersion(audit_verify, &f.end_seq, "--end-seq", "stop at sequence N");
  CLI::Option* verify_file = audit_verify->add_option(
      "--file", f.export_file, "an `audit export` file to verify offline; contacts no server");
  audit_verify
      ->add_option("--public-key", f.public_key_files,
                   "audit signing public key to trust, with --file (repeatable)")
      ->allow_extra_args(false)
      ->type_name("FILE");
  table.push_back({audit_verify, Listener::kAdmin,
                   [=](Builder& b) { return b.AuditVerify(verify_end, verify_file); }});

  CLI::App* audit_export = audit->add_subcommand(
      "export", "stream events and signed checkpoints to a file (see AUDIT EXPORT FORMAT)");
  AddOrg(audit_export, &f);
  audit_export->add_option("--output", f.output_file, "new file to write (mode 0600)")->required();
  CLI::Option* export_start =
      AddVersion(audit_export, &f.start_seq, "--start-seq", "first sequence (default: oldest)");
  CLI::Option* export_end =
      AddVersion(audit_export, &f.end_seq, "--end-seq", "last sequence (default: head)");
  table.push_back({audit_export, Listener::kAdmin,
                   [=](Builder& b) { return b.AuditExport(export_start, export_end); }});
}

// Where and how to connect for a command on `listener`: flags first, then the environment.
absl::StatusOr<ConnectionOptions> ResolveConnection(const ConnectionFlags& given, const Flags& f,
                                                    Listener listener, const Environment& env) {
  ConnectionOptions connection;
  connection.target = ResolveTarget(f, given.addr->count() > 0, listener, env);
  connection.plaintext = f.plaintext;
  // With --plaintext the TLS variables of the environment are ignored rather than
  // reported as a conflict: the shell may well be set up for another deployment.
  const auto flag_or_env = [&](const CLI::Option* option, const std::string& value,
                               absl::string_view variable, bool tls) -> std::string {
    if (option->count() > 0) return value;
    if (tls && f.plaintext) return "";
    return EnvValue(env, variable).value_or("");
  };
  connection.ca_file = flag_or_env(given.ca_file, f.ca_file, "CREDVAULT_CA_FILE", true);
  connection.cert_file = flag_or_env(given.cert_file, f.cert_file, "CREDVAULT_CERT_FILE", true);
  connection.key_file = flag_or_env(given.key_file, f.key_file, "CREDVAULT_KEY_FILE", true);
  connection.server_name =
      flag_or_env(given.server_name, f.server_name, "CREDVAULT_SERVER_NAME", true);
  connection.token_file =
      flag_or_env(given.token_file, f.token_file, "CREDVAULT_TOKEN_FILE", false);
  absl::StatusOr<absl::Duration> timeout = ParsePositiveDuration(f.timeout, "--timeout");
  if (!timeout.ok()) return timeout.status();
  connection.timeout = *timeout;
  if (absl::Status status = ValidateConnectionOptions(connection); !status.ok()) return status;
  return connection;
}

}  // namespace

ParseResult ParseCommandLine(int argc, const char* const* argv, const Environment& env) {
  Flags f;
  CLI::App app(kDescription, "credvaultctl");
  // Subcommands inherit the footer set when they are created: a pointer to the full one,
  // which is set on the top level once they all exist.
  app.footer("Addresses, environment, audit export format and exit status: credvaultctl --help");
  app.require_subcommand(1, 1);
  // Global options may also follow the subcommand: `credvaultctl list acme --json`.
  app.fallthrough();

  const ConnectionFlags connection_flags = AddGlobalOptions(app, f);
  // In this order in --help.
  CommandTable commands;
  AddCredentialCommands(app, f, commands);
  AddDecryptCommand(app, f, commands);
  AddOrgCommands(app, f, commands);
  AddRootCommands(app, f, commands);
  AddResealCommands(app, f, commands);
  AddAuditCommands(app, f, commands);
  app.footer(Footer());

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and friends are "errors" with exit code 0 whose text CLI11 prints.
    if (e.get_exit_code() == 0) {
      app.exit(e, *env.out, *env.err);
      return ParseResult{std::nullopt, kExitOk};
    }
    return ParseResult{std::nullopt, UsageError(env, e.what())};
  }

  // CLI11 parsed exactly one leaf command.
  const auto parsed = std::find_if(commands.begin(), commands.end(), [](const CommandSpec& spec) {
    return spec.subcommand->parsed();
  });
  Builder builder(f, env);
  absl::StatusOr<Command> command =
      parsed == commands.end() ? absl::InternalError("no command") : parsed->build(builder);
  if (!command.ok()) return ParseResult{std::nullopt, UsageError(env, command.status().message())};
  Invocation invocation{
      .connection = {}, .json = f.json, .verbose = f.verbose, .command = *std::move(command)};
  // Offline: nothing is dialled, so the connection flags and variables are not looked at.
  if (std::holds_alternative<AuditVerifyExportCommand>(invocation.command)) {
    return ParseResult{std::move(invocation), kExitOk};
  }
  absl::StatusOr<ConnectionOptions> connection =
      ResolveConnection(connection_flags, f, parsed->listener, env);
  if (!connection.ok()) {
    return ParseResult{std::nullopt, UsageError(env, connection.status().message())};
  }
  invocation.connection = *std::move(connection);
  return ParseResult{std::move(invocation), kExitOk};
}

}  // namespace credvault::cli

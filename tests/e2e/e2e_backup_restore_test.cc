// The backup-and-restore drill of docs/operations.md ("Backup and restore", "Restore drill"),
// step by step against a live stack: credentials in several orgs (replaced, deleted,
// decrypted, one org key rotated), the roles and a pg_dump of the running database taken
// as the cluster's superuser, a fresh PostgreSQL cluster, the roles and the dump restored
// into it, `credvaultd migrate` run on it as an upgrade would, and credvaultd restarted on
// the restored database with the same configuration and keys. The source cluster is then
// stopped, so every check below can only read the restored copy:
//  - every credential version decrypts to the bytes that were put, and a deleted one stays
//    deleted;
//  - every org's audit chain (and `_system`'s) verifies on the server and ends where it
//    ended before the dump, and an export of one org verifies offline under the audit
//    signing key's public half, derived from the key file as the docs show;
//  - new writes work: new versions, a new org, decrypts, the chains still verify.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/support/e2e_support.h"
#include "tests/e2e/support/fault_load.h"
#include "tests/e2e/support/org_admin.h"
#include "yaml-cpp/yaml.h"

namespace credvault::e2e {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

[[maybe_unused]] ::testing::Environment* const kStack =
    ::testing::AddGlobalTestEnvironment(new StackEnvironment("backup-restore"));

constexpr int kOrgs = 3;
constexpr int kNamesPerOrg = 4;

// A PostgreSQL client program of the stack's installation, run as the cluster's user
// against the cluster listening on `socket_dir`:`port` as its superuser (the local socket
// trusts that user), ready for more arguments.
std::string PgTool(const Stack& stack, const std::string& tool, const std::string& socket_dir,
                   const std::string& port) {
  return std::string(::geteuid() == 0 ? "runuser -u postgres -- " : "") +
         ShellQuote(stack.env.at("CREDVAULT_PG_BIN") + "/" + tool) + " -h " +
         ShellQuote(socket_dir) + " -p " + ShellQuote(port) + " -U " +
         ShellQuote(stack.env.at("CREDVAULT_PG_SUPERUSER"));
}

// One credential version that was put, and the bytes it must decrypt to.
struct Expected {
  std::string org, name;
  std::uint64_t version = 0;
  std::string secret;
};

Outcome VerifyChain(Clients& admin, const std::string& org, v1::VerifyAuditLogResponse* out) {
  v1::VerifyAuditLogRequest request;
  request.set_org_id(org);
  return Call(*admin.admin, &v1::AdminService::Stub::VerifyAuditLog, request, out, 60);
}

TEST(BackupRestoreTest, DumpOfALiveStackRestoresIntoAFreshClusterAndServesWithTheSameKeys) {
  const Stack* stack = CurrentStack();
  ASSERT_NE(stack, nullptr);
  const std::string socket_dir = stack->env.at("CREDVAULT_PG_SOCKET_DIR");
  const std::string port = stack->env.at("CREDVAULT_PG_PORT");
  Clients backend(TlsChannel(*stack, stack->write_addr, Caller::Cert("backend")));
  Clients worker(TlsChannel(*stack, stack->decrypt_addr, Caller::Cert("worker")));
  Clients admin(TlsChannel(*stack, stack->decrypt_addr, Caller::Cert("admin")));

  // 1. Data worth restoring: versions, a deletion, decrypts and an org key rotation.
  const std::string run = RandomHex(4);
  std::vector<std::string> orgs;
  std::vector<Expected> expected;
  for (int o = 0; o < kOrgs; ++o) {
    const std::string org = "drill-" + run + "-" + std::to_string(o);
    orgs.push_back(org);
    for (int n = 0; n < kNamesPerOrg; ++n) {
      const std::string name = "svc/" + std::to_string(n);
      // Names with an odd index get a second version; both must come back.
      for (int version = 1; version <= 1 + n % 2; ++version) {
        const std::string secret = "drill-secret-" + RandomHex(16);
        v1::PutCredentialResponse put;
        const Outcome outcome = Put(backend, PutRequest(org, name, secret), &put);
        ASSERT_TRUE(outcome.ok()) << org << "/" << name << ": " << outcome;
        ASSERT_EQ(put.credential().version(), static_cast<std::uint64_t>(version));
        expected.push_back({org, name, put.credential().version(), secret});
      }
    }
  }
  const std::string deleted_org = orgs[0];
  const std::string deleted_name = "svc/deleted";
  {
    ASSERT_TRUE(Put(backend, PutRequest(deleted_org, deleted_name, "gone-" + RandomHex(8))).ok());
    v1::DeleteCredentialRequest request;
    request.set_org_id(deleted_org);
    request.set_name(deleted_name);
    request.set_idempotency_key("drill-delete-" + run);
    v1::DeleteCredentialResponse response;
    const Outcome deleted = Call(
        *backend.credentials, &v1::CredentialService::Stub::DeleteCredential, request, &response);
    ASSERT_TRUE(deleted.ok()) << deleted;
  }
  // The rotated org: its older versions are re-sealed to key version 2, and one more is
  // sealed to it directly.
  const std::string rotated_org = orgs[1];
  {
    v1::RotateOrgKeyRequest request;
    request.set_org_id(rotated_org);
    request.set_idempotency_key("drill-rotate-" + run);
    v1::RotateOrgKeyResponse response;
    const Outcome rotated =
        Call(*admin.admin, &v1::AdminService::Stub::RotateOrgKey, request, &response);
    ASSERT_TRUE(rotated.ok()) << rotated;
    ASSERT_EQ(
        WaitForResealJob(admin, rotated_org, response.reseal_job().job_id(), seconds(60)).state(),
        v1::RESEAL_JOB_STATE_SUCCEEDED);
    const std::string secret = "drill-after-rotation-" + RandomHex(16);
    v1::PutCredentialResponse put;
    ASSERT_TRUE(Put(backend, PutRequest(rotated_org, "svc/after-rotation", secret), &put).ok());
    expected.push_back({rotated_org, "svc/after-rotation", put.credential().version(), secret});
  }
  int decrypts_before_backup = 0;
  for (const Expected& item : expected) {
    std::string secret;
    ASSERT_TRUE(Decrypt(worker, item.org, item.name, &secret, item.version).ok());
    ASSERT_EQ(secret, item.secret);
    ++decrypts_before_backup;
  }

  // Where each chain ends: the restored chains must end at the same event.
  std::vector<std::string> chains = orgs;
  chains.push_back("_system");
  std::map<std::string, v1::VerifyAuditLogResponse> before;
  for (const std::string& chain : chains) {
    const Outcome verified = VerifyChain(admin, chain, &before[chain]);
    ASSERT_TRUE(verified.ok()) << chain << ": " << verified;
    ASSERT_TRUE(before[chain].ok()) << chain << ": " << before[chain].failure_detail();
  }

  // 2. Back up the live database as the superuser: the application roles (cluster-wide,
  //    so pg_dump does not carry them) and the database in pg_dump's custom format.
  const std::string backup_dir = stack->dir + "/backup";
  ASSERT_EQ(RunShell("mkdir -p " + ShellQuote(backup_dir)).exit_code, 0);
  const std::string roles_file = backup_dir + "/roles.sql";
  const std::string dump_file = backup_dir + "/credvault.dump";
  const auto backup_started = std::chrono::steady_clock::now();
  CommandResult result = RunShell(PgTool(*stack, "pg_dumpall", socket_dir, port) +
                                  " --roles-only | grep -E '^(CREATE|ALTER) ROLE credvault_' > " +
                                  ShellQuote(roles_file));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  result = RunShell(PgTool(*stack, "pg_dump", socket_dir, port) + " -d credvault -Fc > " +
                    ShellQuote(dump_file) + " 2>" + ShellQuote(backup_dir + "/pg_dump.err"));
  ASSERT_EQ(result.exit_code, 0) << ReadFileOrEmpty(backup_dir + "/pg_dump.err");
  const auto backup_done = std::chrono::steady_clock::now();
  const std::string roles_sql = ReadFileOrEmpty(roles_file);
  for (const char* role :
       {"credvault_owner", "credvault_writer", "credvault_decryptor", "credvault_admin"}) {
    EXPECT_THAT(roles_sql, HasSubstr(std::string("CREATE ROLE ") + role + ";"));
  }
  const std::size_t dump_bytes = ReadFileOrEmpty(dump_file).size();
  ASSERT_GT(dump_bytes, 0u);
  // Nothing was written while the dump ran.
  for (const std::string& chain : chains) {
    v1::VerifyAuditLogResponse now;
    ASSERT_TRUE(VerifyChain(admin, chain, &now).ok());
    ASSERT_EQ(now.end_sequence(), before[chain].end_sequence()) << chain;
  }

  // 3. A fresh cluster, the roles, then the database with its owner and grants.
  const std::string restored_dir = stack->dir + "/pg-restored";
  result = RunShell(PgThrowawayScript() + " start " + ShellQuote(restored_dir) + " 2>&1");
  struct StopRestored {
    std::string dir;
    ~StopRestored() { RunShell(PgThrowawayScript() + " stop " + ShellQuote(dir)); }
  } stop_restored{restored_dir};
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const std::string restored_port = ExportedValue(restored_dir + "/env", "CREDVAULT_PG_PORT");
  const std::string restored_socket =
      ExportedValue(restored_dir + "/env", "CREDVAULT_PG_SOCKET_DIR");
  ASSERT_FALSE(restored_port.empty());
  ASSERT_NE(restored_port, port);
  const auto restore_started = std::chrono::steady_clock::now();
  result = RunShell(PgTool(*stack, "psql", restored_socket, restored_port) +
                    " -X -q -v ON_ERROR_STOP=1 -d postgres < " + ShellQuote(roles_file) + " 2>&1");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  result = RunShell(PgTool(*stack, "pg_restore", restored_socket, restored_port) +
                    " --create --exit-on-error -d postgres < " + ShellQuote(dump_file) + " 2>&1");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  result = RunShell(PgTool(*stack, "psql", restored_socket, restored_port) +
                    " -X -q -v ON_ERROR_STOP=1 -d credvault -c ANALYZE 2>&1");
  ASSERT_EQ(result.exit_code, 0) << result.output;

  // 4. The migration, as `helm upgrade` runs it first: on the restored database it has
  //    nothing to apply, and it sets the application roles' passwords from the Secrets.
  result = RunShell(". " + ShellQuote(stack->dir + "/secrets.env") +
                    " && CREDVAULT_MIGRATE_DATABASE_URL=\"postgresql://credvault_owner:"
                    "${CREDVAULT_OWNER_PASSWORD}@127.0.0.1:" +
                    restored_port + "/credvault\" " + ShellQuote(std::string(CREDVAULTD_PATH)) +
                    " migrate 2>&1");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("(nothing to do)"));
  const auto restore_done = std::chrono::steady_clock::now();

  // 5. credvaultd on the restored database, same configuration and keys; the source
  //    cluster is stopped first, so nothing below can read it.
  ASSERT_EQ(StopPostgres(*stack, "fast"), "");
  YAML::Node config = YAML::LoadFile(stack->config);
  config["database"]["port"] = restored_port;
  YAML::Emitter emitted;
  emitted << config;
  WriteFileOrDie(stack->config, std::string(emitted.c_str()) + "\n");
  ASSERT_EQ(RestartCredvaultdInPlace(SIGTERM), "");
  const Stack* restored = CurrentStack();
  Clients restored_backend(TlsChannel(*restored, restored->write_addr, Caller::Cert("backend")));
  Clients restored_worker(TlsChannel(*restored, restored->decrypt_addr, Caller::Cert("worker")));
  Clients restored_admin(TlsChannel(*restored, restored->decrypt_addr, Caller::Cert("admin")));

  // 6a. Every chain ends where it ended before the dump, and verifies.
  std::uint64_t events_verified = 0;
  for (const std::string& chain : chains) {
    v1::VerifyAuditLogResponse after;
    const Outcome verified = VerifyChain(restored_admin, chain, &after);
    ASSERT_TRUE(verified.ok()) << chain << ": " << verified;
    EXPECT_TRUE(after.ok()) << chain << ": " << after.failure_detail();
    EXPECT_EQ(after.end_sequence(), before[chain].end_sequence()) << chain;
    EXPECT_EQ(after.events_checked(), before[chain].events_checked()) << chain;
    events_verified += after.events_checked();
  }

  // 6b. Every version decrypts to its bytes with the same keys; the deleted one stays so.
  std::map<std::string, int> decrypts_per_org;
  for (const Expected& item : expected) {
    std::string secret;
    const Outcome decrypted =
        Decrypt(restored_worker, item.org, item.name, &secret, item.version, "restore check");
    ASSERT_TRUE(decrypted.ok()) << item.org << "/" << item.name << " v" << item.version << ": "
                                << decrypted;
    EXPECT_EQ(secret, item.secret) << item.org << "/" << item.name << " v" << item.version;
    ++decrypts_per_org[item.org];
  }
  EXPECT_EQ(Describe(restored_backend, deleted_org, deleted_name).code,
            grpc::StatusCode::NOT_FOUND);

  // 6c. The documented checks with credvaultctl: a canary decrypt and `audit verify`.
  const std::string pki = restored->pki + "/";
  const auto ctl = [&](const std::string& who) {
    return ShellQuote(CREDVAULTCTL_PATH) + " --addr " + restored->decrypt_addr + " --ca-file " +
           ShellQuote(pki + "ca.pem") + " --cert-file " + ShellQuote(pki + who + ".pem") +
           " --key-file " + ShellQuote(pki + who + ".key") + " ";
  };
  const Expected& canary = expected.front();
  const std::string canary_file = backup_dir + "/canary.out";
  result = RunShell(ctl("worker") + "decrypt " + canary.org + " " + canary.name + " --version " +
                    std::to_string(canary.version) + " --purpose 'restore check' --output " +
                    ShellQuote(canary_file) + " 2>&1");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(ReadFileOrEmpty(canary_file), canary.secret);
  ++decrypts_per_org[canary.org];
  for (const std::string& org : orgs) {
    result = RunShell(ctl("auditor") + "audit verify " + org + " 2>&1");
    EXPECT_EQ(result.exit_code, 0) << org << ": " << result.output;
  }

  // 6d. An export verifies offline under the audit signing key's public half, derived from
  //     the key file as docs/operations.md shows, including the signature over its last
  //     event (the restored chain is signed with the same key).
  const std::string public_key = backup_dir + "/audit-signing.pub";
  result = RunShell(
      "{ printf "
      "'\\060\\056\\002\\001\\000\\060\\005\\006\\003\\053\\145\\160\\004\\042\\004\\040'; "
      "cat " +
      ShellQuote(restored->dir + "/keys/audit-signing.key") +
      "; } | openssl pkey -inform DER -pubout -outform DER | tail -c 32 | od -An -v -tx1 | "
      "tr -d ' \\n' > " +
      ShellQuote(public_key));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  ASSERT_EQ(ReadFileOrEmpty(public_key).size(), 64u);
  const std::string export_file = backup_dir + "/" + rotated_org + ".jsonl";
  result = RunShell(ctl("auditor") + "audit export " + rotated_org + " --output " +
                    ShellQuote(export_file) + " 2>&1");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  result = RunShell(ShellQuote(CREDVAULTCTL_PATH) + " audit verify --file " +
                    ShellQuote(export_file) + " --public-key " + ShellQuote(public_key) + " 2>&1");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  int export_checkpoints = 0;
  for (std::size_t at = 0;
       (at = ReadFileOrEmpty(export_file).find("{\"checkpoint\"", at)) != std::string::npos; ++at) {
    ++export_checkpoints;
  }
  EXPECT_GE(export_checkpoints, 1) << "the export carries no signed checkpoint";

  // 7. New writes on the restored database: a version in every org, a new org, decrypts.
  std::vector<std::string> all_orgs = orgs;
  all_orgs.push_back("drill-" + run + "-new");
  for (const std::string& org : all_orgs) {
    const std::string secret = "after-restore-" + RandomHex(16);
    v1::PutCredentialResponse put;
    const Outcome outcome = Put(restored_backend, PutRequest(org, "svc/0", secret), &put);
    ASSERT_TRUE(outcome.ok()) << org << ": " << outcome;
    std::string read_back;
    ASSERT_TRUE(
        Decrypt(restored_worker, org, "svc/0", &read_back, put.credential().version()).ok());
    EXPECT_EQ(read_back, secret) << org;
  }
  std::uint64_t events_after_writes = 0;
  for (const std::string& org : all_orgs) {
    v1::VerifyAuditLogResponse after;
    ASSERT_TRUE(VerifyChain(restored_admin, org, &after).ok());
    EXPECT_TRUE(after.ok()) << org << ": " << after.failure_detail();
    if (before.count(org) != 0) {
      // Each decrypt of the check and the Put and Decrypt just made are one event each.
      EXPECT_EQ(after.end_sequence(), before[org].end_sequence() + decrypts_per_org[org] + 2)
          << org;
    }
    events_after_writes += after.events_checked();
  }

  std::cerr << "[ backup-restore ] " << orgs.size() << " orgs, " << expected.size()
            << " credential versions (1 org key rotation, 1 deletion), " << decrypts_before_backup
            << " decrypts before the backup; pg_dump " << dump_bytes << " bytes in "
            << std::chrono::duration_cast<milliseconds>(backup_done - backup_started).count()
            << " ms, restore and migrate in "
            << std::chrono::duration_cast<milliseconds>(restore_done - restore_started).count()
            << " ms; on the restored database: " << expected.size()
            << " versions decrypted to the same bytes, " << chains.size() << " chains verified ("
            << events_verified << " events, each ending at its pre-backup head), an export of "
            << rotated_org << " verified offline (" << export_checkpoints
            << " signed checkpoints), " << all_orgs.size() << " new writes decrypted and "
            << events_after_writes << " events verified after them\n";
}

}  // namespace
}  // namespace credvault::e2e

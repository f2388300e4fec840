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
#include <optional>
#include <string>
#include <utility>
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

// The drill of docs/operations.md, one step a method, in the order the docs give them.
// Each step states what it proves; the state it leaves (what was put, where the chains
// ended, the backup's files) is what the later steps check against.
class RestoreDrill {
 public:
  explicit RestoreDrill(const Stack& stack)
      : stack_(stack),
        socket_dir_(stack.env.at("CREDVAULT_PG_SOCKET_DIR")),
        port_(stack.env.at("CREDVAULT_PG_PORT")),
        backup_dir_(stack.dir + "/backup"),
        roles_file_(backup_dir_ + "/roles.sql"),
        dump_file_(backup_dir_ + "/credvault.dump"),
        run_(RandomHex(4)),
        backend_(TlsChannel(stack, stack.write_addr, Caller::Cert("backend"))),
        worker_(TlsChannel(stack, stack.decrypt_addr, Caller::Cert("worker"))),
        admin_(TlsChannel(stack, stack.decrypt_addr, Caller::Cert("admin"))) {}

  // 1. Data worth restoring: versions, a deletion, decrypts and an org key rotation; and
  //    where each chain ends, for the restored chains must end at the same event.
  void PutDataWorthRestoring() {
    for (int o = 0; o < kOrgs; ++o) {
      const std::string org = "drill-" + run_ + "-" + std::to_string(o);
      orgs_.push_back(org);
      for (int n = 0; n < kNamesPerOrg; ++n) {
        const std::string name = "svc/" + std::to_string(n);
        // Names with an odd index get a second version; both must come back.
        for (int version = 1; version <= 1 + n % 2; ++version) {
          const std::string secret = "drill-secret-" + RandomHex(16);
          v1::PutCredentialResponse put;
          const Outcome outcome = Put(backend_, PutRequest(org, name, secret), &put);
          ASSERT_TRUE(outcome.ok()) << org << "/" << name << ": " << outcome;
          ASSERT_EQ(put.credential().version(), static_cast<std::uint64_t>(version));
          expected_.push_back({org, name, put.credential().version(), secret});
        }
      }
    }
    ASSERT_NO_FATAL_FAILURE(DeleteOneCredential());
    ASSERT_NO_FATAL_FAILURE(RotateOneOrgKey());
    for (const Expected& item : expected_) {
      std::string secret;
      ASSERT_TRUE(Decrypt(worker_, item.org, item.name, &secret, item.version).ok());
      ASSERT_EQ(secret, item.secret);
      ++decrypts_before_backup_;
    }
    chains_ = orgs_;
    chains_.push_back("_system");
    for (const std::string& chain : chains_) {
      const Outcome verified = VerifyChain(admin_, chain, &before_[chain]);
      ASSERT_TRUE(verified.ok()) << chain << ": " << verified;
      ASSERT_TRUE(before_[chain].ok()) << chain << ": " << before_[chain].failure_detail();
    }
  }

  // 2. Back up the live database as the superuser: the application roles (cluster-wide,
  //    so pg_dump does not carry them) and the database in pg_dump's custom format.
  //    Nothing is written while the dump runs.
  void BackUpAsSuperuser() {
    ASSERT_EQ(RunShell("mkdir -p " + ShellQuote(backup_dir_)).exit_code, 0);
    const auto started = std::chrono::steady_clock::now();
    CommandResult result = RunShell(PgTool(stack_, "pg_dumpall", socket_dir_, port_) +
                                    " --roles-only | grep -E '^(CREATE|ALTER) ROLE credvault_' > " +
                                    ShellQuote(roles_file_));
    ASSERT_EQ(result.exit_code, 0) << result.output;
    result = RunShell(PgTool(stack_, "pg_dump", socket_dir_, port_) + " -d credvault -Fc > " +
                      ShellQuote(dump_file_) + " 2>" + ShellQuote(backup_dir_ + "/pg_dump.err"));
    ASSERT_EQ(result.exit_code, 0) << ReadFileOrEmpty(backup_dir_ + "/pg_dump.err");
    backup_took_ = std::chrono::steady_clock::now() - started;
    const std::string roles_sql = ReadFileOrEmpty(roles_file_);
    for (const char* role :
         {"credvault_owner", "credvault_writer", "credvault_decryptor", "credvault_admin"}) {
      EXPECT_THAT(roles_sql, HasSubstr(std::string("CREATE ROLE ") + role + ";"));
    }
    dump_bytes_ = ReadFileOrEmpty(dump_file_).size();
    ASSERT_GT(dump_bytes_, 0u);
    for (const std::string& chain : chains_) {
      v1::VerifyAuditLogResponse now;
      ASSERT_TRUE(VerifyChain(admin_, chain, &now).ok());
      ASSERT_EQ(now.end_sequence(), before_[chain].end_sequence()) << chain;
    }
  }

  // 3. A fresh cluster, the roles, then the database with its owner and grants; 4. the
  //    migration, as `helm upgrade` runs it first: on the restored database it has nothing
  //    to apply, and it sets the application roles' passwords from the Secrets.
  void RestoreIntoAFreshClusterAndMigrate() {
    const std::string restored_dir = stack_.dir + "/pg-restored";
    CommandResult result =
        RunShell(PgThrowawayScript() + " start " + ShellQuote(restored_dir) + " 2>&1");
    stop_restored_.emplace(restored_dir);
    ASSERT_EQ(result.exit_code, 0) << result.output;
    restored_port_ = ExportedValue(restored_dir + "/env", "CREDVAULT_PG_PORT");
    const std::string restored_socket =
        ExportedValue(restored_dir + "/env", "CREDVAULT_PG_SOCKET_DIR");
    ASSERT_FALSE(restored_port_.empty());
    ASSERT_NE(restored_port_, port_);
    const auto started = std::chrono::steady_clock::now();
    result =
        RunShell(PgTool(stack_, "psql", restored_socket, restored_port_) +
                 " -X -q -v ON_ERROR_STOP=1 -d postgres < " + ShellQuote(roles_file_) + " 2>&1");
    ASSERT_EQ(result.exit_code, 0) << result.output;
    result =
        RunShell(PgTool(stack_, "pg_restore", restored_socket, restored_port_) +
                 " --create --exit-on-error -d postgres < " + ShellQuote(dump_file_) + " 2>&1");
    ASSERT_EQ(result.exit_code, 0) << result.output;
    result = RunShell(PgTool(stack_, "psql", restored_socket, restored_port_) +
                      " -X -q -v ON_ERROR_STOP=1 -d credvault -c ANALYZE 2>&1");
    ASSERT_EQ(result.exit_code, 0) << result.output;

    result = RunShell(". " + ShellQuote(stack_.dir + "/secrets.env") +
                      " && CREDVAULT_MIGRATE_DATABASE_URL=\"postgresql://credvault_owner:"
                      "${CREDVAULT_OWNER_PASSWORD}@127.0.0.1:" +
                      restored_port_ + "/credvault\" " + ShellQuote(std::string(CREDVAULTD_PATH)) +
                      " migrate 2>&1");
    ASSERT_EQ(result.exit_code, 0) << result.output;
    EXPECT_THAT(result.output, HasSubstr("(nothing to do)"));
    restore_took_ = std::chrono::steady_clock::now() - started;
  }

  // 5. credvaultd on the restored database, same configuration and keys; the source
  //    cluster is stopped first, so nothing below can read it.
  void ServeFromTheRestoredDatabaseOnly() {
    ASSERT_EQ(StopPostgres(stack_, "fast"), "");
    YAML::Node config = YAML::LoadFile(stack_.config);
    config["database"]["port"] = restored_port_;
    YAML::Emitter emitted;
    emitted << config;
    WriteFileOrDie(stack_.config, std::string(emitted.c_str()) + "\n");
    ASSERT_EQ(RestartCredvaultdInPlace(SIGTERM), "");
    restored_ = CurrentStack();
    ASSERT_NE(restored_, nullptr);
    restored_backend_.emplace(
        TlsChannel(*restored_, restored_->write_addr, Caller::Cert("backend")));
    restored_worker_.emplace(
        TlsChannel(*restored_, restored_->decrypt_addr, Caller::Cert("worker")));
    restored_admin_.emplace(TlsChannel(*restored_, restored_->decrypt_addr, Caller::Cert("admin")));
  }

  // 6a. Every chain ends where it ended before the dump, and verifies.
  void ExpectChainsEndWhereTheyEnded() {
    for (const std::string& chain : chains_) {
      v1::VerifyAuditLogResponse after;
      const Outcome verified = VerifyChain(*restored_admin_, chain, &after);
      ASSERT_TRUE(verified.ok()) << chain << ": " << verified;
      EXPECT_TRUE(after.ok()) << chain << ": " << after.failure_detail();
      EXPECT_EQ(after.end_sequence(), before_[chain].end_sequence()) << chain;
      EXPECT_EQ(after.events_checked(), before_[chain].events_checked()) << chain;
      events_verified_ += after.events_checked();
    }
  }

  // 6b. Every version decrypts to its bytes with the same keys; the deleted one stays so.
  void ExpectEveryVersionDecryptsToItsBytes() {
    for (const Expected& item : expected_) {
      std::string secret;
      const Outcome decrypted =
          Decrypt(*restored_worker_, item.org, item.name, &secret, item.version, "restore check");
      ASSERT_TRUE(decrypted.ok()) << item.org << "/" << item.name << " v" << item.version << ": "
                                  << decrypted;
      EXPECT_EQ(secret, item.secret) << item.org << "/" << item.name << " v" << item.version;
      ++decrypts_per_org_[item.org];
    }
    EXPECT_EQ(Describe(*restored_backend_, deleted_org_, kDeletedName).code,
              grpc::StatusCode::NOT_FOUND);
  }

  // 6c. The documented checks with credvaultctl: a canary decrypt and `audit verify`.
  void PassTheDocumentedCtlChecks() {
    const Expected& canary = expected_.front();
    const std::string canary_file = backup_dir_ + "/canary.out";
    const CommandResult decrypted =
        RunShell(Ctl("worker") + "decrypt " + canary.org + " " + canary.name + " --version " +
                 std::to_string(canary.version) + " --purpose 'restore check' --output " +
                 ShellQuote(canary_file) + " 2>&1");
    ASSERT_EQ(decrypted.exit_code, 0) << decrypted.output;
    EXPECT_EQ(ReadFileOrEmpty(canary_file), canary.secret);
    ++decrypts_per_org_[canary.org];
    for (const std::string& org : orgs_) {
      const CommandResult verified = RunShell(Ctl("auditor") + "audit verify " + org + " 2>&1");
      EXPECT_EQ(verified.exit_code, 0) << org << ": " << verified.output;
    }
  }

  // 6d. An export verifies offline under the audit signing key's public half, derived from
  //     the key file as docs/operations.md shows, including the signature over its last
  //     event (the restored chain is signed with the same key).
  void ExportVerifiesOfflineUnderTheSigningKey() {
    const std::string public_key = backup_dir_ + "/audit-signing.pub";
    CommandResult result = RunShell(
        "{ printf "
        "'\\060\\056\\002\\001\\000\\060\\005\\006\\003\\053\\145\\160\\004\\042\\004\\040'; "
        "cat " +
        ShellQuote(restored_->dir + "/keys/audit-signing.key") +
        "; } | openssl pkey -inform DER -pubout -outform DER | tail -c 32 | od -An -v -tx1 | "
        "tr -d ' \\n' > " +
        ShellQuote(public_key));
    ASSERT_EQ(result.exit_code, 0) << result.output;
    ASSERT_EQ(ReadFileOrEmpty(public_key).size(), 64u);
    const std::string export_file = backup_dir_ + "/" + rotated_org_ + ".jsonl";
    result = RunShell(Ctl("auditor") + "audit export " + rotated_org_ + " --output " +
                      ShellQuote(export_file) + " 2>&1");
    ASSERT_EQ(result.exit_code, 0) << result.output;
    result =
        RunShell(ShellQuote(CREDVAULTCTL_PATH) + " audit verify --file " + ShellQuote(export_file) +
                 " --public-key " + ShellQuote(public_key) + " 2>&1");
    EXPECT_EQ(result.exit_code, 0) << result.output;
    for (std::size_t at = 0;
         (at = ReadFileOrEmpty(export_file).find("{\"checkpoint\"", at)) != std::string::npos;
         ++at) {
      ++export_checkpoints_;
    }
    EXPECT_GE(export_checkpoints_, 1) << "the export carries no signed checkpoint";
  }

  // 7. New writes on the restored database: a version in every org, a new org, decrypts;
  //    every chain goes on from its restored end.
  void AcceptNewWrites() {
    all_orgs_ = orgs_;
    all_orgs_.push_back("drill-" + run_ + "-new");
    for (const std::string& org : all_orgs_) {
      const std::string secret = "after-restore-" + RandomHex(16);
      v1::PutCredentialResponse put;
      const Outcome outcome = Put(*restored_backend_, PutRequest(org, "svc/0", secret), &put);
      ASSERT_TRUE(outcome.ok()) << org << ": " << outcome;
      std::string read_back;
      ASSERT_TRUE(
          Decrypt(*restored_worker_, org, "svc/0", &read_back, put.credential().version()).ok());
      EXPECT_EQ(read_back, secret) << org;
    }
    for (const std::string& org : all_orgs_) {
      v1::VerifyAuditLogResponse after;
      ASSERT_TRUE(VerifyChain(*restored_admin_, org, &after).ok());
      EXPECT_TRUE(after.ok()) << org << ": " << after.failure_detail();
      if (before_.count(org) != 0) {
        // Each decrypt of the check and the Put and Decrypt just made are one event each.
        EXPECT_EQ(after.end_sequence(), before_[org].end_sequence() + decrypts_per_org_[org] + 2)
            << org;
      }
      events_after_writes_ += after.events_checked();
    }
  }

  void PrintSummary() const {
    using std::chrono::duration_cast;
    std::cerr << "[ backup-restore ] " << orgs_.size() << " orgs, " << expected_.size()
              << " credential versions (1 org key rotation, 1 deletion), "
              << decrypts_before_backup_ << " decrypts before the backup; pg_dump " << dump_bytes_
              << " bytes in " << duration_cast<milliseconds>(backup_took_).count()
              << " ms, restore and migrate in "
              << duration_cast<milliseconds>(restore_took_).count()
              << " ms; on the restored database: " << expected_.size()
              << " versions decrypted to the same bytes, " << chains_.size() << " chains verified ("
              << events_verified_ << " events, each ending at its pre-backup head), an export of "
              << rotated_org_ << " verified offline (" << export_checkpoints_
              << " signed checkpoints), " << all_orgs_.size() << " new writes decrypted and "
              << events_after_writes_ << " events verified after them\n";
  }

 private:
  static constexpr char kDeletedName[] = "svc/deleted";

  // Stops the restored cluster when the drill ends, however it ends.
  struct StopRestored {
    explicit StopRestored(std::string cluster_dir) : dir(std::move(cluster_dir)) {}
    ~StopRestored() { RunShell(PgThrowawayScript() + " stop " + ShellQuote(dir)); }
    std::string dir;
  };

  void DeleteOneCredential() {
    deleted_org_ = orgs_[0];
    ASSERT_TRUE(Put(backend_, PutRequest(deleted_org_, kDeletedName, "gone-" + RandomHex(8))).ok());
    v1::DeleteCredentialRequest request;
    request.set_org_id(deleted_org_);
    request.set_name(kDeletedName);
    request.set_idempotency_key("drill-delete-" + run_);
    v1::DeleteCredentialResponse response;
    const Outcome deleted = Call(
        *backend_.credentials, &v1::CredentialService::Stub::DeleteCredential, request, &response);
    ASSERT_TRUE(deleted.ok()) << deleted;
  }

  // The rotated org: its older versions are re-sealed to key version 2, and one more is
  // sealed to it directly.
  void RotateOneOrgKey() {
    rotated_org_ = orgs_[1];
    v1::RotateOrgKeyRequest request;
    request.set_org_id(rotated_org_);
    request.set_idempotency_key("drill-rotate-" + run_);
    v1::RotateOrgKeyResponse response;
    const Outcome rotated =
        Call(*admin_.admin, &v1::AdminService::Stub::RotateOrgKey, request, &response);
    ASSERT_TRUE(rotated.ok()) << rotated;
    ASSERT_EQ(
        WaitForResealJob(admin_, rotated_org_, response.reseal_job().job_id(), seconds(60)).state(),
        v1::RESEAL_JOB_STATE_SUCCEEDED);
    const std::string secret = "drill-after-rotation-" + RandomHex(16);
    v1::PutCredentialResponse put;
    ASSERT_TRUE(Put(backend_, PutRequest(rotated_org_, "svc/after-rotation", secret), &put).ok());
    expected_.push_back({rotated_org_, "svc/after-rotation", put.credential().version(), secret});
  }

  // credvaultctl against the restored stack's decrypt listener as `who`, ready for a command.
  std::string Ctl(const std::string& who) const {
    const std::string pki = restored_->pki + "/";
    return ShellQuote(CREDVAULTCTL_PATH) + " --addr " + restored_->decrypt_addr + " --ca-file " +
           ShellQuote(pki + "ca.pem") + " --cert-file " + ShellQuote(pki + who + ".pem") +
           " --key-file " + ShellQuote(pki + who + ".key") + " ";
  }

  const Stack& stack_;
  const std::string socket_dir_, port_;
  const std::string backup_dir_, roles_file_, dump_file_;
  const std::string run_;
  Clients backend_, worker_, admin_;

  std::vector<std::string> orgs_, chains_, all_orgs_;
  std::vector<Expected> expected_;
  std::string deleted_org_, rotated_org_;
  std::map<std::string, v1::VerifyAuditLogResponse> before_;  // chain -> where it ended
  std::map<std::string, int> decrypts_per_org_;               // on the restored database
  int decrypts_before_backup_ = 0;

  std::optional<StopRestored> stop_restored_;
  std::string restored_port_;
  const Stack* restored_ = nullptr;
  std::optional<Clients> restored_backend_, restored_worker_, restored_admin_;

  std::size_t dump_bytes_ = 0;
  std::chrono::steady_clock::duration backup_took_{}, restore_took_{};
  std::uint64_t events_verified_ = 0, events_after_writes_ = 0;
  int export_checkpoints_ = 0;
};

TEST(BackupRestoreTest, DumpOfALiveStackRestoresIntoAFreshClusterAndServesWithTheSameKeys) {
  const Stack* stack = CurrentStack();
  ASSERT_NE(stack, nullptr);
  RestoreDrill drill(*stack);
  ASSERT_NO_FATAL_FAILURE(drill.PutDataWorthRestoring());
  ASSERT_NO_FATAL_FAILURE(drill.BackUpAsSuperuser());
  ASSERT_NO_FATAL_FAILURE(drill.RestoreIntoAFreshClusterAndMigrate());
  ASSERT_NO_FATAL_FAILURE(drill.ServeFromTheRestoredDatabaseOnly());
  ASSERT_NO_FATAL_FAILURE(drill.ExpectChainsEndWhereTheyEnded());
  ASSERT_NO_FATAL_FAILURE(drill.ExpectEveryVersionDecryptsToItsBytes());
  ASSERT_NO_FATAL_FAILURE(drill.PassTheDocumentedCtlChecks());
  ASSERT_NO_FATAL_FAILURE(drill.ExportVerifiesOfflineUnderTheSigningKey());
  ASSERT_NO_FATAL_FAILURE(drill.AcceptNewWrites());
  drill.PrintSummary();
}

}  // namespace
}  // namespace credvault::e2e

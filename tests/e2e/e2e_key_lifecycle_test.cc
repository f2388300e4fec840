// Key rotation end to end, on a stack whose re-seal jobs move a few items per batch: the
// refusals of the rotation API, re-seal jobs that resume after credvaultd is killed in the
// middle of a batch, and org, root, writer and seal key rotations while writers and
// decrypting workers keep going without a single failed request. The tests run in the
// order written; each also passes on its own.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/support/audit_reader.h"
#include "tests/e2e/support/e2e_support.h"
#include "tests/e2e/support/org_admin.h"
#include "tests/e2e/support/rotation_load.h"
#include "tests/e2e/support/row_lock.h"
#include "tests/e2e/support/superuser_sql.h"

namespace credvault::e2e {
namespace {

using ::testing::HasSubstr;

// Small batches, so that a job of a few hundred items takes many transactions.
[[maybe_unused]] ::testing::Environment* const kStack = ::testing::AddGlobalTestEnvironment(
    new StackEnvironment("key-lifecycle", "reseal:\n  batch_size: 7\n  poll_interval: 200ms\n"));

// Generous: the machine may be busy, and the load test keeps it so.
constexpr auto kJobDeadline = std::chrono::minutes(4);

// ---------------------------------------------------------------------------------------

class KeyLifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = CurrentStack();
    ASSERT_NE(stack_, nullptr);
    keys_ = stack_->env.at("CREDVAULT_STACK_DIR") + "/keys/";
  }

  // Clients on the current addresses, which change when credvaultd is replaced.
  std::unique_ptr<Clients> Backend() const {
    return std::make_unique<Clients>(
        TlsChannel(*stack_, stack_->write_addr, Caller::Cert("backend")));
  }
  std::unique_ptr<Clients> Worker() const {
    return std::make_unique<Clients>(
        TlsChannel(*stack_, stack_->decrypt_addr, Caller::Cert("worker")));
  }
  std::unique_ptr<Clients> Admin() const {
    return std::make_unique<Clients>(
        TlsChannel(*stack_, stack_->decrypt_addr, Caller::Cert("admin")));
  }

  // Replaces the only occurrence of `from` in the stack's credvaultd.yaml.
  ::testing::AssertionResult EditConfig(const std::string& from, const std::string& to) const {
    std::string config = ReadFileOrEmpty(stack_->config);
    const std::size_t at = config.find(from);
    if (at == std::string::npos || config.find(from, at + 1) != std::string::npos) {
      return ::testing::AssertionFailure()
             << "not exactly once in the configuration: " << from << "\n"
             << config;
    }
    config.replace(at, from.size(), to);
    WriteFileOrDie(stack_->config, config);
    return ::testing::AssertionSuccess();
  }

  // A new 32-byte key file in the stack's key directory, as dev-stack.sh makes them.
  ::testing::AssertionResult MakeKeyFile(const std::string& name) const {
    const CommandResult made =
        RunShell("umask 077 && head -c 32 /dev/urandom > " + ShellQuote(keys_ + name));
    if (made.exit_code != 0) return ::testing::AssertionFailure() << made.output;
    return ::testing::AssertionSuccess();
  }

  // Pins a root public key in the configuration and reloads it.
  ::testing::AssertionResult PinRootKey(std::uint32_t version, const std::string& public_key) {
    if (public_key.size() != 32) {
      return ::testing::AssertionFailure()
             << "root public key of " << public_key.size() << " bytes";
    }
    ::testing::AssertionResult edited =
        EditConfig("  root_key_pins:\n", "  root_key_pins:\n    " + std::to_string(version) +
                                             ": \"" + HexLower(public_key) + "\"\n");
    if (!edited) return edited;
    const std::string reloaded = ReloadCredvaultd();
    if (!reloaded.empty()) return ::testing::AssertionFailure() << reloaded;
    return ::testing::AssertionSuccess();
  }

  // Puts `count` credentials "<prefix>NNN" into `org`, every tenth with a second version,
  // from four threads; returns (name, version) -> secret.
  std::map<std::pair<std::string, std::uint64_t>, std::string> PutMany(const std::string& org,
                                                                       const std::string& prefix,
                                                                       int count) const {
    std::map<std::pair<std::string, std::uint64_t>, std::string> put;
    std::mutex mutex;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        auto backend = Backend();
        for (int i = t; i < count; i += 4) {
          char name[64];
          std::snprintf(name, sizeof(name), "%s%03d", prefix.c_str(), i);
          for (int v = 0; v < (i % 10 == 0 ? 2 : 1); ++v) {
            const std::string secret = org + "/" + name + "/" + RandomHex(12);
            v1::PutCredentialResponse response;
            const Outcome outcome = Put(*backend, PutRequest(org, name, secret), &response);
            std::lock_guard<std::mutex> lock(mutex);
            if (!outcome.ok()) {
              ADD_FAILURE() << "Put " << org << "/" << name << ": " << outcome;
              continue;
            }
            put[{name, response.credential().version()}] = secret;
          }
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    return put;
  }

  // Checks that every (name, version) decrypts to its secret and is sealed to org key
  // version `org_key_version`.
  void ExpectDecrypts(const std::string& org,
                      const std::map<std::pair<std::string, std::uint64_t>, std::string>& put,
                      std::uint32_t org_key_version) const {
    auto worker = Worker();
    auto backend = Backend();
    int wrong = 0;
    for (const auto& [key, secret] : put) {
      std::string got;
      const Outcome outcome = Decrypt(*worker, org, key.first, &got, key.second);
      v1::CredentialMetadata metadata;
      const Outcome described = Describe(*backend, org, key.first, &metadata, key.second);
      if (!outcome.ok() || got != secret || !described.ok() ||
          metadata.org_key_version() != org_key_version) {
        if (++wrong <= 10) {
          ADD_FAILURE() << org << "/" << key.first << " v" << key.second << ": decrypt " << outcome
                        << (outcome.ok() && got != secret ? " (wrong secret)" : "") << ", describe "
                        << described << ", org key version " << metadata.org_key_version()
                        << " (want " << org_key_version << ")";
        }
      }
    }
    EXPECT_EQ(wrong, 0) << "of " << put.size() << " credential versions of " << org;
  }

  // Rotates `org`'s key and waits for its re-seal job, which must succeed and move every
  // item; `to` is the new current version.
  void RotateOrgKeyAndWait(Clients& admin, const std::string& org, v1::ResealJob* job,
                           std::uint32_t* to = nullptr) const {
    v1::RotateOrgKeyResponse rotated;
    const Outcome outcome = RotateOrgKey(admin, org, "", &rotated);
    ASSERT_TRUE(outcome.ok()) << outcome;
    if (to != nullptr) *to = rotated.org().current_key_version();
    *job = WaitForResealJob(admin, org, rotated.reseal_job().job_id(), kJobDeadline);
    ASSERT_EQ(job->state(), v1::RESEAL_JOB_STATE_SUCCEEDED) << ResealJobText(*job);
    EXPECT_EQ(job->items_done(), job->items_total()) << ResealJobText(*job);
  }

  // With the job `job_id` of `org` blocked on `lock` in the middle (some batches committed,
  // not all), kills credvaultd with SIGKILL, lets go of the lock and starts a new one.
  // `mid`: the job as it was when killed.
  void KillMidJobAndRestart(RowLock& lock, const std::string& org, const std::string& job_id,
                            std::unique_ptr<Clients>& admin, v1::ResealJob* mid) {
    ASSERT_TRUE(GetResealJob(*admin, org, job_id, mid).ok());
    EXPECT_EQ(mid->state(), v1::RESEAL_JOB_STATE_RUNNING) << ResealJobText(*mid);
    EXPECT_GT(mid->items_done(), 0u) << ResealJobText(*mid);
    EXPECT_LT(mid->items_done(), mid->items_total()) << ResealJobText(*mid);
    std::cerr << "[ e2e ] killing credvaultd at " << ResealJobText(*mid) << "\n";
    ASSERT_TRUE(StopCredvaultd(stack_->pid, SIGKILL));
    lock.Release();
    ASSERT_EQ(StartCredvaultd(), "");
    admin = Admin();
  }

  const Stack* stack_ = nullptr;
  std::string keys_;  // DIR/keys/, as the configuration names it
};

// ---------------------------------------------------------------------------------------
// The refusals of the rotation API, and job listing.

class RotationRefusalsTest : public KeyLifecycleTest {
 protected:
  static constexpr char kOrg[] = "refusals";
  static constexpr char kFirstRotationKey[] = "refusals-rotate-1";

  // A principal that is admin (and auditor) of kOrg only, by bearer token.
  void AddScopedAdmin(std::unique_ptr<Clients>* scoped) {
    const std::string token = RandomHex(32);
    const CommandResult hashed = RunShell("printf '%s' " + ShellQuote(token) + " | " +
                                          ShellQuote(CREDVAULTD_PATH) + " hash-token");
    ASSERT_EQ(hashed.exit_code, 0) << hashed.output;
    std::string hash = hashed.output;
    while (!hash.empty() && hash.back() == '\n') hash.pop_back();
    const std::string policy_path = stack_->dir + "/policy.yaml";
    WriteFileOrDie(policy_path, ReadFileOrEmpty(policy_path) +
                                    "  - token_name: scoped-admin\n"
                                    "    token_hash: \"" +
                                    hash +
                                    "\"\n"
                                    "    roles: [admin, auditor]\n"
                                    "    orgs: [" +
                                    kOrg + "]\n");
    ASSERT_EQ(ReloadCredvaultd(), "");
    *scoped =
        std::make_unique<Clients>(TlsChannel(*stack_, stack_->decrypt_addr, Caller::Token(token)));
  }

  // A refused DestroyOrgKeyVersion: its code, and what its message says ("" for anything).
  static void ExpectDestroyRefused(Clients& caller, const std::string& in_org,
                                   std::uint32_t version, const std::string& reason,
                                   grpc::StatusCode code, const std::string& mentions) {
    v1::DestroyOrgKeyVersionResponse response;
    const Outcome refused = DestroyOrgKeyVersion(caller, in_org, version, reason, &response);
    EXPECT_EQ(refused.code, code) << in_org << " v" << version << ": " << refused;
    EXPECT_THAT(refused.message, HasSubstr(mentions)) << in_org << " v" << version;
  }

  // The first rotation of kOrg, 1 -> 2, whose re-seal job stays open (the caller holds a
  // credential's row).
  static void StartFirstRotation(Clients& admin, v1::ResealJob* job) {
    v1::RotateOrgKeyResponse first;
    const Outcome outcome = RotateOrgKey(admin, kOrg, kFirstRotationKey, &first);
    ASSERT_TRUE(outcome.ok()) << outcome;
    EXPECT_FALSE(first.idempotent_replay());
    EXPECT_EQ(first.org().current_key_version(), 2u);
    *job = first.reseal_job();
    EXPECT_EQ(job->org_id(), kOrg);
    EXPECT_EQ(job->kind(), v1::RESEAL_JOB_KIND_ORG_KEY);
    EXPECT_EQ(job->from_key_version(), 1u);
    EXPECT_EQ(job->to_key_version(), 2u);
    EXPECT_EQ(job->items_total(), 22u);
    EXPECT_FALSE(ResealJobEnded(*job)) << ResealJobText(*job);
  }

  // While a job is open: no second rotation (with or without another idempotency key),
  // and neither the version being moved away from nor the current one can be destroyed.
  static void ExpectRefusalsWhileTheJobIsOpen(Clients& admin) {
    v1::RotateOrgKeyResponse second;
    Outcome outcome = RotateOrgKey(admin, kOrg, "", &second);
    EXPECT_EQ(outcome.code, grpc::StatusCode::FAILED_PRECONDITION) << outcome;
    EXPECT_EQ(outcome.reason, "ERROR_REASON_RESEAL_IN_PROGRESS") << outcome;
    outcome = RotateOrgKey(admin, kOrg, "refusals-rotate-other", &second);
    EXPECT_EQ(outcome.reason, "ERROR_REASON_RESEAL_IN_PROGRESS") << outcome;
    ExpectDestroyRefused(admin, kOrg, 1, "too early", grpc::StatusCode::FAILED_PRECONDITION,
                         "is RETIRING, not RETIRED");
    ExpectDestroyRefused(admin, kOrg, 2, "the current one", grpc::StatusCode::FAILED_PRECONDITION,
                         "is ACTIVE, not RETIRED");
  }

  // The first rotation's idempotency key again: the same job (in `state`, or any state
  // when unset), nothing rotated.
  static void ExpectReplayOfTheFirstRotation(
      Clients& admin, const v1::ResealJob& job,
      std::optional<v1::ResealJobState> state = std::nullopt) {
    v1::RotateOrgKeyResponse replay;
    const Outcome outcome = RotateOrgKey(admin, kOrg, kFirstRotationKey, &replay);
    ASSERT_TRUE(outcome.ok()) << outcome;
    EXPECT_TRUE(replay.idempotent_replay());
    EXPECT_EQ(replay.reseal_job().job_id(), job.job_id());
    if (state) {
      EXPECT_EQ(replay.reseal_job().state(), *state);
    } else {
      EXPECT_EQ(replay.org().current_key_version(), 2u);
      EXPECT_EQ(replay.org().key_versions_size(), 2) << KeyVersionsText(replay.org());
    }
  }

  // Root rotation needs an admin of every org: neither an admin of one org nor an auditor
  // of every org may.
  static void ExpectRootRotationRefused(Clients& scoped, Clients& auditor) {
    v1::RotateRootKeyResponse root;
    Outcome outcome = RotateRootKey(scoped, "", &root);
    EXPECT_EQ(outcome.code, grpc::StatusCode::PERMISSION_DENIED) << outcome;
    outcome = RotateRootKey(auditor, "", &root);
    EXPECT_EQ(outcome.code, grpc::StatusCode::PERMISSION_DENIED) << outcome;
  }

  // Unknown jobs, and an org's job asked for under `_system`.
  static void ExpectUnknownJobsNotFound(Clients& admin, const v1::ResealJob& job) {
    Outcome outcome = GetResealJob(admin, kOrg, "rj-00000000000000000000", nullptr);
    EXPECT_EQ(outcome.code, grpc::StatusCode::NOT_FOUND) << outcome;
    EXPECT_EQ(outcome.reason, "ERROR_REASON_JOB_NOT_FOUND") << outcome;
    outcome = GetResealJob(admin, "_system", job.job_id(), nullptr);
    EXPECT_EQ(outcome.code, grpc::StatusCode::NOT_FOUND) << "an org job is not a _system job";
  }

  // Rotates kOrg as `caller` and waits for the job; its id in `job_id`.
  static void RotateAndWait(Clients& caller, Clients& admin, std::string* job_id) {
    v1::RotateOrgKeyResponse rotated;
    const Outcome outcome = RotateOrgKey(caller, kOrg, "", &rotated);
    ASSERT_TRUE(outcome.ok()) << outcome;
    *job_id = rotated.reseal_job().job_id();
    const v1::ResealJob done = WaitForResealJob(admin, kOrg, *job_id, kJobDeadline);
    ASSERT_EQ(done.state(), v1::RESEAL_JOB_STATE_SUCCEEDED) << ResealJobText(done);
  }

  // Destroying the private half of retired version 1: the refusals first (each leaves the
  // key as it was), then the scoped admin's destruction, then a repeat that is no new
  // destruction and is not recorded again.
  void DestroyTheOldestRetiredVersion(Clients& admin, Clients& scoped, Clients& auditor) const {
    const auto sealed_half_present = [&](std::uint32_t version) {
      return SuperuserQuery(*stack_,
                            std::string("SELECT sealed_private_key IS NOT NULL FROM org_keys "
                                        "WHERE org_id = '") +
                                kOrg + "' AND version = " + std::to_string(version));
    };
    const std::string why = "ticket 5120";
    ExpectDestroyRefused(admin, kOrg, 0, why, grpc::StatusCode::INVALID_ARGUMENT, "key_version:");
    ExpectDestroyRefused(admin, kOrg, 1, "", grpc::StatusCode::INVALID_ARGUMENT, "reason:");
    ExpectDestroyRefused(admin, kOrg, 9, why, grpc::StatusCode::NOT_FOUND,
                         "org key version 9 does not exist");
    ExpectDestroyRefused(admin, "no-such-org", 1, why, grpc::StatusCode::NOT_FOUND,
                         "org no-such-org does not exist");
    ExpectDestroyRefused(auditor, kOrg, 1, why, grpc::StatusCode::PERMISSION_DENIED, "");
    ExpectDestroyRefused(admin, kOrg, 4, why, grpc::StatusCode::FAILED_PRECONDITION,
                         "is ACTIVE, not RETIRED");
    EXPECT_EQ(sealed_half_present(1), "t") << "a refused request changed the key";

    v1::DestroyOrgKeyVersionResponse destroyed;
    Outcome outcome = DestroyOrgKeyVersion(scoped, kOrg, 1, "ticket 5120", &destroyed);
    ASSERT_TRUE(outcome.ok()) << outcome;
    EXPECT_FALSE(destroyed.already_destroyed());
    EXPECT_EQ(KeyState(destroyed.org(), 1), v1::ORG_KEY_STATE_DESTROYED)
        << KeyVersionsText(destroyed.org());
    EXPECT_EQ(KeyState(destroyed.org(), 2), v1::ORG_KEY_STATE_RETIRED)
        << KeyVersionsText(destroyed.org());
    EXPECT_EQ(sealed_half_present(1), "f");
    EXPECT_EQ(sealed_half_present(2), "t");
    outcome = DestroyOrgKeyVersion(admin, kOrg, 1, "ticket 5120, again", &destroyed);
    ASSERT_TRUE(outcome.ok()) << outcome;
    EXPECT_TRUE(destroyed.already_destroyed());
    const std::vector<v1::AuditEvent> key_destroys =
        AuditEventsWithAction(admin, kOrg, "org.key_destroy");
    ASSERT_EQ(key_destroys.size(), 1u) << "a repeated destruction is not recorded again";
    EXPECT_EQ(key_destroys[0].result(), "ok");
    EXPECT_THAT(key_destroys[0].details(), HasSubstr("ticket 5120"));
    EXPECT_THAT(key_destroys[0].details(), HasSubstr("org key version 1 destroyed"));
  }

  // One job per page, newest first; the first page's token refused when tampered with or
  // used for another query.
  static void ExpectJobsListedOnePerPage(Clients& admin, const std::vector<std::string>& newest) {
    std::vector<std::string> listed;
    std::string token_page1;
    std::string page_token;
    for (int page = 0; page < 10; ++page) {
      v1::ListResealJobsResponse response;
      const Outcome outcome = ListResealJobs(admin, kOrg, 1, page_token, &response);
      ASSERT_TRUE(outcome.ok()) << outcome;
      ASSERT_EQ(response.jobs_size(), 1) << "page " << page;
      listed.push_back(response.jobs(0).job_id());
      EXPECT_EQ(response.jobs(0).state(), v1::RESEAL_JOB_STATE_SUCCEEDED);
      if (page == 0) token_page1 = response.next_page_token();
      if (response.next_page_token().empty()) break;
      page_token = response.next_page_token();
    }
    EXPECT_EQ(listed, newest);

    ASSERT_FALSE(token_page1.empty());
    std::string tampered = token_page1;
    char& c = tampered[tampered.size() / 2];
    c = c == 'A' ? 'B' : 'A';
    v1::ListResealJobsResponse refused;
    Outcome outcome = ListResealJobs(admin, kOrg, 1, tampered, &refused);
    EXPECT_EQ(outcome.code, grpc::StatusCode::INVALID_ARGUMENT) << outcome;
    EXPECT_EQ(outcome.reason, "ERROR_REASON_INVALID_PAGE_TOKEN") << outcome;
    outcome = ListResealJobs(admin, "_system", 1, token_page1, &refused);
    EXPECT_EQ(outcome.code, grpc::StatusCode::INVALID_ARGUMENT) << outcome;
  }
};

TEST_F(RotationRefusalsTest, RotationRefusalsIdempotencyAndJobListing) {
  auto admin = Admin();
  const auto put = PutMany(kOrg, "r-", 20);
  ASSERT_EQ(put.size(), 22u);
  std::unique_ptr<Clients> scoped;
  ASSERT_NO_FATAL_FAILURE(AddScopedAdmin(&scoped));
  Clients auditor(TlsChannel(*stack_, stack_->decrypt_addr, Caller::Cert("auditor")));

  // One credential held, so that the first job stays open however fast the machine is.
  RowLock lock(*stack_, std::string("SELECT 1 FROM credentials WHERE org_id = '") + kOrg +
                            "' AND name = 'r-010' FOR UPDATE");
  ASSERT_TRUE(lock.Held());
  v1::ResealJob job1;
  ASSERT_NO_FATAL_FAILURE(StartFirstRotation(*admin, &job1));
  ExpectRefusalsWhileTheJobIsOpen(*admin);
  ASSERT_NO_FATAL_FAILURE(ExpectReplayOfTheFirstRotation(*admin, job1));
  ExpectRootRotationRefused(*scoped, auditor);
  ExpectUnknownJobsNotFound(*admin, job1);
  lock.Release();
  const v1::ResealJob done = WaitForResealJob(*admin, kOrg, job1.job_id(), kJobDeadline);
  ASSERT_EQ(done.state(), v1::RESEAL_JOB_STATE_SUCCEEDED) << ResealJobText(done);
  EXPECT_EQ(done.items_done(), 22u);
  EXPECT_EQ(done.items_total(), 22u);
  EXPECT_TRUE(done.has_end_time());
  ASSERT_NO_FATAL_FAILURE(
      ExpectReplayOfTheFirstRotation(*admin, job1, v1::RESEAL_JOB_STATE_SUCCEEDED));

  // The scoped admin may rotate its own org; then one more rotation: 4 is current.
  std::string job2, job3;
  ASSERT_NO_FATAL_FAILURE(RotateAndWait(*scoped, *admin, &job2));
  ASSERT_NO_FATAL_FAILURE(RotateAndWait(*admin, *admin, &job3));
  v1::OrgInfo info;
  ASSERT_TRUE(DescribeOrg(*admin, kOrg, &info).ok());
  EXPECT_EQ(info.current_key_version(), 4u) << KeyVersionsText(info);
  for (std::uint32_t version = 1; version <= 3; ++version) {
    EXPECT_EQ(KeyState(info, version), v1::ORG_KEY_STATE_RETIRED) << KeyVersionsText(info);
  }
  EXPECT_EQ(KeyState(info, 4), v1::ORG_KEY_STATE_ACTIVE) << KeyVersionsText(info);

  ASSERT_NO_FATAL_FAILURE(DestroyTheOldestRetiredVersion(*admin, *scoped, auditor));
  ASSERT_NO_FATAL_FAILURE(ExpectJobsListedOnePerPage(*admin, {job3, job2, job1.job_id()}));

  // Every version decrypts under the current key, and the chain records the three
  // rotations and their re-seals.
  ExpectDecrypts(kOrg, put, 4);
  const std::vector<v1::AuditEvent> rotations =
      AuditEventsWithAction(*admin, kOrg, "org.key_rotate");
  EXPECT_EQ(std::count_if(rotations.begin(), rotations.end(),
                          [](const v1::AuditEvent& event) { return event.result() == "ok"; }),
            3);
  EXPECT_EQ(AuditEventsWithAction(*admin, kOrg, "org.key_reseal").size(), 3u);
  EXPECT_TRUE(AuditVerifies(*admin, kOrg));
}

// ---------------------------------------------------------------------------------------
// credvaultd killed in the middle of a re-seal batch.

TEST_F(KeyLifecycleTest, OrgKeyJobResumesAfterKillMidBatch) {
  const std::string org = "killed-org";
  const auto put = PutMany(org, "k-", 280);
  ASSERT_EQ(put.size(), 308u);

  // The job stops at k-150, with every batch before it committed.
  RowLock lock(*stack_, "SELECT 1 FROM credentials WHERE org_id = '" + org +
                            "' AND name = 'k-150' FOR UPDATE");
  ASSERT_TRUE(lock.Held());
  auto admin = Admin();
  v1::RotateOrgKeyResponse rotated;
  const Outcome outcome = RotateOrgKey(*admin, org, "", &rotated);
  ASSERT_TRUE(outcome.ok()) << outcome;
  const std::string job_id = rotated.reseal_job().job_id();
  EXPECT_EQ(rotated.reseal_job().items_total(), 308u);
  ASSERT_TRUE(WaitFor([&] { return lock.Blocking(); }, kJobDeadline))
      << "the re-seal job never reached the held credential";
  v1::ResealJob mid;
  ASSERT_NO_FATAL_FAILURE(KillMidJobAndRestart(lock, org, job_id, admin, &mid));
  const v1::ResealJob done = WaitForResealJob(*admin, org, job_id, kJobDeadline);
  ASSERT_EQ(done.state(), v1::RESEAL_JOB_STATE_SUCCEEDED) << ResealJobText(done);
  EXPECT_EQ(done.items_done(), 308u) << ResealJobText(done);
  EXPECT_EQ(done.items_total(), 308u) << ResealJobText(done);
  EXPECT_GE(done.items_done(), mid.items_done());
  v1::OrgInfo info;
  ASSERT_TRUE(DescribeOrg(*admin, org, &info).ok());
  EXPECT_EQ(KeyState(info, 1), v1::ORG_KEY_STATE_RETIRED) << KeyVersionsText(info);
  EXPECT_EQ(KeyState(info, 2), v1::ORG_KEY_STATE_ACTIVE) << KeyVersionsText(info);
  ExpectDecrypts(org, put, 2);
  const std::vector<v1::AuditEvent> resealed = AuditEventsWithAction(*admin, org, "org.key_reseal");
  ASSERT_EQ(resealed.size(), 1u);
  EXPECT_EQ(resealed[0].target(), job_id);
  EXPECT_THAT(resealed[0].details(), HasSubstr("308 credential versions"));
  EXPECT_TRUE(AuditVerifies(*admin, org));
}

TEST_F(KeyLifecycleTest, RootKeyJobResumesAfterKillMidBatch) {
  // Enough orgs for several batches of seven before kr-15.
  std::map<std::string, std::string> secrets;
  {
    auto backend = Backend();
    for (int i = 0; i < 24; ++i) {
      char org[16];
      std::snprintf(org, sizeof(org), "kr-%02d", i);
      secrets[org] = RandomHex(16);
      const Outcome outcome = Put(*backend, PutRequest(org, "only", secrets[org]));
      ASSERT_TRUE(outcome.ok()) << org << ": " << outcome;
    }
  }
  RowLock lock(*stack_, "SELECT 1 FROM org_keys WHERE org_id = 'kr-15' FOR UPDATE");
  ASSERT_TRUE(lock.Held());
  auto admin = Admin();
  v1::RotateRootKeyResponse rotated;
  const Outcome outcome = RotateRootKey(*admin, "", &rotated);
  ASSERT_TRUE(outcome.ok()) << outcome;
  const std::uint32_t root = rotated.root_key_version();
  EXPECT_EQ(rotated.previous_root_key_version() + 1, root);
  EXPECT_EQ(rotated.root_public_key().size(), 32u);
  const v1::ResealJob& job = rotated.reseal_job();
  EXPECT_EQ(job.org_id(), "_system");
  EXPECT_EQ(job.kind(), v1::RESEAL_JOB_KIND_ROOT_KEY);
  EXPECT_EQ(job.to_key_version(), root);
  // No org key moves to the new root before the write tier pins it.
  v1::ResealJob waiting;
  ASSERT_TRUE(WaitFor(
      [&] {
        return GetResealJob(*admin, "_system", job.job_id(), &waiting).ok() &&
               absl::StrContains(waiting.last_error(), "is pinned in keys.root_key_pins");
      },
      kJobDeadline))
      << ResealJobText(waiting);
  EXPECT_EQ(waiting.items_done(), 0u) << ResealJobText(waiting);
  EXPECT_EQ(SuperuserQuery(*stack_, "SELECT count(*) FROM org_keys WHERE root_key_version = " +
                                        std::to_string(root)),
            "0");
  ASSERT_TRUE(PinRootKey(root, rotated.root_public_key()));
  ASSERT_TRUE(WaitFor([&] { return lock.Blocking(); }, kJobDeadline))
      << "the root re-seal job never reached the held org";
  v1::ResealJob mid;
  ASSERT_NO_FATAL_FAILURE(KillMidJobAndRestart(lock, "_system", job.job_id(), admin, &mid));
  const v1::ResealJob done = WaitForResealJob(*admin, "_system", job.job_id(), kJobDeadline);
  ASSERT_EQ(done.state(), v1::RESEAL_JOB_STATE_SUCCEEDED) << ResealJobText(done);
  EXPECT_EQ(done.items_done(), done.items_total()) << ResealJobText(done);
  EXPECT_GE(done.items_total(), 24u);
  EXPECT_EQ(SuperuserQuery(*stack_, "SELECT state FROM root_keys WHERE version = " +
                                        std::to_string(rotated.previous_root_key_version())),
            "RETIRED");
  EXPECT_EQ(SuperuserQuery(*stack_,
                           "SELECT count(*) FROM org_keys WHERE state <> 'DESTROYED' AND "
                           "root_key_version <> " +
                               std::to_string(root)),
            "0")
      << "org keys left behind: "
      << SuperuserQuery(*stack_,
                        "SELECT string_agg(org_id || ' v' || version || ' root ' || "
                        "root_key_version, ', ') FROM org_keys WHERE root_key_version <> " +
                            std::to_string(root));
  auto worker = Worker();
  for (const auto& [org, secret] : secrets) {
    v1::OrgInfo info;
    ASSERT_TRUE(DescribeOrg(*admin, org, &info).ok()) << org;
    EXPECT_EQ(info.key_versions(0).root_key_version(), root) << KeyVersionsText(info);
    std::string got;
    const Outcome decrypted = Decrypt(*worker, org, "only", &got);
    EXPECT_TRUE(decrypted.ok()) << org << ": " << decrypted;
    EXPECT_EQ(got, secret) << org;
  }
  const std::vector<v1::AuditEvent> events =
      AuditEventsWithAction(*admin, "_system", "root.key_reseal");
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().target(), job.job_id());
  EXPECT_TRUE(AuditVerifies(*admin, "_system"));

  // Pinned, the new root key is the one new orgs are sealed to.
  ASSERT_TRUE(Put(*Backend(), PutRequest("kr-after-pin", "only", "x")).ok());
  v1::OrgInfo info;
  ASSERT_TRUE(DescribeOrg(*admin, "kr-after-pin", &info).ok());
  EXPECT_EQ(info.key_versions(0).root_key_version(), root) << KeyVersionsText(info);
}

// ---------------------------------------------------------------------------------------
// Rotations while traffic continues.

// The traffic that runs through every rotation below: what was put, where the load goes
// (moved to each replacement credvaultd) and the load itself.
struct Traffic {
  explicit Traffic(const Stack& stack) : router(stack), load(stack, router, ledger) {}

  std::string Elapsed() const {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - started)
                              .count()) +
           " ms";
  }

  const std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  Ledger ledger;
  Router router;
  Load load;
};

class RotationsUnderTrafficTest : public KeyLifecycleTest {
 protected:
  static constexpr int kWriters = 4;

  // About a hundred credentials in three orgs, every fifth with three versions; load-a is
  // the busy one. Starts the load on them.
  void StartLoad(Traffic& traffic) {
    std::vector<std::vector<std::size_t>> owned(kWriters);
    auto backend = Backend();
    int n = 0;
    for (const auto& [org, count] :
         std::vector<std::pair<std::string, int>>{{"load-a", 40}, {"load-b", 30}, {"load-c", 30}}) {
      for (int i = 0; i < count; ++i, ++n) {
        const std::string name = "seed-" + std::to_string(i);
        const std::size_t index = traffic.ledger.Add(org, name);
        owned[n % kWriters].push_back(index);
        for (int v = 0; v < (i % 5 == 0 ? 3 : 1); ++v) {
          const std::string secret = org + "/" + name + "/" + RandomHex(12);
          v1::PutCredentialResponse response;
          const Outcome outcome = Put(*backend, PutRequest(org, name, secret), &response);
          ASSERT_TRUE(outcome.ok()) << org << "/" << name << ": " << outcome;
          traffic.ledger.Record(index, response.credential().version(), secret);
        }
      }
    }
    traffic.load.Start(owned, 4);
    ASSERT_TRUE(traffic.load.Progressed()) << "the load did not start";
  }

  // Puts the first credential of the new org `org` (recorded in the ledger) and returns
  // the root key version its org key was sealed to.
  void PutFirstOfNewOrg(Traffic& traffic, Clients& admin, const std::string& org,
                        std::uint32_t* root_key_version) {
    const std::string secret = org + "/" + RandomHex(12);
    v1::PutCredentialResponse response;
    const Outcome put = Put(*Backend(), PutRequest(org, "first", secret), &response);
    ASSERT_TRUE(put.ok()) << put;
    traffic.ledger.Record(traffic.ledger.Add(org, "first"), response.credential().version(),
                          secret);
    v1::OrgInfo info;
    ASSERT_TRUE(DescribeOrg(admin, org, &info).ok());
    ASSERT_EQ(info.key_versions_size(), 1) << KeyVersionsText(info);
    *root_key_version = info.key_versions(0).root_key_version();
  }

  // (a) An org key rotation of the busy org: the new version becomes the only one any
  // credential version is sealed to.
  void RotateTheBusyOrgKey(Traffic& traffic, Clients& admin) {
    std::uint32_t to = 0;
    v1::ResealJob job;
    ASSERT_NO_FATAL_FAILURE(RotateOrgKeyAndWait(admin, "load-a", &job, &to));
    v1::OrgInfo info;
    ASSERT_TRUE(DescribeOrg(admin, "load-a", &info).ok());
    EXPECT_EQ(info.current_key_version(), to);
    EXPECT_EQ(KeyState(info, to - 1), v1::ORG_KEY_STATE_RETIRED) << KeyVersionsText(info);
    EXPECT_EQ(KeyState(info, to), v1::ORG_KEY_STATE_ACTIVE) << KeyVersionsText(info);
    EXPECT_EQ(SuperuserQuery(*stack_,
                             "SELECT count(*) FROM credentials WHERE org_id = 'load-a' AND NOT "
                             "erased AND org_key_version <> " +
                                 std::to_string(to)),
              "0")
        << "credential versions still sealed to an older org key after " << ResealJobText(job);
    std::cerr << "[ e2e ] (a) " << ResealJobText(job) << " at " << traffic.Elapsed() << "\n";
    ASSERT_TRUE(traffic.load.Progressed());
  }

  // (b) A root key rotation. Until the write tier pins the new root, new orgs go to the
  // previous one and no org key moves; once it is pinned, the re-seal job moves every org
  // key (the one made meanwhile too) and new orgs go to the new root.
  void RotateTheRootKeyThenPinIt(Traffic& traffic, Clients& admin) {
    v1::RotateRootKeyResponse rotated;
    const Outcome outcome = RotateRootKey(admin, "", &rotated);
    ASSERT_TRUE(outcome.ok()) << outcome;
    const std::uint32_t root = rotated.root_key_version();
    const std::uint32_t previous = rotated.previous_root_key_version();
    std::uint32_t sealed_to = 0;
    ASSERT_NO_FATAL_FAILURE(PutFirstOfNewOrg(traffic, admin, "pin-before", &sealed_to));
    EXPECT_EQ(sealed_to, previous) << "the active root key is not pinned yet";
    v1::ResealJob waiting;
    ASSERT_TRUE(GetResealJob(admin, "_system", rotated.reseal_job().job_id(), &waiting).ok());
    EXPECT_NE(waiting.state(), v1::RESEAL_JOB_STATE_SUCCEEDED) << ResealJobText(waiting);
    EXPECT_EQ(SuperuserQuery(*stack_, "SELECT count(*) FROM org_keys WHERE root_key_version = " +
                                          std::to_string(root)),
              "0")
        << "an org key moved to a root key the write tier does not pin";
    ASSERT_TRUE(PinRootKey(root, rotated.root_public_key()));

    const v1::ResealJob job =
        WaitForResealJob(admin, "_system", rotated.reseal_job().job_id(), kJobDeadline);
    ASSERT_EQ(job.state(), v1::RESEAL_JOB_STATE_SUCCEEDED) << ResealJobText(job);
    EXPECT_EQ(job.items_done(), job.items_total()) << ResealJobText(job);
    EXPECT_EQ(SuperuserQuery(*stack_, "SELECT state FROM root_keys WHERE version = " +
                                          std::to_string(previous)),
              "RETIRED");
    for (const std::string org : {"load-a", "load-b", "load-c", "pin-before"}) {
      v1::OrgInfo info;
      ASSERT_TRUE(DescribeOrg(admin, org, &info).ok());
      ASSERT_GT(info.key_versions_size(), 0) << org;
      for (const v1::OrgKeyVersion& key : info.key_versions()) {
        EXPECT_EQ(key.root_key_version(), root) << KeyVersionsText(info);
      }
    }
    ASSERT_NO_FATAL_FAILURE(PutFirstOfNewOrg(traffic, admin, "pin-after", &sealed_to));
    EXPECT_EQ(sealed_to, root);
    std::cerr << "[ e2e ] (b) " << ResealJobText(job) << ", root " << previous << " -> " << root
              << " at " << traffic.Elapsed() << "\n";
    ASSERT_TRUE(traffic.load.Progressed());
  }

  // (c) A writer key rotation in two steps (the new key known, then current): new
  // envelopes are authenticated with it, old ones still verify with theirs, and an org key
  // rotation re-authenticates every envelope it re-seals.
  void RotateTheWriterKeyInTwoSteps(Traffic& traffic, Clients& admin) {
    ASSERT_TRUE(MakeKeyFile("writer-2.key"));
    ASSERT_TRUE(
        EditConfig("      1: " + keys_ + "writer-1.key\n",
                   "      1: " + keys_ + "writer-1.key\n      2: " + keys_ + "writer-2.key\n"));
    ASSERT_EQ(ReloadCredvaultd(), "");
    const std::size_t index = traffic.ledger.Add("load-c", "writer-check");
    v1::PutCredentialResponse response;
    std::string secret = "load-c/writer-check/" + RandomHex(12);
    ASSERT_TRUE(Put(*Backend(), PutRequest("load-c", "writer-check", secret), &response).ok());
    traffic.ledger.Record(index, response.credential().version(), secret);
    ASSERT_TRUE(EditConfig("  writer_keys:\n    current: 1\n", "  writer_keys:\n    current: 2\n"));
    ASSERT_EQ(ReloadCredvaultd(), "");
    secret = "load-c/writer-check/" + RandomHex(12);
    ASSERT_TRUE(Put(*Backend(), PutRequest("load-c", "writer-check", secret), &response).ok());
    traffic.ledger.Record(index, response.credential().version(), secret);
    EXPECT_EQ(SuperuserQuery(*stack_,
                             "SELECT string_agg(version || ':' || writer_key_version, ',' ORDER BY "
                             "version) FROM credentials WHERE org_id = 'load-c' AND name = "
                             "'writer-check'"),
              "1:1,2:2")
        << "envelopes are authenticated with the current writer key";
    // A secret put under writer key 1 still compares (its envelope verifies with key 1).
    const Ledger::Credential seeded = traffic.ledger.Get(0);
    v1::CompareCredentialRequest compare;
    compare.set_org_id(seeded.org);
    compare.set_name(seeded.name);
    compare.set_version(seeded.versions.begin()->first);
    compare.set_candidate(seeded.versions.begin()->second);
    v1::CompareCredentialResponse compared;
    const Outcome outcome =
        Call(*Backend()->credentials, &v1::CredentialService::Stub::CompareCredential, compare,
             &compared);
    ASSERT_TRUE(outcome.ok()) << outcome;
    EXPECT_TRUE(compared.match());

    std::uint32_t to = 0;
    v1::ResealJob job;
    ASSERT_NO_FATAL_FAILURE(RotateOrgKeyAndWait(admin, "load-b", &job, &to));
    EXPECT_EQ(SuperuserQuery(*stack_,
                             "SELECT count(*) FROM credentials WHERE org_id = 'load-b' AND NOT "
                             "erased AND (org_key_version <> " +
                                 std::to_string(to) + " OR writer_key_version <> 2)"),
              "0")
        << "re-sealed envelopes are authenticated with the current writer key";
    // The new org key record is vouched for by the key directory key, not the writer key.
    EXPECT_EQ(SuperuserQuery(
                  *stack_,
                  "SELECT coalesce(writer_key_version::text, '-') || '/' || "
                  "directory_key_version FROM org_keys WHERE org_id = 'load-b' AND version = " +
                      std::to_string(to)),
              "-/1");
    std::cerr << "[ e2e ] (c) writer key 2 current; " << ResealJobText(job) << " at "
              << traffic.Elapsed() << "\n";
    ASSERT_TRUE(traffic.load.Progressed());
  }

  // Starts a credvaultd with the configuration as it is now, moves the load to it and
  // stops the one before, as one step of a rolling update.
  void ReplaceCredvaultd(Traffic& traffic, std::unique_ptr<Clients>& admin) {
    const pid_t before = stack_->pid;
    ASSERT_EQ(StartCredvaultd(), "");
    traffic.router.Switch(*stack_);
    ASSERT_TRUE(StopCredvaultd(before, SIGTERM));
    admin = Admin();
  }

  // (d) A seal key rotation: each credvaultd is replaced by one with the new configuration
  // while the load moves over, the root keys are re-wrapped (once; a second run has nothing
  // to do), the old seal key leaves, and org keys still rotate under the new one.
  void RotateTheSealKeyByRollingReplacement(Traffic& traffic, std::unique_ptr<Clients>& admin) {
    ASSERT_TRUE(MakeKeyFile("seal-2.key"));
    const std::string previous_block =
        "  previous_seal_keys:\n    - provider: file\n      file: " + keys_ + "seal.key\n";
    ASSERT_TRUE(EditConfig("    file: " + keys_ + "seal.key\n",
                           "    file: " + keys_ + "seal-2.key\n" + previous_block));
    ASSERT_NO_FATAL_FAILURE(ReplaceCredvaultd(traffic, admin));

    const std::string rewrap = ". " + ShellQuote(stack_->dir + "/secrets.env") + " && " +
                               ShellQuote(CREDVAULTD_PATH) +
                               " rewrap-root-keys --config=" + ShellQuote(stack_->config);
    const std::string roots = SuperuserQuery(*stack_, "SELECT count(*) FROM root_keys");
    CommandResult result = RunShell(rewrap);
    ASSERT_EQ(result.exit_code, 0) << result.output;
    EXPECT_THAT(result.output, HasSubstr(roots + " re-wrapped, 0 already current"));
    const std::size_t id_at = result.output.find("seal key: ");
    ASSERT_NE(id_at, std::string::npos) << result.output;
    const std::string seal_key_id =
        result.output.substr(id_at + 10, result.output.find('\n', id_at) - id_at - 10);
    EXPECT_EQ(
        SuperuserQuery(*stack_, "SELECT string_agg(DISTINCT seal_key_id, ',') FROM root_keys"),
        seal_key_id);
    result = RunShell(rewrap);
    ASSERT_EQ(result.exit_code, 0) << result.output;
    EXPECT_THAT(result.output, HasSubstr("0 re-wrapped, " + roots + " already current"));

    ASSERT_TRUE(EditConfig(previous_block, ""));
    ASSERT_NO_FATAL_FAILURE(ReplaceCredvaultd(traffic, admin));

    v1::ResealJob job;
    ASSERT_NO_FATAL_FAILURE(RotateOrgKeyAndWait(*admin, "load-a", &job));
    std::cerr << "[ e2e ] (d) seal key " << seal_key_id << ", " << roots
              << " root keys re-wrapped; " << ResealJobText(job) << " at " << traffic.Elapsed()
              << "\n";
    ASSERT_TRUE(traffic.load.Progressed());
  }

  // Not one request of the load failed through all of the above.
  void StopLoadWithoutAFailedRequest(Traffic& traffic) {
    traffic.load.Stop();
    const std::vector<std::string> failures = traffic.load.failures();
    std::cerr << "[ e2e ] load: " << traffic.load.puts() << " puts, " << traffic.load.decrypts()
              << " decrypts, " << failures.size() << " failed, "
              << traffic.load.orgs_created().size() << " orgs created, at " << traffic.Elapsed()
              << "\n";
    EXPECT_TRUE(failures.empty()) << failures.size() << " failed requests under load:\n"
                                  << FirstLines(failures);
  }

  // Every version of every credential decrypts to what was put, the current one to the
  // last put.
  void ExpectEveryVersionDecrypts(Traffic& traffic,
                                  const std::vector<Ledger::Credential>& credentials) {
    std::atomic<std::size_t> next{0};
    std::atomic<int> checked{0};
    std::mutex mutex;
    std::vector<std::string> wrong;
    std::vector<std::thread> checkers;
    for (int t = 0; t < 4; ++t) {
      checkers.emplace_back([&] {
        auto worker = Worker();
        const auto report = [&](const std::string& what) {
          std::lock_guard<std::mutex> lock(mutex);
          wrong.push_back(what);
        };
        for (std::size_t i = next++; i < credentials.size(); i = next++) {
          const Ledger::Credential& credential = credentials[i];
          if (credential.versions.empty()) continue;
          const std::string where = credential.org + "/" + credential.name;
          std::string secret;
          Outcome outcome = Decrypt(*worker, credential.org, credential.name, &secret);
          if (!outcome.ok() || secret != credential.versions.rbegin()->second) {
            std::ostringstream out;
            out << where << " current: " << outcome << (outcome.ok() ? " (not the last put)" : "");
            report(out.str());
          }
          for (const auto& [version, expected] : credential.versions) {
            outcome = Decrypt(*worker, credential.org, credential.name, &secret, version);
            ++checked;
            if (!outcome.ok() || secret != expected) {
              std::ostringstream out;
              out << where << " v" << version << ": " << outcome
                  << (outcome.ok() ? " (not the secret put)" : "");
              report(out.str());
            }
          }
        }
      });
    }
    for (std::thread& thread : checkers) thread.join();
    EXPECT_TRUE(wrong.empty()) << wrong.size() << " of " << checked << " versions:\n"
                               << FirstLines(wrong);
    std::cerr << "[ e2e ] " << checked << " versions of " << credentials.size()
              << " credentials checked at " << traffic.Elapsed() << "\n";
  }

  // Every audit chain verifies, with one re-seal event per org key rotation and the root
  // key's re-seal recorded in `_system`.
  void ExpectAuditChainsRecordTheRotations(Clients& admin,
                                           const std::vector<Ledger::Credential>& credentials) {
    std::set<std::string> orgs = {"_system", "pin-before", "pin-after"};
    for (const Ledger::Credential& credential : credentials) orgs.insert(credential.org);
    for (const std::string& org : orgs) EXPECT_TRUE(AuditVerifies(admin, org));
    EXPECT_EQ(AuditEventsWithAction(admin, "load-a", "org.key_reseal").size(), 2u);
    EXPECT_EQ(AuditEventsWithAction(admin, "load-b", "org.key_reseal").size(), 1u);
    EXPECT_FALSE(AuditEventsWithAction(admin, "_system", "root.key_reseal").empty());
  }

 private:
  // The first 30 lines of `lines`, one a line.
  static std::string FirstLines(const std::vector<std::string>& lines) {
    std::string listed;
    for (std::size_t i = 0; i < lines.size() && i < 30; ++i) listed += lines[i] + "\n";
    return listed;
  }
};

// Org, root, writer and seal key rotations, one after the other, while writers and
// decrypting workers keep going without a single failed request.
TEST_F(RotationsUnderTrafficTest, RotationsWhileTrafficContinues) {
  Traffic traffic(*stack_);
  ASSERT_NO_FATAL_FAILURE(StartLoad(traffic));
  auto admin = Admin();
  ASSERT_NO_FATAL_FAILURE(RotateTheBusyOrgKey(traffic, *admin));
  ASSERT_NO_FATAL_FAILURE(RotateTheRootKeyThenPinIt(traffic, *admin));
  ASSERT_NO_FATAL_FAILURE(RotateTheWriterKeyInTwoSteps(traffic, *admin));
  ASSERT_NO_FATAL_FAILURE(RotateTheSealKeyByRollingReplacement(traffic, admin));
  StopLoadWithoutAFailedRequest(traffic);
  const std::vector<Ledger::Credential> credentials = traffic.ledger.Snapshot();
  ExpectEveryVersionDecrypts(traffic, credentials);
  ExpectAuditChainsRecordTheRotations(*admin, credentials);
}

}  // namespace
}  // namespace credvault::e2e

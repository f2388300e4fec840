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

  const Stack* stack_ = nullptr;
  std::string keys_;  // DIR/keys/, as the configuration names it
};

// ---------------------------------------------------------------------------------------
// The refusals of the rotation API, and job listing.

TEST_F(KeyLifecycleTest, RotationRefusalsIdempotencyAndJobListing) {
  const std::string org = "refusals";
  auto admin = Admin();
  const auto put = PutMany(org, "r-", 20);
  ASSERT_EQ(put.size(), 22u);

  // A principal that is admin of this org only, by bearer token.
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
                                  org + "]\n");
  ASSERT_EQ(ReloadCredvaultd(), "");
  Clients scoped(TlsChannel(*stack_, stack_->decrypt_addr, Caller::Token(token)));

  // One credential held, so that the first job stays open however fast the machine is.
  RowLock lock(*stack_, "SELECT 1 FROM credentials WHERE org_id = '" + org +
                            "' AND name = 'r-010' FOR UPDATE");
  ASSERT_TRUE(lock.Held());

  v1::RotateOrgKeyResponse first;
  Outcome outcome = RotateOrgKey(*admin, org, "refusals-rotate-1", &first);
  ASSERT_TRUE(outcome.ok()) << outcome;
  EXPECT_FALSE(first.idempotent_replay());
  EXPECT_EQ(first.org().current_key_version(), 2u);
  const v1::ResealJob& job1 = first.reseal_job();
  EXPECT_EQ(job1.org_id(), org);
  EXPECT_EQ(job1.kind(), v1::RESEAL_JOB_KIND_ORG_KEY);
  EXPECT_EQ(job1.from_key_version(), 1u);
  EXPECT_EQ(job1.to_key_version(), 2u);
  EXPECT_EQ(job1.items_total(), 22u);
  EXPECT_FALSE(ResealJobEnded(job1)) << ResealJobText(job1);

  // A second rotation while the job is open.
  v1::RotateOrgKeyResponse second;
  outcome = RotateOrgKey(*admin, org, "", &second);
  EXPECT_EQ(outcome.code, grpc::StatusCode::FAILED_PRECONDITION) << outcome;
  EXPECT_EQ(outcome.reason, "ERROR_REASON_RESEAL_IN_PROGRESS") << outcome;
  outcome = RotateOrgKey(*admin, org, "refusals-rotate-other", &second);
  EXPECT_EQ(outcome.reason, "ERROR_REASON_RESEAL_IN_PROGRESS") << outcome;

  // A refused DestroyOrgKeyVersion: its code, and what its message says ("" for anything).
  const auto expect_destroy_refused = [&](Clients& caller, const std::string& in_org,
                                          std::uint32_t version, const std::string& reason,
                                          grpc::StatusCode code, const std::string& mentions) {
    v1::DestroyOrgKeyVersionResponse response;
    const Outcome refused = DestroyOrgKeyVersion(caller, in_org, version, reason, &response);
    EXPECT_EQ(refused.code, code) << in_org << " v" << version << ": " << refused;
    EXPECT_THAT(refused.message, HasSubstr(mentions)) << in_org << " v" << version;
  };

  // Neither the version being moved away from nor the current one can be destroyed.
  expect_destroy_refused(*admin, org, 1, "too early", grpc::StatusCode::FAILED_PRECONDITION,
                         "is RETIRING, not RETIRED");
  expect_destroy_refused(*admin, org, 2, "the current one", grpc::StatusCode::FAILED_PRECONDITION,
                         "is ACTIVE, not RETIRED");

  // The same idempotency key again: the same job, nothing rotated.
  v1::RotateOrgKeyResponse replay;
  outcome = RotateOrgKey(*admin, org, "refusals-rotate-1", &replay);
  ASSERT_TRUE(outcome.ok()) << outcome;
  EXPECT_TRUE(replay.idempotent_replay());
  EXPECT_EQ(replay.reseal_job().job_id(), job1.job_id());
  EXPECT_EQ(replay.org().current_key_version(), 2u);
  EXPECT_EQ(replay.org().key_versions_size(), 2) << KeyVersionsText(replay.org());

  // Root rotation needs an admin of every org.
  v1::RotateRootKeyResponse root;
  outcome = RotateRootKey(scoped, "", &root);
  EXPECT_EQ(outcome.code, grpc::StatusCode::PERMISSION_DENIED) << outcome;
  Clients auditor(TlsChannel(*stack_, stack_->decrypt_addr, Caller::Cert("auditor")));
  outcome = RotateRootKey(auditor, "", &root);  // every org, but not an admin
  EXPECT_EQ(outcome.code, grpc::StatusCode::PERMISSION_DENIED) << outcome;

  // Unknown jobs.
  outcome = GetResealJob(*admin, org, "rj-00000000000000000000", nullptr);
  EXPECT_EQ(outcome.code, grpc::StatusCode::NOT_FOUND) << outcome;
  EXPECT_EQ(outcome.reason, "ERROR_REASON_JOB_NOT_FOUND") << outcome;
  outcome = GetResealJob(*admin, "_system", job1.job_id(), nullptr);
  EXPECT_EQ(outcome.code, grpc::StatusCode::NOT_FOUND) << "an org job is not a _system job";

  lock.Release();
  v1::ResealJob done = WaitForResealJob(*admin, org, job1.job_id(), kJobDeadline);
  ASSERT_EQ(done.state(), v1::RESEAL_JOB_STATE_SUCCEEDED) << ResealJobText(done);
  EXPECT_EQ(done.items_done(), 22u);
  EXPECT_EQ(done.items_total(), 22u);
  EXPECT_TRUE(done.has_end_time());
  // Replayed after the end: still the same job, now finished.
  outcome = RotateOrgKey(*admin, org, "refusals-rotate-1", &replay);
  ASSERT_TRUE(outcome.ok()) << outcome;
  EXPECT_TRUE(replay.idempotent_replay());
  EXPECT_EQ(replay.reseal_job().job_id(), job1.job_id());
  EXPECT_EQ(replay.reseal_job().state(), v1::RESEAL_JOB_STATE_SUCCEEDED);

  // The scoped admin may rotate its own org; then one more rotation.
  v1::RotateOrgKeyResponse rotated;
  outcome = RotateOrgKey(scoped, org, "", &rotated);
  ASSERT_TRUE(outcome.ok()) << outcome;
  const std::string job2 = rotated.reseal_job().job_id();
  done = WaitForResealJob(*admin, org, job2, kJobDeadline);
  ASSERT_EQ(done.state(), v1::RESEAL_JOB_STATE_SUCCEEDED) << ResealJobText(done);
  outcome = RotateOrgKey(*admin, org, "", &rotated);
  ASSERT_TRUE(outcome.ok()) << outcome;
  const std::string job3 = rotated.reseal_job().job_id();
  done = WaitForResealJob(*admin, org, job3, kJobDeadline);
  ASSERT_EQ(done.state(), v1::RESEAL_JOB_STATE_SUCCEEDED) << ResealJobText(done);
  v1::OrgInfo info;
  ASSERT_TRUE(DescribeOrg(*admin, org, &info).ok());
  EXPECT_EQ(info.current_key_version(), 4u) << KeyVersionsText(info);
  for (std::uint32_t version = 1; version <= 3; ++version) {
    EXPECT_EQ(KeyState(info, version), v1::ORG_KEY_STATE_RETIRED) << KeyVersionsText(info);
  }
  EXPECT_EQ(KeyState(info, 4), v1::ORG_KEY_STATE_ACTIVE) << KeyVersionsText(info);

  // Destroying the private half of a retired version.
  const auto sealed_half_present = [&](std::uint32_t version) {
    return SuperuserQuery(
        *stack_, "SELECT sealed_private_key IS NOT NULL FROM org_keys WHERE org_id = '" + org +
                     "' AND version = " + std::to_string(version));
  };
  const std::string why = "ticket 5120";
  expect_destroy_refused(*admin, org, 0, why, grpc::StatusCode::INVALID_ARGUMENT, "key_version:");
  expect_destroy_refused(*admin, org, 1, "", grpc::StatusCode::INVALID_ARGUMENT, "reason:");
  expect_destroy_refused(*admin, org, 9, why, grpc::StatusCode::NOT_FOUND,
                         "org key version 9 does not exist");
  expect_destroy_refused(*admin, "no-such-org", 1, why, grpc::StatusCode::NOT_FOUND,
                         "org no-such-org does not exist");
  expect_destroy_refused(auditor, org, 1, why, grpc::StatusCode::PERMISSION_DENIED, "");
  expect_destroy_refused(*admin, org, 4, why, grpc::StatusCode::FAILED_PRECONDITION,
                         "is ACTIVE, not RETIRED");
  EXPECT_EQ(sealed_half_present(1), "t") << "a refused request changed the key";
  v1::DestroyOrgKeyVersionResponse destroy_response;

  outcome = DestroyOrgKeyVersion(scoped, org, 1, "ticket 5120", &destroy_response);
  ASSERT_TRUE(outcome.ok()) << outcome;
  EXPECT_FALSE(destroy_response.already_destroyed());
  EXPECT_EQ(KeyState(destroy_response.org(), 1), v1::ORG_KEY_STATE_DESTROYED)
      << KeyVersionsText(destroy_response.org());
  EXPECT_EQ(KeyState(destroy_response.org(), 2), v1::ORG_KEY_STATE_RETIRED)
      << KeyVersionsText(destroy_response.org());
  EXPECT_EQ(sealed_half_present(1), "f");
  EXPECT_EQ(sealed_half_present(2), "t");
  outcome = DestroyOrgKeyVersion(*admin, org, 1, "ticket 5120, again", &destroy_response);
  ASSERT_TRUE(outcome.ok()) << outcome;
  EXPECT_TRUE(destroy_response.already_destroyed());
  const std::vector<v1::AuditEvent> key_destroys =
      AuditEventsWithAction(*admin, org, "org.key_destroy");
  ASSERT_EQ(key_destroys.size(), 1u) << "a repeated destruction is not recorded again";
  EXPECT_EQ(key_destroys[0].result(), "ok");
  EXPECT_THAT(key_destroys[0].details(), HasSubstr("ticket 5120"));
  EXPECT_THAT(key_destroys[0].details(), HasSubstr("org key version 1 destroyed"));

  // One job per page, newest first.
  std::vector<std::string> listed;
  std::string token_page1;
  std::string page_token;
  for (int page = 0; page < 10; ++page) {
    v1::ListResealJobsResponse response;
    outcome = ListResealJobs(*admin, org, 1, page_token, &response);
    ASSERT_TRUE(outcome.ok()) << outcome;
    ASSERT_EQ(response.jobs_size(), 1) << "page " << page;
    listed.push_back(response.jobs(0).job_id());
    EXPECT_EQ(response.jobs(0).state(), v1::RESEAL_JOB_STATE_SUCCEEDED);
    if (page == 0) token_page1 = response.next_page_token();
    if (response.next_page_token().empty()) break;
    page_token = response.next_page_token();
  }
  EXPECT_EQ(listed, (std::vector<std::string>{job3, job2, job1.job_id()}));

  // A tampered page token, and one from another query.
  ASSERT_FALSE(token_page1.empty());
  std::string tampered = token_page1;
  char& c = tampered[tampered.size() / 2];
  c = c == 'A' ? 'B' : 'A';
  v1::ListResealJobsResponse refused;
  outcome = ListResealJobs(*admin, org, 1, tampered, &refused);
  EXPECT_EQ(outcome.code, grpc::StatusCode::INVALID_ARGUMENT) << outcome;
  EXPECT_EQ(outcome.reason, "ERROR_REASON_INVALID_PAGE_TOKEN") << outcome;
  outcome = ListResealJobs(*admin, "_system", 1, token_page1, &refused);
  EXPECT_EQ(outcome.code, grpc::StatusCode::INVALID_ARGUMENT) << outcome;

  ExpectDecrypts(org, put, 4);
  const std::vector<v1::AuditEvent> rotations =
      AuditEventsWithAction(*admin, org, "org.key_rotate");
  EXPECT_EQ(std::count_if(rotations.begin(), rotations.end(),
                          [](const v1::AuditEvent& event) { return event.result() == "ok"; }),
            3);
  EXPECT_EQ(AuditEventsWithAction(*admin, org, "org.key_reseal").size(), 3u);
  EXPECT_TRUE(AuditVerifies(*admin, org));
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
  ASSERT_TRUE(GetResealJob(*admin, org, job_id, &mid).ok());
  EXPECT_EQ(mid.state(), v1::RESEAL_JOB_STATE_RUNNING) << ResealJobText(mid);
  EXPECT_GT(mid.items_done(), 0u) << ResealJobText(mid);
  EXPECT_LT(mid.items_done(), mid.items_total()) << ResealJobText(mid);
  std::cerr << "[ e2e ] killing credvaultd at " << ResealJobText(mid) << "\n";

  ASSERT_TRUE(StopCredvaultd(stack_->pid, SIGKILL));
  lock.Release();
  ASSERT_EQ(StartCredvaultd(), "");
  admin = Admin();
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
  ASSERT_TRUE(GetResealJob(*admin, "_system", job.job_id(), &mid).ok());
  EXPECT_EQ(mid.state(), v1::RESEAL_JOB_STATE_RUNNING) << ResealJobText(mid);
  EXPECT_GT(mid.items_done(), 0u) << ResealJobText(mid);
  EXPECT_LT(mid.items_done(), mid.items_total()) << ResealJobText(mid);
  std::cerr << "[ e2e ] killing credvaultd at " << ResealJobText(mid) << "\n";

  ASSERT_TRUE(StopCredvaultd(stack_->pid, SIGKILL));
  lock.Release();
  ASSERT_EQ(StartCredvaultd(), "");
  admin = Admin();
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

TEST_F(KeyLifecycleTest, RotationsWhileTrafficContinues) {
  const auto started = std::chrono::steady_clock::now();
  const auto elapsed = [&] {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - started)
                              .count()) +
           " ms";
  };
  // About a hundred credentials in three orgs, every fifth with three versions; load-a is
  // the busy one.
  Ledger ledger;
  constexpr int kWriters = 4;
  std::vector<std::vector<std::size_t>> owned(kWriters);
  {
    auto backend = Backend();
    int n = 0;
    for (const auto& [org, count] :
         std::vector<std::pair<std::string, int>>{{"load-a", 40}, {"load-b", 30}, {"load-c", 30}}) {
      for (int i = 0; i < count; ++i, ++n) {
        const std::string name = "seed-" + std::to_string(i);
        const std::size_t index = ledger.Add(org, name);
        owned[n % kWriters].push_back(index);
        for (int v = 0; v < (i % 5 == 0 ? 3 : 1); ++v) {
          const std::string secret = org + "/" + name + "/" + RandomHex(12);
          v1::PutCredentialResponse response;
          const Outcome outcome = Put(*backend, PutRequest(org, name, secret), &response);
          ASSERT_TRUE(outcome.ok()) << org << "/" << name << ": " << outcome;
          ledger.Record(index, response.credential().version(), secret);
        }
      }
    }
  }
  Router router(*stack_);
  Load load(*stack_, router, ledger);
  load.Start(owned, 4);
  ASSERT_TRUE(load.Progressed()) << "the load did not start";
  auto admin = Admin();

  // (a) Org key rotation of the busy org.
  {
    v1::RotateOrgKeyResponse rotated;
    const Outcome outcome = RotateOrgKey(*admin, "load-a", "", &rotated);
    ASSERT_TRUE(outcome.ok()) << outcome;
    const std::uint32_t to = rotated.org().current_key_version();
    const v1::ResealJob job =
        WaitForResealJob(*admin, "load-a", rotated.reseal_job().job_id(), kJobDeadline);
    ASSERT_EQ(job.state(), v1::RESEAL_JOB_STATE_SUCCEEDED) << ResealJobText(job);
    EXPECT_EQ(job.items_done(), job.items_total()) << ResealJobText(job);
    EXPECT_GE(job.items_total(), rotated.reseal_job().items_total());
    v1::OrgInfo info;
    ASSERT_TRUE(DescribeOrg(*admin, "load-a", &info).ok());
    EXPECT_EQ(info.current_key_version(), to);
    EXPECT_EQ(KeyState(info, to - 1), v1::ORG_KEY_STATE_RETIRED) << KeyVersionsText(info);
    EXPECT_EQ(KeyState(info, to), v1::ORG_KEY_STATE_ACTIVE) << KeyVersionsText(info);
    EXPECT_EQ(SuperuserQuery(*stack_,
                             "SELECT count(*) FROM credentials WHERE org_id = 'load-a' AND NOT "
                             "erased AND org_key_version <> " +
                                 std::to_string(to)),
              "0")
        << "credential versions still sealed to an older org key after " << ResealJobText(job);
    std::cerr << "[ e2e ] (a) " << ResealJobText(job) << " at " << elapsed() << "\n";
    ASSERT_TRUE(load.Progressed());
  }

  // (b) Root key rotation. Until the write tier pins the new root, new orgs go to the
  // previous one and no org key moves; once it is pinned, the re-seal job moves every org
  // key (the one made meanwhile too) and new orgs go to the new root.
  {
    v1::RotateRootKeyResponse rotated;
    const Outcome outcome = RotateRootKey(*admin, "", &rotated);
    ASSERT_TRUE(outcome.ok()) << outcome;
    const std::uint32_t root = rotated.root_key_version();
    const std::uint32_t previous = rotated.previous_root_key_version();
    {
      const std::string secret = "pin-before/" + RandomHex(12);
      v1::PutCredentialResponse response;
      const Outcome put = Put(*Backend(), PutRequest("pin-before", "first", secret), &response);
      ASSERT_TRUE(put.ok()) << put;
      ledger.Record(ledger.Add("pin-before", "first"), response.credential().version(), secret);
      v1::OrgInfo info;
      ASSERT_TRUE(DescribeOrg(*admin, "pin-before", &info).ok());
      ASSERT_EQ(info.key_versions_size(), 1) << KeyVersionsText(info);
      EXPECT_EQ(info.key_versions(0).root_key_version(), previous)
          << "the active root key is not pinned yet: " << KeyVersionsText(info);
    }
    v1::ResealJob waiting;
    ASSERT_TRUE(GetResealJob(*admin, "_system", rotated.reseal_job().job_id(), &waiting).ok());
    EXPECT_NE(waiting.state(), v1::RESEAL_JOB_STATE_SUCCEEDED) << ResealJobText(waiting);
    EXPECT_EQ(SuperuserQuery(*stack_, "SELECT count(*) FROM org_keys WHERE root_key_version = " +
                                          std::to_string(root)),
              "0")
        << "an org key moved to a root key the write tier does not pin";
    ASSERT_TRUE(PinRootKey(root, rotated.root_public_key()));

    const v1::ResealJob job =
        WaitForResealJob(*admin, "_system", rotated.reseal_job().job_id(), kJobDeadline);
    ASSERT_EQ(job.state(), v1::RESEAL_JOB_STATE_SUCCEEDED) << ResealJobText(job);
    EXPECT_EQ(job.items_done(), job.items_total()) << ResealJobText(job);
    EXPECT_EQ(SuperuserQuery(*stack_, "SELECT state FROM root_keys WHERE version = " +
                                          std::to_string(previous)),
              "RETIRED");
    for (const std::string org : {"load-a", "load-b", "load-c", "pin-before"}) {
      v1::OrgInfo info;
      ASSERT_TRUE(DescribeOrg(*admin, org, &info).ok());
      ASSERT_GT(info.key_versions_size(), 0) << org;
      for (const v1::OrgKeyVersion& key : info.key_versions()) {
        EXPECT_EQ(key.root_key_version(), root) << KeyVersionsText(info);
      }
    }
    {
      const std::string secret = "pin-after/" + RandomHex(12);
      v1::PutCredentialResponse response;
      const Outcome put = Put(*Backend(), PutRequest("pin-after", "first", secret), &response);
      ASSERT_TRUE(put.ok()) << put;
      ledger.Record(ledger.Add("pin-after", "first"), response.credential().version(), secret);
      v1::OrgInfo info;
      ASSERT_TRUE(DescribeOrg(*admin, "pin-after", &info).ok());
      ASSERT_EQ(info.key_versions_size(), 1) << KeyVersionsText(info);
      EXPECT_EQ(info.key_versions(0).root_key_version(), root) << KeyVersionsText(info);
    }
    std::cerr << "[ e2e ] (b) " << ResealJobText(job) << ", root " << previous << " -> " << root
              << " at " << elapsed() << "\n";
    ASSERT_TRUE(load.Progressed());
  }

  // (c) Writer key rotation in two steps, then a rotation that re-authenticates.
  {
    ASSERT_TRUE(MakeKeyFile("writer-2.key"));
    ASSERT_TRUE(
        EditConfig("      1: " + keys_ + "writer-1.key\n",
                   "      1: " + keys_ + "writer-1.key\n      2: " + keys_ + "writer-2.key\n"));
    ASSERT_EQ(ReloadCredvaultd(), "");
    const std::size_t index = ledger.Add("load-c", "writer-check");
    v1::PutCredentialResponse response;
    std::string secret = "load-c/writer-check/" + RandomHex(12);
    ASSERT_TRUE(Put(*Backend(), PutRequest("load-c", "writer-check", secret), &response).ok());
    ledger.Record(index, response.credential().version(), secret);
    ASSERT_TRUE(EditConfig("  writer_keys:\n    current: 1\n", "  writer_keys:\n    current: 2\n"));
    ASSERT_EQ(ReloadCredvaultd(), "");
    secret = "load-c/writer-check/" + RandomHex(12);
    ASSERT_TRUE(Put(*Backend(), PutRequest("load-c", "writer-check", secret), &response).ok());
    ledger.Record(index, response.credential().version(), secret);
    EXPECT_EQ(SuperuserQuery(*stack_,
                             "SELECT string_agg(version || ':' || writer_key_version, ',' ORDER BY "
                             "version) FROM credentials WHERE org_id = 'load-c' AND name = "
                             "'writer-check'"),
              "1:1,2:2")
        << "envelopes are authenticated with the current writer key";
    // A secret put under writer key 1 still compares (its envelope verifies with key 1).
    const Ledger::Credential seeded = ledger.Get(0);
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

    v1::RotateOrgKeyResponse rotated;
    const Outcome rotation = RotateOrgKey(*admin, "load-b", "", &rotated);
    ASSERT_TRUE(rotation.ok()) << rotation;
    const std::uint32_t to = rotated.org().current_key_version();
    const v1::ResealJob job =
        WaitForResealJob(*admin, "load-b", rotated.reseal_job().job_id(), kJobDeadline);
    ASSERT_EQ(job.state(), v1::RESEAL_JOB_STATE_SUCCEEDED) << ResealJobText(job);
    EXPECT_EQ(job.items_done(), job.items_total()) << ResealJobText(job);
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
    std::cerr << "[ e2e ] (c) writer key 2 current; " << ResealJobText(job) << " at " << elapsed()
              << "\n";
    ASSERT_TRUE(load.Progressed());
  }

  // (d) Seal key rotation: each credvaultd is replaced by one with the new configuration
  // while the load moves over, as in a rolling update.
  {
    ASSERT_TRUE(MakeKeyFile("seal-2.key"));
    const std::string previous_block =
        "  previous_seal_keys:\n    - provider: file\n      file: " + keys_ + "seal.key\n";
    ASSERT_TRUE(EditConfig("    file: " + keys_ + "seal.key\n",
                           "    file: " + keys_ + "seal-2.key\n" + previous_block));
    const pid_t first = stack_->pid;
    ASSERT_EQ(StartCredvaultd(), "");
    router.Switch(*stack_);
    ASSERT_TRUE(StopCredvaultd(first, SIGTERM));
    admin = Admin();

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

    // The old seal key leaves the configuration.
    ASSERT_TRUE(EditConfig(previous_block, ""));
    const pid_t second = stack_->pid;
    ASSERT_EQ(StartCredvaultd(), "");
    router.Switch(*stack_);
    ASSERT_TRUE(StopCredvaultd(second, SIGTERM));
    admin = Admin();

    // Everything still moves under the new seal key: another org key rotation.
    v1::RotateOrgKeyResponse rotated;
    const Outcome rotation = RotateOrgKey(*admin, "load-a", "", &rotated);
    ASSERT_TRUE(rotation.ok()) << rotation;
    const v1::ResealJob job =
        WaitForResealJob(*admin, "load-a", rotated.reseal_job().job_id(), kJobDeadline);
    ASSERT_EQ(job.state(), v1::RESEAL_JOB_STATE_SUCCEEDED) << ResealJobText(job);
    EXPECT_EQ(job.items_done(), job.items_total()) << ResealJobText(job);
    std::cerr << "[ e2e ] (d) seal key " << seal_key_id << ", " << roots
              << " root keys re-wrapped; " << ResealJobText(job) << " at " << elapsed() << "\n";
    ASSERT_TRUE(load.Progressed());
  }

  load.Stop();
  const std::vector<std::string> failures = load.failures();
  std::cerr << "[ e2e ] load: " << load.puts() << " puts, " << load.decrypts() << " decrypts, "
            << failures.size() << " failed, " << load.orgs_created().size() << " orgs created, at "
            << elapsed() << "\n";
  std::string listed;
  for (std::size_t i = 0; i < failures.size() && i < 30; ++i) listed += failures[i] + "\n";
  EXPECT_TRUE(failures.empty()) << failures.size() << " failed requests under load:\n" << listed;

  // Every version of every credential decrypts to what was put, the current one to the
  // last put.
  const std::vector<Ledger::Credential> credentials = ledger.Snapshot();
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
  listed.clear();
  for (std::size_t i = 0; i < wrong.size() && i < 30; ++i) listed += wrong[i] + "\n";
  EXPECT_TRUE(wrong.empty()) << wrong.size() << " of " << checked << " versions:\n" << listed;
  std::cerr << "[ e2e ] " << checked << " versions of " << credentials.size()
            << " credentials checked at " << elapsed() << "\n";

  // The audit chains.
  std::set<std::string> orgs = {"_system", "pin-before", "pin-after"};
  for (const Ledger::Credential& credential : credentials) orgs.insert(credential.org);
  for (const std::string& org : orgs) EXPECT_TRUE(AuditVerifies(*admin, org));
  EXPECT_EQ(AuditEventsWithAction(*admin, "load-a", "org.key_reseal").size(), 2u);
  EXPECT_EQ(AuditEventsWithAction(*admin, "load-b", "org.key_reseal").size(), 1u);
  EXPECT_FALSE(AuditEventsWithAction(*admin, "_system", "root.key_reseal").empty());
}

}  // namespace
}  // namespace credvault::e2e

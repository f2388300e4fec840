// Running credvaultd: the metrics page, policy reload on SIGHUP (good and bad files), a
// database outage and recovery, and a graceful drain on SIGTERM. The tests run in the
// order written; the outage and the drain come last.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/support/e2e_support.h"
#include "tests/e2e/support/superuser_sql.h"

namespace credvault::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

[[maybe_unused]] ::testing::Environment* const kStack =
    ::testing::AddGlobalTestEnvironment(new StackEnvironment("operations"));

class OperationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = CurrentStack();
    ASSERT_NE(stack_, nullptr);
    backend_ =
        std::make_unique<Clients>(TlsChannel(*stack_, stack_->write_addr, Caller::Cert("backend")));
  }

  std::unique_ptr<Clients> WriteAs(const std::string& cert) const {
    return std::make_unique<Clients>(TlsChannel(*stack_, stack_->write_addr, Caller::Cert(cert)));
  }

  // Holds the audit head of `org` (row lock) for `seconds` from a separate session, so that
  // calls that append to its chain wait inside the database; returns once it is held.
  std::unique_ptr<ChildProcess> HoldAuditHead(const std::string& org, int seconds) const {
    const std::string out = stack_->dir + "/" + org + ".lock.out";
    const std::string err = stack_->dir + "/" + org + ".lock.err";
    auto holder = ChildProcess::Start(
        {"/bin/sh", "-c",
         "printf '%s\\n' 'BEGIN;' \"SELECT 1 FROM audit_heads WHERE org_id = '" + org +
             "' FOR UPDATE;\" '\\echo locked' 'SELECT pg_sleep(" + std::to_string(seconds) +
             ");' 'COMMIT;' | " + SuperuserPsql(*stack_)},
        {"PATH=/usr/bin:/bin"}, out, err);
    if (holder == nullptr) {
      ADD_FAILURE() << "could not start psql";
      return nullptr;
    }
    if (!WaitFor([&] { return ReadFileOrEmpty(out).find("locked") != std::string::npos; },
                 std::chrono::seconds(10))) {
      ADD_FAILURE() << "the audit head of " << org << " was not locked: " << ReadFileOrEmpty(err);
      return nullptr;
    }
    return holder;
  }

  // How many log lines of the stack's credvaultd contain `text`.
  int LogCount(const std::string& text) const {
    const std::string log = ReadFileOrEmpty(stack_->dir + "/credvaultd.log");
    int count = 0;
    for (std::size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) {
      ++count;
    }
    return count;
  }

  const Stack* stack_ = nullptr;
  std::unique_ptr<Clients> backend_;
};

struct Sample {
  std::map<std::string, std::string> labels;
  double value = 0;
};

// The samples of one metric family on a Prometheus text page.
std::vector<Sample> Samples(const std::string& page, const std::string& metric) {
  std::vector<Sample> samples;
  std::istringstream in(page);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(metric + "{", 0) != 0 && line.rfind(metric + " ", 0) != 0) continue;
    Sample sample;
    const std::size_t close = line.find('}');
    const std::string labels =
        close == std::string::npos ? "" : line.substr(metric.size() + 1, close - metric.size());
    // name="value" pairs separated by commas; values here never hold quotes.
    for (std::size_t at = 0; at < labels.size();) {
      const std::size_t equals = labels.find("=\"", at);
      if (equals == std::string::npos) break;
      const std::size_t end = labels.find('"', equals + 2);
      if (end == std::string::npos) break;
      sample.labels[labels.substr(at, equals - at)] = labels.substr(equals + 2, end - equals - 2);
      at = end + 1;
      if (at < labels.size() && labels[at] == ',') ++at;
    }
    sample.value = std::stod(line.substr(line.rfind(' ') + 1));
    samples.push_back(sample);
  }
  return samples;
}

double RequestCount(const std::string& page, const std::string& method, const std::string& code) {
  for (const Sample& sample : Samples(page, "credvault_requests_total")) {
    if (sample.labels.count("method") && sample.labels.at("method") == method &&
        sample.labels.count("code") && sample.labels.at("code") == code) {
      return sample.value;
    }
  }
  return 0;
}

TEST_F(OperationsTest, MetricsCountRequestsWithoutTenantLabels) {
  const std::string org = "metrics-" + RandomHex(6);
  ASSERT_TRUE(Put(*backend_, PutRequest(org, "counted", "x")).ok());
  const double puts_before =
      RequestCount(HttpGet(stack_->metrics_addr, "/metrics"), "PutCredential", "ok");
  ASSERT_TRUE(Put(*backend_, PutRequest(org, "counted", "y")).ok());
  EXPECT_EQ(Describe(*backend_, org, "missing").code, grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Describe(*WriteAs("outsider"), org, "counted").code,
            grpc::StatusCode::PERMISSION_DENIED);

  const std::string page = HttpGet(stack_->metrics_addr, "/metrics");
  ASSERT_THAT(page, ::testing::StartsWith("HTTP/1."));
  EXPECT_THAT(page.substr(0, page.find('\n')), HasSubstr("200"));
  EXPECT_EQ(RequestCount(page, "PutCredential", "ok"), puts_before + 1);
  EXPECT_GE(RequestCount(page, "DescribeCredential", "not_found"), 1);
  EXPECT_GE(RequestCount(page, "DescribeCredential", "permission_denied"), 1);
  const std::vector<Sample> requests = Samples(page, "credvault_requests_total");
  ASSERT_FALSE(requests.empty());
  for (const Sample& sample : requests) {
    std::set<std::string> names;
    for (const auto& [name, value] : sample.labels) names.insert(name);
    EXPECT_EQ(names, (std::set<std::string>{"code", "method"}));
  }
  // No tenant or caller in any label of any metric.
  EXPECT_THAT(page, Not(HasSubstr(org)));
  EXPECT_THAT(page, Not(HasSubstr("spiffe://")));
  EXPECT_THAT(page, Not(HasSubstr("org_id=")));
  EXPECT_THAT(page, Not(HasSubstr("principal=")));
  EXPECT_THAT(page, HasSubstr("credvault_request_duration_seconds"));

  // Pool usage by role and state, and the audit append latency of the Puts above.
  const std::vector<Sample> pool = Samples(page, "credvault_db_pool_connections");
  ASSERT_FALSE(pool.empty());
  std::set<std::string> roles;
  for (const Sample& sample : pool) {
    std::set<std::string> names;
    for (const auto& [name, value] : sample.labels) names.insert(name);
    EXPECT_EQ(names, (std::set<std::string>{"role", "state"}));
    roles.insert(sample.labels.at("role"));
  }
  EXPECT_THAT(roles, ::testing::Contains("writer"));
  const std::vector<Sample> appends =
      Samples(page, "credvault_audit_append_duration_seconds_count");
  ASSERT_EQ(appends.size(), 1u);
  EXPECT_GE(appends[0].value, 2) << "the two Puts appended audit events";
  EXPECT_TRUE(appends[0].labels.empty());
}

TEST_F(OperationsTest, CoreDumpsAreOff) {
  // A core file of the decrypt tier would hold unwrapped root keys.
  const std::string limits = ReadFileOrEmpty("/proc/" + std::to_string(stack_->pid) + "/limits");
  ASSERT_FALSE(limits.empty()) << "credvaultd " << stack_->pid << " is not running";
  std::istringstream in(limits);
  std::string line;
  bool found = false;
  while (std::getline(in, line)) {
    if (line.rfind("Max core file size", 0) != 0) continue;
    found = true;
    std::istringstream fields(line.substr(std::string("Max core file size").size()));
    std::string soft;
    std::string hard;
    fields >> soft >> hard;
    EXPECT_EQ(soft, "0") << line;
    EXPECT_EQ(hard, "0") << line;
  }
  EXPECT_TRUE(found) << limits;
}

constexpr char kCnClientGrant[] =
    "  - id: \"cn:cn-client\"\n"
    "    roles: [writer]\n"
    "    orgs: [org-b]\n";
constexpr char kOutsiderGrant[] =
    "  - id: \"spiffe://credvault.test/outsider\"\n"
    "    roles: [writer]\n"
    "    orgs: [hup-org]\n";

TEST_F(OperationsTest, SighupReloadsThePolicy) {
  const std::string path = stack_->dir + "/policy.yaml";
  const std::string original = ReadFileOrEmpty(path);
  const std::size_t cn_grant = original.find(kCnClientGrant);
  ASSERT_NE(cn_grant, std::string::npos) << original;
  auto outsider = WriteAs("outsider");
  auto cn_client = WriteAs("cnclient");
  ASSERT_EQ(Put(*outsider, PutRequest("hup-org", "by-outsider", "x")).code,
            grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(Put(*cn_client, PutRequest("org-b", "by-cn", "x")).ok());

  // Grant the outsider, revoke cn-client.
  std::string edited = original;
  edited.erase(cn_grant, std::string(kCnClientGrant).size());
  edited.insert(cn_grant, kOutsiderGrant);
  const int reloads = LogCount("policy reloaded");
  WriteFileOrDie(path, edited);
  ASSERT_EQ(::kill(stack_->pid, SIGHUP), 0);
  EXPECT_TRUE(
      WaitFor([&] { return Put(*outsider, PutRequest("hup-org", "by-outsider", "x")).ok(); },
              std::chrono::seconds(10)))
      << "the new grant did not take effect";
  EXPECT_EQ(Put(*cn_client, PutRequest("org-b", "by-cn", "x")).code,
            grpc::StatusCode::PERMISSION_DENIED)
      << "the revoked grant still works";
  EXPECT_EQ(LogCount("policy reloaded"), reloads + 1);
  EXPECT_EQ(::kill(stack_->pid, 0), 0) << "the process restarted instead of reloading";

  // And back.
  WriteFileOrDie(path, original);
  ASSERT_EQ(::kill(stack_->pid, SIGHUP), 0);
  EXPECT_TRUE(WaitFor([&] { return Put(*cn_client, PutRequest("org-b", "by-cn", "x")).ok(); },
                      std::chrono::seconds(10)));
  EXPECT_EQ(Put(*outsider, PutRequest("hup-org", "by-outsider", "x")).code,
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(OperationsTest, BadPolicyOnSighupKeepsTheOldOne) {
  const std::string path = stack_->dir + "/policy.yaml";
  const std::string original = ReadFileOrEmpty(path);
  auto outsider = WriteAs("outsider");
  auto cn_client = WriteAs("cnclient");
  for (const std::string& broken :
       {std::string("principals:\n  - id: 42\n    roles: [emperor]\n    orgs: [\"*\"]\n"),
        std::string("principals: [unterminated\n"),
        original + kOutsiderGrant + "    unknown_key: true\n"}) {
    SCOPED_TRACE(broken);
    const int refusals = LogCount("policy reload refused");
    WriteFileOrDie(path, broken);
    ASSERT_EQ(::kill(stack_->pid, SIGHUP), 0);
    ASSERT_TRUE(WaitFor([&] { return LogCount("policy reload refused") > refusals; },
                        std::chrono::seconds(10)))
        << "no refusal logged";
    // The previous policy is in force: grants still work, nobody new is let in.
    EXPECT_TRUE(Put(*backend_, PutRequest("hup-org", "by-backend", "x")).ok());
    EXPECT_TRUE(Put(*cn_client, PutRequest("org-b", "by-cn", "x")).ok());
    EXPECT_EQ(Put(*outsider, PutRequest("hup-org", "by-outsider", "x")).code,
              grpc::StatusCode::PERMISSION_DENIED);
  }
  const int reloads = LogCount("policy reloaded");
  WriteFileOrDie(path, original);
  ASSERT_EQ(::kill(stack_->pid, SIGHUP), 0);
  EXPECT_TRUE(
      WaitFor([&] { return LogCount("policy reloaded") > reloads; }, std::chrono::seconds(10)));
}

// A tenant's auditor exports its org's log and verifies it offline against the audit
// signing public key, which OpenSSL derives here from the server's key file on its own,
// so neither the server nor credvault's code vouches for the key being checked against.
TEST_F(OperationsTest, AuditExportVerifiesOfflineAgainstTheServersPublicKey) {
  const std::string org = "offline-audit";
  for (const char* name : {"one", "two", "three"}) {
    const Outcome put = Put(*backend_, PutRequest(org, name, "value"));
    ASSERT_TRUE(put.ok()) << put;
  }
  const std::string pki = stack_->pki + "/";
  const std::string exported = stack_->dir + "/offline-audit.jsonl";
  CommandResult result =
      RunShell(ShellQuote(CREDVAULTCTL_PATH) + " --addr " + stack_->decrypt_addr + " --ca-file " +
               ShellQuote(pki + "ca.pem") + " --cert-file " + ShellQuote(pki + "auditor.pem") +
               " --key-file " + ShellQuote(pki + "auditor.key") + " audit export " + org +
               " --output " + ShellQuote(exported));
  ASSERT_EQ(result.exit_code, 0) << result.output;

  // Ed25519 public key from the 32-byte seed: wrap it as PKCS#8 DER for openssl.
  const std::string seed = stack_->dir + "/keys/audit-signing.key";
  ASSERT_EQ(ReadFileOrEmpty(seed).size(), 32u);
  const std::string public_key = stack_->dir + "/audit-signing.pub";
  result = RunShell(
      "{ printf '\\060\\056\\002\\001\\000\\060\\005\\006\\003\\053\\145\\160\\004\\042\\004\\040';"
      " cat " +
      ShellQuote(seed) +
      "; } | openssl pkey -inform DER -pubout -outform DER | tail -c 32 | od -An -v -tx1 |"
      " tr -d ' \\n' > " +
      ShellQuote(public_key));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  ASSERT_EQ(ReadFileOrEmpty(public_key).size(), 64u);

  // No address, no credentials: nothing to connect to, nor any need to.
  const auto verify = [&](const std::string& file) {
    return RunShell(ShellQuote(CREDVAULTCTL_PATH) + " audit verify --file " + ShellQuote(file) +
                    " --public-key " + ShellQuote(public_key) + " --json");
  };
  result = verify(exported);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("\"ok\":true"));
  EXPECT_THAT(result.output, HasSubstr("\"start_sequence\":\"1\""));
  EXPECT_THAT(result.output, HasSubstr("\"end_sequence\":\"4\"")) << "provision and three puts";
  EXPECT_THAT(result.output, HasSubstr("\"events_signed\":\"4\""));

  // The same export with one event's result rewritten.
  std::string tampered = ReadFileOrEmpty(exported);
  const std::size_t event =
      tampered.find("{\"event\":{\"org_id\":\"" + org + "\",\"sequence\":\"3\"");
  ASSERT_NE(event, std::string::npos) << tampered;
  const std::size_t field = tampered.find("\"result\":\"ok\"", event);
  ASSERT_NE(field, std::string::npos);
  tampered.replace(field, std::string("\"result\":\"ok\"").size(), "\"result\":\"not_found\"");
  const std::string tampered_file = stack_->dir + "/offline-audit-tampered.jsonl";
  WriteFileOrDie(tampered_file, tampered);
  result = verify(tampered_file);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("\"first_broken_sequence\":\"3\""));
  EXPECT_THAT(result.output, HasSubstr("AUDIT_VERIFICATION_FAILURE_HASH_MISMATCH"));
}

TEST_F(OperationsTest, DatabaseOutageIsUnavailableThenRecovers) {
  Clients worker(TlsChannel(*stack_, stack_->decrypt_addr, Caller::Cert("worker")));
  Clients admin(TlsChannel(*stack_, stack_->decrypt_addr, Caller::Cert("admin")));
  ASSERT_TRUE(Put(*backend_, PutRequest("outage", "before", "stored before")).ok());
  ASSERT_TRUE(Decrypt(worker, "outage", "before").ok());

  PostgresOutage outage(*stack_);
  ASSERT_EQ(outage.stopped().exit_code, 0) << outage.stopped().output;

  v1::PutCredentialRequest retried = PutRequest("outage", "during", "written after the outage");
  retried.set_idempotency_key("outage-put-1");
  const auto started = std::chrono::steady_clock::now();
  Outcome outcome = Put(*backend_, retried);
  EXPECT_EQ(outcome.code, grpc::StatusCode::UNAVAILABLE) << outcome;
  outcome = Describe(*backend_, "outage", "before");
  EXPECT_EQ(outcome.code, grpc::StatusCode::UNAVAILABLE) << outcome;
  outcome = Decrypt(worker, "outage", "before");
  EXPECT_EQ(outcome.code, grpc::StatusCode::UNAVAILABLE) << outcome;
  v1::DescribeOrgRequest describe;
  describe.set_org_id("outage");
  v1::DescribeOrgResponse described;
  outcome = Call(*admin.admin, &v1::AdminService::Stub::DescribeOrg, describe, &described);
  EXPECT_EQ(outcome.code, grpc::StatusCode::UNAVAILABLE) << outcome;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30))
      << "refusals while the database is down should be prompt";

  const CommandResult restarted = outage.Start();
  ASSERT_EQ(restarted.exit_code, 0) << restarted.output;
  const auto back = std::chrono::steady_clock::now();
  // Service resumes by itself: the same request, retried with its idempotency key.
  v1::PutCredentialResponse response;
  EXPECT_TRUE(WaitFor(
      [&] {
        response.Clear();
        return Put(*backend_, retried, &response).ok();
      },
      std::chrono::seconds(15)))
      << "no recovery after the database came back";
  std::cerr << "[ e2e ] service resumed "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - back)
                   .count()
            << " ms after the database\n";
  EXPECT_FALSE(response.idempotent_replay()) << "the refused Put must not have been stored";
  ASSERT_TRUE(Put(*backend_, retried, &response).ok());
  EXPECT_TRUE(response.idempotent_replay());
  std::string secret;
  EXPECT_TRUE(WaitFor([&] { return Decrypt(worker, "outage", "before", &secret).ok(); },
                      std::chrono::seconds(15)));
  EXPECT_EQ(secret, "stored before");
  EXPECT_TRUE(WaitFor(
      [&] {
        return Call(*admin.admin, &v1::AdminService::Stub::DescribeOrg, describe, &described).ok();
      },
      std::chrono::seconds(15)));
}

// SIGTERM while requests are in flight: calls held up in the database (a superuser session
// holds the org's audit head lock) complete once it is released, calls that arrive after
// the signal are refused without effect, and the process exits 0 within the drain timeout.
// Fail closed on the group-committed path: a Decrypt whose audit event cannot commit
// before its deadline returns no secret, and leaves no "ok" event behind.
TEST_F(OperationsTest, DecryptReleasesNothingWhenItsAuditEventCannotCommit) {
  Clients worker(TlsChannel(*stack_, stack_->decrypt_addr, Caller::Cert("worker")));
  Clients admin(TlsChannel(*stack_, stack_->decrypt_addr, Caller::Cert("admin")));
  ASSERT_TRUE(Put(*backend_, PutRequest("held-audit", "token", "must stay inside")).ok());
  // The first Decrypt unseals the org key on the transactional path; later ones take the
  // common case, whose event is group-committed.
  std::string secret;
  ASSERT_TRUE(Decrypt(worker, "held-audit", "token", &secret).ok());
  ASSERT_EQ(secret, "must stay inside");
  const std::size_t events_before = AuditEvents(admin, "held-audit").size();

  const std::unique_ptr<ChildProcess> holder = HoldAuditHead("held-audit", 4);
  ASSERT_NE(holder, nullptr);

  v1::DecryptCredentialRequest request;
  request.set_org_id("held-audit");
  request.set_name("token");
  request.set_purpose("e2e test: held audit head");
  v1::DecryptCredentialResponse response;
  const Outcome held = Call(*worker.access, &v1::CredentialAccessService::Stub::DecryptCredential,
                            request, &response, /*seconds=*/2);
  EXPECT_TRUE(held.code == grpc::StatusCode::DEADLINE_EXCEEDED ||
              held.code == grpc::StatusCode::UNAVAILABLE)
      << held;
  EXPECT_TRUE(response.secret().empty());

  // Once the head is free again, Decrypt works and the held one left no event.
  ASSERT_TRUE(WaitFor([&] { return Decrypt(worker, "held-audit", "token", &secret).ok(); },
                      std::chrono::seconds(15)));
  EXPECT_EQ(secret, "must stay inside");
  std::size_t held_events = 0;
  const std::vector<v1::AuditEvent> events = AuditEvents(admin, "held-audit");
  for (const v1::AuditEvent& event : events) {
    if (event.details().find("held audit head") != std::string::npos) ++held_events;
  }
  EXPECT_EQ(held_events, 0u);
  EXPECT_EQ(events.size(), events_before + 1);
}

TEST_F(OperationsTest, SigtermDrainsInFlightRequests) {
  // A credvaultd of our own (same configuration, fresh ports), so that its exit status can
  // be read.
  std::vector<std::string> environment = {"PATH=/usr/bin:/bin"};
  for (const auto& [name, value] : stack_->secrets) environment.push_back(name + "=" + value);
  const std::string ready = stack_->dir + "/drain.ready.json";
  const std::string log = stack_->dir + "/drain.log";
  auto server = ChildProcess::Start(
      {CREDVAULTD_PATH, "serve", "--config=" + stack_->config, "--ready-file=" + ready},
      environment, stack_->dir + "/drain.out", log);
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(WaitFor([&] { return !ReadFileOrEmpty(ready).empty() || !server->running(); },
                      std::chrono::seconds(30)));
  ASSERT_TRUE(server->running()) << ReadFileOrEmpty(log);
  const std::string ready_json = ReadFileOrEmpty(ready);
  const int decrypt_port = JsonInteger(ready_json, "decrypt");
  const int write_port = JsonInteger(ready_json, "write");
  ASSERT_GT(decrypt_port, 0) << ready_json;
  ASSERT_GT(write_port, 0) << ready_json;
  const std::string decrypt_addr = "127.0.0.1:" + std::to_string(decrypt_port);
  const std::string write_addr = "127.0.0.1:" + std::to_string(write_port);
  {
    Clients seed(TlsChannel(*stack_, write_addr, Caller::Cert("backend")));
    ASSERT_TRUE(Put(seed, PutRequest("drain", "read-me", "drained")).ok());
    ASSERT_TRUE(Put(seed, PutRequest("drain-burst", "seed", "x")).ok());
  }

  struct Result {
    Outcome outcome;
    std::chrono::steady_clock::time_point start, end;
    std::string org, name;  // of a Put
  };
  std::mutex mutex;
  std::vector<Result> results;
  const auto record = [&](const Result& result) {
    std::lock_guard<std::mutex> lock(mutex);
    results.push_back(result);
  };

  // Hold the audit head of org "drain" so that its calls wait inside the server.
  const std::unique_ptr<ChildProcess> holder = HoldAuditHead("drain", 2);
  ASSERT_NE(holder, nullptr);
  std::vector<std::thread> slow;
  for (int t = 0; t < 4; ++t) {
    slow.emplace_back([&, t] {
      const bool decrypts = t >= 2;
      Clients clients(TlsChannel(*stack_, decrypts ? decrypt_addr : write_addr,
                                 Caller::Cert(decrypts ? "worker" : "backend")));
      Result result;
      result.start = std::chrono::steady_clock::now();
      if (decrypts) {
        result.outcome = Decrypt(clients, "drain", "read-me");
      } else {
        result.org = "drain";
        result.name = "slow/" + std::to_string(t);
        result.outcome = Put(clients, PutRequest("drain", result.name, "held up"));
      }
      result.end = std::chrono::steady_clock::now();
      record(result);
    });
  }
  // Wait until the four calls are waiting for the lock inside the database.
  const bool waiting = WaitFor(
      [&] {
        const CommandResult count = RunShell(
            SuperuserPsql(*stack_) +
            " -tAc \"SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'\"");
        return count.exit_code == 0 && std::atoi(count.output.c_str()) >= 4;
      },
      std::chrono::seconds(10));
  EXPECT_TRUE(waiting) << "the slow calls did not reach the database";

  // A burst on other connections, running through the signal.
  std::atomic<bool> stop{false};
  std::atomic<int> completed{0};
  std::vector<std::thread> burst;
  for (int t = 0; t < 4; ++t) {
    burst.emplace_back([&, t] {
      Clients clients(TlsChannel(*stack_, write_addr, Caller::Cert("backend")));
      for (int i = 0; !stop; ++i) {
        Result result;
        result.org = "drain-burst";
        result.name = "burst/" + std::to_string(t) + "/" + std::to_string(i);
        result.start = std::chrono::steady_clock::now();
        result.outcome = Put(clients, PutRequest(result.org, result.name, std::string(4096, 's')));
        result.end = std::chrono::steady_clock::now();
        ++completed;
        record(result);
        if (!result.outcome.ok()) break;  // refused: the server is going away
      }
    });
  }
  WaitFor([&] { return completed >= 20; }, std::chrono::seconds(30));

  const auto signalled = std::chrono::steady_clock::now();
  server->Signal(SIGTERM);
  // shutdown.drain_timeout is 5s in the dev configuration.
  const std::optional<int> status = server->Wait(std::chrono::seconds(12));
  const auto exited = std::chrono::steady_clock::now();
  stop = true;
  for (std::thread& thread : slow) thread.join();
  for (std::thread& thread : burst) thread.join();
  holder->Wait(std::chrono::seconds(10));

  ASSERT_TRUE(status.has_value()) << "credvaultd did not exit after SIGTERM";
  EXPECT_EQ(*status, 0) << ReadFileOrEmpty(log);
  EXPECT_LT(exited - signalled, std::chrono::seconds(7));
  const std::string server_log = ReadFileOrEmpty(log);
  EXPECT_THAT(server_log, HasSubstr("draining"));
  EXPECT_THAT(server_log, HasSubstr("stopped"));

  const auto since_signal = [&](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t - signalled).count();
  };
  int ok = 0, refused = 0;
  for (const Result& result : results) {
    const std::string what = (result.name.empty() ? std::string("Decrypt") : "Put " + result.name) +
                             " (" + std::to_string(since_signal(result.start)) + " to " +
                             std::to_string(since_signal(result.end)) + " ms after SIGTERM)";
    const bool stored = !result.name.empty() && Describe(*backend_, result.org, result.name).ok();
    if (result.org != "drain-burst") {
      // Held up in the database when the signal came: drained, i.e. completed.
      EXPECT_TRUE(result.outcome.ok()) << what << ": " << result.outcome;
      EXPECT_GT(result.end, signalled) << what << " was not in flight at SIGTERM";
      if (!result.name.empty()) {
        EXPECT_TRUE(stored) << what;
      }
      continue;
    }
    if (result.outcome.ok()) {
      ++ok;
      EXPECT_TRUE(stored) << what << " answered OK but is not stored";
    } else {
      ++refused;
      // Refused cleanly: UNAVAILABLE (or CANCELLED for a call that reached a server that
      // was already shutting down), and nothing stored.
      EXPECT_TRUE(result.outcome.code == grpc::StatusCode::UNAVAILABLE ||
                  result.outcome.code == grpc::StatusCode::CANCELLED)
          << what << ": " << result.outcome;
      EXPECT_FALSE(stored) << what << " was refused with " << result.outcome << " but is stored";
    }
  }
  std::cerr << "[ e2e ] drain: " << results.size() << " calls (" << ok << " ok, " << refused
            << " refused), exit " << since_signal(exited) << " ms after SIGTERM\n";
  EXPECT_EQ(std::count_if(results.begin(), results.end(),
                          [](const Result& r) { return r.org != "drain-burst"; }),
            4);
}

}  // namespace
}  // namespace credvault::e2e

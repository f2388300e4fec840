// The plaintext health listener (listeners.health), as the kubelet's gRPC probes use it:
// grpc.health.v1.Health answers over a channel without TLS, nothing else is served there
// (no credvault service, whatever credential comes along, and no reflection), readiness
// follows the database while liveness does not, SIGTERM turns it NOT_SERVING until the
// process exits, and it never shares a port with another listener.
#include <signal.h>
#include <unistd.h>

#include <thread>

#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/e2e/support/e2e_support.h"
#include "tests/e2e/support/superuser_sql.h"

namespace credvault::e2e {
namespace {

using ::testing::HasSubstr;
namespace health = ::grpc::health::v1;
namespace reflection = ::grpc::reflection::v1alpha;

[[maybe_unused]] ::testing::Environment* const kStack =
    ::testing::AddGlobalTestEnvironment(new StackEnvironment("health"));

constexpr char kCredentialService[] = "credvault.v1.CredentialService";
constexpr char kAccessService[] = "credvault.v1.CredentialAccessService";
constexpr char kAdminService[] = "credvault.v1.AdminService";

// The status a Health.Check call returned: SERVING, NOT_SERVING, or the call's error code.
std::string CheckStatus(const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
                        int seconds = 5) {
  std::unique_ptr<health::Health::Stub> stub = health::Health::NewStub(channel);
  health::HealthCheckRequest request;
  request.set_service(service);
  health::HealthCheckResponse response;
  std::unique_ptr<grpc::ClientContext> context = Context(seconds);
  const grpc::Status status = stub->Check(context.get(), request, &response);
  if (!status.ok()) return CodeName(status.error_code());
  return health::HealthCheckResponse::ServingStatus_Name(response.status());
}

// The environment of a credvaultd of our own: the stack's database passwords.
std::vector<std::string> ServerEnvironment(const Stack& stack) {
  std::vector<std::string> environment = {"PATH=/usr/bin:/bin"};
  for (const auto& [name, value] : stack.secrets) environment.push_back(name + "=" + value);
  return environment;
}

class HealthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = CurrentStack();
    ASSERT_NE(stack_, nullptr);
    health_addr_ = stack_->env.count("CREDVAULT_HEALTH_ADDR") != 0
                       ? stack_->env.at("CREDVAULT_HEALTH_ADDR")
                       : std::string();
    ASSERT_FALSE(health_addr_.empty())
        << "no CREDVAULT_HEALTH_ADDR in " << stack_->dir << "/stack.env";
    plain_ = InsecureChannel(health_addr_);
  }

  // Waits until `service` reports `expected` on `channel`; false on a timeout.
  static bool WaitForStatus(const std::shared_ptr<grpc::Channel>& channel,
                            const std::string& service, const std::string& expected,
                            std::chrono::seconds timeout = std::chrono::seconds(20)) {
    return WaitFor([&] { return CheckStatus(channel, service) == expected; }, timeout);
  }

  const Stack* stack_ = nullptr;
  std::string health_addr_;
  std::shared_ptr<grpc::Channel> plain_;
};

TEST_F(HealthTest, PlaintextChecksReportTheProcessAndEachServedService) {
  EXPECT_EQ(CheckStatus(plain_, ""), "SERVING");
  // The database roles are checked shortly after start.
  EXPECT_TRUE(WaitForStatus(plain_, "readiness", "SERVING")) << CheckStatus(plain_, "readiness");
  for (const char* service : {kCredentialService, kAccessService, kAdminService}) {
    EXPECT_EQ(CheckStatus(plain_, service), "SERVING") << service;
  }
  EXPECT_EQ(CheckStatus(plain_, "credvault.v1.NoSuchService"), "NOT_FOUND");

  // Watch sends the current status first, as a client-side health checker expects.
  std::unique_ptr<health::Health::Stub> stub = health::Health::NewStub(plain_);
  health::HealthCheckRequest request;
  request.set_service("readiness");
  std::unique_ptr<grpc::ClientContext> context = Context(5);
  std::unique_ptr<grpc::ClientReader<health::HealthCheckResponse>> watch =
      stub->Watch(context.get(), request);
  health::HealthCheckResponse first;
  ASSERT_TRUE(watch->Read(&first));
  EXPECT_EQ(first.status(), health::HealthCheckResponse::SERVING);
  context->TryCancel();
  watch->Finish();

  // The TLS listeners report the same names, and still refuse plaintext.
  EXPECT_EQ(
      CheckStatus(TlsChannel(*stack_, stack_->write_addr, Caller::Cert("backend")), "readiness"),
      "SERVING");
  EXPECT_EQ(CheckStatus(TlsChannel(*stack_, stack_->decrypt_addr, Caller::Cert("worker")),
                        kAccessService),
            "SERVING");
  EXPECT_EQ(CheckStatus(InsecureChannel(stack_->write_addr), "", 3), "UNAVAILABLE");
}

TEST_F(HealthTest, NothingButHealthIsServedInPlaintext) {
  const std::string org = "health-" + RandomHex(4);
  Clients on_health(plain_);
  // With the admin's bearer token too: the health listener reads no credential at all.
  for (const bool with_token : {false, true}) {
    SCOPED_TRACE(with_token ? "with a bearer token" : "anonymous");
    const auto call_context = [&] {
      std::unique_ptr<grpc::ClientContext> context = Context(5);
      if (with_token) context->AddMetadata("authorization", "Bearer " + stack_->Token("admin"));
      return context;
    };
    v1::PutCredentialRequest put = PutRequest(org, "never-stored", "plaintext secret");
    v1::PutCredentialResponse put_response;
    std::unique_ptr<grpc::ClientContext> context = call_context();
    EXPECT_EQ(on_health.credentials->PutCredential(context.get(), put, &put_response).error_code(),
              grpc::StatusCode::UNIMPLEMENTED);

    v1::DecryptCredentialRequest decrypt;
    decrypt.set_org_id(org);
    decrypt.set_name("never-stored");
    decrypt.set_purpose("health test");
    v1::DecryptCredentialResponse decrypt_response;
    context = call_context();
    EXPECT_EQ(
        on_health.access->DecryptCredential(context.get(), decrypt, &decrypt_response).error_code(),
        grpc::StatusCode::UNIMPLEMENTED);

    v1::DescribeOrgRequest describe;
    describe.set_org_id(org);
    v1::DescribeOrgResponse describe_response;
    context = call_context();
    EXPECT_EQ(
        on_health.admin->DescribeOrg(context.get(), describe, &describe_response).error_code(),
        grpc::StatusCode::UNIMPLEMENTED);
  }

  // No server reflection: the port describes nothing.
  std::unique_ptr<reflection::ServerReflection::Stub> stub =
      reflection::ServerReflection::NewStub(plain_);
  std::unique_ptr<grpc::ClientContext> context = Context(5);
  auto stream = stub->ServerReflectionInfo(context.get());
  reflection::ServerReflectionRequest list;
  list.set_list_services("*");
  stream->Write(list);
  stream->WritesDone();
  reflection::ServerReflectionResponse response;
  EXPECT_FALSE(stream->Read(&response)) << response.DebugString();
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNIMPLEMENTED);

  // The same reflection request on the TLS write listener answers, so the one above could.
  std::unique_ptr<reflection::ServerReflection::Stub> tls_stub =
      reflection::ServerReflection::NewStub(
          TlsChannel(*stack_, stack_->write_addr, Caller::Cert("backend")));
  std::unique_ptr<grpc::ClientContext> tls_context = Context(5);
  auto tls_stream = tls_stub->ServerReflectionInfo(tls_context.get());
  tls_stream->Write(list);
  tls_stream->WritesDone();
  EXPECT_TRUE(tls_stream->Read(&response));
  EXPECT_TRUE(response.has_list_services_response());
  while (tls_stream->Read(&response)) {
  }
  EXPECT_TRUE(tls_stream->Finish().ok());

  // Nothing was stored by the calls above.
  Clients backend(TlsChannel(*stack_, stack_->write_addr, Caller::Cert("backend")));
  EXPECT_EQ(Describe(backend, org, "never-stored").code, grpc::StatusCode::NOT_FOUND);
}

// Liveness ("") stays SERVING through a database outage, because restarting the process
// would not bring the database back; readiness and the services' own names do not.
TEST_F(HealthTest, ReadinessFollowsTheDatabaseAndLivenessDoesNot) {
  ASSERT_TRUE(WaitForStatus(plain_, "readiness", "SERVING"));
  PostgresOutage outage(*stack_);
  ASSERT_EQ(outage.stopped().exit_code, 0) << outage.stopped().output;

  EXPECT_TRUE(WaitForStatus(plain_, "readiness", "NOT_SERVING"))
      << "readiness did not notice the database outage: " << CheckStatus(plain_, "readiness");
  for (const char* service : {kCredentialService, kAccessService, kAdminService}) {
    EXPECT_TRUE(WaitForStatus(plain_, service, "NOT_SERVING")) << service;
  }
  EXPECT_EQ(CheckStatus(plain_, ""), "SERVING") << "liveness must not follow the database";
  EXPECT_THAT(stack_->Log(), HasSubstr("health: not serving"));

  const CommandResult restarted = outage.Start();
  ASSERT_EQ(restarted.exit_code, 0) << restarted.output;
  EXPECT_TRUE(WaitForStatus(plain_, "readiness", "SERVING"))
      << "readiness did not recover: " << CheckStatus(plain_, "readiness");
  for (const char* service : {kCredentialService, kAccessService, kAdminService}) {
    EXPECT_EQ(CheckStatus(plain_, service), "SERVING") << service;
  }
  EXPECT_EQ(CheckStatus(plain_, ""), "SERVING");
}

// After SIGTERM every name is NOT_SERVING while calls in flight drain, then the port closes
// and the process exits 0.
TEST_F(HealthTest, SigtermTurnsEveryNameNotServingUntilExit) {
  const std::string ready = stack_->dir + "/health-drain.ready.json";
  const std::string log = stack_->dir + "/health-drain.log";
  auto server = ChildProcess::Start(
      {CREDVAULTD_PATH, "serve", "--config=" + stack_->config, "--ready-file=" + ready},
      ServerEnvironment(*stack_), stack_->dir + "/health-drain.out", log);
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(WaitFor([&] { return !ReadFileOrEmpty(ready).empty() || !server->running(); },
                      std::chrono::seconds(30)));
  ASSERT_TRUE(server->running()) << ReadFileOrEmpty(log);
  const std::string ready_json = ReadFileOrEmpty(ready);
  const int health_port = JsonInteger(ready_json, "health");
  const int write_port = JsonInteger(ready_json, "write");
  ASSERT_GT(health_port, 0) << ready_json;
  ASSERT_GT(write_port, 0) << ready_json;
  const std::string write_addr = "127.0.0.1:" + std::to_string(write_port);
  const std::shared_ptr<grpc::Channel> plain =
      InsecureChannel("127.0.0.1:" + std::to_string(health_port));
  EXPECT_EQ(CheckStatus(plain, ""), "SERVING");
  ASSERT_TRUE(WaitForStatus(plain, "readiness", "SERVING"));

  // A Put held up in the database keeps the drain going: a superuser session holds the
  // org's audit head for three seconds.
  const std::string org = "health-drain-" + RandomHex(4);
  Clients backend(TlsChannel(*stack_, write_addr, Caller::Cert("backend")));
  ASSERT_TRUE(Put(backend, PutRequest(org, "seed", "x")).ok());
  const std::string holder_out = stack_->dir + "/health-drain.lock.out";
  auto holder = ChildProcess::Start(
      {"/bin/sh", "-c",
       "printf '%s\\n' 'BEGIN;' \"SELECT 1 FROM audit_heads WHERE org_id = '" + org +
           "' FOR UPDATE;\" '\\echo locked' 'SELECT pg_sleep(3);' 'COMMIT;' | " +
           SuperuserPsql(*stack_)},
      {"PATH=/usr/bin:/bin"}, holder_out, stack_->dir + "/health-drain.lock.err");
  ASSERT_NE(holder, nullptr);
  ASSERT_TRUE(
      WaitFor([&] { return ReadFileOrEmpty(holder_out).find("locked") != std::string::npos; },
              std::chrono::seconds(10)))
      << ReadFileOrEmpty(stack_->dir + "/health-drain.lock.err");
  Outcome slow;
  std::thread in_flight([&] { slow = Put(backend, PutRequest(org, "held-up", "y")); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let it reach the database

  server->Signal(SIGTERM);
  std::map<std::string, std::string> draining;
  EXPECT_TRUE(WaitFor(
      [&] {
        for (const std::string service : {"", "readiness", kCredentialService}) {
          draining[service] = CheckStatus(plain, service, 1);
        }
        return draining[""] == "NOT_SERVING" && draining["readiness"] == "NOT_SERVING" &&
               draining[kCredentialService] == "NOT_SERVING";
      },
      std::chrono::seconds(3)))
      << "while draining: \"\" " << draining[""] << ", readiness " << draining["readiness"];
  EXPECT_TRUE(server->running()) << "the process exited before the call in flight finished";

  const std::optional<int> status = server->Wait(std::chrono::seconds(12));
  in_flight.join();
  holder->Wait(std::chrono::seconds(10));
  ASSERT_TRUE(status.has_value()) << "credvaultd did not exit after SIGTERM";
  EXPECT_EQ(*status, 0) << ReadFileOrEmpty(log);
  EXPECT_TRUE(slow.ok()) << "the call in flight was not drained: " << slow;
  // Gone with the process: a probe now fails to connect.
  EXPECT_EQ(CheckStatus(plain, "", 2), "UNAVAILABLE");
}

TEST_F(HealthTest, HealthListenerNeverSharesAnAddress) {
  // In the configuration: refused before anything starts.
  const std::string out = stack_->dir + "/health-clash.out";
  const std::string err = stack_->dir + "/health-clash.err";
  auto refused =
      ChildProcess::Start({CREDVAULTD_PATH, "serve", "--config=" + stack_->config,
                           "--write-address=127.0.0.1:7999", "--health-address=127.0.0.1:7999"},
                          ServerEnvironment(*stack_), out, err);
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(refused->Wait(std::chrono::seconds(30)), std::optional<int>(2));
  EXPECT_THAT(ReadFileOrEmpty(err),
              HasSubstr("listeners.health.address: same address as listeners.write.address"));

  // At run time: the port of the stack's write listener is taken by another process, and
  // the health listener does not share it (no SO_REUSEPORT) but stops the start.
  const std::string taken_err = stack_->dir + "/health-taken.err";
  auto taken =
      ChildProcess::Start({CREDVAULTD_PATH, "serve", "--config=" + stack_->config,
                           "--health-address=" + stack_->write_addr},
                          ServerEnvironment(*stack_), stack_->dir + "/health-taken.out", taken_err);
  ASSERT_NE(taken, nullptr);
  EXPECT_EQ(taken->Wait(std::chrono::seconds(30)), std::optional<int>(2));
  EXPECT_THAT(ReadFileOrEmpty(taken_err),
              HasSubstr("listeners.health: cannot listen on " + stack_->write_addr));
  // The stack's own server is untouched.
  Clients backend(TlsChannel(*stack_, stack_->write_addr, Caller::Cert("backend")));
  EXPECT_TRUE(Put(backend, PutRequest("health-clash", "still-served", "x")).ok());
}

}  // namespace
}  // namespace credvault::e2e

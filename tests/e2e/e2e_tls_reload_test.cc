// TLS certificates are re-read while credvaultd runs (server/api/tls_reloader.h): a renewed
// server certificate serves new connections without a restart while a long-lived channel
// keeps working, its expiry metric follows, and a broken replacement (garbage, or a key
// that does not match) is refused with a warning while the previous one keeps serving.
// Also the Kubernetes shutdown sequence: after SIGTERM, shutdown.pre_stop_delay of serving
// with readiness NOT_SERVING before the listeners close.
//
// Each test runs a credvaultd of its own on the stack's database, with the stack's
// configuration pointed at a copy of the dev PKI's server certificate that it may replace.
#include <signal.h>

#include <atomic>
#include <cstdint>
#include <sstream>
#include <thread>

#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/e2e/support/e2e_support.h"

namespace credvault::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace health = ::grpc::health::v1;

[[maybe_unused]] ::testing::Environment* const kStack =
    ::testing::AddGlobalTestEnvironment(new StackEnvironment("tls_reload"));

constexpr char kMetric[] = "credvault_tls_certificate_expiry_timestamp_seconds";
constexpr char kRefused[] = "tls certificate reload refused";

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  std::size_t at = 0;
  int replaced = 0;
  while ((at = text.find(from, at)) != std::string::npos) {
    text.replace(at, from.size(), to);
    at += to.size();
    ++replaced;
  }
  EXPECT_GT(replaced, 0) << "not in the stack configuration: " << from;
  return text;
}

// `openssl ...` in `dir`; its output, with the test failing if it did.
std::string OpenSsl(const std::string& dir, const std::string& arguments) {
  const CommandResult result = RunShell("cd " + ShellQuote(dir) + " && openssl " + arguments);
  EXPECT_EQ(result.exit_code, 0) << "openssl " << arguments << ":\n" << result.output;
  return result.output;
}

// The serial (hex, as OpenSSL prints it) of a PEM certificate file.
std::string SerialOfFile(const std::string& dir, const std::string& pem) {
  const std::string out = OpenSsl(dir, "x509 -noout -serial -in " + ShellQuote(pem));
  const std::size_t equals = out.find('=');
  return equals == std::string::npos ? "" : out.substr(equals + 1, out.find('\n') - equals - 1);
}

// The notAfter of a PEM certificate file, in Unix seconds.
std::int64_t NotAfterOfFile(const std::string& dir, const std::string& pem) {
  const CommandResult result = RunShell("cd " + ShellQuote(dir) +
                                        " && date -u +%s -d \"$(openssl x509 -noout -enddate -in " +
                                        ShellQuote(pem) + " | cut -d= -f2)\"");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  return std::atoll(result.output.c_str());
}

// The serial of the certificate a new TLS connection to `address` is shown, or "".
std::string SerialOnTheWire(const std::string& pki, const std::string& address) {
  const CommandResult result = RunShell(
      "openssl s_client -connect " + ShellQuote(address) + " -servername localhost -alpn h2 " +
      "-CAfile " + ShellQuote(pki + "/ca.pem") + " -verify_return_error </dev/null 2>/dev/null" +
      " | openssl x509 -noout -serial 2>/dev/null");
  const std::size_t equals = result.output.find('=');
  if (result.exit_code != 0 || equals == std::string::npos) return "";
  return result.output.substr(equals + 1, result.output.find('\n') - equals - 1);
}

// The value of the expiry gauge for `listener` and `kind` on the metrics page, or -1.
std::int64_t ExpiryMetric(const std::string& metrics_address, const std::string& listener,
                          const std::string& kind) {
  std::istringstream page(HttpGet(metrics_address, "/metrics"));
  std::string line;
  while (std::getline(page, line)) {
    if (line.rfind(kMetric, 0) != 0) continue;
    if (line.find("listener=\"" + listener + "\"") == std::string::npos) continue;
    if (line.find("kind=\"" + kind + "\"") == std::string::npos) continue;
    return static_cast<std::int64_t>(std::stod(line.substr(line.rfind(' ') + 1)));
  }
  return -1;
}

std::string CheckHealth(const std::string& address, const std::string& service) {
  std::unique_ptr<health::Health::Stub> stub = health::Health::NewStub(InsecureChannel(address));
  health::HealthCheckRequest request;
  request.set_service(service);
  health::HealthCheckResponse response;
  std::unique_ptr<grpc::ClientContext> context = Context(2);
  const grpc::Status status = stub->Check(context.get(), request, &response);
  if (!status.ok()) return CodeName(status.error_code());
  return health::HealthCheckResponse::ServingStatus_Name(response.status());
}

// A Put with wait-for-ready, as a long-lived client should send it (docs/api.md,
// "Reconnecting").
Outcome PutWaitingForReady(Clients& clients, const v1::PutCredentialRequest& request) {
  std::unique_ptr<grpc::ClientContext> context = Context(10);
  context->set_wait_for_ready(true);
  v1::PutCredentialResponse response;
  const grpc::Status status = clients.credentials->PutCredential(context.get(), request, &response);
  return Outcome{status.error_code(), status.error_message(), ErrorReason(*context)};
}

class TlsReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = CurrentStack();
    ASSERT_NE(stack_, nullptr);
    dir_ = stack_->dir + "/" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    ASSERT_EQ(RunShell("mkdir -p " + ShellQuote(dir_) + " && cp " +
                       ShellQuote(stack_->pki + "/server.pem") + " " +
                       ShellQuote(stack_->pki + "/server.key") + " " + ShellQuote(dir_))
                  .exit_code,
              0);
  }

  void TearDown() override {
    if (server_ && server_->running()) {
      server_->Signal(SIGTERM);
      server_->Wait(std::chrono::seconds(20));
    }
  }

  // Starts credvaultd with the stack's configuration, its listeners' certificate and key
  // taken from dir_, re-read every second, and `shutdown_extra` under shutdown:.
  void StartServer(const std::string& shutdown_extra = "") {
    std::string config = ReadFileOrEmpty(stack_->config);
    config = Replace(config, "cert_file: " + stack_->pki + "/server.pem",
                     "cert_file: " + dir_ + "/server.pem");
    config = Replace(config, "key_file: " + stack_->pki + "/server.key",
                     "key_file: " + dir_ + "/server.key");
    config = Replace(config, "      require_client_cert: false\n",
                     "      require_client_cert: false\n      reload_interval: 1s\n");
    if (!shutdown_extra.empty()) {
      config = Replace(config, "shutdown:\n", "shutdown:\n" + shutdown_extra);
    }
    const std::string config_path = dir_ + "/credvaultd.yaml";
    WriteFileOrDie(config_path, config);
    const std::string ready = dir_ + "/ready.json";
    log_path_ = dir_ + "/credvaultd.log";
    std::vector<std::string> environment = {"PATH=/usr/bin:/bin"};
    for (const auto& [key, value] : stack_->secrets) environment.push_back(key + "=" + value);
    server_ = ChildProcess::Start(
        {CREDVAULTD_PATH, "serve", "--config=" + config_path, "--ready-file=" + ready}, environment,
        dir_ + "/credvaultd.out", log_path_);
    ASSERT_NE(server_, nullptr);
    ASSERT_TRUE(WaitFor([&] { return !ReadFileOrEmpty(ready).empty() || !server_->running(); },
                        std::chrono::seconds(30)));
    ASSERT_TRUE(server_->running()) << Log();
    const std::string ready_json = ReadFileOrEmpty(ready);
    write_addr_ = "127.0.0.1:" + std::to_string(JsonInteger(ready_json, "write"));
    decrypt_addr_ = "127.0.0.1:" + std::to_string(JsonInteger(ready_json, "decrypt"));
    health_addr_ = "127.0.0.1:" + std::to_string(JsonInteger(ready_json, "health"));
    metrics_addr_ = "127.0.0.1:" + std::to_string(JsonInteger(ready_json, "metrics"));
    ASSERT_GT(JsonInteger(ready_json, "write"), 0) << ready_json;
    ASSERT_GT(JsonInteger(ready_json, "metrics"), 0) << ready_json;
  }

  std::string Log() const { return ReadFileOrEmpty(log_path_); }
  // Lines of the log that warn of a refused reload on the write listener (each listener
  // warns for itself).
  int RefusalsOnWrite() const {
    std::istringstream log(Log());
    int count = 0;
    for (std::string line; std::getline(log, line);) {
      count += line.find(kRefused) != std::string::npos &&
               line.find("\"listener\":\"write\"") != std::string::npos;
    }
    return count;
  }

  // Makes NAME.pem/NAME.key in dir_: a server certificate for localhost from the dev CA
  // with a fresh serial, valid `days`, and its own new key.
  void MakeServerCertificate(const std::string& name, int days) {
    WriteFileOrDie(dir_ + "/server.ext",
                   "basicConstraints=critical,CA:FALSE\n"
                   "keyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=serverAuth\n"
                   "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n");
    OpenSsl(dir_,
            "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " + name + ".key 2>&1");
    OpenSsl(dir_, "req -new -sha256 -key " + name + ".key -subj '/O=credvault dev/CN=localhost'" +
                      " -out " + name + ".csr 2>&1");
    OpenSsl(dir_, "x509 -req -sha256 -in " + name + ".csr -CA " +
                      ShellQuote(stack_->pki + "/ca.pem") + " -CAkey " +
                      ShellQuote(stack_->pki + "/ca.key") + " -set_serial 0x" + RandomHex(16) +
                      " -days " + std::to_string(days) + " -extfile server.ext -out " + name +
                      ".pem 2>&1");
  }

  // Puts `cert` and `key` (files in dir_) in place of server.pem and server.key the way a
  // careful operator does: a copy beside each, then a rename over it.
  void Install(const std::string& cert, const std::string& key) {
    const CommandResult result =
        RunShell("cd " + ShellQuote(dir_) + " && cp " + key + " .server.key.new && cp " + cert +
                 " .server.pem.new && mv -f .server.key.new server.key && mv -f .server.pem.new" +
                 " server.pem");
    ASSERT_EQ(result.exit_code, 0) << result.output;
  }

  const Stack* stack_ = nullptr;
  std::string dir_;
  std::string log_path_;
  std::unique_ptr<ChildProcess> server_;
  std::string write_addr_, decrypt_addr_, health_addr_, metrics_addr_;
};

TEST_F(TlsReloadTest, RotatedCertificateServesNewConnectionsWhileOldOnesKeepWorking) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const std::string old_serial = SerialOfFile(dir_, "server.pem");
  const std::int64_t old_not_after = NotAfterOfFile(dir_, "server.pem");
  ASSERT_FALSE(old_serial.empty());
  EXPECT_EQ(SerialOnTheWire(stack_->pki, write_addr_), old_serial);
  EXPECT_EQ(ExpiryMetric(metrics_addr_, "write", "server"), old_not_after);
  EXPECT_EQ(ExpiryMetric(metrics_addr_, "decrypt", "server"), old_not_after);
  EXPECT_EQ(ExpiryMetric(metrics_addr_, "write", "client_ca"),
            NotAfterOfFile(stack_->pki, "ca.pem"));

  // A client on one long-lived channel calls throughout.
  Clients backend(TlsChannel(*stack_, write_addr_, Caller::Cert("backend")));
  const std::string org = "tls-rotate-" + RandomHex(4);
  std::atomic<bool> stop{false};
  std::atomic<int> calls{0};
  std::vector<Outcome> failures;
  std::thread traffic([&] {
    while (!stop.load()) {
      const Outcome outcome =
          PutWaitingForReady(backend, PutRequest(org, "steady", "v" + std::to_string(calls)));
      if (!outcome.ok()) failures.push_back(outcome);
      ++calls;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  ASSERT_TRUE(WaitFor([&] { return calls.load() >= 5; }, std::chrono::seconds(20)));

  // Renewal: a new key and a certificate with another serial and a later notAfter.
  MakeServerCertificate("renewed", 400);
  const std::string new_serial = SerialOfFile(dir_, "renewed.pem");
  const std::int64_t new_not_after = NotAfterOfFile(dir_, "renewed.pem");
  ASSERT_NE(new_serial, old_serial);
  ASSERT_NE(new_not_after, old_not_after);
  Install("renewed.pem", "renewed.key");

  std::string seen;
  EXPECT_TRUE(WaitFor(
      [&] {
        seen = SerialOnTheWire(stack_->pki, write_addr_);
        return seen == new_serial;
      },
      std::chrono::seconds(15)))
      << "a new connection still sees serial " << seen << "\n"
      << Log();
  EXPECT_TRUE(WaitFor([&] { return SerialOnTheWire(stack_->pki, decrypt_addr_) == new_serial; },
                      std::chrono::seconds(5)));
  const int calls_at_reload = calls.load();
  ASSERT_TRUE(
      WaitFor([&] { return calls.load() >= calls_at_reload + 10; }, std::chrono::seconds(20)));
  stop = true;
  traffic.join();
  EXPECT_TRUE(failures.empty()) << failures.size() << " of " << calls.load()
                                << " calls failed, first: " << failures.front();

  // New channels (the new certificate, verified with the dev CA) work as well.
  Clients fresh(TlsChannel(*stack_, write_addr_, Caller::Cert("backend")));
  EXPECT_TRUE(PutWaitingForReady(fresh, PutRequest(org, "after", "x")).ok());

  EXPECT_EQ(ExpiryMetric(metrics_addr_, "write", "server"), new_not_after);
  EXPECT_EQ(ExpiryMetric(metrics_addr_, "decrypt", "server"), new_not_after);
  EXPECT_THAT(Log(), HasSubstr("tls certificate reloaded"));
  EXPECT_THAT(Log(), HasSubstr(new_serial));
  EXPECT_THAT(Log(), Not(HasSubstr("PRIVATE KEY")));
}

TEST_F(TlsReloadTest, BrokenReplacementIsRefusedAndThePreviousCertificateKeepsServing) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const std::string old_serial = SerialOfFile(dir_, "server.pem");
  const std::int64_t old_not_after = NotAfterOfFile(dir_, "server.pem");
  Clients backend(TlsChannel(*stack_, write_addr_, Caller::Cert("backend")));
  const std::string org = "tls-broken-" + RandomHex(4);
  ASSERT_TRUE(PutWaitingForReady(backend, PutRequest(org, "before", "x")).ok());

  // A certificate file that is not one.
  WriteFileOrDie(dir_ + "/garbage.pem", "-----BEGIN CERTIFICATE-----\nnot base64\n");
  ASSERT_NO_FATAL_FAILURE(Install("garbage.pem", "server.key"));
  EXPECT_TRUE(WaitFor([&] { return RefusalsOnWrite() >= 1; }, std::chrono::seconds(15))) << Log();
  EXPECT_THAT(Log(), HasSubstr("is not a PEM certificate bundle"));

  // A valid certificate with a key that is not its own.
  MakeServerCertificate("mismatched", 90);
  MakeServerCertificate("other", 90);
  ASSERT_NO_FATAL_FAILURE(Install("mismatched.pem", "other.key"));
  EXPECT_TRUE(WaitFor([&] { return RefusalsOnWrite() >= 2; }, std::chrono::seconds(15))) << Log();
  EXPECT_THAT(Log(), HasSubstr("is not the key of the certificate"));

  // Each broken set is warned about once, not every second.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_EQ(RefusalsOnWrite(), 2) << Log();

  // The previous certificate serves new connections and calls, and the metric keeps it.
  EXPECT_EQ(SerialOnTheWire(stack_->pki, write_addr_), old_serial);
  EXPECT_TRUE(PutWaitingForReady(backend, PutRequest(org, "after", "y")).ok());
  Clients fresh(TlsChannel(*stack_, write_addr_, Caller::Cert("backend")));
  EXPECT_TRUE(PutWaitingForReady(fresh, PutRequest(org, "fresh", "z")).ok());
  EXPECT_EQ(ExpiryMetric(metrics_addr_, "write", "server"), old_not_after);
  EXPECT_THAT(Log(), Not(HasSubstr("tls certificate reloaded")));
  EXPECT_THAT(Log(), Not(HasSubstr("PRIVATE KEY")));

  // Fixed: the matching pair is taken.
  ASSERT_NO_FATAL_FAILURE(Install("mismatched.pem", "mismatched.key"));
  const std::string fixed_serial = SerialOfFile(dir_, "mismatched.pem");
  EXPECT_TRUE(WaitFor([&] { return SerialOnTheWire(stack_->pki, write_addr_) == fixed_serial; },
                      std::chrono::seconds(15)))
      << Log();
}

TEST_F(TlsReloadTest, SigtermKeepsServingForThePreStopDelayWhileNotReady) {
  ASSERT_NO_FATAL_FAILURE(StartServer("  pre_stop_delay: 4s\n"));
  ASSERT_TRUE(WaitFor([&] { return CheckHealth(health_addr_, "readiness") == "SERVING"; },
                      std::chrono::seconds(20)));
  const std::string org = "tls-prestop-" + RandomHex(4);
  const auto signalled = std::chrono::steady_clock::now();
  server_->Signal(SIGTERM);
  EXPECT_TRUE(WaitFor([&] { return CheckHealth(health_addr_, "readiness") == "NOT_SERVING"; },
                      std::chrono::seconds(2)))
      << Log();
  EXPECT_EQ(CheckHealth(health_addr_, ""), "NOT_SERVING");
  // Meanwhile the listener still takes new connections and calls.
  Clients late(TlsChannel(*stack_, write_addr_, Caller::Cert("backend")));
  const Outcome outcome = PutWaitingForReady(late, PutRequest(org, "late", "x"));
  EXPECT_TRUE(outcome.ok()) << outcome;
  EXPECT_LT(std::chrono::steady_clock::now() - signalled, std::chrono::seconds(3));
  EXPECT_TRUE(server_->running());

  const std::optional<int> status = server_->Wait(std::chrono::seconds(20));
  ASSERT_TRUE(status.has_value()) << "credvaultd did not exit after SIGTERM";
  EXPECT_EQ(*status, 0) << Log();
  EXPECT_GE(std::chrono::steady_clock::now() - signalled, std::chrono::seconds(4));
  EXPECT_THAT(Log(), HasSubstr("pre-stop delay"));
  EXPECT_EQ(SerialOnTheWire(stack_->pki, write_addr_), "") << "the listener is still open";
}

}  // namespace
}  // namespace credvault::e2e

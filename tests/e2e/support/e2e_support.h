// Support for the end-to-end tests: a complete credvault (scripts/dev-stack.sh) in a temp
// directory, gRPC channels over real TLS with the dev PKI, child processes, shell commands
// and a tiny HTTP client for the metrics page.
#ifndef CREDVAULT_TESTS_E2E_SUPPORT_E2E_SUPPORT_H_
#define CREDVAULT_TESTS_E2E_SUPPORT_E2E_SUPPORT_H_

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "credvault/v1/admin_service.grpc.pb.h"
#include "credvault/v1/credential_access_service.grpc.pb.h"
#include "credvault/v1/credential_service.grpc.pb.h"
#include "credvault/v1/key_authority.grpc.pb.h"
#include "gtest/gtest.h"

namespace credvault::e2e {

namespace v1 = ::credvault::v1;

// ---------------------------------------------------------------------------------------
// Files, commands, processes.

std::string ReadFileOrEmpty(const std::string& path);
void WriteFileOrDie(const std::string& path, const std::string& content);
std::string RandomHex(std::size_t bytes);

struct CommandResult {
  int exit_code = -1;  // -1 when the command did not exit normally
  std::string output;  // stdout and stderr, interleaved
};
// Runs `command` with /bin/sh, capturing stdout and stderr.
CommandResult RunShell(const std::string& command);
// Quotes for /bin/sh.
std::string ShellQuote(const std::string& value);

// A child process whose stdout and stderr go to files.
class ChildProcess {
 public:
  // Starts argv[0] (a path) with exactly `environment` ("K=V" entries).
  static std::unique_ptr<ChildProcess> Start(const std::vector<std::string>& argv,
                                             const std::vector<std::string>& environment,
                                             const std::string& stdout_path,
                                             const std::string& stderr_path);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int signal_number) const;
  // The exit status (WEXITSTATUS, or 128 + signal), or nullopt if it is still running at
  // the timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  bool running();

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  std::optional<int> status_;
};

// The value of `export NAME=value` in an env file (scripts/pg-throwaway.sh's DIR/env,
// scripts/dev-stack.sh's stack.env), or "".
std::string ExportedValue(const std::string& env_file, const std::string& name);
// scripts/pg-throwaway.sh, quoted for /bin/sh.
std::string PgThrowawayScript();
// Memory figures of a credvaultd built with AddressSanitizer (the test command's build)
// include the allocator's quarantine of freed blocks (256 MiB by default), which says
// nothing about what the server keeps. Tests that bound credvaultd's memory call
// LimitSanitizerQuarantine before their stack starts (every process started afterwards
// inherits a 16 MiB quarantine), and add SanitizerRssSlackKiB to their bound: what the
// sanitizer's redzones, shadow memory and quarantine may add (0 in other builds).
bool LimitSanitizerQuarantine();
long SanitizerRssSlackKiB();
// Polls `condition` every 50 ms until it holds or `timeout` passes; returns whether it held.
bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

// GET http://ADDRESS/PATH over HTTP/1.0 on a plain TCP socket. The whole response, headers
// included, or an empty string if the connection failed.
std::string HttpGet(const std::string& address, const std::string& path);

// Base64 (standard and URL-safe, without padding) renderings of `value` at each of the
// three byte alignments it could have inside a longer encoded buffer, trimmed of the
// characters that depend on the neighbouring bytes; all are substrings of any encoding of a
// buffer that contains `value`.
std::vector<std::string> Base64Needles(const std::string& value);
std::string HexLower(const std::string& value);
// The non-negative integer after "KEY": in a flat JSON text (e.g. a --ready-file), or 0.
int JsonInteger(const std::string& json, const std::string& key);
std::string HexUpper(const std::string& value);

// ---------------------------------------------------------------------------------------
// The stack.

struct Stack {
  std::string dir;     // CREDVAULT_STACK_DIR
  std::string pki;     // DIR/pki
  std::string config;  // DIR/credvaultd.yaml
  std::string write_addr, decrypt_addr, metrics_addr;
  pid_t pid = 0;
  std::map<std::string, std::string> env;      // stack.env
  std::map<std::string, std::string> secrets;  // secrets.env (database passwords)

  std::string Pem(const std::string& name) const { return ReadFileOrEmpty(pki + "/" + name); }
  std::string Token(const std::string& name) const {
    return ReadFileOrEmpty(pki + "/tokens/" + name + ".token");
  }
  std::string Log() const {
    return ReadFileOrEmpty(dir + "/credvaultd.log") + ReadFileOrEmpty(dir + "/credvaultd.out");
  }
};

// Brings up a stack with scripts/dev-stack.sh in a fresh temp dir on SetUp and takes it
// down on TearDown (the directory is kept if a test failed). Register one per test binary
// with ::testing::AddGlobalTestEnvironment.
class StackEnvironment : public ::testing::Environment {
 public:
  // `extra_config`: YAML appended to DIR/credvaultd.yaml before credvaultd starts (more
  // top-level sections, e.g. "reseal:\n  batch_size: 7\n").
  explicit StackEnvironment(std::string name, std::string extra_config = "")
      : name_(std::move(name)), extra_config_(std::move(extra_config)) {}
  void SetUp() override;
  void TearDown() override;

 private:
  std::string name_;
  std::string extra_config_;
};

// The stack of this test binary; null before StackEnvironment::SetUp succeeded.
const Stack* CurrentStack();

// The stack's PostgreSQL stopped (scripts/pg-throwaway.sh stop) for as long as the object
// lives. Start() brings it back on the same port and socket; so does the destructor if
// the test ends before it did, also when an assertion fails.
class PostgresOutage {
 public:
  explicit PostgresOutage(const Stack& stack);
  ~PostgresOutage();
  PostgresOutage(const PostgresOutage&) = delete;
  PostgresOutage& operator=(const PostgresOutage&) = delete;

  // How the stop went (exit code 0 when the database is down).
  const CommandResult& stopped() const { return stopped_; }
  CommandResult Start();

 private:
  std::string start_command_;
  CommandResult stopped_;
  bool started_ = false;
};

// ---------------------------------------------------------------------------------------
// The stack's credvaultd: reloading, replacing and killing it. Every credvaultd started
// here is stopped on TearDown, like the one dev-stack.sh started.

// Whether process `pid` has ended: gone, or a zombie that nobody has reaped yet.
bool ProcessGone(pid_t pid);

// How many lines of DIR/credvaultd.log (where every credvaultd of the stack logs) contain
// `text`.
int CountInLog(const std::string& text);

// Sends SIGHUP to the stack's credvaultd and waits until it has re-read its keys (writer
// keys, root key pins) and its policy. "" on success, else the refusal it logged or why
// waiting failed.
std::string ReloadCredvaultd(std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Starts another credvaultd with the stack's configuration file (which may have changed),
// as dev-stack.sh does, on new ports, and waits until it is ready. It becomes the stack's
// credvaultd: CurrentStack()'s pid and addresses change, and `down` stops it. The previous
// one is left running, so that clients can move over without a gap as in a rolling
// update; stop it with StopCredvaultd. "" on success, else why not, with its log.
std::string StartCredvaultd(std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Sends `signal_number` to credvaultd `pid` and waits until it has ended; whether it did
// within `timeout`.
bool StopCredvaultd(pid_t pid, int signal_number,
                    std::chrono::milliseconds timeout = std::chrono::seconds(30));

// ---------------------------------------------------------------------------------------
// Split mode: a write-only credvaultd beside the stack, asking the stack's decrypt tier
// (the key authority) to provision orgs and answer comparisons.

// How a write-only credvaultd authenticates to the key authority: a client certificate of
// the dev PKI by file stem (e.g. "writetier"), or a file holding a bearer token.
struct KeyAuthorityClient {
  std::string cert;
  std::string token_file;
};

// The stack's configuration cut down to the write tier (no decrypt listener, seal key,
// audit signing key or decrypt-side database roles), on fresh ports. With `key_authority`,
// its key_authority section names the stack's decrypt listener (as it is now), verified
// with the dev CA as "localhost".
std::string WriteOnlyConfig(const std::optional<KeyAuthorityClient>& key_authority);

// A credvaultd started by StartWriteOnlyCredvaultd; killed when destroyed if it still
// runs (send SIGTERM first for a clean stop).
struct WriteOnlyCredvaultd {
  std::unique_ptr<ChildProcess> process;
  std::string address;  // its write listener, 127.0.0.1:PORT
  std::string log_path;
  std::string ready_json;
  std::string Log() const { return ReadFileOrEmpty(log_path); }
};

// Writes `config_yaml` to DIR/NAME.yaml and starts credvaultd with it and the writer's
// database password only, then waits until it is ready. "" on success, else why not with
// its log.
std::string StartWriteOnlyCredvaultd(const std::string& name, const std::string& config_yaml,
                                     WriteOnlyCredvaultd& out);

// Appends one principal to the stack's policy file and reloads the stack's credvaultd.
// `entry` is the YAML of one list item's fields, e.g.
//   {"id: \"spiffe://credvault.test/writetier\"", "roles: [key_authority_client]", ...}.
// "" on success, else why not.
std::string AddPolicyPrincipal(const std::vector<std::string>& entry);

// ---------------------------------------------------------------------------------------
// Channels and calls.

// Who calls: a client certificate from the dev PKI (by file stem: backend, worker, admin,
// auditor, outsider, dnsclient, cnclient, untrusted), a bearer token (by value), both, or
// neither.
struct Caller {
  std::string cert;   // empty: no client certificate
  std::string token;  // empty: no bearer token

  static Caller Cert(std::string name) { return Caller{std::move(name), ""}; }
  static Caller Token(std::string value) { return Caller{"", std::move(value)}; }
  static Caller Anonymous() { return Caller{}; }
};

std::shared_ptr<grpc::Channel> TlsChannel(const Stack& stack, const std::string& address,
                                          const Caller& caller);
std::shared_ptr<grpc::Channel> InsecureChannel(const std::string& address);

// A client context with a deadline of `seconds`.
std::unique_ptr<grpc::ClientContext> Context(int seconds = 15);

// The credvault-error-reason trailer of a finished call, or "".
std::string ErrorReason(const grpc::ClientContext& context);

// Stubs of the three services, and of the internal KeyAuthorityService, on one channel.
struct Clients {
  std::unique_ptr<v1::CredentialService::Stub> credentials;
  std::unique_ptr<v1::CredentialAccessService::Stub> access;
  std::unique_ptr<v1::AdminService::Stub> admin;
  std::unique_ptr<v1::KeyAuthorityService::Stub> key_authority;

  explicit Clients(const std::shared_ptr<grpc::Channel>& channel)
      : credentials(v1::CredentialService::NewStub(channel)),
        access(v1::CredentialAccessService::NewStub(channel)),
        admin(v1::AdminService::NewStub(channel)),
        key_authority(v1::KeyAuthorityService::NewStub(channel)) {}
};

// The outcome of one unary call.
struct Outcome {
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  std::string message;
  std::string reason;
  bool ok() const { return code == grpc::StatusCode::OK; }
};

std::string CodeName(grpc::StatusCode code);
std::ostream& operator<<(std::ostream& out, const Outcome& outcome);

// Calls stub->*method(request) with a fresh context; fills *response on success.
template <typename Stub, typename Request, typename Response>
Outcome Call(Stub& stub,
             grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
             const Request& request, Response* response, int seconds = 15) {
  std::unique_ptr<grpc::ClientContext> context = Context(seconds);
  const grpc::Status status = (stub.*method)(context.get(), request, response);
  return Outcome{status.error_code(), status.error_message(), ErrorReason(*context)};
}

// Shorthands for requests used everywhere.
v1::PutCredentialRequest PutRequest(const std::string& org, const std::string& name,
                                    const std::string& secret);
Outcome Put(Clients& clients, const v1::PutCredentialRequest& request,
            v1::PutCredentialResponse* response = nullptr);
Outcome Describe(Clients& clients, const std::string& org, const std::string& name,
                 v1::CredentialMetadata* out = nullptr, std::optional<std::uint64_t> version = {},
                 bool show_deleted = false);
Outcome Decrypt(Clients& clients, const std::string& org, const std::string& name,
                std::string* secret = nullptr, std::optional<std::uint64_t> version = {},
                const std::string& purpose = "e2e test");
// Every credential of an org (all pages), names only.
std::vector<std::string> ListNames(Clients& clients, const std::string& org,
                                   bool include_deleted = false);
// Every audit event of an org (all pages).
std::vector<v1::AuditEvent> AuditEvents(Clients& admin, const std::string& org);

}  // namespace credvault::e2e

#endif  // CREDVAULT_TESTS_E2E_SUPPORT_E2E_SUPPORT_H_

#include "tests/e2e/support/e2e_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string_view>
#include <thread>

#include "common/grpc_status_name.h"

namespace credvault::e2e {
namespace {

Stack* g_stack = nullptr;
// Every credvaultd that StartCredvaultd started.
std::vector<pid_t> g_credvaultd_pids;
int g_credvaultd_starts = 0;

std::map<std::string, std::string> ReadExports(const std::string& path) {
  std::map<std::string, std::string> values;
  std::istringstream in(ReadFileOrEmpty(path));
  std::string line;
  while (std::getline(in, line)) {
    constexpr std::string_view kExport = "export ";
    if (line.rfind(kExport, 0) != 0) continue;
    const std::size_t equals = line.find('=');
    if (equals == std::string::npos) continue;
    values[line.substr(kExport.size(), equals - kExport.size())] = line.substr(equals + 1);
  }
  return values;
}

std::string Base64(const std::string& in, bool url_safe) {
  const char* alphabet = url_safe
                             ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                             : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(in[k]); };
  for (; i + 2 < in.size(); i += 3) {
    const unsigned n = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += alphabet[n & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned n = byte(i) << 16;
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
  } else if (i + 2 == in.size()) {
    const unsigned n = (byte(i) << 16) | (byte(i + 1) << 8);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
  }
  return out;
}

std::string Hex(const std::string& value, const char* digits) {
  std::string out;
  for (const char c : value) {
    const auto b = static_cast<unsigned char>(c);
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

}  // namespace

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteFileOrDie(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out) {
    std::cerr << "cannot write " << path << "\n";
    std::abort();
  }
}

std::string RandomHex(std::size_t bytes) {
  std::random_device device;
  std::string raw;
  for (std::size_t i = 0; i < bytes; ++i) raw += static_cast<char>(device() & 0xff);
  return HexLower(raw);
}

std::string HexLower(const std::string& value) { return Hex(value, "0123456789abcdef"); }
std::string HexUpper(const std::string& value) { return Hex(value, "0123456789ABCDEF"); }

int JsonInteger(const std::string& json, const std::string& key) {
  std::size_t at = json.find("\"" + key + "\"");
  if (at == std::string::npos) return 0;
  at = json.find(':', at + key.size() + 2);
  if (at == std::string::npos) return 0;
  ++at;
  while (at < json.size() && json[at] == ' ') ++at;
  int value = 0;
  for (; at < json.size() && json[at] >= '0' && json[at] <= '9'; ++at) {
    value = value * 10 + (json[at] - '0');
  }
  return value;
}

std::vector<std::string> Base64Needles(const std::string& value) {
  std::vector<std::string> needles;
  for (const bool url_safe : {false, true}) {
    for (std::size_t shift = 0; shift < 3; ++shift) {
      std::string encoded = Base64(std::string(shift, '\0') + value, url_safe);
      if (shift > 0) encoded = encoded.substr(4);
      if (encoded.size() > 4) encoded.resize(encoded.size() - 4);
      needles.push_back(encoded);
    }
  }
  return needles;
}

std::string ShellQuote(const std::string& value) {
  std::string out = "'";
  for (const char c : value) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

CommandResult RunShell(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen(("( " + command + " ) 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer;
  std::size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    result.output.append(buffer.data(), n);
  }
  const int status = ::pclose(pipe);
  if (status != -1 && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

std::unique_ptr<ChildProcess> ChildProcess::Start(const std::vector<std::string>& argv,
                                                  const std::vector<std::string>& environment,
                                                  const std::string& stdout_path,
                                                  const std::string& stderr_path) {
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  std::vector<char*> env;
  for (const std::string& entry : environment) env.push_back(const_cast<char*>(entry.c_str()));
  env.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  // The child starts with the default signal mask and dispositions.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  sigset_t all;
  sigfillset(&all);
  posix_spawnattr_setsigdefault(&attributes, &all);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int error = posix_spawn(&pid, args[0], &actions, &attributes, args.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (error != 0) return nullptr;
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid));
}

ChildProcess::~ChildProcess() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    Wait(std::chrono::seconds(10));
  }
}

void ChildProcess::Signal(int signal_number) const {
  if (!status_) ::kill(pid_, signal_number);
}

bool ChildProcess::running() {
  if (status_) return false;
  int status = 0;
  const pid_t done = ::waitpid(pid_, &status, WNOHANG);
  if (done == pid_) {
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return done == 0;
}

std::optional<int> ChildProcess::Wait(std::chrono::milliseconds timeout) {
  WaitFor([this] { return !running(); }, timeout);
  return status_;
}

std::string ExportedValue(const std::string& env_file, const std::string& name) {
  const std::map<std::string, std::string> values = ReadExports(env_file);
  const auto it = values.find(name);
  return it == values.end() ? "" : it->second;
}

bool LimitSanitizerQuarantine() {
  const char* current = std::getenv("ASAN_OPTIONS");
  std::string options = current != nullptr ? current : "";
  if (!options.empty()) options += ":";
  options += "quarantine_size_mb=16";
  return ::setenv("ASAN_OPTIONS", options.c_str(), 1) == 0;
}

long SanitizerRssSlackKiB() {
#if defined(__SANITIZE_ADDRESS__)
  return 128 * 1024;
#else
  return 0;
#endif
}

std::string PgThrowawayScript() {
  return ShellQuote(std::string(CREDVAULT_SOURCE_DIR) + "/scripts/pg-throwaway.sh");
}

PostgresOutage::PostgresOutage(const Stack& stack) {
  const std::string pg = stack.dir + "/pg";
  const std::string pg_ctl =
      ShellQuote(stack.env.at("CREDVAULT_PG_BIN") + "/pg_ctl") + " -D " + ShellQuote(pg + "/data") +
      " -w -t 30 -l " + ShellQuote(pg + "/server.log") + " -o " +
      ShellQuote("-p " + stack.env.at("CREDVAULT_PG_PORT") + " -k " +
                 stack.env.at("CREDVAULT_PG_SOCKET_DIR") + " -c listen_addresses=127.0.0.1") +
      " start";
  // pg_ctl refuses to run as root; the cluster belongs to postgres then.
  start_command_ = (::geteuid() == 0 ? "runuser -u postgres -- " : "") + pg_ctl;
  stopped_ = RunShell(PgThrowawayScript() + " stop " + ShellQuote(pg));
}

PostgresOutage::~PostgresOutage() {
  if (!started_) RunShell(start_command_ + " >/dev/null 2>&1 || true");
}

CommandResult PostgresOutage::Start() {
  CommandResult result = RunShell(start_command_);
  started_ = started_ || result.exit_code == 0;
  return result;
}

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::string HttpGet(const std::string& address, const std::string& path) {
  const std::size_t colon = address.rfind(':');
  if (colon == std::string::npos) return "";
  sockaddr_in target{};
  target.sin_family = AF_INET;
  target.sin_port = htons(static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))));
  if (::inet_pton(AF_INET, address.substr(0, colon).c_str(), &target.sin_addr) != 1) return "";
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  std::string response;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&target), sizeof(target)) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: " + address + "\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      std::array<char, 8192> buffer;
      ssize_t n = 0;
      while ((n = ::recv(fd, buffer.data(), buffer.size(), 0)) > 0) {
        response.append(buffer.data(), static_cast<std::size_t>(n));
      }
    }
  }
  ::close(fd);
  return response;
}

void StackEnvironment::SetUp() {
  const char* base = std::getenv("CREDVAULT_TEST_WORKDIR");
  std::string dir =
      std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/e2e-" + name_ + ".XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr) << "mkdtemp " << dir;
  ::chmod(dir.c_str(), 0755);  // the postgres user must reach DIR/pg
  auto stack = std::make_unique<Stack>();
  stack->dir = dir;
  const auto started = std::chrono::steady_clock::now();
  const std::string extra_config =
      extra_config_.empty() ? ""
                            : "CREDVAULT_STACK_EXTRA_CONFIG=" + ShellQuote(extra_config_) + " ";
  const CommandResult up = RunShell(
      extra_config + ShellQuote(std::string(CREDVAULT_SOURCE_DIR) + "/scripts/dev-stack.sh") +
      " up " + ShellQuote(dir) + " " + ShellQuote(CREDVAULT_BUILD_DIR));
  if (up.exit_code != 0) {
    RunShell(ShellQuote(std::string(CREDVAULT_SOURCE_DIR) + "/scripts/dev-stack.sh") + " down " +
             ShellQuote(dir));
    GTEST_FAIL() << "scripts/dev-stack.sh up " << dir << " failed (" << up.exit_code << "):\n"
                 << up.output << "\ncredvaultd log:\n"
                 << stack->Log();
  }
  stack->env = ReadExports(dir + "/stack.env");
  stack->secrets = ReadExports(dir + "/secrets.env");
  stack->pki = stack->env["CREDVAULT_PKI"];
  stack->config = stack->env["CREDVAULT_CONFIG"];
  stack->write_addr = stack->env["CREDVAULT_WRITE_ADDR"];
  stack->decrypt_addr = stack->env["CREDVAULT_DECRYPT_ADDR"];
  stack->metrics_addr = stack->env["CREDVAULT_METRICS_ADDR"];
  stack->pid = static_cast<pid_t>(std::atoi(stack->env["CREDVAULT_PID"].c_str()));
  ASSERT_FALSE(stack->write_addr.empty()) << "no CREDVAULT_WRITE_ADDR in " << dir << "/stack.env";
  ASSERT_GT(stack->pid, 0);
  std::cerr << "[ e2e ] stack " << dir << " up in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - started)
                   .count()
            << " ms (write " << stack->write_addr << ", decrypt " << stack->decrypt_addr
            << ", metrics " << stack->metrics_addr << ")\n";
  g_stack = stack.release();
}

void StackEnvironment::TearDown() {
  if (g_stack == nullptr) return;
  const std::string dir = g_stack->dir;
  RunShell(ShellQuote(std::string(CREDVAULT_SOURCE_DIR) + "/scripts/dev-stack.sh") + " down " +
           ShellQuote(dir));
  // credvaultd processes that StartCredvaultd replaced and nobody stopped.
  for (const pid_t pid : g_credvaultd_pids) {
    if (!ProcessGone(pid)) StopCredvaultd(pid, SIGKILL, std::chrono::seconds(10));
  }
  g_credvaultd_pids.clear();
  if (::testing::UnitTest::GetInstance()->Passed() &&
      std::getenv("CREDVAULT_E2E_KEEP") == nullptr) {
    RunShell("rm -rf " + ShellQuote(dir));
  } else {
    std::cerr << "[ e2e ] kept " << dir << " (credvaultd.log, pg/server.log)\n";
  }
  delete g_stack;
  g_stack = nullptr;
}

const Stack* CurrentStack() { return g_stack; }

bool ProcessGone(pid_t pid) {
  if (::kill(pid, 0) != 0) return true;
  // A zombie still answers kill(pid, 0); field 3 of /proc/PID/stat is its state.
  const std::string stat = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/stat");
  const std::size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return stat.empty();
  const char state = stat[close + 2];
  return state == 'Z' || state == 'X';
}

int CountInLog(const std::string& text) {
  if (g_stack == nullptr) return 0;
  const std::string log = ReadFileOrEmpty(g_stack->dir + "/credvaultd.log");
  int count = 0;
  for (std::size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) {
    ++count;
  }
  return count;
}

std::string ReloadCredvaultd(std::chrono::milliseconds timeout) {
  if (g_stack == nullptr) return "no stack";
  constexpr char kKeysReloaded[] = "writer keys and root key pins reloaded";
  constexpr char kKeysRefused[] = "key reload refused";
  constexpr char kPolicyReloaded[] = "policy reloaded";
  constexpr char kPolicyRefused[] = "policy reload refused";
  const int keys_reloaded = CountInLog(kKeysReloaded);
  const int keys_refused = CountInLog(kKeysRefused);
  const int policy_reloaded = CountInLog(kPolicyReloaded);
  const int policy_refused = CountInLog(kPolicyRefused);
  if (::kill(g_stack->pid, SIGHUP) != 0) {
    return "kill -HUP " + std::to_string(g_stack->pid) + " failed";
  }
  // The policy is re-read first, then the keys.
  const bool answered = WaitFor(
      [&] {
        return CountInLog(kKeysReloaded) > keys_reloaded || CountInLog(kKeysRefused) > keys_refused;
      },
      timeout);
  if (!answered) return "no reload logged after SIGHUP";
  std::string refusals;
  const std::string log = ReadFileOrEmpty(g_stack->dir + "/credvaultd.log");
  std::istringstream lines(log);
  std::string line;
  int seen_keys = 0, seen_policy = 0;
  while (std::getline(lines, line)) {
    if (line.find(kKeysRefused) != std::string::npos && ++seen_keys > keys_refused) {
      refusals += line + "\n";
    }
    if (line.find(kPolicyRefused) != std::string::npos && ++seen_policy > policy_refused) {
      refusals += line + "\n";
    }
  }
  if (!refusals.empty()) return refusals;
  if (CountInLog(kPolicyReloaded) <= policy_reloaded) return "the policy was not reloaded";
  return "";
}

std::string StartCredvaultd(std::chrono::milliseconds timeout) {
  if (g_stack == nullptr) return "no stack";
  const std::string dir = g_stack->dir;
  // The one it replaces is stopped on TearDown too, if nobody stops it before.
  if (std::find(g_credvaultd_pids.begin(), g_credvaultd_pids.end(), g_stack->pid) ==
      g_credvaultd_pids.end()) {
    g_credvaultd_pids.push_back(g_stack->pid);
  }
  const std::string ready = dir + "/ready." + std::to_string(++g_credvaultd_starts) + ".json";
  ::unlink(ready.c_str());
  // As dev-stack.sh starts it: database passwords from secrets.env, in the background, its
  // stderr appended to the stack's log.
  const CommandResult started = RunShell(
      ". " + ShellQuote(dir + "/secrets.env") + " && { " +
      ShellQuote(std::string(CREDVAULT_BUILD_DIR) + "/server/credvaultd") +
      " serve --config=" + ShellQuote(g_stack->config) + " --ready-file=" + ShellQuote(ready) +
      " </dev/null >>" + ShellQuote(dir + "/credvaultd.out") + " 2>>" +
      ShellQuote(dir + "/credvaultd.log") + " & echo $!; }");
  const pid_t pid = static_cast<pid_t>(std::atoi(started.output.c_str()));
  if (started.exit_code != 0 || pid <= 0) return "could not start credvaultd: " + started.output;
  g_credvaultd_pids.push_back(pid);
  const bool up = WaitFor(
      [&] {
        const std::string json = ReadFileOrEmpty(ready);
        return (!json.empty() && json.back() == '\n') || ProcessGone(pid);
      },
      timeout);
  const std::string json = ReadFileOrEmpty(ready);
  if (!up || ProcessGone(pid) || JsonInteger(json, "write") <= 0 ||
      JsonInteger(json, "decrypt") <= 0) {
    if (!ProcessGone(pid)) StopCredvaultd(pid, SIGKILL, std::chrono::seconds(10));
    std::string log = ReadFileOrEmpty(dir + "/credvaultd.log");
    if (log.size() > 4000) log = log.substr(log.size() - 4000);
    return "credvaultd " + std::to_string(pid) + " did not become ready (" + json + "); log:\n" +
           log;
  }
  g_stack->pid = pid;
  g_stack->write_addr = "127.0.0.1:" + std::to_string(JsonInteger(json, "write"));
  g_stack->decrypt_addr = "127.0.0.1:" + std::to_string(JsonInteger(json, "decrypt"));
  if (JsonInteger(json, "metrics") > 0) {
    g_stack->metrics_addr = "127.0.0.1:" + std::to_string(JsonInteger(json, "metrics"));
  }
  WriteFileOrDie(dir + "/credvaultd.pid", std::to_string(pid) + "\n");
  std::cerr << "[ e2e ] credvaultd " << pid << " started (write " << g_stack->write_addr
            << ", decrypt " << g_stack->decrypt_addr << ")\n";
  return "";
}

bool StopCredvaultd(pid_t pid, int signal_number, std::chrono::milliseconds timeout) {
  if (pid <= 0) return false;
  if (ProcessGone(pid)) return true;
  ::kill(pid, signal_number);
  return WaitFor([pid] { return ProcessGone(pid); }, timeout);
}

std::string WriteOnlyConfig(const std::optional<KeyAuthorityClient>& key_authority) {
  if (g_stack == nullptr) return "";
  YAML::Node config = YAML::LoadFile(g_stack->config);
  config["tiers"] = YAML::Load("[write]");
  config["listeners"].remove("decrypt");
  config["listeners"].remove("admin");
  config["listeners"].remove("health");
  config["listeners"]["write"]["address"] = "127.0.0.1:0";
  if (config["metrics"]) config["metrics"]["address"] = "127.0.0.1:0";
  config["database"].remove("decryptor");
  config["database"].remove("admin");
  config["keys"].remove("seal_key");
  config["keys"].remove("previous_seal_keys");
  config["keys"].remove("audit_signing_key_file");
  config["keys"].remove("key_directory_signing_keys");
  if (key_authority) {
    YAML::Node section;
    section["address"] = g_stack->decrypt_addr;
    section["server_name"] = "localhost";
    section["tls"]["ca_file"] = g_stack->pki + "/ca.pem";
    if (!key_authority->cert.empty()) {
      section["tls"]["cert_file"] = g_stack->pki + "/" + key_authority->cert + ".pem";
      section["tls"]["key_file"] = g_stack->pki + "/" + key_authority->cert + ".key";
    }
    if (!key_authority->token_file.empty()) {
      section["bearer_token_file"] = key_authority->token_file;
    }
    config["key_authority"] = section;
  }
  YAML::Emitter out;
  out << config;
  return out.c_str();
}

std::string StartWriteOnlyCredvaultd(const std::string& name, const std::string& config_yaml,
                                     WriteOnlyCredvaultd& out) {
  if (g_stack == nullptr) return "no stack";
  const std::string base = g_stack->dir + "/" + name;
  WriteFileOrDie(base + ".yaml", config_yaml);
  const std::string ready = base + ".ready.json";
  ::unlink(ready.c_str());
  out.log_path = base + ".log";
  out.process = ChildProcess::Start(
      {std::string(CREDVAULT_BUILD_DIR) + "/server/credvaultd", "serve",
       "--config=" + base + ".yaml", "--ready-file=" + ready},
      {"CREDVAULT_DB_WRITER_PASSWORD=" + g_stack->secrets.at("CREDVAULT_DB_WRITER_PASSWORD"),
       "PATH=/usr/bin:/bin"},
      base + ".out", out.log_path);
  if (out.process == nullptr) return "could not start credvaultd " + name;
  WaitFor(
      [&] {
        const std::string json = ReadFileOrEmpty(ready);
        return (!json.empty() && json.back() == '\n') || !out.process->running();
      },
      std::chrono::seconds(30));
  out.ready_json = ReadFileOrEmpty(ready);
  const int port = JsonInteger(out.ready_json, "write");
  if (!out.process->running() || port <= 0) {
    return "credvaultd " + name + " did not become ready (" + out.ready_json + "); log:\n" +
           out.Log();
  }
  out.address = "127.0.0.1:" + std::to_string(port);
  return "";
}

std::string AddPolicyPrincipal(const std::vector<std::string>& entry) {
  if (g_stack == nullptr) return "no stack";
  const std::string policy_path = YAML::LoadFile(g_stack->config)["policy_file"].as<std::string>();
  std::string item;
  for (std::size_t i = 0; i < entry.size(); ++i) {
    item += (i == 0 ? "  - " : "    ") + entry[i] + "\n";
  }
  std::string policy = ReadFileOrEmpty(policy_path);
  if (!policy.empty() && policy.back() != '\n') policy += "\n";
  WriteFileOrDie(policy_path, policy + item);
  return ReloadCredvaultd();
}

std::shared_ptr<grpc::Channel> TlsChannel(const Stack& stack, const std::string& address,
                                          const Caller& caller) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = stack.Pem("ca.pem");
  if (!caller.cert.empty()) {
    options.pem_cert_chain = stack.Pem(caller.cert + ".pem");
    options.pem_private_key = stack.Pem(caller.cert + ".key");
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::SslCredentials(options);
  if (!caller.token.empty()) {
    credentials =
        grpc::CompositeChannelCredentials(credentials, grpc::AccessTokenCredentials(caller.token));
  }
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  // Every channel gets its own connection, so that one caller's identity never rides on
  // another's connection.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // Reconnect quickly after an outage. (GRPC_ARG_MIN_RECONNECT_BACKOFF_MS is left alone: it
  // is also the connect and TLS handshake timeout, which a loaded machine needs.)
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  return grpc::CreateCustomChannel(address, credentials, args);
}

std::shared_ptr<grpc::Channel> InsecureChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<grpc::ClientContext> Context(int seconds) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return context;
}

std::string ErrorReason(const grpc::ClientContext& context) {
  const auto& trailers = context.GetServerTrailingMetadata();
  const auto it = trailers.find("credvault-error-reason");
  if (it == trailers.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

std::string CodeName(grpc::StatusCode code) {
  if (const std::optional<std::string_view> name = GrpcStatusName(code)) return std::string(*name);
  return "CODE_" + std::to_string(static_cast<int>(code));
}

std::ostream& operator<<(std::ostream& out, const Outcome& outcome) {
  out << CodeName(outcome.code);
  if (!outcome.message.empty()) out << ": " << outcome.message;
  if (!outcome.reason.empty()) out << " [" << outcome.reason << "]";
  return out;
}

v1::PutCredentialRequest PutRequest(const std::string& org, const std::string& name,
                                    const std::string& secret) {
  v1::PutCredentialRequest request;
  request.set_org_id(org);
  request.set_name(name);
  request.set_secret(secret);
  return request;
}

Outcome Put(Clients& clients, const v1::PutCredentialRequest& request,
            v1::PutCredentialResponse* response) {
  v1::PutCredentialResponse ignored;
  return Call(*clients.credentials, &v1::CredentialService::Stub::PutCredential, request,
              response != nullptr ? response : &ignored);
}

Outcome Describe(Clients& clients, const std::string& org, const std::string& name,
                 v1::CredentialMetadata* out, std::optional<std::uint64_t> version,
                 bool show_deleted) {
  v1::DescribeCredentialRequest request;
  request.set_org_id(org);
  request.set_name(name);
  if (version) request.set_version(*version);
  request.set_show_deleted(show_deleted);
  v1::DescribeCredentialResponse response;
  const Outcome outcome = Call(
      *clients.credentials, &v1::CredentialService::Stub::DescribeCredential, request, &response);
  if (out != nullptr) *out = response.credential();
  return outcome;
}

Outcome Decrypt(Clients& clients, const std::string& org, const std::string& name,
                std::string* secret, std::optional<std::uint64_t> version,
                const std::string& purpose) {
  v1::DecryptCredentialRequest request;
  request.set_org_id(org);
  request.set_name(name);
  if (version) request.set_version(*version);
  request.set_purpose(purpose);
  v1::DecryptCredentialResponse response;
  const Outcome outcome = Call(
      *clients.access, &v1::CredentialAccessService::Stub::DecryptCredential, request, &response);
  if (secret != nullptr) *secret = response.secret();
  return outcome;
}

std::vector<std::string> ListNames(Clients& clients, const std::string& org, bool include_deleted) {
  std::vector<std::string> names;
  v1::ListCredentialsRequest request;
  request.set_org_id(org);
  request.set_page_size(100);
  request.set_include_deleted(include_deleted);
  for (int page = 0; page < 100; ++page) {
    v1::ListCredentialsResponse response;
    const Outcome outcome = Call(*clients.credentials,
                                 &v1::CredentialService::Stub::ListCredentials, request, &response);
    if (!outcome.ok()) {
      ADD_FAILURE() << "ListCredentials " << org << ": " << outcome;
      break;
    }
    for (const v1::CredentialMetadata& credential : response.credentials()) {
      names.push_back(credential.name());
    }
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  return names;
}

std::vector<v1::AuditEvent> AuditEvents(Clients& admin, const std::string& org) {
  std::vector<v1::AuditEvent> events;
  v1::ListAuditEventsRequest request;
  request.set_org_id(org);
  request.set_page_size(500);
  for (int page = 0; page < 100; ++page) {
    v1::ListAuditEventsResponse response;
    const Outcome outcome =
        Call(*admin.admin, &v1::AdminService::Stub::ListAuditEvents, request, &response);
    if (!outcome.ok()) {
      ADD_FAILURE() << "ListAuditEvents " << org << ": " << outcome;
      break;
    }
    events.insert(events.end(), response.events().begin(), response.events().end());
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  return events;
}

}  // namespace credvault::e2e

#include "tests/e2e/support/fault_load.h"

#include <signal.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <sstream>

namespace credvault::e2e {
namespace {

using Clock = std::chrono::steady_clock;

std::unique_ptr<grpc::ClientContext> ReadyContext(std::chrono::milliseconds deadline,
                                                  const std::string& request_id = "") {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + deadline);
  // Queue the call while the channel reconnects instead of failing it at once: the waiting
  // call is what drives a C-core channel's reconnection (docs/api.md, "Reconnecting").
  context->set_wait_for_ready(true);
  if (!request_id.empty()) context->AddMetadata("x-request-id", request_id);
  return context;
}

// What a client retries, with the same idempotency key. CANCELLED is here because a server
// that is shutting down cancels the calls that reach it after it stopped taking new ones
// (they never ran); a client that did not cancel the call itself may retry it
// (docs/api.md, "Reconnecting").
bool Retryable(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED ||
         code == grpc::StatusCode::CANCELLED;
}

void Backoff(std::mt19937_64& random, int attempt) {
  std::this_thread::sleep_for(std::chrono::milliseconds(50 + static_cast<int>(random() % 100) +
                                                        50 * std::min(attempt, 10)));
}

}  // namespace

std::ostream& operator<<(std::ostream& out, const FaultLoadCounts& counts) {
  out << "puts acked " << counts.puts_acked << " (replays " << counts.puts_replayed
      << "), put retries " << counts.put_retries << ", puts given up " << counts.puts_given_up
      << ", decrypts acked " << counts.decrypts_acked << ", decrypt failures "
      << counts.decrypt_failures << ", unexpected answers " << counts.unexpected;
  if (!counts.failures_by_code.empty()) {
    out << "; failed attempts:";
    for (const auto& [code, n] : counts.failures_by_code) out << " " << code << "=" << n;
  }
  for (const std::string& example : counts.unexpected_examples)
    out << "\n  unexpected: " << example;
  return out;
}

FaultLoad::FaultLoad(const Stack& stack, FaultLoadOptions options)
    : stack_(stack),
      options_(std::move(options)),
      write_channel_(TlsChannel(stack_, stack_.write_addr, Caller::Cert("backend"))),
      decrypt_channel_(TlsChannel(stack_, stack_.decrypt_addr, Caller::Cert("worker"))) {
  histories_.resize(static_cast<std::size_t>(options_.writers * options_.names_per_writer));
  for (int w = 0; w < options_.writers; ++w) {
    for (int n = 0; n < options_.names_per_writer; ++n) {
      NameHistory& history =
          histories_[static_cast<std::size_t>(w * options_.names_per_writer + n)];
      history.org = options_.org_prefix + "-" + std::to_string((w + n) % options_.orgs);
      history.name = "fault/w" + std::to_string(w) + "-n" + std::to_string(n);
    }
  }
  for (int w = 0; w < options_.writers; ++w) threads_.emplace_back([this, w] { Writer(w); });
  for (int r = 0; r < options_.readers; ++r) threads_.emplace_back([this, r] { Reader(r); });
}

FaultLoad::~FaultLoad() { Stop(); }

void FaultLoad::Stop() {
  stopping_ = true;
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

FaultLoadCounts FaultLoad::counts() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return counts_;
}

void FaultLoad::CountFailure(grpc::StatusCode code, const std::string& what,
                             const std::string& message) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++counts_.failures_by_code[CodeName(code)];
  if (!Retryable(code) && code != grpc::StatusCode::RESOURCE_EXHAUSTED) {
    ++counts_.unexpected;
    if (counts_.unexpected_examples.size() < 5) {
      counts_.unexpected_examples.push_back(what + ": " + CodeName(code) + " " + message);
    }
  }
}

void FaultLoad::Writer(int index) {
  v1::CredentialService::Stub stub(write_channel_);
  std::mt19937_64 random(std::random_device{}());
  for (std::uint64_t round = 0; !stopping_; ++round) {
    const int n = static_cast<int>(round % static_cast<std::uint64_t>(options_.names_per_writer));
    const std::size_t slot = static_cast<std::size_t>(index * options_.names_per_writer + n);
    std::string org, name;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      org = histories_[slot].org;
      name = histories_[slot].name;
    }
    v1::PutCredentialRequest request = PutRequest(org, name, "secret-" + RandomHex(24));
    request.set_idempotency_key("fault-" + RandomHex(12));
    const auto first_try = Clock::now();
    std::uint64_t acked_version = 0;
    for (int attempt = 0;; ++attempt) {
      if (attempt > 0) {
        std::lock_guard<std::mutex> lock(mutex_);
        ++counts_.put_retries;
      }
      v1::PutCredentialResponse response;
      const auto context = ReadyContext(options_.call_deadline);
      const grpc::Status status = stub.PutCredential(context.get(), request, &response);
      if (status.ok()) {
        acked_version = response.credential().version();
        std::lock_guard<std::mutex> lock(mutex_);
        ++counts_.puts_acked;
        if (response.idempotent_replay()) ++counts_.puts_replayed;
        break;
      }
      CountFailure(status.error_code(), "PutCredential " + name, status.error_message());
      const bool give_up = !Retryable(status.error_code()) ||
                           Clock::now() - first_try > options_.give_up_after ||
                           (stopping_ && Clock::now() - first_try > options_.call_deadline * 4);
      if (give_up) break;
      // Backoff with jitter, as a well-behaved client retries.
      std::this_thread::sleep_for(std::chrono::milliseconds(50 + static_cast<int>(random() % 100) +
                                                            50 * std::min(attempt, 10)));
    }
    std::lock_guard<std::mutex> lock(mutex_);
    NameHistory& history = histories_[slot];
    history.versions.push_back(acked_version);
    history.secrets.push_back(request.secret());
    if (acked_version == 0) {
      ++counts_.puts_given_up;
    } else {
      readable_.push_back(Acked{org, name, acked_version, request.secret()});
      ++puts_acked_;
    }
  }
}

void FaultLoad::Reader(int index) {
  v1::CredentialAccessService::Stub stub(decrypt_channel_);
  std::mt19937_64 random(std::random_device{}() + static_cast<unsigned>(index));
  int failures_in_a_row = 0;
  while (!stopping_) {
    std::optional<Acked> target;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!readable_.empty()) target = readable_[random() % readable_.size()];
    }
    if (!target) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    v1::DecryptCredentialRequest request;
    request.set_org_id(target->org);
    request.set_name(target->name);
    request.set_version(target->version);
    request.set_purpose("fault test");
    const std::string request_id = "fault-" + RandomHex(10);
    v1::DecryptCredentialResponse response;
    const auto context = ReadyContext(options_.call_deadline, request_id);
    const grpc::Status status = stub.DecryptCredential(context.get(), request, &response);
    if (!status.ok()) {
      CountFailure(status.error_code(), "DecryptCredential " + target->name,
                   status.error_message());
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ++counts_.decrypt_failures;
      }
      Backoff(random, failures_in_a_row++);
      continue;
    }
    failures_in_a_row = 0;
    std::lock_guard<std::mutex> lock(mutex_);
    if (response.secret() != target->secret || response.credential().version() != target->version) {
      ++counts_.unexpected;
      if (counts_.unexpected_examples.size() < 5) {
        counts_.unexpected_examples.push_back("Decrypt " + target->name + " v" +
                                              std::to_string(target->version) +
                                              " returned other bytes or another version");
      }
    }
    ++counts_.decrypts_acked;
    decrypts_.push_back(
        AckedDecrypt{target->org, target->name, request_id, response.audit_sequence()});
    ++decrypts_acked_;
  }
}

std::optional<std::chrono::milliseconds> FaultLoad::WaitForProgress(
    std::chrono::milliseconds timeout, int puts, int decrypts) {
  const auto started = Clock::now();
  const std::uint64_t puts_goal = puts_acked_ + static_cast<std::uint64_t>(puts);
  const std::uint64_t decrypts_goal = decrypts_acked_ + static_cast<std::uint64_t>(decrypts);
  while (Clock::now() - started < timeout) {
    if (puts_acked_ >= puts_goal && decrypts_acked_ >= decrypts_goal) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return std::nullopt;
}

std::vector<std::string> FaultLoad::CheckInvariants() {
  Stop();
  std::vector<std::string> failures;
  Clients writer(TlsChannel(stack_, stack_.write_addr, Caller::Cert("backend")));
  Clients worker(TlsChannel(stack_, stack_.decrypt_addr, Caller::Cert("worker")));
  Clients admin(TlsChannel(stack_, stack_.decrypt_addr, Caller::Cert("admin")));
  std::uint64_t versions_checked = 0;
  std::set<std::string> orgs;
  for (const NameHistory& history : histories_) {
    orgs.insert(history.org);
    std::uint64_t last_acked = 0;
    std::uint64_t given_up_since = 0;
    for (std::size_t i = 0; i < history.versions.size(); ++i) {
      const std::uint64_t version = history.versions[i];
      if (version == 0) {
        ++given_up_since;
        continue;
      }
      // One version per Put: the acknowledged versions of a name rise by one per Put in
      // between; more would mean a retried key wrote twice.
      if (last_acked != 0 && version > last_acked + 1 + given_up_since) {
        failures.push_back(history.name + ": version " + std::to_string(version) +
                           " acknowledged after " + std::to_string(last_acked) + " with only " +
                           std::to_string(given_up_since) + " unknown Puts between");
      }
      if (version <= last_acked) {
        failures.push_back(history.name + ": version " + std::to_string(version) +
                           " acknowledged after " + std::to_string(last_acked));
      }
      std::string secret;
      const Outcome read =
          Decrypt(worker, history.org, history.name, &secret, version, "fault test check");
      ++versions_checked;
      if (!read.ok()) {
        failures.push_back(history.name + " v" + std::to_string(version) +
                           " was acknowledged but does not decrypt: " + read.message);
      } else if (secret != history.secrets[i]) {
        failures.push_back(history.name + " v" + std::to_string(version) +
                           " decrypts to other bytes than were put");
      }
      last_acked = version;
      given_up_since = 0;
    }
    if (last_acked == 0) continue;
    v1::CredentialMetadata current;
    const Outcome described = Describe(writer, history.org, history.name, &current);
    if (!described.ok()) {
      failures.push_back(history.name + ": Describe failed: " + described.message);
    } else if (current.version() < last_acked || current.version() > last_acked + given_up_since) {
      failures.push_back(history.name + ": current version " + std::to_string(current.version()) +
                         ", last acknowledged " + std::to_string(last_acked) + " with " +
                         std::to_string(given_up_since) + " unknown Puts after it");
    }
  }
  std::map<std::string, std::map<std::uint64_t, v1::AuditEvent>> events_by_org;
  for (const std::string& org : orgs) {
    for (v1::AuditEvent& event : AuditEvents(admin, org)) {
      events_by_org[org][event.sequence()] = std::move(event);
    }
    v1::VerifyAuditLogRequest verify;
    verify.set_org_id(org);
    v1::VerifyAuditLogResponse verified;
    const Outcome outcome =
        Call(*admin.admin, &v1::AdminService::Stub::VerifyAuditLog, verify, &verified, 60);
    if (!outcome.ok()) {
      failures.push_back("VerifyAuditLog " + org + ": " + outcome.message);
    } else if (!verified.ok()) {
      failures.push_back("audit chain of " + org + " does not verify at " +
                         std::to_string(verified.first_broken_sequence()) + ": " +
                         verified.failure_detail());
    }
  }
  for (const AckedDecrypt& decrypt : decrypts_) {
    const auto& events = events_by_org[decrypt.org];
    const auto it = events.find(decrypt.audit_sequence);
    if (it == events.end() || it->second.action() != "credential.decrypt" ||
        it->second.target() != decrypt.name || it->second.request_id() != decrypt.request_id) {
      failures.push_back("acknowledged Decrypt " + decrypt.request_id + " of " + decrypt.name +
                         " has no credential.decrypt event at sequence " +
                         std::to_string(decrypt.audit_sequence));
      if (failures.size() > 50) break;
    }
  }
  std::cerr << "[ fault ] checked " << versions_checked << " acknowledged versions, "
            << decrypts_.size() << " acknowledged decrypts, " << orgs.size()
            << " audit chains: " << failures.size() << " lost or broken\n";
  return failures;
}

std::string RestartCredvaultdInPlace(int signal_number, std::chrono::milliseconds down_for) {
  const Stack* stack = CurrentStack();
  if (stack == nullptr) return "no stack";
  YAML::Node config;
  try {
    config = YAML::LoadFile(stack->config);
  } catch (const YAML::Exception& e) {
    return std::string("cannot read the configuration: ") + e.what();
  }
  config["listeners"]["write"]["address"] = stack->write_addr;
  config["listeners"]["decrypt"]["address"] = stack->decrypt_addr;
  if (config["metrics"]) config["metrics"]["address"] = stack->metrics_addr;
  if (config["listeners"]["health"]) {
    const std::string health = stack->env.count("CREDVAULT_HEALTH_ADDR") != 0
                                   ? stack->env.at("CREDVAULT_HEALTH_ADDR")
                                   : "";
    const std::string current = config["listeners"]["health"]["address"].as<std::string>("");
    // The health port is known for the first credvaultd of the stack only; later ones keep
    // whatever the file says.
    if (!health.empty() && current.size() > 2 && current.substr(current.size() - 2) == ":0") {
      config["listeners"]["health"]["address"] = health;
    }
  }
  YAML::Emitter out;
  out << config;
  WriteFileOrDie(stack->config, std::string(out.c_str()) + "\n");
  if (!StopCredvaultd(stack->pid, signal_number, std::chrono::seconds(60))) {
    return "credvaultd " + std::to_string(stack->pid) + " did not stop";
  }
  std::this_thread::sleep_for(down_for);
  return StartCredvaultd();
}

namespace {

std::string PgCtl(const Stack& stack, const std::string& args) {
  const std::string pg = stack.dir + "/pg";
  const std::string command = ShellQuote(stack.env.at("CREDVAULT_PG_BIN") + "/pg_ctl") + " -D " +
                              ShellQuote(pg + "/data") + " -w -t 60 -l " +
                              ShellQuote(pg + "/server.log") + " " + args;
  const CommandResult result =
      RunShell((::geteuid() == 0 ? "runuser -u postgres -- " : "") + command + " 2>&1");
  return result.exit_code == 0 ? "" : "pg_ctl " + args + ": " + result.output;
}

}  // namespace

std::string StopPostgres(const Stack& stack, const std::string& mode) {
  return PgCtl(stack, "-m " + mode + " stop");
}

std::string StartPostgres(const Stack& stack) {
  return PgCtl(stack, "-o " +
                          ShellQuote("-p " + stack.env.at("CREDVAULT_PG_PORT") + " -k " +
                                     stack.env.at("CREDVAULT_PG_SOCKET_DIR") +
                                     " -c listen_addresses=127.0.0.1") +
                          " start");
}

long ResidentKiB(pid_t pid) {
  std::istringstream status(ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

}  // namespace credvault::e2e

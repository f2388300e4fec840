// credvault_load: a closed-loop load generator for a running credvaultd.
//
// N client threads each issue blocking PutCredential and/or DecryptCredential calls back
// to back for a warm-up period and then for the measured duration, and the tool prints
// throughput, latency percentiles (exact, from every sample) and errors by gRPC code.
//
//   credvault_load --write-addr=127.0.0.1:7001 --decrypt-addr=127.0.0.1:7002
//     --ca=pki/ca.pem --cert=pki/backend.pem --key=pki/backend.key
//     --decrypt-cert=pki/worker.pem --decrypt-key=pki/worker.key
//     --mode=mix --put-fraction=0.2 --concurrency=16 --duration=10s --warmup=2s
//
// Workload: credential i (0 <= i < --credentials) is named "<prefix>/cred-<i>" in org
// "<prefix>-<i mod --orgs>"; every request picks i uniformly at random. A Put replaces
// the credential (a new version with a fresh random secret of --secret-size bytes, no
// labels, no idempotency key); a Decrypt reads its current version with a fixed purpose.
// Before measuring, the tool puts every credential once (--populate=false skips that when
// an earlier run already did), so that Decrypt finds them and Put never pays for the
// provisioning of a new org.
//
// Counting: a request belongs to the measurement when it starts after the warm-up; no
// request starts after warm-up + duration. Throughput is successful requests divided by
// the time from the end of the warm-up to the last measured completion. Latency
// percentiles are over successful requests (nearest rank); errors are counted by code.
// The last output line is machine-readable:
//   RESULT mode=put rps=1234.5 p50_ms=.. p99_ms=.. p999_ms=.. errors=0
// With --server-pid=PID (a credvaultd on this machine) it also reports the server's CPU
// time per successful request and how busy the whole machine was, over the measurement.
//
// Secrets are random bytes from libsodium; they are never printed.
#include <grpcpp/grpcpp.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/grpc_status_name.h"
#include "credvault/v1/credential_access_service.grpc.pb.h"
#include "credvault/v1/credential_service.grpc.pb.h"

namespace credvault::bench {
namespace {

namespace v1 = ::credvault::v1;
using Clock = std::chrono::steady_clock;

enum class Mode { kPut, kDecrypt, kMix };
enum class Op { kPut = 0, kDecrypt = 1 };
constexpr std::size_t kOpCount = 2;
constexpr std::size_t kCodeCount = 17;  // grpc::StatusCode 0..16

const char* ModeName(Mode mode) {
  switch (mode) {
    case Mode::kPut:
      return "put";
    case Mode::kDecrypt:
      return "decrypt";
    case Mode::kMix:
      return "mix";
  }
  return "?";
}

const char* OpName(Op op) { return op == Op::kPut ? "put" : "decrypt"; }

std::string CodeName(std::size_t code) {
  if (code >= kCodeCount) return "UNKNOWN_CODE";
  return std::string(GrpcStatusName(static_cast<grpc::StatusCode>(code)).value_or("UNKNOWN_CODE"));
}

struct Options {
  std::string write_addr;
  std::string decrypt_addr;
  std::string ca;
  std::string cert;
  std::string key;
  std::string decrypt_cert;
  std::string decrypt_key;
  std::string server_name;
  Mode mode = Mode::kPut;
  double put_fraction = 0.2;
  int concurrency = 16;
  int channels = 0;  // 0: one per 4 threads
  double duration_s = 10;
  double warmup_s = 2;
  double timeout_s = 10;
  std::size_t secret_size = 256;
  int orgs = 16;
  int credentials = 1000;
  std::string prefix = "load";
  bool populate = true;
  int server_pid = 0;
};

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "credvault_load: %s\n", message.c_str());
  std::exit(2);
}

void Usage() {
  std::fputs(
      "usage: credvault_load --mode=put|decrypt|mix [flags]\n"
      "  --write-addr=HOST:PORT      write listener (put, mix, populate)\n"
      "  --decrypt-addr=HOST:PORT    decrypt listener (decrypt, mix)\n"
      "  --ca=FILE                   CA certificate of the server\n"
      "  --cert=FILE --key=FILE      writer client certificate and key\n"
      "  --decrypt-cert=FILE --decrypt-key=FILE  decryptor client certificate and key\n"
      "  --server-name=NAME          TLS name to check instead of the address host\n"
      "  --put-fraction=F            share of Puts in mix mode (default 0.2)\n"
      "  --concurrency=N             client threads (default 16)\n"
      "  --channels=N                channels (connections) per listener (default N/4)\n"
      "  --duration=10s --warmup=2s  measured time and warm-up (s or ms suffix)\n"
      "  --timeout=10s               deadline of each call\n"
      "  --secret-size=256           bytes per secret\n"
      "  --orgs=16 --credentials=1000  key space (credential i lives in org i mod orgs)\n"
      "  --prefix=load               org and name prefix\n"
      "  --populate=true|false       put every credential once before measuring\n"
      "  --server-pid=PID            report this process's CPU time per request\n",
      stderr);
}

double ParseSeconds(std::string_view flag, const std::string& value) {
  char* end = nullptr;
  const double number = std::strtod(value.c_str(), &end);
  const std::string_view unit(end);
  double seconds = 0;
  if (unit.empty() || unit == "s") {
    seconds = number;
  } else if (unit == "ms") {
    seconds = number / 1000;
  } else if (unit == "m") {
    seconds = number * 60;
  } else {
    Die(std::string(flag) + ": not a duration: " + value);
  }
  if (end == value.c_str() || !(seconds >= 0) || !std::isfinite(seconds)) {
    Die(std::string(flag) + ": not a duration: " + value);
  }
  return seconds;
}

long ParseInt(std::string_view flag, const std::string& value, long min, long max) {
  char* end = nullptr;
  const long number = std::strtol(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || number < min || number > max) {
    Die(std::string(flag) + ": must be an integer in " + std::to_string(min) + ".." +
        std::to_string(max) + ", got " + value);
  }
  return number;
}

bool ParseBool(std::string_view flag, const std::string& value) {
  if (value == "true" || value == "1" || value == "yes") return true;
  if (value == "false" || value == "0" || value == "no") return false;
  Die(std::string(flag) + ": must be true or false, got " + value);
}

Options ParseFlags(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      Usage();
      std::exit(0);
    }
    const std::size_t eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string::npos) {
      Usage();
      Die("flags take the form --name=value: " + arg);
    }
    const std::string name = arg.substr(2, eq - 2);
    const std::string value = arg.substr(eq + 1);
    if (name == "write-addr") {
      o.write_addr = value;
    } else if (name == "decrypt-addr") {
      o.decrypt_addr = value;
    } else if (name == "ca") {
      o.ca = value;
    } else if (name == "cert") {
      o.cert = value;
    } else if (name == "key") {
      o.key = value;
    } else if (name == "decrypt-cert") {
      o.decrypt_cert = value;
    } else if (name == "decrypt-key") {
      o.decrypt_key = value;
    } else if (name == "server-name") {
      o.server_name = value;
    } else if (name == "mode") {
      if (value == "put") {
        o.mode = Mode::kPut;
      } else if (value == "decrypt") {
        o.mode = Mode::kDecrypt;
      } else if (value == "mix") {
        o.mode = Mode::kMix;
      } else {
        Die("--mode: must be put, decrypt or mix");
      }
    } else if (name == "put-fraction") {
      char* end = nullptr;
      o.put_fraction = std::strtod(value.c_str(), &end);
      if (*end != '\0' || !(o.put_fraction >= 0 && o.put_fraction <= 1)) {
        Die("--put-fraction: must be a number in [0, 1]");
      }
    } else if (name == "concurrency") {
      o.concurrency = static_cast<int>(ParseInt(name, value, 1, 4096));
    } else if (name == "channels") {
      o.channels = static_cast<int>(ParseInt(name, value, 1, 4096));
    } else if (name == "duration") {
      o.duration_s = ParseSeconds(name, value);
    } else if (name == "warmup") {
      o.warmup_s = ParseSeconds(name, value);
    } else if (name == "timeout") {
      o.timeout_s = ParseSeconds(name, value);
    } else if (name == "secret-size") {
      o.secret_size = static_cast<std::size_t>(ParseInt(name, value, 1, 1 << 20));
    } else if (name == "orgs") {
      o.orgs = static_cast<int>(ParseInt(name, value, 1, 1000000));
    } else if (name == "credentials") {
      o.credentials = static_cast<int>(ParseInt(name, value, 1, 100000000));
    } else if (name == "prefix") {
      o.prefix = value;
    } else if (name == "populate") {
      o.populate = ParseBool(name, value);
    } else if (name == "server-pid") {
      o.server_pid = static_cast<int>(ParseInt(name, value, 1, 1 << 30));
    } else {
      Usage();
      Die("unknown flag --" + name);
    }
  }
  if (o.duration_s <= 0) Die("--duration: must be positive");
  if (o.timeout_s <= 0) Die("--timeout: must be positive");
  if (o.credentials < o.orgs) Die("--credentials: must be at least --orgs");
  const bool puts = o.mode != Mode::kDecrypt || o.populate;
  const bool decrypts = o.mode != Mode::kPut;
  if (puts && (o.write_addr.empty() || o.cert.empty() || o.key.empty())) {
    Die("put and populate need --write-addr, --cert and --key");
  }
  if (decrypts && (o.decrypt_addr.empty() || o.decrypt_cert.empty() || o.decrypt_key.empty())) {
    Die("decrypt needs --decrypt-addr, --decrypt-cert and --decrypt-key");
  }
  if (o.ca.empty()) Die("--ca is required");
  if (o.channels == 0) o.channels = std::max(1, (o.concurrency + 3) / 4);
  o.channels = std::min(o.channels, o.concurrency);
  return o;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Die("cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// One channel per connection: a distinct channel argument and a local subchannel pool keep
// gRPC from sharing one HTTP/2 connection among channels to the same address.
std::vector<std::shared_ptr<grpc::Channel>> MakeChannels(const Options& o, const std::string& addr,
                                                         const std::string& cert_file,
                                                         const std::string& key_file) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFile(o.ca);
  ssl.pem_cert_chain = ReadFile(cert_file);
  ssl.pem_private_key = ReadFile(key_file);
  const std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::SslCredentials(ssl);
  sodium_memzero(ssl.pem_private_key.data(), ssl.pem_private_key.size());
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < o.channels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("credvault.load.channel_index", i);
    if (!o.server_name.empty()) args.SetSslTargetNameOverride(o.server_name);
    channels.push_back(grpc::CreateCustomChannel(addr, credentials, args));
  }
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(10);
  for (const auto& channel : channels) {
    if (!channel->WaitForConnected(deadline)) Die("cannot connect to " + addr);
  }
  return channels;
}

// CPU time of one process and of the whole machine, from /proc.
struct CpuSnapshot {
  double process_s = -1;  // user + system; -1 when unknown
  double machine_busy_s = 0;
  double machine_total_s = 0;
};

CpuSnapshot ReadCpu(int pid) {
  CpuSnapshot snapshot;
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  if (pid > 0) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Fields after the command name, which is in parentheses and may hold spaces: state is
    // field 3, utime and stime are fields 14 and 15.
    const std::size_t close = stat.rfind(')');
    if (close != std::string::npos) {
      std::istringstream fields(stat.substr(close + 1));
      std::string field;
      double utime = 0, stime = 0;
      for (int index = 3; fields >> field && index <= 15; ++index) {
        if (index == 14) utime = std::strtod(field.c_str(), nullptr);
        if (index == 15) stime = std::strtod(field.c_str(), nullptr);
      }
      snapshot.process_s = (utime + stime) / hz;
    }
  }
  std::ifstream in("/proc/stat");
  std::string cpu;
  in >> cpu;
  if (cpu == "cpu") {
    // user nice system idle iowait irq softirq steal (guest time is inside user)
    double value = 0;
    for (int index = 0; index < 8 && in >> value; ++index) {
      snapshot.machine_total_s += value / hz;
      if (index != 3 && index != 4) snapshot.machine_busy_s += value / hz;
    }
  }
  return snapshot;
}

struct Credential {
  std::string org;
  std::string name;
};

struct Sample {
  std::int64_t latency_ns;
  Op op;
};

// What one thread saw during the measurement.
struct ThreadResult {
  std::vector<Sample> samples;  // successful requests only
  std::array<std::array<std::uint64_t, kCodeCount>, kOpCount> codes{};
  std::uint64_t wrong_secret = 0;
  Clock::time_point last_completion{};
};

class Client {
 public:
  Client(const Options& o, std::shared_ptr<grpc::Channel> write,
         std::shared_ptr<grpc::Channel> decrypt)
      : options_(o),
        writer_(write ? v1::CredentialService::NewStub(write) : nullptr),
        decryptor_(decrypt ? v1::CredentialAccessService::NewStub(decrypt) : nullptr) {
    put_.mutable_secret()->resize(o.secret_size);
    decrypt_.set_purpose("credvault_load benchmark");
  }

  grpc::StatusCode Put(const Credential& c) {
    put_.set_org_id(c.org);
    put_.set_name(c.name);
    std::string& secret = *put_.mutable_secret();
    randombytes_buf(secret.data(), secret.size());
    grpc::ClientContext context;
    SetDeadline(context);
    v1::PutCredentialResponse response;
    const grpc::Status status = writer_->PutCredential(&context, put_, &response);
    sodium_memzero(secret.data(), secret.size());
    return status.error_code();
  }

  // Also tells whether the secret had the expected size (a cheap sanity check).
  grpc::StatusCode Decrypt(const Credential& c, bool& size_ok) {
    decrypt_.set_org_id(c.org);
    decrypt_.set_name(c.name);
    grpc::ClientContext context;
    SetDeadline(context);
    v1::DecryptCredentialResponse response;
    const grpc::Status status = decryptor_->DecryptCredential(&context, decrypt_, &response);
    size_ok = response.secret().size() == options_.secret_size;
    std::string* secret = response.mutable_secret();
    sodium_memzero(secret->data(), secret->size());
    return status.error_code();
  }

 private:
  void SetDeadline(grpc::ClientContext& context) const {
    context.set_deadline(
        std::chrono::system_clock::now() +
        std::chrono::microseconds(static_cast<std::int64_t>(options_.timeout_s * 1e6)));
    // A call that fails fast while the channel reconnects drives nothing: without this, a
    // run across a credvaultd restart never reconnects (docs/api.md, "Reconnecting").
    context.set_wait_for_ready(true);
  }

  const Options& options_;
  std::unique_ptr<v1::CredentialService::Stub> writer_;
  std::unique_ptr<v1::CredentialAccessService::Stub> decryptor_;
  v1::PutCredentialRequest put_;
  v1::DecryptCredentialRequest decrypt_;
};

std::vector<Credential> KeySpace(const Options& o) {
  std::vector<Credential> all;
  all.reserve(static_cast<std::size_t>(o.credentials));
  for (int i = 0; i < o.credentials; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "cred-%06d", i);
    all.push_back({o.prefix + "-" + std::to_string(i % o.orgs), o.prefix + "/" + name});
  }
  return all;
}

std::shared_ptr<grpc::Channel> Pick(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                                    int thread) {
  if (channels.empty()) return nullptr;
  return channels[static_cast<std::size_t>(thread) % channels.size()];
}

// Puts every credential once, with as many threads as the measurement will use.
void Populate(const Options& o, const std::vector<std::shared_ptr<grpc::Channel>>& write,
              const std::vector<Credential>& keys) {
  std::atomic<std::size_t> next{0};
  std::atomic<std::uint64_t> failures{0};
  std::atomic<int> last_failure{0};
  const Clock::time_point start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < o.concurrency; ++t) {
    threads.emplace_back([&, t] {
      Client client(o, Pick(write, t), nullptr);
      for (std::size_t i = next++; i < keys.size(); i = next++) {
        grpc::StatusCode code = grpc::StatusCode::UNAVAILABLE;
        for (int attempt = 0; attempt < 3 && code != grpc::StatusCode::OK; ++attempt) {
          code = client.Put(keys[i]);
        }
        if (code != grpc::StatusCode::OK) {
          ++failures;
          last_failure = static_cast<int>(code);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (failures > 0) {
    Die("populate: " + std::to_string(failures.load()) + " of " + std::to_string(keys.size()) +
        " puts failed (last code " + CodeName(static_cast<std::size_t>(last_failure.load())) + ")");
  }
  std::printf("populated     %zu credentials in %zu orgs in %.1f s\n", keys.size(),
              static_cast<std::size_t>(o.orgs), seconds);
}

ThreadResult RunThread(const Options& o, int thread, std::shared_ptr<grpc::Channel> write,
                       std::shared_ptr<grpc::Channel> decrypt, const std::vector<Credential>& keys,
                       Clock::time_point measure_from, Clock::time_point stop_at) {
  ThreadResult result;
  result.samples.reserve(static_cast<std::size_t>(std::min(o.duration_s * 2000, 1e7)));
  Client client(o, std::move(write), std::move(decrypt));
  std::mt19937_64 rng(std::random_device{}() ^ (static_cast<std::uint64_t>(thread) << 32));
  std::uniform_int_distribution<std::size_t> pick(0, keys.size() - 1);
  std::bernoulli_distribution is_put(o.mode == Mode::kPut       ? 1.0
                                     : o.mode == Mode::kDecrypt ? 0.0
                                                                : o.put_fraction);
  while (true) {
    const Clock::time_point start = Clock::now();
    if (start >= stop_at) break;
    const Credential& c = keys[pick(rng)];
    const Op op = is_put(rng) ? Op::kPut : Op::kDecrypt;
    bool size_ok = true;
    const grpc::StatusCode code = op == Op::kPut ? client.Put(c) : client.Decrypt(c, size_ok);
    const Clock::time_point end = Clock::now();
    if (start < measure_from) continue;
    const std::size_t code_index = static_cast<std::size_t>(code) < kCodeCount
                                       ? static_cast<std::size_t>(code)
                                       : static_cast<std::size_t>(grpc::StatusCode::UNKNOWN);
    ++result.codes[static_cast<std::size_t>(op)][code_index];
    result.last_completion = std::max(result.last_completion, end);
    if (code != grpc::StatusCode::OK) continue;
    if (!size_ok) ++result.wrong_secret;
    result.samples.push_back(
        {std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count(), op});
  }
  return result;
}

// Nearest-rank percentile of sorted latencies, in milliseconds.
double PercentileMs(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  std::size_t rank = static_cast<std::size_t>(std::ceil(p / 100.0 * sorted.size()));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]) / 1e6;
}

struct Summary {
  std::uint64_t ok = 0;
  double rps = 0;
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0, mean = 0;
};

Summary Summarize(std::vector<std::int64_t> latencies, double seconds) {
  std::sort(latencies.begin(), latencies.end());
  Summary s;
  s.ok = latencies.size();
  s.rps = seconds > 0 ? static_cast<double>(s.ok) / seconds : 0;
  s.p50 = PercentileMs(latencies, 50);
  s.p90 = PercentileMs(latencies, 90);
  s.p99 = PercentileMs(latencies, 99);
  s.p999 = PercentileMs(latencies, 99.9);
  s.max = PercentileMs(latencies, 100);
  double total = 0;
  for (const std::int64_t l : latencies) total += static_cast<double>(l);
  s.mean = latencies.empty() ? 0 : total / static_cast<double>(latencies.size()) / 1e6;
  return s;
}

void PrintLatency(const char* label, const Summary& s) {
  std::printf("%-13s %" PRIu64
              " ok, %.1f req/s; ms: p50 %.2f  p90 %.2f  p99 %.2f  p999 %.2f  "
              "max %.2f  mean %.2f\n",
              label, s.ok, s.rps, s.p50, s.p90, s.p99, s.p999, s.max, s.mean);
}

int Main(int argc, char** argv) {
  const Options o = ParseFlags(argc, argv);
  if (sodium_init() < 0) Die("libsodium failed to initialise");

  const bool need_write = o.mode != Mode::kDecrypt || o.populate;
  const bool need_decrypt = o.mode != Mode::kPut;
  std::vector<std::shared_ptr<grpc::Channel>> write;
  std::vector<std::shared_ptr<grpc::Channel>> decrypt;
  if (need_write) write = MakeChannels(o, o.write_addr, o.cert, o.key);
  if (need_decrypt) decrypt = MakeChannels(o, o.decrypt_addr, o.decrypt_cert, o.decrypt_key);

  const std::vector<Credential> keys = KeySpace(o);
  if (o.populate) Populate(o, write, keys);

  const Clock::time_point start = Clock::now() + std::chrono::milliseconds(50);
  const Clock::time_point measure_from =
      start + std::chrono::microseconds(static_cast<std::int64_t>(o.warmup_s * 1e6));
  const Clock::time_point stop_at =
      measure_from + std::chrono::microseconds(static_cast<std::int64_t>(o.duration_s * 1e6));
  std::vector<ThreadResult> results(static_cast<std::size_t>(o.concurrency));
  CpuSnapshot cpu_start;
  std::vector<std::thread> threads;
  for (int t = 0; t < o.concurrency; ++t) {
    threads.emplace_back([&, t] {
      std::this_thread::sleep_until(start);
      results[static_cast<std::size_t>(t)] =
          RunThread(o, t, o.mode == Mode::kDecrypt ? nullptr : Pick(write, t),
                    o.mode == Mode::kPut ? nullptr : Pick(decrypt, t), keys, measure_from, stop_at);
    });
  }
  std::this_thread::sleep_until(measure_from);
  cpu_start = ReadCpu(o.server_pid);
  const CpuSnapshot self_start = ReadCpu(static_cast<int>(getpid()));
  for (std::thread& thread : threads) thread.join();
  const CpuSnapshot cpu_end = ReadCpu(o.server_pid);
  const CpuSnapshot self_end = ReadCpu(static_cast<int>(getpid()));

  Clock::time_point last = measure_from;
  std::array<std::vector<std::int64_t>, kOpCount> by_op;
  std::vector<std::int64_t> all;
  std::array<std::uint64_t, kCodeCount> codes{};
  std::uint64_t wrong_secret = 0;
  for (const ThreadResult& r : results) {
    last = std::max(last, r.last_completion);
    wrong_secret += r.wrong_secret;
    for (const Sample& s : r.samples) {
      by_op[static_cast<std::size_t>(s.op)].push_back(s.latency_ns);
      all.push_back(s.latency_ns);
    }
    for (std::size_t op = 0; op < kOpCount; ++op) {
      for (std::size_t code = 0; code < kCodeCount; ++code) codes[code] += r.codes[op][code];
    }
  }
  const double seconds = std::chrono::duration<double>(last - measure_from).count();
  std::uint64_t errors = 0;
  std::string error_text;
  for (std::size_t code = 1; code < kCodeCount; ++code) {
    if (codes[code] == 0) continue;
    errors += codes[code];
    error_text += std::string(error_text.empty() ? "" : " ") + CodeName(code) + "=" +
                  std::to_string(codes[code]);
  }
  const Summary total = Summarize(all, seconds);

  std::printf("mode          %s", ModeName(o.mode));
  if (o.mode == Mode::kMix) std::printf(" (put fraction %.2f)", o.put_fraction);
  std::printf("\nconcurrency   %d threads, %d channel(s) per listener\n", o.concurrency,
              o.channels);
  std::printf("workload      %zu-byte secrets, %d credentials over %d orgs\n", o.secret_size,
              o.credentials, o.orgs);
  std::printf("duration      %.2f s measured after %.1f s warm-up\n", seconds, o.warmup_s);
  std::printf("requests      %" PRIu64 " (%" PRIu64 " ok, %" PRIu64 " errors)\n", total.ok + errors,
              total.ok, errors);
  std::printf("errors        %s\n", error_text.empty() ? "none" : error_text.c_str());
  if (wrong_secret > 0) {
    std::printf("WARNING       %" PRIu64 " decrypts returned a secret of the wrong size\n",
                wrong_secret);
  }
  std::printf("throughput    %.1f req/s\n", total.rps);
  std::printf("latency ms    p50 %.3f  p99 %.3f  p999 %.3f  (p90 %.3f, max %.3f, mean %.3f)\n",
              total.p50, total.p99, total.p999, total.p90, total.max, total.mean);
  std::string extra;
  const double machine_s = cpu_end.machine_total_s - cpu_start.machine_total_s;
  if (machine_s > 0) {
    const double busy = 100 * (cpu_end.machine_busy_s - cpu_start.machine_busy_s) / machine_s;
    std::printf("machine CPU   %.0f%% busy (all processes, %ld CPUs)\n", busy,
                sysconf(_SC_NPROCESSORS_ONLN));
    char field[64];
    std::snprintf(field, sizeof(field), " machine_busy_pct=%.0f", busy);
    extra += field;
  }
  if (o.server_pid > 0 && cpu_start.process_s >= 0 && cpu_end.process_s >= 0 && total.ok > 0) {
    const double per_request_ms =
        1000 * (cpu_end.process_s - cpu_start.process_s) / static_cast<double>(total.ok);
    std::printf("server CPU    %.3f ms per request (pid %d, user + system)\n", per_request_ms,
                o.server_pid);
    char field[64];
    std::snprintf(field, sizeof(field), " server_cpu_ms=%.3f", per_request_ms);
    extra += field;
  }
  if (total.ok > 0) {
    const double per_request_ms =
        1000 * (self_end.process_s - self_start.process_s) / static_cast<double>(total.ok);
    std::printf("client CPU    %.3f ms per request (this load generator)\n", per_request_ms);
    char field[64];
    std::snprintf(field, sizeof(field), " client_cpu_ms=%.3f", per_request_ms);
    extra += field;
  }
  if (o.mode == Mode::kMix) {
    for (const Op op : {Op::kPut, Op::kDecrypt}) {
      const Summary s = Summarize(by_op[static_cast<std::size_t>(op)], seconds);
      PrintLatency(OpName(op), s);
      char field[160];
      std::snprintf(field, sizeof(field), " %s_rps=%.1f %s_p50_ms=%.3f %s_p99_ms=%.3f", OpName(op),
                    s.rps, OpName(op), s.p50, OpName(op), s.p99);
      extra += field;
    }
  }
  std::printf("RESULT mode=%s rps=%.1f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f errors=%" PRIu64 "%s\n",
              ModeName(o.mode), total.rps, total.p50, total.p99, total.p999, errors + wrong_secret,
              extra.c_str());
  std::fflush(stdout);
  return errors + wrong_secret == 0 ? 0 : 1;
}

}  // namespace
}  // namespace credvault::bench

int main(int argc, char** argv) { return credvault::bench::Main(argc, argv); }

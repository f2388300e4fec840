// Hostile network input against every listener of a running credvaultd (write, decrypt with
// the admin service, and the plaintext health listener): malformed HTTP/2, malformed
// protobuf in the body of real methods, 10 MiB of metadata, thousands of idle streams,
// slow-loris connections and TLS handshakes that never finish. Meanwhile a well-behaved
// client keeps calling within its deadline; credvaultd's memory and descriptors stay
// bounded; and nothing is written: the canary org's credentials and audit events are the
// same afterwards. Each phase prints what it sent and what the server answered.
#include <grpcpp/generic/generic_stub.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/e2e/support/e2e_support.h"
#include "tests/e2e/support/raw_http2.h"

namespace credvault::e2e {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

// Before the stack starts: its credvaultd inherits the limit (memory is bounded below).
[[maybe_unused]] const bool kSmallQuarantine = LimitSanitizerQuarantine();
[[maybe_unused]] ::testing::Environment* const kStack =
    ::testing::AddGlobalTestEnvironment(new StackEnvironment("hostile"));

// How long credvaultd may leave a TLS handshake unfinished before dropping the connection
// (kServerHandshakeTimeout in server/api/grpc_listener.cc), plus slack for a loaded machine.
constexpr auto kHandshakeDropDeadline = seconds(10) + seconds(8);
// What the attack may add to credvaultd's resident memory, at its peak or afterwards.
const long kRssGrowthBoundKib = SanitizerRssSlackKiB() + 150 * 1024;
// The well-behaved client's deadline for each call.
constexpr int kGoodCallDeadlineSeconds = 10;
// Connections of each kind per listener that stay open during the whole attack.
constexpr int kSlowLorisPerListener = 20;
constexpr int kStalledHandshakesPerListener = 20;

long ProcStatusKib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  }
  return -1;
}

long OpenDescriptors(pid_t pid) {
  std::error_code error;
  long count = 0;
  for (std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", error), end;
       !error && it != end; it.increment(error)) {
    ++count;
  }
  return count;
}

// Samples credvaultd's VmRSS every 100 ms on a thread of its own, keeping the peak.
class RssSampler {
 public:
  explicit RssSampler(pid_t pid) : pid_(pid), thread_([this] { Run(); }) {}
  ~RssSampler() {
    stop_ = true;
    thread_.join();
  }
  long peak_kib() const { return peak_kib_; }

 private:
  void Run() {
    while (!stop_) {
      peak_kib_ = std::max(peak_kib_.load(), ProcStatusKib(pid_, "VmRSS"));
      std::this_thread::sleep_for(milliseconds(100));
    }
  }
  const pid_t pid_;
  std::atomic<bool> stop_{false};
  std::atomic<long> peak_kib_{0};
  std::thread thread_;
};

// One listener under attack, and a real method on it whose body the attack malforms.
struct Listener {
  std::string name;
  std::string address;
  bool tls = true;
  std::string method;
  bool credvault_method = true;  // a credvault method: every malformed body must fail
};

// A body that is not the message the method takes. `well_formed_wire`: valid protobuf wire
// format that differs from the message only in unknown fields or mismatched wire types,
// which a parser keeps as unknown fields: the health service may then answer it.
struct MalformedBody {
  std::string name;
  std::string bytes;
  bool well_formed_wire = false;
};

std::string Varint(std::uint64_t value) {
  std::string out;
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
  return out;
}
std::string Tag(std::uint32_t field, int wire_type) { return Varint((field << 3) | wire_type); }
std::string LengthDelimited(std::uint32_t field, const std::string& value) {
  return Tag(field, 2) + Varint(value.size()) + value;
}

// Every body names the canary org where it names an org at all, so that a server that
// acted on one would change the canary org; none of them is a complete request.
std::vector<MalformedBody> MalformedBodies(const std::string& canary_org) {
  std::vector<MalformedBody> bodies;
  bodies.push_back({"unknown fields only",
                    Tag(1000, 0) + Varint(42) + LengthDelimited(1001, "junk") + Tag(1002, 1) +
                        std::string(8, '\x11') + Tag(1003, 5) + std::string(4, '\x22'),
                    true});
  bodies.push_back(
      {"wrong wire types",
       Tag(1, 0) + Varint(12345) + Tag(2, 5) + std::string(4, 'x') + Tag(4, 0) + Varint(7), true});
  std::string nested;
  for (int i = 0; i < 5000; ++i) nested += Tag(1000, 3);  // start group
  for (int i = 0; i < 5000; ++i) nested += Tag(1000, 4);  // end group
  bodies.push_back({"5000 nested groups", nested});
  std::string nested_open;
  for (int i = 0; i < 20000; ++i) nested_open += Tag(1000, 3);
  bodies.push_back({"20000 unclosed groups", nested_open});
  bodies.push_back({"truncated length-delimited field", Tag(1, 2) + Varint(100) + canary_org});
  bodies.push_back({"garbage", std::string(64, '\xff')});
  bodies.push_back({"field number 0", std::string("\x00\x01", 2) + LengthDelimited(1, canary_org)});
  bodies.push_back(
      {"4 GiB length", LengthDelimited(1, canary_org) + Tag(2, 2) + Varint(0xffffffffu)});
  bodies.push_back(
      {"invalid UTF-8 in a string field", LengthDelimited(1, canary_org + "\xff\xfe")});
  bodies.push_back({"200 KiB message", LengthDelimited(1, canary_org) +
                                           LengthDelimited(1001, std::string(200 * 1024, 'a'))});
  return bodies;
}

// Sends `body` as the message of `method` through gRPC itself, over `channel`.
Outcome CallWithRawBody(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                        const std::string& body) {
  grpc::GenericStub stub(channel);
  grpc::Slice slice(body);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::unique_ptr<grpc::ClientContext> context = Context(15);
  std::promise<grpc::Status> done;
  stub.UnaryCall(context.get(), method, grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  const grpc::Status status = done.get_future().get();
  return Outcome{status.error_code(), status.error_message(), ErrorReason(*context)};
}

// A client that does nothing wrong: every 150 ms a Describe and a Put on the write
// listener, a DescribeOrg on the decrypt listener (admin) and a health check on the health
// listener, on long-lived channels, and every fifth round the same on fresh connections.
class WellBehavedClient {
 public:
  WellBehavedClient(const Stack& stack, std::string org, std::string credential)
      : stack_(stack),
        org_(std::move(org)),
        credential_(std::move(credential)),
        thread_([this] { Run(); }) {}
  ~WellBehavedClient() { Stop(); }

  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::string Summary() {
    std::lock_guard<std::mutex> lock(mu_);
    std::ostringstream out;
    out << calls_ << " calls, " << failures_.size() << " failed, slowest " << slowest_.count()
        << " ms";
    for (const std::string& failure : failures_) out << "\n    " << failure;
    return out.str();
  }
  int calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  std::vector<std::string> failures() {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_;
  }

 private:
  struct Channels {
    std::unique_ptr<Clients> writer, admin;
    std::unique_ptr<grpc::health::v1::Health::Stub> health;
  };
  Channels Open() const {
    Channels channels;
    channels.writer =
        std::make_unique<Clients>(TlsChannel(stack_, stack_.write_addr, Caller::Cert("backend")));
    channels.admin =
        std::make_unique<Clients>(TlsChannel(stack_, stack_.decrypt_addr, Caller::Cert("admin")));
    const auto health = stack_.env.find("CREDVAULT_HEALTH_ADDR");
    if (health != stack_.env.end() && !health->second.empty()) {
      channels.health = grpc::health::v1::Health::NewStub(InsecureChannel(health->second));
    }
    return channels;
  }
  void Record(const std::string& what, const Outcome& outcome, Clock::duration took) {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_;
    slowest_ = std::max(slowest_, std::chrono::duration_cast<milliseconds>(took));
    if (!outcome.ok()) {
      std::ostringstream failure;
      failure << what << ": " << outcome;
      failures_.push_back(failure.str());
    }
  }
  void Round(Channels& channels, const std::string& suffix) {
    auto timed = [&](const std::string& what, const std::function<Outcome()>& call) {
      const Clock::time_point start = Clock::now();
      const Outcome outcome = call();
      Record(what + suffix, outcome, Clock::now() - start);
    };
    timed("Describe", [&] {
      v1::DescribeCredentialRequest request;
      request.set_org_id(org_);
      request.set_name(credential_);
      v1::DescribeCredentialResponse response;
      return Call(*channels.writer->credentials, &v1::CredentialService::Stub::DescribeCredential,
                  request, &response, kGoodCallDeadlineSeconds);
    });
    timed("Put", [&] {
      v1::PutCredentialResponse response;
      return Call(*channels.writer->credentials, &v1::CredentialService::Stub::PutCredential,
                  PutRequest(org_, "good/" + std::to_string(round_ % 4), "well-behaved"), &response,
                  kGoodCallDeadlineSeconds);
    });
    timed("DescribeOrg", [&] {
      v1::DescribeOrgRequest request;
      request.set_org_id(org_);
      v1::DescribeOrgResponse response;
      return Call(*channels.admin->admin, &v1::AdminService::Stub::DescribeOrg, request, &response,
                  kGoodCallDeadlineSeconds);
    });
    if (channels.health) {
      timed("HealthCheck", [&] {
        grpc::health::v1::HealthCheckRequest request;
        grpc::health::v1::HealthCheckResponse response;
        return Call(*channels.health, &grpc::health::v1::Health::Stub::Check, request, &response,
                    kGoodCallDeadlineSeconds);
      });
    }
  }
  void Run() {
    Channels steady = Open();
    while (!stop_) {
      Round(steady, "");
      if (round_ % 5 == 0) {
        Channels fresh = Open();
        Round(fresh, " (new connection)");
      }
      ++round_;
      std::this_thread::sleep_for(milliseconds(150));
    }
  }

  const Stack& stack_;
  const std::string org_, credential_;
  std::atomic<bool> stop_{false};
  int round_ = 0;
  std::mutex mu_;
  int calls_ = 0;
  milliseconds slowest_{0};
  std::vector<std::string> failures_;
  std::thread thread_;
};

constexpr std::size_t kMetadataBytes = 10 * 1024 * 1024;

// The request headers of a call to `method` and 10 MiB more: as ten thousand headers of
// 1000 bytes, or as one header.
std::string HugeHeaderBlock(const std::string& method, bool many_headers) {
  std::string block = raw::GrpcRequestHeaders(method, "localhost");
  if (many_headers) {
    const std::string value(1000, 'm');
    for (std::size_t i = 0; block.size() < kMetadataBytes; ++i) {
      block += raw::HpackLiteral("x-hostile-" + std::to_string(i), value);
    }
  } else {
    block += raw::HpackLiteral("x-hostile", std::string(kMetadataBytes, 'h'));
  }
  return block;
}

// Sends `block` on stream 1 as HEADERS and CONTINUATION frames of 16 KiB (the default
// largest frame); whether all of it went out (the server may stop reading or hang up).
bool SendHeaderBlock(raw::Connection& connection, const std::string& block,
                     std::size_t& sent_bytes) {
  constexpr std::size_t kChunk = 16384;
  sent_bytes = 0;
  for (std::size_t at = 0; at < block.size(); at += kChunk) {
    const bool last = at + kChunk >= block.size();
    const std::uint8_t type = at == 0 ? raw::kHeaders : raw::kContinuation;
    if (!connection.Send(raw::Frame(type, last ? raw::kEndHeaders : 0, 1,
                                    std::string_view(block).substr(at, kChunk)))) {
      return false;
    }
    sent_bytes += std::min(kChunk, block.size() - at);
  }
  return true;
}

struct SlowAttack;

class HostileInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // A server that closes a connection mid-write must not kill the test.
    signal(SIGPIPE, SIG_IGN);
  }

  void SetUp() override {
    stack_ = CurrentStack();
    ASSERT_NE(stack_, nullptr);
    const auto health = stack_->env.find("CREDVAULT_HEALTH_ADDR");
    ASSERT_TRUE(health != stack_->env.end() && !health->second.empty())
        << "the dev stack has no health listener";
    listeners_ = {
        {"write", stack_->write_addr, true, "/credvault.v1.CredentialService/PutCredential", true},
        {"decrypt", stack_->decrypt_addr, true, "/credvault.v1.AdminService/CreateOrg", true},
        {"health", health->second, false, "/grpc.health.v1.Health/Check", false},
    };
    tls_.ca_file = stack_->pki + "/ca.pem";
  }

  raw::TlsFiles TlsFor(const Listener& listener) const {
    raw::TlsFiles tls = tls_;
    const std::string who = listener.name == "decrypt" ? "admin" : "backend";
    tls.cert_file = stack_->pki + "/" + who + ".pem";
    tls.key_file = stack_->pki + "/" + who + ".key";
    return tls;
  }
  std::unique_ptr<raw::Connection> OpenRaw(const Listener& listener) const {
    return raw::Connection::Open(listener.address,
                                 listener.tls ? raw::Handshake::kFull : raw::Handshake::kNone,
                                 TlsFor(listener));
  }
  std::shared_ptr<grpc::Channel> ChannelTo(const Listener& listener) const {
    if (!listener.tls) return InsecureChannel(listener.address);
    return TlsChannel(*stack_, listener.address,
                      Caller::Cert(listener.name == "decrypt" ? "admin" : "backend"));
  }

  // The client preface and an empty SETTINGS frame: how every raw connection starts.
  static std::string SettingsPreface() {
    return std::string(raw::kPreface) + raw::Frame(raw::kSettings, 0, 0, "");
  }

  // The phases of the attack, in the order the test runs them; each states what it proves
  // where it is defined below.
  void StartSlowAttack(SlowAttack* slow) const;
  void SendMalformedBodies(const std::string& canary) const;
  void SendMalformedFrames() const;
  void SendHugeMetadata() const;
  void OpenThousandsOfStreams(pid_t pid) const;
  void ExpectStalledHandshakesDropped(SlowAttack& slow, Clock::time_point slow_start) const;

  const Stack* stack_ = nullptr;
  std::vector<Listener> listeners_;
  raw::TlsFiles tls_;
};

// Connections that misbehave slowly for as long as the attack lasts: slow-loris clients
// that send one byte a second, and TLS handshakes that never finish (nothing sent, or half
// a ClientHello). On the plaintext listener the stalled ones send nothing at all.
struct SlowAttack {
  struct Stalled {
    std::string listener;
    std::string kind;
    std::unique_ptr<raw::Connection> connection;
  };
  std::vector<Stalled> stalled;
  std::vector<std::pair<std::string, std::unique_ptr<raw::Connection>>> loris;
  std::string loris_bytes;
  std::atomic<bool> stop{false};
  std::atomic<int> loris_bytes_sent{0}, loris_dropped{0};
  std::thread drip;

  void StartDrip() {
    drip = std::thread([this] {
      std::vector<bool> dropped(loris.size(), false);
      for (std::size_t at = 0; !stop && at < loris_bytes.size(); ++at) {
        for (std::size_t i = 0; i < loris.size(); ++i) {
          if (dropped[i]) continue;
          if (loris[i].second->Send(loris_bytes.substr(at, 1))) {
            ++loris_bytes_sent;
          } else {
            dropped[i] = true;
            ++loris_dropped;
          }
        }
        for (int tick = 0; tick < 10 && !stop; ++tick)
          std::this_thread::sleep_for(milliseconds(100));
      }
    });
  }
  ~SlowAttack() {
    stop = true;
    if (drip.joinable()) drip.join();
  }
};

// Opens the slow attack on every listener (see SlowAttack) and starts its drip.
void HostileInputTest::StartSlowAttack(SlowAttack* slow) const {
  const std::string request_headers =
      raw::GrpcRequestHeaders("/credvault.v1.CredentialService/DescribeCredential", "localhost");
  slow->loris_bytes = std::string(raw::kPreface) + raw::Frame(raw::kSettings, 0, 0, "") +
                      raw::Frame(raw::kHeaders, raw::kEndHeaders, 1, request_headers);
  const std::string half_hello = raw::PartialClientHello(0.5);
  ASSERT_GT(half_hello.size(), 20u);
  for (const Listener& listener : listeners_) {
    for (int i = 0; i < kSlowLorisPerListener; ++i) {
      auto connection = OpenRaw(listener);
      if (connection) slow->loris.emplace_back(listener.name, std::move(connection));
    }
    for (int i = 0; i < kStalledHandshakesPerListener; ++i) {
      auto connection = raw::Connection::Open(listener.address, raw::Handshake::kNone);
      if (!connection) continue;
      std::string kind = "silent";
      if (listener.tls && i % 2 == 1) {
        kind = "half ClientHello";
        connection->Send(half_hello);
      }
      slow->stalled.push_back({listener.name, kind, std::move(connection)});
    }
  }
  ASSERT_EQ(slow->loris.size(), listeners_.size() * kSlowLorisPerListener)
      << "could not open every slow-loris connection";
  ASSERT_EQ(slow->stalled.size(), listeners_.size() * kStalledHandshakesPerListener);
  slow->StartDrip();
  std::printf(
      "[hostile] slow attack: %zu slow-loris connections (1 byte/s), %zu stalled handshakes "
      "(half a ClientHello of %zu bytes, or nothing)\n",
      slow->loris.size(), slow->stalled.size(), half_hello.size());
}

// Phase 1: malformed protobuf as the message of a real method, through gRPC. A credvault
// method refuses what does not parse, and a body that parses but lacks what every request
// needs with INVALID_ARGUMENT; nothing malformed is accepted.
void HostileInputTest::SendMalformedBodies(const std::string& canary) const {
  const std::vector<MalformedBody> bodies = MalformedBodies(canary);
  for (const Listener& listener : listeners_) {
    const std::shared_ptr<grpc::Channel> channel = ChannelTo(listener);
    std::map<std::string, int> codes;
    for (const MalformedBody& body : bodies) {
      const Outcome outcome = CallWithRawBody(channel, listener.method, body.bytes);
      ++codes[CodeName(outcome.code)];
      std::printf("[hostile] malformed body %-35s -> %s %s: %s\n", body.name.c_str(),
                  listener.method.c_str(), CodeName(outcome.code).c_str(),
                  outcome.message.substr(0, 100).c_str());
      if (listener.credvault_method && body.well_formed_wire) {
        // It parses (the unknown fields set aside), and lacks what every request needs.
        EXPECT_EQ(outcome.code, grpc::StatusCode::INVALID_ARGUMENT)
            << body.name << " to " << listener.method << ": " << outcome;
      } else if (listener.credvault_method || !body.well_formed_wire) {
        EXPECT_FALSE(outcome.ok()) << body.name << " to " << listener.method << " was accepted";
        // gRPC refuses a message it cannot parse before any handler sees it; for services
        // of the callback kind gRPC 1.51 says so with UNIMPLEMENTED and no message.
        const bool unparsable_to_callback_service =
            outcome.code == grpc::StatusCode::UNIMPLEMENTED && outcome.message.empty() &&
            listener.credvault_method;
        EXPECT_TRUE(outcome.code == grpc::StatusCode::INVALID_ARGUMENT ||
                    outcome.code == grpc::StatusCode::INTERNAL ||
                    outcome.code == grpc::StatusCode::RESOURCE_EXHAUSTED ||
                    unparsable_to_callback_service)
            << body.name << " to " << listener.method << ": " << outcome;
      }
    }
    std::string summary;
    for (const auto& [code, count] : codes) summary += " " + code + "=" + std::to_string(count);
    std::printf("[hostile] %s listener, %zu malformed bodies:%s\n", listener.name.c_str(),
                bodies.size(), summary.c_str());
  }
}

// Phase 2: malformed HTTP/2, on a connection of its own each: never answered OK, and
// closed or refused as each attack requires.
void HostileInputTest::SendMalformedFrames() const {
  const std::string settings = SettingsPreface();
  struct FrameAttack {
    std::string name;
    // What to send after the TLS handshake; the reply is read on stream 1.
    std::function<std::string(const Listener&)> bytes;
    // What the server must do at the least: close the connection (or send GOAWAY), refuse
    // the stream (RST_STREAM or an error status), or anything but answer OK (it may wait
    // for the rest of a frame).
    enum { kClose, kRefuse, kNotOk } must;
  };
  const std::vector<FrameAttack> frame_attacks = {
      {"garbage instead of the preface",
       [](const Listener&) {
         return std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n") + std::string(200, '\x8f');
       },
       FrameAttack::kClose},
      {"HEADERS with undecodable HPACK",
       [&](const Listener&) {
         return settings + raw::Frame(raw::kHeaders, raw::kEndHeaders, 1, std::string(32, '\xff'));
       },
       FrameAttack::kRefuse},
      {"HEADERS on stream 0",
       [&](const Listener& listener) {
         return settings + raw::Frame(raw::kHeaders, raw::kEndHeaders, 0,
                                      raw::GrpcRequestHeaders(listener.method, "localhost"));
       },
       FrameAttack::kNotOk},
      {"oversized DATA frame (16 MiB declared, 256 KiB sent)",
       [&](const Listener& listener) {
         return settings +
                raw::Frame(raw::kHeaders, raw::kEndHeaders, 1,
                           raw::GrpcRequestHeaders(listener.method, "localhost")) +
                raw::Frame(raw::kData, 0, 1, std::string(256 * 1024, 'z'), 0xffffff);
       },
       FrameAttack::kRefuse},
      {"truncated HEADERS frame, then silence",
       [&](const Listener& listener) {
         return settings + raw::Frame(raw::kHeaders, raw::kEndHeaders, 1,
                                      raw::GrpcRequestHeaders(listener.method, "localhost"), 4000);
       },
       FrameAttack::kNotOk},
      {"gRPC message shorter than its length prefix",
       [&](const Listener& listener) {
         return settings +
                raw::Frame(raw::kHeaders, raw::kEndHeaders, 1,
                           raw::GrpcRequestHeaders(listener.method, "localhost")) +
                raw::Frame(raw::kData, raw::kEndStream, 1,
                           raw::GrpcMessage(std::string("\x0a\x03") + "abc", false, 1000));
       },
       FrameAttack::kRefuse},
      {"compressed flag without grpc-encoding",
       [&](const Listener& listener) {
         return settings +
                raw::Frame(raw::kHeaders, raw::kEndHeaders, 1,
                           raw::GrpcRequestHeaders(listener.method, "localhost")) +
                raw::Frame(raw::kData, raw::kEndStream, 1,
                           raw::GrpcMessage(std::string(40, '\x5a'), true));
       },
       FrameAttack::kRefuse},
  };
  for (const Listener& listener : listeners_) {
    for (const FrameAttack& attack : frame_attacks) {
      auto connection = OpenRaw(listener);
      ASSERT_NE(connection, nullptr) << listener.name << ": cannot connect";
      const bool sent = connection->Send(attack.bytes(listener));
      const raw::Reply reply = raw::ReadReply(*connection, 1, seconds(5));
      std::printf("[hostile] %-8s %-52s sent=%s -> %s\n", listener.name.c_str(),
                  attack.name.c_str(), sent ? "all" : "partly", reply.Describe().c_str());
      EXPECT_FALSE(reply.grpc_status.has_value() && *reply.grpc_status == 0)
          << listener.name << ": " << attack.name << " answered OK";
      if (attack.must == FrameAttack::kClose) {
        EXPECT_TRUE(reply.goaway || reply.closed)
            << listener.name << ": " << attack.name << " left the connection open";
      } else if (attack.must == FrameAttack::kRefuse) {
        EXPECT_TRUE(reply.goaway || reply.closed || reply.reset ||
                    (reply.grpc_status && *reply.grpc_status != 0))
            << listener.name << ": " << attack.name << " was neither refused nor answered";
      }
    }
  }
}

// Phase 3: 10 MiB of metadata in one header block (ten thousand headers of 1000 bytes),
// with the server's SETTINGS acknowledged first (its limits in force) and without: refused
// or not read, never answered OK. (One header of 10 MiB: see
// DISABLED_OneHugeHeaderDoesNotStallTheServer.)
void HostileInputTest::SendHugeMetadata() const {
  const std::string settings = SettingsPreface();
  // A body no method can parse, after the metadata.
  const std::string garbage_body(64, '\xff');
  for (const Listener& listener : listeners_) {
    for (const bool many_headers : {true}) {
      for (const bool acknowledge : {true, false}) {
        auto connection = OpenRaw(listener);
        ASSERT_NE(connection, nullptr);
        connection->Send(settings);
        if (acknowledge) raw::ReadReply(*connection, 0, milliseconds(300), true);
        const std::string block = HugeHeaderBlock(listener.method, many_headers);
        std::size_t sent_bytes = 0;
        const bool sent_all = SendHeaderBlock(*connection, block, sent_bytes);
        if (sent_all) {
          connection->Send(
              raw::Frame(raw::kData, raw::kEndStream, 1, raw::GrpcMessage(garbage_body)));
        }
        const raw::Reply reply = raw::ReadReply(*connection, 1, seconds(5), acknowledge);
        std::printf("[hostile] %-8s 10 MiB metadata (%s, settings %s): sent %zu KiB -> %s\n",
                    listener.name.c_str(), many_headers ? "10k headers" : "one header",
                    acknowledge ? "acknowledged" : "never acknowledged", sent_bytes / 1024,
                    reply.Describe().c_str());
        EXPECT_FALSE(reply.grpc_status.has_value() && *reply.grpc_status == 0)
            << listener.name << ": 10 MiB of metadata answered OK";
        EXPECT_TRUE(reply.reset || reply.goaway || reply.closed ||
                    (reply.grpc_status && *reply.grpc_status != 0) || !sent_all)
            << listener.name << ": 10 MiB of metadata was neither refused nor answered";
      }
    }
  }
}

// Phase 4: thousands of streams opened on one connection and left waiting for their
// message. Each open stream is a call the server holds; the server must cap them.
void HostileInputTest::OpenThousandsOfStreams(pid_t pid) const {
  const std::string settings = SettingsPreface();
  constexpr int kStreams = 2000;
  for (const Listener& listener : listeners_) {
    auto connection = OpenRaw(listener);
    ASSERT_NE(connection, nullptr);
    connection->Send(settings);
    raw::ReadReply(*connection, 0, milliseconds(300), true);
    const std::string headers = raw::GrpcRequestHeaders(listener.method, "localhost");
    std::string burst;
    for (int i = 0; i < kStreams; ++i) {
      burst += raw::Frame(raw::kHeaders, raw::kEndHeaders, static_cast<std::uint32_t>(2 * i + 1),
                          headers);
    }
    const bool sent = connection->Send(burst);
    // Count the refusals (RST_STREAM on any stream) that arrive within two seconds.
    int refused = 0;
    bool goaway = false;
    std::string buffer;
    const Clock::time_point until = Clock::now() + seconds(2);
    while (Clock::now() < until && !connection->closed()) {
      buffer += connection->Receive(milliseconds(200));
      while (buffer.size() >= 9) {
        const std::size_t length = (static_cast<std::uint8_t>(buffer[0]) << 16) |
                                   (static_cast<std::uint8_t>(buffer[1]) << 8) |
                                   static_cast<std::uint8_t>(buffer[2]);
        if (buffer.size() < 9 + length) break;
        if (buffer[3] == raw::kRstStream) ++refused;
        if (buffer[3] == raw::kGoAway) goaway = true;
        buffer.erase(0, 9 + length);
      }
    }
    const long rss_now = ProcStatusKib(pid, "VmRSS");
    std::printf(
        "[hostile] %-8s %d streams opened on one connection (sent=%s): %d refused, goaway=%s, "
        "closed=%s, VmRSS %ld KiB\n",
        listener.name.c_str(), kStreams, sent ? "all" : "partly", refused, goaway ? "yes" : "no",
        connection->closed() ? "yes" : "no", rss_now);
    EXPECT_TRUE(refused > 0 || goaway || connection->closed())
        << listener.name << " accepted " << kStreams << " concurrent streams on one connection";
  }
}

// The slow attack: by `slow_start` + kHandshakeDropDeadline every stalled TLS handshake
// must have been dropped (the plaintext health listener has no handshake to time out).
void HostileInputTest::ExpectStalledHandshakesDropped(SlowAttack& slow,
                                                      Clock::time_point slow_start) const {
  const Clock::time_point drop_deadline = slow_start + kHandshakeDropDeadline;
  std::map<std::string, std::pair<int, int>> dropped;  // listener/kind -> (dropped, total)
  for (SlowAttack::Stalled& stalled : slow.stalled) {
    const auto left = std::max(
        milliseconds(0), std::chrono::duration_cast<milliseconds>(drop_deadline - Clock::now()));
    const bool closed = stalled.connection->WaitForClose(left);
    auto& [closed_count, total] = dropped[stalled.listener + ", " + stalled.kind];
    closed_count += closed ? 1 : 0;
    ++total;
  }
  const long stalled_seconds =
      std::chrono::duration_cast<seconds>(Clock::now() - slow_start).count();
  for (const auto& [what, counts] : dropped) {
    std::printf("[hostile] stalled handshakes (%s): %d of %d dropped by the server within %ld s\n",
                what.c_str(), counts.first, counts.second, stalled_seconds);
    if (what.rfind("health", 0) != 0) {
      EXPECT_EQ(counts.first, counts.second)
          << what << ": unfinished TLS handshakes are kept open past the handshake timeout";
    }
  }
}

TEST_F(HostileInputTest, ServerKeepsServingAndWritesNothing) {
  const Clock::time_point test_start = Clock::now();
  const pid_t pid = stack_->pid;
  ASSERT_GT(pid, 0);

  // The canary org: what it holds now must be what it holds at the end.
  const std::string canary = "hostile-canary-" + RandomHex(4);
  Clients writer(TlsChannel(*stack_, stack_->write_addr, Caller::Cert("backend")));
  Clients admin(TlsChannel(*stack_, stack_->decrypt_addr, Caller::Cert("admin")));
  ASSERT_TRUE(Put(writer, PutRequest(canary, "db/password", "canary-secret")).ok());
  const std::vector<std::string> canary_names = ListNames(writer, canary);
  const std::vector<v1::AuditEvent> canary_audit = AuditEvents(admin, canary);
  ASSERT_EQ(canary_names.size(), 1u);
  ASSERT_FALSE(canary_audit.empty());

  const std::string good_org = "hostile-good-" + RandomHex(4);
  ASSERT_TRUE(Put(writer, PutRequest(good_org, "app/token", "well-behaved")).ok());

  const long rss_before = ProcStatusKib(pid, "VmRSS");
  const long fds_before = OpenDescriptors(pid);
  ASSERT_GT(rss_before, 0);
  std::printf("[hostile] before: VmRSS %ld KiB, %ld descriptors\n", rss_before, fds_before);

  RssSampler sampler(pid);
  WellBehavedClient good(*stack_, good_org, "app/token");

  // --- Slow attack, running through every phase below.
  const Clock::time_point slow_start = Clock::now();
  SlowAttack slow;
  ASSERT_NO_FATAL_FAILURE(StartSlowAttack(&slow));

  SendMalformedBodies(canary);
  ASSERT_NO_FATAL_FAILURE(SendMalformedFrames());
  ASSERT_NO_FATAL_FAILURE(SendHugeMetadata());
  ASSERT_NO_FATAL_FAILURE(OpenThousandsOfStreams(pid));
  ExpectStalledHandshakesDropped(slow, slow_start);

  // The slow attack ends; memory at its peak and descriptors while it was on.
  const long rss_peak = std::max(sampler.peak_kib(), ProcStatusKib(pid, "VmRSS"));
  const long fds_during = OpenDescriptors(pid);
  slow.stop = true;
  if (slow.drip.joinable()) slow.drip.join();
  std::printf(
      "[hostile] slow-loris: %d bytes dripped, %d of %zu connections dropped by the server\n",
      slow.loris_bytes_sent.load(), slow.loris_dropped.load(), slow.loris.size());
  // The server stays reachable for a client that does nothing wrong, throughout.
  good.Stop();
  std::printf("[hostile] well-behaved client during the attack: %s\n", good.Summary().c_str());
  EXPECT_GE(good.calls(), 20) << "the well-behaved client hardly got to call";
  EXPECT_TRUE(good.failures().empty()) << good.Summary();

  // --- Afterwards: every attacking connection closed.
  slow.loris.clear();
  slow.stalled.clear();
  ASSERT_TRUE(WaitFor([&] { return OpenDescriptors(pid) <= fds_before + 10; }, seconds(10)))
      << "credvaultd kept " << OpenDescriptors(pid) << " descriptors open (" << fds_before
      << " before)";
  const long fds_after = OpenDescriptors(pid);
  std::this_thread::sleep_for(seconds(1));
  const long rss_after = ProcStatusKib(pid, "VmRSS");
  std::printf(
      "[hostile] VmRSS before %ld KiB, peak %ld KiB (+%ld), after %ld KiB (+%ld); "
      "descriptors before %ld, during %ld, after %ld\n",
      rss_before, rss_peak, rss_peak - rss_before, rss_after, rss_after - rss_before, fds_before,
      fds_during, fds_after);
  EXPECT_LT(rss_peak - rss_before, kRssGrowthBoundKib) << "credvaultd's memory grew at the peak";
  EXPECT_LT(rss_after - rss_before, kRssGrowthBoundKib) << "credvaultd's memory grew for good";

  // Still serving, and nothing written: the canary org is as it was.
  ASSERT_TRUE(ProcessGone(pid) == false) << "credvaultd died";
  Clients after_writer(TlsChannel(*stack_, stack_->write_addr, Caller::Cert("backend")));
  Clients after_admin(TlsChannel(*stack_, stack_->decrypt_addr, Caller::Cert("admin")));
  EXPECT_TRUE(Describe(after_writer, good_org, "app/token").ok());
  EXPECT_EQ(ListNames(after_writer, canary), canary_names);
  const std::vector<v1::AuditEvent> audit_after = AuditEvents(after_admin, canary);
  EXPECT_EQ(audit_after.size(), canary_audit.size()) << "the malformed calls added audit events";
  std::printf("[hostile] canary org: %zu credentials, %zu audit events before and %zu after\n",
              canary_names.size(), canary_audit.size(), audit_after.size());
  std::printf(
      "[hostile] whole test: %ld s\n",
      static_cast<long>(std::chrono::duration_cast<seconds>(Clock::now() - test_start).count()));
}

// One header of 10 MiB, sent in CONTINUATION frames of 16 KiB. gRPC 1.51's HPACK parser
// keeps the unparsed part of a header that spans frames and parses it again from its start
// with every frame that follows, so this costs the server time quadratic in the header's
// size, on the thread that would serve other connections: here it stalled every other call
// for about 18 seconds. The metadata size limit is checked only once a header is whole, so
// no listener setting bounds it; it needs a gRPC whose parser does not re-parse (or a proxy
// in front that caps header size). Disabled until then; run it with
// --gtest_also_run_disabled_tests.
TEST_F(HostileInputTest, DISABLED_OneHugeHeaderDoesNotStallTheServer) {
  const Listener& listener = listeners_.front();
  Clients writer(TlsChannel(*stack_, stack_->write_addr, Caller::Cert("backend")));
  const std::string org = "hostile-huge-" + RandomHex(4);
  ASSERT_TRUE(Put(writer, PutRequest(org, "app/token", "well-behaved")).ok());
  auto connection = OpenRaw(listener);
  ASSERT_NE(connection, nullptr);
  connection->Send(std::string(raw::kPreface) + raw::Frame(raw::kSettings, 0, 0, ""));
  raw::ReadReply(*connection, 0, milliseconds(300), true);
  std::thread attack([&] {
    std::size_t sent_bytes = 0;
    SendHeaderBlock(*connection, HugeHeaderBlock(listener.method, false), sent_bytes);
  });
  std::this_thread::sleep_for(milliseconds(500));
  const Clock::time_point start = Clock::now();
  v1::DescribeCredentialRequest request;
  request.set_org_id(org);
  request.set_name("app/token");
  v1::DescribeCredentialResponse response;
  const Outcome outcome = Call(
      *writer.credentials, &v1::CredentialService::Stub::DescribeCredential, request, &response, 3);
  const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  attack.join();
  std::printf("[hostile] Describe during one 10 MiB header: %s in %ld ms\n",
              CodeName(outcome.code).c_str(), static_cast<long>(took.count()));
  EXPECT_TRUE(outcome.ok()) << outcome;
}

}  // namespace
}  // namespace credvault::e2e

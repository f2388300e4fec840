// A TCP proxy for the end-to-end fault tests: it sits between credvaultd and PostgreSQL
// and, on the test's command, delays, stalls or resets the traffic, so that the tests can
// make the database slow or unreachable while the sockets on both sides stay real.
#ifndef CREDVAULT_TESTS_E2E_SUPPORT_TCP_FAULT_PROXY_H_
#define CREDVAULT_TESTS_E2E_SUPPORT_TCP_FAULT_PROXY_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <thread>

namespace credvault::e2e {

// What the proxy has done so far.
struct TcpFaultProxyCounts {
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_open = 0;     // client sockets open now
  std::uint64_t connections_reset = 0;    // closed with RST (Reset mode, or a peer's error)
  std::uint64_t connections_refused = 0;  // accepted in Reset mode and reset at once
  std::uint64_t bytes_to_upstream = 0;    // forwarded, client to upstream
  std::uint64_t bytes_to_client = 0;      // forwarded, upstream to client
  std::uint64_t bytes_held = 0;           // read but not yet forwarded, both ways
};
std::ostream& operator<<(std::ostream& out, const TcpFaultProxyCounts& counts);

// Listens on 127.0.0.1 (a free port) and forwards every connection to one upstream
// address. One thread polls every socket; the mode may change at any time:
//  - Pass: bytes go through as they come;
//  - Delay(d): each chunk read is forwarded d after it arrived, each way (order kept);
//  - Stall: nothing is read or written, but every socket stays open and new connections
//    are accepted (and connected upstream) without a byte going through; what was held
//    flows on when the mode changes back;
//  - Reset: every connection is closed with RST (SO_LINGER 0) on both sides, and every
//    new one is accepted and reset at once, until the mode changes.
// The destructor stops the thread and closes every socket.
class TcpFaultProxy {
 public:
  enum class Mode { kPass, kDelay, kStall, kReset };

  // Starts a proxy to `upstream_host` (an IPv4 address) : `upstream_port`; null and
  // *error set if it cannot listen.
  static std::unique_ptr<TcpFaultProxy> Start(const std::string& upstream_host, int upstream_port,
                                              std::string* error);
  ~TcpFaultProxy();
  TcpFaultProxy(const TcpFaultProxy&) = delete;
  TcpFaultProxy& operator=(const TcpFaultProxy&) = delete;

  int port() const { return port_; }

  void Pass() { SetMode(Mode::kPass, std::chrono::milliseconds(0)); }
  void Delay(std::chrono::milliseconds per_chunk) { SetMode(Mode::kDelay, per_chunk); }
  void Stall() { SetMode(Mode::kStall, std::chrono::milliseconds(0)); }
  void Reset() { SetMode(Mode::kReset, std::chrono::milliseconds(0)); }

  TcpFaultProxyCounts counts() const;

 private:
  class Loop;
  TcpFaultProxy(int listen_fd, int wake_fd, int port, std::string upstream_host, int upstream_port);
  void SetMode(Mode mode, std::chrono::milliseconds delay);

  const int port_;
  std::unique_ptr<Loop> loop_;
  std::thread thread_;
};

}  // namespace credvault::e2e

#endif  // CREDVAULT_TESTS_E2E_SUPPORT_TCP_FAULT_PROXY_H_

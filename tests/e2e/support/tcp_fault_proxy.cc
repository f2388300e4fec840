#include "tests/e2e/support/tcp_fault_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <mutex>
#include <utility>
#include <vector>

namespace credvault::e2e {
namespace {

using Clock = std::chrono::steady_clock;

// Bytes read but not forwarded, per direction, before the proxy stops reading that way
// (TCP flow control then slows the sender, as a slow network would).
constexpr std::size_t kMaxHeldPerDirection = 1 << 20;
constexpr std::size_t kReadChunk = 64 * 1024;

// Closes `fd` so that the peer gets an RST rather than a FIN.
void CloseWithReset(int fd) {
  if (fd < 0) return;
  const linger abort_on_close{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof(abort_on_close));
  ::close(fd);
}

void SetNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

struct Chunk {
  Clock::time_point release;  // not written before this
  std::string bytes;
  std::size_t written = 0;
};

// One way of one connection.
struct Direction {
  std::deque<Chunk> chunks;
  std::size_t held = 0;  // bytes in `chunks` not yet written
  bool eof = false;      // the source sent FIN
  bool shut = false;     // the FIN was passed on (after the last byte)
};

struct Connection {
  int client = -1;
  int upstream = -1;
  Direction to_upstream, to_client;
  bool failed = false;
};

}  // namespace

std::ostream& operator<<(std::ostream& out, const TcpFaultProxyCounts& counts) {
  return out << "connections accepted " << counts.connections_accepted << " (open "
             << counts.connections_open << ", reset " << counts.connections_reset << ", refused "
             << counts.connections_refused << "), bytes to upstream " << counts.bytes_to_upstream
             << ", to client " << counts.bytes_to_client << ", held " << counts.bytes_held;
}

class TcpFaultProxy::Loop {
 public:
  Loop(int listen_fd, int wake_fd, std::string upstream_host, int upstream_port)
      : listen_fd_(listen_fd),
        wake_fd_(wake_fd),
        upstream_host_(std::move(upstream_host)),
        upstream_port_(upstream_port) {}

  ~Loop() {
    for (Connection& connection : connections_) {
      ::close(connection.client);
      ::close(connection.upstream);
    }
    ::close(listen_fd_);
    ::close(wake_fd_);
  }

  void SetMode(Mode mode, std::chrono::milliseconds delay) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      mode_ = mode;
      delay_ = delay;
    }
    Wake();
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    Wake();
  }

  TcpFaultProxyCounts counts() const {
    TcpFaultProxyCounts counts;
    counts.connections_accepted = accepted_;
    counts.connections_open = open_;
    counts.connections_reset = reset_;
    counts.connections_refused = refused_;
    counts.bytes_to_upstream = bytes_to_upstream_;
    counts.bytes_to_client = bytes_to_client_;
    counts.bytes_held = held_;
    return counts;
  }

  void Run() {
    while (true) {
      Mode mode;
      std::chrono::milliseconds delay;
      if (!ReadMode(&mode, &delay)) return;
      if (mode == Mode::kReset) ResetAll();
      const Clock::time_point now = Clock::now();
      std::vector<pollfd> fds = {{wake_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
      int timeout_ms = -1;
      // While stalled the connections' sockets are not polled at all: a peer's FIN or RST
      // must not be noticed (nor spin the loop) until bytes flow again.
      if (Forwarding(mode)) {
        for (Connection& connection : connections_) {
          short client_events = 0, upstream_events = 0;
          Want(connection.to_upstream, now, &client_events, &upstream_events, &timeout_ms);
          Want(connection.to_client, now, &upstream_events, &client_events, &timeout_ms);
          // A socket with nothing to do is left out: poll reports a hang-up whatever the
          // events asked for, which would spin the loop until the other way drains.
          fds.push_back({client_events != 0 ? connection.client : -1, client_events, 0});
          fds.push_back({upstream_events != 0 ? connection.upstream : -1, upstream_events, 0});
        }
      }
      if (::poll(fds.data(), fds.size(), timeout_ms) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[0].revents != 0) {
        std::uint64_t ignored;
        [[maybe_unused]] const ssize_t n = ::read(wake_fd_, &ignored, sizeof(ignored));
      }
      // The mode may have changed while polling: bytes that arrived with the change obey it.
      if (!ReadMode(&mode, &delay)) return;
      if (mode == Mode::kReset) ResetAll();
      if (fds[1].revents & POLLIN) Accept(mode);
      if (Forwarding(mode)) {
        const Clock::time_point after = Clock::now();
        // Connections accepted just now have no entry in `fds` yet.
        for (std::size_t i = 0; i < connections_.size() && 2 + 2 * i + 1 < fds.size(); ++i) {
          Connection& connection = connections_[i];
          const short client_revents = fds[2 + 2 * i].revents;
          const short upstream_revents = fds[2 + 2 * i + 1].revents;
          Move(connection, connection.client, connection.upstream, connection.to_upstream,
               client_revents, upstream_revents, after, delay, bytes_to_upstream_);
          Move(connection, connection.upstream, connection.client, connection.to_client,
               upstream_revents, client_revents, after, delay, bytes_to_client_);
        }
        Reap();
      }
      UpdateHeld();
    }
  }

 private:
  static bool Forwarding(Mode mode) { return mode == Mode::kPass || mode == Mode::kDelay; }

  // The current mode; false when stopping.
  bool ReadMode(Mode* mode, std::chrono::milliseconds* delay) {
    std::lock_guard<std::mutex> lock(mutex_);
    *mode = mode_;
    *delay = delay_;
    return !stopping_;
  }

  void Wake() {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof(one));
  }

  // The poll events `direction` needs on its source and destination, and how long until
  // its next held chunk may go.
  static void Want(const Direction& direction, Clock::time_point now, short* source_events,
                   short* destination_events, int* timeout_ms) {
    if (!direction.eof && direction.held < kMaxHeldPerDirection) *source_events |= POLLIN;
    if (direction.chunks.empty()) return;
    const Clock::time_point release = direction.chunks.front().release;
    if (release <= now) {
      *destination_events |= POLLOUT;
      return;
    }
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(release - now).count() + 1;
    *timeout_ms =
        *timeout_ms < 0 ? static_cast<int>(wait) : std::min(*timeout_ms, static_cast<int>(wait));
  }

  // Reads what `source` has into `direction` and writes what is due to `destination`.
  void Move(Connection& connection, int source, int destination, Direction& direction,
            short source_revents, short destination_revents, Clock::time_point now,
            std::chrono::milliseconds delay, std::atomic<std::uint64_t>& forwarded) {
    if (connection.failed) return;
    if (source_revents & (POLLIN | POLLHUP | POLLERR)) {
      if (direction.eof || direction.held >= kMaxHeldPerDirection) {
        // Not reading this way; an error is seen by the other direction's read.
        if (source_revents & POLLERR) connection.failed = true;
      } else {
        std::string buffer(kReadChunk, '\0');
        const ssize_t n = ::recv(source, buffer.data(), buffer.size(), 0);
        if (n > 0) {
          buffer.resize(static_cast<std::size_t>(n));
          // Same delay for every chunk, so arrival order is release order; a change of
          // delay must not let a chunk overtake one held longer.
          Clock::time_point release = now + delay;
          if (!direction.chunks.empty()) {
            release = std::max(release, direction.chunks.back().release);
          }
          direction.held += buffer.size();
          direction.chunks.push_back(Chunk{release, std::move(buffer), 0});
        } else if (n == 0) {
          direction.eof = true;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          connection.failed = true;
          return;
        }
      }
    }
    if (destination_revents & POLLERR) {
      connection.failed = true;
      return;
    }
    while (!direction.chunks.empty() && direction.chunks.front().release <= now) {
      Chunk& chunk = direction.chunks.front();
      const ssize_t n = ::send(destination, chunk.bytes.data() + chunk.written,
                               chunk.bytes.size() - chunk.written, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
        connection.failed = true;
        return;
      }
      chunk.written += static_cast<std::size_t>(n);
      direction.held -= static_cast<std::size_t>(n);
      forwarded += static_cast<std::uint64_t>(n);
      if (chunk.written < chunk.bytes.size()) break;
      direction.chunks.pop_front();
    }
    if (direction.eof && direction.chunks.empty() && !direction.shut) {
      ::shutdown(destination, SHUT_WR);
      direction.shut = true;
    }
  }

  void Accept(Mode mode) {
    while (true) {
      const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (client < 0) return;
      ++accepted_;
      if (mode == Mode::kReset) {
        CloseWithReset(client);
        ++refused_;
        continue;
      }
      const int upstream = ConnectUpstream();
      if (upstream < 0) {
        CloseWithReset(client);
        ++refused_;
        continue;
      }
      connections_.push_back(Connection{client, upstream, {}, {}, false});
      ++open_;
    }
  }

  // A blocking connect: the upstream is a loopback address, so it answers at once.
  int ConnectUpstream() const {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(upstream_port_));
    if (::inet_pton(AF_INET, upstream_host_.c_str(), &address.sin_addr) != 1) return -1;
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
      ::close(fd);
      return -1;
    }
    SetNonBlocking(fd);
    return fd;
  }

  // Drops finished connections (FIN passed on both ways) and resets failed ones.
  void Reap() {
    std::erase_if(connections_, [this](Connection& connection) {
      if (connection.failed) {
        CloseWithReset(connection.client);
        CloseWithReset(connection.upstream);
        ++reset_;
        --open_;
        return true;
      }
      if (connection.to_upstream.shut && connection.to_client.shut) {
        ::close(connection.client);
        ::close(connection.upstream);
        --open_;
        return true;
      }
      return false;
    });
  }

  void ResetAll() {
    for (Connection& connection : connections_) connection.failed = true;
    Reap();
  }

  void UpdateHeld() {
    std::uint64_t held = 0;
    for (const Connection& connection : connections_) {
      held += connection.to_upstream.held + connection.to_client.held;
    }
    held_ = held;
  }

  const int listen_fd_;
  const int wake_fd_;
  const std::string upstream_host_;
  const int upstream_port_;

  std::mutex mutex_;
  Mode mode_ = Mode::kPass;              // guarded by mutex_
  std::chrono::milliseconds delay_{0};   // guarded by mutex_
  bool stopping_ = false;                // guarded by mutex_
  std::vector<Connection> connections_;  // the loop thread's only
  std::atomic<std::uint64_t> accepted_{0}, open_{0}, reset_{0}, refused_{0};
  std::atomic<std::uint64_t> bytes_to_upstream_{0}, bytes_to_client_{0}, held_{0};
};

std::unique_ptr<TcpFaultProxy> TcpFaultProxy::Start(const std::string& upstream_host,
                                                    int upstream_port, std::string* error) {
  const int listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return nullptr;
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = 0;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (::bind(listen_fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(listen_fd, 128) != 0 ||
      ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    *error = std::string("listen on 127.0.0.1:0: ") + std::strerror(errno);
    ::close(listen_fd);
    return nullptr;
  }
  const int wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    *error = std::string("eventfd: ") + std::strerror(errno);
    ::close(listen_fd);
    return nullptr;
  }
  return std::unique_ptr<TcpFaultProxy>(
      new TcpFaultProxy(listen_fd, wake_fd, ntohs(address.sin_port), upstream_host, upstream_port));
}

TcpFaultProxy::TcpFaultProxy(int listen_fd, int wake_fd, int port, std::string upstream_host,
                             int upstream_port)
    : port_(port),
      loop_(std::make_unique<Loop>(listen_fd, wake_fd, std::move(upstream_host), upstream_port)),
      thread_([loop = loop_.get()] { loop->Run(); }) {}

TcpFaultProxy::~TcpFaultProxy() {
  loop_->Stop();
  thread_.join();
}

void TcpFaultProxy::SetMode(Mode mode, std::chrono::milliseconds delay) {
  loop_->SetMode(mode, delay);
}

TcpFaultProxyCounts TcpFaultProxy::counts() const { return loop_->counts(); }

}  // namespace credvault::e2e

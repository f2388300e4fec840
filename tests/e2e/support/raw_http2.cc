#include "tests/e2e/support/raw_http2.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <sstream>
#include <utility>

namespace credvault::e2e::raw {
namespace {

SSL* AsSsl(void* ssl) { return static_cast<SSL*>(ssl); }

// An SSL_CTX for the client side: TLS 1.2+, ALPN h2, the server verified against the CA.
SSL_CTX* NewClientContext(const TlsFiles& tls) {
  SSL_CTX* context = SSL_CTX_new(TLS_client_method());
  if (context == nullptr) return nullptr;
  SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
  static const unsigned char kAlpn[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(context, kAlpn, sizeof(kAlpn));
  if (!tls.ca_file.empty()) {
    SSL_CTX_load_verify_locations(context, tls.ca_file.c_str(), nullptr);
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nullptr);
  }
  if (!tls.cert_file.empty() &&
      (SSL_CTX_use_certificate_chain_file(context, tls.cert_file.c_str()) != 1 ||
       SSL_CTX_use_PrivateKey_file(context, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1)) {
    SSL_CTX_free(context);
    return nullptr;
  }
  return context;
}

int ConnectTcp(const std::string& address) {
  const std::size_t colon = address.rfind(':');
  if (colon == std::string::npos) return -1;
  const std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0) return -1;
  int fd = -1;
  for (addrinfo* it = found; it != nullptr && fd < 0; it = it->ai_next) {
    fd = socket(it->ai_family, it->ai_socktype | SOCK_CLOEXEC, it->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, it->ai_addr, it->ai_addrlen) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) return -1;
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  // A stalled write fails instead of hanging the test: the server may stop reading.
  timeval send_timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout));
  // Bounds an SSL_read that waits for the rest of a record.
  timeval receive_timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &receive_timeout, sizeof(receive_timeout));
  return fd;
}

void AppendInteger(std::string& out, std::uint8_t first_byte_flags, int prefix_bits,
                   std::uint64_t value) {
  const std::uint64_t max_prefix = (1u << prefix_bits) - 1;
  if (value < max_prefix) {
    out.push_back(static_cast<char>(first_byte_flags | value));
    return;
  }
  out.push_back(static_cast<char>(first_byte_flags | max_prefix));
  value -= max_prefix;
  while (value >= 128) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void AppendString(std::string& out, std::string_view value) {
  AppendInteger(out, 0x00, 7, value.size());
  out.append(value);
}

// The HPACK static table (RFC 7541 Appendix A): names and values.
constexpr std::pair<const char*, const char*> kStaticTable[] = {
    {":authority", ""},
    {":method", "GET"},
    {":method", "POST"},
    {":path", "/"},
    {":path", "/index.html"},
    {":scheme", "http"},
    {":scheme", "https"},
    {":status", "200"},
    {":status", "204"},
    {":status", "206"},
    {":status", "304"},
    {":status", "400"},
    {":status", "404"},
    {":status", "500"},
    {"accept-charset", ""},
    {"accept-encoding", "gzip, deflate"},
    {"accept-language", ""},
    {"accept-ranges", ""},
    {"accept", ""},
    {"access-control-allow-origin", ""},
    {"age", ""},
    {"allow", ""},
    {"authorization", ""},
    {"cache-control", ""},
    {"content-disposition", ""},
    {"content-encoding", ""},
    {"content-language", ""},
    {"content-length", ""},
    {"content-location", ""},
    {"content-range", ""},
    {"content-type", ""},
    {"cookie", ""},
    {"date", ""},
    {"etag", ""},
    {"expect", ""},
    {"expires", ""},
    {"from", ""},
    {"host", ""},
    {"if-match", ""},
    {"if-modified-since", ""},
    {"if-none-match", ""},
    {"if-range", ""},
    {"if-unmodified-since", ""},
    {"last-modified", ""},
    {"link", ""},
    {"location", ""},
    {"max-forwards", ""},
    {"proxy-authenticate", ""},
    {"proxy-authorization", ""},
    {"range", ""},
    {"referer", ""},
    {"refresh", ""},
    {"retry-after", ""},
    {"server", ""},
    {"set-cookie", ""},
    {"strict-transport-security", ""},
    {"transfer-encoding", ""},
    {"user-agent", ""},
    {"vary", ""},
    {"via", ""},
    {"www-authenticate", ""},
};
constexpr std::size_t kStaticEntries = sizeof(kStaticTable) / sizeof(kStaticTable[0]);

// Decodes header blocks of one connection (the dynamic table lives across blocks). Huffman
// coded strings are kept as "<huffman>": the server codes only binary (-bin) values so.
class HpackDecoder {
 public:
  // The headers of `block`, or nullopt if it does not decode.
  std::optional<std::vector<std::pair<std::string, std::string>>> Decode(std::string_view block) {
    std::vector<std::pair<std::string, std::string>> headers;
    std::size_t at = 0;
    while (at < block.size()) {
      const auto byte = static_cast<std::uint8_t>(block[at]);
      if (byte & 0x80) {  // indexed
        std::uint64_t index;
        if (!ReadInteger(block, at, 7, index)) return std::nullopt;
        auto entry = Entry(index);
        if (!entry) return std::nullopt;
        headers.push_back(*entry);
      } else if ((byte & 0xe0) == 0x20) {  // dynamic table size update
        std::uint64_t size;
        if (!ReadInteger(block, at, 5, size)) return std::nullopt;
        max_size_ = size;
        Evict();
      } else {
        const bool incremental = (byte & 0xc0) == 0x40;
        const int prefix_bits = incremental ? 6 : 4;
        std::uint64_t index;
        if (!ReadInteger(block, at, prefix_bits, index)) return std::nullopt;
        std::string name;
        if (index == 0) {
          if (!ReadString(block, at, name)) return std::nullopt;
        } else {
          auto entry = Entry(index);
          if (!entry) return std::nullopt;
          name = entry->first;
        }
        std::string value;
        if (!ReadString(block, at, value)) return std::nullopt;
        if (incremental) {
          dynamic_.emplace_front(name, value);
          size_ += name.size() + value.size() + 32;
          Evict();
        }
        headers.emplace_back(std::move(name), std::move(value));
      }
    }
    return headers;
  }

 private:
  static bool ReadInteger(std::string_view block, std::size_t& at, int prefix_bits,
                          std::uint64_t& value) {
    if (at >= block.size()) return false;
    const std::uint64_t max_prefix = (1u << prefix_bits) - 1;
    value = static_cast<std::uint8_t>(block[at++]) & max_prefix;
    if (value < max_prefix) return true;
    for (int shift = 0; shift < 56; shift += 7) {
      if (at >= block.size()) return false;
      const auto byte = static_cast<std::uint8_t>(block[at++]);
      value += static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }
  static bool ReadString(std::string_view block, std::size_t& at, std::string& out) {
    if (at >= block.size()) return false;
    const bool huffman = (static_cast<std::uint8_t>(block[at]) & 0x80) != 0;
    std::uint64_t length;
    if (!ReadInteger(block, at, 7, length) || length > block.size() - at) return false;
    out = huffman ? "<huffman>" : std::string(block.substr(at, length));
    at += length;
    return true;
  }
  std::optional<std::pair<std::string, std::string>> Entry(std::uint64_t index) const {
    if (index == 0) return std::nullopt;
    if (index <= kStaticEntries) {
      return std::make_pair(std::string(kStaticTable[index - 1].first),
                            std::string(kStaticTable[index - 1].second));
    }
    const std::uint64_t dynamic_index = index - kStaticEntries - 1;
    if (dynamic_index >= dynamic_.size()) return std::nullopt;
    return dynamic_[dynamic_index];
  }
  void Evict() {
    while (size_ > max_size_ && !dynamic_.empty()) {
      size_ -= dynamic_.back().first.size() + dynamic_.back().second.size() + 32;
      dynamic_.pop_back();
    }
  }

  std::deque<std::pair<std::string, std::string>> dynamic_;
  std::uint64_t size_ = 0;
  std::uint64_t max_size_ = 4096;
};

std::uint32_t BigEndian32(std::string_view bytes) {
  return (static_cast<std::uint32_t>(static_cast<std::uint8_t>(bytes[0])) << 24) |
         (static_cast<std::uint32_t>(static_cast<std::uint8_t>(bytes[1])) << 16) |
         (static_cast<std::uint32_t>(static_cast<std::uint8_t>(bytes[2])) << 8) |
         static_cast<std::uint32_t>(static_cast<std::uint8_t>(bytes[3]));
}

}  // namespace

std::unique_ptr<Connection> Connection::Open(const std::string& address, Handshake handshake,
                                             const TlsFiles& tls) {
  const int fd = ConnectTcp(address);
  if (fd < 0) return nullptr;
  std::unique_ptr<Connection> connection(new Connection());
  connection->fd_ = fd;
  if (handshake == Handshake::kNone) return connection;
  SSL_CTX* context = NewClientContext(tls);
  if (context == nullptr) return nullptr;
  SSL* ssl = SSL_new(context);
  SSL_CTX_free(context);  // the SSL keeps its own reference
  if (ssl == nullptr) return nullptr;
  connection->ssl_ = ssl;
  SSL_set_tlsext_host_name(ssl, "localhost");
  SSL_set1_host(ssl, "localhost");
  SSL_set_fd(ssl, fd);
  if (SSL_connect(ssl) != 1) return nullptr;
  return connection;
}

Connection::~Connection() {
  if (ssl_ != nullptr) SSL_free(AsSsl(ssl_));
  if (fd_ >= 0) close(fd_);
}

bool Connection::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t written;
    if (ssl_ != nullptr) {
      written = SSL_write(AsSsl(ssl_), bytes.data(), static_cast<int>(bytes.size()));
    } else {
      written = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    }
    if (written <= 0) {
      if (written < 0 && ssl_ == nullptr && errno == EINTR) continue;
      ERR_clear_error();
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(written));
  }
  return true;
}

std::string Connection::Receive(std::chrono::milliseconds timeout, std::size_t max_bytes) {
  if (closed_) return "";
  const bool buffered = ssl_ != nullptr && SSL_pending(AsSsl(ssl_)) > 0;
  if (!buffered) {
    pollfd readable{fd_, POLLIN, 0};
    const int ready = poll(&readable, 1, static_cast<int>(timeout.count()));
    if (ready <= 0) return "";
  }
  std::string data(max_bytes, '\0');
  ssize_t got;
  if (ssl_ != nullptr) {
    got = SSL_read(AsSsl(ssl_), data.data(), static_cast<int>(data.size()));
    if (got <= 0) {
      const int error = SSL_get_error(AsSsl(ssl_), static_cast<int>(got));
      ERR_clear_error();
      // A record still arriving, or a post-handshake message (a TLS 1.3 ticket): no data.
      if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return "";
      if (error == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK)) return "";
      closed_ = true;
      return "";
    }
  } else {
    got = recv(fd_, data.data(), data.size(), 0);
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return "";
    if (got <= 0) {
      closed_ = true;
      return "";
    }
  }
  data.resize(static_cast<std::size_t>(got));
  return data;
}

bool Connection::WaitForClose(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Looks at least once, however late it is.
  for (bool first = true; !closed_; first = false) {
    const auto left = std::max(std::chrono::milliseconds(0),
                               std::chrono::duration_cast<std::chrono::milliseconds>(
                                   deadline - std::chrono::steady_clock::now()));
    if (left.count() == 0 && !first) break;
    if (ssl_ != nullptr) {
      Receive(left);
    } else {
      // Raw bytes, whatever the server answered to a handshake it could not make sense of.
      pollfd readable{fd_, POLLIN, 0};
      if (poll(&readable, 1, static_cast<int>(left.count())) <= 0) {
        if (left.count() == 0) break;
        continue;
      }
      char sink[4096];
      const ssize_t got = recv(fd_, sink, sizeof(sink), 0);
      if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        closed_ = true;
      }
    }
  }
  return closed_;
}

std::string PartialClientHello(double fraction) {
  SSL_CTX* context = NewClientContext({});
  SSL* ssl = SSL_new(context);
  SSL_CTX_free(context);
  BIO* to_server = BIO_new(BIO_s_mem());
  BIO* from_server = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, from_server, to_server);  // the SSL owns both
  SSL_set_tlsext_host_name(ssl, "localhost");
  SSL_connect(ssl);  // writes the ClientHello, then wants the server's answer
  ERR_clear_error();
  char* bytes = nullptr;
  const long length = BIO_get_mem_data(to_server, &bytes);
  std::string hello(bytes, static_cast<std::size_t>(length > 0 ? length : 0));
  SSL_free(ssl);
  return hello.substr(0, static_cast<std::size_t>(static_cast<double>(hello.size()) * fraction));
}

std::string Frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                  std::string_view payload, std::optional<std::uint32_t> declared_length) {
  const std::uint32_t length = declared_length.value_or(static_cast<std::uint32_t>(payload.size()));
  std::string frame;
  frame.push_back(static_cast<char>((length >> 16) & 0xff));
  frame.push_back(static_cast<char>((length >> 8) & 0xff));
  frame.push_back(static_cast<char>(length & 0xff));
  frame.push_back(static_cast<char>(type));
  frame.push_back(static_cast<char>(flags));
  frame.push_back(static_cast<char>((stream >> 24) & 0x7f));
  frame.push_back(static_cast<char>((stream >> 16) & 0xff));
  frame.push_back(static_cast<char>((stream >> 8) & 0xff));
  frame.push_back(static_cast<char>(stream & 0xff));
  frame.append(payload);
  return frame;
}

std::string HpackLiteral(std::string_view name, std::string_view value) {
  std::string out;
  out.push_back('\0');  // literal without indexing, new name
  AppendString(out, name);
  AppendString(out, value);
  return out;
}

std::string GrpcRequestHeaders(std::string_view path, std::string_view authority,
                               std::string_view extra) {
  return HpackLiteral(":method", "POST") + HpackLiteral(":scheme", "https") +
         HpackLiteral(":path", path) + HpackLiteral(":authority", authority) +
         HpackLiteral("content-type", "application/grpc") + HpackLiteral("te", "trailers") +
         std::string(extra);
}

std::string GrpcMessage(std::string_view body, bool compressed,
                        std::optional<std::uint32_t> declared_length) {
  const std::uint32_t length = declared_length.value_or(static_cast<std::uint32_t>(body.size()));
  std::string message;
  message.push_back(compressed ? 1 : 0);
  message.push_back(static_cast<char>((length >> 24) & 0xff));
  message.push_back(static_cast<char>((length >> 16) & 0xff));
  message.push_back(static_cast<char>((length >> 8) & 0xff));
  message.push_back(static_cast<char>(length & 0xff));
  message.append(body);
  return message;
}

std::string Reply::Describe() const {
  std::ostringstream out;
  out << "frames=" << frames;
  if (grpc_status) out << " grpc-status=" << *grpc_status;
  if (!grpc_message.empty()) out << " grpc-message=\"" << grpc_message.substr(0, 80) << "\"";
  if (reset) out << " RST_STREAM(" << reset_error << ")";
  if (goaway) out << " GOAWAY(" << goaway_error << ")";
  if (closed) out << " closed";
  if (!grpc_status && !reset && !goaway && !closed) out << " no answer";
  return out.str();
}

Reply ReadReply(Connection& connection, std::uint32_t stream, std::chrono::milliseconds timeout,
                bool ack_settings) {
  Reply reply;
  HpackDecoder decoder;
  std::string buffer;
  std::string header_block;
  std::uint32_t header_stream = 0;
  bool header_end_stream = false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!reply.stream_done && !reply.goaway) {
    // Every complete frame in the buffer first.
    while (buffer.size() >= 9) {
      const std::uint32_t length =
          (static_cast<std::uint32_t>(static_cast<std::uint8_t>(buffer[0])) << 16) |
          (static_cast<std::uint32_t>(static_cast<std::uint8_t>(buffer[1])) << 8) |
          static_cast<std::uint8_t>(buffer[2]);
      if (buffer.size() < 9 + length) break;
      const auto type = static_cast<std::uint8_t>(buffer[3]);
      const auto flags = static_cast<std::uint8_t>(buffer[4]);
      const std::uint32_t frame_stream =
          BigEndian32(std::string_view(buffer).substr(5, 4)) & 0x7fffffff;
      const std::string payload = buffer.substr(9, length);
      buffer.erase(0, 9 + length);
      ++reply.frames;
      switch (type) {
        case kSettings:
          if (!(flags & kAck) && ack_settings) connection.Send(Frame(kSettings, kAck, 0, ""));
          break;
        case kPing:
          if (!(flags & kAck)) connection.Send(Frame(kPing, kAck, 0, payload));
          break;
        case kGoAway:
          reply.goaway = true;
          if (payload.size() >= 8)
            reply.goaway_error = BigEndian32(std::string_view(payload).substr(4, 4));
          break;
        case kRstStream:
          if (frame_stream == stream) {
            reply.reset = true;
            reply.stream_done = true;
            if (payload.size() >= 4) reply.reset_error = BigEndian32(payload);
          }
          break;
        case kHeaders:
        case kContinuation: {
          std::string_view fragment = payload;
          if (type == kHeaders) {
            header_stream = frame_stream;
            header_end_stream = (flags & kEndStream) != 0;
            header_block.clear();
            std::size_t pad = 0;
            if ((flags & 0x8) && !fragment.empty()) {  // PADDED
              pad = static_cast<std::uint8_t>(fragment[0]);
              fragment.remove_prefix(1);
            }
            if (flags & 0x20) fragment.remove_prefix(std::min<std::size_t>(5, fragment.size()));
            fragment.remove_suffix(std::min(pad, fragment.size()));
          }
          header_block.append(fragment);
          if (flags & kEndHeaders) {
            const auto headers = decoder.Decode(header_block);
            if (headers && header_stream == stream) {
              for (const auto& [name, value] : *headers) {
                if (name == "grpc-status") reply.grpc_status = std::atoi(value.c_str());
                if (name == "grpc-message") reply.grpc_message = value;
              }
            }
            if (header_stream == stream && header_end_stream) reply.stream_done = true;
          }
          break;
        }
        case kData:
          if (frame_stream == stream && (flags & kEndStream)) reply.stream_done = true;
          break;
        default:
          break;
      }
    }
    if (reply.stream_done || reply.goaway) break;
    if (connection.closed()) break;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    buffer += connection.Receive(left);
  }
  if (connection.closed()) reply.closed = true;
  return reply;
}

}  // namespace credvault::e2e::raw

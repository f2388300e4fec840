// A deliberately badly behaved client for the hostile-input tests: a TCP connection, with
// or without TLS (OpenSSL directly, so that a handshake can be left half done), that sends
// whatever bytes it is given, and hand-made HTTP/2 frames and HPACK to put in them. Nothing
// here checks what it sends; reading the server's answer understands just enough HTTP/2 and
// HPACK to tell a GOAWAY, a RST_STREAM and the grpc-status of a stream apart.
#ifndef CREDVAULT_TESTS_E2E_SUPPORT_RAW_HTTP2_H_
#define CREDVAULT_TESTS_E2E_SUPPORT_RAW_HTTP2_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace credvault::e2e::raw {

// TLS material of the dev PKI: the CA that signed the server, and an optional client
// certificate and key (PEM files).
struct TlsFiles {
  std::string ca_file;
  std::string cert_file;  // empty: no client certificate
  std::string key_file;
};

enum class Handshake {
  kNone,  // plaintext: the bytes sent are the bytes on the wire
  kFull,  // TLS with ALPN h2, done before Connect returns
};

// One connection to 127.0.0.1:PORT (or host:port). Not thread-safe; closes on destruction.
class Connection {
 public:
  // nullptr if the TCP connection (or the TLS handshake, with kFull) failed.
  static std::unique_ptr<Connection> Open(const std::string& address, Handshake handshake,
                                          const TlsFiles& tls = {});
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Writes every byte (through TLS when the handshake was done); false if the connection
  // failed or a write stalled for 5 seconds (the server stopped reading).
  bool Send(std::string_view bytes);
  // Up to `max_bytes` that arrived within `timeout`; empty on timeout. Sets closed() when
  // the server closed the connection or reset it.
  std::string Receive(std::chrono::milliseconds timeout, std::size_t max_bytes = 65536);
  // Reads and discards until the server closes the connection or `timeout` passes; whether
  // it closed.
  bool WaitForClose(std::chrono::milliseconds timeout);
  bool closed() const { return closed_; }

 private:
  Connection() = default;
  int fd_ = -1;
  void* ssl_ = nullptr;  // SSL*
  bool closed_ = false;
};

// The first `fraction` of the bytes of a TLS 1.2/1.3 ClientHello with ALPN h2 for server
// name "localhost": what a client whose handshake stalls has sent.
std::string PartialClientHello(double fraction);

// ---------------------------------------------------------------------------------------
// HTTP/2 (RFC 9113) and HPACK (RFC 7541), just what the tests send.

inline constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

enum FrameType : std::uint8_t {
  kData = 0x0,
  kHeaders = 0x1,
  kRstStream = 0x3,
  kSettings = 0x4,
  kPing = 0x6,
  kGoAway = 0x7,
  kWindowUpdate = 0x8,
  kContinuation = 0x9,
};
inline constexpr std::uint8_t kEndStream = 0x1;
inline constexpr std::uint8_t kAck = 0x1;
inline constexpr std::uint8_t kEndHeaders = 0x4;

// A frame whose header states `declared_length` (the real payload length by default):
// a larger one makes a truncated frame.
std::string Frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                  std::string_view payload, std::optional<std::uint32_t> declared_length = {});

// One header as an HPACK literal without indexing, new name, no Huffman coding.
std::string HpackLiteral(std::string_view name, std::string_view value);
// The request headers of a gRPC call to `path` (e.g. "/credvault.v1.CredentialService/
// PutCredential") with `authority`, plus `extra` headers already HPACK-encoded.
std::string GrpcRequestHeaders(std::string_view path, std::string_view authority,
                               std::string_view extra = "");
// A gRPC length-prefixed message: the compressed flag, a big-endian length
// (`declared_length`, the body's own by default) and the body.
std::string GrpcMessage(std::string_view body, bool compressed = false,
                        std::optional<std::uint32_t> declared_length = {});

// What the server did with a connection, as far as the reader saw.
struct Reply {
  bool goaway = false;
  std::uint32_t goaway_error = 0;
  bool reset = false;  // RST_STREAM on the stream asked about
  std::uint32_t reset_error = 0;
  std::optional<int> grpc_status;  // from the stream's headers or trailers
  std::string grpc_message;
  bool closed = false;       // the server closed the connection
  bool stream_done = false;  // END_STREAM or RST_STREAM seen on the stream
  int frames = 0;
  std::string Describe() const;
};

// Reads frames until `stream` ends (END_STREAM or RST_STREAM), a GOAWAY arrives, the
// connection closes or `timeout` passes. Acknowledges the server's SETTINGS (unless
// `ack_settings` is false) and PINGs.
Reply ReadReply(Connection& connection, std::uint32_t stream, std::chrono::milliseconds timeout,
                bool ack_settings = true);

}  // namespace credvault::e2e::raw

#endif  // CREDVAULT_TESTS_E2E_SUPPORT_RAW_HTTP2_H_

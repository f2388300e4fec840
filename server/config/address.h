#ifndef CREDVAULT_SERVER_CONFIG_ADDRESS_H_
#define CREDVAULT_SERVER_CONFIG_ADDRESS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace credvault::server {

// A listen address as gRPC takes it: "host:port", with IPv6 hosts in brackets
// ("[::1]:7443"). Port 0 asks the kernel for a free port (tests).
struct HostPort {
  std::string host;  // without brackets
  std::uint16_t port = 0;
};

// INVALID_ARGUMENT saying what is wrong (without repeating the text).
absl::StatusOr<HostPort> ParseHostPort(std::string_view address);

// True for "localhost", 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104: hosts whose traffic
// never leaves the machine, the only ones a plaintext listener may bind to.
bool IsLoopbackHost(std::string_view host);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_CONFIG_ADDRESS_H_

#include "server/config/address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"

namespace credvault::server {
namespace {

constexpr char kExpected[] = "expected host:port, such as 127.0.0.1:7443 or [::1]:7443";

bool IsIpv6Literal(const std::string& host, in6_addr* out) {
  return inet_pton(AF_INET6, host.c_str(), out) == 1;
}

bool IsHostNameOrIpv4(std::string_view host) {
  return host.size() <= 253 && std::all_of(host.begin(), host.end(), [](char c) {
           return absl::ascii_isalnum(c) || c == '.' || c == '-';
         });
}

}  // namespace

absl::StatusOr<HostPort> ParseHostPort(std::string_view address) {
  HostPort result;
  std::string_view port_text;
  if (!address.empty() && address.front() == '[') {
    const std::size_t close = address.find(']');
    if (close == std::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return absl::InvalidArgumentError(kExpected);
    }
    result.host = std::string(address.substr(1, close - 1));
    in6_addr ignored;
    if (!IsIpv6Literal(result.host, &ignored)) {
      return absl::InvalidArgumentError("the bracketed host is not an IPv6 address");
    }
    port_text = address.substr(close + 2);
  } else {
    const std::size_t colon = address.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
      return absl::InvalidArgumentError(kExpected);
    }
    result.host = std::string(address.substr(0, colon));
    if (result.host.find(':') != std::string::npos) {
      return absl::InvalidArgumentError("IPv6 hosts must be in brackets, such as [::1]:7443");
    }
    if (!IsHostNameOrIpv4(result.host)) {
      return absl::InvalidArgumentError("the host is not a host name or an IP address");
    }
    port_text = address.substr(colon + 1);
  }
  std::uint32_t port = 0;
  if (port_text.empty() || port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(),
                   [](char c) { return absl::ascii_isdigit(c); }) ||
      !absl::SimpleAtoi(std::string(port_text), &port) || port > 65535) {
    return absl::InvalidArgumentError("the port must be an integer from 0 to 65535");
  }
  result.port = static_cast<std::uint16_t>(port);
  return result;
}

bool IsLoopbackHost(std::string_view host) {
  const std::string text(host);
  if (absl::AsciiStrToLower(text) == "localhost") return true;
  in_addr v4;
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6;
  if (IsIpv6Literal(text, &v6)) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

}  // namespace credvault::server

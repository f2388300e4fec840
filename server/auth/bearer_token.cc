#include "server/auth/bearer_token.h"

#include <sodium.h>

#include <algorithm>
#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "crypto/sodium_init.h"

namespace credvault::server {
namespace {

bool IsTokenCharacter(char c) { return c > 0x20 && c < 0x7f; }

absl::Status MalformedHeader() {
  return absl::UnauthenticatedError("malformed authorization header; expected \"Bearer <token>\"");
}

}  // namespace

TokenHash HashBearerTokenBytes(std::string_view token) {
  crypto::EnsureSodiumInitialized();
  TokenHash hash;
  crypto_generichash(hash.data(), hash.size(), reinterpret_cast<const unsigned char*>(token.data()),
                     token.size(), nullptr, 0);
  return hash;
}

std::string HashBearerToken(std::string_view token) {
  const TokenHash hash = HashBearerTokenBytes(token);
  char hex[2 * std::tuple_size_v<TokenHash> + 1];
  sodium_bin2hex(hex, sizeof(hex), hash.data(), hash.size());
  return std::string(kTokenHashPrefix).append(hex);
}

absl::StatusOr<TokenHash> ParseTokenHash(std::string_view text) {
  TokenHash hash;
  std::size_t decoded = 0;
  if (text.substr(0, kTokenHashPrefix.size()) != kTokenHashPrefix ||
      text.size() != kTokenHashPrefix.size() + 2 * hash.size()) {
    return absl::InvalidArgumentError("must be \"blake2b256:\" and 64 hex digits");
  }
  const std::string_view hex = text.substr(kTokenHashPrefix.size());
  if (sodium_hex2bin(hash.data(), hash.size(), hex.data(), hex.size(), nullptr, &decoded,
                     nullptr) != 0 ||
      decoded != hash.size()) {
    return absl::InvalidArgumentError("must be \"blake2b256:\" and 64 hex digits");
  }
  return hash;
}

absl::StatusOr<std::string_view> BearerTokenFromAuthorization(std::string_view header_value) {
  constexpr std::string_view kScheme = "bearer";
  if (header_value.size() <= kScheme.size() + 1 ||
      !absl::EqualsIgnoreCase(std::string(header_value.substr(0, kScheme.size())),
                              std::string(kScheme)) ||
      header_value[kScheme.size()] != ' ') {
    return MalformedHeader();
  }
  const std::string_view token = header_value.substr(kScheme.size() + 1);
  if (token.empty() || token.size() > kMaxBearerTokenLength ||
      !std::all_of(token.begin(), token.end(), IsTokenCharacter)) {
    return MalformedHeader();
  }
  return token;
}

absl::StatusOr<std::string> HashTokenFromInput(std::istream& in) {
  std::string token;
  char c;
  // Bounded read: a token is short; a huge input is a mistake (e.g. the wrong file).
  while (token.size() <= kMaxBearerTokenLength + 2 && in.get(c)) token.push_back(c);
  if (in.bad()) return absl::DataLossError("cannot read the token from standard input");
  if (absl::EndsWith(token, "\n")) token.pop_back();
  if (absl::EndsWith(token, "\r")) token.pop_back();
  absl::Status status = absl::OkStatus();
  if (token.size() < kMinBearerTokenLength || token.size() > kMaxBearerTokenLength) {
    status = absl::InvalidArgumentError(
        "token: must be 32-4096 characters; make one with `openssl rand -base64 32`");
  } else if (!std::all_of(token.begin(), token.end(), IsTokenCharacter)) {
    status = absl::InvalidArgumentError(
        "token: must be visible ASCII without spaces (what an HTTP header can carry)");
  }
  std::string hash = status.ok() ? HashBearerToken(token) : std::string();
  sodium_memzero(token.data(), token.size());
  if (!status.ok()) return status;
  return hash;
}

}  // namespace credvault::server

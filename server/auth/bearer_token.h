#ifndef CREDVAULT_SERVER_AUTH_BEARER_TOKEN_H_
#define CREDVAULT_SERVER_AUTH_BEARER_TOKEN_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <istream>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace credvault::server {

// Bearer tokens are random strings of at least 32 characters that the operator makes
// (e.g. `openssl rand -base64 32`) and hands to a client. The server stores only a hash:
//   "blake2b256:" + hex(BLAKE2b-256(token))   (unkeyed, libsodium crypto_generichash)
// An unkeyed hash suffices because tokens are high-entropy random strings: a hash cannot
// be brute-forced back into such a token, so a leaked policy file does not leak the
// tokens. (Passwords, which people choose, would need a slow salted hash instead.) The
// same property makes one hash per request cheap enough to need no cache.

inline constexpr std::size_t kMinBearerTokenLength = 32;
inline constexpr std::size_t kMaxBearerTokenLength = 4096;
inline constexpr std::string_view kTokenHashPrefix = "blake2b256:";

using TokenHash = std::array<std::uint8_t, 32>;

// BLAKE2b-256 of the token bytes.
TokenHash HashBearerTokenBytes(std::string_view token);

// The policy-file form of the hash: "blake2b256:<64 lowercase hex>".
std::string HashBearerToken(std::string_view token);

// Parses the policy-file form; INVALID_ARGUMENT when malformed.
absl::StatusOr<TokenHash> ParseTokenHash(std::string_view text);

// The token of an "authorization" header value "Bearer <token>" (scheme case-insensitive,
// RFC 7235). UNAUTHENTICATED "malformed authorization header" otherwise, without echoing
// the value.
absl::StatusOr<std::string_view> BearerTokenFromAuthorization(std::string_view header_value);

// `credvaultd hash-token`: reads one token from `in` (standard input, never argv, which
// other users can see), drops one trailing newline, checks that it is usable as a bearer
// token (32-4096 characters, visible ASCII, as an HTTP header value allows) and returns
// its policy-file hash.
absl::StatusOr<std::string> HashTokenFromInput(std::istream& in);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_AUTH_BEARER_TOKEN_H_

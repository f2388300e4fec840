// Bearer token hashing, header parsing and the hash-token command.
#include "server/auth/bearer_token.h"

#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace credvault::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(BearerTokenTest, HashIsUnkeyedBlake2b256) {
  // Known answers of BLAKE2b-256 (RFC 7693 parameters, 32-byte digest, no key).
  EXPECT_EQ(HashBearerToken(""),
            "blake2b256:0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
  EXPECT_EQ(HashBearerToken("abc"),
            "blake2b256:bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
}

TEST(BearerTokenTest, HashTextRoundTrips) {
  const std::string text = HashBearerToken("a-token-of-sufficient-length-0123456789");
  const absl::StatusOr<TokenHash> hash = ParseTokenHash(text);
  ASSERT_TRUE(hash.ok()) << hash.status();
  EXPECT_EQ(*hash, HashBearerTokenBytes("a-token-of-sufficient-length-0123456789"));
  EXPECT_FALSE(ParseTokenHash(text.substr(0, text.size() - 1)).ok());
  EXPECT_FALSE(ParseTokenHash("sha256:" + text.substr(11)).ok());
  EXPECT_FALSE(ParseTokenHash(text.substr(0, text.size() - 1) + "g").ok());
}

TEST(BearerTokenTest, AuthorizationHeader) {
  absl::StatusOr<std::string_view> token = BearerTokenFromAuthorization("Bearer abc.def-123");
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(*token, "abc.def-123");
  token = BearerTokenFromAuthorization("bearer xyz");
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(*token, "xyz");
  for (const char* malformed : {"", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearerabc",
                                "Bearer  two-spaces", "Bearer a b", "Bearer secret\x01"}) {
    const absl::StatusOr<std::string_view> result = BearerTokenFromAuthorization(malformed);
    ASSERT_FALSE(result.ok()) << malformed;
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_THAT(std::string(result.status().message()), HasSubstr("malformed authorization"));
    EXPECT_THAT(std::string(result.status().message()), Not(HasSubstr("dXNlcjpwYXNz")));
    EXPECT_THAT(std::string(result.status().message()), Not(HasSubstr("secret")));
  }
}

TEST(BearerTokenTest, HashTokenCommandReadsOneTokenFromInput) {
  const std::string token = "Zm9vYmFyYmF6cXV4MDEyMzQ1Njc4OWFiY2RlZg==";
  std::istringstream with_newline(token + "\n");
  absl::StatusOr<std::string> hash = HashTokenFromInput(with_newline);
  ASSERT_TRUE(hash.ok()) << hash.status();
  EXPECT_EQ(*hash, HashBearerToken(token));
  std::istringstream with_crlf(token + "\r\n");
  EXPECT_EQ(HashTokenFromInput(with_crlf).value_or(""), HashBearerToken(token));

  std::istringstream too_short("short-token\n");
  EXPECT_EQ(HashTokenFromInput(too_short).status().code(), absl::StatusCode::kInvalidArgument);
  std::istringstream with_space("a token with spaces that is long enough to pass\n");
  const absl::Status status = HashTokenFromInput(with_space).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr("spaces that")));
  std::istringstream two_lines(token + "\n" + token + "\n");
  EXPECT_FALSE(HashTokenFromInput(two_lines).ok());
}

}  // namespace
}  // namespace credvault::server

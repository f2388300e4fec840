// Exit status mapping and connection option checks.

#include <fstream>
#include <string>

#include "cli/connection.h"
#include "cli/environment.h"
#include "cli/exit_codes.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace credvault::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

TEST(ExitCodeTest, MapsEveryGrpcCodeToTenPlusItsNumber) {
  EXPECT_EQ(ExitCodeForGrpcStatus(grpc::StatusCode::OK), kExitOk);
  EXPECT_EQ(ExitCodeForGrpcStatus(grpc::StatusCode::CANCELLED), 11);
  EXPECT_EQ(ExitCodeForGrpcStatus(grpc::StatusCode::INVALID_ARGUMENT), 13);
  EXPECT_EQ(ExitCodeForGrpcStatus(grpc::StatusCode::NOT_FOUND), 15);
  EXPECT_EQ(ExitCodeForGrpcStatus(grpc::StatusCode::PERMISSION_DENIED), 17);
  EXPECT_EQ(ExitCodeForGrpcStatus(grpc::StatusCode::FAILED_PRECONDITION), 19);
  EXPECT_EQ(ExitCodeForGrpcStatus(grpc::StatusCode::UNAVAILABLE), 24);
  EXPECT_EQ(ExitCodeForGrpcStatus(grpc::StatusCode::DATA_LOSS), 25);
  EXPECT_EQ(ExitCodeForGrpcStatus(grpc::StatusCode::UNAUTHENTICATED), 26);
  // A code this build does not know is reported as UNKNOWN, never as success or usage.
  EXPECT_EQ(ExitCodeForGrpcStatus(static_cast<grpc::StatusCode>(99)), 12);
  EXPECT_EQ(ExitCodeForGrpcStatus(static_cast<grpc::StatusCode>(-1)), 12);
  for (int code = 1; code <= 16; ++code) {
    EXPECT_GE(ExitCodeForGrpcStatus(static_cast<grpc::StatusCode>(code)), 11);
    EXPECT_NE(ExitCodeForGrpcStatus(static_cast<grpc::StatusCode>(code)), kExitNegative);
  }
}

TEST(ExitCodeTest, NamesAndTable) {
  EXPECT_EQ(GrpcStatusCodeName(grpc::StatusCode::PERMISSION_DENIED), "PERMISSION_DENIED");
  EXPECT_EQ(GrpcStatusCodeName(grpc::StatusCode::UNAUTHENTICATED), "UNAUTHENTICATED");
  EXPECT_EQ(GrpcStatusCodeName(static_cast<grpc::StatusCode>(42)), "UNKNOWN");
  const std::string table = ExitCodeTable();
  EXPECT_THAT(table, HasSubstr("2   usage error"));
  EXPECT_THAT(table, HasSubstr("24  UNAVAILABLE"));
  EXPECT_THAT(table, HasSubstr("26  UNAUTHENTICATED"));
}

TEST(LoopbackTest, RecognisesLoopbackTargets) {
  for (const char* target :
       {"127.0.0.1:7443", "127.8.9.10:1", "localhost:7443", "LOCALHOST", "[::1]:7443", "::1",
        "dns:///localhost:7443", "dns://8.8.8.8/127.0.0.1:1", "ipv4:127.0.0.1:1,127.0.0.2:2",
        "ipv6:[::1]:7443", "[::ffff:127.0.0.1]:1", "127.0.0.1"}) {
    EXPECT_TRUE(IsLoopbackTarget(target)) << target;
  }
}

TEST(LoopbackTest, RejectsEverythingElse) {
  for (const char* target :
       {"10.0.0.1:7443", "vault.example.com:7443", "128.0.0.1:1", "[::2]:1", "0.0.0.0:7443",
        "localhost.example.com:1", "127.0.0.1.nip.io:1", "dns:///vault:7443",
        "ipv4:127.0.0.1:1,10.0.0.1:1", "unix:/run/credvault.sock", "xds:///vault", "", "[::1",
        "127.0.0.1:1,10.0.0.1:1"}) {
    EXPECT_FALSE(IsLoopbackTarget(target)) << target;
  }
}

TEST(ConnectionOptionsTest, Validation) {
  ConnectionOptions options;
  options.target = "vault:7443";
  EXPECT_TRUE(ValidateConnectionOptions(options).ok());
  options.cert_file = "c.pem";
  EXPECT_FALSE(ValidateConnectionOptions(options).ok());
  options.key_file = "k.pem";
  EXPECT_TRUE(ValidateConnectionOptions(options).ok());
  options.plaintext = true;
  EXPECT_FALSE(ValidateConnectionOptions(options).ok());  // Remote, and TLS files too.
  options.target = "127.0.0.1:7443";
  EXPECT_THAT(ValidateConnectionOptions(options).message(), HasSubstr("cannot be combined"));
  options.cert_file.clear();
  options.key_file.clear();
  EXPECT_TRUE(ValidateConnectionOptions(options).ok());
}

TEST(TokenTest, ChecksAndTrims) {
  EXPECT_EQ(CheckToken("  abc.DEF-123_~\n")->RevealSecret(), "abc.DEF-123_~");
  EXPECT_FALSE(CheckToken("").ok());
  EXPECT_FALSE(CheckToken(" \n").ok());
  // A header injection attempt, and a byte HTTP/2 cannot carry.
  const absl::StatusOr<SecretInput> injected = CheckToken("abc\r\nx-evil: 1");
  ASSERT_FALSE(injected.ok());
  EXPECT_THAT(injected.status().message(), Not(HasSubstr("abc")));
  EXPECT_FALSE(CheckToken("ab cd").ok());
  EXPECT_FALSE(CheckToken(std::string(4097, 't')).ok());
}

TEST(TokenTest, ReadsTokenFileWithoutQuotingItInErrors) {
  const std::string path = ::testing::TempDir() + "/credvaultctl_token";
  std::ofstream(path) << "s3cr3t-token\n";
  EXPECT_EQ(ReadTokenFile(path)->RevealSecret(), "s3cr3t-token");
  std::ofstream(path) << "s3cr3t token\n";
  const absl::StatusOr<SecretInput> bad = ReadTokenFile(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("--token-file"));
  EXPECT_THAT(bad.status().message(), Not(HasSubstr("s3cr3t")));
  EXPECT_FALSE(ReadTokenFile(path + ".missing").ok());
}

TEST(RandomIdempotencyKeyTest, FreshAndWithinTheApiRule) {
  const std::string a = RandomIdempotencyKey();
  const std::string b = RandomIdempotencyKey();
  EXPECT_NE(a, b);
  EXPECT_THAT(a, MatchesRegex("credvaultctl-[0-9a-f]{32}"));
  EXPECT_LE(a.size(), 128u);
}

}  // namespace
}  // namespace credvault::cli

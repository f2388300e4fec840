#include "cli/secret_input.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>

#include "crypto/secret_bytes.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace credvault::cli {
namespace {

using ::testing::HasSubstr;

// A pipe whose write end is fed by a thread, so inputs larger than the pipe buffer work.
absl::StatusOr<SecretInput> ReadThroughPipe(const std::string& bytes, std::size_t max_bytes) {
  int fds[2];
  if (pipe(fds) != 0) return absl::InternalError("pipe");
  std::thread writer([&] {
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = write(fds[1], bytes.data() + done, bytes.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    close(fds[1]);
  });
  absl::StatusOr<SecretInput> secret = ReadSecretFromFd(fds[0], max_bytes);
  close(fds[0]);  // Unblocks the writer if the reader stopped early.
  writer.join();
  return secret;
}

std::string BinaryBytes() {
  std::string bytes;
  for (int i = 0; i < 512; ++i) bytes.push_back(static_cast<char>(i % 256));
  bytes += std::string("\0\n\r\n\0", 5);  // NULs and line endings survive untouched.
  return bytes;
}

TEST(ReadSecretTest, PipeIsBinarySafe) {
  const std::string bytes = BinaryBytes();
  absl::StatusOr<SecretInput> secret = ReadThroughPipe(bytes, kMaxSecretBytes);
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(secret->RevealSecret(), bytes);
}

TEST(ReadSecretTest, FileIsBinarySafe) {
  const std::string bytes = BinaryBytes();
  const std::string path = ::testing::TempDir() + "/credvaultctl_secret";
  std::ofstream(path, std::ios::binary) << bytes;
  absl::StatusOr<SecretInput> secret = ReadSecretFromFile(path);
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(secret->RevealSecret(), bytes);
  unlink(path.c_str());
}

TEST(ReadSecretTest, SizeCapIsExact) {
  EXPECT_EQ(ReadThroughPipe(std::string(100, 'x'), 100)->size(), 100u);
  const absl::StatusOr<SecretInput> too_big = ReadThroughPipe(std::string(101, 'x'), 100);
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kResourceExhausted);
  // The default cap holds for input far beyond the pipe buffer.
  EXPECT_EQ(
      ReadThroughPipe(std::string(kMaxSecretBytes + 4096, 'x'), kMaxSecretBytes).status().code(),
      absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ReadThroughPipe(std::string(kMaxSecretBytes, 'x'), kMaxSecretBytes)->size(),
            kMaxSecretBytes);
}

TEST(ReadSecretTest, EmptyAndMissingInputsFail) {
  EXPECT_THAT(ReadThroughPipe("", kMaxSecretBytes).status().message(), HasSubstr("empty"));
  const absl::StatusOr<SecretInput> missing = ReadSecretFromFile("/nonexistent/secret");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("/nonexistent/secret"));
}

TEST(SecretInputTest, MoveIntoHandsOverTheBufferAndWipeStringClearsIt) {
  absl::StatusOr<SecretInput> secret = ReadThroughPipe("top secret", 64);
  ASSERT_TRUE(secret.ok());
  std::string field = "old";
  secret->MoveInto(&field);
  EXPECT_EQ(field, "top secret");
  EXPECT_EQ(secret->size(), 0u);

  const char* const data = field.data();
  const std::size_t capacity = field.capacity();
  crypto::WipeString(&field);
  EXPECT_TRUE(field.empty());
  // Same buffer, now all zero up to its capacity (the string still owns it).
  ASSERT_EQ(field.data(), data);
  EXPECT_EQ(std::string(data, capacity), std::string(capacity, '\0'));
}

}  // namespace
}  // namespace credvault::cli

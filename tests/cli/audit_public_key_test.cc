#include "cli/audit_public_key.h"

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "crypto/audit_signer.h"
#include "crypto/key_buffer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace credvault::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

crypto::AuditSigner Signer() {
  std::vector<std::uint8_t> seed(32);
  for (std::size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<std::uint8_t>(0x42 + i);
  return *crypto::AuditSigner::FromSeed(*crypto::KeyBuffer::CopyFrom(seed));
}

std::string Raw(const crypto::AuditSigningPublicKey& key) {
  return std::string(key.begin(), key.end());
}

TEST(AuditPublicKeyTest, AcceptsHexBase64AndSigningKeyJson) {
  const crypto::AuditSigner signer = Signer();
  const crypto::AuditSigningPublicKey& key = signer.public_key();
  const std::string hex = absl::BytesToHexString(Raw(key));
  const std::string base64 = absl::Base64Escape(Raw(key));
  const std::string object =
      "{\"key_id\":\"" + signer.key_id() + "\",\"public_key\":\"" + base64 + "\"}";
  for (const std::string& text :
       {hex, hex + "\n", "  " + absl::AsciiStrToUpper(hex) + "\r\n", base64 + "\n", object,
        "{\"public_key\":\"" + base64 + "\"}",
        // The signing_key line of an export, create_time included.
        "{\"signing_key\":{\"key_id\":\"" + signer.key_id() + "\",\"public_key\":\"" + base64 +
            "\",\"create_time\":\"2025-01-01T00:00:00Z\"}}\n"}) {
    const absl::StatusOr<crypto::AuditSigningPublicKey> parsed = ParseAuditPublicKey(text);
    ASSERT_TRUE(parsed.ok()) << text << ": " << parsed.status();
    EXPECT_EQ(*parsed, key) << text;
  }
}

TEST(AuditPublicKeyTest, RefusesOtherTextWithoutEchoingIt) {
  const crypto::AuditSigner signer = Signer();
  const std::string base64 = absl::Base64Escape(Raw(signer.public_key()));
  const std::string marker = "SEEDMARKERSEEDMARKERSEEDMARKER12";  // 32 raw bytes, like a seed
  for (const std::string& text : std::vector<std::string>{
           std::string(), std::string(63, 'a'), std::string(64, 'g'), std::string(66, 'a'), marker,
           "{\"public_key\":\"AAAA\"}", "{\"key_id\":\"0000\",\"public_key\":\"" + base64 + "\"}",
           "{\"unknown\":1}", "{not json"}) {
    const absl::Status status = ParseAuditPublicKey(text).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(status.message(), Not(HasSubstr("SEEDMARKER")));
  }
  EXPECT_THAT(ParseAuditPublicKey(marker).status().message(), HasSubstr("private seed"));
  EXPECT_THAT(ParseAuditPublicKey("{\"key_id\":\"0000\",\"public_key\":\"" + base64 + "\"}")
                  .status()
                  .message(),
              HasSubstr("key_id"));
}

TEST(AuditPublicKeyTest, ReadsFilesAndNamesThePathOnError) {
  const crypto::AuditSigner signer = Signer();
  const std::string path = ::testing::TempDir() + "/credvault_audit_public_key";
  std::ofstream(path, std::ios::trunc) << absl::BytesToHexString(Raw(signer.public_key())) << "\n";
  const absl::StatusOr<crypto::AuditSigningPublicKey> read = ReadAuditPublicKeyFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, signer.public_key());

  const absl::Status missing = ReadAuditPublicKeyFile(path + ".missing").status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.message(), HasSubstr(path + ".missing"));

  std::ofstream(path, std::ios::trunc) << std::string(100000, 'a');
  EXPECT_EQ(ReadAuditPublicKeyFile(path).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace credvault::cli

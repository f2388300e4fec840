// Caller identity from client certificates made with the openssl command line tool.
#include "server/auth/certificate_identity.h"

#include <openssl/err.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/auth/auth_test_util.h"

namespace credvault::server {
namespace {

using ::credvault::server::testing::MakeCertificate;
using ::credvault::server::testing::TempDir;
using ::testing::HasSubstr;

class CertificateIdentityTest : public ::testing::Test {
 protected:
  absl::StatusOr<Principal> Identify(const std::string& subject, const std::string& san) {
    const std::string pem = MakeCertificate(dir_, subject, san);
    EXPECT_FALSE(pem.empty());
    return PrincipalFromCertificatePem(pem);
  }

  static void ExpectRefused(const absl::StatusOr<Principal>& principal, const std::string& why) {
    ASSERT_FALSE(principal.ok()) << principal->id;
    EXPECT_EQ(principal.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_THAT(std::string(principal.status().message()), HasSubstr(why));
    // Failures must not leave errors behind for gRPC's TLS code on this thread.
    EXPECT_EQ(ERR_peek_error(), 0u);
  }

  TempDir dir_;
};

TEST_F(CertificateIdentityTest, UriSanIsPreferredOverDnsSanAndCn) {
  const absl::StatusOr<Principal> principal =
      Identify("/CN=backend-cn",
               "DNS:worker.example.org,URI:spiffe://example.org/ns/prod/sa/"
               "backend,URI:spiffe://example.org/second");
  ASSERT_TRUE(principal.ok()) << principal.status();
  EXPECT_EQ(principal->id, "spiffe://example.org/ns/prod/sa/backend");
  EXPECT_EQ(principal->source, PrincipalSource::kCertificate);
}

TEST_F(CertificateIdentityTest, DnsSanIsPreferredOverCn) {
  const absl::StatusOr<Principal> principal = Identify(
      "/CN=worker-cn", "email:ops@example.org,DNS:worker.example.org,DNS:other.example.org");
  ASSERT_TRUE(principal.ok()) << principal.status();
  EXPECT_EQ(principal->id, "dns:worker.example.org");
}

TEST_F(CertificateIdentityTest, CnWhenThereIsNoUriOrDnsSan) {
  absl::StatusOr<Principal> principal = Identify("/O=Example/CN=legacy-client", "");
  ASSERT_TRUE(principal.ok()) << principal.status();
  EXPECT_EQ(principal->id, "cn:legacy-client");
  principal = Identify("/CN=Legacy Client", "email:ops@example.org");
  ASSERT_TRUE(principal.ok()) << principal.status();
  EXPECT_EQ(principal->id, "cn:Legacy Client");
}

TEST_F(CertificateIdentityTest, CertificateWithoutIdentityIsRefused) {
  ExpectRefused(Identify("/O=Example Org", ""), "no URI SAN, DNS SAN or subject CN");
  ExpectRefused(Identify("/O=Example Org", "email:ops@example.org"), "no URI SAN");
}

TEST_F(CertificateIdentityTest, AmbiguousOrUnsafeNamesAreRefused) {
  ExpectRefused(Identify("/CN=first/CN=second", ""), "more than one CN");
  ExpectRefused(Identify("/CN=caf\xc3\xa9", ""), "not printable ASCII");
  // A certificate must not pose as a token or as another kind of principal.
  ExpectRefused(Identify("/CN=x", "URI:token:ci-worker"), "reserved");
  ExpectRefused(Identify("/CN=x", "URI:dns:worker.example.org"), "reserved");
  ExpectRefused(Identify("/CN=x", "URI:CN:legacy-client"), "reserved");
}

TEST_F(CertificateIdentityTest, MalformedPemIsRefused) {
  const std::string pem = MakeCertificate(dir_, "/CN=legacy-client", "");
  ExpectRefused(PrincipalFromCertificatePem(""), "malformed PEM");
  ExpectRefused(PrincipalFromCertificatePem("not a certificate"), "malformed PEM");
  ExpectRefused(PrincipalFromCertificatePem(pem.substr(0, pem.size() / 2)), "malformed PEM");
  std::string corrupted = pem;
  corrupted[corrupted.size() / 2] = corrupted[corrupted.size() / 2] == 'A' ? 'B' : 'A';
  corrupted[corrupted.size() / 2 + 1] = '!';
  ExpectRefused(PrincipalFromCertificatePem(corrupted), "malformed PEM");
}

}  // namespace
}  // namespace credvault::server

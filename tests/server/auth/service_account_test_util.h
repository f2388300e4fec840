// Kubernetes-style ServiceAccount tokens for tests: signing keys made at test time with
// cjose, their public JWKS, and compact JWS tokens with chosen headers and claims.
#ifndef CREDVAULT_TESTS_SERVER_AUTH_SERVICE_ACCOUNT_TEST_UTIL_H_
#define CREDVAULT_TESTS_SERVER_AUTH_SERVICE_ACCOUNT_TEST_UTIL_H_

#include <cjose/header.h>
#include <cjose/jwk.h>
#include <cjose/jws.h>
#include <cjose/util.h>
#include <sodium.h>

#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace credvault::server::testing {

inline std::string Base64Url(const std::string& bytes) {
  std::string out(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                  '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(out.find('\0'));
  return out;
}

// Claims as a cluster puts them in a projected token, valid from now for an hour.
inline nlohmann::json ServiceAccountClaims(const std::string& issuer, const std::string& audience,
                                           const std::string& ns, const std::string& name) {
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  return nlohmann::json{{"iss", issuer},
                        {"aud", nlohmann::json::array({audience})},
                        {"sub", "system:serviceaccount:" + ns + ":" + name},
                        {"iat", now},
                        {"nbf", now},
                        {"exp", now + 3600},
                        {"kubernetes.io",
                         {{"namespace", ns},
                          {"pod", {{"name", name + "-5d8f"}, {"uid", "6f1c"}}},
                          {"serviceaccount", {{"name", name}, {"uid", "9a2b"}}}}}};
}

// A signing key of the test's own cluster.
class TestSigningKey {
 public:
  // "RS256" (RSA 2048) or "ES256" (P-256).
  TestSigningKey(std::string alg, std::string kid) : alg_(std::move(alg)), kid_(std::move(kid)) {
    cjose_err error;
    static const std::uint8_t kExponent[] = {0x01, 0x00, 0x01};
    jwk_ = alg_ == "ES256"
               ? cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &error)
               : cjose_jwk_create_RSA_random(2048, kExponent, sizeof(kExponent), &error);
    if (jwk_ == nullptr || !cjose_jwk_set_kid(jwk_, kid_.data(), kid_.size(), &error)) std::abort();
  }
  ~TestSigningKey() { cjose_jwk_release(jwk_); }
  TestSigningKey(const TestSigningKey&) = delete;
  TestSigningKey& operator=(const TestSigningKey&) = delete;

  const std::string& kid() const { return kid_; }

  // The public JWK, as a cluster publishes it.
  nlohmann::json PublicJwk() const {
    cjose_err error;
    char* text = cjose_jwk_to_json(jwk_, false, &error);
    if (text == nullptr) std::abort();
    nlohmann::json jwk = nlohmann::json::parse(text);
    cjose_get_dealloc()(text);
    jwk["use"] = "sig";
    jwk["alg"] = alg_;
    return jwk;
  }

  // A compact JWS of `claims`, its header {alg, kid} (kid left out when empty).
  std::string Sign(const nlohmann::json& claims, bool with_kid = true) const {
    cjose_err error;
    cjose_header_t* header = cjose_header_new(&error);
    if (header == nullptr || !cjose_header_set(header, CJOSE_HDR_ALG, alg_.c_str(), &error) ||
        (with_kid && !cjose_header_set(header, CJOSE_HDR_KID, kid_.c_str(), &error))) {
      std::abort();
    }
    const std::string payload = claims.dump();
    cjose_jws_t* jws =
        cjose_jws_sign(jwk_, header, reinterpret_cast<const std::uint8_t*>(payload.data()),
                       payload.size(), &error);
    cjose_header_release(header);
    const char* compact = nullptr;
    if (jws == nullptr || !cjose_jws_export(jws, &compact, &error)) std::abort();
    std::string token(compact);
    cjose_jws_release(jws);
    return token;
  }

 private:
  std::string alg_;
  std::string kid_;
  cjose_jwk_t* jwk_ = nullptr;
};

// {"keys": [...]} of the keys' public halves.
inline std::string Jwks(const std::vector<const TestSigningKey*>& keys) {
  nlohmann::json set{{"keys", nlohmann::json::array()}};
  for (const TestSigningKey* key : keys) set["keys"].push_back(key->PublicJwk());
  return set.dump();
}

}  // namespace credvault::server::testing

#endif  // CREDVAULT_TESTS_SERVER_AUTH_SERVICE_ACCOUNT_TEST_UTIL_H_

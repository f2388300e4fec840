#include "server/auth/service_account_token.h"

#include <cjose/jwk.h>
#include <cjose/jws.h>
#include <curl/curl.h>
#include <sodium.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "server/base/read_file.h"

namespace credvault::server {

using Json = nlohmann::json;

namespace {

// Kubernetes tokens are about a kilobyte; this leaves room and bounds the work per call.
constexpr std::size_t kMaxTokenLength = 8192;
constexpr std::size_t kMaxKeySetBytes = 1 << 20;

struct JwkRelease {
  void operator()(cjose_jwk_t* jwk) const { cjose_jwk_release(jwk); }
};
struct JwsRelease {
  void operator()(cjose_jws_t* jws) const { cjose_jws_release(jws); }
};
struct CurlCleanup {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct CurlSlistFree {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

absl::Status Refused(std::string_view why) {
  return absl::UnauthenticatedError(absl::StrCat("service account token: ", std::string(why)));
}

std::optional<std::string> DecodeBase64Url(std::string_view text) {
  std::string out(text.size(), '\0');
  std::size_t length = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &length, &end,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      end != text.data() + text.size()) {
    return std::nullopt;
  }
  out.resize(length);
  return out;
}

// The JSON object a base64url part holds, or a discarded value.
Json DecodeJsonObject(std::string_view part) {
  const std::optional<std::string> bytes = DecodeBase64Url(part);
  if (!bytes.has_value()) return Json(Json::value_t::discarded);
  Json json = Json::parse(*bytes, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return Json(Json::value_t::discarded);
  return json;
}

std::string StringMember(const Json& object, std::string_view key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// A NumericDate claim (seconds since the epoch, possibly fractional), or nullopt when it
// is absent; a present but unusable value is an error.
absl::StatusOr<std::optional<absl::Time>> NumericDate(const Json& claims, std::string_view key) {
  const auto it = claims.find(key);
  if (it == claims.end()) return std::optional<absl::Time>();
  if (!it->is_number()) return Refused(absl::StrCat(std::string(key), " is not a number"));
  const double seconds = it->get<double>();
  // Beyond year 5000 or before 1970 is no date a cluster issues.
  if (!std::isfinite(seconds) || seconds < 0 || seconds > 1e11) {
    return Refused(absl::StrCat(std::string(key), " is out of range"));
  }
  return std::optional<absl::Time>(absl::FromUnixSeconds(static_cast<std::int64_t>(seconds)));
}

// The key type and curve an algorithm needs; nullopt for algorithms never accepted.
struct AlgorithmNeeds {
  cjose_jwk_kty_t kty;
  std::string_view curve;  // EC only
};

std::optional<AlgorithmNeeds> NeedsOf(std::string_view alg) {
  for (std::string_view rsa : {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}) {
    if (alg == rsa) return AlgorithmNeeds{CJOSE_JWK_KTY_RSA, ""};
  }
  if (alg == "ES256") return AlgorithmNeeds{CJOSE_JWK_KTY_EC, "P-256"};
  if (alg == "ES384") return AlgorithmNeeds{CJOSE_JWK_KTY_EC, "P-384"};
  if (alg == "ES512") return AlgorithmNeeds{CJOSE_JWK_KTY_EC, "P-521"};
  return std::nullopt;
}

struct Download {
  std::string body;
  bool too_large = false;
};

std::size_t AppendBody(char* data, std::size_t size, std::size_t count, void* user) {
  auto* download = static_cast<Download*>(user);
  const std::size_t bytes = size * count;
  if (download->body.size() + bytes > kMaxKeySetBytes) {
    download->too_large = true;
    return 0;  // aborts the transfer
  }
  download->body.append(data, bytes);
  return bytes;
}

absl::StatusOr<std::string> FetchKeySet(const KubernetesAuthConfig& config) {
  static std::once_flag curl_initialised;
  std::call_once(curl_initialised, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  const std::string what = absl::StrCat("fetching the key set from ", config.jwks_url);

  std::string authorization;
  if (!config.jwks_token_file.empty()) {
    // Re-read on every fetch: the kubelet rotates projected tokens.
    absl::StatusOr<std::string> token =
        ReadSmallFile(config.jwks_token_file, "auth.kubernetes.jwks_token_file", 64 * 1024);
    if (!token.ok()) return token.status();
    authorization = absl::StrCat("Authorization: Bearer ",
                                 absl::StripAsciiWhitespace(absl::string_view(*token)));
    sodium_memzero(token->data(), token->size());
  }

  std::unique_ptr<CURL, CurlCleanup> curl(curl_easy_init());
  if (curl == nullptr) return absl::InternalError(absl::StrCat(what, ": cannot start libcurl"));
  std::unique_ptr<curl_slist, CurlSlistFree> headers(
      curl_slist_append(nullptr, "Accept: application/json"));
  if (!authorization.empty()) {
    curl_slist* extended = curl_slist_append(headers.get(), authorization.c_str());
    sodium_memzero(authorization.data(), authorization.size());
    if (extended == nullptr) return absl::InternalError(absl::StrCat(what, ": out of memory"));
  }
  Download download;
  CURL* handle = curl.get();
  curl_easy_setopt(handle, CURLOPT_URL, config.jwks_url.c_str());
  // https only, and no redirects: the key set comes from where the operator said.
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!config.jwks_ca_file.empty()) {
    curl_easy_setopt(handle, CURLOPT_CAINFO, config.jwks_ca_file.c_str());
  }
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(handle, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &download);
  const CURLcode result = curl_easy_perform(handle);
  if (download.too_large) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": larger than 1 MiB"));
  }
  if (result != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat(what, ": ", curl_easy_strerror(result)));
  }
  long status = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    return absl::UnavailableError(absl::StrCat(what, ": HTTP status ", status));
  }
  return std::move(download.body);
}

}  // namespace

struct ServiceAccountTokenVerifier::KeySet {
  struct Key {
    std::string kid;  // may be empty
    std::string alg;  // the key's own alg member; empty: any that fits its type
    cjose_jwk_kty_t kty;
    std::string curve;
    std::shared_ptr<cjose_jwk_t> jwk;
  };
  std::vector<Key> keys;
};

namespace {

// Parses a JSON Web Key Set (RFC 7517 section 5). Signing keys of type RSA and EC are
// kept; keys for encryption ("use": "enc") and of other types are skipped; a private key
// is an error (the set is published, so it must hold none).
absl::Status ParseKeySet(
    std::string_view text, std::string_view source, std::vector<std::string>& kids_seen,
    const std::function<void(std::string kid, std::string alg, cjose_jwk_kty_t kty,
                             std::string curve, std::shared_ptr<cjose_jwk_t> jwk)>& add) {
  const Json set = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!set.is_object() || !set.contains("keys") || !set["keys"].is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(source), ": not a JSON Web Key Set (an object with a \"keys\" array)"));
  }
  const Json& keys = set["keys"];
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const Json& key = keys[i];
    const std::string where = absl::StrCat(std::string(source), ": keys[", i, "]");
    if (!key.is_object()) return absl::InvalidArgumentError(absl::StrCat(where, ": not an object"));
    if (key.contains("d")) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": holds a private key; publish only public keys"));
    }
    const std::string kty = StringMember(key, "kty");
    const std::string use = StringMember(key, "use");
    if ((kty != "RSA" && kty != "EC") || (!use.empty() && use != "sig")) continue;
    cjose_err error;
    const std::string json = key.dump();
    std::shared_ptr<cjose_jwk_t> jwk(cjose_jwk_import(json.data(), json.size(), &error),
                                     JwkRelease());
    if (jwk == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": not a usable ", kty, " key"));
    }
    const std::string kid = StringMember(key, "kid");
    if (!kid.empty() && std::find(kids_seen.begin(), kids_seen.end(), kid) != kids_seen.end()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": duplicate kid"));
    }
    kids_seen.push_back(kid);
    add(kid, StringMember(key, "alg"), kty == "RSA" ? CJOSE_JWK_KTY_RSA : CJOSE_JWK_KTY_EC,
        StringMember(key, "crv"), std::move(jwk));
  }
  if (kids_seen.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(source), ": no RSA or EC signing key"));
  }
  return absl::OkStatus();
}

}  // namespace

bool LooksLikeJwt(std::string_view token) {
  const std::vector<absl::string_view> parts =
      absl::StrSplit(absl::string_view(token.data(), token.size()), '.');
  if (parts.size() != 3 || parts[0].empty() || parts[1].empty()) return false;
  const Json header = DecodeJsonObject(std::string_view(parts[0].data(), parts[0].size()));
  return !header.is_discarded() && header.contains("alg") && header["alg"].is_string();
}

ServiceAccountTokenVerifier::ServiceAccountTokenVerifier(KubernetesAuthConfig config)
    : config_(std::move(config)) {}

absl::StatusOr<std::unique_ptr<ServiceAccountTokenVerifier>> ServiceAccountTokenVerifier::Create(
    const KubernetesAuthConfig& config, RefreshFailureCallback on_refresh_failure) {
  if (config.issuer.empty() || config.audience.empty()) {
    return absl::InvalidArgumentError("auth.kubernetes: issuer and audience are required");
  }
  if (config.jwks_file.empty() == config.jwks_url.empty()) {
    return absl::InvalidArgumentError("auth.kubernetes: set exactly one of jwks_file and jwks_url");
  }
  std::unique_ptr<ServiceAccountTokenVerifier> verifier(new ServiceAccountTokenVerifier(config));
  if (absl::Status status = verifier->Reload(); !status.ok()) return status;
  if (on_refresh_failure != nullptr) {
    verifier->refresher_ =
        std::thread([raw = verifier.get(), callback = std::move(on_refresh_failure)]() mutable {
          raw->RefreshLoop(std::move(callback));
        });
  }
  return verifier;
}

ServiceAccountTokenVerifier::~ServiceAccountTokenVerifier() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
}

void ServiceAccountTokenVerifier::RefreshLoop(RefreshFailureCallback on_refresh_failure) {
  std::unique_lock<std::mutex> lock(stop_mu_);
  while (!stop_cv_.wait_for(lock, absl::ToChronoMilliseconds(config_.refresh_interval),
                            [this] { return stopping_; })) {
    lock.unlock();
    if (absl::Status status = Reload(); !status.ok()) on_refresh_failure(status);
    lock.lock();
  }
}

absl::StatusOr<std::shared_ptr<const ServiceAccountTokenVerifier::KeySet>>
ServiceAccountTokenVerifier::ReadKeySet() const {
  absl::StatusOr<std::string> text;
  std::string source;
  if (!config_.jwks_file.empty()) {
    source = config_.jwks_file;
    text = ReadSmallFile(config_.jwks_file, "auth.kubernetes.jwks_file", kMaxKeySetBytes);
  } else {
    source = config_.jwks_url;
    text = FetchKeySet(config_);
  }
  if (!text.ok()) return text.status();
  auto set = std::make_shared<KeySet>();
  std::vector<std::string> kids;
  absl::Status parsed = ParseKeySet(*text, source, kids,
                                    [&](std::string kid, std::string alg, cjose_jwk_kty_t kty,
                                        std::string curve, std::shared_ptr<cjose_jwk_t> jwk) {
                                      set->keys.push_back(KeySet::Key{.kid = std::move(kid),
                                                                      .alg = std::move(alg),
                                                                      .kty = kty,
                                                                      .curve = std::move(curve),
                                                                      .jwk = std::move(jwk)});
                                    });
  if (!parsed.ok()) return parsed;
  return std::shared_ptr<const KeySet>(std::move(set));
}

absl::Status ServiceAccountTokenVerifier::Reload() {
  std::lock_guard<std::mutex> reload_lock(reload_mu_);
  absl::StatusOr<std::shared_ptr<const KeySet>> keys = ReadKeySet();
  if (!keys.ok()) return keys.status();
  std::shared_ptr<const KeySet> next = *std::move(keys);
  {
    std::lock_guard<std::mutex> lock(mu_);
    keys_.swap(next);
  }
  return absl::OkStatus();
}

absl::StatusOr<Principal> ServiceAccountTokenVerifier::VerifyAt(std::string_view token,
                                                                absl::Time now) const {
  if (token.size() > kMaxTokenLength) return Refused("too long");
  const std::vector<absl::string_view> parts =
      absl::StrSplit(absl::string_view(token.data(), token.size()), '.');
  if (parts.size() != 3) return Refused("not a compact JWS (three dot-separated parts)");
  const Json header = DecodeJsonObject(std::string_view(parts[0].data(), parts[0].size()));
  if (header.is_discarded()) return Refused("malformed header");
  const std::string alg = StringMember(header, "alg");
  if (alg.empty()) return Refused("header has no alg");
  if (alg == "none") return Refused("unsigned tokens (alg none) are refused");
  if (alg.size() >= 2 && alg.substr(0, 2) == "HS") {
    return Refused("symmetric (HMAC) algorithms are refused");
  }
  const std::optional<AlgorithmNeeds> needs = NeedsOf(alg);
  if (!needs.has_value()) return Refused("unsupported algorithm");
  if (header.contains("crit")) return Refused("critical header extensions are not supported");

  std::shared_ptr<const KeySet> keys;
  {
    std::lock_guard<std::mutex> lock(mu_);
    keys = keys_;
  }
  const KeySet::Key* key = nullptr;
  if (header.contains("kid")) {
    const std::string kid = StringMember(header, "kid");
    for (const KeySet::Key& candidate : keys->keys) {
      if (!kid.empty() && candidate.kid == kid) key = &candidate;
    }
    if (key == nullptr) return Refused("unknown key id");
  } else if (keys->keys.size() == 1) {
    key = &keys->keys.front();
  } else {
    return Refused("no key id, and the key set has more than one key");
  }
  if (key->kty != needs->kty || (needs->kty == CJOSE_JWK_KTY_EC && key->curve != needs->curve) ||
      (!key->alg.empty() && key->alg != alg)) {
    return Refused("the algorithm does not fit the key");
  }

  cjose_err error;
  std::unique_ptr<cjose_jws_t, JwsRelease> jws(
      cjose_jws_import(token.data(), token.size(), &error));
  if (jws == nullptr) return Refused("malformed token");
  if (!cjose_jws_verify(jws.get(), key->jwk.get(), &error)) return Refused("bad signature");
  std::uint8_t* payload = nullptr;  // owned by jws
  std::size_t payload_length = 0;
  if (!cjose_jws_get_plaintext(jws.get(), &payload, &payload_length, &error)) {
    return Refused("malformed payload");
  }
  const Json claims = Json::parse(payload, payload + payload_length, nullptr,
                                  /*allow_exceptions=*/false);
  if (!claims.is_object()) return Refused("the payload is not a JSON object");

  if (StringMember(claims, "iss") != config_.issuer) return Refused("wrong issuer");
  bool audience_matches = false;
  if (const auto aud = claims.find("aud"); aud != claims.end()) {
    if (aud->is_string()) {
      audience_matches = aud->get<std::string>() == config_.audience;
    } else if (aud->is_array()) {
      audience_matches = std::any_of(aud->begin(), aud->end(), [&](const Json& entry) {
        return entry.is_string() && entry.get<std::string>() == config_.audience;
      });
    }
  }
  if (!audience_matches)
    return Refused(absl::StrCat("wrong audience (want ", config_.audience, ")"));

  const absl::Duration skew = config_.max_clock_skew;
  absl::StatusOr<std::optional<absl::Time>> expires = NumericDate(claims, "exp");
  if (!expires.ok()) return expires.status();
  if (!expires->has_value()) return Refused("no exp claim");
  if (now > **expires + skew) return Refused("expired");
  absl::StatusOr<std::optional<absl::Time>> not_before = NumericDate(claims, "nbf");
  if (!not_before.ok()) return not_before.status();
  if (not_before->has_value() && now + skew < **not_before) return Refused("not yet valid");
  absl::StatusOr<std::optional<absl::Time>> issued = NumericDate(claims, "iat");
  if (!issued.ok()) return issued.status();
  if (issued->has_value() && now + skew < **issued) return Refused("issued in the future");

  const auto kubernetes = claims.find("kubernetes.io");
  if (kubernetes == claims.end() || !kubernetes->is_object()) {
    return Refused("no kubernetes.io claim (not a projected ServiceAccount token)");
  }
  const std::string ns = StringMember(*kubernetes, "namespace");
  const auto account = kubernetes->find("serviceaccount");
  const std::string name = account != kubernetes->end() && account->is_object()
                               ? StringMember(*account, "name")
                               : std::string();
  std::string id = absl::StrCat(std::string(kServiceAccountPrincipalPrefix), ns, "/", name);
  if (!ValidateServiceAccountPrincipalId(id).ok()) {
    return Refused("kubernetes.io namespace or serviceaccount name missing or not a valid name");
  }
  return Principal{.id = std::move(id), .source = PrincipalSource::kServiceAccount};
}

}  // namespace credvault::server

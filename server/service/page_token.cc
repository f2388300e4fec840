#include "server/service/page_token.h"

#include <cstring>

#include "absl/strings/escaping.h"
#include "crypto/canonical_encoding.h"
#include "server/base/error_reason.h"

namespace credvault::server {
namespace {

constexpr std::uint8_t kTokenFormat = 0x01;
constexpr std::string_view kDomain = "credvault.page-token.v1";
constexpr std::size_t kHeaderSize = 1 + 4 + 4;
constexpr std::size_t kMaxNameSize = 1024;

crypto::CanonicalEncoder TokenMessage(const PageQuery& query, std::string_view cursor) {
  crypto::CanonicalEncoder encoder(kDomain);
  encoder.AddString(query.encoded());
  encoder.AddString(cursor);
  return encoder;
}

void AppendLengthPrefixed(std::string& out, std::string_view value) {
  std::vector<std::uint8_t> length;
  crypto::AppendU32(length, static_cast<std::uint32_t>(value.size()));
  out.append(length.begin(), length.end());
  out.append(value);
}

absl::Status BadToken(std::string_view field, const char* why) {
  return WithReason(absl::InvalidArgumentError(std::string(field) + ": " + why),
                    ErrorReason::kInvalidPageToken);
}

}  // namespace

PageQuery::PageQuery(std::string_view rpc) { AppendLengthPrefixed(encoded_, rpc); }

PageQuery& PageQuery::Add(std::string_view value) {
  AppendLengthPrefixed(encoded_, value);
  return *this;
}

PageQuery& PageQuery::Add(std::uint64_t value) { return Add(std::to_string(value)); }

PageQuery& PageQuery::Add(const std::map<std::string, std::string>& values) {
  Add(static_cast<std::uint64_t>(values.size()));
  for (const auto& [key, value] : values) Add(key).Add(value);
  return *this;
}

std::string EncodePageToken(const crypto::WriterKeyRing& keys, const PageQuery& query,
                            std::string_view last_name) {
  const crypto::CanonicalEncoder message = TokenMessage(query, last_name);
  const crypto::WriterTag tag = crypto::AuthenticateWithCurrentKey(keys, {message.bytes()});
  std::vector<std::uint8_t> raw;
  raw.push_back(kTokenFormat);
  crypto::AppendU32(raw, tag.key_version);
  crypto::AppendU32(raw, static_cast<std::uint32_t>(last_name.size()));
  raw.insert(raw.end(), last_name.begin(), last_name.end());
  raw.insert(raw.end(), tag.mac.begin(), tag.mac.end());
  std::string token;
  absl::WebSafeBase64Escape(std::string(raw.begin(), raw.end()), &token);
  return token;
}

absl::StatusOr<std::string> DecodePageToken(const crypto::WriterKeyRing& keys,
                                            const PageQuery& query, std::string_view field,
                                            std::string_view token) {
  std::string raw;
  if (token.size() > 4 * kMaxNameSize || !absl::WebSafeBase64Unescape(std::string(token), &raw)) {
    return BadToken(field, "is not a page token issued by this service");
  }
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(raw.data());
  if (raw.size() < kHeaderSize + crypto::kAuthenticatorSize || bytes[0] != kTokenFormat) {
    return BadToken(field, "is not a page token issued by this service");
  }
  const std::uint32_t name_size = crypto::ReadU32(bytes + 5);
  if (name_size > kMaxNameSize ||
      raw.size() != kHeaderSize + name_size + crypto::kAuthenticatorSize) {
    return BadToken(field, "is not a page token issued by this service");
  }
  std::string last_name = raw.substr(kHeaderSize, name_size);
  crypto::WriterTag tag;
  tag.key_version = crypto::ReadU32(bytes + 1);
  std::memcpy(tag.mac.data(), bytes + kHeaderSize + name_size, tag.mac.size());
  const crypto::CanonicalEncoder message = TokenMessage(query, last_name);
  if (!crypto::VerifyWriterTag(keys, {message.bytes()}, tag, "page token").ok()) {
    return BadToken(field,
                    "does not belong to this query (altered, or from another org or "
                    "filter)");
  }
  return last_name;
}

}  // namespace credvault::server

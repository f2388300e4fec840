#include "cli/audit_public_key.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "credvault/v1/audit.pb.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"

namespace credvault::cli {
namespace {

// Far above any accepted form; keeps a wrong path (a log, a device) from being read whole.
constexpr std::size_t kMaxKeyFileBytes = 16 * 1024;

constexpr char kForms[] =
    "expected 64 hex digits, the base64 of 32 bytes, or an AuditSigningKey JSON object";

absl::Status NotAKey(absl::string_view why = "") {
  return absl::InvalidArgumentError(absl::StrCat("not an audit signing public key",
                                                 why.empty() ? "" : " (", why,
                                                 why.empty() ? "" : ")", ": ", kForms));
}

crypto::AuditSigningPublicKey ToKey(absl::string_view bytes) {
  crypto::AuditSigningPublicKey key;
  std::copy(bytes.begin(), bytes.end(), key.begin());
  return key;
}

absl::StatusOr<crypto::AuditSigningPublicKey> FromJson(absl::string_view text) {
  nlohmann::json document = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded() || !document.is_object()) return NotAKey("invalid JSON");
  // The {"signing_key":{...}} line of an export, or the AuditSigningKey alone.
  if (document.size() == 1 && document.contains("signing_key")) {
    nlohmann::json inner = document["signing_key"];
    document = std::move(inner);
  }
  v1::AuditSigningKey message;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  if (!google::protobuf::util::JsonStringToMessage(document.dump(), &message, options).ok()) {
    return NotAKey("not an AuditSigningKey");
  }
  if (message.public_key().size() != sizeof(crypto::AuditSigningPublicKey)) {
    return NotAKey("public_key is not 32 bytes");
  }
  const crypto::AuditSigningPublicKey key = ToKey(message.public_key());
  if (!message.key_id().empty() && message.key_id() != crypto::AuditSigningKeyId(key)) {
    return absl::InvalidArgumentError(
        "the key_id of the AuditSigningKey is not the id of its public_key");
  }
  return key;
}

}  // namespace

absl::StatusOr<crypto::AuditSigningPublicKey> ParseAuditPublicKey(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (text.empty()) return NotAKey("empty");
  if (text.front() == '{') return FromJson(text);
  constexpr std::size_t kHexDigits = 2 * sizeof(crypto::AuditSigningPublicKey);
  if (text.size() == kHexDigits &&
      std::all_of(text.begin(), text.end(), [](char c) { return absl::ascii_isxdigit(c); })) {
    return ToKey(absl::HexStringToBytes(text));
  }
  std::string decoded;
  if (absl::Base64Unescape(text, &decoded) &&
      decoded.size() == sizeof(crypto::AuditSigningPublicKey)) {
    return ToKey(decoded);
  }
  if (text.size() == sizeof(crypto::AuditSigningPublicKey)) {
    // Raw bytes are how the server's key file holds the private seed.
    return NotAKey(
        "32 raw bytes: if this is the server's audit signing key file, it holds "
        "the private seed; pin the public key instead");
  }
  return NotAKey();
}

absl::StatusOr<crypto::AuditSigningPublicKey> ReadAuditPublicKeyFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    return absl::Status(absl::ErrnoToStatusCode(error),
                        absl::StrCat("reading ", path, ": ", strerror(error)));
  }
  std::string content;
  char buffer[4096];
  absl::Status status;
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      status = absl::Status(absl::ErrnoToStatusCode(error),
                            absl::StrCat("reading ", path, ": ", strerror(error)));
      break;
    }
    if (n == 0) break;
    content.append(buffer, static_cast<std::size_t>(n));
    if (content.size() > kMaxKeyFileBytes) {
      status = absl::InvalidArgumentError(absl::StrCat(path, ": too large for a public key file"));
      break;
    }
  }
  close(fd);
  if (!status.ok()) return status;
  absl::StatusOr<crypto::AuditSigningPublicKey> key = ParseAuditPublicKey(content);
  if (!key.ok()) {
    return absl::Status(key.status().code(), absl::StrCat(path, ": ", key.status().message()));
  }
  return key;
}

}  // namespace credvault::cli

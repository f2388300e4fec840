#include "storage/validation.h"

#include <cstdint>
#include <string>

namespace credvault::storage {
namespace {

bool IsOrgIdChar(char c, bool first) {
  const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  return alnum || (!first && (c == '.' || c == '_' || c == '-'));
}

// Returns the length of the valid UTF-8 sequence at the start of `s`, or 0 if there is none
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
std::size_t Utf8SequenceLength(std::string_view s) {
  const auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(s[i]); };
  const std::uint8_t b0 = byte(0);
  if (b0 < 0x80) return 1;
  std::size_t length;
  std::uint32_t code_point;
  if ((b0 & 0xE0) == 0xC0) {
    length = 2;
    code_point = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    length = 3;
    code_point = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    length = 4;
    code_point = b0 & 0x07;
  } else {
    return 0;
  }
  if (s.size() < length) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte(i) & 0x3F);
  }
  static constexpr std::uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code_point < kMinForLength[length]) return 0;
  if (code_point > 0x10FFFF || (code_point >= 0xD800 && code_point <= 0xDFFF)) return 0;
  return length;
}

absl::Status Invalid(std::string_view field, std::string_view reason) {
  return absl::InvalidArgumentError(std::string(field) + ": " + std::string(reason));
}

}  // namespace

absl::Status ValidateOrgId(std::string_view org_id) {
  if (org_id.empty()) return Invalid("org_id", "must not be empty");
  if (org_id == kSystemOrgId) return absl::OkStatus();
  if (org_id.size() > kMaxOrgIdBytes) {
    return Invalid("org_id", "longer than " + std::to_string(kMaxOrgIdBytes) + " bytes");
  }
  for (std::size_t i = 0; i < org_id.size(); ++i) {
    if (!IsOrgIdChar(org_id[i], i == 0)) {
      return Invalid("org_id",
                     "only ASCII letters, digits, '.', '_' and '-' are allowed, starting with a "
                     "letter or digit");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateText(std::string_view field, std::string_view value, std::size_t max_bytes,
                          bool allow_empty) {
  if (value.empty() && !allow_empty) return Invalid(field, "must not be empty");
  if (value.size() > max_bytes) {
    return Invalid(field, "longer than " + std::to_string(max_bytes) + " bytes");
  }
  std::size_t i = 0;
  while (i < value.size()) {
    if (value[i] == '\0') return Invalid(field, "must not contain NUL characters");
    const std::size_t length = Utf8SequenceLength(value.substr(i));
    if (length == 0) return Invalid(field, "is not valid UTF-8");
    i += length;
  }
  return absl::OkStatus();
}

}  // namespace credvault::storage

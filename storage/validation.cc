#include "storage/validation.h"

#include <algorithm>
#include <string>

namespace credvault::storage {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }

bool IsNameCharacter(char c) { return IsAlnum(c) || c == '.' || c == '_' || c == '/' || c == '-'; }

// What names and prefixes share: the length, the first character and the alphabet.
absl::Status ValidateNameStart(std::string_view field, std::string_view name) {
  if (name.size() > kMaxCredentialNameLength) {
    return InvalidInput(
        field, "must be at most " + std::to_string(kMaxCredentialNameLength) + " characters");
  }
  if (!IsAlnum(name.front())) return InvalidInput(field, "must start with [A-Za-z0-9]");
  if (!std::all_of(name.begin(), name.end(), IsNameCharacter)) {
    return InvalidInput(field, "may contain only [A-Za-z0-9._/-]");
  }
  if (name.find("//") != std::string_view::npos) {
    return InvalidInput(field, "must not contain \"//\"");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status InvalidInput(std::string_view field, std::string_view why) {
  return absl::InvalidArgumentError(std::string(field) + ": " + std::string(why));
}

absl::Status ValidateLowerIdentifier(std::string_view field, std::string_view value,
                                     std::size_t max_length) {
  if (value.empty()) return InvalidInput(field, "must not be empty");
  if (value.size() > max_length) {
    return InvalidInput(field, "must be at most " + std::to_string(max_length) + " characters");
  }
  if (!IsLowerAlnum(value.front())) return InvalidInput(field, "must start with [a-z0-9]");
  for (const char c : value) {
    if (!IsLowerAlnum(c) && c != '.' && c != '_' && c != '-') {
      return InvalidInput(field, "may contain only [a-z0-9._-]");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateOrgIdSyntax(std::string_view field, std::string_view org_id) {
  return ValidateLowerIdentifier(field, org_id, kMaxOrgIdLength);
}

absl::Status ValidateCredentialNameSyntax(std::string_view field, std::string_view name) {
  if (name.empty()) return InvalidInput(field, "must not be empty");
  if (absl::Status start = ValidateNameStart(field, name); !start.ok()) return start;
  if (name.back() == '/') return InvalidInput(field, "must not end with \"/\"");
  std::size_t start = 0;
  while (start <= name.size()) {
    const std::size_t end = std::min(name.find('/', start), name.size());
    const std::string_view segment = name.substr(start, end - start);
    if (segment == "." || segment == "..") {
      return InvalidInput(field, "must not have a \".\" or \"..\" segment");
    }
    start = end + 1;
  }
  return absl::OkStatus();
}

absl::Status ValidateNamePrefixSyntax(std::string_view field, std::string_view prefix) {
  if (prefix.empty()) return absl::OkStatus();
  return ValidateNameStart(field, prefix);
}

absl::Status ValidateOrgId(std::string_view org_id) {
  if (org_id == kSystemOrgId) return absl::OkStatus();
  return ValidateOrgIdSyntax("org_id", org_id);
}

absl::Status ValidateLabelCount(std::string_view field, std::size_t count) {
  if (count > kMaxLabels) {
    return InvalidInput(field, "at most " + std::to_string(kMaxLabels) + " labels");
  }
  return absl::OkStatus();
}

bool NextCodePoint(std::string_view text, std::size_t& i, std::uint32_t& code_point) {
  const auto byte = [&](std::size_t k) { return static_cast<std::uint8_t>(text[k]); };
  const std::uint8_t lead = byte(i);
  std::size_t length = 0;
  if (lead < 0x80) {
    code_point = lead;
    length = 1;
  } else if ((lead & 0xE0) == 0xC0) {
    code_point = lead & 0x1F;
    length = 2;
  } else if ((lead & 0xF0) == 0xE0) {
    code_point = lead & 0x0F;
    length = 3;
  } else if ((lead & 0xF8) == 0xF0) {
    code_point = lead & 0x07;
    length = 4;
  } else {
    return false;
  }
  if (i + length > text.size()) return false;
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return false;
    code_point = (code_point << 6) | (byte(i + k) & 0x3F);
  }
  static constexpr std::uint32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code_point < kMinimum[length] || code_point > 0x10FFFF ||
      (code_point >= 0xD800 && code_point <= 0xDFFF)) {
    return false;
  }
  i += length;
  return true;
}

absl::Status ValidateText(std::string_view field, std::string_view value, std::size_t max_bytes,
                          bool allow_empty) {
  if (value.empty() && !allow_empty) return InvalidInput(field, "must not be empty");
  if (value.size() > max_bytes) {
    return InvalidInput(field, "longer than " + std::to_string(max_bytes) + " bytes");
  }
  std::size_t i = 0;
  while (i < value.size()) {
    std::uint32_t code_point = 0;
    if (!NextCodePoint(value, i, code_point)) return InvalidInput(field, "is not valid UTF-8");
    if (code_point == 0) return InvalidInput(field, "must not contain NUL characters");
  }
  return absl::OkStatus();
}

}  // namespace credvault::storage

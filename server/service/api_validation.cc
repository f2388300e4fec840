#include "server/service/api_validation.h"

#include <algorithm>

#include "credvault/v1/common.pb.h"
#include "server/base/error_reason.h"
#include "storage/validation.h"

namespace credvault::server {
namespace {

absl::Status Invalid(std::string_view field, const std::string& why) {
  return WithReason(absl::InvalidArgumentError(std::string(field) + ": " + why),
                    credvault::v1::ERROR_REASON_INVALID_FIELD);
}

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }

absl::Status ValidateLowerIdentifier(std::string_view field, std::string_view value,
                                     std::size_t max_length) {
  if (value.empty()) return Invalid(field, "must not be empty");
  if (value.size() > max_length) {
    return Invalid(field, "must be at most " + std::to_string(max_length) + " characters");
  }
  if (!IsLowerAlnum(value.front())) return Invalid(field, "must start with [a-z0-9]");
  for (const char c : value) {
    if (!IsLowerAlnum(c) && c != '.' && c != '_' && c != '-') {
      return Invalid(field, "may contain only [a-z0-9._-]");
    }
  }
  return absl::OkStatus();
}

bool IsNameCharacter(char c) { return IsAlnum(c) || c == '.' || c == '_' || c == '/' || c == '-'; }

// Decodes one UTF-8 code point starting at `i`; false for malformed or overlong input.
bool NextCodePoint(std::string_view s, std::size_t& i, std::uint32_t& cp) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = byte(i);
  std::size_t length = 0;
  if (lead < 0x80) {
    cp = lead;
    length = 1;
  } else if ((lead & 0xE0) == 0xC0) {
    cp = lead & 0x1F;
    length = 2;
  } else if ((lead & 0xF0) == 0xE0) {
    cp = lead & 0x0F;
    length = 3;
  } else if ((lead & 0xF8) == 0xF0) {
    cp = lead & 0x07;
    length = 4;
  } else {
    return false;
  }
  if (i + length > s.size()) return false;
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return false;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  static constexpr std::uint32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMinimum[length] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
  i += length;
  return true;
}

}  // namespace

absl::Status ValidateOrgId(std::string_view field, std::string_view org_id) {
  return ValidateLowerIdentifier(field, org_id, 64);
}

absl::Status ValidateOrgIdOrSystem(std::string_view field, std::string_view org_id) {
  if (org_id == storage::kSystemOrgId) return absl::OkStatus();
  return ValidateOrgId(field, org_id);
}

std::optional<std::string> OrgScope(const std::string& org_id) {
  if (org_id == storage::kSystemOrgId) return std::nullopt;
  return org_id;
}

absl::Status ValidateCredentialName(std::string_view field, std::string_view name) {
  if (name.empty()) return Invalid(field, "must not be empty");
  if (name.size() > 200) return Invalid(field, "must be at most 200 characters");
  if (!IsAlnum(name.front())) return Invalid(field, "must start with [A-Za-z0-9]");
  for (const char c : name) {
    if (!IsNameCharacter(c)) return Invalid(field, "may contain only [A-Za-z0-9._/-]");
  }
  if (name.find("//") != std::string_view::npos) return Invalid(field, "must not contain \"//\"");
  if (name.back() == '/') return Invalid(field, "must not end with \"/\"");
  std::size_t start = 0;
  while (start <= name.size()) {
    const std::size_t end = std::min(name.find('/', start), name.size());
    const std::string_view segment = name.substr(start, end - start);
    if (segment == "." || segment == "..") {
      return Invalid(field, "must not have a \".\" or \"..\" segment");
    }
    start = end + 1;
  }
  return absl::OkStatus();
}

absl::Status ValidateNamePrefix(std::string_view field, std::string_view prefix) {
  if (prefix.empty()) return absl::OkStatus();
  if (prefix.size() > 200) return Invalid(field, "must be at most 200 characters");
  if (!IsAlnum(prefix.front())) return Invalid(field, "must start with [A-Za-z0-9]");
  for (const char c : prefix) {
    if (!IsNameCharacter(c)) return Invalid(field, "may contain only [A-Za-z0-9._/-]");
  }
  if (prefix.find("//") != std::string_view::npos) {
    return Invalid(field, "must not contain \"//\"");
  }
  return absl::OkStatus();
}

absl::Status ValidateLabels(std::string_view field,
                            const google::protobuf::Map<std::string, std::string>& labels) {
  if (labels.size() > kMaxLabels) {
    return Invalid(field, "at most " + std::to_string(kMaxLabels) + " labels");
  }
  for (const auto& [key, value] : labels) {
    if (absl::Status status = ValidateLowerIdentifier(std::string(field) + " key", key, 63);
        !status.ok()) {
      return status;
    }
    const std::string where = std::string(field) + "[" + key + "]";
    if (value.size() > 256) return Invalid(where, "value must be at most 256 bytes");
    std::size_t i = 0;
    while (i < value.size()) {
      std::uint32_t cp = 0;
      if (!NextCodePoint(value, i, cp)) return Invalid(where, "value must be valid UTF-8");
      if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
        return Invalid(where, "value must not contain control characters");
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateSecretSize(std::string_view field, std::size_t size, std::size_t max_size) {
  if (size == 0) return Invalid(field, "must not be empty");
  if (size > max_size) {
    return WithReason(
        absl::ResourceExhaustedError(std::string(field) + ": is " + std::to_string(size) +
                                     " bytes; the limit is " + std::to_string(max_size)),
        credvault::v1::ERROR_REASON_SECRET_TOO_LARGE);
  }
  return absl::OkStatus();
}

absl::Status ValidateIdempotencyKey(std::string_view field, std::string_view key) {
  if (key.empty()) return absl::OkStatus();
  if (key.size() > 128) return Invalid(field, "must be at most 128 characters");
  for (const char c : key) {
    if (!IsAlnum(c) && c != '.' && c != '_' && c != ':' && c != '-') {
      return Invalid(field, "may contain only [A-Za-z0-9._:-]");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidatePurpose(std::string_view field, std::string_view purpose) {
  if (purpose.empty()) return Invalid(field, "is required");
  if (purpose.size() > kMaxPurposeLength) return Invalid(field, "must be at most 256 characters");
  for (const char c : purpose) {
    if (c < 0x20 || c > 0x7E) return Invalid(field, "must be printable ASCII");
  }
  if (purpose.front() == ' ' || purpose.back() == ' ') {
    return Invalid(field, "must not start or end with a space");
  }
  return absl::OkStatus();
}

absl::Status NormalizePageSize(std::string_view field, int requested, int& page_size) {
  if (requested < 0) return Invalid(field, "must not be negative");
  page_size = requested == 0 ? kDefaultPageSize : std::min(requested, kMaxPageSize);
  return absl::OkStatus();
}

}  // namespace credvault::server

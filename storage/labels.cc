#include "storage/labels.h"

#include <cstdint>
#include <string>

#include "storage/validation.h"

namespace credvault::storage {
namespace {

void AppendJsonString(std::string_view value, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (const char c : value) {
    const auto byte = static_cast<std::uint8_t>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (byte < 0x20) {
      out.append("\\u00");
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xF]);
    } else {
      out.push_back(c);  // UTF-8 passes through; validation made sure it is valid
    }
  }
  out.push_back('"');
}

absl::StatusOr<std::string> DecodeHex(std::string_view hex) {
  const auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return absl::InternalError("labels column: odd hex length");
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int high = value(hex[i]);
    const int low = value(hex[i + 1]);
    if (high < 0 || low < 0) return absl::InternalError("labels column: not hex");
    out.push_back(static_cast<char>(high << 4 | low));
  }
  return out;
}

}  // namespace

absl::Status ValidateLabel(std::string_view field, std::string_view key, std::string_view value) {
  if (absl::Status status =
          ValidateLowerIdentifier(std::string(field) + " key", key, kMaxLabelKeyLength);
      !status.ok()) {
    return status;
  }
  const std::string where = std::string(field) + "[" + std::string(key) + "]";
  if (value.size() > kMaxLabelValueBytes) {
    return InvalidInput(where,
                        "value must be at most " + std::to_string(kMaxLabelValueBytes) + " bytes");
  }
  std::size_t i = 0;
  while (i < value.size()) {
    std::uint32_t code_point = 0;
    if (!NextCodePoint(value, i, code_point)) {
      return InvalidInput(where, "value must be valid UTF-8");
    }
    if (code_point < 0x20 || (code_point >= 0x7F && code_point <= 0x9F)) {
      return InvalidInput(where, "value must not contain control characters");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateLabels(const Labels& labels) {
  if (absl::Status status = ValidateLabelCount("labels", labels.size()); !status.ok()) {
    return status;
  }
  for (const auto& [key, value] : labels) {
    if (absl::Status status = ValidateLabel("labels", key, value); !status.ok()) return status;
  }
  return absl::OkStatus();
}

std::string LabelsToJson(const Labels& labels) {
  std::string json = "{";
  bool first = true;
  for (const auto& [key, value] : labels) {
    if (!first) json.push_back(',');
    first = false;
    AppendJsonString(key, json);
    json.push_back(':');
    AppendJsonString(value, json);
  }
  json.push_back('}');
  return json;
}

absl::StatusOr<Labels> LabelsFromColumn(std::string_view encoded) {
  Labels labels;
  while (!encoded.empty()) {
    const std::size_t comma = encoded.find(',');
    const std::string_view pair = encoded.substr(0, comma);
    encoded = comma == std::string_view::npos ? std::string_view() : encoded.substr(comma + 1);
    const std::size_t equals = pair.find('=');
    if (equals == std::string_view::npos) return absl::InternalError("labels column: no '='");
    absl::StatusOr<std::string> key = DecodeHex(pair.substr(0, equals));
    if (!key.ok()) return key.status();
    absl::StatusOr<std::string> value = DecodeHex(pair.substr(equals + 1));
    if (!value.ok()) return value.status();
    labels.emplace(std::move(*key), std::move(*value));
  }
  return labels;
}

}  // namespace credvault::storage

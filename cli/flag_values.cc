#include "cli/flag_values.h"

#include <cstdint>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace credvault::cli {
namespace {

constexpr std::size_t kMaxLabelKeyLength = 63;
constexpr std::size_t kMaxLabelValueBytes = 256;

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

absl::Status CheckLabelKey(absl::string_view key) {
  if (key.empty() || key.size() > kMaxLabelKeyLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("label key must be 1-", kMaxLabelKeyLength, " characters"));
  }
  if (!IsLowerAlnum(key.front())) {
    return absl::InvalidArgumentError("label key must start with [a-z0-9]");
  }
  for (char c : key) {
    if (!IsLowerAlnum(c) && c != '.' && c != '_' && c != '-') {
      return absl::InvalidArgumentError("label key may contain only [a-z0-9._-]");
    }
  }
  return absl::OkStatus();
}

// Decodes one UTF-8 sequence at `text[*pos]`, advancing *pos; false on malformed input
// (overlong forms, surrogates and code points above U+10FFFF included).
bool NextCodePoint(absl::string_view text, std::size_t* pos, std::uint32_t* code_point) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(*pos);
  std::size_t length;
  std::uint32_t value;
  std::uint32_t minimum;
  if (lead < 0x80) {
    *code_point = lead;
    ++*pos;
    return true;
  } else if ((lead & 0xE0) == 0xC0) {
    length = 2, value = lead & 0x1F, minimum = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, value = lead & 0x0F, minimum = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, value = lead & 0x07, minimum = 0x10000;
  } else {
    return false;
  }
  if (*pos + length > text.size()) return false;
  for (std::size_t i = 1; i < length; ++i) {
    const unsigned char next = byte(*pos + i);
    if ((next & 0xC0) != 0x80) return false;
    value = (value << 6) | (next & 0x3F);
  }
  if (value < minimum || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return false;
  *code_point = value;
  *pos += length;
  return true;
}

absl::Status CheckLabelValue(absl::string_view value) {
  if (value.size() > kMaxLabelValueBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("label value must be at most ", kMaxLabelValueBytes, " bytes"));
  }
  std::size_t pos = 0;
  while (pos < value.size()) {
    std::uint32_t code_point;
    if (!NextCodePoint(value, &pos, &code_point)) {
      return absl::InvalidArgumentError("label value must be valid UTF-8");
    }
    if (code_point <= 0x1F || (code_point >= 0x7F && code_point <= 0x9F)) {
      return absl::InvalidArgumentError("label value must not contain control characters");
    }
  }
  return absl::OkStatus();
}

absl::Status WithFlag(absl::string_view flag, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(flag, ": ", status.message()));
}

}  // namespace

absl::StatusOr<std::pair<std::string, std::string>> ParseLabel(absl::string_view text) {
  const std::size_t equals = text.find('=');
  if (equals == absl::string_view::npos) {
    return absl::InvalidArgumentError("label must have the form key=value");
  }
  absl::string_view key = text.substr(0, equals);
  absl::string_view value = text.substr(equals + 1);
  if (absl::Status status = CheckLabelKey(key); !status.ok()) return status;
  if (absl::Status status = CheckLabelValue(value); !status.ok()) return status;
  return std::make_pair(std::string(key), std::string(value));
}

absl::Status ParseLabels(const std::vector<std::string>& texts, absl::string_view flag,
                         google::protobuf::Map<std::string, std::string>* labels) {
  if (texts.size() > static_cast<std::size_t>(kMaxLabels)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": at most ", kMaxLabels, " labels are allowed"));
  }
  for (const std::string& text : texts) {
    absl::StatusOr<std::pair<std::string, std::string>> label = ParseLabel(text);
    if (!label.ok()) return WithFlag(flag, label.status());
    if (!labels->insert({label->first, label->second}).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": label key \"", label->first, "\" is given twice"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::Duration> ParsePositiveDuration(absl::string_view text,
                                                     absl::string_view flag) {
  absl::Duration duration;
  bool parsed = false;
  if (!text.empty() && text.back() == 'd') {
    std::int64_t days;
    if (absl::SimpleAtoi(text.substr(0, text.size() - 1), &days) && days > 0 &&
        days <= std::numeric_limits<std::int64_t>::max() / 86400) {
      duration = absl::Hours(24 * days);
      parsed = true;
    }
  } else {
    parsed = absl::ParseDuration(text, &duration);
  }
  if (!parsed || duration == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, ": \"", text, "\" is not a duration (examples: 90s, 15m, 24h, 1h30m, 30d)"));
  }
  if (duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": must be positive"));
  }
  return duration;
}

absl::StatusOr<google::protobuf::Duration> ParseTtl(absl::string_view text) {
  absl::StatusOr<absl::Duration> duration = ParsePositiveDuration(text, "--ttl");
  if (!duration.ok()) return duration.status();
  if (*duration < absl::Seconds(1)) {
    return absl::InvalidArgumentError("--ttl: must be at least 1s");
  }
  google::protobuf::Duration proto;
  const std::int64_t seconds = absl::IDivDuration(*duration, absl::Seconds(1), &*duration);
  proto.set_seconds(seconds);
  proto.set_nanos(static_cast<std::int32_t>(absl::ToInt64Nanoseconds(*duration)));
  return proto;
}

absl::StatusOr<google::protobuf::Timestamp> ParseRfc3339(absl::string_view text,
                                                         absl::string_view flag) {
  absl::Time time;
  std::string error;
  // RFC3339_full requires a zone designator ("Z" or an offset), so a local time that would
  // mean different instants on different machines is rejected.
  if (!absl::ParseTime(absl::RFC3339_full, text, &time, &error) || time == absl::InfiniteFuture() ||
      time == absl::InfinitePast()) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, ": \"", text, "\" is not an RFC 3339 time (example: 2030-01-31T12:00:00Z)"));
  }
  const absl::Duration since_epoch = time - absl::UnixEpoch();
  absl::Duration remainder;
  const std::int64_t seconds = absl::IDivDuration(since_epoch, absl::Seconds(1), &remainder);
  google::protobuf::Timestamp proto;
  // IDivDuration truncates towards zero; a Timestamp's nanos must be non-negative.
  std::int64_t nanos = absl::ToInt64Nanoseconds(remainder);
  proto.set_seconds(nanos < 0 ? seconds - 1 : seconds);
  proto.set_nanos(static_cast<std::int32_t>(nanos < 0 ? nanos + 1'000'000'000 : nanos));
  return proto;
}

}  // namespace credvault::cli

#include "server/telemetry/json_log.h"

#include <atomic>
#include <iostream>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace credvault::server {
namespace {

std::atomic<int> minimum_level{static_cast<int>(Severity::kInfo)};
std::atomic<std::ostream*> sink{nullptr};
std::mutex write_mutex;

const char* LevelName(Severity level) {
  switch (level) {
    case Severity::kDebug:
      return "debug";
    case Severity::kInfo:
      return "info";
    case Severity::kWarning:
      return "warning";
    case Severity::kError:
      return "error";
  }
  return "info";
}

// Appends `text` as a JSON string. Bytes that are not valid UTF-8 become U+FFFD, so a line
// stays valid JSON whatever a field carried.
void AppendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (c < 0x20 || c == 0x7f) {
            out += "\\u00";
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xf]);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    // The length of a well-formed sequence starting here (RFC 3629), or 0.
    std::size_t length = 0;
    if (c >= 0xc2 && c <= 0xdf) {
      length = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      length = 3;
    } else if (c >= 0xf0 && c <= 0xf4) {
      length = 4;
    }
    bool valid = length > 0 && i + length <= text.size();
    for (std::size_t k = 1; valid && k < length; ++k) {
      valid = (static_cast<unsigned char>(text[i + k]) & 0xc0) == 0x80;
    }
    if (valid && length >= 3) {
      const auto second = static_cast<unsigned char>(text[i + 1]);
      if (c == 0xe0 && second < 0xa0) valid = false;  // overlong
      if (c == 0xed && second > 0x9f) valid = false;  // surrogate
      if (c == 0xf0 && second < 0x90) valid = false;  // overlong
      if (c == 0xf4 && second > 0x8f) valid = false;  // beyond U+10FFFF
    }
    if (valid) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out += "\xef\xbf\xbd";
      ++i;
    }
  }
  out.push_back('"');
}

}  // namespace

void JsonLog::SetMinimumLevel(Severity level) { minimum_level = static_cast<int>(level); }

bool JsonLog::ParseLevel(std::string_view text, Severity& level) {
  for (const Severity candidate :
       {Severity::kDebug, Severity::kInfo, Severity::kWarning, Severity::kError}) {
    if (text == LevelName(candidate)) {
      level = candidate;
      return true;
    }
  }
  return false;
}

void JsonLog::SetSinkForTesting(std::ostream* out) { sink = out; }

void JsonLog::Write(Severity level, std::string_view message, Fields fields) {
  if (static_cast<int>(level) < minimum_level.load()) return;
  // Written by hand rather than through a JSON document: one line per request is on the
  // hot path (docs/architecture.md, "Performance").
  std::string line;
  line.reserve(160 + message.size());
  line += "{\"time\":";
  AppendJsonString(line,
                   absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone()));
  line += ",\"level\":";
  AppendJsonString(line, LevelName(level));
  line += ",\"msg\":";
  AppendJsonString(line, message);
  for (const auto& [key, value] : fields) {
    // The line's own keys cannot be overridden by a field.
    if (key == "time" || key == "level" || key == "msg") continue;
    line.push_back(',');
    AppendJsonString(line, key);
    line.push_back(':');
    AppendJsonString(line, value);
  }
  line += "}\n";
  std::lock_guard<std::mutex> lock(write_mutex);
  std::ostream* out = sink.load();
  (out != nullptr ? *out : std::cerr) << line << std::flush;
}

}  // namespace credvault::server

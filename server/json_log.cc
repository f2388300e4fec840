#include "server/json_log.h"

#include <atomic>
#include <iostream>
#include <mutex>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

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
  nlohmann::json line;
  line["time"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone());
  line["level"] = LevelName(level);
  line["msg"] = std::string(message);
  for (const auto& [key, value] : fields) line[std::string(key)] = value;
  // Replacement keeps a line valid JSON even if a field carried invalid UTF-8.
  const std::string text =
      line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard<std::mutex> lock(write_mutex);
  std::ostream* out = sink.load();
  (out != nullptr ? *out : std::cerr) << text << std::flush;
}

}  // namespace credvault::server

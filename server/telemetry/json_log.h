#ifndef CREDVAULT_SERVER_TELEMETRY_JSON_LOG_H_
#define CREDVAULT_SERVER_TELEMETRY_JSON_LOG_H_

#include <initializer_list>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

namespace credvault::server {

enum class Severity { kDebug, kInfo, kWarning, kError };

// Structured logs: one JSON object per line on stderr, with time, level, message and
// fields. Callers pass only non-secret fields (method, code, org id, request id, sizes);
// no log call ever receives a secret, a key or a token, so there is nothing to redact.
class JsonLog {
 public:
  using Fields = std::initializer_list<std::pair<std::string_view, std::string>>;

  static void SetMinimumLevel(Severity level);
  static bool ParseLevel(std::string_view text, Severity& level);
  // For tests: write to `out` instead of stderr (nullptr restores stderr).
  static void SetSinkForTesting(std::ostream* out);

  static void Write(Severity level, std::string_view message, Fields fields = {});
};

inline void LogInfo(std::string_view message, JsonLog::Fields fields = {}) {
  JsonLog::Write(Severity::kInfo, message, fields);
}
inline void LogWarning(std::string_view message, JsonLog::Fields fields = {}) {
  JsonLog::Write(Severity::kWarning, message, fields);
}
inline void LogError(std::string_view message, JsonLog::Fields fields = {}) {
  JsonLog::Write(Severity::kError, message, fields);
}

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_TELEMETRY_JSON_LOG_H_

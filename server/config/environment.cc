#include "server/config/environment.h"

#include <cstdlib>

namespace credvault::server {

std::optional<ConfigSecret> ProcessEnvironment::Get(const std::string& name) const {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr || *value == '\0') return std::nullopt;
  return ConfigSecret(value);
}

std::optional<ConfigSecret> MapEnvironment::Get(const std::string& name) const {
  const auto it = variables_.find(name);
  if (it == variables_.end() || it->second.empty()) return std::nullopt;
  return ConfigSecret(it->second);
}

}  // namespace credvault::server

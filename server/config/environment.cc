#include "server/config/environment.h"

#include <cstdlib>

namespace credvault::server {

std::optional<SecretString> ProcessEnvironment::Get(const std::string& name) const {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr || *value == '\0') return std::nullopt;
  return SecretString(value);
}

std::optional<SecretString> MapEnvironment::Get(const std::string& name) const {
  const auto it = variables_.find(name);
  if (it == variables_.end() || it->second.empty()) return std::nullopt;
  return SecretString(it->second);
}

}  // namespace credvault::server

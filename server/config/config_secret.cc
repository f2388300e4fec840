#include "server/config/config_secret.h"

#include <sodium.h>

namespace credvault::server {

ConfigSecret& ConfigSecret::operator=(const ConfigSecret& other) {
  if (this != &other) {
    Wipe();  // before the assignment may free the old buffer
    value_ = other.value_;
  }
  return *this;
}

ConfigSecret& ConfigSecret::operator=(ConfigSecret&& other) noexcept {
  if (this != &other) {
    Wipe();
    value_ = std::move(other.value_);
    other.Wipe();
  }
  return *this;
}

void ConfigSecret::Wipe() noexcept {
  sodium_memzero(value_.data(), value_.capacity());
  value_.clear();
}

bool operator==(const ConfigSecret& a, const ConfigSecret& b) {
  return a.value_.size() == b.value_.size() &&
         sodium_memcmp(a.value_.data(), b.value_.data(), a.value_.size()) == 0;
}

}  // namespace credvault::server

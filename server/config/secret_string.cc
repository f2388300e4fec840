#include "server/config/secret_string.h"

#include <sodium.h>

namespace credvault::server {

SecretString& SecretString::operator=(const SecretString& other) {
  if (this != &other) {
    Wipe();  // before the assignment may free the old buffer
    value_ = other.value_;
  }
  return *this;
}

SecretString& SecretString::operator=(SecretString&& other) noexcept {
  if (this != &other) {
    Wipe();
    value_ = std::move(other.value_);
    other.Wipe();
  }
  return *this;
}

void SecretString::Wipe() noexcept {
  sodium_memzero(value_.data(), value_.capacity());
  value_.clear();
}

bool operator==(const SecretString& a, const SecretString& b) {
  return a.value_.size() == b.value_.size() &&
         sodium_memcmp(a.value_.data(), b.value_.data(), a.value_.size()) == 0;
}

}  // namespace credvault::server

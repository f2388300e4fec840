#ifndef CREDVAULT_SERVER_CONFIG_CONFIG_SECRET_H_
#define CREDVAULT_SERVER_CONFIG_CONFIG_SECRET_H_

#include <string>
#include <string_view>

namespace credvault::server {

// A secret read from the environment (a database password, a PKCS#11 PIN). Its memory is
// wiped when it is destroyed or overwritten, it cannot be streamed or passed to StrCat,
// and reading it takes an explicit RevealSecret(), so every use can be found by grep.
// Copyable, unlike crypto::KeyBuffer, so that a Config stays a plain value type; these
// secrets are short and end up in libpq's own memory anyway.
class ConfigSecret {
 public:
  ConfigSecret() = default;
  explicit ConfigSecret(std::string value) : value_(std::move(value)) {}
  ConfigSecret(const ConfigSecret& other) : value_(other.value_) {}
  ConfigSecret(ConfigSecret&& other) noexcept : value_(std::move(other.value_)) { other.Wipe(); }
  ConfigSecret& operator=(const ConfigSecret& other);
  ConfigSecret& operator=(ConfigSecret&& other) noexcept;
  ~ConfigSecret() { Wipe(); }

  bool empty() const { return value_.empty(); }
  std::string_view RevealSecret() const { return value_; }

  // Equality for tests; constant time in the contents.
  friend bool operator==(const ConfigSecret& a, const ConfigSecret& b);

 private:
  // Zeroes the whole buffer, including a short string's inline storage and the bytes past
  // the end of a shrunk one, then empties the string.
  void Wipe() noexcept;

  std::string value_;
};

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_CONFIG_CONFIG_SECRET_H_

#include "crypto/random_id.h"

#include <sodium.h>

#include <vector>

#include "crypto/sodium_init.h"

namespace credvault::crypto {

std::string RandomHexId(std::string_view prefix, std::size_t random_bytes) {
  EnsureSodiumInitialized();
  std::vector<unsigned char> random(random_bytes);
  randombytes_buf(random.data(), random.size());
  std::string hex(2 * random_bytes + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), random.data(), random.size());
  hex.pop_back();  // the terminating NUL sodium_bin2hex writes
  return std::string(prefix) + hex;
}

}  // namespace credvault::crypto

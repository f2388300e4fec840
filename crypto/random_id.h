#ifndef CREDVAULT_CRYPTO_RANDOM_ID_H_
#define CREDVAULT_CRYPTO_RANDOM_ID_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace credvault::crypto {

// `prefix` followed by `random_bytes` bytes from the system CSPRNG in lower-case hex: an
// identifier nobody can guess or make collide (e.g. re-seal job ids, "rj-" and 10 bytes).
// Not a secret: ids are stored, logged and returned.
std::string RandomHexId(std::string_view prefix, std::size_t random_bytes);

}  // namespace credvault::crypto

#endif  // CREDVAULT_CRYPTO_RANDOM_ID_H_

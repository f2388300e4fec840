#ifndef CREDVAULT_CRYPTO_BLAKE2B_H_
#define CREDVAULT_CRYPTO_BLAKE2B_H_

#include <sodium.h>

#include <array>
#include <cstdint>

#include "absl/types/span.h"
#include "crypto/secret_view.h"

namespace credvault::crypto {

using Blake2b256 = std::array<std::uint8_t, 32>;

// Incremental BLAKE2b-256, keyed (a MAC) or unkeyed (a hash). Incremental so that secret
// input (e.g. a candidate secret for a fingerprint) is hashed in place, never copied into
// an intermediate buffer. Public: server/service hashes with it too.
class Blake2bHasher {
 public:
  Blake2bHasher();                         // unkeyed
  explicit Blake2bHasher(SecretView key);  // keyed; key of 16..64 bytes
  Blake2bHasher(const Blake2bHasher&) = delete;
  Blake2bHasher& operator=(const Blake2bHasher&) = delete;
  ~Blake2bHasher();

  void Update(absl::Span<const std::uint8_t> bytes);
  Blake2b256 Finish();

 private:
  crypto_generichash_state state_;
};

// Constant-time equality for MACs and hashes.
bool ConstantTimeEquals(absl::Span<const std::uint8_t> a, absl::Span<const std::uint8_t> b);

}  // namespace credvault::crypto

#endif  // CREDVAULT_CRYPTO_BLAKE2B_H_

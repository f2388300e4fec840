#ifndef CREDVAULT_CRYPTO_ASSOCIATED_DATA_H_
#define CREDVAULT_CRYPTO_ASSOCIATED_DATA_H_

#include <cstdint>

#include "absl/types/span.h"

namespace credvault::crypto {

// The associated data of one authenticated encryption (a seal key's Wrap and Unwrap, the
// envelope's AEAD). A type of its own, required by both directions, so it can be neither
// forgotten nor swapped with the plaintext. Non-owning.
class AssociatedData {
 public:
  explicit AssociatedData(absl::Span<const std::uint8_t> bytes) : bytes_(bytes) {}
  absl::Span<const std::uint8_t> bytes() const { return bytes_; }

 private:
  absl::Span<const std::uint8_t> bytes_;
};

}  // namespace credvault::crypto

#endif  // CREDVAULT_CRYPTO_ASSOCIATED_DATA_H_

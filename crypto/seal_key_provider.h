#ifndef CREDVAULT_CRYPTO_SEAL_KEY_PROVIDER_H_
#define CREDVAULT_CRYPTO_SEAL_KEY_PROVIDER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "crypto/associated_data.h"
#include "crypto/secret_bytes.h"
#include "crypto/secret_view.h"

namespace credvault::crypto {

// The top of the key hierarchy: a 256-bit symmetric key that wraps the root private keys.
// Only the decrypt tier has one. Implementations keep the key where it lives (a key file
// in guarded memory, or inside a PKCS#11 token that never lets it out) and expose only
// wrap and unwrap, both bound to associated data naming what is wrapped.
class SealKeyProvider {
 public:
  virtual ~SealKeyProvider() = default;

  // A stable, non-secret identifier of the seal key, stored next to what it wrapped so
  // that a rotation knows which root keys still need re-wrapping.
  virtual std::string KeyId() const = 0;

  virtual absl::StatusOr<std::vector<std::uint8_t>> Wrap(
      SecretView plaintext, const AssociatedData& associated_data) const = 0;

  // Wrong key, wrong associated data or tampering is DATA_LOSS.
  virtual absl::StatusOr<SecretBytes> Unwrap(absl::Span<const std::uint8_t> wrapped,
                                             const AssociatedData& associated_data) const = 0;
};

}  // namespace credvault::crypto

#endif  // CREDVAULT_CRYPTO_SEAL_KEY_PROVIDER_H_

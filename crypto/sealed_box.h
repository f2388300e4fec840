#ifndef CREDVAULT_CRYPTO_SEALED_BOX_H_
#define CREDVAULT_CRYPTO_SEALED_BOX_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "crypto/secret_bytes.h"
#include "crypto/secret_view.h"

namespace credvault::crypto {

// Anonymous public-key encryption to an X25519 key (libsodium crypto_box_seal: ephemeral
// X25519 + XSalsa20-Poly1305). Used to seal DEKs to org keys and org private keys to root
// keys: the sealing side never holds anything that can open what it sealed.

inline constexpr std::size_t kX25519KeySize = 32;
inline constexpr std::size_t kSealedBoxOverhead = 48;  // crypto_box_SEALBYTES

using X25519PublicKey = std::array<std::uint8_t, kX25519KeySize>;

// A fresh X25519 key pair; the private half in guarded memory.
struct X25519KeyPair {
  X25519PublicKey public_key;
  KeyBuffer private_key;
};
absl::StatusOr<X25519KeyPair> GenerateX25519KeyPair();

// The public half belonging to `private_key` (32 bytes).
absl::StatusOr<X25519PublicKey> DeriveX25519PublicKey(SecretView private_key);

absl::StatusOr<std::vector<std::uint8_t>> SealTo(const X25519PublicKey& recipient,
                                                 SecretView message);

// Opens a sealed box. Wrong key, tampering or truncation is DATA_LOSS.
absl::StatusOr<SecretBytes> OpenSealed(absl::Span<const std::uint8_t> sealed,
                                       const X25519PublicKey& recipient_public_key,
                                       SecretView recipient_private_key);

}  // namespace credvault::crypto

#endif  // CREDVAULT_CRYPTO_SEALED_BOX_H_

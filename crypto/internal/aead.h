#ifndef CREDVAULT_CRYPTO_INTERNAL_AEAD_H_
#define CREDVAULT_CRYPTO_INTERNAL_AEAD_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "crypto/associated_data.h"
#include "crypto/secret_bytes.h"
#include "crypto/secret_view.h"

namespace credvault::crypto {

// XChaCha20-Poly1305 (IETF construction, libsodium), with 192-bit random nonces: random
// nonces are safe for any number of messages under one key, so no nonce state is kept.
// Internal to crypto/: other modules reach it only through the envelope and the key file
// seal key provider (docs/crypto.md).

inline constexpr std::size_t kAeadKeySize = 32;
inline constexpr std::size_t kAeadNonceSize = 24;
inline constexpr std::size_t kAeadTagSize = 16;

using AeadNonce = std::array<std::uint8_t, kAeadNonceSize>;

struct AeadCiphertext {
  AeadNonce nonce;
  std::vector<std::uint8_t> ciphertext;  // encrypted bytes followed by the 16-byte tag
};

// Encrypts `plaintext` under `key` (32 bytes) with a fresh random nonce.
absl::StatusOr<AeadCiphertext> AeadEncrypt(SecretView key, SecretView plaintext,
                                           const AssociatedData& associated_data);

// Decrypts and authenticates. Any mismatch (key, nonce, ciphertext, tag or associated
// data) is DATA_LOSS; no partial plaintext is ever returned.
absl::StatusOr<SecretBytes> AeadDecrypt(SecretView key, const AeadNonce& nonce,
                                        absl::Span<const std::uint8_t> ciphertext,
                                        const AssociatedData& associated_data);

}  // namespace credvault::crypto

#endif  // CREDVAULT_CRYPTO_INTERNAL_AEAD_H_

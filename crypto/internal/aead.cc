#include "crypto/internal/aead.h"

#include <sodium.h>

#include "absl/status/status.h"
#include "crypto/sodium_init.h"

namespace credvault::crypto {

static_assert(kAeadKeySize == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
static_assert(kAeadNonceSize == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
static_assert(kAeadTagSize == crypto_aead_xchacha20poly1305_ietf_ABYTES);

absl::StatusOr<AeadCiphertext> AeadEncrypt(SecretView key, SecretView plaintext,
                                           const AssociatedData& associated_data) {
  EnsureSodiumInitialized();
  if (key.size() != kAeadKeySize) {
    return absl::InvalidArgumentError("AEAD key must be 32 bytes");
  }
  const absl::Span<const std::uint8_t> message = plaintext.RevealSecret();
  if (message.size() > crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX - kAeadTagSize) {
    return absl::InvalidArgumentError("AEAD plaintext too large");
  }
  AeadCiphertext out;
  randombytes_buf(out.nonce.data(), out.nonce.size());
  out.ciphertext.resize(message.size() + kAeadTagSize);
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out.ciphertext.data(), &written, message.data(),
                                             message.size(), associated_data.bytes().data(),
                                             associated_data.bytes().size(), nullptr,
                                             out.nonce.data(), key.RevealSecret().data());
  out.ciphertext.resize(written);
  return out;
}

absl::StatusOr<SecretBytes> AeadDecrypt(SecretView key, const AeadNonce& nonce,
                                        absl::Span<const std::uint8_t> ciphertext,
                                        const AssociatedData& associated_data) {
  EnsureSodiumInitialized();
  if (key.size() != kAeadKeySize) {
    return absl::InvalidArgumentError("AEAD key must be 32 bytes");
  }
  if (ciphertext.size() < kAeadTagSize) {
    return absl::DataLossError("AEAD ciphertext shorter than its tag");
  }
  SecretBytes plaintext(ciphertext.size() - kAeadTagSize);
  unsigned long long written = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          plaintext.RevealMutableSecret().data(), &written, nullptr, ciphertext.data(),
          ciphertext.size(), associated_data.bytes().data(), associated_data.bytes().size(),
          nonce.data(), key.RevealSecret().data()) != 0) {
    return absl::DataLossError("AEAD authentication failed");
  }
  plaintext.Truncate(written);
  return plaintext;
}

}  // namespace credvault::crypto

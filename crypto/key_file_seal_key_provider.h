#ifndef CREDVAULT_CRYPTO_KEY_FILE_SEAL_KEY_PROVIDER_H_
#define CREDVAULT_CRYPTO_KEY_FILE_SEAL_KEY_PROVIDER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "crypto/key_buffer.h"
#include "crypto/seal_key_provider.h"

namespace credvault::crypto {

// A seal key read from a key file (development, or a Kubernetes Secret mounted read-only)
// and held in guarded memory. Wrapped form: 0x01 || 24-byte nonce || XChaCha20-Poly1305
// ciphertext and tag.
class KeyFileSealKeyProvider final : public SealKeyProvider {
 public:
  static absl::StatusOr<std::unique_ptr<KeyFileSealKeyProvider>> Open(const std::string& path);
  static absl::StatusOr<std::unique_ptr<KeyFileSealKeyProvider>> FromKey(KeyBuffer key);

  std::string KeyId() const override { return key_id_; }
  absl::StatusOr<std::vector<std::uint8_t>> Wrap(
      SecretView plaintext, const AssociatedData& associated_data) const override;
  absl::StatusOr<SecretBytes> Unwrap(absl::Span<const std::uint8_t> wrapped,
                                     const AssociatedData& associated_data) const override;

 private:
  KeyFileSealKeyProvider(KeyBuffer key, std::string key_id)
      : key_(std::move(key)), key_id_(std::move(key_id)) {}

  const KeyBuffer key_;
  const std::string key_id_;
};

}  // namespace credvault::crypto

#endif  // CREDVAULT_CRYPTO_KEY_FILE_SEAL_KEY_PROVIDER_H_

#include "crypto/key_file_seal_key_provider.h"

#include <sodium.h>

#include <cstring>

#include "absl/status/status.h"
#include "crypto/blake2b.h"
#include "crypto/internal/aead.h"
#include "crypto/key_file.h"

namespace credvault::crypto {
namespace {

constexpr std::uint8_t kWrapFormat = 0x01;
constexpr std::string_view kKeyIdDomain = "credvault.seal-key-id.v1";

// A key check value: BLAKE2b-256 keyed with the seal key over a fixed label, so it
// identifies the key without revealing anything about it.
std::string KeyIdFor(const KeyBuffer& key) {
  Blake2bHasher mac(key);
  mac.Update(absl::Span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(kKeyIdDomain.data()), kKeyIdDomain.size()));
  const Blake2b256 check = mac.Finish();
  char hex[2 * 8 + 1];
  sodium_bin2hex(hex, sizeof(hex), check.data(), 8);
  return std::string("keyfile:") + hex;
}

}  // namespace

absl::StatusOr<std::unique_ptr<KeyFileSealKeyProvider>> KeyFileSealKeyProvider::Open(
    const std::string& path) {
  absl::StatusOr<KeyBuffer> key = ReadKeyFile(path, kAeadKeySize);
  if (!key.ok()) return key.status();
  return FromKey(*std::move(key));
}

absl::StatusOr<std::unique_ptr<KeyFileSealKeyProvider>> KeyFileSealKeyProvider::FromKey(
    KeyBuffer key) {
  if (key.size() != kAeadKeySize) {
    return absl::InvalidArgumentError("seal key must be 32 bytes");
  }
  std::string key_id = KeyIdFor(key);
  return std::unique_ptr<KeyFileSealKeyProvider>(
      new KeyFileSealKeyProvider(std::move(key), std::move(key_id)));
}

absl::StatusOr<std::vector<std::uint8_t>> KeyFileSealKeyProvider::Wrap(
    SecretView plaintext, const AssociatedData& associated_data) const {
  absl::StatusOr<AeadCiphertext> sealed = AeadEncrypt(key_, plaintext, associated_data);
  if (!sealed.ok()) return sealed.status();
  std::vector<std::uint8_t> out;
  out.reserve(1 + kAeadNonceSize + sealed->ciphertext.size());
  out.push_back(kWrapFormat);
  out.insert(out.end(), sealed->nonce.begin(), sealed->nonce.end());
  out.insert(out.end(), sealed->ciphertext.begin(), sealed->ciphertext.end());
  return out;
}

absl::StatusOr<SecretBytes> KeyFileSealKeyProvider::Unwrap(
    absl::Span<const std::uint8_t> wrapped, const AssociatedData& associated_data) const {
  if (wrapped.size() < 1 + kAeadNonceSize + kAeadTagSize || wrapped[0] != kWrapFormat) {
    return absl::DataLossError("wrapped key is malformed");
  }
  AeadNonce nonce;
  std::memcpy(nonce.data(), wrapped.data() + 1, kAeadNonceSize);
  absl::StatusOr<SecretBytes> plaintext =
      AeadDecrypt(key_, nonce, wrapped.subspan(1 + kAeadNonceSize), associated_data);
  if (!plaintext.ok()) {
    return absl::DataLossError("wrapped key failed to unwrap under seal key " + key_id_);
  }
  return plaintext;
}

}  // namespace credvault::crypto

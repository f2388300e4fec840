#include "crypto/sealed_box.h"

#include <sodium.h>

#include "absl/status/status.h"
#include "crypto/sodium_init.h"

namespace credvault::crypto {

static_assert(kX25519KeySize == crypto_box_PUBLICKEYBYTES);
static_assert(kX25519KeySize == crypto_box_SECRETKEYBYTES);
static_assert(kSealedBoxOverhead == crypto_box_SEALBYTES);

absl::StatusOr<X25519KeyPair> GenerateX25519KeyPair() {
  EnsureSodiumInitialized();
  absl::StatusOr<KeyBuffer> private_key = KeyBuffer::Allocate(kX25519KeySize);
  if (!private_key.ok()) return private_key.status();
  X25519PublicKey public_key;
  crypto_box_keypair(public_key.data(), private_key->RevealMutableSecret().data());
  return X25519KeyPair{public_key, *std::move(private_key)};
}

absl::StatusOr<X25519PublicKey> DeriveX25519PublicKey(SecretView private_key) {
  EnsureSodiumInitialized();
  if (private_key.size() != kX25519KeySize) {
    return absl::InvalidArgumentError("X25519 private key must be 32 bytes");
  }
  X25519PublicKey public_key;
  if (crypto_scalarmult_base(public_key.data(), private_key.RevealSecret().data()) != 0) {
    return absl::InvalidArgumentError("X25519 private key is not usable");
  }
  return public_key;
}

absl::StatusOr<std::vector<std::uint8_t>> SealTo(const X25519PublicKey& recipient,
                                                 SecretView message) {
  EnsureSodiumInitialized();
  const absl::Span<const std::uint8_t> bytes = message.RevealSecret();
  std::vector<std::uint8_t> sealed(bytes.size() + kSealedBoxOverhead);
  if (crypto_box_seal(sealed.data(), bytes.data(), bytes.size(), recipient.data()) != 0) {
    return absl::InvalidArgumentError("cannot seal to this public key");
  }
  return sealed;
}

absl::StatusOr<SecretBytes> OpenSealed(absl::Span<const std::uint8_t> sealed,
                                       const X25519PublicKey& recipient_public_key,
                                       SecretView recipient_private_key) {
  EnsureSodiumInitialized();
  if (recipient_private_key.size() != kX25519KeySize) {
    return absl::InvalidArgumentError("X25519 private key must be 32 bytes");
  }
  if (sealed.size() < kSealedBoxOverhead) {
    return absl::DataLossError("sealed box shorter than its overhead");
  }
  SecretBytes message(sealed.size() - kSealedBoxOverhead);
  if (crypto_box_seal_open(message.RevealMutableSecret().data(), sealed.data(), sealed.size(),
                           recipient_public_key.data(),
                           recipient_private_key.RevealSecret().data()) != 0) {
    return absl::DataLossError("sealed box failed to open");
  }
  return message;
}

}  // namespace credvault::crypto

#include "crypto/key_directory.h"

#include <sodium.h>

#include <string>

#include "crypto/internal/key_directory_signature.h"
#include "crypto/sodium_init.h"

namespace credvault::crypto {
namespace {

static_assert(sizeof(KeyDirectoryPublicKey) == crypto_sign_PUBLICKEYBYTES);
static_assert(kKeyDirectorySignatureSize == crypto_sign_BYTES);
static_assert(kKeyDirectorySeedSize == crypto_sign_SEEDBYTES);

// Standard base64 of 32 bytes, with its one padding character.
constexpr std::size_t kBase64PublicKeySize = 44;

}  // namespace

absl::StatusOr<KeyDirectorySigner> KeyDirectorySigner::FromSeed(std::uint32_t version,
                                                                const KeyBuffer& seed) {
  EnsureSodiumInitialized();
  if (version == 0) {
    return absl::InvalidArgumentError("key directory signing key versions start at 1");
  }
  if (seed.size() != kKeyDirectorySeedSize) {
    return absl::InvalidArgumentError("key directory signing key must be a 32-byte seed");
  }
  absl::StatusOr<KeyBuffer> secret_key = KeyBuffer::Allocate(crypto_sign_SECRETKEYBYTES);
  if (!secret_key.ok()) return secret_key.status();
  KeyDirectoryPublicKey public_key;
  crypto_sign_seed_keypair(public_key.data(), secret_key->RevealMutableSecret().data(),
                           seed.RevealSecret().data());
  return KeyDirectorySigner(version, *std::move(secret_key), public_key);
}

KeyDirectorySignature KeyDirectorySigner::Sign(const CanonicalEncoder& message) const {
  KeyDirectorySignature signature;
  const absl::Span<const std::uint8_t> bytes = message.bytes();
  crypto_sign_detached(signature.data(), nullptr, bytes.data(), bytes.size(),
                       secret_key_.RevealSecret().data());
  return signature;
}

absl::Status KeyDirectoryPins::Add(std::uint32_t version, const KeyDirectoryPublicKey& key) {
  EnsureSodiumInitialized();
  if (version == 0) {
    return absl::InvalidArgumentError("key directory key versions start at 1");
  }
  // Small-order and non-canonical points are refused by the verifier anyway; refusing them
  // here reports a mistyped pin at start instead of as DATA_LOSS on every record.
  if (crypto_core_ed25519_is_valid_point(key.data()) != 1) {
    return absl::InvalidArgumentError("key directory key version " + std::to_string(version) +
                                      " is not a valid Ed25519 public key");
  }
  const auto [it, inserted] = keys_.emplace(version, key);
  if (!inserted && it->second != key) {
    return absl::AlreadyExistsError("key directory key version " + std::to_string(version) +
                                    " is already pinned to a different key");
  }
  return absl::OkStatus();
}

KeyDirectoryPins KeyDirectoryPins::Of(const KeyDirectorySigner& signer) {
  KeyDirectoryPins pins;
  // The signer's key comes from crypto_sign_seed_keypair and its version is >= 1, so this
  // cannot fail.
  pins.keys_.emplace(signer.version(), signer.public_key());
  return pins;
}

const KeyDirectoryPublicKey* KeyDirectoryPins::Find(std::uint32_t version) const {
  const auto it = keys_.find(version);
  return it == keys_.end() ? nullptr : &it->second;
}

absl::Status internal::VerifyKeyDirectorySignature(const KeyDirectoryPins& pins,
                                                   std::uint32_t version,
                                                   const CanonicalEncoder& message,
                                                   absl::Span<const std::uint8_t> signature,
                                                   std::string_view what) {
  EnsureSodiumInitialized();
  const KeyDirectoryPublicKey* key = pins.Find(version);
  if (key == nullptr) {
    return absl::DataLossError(std::string(what) + " is signed with key directory key version " +
                               std::to_string(version) + ", which is not pinned");
  }
  const absl::Span<const std::uint8_t> bytes = message.bytes();
  if (signature.size() != kKeyDirectorySignatureSize ||
      crypto_sign_verify_detached(signature.data(), bytes.data(), bytes.size(), key->data()) != 0) {
    return absl::DataLossError(std::string(what) + " failed its signature check");
  }
  return absl::OkStatus();
}

absl::StatusOr<KeyDirectoryPublicKey> ParseKeyDirectoryPublicKey(std::string_view text) {
  EnsureSodiumInitialized();
  KeyDirectoryPublicKey key;
  std::size_t decoded = 0;
  const char* end = nullptr;
  if (text.size() == 2 * key.size()) {
    if (sodium_hex2bin(key.data(), key.size(), text.data(), text.size(), nullptr, &decoded, &end) ==
            0 &&
        decoded == key.size() && end == text.data() + text.size()) {
      return key;
    }
  } else if (text.size() == kBase64PublicKeySize) {
    if (sodium_base642bin(key.data(), key.size(), text.data(), text.size(), nullptr, &decoded, &end,
                          sodium_base64_VARIANT_ORIGINAL) == 0 &&
        decoded == key.size() && end == text.data() + text.size()) {
      return key;
    }
  }
  return absl::InvalidArgumentError(
      "key directory public key must be 64 hex digits or 44 characters of standard base64");
}

std::string KeyDirectoryPublicKeyHex(const KeyDirectoryPublicKey& key) {
  std::string out(2 * key.size() + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), key.data(), key.size());
  out.pop_back();
  return out;
}

}  // namespace credvault::crypto

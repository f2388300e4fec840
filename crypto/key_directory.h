#ifndef CREDVAULT_CRYPTO_KEY_DIRECTORY_H_
#define CREDVAULT_CRYPTO_KEY_DIRECTORY_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "crypto/canonical_encoding.h"
#include "crypto/key_buffer.h"

namespace credvault::crypto {

// The key directory signing key (Ed25519, libsodium crypto_sign_detached, versioned) signs
// the records that say which public key belongs to which org (crypto/org_key.h). Only the
// key authority (the decrypt tier) holds the secret half; the write tier holds pinned public
// halves. So the write tier, which is untrusted, can verify a record before sealing anything
// to its key but cannot make one: unlike the writer key, which both tiers hold, this key
// gives whoever controls the write tier and the database no way to redirect new secrets to
// a key of their own (docs/security-model.md).

inline constexpr std::size_t kKeyDirectorySeedSize = 32;
inline constexpr std::size_t kKeyDirectorySignatureSize = 64;
using KeyDirectoryPublicKey = std::array<std::uint8_t, 32>;
using KeyDirectorySignature = std::array<std::uint8_t, kKeyDirectorySignatureSize>;

// The secret half, decrypt tier only. Movable, not copyable; the Ed25519 secret key lives in
// a KeyBuffer (guarded memory, wiped on release).
class KeyDirectorySigner {
 public:
  // From a 32-byte seed (a key file), so every replica holding the file signs alike.
  // `version` (>= 1) is what records name and what the write tier pins.
  static absl::StatusOr<KeyDirectorySigner> FromSeed(std::uint32_t version, const KeyBuffer& seed);

  KeyDirectorySigner(KeyDirectorySigner&&) noexcept = default;
  KeyDirectorySigner& operator=(KeyDirectorySigner&&) noexcept = default;
  KeyDirectorySigner(const KeyDirectorySigner&) = delete;
  KeyDirectorySigner& operator=(const KeyDirectorySigner&) = delete;

  std::uint32_t version() const { return version_; }
  const KeyDirectoryPublicKey& public_key() const { return public_key_; }

  // Signs a canonical encoding; its domain names the kind of record, so a signature made for
  // one kind never verifies as another. Records are signed through crypto/org_key.h; tests
  // also sign forged records with keys of their own.
  KeyDirectorySignature Sign(const CanonicalEncoder& message) const;

 private:
  KeyDirectorySigner(std::uint32_t version, KeyBuffer secret_key,
                     const KeyDirectoryPublicKey& public_key)
      : version_(version), secret_key_(std::move(secret_key)), public_key_(public_key) {}

  std::uint32_t version_;
  KeyBuffer secret_key_;
  KeyDirectoryPublicKey public_key_;
};

// The public halves the write tier trusts, by version. Several versions may be pinned at once
// so that the signing key can be rotated while records signed by the old one are in use.
class KeyDirectoryPins {
 public:
  // INVALID_ARGUMENT for version 0 or a key that is not a valid Ed25519 point (it could never
  // verify anything); ALREADY_EXISTS when `version` is pinned to a different key. Pinning the
  // same key twice is fine.
  absl::Status Add(std::uint32_t version, const KeyDirectoryPublicKey& key);

  // What a process holding `signer` pins: its own public half.
  static KeyDirectoryPins Of(const KeyDirectorySigner& signer);

  // The pinned key of `version`, or nullptr.
  const KeyDirectoryPublicKey* Find(std::uint32_t version) const;
  bool empty() const { return keys_.empty(); }

 private:
  std::map<std::uint32_t, KeyDirectoryPublicKey> keys_;
};

// Parses a pin as written in configuration: 64 hex digits (either case) or standard base64
// (with padding) of the 32-byte public key. INVALID_ARGUMENT otherwise; the message does not
// echo the text.
absl::StatusOr<KeyDirectoryPublicKey> ParseKeyDirectoryPublicKey(std::string_view text);

// Lowercase hex, as operators pin it.
std::string KeyDirectoryPublicKeyHex(const KeyDirectoryPublicKey& key);

}  // namespace credvault::crypto

#endif  // CREDVAULT_CRYPTO_KEY_DIRECTORY_H_

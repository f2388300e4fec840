#ifndef CREDVAULT_CRYPTO_ROOT_KEY_H_
#define CREDVAULT_CRYPTO_ROOT_KEY_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/key_buffer.h"
#include "crypto/seal_key_provider.h"
#include "crypto/sealed_box.h"

namespace credvault::crypto {

// Root key pairs (X25519, versioned). Org private keys are sealed to a root public key; the
// root private key is stored wrapped by the seal key and only the decrypt tier unwraps it.

// A root key as stored: public half in clear, private half wrapped by the seal key.
struct SealedRootKey {
  std::uint32_t version = 0;
  X25519PublicKey public_key{};
  std::vector<std::uint8_t> wrapped_private_key;
  std::string seal_key_id;
};

// Makes a root key pair of `version` (>= 1) and wraps its private half with `seal_key`.
absl::StatusOr<SealedRootKey> GenerateRootKey(std::uint32_t version,
                                              const SealKeyProvider& seal_key);

// An unwrapped root private key, decrypt tier only.
class RootPrivateKey {
 public:
  std::uint32_t version() const { return version_; }
  const X25519PublicKey& public_key() const { return public_key_; }
  const KeyBuffer& private_key() const { return private_key_; }

 private:
  friend absl::StatusOr<RootPrivateKey> UnsealRootKey(const SealedRootKey&, const SealKeyProvider&);
  RootPrivateKey(std::uint32_t version, const X25519PublicKey& public_key, KeyBuffer key)
      : version_(version), public_key_(public_key), private_key_(std::move(key)) {}

  std::uint32_t version_;
  X25519PublicKey public_key_;
  KeyBuffer private_key_;
};

// Unwraps a root private key and checks that it belongs to the stored public half. A wrong
// seal key, a swapped version or a tampered record is DATA_LOSS.
absl::StatusOr<RootPrivateKey> UnsealRootKey(const SealedRootKey& sealed,
                                             const SealKeyProvider& seal_key);

// Seal key rotation: unwraps `sealed` with `from` (checked as UnsealRootKey does) and wraps
// the same private half again with `to`, under the same associated data. The result names
// `to` as its seal key. Errors as UnsealRootKey, or those of `to`.
absl::StatusOr<SealedRootKey> RewrapRootKey(const SealedRootKey& sealed,
                                            const SealKeyProvider& from, const SealKeyProvider& to);

// "cvroot1:" followed by the hex BLAKE2b-256 of the public key: what operators pin.
std::string RootKeyFingerprint(const X25519PublicKey& public_key);

// A root public key that matched the write tier's pinned configuration; the only kind of
// root key an org key can be sealed to.
class PinnedRootPublicKey {
 public:
  std::uint32_t version() const { return version_; }
  const X25519PublicKey& public_key() const { return public_key_; }

 private:
  friend class RootKeyPins;
  PinnedRootPublicKey(std::uint32_t version, const X25519PublicKey& public_key)
      : version_(version), public_key_(public_key) {}

  std::uint32_t version_;
  X25519PublicKey public_key_;
};

// The root public keys the write tier trusts, by version, each pinned either by the key
// itself (64 hex digits) or by its RootKeyFingerprint. A key read from the database is
// used only after it matches its pin, so a database writer cannot substitute a root key
// of their own.
class RootKeyPins {
 public:
  // `pins` maps version -> pin text. Malformed pins are INVALID_ARGUMENT.
  static absl::StatusOr<RootKeyPins> New(const std::map<std::uint32_t, std::string>& pins);

  // FAILED_PRECONDITION when `version` is not pinned or `candidate` does not match its pin.
  absl::StatusOr<PinnedRootPublicKey> Pin(std::uint32_t version,
                                          const X25519PublicKey& candidate) const;

  // The highest pinned version, which new org keys should be sealed to.
  std::uint32_t latest_version() const { return fingerprints_.rbegin()->first; }
  // Whether `version` is pinned at all; for records that name a root key version but not
  // its public key (an org key record is checked this way before anything is sealed to it).
  bool IsPinned(std::uint32_t version) const { return fingerprints_.count(version) != 0; }
  // Every pinned version, ascending.
  std::vector<std::uint32_t> versions() const {
    std::vector<std::uint32_t> out;
    for (const auto& [version, fingerprint] : fingerprints_) out.push_back(version);
    return out;
  }

 private:
  explicit RootKeyPins(std::map<std::uint32_t, std::string> fingerprints)
      : fingerprints_(std::move(fingerprints)) {}

  std::map<std::uint32_t, std::string> fingerprints_;  // never empty
};

}  // namespace credvault::crypto

#endif  // CREDVAULT_CRYPTO_ROOT_KEY_H_

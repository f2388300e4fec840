#include "crypto/root_key.h"

#include <sodium.h>

#include "absl/status/status.h"
#include "crypto/blake2b.h"
#include "crypto/canonical_encoding.h"

namespace credvault::crypto {
namespace {

constexpr std::string_view kWrapDomain = "credvault.root-key.wrap.v1";
constexpr std::string_view kFingerprintDomain = "credvault.root-key.fingerprint.v1";
constexpr std::string_view kFingerprintPrefix = "cvroot1:";

CanonicalEncoder WrapAssociatedData(std::uint32_t version, const X25519PublicKey& public_key) {
  CanonicalEncoder encoder(kWrapDomain);
  encoder.AddU32(version);
  encoder.AddFixed(public_key);
  return encoder;
}

std::string Hex(absl::Span<const std::uint8_t> bytes) {
  std::string out(2 * bytes.size() + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes.data(), bytes.size());
  out.pop_back();
  return out;
}

}  // namespace

absl::StatusOr<SealedRootKey> GenerateRootKey(std::uint32_t version,
                                              const SealKeyProvider& seal_key) {
  if (version == 0) return absl::InvalidArgumentError("root key versions start at 1");
  absl::StatusOr<X25519KeyPair> pair = GenerateX25519KeyPair();
  if (!pair.ok()) return pair.status();
  const CanonicalEncoder associated = WrapAssociatedData(version, pair->public_key);
  absl::StatusOr<std::vector<std::uint8_t>> wrapped =
      seal_key.Wrap(pair->private_key, AssociatedData(associated.bytes()));
  if (!wrapped.ok()) return wrapped.status();
  return SealedRootKey{version, pair->public_key, *std::move(wrapped), seal_key.KeyId()};
}

absl::StatusOr<RootPrivateKey> UnsealRootKey(const SealedRootKey& sealed,
                                             const SealKeyProvider& seal_key) {
  const CanonicalEncoder associated = WrapAssociatedData(sealed.version, sealed.public_key);
  absl::StatusOr<SecretBytes> unwrapped =
      seal_key.Unwrap(sealed.wrapped_private_key, AssociatedData(associated.bytes()));
  if (!unwrapped.ok()) {
    return absl::DataLossError("root key version " + std::to_string(sealed.version) +
                               " cannot be unwrapped with seal key " + seal_key.KeyId());
  }
  if (unwrapped->size() != kX25519KeySize) {
    return absl::DataLossError("root key version " + std::to_string(sealed.version) +
                               " has a malformed private half");
  }
  absl::StatusOr<X25519PublicKey> derived = DeriveX25519PublicKey(*unwrapped);
  if (!derived.ok() || !ConstantTimeEquals(*derived, sealed.public_key)) {
    return absl::DataLossError("root key version " + std::to_string(sealed.version) +
                               " private half does not match its public half");
  }
  absl::StatusOr<KeyBuffer> key = KeyBuffer::CopyFrom(unwrapped->RevealSecret());
  if (!key.ok()) return key.status();
  return RootPrivateKey(sealed.version, sealed.public_key, *std::move(key));
}

absl::StatusOr<SealedRootKey> RewrapRootKey(const SealedRootKey& sealed,
                                            const SealKeyProvider& from,
                                            const SealKeyProvider& to) {
  absl::StatusOr<RootPrivateKey> root = UnsealRootKey(sealed, from);
  if (!root.ok()) return root.status();
  const CanonicalEncoder associated = WrapAssociatedData(sealed.version, sealed.public_key);
  absl::StatusOr<std::vector<std::uint8_t>> wrapped =
      to.Wrap(root->private_key(), AssociatedData(associated.bytes()));
  if (!wrapped.ok()) return wrapped.status();
  return SealedRootKey{sealed.version, sealed.public_key, *std::move(wrapped), to.KeyId()};
}

std::string RootKeyFingerprint(const X25519PublicKey& public_key) {
  Blake2bHasher hash;
  CanonicalEncoder encoder(kFingerprintDomain);
  encoder.AddFixed(public_key);
  hash.Update(encoder.bytes());
  return std::string(kFingerprintPrefix) + Hex(hash.Finish());
}

absl::StatusOr<RootKeyPins> RootKeyPins::New(const std::map<std::uint32_t, std::string>& pins) {
  if (pins.empty()) return absl::InvalidArgumentError("at least one root key must be pinned");
  std::map<std::uint32_t, std::string> fingerprints;
  for (const auto& [version, pin] : pins) {
    const std::string where = "root key pin for version " + std::to_string(version);
    if (version == 0) return absl::InvalidArgumentError("root key versions start at 1");
    if (pin.rfind(kFingerprintPrefix, 0) == 0) {
      const std::string hex = pin.substr(kFingerprintPrefix.size());
      Blake2b256 digest;
      std::size_t decoded = 0;
      if (hex.size() != 2 * digest.size() ||
          sodium_hex2bin(digest.data(), digest.size(), hex.data(), hex.size(), nullptr, &decoded,
                         nullptr) != 0 ||
          decoded != digest.size()) {
        return absl::InvalidArgumentError(where +
                                          ": fingerprint must be cvroot1: and 64 hex digits");
      }
      fingerprints.emplace(version, std::string(kFingerprintPrefix) + Hex(digest));
      continue;
    }
    X25519PublicKey key;
    std::size_t decoded = 0;
    if (pin.size() != 2 * key.size() ||
        sodium_hex2bin(key.data(), key.size(), pin.data(), pin.size(), nullptr, &decoded,
                       nullptr) != 0 ||
        decoded != key.size()) {
      return absl::InvalidArgumentError(
          where + ": must be a public key (64 hex digits) or a cvroot1: fingerprint");
    }
    fingerprints.emplace(version, RootKeyFingerprint(key));
  }
  return RootKeyPins(std::move(fingerprints));
}

absl::StatusOr<PinnedRootPublicKey> RootKeyPins::Pin(std::uint32_t version,
                                                     const X25519PublicKey& candidate) const {
  const auto it = fingerprints_.find(version);
  if (it == fingerprints_.end()) {
    return absl::FailedPreconditionError("root key version " + std::to_string(version) +
                                         " is not pinned in this configuration");
  }
  const std::string actual = RootKeyFingerprint(candidate);
  if (actual != it->second) {
    return absl::FailedPreconditionError("root key version " + std::to_string(version) +
                                         " does not match its pinned fingerprint");
  }
  return PinnedRootPublicKey(version, candidate);
}

}  // namespace credvault::crypto

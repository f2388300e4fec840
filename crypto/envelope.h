#ifndef CREDVAULT_CRYPTO_ENVELOPE_H_
#define CREDVAULT_CRYPTO_ENVELOPE_H_

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "crypto/data_key_cache.h"
#include "crypto/org_key.h"
#include "crypto/secret_bytes.h"
#include "crypto/secret_view.h"
#include "crypto/writer_key_ring.h"

namespace credvault::crypto {

// The stored form of one credential version.
//
// Format 1 (all integers big-endian):
//
//   offset    size  field
//   0         1     format, 0x01
//   1         4     org key version the DEK is sealed to
//   5         4     writer key version of the authenticator
//   9         80    sealed DEK: crypto_box_seal of the 32-byte DEK to the org public key
//   89        24    XChaCha20-Poly1305 nonce
//   113       4     L, ciphertext length (secret length + 16)
//   117       L     ciphertext and Poly1305 tag
//   117+L     32    authenticator
//
// AEAD associated data: canonical("credvault.envelope.aead.v1", format, org_id, name,
// credential version, org key version). Authenticator: keyed BLAKE2b-256 with the writer key
// over canonical("credvault.envelope.auth.v1", org_id, name, credential version) followed by
// bytes [0, 117+L). So an envelope copied to another org, name or version, or with any
// field changed, fails before any secret key is used, and still fails at the AEAD for a
// forger who holds the writer key but no DEK.
//
// The parser is strict: exact total length, known format, L within the secret size limit
// checked before anything of size L is allocated, no trailing bytes.

inline constexpr std::uint8_t kEnvelopeFormatV1 = 0x01;
inline constexpr std::size_t kDekSize = 32;
inline constexpr std::size_t kSealedDekSize = kDekSize + kSealedBoxOverhead;
inline constexpr std::size_t kEnvelopeOverhead = 1 + 4 + 4 + kSealedDekSize + 24 + 4 + 16 + 32;
// The default and largest secret sizes the service accepts; the format itself could hold
// more, but nothing above kMaxSecretSizeLimit is ever parsed.
inline constexpr std::size_t kDefaultMaxSecretSize = 64 * 1024;
inline constexpr std::size_t kMaxSecretSizeLimit = 1024 * 1024;

// What an envelope is bound to: it opens only for exactly this credential version.
struct CredentialBinding {
  std::string_view org_id;
  std::string_view name;
  std::uint64_t version = 0;
};

// Write side: fresh DEK, encrypt with the binding associated data, seal the DEK to the
// verified org key, authenticate with the current writer key, wipe the DEK. The plaintext
// must be 1..max_secret_size bytes (INVALID_ARGUMENT otherwise, RESOURCE_EXHAUSTED when too
// large); the key must belong to binding.org_id.
absl::StatusOr<std::vector<std::uint8_t>> BuildEnvelope(
    const CredentialBinding& binding, const VerifiedOrgPublicKey& org_key,
    const WriterKeyRing& writer_keys, SecretView plaintext,
    std::size_t max_secret_size = kDefaultMaxSecretSize);

// A syntactically valid envelope; views into the bytes it was parsed from.
struct ParsedEnvelope {
  std::uint8_t format = 0;
  std::uint32_t org_key_version = 0;
  std::uint32_t writer_key_version = 0;
  absl::Span<const std::uint8_t> sealed_dek;
  absl::Span<const std::uint8_t> nonce;
  absl::Span<const std::uint8_t> ciphertext;
  absl::Span<const std::uint8_t> authenticated_bytes;  // everything before the authenticator
  absl::Span<const std::uint8_t> authenticator;
};

// Any malformation is DATA_LOSS.
absl::StatusOr<ParsedEnvelope> ParseEnvelope(absl::Span<const std::uint8_t> envelope,
                                             std::size_t max_secret_size = kDefaultMaxSecretSize);

// Decrypt side: verify the authenticator, unseal the DEK with the org private key of the
// envelope's org key version, decrypt with the binding associated data. Every integrity
// failure is DATA_LOSS and returns no plaintext; a key of another org or version is
// INVALID_ARGUMENT (the caller picked the wrong key).
absl::StatusOr<SecretBytes> OpenEnvelope(const ParsedEnvelope& envelope,
                                         const CredentialBinding& binding,
                                         const OrgPrivateKey& org_key,
                                         const WriterKeyRing& writer_keys);
// As above, with the data key taken from `data_keys` when it unsealed these bytes for this
// org key before. Everything else (the writer authenticator, the version, the ciphertext
// with the binding) is checked on every call.
absl::StatusOr<SecretBytes> OpenEnvelope(const ParsedEnvelope& envelope,
                                         const CredentialBinding& binding,
                                         const OrgPrivateKey& org_key,
                                         const WriterKeyRing& writer_keys, DataKeyCache& data_keys);

// Re-seal, decrypt tier (org key rotation): opens `envelope` with the org private key of its
// org key version and builds a new envelope of the same credential version sealed to
// `new_org_key` with a fresh DEK, authenticated with the current writer key. The plaintext
// lives only in wiped memory inside this call. Errors as OpenEnvelope and BuildEnvelope;
// secrets up to kMaxSecretSizeLimit are accepted, whatever the size limit when they were put.
absl::StatusOr<std::vector<std::uint8_t>> ResealEnvelope(const ParsedEnvelope& envelope,
                                                         const CredentialBinding& binding,
                                                         const OrgPrivateKey& old_org_key,
                                                         const VerifiedOrgPublicKey& new_org_key,
                                                         const WriterKeyRing& writer_keys);

}  // namespace credvault::crypto

#endif  // CREDVAULT_CRYPTO_ENVELOPE_H_

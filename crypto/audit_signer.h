#ifndef CREDVAULT_CRYPTO_AUDIT_SIGNER_H_
#define CREDVAULT_CRYPTO_AUDIT_SIGNER_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/audit_chain.h"
#include "crypto/key_buffer.h"

namespace credvault::crypto {

// The audit signing key (Ed25519, libsodium crypto_sign_detached): signs checkpoints of an
// org's audit chain head and erasure receipts, so an export can be verified offline by
// anyone holding the public key. Held by the decrypt/admin tier only. The byte strings
// signed are the canonical encodings fixed in proto/credvault/v1/audit.proto and
// admin_service.proto; Ed25519 is deterministic, so signing the same facts again gives the
// same signature.

inline constexpr std::size_t kAuditSigningSeedSize = 32;
inline constexpr std::size_t kAuditSignatureSize = 64;
using AuditSigningPublicKey = std::array<std::uint8_t, 32>;
using AuditSignature = std::array<std::uint8_t, kAuditSignatureSize>;

// What an erasure receipt states.
struct ErasureReceiptFields {
  std::string org_id;
  std::vector<std::uint32_t> destroyed_key_versions;  // ascending
  std::int64_t destroy_time_unix_micros = 0;
  std::uint64_t erased_credential_version_count = 0;
  std::uint64_t audit_sequence = 0;
  AuditHash audit_chain_head{};
};

// Lowercase hex of the first 16 bytes of BLAKE2b-256(public key).
std::string AuditSigningKeyId(const AuditSigningPublicKey& public_key);

class AuditSigner {
 public:
  // From a 32-byte seed (a key file), so every replica holding the file signs alike.
  static absl::StatusOr<AuditSigner> FromSeed(const KeyBuffer& seed);

  AuditSigner(AuditSigner&&) noexcept = default;
  AuditSigner& operator=(AuditSigner&&) noexcept = default;

  const AuditSigningPublicKey& public_key() const { return public_key_; }
  const std::string& key_id() const { return key_id_; }

  AuditSignature SignCheckpoint(std::string_view org_id, std::uint64_t sequence,
                                const AuditHash& chain_head, std::int64_t time_unix_micros) const;
  AuditSignature SignErasureReceipt(const ErasureReceiptFields& receipt) const;

 private:
  AuditSigner(KeyBuffer secret_key, const AuditSigningPublicKey& public_key);
  AuditSignature Sign(absl::Span<const std::uint8_t> message) const;

  KeyBuffer secret_key_;
  AuditSigningPublicKey public_key_;
  std::string key_id_;
};

bool VerifyCheckpointSignature(const AuditSigningPublicKey& public_key, std::string_view org_id,
                               std::uint64_t sequence, const AuditHash& chain_head,
                               std::int64_t time_unix_micros,
                               absl::Span<const std::uint8_t> signature);
bool VerifyErasureReceiptSignature(const AuditSigningPublicKey& public_key,
                                   const ErasureReceiptFields& receipt,
                                   absl::Span<const std::uint8_t> signature);

}  // namespace credvault::crypto

#endif  // CREDVAULT_CRYPTO_AUDIT_SIGNER_H_

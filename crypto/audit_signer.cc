#include "crypto/audit_signer.h"

#include <sodium.h>

#include "absl/status/status.h"
#include "crypto/blake2b.h"
#include "crypto/canonical_encoding.h"
#include "crypto/sodium_init.h"

namespace credvault::crypto {
namespace {

static_assert(sizeof(AuditSigningPublicKey) == crypto_sign_PUBLICKEYBYTES);
static_assert(kAuditSignatureSize == crypto_sign_BYTES);
static_assert(kAuditSigningSeedSize == crypto_sign_SEEDBYTES);

CanonicalEncoder CheckpointMessage(std::string_view org_id, std::uint64_t sequence,
                                   const AuditHash& chain_head, std::int64_t time_unix_micros) {
  CanonicalEncoder encoder("credvault.audit.checkpoint.v1");
  encoder.AddString(org_id);
  encoder.AddU64(sequence);
  encoder.AddFixed(chain_head);
  encoder.AddU64(static_cast<std::uint64_t>(time_unix_micros));
  return encoder;
}

CanonicalEncoder ReceiptMessage(const ErasureReceiptFields& receipt) {
  CanonicalEncoder encoder("credvault.erasure_receipt.v1");
  encoder.AddString(receipt.org_id);
  encoder.AddU32(static_cast<std::uint32_t>(receipt.destroyed_key_versions.size()));
  for (const std::uint32_t version : receipt.destroyed_key_versions) encoder.AddU32(version);
  encoder.AddU64(static_cast<std::uint64_t>(receipt.destroy_time_unix_micros));
  encoder.AddU64(receipt.erased_credential_version_count);
  encoder.AddU64(receipt.audit_sequence);
  encoder.AddFixed(receipt.audit_chain_head);
  return encoder;
}

bool Verify(const AuditSigningPublicKey& public_key, absl::Span<const std::uint8_t> message,
            absl::Span<const std::uint8_t> signature) {
  EnsureSodiumInitialized();
  if (signature.size() != kAuditSignatureSize) return false;
  return crypto_sign_verify_detached(signature.data(), message.data(), message.size(),
                                     public_key.data()) == 0;
}

}  // namespace

std::string AuditSigningKeyId(const AuditSigningPublicKey& public_key) {
  Blake2bHasher hash;
  hash.Update(public_key);
  const Blake2b256 digest = hash.Finish();
  char hex[2 * 16 + 1];
  sodium_bin2hex(hex, sizeof(hex), digest.data(), 16);
  return hex;
}

AuditSigner::AuditSigner(KeyBuffer secret_key, const AuditSigningPublicKey& public_key)
    : secret_key_(std::move(secret_key)),
      public_key_(public_key),
      key_id_(AuditSigningKeyId(public_key)) {}

absl::StatusOr<AuditSigner> AuditSigner::FromSeed(const KeyBuffer& seed) {
  EnsureSodiumInitialized();
  if (seed.size() != kAuditSigningSeedSize) {
    return absl::InvalidArgumentError("audit signing key must be a 32-byte seed");
  }
  absl::StatusOr<KeyBuffer> secret_key = KeyBuffer::Allocate(crypto_sign_SECRETKEYBYTES);
  if (!secret_key.ok()) return secret_key.status();
  AuditSigningPublicKey public_key;
  crypto_sign_seed_keypair(public_key.data(), secret_key->RevealMutableSecret().data(),
                           seed.RevealSecret().data());
  return AuditSigner(*std::move(secret_key), public_key);
}

AuditSignature AuditSigner::Sign(absl::Span<const std::uint8_t> message) const {
  AuditSignature signature;
  crypto_sign_detached(signature.data(), nullptr, message.data(), message.size(),
                       secret_key_.RevealSecret().data());
  return signature;
}

AuditSignature AuditSigner::SignCheckpoint(std::string_view org_id, std::uint64_t sequence,
                                           const AuditHash& chain_head,
                                           std::int64_t time_unix_micros) const {
  return Sign(CheckpointMessage(org_id, sequence, chain_head, time_unix_micros).bytes());
}

AuditSignature AuditSigner::SignErasureReceipt(const ErasureReceiptFields& receipt) const {
  return Sign(ReceiptMessage(receipt).bytes());
}

bool VerifyCheckpointSignature(const AuditSigningPublicKey& public_key, std::string_view org_id,
                               std::uint64_t sequence, const AuditHash& chain_head,
                               std::int64_t time_unix_micros,
                               absl::Span<const std::uint8_t> signature) {
  return Verify(public_key,
                CheckpointMessage(org_id, sequence, chain_head, time_unix_micros).bytes(),
                signature);
}

bool VerifyErasureReceiptSignature(const AuditSigningPublicKey& public_key,
                                   const ErasureReceiptFields& receipt,
                                   absl::Span<const std::uint8_t> signature) {
  return Verify(public_key, ReceiptMessage(receipt).bytes(), signature);
}

}  // namespace credvault::crypto

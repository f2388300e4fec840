#include "crypto/envelope.h"

#include <cstring>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "crypto/canonical_encoding.h"
#include "crypto/internal/aead.h"
#include "crypto/sealed_box.h"

namespace credvault::crypto {
namespace {

constexpr std::string_view kAeadDomain = "credvault.envelope.aead.v1";
constexpr std::string_view kAuthDomain = "credvault.envelope.auth.v1";
constexpr const char* kWhat = "envelope";

constexpr std::size_t kHeaderSize = 1 + 4 + 4;
constexpr std::size_t kSealedDekOffset = kHeaderSize;
constexpr std::size_t kNonceOffset = kSealedDekOffset + kSealedDekSize;
constexpr std::size_t kLengthOffset = kNonceOffset + kAeadNonceSize;
constexpr std::size_t kCiphertextOffset = kLengthOffset + 4;
static_assert(kEnvelopeOverhead == kCiphertextOffset + kAeadTagSize + kAuthenticatorSize);

CanonicalEncoder AeadAssociatedData(std::uint8_t format, const CredentialBinding& binding,
                                    std::uint32_t org_key_version) {
  CanonicalEncoder encoder(kAeadDomain);
  encoder.AddU8(format);
  encoder.AddString(binding.org_id);
  encoder.AddString(binding.name);
  encoder.AddU64(binding.version);
  encoder.AddU32(org_key_version);
  return encoder;
}

CanonicalEncoder AuthenticatorContext(const CredentialBinding& binding) {
  CanonicalEncoder encoder(kAuthDomain);
  encoder.AddString(binding.org_id);
  encoder.AddString(binding.name);
  encoder.AddU64(binding.version);
  return encoder;
}

absl::Status CheckBinding(const CredentialBinding& binding) {
  if (binding.org_id.empty()) return absl::InvalidArgumentError("envelope binding needs an org id");
  if (binding.name.empty()) return absl::InvalidArgumentError("envelope binding needs a name");
  if (binding.version == 0) return absl::InvalidArgumentError("credential versions start at 1");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::uint8_t>> BuildEnvelope(const CredentialBinding& binding,
                                                        const VerifiedOrgPublicKey& org_key,
                                                        const WriterKeyRing& writer_keys,
                                                        SecretView plaintext,
                                                        std::size_t max_secret_size) {
  if (absl::Status status = CheckBinding(binding); !status.ok()) return status;
  if (org_key.org_id() != binding.org_id) {
    return absl::InvalidArgumentError("org key belongs to another org than the envelope");
  }
  if (plaintext.size() == 0) return absl::InvalidArgumentError("secret must not be empty");
  const std::size_t limit = std::min(max_secret_size, kMaxSecretSizeLimit);
  if (plaintext.size() > limit) {
    return absl::ResourceExhaustedError("secret is " + std::to_string(plaintext.size()) +
                                        " bytes; the limit is " + std::to_string(limit));
  }

  const SecretBytes dek = SecretBytes::Random(kDekSize);
  const CanonicalEncoder associated =
      AeadAssociatedData(kEnvelopeFormatV1, binding, org_key.key_version());
  absl::StatusOr<AeadCiphertext> encrypted =
      AeadEncrypt(dek, plaintext, AssociatedData(associated.bytes()));
  if (!encrypted.ok()) return encrypted.status();
  absl::StatusOr<std::vector<std::uint8_t>> sealed_dek = SealTo(org_key.public_key(), dek);
  if (!sealed_dek.ok()) return sealed_dek.status();

  std::vector<std::uint8_t> out;
  out.reserve(kEnvelopeOverhead + plaintext.size());
  out.push_back(kEnvelopeFormatV1);
  AppendU32(out, org_key.key_version());
  AppendU32(out, writer_keys.current_version());
  out.insert(out.end(), sealed_dek->begin(), sealed_dek->end());
  out.insert(out.end(), encrypted->nonce.begin(), encrypted->nonce.end());
  AppendU32(out, static_cast<std::uint32_t>(encrypted->ciphertext.size()));
  out.insert(out.end(), encrypted->ciphertext.begin(), encrypted->ciphertext.end());

  const CanonicalEncoder context = AuthenticatorContext(binding);
  const WriterTag tag = AuthenticateWithCurrentKey(writer_keys, {context.bytes(), out});
  out.insert(out.end(), tag.mac.begin(), tag.mac.end());
  return out;
}

absl::StatusOr<ParsedEnvelope> ParseEnvelope(absl::Span<const std::uint8_t> envelope,
                                             std::size_t max_secret_size) {
  if (envelope.size() < kEnvelopeOverhead) {
    return absl::DataLossError("envelope is truncated");
  }
  if (envelope[0] != kEnvelopeFormatV1) {
    return absl::DataLossError("envelope has unknown format " + std::to_string(envelope[0]));
  }
  ParsedEnvelope parsed;
  parsed.format = envelope[0];
  parsed.org_key_version = ReadU32(envelope.data() + 1);
  parsed.writer_key_version = ReadU32(envelope.data() + 5);
  if (parsed.org_key_version == 0 || parsed.writer_key_version == 0) {
    return absl::DataLossError("envelope names key version 0");
  }
  const std::uint64_t ciphertext_size = ReadU32(envelope.data() + kLengthOffset);
  const std::uint64_t limit = std::min(max_secret_size, kMaxSecretSizeLimit);
  if (ciphertext_size <= kAeadTagSize) {
    return absl::DataLossError("envelope ciphertext is shorter than its tag");
  }
  if (ciphertext_size - kAeadTagSize > limit) {
    return absl::DataLossError("envelope declares a secret larger than the limit");
  }
  if (envelope.size() != kCiphertextOffset + ciphertext_size + kAuthenticatorSize) {
    return absl::DataLossError("envelope length does not match its declared ciphertext length");
  }
  parsed.sealed_dek = envelope.subspan(kSealedDekOffset, kSealedDekSize);
  parsed.nonce = envelope.subspan(kNonceOffset, kAeadNonceSize);
  parsed.ciphertext = envelope.subspan(kCiphertextOffset, ciphertext_size);
  parsed.authenticated_bytes = envelope.subspan(0, kCiphertextOffset + ciphertext_size);
  parsed.authenticator = envelope.subspan(kCiphertextOffset + ciphertext_size);
  return parsed;
}

namespace {

// OpenEnvelope, with the data key unsealed by `open_data_key`.
absl::StatusOr<SecretBytes> OpenEnvelopeWith(
    const ParsedEnvelope& envelope, const CredentialBinding& binding, const OrgPrivateKey& org_key,
    const WriterKeyRing& writer_keys,
    absl::FunctionRef<absl::StatusOr<SecretBytes>(absl::Span<const std::uint8_t>)> open_data_key) {
  if (absl::Status status = CheckBinding(binding); !status.ok()) return status;
  if (org_key.org_id() != binding.org_id) {
    return absl::InvalidArgumentError("org key belongs to another org than the envelope");
  }
  WriterTag tag;
  tag.key_version = envelope.writer_key_version;
  if (envelope.authenticator.size() != tag.mac.size()) {
    return absl::DataLossError("envelope authenticator has the wrong size");
  }
  std::memcpy(tag.mac.data(), envelope.authenticator.data(), tag.mac.size());
  const CanonicalEncoder context = AuthenticatorContext(binding);
  if (absl::Status verified =
          VerifyWriterTag(writer_keys, {context.bytes(), envelope.authenticated_bytes}, tag, kWhat);
      !verified.ok()) {
    return verified;
  }
  if (envelope.org_key_version != org_key.key_version()) {
    return absl::InvalidArgumentError("envelope is sealed to org key version " +
                                      std::to_string(envelope.org_key_version) +
                                      ", not the version supplied");
  }
  absl::StatusOr<SecretBytes> dek = open_data_key(envelope.sealed_dek);
  if (!dek.ok() || dek->size() != kDekSize) {
    return absl::DataLossError("envelope data key cannot be unsealed");
  }
  AeadNonce nonce;
  std::memcpy(nonce.data(), envelope.nonce.data(), nonce.size());
  const CanonicalEncoder associated =
      AeadAssociatedData(envelope.format, binding, envelope.org_key_version);
  absl::StatusOr<SecretBytes> plaintext =
      AeadDecrypt(*dek, nonce, envelope.ciphertext, AssociatedData(associated.bytes()));
  if (!plaintext.ok()) return absl::DataLossError("envelope ciphertext failed authentication");
  return plaintext;
}

}  // namespace

absl::StatusOr<SecretBytes> OpenEnvelope(const ParsedEnvelope& envelope,
                                         const CredentialBinding& binding,
                                         const OrgPrivateKey& org_key,
                                         const WriterKeyRing& writer_keys) {
  return OpenEnvelopeWith(envelope, binding, org_key, writer_keys,
                          [&org_key](absl::Span<const std::uint8_t> sealed_dek) {
                            return OpenSealed(sealed_dek, org_key.public_key(),
                                              org_key.private_key());
                          });
}

absl::StatusOr<SecretBytes> OpenEnvelope(const ParsedEnvelope& envelope,
                                         const CredentialBinding& binding,
                                         const OrgPrivateKey& org_key,
                                         const WriterKeyRing& writer_keys,
                                         DataKeyCache& data_keys) {
  return OpenEnvelopeWith(envelope, binding, org_key, writer_keys,
                          [&org_key, &data_keys](absl::Span<const std::uint8_t> sealed_dek) {
                            return data_keys.Open(sealed_dek, org_key);
                          });
}

absl::StatusOr<std::vector<std::uint8_t>> ResealEnvelope(const ParsedEnvelope& envelope,
                                                         const CredentialBinding& binding,
                                                         const OrgPrivateKey& old_org_key,
                                                         const VerifiedOrgPublicKey& new_org_key,
                                                         const WriterKeyRing& writer_keys) {
  absl::StatusOr<SecretBytes> plaintext = OpenEnvelope(envelope, binding, old_org_key, writer_keys);
  if (!plaintext.ok()) return plaintext.status();
  return BuildEnvelope(binding, new_org_key, writer_keys, *plaintext, kMaxSecretSizeLimit);
}

}  // namespace credvault::crypto

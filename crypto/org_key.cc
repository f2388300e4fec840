#include "crypto/org_key.h"

#include "absl/status/status.h"
#include "crypto/blake2b.h"
#include "crypto/canonical_encoding.h"

namespace credvault::crypto {
namespace {

constexpr std::string_view kRecordDomain = "credvault.org-key.v1";
constexpr const char* kWhat = "org key record";

CanonicalEncoder RecordMessage(std::string_view org_id, std::uint32_t key_version,
                               const X25519PublicKey& public_key, std::uint32_t root_key_version) {
  CanonicalEncoder encoder(kRecordDomain);
  encoder.AddString(org_id);
  encoder.AddU32(key_version);
  encoder.AddFixed(public_key);
  encoder.AddU32(root_key_version);
  return encoder;
}

}  // namespace

absl::StatusOr<OrgKeyRecord> CreateOrgKey(std::string_view org_id, std::uint32_t key_version,
                                          const PinnedRootPublicKey& root,
                                          const WriterKeyRing& writer_keys) {
  if (org_id.empty()) return absl::InvalidArgumentError("org key needs an org id");
  if (key_version == 0) return absl::InvalidArgumentError("org key versions start at 1");
  absl::StatusOr<X25519KeyPair> pair = GenerateX25519KeyPair();
  if (!pair.ok()) return pair.status();
  absl::StatusOr<std::vector<std::uint8_t>> sealed = SealTo(root.public_key(), pair->private_key);
  if (!sealed.ok()) return sealed.status();
  const CanonicalEncoder message =
      RecordMessage(org_id, key_version, pair->public_key, root.version());
  return OrgKeyRecord{
      std::string(org_id), key_version,
      pair->public_key,    root.version(),
      *std::move(sealed),  AuthenticateWithCurrentKey(writer_keys, {message.bytes()})};
}

absl::StatusOr<VerifiedOrgPublicKey> VerifyOrgKeyRecord(const OrgKeyRecord& record,
                                                        const WriterKeyRing& writer_keys) {
  const CanonicalEncoder message =
      RecordMessage(record.org_id, record.key_version, record.public_key, record.root_key_version);
  if (absl::Status verified =
          VerifyWriterTag(writer_keys, {message.bytes()}, record.authenticator, kWhat);
      !verified.ok()) {
    return verified;
  }
  return VerifiedOrgPublicKey(record.org_id, record.key_version, record.public_key);
}

absl::StatusOr<OrgPrivateKey> UnsealOrgPrivateKey(const OrgKeyRecord& record,
                                                  const RootPrivateKey& root,
                                                  const WriterKeyRing& writer_keys) {
  absl::StatusOr<VerifiedOrgPublicKey> verified = VerifyOrgKeyRecord(record, writer_keys);
  if (!verified.ok()) return verified.status();
  if (record.root_key_version != root.version()) {
    return absl::FailedPreconditionError("org key version " + std::to_string(record.key_version) +
                                         " is sealed to root key version " +
                                         std::to_string(record.root_key_version) + ", not " +
                                         std::to_string(root.version()));
  }
  absl::StatusOr<SecretBytes> opened =
      OpenSealed(record.sealed_private_key, root.public_key(), root.private_key());
  if (!opened.ok() || opened->size() != kX25519KeySize) {
    return absl::DataLossError("org key version " + std::to_string(record.key_version) +
                               " cannot be unsealed");
  }
  absl::StatusOr<X25519PublicKey> derived = DeriveX25519PublicKey(*opened);
  if (!derived.ok() || !ConstantTimeEquals(*derived, record.public_key)) {
    return absl::DataLossError("org key version " + std::to_string(record.key_version) +
                               " private half does not match its public half");
  }
  absl::StatusOr<KeyBuffer> key = KeyBuffer::CopyFrom(opened->RevealSecret());
  if (!key.ok()) return key.status();
  return OrgPrivateKey(record.org_id, record.key_version, record.public_key, *std::move(key));
}

absl::StatusOr<OrgKeyRecord> ResealOrgKeyRecord(const OrgKeyRecord& record,
                                                const RootPrivateKey& old_root,
                                                const PinnedRootPublicKey& new_root,
                                                const WriterKeyRing& writer_keys) {
  absl::StatusOr<OrgPrivateKey> unsealed = UnsealOrgPrivateKey(record, old_root, writer_keys);
  if (!unsealed.ok()) return unsealed.status();
  absl::StatusOr<std::vector<std::uint8_t>> sealed =
      SealTo(new_root.public_key(), unsealed->private_key());
  if (!sealed.ok()) return sealed.status();
  const CanonicalEncoder message =
      RecordMessage(record.org_id, record.key_version, record.public_key, new_root.version());
  return OrgKeyRecord{
      record.org_id,      record.key_version,
      record.public_key,  new_root.version(),
      *std::move(sealed), AuthenticateWithCurrentKey(writer_keys, {message.bytes()})};
}

}  // namespace credvault::crypto

#include "crypto/org_key.h"

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "crypto/blake2b.h"
#include "crypto/canonical_encoding.h"
#include "crypto/internal/key_directory_signature.h"

namespace credvault::crypto {
namespace {

constexpr std::string_view kRecordDomain = "credvault.org-key.v2";
// Never signed or stored: only names what a cache entry holds.
constexpr std::string_view kCacheEntryDomain = "credvault.org-key.cache-entry";
constexpr std::string_view kWhat = "org key record";

CanonicalEncoder SignedMessage(const OrgKeyRecord& record) {
  CanonicalEncoder encoder(kRecordDomain);
  encoder.AddString(record.org_id);
  encoder.AddU32(record.key_version);
  encoder.AddFixed(record.public_key);
  encoder.AddU32(record.root_key_version);
  encoder.AddString(OrgKeyStateName(record.state));
  encoder.AddU32(record.directory_key_version);
  return encoder;
}

void Sign(OrgKeyRecord& record, const KeyDirectorySigner& signer) {
  record.directory_key_version = signer.version();
  record.signature = signer.Sign(SignedMessage(record));
}

std::string VersionText(const OrgKeyRecord& record) {
  return "org key version " + std::to_string(record.key_version);
}

bool TransitionAllowed(OrgKeyState from, OrgKeyState to) {
  switch (to) {
    case OrgKeyState::kActive:
      return false;
    case OrgKeyState::kRetiring:
      return from == OrgKeyState::kActive;
    case OrgKeyState::kRetired:
      return from == OrgKeyState::kActive || from == OrgKeyState::kRetiring;
    case OrgKeyState::kDestroyed:
      return true;
  }
  return false;
}

// The checks of VerifyOrgKeyRecordForSealing that follow the signature; cheap.
absl::Status CheckSealable(const OrgKeyRecord& record, const RootKeyPins& roots) {
  if (record.state != OrgKeyState::kActive) {
    return absl::FailedPreconditionError(VersionText(record) + " is " +
                                         std::string(OrgKeyStateName(record.state)) +
                                         ", not ACTIVE: nothing is sealed to it");
  }
  if (!roots.IsPinned(record.root_key_version)) {
    return absl::FailedPreconditionError(VersionText(record) + " is sealed to root key version " +
                                         std::to_string(record.root_key_version) +
                                         ", which is not pinned in this configuration");
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view OrgKeyStateName(OrgKeyState state) {
  switch (state) {
    case OrgKeyState::kActive:
      return "ACTIVE";
    case OrgKeyState::kRetiring:
      return "RETIRING";
    case OrgKeyState::kRetired:
      return "RETIRED";
    case OrgKeyState::kDestroyed:
      return "DESTROYED";
  }
  // Only reachable through a cast of an out-of-range value; never a valid state name, so
  // such a record can be neither signed for a real state nor verified.
  return "INVALID";
}

absl::StatusOr<OrgKeyState> ParseOrgKeyState(std::string_view name) {
  for (const OrgKeyState state : {OrgKeyState::kActive, OrgKeyState::kRetiring,
                                  OrgKeyState::kRetired, OrgKeyState::kDestroyed}) {
    if (name == OrgKeyStateName(state)) return state;
  }
  return absl::InvalidArgumentError("unknown org key state");
}

absl::StatusOr<OrgKeyRecord> CreateOrgKey(std::string_view org_id, std::uint32_t key_version,
                                          const PinnedRootPublicKey& root,
                                          const KeyDirectorySigner& signer) {
  if (org_id.empty()) return absl::InvalidArgumentError("org key needs an org id");
  if (key_version == 0) return absl::InvalidArgumentError("org key versions start at 1");
  absl::StatusOr<X25519KeyPair> pair = GenerateX25519KeyPair();
  if (!pair.ok()) return pair.status();
  absl::StatusOr<std::vector<std::uint8_t>> sealed = SealTo(root.public_key(), pair->private_key);
  if (!sealed.ok()) return sealed.status();
  OrgKeyRecord record;
  record.org_id = std::string(org_id);
  record.key_version = key_version;
  record.public_key = pair->public_key;
  record.root_key_version = root.version();
  record.state = OrgKeyState::kActive;
  record.sealed_private_key = *std::move(sealed);
  Sign(record, signer);
  return record;
}

absl::Status VerifyOrgKeySignature(const OrgKeyRecord& record, const KeyDirectoryPins& pins) {
  return internal::VerifyKeyDirectorySignature(pins, record.directory_key_version,
                                               SignedMessage(record), record.signature, kWhat);
}

absl::StatusOr<OrgKeyRecord> ResignOrgKeyRecord(const OrgKeyRecord& record, OrgKeyState new_state,
                                                const KeyDirectoryPins& pins,
                                                const KeyDirectorySigner& signer) {
  if (absl::Status verified = VerifyOrgKeySignature(record, pins); !verified.ok()) {
    return verified;
  }
  if (!TransitionAllowed(record.state, new_state)) {
    return absl::FailedPreconditionError(VersionText(record) + " cannot go from " +
                                         std::string(OrgKeyStateName(record.state)) + " to " +
                                         std::string(OrgKeyStateName(new_state)));
  }
  OrgKeyRecord resigned = record;
  resigned.state = new_state;
  if (new_state == OrgKeyState::kDestroyed) resigned.sealed_private_key.clear();
  Sign(resigned, signer);
  return resigned;
}

absl::StatusOr<OrgKeyRecord> ResignOrgKeyRecord(const OrgKeyRecord& record, OrgKeyState new_state,
                                                const KeyDirectorySigner& signer) {
  return ResignOrgKeyRecord(record, new_state, KeyDirectoryPins::Of(signer), signer);
}

absl::StatusOr<VerifiedOrgPublicKey> VerifyOrgKeyRecordForSealing(const OrgKeyRecord& record,
                                                                  const KeyDirectoryPins& pins,
                                                                  const RootKeyPins& roots) {
  if (absl::Status verified = VerifyOrgKeySignature(record, pins); !verified.ok()) {
    return verified;
  }
  if (absl::Status sealable = CheckSealable(record, roots); !sealable.ok()) return sealable;
  return VerifiedOrgPublicKey(record.org_id, record.key_version, record.public_key);
}

VerifiedOrgKeyCache::VerifiedOrgKeyCache(std::size_t capacity)
    : capacity_(capacity == 0 ? 1 : capacity) {}

std::size_t VerifiedOrgKeyCache::size() const {
  absl::MutexLock lock(&mutex_);
  return verified_.size();
}

absl::StatusOr<VerifiedOrgPublicKey> VerifiedOrgKeyCache::Verify(const OrgKeyRecord& record,
                                                                 const KeyDirectoryPins& pins,
                                                                 const RootKeyPins& roots) {
  const KeyDirectoryPublicKey* pinned = pins.Find(record.directory_key_version);
  if (pinned == nullptr) {
    // Reported exactly as the uncached check reports it.
    return VerifyOrgKeyRecordForSealing(record, pins, roots);
  }
  CanonicalEncoder entry(kCacheEntryDomain);
  entry.AddFixed(*pinned);
  entry.AddString(record.org_id);
  entry.AddU32(record.key_version);
  entry.AddFixed(record.public_key);
  entry.AddU32(record.root_key_version);
  entry.AddString(OrgKeyStateName(record.state));
  entry.AddBytes(record.sealed_private_key);
  entry.AddU32(record.directory_key_version);
  entry.AddFixed(record.signature);
  std::string key(entry.bytes().begin(), entry.bytes().end());

  bool known;
  {
    absl::MutexLock lock(&mutex_);
    known = verified_.count(key) != 0;
  }
  if (known) {
    if (absl::Status sealable = CheckSealable(record, roots); !sealable.ok()) return sealable;
    return VerifiedOrgPublicKey(record.org_id, record.key_version, record.public_key);
  }

  // Verified outside the lock, so one slow check does not hold up other orgs.
  absl::StatusOr<VerifiedOrgPublicKey> verified = VerifyOrgKeyRecordForSealing(record, pins, roots);
  if (!verified.ok()) return verified;
  absl::MutexLock lock(&mutex_);
  const auto [it, inserted] = verified_.insert(std::move(key));
  if (inserted) {
    insertion_order_.push_back(&*it);  // element addresses are stable in unordered_set
    while (verified_.size() > capacity_) {
      verified_.erase(verified_.find(*insertion_order_.front()));
      insertion_order_.pop_front();
    }
  }
  return verified;
}

absl::StatusOr<OrgPrivateKey> UnsealOrgPrivateKey(const OrgKeyRecord& record,
                                                  const RootPrivateKey& root,
                                                  const KeyDirectoryPins& pins) {
  if (absl::Status verified = VerifyOrgKeySignature(record, pins); !verified.ok()) {
    return verified;
  }
  if (record.state == OrgKeyState::kDestroyed) {
    return absl::FailedPreconditionError(VersionText(record) + " is DESTROYED");
  }
  if (record.root_key_version != root.version()) {
    return absl::FailedPreconditionError(VersionText(record) + " is sealed to root key version " +
                                         std::to_string(record.root_key_version) + ", not " +
                                         std::to_string(root.version()));
  }
  absl::StatusOr<SecretBytes> opened =
      OpenSealed(record.sealed_private_key, root.public_key(), root.private_key());
  if (!opened.ok() || opened->size() != kX25519KeySize) {
    return absl::DataLossError(VersionText(record) + " cannot be unsealed");
  }
  absl::StatusOr<X25519PublicKey> derived = DeriveX25519PublicKey(*opened);
  if (!derived.ok() || !ConstantTimeEquals(*derived, record.public_key)) {
    return absl::DataLossError(VersionText(record) +
                               " private half does not match its public half");
  }
  absl::StatusOr<KeyBuffer> key = KeyBuffer::CopyFrom(opened->RevealSecret());
  if (!key.ok()) return key.status();
  return OrgPrivateKey(record.org_id, record.key_version, record.public_key, *std::move(key));
}

absl::StatusOr<OrgKeyRecord> ResealOrgKeyRecord(const OrgKeyRecord& record,
                                                const RootPrivateKey& old_root,
                                                const PinnedRootPublicKey& new_root,
                                                const KeyDirectoryPins& pins,
                                                const KeyDirectorySigner& signer) {
  absl::StatusOr<OrgPrivateKey> unsealed = UnsealOrgPrivateKey(record, old_root, pins);
  if (!unsealed.ok()) return unsealed.status();
  absl::StatusOr<std::vector<std::uint8_t>> sealed =
      SealTo(new_root.public_key(), unsealed->private_key());
  if (!sealed.ok()) return sealed.status();
  OrgKeyRecord resealed = record;
  resealed.root_key_version = new_root.version();
  resealed.sealed_private_key = *std::move(sealed);
  Sign(resealed, signer);
  return resealed;
}

absl::StatusOr<OrgKeyRecord> SignLegacyOrgKeyRecord(const OrgKeyRecord& unsigned_record,
                                                    const WriterTag& authenticator,
                                                    const WriterKeyRing& writer_keys,
                                                    const KeyDirectorySigner& signer) {
  CanonicalEncoder legacy("credvault.org-key.v1");
  legacy.AddString(unsigned_record.org_id);
  legacy.AddU32(unsigned_record.key_version);
  legacy.AddFixed(unsigned_record.public_key);
  legacy.AddU32(unsigned_record.root_key_version);
  if (absl::Status verified =
          VerifyWriterTag(writer_keys, {legacy.bytes()}, authenticator, "legacy org key record");
      !verified.ok()) {
    return verified;
  }
  OrgKeyRecord signed_record = unsigned_record;
  Sign(signed_record, signer);
  return signed_record;
}

OrgKeyRecord SignDestroyedOrgKeyRecord(const OrgKeyRecord& record,
                                       const KeyDirectorySigner& signer) {
  OrgKeyRecord destroyed = record;
  destroyed.state = OrgKeyState::kDestroyed;
  destroyed.sealed_private_key.clear();
  Sign(destroyed, signer);
  return destroyed;
}

}  // namespace credvault::crypto

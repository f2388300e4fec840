#ifndef CREDVAULT_CRYPTO_ORG_KEY_H_
#define CREDVAULT_CRYPTO_ORG_KEY_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "crypto/key_buffer.h"
#include "crypto/key_directory.h"
#include "crypto/root_key.h"
#include "crypto/sealed_box.h"
#include "crypto/writer_key_ring.h"

namespace credvault::crypto {

// Org key pairs (X25519 per org, versioned). DEKs are sealed to the org public key; the org
// private key is stored sealed to a root public key, so nobody holds it in clear at rest.
//
// Each record is signed by the key directory signing key (crypto/key_directory.h), which only
// the key authority holds, over
//   canonical("credvault.org-key.v2", org_id, u32 key_version, public_key (32 bytes),
//             u32 root_key_version, state name, u32 directory_key_version)
// The write tier verifies the signature against its pins before sealing anything to the key,
// so neither a database writer nor the write tier itself (which holds the writer key) can
// redirect future secrets to a key of their own, or revive a retired key. The sealed private
// half is not signed: it is checked when unsealed, against the signed public half.

// The lifecycle of one org key version; only ACTIVE keys are sealed to.
enum class OrgKeyState { kActive, kRetiring, kRetired, kDestroyed };

// "ACTIVE", "RETIRING", "RETIRED", "DESTROYED": the values stored in SQL and signed.
std::string_view OrgKeyStateName(OrgKeyState state);
// The inverse of OrgKeyStateName; INVALID_ARGUMENT for anything else.
absl::StatusOr<OrgKeyState> ParseOrgKeyState(std::string_view name);

// An org key as stored.
struct OrgKeyRecord {
  std::string org_id;
  std::uint32_t key_version = 0;
  X25519PublicKey public_key{};
  std::uint32_t root_key_version = 0;
  OrgKeyState state = OrgKeyState::kActive;
  std::vector<std::uint8_t> sealed_private_key;  // crypto_box_seal to the root public key;
                                                 // empty once destroyed
  std::uint32_t directory_key_version = 0;
  std::array<std::uint8_t, kKeyDirectorySignatureSize> signature{};
};

// Key authority: makes the org key pair `key_version` (>= 1) for `org_id`, seals its private
// half to the pinned root key and signs the ACTIVE record; the private half is wiped before
// returning.
absl::StatusOr<OrgKeyRecord> CreateOrgKey(std::string_view org_id, std::uint32_t key_version,
                                          const PinnedRootPublicKey& root,
                                          const KeyDirectorySigner& signer);

// Key authority: the same record in `new_state`, signed again by `signer`. Allowed:
// ACTIVE -> RETIRING -> RETIRED, ACTIVE -> RETIRED, any state -> DESTROYED; anything else is
// FAILED_PRECONDITION. DESTROYED clears the sealed private half. The signature of `record` is
// verified first, against `signer`'s own public half (DATA_LOSS if it does not verify, or if
// it names another directory key version): re-signing never launders a record that a
// database writer edited.
absl::StatusOr<OrgKeyRecord> ResignOrgKeyRecord(const OrgKeyRecord& record, OrgKeyState new_state,
                                                const KeyDirectorySigner& signer);
// As above, verifying `record` against `pins` instead; for records signed by an earlier
// directory key version, after that key was rotated.
absl::StatusOr<OrgKeyRecord> ResignOrgKeyRecord(const OrgKeyRecord& record, OrgKeyState new_state,
                                                const KeyDirectoryPins& pins,
                                                const KeyDirectorySigner& signer);

// The signature check alone, for a record in any state. DATA_LOSS when it does not verify
// (any signed field changed, signed by an unpinned key) or its directory key version is not
// pinned.
absl::Status VerifyOrgKeySignature(const OrgKeyRecord& record, const KeyDirectoryPins& pins);

// An org public key whose record verified for sealing; the only kind a DEK can be sealed to.
class VerifiedOrgPublicKey {
 public:
  const std::string& org_id() const { return org_id_; }
  std::uint32_t key_version() const { return key_version_; }
  const X25519PublicKey& public_key() const { return public_key_; }

 private:
  friend absl::StatusOr<VerifiedOrgPublicKey> VerifyOrgKeyRecordForSealing(const OrgKeyRecord&,
                                                                           const KeyDirectoryPins&,
                                                                           const RootKeyPins&);
  friend class VerifiedOrgKeyCache;
  VerifiedOrgPublicKey(std::string org_id, std::uint32_t key_version,
                       const X25519PublicKey& public_key)
      : org_id_(std::move(org_id)), key_version_(key_version), public_key_(public_key) {}

  std::string org_id_;
  std::uint32_t key_version_;
  X25519PublicKey public_key_;
};

// Write tier, before sealing: the signature verifies (else DATA_LOSS), the record is ACTIVE
// and its root key version is pinned in `roots` (else FAILED_PRECONDITION).
absl::StatusOr<VerifiedOrgPublicKey> VerifyOrgKeyRecordForSealing(const OrgKeyRecord& record,
                                                                  const KeyDirectoryPins& pins,
                                                                  const RootKeyPins& roots);

// VerifyOrgKeyRecordForSealing with the signature check remembered, so that a Put does not
// pay an Ed25519 verification each time. An entry is the exact bytes of the record (every
// field, the signature included) together with the pinned key it verified under, so a
// record that differs in any byte, or a changed pin, is verified afresh. Only successes are
// remembered; the state and root pin checks are cheap and made on every call. Thread-safe;
// holds at most `capacity` entries and forgets the oldest first.
class VerifiedOrgKeyCache {
 public:
  explicit VerifiedOrgKeyCache(std::size_t capacity = 10000);

  VerifiedOrgKeyCache(const VerifiedOrgKeyCache&) = delete;
  VerifiedOrgKeyCache& operator=(const VerifiedOrgKeyCache&) = delete;

  // Same answers as VerifyOrgKeyRecordForSealing.
  absl::StatusOr<VerifiedOrgPublicKey> Verify(const OrgKeyRecord& record,
                                              const KeyDirectoryPins& pins,
                                              const RootKeyPins& roots);

  std::size_t size() const;

 private:
  const std::size_t capacity_;
  mutable absl::Mutex mutex_;
  std::unordered_set<std::string> verified_ ABSL_GUARDED_BY(mutex_);
  std::deque<const std::string*> insertion_order_ ABSL_GUARDED_BY(mutex_);  // into verified_
};

// Key authority, crypto-shredding: `record` as DESTROYED (sealed half cleared), signed
// WITHOUT checking its current signature. Destroying key material is always safe (nothing
// is ever sealed to a DESTROYED record), and a record someone tampered with must still be
// destroyable.
OrgKeyRecord SignDestroyedOrgKeyRecord(const OrgKeyRecord& record,
                                       const KeyDirectorySigner& signer);

// Records made before org keys were signed carry a writer authenticator over
//   canonical("credvault.org-key.v1", org_id, u32 key_version, public_key, u32 root_key_version)
// instead. Key authority, once per such record: verifies that authenticator with the writer
// keys and signs the record in `state` (DATA_LOSS when the authenticator does not verify).
// This trusts whoever held the writer key before the upgrade; docs/operations.md says to
// rotate org keys after upgrading a deployment whose write tier may have been compromised.
absl::StatusOr<OrgKeyRecord> SignLegacyOrgKeyRecord(const OrgKeyRecord& unsigned_record,
                                                    const WriterTag& authenticator,
                                                    const WriterKeyRing& writer_keys,
                                                    const KeyDirectorySigner& signer);

// An unsealed org private key, decrypt tier only; meant to be cached briefly.
class OrgPrivateKey {
 public:
  const std::string& org_id() const { return org_id_; }
  std::uint32_t key_version() const { return key_version_; }
  const X25519PublicKey& public_key() const { return public_key_; }
  const KeyBuffer& private_key() const { return private_key_; }

 private:
  friend absl::StatusOr<OrgPrivateKey> UnsealOrgPrivateKey(const OrgKeyRecord&,
                                                           const RootPrivateKey&,
                                                           const KeyDirectoryPins&);
  OrgPrivateKey(std::string org_id, std::uint32_t key_version, const X25519PublicKey& public_key,
                KeyBuffer private_key)
      : org_id_(std::move(org_id)),
        key_version_(key_version),
        public_key_(public_key),
        private_key_(std::move(private_key)) {}

  std::string org_id_;
  std::uint32_t key_version_;
  X25519PublicKey public_key_;
  KeyBuffer private_key_;
};

// Decrypt tier: verifies the record's signature against `pins` (DATA_LOSS), refuses a
// DESTROYED record (FAILED_PRECONDITION), unseals its private half with the root private key
// it names and checks that the private half matches the public half. Any mismatch is
// DATA_LOSS; a root key of another version is FAILED_PRECONDITION.
absl::StatusOr<OrgPrivateKey> UnsealOrgPrivateKey(const OrgKeyRecord& record,
                                                  const RootPrivateKey& root,
                                                  const KeyDirectoryPins& pins);

// Re-seal, decrypt tier (root key rotation): unseals the private half of `record` with
// `old_root` (the root key it names) and returns the same org key pair, in the same state,
// sealed to `new_root` and signed by `signer`. The org key pair itself does not change, so
// every DEK sealed to it stays valid. Errors as UnsealOrgPrivateKey.
absl::StatusOr<OrgKeyRecord> ResealOrgKeyRecord(const OrgKeyRecord& record,
                                                const RootPrivateKey& old_root,
                                                const PinnedRootPublicKey& new_root,
                                                const KeyDirectoryPins& pins,
                                                const KeyDirectorySigner& signer);

}  // namespace credvault::crypto

#endif  // CREDVAULT_CRYPTO_ORG_KEY_H_

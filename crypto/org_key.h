#ifndef CREDVAULT_CRYPTO_ORG_KEY_H_
#define CREDVAULT_CRYPTO_ORG_KEY_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/key_buffer.h"
#include "crypto/root_key.h"
#include "crypto/sealed_box.h"
#include "crypto/writer_key_ring.h"

namespace credvault::crypto {

// Org key pairs (X25519 per org, versioned). DEKs are sealed to the org public key; the org
// private key is stored sealed to a root public key, so nobody holds it in clear at rest.
//
// Each record carries a writer authenticator over
//   ("credvault.org-key.v1", org_id, key_version, public_key, root_key_version)
// which the write tier verifies before sealing anything to the key: whoever can write to the
// database cannot redirect future secrets to a key of their own.

// An org key as stored.
struct OrgKeyRecord {
  std::string org_id;
  std::uint32_t key_version = 0;
  X25519PublicKey public_key{};
  std::uint32_t root_key_version = 0;
  std::vector<std::uint8_t> sealed_private_key;  // crypto_box_seal to the root public key
  WriterTag authenticator;
};

// Makes the org key pair `key_version` (>= 1) for `org_id`, seals its private half to the
// pinned root key and authenticates the record; the private half is wiped before returning.
// The write tier can do this alone: it never holds anything that decrypts.
absl::StatusOr<OrgKeyRecord> CreateOrgKey(std::string_view org_id, std::uint32_t key_version,
                                          const PinnedRootPublicKey& root,
                                          const WriterKeyRing& writer_keys);

// An org public key whose record verified; the only kind a DEK can be sealed to.
class VerifiedOrgPublicKey {
 public:
  const std::string& org_id() const { return org_id_; }
  std::uint32_t key_version() const { return key_version_; }
  const X25519PublicKey& public_key() const { return public_key_; }

 private:
  friend absl::StatusOr<VerifiedOrgPublicKey> VerifyOrgKeyRecord(const OrgKeyRecord&,
                                                                 const WriterKeyRing&);
  VerifiedOrgPublicKey(std::string org_id, std::uint32_t key_version,
                       const X25519PublicKey& public_key)
      : org_id_(std::move(org_id)), key_version_(key_version), public_key_(public_key) {}

  std::string org_id_;
  std::uint32_t key_version_;
  X25519PublicKey public_key_;
};

// DATA_LOSS when the authenticator does not match (substituted public key, moved record,
// unknown writer key version).
absl::StatusOr<VerifiedOrgPublicKey> VerifyOrgKeyRecord(const OrgKeyRecord& record,
                                                        const WriterKeyRing& writer_keys);

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
                                                           const WriterKeyRing&);
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

// Verifies the record, unseals its private half with the root private key it names and
// checks that the private half matches the public half. Any mismatch is DATA_LOSS; a root
// key of another version is FAILED_PRECONDITION.
absl::StatusOr<OrgPrivateKey> UnsealOrgPrivateKey(const OrgKeyRecord& record,
                                                  const RootPrivateKey& root,
                                                  const WriterKeyRing& writer_keys);

// Re-seal, decrypt tier (root key rotation): unseals the private half of `record` with
// `old_root` (the root key it names) and returns the same org key pair sealed to `new_root`,
// with a fresh authenticator made with the current writer key. The org key pair itself does
// not change, so every DEK sealed to it stays valid. Errors as UnsealOrgPrivateKey.
absl::StatusOr<OrgKeyRecord> ResealOrgKeyRecord(const OrgKeyRecord& record,
                                                const RootPrivateKey& old_root,
                                                const PinnedRootPublicKey& new_root,
                                                const WriterKeyRing& writer_keys);

}  // namespace credvault::crypto

#endif  // CREDVAULT_CRYPTO_ORG_KEY_H_

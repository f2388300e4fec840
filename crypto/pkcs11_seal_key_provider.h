#ifndef CREDVAULT_CRYPTO_PKCS11_SEAL_KEY_PROVIDER_H_
#define CREDVAULT_CRYPTO_PKCS11_SEAL_KEY_PROVIDER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/seal_key_provider.h"
#include "crypto/secret_view.h"

namespace credvault::crypto {

// Where a PKCS#11 seal key lives. Not secret.
struct Pkcs11KeyLocation {
  std::string module_path;  // the PKCS#11 library, loaded with dlopen
  std::string token_label;  // CKA_LABEL of the token (at most 32 bytes)
  std::string key_label;    // CKA_LABEL of the AES-256 secret key object
};

// A seal key that is an AES-256 secret key inside a PKCS#11 token (an HSM; SoftHSM2 in
// tests). Wrap and Unwrap run inside the token with CKM_AES_GCM, so the key never enters
// this process.
//
// Wrapped form (format 0x02; the key file provider's is 0x01, so a record given to the
// wrong kind of provider is refused as malformed rather than attempted):
//
//   offset  size  field
//   0       1     format, 0x02
//   1       12    GCM nonce (random, from libsodium)
//   13      N     AES-256-GCM ciphertext of the N-byte plaintext
//   13+N    16    GCM tag
//
// The associated data of Wrap/Unwrap is the GCM AAD. A wrong key, wrong associated data,
// a different nonce or any changed byte is DATA_LOSS.
//
// KeyId() is "pkcs11:<token label>/<key label>:<16 hex digits>", the hex digits being a key
// check value computed inside the token: the first 8 bytes of the GCM tag of an empty
// message under a fixed all-zero nonce with AAD "credvault.seal-key-id.v1". It changes when
// the key behind a label changes, so a replaced key is never mistaken for the old one. The
// fixed nonce is used for that one constant message only; every wrap draws a random
// 96-bit nonce, and a collision with the fixed one has probability 2^-96 per wrap.
//
// Thread-safe: each call borrows a PKCS#11 session of its own from a small pool (a session
// is not safe to share between threads), and the module is initialised with
// CKF_OS_LOCKING_OK. One session stays open and logged in for the provider's lifetime,
// since the login state of a token ends with its last session.
class Pkcs11SealKeyProvider final : public SealKeyProvider {
 public:
  // Loads the module, finds the token, logs in as the user with `pin` and finds the key.
  // Failures start with the part of the location at fault, so a caller can name its own
  // configuration key, and never contain the PIN:
  //   "module: ..."       the library cannot be loaded or initialised (FAILED_PRECONDITION)
  //   "token_label: ..."  no token with that label (NOT_FOUND), or several
  //   "pin: ..."          the token refused the PIN (PERMISSION_DENIED) or it is locked
  //   "key_label: ..."    no AES secret key with that label (NOT_FOUND), several, or one
  //                       that is not a sensitive, non-extractable 256-bit encrypt/decrypt
  //                       key (FAILED_PRECONDITION, naming the attribute at fault)
  static absl::StatusOr<std::unique_ptr<Pkcs11SealKeyProvider>> Open(
      const Pkcs11KeyLocation& location, SecretView pin);

  // Generates the seal key inside the token: AES-256, CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE,
  // not CKA_EXTRACTABLE, usable only to encrypt and decrypt. ALREADY_EXISTS when a secret
  // key with that label is already there. Errors are reported as by Open.
  static absl::Status GenerateKey(const Pkcs11KeyLocation& location, SecretView pin);

  ~Pkcs11SealKeyProvider() override;

  std::string KeyId() const override;
  absl::StatusOr<std::vector<std::uint8_t>> Wrap(
      SecretView plaintext, const AssociatedData& associated_data) const override;
  absl::StatusOr<SecretBytes> Unwrap(absl::Span<const std::uint8_t> wrapped,
                                     const AssociatedData& associated_data) const override;

  class Token;  // the PKCS#11 side; defined in the .cc so pkcs11.h stays private

 private:
  Pkcs11SealKeyProvider(std::unique_ptr<Token> token, std::string key_id);

  const std::unique_ptr<Token> token_;
  const std::string key_id_;
};

}  // namespace credvault::crypto

#endif  // CREDVAULT_CRYPTO_PKCS11_SEAL_KEY_PROVIDER_H_

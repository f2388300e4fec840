#include "crypto/fingerprint.h"

#include <string>

#include "absl/status/status.h"
#include "crypto/blake2b.h"
#include "crypto/canonical_encoding.h"

namespace credvault::crypto {
namespace {

constexpr std::string_view kDomain = "credvault.fingerprint.v1";

Authenticator Mac(const KeyBuffer& key, std::string_view org_id, std::string_view name,
                  SecretView secret) {
  CanonicalEncoder context(kDomain);
  context.AddString(org_id);
  context.AddString(name);
  Blake2bHasher mac(key);
  mac.Update(context.bytes());
  mac.Update(secret.RevealSecret());
  return mac.Finish();
}

}  // namespace

Fingerprint ComputeFingerprint(const WriterKeyRing& writer_keys, std::string_view org_id,
                               std::string_view name, SecretView secret) {
  return Fingerprint{writer_keys.current_version(),
                     Mac(writer_keys.CurrentKey(), org_id, name, secret)};
}

absl::StatusOr<bool> FingerprintMatches(const WriterKeyRing& writer_keys, const Fingerprint& stored,
                                        std::string_view org_id, std::string_view name,
                                        SecretView candidate) {
  const absl::StatusOr<const KeyBuffer*> key = writer_keys.KeyForVersion(stored.key_version);
  if (!key.ok()) {
    return absl::FailedPreconditionError("fingerprint was made with writer key version " +
                                         std::to_string(stored.key_version) +
                                         ", which is no longer configured");
  }
  return ConstantTimeEquals(Mac(**key, org_id, name, candidate), stored.mac);
}

}  // namespace credvault::crypto

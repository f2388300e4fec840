#ifndef CREDVAULT_CRYPTO_FINGERPRINT_H_
#define CREDVAULT_CRYPTO_FINGERPRINT_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "crypto/secret_view.h"
#include "crypto/writer_key_ring.h"

namespace credvault::crypto {

// A keyed fingerprint of one credential's secret, so that CompareCredential can answer
// "is this candidate the stored value?" on the write tier without decrypting anything:
//   mac = BLAKE2b-256 keyed with the writer key over
//         canonical("credvault.fingerprint.v1", org_id, name) || secret
// Keyed, so it cannot be recomputed or brute-forced without the writer key; bound to the
// org and the name, so equal secrets in two orgs (or under two names) do not correlate.
using Fingerprint = WriterTag;

Fingerprint ComputeFingerprint(const WriterKeyRing& writer_keys, std::string_view org_id,
                               std::string_view name, SecretView secret);

// Constant-time check of `candidate` against `stored`. FAILED_PRECONDITION when the writer
// key version that made `stored` is no longer configured.
absl::StatusOr<bool> FingerprintMatches(const WriterKeyRing& writer_keys, const Fingerprint& stored,
                                        std::string_view org_id, std::string_view name,
                                        SecretView candidate);

}  // namespace credvault::crypto

#endif  // CREDVAULT_CRYPTO_FINGERPRINT_H_

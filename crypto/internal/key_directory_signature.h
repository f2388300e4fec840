#ifndef CREDVAULT_CRYPTO_INTERNAL_KEY_DIRECTORY_SIGNATURE_H_
#define CREDVAULT_CRYPTO_INTERNAL_KEY_DIRECTORY_SIGNATURE_H_

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "crypto/canonical_encoding.h"
#include "crypto/key_directory.h"

namespace credvault::crypto::internal {

// Checks `signature` over `message` with the pinned key of `version`. DATA_LOSS when the
// version is not pinned or the signature does not verify; `what` names the record.
// Internal to crypto/: other modules check whole records through crypto/org_key.h
// (VerifyOrgKeySignature, VerifyOrgKeyRecordForSealing), which rebuild the signed message
// themselves.
absl::Status VerifyKeyDirectorySignature(const KeyDirectoryPins& pins, std::uint32_t version,
                                         const CanonicalEncoder& message,
                                         absl::Span<const std::uint8_t> signature,
                                         std::string_view what);

}  // namespace credvault::crypto::internal

#endif  // CREDVAULT_CRYPTO_INTERNAL_KEY_DIRECTORY_SIGNATURE_H_

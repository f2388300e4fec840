#ifndef CREDVAULT_CRYPTO_INTERNAL_WRITER_KEY_ACCESS_H_
#define CREDVAULT_CRYPTO_INTERNAL_WRITER_KEY_ACCESS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "crypto/key_buffer.h"
#include "crypto/writer_key_ring.h"

namespace credvault::crypto::internal {

// The writer keys inside a WriterKeyRing. Internal to crypto/ and its tests: other modules
// authenticate and verify through crypto/writer_key_ring.h and never read a writer key.
class WriterKeyAccess {
 public:
  // The key of `version`, or NOT_FOUND.
  static absl::StatusOr<const KeyBuffer*> KeyForVersion(const WriterKeyRing& ring,
                                                        std::uint32_t version) {
    return ring.KeyForVersion(version);
  }
  static const KeyBuffer& CurrentKey(const WriterKeyRing& ring) { return ring.CurrentKey(); }
};

}  // namespace credvault::crypto::internal

#endif  // CREDVAULT_CRYPTO_INTERNAL_WRITER_KEY_ACCESS_H_

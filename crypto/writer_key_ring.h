#ifndef CREDVAULT_CRYPTO_WRITER_KEY_RING_H_
#define CREDVAULT_CRYPTO_WRITER_KEY_RING_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "crypto/key_buffer.h"

namespace credvault::crypto {

namespace internal {
class WriterKeyAccess;  // crypto/internal/writer_key_access.h
}  // namespace internal

inline constexpr std::size_t kWriterKeySize = 32;
inline constexpr std::size_t kAuthenticatorSize = 32;

using Authenticator = std::array<std::uint8_t, kAuthenticatorSize>;

// An authenticator together with the writer key version that made it.
struct WriterTag {
  std::uint32_t key_version = 0;
  Authenticator mac{};
};

// The writer authentication keys (256-bit, keyed BLAKE2b-256): one current version that
// makes new authenticators, any number of older versions that still verify, so a key can
// be rotated while records made under the old one are still in use. Held by the write
// tier and the decrypt tier. Every message starts with a CanonicalEncoder whose domain
// names what is authenticated, so one authenticator can never be replayed as another kind.
class WriterKeyRing {
 public:
  // `keys` maps versions (>= 1) to 32-byte keys; `current_version` must be among them.
  static absl::StatusOr<WriterKeyRing> New(std::uint32_t current_version,
                                           std::vector<std::pair<std::uint32_t, KeyBuffer>> keys);

  WriterKeyRing(WriterKeyRing&&) noexcept = default;
  WriterKeyRing& operator=(WriterKeyRing&&) noexcept = default;

  std::uint32_t current_version() const { return current_version_; }
  bool HasVersion(std::uint32_t version) const { return keys_.count(version) != 0; }

 private:
  friend class internal::WriterKeyAccess;
  WriterKeyRing(std::uint32_t current_version, std::map<std::uint32_t, KeyBuffer> keys)
      : current_version_(current_version), keys_(std::move(keys)) {}

  // The key of `version`, or NOT_FOUND.
  absl::StatusOr<const KeyBuffer*> KeyForVersion(std::uint32_t version) const;
  const KeyBuffer& CurrentKey() const;

  std::uint32_t current_version_;
  std::map<std::uint32_t, KeyBuffer> keys_;
};

// The message to authenticate, given as consecutive parts so large records need not be
// copied into one buffer first.
using MessageParts = std::initializer_list<absl::Span<const std::uint8_t>>;

// MAC of the concatenated `message` with the current writer key.
WriterTag AuthenticateWithCurrentKey(const WriterKeyRing& ring, MessageParts message);

// Checks `tag` over `message` in constant time. Unknown key version or mismatch is
// DATA_LOSS; `what` names the record in the message ("envelope", "org key record").
absl::Status VerifyWriterTag(const WriterKeyRing& ring, MessageParts message, const WriterTag& tag,
                             const char* what);

}  // namespace credvault::crypto

#endif  // CREDVAULT_CRYPTO_WRITER_KEY_RING_H_

#ifndef CREDVAULT_CRYPTO_CANONICAL_ENCODING_H_
#define CREDVAULT_CRYPTO_CANONICAL_ENCODING_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/types/span.h"

namespace credvault::crypto {

// An unambiguous byte encoding of a tuple of fields, used wherever a MAC, a hash or
// associated data must commit to several values at once. A domain tag comes first, so an
// encoding made for one purpose never verifies for another. Strings and byte strings are
// length-prefixed (u32 big-endian); integers are fixed-width big-endian; fixed-size arrays
// are written as they are.
class CanonicalEncoder {
 public:
  explicit CanonicalEncoder(std::string_view domain);

  void AddString(std::string_view value);
  void AddBytes(absl::Span<const std::uint8_t> value);
  void AddFixed(absl::Span<const std::uint8_t> value);
  void AddU8(std::uint8_t value);
  void AddU32(std::uint32_t value);
  void AddU64(std::uint64_t value);

  absl::Span<const std::uint8_t> bytes() const { return buffer_; }

 private:
  std::vector<std::uint8_t> buffer_;
};

// Big-endian helpers shared by the binary formats of this module.
void AppendU32(std::vector<std::uint8_t>& out, std::uint32_t value);
void AppendU64(std::vector<std::uint8_t>& out, std::uint64_t value);
std::uint32_t ReadU32(const std::uint8_t* in);

}  // namespace credvault::crypto

#endif  // CREDVAULT_CRYPTO_CANONICAL_ENCODING_H_

#include "crypto/secret_bytes.h"

#include <sodium.h>

#include <cstring>

#include "crypto/sodium_init.h"

namespace credvault::crypto {

void WipeBytes(void* p, std::size_t size) noexcept {
  if (p != nullptr && size != 0) sodium_memzero(p, size);
}

SecretBytes SecretBytes::CopyFrom(absl::Span<const std::uint8_t> bytes) {
  SecretBytes out(bytes.size());
  if (!bytes.empty()) std::memcpy(out.bytes_.data(), bytes.data(), bytes.size());
  return out;
}

SecretBytes SecretBytes::CopyFrom(std::string_view bytes) {
  return CopyFrom(absl::Span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

SecretBytes SecretBytes::Random(std::size_t size) {
  EnsureSodiumInitialized();
  SecretBytes out(size);
  randombytes_buf(out.bytes_.data(), size);
  return out;
}

void SecretBytes::Truncate(std::size_t size) {
  if (size >= bytes_.size()) return;
  WipeBytes(bytes_.data() + size, bytes_.size() - size);
  bytes_.resize(size);
}

}  // namespace credvault::crypto

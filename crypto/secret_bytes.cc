#include "crypto/secret_bytes.h"

#include <sodium.h>

#include <cstring>

#include "crypto/secret_view.h"
#include "crypto/sodium_init.h"

namespace credvault::crypto {

void WipeBytes(void* p, std::size_t size) noexcept {
  if (p != nullptr && size != 0) sodium_memzero(p, size);
}

void WipeString(std::string* bytes) noexcept {
  if (bytes == nullptr) return;
  // resize() within the capacity neither reallocates nor throws, and makes the spare bytes
  // part of the value, so that writing them is defined.
  bytes->resize(bytes->capacity());
  WipeBytes(bytes->data(), bytes->size());
  bytes->clear();
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

bool SecretsEqual(SecretView a, SecretView b) {
  if (a.size() != b.size()) return false;
  return sodium_memcmp(a.RevealSecret().data(), b.RevealSecret().data(), a.size()) == 0;
}

}  // namespace credvault::crypto

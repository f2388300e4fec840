#ifndef CREDVAULT_CRYPTO_SECRET_BYTES_H_
#define CREDVAULT_CRYPTO_SECRET_BYTES_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/types/span.h"

namespace credvault::crypto {

// Overwrites `size` bytes at `p` with zeros in a way the compiler cannot elide.
void WipeBytes(void* p, std::size_t size) noexcept;

// Overwrites every byte of `bytes`' buffer, its spare capacity included (a string that once
// held a longer value keeps that value's tail there), then empties it. The buffer is neither
// freed nor moved: its owner (a protobuf field, a std::string we filled) frees it later,
// holding zeros. Null does nothing.
void WipeString(std::string* bytes) noexcept;

// An allocator that wipes memory with sodium_memzero before giving it back, so a vector
// that grows, shrinks or dies leaves no copy of its contents behind.
template <typename T>
struct WipingAllocator {
  using value_type = T;

  WipingAllocator() noexcept = default;
  template <typename U>
  WipingAllocator(const WipingAllocator<U>&) noexcept {}  // NOLINT: allocator rebinding

  T* allocate(std::size_t n) { return std::allocator<T>().allocate(n); }
  void deallocate(T* p, std::size_t n) noexcept {
    WipeBytes(p, n * sizeof(T));
    std::allocator<T>().deallocate(p, n);
  }

  template <typename U>
  bool operator==(const WipingAllocator<U>&) const noexcept {
    return true;
  }
};

// Secret bytes in flight: a plaintext on its way in or out, a data key for one request.
// Heap memory (cheap enough for every request) wiped on release. Move-only; copying is
// explicit (Clone) and reading is explicit (RevealSecret), so both are greppable.
class SecretBytes {
 public:
  SecretBytes() = default;
  // `size` zero bytes, to be filled through RevealMutableSecret().
  explicit SecretBytes(std::size_t size) : bytes_(size) {}

  static SecretBytes CopyFrom(absl::Span<const std::uint8_t> bytes);
  static SecretBytes CopyFrom(std::string_view bytes);
  // `size` random bytes.
  static SecretBytes Random(std::size_t size);

  SecretBytes(SecretBytes&&) noexcept = default;
  SecretBytes& operator=(SecretBytes&&) noexcept = default;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes() = default;

  SecretBytes Clone() const { return CopyFrom(RevealSecret()); }

  std::size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }

  absl::Span<const std::uint8_t> RevealSecret() const { return bytes_; }
  absl::Span<std::uint8_t> RevealMutableSecret() { return absl::MakeSpan(bytes_); }

  // Shrinks to the first `size` bytes (wiping the rest); used when a primitive writes
  // fewer bytes than the buffer holds.
  void Truncate(std::size_t size);

 private:
  std::vector<std::uint8_t, WipingAllocator<std::uint8_t>> bytes_;
};

}  // namespace credvault::crypto

#endif  // CREDVAULT_CRYPTO_SECRET_BYTES_H_

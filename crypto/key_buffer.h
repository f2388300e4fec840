#ifndef CREDVAULT_CRYPTO_KEY_BUFFER_H_
#define CREDVAULT_CRYPTO_KEY_BUFFER_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace credvault::crypto {

// A long-lived key held in libsodium guarded memory (sodium_malloc: guard pages, mlock,
// canary) and wiped with sodium_memzero when destroyed. Move-only: a key is never copied
// by accident. Reading the bytes is explicit (RevealSecret) so every read can be found by
// grep.
//
// sodium_malloc is slow (several system calls), so this type is for keys that live for a
// while: seal key, root and org private keys, writer authentication keys. Per-request
// secrets (DEKs, plaintexts) use SecretBytes.
class KeyBuffer {
 public:
  // A buffer of `size` random bytes.
  static absl::StatusOr<KeyBuffer> Generate(std::size_t size);
  // A buffer of `size` zero bytes, to be filled through RevealMutableSecret().
  static absl::StatusOr<KeyBuffer> Allocate(std::size_t size);
  // A buffer holding a copy of `bytes`; the caller remains responsible for wiping them.
  static absl::StatusOr<KeyBuffer> CopyFrom(absl::Span<const std::uint8_t> bytes);

  KeyBuffer(KeyBuffer&&) noexcept = default;
  KeyBuffer& operator=(KeyBuffer&&) noexcept = default;
  KeyBuffer(const KeyBuffer&) = delete;
  KeyBuffer& operator=(const KeyBuffer&) = delete;
  ~KeyBuffer() = default;

  std::size_t size() const { return size_; }

  absl::Span<const std::uint8_t> RevealSecret() const;
  absl::Span<std::uint8_t> RevealMutableSecret();

  // Test hook: `observer` is called with the bytes of every KeyBuffer right after they
  // have been wiped and before the memory is released, so a test can see the wipe.
  // Pass nullptr to remove it. Not for production use.
  using WipeObserver = void (*)(absl::Span<const std::uint8_t> wiped_bytes);
  static void SetWipeObserverForTesting(WipeObserver observer);

 private:
  struct Releaser {
    std::size_t size = 0;
    void operator()(std::uint8_t* bytes) const;
  };

  KeyBuffer(std::uint8_t* bytes, std::size_t size);

  std::unique_ptr<std::uint8_t, Releaser> bytes_;
  std::size_t size_ = 0;
};

}  // namespace credvault::crypto

#endif  // CREDVAULT_CRYPTO_KEY_BUFFER_H_

#include "crypto/key_buffer.h"

#include <sodium.h>

#include <atomic>
#include <cstring>

#include "absl/status/status.h"
#include "crypto/sodium_init.h"

namespace credvault::crypto {
namespace {

std::atomic<KeyBuffer::WipeObserver> wipe_observer{nullptr};

// Keys are small; anything larger is a caller bug, refused before allocating.
constexpr std::size_t kMaxKeyBufferSize = 4096;

}  // namespace

void KeyBuffer::Releaser::operator()(std::uint8_t* bytes) const {
  if (bytes == nullptr) return;
  sodium_memzero(bytes, size);
  if (const WipeObserver observer = wipe_observer.load(std::memory_order_acquire)) {
    observer(absl::Span<const std::uint8_t>(bytes, size));
  }
  sodium_free(bytes);
}

KeyBuffer::KeyBuffer(std::uint8_t* bytes, std::size_t size)
    : bytes_(bytes, Releaser{size}), size_(size) {}

absl::StatusOr<KeyBuffer> KeyBuffer::Allocate(std::size_t size) {
  EnsureSodiumInitialized();
  if (size == 0 || size > kMaxKeyBufferSize) {
    return absl::InvalidArgumentError("key buffer size must be between 1 and 4096 bytes");
  }
  auto* bytes = static_cast<std::uint8_t*>(sodium_malloc(size));
  if (bytes == nullptr) {
    return absl::ResourceExhaustedError("cannot allocate guarded memory for a key");
  }
  std::memset(bytes, 0, size);
  return KeyBuffer(bytes, size);
}

absl::StatusOr<KeyBuffer> KeyBuffer::Generate(std::size_t size) {
  absl::StatusOr<KeyBuffer> key = Allocate(size);
  if (!key.ok()) return key.status();
  const absl::Span<std::uint8_t> bytes = key->RevealMutableSecret();
  randombytes_buf(bytes.data(), bytes.size());
  return key;
}

absl::StatusOr<KeyBuffer> KeyBuffer::CopyFrom(absl::Span<const std::uint8_t> source) {
  absl::StatusOr<KeyBuffer> key = Allocate(source.size());
  if (!key.ok()) return key.status();
  std::memcpy(key->RevealMutableSecret().data(), source.data(), source.size());
  return key;
}

absl::Span<const std::uint8_t> KeyBuffer::RevealSecret() const {
  return absl::Span<const std::uint8_t>(bytes_.get(), size_);
}

absl::Span<std::uint8_t> KeyBuffer::RevealMutableSecret() {
  return absl::Span<std::uint8_t>(bytes_.get(), size_);
}

void KeyBuffer::SetWipeObserverForTesting(WipeObserver observer) {
  wipe_observer.store(observer, std::memory_order_release);
}

}  // namespace credvault::crypto

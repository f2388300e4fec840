#include "crypto/blake2b.h"

#include "crypto/sodium_init.h"

namespace credvault::crypto {

static_assert(sizeof(Blake2b256) == crypto_generichash_BYTES);

Blake2bHasher::Blake2bHasher() {
  EnsureSodiumInitialized();
  crypto_generichash_init(&state_, nullptr, 0, sizeof(Blake2b256));
}

Blake2bHasher::Blake2bHasher(SecretView key) {
  EnsureSodiumInitialized();
  const absl::Span<const std::uint8_t> bytes = key.RevealSecret();
  crypto_generichash_init(&state_, bytes.data(), bytes.size(), sizeof(Blake2b256));
}

Blake2bHasher::~Blake2bHasher() { sodium_memzero(&state_, sizeof(state_)); }

void Blake2bHasher::Update(absl::Span<const std::uint8_t> bytes) {
  crypto_generichash_update(&state_, bytes.data(), bytes.size());
}

Blake2b256 Blake2bHasher::Finish() {
  Blake2b256 out;
  crypto_generichash_final(&state_, out.data(), out.size());
  return out;
}

bool ConstantTimeEquals(absl::Span<const std::uint8_t> a, absl::Span<const std::uint8_t> b) {
  if (a.size() != b.size()) return false;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace credvault::crypto

#ifndef CREDVAULT_CRYPTO_SECRET_VIEW_H_
#define CREDVAULT_CRYPTO_SECRET_VIEW_H_

#include <cstdint>
#include <string_view>

#include "absl/types/span.h"
#include "crypto/key_buffer.h"
#include "crypto/secret_bytes.h"

namespace credvault::crypto {

// A non-owning view of secret bytes, taken from a KeyBuffer or SecretBytes (implicitly) or
// from bytes held elsewhere (explicitly, with Borrow). Functions that consume keys or
// plaintexts take a SecretView, so an arbitrary byte span cannot be passed as a key by
// accident. The viewed owner must outlive the view; views of temporaries are refused at
// compile time.
class SecretView {
 public:
  SecretView(const KeyBuffer& key) : bytes_(key.RevealSecret()) {}        // NOLINT
  SecretView(const SecretBytes& bytes) : bytes_(bytes.RevealSecret()) {}  // NOLINT
  SecretView(KeyBuffer&&) = delete;
  SecretView(SecretBytes&&) = delete;

  // For secret bytes owned by something else (e.g. a request message that the caller
  // wipes once done). Explicit so that every such place is visible.
  static SecretView Borrow(absl::Span<const std::uint8_t> bytes) { return SecretView(bytes); }
  static SecretView Borrow(std::string_view bytes) {
    return SecretView(absl::Span<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
  }

  std::size_t size() const { return bytes_.size(); }
  absl::Span<const std::uint8_t> RevealSecret() const { return bytes_; }

 private:
  explicit SecretView(absl::Span<const std::uint8_t> bytes) : bytes_(bytes) {}

  absl::Span<const std::uint8_t> bytes_;
};

// Constant-time equality of two secrets (sizes are not hidden).
bool SecretsEqual(SecretView a, SecretView b);

}  // namespace credvault::crypto

#endif  // CREDVAULT_CRYPTO_SECRET_VIEW_H_

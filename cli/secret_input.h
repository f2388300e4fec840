#ifndef CREDVAULT_CLI_SECRET_INPUT_H_
#define CREDVAULT_CLI_SECRET_INPUT_H_

// Reading a secret (for put) or a candidate (for compare) from stdin or a file, and wiping
// the copies credvaultctl holds. Secrets never come from argv: argv is visible to every
// user of the machine (ps, /proc/PID/cmdline) and lands in shell history.

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "crypto/secret_bytes.h"

namespace credvault::cli {

// Larger than any sensible server maximum (64 KiB by default), small enough that a
// mistaken `< /dev/zero` fails fast instead of filling memory.
inline constexpr std::size_t kMaxSecretBytes = 1 << 20;

// Secret bytes owned by the CLI: move-only, wiped when destroyed. The buffer is reserved
// at its maximum size before reading, so growing it never leaves an unwiped copy behind.
class SecretInput {
 public:
  SecretInput() = default;
  // Takes over the buffer of `bytes` (which is left empty) without copying it.
  explicit SecretInput(std::string&& bytes) noexcept {
    bytes_.swap(bytes);
    crypto::WipeString(&bytes);  // A short string's bytes are copied by swap, not moved.
  }
  SecretInput(SecretInput&& other) noexcept;
  SecretInput& operator=(SecretInput&& other) noexcept;
  SecretInput(const SecretInput&) = delete;
  SecretInput& operator=(const SecretInput&) = delete;
  ~SecretInput() { crypto::WipeString(&bytes_); }

  std::size_t size() const { return bytes_.size(); }
  absl::string_view RevealSecret() const { return bytes_; }
  // Moves the bytes into a protobuf string field without copying them; the caller wipes
  // that field (WipeString) once the request is sent.
  void MoveInto(std::string* field);

 private:
  friend absl::StatusOr<SecretInput> ReadSecretFromFd(int fd, std::size_t max_bytes);
  friend absl::StatusOr<SecretInput> ReadSecretFromFile(const std::string& path,
                                                        std::size_t max_bytes);
  std::string bytes_;
};

// Reads every byte from `fd` until end of file: binary-safe, nothing trimmed. If `fd` is
// a terminal, reads one line with echo turned off instead (a prompt goes to stderr) and
// drops its line ending, because a person typing cannot easily send end-of-file without
// a newline. Fails with RESOURCE_EXHAUSTED above `max_bytes` and INVALID_ARGUMENT when
// empty (the server rejects an empty secret too).
absl::StatusOr<SecretInput> ReadSecretFromFd(int fd, std::size_t max_bytes = kMaxSecretBytes);

// Reads the whole file at `path` as ReadSecretFromFd does (never as a terminal).
absl::StatusOr<SecretInput> ReadSecretFromFile(const std::string& path,
                                               std::size_t max_bytes = kMaxSecretBytes);

}  // namespace credvault::cli

#endif  // CREDVAULT_CLI_SECRET_INPUT_H_

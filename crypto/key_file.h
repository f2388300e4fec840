#ifndef CREDVAULT_CRYPTO_KEY_FILE_H_
#define CREDVAULT_CRYPTO_KEY_FILE_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "crypto/key_buffer.h"

namespace credvault::crypto {

// Reads a symmetric key of `key_size` bytes from a file holding either exactly that many
// raw bytes or their lowercase/uppercase hex encoding (one optional trailing newline).
// The file must be a regular file that others cannot read (no "o+r" permission bit), the
// way ssh treats private keys. Errors name the path and the problem, never the content.
absl::StatusOr<KeyBuffer> ReadKeyFile(const std::string& path, std::size_t key_size);

}  // namespace credvault::crypto

#endif  // CREDVAULT_CRYPTO_KEY_FILE_H_

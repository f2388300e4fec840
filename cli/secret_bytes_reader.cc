#include "cli/secret_bytes_reader.h"

#include <errno.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace credvault::cli {

// Reading one byte past the maximum is how an oversized input is told apart from one of
// exactly the maximum size.
absl::Status ReadSecretBytes(int fd, std::size_t max_bytes, bool stop_at_newline,
                             std::string* out) {
  const std::size_t limit = max_bytes + 1;
  out->resize(limit);
  std::size_t filled = 0;
  while (filled < limit) {
    const ssize_t n = stop_at_newline ? read(fd, out->data() + filled, 1)
                                      : read(fd, out->data() + filled, limit - filled);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      out->resize(filled);
      return absl::Status(absl::ErrnoToStatusCode(error), absl::StrCat("read: ", strerror(error)));
    }
    if (n == 0) break;
    filled += static_cast<std::size_t>(n);
    if (stop_at_newline && (*out)[filled - 1] == '\n') {
      --filled;
      if (filled > 0 && (*out)[filled - 1] == '\r') --filled;
      break;
    }
  }
  // Shrinking within the reserved capacity leaves the dropped bytes in the buffer; the
  // final WipeString covers the whole capacity, so they are wiped with the rest.
  out->resize(filled);
  if (filled > max_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the input is larger than ", max_bytes, " bytes"));
  }
  if (filled == 0) return absl::InvalidArgumentError("the input is empty");
  return absl::OkStatus();
}

}  // namespace credvault::cli

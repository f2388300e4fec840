// credvaultctl's secret input (cli/secret_bytes_reader.h, behind cli/secret_input.h): the
// bytes of stdin or --secret-file, read to end of file (a pipe or file) or to the end of
// the first line (a terminal), under a size limit. The first byte picks the mode and the
// limit; the rest is what the user supplied, served from a memory file.

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "cli/secret_bytes_reader.h"
#include "cli/secret_input.h"
#include "crypto/secret_bytes.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

// A file descriptor positioned at the start of `content`; -1 when none can be made.
int MemoryFile(std::string_view content) {
  const int fd = memfd_create("secret-input-fuzz", MFD_CLOEXEC);
  if (fd < 0) return -1;
  std::size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = write(fd, content.data() + written, content.size() - written);
    if (n <= 0) {
      close(fd);
      return -1;
    }
    written += static_cast<std::size_t>(n);
  }
  if (lseek(fd, 0, SEEK_SET) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// What the reader must return for `input`: everything, or, line by line, the first line
// without its "\n" or "\r\n" ending.
std::string_view Expected(std::string_view input, bool stop_at_newline) {
  if (!stop_at_newline) return input;
  const std::size_t newline = input.find('\n');
  if (newline == std::string_view::npos) return input;
  std::string_view line = input.substr(0, newline);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// How many bytes count against the limit: the carriage return of a "\r\n" ending is read
// (and counted) before the newline that shows it to be part of the ending.
std::size_t Counted(std::string_view input, bool stop_at_newline) {
  if (!stop_at_newline) return input.size();
  const std::size_t newline = input.find('\n');
  return newline == std::string_view::npos ? input.size() : newline;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool stop_at_newline = (data[0] & 0x80) != 0;
  // Small limits, so that the size checks are reached at every input length.
  const std::size_t max_bytes = data[0] & 0x7f;
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

  const int fd = MemoryFile(input);
  if (fd < 0) return 0;
  std::string out;
  out.reserve(max_bytes + 1);
  const char* const buffer = out.data();
  const absl::Status status = credvault::cli::ReadSecretBytes(fd, max_bytes, stop_at_newline, &out);
  close(fd);

  // The whole input, or its first line; too much input is refused, whatever follows.
  const std::string_view expected = Expected(input, stop_at_newline);
  if (Counted(input, stop_at_newline) > max_bytes) {
    Check(status.code() == absl::StatusCode::kResourceExhausted);
  } else if (expected.empty()) {
    Check(status.code() == absl::StatusCode::kInvalidArgument);
  } else {
    Check(status.ok());
    Check(out == expected);
  }
  // Never reallocated: a reallocation would leave a copy of the secret unwiped.
  Check(out.data() == buffer);
  credvault::crypto::WipeString(&out);
  Check(out.empty());

  // The public entry point on the same bytes (a memory file is no terminal).
  const int again = MemoryFile(input);
  if (again < 0) return 0;
  absl::StatusOr<credvault::cli::SecretInput> secret =
      credvault::cli::ReadSecretFromFd(again, max_bytes);
  close(again);
  if (input.size() > max_bytes) {
    Check(secret.status().code() == absl::StatusCode::kResourceExhausted);
  } else if (input.empty()) {
    Check(secret.status().code() == absl::StatusCode::kInvalidArgument);
  } else {
    Check(secret.ok());
    const absl::string_view read = secret->RevealSecret();
    Check(std::string_view(read.data(), read.size()) == input);
  }
  return 0;
}

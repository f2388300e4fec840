#include "cli/secret_input.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace credvault::cli {
namespace {

absl::Status ErrnoError(absl::string_view what, int error) {
  return absl::Status(absl::ErrnoToStatusCode(error), absl::StrCat(what, ": ", strerror(error)));
}

// Reads from `fd` into `out` (already reserved to max_bytes + 1) until end of file, or
// until a newline when `stop_at_newline`. Reading one byte past the maximum is how an
// oversized input is told apart from one of exactly the maximum size.
absl::Status ReadAll(int fd, std::size_t max_bytes, bool stop_at_newline, std::string* out) {
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
      return ErrnoError("read", error);
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

}  // namespace

void WipeString(std::string* s) noexcept {
  if (s == nullptr) return;
  // resize() within capacity neither reallocates nor throws, and makes the spare capacity
  // part of the string, so the wipe below covers it without undefined behaviour.
  s->resize(s->capacity());
  if (!s->empty()) sodium_memzero(s->data(), s->size());
  s->clear();
}

SecretString::SecretString(SecretString&& other) noexcept : bytes_(std::move(other.bytes_)) {
  WipeString(&other.bytes_);
}

SecretString& SecretString::operator=(SecretString&& other) noexcept {
  if (this != &other) {
    WipeString(&bytes_);
    bytes_.swap(other.bytes_);
  }
  return *this;
}

void SecretString::MoveInto(std::string* field) {
  WipeString(field);
  field->swap(bytes_);
}

absl::StatusOr<SecretString> ReadSecretFromFd(int fd, std::size_t max_bytes) {
  SecretString secret;
  secret.bytes_.reserve(max_bytes + 1);
  termios saved;
  const bool terminal = isatty(fd) == 1 && tcgetattr(fd, &saved) == 0;
  if (terminal) {
    std::fputs("Secret (input hidden, end with Enter): ", stderr);
    std::fflush(stderr);
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  absl::Cleanup restore = [&] {
    if (terminal) tcsetattr(fd, TCSAFLUSH, &saved);
  };
  absl::Status status = ReadAll(fd, max_bytes, terminal, &secret.bytes_);
  if (!status.ok()) return absl::Status(status.code(), absl::StrCat("stdin: ", status.message()));
  return secret;
}

absl::StatusOr<SecretString> ReadSecretFromFile(const std::string& path, std::size_t max_bytes) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return ErrnoError(absl::StrCat("opening ", path), errno);
  absl::Cleanup close_fd = [fd] { close(fd); };
  SecretString secret;
  secret.bytes_.reserve(max_bytes + 1);
  absl::Status status = ReadAll(fd, max_bytes, /*stop_at_newline=*/false, &secret.bytes_);
  if (!status.ok()) return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
  return secret;
}

}  // namespace credvault::cli

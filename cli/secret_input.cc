#include "cli/secret_input.h"

#include <errno.h>
#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cli/secret_bytes_reader.h"

namespace credvault::cli {
namespace {

absl::Status ErrnoError(absl::string_view what, int error) {
  return absl::Status(absl::ErrnoToStatusCode(error), absl::StrCat(what, ": ", strerror(error)));
}

}  // namespace

SecretInput::SecretInput(SecretInput&& other) noexcept : bytes_(std::move(other.bytes_)) {
  crypto::WipeString(&other.bytes_);
}

SecretInput& SecretInput::operator=(SecretInput&& other) noexcept {
  if (this != &other) {
    crypto::WipeString(&bytes_);
    bytes_.swap(other.bytes_);
  }
  return *this;
}

void SecretInput::MoveInto(std::string* field) {
  crypto::WipeString(field);
  field->swap(bytes_);
}

absl::StatusOr<SecretInput> ReadSecretFromFd(int fd, std::size_t max_bytes) {
  SecretInput secret;
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
  absl::Status status = ReadSecretBytes(fd, max_bytes, terminal, &secret.bytes_);
  if (!status.ok()) return absl::Status(status.code(), absl::StrCat("stdin: ", status.message()));
  return secret;
}

absl::StatusOr<SecretInput> ReadSecretFromFile(const std::string& path, std::size_t max_bytes) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return ErrnoError(absl::StrCat("opening ", path), errno);
  absl::Cleanup close_fd = [fd] { close(fd); };
  SecretInput secret;
  secret.bytes_.reserve(max_bytes + 1);
  absl::Status status = ReadSecretBytes(fd, max_bytes, /*stop_at_newline=*/false, &secret.bytes_);
  if (!status.ok()) return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
  return secret;
}

}  // namespace credvault::cli

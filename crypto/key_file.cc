#include "crypto/key_file.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "crypto/secret_bytes.h"

namespace credvault::crypto {
namespace {

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string Errno() { return std::strerror(errno); }

}  // namespace

absl::StatusOr<KeyBuffer> ReadKeyFile(const std::string& path, std::size_t key_size) {
  const FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) {
    const int error = errno;
    const std::string reason = Errno();
    if (error == ENOENT) return absl::NotFoundError("key file " + path + ": " + reason);
    if (error == EACCES) return absl::PermissionDeniedError("key file " + path + ": " + reason);
    return absl::FailedPreconditionError("key file " + path + ": " + reason);
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) {
    return absl::FailedPreconditionError("key file " + path + ": " + Errno());
  }
  if (!S_ISREG(info.st_mode)) {
    return absl::FailedPreconditionError("key file " + path + " is not a regular file");
  }
  if ((info.st_mode & S_IROTH) != 0) {
    return absl::FailedPreconditionError("key file " + path +
                                         " is readable by others; restrict it (chmod o-r)");
  }
  const std::size_t hex_size = 2 * key_size;
  // Room for the longest accepted form plus one byte, to detect anything longer.
  SecretBytes content(hex_size + 2);
  std::size_t filled = 0;
  while (filled < content.size()) {
    const ssize_t got =
        ::read(fd.get(), content.RevealMutableSecret().data() + filled, content.size() - filled);
    if (got < 0) {
      if (errno == EINTR) continue;
      return absl::FailedPreconditionError("key file " + path + ": " + Errno());
    }
    if (got == 0) break;
    filled += static_cast<std::size_t>(got);
  }
  content.Truncate(filled);
  const absl::Span<const std::uint8_t> bytes = content.RevealSecret();
  absl::StatusOr<KeyBuffer> key = KeyBuffer::Allocate(key_size);
  if (!key.ok()) return key.status();

  if (bytes.size() == key_size) {
    std::memcpy(key->RevealMutableSecret().data(), bytes.data(), key_size);
    return key;
  }
  std::size_t text_size = bytes.size();
  if (text_size == hex_size + 1 && bytes[hex_size] == '\n') text_size = hex_size;
  if (text_size == hex_size) {
    std::size_t decoded = 0;
    if (sodium_hex2bin(key->RevealMutableSecret().data(), key_size,
                       reinterpret_cast<const char*>(bytes.data()), hex_size, nullptr, &decoded,
                       nullptr) == 0 &&
        decoded == key_size) {
      return key;
    }
  }
  return absl::InvalidArgumentError("key file " + path + " must hold exactly " +
                                    std::to_string(key_size) + " raw bytes or " +
                                    std::to_string(hex_size) + " hex digits");
}

}  // namespace credvault::crypto

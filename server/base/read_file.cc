#include "server/base/read_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace credvault::server {

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, std::string_view what,
                                          std::size_t max_bytes) {
  const std::string name = absl::StrCat(std::string(what), " ", path);
  errno = 0;
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    const int error = errno;
    const std::string message = absl::StrCat(name, ": cannot open: ", std::strerror(error));
    if (error == ENOENT) return absl::NotFoundError(message);
    if (error == EACCES) return absl::PermissionDeniedError(message);
    return absl::FailedPreconditionError(message);
  }
  std::string contents;
  char buffer[4096];
  while (file.read(buffer, sizeof(buffer)) || file.gcount() > 0) {
    contents.append(buffer, static_cast<std::size_t>(file.gcount()));
    if (contents.size() > max_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": larger than ", max_bytes, " bytes"));
    }
  }
  if (file.bad()) return absl::FailedPreconditionError(absl::StrCat(name, ": read error"));
  return contents;
}

}  // namespace credvault::server

#include "storage/idle_connection.h"

#include <poll.h>

namespace credvault::storage {

bool IdleConnectionAlive(const pqxx::connection& connection) {
  const int fd = connection.sock();
  if (fd < 0) return false;
  pollfd pfd{fd, POLLIN | POLLRDHUP, 0};
  return ::poll(&pfd, 1, 0) == 0;
}

}  // namespace credvault::storage

#ifndef CREDVAULT_STORAGE_IDLE_CONNECTION_H_
#define CREDVAULT_STORAGE_IDLE_CONNECTION_H_

#include <pqxx/connection>

namespace credvault::storage {

// Whether an idle connection's session is still there. An idle connection has nothing to
// read (no LISTEN, no query left behind), so a readable or hung-up socket means the server
// closed the session (restart, idle timeout, terminated backend). Checking costs no round
// trip, and lets callers drop the connection instead of sending a statement into a dead
// socket, where libpqxx 6.4 leaks the error result it gets back.
bool IdleConnectionAlive(const pqxx::connection& connection);

}  // namespace credvault::storage

#endif  // CREDVAULT_STORAGE_IDLE_CONNECTION_H_

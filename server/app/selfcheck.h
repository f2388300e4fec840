#ifndef CREDVAULT_SERVER_APP_SELFCHECK_H_
#define CREDVAULT_SERVER_APP_SELFCHECK_H_

#include <ostream>

namespace credvault::server {

// `credvaultd selfcheck`: exercises the whole key hierarchy in memory with throwaway keys
// (seal key -> root key -> org key -> envelope, audit chain), checks that
// tampering is refused, and prints what it did and how fast. Touches no database and no
// configured key. Returns a process exit code.
int RunSelfCheck(std::ostream& out);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_APP_SELFCHECK_H_

#ifndef CREDVAULT_SERVER_APP_CORE_DUMPS_H_
#define CREDVAULT_SERVER_APP_CORE_DUMPS_H_

namespace credvault::server {

// Secrets live in this process's memory: a core dump would write them to disk.
void DisableCoreDumps();

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_APP_CORE_DUMPS_H_

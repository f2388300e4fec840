#ifndef CREDVAULT_SERVER_APP_MIGRATE_COMMAND_H_
#define CREDVAULT_SERVER_APP_MIGRATE_COMMAND_H_

#include <string_view>
#include <vector>

namespace credvault::server {

// `credvaultd migrate [flags]`: applies the embedded schema migrations with the owner role
// and creates the application roles. Returns the process exit code.
int RunMigrateCommand(const std::vector<std::string_view>& args);

}  // namespace credvault::server

#endif  // CREDVAULT_SERVER_APP_MIGRATE_COMMAND_H_
